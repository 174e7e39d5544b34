#ifndef DEKMS_INCLUDE_DEKMS_KEK_PROVIDER_H_
#define DEKMS_INCLUDE_DEKMS_KEK_PROVIDER_H_

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "dekms/secret_bytes.h"

namespace dekms {

// A key-encryption key (KEK) that wraps and unwraps DEKs. The KEK itself
// stays with the provider: in a KMS or HSM, or in a local key file.
//
// Implementations are thread-safe.
class KekProvider {
 public:
  // Output of Wrap().
  struct Wrapped {
    std::string ciphertext;
    // Version of the KEK that wrapped, where the KMS reports one; empty
    // otherwise. Passed back to Unwrap().
    std::string key_version;
  };

  virtual ~KekProvider() = default;

  // Returns the provider name recorded in blobs, such as "local".
  [[nodiscard]] virtual std::string_view Kind() const = 0;

  // Returns the identifier of the KEK recorded in blobs, such as a key ARN
  // or, for a local key file, a fingerprint. Never secret.
  [[nodiscard]] virtual const std::string& KeyId() const = 0;

  // Returns whether Wrap() and Unwrap() authenticate `associated_data`. When
  // a provider cannot, the envelope adds a local AEAD layer that does.
  [[nodiscard]] virtual bool BindsAssociatedData() const = 0;

  // Encrypts `plaintext` under the KEK, bound to `associated_data` when
  // BindsAssociatedData() is true.
  [[nodiscard]] virtual absl::StatusOr<Wrapped> Wrap(
      const SecretBytes& plaintext,
      std::span<const uint8_t> associated_data) = 0;

  // Reverses Wrap(). Fails with kDataLoss, returning nothing, when the
  // ciphertext or associated data was altered.
  [[nodiscard]] virtual absl::StatusOr<SecretBytes> Unwrap(
      std::string_view ciphertext, std::string_view key_version,
      std::span<const uint8_t> associated_data) = 0;

  // Proves at start-up that the KEK exists and may be used for wrapping and
  // unwrapping.
  [[nodiscard]] virtual absl::Status Check() = 0;
};

}  // namespace dekms

#endif  // DEKMS_INCLUDE_DEKMS_KEK_PROVIDER_H_
