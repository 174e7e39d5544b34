#ifndef DEKMS_SRC_CLOUD_AWS_INSTANCE_METADATA_H_
#define DEKMS_SRC_CLOUD_AWS_INSTANCE_METADATA_H_

#include <memory>
#include <string>

#include "src/cloud/aws/credential_chain.h"
#include "src/cloud/aws/credentials.h"

namespace dekms::internal {

// Settings of the EC2 instance metadata provider.
struct ImdsSettings {
  std::string endpoint;  // Scheme and host, without a trailing slash.
  // Appended to errors: the sources that were not configured.
  std::string error_hint;
};

// Returns a provider that fetches the credentials of the instance's IAM role
// from EC2 instance metadata, with IMDSv2 session tokens only. Uses the
// transport, clock and refresh margin of `options`, whose transport and clock
// must be set, and caps its retry policy at 3 attempts of 1 second each and
// 5 seconds in total. Sends no request until the first Get().
[[nodiscard]] std::unique_ptr<AwsCredentialsProvider> NewImdsProvider(
    ImdsSettings settings, const AwsCredentialChainOptions& options);

}  // namespace dekms::internal

#endif  // DEKMS_SRC_CLOUD_AWS_INSTANCE_METADATA_H_
