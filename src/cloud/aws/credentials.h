#ifndef DEKMS_SRC_CLOUD_AWS_CREDENTIALS_H_
#define DEKMS_SRC_CLOUD_AWS_CREDENTIALS_H_

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "dekms/secret_bytes.h"
#include "src/cloud/environment.h"

namespace dekms::internal {

// An AWS access key, with a session token for temporary credentials.
struct AwsCredentials {
  [[nodiscard]] AwsCredentials Clone() const {
    return {access_key_id, secret_access_key.Clone(), session_token.Clone(),
            expiration};
  }

  std::string access_key_id;  // Not secret: it appears in every request.
  SecretBytes secret_access_key;
  SecretBytes session_token;  // Empty for long-term keys.
  // When temporary credentials stop working; InfiniteFuture for long-term
  // keys.
  absl::Time expiration = absl::InfiniteFuture();
};

// Supplies credentials for signing, refreshing temporary ones before they
// expire. Implementations are thread-safe.
class AwsCredentialsProvider {
 public:
  virtual ~AwsCredentialsProvider() = default;

  // Returns credentials that stay valid for a few minutes at least.
  [[nodiscard]] virtual absl::StatusOr<AwsCredentials> Get() = 0;

  // Says where the credentials come from, for logs and errors, such as
  // "environment variables" or "profile 'ci' in /home/u/.aws/credentials".
  // Never secret.
  [[nodiscard]] virtual std::string Describe() const = 0;
};

}  // namespace dekms::internal

#endif  // DEKMS_SRC_CLOUD_AWS_CREDENTIALS_H_
