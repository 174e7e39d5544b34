// Parsing and encoding of kms:// and storage:// URIs.

#include <algorithm>
#include <array>
#include <cstdlib>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "dekms/config.h"
#include "src/base/quote.h"
#include "src/base/status_macros.h"
#include "src/base/str_cat.h"
#include "src/cloud/http.h"
#include "src/crypto/encoding.h"
#include "src/crypto/secret_text.h"
#include "src/kek/azure_key_vault_kek_provider.h"

namespace dekms {
namespace {

using internal::SecretTextBuilder;

constexpr std::string_view kRedacted = "REDACTED";

// One query parameter of a URI form.
struct ParamSpec {
  std::string_view name;
  bool required;
};

// The parts of a URI after the scheme, with each query value decoded.
struct ParsedUri {
  std::string host;
  absl::flat_hash_map<std::string, SecretBytes> params;
};

int HexDigitValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Returns a parameter or host name quoted when it is a plain identifier.
// Anything else could be a secret pasted in the wrong place, so it is not
// echoed.
std::string DescribeName(std::string_view name) {
  const bool plain =
      !name.empty() && name.size() <= 40 &&
      std::all_of(name.begin(), name.end(), [](char c) {
        return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_' ||
               c == '-' || c == '.';
      });
  return plain ? internal::Quote(name) : "(name not shown)";
}

// Form-decodes one query component once: "%XX" becomes the byte 0xXX and
// "+" a space, as Go's url.QueryUnescape and HTML forms do. `what` names the
// component in errors; the text itself is never echoed.
absl::StatusOr<SecretBytes> FormDecode(std::string_view text,
                                       std::string_view what) {
  SecretBytes out(text.size());
  std::span<uint8_t> bytes = out.Reveal();
  size_t o = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '%') {
      const int high = i + 1 < text.size() ? HexDigitValue(text[i + 1]) : -1;
      const int low = i + 2 < text.size() ? HexDigitValue(text[i + 2]) : -1;
      if (high < 0 || low < 0) {
        return absl::InvalidArgumentError(StrCat(
            what, " has an invalid percent-encoding at offset ", i,
            ": '%' must be followed by two hex digits (write a literal '%' "
            "as %25)"));
      }
      bytes[o++] = static_cast<uint8_t>((high << 4) | low);
      i += 2;
    } else if (c == '+') {
      bytes[o++] = ' ';
    } else {
      bytes[o++] = static_cast<uint8_t>(c);
    }
  }
  SecretBytes decoded = SecretBytes::CopyFrom(bytes.first(o));
  return decoded;
}

// Splits `uri` into host and decoded query parameters after checking that it
// starts with `scheme`://.
absl::StatusOr<ParsedUri> SplitUri(std::string_view uri,
                                   std::string_view scheme) {
  const std::string prefix = StrCat(scheme, "://");
  if (uri.substr(0, prefix.size()) != prefix) {
    return absl::InvalidArgumentError(
        StrCat("URI does not start with \"", prefix, "\"; ", scheme,
               " URIs look like ", prefix, "<backend>?<parameters>"));
  }
  std::string_view rest = uri.substr(prefix.size());
  if (rest.find('#') != std::string_view::npos) {
    return absl::InvalidArgumentError(
        StrCat(prefix,
               " URI contains a fragment ('#'); percent-encode '#' in "
               "parameter values as %23"));
  }

  ParsedUri parsed;
  const size_t host_end = rest.find_first_of("/?");
  parsed.host = std::string(rest.substr(0, host_end));
  rest = host_end == std::string_view::npos ? std::string_view()
                                            : rest.substr(host_end);
  // Accept "kms://host/?a=b" and "kms://host/", as Go's url.Parse does,
  // but no other path.
  if (!rest.empty() && rest.front() == '/') {
    rest.remove_prefix(1);
    if (!rest.empty() && rest.front() != '?') {
      return absl::InvalidArgumentError(
          StrCat(prefix,
                 " URI has a path after the backend name; put every setting "
                 "in the query, after '?'"));
    }
  }
  if (!rest.empty()) {
    rest.remove_prefix(1);  // The '?'.
  }

  while (!rest.empty()) {
    const size_t end = rest.find('&');
    const std::string_view pair = rest.substr(0, end);
    rest = end == std::string_view::npos ? std::string_view()
                                         : rest.substr(end + 1);
    if (pair.empty()) {
      continue;  // "a=1&&b=2" and a trailing '&' are harmless.
    }
    const size_t eq = pair.find('=');
    DEKMS_ASSIGN_OR_RETURN(SecretBytes name_bytes,
                           FormDecode(pair.substr(0, eq), "a parameter name"));
    std::string name(internal::RevealAsText(name_bytes));
    const std::string label = StrCat("parameter ", DescribeName(name));
    DEKMS_ASSIGN_OR_RETURN(
        SecretBytes value,
        FormDecode(eq == std::string_view::npos ? std::string_view()
                                                : pair.substr(eq + 1),
                   label));
    if (parsed.params.contains(name)) {
      return absl::InvalidArgumentError(
          StrCat(label, " appears more than once in the ", prefix,
                 " URI; give it once"));
    }
    parsed.params.emplace(std::move(name), std::move(value));
  }
  return parsed;
}

