#ifndef DEKMS_SRC_CLOUD_AWS_CREDENTIAL_CHAIN_H_
#define DEKMS_SRC_CLOUD_AWS_CREDENTIAL_CHAIN_H_

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "src/cloud/aws/credentials.h"
#include "src/cloud/http.h"
#include "src/cloud/retry.h"

namespace dekms::internal {

// Returns a provider that always hands out `credentials` (from a URI).
[[nodiscard]] std::unique_ptr<AwsCredentialsProvider> NewStaticAwsCredentials(
    AwsCredentials credentials, std::string description);

struct AwsCredentialChainOptions {
  GetEnvFunction getenv;  // Defaults to ProcessEnvironment().
  // Carries STS and instance metadata calls; must outlive the provider.
  HttpTransport* transport = nullptr;
  RetryPolicy retry;
  // Region for the STS endpoint when AWS_REGION and AWS_DEFAULT_REGION
  // are unset.
  std::string region;
  // How long before expiry temporary credentials are refreshed. Credentials
  // are kept for at least half their lifetime whatever the margin.
  absl::Duration refresh_margin = absl::Minutes(5);
  std::function<absl::Time()> now;  // Defaults to absl::Now.
};

// Returns the standard AWS credential chain: environment variables, web
// identity token file (STS AssumeRoleWithWebIdentity), shared credentials
// and config files with profiles, then EC2 instance metadata (IMDSv2
// only). The first source that is configured is used. Endpoints follow
// the SDK variables (AWS_ENDPOINT_URL_STS, AWS_ENDPOINT_URL,
// AWS_EC2_METADATA_SERVICE_ENDPOINT, AWS_EC2_METADATA_DISABLED).
//
// Fails when the first configured source is set up wrongly, and with
// kFailedPrecondition, listing what was checked, when no source is
// configured. Sends no request: STS and instance metadata are first
// contacted by Get(). Logs the chosen source at info level.
[[nodiscard]] absl::StatusOr<std::unique_ptr<AwsCredentialsProvider>>
NewAwsCredentialChain(AwsCredentialChainOptions options);

}  // namespace dekms::internal

#endif  // DEKMS_SRC_CLOUD_AWS_CREDENTIAL_CHAIN_H_
