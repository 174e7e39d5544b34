#ifndef DEKMS_SRC_CRYPTO_HKDF_H_
#define DEKMS_SRC_CRYPTO_HKDF_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "dekms/secret_bytes.h"

namespace dekms::internal {

inline constexpr size_t kSha256DigestBytes = 32;

// HKDF-Expand emits at most 255 hash-length blocks (RFC 5869, section 2.3),
// which is 8160 bytes for SHA-256.
inline constexpr size_t kHkdfSha256MaxOutputBytes = 255 * kSha256DigestBytes;

struct HmacSha256State;

// HKDF-SHA256 (RFC 5869) with the extract step done once.
//
// Create() runs HKDF-Extract on the input keying material and salt, and keeps
// the HMAC-SHA256 state keyed with the resulting pseudorandom key (PRK).
// Expand() starts from copies of that state, so a 32-byte output for an
// `info` of at most 54 bytes costs two SHA-256 compressions. It allocates
// nothing on the heap.
//
// The output equals HKDF-SHA256(ikm, salt, info, L) of RFC 5869 for every
// input, and is byte-identical to Go's golang.org/x/crypto/hkdf, which
// Constellation uses.
//
// Move-only. The keyed state is secret and is wiped on destruction.
// Thread-safe: Expand() may be called concurrently.
class HkdfSha256 {
 public:
  // Runs HKDF-Extract. `salt` may be empty, which RFC 5869 treats as 32 zero
  // bytes. The current implementation always returns OK; the StatusOr keeps
  // the signature stable for an implementation that can fail.
  [[nodiscard]] static absl::StatusOr<HkdfSha256> Create(
      std::span<const uint8_t> ikm, std::span<const uint8_t> salt);

  HkdfSha256(HkdfSha256&&) noexcept;
  HkdfSha256& operator=(HkdfSha256&&) noexcept;
  ~HkdfSha256();

  // Writes HKDF-Expand(PRK, `info`, out.size()) to `out`. Fails with
  // kInvalidArgument when `out` is empty or longer than
  // kHkdfSha256MaxOutputBytes; `out` is then left untouched.
  [[nodiscard]] absl::Status Expand(std::span<const uint8_t> info,
                                    std::span<uint8_t> out) const;

 private:
  explicit HkdfSha256(std::unique_ptr<HmacSha256State> prk_state);

  std::unique_ptr<HmacSha256State> prk_state_;
};

// Computes HKDF-SHA256 in one call through OpenSSL 3's EVP_KDF "HKDF". It is
// an independent implementation, kept as the reference for tests and
// benchmarks. `ikm` must not be empty, because OpenSSL rejects an empty key,
// and `info` is limited to 1024 bytes by OpenSSL 3.0.
[[nodiscard]] absl::StatusOr<SecretBytes> HkdfSha256WithEvpKdf(
    std::span<const uint8_t> ikm, std::span<const uint8_t> salt,
    std::span<const uint8_t> info, size_t length_bytes);

}  // namespace dekms::internal

#endif  // DEKMS_SRC_CRYPTO_HKDF_H_
