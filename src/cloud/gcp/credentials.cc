#include "src/cloud/gcp/credentials.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "nlohmann/json.hpp"
#include "openssl/bio.h"
#include "openssl/err.h"
#include "openssl/pem.h"
#include "spdlog/spdlog.h"
#include "src/base/files.h"
#include "src/base/quote.h"
#include "src/base/status_macros.h"
#include "src/base/str_cat.h"
#include "src/cloud/refreshing_cache.h"
#include "src/cloud/secret_json.h"
#include "src/crypto/encoding.h"
#include "src/crypto/secret_text.h"

namespace dekms::internal {
namespace {

// Key files are a few kilobytes; anything much larger is not one.
constexpr size_t kMaxKeyFileBytes = size_t{64} * 1024;
constexpr std::string_view kDefaultTokenUri =
    "https://oauth2.googleapis.com/token";
constexpr std::string_view kJwtBearerGrant =
    "urn:ietf:params:oauth:grant-type:jwt-bearer";
// Google accepts assertions that live at most one hour.
constexpr absl::Duration kAssertionLifetime = absl::Hours(1);

std::string Text(const WipingString& value) {
  return {value.data(), value.size()};
}

// Returns the non-empty string member `field`, or an error naming it.
absl::StatusOr<std::string> RequiredField(const SecretJson& json,
                                          std::string_view field,
                                          std::string_view source) {
  const WipingString* value = FindString(json, field);
  if (value == nullptr || value->empty()) {
    return absl::InvalidArgumentError(
        StrCat(source, ": field ", Quote(field),
               " is missing or not a non-empty string"));
  }
  return Text(*value);
}

absl::Status ValidateTokenUri(std::string_view uri, std::string_view source) {
  return ValidateCredentialUrl(uri, StrCat(source, ": field \"token_uri\""));
}

absl::StatusOr<SecretBytes> ReadKeyFile(const std::string& path,
                                        std::string_view source) {
  absl::StatusOr<SecretBytes> contents =
      ReadFileToSecret(path, kMaxKeyFileBytes);
  if (!contents.ok()) {
    return absl::Status(contents.status().code() == absl::StatusCode::kNotFound
                            ? absl::StatusCode::kInvalidArgument
                            : contents.status().code(),
                        StrCat(source, ": ", contents.status().message()));
  }
  return contents;
}

// Returns the "type" of a credentials file, which must be a JSON object.
absl::StatusOr<std::string> CredentialType(const SecretJson& json,
                                           std::string_view source) {
  if (!json.is_object()) {
    return absl::InvalidArgumentError(
        StrCat(source,
               " is not a JSON object; download a service-account key in "
               "JSON format (gcloud iam service-accounts keys create)"));
  }
  return RequiredField(json, "type", source);
}

absl::StatusOr<ServiceAccountKey> ServiceAccountFromJson(
    const SecretJson& json, std::string_view source) {
  ServiceAccountKey key;
  DEKMS_ASSIGN_OR_RETURN(key.client_email,
                         RequiredField(json, "client_email", source));
  const WipingString* pem = FindString(json, "private_key");
  if (pem == nullptr || pem->empty()) {
    return absl::InvalidArgumentError(
        StrCat(source,
               ": field \"private_key\" is missing or not a non-empty "
               "string"));
  }
  const std::unique_ptr<BIO, decltype(&BIO_free)> bio(
      BIO_new_mem_buf(pem->data(), static_cast<int>(pem->size())), &BIO_free);
  EVP_PKEY* parsed = bio == nullptr ? nullptr
                                    : PEM_read_bio_PrivateKey(
                                          bio.get(), nullptr, nullptr, nullptr);
  ERR_clear_error();
  if (parsed == nullptr) {
    return absl::InvalidArgumentError(
        StrCat(source,
               ": field \"private_key\" is not a PEM private key; the file "
               "may be damaged, so create a new key"));
  }
  key.private_key = std::shared_ptr<EVP_PKEY>(parsed, EvpPkeyDeleter());
  if (EVP_PKEY_is_a(parsed, "RSA") != 1) {
    return absl::InvalidArgumentError(
        StrCat(source,
               ": field \"private_key\" is not an RSA key; Google signs "
               "service-account assertions with RS256"));
  }
  DEKMS_ASSIGN_OR_RETURN(key.token_uri,
                         RequiredField(json, "token_uri", source));
  DEKMS_RETURN_IF_ERROR(ValidateTokenUri(key.token_uri, source));
  if (const WipingString* id = FindString(json, "private_key_id")) {
    key.private_key_id = Text(*id);
  }
  if (const WipingString* project = FindString(json, "project_id")) {
    key.project_id = Text(*project);
  }
  return key;
}

absl::Status WrongType(std::string_view source, std::string_view type,
                       std::string_view accepted) {
  return absl::InvalidArgumentError(
      StrCat(source, ": field \"type\" is ", Quote(type),
             ", but dekms accepts ", accepted,
             " here; create a service-account key (gcloud iam service-accounts "
             "keys create) or use the GCE metadata server"));
}

// Sends a token request and parses the reply.
absl::StatusOr<GoogleAccessToken> RequestToken(
    HttpTransport& transport, const RetryPolicy& retry,
    const std::function<absl::Time()>& now, std::string_view what,
    absl::FunctionRef<absl::StatusOr<HttpRequest>()> build,
    bool require_metadata_flavor) {
  DEKMS_ASSIGN_OR_RETURN(
      const HttpResponse response,
      SendWithRetries(transport, retry, what, /*idempotent=*/true, build));
  if (response.status != 200) {
    return OAuthErrorToStatus(response, what);
  }
  if (require_metadata_flavor) {
    // A genuine metadata server echoes this header; a captive portal or
    // proxy that replies in its place does not.
    const std::string* flavor = response.FindHeader("metadata-flavor");
    if (flavor == nullptr || *flavor != "Google") {
      return absl::UnavailableError(StrCat(
          what,
          " answered without the header \"Metadata-Flavor: Google\", so it "
          "is not a GCE metadata server"));
    }
  }
  return ParseAccessTokenReply(response, now(), what);
}

HttpRequest FormPost(const std::string& url, SecretBytes body) {
  HttpRequest request;
  request.method = "POST";
  request.url = url;
  request.SetHeader("Content-Type", "application/x-www-form-urlencoded");
  request.body = std::move(body);
  return request;
}

// Common base: a token source whose tokens are cached and refreshed.
class CachingTokenSource : public GoogleTokenSource {
 public:
  CachingTokenSource(std::string description, std::string error_hint,
                     const GoogleCredentialOptions& options)
      : transport_(*options.transport),
        retry_(options.retry),
        now_(options.now),
        description_(std::move(description)),
        cache_("Google credentials", description_, std::move(error_hint),
               options.now, options.refresh_margin) {}

