#include "src/cloud/aws/sigv4.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/time/time.h"
#include "src/base/status_macros.h"
#include "src/base/str_cat.h"
#include "src/cloud/aws/sigv4_internal.h"
#include "src/crypto/aead.h"
#include "src/crypto/encoding.h"
#include "src/crypto/secret_text.h"

namespace dekms::internal {
namespace aws_sigv4 {
namespace {

constexpr std::string_view kAlgorithm = "AWS4-HMAC-SHA256";
constexpr std::string_view kHexDigits = "0123456789ABCDEF";
constexpr size_t kAmzDateLength = 16;  // yyyymmddTHHMMSSZ
constexpr size_t kHmacSha256Bytes = 32;

bool IsUnreserved(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '-' ||
         c == '_' || c == '.' || c == '~';
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// A "token" character of RFC 9110, section 5.6.2, the set allowed in header
// names and methods.
bool IsTokenChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) ||
         std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool IsToken(std::string_view text) {
  return !text.empty() && std::all_of(text.begin(), text.end(), IsTokenChar);
}

bool IsHeaderSpace(char c) { return c == ' ' || c == '\t'; }

bool HasForbiddenValueChar(std::string_view value) {
  return value.find_first_of(std::string_view("\r\n\0", 3)) !=
         std::string_view::npos;
}

absl::StatusOr<std::string> PercentDecode(std::string_view text) {
  std::string decoded;
  decoded.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      decoded.push_back(text[i]);
      continue;
    }
    const int high = i + 2 < text.size() ? HexValue(text[i + 1]) : -1;
    const int low = i + 2 < text.size() ? HexValue(text[i + 2]) : -1;
    if (high < 0 || low < 0) {
      return absl::InvalidArgumentError(
          "invalid URL query: '%' must be followed by two hex digits");
    }
    decoded.push_back(static_cast<char>(high * 16 + low));
    i += 2;
  }
  return decoded;
}

// Appends `value` to `out` trimmed of spaces and tabs at both ends, with
// each inner run of them replaced by one space. Appends character by
// character so that no temporary copy of a secret value is made.
void AppendTrimmedValue(std::string_view value, SecretTextBuilder& out) {
  bool pending_space = false;
  bool started = false;
  for (const char c : value) {
    if (IsHeaderSpace(c)) {
      pending_space = started;
      continue;
    }
    if (pending_space) {
      out.Append(' ');
      pending_space = false;
    }
    out.Append(c);
    started = true;
  }
}

absl::StatusOr<SecretBytes> HmacSha256(std::span<const uint8_t> key,
                                       std::string_view message) {
  SecretBytes mac(kHmacSha256Bytes);
  unsigned int mac_length = 0;
  if (HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
           AsBytes(message).data(), message.size(), mac.Reveal().data(),
           &mac_length) == nullptr ||
      mac_length != kHmacSha256Bytes) {
    return absl::InternalError("HMAC-SHA256 failed in OpenSSL");
  }
  return mac;
}

std::string HexOf(std::span<const uint8_t> bytes) {
  return std::string(RevealAsText(EncodeHex(bytes)));
}

// Rejects empty values and values that would break the credential scope,
// which is '/'-separated and ends at ',' in the Authorization header.
absl::Status ValidateScopePart(std::string_view value,
                               std::string_view field_name) {
  if (value.empty()) {
    return absl::InvalidArgumentError(
        StrCat("SigV4 signing needs a ", field_name, ", but it is empty"));
  }
  if (value.find_first_of("/, \t\r\n") != std::string_view::npos) {
    return absl::InvalidArgumentError(
        StrCat("invalid SigV4 ", field_name, " \"",
               absl::CEscape(absl::string_view(value.data(), value.size())),
               "\": it must not contain '/', ',' or whitespace"));
  }
  return absl::OkStatus();
}

absl::Status ValidateSigningInputs(const HttpRequest& request,
                                   const AwsCredentials& credentials,
                                   const SigV4Options& options) {
  if (!IsToken(request.method)) {
    return absl::InvalidArgumentError(
        "invalid HTTP method: it must be a non-empty token such as \"GET\"");
  }
  DEKMS_RETURN_IF_ERROR(ValidateScopePart(options.region, "region"));
  DEKMS_RETURN_IF_ERROR(ValidateScopePart(options.service, "service name"));
  DEKMS_RETURN_IF_ERROR(
      ValidateScopePart(credentials.access_key_id, "access key ID"));
  if (credentials.secret_access_key.empty()) {
    return absl::InvalidArgumentError(
        "SigV4 signing needs a secret access key, but it is empty");
  }
  return absl::OkStatus();
}

