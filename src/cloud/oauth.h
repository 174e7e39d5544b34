#ifndef DEKMS_SRC_CLOUD_OAUTH_H_
#define DEKMS_SRC_CLOUD_OAUTH_H_

#include <string_view>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "dekms/secret_bytes.h"
#include "src/cloud/http.h"
#include "src/cloud/retry.h"

// OAuth 2.0 pieces that Google and Microsoft Entra ID share: bearer access
// tokens, the token endpoint's reply and error shapes (RFC 6749, sections
// 5.1 and 5.2), and sending a request with a token.
namespace dekms::internal {

// An OAuth 2.0 bearer access token.
struct AccessToken {
  [[nodiscard]] AccessToken Clone() const {
    return {token.Clone(), expiration};
  }

  SecretBytes token;
  absl::Time expiration = absl::InfiniteFuture();
};

// Parses a token reply: "access_token", "expires_in" (seconds, as a number
// or, as Azure's instance metadata sends it, a string) and an optional
// "token_type", which must be Bearer. `what` names the server in errors,
// which never contain the token.
[[nodiscard]] absl::StatusOr<AccessToken> ParseAccessTokenReply(
    const HttpResponse& response, absl::Time now, std::string_view what);

// Maps a token endpoint's error reply to a status. It reads the OAuth shape
// {"error": "invalid_grant", "error_description": "..."} and the nested
// {"error": {"status", "message"}} shape. 400 and 401 are kUnauthenticated,
// because they mean the credential itself was rejected.
[[nodiscard]] absl::Status OAuthErrorToStatus(const HttpResponse& response,
                                              std::string_view what);

// Checks that credentials may be sent to `url`: https, or plain http to a
// loopback host for local test servers, since what is sent there (a
// secret, a signed assertion) is itself a credential. Messages start with
// `what`.
[[nodiscard]] absl::Status ValidateCredentialUrl(std::string_view url,
                                                 std::string_view what);

// Sends a request built by `build` with SendWithRetries(), setting
// "Authorization: Bearer" from `token` on each attempt. A 401 reply means
// the token was rejected, which also proves the request was not carried
// out, so `invalidate` drops the cached token and the request is sent once
// more with a new one.
[[nodiscard]] absl::StatusOr<HttpResponse> SendWithBearerToken(
    absl::FunctionRef<absl::StatusOr<AccessToken>()> token,
    absl::FunctionRef<void()> invalidate, HttpTransport& transport,
    const RetryPolicy& retry, std::string_view what, bool idempotent,
    absl::FunctionRef<absl::StatusOr<HttpRequest>()> build,
    RetryClassifier classify = DefaultRetryClassifier);

// Sets "Authorization: Bearer <token>" on `request`.
void SetBearerToken(const AccessToken& token, HttpRequest& request);

}  // namespace dekms::internal

#endif  // DEKMS_SRC_CLOUD_OAUTH_H_