  absl::StatusOr<GoogleAccessToken> Get() final {
    return cache_.Get([this] { return Fetch(); });
  }
  std::string Describe() const final { return description_; }
  void Invalidate() final { cache_.Invalidate(); }

 protected:
  virtual absl::StatusOr<GoogleAccessToken> Fetch() = 0;

  HttpTransport& transport_;
  const RetryPolicy retry_;
  const std::function<absl::Time()> now_;

 private:
  const std::string description_;
  RefreshingCache<GoogleAccessToken> cache_;
};

// Exchanges a signed JWT for a token (RFC 7523), as service accounts do.
class ServiceAccountTokenSource final : public CachingTokenSource {
 public:
  ServiceAccountTokenSource(ServiceAccountKey key, std::string_view origin,
                            const GoogleCredentialOptions& options)
      : CachingTokenSource(
            StrCat("service account ", key.client_email, " (", origin, ")"),
            "check that the key exists and is enabled (gcloud iam "
            "service-accounts keys list) and that the clock of this machine "
            "is right",
            options),
        key_(std::move(key)),
        scope_(options.scope) {}

 private:
  absl::StatusOr<GoogleAccessToken> Fetch() override {
    auto build = [this]() -> absl::StatusOr<HttpRequest> {
      DEKMS_ASSIGN_OR_RETURN(SecretBytes assertion,
                             MakeServiceAccountAssertion(key_, scope_, now_()));
      SecretTextBuilder body;
      body.Append("grant_type=");
      AppendPercentEncoded(kJwtBearerGrant, body);
      body.Append("&assertion=");
      body.Append(RevealAsText(assertion));
      return FormPost(key_.token_uri, std::move(body).Finish());
    };
    return RequestToken(
        transport_, retry_, now_,
        StrCat("Google token endpoint ", UrlOrigin(key_.token_uri)), build,
        /*require_metadata_flavor=*/false);
  }

  const ServiceAccountKey key_;
  const std::string scope_;
};

// gcloud user credentials: a refresh token exchanged for access tokens.
class AuthorizedUserTokenSource final : public CachingTokenSource {
 public:
  AuthorizedUserTokenSource(std::string client_id, SecretBytes client_secret,
                            SecretBytes refresh_token, std::string token_uri,
                            std::string_view origin,
                            const GoogleCredentialOptions& options)
      : CachingTokenSource(StrCat("gcloud user credentials (", origin, ")"),
                           "run gcloud auth application-default login again",
                           options),
        client_id_(std::move(client_id)),
        client_secret_(std::move(client_secret)),
        refresh_token_(std::move(refresh_token)),
        token_uri_(std::move(token_uri)) {}

