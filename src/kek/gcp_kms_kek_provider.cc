#include "src/kek/gcp_kms_kek_provider.h"

#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "spdlog/spdlog.h"
#include "src/base/quote.h"
#include "src/base/status_macros.h"
#include "src/base/str_cat.h"
#include "src/cloud/gcp/google_api.h"
#include "src/cloud/secret_json.h"
#include "src/crypto/crc32c.h"
#include "src/crypto/encoding.h"

namespace dekms::internal {
namespace {

constexpr std::string_view kService = "Cloud KMS";

std::span<const uint8_t> AsBytes(std::string_view text) {
  return {reinterpret_cast<const uint8_t*>(text.data()), text.size()};
}

WipingString Base64Of(std::span<const uint8_t> bytes) {
  const SecretBytes encoded = EncodeBase64(bytes, Base64Alphabet::kStandard);
  const std::string_view text = RevealAsText(encoded);
  return {text.data(), text.size()};
}

WipingString DecimalOf(uint32_t value) {
  const std::string text = std::to_string(value);
  return {text.data(), text.size()};
}

bool IsTrue(const SecretJson& object, std::string_view field) {
  const auto it = object.find(field);
  return it != object.end() && it->is_boolean() && it->get<bool>();
}

std::string StringField(const SecretJson& object, std::string_view field) {
  const WipingString* value = FindString(object, field);
  return value == nullptr ? std::string()
                          : std::string(value->data(), value->size());
}

bool AllOf(std::string_view text, bool (*allowed)(char)) {
  for (const char c : text) {
    if (!allowed(c)) {
      return false;
    }
  }
  return true;
}

bool IsLowerAlnumOrDash(char c) {
  return absl::ascii_islower(static_cast<unsigned char>(c)) ||
         absl::ascii_isdigit(static_cast<unsigned char>(c)) || c == '-';
}

bool IsResourceIdChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_' ||
         c == '-';
}

bool IsProjectChar(char c) {
  return IsLowerAlnumOrDash(c) || c == '.' || c == ':';
}

// The outcome of one call, with the reason when the integrity checks
// failed, so that the caller tries again.
struct CallResult {
  absl::StatusOr<SecretJson> reply;
  std::string integrity_failure;
};

// Returns the advice for an error code, where one fix fits every case.
std::string_view HintFor(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kPermissionDenied:
      return "; grant the caller cloudkms.cryptoKeys.get, "
             "cloudkms.cryptoKeyVersions.useToEncrypt and "
             "cloudkms.cryptoKeyVersions.useToDecrypt on the key (role "
             "roles/cloudkms.cryptoKeyEncrypterDecrypter plus "
             "roles/cloudkms.viewer), and check that the key exists";
    case absl::StatusCode::kUnauthenticated:
      return "; check the Google credentials and the machine clock";
    case absl::StatusCode::kDataLoss:
      return "; the blob was altered or belongs to another DEK ID, length "
             "or key";
    default:
      return "";
  }
}

CallResult ErrorFromResponse(const HttpResponse& response,
                             std::string_view operation,
                             const std::string& key_resource) {
  const GoogleApiError error = ParseGoogleApiError(response);
  std::optional<absl::StatusCode> code;
  CallResult result;
  if (response.status == 400 && error.status != "FAILED_PRECONDITION") {
    const std::string message = absl::AsciiStrToLower(error.message);
    if (message.find("checksum") != std::string::npos ||
        message.find("crc32c") != std::string::npos) {
      // The server computed another checksum over what it received, so the
      // request was corrupted on the way.
      result.integrity_failure = "the server found the request checksums wrong";
      code = absl::StatusCode::kUnavailable;
    } else if (operation == "decrypt") {
      // Cloud KMS returns INVALID_ARGUMENT for every decrypt failure
      // (altered ciphertext, other key, other associated data).
      code = absl::StatusCode::kDataLoss;
    }
  } else if (response.status == 400 || response.status == 404) {
    code = absl::StatusCode::kFailedPrecondition;
  }
  const absl::Status status =
      GoogleApiErrorToStatus(response, error, kService, operation, code);
  std::string message = StrCat(status.message(), HintFor(status.code()));
  if (status.code() == absl::StatusCode::kFailedPrecondition &&
      operation != "decrypt") {
    message = StrCat(message, "; check that ", key_resource,
                     " exists and its primary version is enabled (gcloud kms "
                     "keys describe)");
  }
  result.reply = absl::Status(status.code(), message);
  return result;
}

