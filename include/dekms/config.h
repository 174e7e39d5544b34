#ifndef DEKMS_INCLUDE_DEKMS_CONFIG_H_
#define DEKMS_INCLUDE_DEKMS_CONFIG_H_

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "dekms/key_manager.h"
#include "dekms/secret_bytes.h"
#include "dekms/store.h"

// Configuration by kms:// and storage:// URIs, in the forms and with the
// parameter names of Constellation, so existing URIs work unchanged:
//
//   kms://cluster-kms?key=<base64url>&salt=<base64url>
//   kms://aws?region=R&accessKeyID=ID&accessKey=SECRET&keyName=K
//   kms://azure?tenantID=T&clientID=C&clientSecret=S&vaultName=V
//              &vaultType=vault.azure.net&keyName=K
//   kms://gcp?projectID=P&location=L&keyRing=R&credentialsPath=F&keyName=K
//   kms://local?keyFile=PATH               (dekms only)
//   storage://no-store
//   storage://memory                       (dekms only)
//   storage://file?path=DIR                (dekms only)
//   storage://aws?bucket=B&region=R&accessKeyID=ID&accessKey=SECRET
//   storage://azure?account=A&container=C&tenantID=T&clientID=C
//                  &clientSecret=S
//   storage://gcp?projectID=P&bucket=B&credentialsPath=F
//
// Query values are form-decoded exactly once: "%XX" becomes the byte 0xXX
// and "+" a space. Credentials (accessKeyID with accessKey, tenantID with
// clientID and clientSecret, credentialsPath) may be left out; the cloud's
// usual credential discovery then applies.
// docs/uris.md lists every parameter.
namespace dekms {

// kms://cluster-kms: DEKs derived from a master secret and salt.
struct ClusterKmsConfig {
  SecretBytes master_secret;
  SecretBytes salt;
};

// kms://aws: a KEK in AWS KMS.
struct AwsKmsConfig {
  std::string region;
  std::string access_key_id;  // Empty: credential discovery.
  SecretBytes access_key;     // Empty exactly when access_key_id is.
  SecretBytes session_token;  // Only with an access key (dekms only).
  // Key id, key ARN, alias name ("alias/x") or alias ARN.
  std::string key_name;
  // Base URL of the KMS API, such as "http://127.0.0.1:4566"; empty means
  // AWS_ENDPOINT_URL_KMS, AWS_ENDPOINT_URL, then AWS's regional endpoint
  // (dekms only).
  std::string endpoint;
};

// kms://azure: a KEK in Azure Key Vault or Managed HSM.
struct AzureKmsConfig {
  std::string tenant_id;      // Empty: credential discovery.
  std::string client_id;      // Empty: credential discovery.
  SecretBytes client_secret;  // Empty: credential discovery.
  std::string vault_name;
  // DNS suffix of the vault: "vault.azure.net" for Key Vault,
  // "managedhsm.azure.net" for Managed HSM, or a sovereign cloud's suffix
  // ("vault.azure.cn", "vault.usgovcloudapi.net", "vault.microsoftazure.de").
  std::string vault_type;
  std::string key_name;
  // Base URL of the vault; empty means https://<vaultName>.<vaultType>
  // (dekms only).
  std::string endpoint;
};

// kms://gcp: a KEK in Google Cloud KMS.
struct GcpKmsConfig {
  std::string project_id;
  std::string location;
  std::string key_ring;
  std::string credentials_path;  // Empty: credential discovery.
  std::string key_name;
  // Base URL of the Cloud KMS API; empty means
  // https://cloudkms.googleapis.com (dekms only).
  std::string endpoint;
};

// kms://local: a KEK in a local file of 32 raw bytes (dekms only).
struct LocalKmsConfig {
  std::string key_file;
};

using KmsConfig = std::variant<ClusterKmsConfig, AwsKmsConfig, AzureKmsConfig,
                               GcpKmsConfig, LocalKmsConfig>;

// storage://no-store: nothing is stored; the only valid choice with
// kms://cluster-kms.
struct NoStoreConfig {};

// storage://memory: blobs kept in process memory (dekms only).
struct MemoryStoreConfig {};

// storage://aws: Amazon S3.
struct AwsS3StoreConfig {
  std::string bucket;
  std::string region;
  std::string access_key_id;  // Empty: credential discovery.
  SecretBytes access_key;     // Empty exactly when access_key_id is.
  SecretBytes session_token;  // Only with an access key (dekms only).
  // Base URL of an S3 or S3-compatible API; empty means
  // AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, then AWS's regional endpoint
  // (dekms only).
  std::string endpoint;
  // Addresses buckets as "ENDPOINT/BUCKET/KEY" rather than
  // "BUCKET.ENDPOINT/KEY". Most S3-compatible stores need it; it is on
  // by default when an endpoint is set (dekms only).
  std::optional<bool> force_path_style;
};

// storage://azure: Azure Blob Storage.
struct AzureBlobStoreConfig {
  std::string account;
  std::string container;
  std::string tenant_id;      // Empty: credential discovery.
  std::string client_id;      // Empty: credential discovery.
  SecretBytes client_secret;  // Empty: credential discovery.
  // Base URL of the account's Blob service; empty means
  // https://<account>.blob.core.windows.net (dekms only).
  std::string endpoint;
  // The base64 account key, for Shared Key signing instead of Entra ID
  // tokens (dekms only).
  SecretBytes shared_key;
};

// storage://gcp: Google Cloud Storage.
struct GcsStoreConfig {
  std::string project_id;
  std::string bucket;
  std::string credentials_path;  // Empty: credential discovery.
  // Base URL of the Cloud Storage JSON API; empty means
  // STORAGE_EMULATOR_HOST when set, else https://storage.googleapis.com
  // (dekms only).
  std::string endpoint;
};

// storage://file: one file per DEK in a local directory (dekms only).
struct FileStoreConfig {
  std::string path;
};

using StorageConfig =
    std::variant<NoStoreConfig, MemoryStoreConfig, AwsS3StoreConfig,
                 AzureBlobStoreConfig, GcsStoreConfig, FileStoreConfig>;

// Settings of the envelope KMS (kms://local and, later, the cloud KMSs)
// that do not belong in a URI.
struct KeyManagerOptions {
  // How long an unwrapped DEK stays cached in the process. Default: zero,
  // no cache. A cached DEK is not re-read from the store until it expires.
  absl::Duration cache_ttl = absl::ZeroDuration();
  // Maximum number of cached DEKs; the oldest is evicted first.
  // Default: 1024.
  size_t cache_max_entries = 1024;
};

// Parses a kms:// URI. Fails with kInvalidArgument on a wrong scheme or
// host, a missing, empty, repeated or unknown parameter, bad percent-encoding
// or bad base64url. Messages name the parameter and never contain a value.
[[nodiscard]] absl::StatusOr<KmsConfig> ParseKmsUri(std::string_view uri);

// Parses a storage:// URI, with the errors of ParseKmsUri().
[[nodiscard]] absl::StatusOr<StorageConfig> ParseStorageUri(
    std::string_view uri);

// Encodes `config` as a URI that ParseKmsUri() turns back into an equal
// config. Optional parameters that are empty are left out.
//
// WARNING: the URI contains the master secret or credentials, which is why
// it comes back in a SecretBytes. Use RedactedKmsUri() for anything shown.
[[nodiscard]] SecretBytes EncodeKmsUri(const KmsConfig& config);

// Encodes `config` as a URI for ParseStorageUri(). It may contain
// credentials; see EncodeKmsUri().
[[nodiscard]] SecretBytes EncodeStorageUri(const StorageConfig& config);

// Returns the URI of `config` with every secret value (master secret, salt,
// access keys, client secrets) replaced by "REDACTED". Safe for logs.
[[nodiscard]] std::string RedactedKmsUri(const KmsConfig& config);
[[nodiscard]] std::string RedactedStorageUri(const StorageConfig& config);

// Builds the KeyManager that `kms` and `storage` describe.
//
// kms://cluster-kms goes with storage://no-store only, because derived keys
// are never stored; any other store is kInvalidArgument. kms://local needs
// a store and checks at once that its key file can wrap and unwrap. The
// cloud KMS and store backends are not built yet and return kUnimplemented
// naming the backend.
[[nodiscard]] absl::StatusOr<std::unique_ptr<KeyManager>> NewKeyManager(
    const KmsConfig& kms, const StorageConfig& storage,
    const KeyManagerOptions& options = {});

// Builds the Store that `config` describes. storage://no-store has no store
// and returns kInvalidArgument; the cloud stores return kUnimplemented.
[[nodiscard]] absl::StatusOr<std::unique_ptr<Store>> NewStore(
    const StorageConfig& config);

}  // namespace dekms

#endif  // DEKMS_INCLUDE_DEKMS_CONFIG_H_