// Checks the parameters of `parsed` against `specs`: all known, required
// ones present, none empty.
absl::Status CheckParams(const ParsedUri& parsed, std::string_view label,
                         std::initializer_list<ParamSpec> specs) {
  std::string accepted;
  for (const ParamSpec& spec : specs) {
    accepted += StrCat(accepted.empty() ? "" : ", ", spec.name);
  }
  for (const auto& [name, value] : parsed.params) {
    // clang 14 cannot capture a structured binding, hence the copy of the
    // reference.
    const std::string& param_name = name;
    const auto spec = std::find_if(specs.begin(), specs.end(),
                                   [&param_name](const ParamSpec& candidate) {
                                     return candidate.name == param_name;
                                   });
    if (spec == specs.end()) {
      return absl::InvalidArgumentError(
          StrCat("unknown parameter ", DescribeName(name), " in ", label,
                 " URI; the accepted parameters are ",
                 accepted.empty() ? std::string("none") : accepted,
                 " (names are case-sensitive)"));
    }
    if (value.empty()) {
      return absl::InvalidArgumentError(
          StrCat("parameter ", internal::Quote(name), " of ", label,
                 " URI is empty; give it a value",
                 spec->required ? "" : " or leave it out"));
    }
  }
  for (const ParamSpec& spec : specs) {
    if (spec.required && !parsed.params.contains(std::string(spec.name))) {
      return absl::InvalidArgumentError(StrCat("missing parameter ",
                                               internal::Quote(spec.name),
                                               " in ", label, " URI"));
    }
  }
  return absl::OkStatus();
}

// Removes and returns parameter `name`, or an empty buffer when absent.
SecretBytes TakeSecret(ParsedUri& parsed, std::string_view name) {
  auto it = parsed.params.find(std::string(name));
  if (it == parsed.params.end()) {
    return SecretBytes();
  }
  SecretBytes value = std::move(it->second);
  parsed.params.erase(it);
  return value;
}

std::string TakeString(ParsedUri& parsed, std::string_view name) {
  const SecretBytes value = TakeSecret(parsed, name);
  return std::string(internal::RevealAsText(value));
}

absl::StatusOr<SecretBytes> TakeBase64Url(ParsedUri& parsed,
                                          std::string_view name,
                                          std::string_view label) {
  const SecretBytes text = TakeSecret(parsed, name);
  return internal::DecodeBase64(
      internal::RevealAsText(text), internal::Base64Alphabet::kUrlSafe,
      StrCat("parameter ", internal::Quote(name), " of ", label));
}

absl::Status CheckBothOrNeither(const std::string& id, const SecretBytes& key,
                                const SecretBytes& session_token,
                                std::string_view label) {
  if (id.empty() != key.empty()) {
    return absl::InvalidArgumentError(
        StrCat(label,
               " URI sets only one of \"accessKeyID\" and \"accessKey\"; give "
               "both, or neither to use the AWS credential chain"));
  }
  if (!session_token.empty() && id.empty()) {
    return absl::InvalidArgumentError(
        StrCat(label,
               " URI sets \"sessionToken\" without \"accessKeyID\" and "
               "\"accessKey\"; a session token belongs to temporary "
               "credentials, so give all three"));
  }
  return absl::OkStatus();
}

// Checks an "endpoint" parameter: an http or https base URL with a host and
// nothing after the path.
absl::Status CheckEndpoint(std::string_view endpoint, std::string_view label) {
  if (endpoint.empty()) {
    return absl::OkStatus();
  }
  return internal::ValidateBaseUrl(
      endpoint, StrCat("parameter \"endpoint\" of ", label, " URI"));
}

