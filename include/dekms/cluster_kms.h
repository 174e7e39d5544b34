#ifndef DEKMS_INCLUDE_DEKMS_CLUSTER_KMS_H_
#define DEKMS_INCLUDE_DEKMS_CLUSTER_KMS_H_

#include <cstddef>
#include <memory>
#include <string_view>

#include "absl/status/statusor.h"
#include "dekms/key_manager.h"
#include "dekms/secret_bytes.h"

namespace dekms {
namespace internal {
class HkdfSha256;
}  // namespace internal

// KeyManager that derives every DEK from a master secret and salt, storing
// nothing:
//
//   DEK = HKDF-SHA256(IKM = master secret, salt, info = DEK ID, L = length)
//
// This is the derivation of Constellation's cluster KMS, byte for byte, so a
// Constellation master secret yields the same DEKs here. Constellation's key
// service prefixes IDs with "key-" before deriving. This class adds no
// prefix, so the gRPC key service in dekms adds it itself.
//
// HKDF-Extract runs once in Create(); each GetDek() runs only HKDF-Expand.
// Thread-safe. Not copyable or movable; hold it by pointer.
class ClusterKms final : public KeyManager {
 public:
  // Shortest master secret accepted, as in Constellation's key service.
  static constexpr size_t kMinMasterSecretBytes = 16;

  // Builds the KMS from copies of `master_secret` and `salt`. Fails with
  // kInvalidArgument when the master secret is shorter than
  // kMinMasterSecretBytes or the salt is empty.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<ClusterKms>> Create(
      const SecretBytes& master_secret, const SecretBytes& salt);

  ClusterKms(const ClusterKms&) = delete;
  ClusterKms& operator=(const ClusterKms&) = delete;
  ~ClusterKms() override;

  // Derives the DEK. Fails only with kInvalidArgument, for an ID or length
  // outside the limits in key_manager.h; the check runs before any memory is
  // allocated.
  [[nodiscard]] absl::StatusOr<SecretBytes> GetDek(
      std::string_view dek_id, size_t length_bytes) override;

  [[nodiscard]] std::string_view Kind() const override { return "cluster-kms"; }

 private:
  explicit ClusterKms(std::unique_ptr<internal::HkdfSha256> hkdf);

  std::unique_ptr<internal::HkdfSha256> hkdf_;
};

}  // namespace dekms

#endif  // DEKMS_INCLUDE_DEKMS_CLUSTER_KMS_H_