CallResult CallKms(const GcpKmsKekOptions& options,
                   const std::string& key_resource, std::string_view operation,
                   const SecretJson* body) {
  const WipingString text = body == nullptr ? WipingString() : body->dump();
  const std::string url =
      operation == "get"
          ? StrCat(options.endpoint, "/v1/", key_resource)
          : StrCat(options.endpoint, "/v1/", key_resource, ":", operation);
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
  absl::StatusOr<HttpResponse> sent = SendToGoogleApi(
      options.credentials.get(), *options.transport, options.retry,
      StrCat(kService, " ", operation), /*idempotent=*/true, build);
  if (!sent.ok()) {
    return {absl::Status(sent.status().code(),
                         StrCat(kService, " ", operation, ": ",
                                sent.status().message())),
            ""};
  }
  if (sent->status != 200) {
    return ErrorFromResponse(*sent, operation, key_resource);
  }
  SecretJson reply = ParseSecretJson(sent->BodyText());
  if (!reply.is_object()) {
    return {absl::UnavailableError(
                StrCat(kService, " ", operation,
                       " returned a reply that is not a JSON object; check the "
                       "endpoint ",
                       UrlOrigin(options.endpoint))),
            ""};
  }
  return {std::move(reply), ""};
}

// Runs `attempt` until it succeeds, fails for a reason other than
// integrity, or has failed the integrity checks kGcpKmsIntegrityAttempts
// times.
template <typename T, typename Attempt>
absl::StatusOr<T> WithIntegrityRetries(std::string_view operation,
                                       Attempt attempt) {
  std::string reason;
  for (int round = 1; round <= kGcpKmsIntegrityAttempts; ++round) {
    std::string failure;
    absl::StatusOr<T> result = attempt(failure);
    if (failure.empty()) {
      return result;
    }
    reason = std::move(failure);
    spdlog::warn("{} {}: integrity check failed on attempt {} of {}: {}",
                 kService, operation, round, kGcpKmsIntegrityAttempts, reason);
  }
  return absl::UnavailableError(StrCat(
      kService, " ", operation, " failed its CRC-32C integrity checks ",
      kGcpKmsIntegrityAttempts, " times; last: ", reason,
      ". Data is being corrupted between dekms and Cloud KMS; check proxies "
      "and network hardware on the way"));
}

