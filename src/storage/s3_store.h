#ifndef DEKMS_SRC_STORAGE_S3_STORE_H_
#define DEKMS_SRC_STORAGE_S3_STORE_H_

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "dekms/store.h"
#include "src/cloud/aws/credentials.h"
#include "src/cloud/http.h"
#include "src/cloud/retry.h"

namespace dekms::internal {

struct S3StoreOptions {
  std::string bucket;
  std::string region;
  // Base URL of the S3 API, already resolved (see ResolveAwsEndpoint).
  std::string endpoint;
  // "ENDPOINT/BUCKET/KEY" when true, "BUCKET.ENDPOINT-HOST/KEY" otherwise.
  bool path_style = false;
  std::shared_ptr<AwsCredentialsProvider> credentials;
  std::shared_ptr<HttpTransport> transport;
  RetryPolicy retry;
  // Clock for request signatures; defaults to absl::Now.
  std::function<absl::Time()> now;
};

// Tags set on every blob, in the x-amz-tagging form. The keys and the
// component value are Constellation's, so lifecycle rules and IAM
// conditions written for its DEK store also match dekms's blobs.
inline constexpr std::string_view kS3BlobTags =
    "createdBy=dekms&component=constellation-dek-store";

// Object key of the probe that proves the store honours conditional writes.
inline constexpr std::string_view kS3ProbeKey =
    ".dekms/conditional-write-probe";

// Store for storage://aws: one object per DEK in an S3 or S3-compatible
// bucket, named by the DEK ID itself.
//
// Create() is PutObject with `If-None-Match: *`, which S3 rejects with 412
// when the object exists. A write whose outcome is unknown (a timeout, a
// reset or a 5xx reply) is settled by reading the object back, never by a
// blind second write. Get() reports kNotFound only for S3's NoSuchKey, so a
// 403 or an unclear 404 never leads to a new DEK.
class S3Store final : public Store {
 public:
  // Creates the bucket when it is missing (HeadBucket, then CreateBucket
  // with the location rules of the region). Then checks with a probe object
  // that the store rejects a second conditional write. A store that ignores
  // `If-None-Match: *` would let two writers replace each other's DEKs, so
  // it fails with kFailedPrecondition.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<S3Store>> Create(
      S3StoreOptions options);

  absl::StatusOr<std::string> Get(std::string_view id) override;
  absl::Status Create(std::string_view id, std::string_view blob) override;
  std::string_view Kind() const override { return "s3"; }

 private:
  explicit S3Store(S3StoreOptions options);

  const S3StoreOptions options_;
};

// Checks an S3 bucket name: 3 to 63 lowercase letters, digits, dots and
// dashes, starting and ending with a letter or digit.
[[nodiscard]] absl::Status ValidateS3BucketName(std::string_view bucket);

// Checks that `id` can be an S3 object key: valid UTF-8 of at most 1024
// bytes with no control characters, and no "." or ".." path segment, which
// HTTP clients and servers may collapse.
[[nodiscard]] absl::Status ValidateS3ObjectKey(std::string_view id);

}  // namespace dekms::internal

#endif  // DEKMS_SRC_STORAGE_S3_STORE_H_
