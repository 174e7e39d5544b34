#include "src/cloud/aws/web_identity.h"

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "src/base/files.h"
#include "src/base/status_macros.h"
#include "src/base/str_cat.h"
#include "src/cloud/aws/credential_util.h"
#include "src/cloud/aws/refreshing_provider.h"
#include "src/cloud/http.h"
#include "src/cloud/retry.h"
#include "src/crypto/encoding.h"
#include "src/crypto/secret_text.h"

namespace dekms::internal {
namespace {

// Web identity tokens are JWTs of a few kilobytes, so this cap leaves ample
// room.
constexpr size_t kMaxWebIdentityTokenBytes = size_t{64} * 1024;

// Appends `text` to a form body with the percent-encoding of
// application/x-www-form-urlencoded: letters, digits and "-._~" stay, every
// other byte becomes %XX. An unencoded '+' would arrive as a space.
void AppendFormEncoded(SecretTextBuilder& body, std::string_view text) {
  static constexpr std::string_view kHex = "0123456789ABCDEF";
  for (const char c : text) {
    const bool unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                            (c >= '0' && c <= '9') || c == '-' || c == '.' ||
                            c == '_' || c == '~';
    if (unreserved) {
      body.Append(c);
      continue;
    }
    const auto byte = static_cast<unsigned char>(c);
    body.Append('%');
    body.Append(kHex[byte >> 4]);
    body.Append(kHex[byte & 0xF]);
  }
}

// Appends "&name=value", without the '&' for the first field.
void AppendFormField(SecretTextBuilder& body, bool first, std::string_view name,
                     std::string_view value) {
  if (!first) {
    body.Append('&');
  }
  AppendFormEncoded(body, name);
  body.Append('=');
  AppendFormEncoded(body, value);
}

// ---------------------------------------------------------------------------
// XML extraction for STS replies. STS sends small documents of unprefixed
// elements without CDATA sections, so finding an element by name suffices.
// This is not a general XML parser.

// Returns the content of the first element named `name` in `xml`, or nullopt
// when there is none.
std::optional<std::string_view> FindXmlElement(std::string_view xml,
                                               std::string_view name) {
  const std::string open = StrCat("<", name);
  const std::string close = StrCat("</", name, ">");
  size_t position = 0;
  while ((position = xml.find(open, position)) != std::string_view::npos) {
    const size_t after_name = position + open.size();
    if (after_name >= xml.size()) {
      return std::nullopt;
    }
    const char next = xml[after_name];
    if (next != '>' && next != '/' && !IsSpace(next)) {
      // A longer name that starts with `name`.
      position = after_name;
      continue;
    }
    const size_t tag_end = xml.find('>', after_name);
    if (tag_end == std::string_view::npos) {
      return std::nullopt;
    }
    if (xml[tag_end - 1] == '/') {
      return std::string_view();  // An empty element: <Name/>.
    }
    const size_t content_start = tag_end + 1;
    const size_t content_end = xml.find(close, content_start);
    if (content_end == std::string_view::npos) {
      return std::nullopt;
    }
    return xml.substr(content_start, content_end - content_start);
  }
  return std::nullopt;
}

// Returns the content of the element reached by descending through `path`.
std::optional<std::string_view> FindXmlPath(
    std::string_view xml, std::initializer_list<std::string_view> path) {
  std::optional<std::string_view> current = xml;
  for (const std::string_view name : path) {
    current = FindXmlElement(*current, name);
    if (!current.has_value()) {
      return std::nullopt;
    }
  }
  return current;
}

void AppendUtf8(SecretTextBuilder& out, uint32_t code_point) {
  if (code_point < 0x80) {
    out.Append(static_cast<char>(code_point));
  } else if (code_point < 0x800) {
    out.Append(static_cast<char>(0xC0 | (code_point >> 6)));
    out.Append(static_cast<char>(0x80 | (code_point & 0x3F)));
  } else if (code_point < 0x10000) {
    out.Append(static_cast<char>(0xE0 | (code_point >> 12)));
    out.Append(static_cast<char>(0x80 | ((code_point >> 6) & 0x3F)));
    out.Append(static_cast<char>(0x80 | (code_point & 0x3F)));
  } else {
    out.Append(static_cast<char>(0xF0 | (code_point >> 18)));
    out.Append(static_cast<char>(0x80 | ((code_point >> 12) & 0x3F)));
    out.Append(static_cast<char>(0x80 | ((code_point >> 6) & 0x3F)));
    out.Append(static_cast<char>(0x80 | (code_point & 0x3F)));
  }
}

// Parses the number of a character reference such as "#38" or "#x26".
std::optional<uint32_t> ParseCharacterReference(std::string_view entity) {
  int base = 10;
  entity.remove_prefix(1);  // '#'
  if (!entity.empty() && (entity.front() == 'x' || entity.front() == 'X')) {
    base = 16;
    entity.remove_prefix(1);
  }
  if (entity.empty() || entity.size() > 8) {
    return std::nullopt;
  }
  uint32_t value = 0;
  for (const char c : entity) {
    uint32_t digit = 0;
    if (c >= '0' && c <= '9') {
      digit = static_cast<uint32_t>(c - '0');
    } else if (base == 16 && c >= 'a' && c <= 'f') {
      digit = static_cast<uint32_t>(c - 'a' + 10);
    } else if (base == 16 && c >= 'A' && c <= 'F') {
      digit = static_cast<uint32_t>(c - 'A' + 10);
    } else {
      return std::nullopt;
    }
    value = value * static_cast<uint32_t>(base) + digit;
  }
  if (value == 0 || value > 0x10FFFF || (value >= 0xD800 && value <= 0xDFFF)) {
    return std::nullopt;
  }
  return value;
}

// Decodes the character data of an element: the five predefined entities
// and numeric character references. Errors name `what`, never the text.
absl::StatusOr<SecretBytes> DecodeXmlText(std::string_view text,
                                          std::string_view what) {
  SecretTextBuilder out;
  while (!text.empty()) {
    const size_t ampersand = text.find('&');
    out.Append(text.substr(0, ampersand));
    if (ampersand == std::string_view::npos) {
      break;
    }
    text.remove_prefix(ampersand);
    const size_t semicolon = text.find(';');
    if (semicolon == std::string_view::npos) {
      return absl::InternalError(
          StrCat(what, " contains an unterminated XML entity"));
    }
    const std::string_view entity = text.substr(1, semicolon - 1);
    text.remove_prefix(semicolon + 1);
    if (entity == "amp") {
      out.Append('&');
    } else if (entity == "lt") {
      out.Append('<');
    } else if (entity == "gt") {
      out.Append('>');
    } else if (entity == "quot") {
      out.Append('"');
    } else if (entity == "apos") {
      out.Append('\'');
    } else if (!entity.empty() && entity.front() == '#') {
      const std::optional<uint32_t> code_point =
          ParseCharacterReference(entity);
      if (!code_point.has_value()) {
        return absl::InternalError(
            StrCat(what, " contains an invalid XML character reference"));
      }
      AppendUtf8(out, *code_point);
    } else {
      return absl::InternalError(
          StrCat(what, " contains an unknown XML entity"));
    }
  }
  return std::move(out).Finish();
}

// Returns the decoded text of the element at `path`, or an empty string when
// it is missing or cannot be decoded. For fields that are never secret.
std::string XmlTextOrEmpty(std::string_view xml,
                           std::initializer_list<std::string_view> path) {
  const std::optional<std::string_view> element = FindXmlPath(xml, path);
  if (!element.has_value()) {
    return "";
  }
  absl::StatusOr<SecretBytes> text = DecodeXmlText(*element, "element");
  if (!text.ok()) {
    return "";
  }
  return std::string(RevealAsText(*text));
}

// Returns the status code for STS error codes whose meaning differs from
// their HTTP status, such as an invalid token sent with HTTP 400. Code names
// are the ones STS documents for AssumeRoleWithWebIdentity.
std::optional<absl::StatusCode> StsErrorCodeOverride(
    std::string_view error_code) {
  if (error_code == "InvalidIdentityToken" ||
      error_code == "ExpiredTokenException" ||
      error_code == "IDPRejectedClaim") {
    return absl::StatusCode::kUnauthenticated;
  }
  if (error_code == "AccessDenied") {
    return absl::StatusCode::kPermissionDenied;
  }
  if (error_code == "IDPCommunicationError") {
    return absl::StatusCode::kUnavailable;
  }
  return std::nullopt;
}

// Replaces each occurrence of `secret` in `text`.
std::string Redact(std::string text, std::string_view secret) {
  if (secret.empty()) {
    return text;
  }
  constexpr std::string_view kMark = "[redacted]";
  size_t position = 0;
  while ((position = text.find(secret, position)) != std::string::npos) {
    text.replace(position, secret.size(), kMark);
    position += kMark.size();
  }
  return text;
}

class WebIdentityProvider final : public RefreshingProvider {
 public:
  WebIdentityProvider(WebIdentitySettings settings,
                      const AwsCredentialChainOptions& options)
      : RefreshingProvider(
            StrCat("web identity token file ", settings.token_file,
                   " for role ", settings.role_arn, " (from ", settings.origin,
                   ") through STS at ", settings.sts_endpoint),
            "", options),
        settings_(std::move(settings)),
        transport_(*options.transport),
        retry_(options.retry) {}

