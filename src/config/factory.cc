// Builds KeyManager and Store objects from parsed URIs. This is the only
// place in dekms that names concrete backends.

#include <memory>
#include <type_traits>

#include "dekms/cluster_kms.h"
#include "dekms/config.h"
#include "src/base/str_cat.h"

namespace dekms {
namespace {

absl::Status NotBuiltYet(std::string_view uri_form, std::string_view backend) {
  return absl::UnimplementedError(StrCat(
      uri_form, " (", backend,
      ") is not built yet in this version of dekms; use kms://cluster-kms "
      "with storage://no-store"));
}

}  // namespace

absl::StatusOr<std::unique_ptr<KeyManager>> NewKeyManager(
    const KmsConfig& kms, const StorageConfig& storage) {
  if (const auto* cluster = std::get_if<ClusterKmsConfig>(&kms)) {
    if (!std::holds_alternative<NoStoreConfig>(storage)) {
      return absl::InvalidArgumentError(StrCat(
          "kms://cluster-kms derives every DEK and stores nothing, so it "
          "takes storage://no-store, not ",
          RedactedStorageUri(storage),
          "; leave the storage URI out or set it to storage://no-store"));
    }
    auto created = ClusterKms::Create(cluster->master_secret, cluster->salt);
    if (!created.ok()) {
      return created.status();
    }
    return std::unique_ptr<KeyManager>(std::move(created).value());
  }
  if (std::holds_alternative<AwsKmsConfig>(kms)) {
    return NotBuiltYet("kms://aws", "AWS KMS");
  }
  if (std::holds_alternative<AzureKmsConfig>(kms)) {
    return NotBuiltYet("kms://azure", "Azure Key Vault and Managed HSM");
  }
  return NotBuiltYet("kms://gcp", "Google Cloud KMS");
}

absl::StatusOr<std::unique_ptr<Store>> NewStore(const StorageConfig& config) {
  return std::visit(
      [](const auto& c) -> absl::StatusOr<std::unique_ptr<Store>> {
        using T = std::decay_t<decltype(c)>;
        if constexpr (std::is_same_v<T, NoStoreConfig>) {
          return absl::InvalidArgumentError(
              "storage://no-store has no store to build; choose a store such "
              "as storage://memory");
        } else if constexpr (std::is_same_v<T, MemoryStoreConfig>) {
          return NewMemoryStore();
        } else if constexpr (std::is_same_v<T, AwsS3StoreConfig>) {
          return NotBuiltYet("storage://aws", "Amazon S3");
        } else if constexpr (std::is_same_v<T, AzureBlobStoreConfig>) {
          return NotBuiltYet("storage://azure", "Azure Blob Storage");
        } else {
          static_assert(std::is_same_v<T, GcsStoreConfig>);
          return NotBuiltYet("storage://gcp", "Google Cloud Storage");
        }
      },
      config);
}

}  // namespace dekms
