#include "src/cli/master_secret_file.h"

#include <nlohmann/json.hpp>

#include "src/base/files.h"
#include "src/base/status_macros.h"
#include "src/base/str_cat.h"
#include "src/crypto/encoding.h"
#include "src/crypto/random.h"
#include "src/crypto/secret_text.h"

namespace dekms::internal {
namespace {

// A master secret file is a few hundred bytes; anything much larger is the
// wrong file.
constexpr size_t kMaxMasterSecretFileBytes = size_t{64} * 1024;

absl::StatusOr<SecretBytes> TakeBase64Field(nlohmann::json& json,
                                            std::string_view field,
                                            const std::string& path) {
  auto it = json.find(field);
  if (it == json.end() || !it->is_string()) {
    return absl::InvalidArgumentError(
        StrCat(path, " is not a master secret file: it has no string field \"",
               field, "\""));
  }
  std::string& text = it->get_ref<std::string&>();
  absl::StatusOr<SecretBytes> decoded =
      DecodeBase64(text, Base64Alphabet::kStandard,
                   StrCat("field \"", field, "\" of ", path));
  WipeString(text);
  return decoded;
}

}  // namespace

absl::StatusOr<ClusterKmsConfig> GenerateMasterSecret() {
  ClusterKmsConfig secret;
  DEKMS_ASSIGN_OR_RETURN(secret.master_secret,
                         RandomSecretBytes(kGeneratedMasterSecretBytes));
  DEKMS_ASSIGN_OR_RETURN(secret.salt, RandomSecretBytes(kGeneratedSaltBytes));
  return secret;
}

absl::Status WriteMasterSecretFile(const std::string& path,
                                   const ClusterKmsConfig& secret) {
  const SecretBytes key =
      EncodeBase64(secret.master_secret.Reveal(), Base64Alphabet::kStandard);
  const SecretBytes salt =
      EncodeBase64(secret.salt.Reveal(), Base64Alphabet::kStandard);
  SecretTextBuilder text;
  text.Append("{\"key\":\"");
  text.Append(RevealAsText(key));
  text.Append("\",\"salt\":\"");
  text.Append(RevealAsText(salt));
  text.Append("\"}\n");
  const SecretBytes contents = std::move(text).Finish();
  return CreateFileAtomically(path, contents.Reveal(), 0600);
}

absl::StatusOr<ClusterKmsConfig> ReadMasterSecretFile(const std::string& path) {
  DEKMS_ASSIGN_OR_RETURN(SecretBytes contents,
                         ReadFileToSecret(path, kMaxMasterSecretFileBytes));
  const std::string_view text = RevealAsText(contents);

  // The parse error of nlohmann-json quotes the input near the error, which
  // may be key material, so only its byte offset is reported.
  nlohmann::json json;
  try {
    json = nlohmann::json::parse(text.begin(), text.end());
  } catch (const nlohmann::json::parse_error& error) {
    return absl::InvalidArgumentError(
        StrCat(path, " is not a master secret file: invalid JSON near byte ",
               error.byte));
  }
  if (!json.is_object()) {
    return absl::InvalidArgumentError(
        StrCat(path,
               " is not a master secret file: expected a JSON object with "
               "\"key\" and \"salt\""));
  }

  ClusterKmsConfig secret;
  absl::StatusOr<SecretBytes> key = TakeBase64Field(json, "key", path);
  absl::StatusOr<SecretBytes> salt = TakeBase64Field(json, "salt", path);
  DEKMS_RETURN_IF_ERROR(key.status());
  DEKMS_RETURN_IF_ERROR(salt.status());
  secret.master_secret = std::move(key).value();
  secret.salt = std::move(salt).value();
  return secret;
}

}  // namespace dekms::internal