 private:
  absl::StatusOr<GoogleAccessToken> Fetch() override {
    auto build = [this]() -> absl::StatusOr<HttpRequest> {
      SecretTextBuilder body;
      body.Append("grant_type=refresh_token&client_id=");
      AppendPercentEncoded(client_id_, body);
      body.Append("&client_secret=");
      AppendPercentEncoded(RevealAsText(client_secret_), body);
      body.Append("&refresh_token=");
      AppendPercentEncoded(RevealAsText(refresh_token_), body);
      return FormPost(token_uri_, std::move(body).Finish());
    };
    return RequestToken(transport_, retry_, now_,
                        StrCat("Google token endpoint ", UrlOrigin(token_uri_)),
                        build, /*require_metadata_flavor=*/false);
  }

  const std::string client_id_;
  const SecretBytes client_secret_;
  const SecretBytes refresh_token_;
  const std::string token_uri_;
};

// The token of the default service account of a GCE VM or GKE workload.
class MetadataTokenSource final : public CachingTokenSource {
 public:
  MetadataTokenSource(const std::string& host, std::string error_hint,
                      const GoogleCredentialOptions& options)
      : CachingTokenSource(StrCat("the GCE metadata server at ", host),
                           std::move(error_hint), options),
        url_(StrCat("http://", host,
                    "/computeMetadata/v1/instance/service-accounts/default/"
                    "token")) {}

 private:
  absl::StatusOr<GoogleAccessToken> Fetch() override {
    auto build_request = [this]() -> absl::StatusOr<HttpRequest> {
      HttpRequest request;
      request.method = "GET";
      request.url = url_;
      request.SetHeader("Metadata-Flavor", "Google");
      return request;
    };
    return RequestToken(transport_, retry_, now_,
                        StrCat("GCE metadata server ", UrlOrigin(url_)),
                        build_request, /*require_metadata_flavor=*/true);
  }