// Returns the Host header curl sends for the URL authority `authority`
// ([userinfo@]host[:port]).
absl::StatusOr<std::string> HostHeaderFor(std::string_view authority,
                                          int default_port) {
  // User information ends at the last '@' and may hold a password, so it is
  // dropped and never quoted.
  const size_t at = authority.rfind('@');
  if (at != std::string_view::npos) {
    authority = authority.substr(at + 1);
  }

  std::string_view host;
  std::string_view port;
  if (authority.starts_with('[')) {
    const size_t close = authority.find(']');
    if (close == std::string_view::npos) {
      return absl::InvalidArgumentError(
          "invalid URL: an IPv6 host has no closing ']'");
    }
    host = authority.substr(0, close + 1);
    const std::string_view after = authority.substr(close + 1);
    if (!after.empty() && !after.starts_with(':')) {
      return absl::InvalidArgumentError(
          "invalid URL: unexpected text after the IPv6 host");
    }
    port = after.empty() ? after : after.substr(1);
  } else {
    const size_t colon = authority.find(':');
    host = authority.substr(0, colon);
    port = colon == std::string_view::npos ? std::string_view()
                                           : authority.substr(colon + 1);
  }
  if (host.empty() || host == "[]") {
    return absl::InvalidArgumentError("invalid URL: the host is missing");
  }
  // An empty port ("host:") means the default, as RFC 3986 allows.
  if (port.empty()) {
    return std::string(host);
  }

  int port_number = 0;
  for (const char c : port) {
    if (c < '0' || c > '9' || port_number > 65535) {
      port_number = -1;
      break;
    }
    port_number = port_number * 10 + (c - '0');
  }
  if (port_number < 1 || port_number > 65535) {
    return absl::InvalidArgumentError(
        StrCat("invalid URL: the port of host ", host,
               " must be a number from 1 to 65535"));
  }
  // curl leaves the scheme's default port out of Host, and writes any other
  // port as a plain decimal number.
  if (port_number == default_port) {
    return std::string(host);
  }
  return StrCat(host, ":", port_number);
}

const HttpHeader* FindHeader(const std::vector<HttpHeader>& headers,
                             std::string_view name) {
  for (const HttpHeader& header : headers) {
    if (HeaderNameEquals(header.name, name)) {
      return &header;
    }
  }
  return nullptr;
}

// Removes every header named `name`, wiping its value first because it may
// be a session token.
void RemoveHeader(std::vector<HttpHeader>& headers, std::string_view name) {
  std::erase_if(headers, [name](HttpHeader& header) {
    if (!HeaderNameEquals(header.name, name)) {
      return false;
    }
    WipeString(header.value);
    return true;
  });
}

void ReplaceHeader(std::vector<HttpHeader>& headers, std::string_view name,
                   std::string_view value) {
  RemoveHeader(headers, name);
  headers.push_back({std::string(name), std::string(value)});
}

}  // namespace

absl::StatusOr<UrlParts> ParseUrl(std::string_view url) {
  const size_t scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) {
    return absl::InvalidArgumentError(
        "invalid URL: it must start with http:// or https://");
  }
  const std::string scheme =
      absl::AsciiStrToLower(absl::string_view(url.data(), scheme_end));
  int default_port = 0;
  if (scheme == "https") {
    default_port = 443;
  } else if (scheme == "http") {
    default_port = 80;
  } else {
    return absl::InvalidArgumentError(
        "invalid URL: the scheme must be http or https");
  }

  std::string_view rest = url.substr(scheme_end + 3);
  const size_t authority_end = rest.find_first_of("/?#");
  UrlParts parts;
  DEKMS_ASSIGN_OR_RETURN(
      parts.host_header,
      HostHeaderFor(rest.substr(0, authority_end), default_port));
  rest = authority_end == std::string_view::npos ? std::string_view()
                                                 : rest.substr(authority_end);

  // curl does not send the fragment.
  rest = rest.substr(0, rest.find('#'));
  const size_t question = rest.find('?');
  parts.path = std::string(rest.substr(0, question));
  if (question != std::string_view::npos) {
    parts.query = std::string(rest.substr(question + 1));
  }
  return parts;
}

