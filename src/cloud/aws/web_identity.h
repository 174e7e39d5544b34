#ifndef DEKMS_SRC_CLOUD_AWS_WEB_IDENTITY_H_
#define DEKMS_SRC_CLOUD_AWS_WEB_IDENTITY_H_

#include <memory>
#include <string>

#include "src/cloud/aws/credential_chain.h"
#include "src/cloud/aws/credentials.h"

namespace dekms::internal {

// Settings of the web identity flow, from the environment or a profile.
struct WebIdentitySettings {
  std::string token_file;
  std::string role_arn;
  // Empty means "dekms-<unix seconds>", made anew for each request.
  std::string session_name;
  std::string sts_endpoint;  // Scheme and host, without a trailing slash.
  // Origin of the settings, such as "AWS_WEB_IDENTITY_TOKEN_FILE and
  // AWS_ROLE_ARN".
  std::string origin;
};

// Returns a provider that exchanges the token in `settings.token_file` for
// temporary credentials with STS AssumeRoleWithWebIdentity, rereading the
// file on every refresh. Uses the transport, retry policy, clock and refresh
// margin of `options`, whose transport and clock must be set. Sends no
// request until the first Get().
[[nodiscard]] std::unique_ptr<AwsCredentialsProvider> NewWebIdentityProvider(
    WebIdentitySettings settings, const AwsCredentialChainOptions& options);

}  // namespace dekms::internal

#endif  // DEKMS_SRC_CLOUD_AWS_WEB_IDENTITY_H_
