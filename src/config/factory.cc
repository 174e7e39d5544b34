// Builds KeyManager and Store objects from parsed URIs. This is the only
// place in dekms that names concrete backends.

#include <memory>
#include <type_traits>

#include "dekms/cluster_kms.h"
#include "dekms/config.h"
#include "src/base/str_cat.h"
#include "src/kek/local_kek_provider.h"
#include "src/kms/envelope_kms.h"
#include "src/storage/file_store.h"

namespace dekms {
namespace {

absl::Status NotBuiltYet(std::string_view uri_form, std::string_view backend) {
  return absl::UnimplementedError(
      StrCat(uri_form, " (", backend,
             ") is not built yet in this version of dekms; use "
             "kms://cluster-kms, or kms://local with storage://file"));
}

}  // namespace

absl::StatusOr<std::unique_ptr<KeyManager>> NewKeyManager(
    const KmsConfig& kms, const StorageConfig& storage,
    const KeyManagerOptions& options) {
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
  if (const auto* local = std::get_if<LocalKmsConfig>(&kms)) {
    if (std::holds_alternative<NoStoreConfig>(storage)) {
      return absl::InvalidArgumentError(
          "kms://local wraps random DEKs and needs a store for them; pass "
          "--storage-uri 'storage://file?path=DIR' (or storage://memory, "
          "which forgets every DEK when the process exits)");
    }
    auto kek = internal::LocalKekProvider::Create(local->key_file);
    if (!kek.ok()) {
      return kek.status();
    }
    if (absl::Status checked = (*kek)->Check(); !checked.ok()) {
      return checked;
    }
    auto store = NewStore(storage);
    if (!store.ok()) {
      return store.status();
    }
    internal::EnvelopeKmsOptions envelope_options;
    envelope_options.cache_ttl = options.cache_ttl;
    envelope_options.cache_max_entries = options.cache_max_entries;
    auto envelope = internal::EnvelopeKms::Create(
        std::move(kek).value(), std::move(store).value(), envelope_options);
    if (!envelope.ok()) {
      return envelope.status();
    }
    return std::unique_ptr<KeyManager>(std::move(envelope).value());
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
        } else if constexpr (std::is_same_v<T, GcsStoreConfig>) {
          return NotBuiltYet("storage://gcp", "Google Cloud Storage");
        } else {
          static_assert(std::is_same_v<T, FileStoreConfig>);
          auto store = internal::FileStore::Create(c.path);
          if (!store.ok()) {
            return store.status();
          }
          return std::unique_ptr<Store>(std::move(store).value());
        }
      },
      config);
}

}  // namespace dekms
