#ifndef DEKMS_SRC_CONFIG_AWS_BACKENDS_H_
#define DEKMS_SRC_CONFIG_AWS_BACKENDS_H_

#include <memory>

#include "absl/status/statusor.h"
#include "dekms/config.h"
#include "dekms/kek_provider.h"
#include "dekms/store.h"

namespace dekms::internal {

// Builds the AWS KMS KEK provider for `config`: the endpoint and
// credentials come from the URI where it sets them, and otherwise from the
// AWS SDK environment variables, shared files and instance metadata. The
// key is checked with DescribeKey before this returns.
[[nodiscard]] absl::StatusOr<std::unique_ptr<KekProvider>> NewAwsKmsKek(
    const AwsKmsConfig& config);

// Builds the S3 store for `config` in the same way, creating the bucket
// when it is missing.
[[nodiscard]] absl::StatusOr<std::unique_ptr<Store>> NewS3Store(
    const AwsS3StoreConfig& config);

}  // namespace dekms::internal

#endif  // DEKMS_SRC_CONFIG_AWS_BACKENDS_H_
