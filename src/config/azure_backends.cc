#include "src/config/azure_backends.h"

#include <memory>
#include <string>
#include <utility>

#include "spdlog/spdlog.h"
#include "src/base/status_macros.h"
#include "src/base/str_cat.h"
#include "src/cloud/azure/credentials.h"
#include "src/cloud/http.h"
#include "src/cloud/oauth.h"
#include "src/crypto/encoding.h"
#include "src/kek/azure_key_vault_kek_provider.h"
#include "src/storage/azure_blob_store.h"

namespace dekms::internal {
namespace {

// Keeps the transport that a credential sends token requests through
// alive for as long as the credential.
class TransportOwningCredential final : public AzureTokenCredential {
 public:
  TransportOwningCredential(std::shared_ptr<HttpTransport> transport,
                            std::unique_ptr<AzureTokenCredential> inner)
      : transport_(std::move(transport)), inner_(std::move(inner)) {}

  absl::StatusOr<AccessToken> GetToken(std::string_view scope) override {
    return inner_->GetToken(scope);
  }
  void Invalidate(std::string_view scope) override {
    inner_->Invalidate(scope);
  }
  std::string Describe() const override { return inner_->Describe(); }

 private:
  std::shared_ptr<HttpTransport> transport_;
  std::unique_ptr<AzureTokenCredential> inner_;
};

absl::StatusOr<std::shared_ptr<AzureTokenCredential>> NewCredential(
    const std::string& tenant_id, const std::string& client_id,
    const SecretBytes& client_secret, std::string_view authority,
    std::shared_ptr<HttpTransport> transport, const GetEnvFunction& getenv) {
  AzureCredentialOptions options;
  options.tenant_id = tenant_id;
  options.client_id = client_id;
  options.client_secret = client_secret.Clone();
  options.default_authority = std::string(authority);
  options.getenv = getenv;
  options.transport = transport.get();
  DEKMS_ASSIGN_OR_RETURN(std::unique_ptr<AzureTokenCredential> credential,
                         NewAzureCredential(std::move(options)));
  return std::shared_ptr<AzureTokenCredential>(
      std::make_shared<TransportOwningCredential>(std::move(transport),
                                                  std::move(credential)));
}

std::string TrimSlashes(std::string url) {
  while (url.ends_with('/')) {
    url.pop_back();
  }
  return url;
}

}  // namespace

absl::StatusOr<std::unique_ptr<KekProvider>> NewAzureKeyVaultKek(
    const AzureKmsConfig& config, const GetEnvFunction& getenv) {
  DEKMS_ASSIGN_OR_RETURN(const AzureVaultCloud cloud,
                         AzureVaultCloudOf(config.vault_type));
  AzureKeyVaultKekOptions options;
  options.vault_name = config.vault_name;
  options.vault_type = config.vault_type;
  options.key_name = config.key_name;
  options.endpoint = TrimSlashes(config.endpoint);
  if (!options.endpoint.empty()) {
    // Requests there carry bearer tokens.
    DEKMS_RETURN_IF_ERROR(ValidateCredentialUrl(
        options.endpoint, "parameter \"endpoint\" of kms://azure URI"));
  }
  options.transport = NewCurlTransport(CurlTransportOptions());
  DEKMS_ASSIGN_OR_RETURN(
      options.credentials,
      NewCredential(config.tenant_id, config.client_id, config.client_secret,
                    cloud.authority, options.transport, getenv));
  spdlog::info("Azure {}: key {} in {}.{}{}, credentials from {}",
               cloud.managed_hsm ? "Managed HSM" : "Key Vault", config.key_name,
               config.vault_name, config.vault_type,
               options.endpoint.empty()
                   ? std::string()
                   : StrCat(" at ", UrlOrigin(options.endpoint)),
               options.credentials->Describe());
  DEKMS_ASSIGN_OR_RETURN(std::unique_ptr<AzureKeyVaultKekProvider> kek,
                         AzureKeyVaultKekProvider::Create(std::move(options)));
  return std::unique_ptr<KekProvider>(std::move(kek));
}

absl::StatusOr<std::unique_ptr<Store>> NewAzureBlobStore(
    const AzureBlobStoreConfig& config, const GetEnvFunction& getenv) {
  AzureBlobStoreOptions options;
  options.account = config.account;
  options.container = config.container;
  DEKMS_RETURN_IF_ERROR(ValidateAzureAccountName(options.account));
  DEKMS_RETURN_IF_ERROR(ValidateAzureContainerName(options.container));
  options.endpoint = TrimSlashes(config.endpoint);
  if (!options.endpoint.empty()) {
    // Requests there carry bearer tokens or Shared Key signatures.
    DEKMS_RETURN_IF_ERROR(ValidateCredentialUrl(
        options.endpoint, "parameter \"endpoint\" of storage://azure URI"));
  }
  options.transport = NewCurlTransport(CurlTransportOptions());
  std::string credentials_text;
  if (!config.shared_key.empty()) {
    absl::StatusOr<SecretBytes> key =
        DecodeBase64(RevealAsText(config.shared_key), Base64Alphabet::kStandard,
                     "parameter \"sharedKey\" of storage://azure URI");
    if (!key.ok()) {
      return absl::InvalidArgumentError(
          StrCat(key.status().message(),
                 "; a key in a URI must be percent-encoded, with + as %2B, / "
                 "as %2F and = as %3D"));
    }
    options.shared_key = std::move(key).value();
    credentials_text = StrCat("the account key of ", config.account);
  } else {
    DEKMS_ASSIGN_OR_RETURN(
        options.credentials,
        NewCredential(config.tenant_id, config.client_id, config.client_secret,
                      kAzurePublicAuthority, options.transport, getenv));
    credentials_text = options.credentials->Describe();
  }
  spdlog::info(
      "Azure Blob Storage: container {} in account {}{}, "
      "credentials from {}",
      config.container, config.account,
      options.endpoint.empty() ? std::string()
                               : StrCat(" at ", options.endpoint),
      credentials_text);
  DEKMS_ASSIGN_OR_RETURN(std::unique_ptr<AzureBlobStore> store,
                         AzureBlobStore::Create(std::move(options)));
  return std::unique_ptr<Store>(std::move(store));
}

}  // namespace dekms::internal