 private:
  absl::StatusOr<AwsCredentials> Fetch() override;
  absl::Status StsError(const HttpResponse& response,
                        std::string_view token) const;
  absl::StatusOr<AwsCredentials> ParseReply(std::string_view xml) const;

  const WebIdentitySettings settings_;
  HttpTransport& transport_;
  const RetryPolicy retry_;
};

absl::StatusOr<AwsCredentials> WebIdentityProvider::Fetch() {
  // The file is read on every refresh because Kubernetes and other issuers
  // rotate the token in place.
  absl::StatusOr<SecretBytes> file =
      ReadFileToSecret(settings_.token_file, kMaxWebIdentityTokenBytes);
  if (!file.ok()) {
    return WithContext(file.status(), "cannot read the web identity token");
  }
  const std::string_view token = Trim(RevealAsText(*file));
  if (token.empty()) {
    return absl::FailedPreconditionError(
        StrCat("web identity token file ", settings_.token_file, " is empty"));
  }
  const std::string session_name =
      settings_.session_name.empty()
          ? StrCat("dekms-", absl::ToUnixSeconds(Now()))
          : settings_.session_name;

  SecretTextBuilder form;
  AppendFormField(form, true, "Action", "AssumeRoleWithWebIdentity");
  AppendFormField(form, false, "Version", "2011-06-15");
  AppendFormField(form, false, "RoleArn", settings_.role_arn);
  AppendFormField(form, false, "RoleSessionName", session_name);
  AppendFormField(form, false, "WebIdentityToken", token);
  const SecretBytes body = std::move(form).Finish();

  // The request is unsigned: the web identity token is the credential.
  auto build = [&]() -> absl::StatusOr<HttpRequest> {
    HttpRequest request;
    request.method = "POST";
    request.url = StrCat(settings_.sts_endpoint, "/");
    request.SetHeader("Content-Type",
                      "application/x-www-form-urlencoded; charset=utf-8");
    request.body = body.Clone();
    return request;
  };
  auto classify = [](const HttpResponse& response) -> RetryDecision {
    // STS reports a temporary failure to reach the identity provider as
    // 400 IDPCommunicationError and documents it as retryable.
    if (response.status == 400 &&
        FindXmlPath(response.BodyText(), {"Error", "Code"}) ==
            "IDPCommunicationError") {
      return {
          "STS could not reach the identity provider "
          "(IDPCommunicationError)"};
    }
    return DefaultRetryClassifier(response);
  };
  absl::StatusOr<HttpResponse> response =
      SendWithRetries(transport_, retry_, "STS AssumeRoleWithWebIdentity",
                      /*idempotent=*/true, build, classify);
  if (!response.ok()) {
    return response.status();  // The message names the endpoint.
  }
  if (response->status != 200) {
    return StsError(*response, token);
  }
  return ParseReply(response->BodyText());
}

absl::Status WebIdentityProvider::StsError(const HttpResponse& response,
                                           std::string_view token) const {
  const std::string_view xml = response.BodyText();
  ProviderError error;
  error.service = "AWS STS";
  error.operation = "AssumeRoleWithWebIdentity";
  error.http_status = response.status;
  error.code = XmlTextOrEmpty(xml, {"Error", "Code"});
  // STS does not quote the token in its messages, but a proxy or another
  // server at the endpoint might.
  error.message = Redact(XmlTextOrEmpty(xml, {"Error", "Message"}), token);
  error.request_id = XmlTextOrEmpty(xml, {"RequestId"});
  if (error.request_id.empty()) {
    if (const std::string* header = response.FindHeader("x-amzn-requestid")) {
      error.request_id = *header;
    }
  }
  return ProviderErrorToStatus(error, StsErrorCodeOverride(error.code));
}

absl::StatusOr<AwsCredentials> WebIdentityProvider::ParseReply(
    std::string_view xml) const {
  const std::optional<std::string_view> credentials =
      FindXmlPath(xml, {"AssumeRoleWithWebIdentityResult", "Credentials"});
  if (!credentials.has_value()) {
    return absl::InternalError(
        StrCat("the STS reply from ", settings_.sts_endpoint,
               " has no AssumeRoleWithWebIdentityResult/Credentials element"));
  }
  auto field = [&](std::string_view name) -> absl::StatusOr<SecretBytes> {
    const std::optional<std::string_view> element =
        FindXmlElement(*credentials, name);
    const std::string what = StrCat("Credentials/", name, " in the STS reply");
    if (!element.has_value()) {
      return absl::InternalError(StrCat(what, " is missing"));
    }
    DEKMS_ASSIGN_OR_RETURN(SecretBytes text, DecodeXmlText(*element, what));
    if (text.empty()) {
      return absl::InternalError(StrCat(what, " is empty"));
    }
    return text;
  };

  AwsCredentials result;
  DEKMS_ASSIGN_OR_RETURN(const SecretBytes access_key_id, field("AccessKeyId"));
  result.access_key_id = std::string(RevealAsText(access_key_id));
  DEKMS_ASSIGN_OR_RETURN(result.secret_access_key, field("SecretAccessKey"));
  DEKMS_ASSIGN_OR_RETURN(result.session_token, field("SessionToken"));
  DEKMS_ASSIGN_OR_RETURN(const SecretBytes expiration, field("Expiration"));
  DEKMS_ASSIGN_OR_RETURN(
      result.expiration,
      ParseIsoTime(RevealAsText(expiration),
                   "Credentials/Expiration in the STS reply"));
  return result;
}

}  // namespace

std::unique_ptr<AwsCredentialsProvider> NewWebIdentityProvider(
    WebIdentitySettings settings, const AwsCredentialChainOptions& options) {
  return std::make_unique<WebIdentityProvider>(std::move(settings), options);
}

}  // namespace dekms::internal