absl::StatusOr<std::optional<bool>> TakeBool(ParsedUri& parsed,
                                             std::string_view name,
                                             std::string_view label) {
  if (!parsed.params.contains(std::string(name))) {
    return std::nullopt;
  }
  const std::string value = TakeString(parsed, name);
  if (value == "true") {
    return true;
  }
  if (value == "false") {
    return false;
  }
  return absl::InvalidArgumentError(StrCat("parameter ", internal::Quote(name),
                                           " of ", label,
                                           " URI must be true or false"));
}

absl::Status CheckAzureCredentials(const std::string& tenant_id,
                                   const std::string& client_id,
                                   const SecretBytes& client_secret,
                                   std::string_view label) {
  if (!client_secret.empty() && (tenant_id.empty() || client_id.empty())) {
    return absl::InvalidArgumentError(
        StrCat(label,
               " URI sets \"clientSecret\" without both \"tenantID\" and "
               "\"clientID\"; a client secret needs the tenant and client it "
               "belongs to"));
  }
  return absl::OkStatus();
}

absl::Status CheckVaultType(std::string_view vault_type) {
  const absl::Status known = internal::AzureVaultCloudOf(vault_type).status();
  if (!known.ok()) {
    return absl::InvalidArgumentError(
        StrCat("parameter \"vaultType\" of kms://azure URI: ", known.message(),
               "; use vault.azure.net for Key Vault or "
               "managedhsm.azure.net for Managed HSM"));
  }
  return absl::OkStatus();
}

// A URI being encoded: the values point into the config or into `owned`.
struct UriFields {
  struct Field {
    std::string_view name;
    std::string_view value;
    bool secret;
  };
  // No URI form has more than seven parameters. A fixed array rather than
  // a std::vector also keeps g++ 12 at -O3 from false -Wstringop-overflow
  // reports inside the vector's growth path.
  static constexpr size_t kMaxFields = 8;

  std::string_view scheme;
  std::string_view host;
  std::array<Field, kMaxFields> fields{};
  size_t field_count = 0;
  std::vector<SecretBytes> owned;

  UriFields() { owned.reserve(2); }

  [[nodiscard]] std::span<const Field> Fields() const {
    return std::span<const Field>(fields).first(field_count);
  }

  void Add(std::string_view name, std::string_view value, bool secret) {
    if (!value.empty()) {
      // Every URI form is known here, so running out of room is a bug in
      // this file, caught by the round-trip tests of every form.
      if (field_count == kMaxFields) {
        std::abort();
      }
      fields[field_count++] = {name, value, secret};
    }
  }
  void Add(std::string_view name, const SecretBytes& value) {
    Add(name, internal::RevealAsText(value), /*secret=*/true);
  }
  void AddBase64Url(std::string_view name, const SecretBytes& value) {
    owned.push_back(internal::EncodeBase64(value.Reveal(),
                                           internal::Base64Alphabet::kUrlSafe));
    Add(name, owned.back());
  }
};

UriFields FieldsOf(const KmsConfig& config) {
  UriFields uri;
  uri.scheme = "kms";
  std::visit(
      [&uri](const auto& c) {
        using T = std::decay_t<decltype(c)>;
        if constexpr (std::is_same_v<T, ClusterKmsConfig>) {
          uri.host = "cluster-kms";
          uri.AddBase64Url("key", c.master_secret);
          uri.AddBase64Url("salt", c.salt);
        } else if constexpr (std::is_same_v<T, AwsKmsConfig>) {
          uri.host = "aws";
          uri.Add("region", c.region, false);
          uri.Add("accessKeyID", c.access_key_id, false);
          uri.Add("accessKey", c.access_key);
          uri.Add("sessionToken", c.session_token);
          uri.Add("keyName", c.key_name, false);
          uri.Add("endpoint", c.endpoint, false);
        } else if constexpr (std::is_same_v<T, AzureKmsConfig>) {
          uri.host = "azure";
          uri.Add("tenantID", c.tenant_id, false);
          uri.Add("clientID", c.client_id, false);
          uri.Add("clientSecret", c.client_secret);
          uri.Add("vaultName", c.vault_name, false);
          uri.Add("vaultType", c.vault_type, false);
          uri.Add("keyName", c.key_name, false);
          uri.Add("endpoint", c.endpoint, false);
        } else if constexpr (std::is_same_v<T, GcpKmsConfig>) {
          uri.host = "gcp";
          uri.Add("projectID", c.project_id, false);
          uri.Add("location", c.location, false);
          uri.Add("keyRing", c.key_ring, false);
          uri.Add("credentialsPath", c.credentials_path, false);
          uri.Add("keyName", c.key_name, false);
          uri.Add("endpoint", c.endpoint, false);
        } else {
          static_assert(std::is_same_v<T, LocalKmsConfig>);
          uri.host = "local";
          uri.Add("keyFile", c.key_file, false);
        }
      },
      config);
  return uri;
}