std::string NormalizePath(std::string_view path) {
  std::vector<std::string_view> segments;
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string_view::npos) {
      end = path.size();
    }
    const std::string_view segment = path.substr(start, end - start);
    if (segment == "..") {
      if (!segments.empty()) {
        segments.pop_back();
      }
    } else if (!segment.empty() && segment != ".") {
      segments.push_back(segment);
    }
    start = end + 1;
  }

  std::string normalized = "/";
  for (size_t i = 0; i < segments.size(); ++i) {
    if (i > 0) {
      normalized.push_back('/');
    }
    normalized.append(segments[i]);
  }
  if (!segments.empty() && path.ends_with('/')) {
    normalized.push_back('/');
  }
  return normalized;
}

std::string CanonicalUri(std::string_view wire_path, bool s3) {
  if (wire_path.empty()) {
    return "/";
  }
  if (s3) {
    return std::string(wire_path);
  }
  return AwsUriEncode(NormalizePath(wire_path), /*keep_slash=*/true);
}

absl::StatusOr<std::string> CanonicalQuery(std::string_view wire_query) {
  std::vector<std::pair<std::string, std::string>> parameters;
  size_t start = 0;
  while (start <= wire_query.size()) {
    size_t end = wire_query.find('&', start);
    if (end == std::string_view::npos) {
      end = wire_query.size();
    }
    const std::string_view parameter = wire_query.substr(start, end - start);
    start = end + 1;
    if (parameter.empty()) {
      continue;
    }
    const size_t equals = parameter.find('=');
    DEKMS_ASSIGN_OR_RETURN(std::string name,
                           PercentDecode(parameter.substr(0, equals)));
    std::string value;
    if (equals != std::string_view::npos) {
      DEKMS_ASSIGN_OR_RETURN(value,
                             PercentDecode(parameter.substr(equals + 1)));
    }
    parameters.emplace_back(AwsUriEncode(name, /*keep_slash=*/false),
                            AwsUriEncode(value, /*keep_slash=*/false));
  }
  std::sort(parameters.begin(), parameters.end());

  std::string canonical;
  for (const auto& [name, value] : parameters) {
    if (!canonical.empty()) {
      canonical.push_back('&');
    }
    canonical.append(name).append("=").append(value);
  }
  return canonical;
}

absl::StatusOr<CanonicalHeaders> CanonicalizeHeaders(
    std::span<const HttpHeader> headers) {
  struct NamedHeader {
    std::string lowercase_name;
    std::string_view value;
  };
  std::vector<NamedHeader> named;
  named.reserve(headers.size());
  for (size_t i = 0; i < headers.size(); ++i) {
    const HttpHeader& header = headers[i];
    if (!IsToken(header.name)) {
      return absl::InvalidArgumentError(
          StrCat("invalid HTTP header name at position ", i,
                 ": it must be a non-empty token with no spaces or ':'"));
    }
    if (HasForbiddenValueChar(header.value)) {
      return absl::InvalidArgumentError(StrCat("invalid value of HTTP header ",
                                               header.name,
                                               ": it contains CR, LF or NUL"));
    }
    named.push_back({absl::AsciiStrToLower(header.name), header.value});
  }
  // A stable sort keeps the values of one name in the order given.
  std::stable_sort(named.begin(), named.end(),
                   [](const NamedHeader& a, const NamedHeader& b) {
                     return a.lowercase_name < b.lowercase_name;
                   });

  SecretTextBuilder block;
  std::string signed_headers;
  for (size_t i = 0; i < named.size(); ++i) {
    const bool same_name_as_previous =
        i > 0 && named[i].lowercase_name == named[i - 1].lowercase_name;
    if (same_name_as_previous) {
      block.Append(',');
    } else {
      if (i > 0) {
        block.Append('\n');
        signed_headers.push_back(';');
      }
      block.Append(named[i].lowercase_name);
      block.Append(':');
      signed_headers.append(named[i].lowercase_name);
    }
    AppendTrimmedValue(named[i].value, block);
  }
  if (!named.empty()) {
    block.Append('\n');
  }
  return CanonicalHeaders{std::move(block).Finish(), std::move(signed_headers)};
}

std::string HashPayload(const SecretBytes& body) {
  return HexOf(Sha256(body.Reveal()));
}

