#include "src/kek/azure_key_vault_kek_provider.h"

#include <algorithm>
#include <array>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "spdlog/spdlog.h"
#include "src/base/quote.h"
#include "src/base/status_macros.h"
#include "src/base/str_cat.h"
#include "src/cloud/secret_json.h"
#include "src/crypto/encoding.h"

namespace dekms::internal {
namespace {

constexpr std::string_view kService = "Azure Key Vault";

constexpr std::array<AzureVaultCloud, 5> kVaultClouds = {{
    {"vault.azure.net", "https://vault.azure.net/.default",
     "https://login.microsoftonline.com", false},
    {"vault.azure.cn", "https://vault.azure.cn/.default",
     "https://login.chinacloudapi.cn", false},
    {"vault.usgovcloudapi.net", "https://vault.usgovcloudapi.net/.default",
     "https://login.microsoftonline.us", false},
    {"vault.microsoftazure.de", "https://vault.microsoftazure.de/.default",
     "https://login.microsoftonline.de", false},
    {"managedhsm.azure.net", "https://managedhsm.azure.net/.default",
     "https://login.microsoftonline.com", true},
}};

std::string Text(const WipingString* value) {
  return value == nullptr ? std::string()
                          : std::string(value->data(), value->size());
}

// Key Vault encodes bytes as base64url without padding.
WipingString Base64Url(std::span<const uint8_t> bytes) {
  const SecretBytes encoded = EncodeBase64(bytes, Base64Alphabet::kUrlSafe);
  std::string_view text = RevealAsText(encoded);
  while (text.ends_with('=')) {
    text.remove_suffix(1);
  }
  return {text.data(), text.size()};
}

bool IsNameChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '-';
}

// A key version is 32 lowercase hex digits in Key Vault. Emulators may use
// other letters and digits, but nothing that could change a URL path.
bool IsVersion(std::string_view version) {
  return !version.empty() && version.size() <= 64 &&
         std::all_of(version.begin(), version.end(), [](char c) {
           return absl::ascii_isalnum(static_cast<unsigned char>(c));
         });
}

std::string_view HintFor(absl::StatusCode code, bool managed_hsm) {
  switch (code) {
    case absl::StatusCode::kPermissionDenied:
      return managed_hsm
                 ? "; grant the caller keys/read/action, keys/wrap/action and "
                   "keys/unwrap/action on the key (local RBAC role Managed "
                   "HSM Crypto User)"
                 : "; grant the caller keys/read, keys/wrap/action and "
                   "keys/unwrap/action (RBAC role Key Vault Crypto User), or "
                   "an access policy with Get, Wrap Key and Unwrap Key";
    case absl::StatusCode::kUnauthenticated:
      return "; check the tenant, client ID and secret, and that vaultType "
             "names the right kind of vault and cloud, since tokens are "
             "issued for one";
    case absl::StatusCode::kDataLoss:
      return "; the blob was altered or belongs to another key";
    default:
      return "";
  }
}

std::string_view ServiceName(bool managed_hsm) {
  return managed_hsm ? "Azure Managed HSM" : kService;
}

absl::Status ErrorFromResponse(const HttpResponse& response,
                               std::string_view operation, bool managed_hsm,
                               const std::string& key_id) {
  const SecretJson body = ParseSecretJson(response.BodyText());
  ProviderError error;
  error.service = std::string(ServiceName(managed_hsm));
  error.operation = std::string(operation);
  error.http_status = response.status;
  if (body.is_object()) {
    if (const auto nested = body.find("error");
        nested != body.end() && nested->is_object()) {
      error.code = Text(FindString(*nested, "code"));
      error.message = Text(FindString(*nested, "message"));
      if (const auto inner = nested->find("innererror");
          inner != nested->end() && inner->is_object()) {
        if (const std::string code = Text(FindString(*inner, "code"));
            !code.empty()) {
          error.code = StrCat(error.code, "/", code);
        }
      }
    }
  }
  if (const std::string* id = response.FindHeader("x-ms-request-id")) {
    error.request_id = *id;
  }
  std::optional<absl::StatusCode> code;
  // Key Vault refuses every operation on a disabled key or version with
  // 403 and the inner code KeyDisabled; no permission would help.
  const bool disabled = response.status == 403 &&
                        error.code.find("KeyDisabled") != std::string::npos;
  if (response.status == 404 || disabled) {
    code = absl::StatusCode::kFailedPrecondition;
  } else if (response.status == 400 && operation == "unwrapkey") {
    // Key Vault rejects an unwrap of damaged or foreign bytes with 400.
    code = absl::StatusCode::kDataLoss;
  }
  const absl::Status status = ProviderErrorToStatus(error, code);
  std::string message =
      StrCat(status.message(), HintFor(status.code(), managed_hsm));
  if (response.status == 404) {
    message = StrCat(message, "; check that the key ", key_id,
                     " exists (vaultName, vaultType and keyName)");
  }
  if (disabled) {
    message = StrCat(message,
                     "; enable the key or version (az keyvault key "
                     "set-attributes --enabled true) or configure "
                     "another key");
  }
  return {status.code(), message};
}

}  // namespace

