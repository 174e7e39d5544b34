#ifndef DEKMS_SRC_STORAGE_AZURE_BLOB_STORE_H_
#define DEKMS_SRC_STORAGE_AZURE_BLOB_STORE_H_

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "dekms/store.h"
#include "src/cloud/azure/credentials.h"
#include "src/cloud/http.h"
#include "src/cloud/retry.h"

namespace dekms::internal {

// Blob service version sent as x-ms-version on every request.
inline constexpr std::string_view kAzureStorageApiVersion = "2021-08-06";

// Blob name of the probe that proves the store honours If-None-Match.
inline constexpr std::string_view kAzureProbeBlob =
    ".dekms/conditional-write-probe";

struct AzureBlobStoreOptions {
  std::string account;
  std::string container;
  // Base URL of the account's Blob service, such as
  // "https://<account>.blob.core.windows.net" or, for Azurite,
  // "http://127.0.0.1:10000/devstoreaccount1".
  std::string endpoint;
  // The decoded account key. When set, requests are signed with Shared
  // Key; otherwise they carry Entra ID tokens from `credentials`.
  SecretBytes shared_key;
  std::shared_ptr<AzureTokenCredential> credentials;
  std::shared_ptr<HttpTransport> transport;
  RetryPolicy retry;
  std::function<absl::Time()> now;  // For x-ms-date; defaults to absl::Now.
};

// Store for storage://azure: one block blob per DEK in a container, named
// by the DEK ID itself.
//
// Create() is Put Blob with `If-None-Match: *`, which Azure rejects with
// 409 BlobAlreadyExists when the blob exists, and Content-MD5, which it
// checks against the bytes received. A write whose outcome is unknown is
// settled by reading the blob back. Get() reports kNotFound only for 404
// BlobNotFound, so a missing container or a rejected request never leads
// to a new DEK.
class AzureBlobStore final : public Store {
 public:
  // Creates the container when it is missing, with the metadata
  // createdBy=dekms and component=constellation-dek-store, then checks with
  // a probe blob that the store rejects a second create-only write.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<AzureBlobStore>> Create(
      AzureBlobStoreOptions options);

  absl::StatusOr<std::string> Get(std::string_view id) override;
  absl::Status Create(std::string_view id, std::string_view blob) override;
  std::string_view Kind() const override { return "azure-blob"; }

 private:
  explicit AzureBlobStore(AzureBlobStoreOptions options);

  const AzureBlobStoreOptions options_;
};

// Checks a storage account name: 3 to 24 lowercase letters and digits.
[[nodiscard]] absl::Status ValidateAzureAccountName(std::string_view account);

// Checks a container name: 3 to 63 lowercase letters, digits and single
// hyphens, starting and ending with a letter or digit.
[[nodiscard]] absl::Status ValidateAzureContainerName(
    std::string_view container);

// Checks that `id` can be a blob name: valid UTF-8 of 1 to 1024 bytes with
// no control characters and no "." or ".." between slashes. It must not end
// in ".", "/" or "\", which HTTP clients and Azure may strip.
[[nodiscard]] absl::Status ValidateAzureBlobName(std::string_view id);

}  // namespace dekms::internal

#endif  // DEKMS_SRC_STORAGE_AZURE_BLOB_STORE_H_