absl::StatusOr<std::string> FormatAmzDate(absl::Time time) {
  if (time == absl::InfiniteFuture() || time == absl::InfinitePast()) {
    return absl::InvalidArgumentError(
        "cannot sign at an infinite time; pass a finite clock reading");
  }
  std::string formatted =
      absl::FormatTime("%Y%m%dT%H%M%SZ", time, absl::UTCTimeZone());
  if (formatted.size() != kAmzDateLength) {
    return absl::InvalidArgumentError(
        StrCat("cannot sign at ", absl::FormatTime(time, absl::UTCTimeZone()),
               ": SigV4 dates need a four-digit year, 1000 to 9999"));
  }
  return formatted;
}

absl::StatusOr<SecretBytes> BuildCanonicalRequest(const HttpRequest& request,
                                                  bool s3,
                                                  std::string* signed_headers) {
  DEKMS_ASSIGN_OR_RETURN(UrlParts url, ParseUrl(request.url));
  DEKMS_ASSIGN_OR_RETURN(std::string canonical_query,
                         CanonicalQuery(url.query));
  DEKMS_ASSIGN_OR_RETURN(CanonicalHeaders headers,
                         CanonicalizeHeaders(request.headers));

  SecretTextBuilder canonical;
  canonical.Append(request.method);
  canonical.Append('\n');
  canonical.Append(CanonicalUri(url.path, s3));
  canonical.Append('\n');
  canonical.Append(canonical_query);
  canonical.Append('\n');
  // The header block ends with '\n', so a blank-looking line separates it
  // from the signed header list.
  canonical.Append(RevealAsText(headers.block));
  canonical.Append('\n');
  canonical.Append(headers.signed_headers);
  canonical.Append('\n');
  canonical.Append(HashPayload(request.body));

  *signed_headers = std::move(headers.signed_headers);
  return std::move(canonical).Finish();
}

std::string CredentialScope(std::string_view amz_date, std::string_view region,
                            std::string_view service) {
  return StrCat(amz_date.substr(0, 8), "/", region, "/", service,
                "/aws4_request");
}

std::string BuildStringToSign(std::string_view amz_date, std::string_view scope,
                              const SecretBytes& canonical_request) {
  return StrCat(kAlgorithm, "\n", amz_date, "\n", scope, "\n",
                HexOf(Sha256(canonical_request.Reveal())));
}

absl::StatusOr<SecretBytes> DeriveSigningKey(
    const SecretBytes& secret_access_key, std::string_view date,
    std::string_view region, std::string_view service) {
  constexpr std::string_view kKeyPrefix = "AWS4";
  SecretBytes initial_key(kKeyPrefix.size() + secret_access_key.size());
  std::memcpy(initial_key.Reveal().data(), kKeyPrefix.data(),
              kKeyPrefix.size());
  if (!secret_access_key.empty()) {
    std::memcpy(initial_key.Reveal().data() + kKeyPrefix.size(),
                secret_access_key.Reveal().data(), secret_access_key.size());
  }

  DEKMS_ASSIGN_OR_RETURN(SecretBytes date_key,
                         HmacSha256(initial_key.Reveal(), date));
  DEKMS_ASSIGN_OR_RETURN(SecretBytes region_key,
                         HmacSha256(date_key.Reveal(), region));
  DEKMS_ASSIGN_OR_RETURN(SecretBytes service_key,
                         HmacSha256(region_key.Reveal(), service));
  return HmacSha256(service_key.Reveal(), "aws4_request");
}

absl::StatusOr<std::string> ComputeSignature(const SecretBytes& signing_key,
                                             std::string_view string_to_sign) {
  DEKMS_ASSIGN_OR_RETURN(SecretBytes mac,
                         HmacSha256(signing_key.Reveal(), string_to_sign));
  // The signature goes out in the Authorization header, so it leaves
  // SecretBytes here.
  return HexOf(mac.Reveal());
}

