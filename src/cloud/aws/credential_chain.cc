#include "src/cloud/aws/credential_chain.h"

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <initializer_list>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "spdlog/spdlog.h"
#include "src/base/files.h"
#include "src/base/quote.h"
#include "src/base/status_macros.h"
#include "src/base/str_cat.h"
#include "src/cloud/aws/endpoint.h"
#include "src/cloud/secret_json.h"
#include "src/crypto/encoding.h"
#include "src/crypto/secret_text.h"

namespace dekms::internal {

GetEnvFunction ProcessEnvironment() {
  return [](std::string_view name) -> std::optional<std::string> {
    const std::string name_text(name);
    // getenv races only with setenv and putenv, which dekms calls in no
    // library or program code.
    // NOLINTNEXTLINE(concurrency-mt-unsafe)
    const char* value = std::getenv(name_text.c_str());
    if (value == nullptr) {
      return std::nullopt;
    }
    return std::string(value);
  };
}

namespace {

// Web identity tokens are JWTs of a few kilobytes, so this cap leaves ample
// room.
constexpr size_t kMaxWebIdentityTokenBytes = size_t{64} * 1024;
constexpr size_t kMaxSharedFileBytes = size_t{1024} * 1024;

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

// After a failed refresh, credentials that are still valid stay in use for
// this long before the next attempt, which also limits the warnings.
constexpr absl::Duration kRefreshRetryInterval = absl::Seconds(30);

// ---------------------------------------------------------------------------
// Text helpers

bool IsSpace(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' ||
         c == '\f';
}

std::string_view Trim(std::string_view text) {
  while (!text.empty() && IsSpace(text.front())) {
    text.remove_prefix(1);
  }
  while (!text.empty() && IsSpace(text.back())) {
    text.remove_suffix(1);
  }
  return text;
}

std::string ToLower(std::string_view text) {
  std::string lower(text);
  for (char& c : lower) {
    if (c >= 'A' && c <= 'Z') {
      c = static_cast<char>(c - 'A' + 'a');
    }
  }
  return lower;
}

// Returns the value of environment variable `name`, treating an empty value
// as unset, as the AWS SDKs do.
std::optional<std::string> GetSetting(const GetEnvFunction& getenv,
                                      std::string_view name) {
  std::optional<std::string> value = getenv(name);
  if (!value.has_value() || value->empty()) {
    return std::nullopt;
  }
  return value;
}

// Like GetSetting, for a variable that contains a secret. The value moves
// into a SecretBytes and the string copy is wiped.
std::optional<SecretBytes> GetSecretSetting(const GetEnvFunction& getenv,
                                            std::string_view name) {
  std::optional<std::string> value = getenv(name);
  if (!value.has_value()) {
    return std::nullopt;
  }
  SecretBytes secret = SecretBytes::CopyFrom(std::string_view(*value));
  WipeString(*value);
  if (secret.empty()) {
    return std::nullopt;
  }
  return secret;
}

std::string WithoutTrailingSlashes(std::string_view url) {
  while (!url.empty() && url.back() == '/') {
    url.remove_suffix(1);
  }
  return std::string(url);
}

// Keeps the code of `status` and puts `context` before its message.
absl::Status WithContext(const absl::Status& status, std::string_view context) {
  return {status.code(), StrCat(context, ": ", status.message())};
}

std::string FormatUtc(absl::Time time) {
  return absl::FormatTime(absl::RFC3339_sec, time, absl::UTCTimeZone());
}

absl::StatusOr<absl::Time> ParseIsoTime(std::string_view text,
                                        std::string_view what) {
  absl::Time time;
  std::string error;
  if (!absl::ParseTime(absl::RFC3339_full, std::string(text), &time, &error)) {
    return absl::InternalError(StrCat(what, " ", Quote(text),
                                      " is not an ISO 8601 time such as "
                                      "2030-01-02T03:04:05Z"));
  }
  return time;
}

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

// ---------------------------------------------------------------------------
// JSON extraction for instance metadata replies.

// The string members of a top-level JSON object, each in a SecretBytes.
// Parsing goes through SecretJson, whose lexer buffers and strings are
// wiped when freed, so no copy of a secret stays behind in freed memory.
class JsonObjectStrings {
 public:
  // Parses `text`. Errors name `what`, never the text.
  absl::Status Parse(std::string_view text, std::string_view what) {
    const SecretJson json = ParseSecretJson(text);
    if (json.is_discarded()) {
      return absl::InternalError(StrCat(what, " is not valid JSON"));
    }
    if (!json.is_object()) {
      return absl::InternalError(StrCat(what, " is not a JSON object"));
    }
    for (const auto& [name, value] : json.items()) {
      if (value.is_string()) {
        const auto& text_value = value.get_ref<const WipingString&>();
        fields_.insert_or_assign(std::string(name.data(), name.size()),
                                 SecretBytes::CopyFrom(std::string_view(
                                     text_value.data(), text_value.size())));
      }
    }
    return absl::OkStatus();
  }

