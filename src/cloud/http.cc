#include "src/cloud/http.h"

#include <algorithm>
#include <string>

#include "absl/strings/ascii.h"
#include "src/base/str_cat.h"
#include "src/crypto/encoding.h"

namespace dekms::internal {
namespace {

// Provider messages are shown to operators; a long one is cut here.
constexpr size_t kMaxProviderMessageChars = 300;

void WipeHeaders(std::vector<HttpHeader>& headers) {
  for (HttpHeader& header : headers) {
    WipeString(header.value);
  }
}

std::string Printable(std::string_view text) {
  std::string out;
  out.reserve(std::min(text.size(), kMaxProviderMessageChars + 3));
  for (char c : text) {
    if (out.size() >= kMaxProviderMessageChars) {
      out += "...";
      break;
    }
    const auto byte = static_cast<unsigned char>(c);
    out += (byte < 0x20 || byte == 0x7f) ? ' ' : c;
  }
  return out;
}

absl::StatusCode CodeForHttpStatus(int status) {
  switch (status) {
    case 400:
      return absl::StatusCode::kInvalidArgument;
    case 401:
      return absl::StatusCode::kUnauthenticated;
    case 403:
      return absl::StatusCode::kPermissionDenied;
    case 404:
      return absl::StatusCode::kNotFound;
    case 409:
      return absl::StatusCode::kAborted;
    case 412:
      return absl::StatusCode::kFailedPrecondition;
    case 429:
      return absl::StatusCode::kResourceExhausted;
    default:
      break;
  }
  if (status >= 500 && status <= 599) {
    return absl::StatusCode::kUnavailable;
  }
  return absl::StatusCode::kUnknown;
}

template <typename Output>
void AppendEncoded(std::string_view value, Output& out) {
  constexpr std::string_view kHex = "0123456789ABCDEF";
  for (const char c : value) {
    if (absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '-' ||
        c == '.' || c == '_' || c == '~') {
      out.push_back(c);
    } else {
      const auto byte = static_cast<unsigned char>(c);
      out.push_back('%');
      out.push_back(kHex[byte >> 4]);
      out.push_back(kHex[byte & 0x0f]);
    }
  }
}

// Lets AppendEncoded write into a SecretTextBuilder.
struct SecretTextOutput {
  void push_back(char c) { builder.Append(c); }
  SecretTextBuilder& builder;
};

}  // namespace

std::string PercentEncode(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  AppendEncoded(value, out);
  return out;
}

void AppendPercentEncoded(std::string_view value, SecretTextBuilder& out) {
  SecretTextOutput output{out};
  AppendEncoded(value, output);
}

bool IsLoopbackHost(std::string_view host) {
  if (host == "localhost" || host == "::1") {
    return true;
  }
  // 127.0.0.0/8 in dotted-quad form.
  if (!host.starts_with("127.")) {
    return false;
  }
  int dots = 0;
  int digits = 0;
  for (const char c : host) {
    if (c == '.') {
      if (digits == 0) {
        return false;
      }
      ++dots;
      digits = 0;
    } else if (absl::ascii_isdigit(static_cast<unsigned char>(c)) &&
               digits < 3) {
      ++digits;
    } else {
      return false;
    }
  }
  return dots == 3 && digits > 0;
}

bool HeaderNameEquals(std::string_view a, std::string_view b) {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return absl::ascii_tolower(static_cast<unsigned char>(x)) ==
                  absl::ascii_tolower(static_cast<unsigned char>(y));
         });
}

HttpRequest::~HttpRequest() { WipeHeaders(headers); }

void HttpRequest::SetHeader(std::string_view name, std::string_view value) {
  for (HttpHeader& header : headers) {
    if (HeaderNameEquals(header.name, name)) {
      WipeString(header.value);
      header.value = std::string(value);
      return;
    }
  }
  headers.push_back({std::string(name), std::string(value)});
}

HttpResponse::~HttpResponse() { WipeHeaders(headers); }

const std::string* HttpResponse::FindHeader(std::string_view name) const {
  for (const HttpHeader& header : headers) {
    if (HeaderNameEquals(header.name, name)) {
      return &header.value;
    }
  }
  return nullptr;
}

std::string_view HttpResponse::BodyText() const { return RevealAsText(body); }

absl::Status ProviderErrorToStatus(const ProviderError& error,
                                   std::optional<absl::StatusCode> code) {
  std::string message = StrCat(error.service, " ", error.operation,
                               " failed: HTTP ", error.http_status);
  if (!error.code.empty()) {
    message += StrCat(" ", Printable(error.code));
  }
  // Providers end their messages with a period; dekms adds advice after
  // them, so the period goes.
  std::string_view provider_message = error.message;
  while (provider_message.ends_with('.') || provider_message.ends_with(' ') ||
         provider_message.ends_with('\n')) {
    provider_message.remove_suffix(1);
  }
  if (!provider_message.empty()) {
    message += StrCat(": ", Printable(provider_message));
  }
  if (!error.request_id.empty()) {
    message += StrCat(" (request id ", Printable(error.request_id), ")");
  }
  return {code.value_or(CodeForHttpStatus(error.http_status)), message};
}

absl::Status ValidateBaseUrl(std::string_view url, std::string_view what) {
  std::string_view rest = url;
  if (rest.starts_with("https://")) {
    rest.remove_prefix(8);
  } else if (rest.starts_with("http://")) {
    rest.remove_prefix(7);
  } else {
    return absl::InvalidArgumentError(
        StrCat(what,
               " must start with https:// or http://, such as "
               "https://storage.example.com or http://127.0.0.1:9000"));
  }
  const std::string_view authority = rest.substr(0, rest.find('/'));
  if (authority.empty() || authority.find('@') != std::string_view::npos ||
      rest.find_first_of("?#") != std::string_view::npos) {
    return absl::InvalidArgumentError(
        StrCat(what,
               " must be a base URL with a host and no user name, query or "
               "fragment, such as https://storage.example.com"));
  }
  return absl::OkStatus();
}

std::string UrlOrigin(std::string_view url) {
  const size_t scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) {
    return "(malformed URL)";
  }
  const size_t authority_end = url.find_first_of("/?#", scheme_end + 3);
  std::string_view origin = url.substr(0, authority_end);
  // Drop any user information: it could carry a password.
  const size_t at = origin.find('@', scheme_end + 3);
  if (at != std::string_view::npos) {
    return StrCat(origin.substr(0, scheme_end + 3), origin.substr(at + 1));
  }
  return std::string(origin);
}

}  // namespace dekms::internal