absl::StatusOr<SigV4Signature> ComputeAwsV4Signature(
    const HttpRequest& request, const AwsCredentials& credentials,
    const SigV4Options& options) {
  DEKMS_RETURN_IF_ERROR(ValidateSigningInputs(request, credentials, options));
  const HttpHeader* date_header = FindHeader(request.headers, "X-Amz-Date");
  if (date_header == nullptr) {
    return absl::InvalidArgumentError(
        "cannot compute a SigV4 signature: the request has no X-Amz-Date "
        "header");
  }
  const std::string_view amz_date = date_header->value;
  if (amz_date.size() != kAmzDateLength || amz_date[8] != 'T' ||
      amz_date[15] != 'Z') {
    return absl::InvalidArgumentError(StrCat(
        "invalid X-Amz-Date \"",
        absl::CEscape(absl::string_view(amz_date.data(), amz_date.size())),
        "\": expected yyyymmddTHHMMSSZ"));
  }

  SigV4Signature result;
  DEKMS_ASSIGN_OR_RETURN(
      result.canonical_request,
      BuildCanonicalRequest(request, options.s3, &result.signed_headers));
  const std::string scope =
      CredentialScope(amz_date, options.region, options.service);
  result.string_to_sign =
      BuildStringToSign(amz_date, scope, result.canonical_request);
  DEKMS_ASSIGN_OR_RETURN(
      SecretBytes signing_key,
      DeriveSigningKey(credentials.secret_access_key, amz_date.substr(0, 8),
                       options.region, options.service));
  DEKMS_ASSIGN_OR_RETURN(result.signature,
                         ComputeSignature(signing_key, result.string_to_sign));
  result.authorization =
      StrCat(kAlgorithm, " Credential=", credentials.access_key_id, "/", scope,
             ", SignedHeaders=", result.signed_headers,
             ", Signature=", result.signature);
  return result;
}

}  // namespace aws_sigv4

std::string AwsUriEncode(std::string_view text, bool keep_slash) {
  std::string encoded;
  encoded.reserve(text.size());
  for (const char c : text) {
    if (aws_sigv4::IsUnreserved(c) || (keep_slash && c == '/')) {
      encoded.push_back(c);
      continue;
    }
    const auto byte = static_cast<uint8_t>(c);
    encoded.push_back('%');
    encoded.push_back(aws_sigv4::kHexDigits[byte >> 4]);
    encoded.push_back(aws_sigv4::kHexDigits[byte & 0x0f]);
  }
  return encoded;
}

absl::Status SignAwsV4(HttpRequest& request, const AwsCredentials& credentials,
                       const SigV4Options& options, absl::Time now) {
  // Every check that can fail runs before the request is changed.
  DEKMS_RETURN_IF_ERROR(
      aws_sigv4::ValidateSigningInputs(request, credentials, options));
  DEKMS_ASSIGN_OR_RETURN(aws_sigv4::UrlParts url,
                         aws_sigv4::ParseUrl(request.url));
  DEKMS_ASSIGN_OR_RETURN(std::string amz_date, aws_sigv4::FormatAmzDate(now));
  DEKMS_RETURN_IF_ERROR(aws_sigv4::CanonicalQuery(url.query).status());
  DEKMS_RETURN_IF_ERROR(
      aws_sigv4::CanonicalizeHeaders(request.headers).status());
  const std::string_view session_token =
      RevealAsText(credentials.session_token);
  if (aws_sigv4::HasForbiddenValueChar(session_token)) {
    return absl::InvalidArgumentError(
        "invalid AWS session token: it contains CR, LF or NUL");
  }

  // An earlier signing of the same request (a retry) left these headers;
  // the Authorization header must not be signed itself.
  std::vector<HttpHeader>& headers = request.headers;
  aws_sigv4::RemoveHeader(headers, "Authorization");
  // curl sends a Host header set by the caller in place of its own, so an
  // existing one is what the server receives.
  if (aws_sigv4::FindHeader(headers, "Host") == nullptr) {
    headers.push_back({"Host", url.host_header});
  }
  aws_sigv4::ReplaceHeader(headers, "X-Amz-Date", amz_date);
  if (session_token.empty()) {
    aws_sigv4::RemoveHeader(headers, "X-Amz-Security-Token");
  } else {
    aws_sigv4::ReplaceHeader(headers, "X-Amz-Security-Token", session_token);
  }
  if (options.s3) {
    aws_sigv4::ReplaceHeader(headers, "x-amz-content-sha256",
                             aws_sigv4::HashPayload(request.body));
  }

  DEKMS_ASSIGN_OR_RETURN(
      aws_sigv4::SigV4Signature signature,
      aws_sigv4::ComputeAwsV4Signature(request, credentials, options));
  headers.push_back({"Authorization", std::move(signature.authorization)});
  return absl::OkStatus();
}

}  // namespace dekms::internal
