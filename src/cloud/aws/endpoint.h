#ifndef DEKMS_SRC_CLOUD_AWS_ENDPOINT_H_
#define DEKMS_SRC_CLOUD_AWS_ENDPOINT_H_

#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "src/cloud/aws/credentials.h"

namespace dekms::internal {

// Checks that `region` looks like an AWS region name ("eu-central-1"):
// lowercase letters, digits and dashes.
[[nodiscard]] absl::Status ValidateAwsRegion(std::string_view region);

// Returns the base URL ("scheme://host[:port][/path]", no trailing slash)
// for an AWS service, taking the first that is set of:
//   1. `configured` (an "endpoint" URI parameter),
//   2. AWS_ENDPOINT_URL_<service_env> ("KMS", "S3", "STS"),
//   3. AWS_ENDPOINT_URL,
//   4. https://<host_prefix>.<region>.amazonaws.com (".com.cn" in China).
// Steps 2 and 3 are skipped when AWS_IGNORE_CONFIGURED_ENDPOINT_URLS is
// "true", as in the AWS SDKs.
[[nodiscard]] absl::StatusOr<std::string> ResolveAwsEndpoint(
    std::string_view configured, std::string_view service_env,
    std::string_view host_prefix, std::string_view region,
    const GetEnvFunction& getenv);

}  // namespace dekms::internal

#endif  // DEKMS_SRC_CLOUD_AWS_ENDPOINT_H_
