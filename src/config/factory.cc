// Builds KeyManager and Store objects from parsed URIs. This is the only
// place in dekms that names concrete backends.

#include <memory>
#include <type_traits>

#include "dekms/cluster_kms.h"
#include "dekms/config.h"
#include "src/base/status_macros.h"
#include "src/base/str_cat.h"
#include "src/config/aws_backends.h"
#include "src/config/azure_backends.h"
#include "src/config/gcp_backends.h"
#include "src/kek/local_kek_provider.h"
#include "src/kms/envelope_kms.h"
#include "src/storage/file_store.h"

namespace dekms {
namespace {

absl::Status RequireStore(const StorageConfig& storage, std::string_view kms) {
  if (std::holds_alternative<NoStoreConfig>(storage)) {
    return absl::InvalidArgumentError(StrCat(
        kms,
        " wraps random DEKs and needs a store for them; pass --storage-uri "
        "(or set $DEKMS_STORAGE_URI) with storage://aws?bucket=...&region=..., "
        "storage://gcp?projectID=...&bucket=..., "
        "storage://azure?account=...&container=... or storage://file?path=DIR "
        "(storage://memory forgets every DEK when the process exits)"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<KeyManager>> NewEnvelope(
    std::unique_ptr<KekProvider> kek, const StorageConfig& storage,
    const KeyManagerOptions& options) {
  DEKMS_ASSIGN_OR_RETURN(std::unique_ptr<Store> store, NewStore(storage));
  internal::EnvelopeKmsOptions envelope_options;
  envelope_options.cache_ttl = options.cache_ttl;
  envelope_options.cache_max_entries = options.cache_max_entries;
  DEKMS_ASSIGN_OR_RETURN(
      auto envelope, internal::EnvelopeKms::Create(
                         std::move(kek), std::move(store), envelope_options));
  return std::unique_ptr<KeyManager>(std::move(envelope));
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
    DEKMS_RETURN_IF_ERROR(RequireStore(storage, "kms://local"));
    DEKMS_ASSIGN_OR_RETURN(std::unique_ptr<internal::LocalKekProvider> kek,
                           internal::LocalKekProvider::Create(local->key_file));
    DEKMS_RETURN_IF_ERROR(kek->Check());
    return NewEnvelope(std::move(kek), storage, options);
  }
  if (const auto* aws = std::get_if<AwsKmsConfig>(&kms)) {
    DEKMS_RETURN_IF_ERROR(RequireStore(storage, "kms://aws"));
    DEKMS_ASSIGN_OR_RETURN(std::unique_ptr<KekProvider> kek,
                           internal::NewAwsKmsKek(*aws));
    return NewEnvelope(std::move(kek), storage, options);
  }
  if (const auto* gcp = std::get_if<GcpKmsConfig>(&kms)) {
    DEKMS_RETURN_IF_ERROR(RequireStore(storage, "kms://gcp"));
    DEKMS_ASSIGN_OR_RETURN(
        std::unique_ptr<KekProvider> kek,
        internal::NewGcpKmsKek(*gcp, internal::ProcessEnvironment()));
    return NewEnvelope(std::move(kek), storage, options);
  }
  const auto& azure = std::get<AzureKmsConfig>(kms);
  DEKMS_RETURN_IF_ERROR(RequireStore(storage, "kms://azure"));
  DEKMS_ASSIGN_OR_RETURN(
      std::unique_ptr<KekProvider> kek,
      internal::NewAzureKeyVaultKek(azure, internal::ProcessEnvironment()));
  return NewEnvelope(std::move(kek), storage, options);
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
          return internal::NewS3Store(c);
        } else if constexpr (std::is_same_v<T, AzureBlobStoreConfig>) {
          return internal::NewAzureBlobStore(c, internal::ProcessEnvironment());
        } else if constexpr (std::is_same_v<T, GcsStoreConfig>) {
          return internal::NewGcsStore(c, internal::ProcessEnvironment());
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
