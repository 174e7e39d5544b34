#ifndef DEKMS_SRC_CLOUD_GCP_CREDENTIALS_H_
#define DEKMS_SRC_CLOUD_GCP_CREDENTIALS_H_

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "dekms/secret_bytes.h"
#include "src/cloud/environment.h"
#include "src/cloud/gcp/jwt.h"
#include "src/cloud/http.h"
#include "src/cloud/oauth.h"
#include "src/cloud/retry.h"

namespace dekms::internal {

// The OAuth scope that covers Cloud KMS and Cloud Storage.
inline constexpr std::string_view kGoogleCloudPlatformScope =
    "https://www.googleapis.com/auth/cloud-platform";

// Host of the GCE metadata server, which GCE_METADATA_HOST overrides.
inline constexpr std::string_view kGceMetadataDefaultHost =
    "metadata.google.internal";

// An OAuth 2.0 access token for Google APIs.
using GoogleAccessToken = AccessToken;

// Supplies access tokens, fetching a new one before the last expires.
// Implementations are thread-safe.
class GoogleTokenSource {
 public:
  virtual ~GoogleTokenSource() = default;

  // Returns a token that stays valid for a few minutes at least.
  [[nodiscard]] virtual absl::StatusOr<GoogleAccessToken> Get() = 0;

  // Says where tokens come from, for logs and errors, such as "service
  // account a@p.iam.gserviceaccount.com (key file /etc/sa.json)". Never
  // secret.
  [[nodiscard]] virtual std::string Describe() const = 0;

  // Forgets the cached token after a server refused it (HTTP 401), for
  // example because it was revoked, so the next Get() fetches a new one.
  virtual void Invalidate() = 0;
};

// Sends a request to a Google API with SendWithRetries(), setting a fresh
// bearer token from `credentials` on each attempt; `build` makes the
// request without one. A 401 reply means the token was refused, which also
// proves the request was not carried out, so the token is dropped and the
// request sent once more with a new one. `credentials` may be null for an
// emulator that takes no credentials.
[[nodiscard]] absl::StatusOr<HttpResponse> SendToGoogleApi(
    GoogleTokenSource* credentials, HttpTransport& transport,
    const RetryPolicy& retry, std::string_view what, bool idempotent,
    absl::FunctionRef<absl::StatusOr<HttpRequest>()> build,
    RetryClassifier classify = DefaultRetryClassifier);

// A parsed service-account key file (JSON, "type": "service_account").
struct ServiceAccountKey {
  std::string client_email;
  std::string private_key_id;  // May be empty; sent as the JWT "kid".
  std::string token_uri;
  std::string project_id;  // May be empty.
  std::shared_ptr<EVP_PKEY> private_key;
};

// Parses and checks a service-account key file. `source` names the file in
// messages, such as "credentialsPath /etc/sa.json". Fails with
// kInvalidArgument naming the field at fault when the file is not JSON, is
// of another type, or lacks client_email, an RSA private_key or a
// token_uri. A token_uri must be https, or http on a loopback address,
// because the signed assertion sent there is a credential.
[[nodiscard]] absl::StatusOr<ServiceAccountKey> ParseServiceAccountKey(
    const SecretBytes& json, std::string_view source);

// Returns the signed JWT that a service account exchanges for an access
// token at its token_uri: RS256, "kid" = private_key_id, claims iss =
// client_email, scope, aud = token_uri, iat = now and exp = now + 1 hour.
[[nodiscard]] absl::StatusOr<SecretBytes> MakeServiceAccountAssertion(
    const ServiceAccountKey& key, std::string_view scope, absl::Time now);

struct GoogleCredentialOptions {
  // Key file named by the URI's credentialsPath; empty means discovery.
  std::string credentials_path;
  GetEnvFunction getenv;  // Defaults to ProcessEnvironment().
  // For token and metadata requests; must outlive the token source.
  HttpTransport* transport = nullptr;
  RetryPolicy retry;
  std::function<absl::Time()> now;  // Defaults to absl::Now.
  // A token is refreshed this long before it expires.
  absl::Duration refresh_margin = absl::Minutes(5);
  std::string scope = std::string(kGoogleCloudPlatformScope);
};

// Finds credentials the way Google's client libraries find Application
// Default Credentials:
//   1. the service-account key file `credentials_path`;
//   2. the service-account key file named by GOOGLE_APPLICATION_CREDENTIALS;
//   3. gcloud's application_default_credentials.json in $CLOUDSDK_CONFIG or
//      ~/.config/gcloud, a service-account key or gcloud user credentials
//      ("type": "authorized_user");
//   4. the GCE metadata server at GCE_METADATA_HOST, or
//      metadata.google.internal.
// A file that is named but broken is an error; the search does not go on
// past it. Files are checked here; the first token is fetched on first use.
[[nodiscard]] absl::StatusOr<std::unique_ptr<GoogleTokenSource>>
NewGoogleTokenSource(GoogleCredentialOptions options);

}  // namespace dekms::internal

#endif  // DEKMS_SRC_CLOUD_GCP_CREDENTIALS_H_