UriFields FieldsOf(const StorageConfig& config) {
  UriFields uri;
  uri.scheme = "storage";
  std::visit(
      [&uri](const auto& c) {
        using T = std::decay_t<decltype(c)>;
        if constexpr (std::is_same_v<T, NoStoreConfig>) {
          uri.host = "no-store";
        } else if constexpr (std::is_same_v<T, MemoryStoreConfig>) {
          uri.host = "memory";
        } else if constexpr (std::is_same_v<T, AwsS3StoreConfig>) {
          uri.host = "aws";
          uri.Add("bucket", c.bucket, false);
          uri.Add("region", c.region, false);
          uri.Add("accessKeyID", c.access_key_id, false);
          uri.Add("accessKey", c.access_key);
          uri.Add("sessionToken", c.session_token);
          uri.Add("endpoint", c.endpoint, false);
          if (c.force_path_style.has_value()) {
            uri.Add("forcePathStyle", *c.force_path_style ? "true" : "false",
                    false);
          }
        } else if constexpr (std::is_same_v<T, AzureBlobStoreConfig>) {
          uri.host = "azure";
          uri.Add("account", c.account, false);
          uri.Add("container", c.container, false);
          uri.Add("tenantID", c.tenant_id, false);
          uri.Add("clientID", c.client_id, false);
          uri.Add("clientSecret", c.client_secret);
          uri.Add("endpoint", c.endpoint, false);
          uri.Add("sharedKey", c.shared_key);
        } else if constexpr (std::is_same_v<T, GcsStoreConfig>) {
          uri.host = "gcp";
          uri.Add("projectID", c.project_id, false);
          uri.Add("bucket", c.bucket, false);
          uri.Add("credentialsPath", c.credentials_path, false);
          uri.Add("endpoint", c.endpoint, false);
        } else {
          static_assert(std::is_same_v<T, FileStoreConfig>);
          uri.host = "file";
          uri.Add("path", c.path, false);
        }
      },
      config);
  return uri;
}

// Writes `value` form-encoded: unreserved characters (RFC 3986, section
// 2.3) as they are, every other byte as %XX.
void AppendFormEncoded(std::string_view value, SecretTextBuilder& out) {
  constexpr std::string_view kHex = "0123456789ABCDEF";
  for (const char c : value) {
    if (absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '-' ||
        c == '_' || c == '.' || c == '~') {
      out.Append(c);
    } else {
      const auto byte = static_cast<unsigned char>(c);
      out.Append('%');
      out.Append(kHex[byte >> 4]);
      out.Append(kHex[byte & 0x0f]);
    }
  }
}

SecretBytes Render(const UriFields& uri, bool redact) {
  SecretTextBuilder out;
  out.Append(uri.scheme);
  out.Append("://");
  out.Append(uri.host);
  char separator = '?';
  for (const UriFields::Field& field : uri.Fields()) {
    out.Append(separator);
    separator = '&';
    out.Append(field.name);
    out.Append('=');
    if (redact && field.secret) {
      out.Append(kRedacted);
    } else {
      AppendFormEncoded(field.value, out);
    }
  }
  return std::move(out).Finish();
}

}  // namespace

