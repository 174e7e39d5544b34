#include "src/cloud/azure/credentials.h"

#include <algorithm>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/ascii.h"
#include "absl/synchronization/mutex.h"
#include "src/base/files.h"
#include "src/base/quote.h"
#include "src/base/status_macros.h"
#include "src/base/str_cat.h"
#include "src/cloud/refreshing_cache.h"
#include "src/crypto/encoding.h"
#include "src/crypto/secret_text.h"

namespace dekms::internal {
namespace {

constexpr std::string_view kClientAssertionType =
    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
// A federated token is a JWT of a few kilobytes.
constexpr size_t kMaxFederatedTokenBytes = size_t{64} * 1024;

// Returns the value of `name`, treating an empty value as unset.
std::optional<std::string> Setting(const GetEnvFunction& getenv,
                                   std::string_view name) {
  std::optional<std::string> value = getenv(name);
  if (value.has_value() && value->empty()) {
    return std::nullopt;
  }
  return value;
}

// Tenant IDs are GUIDs or domain names, and client IDs are GUIDs. Both go
// into URLs, so anything else is rejected before it can change a path.
absl::Status ValidateId(std::string_view value, std::string_view what) {
  const bool valid =
      !value.empty() && value.size() <= 253 &&
      std::all_of(value.begin(), value.end(), [](char c) {
        return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '-' ||
               c == '.';
      });
  if (!valid) {
    return absl::InvalidArgumentError(
        StrCat(what, " ", Quote(value),
               " is not valid; it must be a GUID or, for a tenant, a domain "
               "name"));
  }
  return absl::OkStatus();
}

// Caches one token per scope, each in its own RefreshingCache.
class PerScopeCredential : public AzureTokenCredential {
 public:
  PerScopeCredential(std::string description, std::string error_hint,
                     const AzureCredentialOptions& options)
      : transport_(*options.transport),
        retry_(options.retry),
        now_(options.now),
        description_(std::move(description)),
        error_hint_(std::move(error_hint)),
        refresh_margin_(options.refresh_margin) {}

  absl::StatusOr<AccessToken> GetToken(std::string_view scope) final {
    RefreshingCache<AccessToken>& cache = CacheFor(scope);
    const std::string scope_text(scope);
    return cache.Get([&] { return Fetch(scope_text); });
  }

  void Invalidate(std::string_view scope) final {
    CacheFor(scope).Invalidate();
  }

  std::string Describe() const final { return description_; }

 protected:
  // Fetches a token for `scope`. Calls for one scope do not overlap.
  virtual absl::StatusOr<AccessToken> Fetch(const std::string& scope) = 0;

  absl::StatusOr<AccessToken> Request(
      std::string_view what,
      absl::FunctionRef<absl::StatusOr<HttpRequest>()> build,
      RetryClassifier classify) {
    DEKMS_ASSIGN_OR_RETURN(
        const HttpResponse response,
        SendWithRetries(transport_, retry_, what, /*idempotent=*/true, build,
                        classify));
    if (response.status != 200) {
      return OAuthErrorToStatus(response, what);
    }
    return ParseAccessTokenReply(response, now_(), what);
  }

 private:
  RefreshingCache<AccessToken>& CacheFor(std::string_view scope) {
    absl::MutexLock lock(&mu_);
    auto it = caches_.find(std::string(scope));
    if (it == caches_.end()) {
      it = caches_
               .emplace(std::string(scope),
                        std::make_unique<RefreshingCache<AccessToken>>(
                            StrCat("Azure token for ", scope), description_,
                            error_hint_, now_, refresh_margin_))
               .first;
    }
    return *it->second;
  }

  HttpTransport& transport_;
  const RetryPolicy retry_;
  const std::function<absl::Time()> now_;
  const std::string description_;
  const std::string error_hint_;
  const absl::Duration refresh_margin_;
  absl::Mutex mu_;
  std::map<std::string, std::unique_ptr<RefreshingCache<AccessToken>>> caches_
      ABSL_GUARDED_BY(mu_);
};

// The client credentials grant of Entra ID's v2.0 token endpoint, with a
// client secret or a federated token as the client assertion.
class ClientCredential final : public PerScopeCredential {
 public:
  ClientCredential(std::string token_url, std::string client_id,
                   SecretBytes client_secret, std::string federated_token_file,
                   std::string description, std::string error_hint,
                   const AzureCredentialOptions& options)
      : PerScopeCredential(std::move(description), std::move(error_hint),
                           options),
        token_url_(std::move(token_url)),
        client_id_(std::move(client_id)),
        client_secret_(std::move(client_secret)),
        federated_token_file_(std::move(federated_token_file)) {}