  const std::string url_;
};

// Builds the source for a credentials file. `service_account_only` limits
// it to service-account keys, as for credentialsPath and
// GOOGLE_APPLICATION_CREDENTIALS.
absl::StatusOr<std::unique_ptr<GoogleTokenSource>> SourceFromFile(
    const std::string& path, std::string_view origin, bool service_account_only,
    const GoogleCredentialOptions& options) {
  const std::string source = StrCat(origin, " ", path);
  DEKMS_ASSIGN_OR_RETURN(const SecretBytes contents, ReadKeyFile(path, source));
  if (struct stat info{};
      ::stat(path.c_str(), &info) == 0 && (info.st_mode & 077) != 0) {
    spdlog::warn(
        "{} can be read by other users; it holds a private key, so restrict "
        "it (chmod 600)",
        source);
  }
  const SecretJson json = ParseSecretJson(RevealAsText(contents));
  DEKMS_ASSIGN_OR_RETURN(const std::string type, CredentialType(json, source));
  if (type == "service_account") {
    DEKMS_ASSIGN_OR_RETURN(ServiceAccountKey key,
                           ServiceAccountFromJson(json, source));
    return std::unique_ptr<GoogleTokenSource>(
        std::make_unique<ServiceAccountTokenSource>(std::move(key), source,
                                                    options));
  }
  if (type == "authorized_user" && !service_account_only) {
    DEKMS_ASSIGN_OR_RETURN(std::string client_id,
                           RequiredField(json, "client_id", source));
    const WipingString* secret = FindString(json, "client_secret");
    const WipingString* refresh = FindString(json, "refresh_token");
    if (secret == nullptr || secret->empty() || refresh == nullptr ||
        refresh->empty()) {
      return absl::InvalidArgumentError(
          StrCat(source,
                 ": fields \"client_secret\" and \"refresh_token\" must be "
                 "non-empty strings; run gcloud auth application-default "
                 "login again"));
    }
    std::string token_uri(kDefaultTokenUri);
    if (const WipingString* uri = FindString(json, "token_uri")) {
      token_uri = Text(*uri);
      DEKMS_RETURN_IF_ERROR(ValidateTokenUri(token_uri, source));
    }
    return std::unique_ptr<GoogleTokenSource>(
        std::make_unique<AuthorizedUserTokenSource>(
            std::move(client_id),
            SecretBytes::CopyFrom(
                std::string_view(secret->data(), secret->size())),
            SecretBytes::CopyFrom(
                std::string_view(refresh->data(), refresh->size())),
            std::move(token_uri), source, options));
  }
  return WrongType(source, type,
                   service_account_only
                       ? "only \"service_account\""
                       : "\"service_account\" and \"authorized_user\"");
}

bool FileExists(const std::string& path) {
  return ::access(path.c_str(), F_OK) == 0;
}

}  // namespace

absl::StatusOr<HttpResponse> SendToGoogleApi(
    GoogleTokenSource* credentials, HttpTransport& transport,
    const RetryPolicy& retry, std::string_view what, bool idempotent,
    absl::FunctionRef<absl::StatusOr<HttpRequest>()> build,
    RetryClassifier classify) {
  if (credentials == nullptr) {
    return SendWithRetries(transport, retry, what, idempotent, build, classify);
  }
  return SendWithBearerToken([credentials] { return credentials->Get(); },
                             [credentials] { credentials->Invalidate(); },
                             transport, retry, what, idempotent, build,
                             classify);
}

absl::StatusOr<ServiceAccountKey> ParseServiceAccountKey(
    const SecretBytes& json, std::string_view source) {
  const SecretJson parsed = ParseSecretJson(RevealAsText(json));
  DEKMS_ASSIGN_OR_RETURN(const std::string type,
                         CredentialType(parsed, source));
  if (type != "service_account") {
    return WrongType(source, type, "only \"service_account\"");
  }
  return ServiceAccountFromJson(parsed, source);
}

absl::StatusOr<SecretBytes> MakeServiceAccountAssertion(
    const ServiceAccountKey& key, std::string_view scope, absl::Time now) {
  nlohmann::json header = {{"alg", "RS256"}, {"typ", "JWT"}};
  if (!key.private_key_id.empty()) {
    header["kid"] = key.private_key_id;
  }
  const int64_t issued_at = absl::ToUnixSeconds(now);
  const nlohmann::json claims = {
      {"iss", key.client_email},
      {"scope", scope},
      {"aud", key.token_uri},
      {"iat", issued_at},
      {"exp", issued_at + absl::ToInt64Seconds(kAssertionLifetime)}};
  return SignJwtRs256(header.dump(), claims.dump(), *key.private_key);
}

absl::StatusOr<std::unique_ptr<GoogleTokenSource>> NewGoogleTokenSource(
    GoogleCredentialOptions options) {
  if (options.transport == nullptr) {
    return absl::InvalidArgumentError("NewGoogleTokenSource needs a transport");
  }
  if (!options.getenv) {
    options.getenv = ProcessEnvironment();
  }
  if (!options.now) {
    options.now = [] { return absl::Now(); };
  }
  const auto setting =
      [&](std::string_view name) -> std::optional<std::string> {
    std::optional<std::string> value = options.getenv(name);
    if (value.has_value() && value->empty()) {
      return std::nullopt;
    }
    return value;
  };

  if (!options.credentials_path.empty()) {
    return SourceFromFile(options.credentials_path, "credentialsPath",
                          /*service_account_only=*/true, options);
  }
  if (const std::optional<std::string> path =
          setting("GOOGLE_APPLICATION_CREDENTIALS")) {
    return SourceFromFile(*path, "GOOGLE_APPLICATION_CREDENTIALS",
                          /*service_account_only=*/true, options);
  }
  std::string gcloud_file;
  if (const std::optional<std::string> config = setting("CLOUDSDK_CONFIG")) {
    gcloud_file = StrCat(*config, "/application_default_credentials.json");
  } else if (const std::optional<std::string> home = setting("HOME")) {
    gcloud_file =
        StrCat(*home, "/.config/gcloud/application_default_credentials.json");
  }
  if (!gcloud_file.empty() && FileExists(gcloud_file)) {
    return SourceFromFile(gcloud_file, "gcloud file",
                          /*service_account_only=*/false, options);
  }
  const std::string host = setting("GCE_METADATA_HOST")
                               .value_or(std::string(kGceMetadataDefaultHost));
  if (host.empty() || host.find_first_of("/?#@ ") != std::string::npos) {
    return absl::InvalidArgumentError(
        StrCat("GCE_METADATA_HOST must be a host with an optional port, such "
               "as 127.0.0.1:8080, not ",
               Quote(host)));
  }
  // The metadata server replies quickly or not at all. Off GCE, a short
  // deadline turns a hang into a clear error.
  options.retry.max_attempts = std::min(options.retry.max_attempts, 3);
  options.retry.attempt_timeout =
      std::min(options.retry.attempt_timeout, absl::Seconds(5));
  options.retry.total_timeout =
      std::min(options.retry.total_timeout, absl::Seconds(15));
  return std::unique_ptr<GoogleTokenSource>(
      std::make_unique<MetadataTokenSource>(
          host,
          StrCat("No Google credentials were configured: credentialsPath "
                 "and GOOGLE_APPLICATION_CREDENTIALS are not set and ",
                 gcloud_file.empty() ? "HOME is not set"
                                     : StrCat(gcloud_file, " does not exist"),
                 ", so dekms asked the metadata server, which works only on "
                 "GCE and GKE; elsewhere set credentialsPath to a "
                 "service-account key file"),
          options));
}

}  // namespace dekms::internal