absl::StatusOr<KmsConfig> ParseKmsUri(std::string_view uri) {
  DEKMS_ASSIGN_OR_RETURN(ParsedUri parsed, SplitUri(uri, "kms"));

  if (parsed.host == "cluster-kms") {
    constexpr std::string_view kLabel = "kms://cluster-kms";
    DEKMS_RETURN_IF_ERROR(
        CheckParams(parsed, kLabel, {{"key", true}, {"salt", true}}));
    ClusterKmsConfig config;
    DEKMS_ASSIGN_OR_RETURN(config.master_secret,
                           TakeBase64Url(parsed, "key", kLabel));
    DEKMS_ASSIGN_OR_RETURN(config.salt, TakeBase64Url(parsed, "salt", kLabel));
    return config;
  }
  if (parsed.host == "aws") {
    constexpr std::string_view kLabel = "kms://aws";
    DEKMS_RETURN_IF_ERROR(CheckParams(parsed, kLabel,
                                      {{"region", true},
                                       {"accessKeyID", false},
                                       {"accessKey", false},
                                       {"sessionToken", false},
                                       {"keyName", true},
                                       {"endpoint", false}}));
    AwsKmsConfig config;
    config.region = TakeString(parsed, "region");
    config.access_key_id = TakeString(parsed, "accessKeyID");
    config.access_key = TakeSecret(parsed, "accessKey");
    config.session_token = TakeSecret(parsed, "sessionToken");
    config.key_name = TakeString(parsed, "keyName");
    config.endpoint = TakeString(parsed, "endpoint");
    DEKMS_RETURN_IF_ERROR(CheckBothOrNeither(
        config.access_key_id, config.access_key, config.session_token, kLabel));
    DEKMS_RETURN_IF_ERROR(CheckEndpoint(config.endpoint, kLabel));
    return config;
  }
  if (parsed.host == "azure") {
    constexpr std::string_view kLabel = "kms://azure";
    DEKMS_RETURN_IF_ERROR(CheckParams(parsed, kLabel,
                                      {{"tenantID", false},
                                       {"clientID", false},
                                       {"clientSecret", false},
                                       {"vaultName", true},
                                       {"vaultType", true},
                                       {"keyName", true},
                                       {"endpoint", false}}));
    AzureKmsConfig config;
    config.tenant_id = TakeString(parsed, "tenantID");
    config.client_id = TakeString(parsed, "clientID");
    config.client_secret = TakeSecret(parsed, "clientSecret");
    config.vault_name = TakeString(parsed, "vaultName");
    config.vault_type = TakeString(parsed, "vaultType");
    config.key_name = TakeString(parsed, "keyName");
    config.endpoint = TakeString(parsed, "endpoint");
    DEKMS_RETURN_IF_ERROR(CheckAzureCredentials(
        config.tenant_id, config.client_id, config.client_secret, kLabel));
    DEKMS_RETURN_IF_ERROR(CheckVaultType(config.vault_type));
    DEKMS_RETURN_IF_ERROR(CheckEndpoint(config.endpoint, kLabel));
    return config;
  }
  if (parsed.host == "gcp") {
    constexpr std::string_view kLabel = "kms://gcp";
    DEKMS_RETURN_IF_ERROR(CheckParams(parsed, kLabel,
                                      {{"projectID", true},
                                       {"location", true},
                                       {"keyRing", true},
                                       {"credentialsPath", false},
                                       {"keyName", true},
                                       {"endpoint", false}}));
    GcpKmsConfig config;
    config.project_id = TakeString(parsed, "projectID");
    config.location = TakeString(parsed, "location");
    config.key_ring = TakeString(parsed, "keyRing");
    config.credentials_path = TakeString(parsed, "credentialsPath");
    config.key_name = TakeString(parsed, "keyName");
    config.endpoint = TakeString(parsed, "endpoint");
    DEKMS_RETURN_IF_ERROR(CheckEndpoint(config.endpoint, kLabel));
    return config;
  }
  if (parsed.host == "local") {
    DEKMS_RETURN_IF_ERROR(
        CheckParams(parsed, "kms://local", {{"keyFile", true}}));
    return LocalKmsConfig{.key_file = TakeString(parsed, "keyFile")};
  }
  return absl::InvalidArgumentError(
      StrCat("unknown KMS ", DescribeName(parsed.host),
             " in kms:// URI; use one of cluster-kms, aws, azure, gcp, "
             "local"));
}