  [[nodiscard]] const SecretBytes* Find(const std::string& name) const {
    const auto it = fields_.find(name);
    return it == fields_.end() ? nullptr : &it->second;
  }

 private:
  std::map<std::string, SecretBytes> fields_;
};

// ---------------------------------------------------------------------------
// Providers

class StaticProvider final : public AwsCredentialsProvider {
 public:
  StaticProvider(AwsCredentials credentials, std::string description)
      : credentials_(std::move(credentials)),
        description_(std::move(description)) {}

  absl::StatusOr<AwsCredentials> Get() override { return credentials_.Clone(); }

  std::string Describe() const override { return description_; }

 private:
  const AwsCredentials credentials_;
  const std::string description_;
};

// Caches temporary credentials from Fetch() and refreshes them
// `refresh_margin` before they expire, or halfway through their lifetime if
// that is later. One thread refreshes at a time. While it does, other
// callers get the cached credentials if those have not expired, and wait
// otherwise. A failed refresh keeps credentials that are still valid and logs
// a warning. Expired credentials are never returned.
class RefreshingProvider : public AwsCredentialsProvider {
 public:
  RefreshingProvider(std::string description, std::string error_hint,
                     const AwsCredentialChainOptions& options)
      : description_(std::move(description)),
        error_hint_(std::move(error_hint)),
        now_(options.now),
        refresh_margin_(options.refresh_margin) {}

  absl::StatusOr<AwsCredentials> Get() final;

  std::string Describe() const final { return description_; }

 protected:
  // Fetches new credentials from the source. Get() runs it on one thread at
  // a time, so implementations may keep state between calls without a lock.
  virtual absl::StatusOr<AwsCredentials> Fetch() = 0;

  [[nodiscard]] absl::Time Now() const { return now_(); }

 private:
  absl::Status DescribeError(const absl::Status& status) const;

  const std::string description_;
  // A sentence appended to error messages, to say why this source was
  // chosen.
  const std::string error_hint_;
  const std::function<absl::Time()> now_;
  const absl::Duration refresh_margin_;

  absl::Mutex mu_;
  std::optional<AwsCredentials> cached_ ABSL_GUARDED_BY(mu_);
  // Time of the next Fetch() while `cached_` is set.
  absl::Time refresh_at_ ABSL_GUARDED_BY(mu_);
  bool refreshing_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t finished_refreshes_ ABSL_GUARDED_BY(mu_) = 0;
  // The outcome of the last refresh.
  absl::Status last_refresh_status_ ABSL_GUARDED_BY(mu_);
};

absl::Status RefreshingProvider::DescribeError(
    const absl::Status& status) const {
  std::string message =
      StrCat("AWS credentials from ", description_, ": ", status.message());
  if (!error_hint_.empty()) {
    message = StrCat(message, ". ", error_hint_);
  }
  return {status.code(), message};
}

absl::StatusOr<AwsCredentials> RefreshingProvider::Get() {
  absl::MutexLock lock(&mu_);
  const uint64_t finished_before = finished_refreshes_;
  auto refresh_finished = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return !refreshing_;
  };
  while (refreshing_) {
    if (cached_.has_value() && now_() < cached_->expiration) {
      return cached_->Clone();
    }
    mu_.Await(absl::Condition(&refresh_finished));
  }
  if (finished_refreshes_ != finished_before && !last_refresh_status_.ok()) {
    // The refresh this call waited for failed. Report that instead of
    // sending the same request again at once.
    return last_refresh_status_;
  }
  const absl::Time now = now_();
  if (cached_.has_value() && now < refresh_at_ && now < cached_->expiration) {
    return cached_->Clone();
  }

