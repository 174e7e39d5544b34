#ifndef DEKMS_SRC_CONFIG_GCP_BACKENDS_H_
#define DEKMS_SRC_CONFIG_GCP_BACKENDS_H_

#include <memory>

#include "absl/status/statusor.h"
#include "dekms/config.h"
#include "dekms/kek_provider.h"
#include "dekms/store.h"
#include "src/cloud/environment.h"

namespace dekms::internal {

// Builds the Cloud KMS KEK provider for `config`. Credentials come from
// credentialsPath, or else from Google's Application Default Credentials
// search (see NewGoogleTokenSource). The key is read and checked before
// this returns.
[[nodiscard]] absl::StatusOr<std::unique_ptr<KekProvider>> NewGcpKmsKek(
    const GcpKmsConfig& config, const GetEnvFunction& getenv);

// Builds the Cloud Storage store for `config` in the same way, creating
// the bucket when it is missing. Without an endpoint in the URI,
// STORAGE_EMULATOR_HOST names an emulator ("host:port" or a URL), which is
// then called without credentials unless credentialsPath is set, as
// Google's client libraries do.
[[nodiscard]] absl::StatusOr<std::unique_ptr<Store>> NewGcsStore(
    const GcsStoreConfig& config, const GetEnvFunction& getenv);

}  // namespace dekms::internal

#endif  // DEKMS_SRC_CONFIG_GCP_BACKENDS_H_
