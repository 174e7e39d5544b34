#ifndef DEKMS_SRC_KEK_AWS_KMS_KEK_PROVIDER_H_
#define DEKMS_SRC_KEK_AWS_KMS_KEK_PROVIDER_H_

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "dekms/kek_provider.h"
#include "src/cloud/aws/credentials.h"
#include "src/cloud/http.h"
#include "src/cloud/retry.h"

namespace dekms::internal {

// AWS KMS takes at most this many plaintext bytes in one Encrypt call.
inline constexpr size_t kAwsKmsMaxPlaintextBytes = 4096;

struct AwsKmsKekOptions {
  std::string region;
  // Key id, key ARN, alias name ("alias/x") or alias ARN.
  std::string key_name;
  // Base URL of the KMS API, already resolved (see ResolveAwsEndpoint).
  std::string endpoint;
  std::shared_ptr<AwsCredentialsProvider> credentials;
  std::shared_ptr<HttpTransport> transport;
  RetryPolicy retry;
  // Clock for request signatures; defaults to absl::Now.
  std::function<absl::Time()> now;
};

// KEK provider for kms://aws: a symmetric key in AWS KMS, called over its
// JSON API with Signature Version 4.
//
// Wrap is Encrypt and Unwrap is Decrypt. Both send the associated data as
// the encryption context, which KMS authenticates, and Decrypt names the
// key, so KMS itself rejects a blob wrapped under another key. The key id
// recorded in blobs is the key ARN that DescribeKey reports, also when
// `key_name` is an alias.
class AwsKmsKekProvider final : public KekProvider {
 public:
  // Resolves the key with DescribeKey and checks it can wrap (see Check()).
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<AwsKmsKekProvider>>
  Create(AwsKmsKekOptions options);

  std::string_view Kind() const override { return "aws-kms"; }
  const std::string& KeyId() const override { return key_arn_; }
  bool BindsAssociatedData() const override { return true; }

  absl::StatusOr<Wrapped> Wrap(
      const SecretBytes& plaintext,
      std::span<const uint8_t> associated_data) override;
  absl::StatusOr<SecretBytes> Unwrap(
      std::string_view ciphertext, std::string_view key_version,
      std::span<const uint8_t> associated_data) override;

  // Calls DescribeKey and fails with kFailedPrecondition when the key is
  // missing, disabled, pending deletion or import, not a symmetric
  // encryption key, or no longer the key it was at start-up.
  absl::Status Check() override;

 private:
  AwsKmsKekProvider(AwsKmsKekOptions options, std::string key_arn);

  const AwsKmsKekOptions options_;
  const std::string key_arn_;
};

}  // namespace dekms::internal

#endif  // DEKMS_SRC_KEK_AWS_KMS_KEK_PROVIDER_H_