 private:
  absl::StatusOr<AccessToken> Fetch(const std::string& scope) override {
    SecretBytes assertion;
    if (!federated_token_file_.empty()) {
      // The token in the file rotates, so it is read for every request.
      absl::StatusOr<SecretBytes> read =
          ReadFileToSecret(federated_token_file_, kMaxFederatedTokenBytes);
      if (!read.ok()) {
        return absl::Status(
            read.status().code(),
            StrCat("AZURE_FEDERATED_TOKEN_FILE: ", read.status().message()));
      }
      assertion = std::move(read).value();
    }
    auto build = [&]() -> absl::StatusOr<HttpRequest> {
      SecretTextBuilder body;
      body.Append("grant_type=client_credentials&client_id=");
      AppendPercentEncoded(client_id_, body);
      body.Append("&scope=");
      AppendPercentEncoded(scope, body);
      if (federated_token_file_.empty()) {
        body.Append("&client_secret=");
        AppendPercentEncoded(RevealAsText(client_secret_), body);
      } else {
        body.Append("&client_assertion_type=");
        AppendPercentEncoded(kClientAssertionType, body);
        body.Append("&client_assertion=");
        std::string_view token = RevealAsText(assertion);
        while (!token.empty() &&
               absl::ascii_isspace(static_cast<unsigned char>(token.back()))) {
          token.remove_suffix(1);
        }
        AppendPercentEncoded(token, body);
      }
      HttpRequest request;
      request.method = "POST";
      request.url = token_url_;
      request.SetHeader("Content-Type", "application/x-www-form-urlencoded");
      request.body = std::move(body).Finish();
      return request;
    };
    return Request(StrCat("Entra ID token endpoint ", UrlOrigin(token_url_)),
                   build, DefaultRetryClassifier);
  }

  const std::string token_url_;
  const std::string client_id_;
  const SecretBytes client_secret_;
  const std::string federated_token_file_;
};

// A managed identity's token from the instance metadata service.
class ManagedIdentityCredential final : public PerScopeCredential {
 public:
  ManagedIdentityCredential(std::string imds_host, std::string client_id,
                            std::string error_hint,
                            const AzureCredentialOptions& options)
      : PerScopeCredential(
            StrCat("managed identity",
                   client_id.empty() ? "" : StrCat(" ", client_id),
                   " from the instance metadata service at ", imds_host),
            std::move(error_hint), options),
        imds_host_(std::move(imds_host)),
        client_id_(std::move(client_id)) {}

 private:
  absl::StatusOr<AccessToken> Fetch(const std::string& scope) override {
    // The metadata service takes a resource, the scope without "/.default".
    std::string_view resource = scope;
    if (resource.ends_with("/.default")) {
      resource.remove_suffix(std::string_view("/.default").size());
    }
    std::string url = StrCat(imds_host_,
                             "/metadata/identity/oauth2/token?api-version="
                             "2018-02-01&resource=",
                             PercentEncode(resource));
    if (!client_id_.empty()) {
      url = StrCat(url, "&client_id=", PercentEncode(client_id_));
    }
    auto build = [&]() -> absl::StatusOr<HttpRequest> {
      HttpRequest request;
      request.method = "GET";
      request.url = url;
      request.SetHeader("Metadata", "true");
      return request;
    };
    // Besides the usual transient replies, the service returns 404 and 410
    // while it is being updated.
    auto classify = [](const HttpResponse& response) -> RetryDecision {
      if (response.status == 404 || response.status == 410) {
        return {StrCat("HTTP ", response.status)};
      }
      return DefaultRetryClassifier(response);
    };
    return Request(StrCat("Azure instance metadata service ", imds_host_),
                   build, classify);
  }

