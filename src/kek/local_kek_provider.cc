#include "src/kek/local_kek_provider.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>

#include "absl/strings/str_format.h"
#include "src/base/files.h"
#include "src/base/status_macros.h"
#include "src/base/str_cat.h"
#include "src/crypto/aead.h"
#include "src/crypto/encoding.h"
#include "src/crypto/random.h"

namespace dekms::internal {
namespace {

// Label hashed before the key, so the fingerprint cannot be mistaken for a
// plain SHA-256 of the key used anywhere else.
constexpr std::string_view kFingerprintLabel = "dekms local KEK fingerprint v1";
constexpr size_t kFingerprintBytes = 16;

std::string Fingerprint(const SecretBytes& key) {
  SecretBytes input(kFingerprintLabel.size() + key.size());
  std::copy(kFingerprintLabel.begin(), kFingerprintLabel.end(),
            input.Reveal().begin());
  std::copy(
      key.Reveal().begin(), key.Reveal().end(),
      input.Reveal().begin() + static_cast<long>(kFingerprintLabel.size()));
  const auto digest = Sha256(input.Reveal());
  const SecretBytes hex =
      EncodeHex(std::span<const uint8_t>(digest).first(kFingerprintBytes));
  return StrCat("sha256:", RevealAsText(hex));
}

}  // namespace

absl::StatusOr<std::unique_ptr<LocalKekProvider>> LocalKekProvider::Create(
    const std::string& path) {
  struct stat info {};
  if (::stat(path.c_str(), &info) != 0) {
    return ErrnoToStatus(errno, "read KEK file", path);
  }
  if (!S_ISREG(info.st_mode)) {
    return absl::InvalidArgumentError(
        StrCat("KEK file ", path, " is not a regular file"));
  }
  if ((info.st_mode & 077) != 0) {
    return absl::InvalidArgumentError(StrCat(
        "KEK file ", path, " may be read or written by group or others (mode ",
        absl::StrFormat("%04o", info.st_mode & 07777), "); run chmod 600 ",
        path));
  }
  DEKMS_ASSIGN_OR_RETURN(SecretBytes key,
                         ReadFileToSecret(path, kLocalKekBytes + 1));
  if (key.size() != kLocalKekBytes) {
    return absl::InvalidArgumentError(StrCat(
        "KEK file ", path, " is ", key.size(), " bytes long; it must hold ",
        kLocalKekBytes, " raw bytes (create one with `dekms kek generate`)"));
  }
  std::string key_id = Fingerprint(key);
  return std::unique_ptr<LocalKekProvider>(
      new LocalKekProvider(std::move(key), std::move(key_id), path));
}

LocalKekProvider::LocalKekProvider(SecretBytes key, std::string key_id,
                                   std::string path)
    : key_(std::move(key)),
      key_id_(std::move(key_id)),
      path_(std::move(path)) {}

absl::StatusOr<KekProvider::Wrapped> LocalKekProvider::Wrap(
    const SecretBytes& plaintext, std::span<const uint8_t> associated_data) {
  DEKMS_ASSIGN_OR_RETURN(
      std::string ciphertext,
      Aes256GcmSeal(key_.Reveal(), plaintext.Reveal(), associated_data));
  return Wrapped{.ciphertext = std::move(ciphertext), .key_version = ""};
}

absl::StatusOr<SecretBytes> LocalKekProvider::Unwrap(
    std::string_view ciphertext, std::string_view /*key_version*/,
    std::span<const uint8_t> associated_data) {
  return Aes256GcmOpen(key_.Reveal(), ciphertext, associated_data);
}

absl::Status LocalKekProvider::Check() {
  // A wrap and unwrap of a throwaway value proves the key works.
  DEKMS_ASSIGN_OR_RETURN(SecretBytes probe, RandomSecretBytes(kLocalKekBytes));
  const std::string_view label = "dekms start-up check";
  DEKMS_ASSIGN_OR_RETURN(Wrapped wrapped, Wrap(probe, AsBytes(label)));
  DEKMS_ASSIGN_OR_RETURN(SecretBytes unwrapped,
                         Unwrap(wrapped.ciphertext, "", AsBytes(label)));
  if (!unwrapped.Equals(probe)) {
    return absl::InternalError(
        StrCat("KEK file ", path_, " failed the start-up wrap check"));
  }
  return absl::OkStatus();
}

absl::Status GenerateLocalKekFile(const std::string& path) {
  DEKMS_ASSIGN_OR_RETURN(SecretBytes key, RandomSecretBytes(kLocalKekBytes));
  absl::Status written = CreateFileAtomically(path, key.Reveal(), 0600);
  if (written.code() == absl::StatusCode::kAlreadyExists) {
    return absl::AlreadyExistsError(
        StrCat(path,
               " already exists; dekms never overwrites a KEK, so move the "
               "file away or choose another --out"));
  }
  return written;
}

}  // namespace dekms::internal
