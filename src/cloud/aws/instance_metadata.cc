#include "src/cloud/aws/instance_metadata.h"

#include <algorithm>
#include <string>
#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "src/base/quote.h"
#include "src/base/status_macros.h"
#include "src/base/str_cat.h"
#include "src/cloud/aws/credential_util.h"
#include "src/cloud/aws/refreshing_provider.h"
#include "src/cloud/http.h"
#include "src/cloud/retry.h"
#include "src/cloud/secret_json.h"
#include "src/crypto/encoding.h"

namespace dekms::internal {
namespace {

// Lifetime requested for IMDSv2 session tokens, the maximum IMDS allows.
constexpr int kImdsTokenTtlSeconds = 21600;
// A cached IMDS token is replaced this long before IMDS would expire it.
constexpr absl::Duration kImdsTokenMargin = absl::Minutes(5);
// IMDS usually responds within milliseconds on an instance, and off EC2 its
// address gets no response at all, so long waits would only delay the error.
constexpr absl::Duration kImdsAttemptTimeout = absl::Seconds(1);
constexpr int kImdsMaxAttempts = 3;
constexpr absl::Duration kImdsTotalTimeout = absl::Seconds(5);
constexpr std::string_view kImdsTokenPath = "/latest/api/token";
constexpr std::string_view kImdsRolesPath =
    "/latest/meta-data/iam/security-credentials/";

// Fetches the credentials of the instance's IAM role from EC2 instance
// metadata, with IMDSv2 session tokens only. IMDSv1 (requests without a
// token) is never used, so a proxy or container that cannot obtain a token
// gets an error instead of a silent downgrade.
class ImdsProvider final : public RefreshingProvider {
 public:
  ImdsProvider(ImdsSettings settings, const AwsCredentialChainOptions& options)
      : RefreshingProvider(
            StrCat("EC2 instance metadata (IMDSv2) at ", settings.endpoint),
            std::move(settings.error_hint), options),
        endpoint_(std::move(settings.endpoint)),
        transport_(*options.transport),
        retry_(ImdsRetryPolicy(options.retry)) {}

 private:
  static RetryPolicy ImdsRetryPolicy(RetryPolicy policy) {
    policy.max_attempts = std::min(policy.max_attempts, kImdsMaxAttempts);
    policy.attempt_timeout =
        std::min(policy.attempt_timeout, kImdsAttemptTimeout);
    policy.total_timeout = std::min(policy.total_timeout, kImdsTotalTimeout);
    return policy;
  }

  absl::StatusOr<AwsCredentials> Fetch() override;
  absl::Status EnsureToken();
  absl::StatusOr<HttpResponse> Send(std::string_view method,
                                    std::string_view path);
  absl::StatusOr<HttpResponse> GetWithToken(std::string_view path);
  absl::Status UnexpectedStatus(std::string_view method, std::string_view path,
                                int status) const;
  absl::StatusOr<AwsCredentials> ParseCredentials(std::string_view json,
                                                  std::string_view role) const;