absl::StatusOr<AzureVaultCloud> AzureVaultCloudOf(std::string_view vault_type) {
  for (const AzureVaultCloud& cloud : kVaultClouds) {
    if (cloud.vault_type == vault_type) {
      return cloud;
    }
  }
  std::string accepted;
  for (const AzureVaultCloud& cloud : kVaultClouds) {
    accepted = StrCat(accepted, accepted.empty() ? "" : ", ", cloud.vault_type);
  }
  return absl::InvalidArgumentError(
      StrCat("vaultType ", Quote(vault_type), " is not one of ", accepted));
}

absl::StatusOr<std::unique_ptr<AzureKeyVaultKekProvider>>
AzureKeyVaultKekProvider::Create(AzureKeyVaultKekOptions options) {
  DEKMS_ASSIGN_OR_RETURN(const AzureVaultCloud cloud,
                         AzureVaultCloudOf(options.vault_type));
  const auto valid_name = [](std::string_view name, size_t max) {
    return !name.empty() && name.size() <= max &&
           std::all_of(name.begin(), name.end(), IsNameChar);
  };
  if (!valid_name(options.vault_name, 24) || options.vault_name.size() < 3) {
    return absl::InvalidArgumentError(
        StrCat("kms://azure: vaultName ", Quote(options.vault_name),
               " is not valid; it has 3 to 24 letters, digits and hyphens"));
  }
  if (!valid_name(options.key_name, 127)) {
    return absl::InvalidArgumentError(
        StrCat("kms://azure: keyName ", Quote(options.key_name),
               " is not valid; it has 1 to 127 letters, digits and hyphens"));
  }
  if (options.credentials == nullptr || options.transport == nullptr) {
    return absl::InvalidArgumentError(
        "AzureKeyVaultKekProvider needs credentials and a transport");
  }
  if (options.endpoint.empty()) {
    options.endpoint =
        StrCat("https://", options.vault_name, ".", options.vault_type);
  }
  std::string key_id = StrCat("https://", options.vault_name, ".",
                              options.vault_type, "/keys/", options.key_name);
  auto provider =
      std::unique_ptr<AzureKeyVaultKekProvider>(new AzureKeyVaultKekProvider(
          std::move(options), cloud, std::move(key_id)));
  DEKMS_RETURN_IF_ERROR(provider->Check());
  return provider;
}

AzureKeyVaultKekProvider::AzureKeyVaultKekProvider(
    AzureKeyVaultKekOptions options, AzureVaultCloud cloud, std::string key_id)
    : options_(std::move(options)), cloud_(cloud), key_id_(std::move(key_id)) {}