  const std::string imds_host_;
  const std::string client_id_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<AzureTokenCredential>> NewAzureCredential(
    AzureCredentialOptions options) {
  if (options.transport == nullptr) {
    return absl::InvalidArgumentError("NewAzureCredential needs a transport");
  }
  if (!options.getenv) {
    options.getenv = ProcessEnvironment();
  }
  if (!options.now) {
    options.now = [] { return absl::Now(); };
  }
  const GetEnvFunction& getenv = options.getenv;
  std::string authority = Setting(getenv, "AZURE_AUTHORITY_HOST")
                              .value_or(options.default_authority);
  while (authority.ends_with('/')) {
    authority.pop_back();
  }
  const auto token_url = [&](const std::string& tenant) {
    return StrCat(authority, "/", tenant, "/oauth2/v2.0/token");
  };
  const std::string secret_hint =
      "check the tenant ID, the client ID and the client secret, which may "
      "have expired (az ad app credential list)";

  if (!options.client_secret.empty()) {
    DEKMS_RETURN_IF_ERROR(ValidateId(options.tenant_id, "tenantID"));
    DEKMS_RETURN_IF_ERROR(ValidateId(options.client_id, "clientID"));
    DEKMS_RETURN_IF_ERROR(
        ValidateCredentialUrl(authority, "the Entra ID authority"));
    std::string description =
        StrCat("client secret of app ", options.client_id, " in tenant ",
               options.tenant_id, " (the URI)");
    return std::unique_ptr<AzureTokenCredential>(
        std::make_unique<ClientCredential>(
            token_url(options.tenant_id), options.client_id,
            options.client_secret.Clone(), "", std::move(description),
            secret_hint, options));
  }

  const std::optional<std::string> tenant = Setting(getenv, "AZURE_TENANT_ID");
  const std::optional<std::string> client = Setting(getenv, "AZURE_CLIENT_ID");
  const std::optional<std::string> secret =
      Setting(getenv, "AZURE_CLIENT_SECRET");
  const std::optional<std::string> federated =
      Setting(getenv, "AZURE_FEDERATED_TOKEN_FILE");
  if (secret.has_value() || federated.has_value()) {
    const std::string_view source = secret.has_value()
                                        ? "AZURE_CLIENT_SECRET"
                                        : "AZURE_FEDERATED_TOKEN_FILE";
    if (!tenant.has_value() || !client.has_value()) {
      return absl::InvalidArgumentError(
          StrCat(source,
                 " is set, so AZURE_TENANT_ID and AZURE_CLIENT_ID must be set "
                 "too"));
    }
    DEKMS_RETURN_IF_ERROR(ValidateId(*tenant, "AZURE_TENANT_ID"));
    DEKMS_RETURN_IF_ERROR(ValidateId(*client, "AZURE_CLIENT_ID"));
    DEKMS_RETURN_IF_ERROR(
        ValidateCredentialUrl(authority, "the Entra ID authority"));
    SecretBytes client_secret;
    if (secret.has_value()) {
      client_secret = SecretBytes::CopyFrom(*secret);
    }
    std::string description =
        secret.has_value()
            ? StrCat("client secret of app ", *client, " in tenant ", *tenant,
                     " (AZURE_CLIENT_SECRET)")
            : StrCat("workload identity of app ", *client, " in tenant ",
                     *tenant, " (AZURE_FEDERATED_TOKEN_FILE ", *federated, ")");
    return std::unique_ptr<AzureTokenCredential>(
        std::make_unique<ClientCredential>(
            token_url(*tenant), *client, std::move(client_secret),
            secret.has_value() ? "" : *federated, std::move(description),
            secret.has_value()
                ? secret_hint
                : "check the app's federated credential and that the token "
                  "file is mounted",
            options));
  }

  std::string imds = Setting(getenv, "AZURE_POD_IDENTITY_AUTHORITY_HOST")
                         .value_or(std::string(kAzureImdsDefaultHost));
  while (imds.ends_with('/')) {
    imds.pop_back();
  }
  DEKMS_RETURN_IF_ERROR(
      ValidateBaseUrl(imds, "AZURE_POD_IDENTITY_AUTHORITY_HOST"));
  // A clientID in the URI without a secret names a user-assigned managed
  // identity, and wins over AZURE_CLIENT_ID.
  std::optional<std::string> identity = client;
  std::string_view identity_source = "AZURE_CLIENT_ID";
  if (!options.client_id.empty()) {
    identity = options.client_id;
    identity_source = "clientID";
  }
  if (identity.has_value()) {
    DEKMS_RETURN_IF_ERROR(ValidateId(*identity, identity_source));
  }
  // The metadata service replies quickly or not at all. Off Azure, a short
  // deadline turns a hang into a clear error.
  options.retry.max_attempts = std::min(options.retry.max_attempts, 3);
  options.retry.attempt_timeout =
      std::min(options.retry.attempt_timeout, absl::Seconds(5));
  options.retry.total_timeout =
      std::min(options.retry.total_timeout, absl::Seconds(15));
  return std::unique_ptr<AzureTokenCredential>(
      std::make_unique<ManagedIdentityCredential>(
          imds, identity.value_or(""),
          StrCat("No client secret was configured (tenantID, clientID and "
                 "clientSecret in the URI, or AZURE_CLIENT_SECRET), so dekms "
                 "asked the instance metadata service for a managed identity",
                 identity.has_value()
                     ? StrCat(" with the client ID from ", identity_source)
                     : std::string(),
                 ". That works only on Azure VMs and AKS, for an identity "
                 "assigned to them; elsewhere set a client secret"),
          options));
}

absl::StatusOr<HttpResponse> SendToAzureApi(
    AzureTokenCredential& credential, std::string_view scope,
    HttpTransport& transport, const RetryPolicy& retry, std::string_view what,
    bool idempotent, absl::FunctionRef<absl::StatusOr<HttpRequest>()> build,
    RetryClassifier classify) {
  return SendWithBearerToken([&] { return credential.GetToken(scope); },
                             [&] { credential.Invalidate(scope); }, transport,
                             retry, what, idempotent, build, classify);
}

}  // namespace dekms::internal
