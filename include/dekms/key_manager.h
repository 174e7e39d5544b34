#ifndef DEKMS_INCLUDE_DEKMS_KEY_MANAGER_H_
#define DEKMS_INCLUDE_DEKMS_KEY_MANAGER_H_

#include <cstddef>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "dekms/secret_bytes.h"

namespace dekms {

// Largest DEK a KeyManager hands out: HKDF-SHA256 emits at most 255 blocks
// of 32 bytes (RFC 5869, section 2.3).
inline constexpr size_t kMaxDekLengthBytes = 8160;

// Largest DEK ID, in bytes.
inline constexpr size_t kMaxDekIdBytes = 512;

// Source of data encryption keys (DEKs), addressed by ID.
//
// The same ID and length always yield the same bytes, for the life of the
// deployment and on every node configured alike. IDs are arbitrary byte
// strings compared byte for byte, so they are case-sensitive.
//
// Implementations are thread-safe.
class KeyManager {
 public:
  virtual ~KeyManager() = default;

  // Returns the DEK named `dek_id`, `length_bytes` long.
  //
  // Errors: kInvalidArgument when `dek_id` is empty or longer than
  // kMaxDekIdBytes, or `length_bytes` is 0 or above kMaxDekLengthBytes.
  // Backends add their own codes (kUnavailable, kPermissionDenied, kDataLoss,
  // ...). Error messages never contain key material.
  [[nodiscard]] virtual absl::StatusOr<SecretBytes> GetDek(
      std::string_view dek_id, size_t length_bytes) = 0;

  // Returns a short name of the backend for logs, such as "cluster-kms".
  [[nodiscard]] virtual std::string_view Kind() const = 0;
};

// Checks `dek_id` and `length_bytes` against the limits above. Returns
// kInvalidArgument with a message that names the value and the limit.
[[nodiscard]] absl::Status ValidateDekRequest(std::string_view dek_id,
                                              size_t length_bytes);

}  // namespace dekms

#endif  // DEKMS_INCLUDE_DEKMS_KEY_MANAGER_H_
