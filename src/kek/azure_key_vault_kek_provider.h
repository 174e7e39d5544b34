#ifndef DEKMS_SRC_KEK_AZURE_KEY_VAULT_KEK_PROVIDER_H_
#define DEKMS_SRC_KEK_AZURE_KEY_VAULT_KEK_PROVIDER_H_

#include <memory>
#include <string>
#include <string_view>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "dekms/kek_provider.h"
#include "src/cloud/azure/credentials.h"
#include "src/cloud/http.h"
#include "src/cloud/retry.h"

namespace dekms::internal {

// Data-plane API version of every Key Vault call; Key Vault, Managed HSM
// and the lowkey-vault emulator all accept it.
inline constexpr std::string_view kAzureKeyVaultApiVersion = "7.4";

// The cloud that a vaultType (a DNS suffix) belongs to.
struct AzureVaultCloud {
  std::string_view vault_type;
  // Entra ID scope of tokens for the vault.
  std::string_view scope;
  // Entra ID authority of that cloud.
  std::string_view authority;
  bool managed_hsm;
};

// Returns the cloud of `vault_type`, or kInvalidArgument listing the
// accepted types: vault.azure.net, vault.azure.cn, vault.usgovcloudapi.net,
// vault.microsoftazure.de and managedhsm.azure.net.
[[nodiscard]] absl::StatusOr<AzureVaultCloud> AzureVaultCloudOf(
    std::string_view vault_type);

struct AzureKeyVaultKekOptions {
  std::string vault_name;
  std::string vault_type;
  std::string key_name;
  // Base URL of the vault; empty means "https://<vault_name>.<vault_type>".
  std::string endpoint;
  std::shared_ptr<AzureTokenCredential> credentials;
  std::shared_ptr<HttpTransport> transport;
  RetryPolicy retry;
};

// KEK provider for kms://azure: a key in Azure Key Vault or Managed HSM,
// called over the Key Vault REST API with Entra ID tokens.
//
// Wrap is wrapkey on a pinned key version: the version that was current at
// the last Check(). The blob records that version, and Unwrap calls
// unwrapkey on exactly it, so rotating the key never breaks old blobs. RSA
// keys use RSA-OAEP-256; Managed HSM AES keys (oct-HSM) use AES key wrap
// with padding (CKM_AES_KEY_WRAP_PAD). Neither binds associated data, so
// the envelope adds its local AEAD layer and only a one-time key reaches
// the vault.
class AzureKeyVaultKekProvider final : public KekProvider {
 public:
  // Reads the key and checks it (see Check()).
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<AzureKeyVaultKekProvider>>
  Create(AzureKeyVaultKekOptions options);

  std::string_view Kind() const override { return "azure-key-vault"; }
  // "https://<vault>.<vault type>/keys/<key>", without a version, also when
  // an endpoint override points elsewhere.
  const std::string& KeyId() const override { return key_id_; }
  bool BindsAssociatedData() const override { return false; }

  absl::StatusOr<Wrapped> Wrap(
      const SecretBytes& plaintext,
      std::span<const uint8_t> associated_data) override;
  absl::StatusOr<SecretBytes> Unwrap(
      std::string_view ciphertext, std::string_view key_version,
      std::span<const uint8_t> associated_data) override;

  // Gets the current key version and fails with kFailedPrecondition when
  // the key is missing, disabled, expired or not yet valid, lacks the
  // wrapKey or unwrapKey operation, or is of a type that cannot wrap. On
  // success, new DEKs are wrapped with that version.
  absl::Status Check() override;

 private:
  AzureKeyVaultKekProvider(AzureKeyVaultKekOptions options,
                           AzureVaultCloud cloud, std::string key_id);

  const AzureKeyVaultKekOptions options_;
  const AzureVaultCloud cloud_;
  const std::string key_id_;
  absl::Mutex mu_;
  // The version Wrap uses, and the wrap algorithm for the key's type.
  std::string version_ ABSL_GUARDED_BY(mu_);
  std::string algorithm_ ABSL_GUARDED_BY(mu_);
};

}  // namespace dekms::internal

#endif  // DEKMS_SRC_KEK_AZURE_KEY_VAULT_KEK_PROVIDER_H_
