#include "src/cloud/azure/shared_key.h"

#include <algorithm>
#include <array>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "openssl/evp.h"
#include "openssl/hmac.h"
#include "src/base/status_macros.h"
#include "src/base/str_cat.h"
#include "src/crypto/encoding.h"

namespace dekms::internal {
namespace {

const std::string* FindRequestHeader(const HttpRequest& request,
                                     std::string_view name) {
  for (const HttpHeader& header : request.headers) {
    if (HeaderNameEquals(header.name, name)) {
      return &header.value;
    }
  }
  return nullptr;
}

// Decodes %XX escapes; '+' stays, since Azure treats it as a plus sign.
std::string PercentDecode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size() &&
        absl::ascii_isxdigit(static_cast<unsigned char>(text[i + 1])) &&
        absl::ascii_isxdigit(static_cast<unsigned char>(text[i + 2]))) {
      const auto nibble = [](char c) {
        return absl::ascii_isdigit(static_cast<unsigned char>(c))
                   ? c - '0'
                   : absl::ascii_tolower(static_cast<unsigned char>(c)) - 'a' +
                         10;
      };
      out.push_back(
          static_cast<char>(nibble(text[i + 1]) * 16 + nibble(text[i + 2])));
      i += 2;
    } else {
      out.push_back(text[i]);
    }
  }
  return out;
}

// Trims whitespace at both ends of a header value. Whitespace inside is
// kept: Azure Storage (and Azurite) sign it as sent.
std::string TrimWhitespace(std::string_view value) {
  const auto is_space = [](char c) {
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
  };
  while (!value.empty() && is_space(value.front())) {
    value.remove_prefix(1);
  }
  while (!value.empty() && is_space(value.back())) {
    value.remove_suffix(1);
  }
  return std::string(value);
}

}  // namespace

absl::StatusOr<std::string> AzureSharedKeyStringToSign(
    const HttpRequest& request, std::string_view account) {
  const size_t scheme_end = request.url.find("://");
  if (scheme_end == std::string::npos) {
    return absl::InvalidArgumentError(
        "Shared Key signing needs an absolute URL");
  }
  const size_t path_start = request.url.find('/', scheme_end + 3);
  std::string_view path_and_query =
      path_start == std::string::npos
          ? std::string_view("/")
          : std::string_view(request.url).substr(path_start);
  const size_t question = path_and_query.find('?');
  const std::string_view path = path_and_query.substr(0, question);
  const std::string_view query = question == std::string_view::npos
                                     ? std::string_view()
                                     : path_and_query.substr(question + 1);

  const auto header = [&](std::string_view name) -> std::string {
    const std::string* value = FindRequestHeader(request, name);
    return value == nullptr ? std::string() : *value;
  };
  std::string text = StrCat(request.method, "\n");
  for (const std::string_view name : {"Content-Encoding", "Content-Language"}) {
    text = StrCat(text, header(name), "\n");
  }
  text = StrCat(text,
                request.body.empty() ? std::string()
                                     : std::to_string(request.body.size()),
                "\n");
  for (const std::string_view name :
       {"Content-MD5", "Content-Type", "Date", "If-Modified-Since", "If-Match",
        "If-None-Match", "If-Unmodified-Since", "Range"}) {
    text = StrCat(text, header(name), "\n");
  }

  std::map<std::string, std::string> ms_headers;
  for (const HttpHeader& h : request.headers) {
    const std::string name = absl::AsciiStrToLower(h.name);
    if (name.starts_with("x-ms-")) {
      ms_headers[name] = TrimWhitespace(h.value);
    }
  }
  for (const auto& [name, value] : ms_headers) {
    text = StrCat(text, name, ":", value, "\n");
  }

  text = StrCat(text, "/", account, path);
  std::map<std::string, std::vector<std::string>> parameters;
  size_t start = 0;
  while (start < query.size()) {
    const size_t end = std::min(query.find('&', start), query.size());
    const std::string_view pair = query.substr(start, end - start);
    const size_t equals = pair.find('=');
    const std::string name =
        absl::AsciiStrToLower(PercentDecode(pair.substr(0, equals)));
    const std::string value = equals == std::string_view::npos
                                  ? ""
                                  : PercentDecode(pair.substr(equals + 1));
    if (!name.empty()) {
      parameters[name].push_back(value);
    }
    start = end + 1;
  }
  for (auto& [name, values] : parameters) {
    std::sort(values.begin(), values.end());
    std::string joined;
    for (const std::string& value : values) {
      joined = joined.empty() ? value : StrCat(joined, ",", value);
    }
    text = StrCat(text, "\n", name, ":", joined);
  }
  return text;
}

absl::Status SignAzureSharedKey(HttpRequest& request, std::string_view account,
                                const SecretBytes& account_key,
                                absl::Time now) {
  request.SetHeader("x-ms-date", absl::FormatTime("%a, %d %b %Y %H:%M:%S GMT",
                                                  now, absl::UTCTimeZone()));
  DEKMS_ASSIGN_OR_RETURN(const std::string string_to_sign,
                         AzureSharedKeyStringToSign(request, account));
  std::array<uint8_t, EVP_MAX_MD_SIZE> mac{};
  unsigned int mac_size = 0;
  const std::span<const uint8_t> key = account_key.Reveal();
  if (HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
           reinterpret_cast<const uint8_t*>(string_to_sign.data()),
           string_to_sign.size(), mac.data(), &mac_size) == nullptr) {
    return absl::InternalError("HMAC-SHA256 failed in OpenSSL");
  }
  const SecretBytes signature =
      EncodeBase64(std::span<const uint8_t>(mac.data(), mac_size),
                   Base64Alphabet::kStandard);
  request.SetHeader("Authorization", StrCat("SharedKey ", account, ":",
                                            RevealAsText(signature)));
  return absl::OkStatus();
}

}  // namespace dekms::internal