absl::StatusOr<StorageConfig> ParseStorageUri(std::string_view uri) {
  DEKMS_ASSIGN_OR_RETURN(ParsedUri parsed, SplitUri(uri, "storage"));

  if (parsed.host == "no-store") {
    DEKMS_RETURN_IF_ERROR(CheckParams(parsed, "storage://no-store", {}));
    return NoStoreConfig{};
  }
  if (parsed.host == "memory") {
    DEKMS_RETURN_IF_ERROR(CheckParams(parsed, "storage://memory", {}));
    return MemoryStoreConfig{};
  }
  if (parsed.host == "aws") {
    constexpr std::string_view kLabel = "storage://aws";
    DEKMS_RETURN_IF_ERROR(CheckParams(parsed, kLabel,
                                      {{"bucket", true},
                                       {"region", true},
                                       {"accessKeyID", false},
                                       {"accessKey", false},
                                       {"sessionToken", false},
                                       {"endpoint", false},
                                       {"forcePathStyle", false}}));
    AwsS3StoreConfig config;
    config.bucket = TakeString(parsed, "bucket");
    config.region = TakeString(parsed, "region");
    config.access_key_id = TakeString(parsed, "accessKeyID");
    config.access_key = TakeSecret(parsed, "accessKey");
    config.session_token = TakeSecret(parsed, "sessionToken");
    config.endpoint = TakeString(parsed, "endpoint");
    DEKMS_ASSIGN_OR_RETURN(config.force_path_style,
                           TakeBool(parsed, "forcePathStyle", kLabel));
    DEKMS_RETURN_IF_ERROR(CheckBothOrNeither(
        config.access_key_id, config.access_key, config.session_token, kLabel));
    DEKMS_RETURN_IF_ERROR(CheckEndpoint(config.endpoint, kLabel));
    return config;
  }
  if (parsed.host == "azure") {
    constexpr std::string_view kLabel = "storage://azure";
    DEKMS_RETURN_IF_ERROR(CheckParams(parsed, kLabel,
                                      {{"account", true},
                                       {"container", true},
                                       {"tenantID", false},
                                       {"clientID", false},
                                       {"clientSecret", false},
                                       {"endpoint", false},
                                       {"sharedKey", false}}));
    AzureBlobStoreConfig config;
    config.account = TakeString(parsed, "account");
    config.container = TakeString(parsed, "container");
    config.tenant_id = TakeString(parsed, "tenantID");
    config.client_id = TakeString(parsed, "clientID");
    config.client_secret = TakeSecret(parsed, "clientSecret");
    config.endpoint = TakeString(parsed, "endpoint");
    config.shared_key = TakeSecret(parsed, "sharedKey");
    DEKMS_RETURN_IF_ERROR(CheckAzureCredentials(
        config.tenant_id, config.client_id, config.client_secret, kLabel));
    DEKMS_RETURN_IF_ERROR(CheckEndpoint(config.endpoint, kLabel));
    if (!config.shared_key.empty() && !config.client_secret.empty()) {
      return absl::InvalidArgumentError(
          "storage://azure URI sets both \"sharedKey\" and \"clientSecret\"; "
          "choose one way to authenticate");
    }
    return config;
  }
  if (parsed.host == "gcp") {
    constexpr std::string_view kLabel = "storage://gcp";
    DEKMS_RETURN_IF_ERROR(CheckParams(parsed, kLabel,
                                      {{"projectID", true},
                                       {"bucket", true},
                                       {"credentialsPath", false},
                                       {"endpoint", false}}));
    GcsStoreConfig config;
    config.project_id = TakeString(parsed, "projectID");
    config.bucket = TakeString(parsed, "bucket");
    config.credentials_path = TakeString(parsed, "credentialsPath");
    config.endpoint = TakeString(parsed, "endpoint");
    DEKMS_RETURN_IF_ERROR(CheckEndpoint(config.endpoint, kLabel));
    return config;
  }
  if (parsed.host == "file") {
    DEKMS_RETURN_IF_ERROR(
        CheckParams(parsed, "storage://file", {{"path", true}}));
    return FileStoreConfig{.path = TakeString(parsed, "path")};
  }
  return absl::InvalidArgumentError(
      StrCat("unknown store ", DescribeName(parsed.host),
             " in storage:// URI; use one of no-store, memory, file, aws, "
             "azure, gcp"));
}

SecretBytes EncodeKmsUri(const KmsConfig& config) {
  return Render(FieldsOf(config), /*redact=*/false);
}

SecretBytes EncodeStorageUri(const StorageConfig& config) {
  return Render(FieldsOf(config), /*redact=*/false);
}

std::string RedactedKmsUri(const KmsConfig& config) {
  const SecretBytes text = Render(FieldsOf(config), /*redact=*/true);
  return std::string(internal::RevealAsText(text));
}

std::string RedactedStorageUri(const StorageConfig& config) {
  const SecretBytes text = Render(FieldsOf(config), /*redact=*/true);
  return std::string(internal::RevealAsText(text));
}

}  // namespace dekms