  const std::string endpoint_;
  HttpTransport& transport_;
  const RetryPolicy retry_;
  // Only Fetch() uses these, and RefreshingProvider runs one Fetch() at a
  // time.
  SecretBytes token_;
  absl::Time token_refresh_at_;
};

absl::Status ImdsProvider::UnexpectedStatus(std::string_view method,
                                            std::string_view path,
                                            int status) const {
  return absl::UnavailableError(
      StrCat(method, " ", endpoint_, path, " returned HTTP ", status));
}

absl::StatusOr<HttpResponse> ImdsProvider::Send(std::string_view method,
                                                std::string_view path) {
  const bool token_request = path == kImdsTokenPath;
  auto build = [&]() -> absl::StatusOr<HttpRequest> {
    HttpRequest request;
    request.method = std::string(method);
    request.url = StrCat(endpoint_, path);
    if (token_request) {
      request.SetHeader("X-aws-ec2-metadata-token-ttl-seconds",
                        std::to_string(kImdsTokenTtlSeconds));
    } else {
      request.SetHeader("X-aws-ec2-metadata-token", RevealAsText(token_));
    }
    return request;
  };
  absl::StatusOr<HttpResponse> response =
      SendWithRetries(transport_, retry_, StrCat("IMDS ", method, " ", path),
                      /*idempotent=*/true, build);
  if (!response.ok()) {
    return WithContext(response.status(), StrCat("request for ", path));
  }
  return response;
}

absl::Status ImdsProvider::EnsureToken() {
  if (!token_.empty() && Now() < token_refresh_at_) {
    return absl::OkStatus();
  }
  token_ = SecretBytes();
  DEKMS_ASSIGN_OR_RETURN(HttpResponse response, Send("PUT", kImdsTokenPath));
  if (response.status == 403) {
    return absl::PermissionDeniedError(
        StrCat("PUT ", endpoint_, kImdsTokenPath,
               " returned HTTP 403: IMDS is turned off for this instance, or "
               "the request went through a proxy"));
  }
  if (response.status != 200) {
    return UnexpectedStatus("PUT", kImdsTokenPath, response.status);
  }
  const std::string_view token = Trim(response.BodyText());
  if (token.empty()) {
    return absl::InternalError(
        StrCat("PUT ", endpoint_, kImdsTokenPath, " returned an empty token"));
  }
  token_ = SecretBytes::CopyFrom(token);
  token_refresh_at_ =
      Now() + absl::Seconds(kImdsTokenTtlSeconds) - kImdsTokenMargin;
  return absl::OkStatus();
}

absl::StatusOr<HttpResponse> ImdsProvider::GetWithToken(std::string_view path) {
  DEKMS_RETURN_IF_ERROR(EnsureToken());
  DEKMS_ASSIGN_OR_RETURN(HttpResponse response, Send("GET", path));
  if (response.status != 401) {
    return response;
  }
  // IMDS returns 401 for an expired or invalid token, so one more attempt
  // with a new token is made.
  token_ = SecretBytes();
  DEKMS_RETURN_IF_ERROR(EnsureToken());
  DEKMS_ASSIGN_OR_RETURN(response, Send("GET", path));
  if (response.status == 401) {
    return absl::UnauthenticatedError(
        StrCat("GET ", endpoint_, path,
               " returned HTTP 401 even with a new session token"));
  }
  return response;
}

absl::StatusOr<AwsCredentials> ImdsProvider::Fetch() {
  DEKMS_ASSIGN_OR_RETURN(HttpResponse roles, GetWithToken(kImdsRolesPath));
  if (roles.status == 404) {
    return absl::NotFoundError(
        StrCat("GET ", endpoint_, kImdsRolesPath,
               " returned HTTP 404: the instance has no IAM role; attach an "
               "instance profile"));
  }
  if (roles.status != 200) {
    return UnexpectedStatus("GET", kImdsRolesPath, roles.status);
  }
  // The reply lists one role name per line; an instance has at most one.
  const std::string_view listing = roles.BodyText();
  const std::string role(Trim(listing.substr(0, listing.find('\n'))));
  if (role.empty()) {
    return absl::NotFoundError(StrCat("GET ", endpoint_, kImdsRolesPath,
                                      " listed no IAM role; attach an "
                                      "instance profile"));
  }
  const bool valid_name = std::all_of(role.begin(), role.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
           (c >= '0' && c <= '9') ||
           std::string_view("+=,.@_-").find(c) != std::string_view::npos;
  });
  if (!valid_name) {
    return absl::InternalError(StrCat("GET ", endpoint_, kImdsRolesPath,
                                      " returned an invalid role name ",
                                      Quote(role)));
  }

  const std::string path = StrCat(kImdsRolesPath, role);
  DEKMS_ASSIGN_OR_RETURN(HttpResponse reply, GetWithToken(path));
  if (reply.status == 404) {
    return absl::NotFoundError(StrCat("GET ", endpoint_, path,
                                      " returned HTTP 404: role ", Quote(role),
                                      " was detached from the instance"));
  }
  if (reply.status != 200) {
    return UnexpectedStatus("GET", path, reply.status);
  }
  return ParseCredentials(reply.BodyText(), role);
}

absl::StatusOr<AwsCredentials> ImdsProvider::ParseCredentials(
    std::string_view json, std::string_view role) const {
  const std::string what = StrCat("the IMDS credentials of role ", Quote(role));
  // SecretJson wipes its strings and parser buffers when they are freed, so
  // no copy of the secret key or session token stays behind in freed memory.
  const SecretJson fields = ParseSecretJson(json);
  if (fields.is_discarded()) {
    return absl::InternalError(StrCat(what, " is not valid JSON"));
  }
  if (!fields.is_object()) {
    return absl::InternalError(StrCat(what, " is not a JSON object"));
  }

  auto text_field = [&](std::string_view name) -> std::string_view {
    const WipingString* value = FindString(fields, name);
    return value == nullptr ? std::string_view()
                            : std::string_view(value->data(), value->size());
  };
  auto secret_field =
      [&](std::string_view name) -> absl::StatusOr<SecretBytes> {
    const WipingString* value = FindString(fields, name);
    if (value == nullptr || value->empty()) {
      return absl::InternalError(StrCat(what, " lack the string field ", name));
    }
    return SecretBytes::CopyFrom(
        std::string_view(value->data(), value->size()));
  };

  const std::string_view code = text_field("Code");
  if (code != "Success") {
    return absl::UnavailableError(
        StrCat(what, " have Code ", Quote(code), " instead of \"Success\""));
  }
  AwsCredentials result;
  DEKMS_ASSIGN_OR_RETURN(const SecretBytes access_key_id,
                         secret_field("AccessKeyId"));
  result.access_key_id = std::string(RevealAsText(access_key_id));
  DEKMS_ASSIGN_OR_RETURN(result.secret_access_key,
                         secret_field("SecretAccessKey"));
  DEKMS_ASSIGN_OR_RETURN(result.session_token, secret_field("Token"));
  DEKMS_ASSIGN_OR_RETURN(const SecretBytes expiration,
                         secret_field("Expiration"));
  DEKMS_ASSIGN_OR_RETURN(
      result.expiration,
      ParseIsoTime(RevealAsText(expiration), StrCat("Expiration in ", what)));
  return result;
}

}  // namespace

std::unique_ptr<AwsCredentialsProvider> NewImdsProvider(
    ImdsSettings settings, const AwsCredentialChainOptions& options) {
  return std::make_unique<ImdsProvider>(std::move(settings), options);
}

}  // namespace dekms::internal