  refreshing_ = true;
  mu_.Unlock();
  absl::StatusOr<AwsCredentials> fetched = Fetch();
  const absl::Time fetched_at = now_();
  if (fetched.ok() && fetched->expiration <= fetched_at) {
    fetched = absl::UnavailableError(StrCat(
        "the credentials received expired at ", FormatUtc(fetched->expiration),
        ", before they could be used; check the system clock"));
  }
  mu_.Lock();
  refreshing_ = false;
  ++finished_refreshes_;

  if (fetched.ok()) {
    // Refresh `refresh_margin_` before expiry, but not before half of the
    // lifetime has passed, so that short-lived credentials are not fetched
    // again on every call.
    const absl::Duration lifetime = fetched->expiration - fetched_at;
    refresh_at_ = std::max(fetched->expiration - refresh_margin_,
                           fetched_at + lifetime / 2);
    cached_ = fetched->Clone();
    last_refresh_status_ = absl::OkStatus();
    return fetched;
  }

  last_refresh_status_ = DescribeError(fetched.status());
  if (cached_.has_value() && fetched_at < cached_->expiration) {
    refresh_at_ =
        std::min(fetched_at + kRefreshRetryInterval, cached_->expiration);
    spdlog::warn(
        "{}; the current credentials stay in use until they expire at {}",
        std::string(last_refresh_status_.message()),
        FormatUtc(cached_->expiration));
    return cached_->Clone();
  }
  cached_.reset();
  return last_refresh_status_;
}

// Settings of the web identity flow, from the environment or a profile.
struct WebIdentitySettings {
  std::string token_file;
  std::string role_arn;
  // Empty means "dekms-<unix seconds>", made anew for each request.
  std::string session_name;
  std::string sts_endpoint;  // Scheme and host, without a trailing slash.
  // Origin of the settings, such as "AWS_WEB_IDENTITY_TOKEN_FILE and
  // AWS_ROLE_ARN".
  std::string origin;
};

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

// Settings of the EC2 instance metadata provider.
struct ImdsSettings {
  std::string endpoint;  // Scheme and host, without a trailing slash.
  // Appended to errors: the sources that were not configured.
  std::string error_hint;
};

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
  JsonObjectStrings fields;
  DEKMS_RETURN_IF_ERROR(fields.Parse(json, what));

