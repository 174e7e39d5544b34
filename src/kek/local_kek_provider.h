#ifndef DEKMS_SRC_KEK_LOCAL_KEK_PROVIDER_H_
#define DEKMS_SRC_KEK_LOCAL_KEK_PROVIDER_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "dekms/kek_provider.h"

namespace dekms::internal {

// Size of a local KEK file: one raw AES-256 key.
inline constexpr size_t kLocalKekBytes = 32;

// KEK provider for kms://local?keyFile=PATH: AES-256-GCM under a 32-byte key
// read from a file. The key id recorded in blobs is a fingerprint of the key
// ("sha256:" and the first 16 bytes of SHA-256 over a fixed label and the
// key, in hex), which distinguishes key files without revealing the key.
class LocalKekProvider final : public KekProvider {
 public:
  // Loads the key file at `path`. Fails with kInvalidArgument when it is not
  // a regular file of exactly 32 bytes, or when group or others may read or
  // write it (the fix is `chmod 600`), and with kNotFound when it is absent.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<LocalKekProvider>> Create(
      const std::string& path);

  std::string_view Kind() const override { return "local"; }
  const std::string& KeyId() const override { return key_id_; }
  bool BindsAssociatedData() const override { return true; }

  absl::StatusOr<Wrapped> Wrap(
      const SecretBytes& plaintext,
      std::span<const uint8_t> associated_data) override;
  absl::StatusOr<SecretBytes> Unwrap(
      std::string_view ciphertext, std::string_view key_version,
      std::span<const uint8_t> associated_data) override;
  absl::Status Check() override;

 private:
  LocalKekProvider(SecretBytes key, std::string key_id, std::string path);

  const SecretBytes key_;
  const std::string key_id_;
  const std::string path_;
};

// Writes a new random 32-byte KEK to `path` with mode 0600. Fails with
// kAlreadyExists, leaving the file alone, when `path` exists.
[[nodiscard]] absl::Status GenerateLocalKekFile(const std::string& path);

}  // namespace dekms::internal

#endif  // DEKMS_SRC_KEK_LOCAL_KEK_PROVIDER_H_
