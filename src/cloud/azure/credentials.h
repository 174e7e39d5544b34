#ifndef DEKMS_SRC_CLOUD_AZURE_CREDENTIALS_H_
#define DEKMS_SRC_CLOUD_AZURE_CREDENTIALS_H_

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "dekms/secret_bytes.h"
#include "src/cloud/environment.h"
#include "src/cloud/http.h"
#include "src/cloud/oauth.h"
#include "src/cloud/retry.h"

namespace dekms::internal {

// Entra ID scope of Azure Storage.
inline constexpr std::string_view kAzureStorageScope =
    "https://storage.azure.com/.default";
// Authority of Azure's public cloud.
inline constexpr std::string_view kAzurePublicAuthority =
    "https://login.microsoftonline.com";
// Azure's instance metadata service, which AZURE_POD_IDENTITY_AUTHORITY_HOST
// overrides.
inline constexpr std::string_view kAzureImdsDefaultHost =
    "http://169.254.169.254";

// Supplies Entra ID access tokens, one per scope (Key Vault, Managed HSM,
// Storage), each cached and fetched again before it expires.
// Implementations are thread-safe.
class AzureTokenCredential {
 public:
  virtual ~AzureTokenCredential() = default;

  // Returns a token for `scope`, such as "https://vault.azure.net/.default",
  // that stays valid for a few minutes at least.
  [[nodiscard]] virtual absl::StatusOr<AccessToken> GetToken(
      std::string_view scope) = 0;

  // Forgets the cached token of `scope` after a server rejected it.
  virtual void Invalidate(std::string_view scope) = 0;

  // Names the source for logs and errors, such as "client secret of app
  // 0000-... in tenant ... (the URI)". Never secret.
  [[nodiscard]] virtual std::string Describe() const = 0;
};

struct AzureCredentialOptions {
  // From the URI. Without a secret they select nothing but, for
  // `client_id`, a user-assigned managed identity.
  std::string tenant_id;
  std::string client_id;
  SecretBytes client_secret;
  // The Entra ID authority of the cloud that the resource is in, used
  // unless AZURE_AUTHORITY_HOST is set.
  std::string default_authority = std::string(kAzurePublicAuthority);
  GetEnvFunction getenv;  // Defaults to ProcessEnvironment().
  // For token requests; must outlive the credential.
  HttpTransport* transport = nullptr;
  RetryPolicy retry;
  std::function<absl::Time()> now;  // Defaults to absl::Now.
  absl::Duration refresh_margin = absl::Minutes(5);
};

// Finds credentials the way the Azure SDKs' default credential does:
//   1. a client secret from the URI (tenantID, clientID, clientSecret);
//   2. a client secret from AZURE_TENANT_ID, AZURE_CLIENT_ID and
//      AZURE_CLIENT_SECRET;
//   3. workload identity: AZURE_FEDERATED_TOKEN_FILE with AZURE_TENANT_ID
//      and AZURE_CLIENT_ID, the file's token sent as a client assertion and
//      read again for every token;
//   4. managed identity from the instance metadata service, for the
//      user-assigned identity whose client ID is `client_id` (from the
//      URI) or AZURE_CLIENT_ID, when one is set.
// Tokens for 1 to 3 come from AZURE_AUTHORITY_HOST, or
// `default_authority`, at /<tenant>/oauth2/v2.0/token.
[[nodiscard]] absl::StatusOr<std::unique_ptr<AzureTokenCredential>>
NewAzureCredential(AzureCredentialOptions options);

// Sends a request to an Azure API with a bearer token for `scope` (see
// SendWithBearerToken()).
[[nodiscard]] absl::StatusOr<HttpResponse> SendToAzureApi(
    AzureTokenCredential& credential, std::string_view scope,
    HttpTransport& transport, const RetryPolicy& retry, std::string_view what,
    bool idempotent, absl::FunctionRef<absl::StatusOr<HttpRequest>()> build,
    RetryClassifier classify = DefaultRetryClassifier);

}  // namespace dekms::internal

#endif  // DEKMS_SRC_CLOUD_AZURE_CREDENTIALS_H_