  auto text_field = [&](const std::string& name) -> std::string_view {
    const SecretBytes* value = fields.Find(name);
    return value == nullptr ? std::string_view() : RevealAsText(*value);
  };
  auto secret_field =
      [&](const std::string& name) -> absl::StatusOr<SecretBytes> {
    const SecretBytes* value = fields.Find(name);
    if (value == nullptr || value->empty()) {
      return absl::InternalError(StrCat(what, " lack the string field ", name));
    }
    return value->Clone();
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

// ---------------------------------------------------------------------------
// Shared credentials and config files

// One profile's settings from one shared file.
struct SharedFileProfile {
  std::string path;
  bool file_exists = false;
  bool has_profile = false;
  // Keys are lowercased. Values are SecretBytes because some are secrets.
  std::map<std::string, SecretBytes> values;
};

// Returns the profile name of the section header `section` (the text between
// the brackets), or nullopt when the section is not a profile. The config
// file names profiles "[profile NAME]", except "[default]", and has other
// kinds of sections too. The credentials file names them "[NAME]".
std::optional<std::string> ProfileOfSection(std::string_view section,
                                            bool config_file) {
  section = Trim(section);
  if (!config_file || section == "default") {
    return std::string(section);
  }
  constexpr std::string_view kPrefix = "profile";
  if (section.size() > kPrefix.size() &&
      section.substr(0, kPrefix.size()) == kPrefix &&
      IsSpace(section[kPrefix.size()])) {
    return std::string(Trim(section.substr(kPrefix.size())));
  }
  return std::nullopt;
}

// Parses the INI text of a shared file and keeps the settings of `profile`.
// Lines starting with '#' or ';' are comments. Indented lines continue a
// value or contain sub-properties (as under "s3 ="). No setting read here
// uses them, so they are skipped. Later values win over earlier ones. Errors
// name the line number, never the line, which may contain a secret.
absl::Status ParseSharedFile(std::string_view text, std::string_view profile,
                             bool config_file, SharedFileProfile& result) {
  bool in_profile = false;
  int line_number = 0;
  while (!text.empty()) {
    const size_t newline = text.find('\n');
    std::string_view line = text.substr(0, newline);
    text.remove_prefix(newline == std::string_view::npos ? text.size()
                                                         : newline + 1);
    ++line_number;

    if (Trim(line).empty() || IsSpace(line.front())) {
      continue;
    }
    line = Trim(line);
    if (line.front() == '#' || line.front() == ';') {
      continue;
    }
    auto where = [&] { return StrCat(result.path, " line ", line_number); };
    if (line.front() == '[') {
      const size_t close = line.find(']');
      if (close == std::string_view::npos) {
        return absl::InvalidArgumentError(
            StrCat(where(), ": the section header is missing its closing ']'"));
      }
      const std::string_view rest = Trim(line.substr(close + 1));
      if (!rest.empty() && rest.front() != '#' && rest.front() != ';') {
        return absl::InvalidArgumentError(
            StrCat(where(), ": unexpected text after the section header"));
      }
      const std::optional<std::string> name =
          ProfileOfSection(line.substr(1, close - 1), config_file);
      in_profile = name.has_value() && *name == profile;
      result.has_profile = result.has_profile || in_profile;
      continue;
    }

    // botocore, under the AWS CLI, reads these files with Python's
    // configparser, which takes '=' or ':', whichever comes first, as the
    // delimiter.
    const size_t delimiter = line.find_first_of("=:");
    if (delimiter == std::string_view::npos || delimiter == 0) {
      return absl::InvalidArgumentError(
          StrCat(where(),
                 " is not a section header, a comment or a "
                 "\"key = value\" line"));
    }
    if (!in_profile) {
      continue;
    }
    const std::string key = ToLower(Trim(line.substr(0, delimiter)));
    const std::string_view value = Trim(line.substr(delimiter + 1));
    result.values.insert_or_assign(key, SecretBytes::CopyFrom(value));
  }
  return absl::OkStatus();
}

absl::StatusOr<SharedFileProfile> ReadSharedFile(const std::string& path,
                                                 std::string_view profile,
                                                 bool config_file) {
  SharedFileProfile result;
  result.path = path;
  absl::StatusOr<SecretBytes> contents =
      ReadFileToSecret(path, kMaxSharedFileBytes);
  if (absl::IsNotFound(contents.status())) {
    return result;
  }
  if (!contents.ok()) {
    return WithContext(contents.status(),
                       config_file ? "cannot read the AWS config file"
                                   : "cannot read the AWS credentials file");
  }
  result.file_exists = true;
  DEKMS_RETURN_IF_ERROR(
      ParseSharedFile(RevealAsText(*contents), profile, config_file, result));
  return result;
}

// Expands a leading "~/" with $HOME, as the AWS CLI does for file paths.
std::string ExpandHome(const std::string& path,
                       const std::optional<std::string>& home) {
  if (home.has_value() && (path == "~" || path.rfind("~/", 0) == 0)) {
    return StrCat(*home, path.substr(1));
  }
  return path;
}

// ---------------------------------------------------------------------------
// The chain

// The sources that were tried and are not configured, for errors.
using NotConfiguredNotes = std::vector<std::string>;

std::string JoinNotes(const NotConfiguredNotes& notes) {
  return absl::StrJoin(notes, "; ");
}

absl::StatusOr<std::unique_ptr<AwsCredentialsProvider>> FromEnvironmentKeys(
    const AwsCredentialChainOptions& options, NotConfiguredNotes& notes) {
  const std::optional<std::string> access_key_id =
      GetSetting(options.getenv, "AWS_ACCESS_KEY_ID");
  std::optional<SecretBytes> secret_access_key =
      GetSecretSetting(options.getenv, "AWS_SECRET_ACCESS_KEY");
  std::optional<SecretBytes> session_token =
      GetSecretSetting(options.getenv, "AWS_SESSION_TOKEN");
  if (!access_key_id.has_value() && !secret_access_key.has_value()) {
    if (session_token.has_value()) {
      return absl::InvalidArgumentError(
          "AWS_SESSION_TOKEN is set, but AWS_ACCESS_KEY_ID and "
          "AWS_SECRET_ACCESS_KEY are not; set all three or unset it");
    }
    notes.push_back("AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set");
    return nullptr;
  }
  if (!access_key_id.has_value() || !secret_access_key.has_value()) {
    const std::string_view set_name = access_key_id.has_value()
                                          ? "AWS_ACCESS_KEY_ID"
                                          : "AWS_SECRET_ACCESS_KEY";
    const std::string_view unset_name = access_key_id.has_value()
                                            ? "AWS_SECRET_ACCESS_KEY"
                                            : "AWS_ACCESS_KEY_ID";
    return absl::InvalidArgumentError(
        StrCat(set_name, " is set, but ", unset_name,
               " is not; set both, or neither to use another credential "
               "source"));
  }
  AwsCredentials credentials;
  credentials.access_key_id = *access_key_id;
  credentials.secret_access_key = std::move(*secret_access_key);
  std::string description =
      "environment variables AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY";
  if (session_token.has_value()) {
    credentials.session_token = std::move(*session_token);
    description =
        "environment variables AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and "
        "AWS_SESSION_TOKEN";
  }
  return NewStaticAwsCredentials(std::move(credentials),
                                 std::move(description));
}

// Returns the STS endpoint: AWS_ENDPOINT_URL_STS, AWS_ENDPOINT_URL, or the
// regional endpoint of AWS_REGION, AWS_DEFAULT_REGION, options.region or
// `profile_region`, the first that is set.
absl::StatusOr<std::string> StsEndpoint(
    const AwsCredentialChainOptions& options,
    const std::string& profile_region) {
  std::string region = profile_region;
  if (std::optional<std::string> value =
          GetSetting(options.getenv, "AWS_REGION")) {
    region = *value;
  } else if (std::optional<std::string> fallback =
                 GetSetting(options.getenv, "AWS_DEFAULT_REGION")) {
    region = *fallback;
  } else if (!options.region.empty()) {
    region = options.region;
  }
  absl::StatusOr<std::string> endpoint =
      ResolveAwsEndpoint("", "STS", "sts", region, options.getenv);
  if (endpoint.ok()) {
    return endpoint;
  }
  if (region.empty()) {
    return absl::FailedPreconditionError(
        "web identity credentials need an STS endpoint, but no AWS region is "
        "set; set AWS_REGION or AWS_ENDPOINT_URL_STS");
  }
  return WithContext(endpoint.status(),
                     StrCat("STS endpoint for region ", Quote(region)));
}

absl::Status CheckTransport(const AwsCredentialChainOptions& options,
                            std::string_view source) {
  if (options.transport == nullptr) {
    return absl::InvalidArgumentError(
        StrCat("AWS credentials from ", source,
               " need an HTTP transport, but options.transport is null"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<AwsCredentialsProvider>> FromWebIdentityEnv(
    const AwsCredentialChainOptions& options, NotConfiguredNotes& notes) {
  const std::optional<std::string> token_file =
      GetSetting(options.getenv, "AWS_WEB_IDENTITY_TOKEN_FILE");
  const std::optional<std::string> role_arn =
      GetSetting(options.getenv, "AWS_ROLE_ARN");
  if (!token_file.has_value() && !role_arn.has_value()) {
    notes.push_back("AWS_WEB_IDENTITY_TOKEN_FILE and AWS_ROLE_ARN are not set");
    return nullptr;
  }
  if (!token_file.has_value() || !role_arn.has_value()) {
    return absl::InvalidArgumentError(StrCat(
        token_file.has_value() ? "AWS_WEB_IDENTITY_TOKEN_FILE" : "AWS_ROLE_ARN",
        " is set, but ",
        token_file.has_value() ? "AWS_ROLE_ARN" : "AWS_WEB_IDENTITY_TOKEN_FILE",
        " is not; web identity credentials need both"));
  }
  DEKMS_RETURN_IF_ERROR(CheckTransport(options, "a web identity token"));
  WebIdentitySettings settings;
  settings.token_file = *token_file;
  settings.role_arn = *role_arn;
  settings.session_name =
      GetSetting(options.getenv, "AWS_ROLE_SESSION_NAME").value_or("");
  settings.origin = "AWS_WEB_IDENTITY_TOKEN_FILE and AWS_ROLE_ARN";
  DEKMS_ASSIGN_OR_RETURN(settings.sts_endpoint, StsEndpoint(options, ""));
  return std::make_unique<WebIdentityProvider>(std::move(settings), options);
}

// Turns the merged settings of a profile into a provider, or returns
// nullptr when the profile contains no credential settings.
absl::StatusOr<std::unique_ptr<AwsCredentialsProvider>> FromProfileSettings(
    const AwsCredentialChainOptions& options,
    const std::map<std::string, SecretBytes>& values, const std::string& origin,
    const std::optional<std::string>& home) {
  auto text = [&](const std::string& key) -> std::optional<std::string> {
    const auto it = values.find(key);
    if (it == values.end() || it->second.empty()) {
      return std::nullopt;
    }
    return std::string(RevealAsText(it->second));
  };

  const std::optional<std::string> role_arn = text("role_arn");
  const std::optional<std::string> token_file = text("web_identity_token_file");
  if (token_file.has_value() && !role_arn.has_value()) {
    return absl::InvalidArgumentError(
        StrCat(origin, " sets web_identity_token_file but not role_arn"));
  }
  if (role_arn.has_value()) {
    if (!token_file.has_value()) {
      // TODO: assume roles with source_profile and credential_source.
      return absl::UnimplementedError(
          StrCat(origin,
                 " sets role_arn without web_identity_token_file; dekms does "
                 "not support assuming a role from source_profile or "
                 "credential_source yet"));
    }
    DEKMS_RETURN_IF_ERROR(CheckTransport(options, origin));
    WebIdentitySettings settings;
    settings.token_file = ExpandHome(*token_file, home);
    settings.role_arn = *role_arn;
    settings.session_name = text("role_session_name").value_or("");
    settings.origin = origin;
    DEKMS_ASSIGN_OR_RETURN(settings.sts_endpoint,
                           StsEndpoint(options, text("region").value_or("")));
    return std::make_unique<WebIdentityProvider>(std::move(settings), options);
  }
  // TODO: support IAM Identity Center (SSO) profiles.
  for (const std::string_view key : {"sso_session", "sso_start_url"}) {
    if (text(std::string(key)).has_value()) {
      return absl::UnimplementedError(
          StrCat(origin, " sets ", key,
                 "; dekms does not support IAM Identity Center (SSO) "
                 "credentials yet"));
    }
  }

  std::optional<std::string> access_key_id = text("aws_access_key_id");
  const auto secret = values.find("aws_secret_access_key");
  const bool has_secret = secret != values.end() && !secret->second.empty();
  if (access_key_id.has_value() || has_secret) {
    if (!access_key_id.has_value() || !has_secret) {
      return absl::InvalidArgumentError(
          StrCat(origin, " sets ",
                 has_secret ? "aws_secret_access_key" : "aws_access_key_id",
                 " but not ",
                 has_secret ? "aws_access_key_id" : "aws_secret_access_key"));
    }
    AwsCredentials credentials;
    credentials.access_key_id = std::move(*access_key_id);
    credentials.secret_access_key = secret->second.Clone();
    if (const auto token = values.find("aws_session_token");
        token != values.end()) {
      credentials.session_token = token->second.Clone();
    }
    return NewStaticAwsCredentials(std::move(credentials), origin);
  }
  if (text("credential_process").has_value()) {
    // TODO: run credential_process programs.
    return absl::UnimplementedError(
        StrCat(origin,
               " sets credential_process; dekms does not run credential "
               "programs yet"));
  }
  return nullptr;
}

absl::StatusOr<std::unique_ptr<AwsCredentialsProvider>> FromSharedFiles(
    const AwsCredentialChainOptions& options, NotConfiguredNotes& notes) {
  const std::optional<std::string> home = GetSetting(options.getenv, "HOME");
  const std::optional<std::string> chosen_profile =
      GetSetting(options.getenv, "AWS_PROFILE");
  const std::string profile = chosen_profile.value_or("default");

  std::vector<SharedFileProfile> files;
  const std::pair<std::string_view, std::string_view> locations[] = {
      {"AWS_SHARED_CREDENTIALS_FILE", "/.aws/credentials"},
      {"AWS_CONFIG_FILE", "/.aws/config"}};
  for (const auto& [variable, default_suffix] : locations) {
    std::string path;
    if (std::optional<std::string> set = GetSetting(options.getenv, variable)) {
      path = ExpandHome(*set, home);
    } else if (home.has_value()) {
      path = StrCat(*home, default_suffix);
    } else {
      continue;  // Without HOME there is no default location.
    }
    const bool config_file = variable == "AWS_CONFIG_FILE";
    DEKMS_ASSIGN_OR_RETURN(SharedFileProfile file,
                           ReadSharedFile(path, profile, config_file));
    files.push_back(std::move(file));
  }

  // Credentials file values win, so the config file is merged first.
  std::map<std::string, SecretBytes> merged;
  std::vector<std::string> sources;
  std::vector<std::string> looked_in;
  for (auto file = files.rbegin(); file != files.rend(); ++file) {
    looked_in.push_back(file->file_exists
                            ? file->path
                            : StrCat(file->path, " (does not exist)"));
    if (!file->has_profile) {
      continue;
    }
    sources.insert(sources.begin(), file->path);
    for (auto& [key, value] : file->values) {
      merged.insert_or_assign(key, std::move(value));
    }
  }
  std::reverse(looked_in.begin(), looked_in.end());
  const std::string where = looked_in.empty()
                                ? "no shared file (HOME is not set)"
                                : absl::StrJoin(looked_in, " or ");

  if (sources.empty()) {
    if (chosen_profile.has_value()) {
      return absl::NotFoundError(StrCat("AWS profile ", Quote(profile),
                                        " (from AWS_PROFILE) is not in ", where,
                                        "; add it or correct AWS_PROFILE"));
    }
    notes.push_back(StrCat("profile ", Quote(profile), " is not in ", where));
    return nullptr;
  }

  const std::string origin = StrCat("profile ", Quote(profile), " in ",
                                    absl::StrJoin(sources, " and "));
  DEKMS_ASSIGN_OR_RETURN(std::unique_ptr<AwsCredentialsProvider> provider,
                         FromProfileSettings(options, merged, origin, home));
  if (provider != nullptr) {
    return provider;
  }
  if (chosen_profile.has_value()) {
    return absl::FailedPreconditionError(
        StrCat(origin,
               " (from AWS_PROFILE) has no credentials; set "
               "aws_access_key_id and aws_secret_access_key, or role_arn and "
               "web_identity_token_file"));
  }
  notes.push_back(StrCat(origin, " has no credential settings"));
  return nullptr;
}

absl::StatusOr<std::unique_ptr<AwsCredentialsProvider>> FromInstanceMetadata(
    const AwsCredentialChainOptions& options, NotConfiguredNotes& notes) {
  const std::optional<std::string> disabled =
      GetSetting(options.getenv, "AWS_EC2_METADATA_DISABLED");
  if (disabled.has_value() && ToLower(*disabled) == "true") {
    notes.push_back(
        "EC2 instance metadata is turned off by "
        "AWS_EC2_METADATA_DISABLED=true");
    return nullptr;
  }

  ImdsSettings settings;
  if (std::optional<std::string> endpoint =
          GetSetting(options.getenv, "AWS_EC2_METADATA_SERVICE_ENDPOINT")) {
    settings.endpoint = WithoutTrailingSlashes(*endpoint);
  } else {
    const std::string mode = ToLower(
        GetSetting(options.getenv, "AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE")
            .value_or("ipv4"));
    if (mode == "ipv4") {
      settings.endpoint = "http://169.254.169.254";
    } else if (mode == "ipv6") {
      settings.endpoint = "http://[fd00:ec2::254]";
    } else {
      return absl::InvalidArgumentError(
          StrCat("AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE is ", Quote(mode),
                 "; use IPv4 or IPv6"));
    }
  }
  if (options.transport == nullptr) {
    return absl::FailedPreconditionError(
        StrCat("no AWS credentials found: EC2 instance metadata is the only "
               "source left, but options.transport is null. No other source "
               "is configured: ",
               JoinNotes(notes)));
  }
  settings.error_hint =
      StrCat("No other source is configured: ", JoinNotes(notes));
  return std::make_unique<ImdsProvider>(std::move(settings), options);
}

absl::StatusOr<std::unique_ptr<AwsCredentialsProvider>> ResolveChain(
    const AwsCredentialChainOptions& options) {
  using Source = absl::StatusOr<std::unique_ptr<AwsCredentialsProvider>> (*)(
      const AwsCredentialChainOptions&, NotConfiguredNotes&);
  NotConfiguredNotes notes;
  for (const Source source : {FromEnvironmentKeys, FromWebIdentityEnv,
                              FromSharedFiles, FromInstanceMetadata}) {
    DEKMS_ASSIGN_OR_RETURN(std::unique_ptr<AwsCredentialsProvider> provider,
                           source(options, notes));
    if (provider != nullptr) {
      return provider;
    }
  }
  return absl::FailedPreconditionError(StrCat(
      "no AWS credentials found: ", JoinNotes(notes),
      ". Set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, set "
      "AWS_WEB_IDENTITY_TOKEN_FILE and AWS_ROLE_ARN, add a profile with "
      "credentials to ~/.aws/credentials (choose it with AWS_PROFILE), or run "
      "on EC2 with an instance role and instance metadata turned on"));
}

}  // namespace

std::unique_ptr<AwsCredentialsProvider> NewStaticAwsCredentials(
    AwsCredentials credentials, std::string description) {
  return std::make_unique<StaticProvider>(std::move(credentials),
                                          std::move(description));
}

absl::StatusOr<std::unique_ptr<AwsCredentialsProvider>> NewAwsCredentialChain(
    AwsCredentialChainOptions options) {
  if (!options.getenv) {
    options.getenv = ProcessEnvironment();
  }
  if (!options.now) {
    options.now = [] { return absl::Now(); };
  }
  if (options.refresh_margin < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        "options.refresh_margin must not be negative");
  }
  DEKMS_ASSIGN_OR_RETURN(std::unique_ptr<AwsCredentialsProvider> provider,
                         ResolveChain(options));
  spdlog::info("AWS credentials: using {}", provider->Describe());
  return provider;
}

}  // namespace dekms::internal
