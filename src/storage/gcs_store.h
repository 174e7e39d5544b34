#ifndef DEKMS_SRC_STORAGE_GCS_STORE_H_
#define DEKMS_SRC_STORAGE_GCS_STORE_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "dekms/store.h"
#include "src/cloud/gcp/credentials.h"
#include "src/cloud/http.h"
#include "src/cloud/retry.h"

namespace dekms::internal {

struct GcsStoreOptions {
  // Project in which a missing bucket is created.
  std::string project_id;
  std::string bucket;
  // Base URL of the Cloud Storage JSON API, such as
  // "https://storage.googleapis.com".
  std::string endpoint;
  // Null sends requests without credentials, as Google's client libraries
  // do for an emulator named by STORAGE_EMULATOR_HOST.
  std::shared_ptr<GoogleTokenSource> credentials;
  std::shared_ptr<HttpTransport> transport;
  RetryPolicy retry;
};

// Object name of the probe that proves the store honours preconditions.
inline constexpr std::string_view kGcsProbeObject =
    ".dekms/conditional-write-probe";

// Store for storage://gcp: one object per DEK in a Cloud Storage bucket,
// named by the DEK ID itself.
//
// Create() is a media upload with `ifGenerationMatch=0`, which Cloud
// Storage rejects with 412 when a live object has that name. The upload
// carries the CRC-32C of the blob, and a write counts only when the reply
// names the object with the blob's size and checksum. A write whose
// outcome is unknown is settled by reading the object back. Get() reads
// with `alt=media`, checks the x-goog-hash checksum when the server sends
// one, and reports kNotFound only for a 404.
class GcsStore final : public Store {
 public:
  // Creates the bucket when it is missing, then checks with a probe object
  // that the store rejects a second create-only upload. A store that
  // ignores `ifGenerationMatch` would let two writers replace each other's
  // DEKs, so it fails with kFailedPrecondition.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<GcsStore>> Create(
      GcsStoreOptions options);

  absl::StatusOr<std::string> Get(std::string_view id) override;
  absl::Status Create(std::string_view id, std::string_view blob) override;
  std::string_view Kind() const override { return "gcs"; }

 private:
  explicit GcsStore(GcsStoreOptions options);

  const GcsStoreOptions options_;
};

// Checks a bucket name. It has 3 to 63 lowercase letters, digits, hyphens,
// underscores and dots (up to 222 with dots, at most 63 between dots), and
// starts and ends with a letter or digit. It must not start with "goog" or
// contain "google".
[[nodiscard]] absl::Status ValidateGcsBucketName(std::string_view bucket);

// Checks that `id` can be an object name: valid UTF-8 of 1 to 1024 bytes
// with no control characters, not "." or "..", and not under
// ".well-known/acme-challenge/".
[[nodiscard]] absl::Status ValidateGcsObjectName(std::string_view id);

}  // namespace dekms::internal

#endif  // DEKMS_SRC_STORAGE_GCS_STORE_H_
