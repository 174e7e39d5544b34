#include "src/cloud/oauth.h"

#include <optional>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "spdlog/spdlog.h"
#include "src/base/quote.h"
#include "src/base/status_macros.h"
#include "src/base/str_cat.h"
#include "src/cloud/secret_json.h"
#include "src/crypto/encoding.h"
#include "src/crypto/secret_text.h"

namespace dekms::internal {
namespace {

std::string Text(const WipingString& value) {
  return {value.data(), value.size()};
}

// Maximum token lifetime accepted, about 116 days. A longer one comes from
// a broken server.
constexpr double kMaxExpiresInSeconds = 1e7;

}  // namespace

absl::StatusOr<AccessToken> ParseAccessTokenReply(const HttpResponse& response,
                                                  absl::Time now,
                                                  std::string_view what) {
  const SecretJson reply = ParseSecretJson(response.BodyText());
  const WipingString* token = FindString(reply, "access_token");
  if (token == nullptr || token->empty()) {
    return absl::UnavailableError(
        StrCat(what, " returned no access_token in its reply"));
  }
  if (const WipingString* type = FindString(reply, "token_type");
      type != nullptr && !absl::EqualsIgnoreCase(Text(*type), "Bearer")) {
    return absl::UnavailableError(StrCat(what, " returned a token of type ",
                                         Quote(Text(*type)), ", not Bearer"));
  }
  std::optional<double> expires_in;
  if (const auto field = reply.find("expires_in"); field != reply.end()) {
    if (field->is_number()) {
      expires_in = field->get<double>();
    } else if (field->is_string()) {
      double parsed = 0;
      const WipingString& value = field->get_ref<const WipingString&>();
      if (absl::SimpleAtod(absl::string_view(value.data(), value.size()),
                           &parsed)) {
        expires_in = parsed;
      }
    }
  }
  if (!expires_in.has_value() || !(*expires_in > 0) ||
      *expires_in > kMaxExpiresInSeconds) {
    return absl::UnavailableError(
        StrCat(what, " returned no valid expires_in in its reply"));
  }
  AccessToken result;
  result.token =
      SecretBytes::CopyFrom(std::string_view(token->data(), token->size()));
  result.expiration = now + absl::Seconds(*expires_in);
  return result;
}

absl::Status OAuthErrorToStatus(const HttpResponse& response,
                                std::string_view what) {
  const SecretJson reply = ParseSecretJson(response.BodyText());
  ProviderError error;
  error.service = std::string(what);
  error.operation = "token request";
  error.http_status = response.status;
  if (const WipingString* code = FindString(reply, "error")) {
    error.code = Text(*code);
  } else if (reply.is_object()) {
    if (const auto nested = reply.find("error");
        nested != reply.end() && nested->is_object()) {
      if (const WipingString* status = FindString(*nested, "status")) {
        error.code = Text(*status);
      }
      if (const WipingString* message = FindString(*nested, "message")) {
        error.message = Text(*message);
      }
    }
  }
  if (const WipingString* description =
          FindString(reply, "error_description")) {
    error.message = Text(*description);
  }
  std::optional<absl::StatusCode> code;
  if (response.status == 400 || response.status == 401) {
    code = absl::StatusCode::kUnauthenticated;
  }
  return ProviderErrorToStatus(error, code);
}

absl::Status ValidateCredentialUrl(std::string_view url,
                                   std::string_view what) {
  std::string_view rest;
  const bool plain = url.starts_with("http://");
  if (url.starts_with("https://")) {
    rest = url.substr(8);
  } else if (plain) {
    rest = url.substr(7);
  } else {
    return absl::InvalidArgumentError(
        StrCat(what, " must be an https URL, not ", Quote(url)));
  }
  std::string_view host = rest.substr(0, rest.find_first_of("/?#"));
  if (host.empty() || host.find('@') != std::string_view::npos) {
    return absl::InvalidArgumentError(
        StrCat(what, " has no valid host: ", Quote(url)));
  }
  if (plain) {
    if (host.starts_with('[')) {
      host = host.substr(1, host.find(']') - 1);
    } else {
      host = host.substr(0, host.find(':'));
    }
    if (!IsLoopbackHost(host)) {
      return absl::InvalidArgumentError(StrCat(
          what, " ", Quote(url),
          " uses plain http to a host that is not loopback; what is sent "
          "there is a credential, so use https"));
    }
  }
  return absl::OkStatus();
}

void SetBearerToken(const AccessToken& token, HttpRequest& request) {
  SecretTextBuilder value;
  value.Append("Bearer ");
  value.Append(RevealAsText(token.token));
  const SecretBytes header = std::move(value).Finish();
  request.SetHeader("Authorization", RevealAsText(header));
}

absl::StatusOr<HttpResponse> SendWithBearerToken(
    absl::FunctionRef<absl::StatusOr<AccessToken>()> token,
    absl::FunctionRef<void()> invalidate, HttpTransport& transport,
    const RetryPolicy& retry, std::string_view what, bool idempotent,
    absl::FunctionRef<absl::StatusOr<HttpRequest>()> build,
    RetryClassifier classify) {
  auto authorized = [&]() -> absl::StatusOr<HttpRequest> {
    DEKMS_ASSIGN_OR_RETURN(HttpRequest request, build());
    DEKMS_ASSIGN_OR_RETURN(const AccessToken current, token());
    SetBearerToken(current, request);
    return request;
  };
  absl::StatusOr<HttpResponse> response =
      SendWithRetries(transport, retry, what, idempotent, authorized, classify);
  if (!response.ok() || response->status != 401) {
    return response;
  }
  spdlog::warn(
      "{}: the access token was rejected (HTTP 401); fetching a new one "
      "and sending again",
      what);
  invalidate();
  return SendWithRetries(transport, retry, what, idempotent, authorized,
                         classify);
}

}  // namespace dekms::internal
