#ifndef DEKMS_SRC_CRYPTO_CRC32C_H_
#define DEKMS_SRC_CRYPTO_CRC32C_H_

#include <cstdint>
#include <span>
#include <string_view>

namespace dekms::internal {

// CRC-32C (Castagnoli): reflected polynomial 0x82F63B78, initial value and
// final XOR 0xFFFFFFFF. Google Cloud KMS and Cloud Storage use it to detect
// corruption in transit. It is a checksum, not a MAC: it proves nothing
// against an attacker, so callers use it only next to authenticated data.
[[nodiscard]] uint32_t Crc32c(std::span<const uint8_t> data);

// Continues a checksum: Crc32cExtend(Crc32c(a), b) == Crc32c(a + b).
[[nodiscard]] uint32_t Crc32cExtend(uint32_t crc,
                                    std::span<const uint8_t> data);

inline uint32_t Crc32c(std::string_view data) {
  return Crc32c({reinterpret_cast<const uint8_t*>(data.data()), data.size()});
}

}  // namespace dekms::internal

#endif  // DEKMS_SRC_CRYPTO_CRC32C_H_