namespace {

// Sends one Key Vault call and returns the parsed reply.
absl::StatusOr<SecretJson> CallKeyVault(const AzureKeyVaultKekOptions& options,
                                        const AzureVaultCloud& cloud,
                                        const std::string& key_id,
                                        std::string_view operation,
                                        const std::string& path,
                                        const SecretJson* body) {
  const std::string url =
      StrCat(options.endpoint, path, "?api-version=", kAzureKeyVaultApiVersion);
  const WipingString text = body == nullptr ? WipingString() : body->dump();
  auto build = [&]() -> absl::StatusOr<HttpRequest> {
    HttpRequest request;
    request.url = url;
    if (body == nullptr) {
      request.method = "GET";
    } else {
      request.method = "POST";
      request.SetHeader("Content-Type", "application/json");
      request.body =
          SecretBytes::CopyFrom(std::string_view(text.data(), text.size()));
    }
    return request;
  };
  absl::StatusOr<HttpResponse> sent = SendToAzureApi(
      *options.credentials, cloud.scope, *options.transport, options.retry,
      StrCat(ServiceName(cloud.managed_hsm), " ", operation),
      /*idempotent=*/true, build);
  if (!sent.ok()) {
    return absl::Status(sent.status().code(),
                        StrCat(ServiceName(cloud.managed_hsm), " ", operation,
                               ": ", sent.status().message()));
  }
  if (sent->status != 200) {
    return ErrorFromResponse(*sent, operation, cloud.managed_hsm, key_id);
  }
  SecretJson reply = ParseSecretJson(sent->BodyText());
  if (!reply.is_object()) {
    return absl::UnavailableError(
        StrCat(ServiceName(cloud.managed_hsm), " ", operation,
               " returned a reply that is not a JSON object; check the "
               "endpoint ",
               UrlOrigin(options.endpoint)));
  }
  return reply;
}

// Decodes the "value" of a wrapkey or unwrapkey reply after checking that
// "kid" names `expected_kid_suffix`.
absl::StatusOr<SecretBytes> ReplyValue(const SecretJson& reply,
                                       std::string_view operation,
                                       std::string_view expected_kid_suffix) {
  const std::string kid = Text(FindString(reply, "kid"));
  if (!kid.empty() && !std::string_view(kid).ends_with(expected_kid_suffix)) {
    return absl::InternalError(StrCat(kService, " ", operation, " used key ",
                                      Quote(kid), " instead of one ending in ",
                                      expected_kid_suffix));
  }
  const WipingString* value = FindString(reply, "value");
  if (value == nullptr || value->empty()) {
    return absl::UnavailableError(
        StrCat(kService, " ", operation, " reply has no \"value\""));
  }
  return DecodeBase64(
      std::string_view(value->data(), value->size()), Base64Alphabet::kUrlSafe,
      StrCat("value of the ", kService, " ", operation, " reply"));
}

}  // namespace

absl::Status AzureKeyVaultKekProvider::Check() {
  DEKMS_ASSIGN_OR_RETURN(
      const SecretJson bundle,
      CallKeyVault(options_, cloud_, key_id_, "get key",
                   StrCat("/keys/", options_.key_name), nullptr));
  const auto key = bundle.find("key");
  if (key == bundle.end() || !key->is_object()) {
    return absl::UnavailableError(
        StrCat(kService, " get key reply has no \"key\""));
  }
  const std::string kid = Text(FindString(*key, "kid"));
  const std::string prefix = StrCat("/keys/", options_.key_name, "/");
  const size_t at = kid.rfind(prefix);
  const std::string version =
      at == std::string::npos ? "" : kid.substr(at + prefix.size());
  if (!IsVersion(version)) {
    return absl::UnavailableError(
        StrCat(kService, " get key returned the key id ", Quote(kid),
               ", which names no version of ", key_id_));
  }
  const std::string label =
      StrCat("Azure key ", key_id_, " (version ", version, ")");

  if (const auto attributes = bundle.find("attributes");
      attributes != bundle.end() && attributes->is_object()) {
    if (const auto enabled = attributes->find("enabled");
        enabled != attributes->end() && enabled->is_boolean() &&
        !enabled->get<bool>()) {
      return absl::FailedPreconditionError(
          StrCat(label,
                 " is disabled; enable it (az keyvault key set-attributes "
                 "--enabled true) or configure another key"));
    }
    const int64_t now = absl::ToUnixSeconds(absl::Now());
    if (const auto exp = attributes->find("exp"); exp != attributes->end() &&
                                                  exp->is_number() &&
                                                  exp->get<int64_t>() <= now) {
      return absl::FailedPreconditionError(
          StrCat(label, " has expired; set a later expiry or rotate the key"));
    }
    if (const auto nbf = attributes->find("nbf"); nbf != attributes->end() &&
                                                  nbf->is_number() &&
                                                  nbf->get<int64_t>() > now) {
      return absl::FailedPreconditionError(
          StrCat(label, " is not valid yet (its nbf is in the future)"));
    }
  }

  bool can_wrap = false;
  bool can_unwrap = false;
  if (const auto ops = key->find("key_ops");
      ops != key->end() && ops->is_array()) {
    for (const SecretJson& op : *ops) {
      if (op.is_string()) {
        const std::string name = Text(&op.get_ref<const WipingString&>());
        can_wrap = can_wrap || name == "wrapKey";
        can_unwrap = can_unwrap || name == "unwrapKey";
      }
    }
  }
  if (!can_wrap || !can_unwrap) {
    return absl::FailedPreconditionError(
        StrCat(label,
               " does not permit the wrapKey and unwrapKey operations; "
               "allow them (az keyvault key set-attributes --ops wrapKey "
               "unwrapKey) or configure another key"));
  }

  const std::string kty = Text(FindString(*key, "kty"));
  std::string algorithm;
  if (kty == "RSA" || kty == "RSA-HSM") {
    algorithm = "RSA-OAEP-256";
  } else if (kty == "oct-HSM" || kty == "oct") {
    algorithm = "CKM_AES_KEY_WRAP_PAD";
  } else {
    return absl::FailedPreconditionError(
        StrCat(label, " has key type ", Quote(kty),
               "; dekms wraps with RSA keys (RSA-OAEP-256) or Managed HSM "
               "AES keys (oct-HSM)"));
  }

  absl::MutexLock lock(&mu_);
  if (version != version_) {
    spdlog::info("Azure key {}: new DEKs are wrapped with version {} ({})",
                 key_id_, version, algorithm);
  }
  version_ = version;
  algorithm_ = algorithm;
  return absl::OkStatus();
}

