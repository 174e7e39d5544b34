#ifndef DEKMS_SRC_CONFIG_AZURE_BACKENDS_H_
#define DEKMS_SRC_CONFIG_AZURE_BACKENDS_H_

#include <memory>

#include "absl/status/statusor.h"
#include "dekms/config.h"
#include "dekms/kek_provider.h"
#include "dekms/store.h"
#include "src/cloud/environment.h"

namespace dekms::internal {

// Builds the Key Vault or Managed HSM KEK provider for `config`. Credentials
// come from the URI's client secret, or else from the Azure SDKs' search
// (see NewAzureCredential). The key is read and checked before this returns.
[[nodiscard]] absl::StatusOr<std::unique_ptr<KekProvider>> NewAzureKeyVaultKek(
    const AzureKmsConfig& config, const GetEnvFunction& getenv);

// Builds the Blob Storage store for `config`, signing with the URI's
// sharedKey when it has one, and creating the container when it is
// missing.
[[nodiscard]] absl::StatusOr<std::unique_ptr<Store>> NewAzureBlobStore(
    const AzureBlobStoreConfig& config, const GetEnvFunction& getenv);

}  // namespace dekms::internal

#endif  // DEKMS_SRC_CONFIG_AZURE_BACKENDS_H_