absl::Status CheckCryptoKey(const SecretJson& key,
                            const std::string& key_resource,
                            std::string* protection_level) {
  const std::string name = StringField(key, "name");
  if (name != key_resource) {
    return absl::UnavailableError(StrCat(kService, " returned key ",
                                         Quote(name), " when asked for ",
                                         key_resource));
  }
  const std::string purpose = StringField(key, "purpose");
  if (purpose != "ENCRYPT_DECRYPT") {
    return absl::FailedPreconditionError(StrCat(
        "Cloud KMS key ", key_resource, " has purpose ",
        purpose.empty() ? "(none)" : purpose,
        "; dekms needs a symmetric key with purpose ENCRYPT_DECRYPT (gcloud "
        "kms keys create --purpose=encryption)"));
  }
  const auto primary = key.find("primary");
  if (primary == key.end() || !primary->is_object()) {
    return absl::FailedPreconditionError(
        StrCat("Cloud KMS key ", key_resource,
               " has no primary version; create one or set one as primary "
               "(gcloud kms keys set-primary-version)"));
  }
  const std::string state = StringField(*primary, "state");
  if (state != "ENABLED") {
    const std::string version = StringField(*primary, "name");
    return absl::FailedPreconditionError(StrCat(
        "the primary version ", version, " of Cloud KMS key ", key_resource,
        " is ", state.empty() ? "in no state" : state,
        ", not ENABLED; enable it (gcloud kms keys versions enable) or make "
        "an enabled version primary"));
  }
  *protection_level = StringField(*primary, "protectionLevel");
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateGcpKmsKeyName(const GcpKmsKekOptions& options) {
  const auto invalid = [](std::string_view parameter, std::string_view value,
                          std::string_view rule) {
    return absl::InvalidArgumentError(
        StrCat("kms://gcp: parameter ", Quote(parameter), " = ", Quote(value),
               " is not valid; it must be ", rule));
  };
  const std::string_view project = options.project_id;
  if (project.empty() || project.size() > 100 ||
      !AllOf(project, IsProjectChar) ||
      !absl::ascii_isalpha(static_cast<unsigned char>(project.front()))) {
    return invalid("projectID", project,
                   "a project ID such as my-project-123 (lowercase letters, "
                   "digits and hyphens)");
  }
  if (options.location.empty() || options.location.size() > 63 ||
      !AllOf(options.location, IsLowerAlnumOrDash)) {
    return invalid("location", options.location,
                   "a location such as global or us-east1");
  }
  if (options.key_ring.empty() || options.key_ring.size() > 63 ||
      !AllOf(options.key_ring, IsResourceIdChar)) {
    return invalid("keyRing", options.key_ring,
                   "1 to 63 letters, digits, underscores and hyphens");
  }
  if (options.key_name.empty() || options.key_name.size() > 63 ||
      !AllOf(options.key_name, IsResourceIdChar)) {
    return invalid("keyName", options.key_name,
                   "1 to 63 letters, digits, underscores and hyphens");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<GcpKmsKekProvider>> GcpKmsKekProvider::Create(
    GcpKmsKekOptions options) {
  DEKMS_RETURN_IF_ERROR(ValidateGcpKmsKeyName(options));
  if (options.credentials == nullptr || options.transport == nullptr) {
    return absl::InvalidArgumentError(
        "GcpKmsKekProvider needs credentials and a transport");
  }
  std::string key_resource =
      StrCat("projects/", options.project_id, "/locations/", options.location,
             "/keyRings/", options.key_ring, "/cryptoKeys/", options.key_name);
  auto provider = std::unique_ptr<GcpKmsKekProvider>(
      new GcpKmsKekProvider(std::move(options), std::move(key_resource), ""));
  DEKMS_RETURN_IF_ERROR(provider->Check());
  return provider;
}

GcpKmsKekProvider::GcpKmsKekProvider(GcpKmsKekOptions options,
                                     std::string key_resource,
                                     std::string protection_level)
    : options_(std::move(options)),
      key_resource_(std::move(key_resource)),
      protection_level_(std::move(protection_level)) {}

absl::Status GcpKmsKekProvider::Check() {
  CallResult result = CallKms(options_, key_resource_, "get", nullptr);
  if (!result.reply.ok()) {
    return result.reply.status();
  }
  std::string protection_level;
  DEKMS_RETURN_IF_ERROR(
      CheckCryptoKey(*result.reply, key_resource_, &protection_level));
  absl::MutexLock lock(&mu_);
  protection_level_ = std::move(protection_level);
  return absl::OkStatus();
}

absl::StatusOr<KekProvider::Wrapped> GcpKmsKekProvider::Wrap(
    const SecretBytes& plaintext, std::span<const uint8_t> associated_data) {
  if (plaintext.empty() || plaintext.size() > kGcpKmsMaxPlaintextBytes ||
      associated_data.size() > kGcpKmsMaxPlaintextBytes) {
    return absl::InvalidArgumentError(
        StrCat("Cloud KMS encrypt takes 1 to ", kGcpKmsMaxPlaintextBytes,
               " bytes, so kms://gcp cannot wrap a DEK of ", plaintext.size(),
               " bytes; request a shorter DEK"));
  }
  bool hsm = false;
  {
    absl::MutexLock lock(&mu_);
    hsm = protection_level_ == "HSM";
  }
  if (hsm && plaintext.size() + associated_data.size() > kGcpKmsMaxHsmBytes) {
    return absl::InvalidArgumentError(
        StrCat("Cloud KMS HSM keys take at most ", kGcpKmsMaxHsmBytes,
               " bytes of plaintext and associated data together, so ",
               key_resource_, " cannot wrap a DEK of ", plaintext.size(),
               " bytes; request a shorter DEK"));
  }
  SecretJson request = SecretJson::object();
  request["plaintext"] = Base64Of(plaintext.Reveal());
  request["plaintextCrc32c"] = DecimalOf(Crc32c(plaintext.Reveal()));
  if (!associated_data.empty()) {
    request["additionalAuthenticatedData"] = Base64Of(associated_data);
    request["additionalAuthenticatedDataCrc32c"] =
        DecimalOf(Crc32c(associated_data));
  }
  const std::string version_prefix =
      StrCat(key_resource_, "/cryptoKeyVersions/");

  return WithIntegrityRetries<Wrapped>(
      "encrypt", [&](std::string& failure) -> absl::StatusOr<Wrapped> {
        CallResult result =
            CallKms(options_, key_resource_, "encrypt", &request);
        failure = std::move(result.integrity_failure);
        if (!result.reply.ok()) {
          return result.reply.status();
        }
        const SecretJson& reply = *result.reply;
        if (!IsTrue(reply, "verifiedPlaintextCrc32c") ||
            (!associated_data.empty() &&
             !IsTrue(reply, "verifiedAdditionalAuthenticatedDataCrc32c"))) {
          failure =
              "the reply did not confirm the checksums of the plaintext and "
              "associated data";
          return absl::UnavailableError(failure);
        }
        const std::string encoded = StringField(reply, "ciphertext");
        absl::StatusOr<SecretBytes> ciphertext =
            DecodeBase64(encoded, Base64Alphabet::kStandard,
                         "ciphertext of the Cloud KMS encrypt reply");
        const std::optional<uint64_t> crc =
            GoogleUint64Field(reply, "ciphertextCrc32c");
        if (!ciphertext.ok() || ciphertext->empty() || !crc.has_value() ||
            *crc != Crc32c(ciphertext->Reveal())) {
          failure = "the ciphertext does not match its checksum";
          return absl::UnavailableError(failure);
        }
        const std::string name = StringField(reply, "name");
        const std::string_view version = std::string_view(name).substr(
            std::min(name.size(), version_prefix.size()));
        if (!name.starts_with(version_prefix) || version.empty() ||
            !AllOf(version, [](char c) {
              return absl::ascii_isdigit(static_cast<unsigned char>(c));
            })) {
          return absl::InternalError(
              StrCat("Cloud KMS encrypt used key version ", Quote(name),
                     ", which is not a version of ", key_resource_));
        }
        return Wrapped{std::string(RevealAsText(*ciphertext)),
                       std::string(version)};
      });
}

absl::StatusOr<SecretBytes> GcpKmsKekProvider::Unwrap(
    std::string_view ciphertext, std::string_view key_version,
    std::span<const uint8_t> associated_data) {
  SecretJson request = SecretJson::object();
  request["ciphertext"] = Base64Of(AsBytes(ciphertext));
  request["ciphertextCrc32c"] = DecimalOf(Crc32c(ciphertext));
  if (!associated_data.empty()) {
    request["additionalAuthenticatedData"] = Base64Of(associated_data);
    request["additionalAuthenticatedDataCrc32c"] =
        DecimalOf(Crc32c(associated_data));
  }
  absl::StatusOr<SecretBytes> plaintext = WithIntegrityRetries<SecretBytes>(
      "decrypt", [&](std::string& failure) -> absl::StatusOr<SecretBytes> {
        CallResult result =
            CallKms(options_, key_resource_, "decrypt", &request);
        failure = std::move(result.integrity_failure);
        if (!result.reply.ok()) {
          return result.reply.status();
        }
        const SecretJson& reply = *result.reply;
        const WipingString* encoded = FindString(reply, "plaintext");
        const std::optional<uint64_t> crc =
            GoogleUint64Field(reply, "plaintextCrc32c");
        if (encoded == nullptr || !crc.has_value()) {
          failure = "the reply has no plaintext or no plaintextCrc32c";
          return absl::UnavailableError(failure);
        }
        absl::StatusOr<SecretBytes> decoded =
            DecodeBase64(std::string_view(encoded->data(), encoded->size()),
                         Base64Alphabet::kStandard,
                         "plaintext of the Cloud KMS decrypt reply");
        if (!decoded.ok() || *crc != Crc32c(decoded->Reveal())) {
          failure = "the plaintext does not match its checksum";
          return absl::UnavailableError(failure);
        }
        return decoded;
      });
  const bool numeric_version =
      !key_version.empty() && key_version.size() <= 20 &&
      AllOf(key_version, [](char c) {
        return absl::ascii_isdigit(static_cast<unsigned char>(c));
      });
  if (!plaintext.ok() &&
      plaintext.status().code() == absl::StatusCode::kFailedPrecondition &&
      numeric_version) {
    return absl::FailedPreconditionError(
        StrCat(plaintext.status().message(),
               "; the blob was wrapped by "
               "version ",
               key_version, ", which must be enabled to unwrap"));
  }
  return plaintext;
}

}  // namespace dekms::internal