absl::StatusOr<KekProvider::Wrapped> AzureKeyVaultKekProvider::Wrap(
    const SecretBytes& plaintext,
    std::span<const uint8_t> /*associated_data*/) {
  std::string version;
  std::string algorithm;
  {
    absl::MutexLock lock(&mu_);
    version = version_;
    algorithm = algorithm_;
  }
  SecretJson request = SecretJson::object();
  request["alg"] = WipingString(algorithm.data(), algorithm.size());
  request["value"] = Base64Url(plaintext.Reveal());
  const std::string path =
      StrCat("/keys/", options_.key_name, "/", version, "/wrapkey");
  DEKMS_ASSIGN_OR_RETURN(
      const SecretJson reply,
      CallKeyVault(options_, cloud_, key_id_, "wrapkey", path, &request));
  DEKMS_ASSIGN_OR_RETURN(
      SecretBytes wrapped,
      ReplyValue(reply, "wrapkey",
                 StrCat("/keys/", options_.key_name, "/", version)));
  return Wrapped{std::string(RevealAsText(wrapped)), version};
}

absl::StatusOr<SecretBytes> AzureKeyVaultKekProvider::Unwrap(
    std::string_view ciphertext, std::string_view key_version,
    std::span<const uint8_t> /*associated_data*/) {
  if (!IsVersion(key_version)) {
    return absl::DataLossError(
        StrCat("the blob names no valid version of ", key_id_,
               "; it was not written by this provider or was altered"));
  }
  std::string algorithm;
  {
    absl::MutexLock lock(&mu_);
    algorithm = algorithm_;
  }
  SecretJson request = SecretJson::object();
  request["alg"] = WipingString(algorithm.data(), algorithm.size());
  request["value"] = Base64Url(
      {reinterpret_cast<const uint8_t*>(ciphertext.data()), ciphertext.size()});
  const std::string path =
      StrCat("/keys/", options_.key_name, "/", key_version, "/unwrapkey");
  absl::StatusOr<SecretJson> reply =
      CallKeyVault(options_, cloud_, key_id_, "unwrapkey", path, &request);
  if (!reply.ok()) {
    if (reply.status().code() == absl::StatusCode::kFailedPrecondition) {
      return absl::Status(
          reply.status().code(),
          StrCat(reply.status().message(), "; the blob was wrapped by version ",
                 key_version, ", which must exist and be enabled to unwrap"));
    }
    return reply.status();
  }
  return ReplyValue(*reply, "unwrapkey",
                    StrCat("/keys/", options_.key_name, "/", key_version));
}

}  // namespace dekms::internal
