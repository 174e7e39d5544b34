#ifndef DEKMS_SRC_CRYPTO_AEAD_H_
#define DEKMS_SRC_CRYPTO_AEAD_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "dekms/secret_bytes.h"

namespace dekms::internal {

inline constexpr size_t kAes256GcmKeyBytes = 32;
inline constexpr size_t kAesGcmNonceBytes = 12;
inline constexpr size_t kAesGcmTagBytes = 16;

// Encrypts `plaintext` with AES-256-GCM under `key`, authenticating
// `associated_data` too, with a fresh random 96-bit nonce. Returns
// nonce | ciphertext | tag. Fails with kInvalidArgument when `key` is not 32
// bytes, and kInternal when OpenSSL fails.
[[nodiscard]] absl::StatusOr<std::string> Aes256GcmSeal(
    std::span<const uint8_t> key, std::span<const uint8_t> plaintext,
    std::span<const uint8_t> associated_data);

// Decrypts the output of Aes256GcmSeal(). Fails with kDataLoss, and returns
// no plaintext, when `sealed` is shorter than a nonce and tag or does not
// authenticate under `key` and `associated_data`.
[[nodiscard]] absl::StatusOr<SecretBytes> Aes256GcmOpen(
    std::span<const uint8_t> key, std::string_view sealed,
    std::span<const uint8_t> associated_data);

// Returns the SHA-256 digest of `data`.
[[nodiscard]] std::array<uint8_t, 32> Sha256(std::span<const uint8_t> data);

// Views the bytes of `text` as a byte span.
[[nodiscard]] inline std::span<const uint8_t> AsBytes(std::string_view text) {
  return {reinterpret_cast<const uint8_t*>(text.data()), text.size()};
}

}  // namespace dekms::internal

#endif  // DEKMS_SRC_CRYPTO_AEAD_H_
