#include "dekms/cluster_kms.h"

#include <span>

#include "src/base/status_macros.h"
#include "src/base/str_cat.h"
#include "src/crypto/hkdf.h"

namespace dekms {

static_assert(kMaxDekLengthBytes == internal::kHkdfSha256MaxOutputBytes);

absl::StatusOr<std::unique_ptr<ClusterKms>> ClusterKms::Create(
    const SecretBytes& master_secret, const SecretBytes& salt) {
  if (master_secret.size() < kMinMasterSecretBytes) {
    return absl::InvalidArgumentError(
        StrCat("master secret is ", master_secret.size(),
               " bytes long; it must be at least ", kMinMasterSecretBytes,
               " bytes (generate one with `dekms secret generate`)"));
  }
  if (salt.empty()) {
    return absl::InvalidArgumentError(
        "salt is 0 bytes long; it must not be empty (32 random bytes is the "
        "default of `dekms secret generate`)");
  }
  DEKMS_ASSIGN_OR_RETURN(
      internal::HkdfSha256 hkdf,
      internal::HkdfSha256::Create(master_secret.Reveal(), salt.Reveal()));
  return std::unique_ptr<ClusterKms>(
      new ClusterKms(std::make_unique<internal::HkdfSha256>(std::move(hkdf))));
}

ClusterKms::ClusterKms(std::unique_ptr<internal::HkdfSha256> hkdf)
    : hkdf_(std::move(hkdf)) {}

ClusterKms::~ClusterKms() = default;

absl::StatusOr<SecretBytes> ClusterKms::GetDek(std::string_view dek_id,
                                               size_t length_bytes) {
  DEKMS_RETURN_IF_ERROR(ValidateDekRequest(dek_id, length_bytes));

  SecretBytes dek(length_bytes);
  const std::span<const uint8_t> info(
      reinterpret_cast<const uint8_t*>(dek_id.data()), dek_id.size());
  DEKMS_RETURN_IF_ERROR(hkdf_->Expand(info, dek.Reveal()));
  return dek;
}

}  // namespace dekms
