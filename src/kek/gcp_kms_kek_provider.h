#ifndef DEKMS_SRC_KEK_GCP_KMS_KEK_PROVIDER_H_
#define DEKMS_SRC_KEK_GCP_KMS_KEK_PROVIDER_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "dekms/kek_provider.h"
#include "src/cloud/gcp/credentials.h"
#include "src/cloud/http.h"
#include "src/cloud/retry.h"

namespace dekms::internal {

// Cloud KMS takes at most this many plaintext bytes, and as many bytes of
// additional authenticated data, in one encrypt call.
inline constexpr size_t kGcpKmsMaxPlaintextBytes = size_t{64} * 1024;
// For keys with protection level HSM, plaintext and additional
// authenticated data together may not exceed this.
inline constexpr size_t kGcpKmsMaxHsmBytes = size_t{8} * 1024;
// Attempts at one call when the CRC-32C checks show corruption in transit.
inline constexpr int kGcpKmsIntegrityAttempts = 3;

struct GcpKmsKekOptions {
  std::string project_id;
  std::string location;
  std::string key_ring;
  std::string key_name;
  // Base URL of the Cloud KMS API, such as "https://cloudkms.googleapis.com".
  std::string endpoint;
  std::shared_ptr<GoogleTokenSource> credentials;
  std::shared_ptr<HttpTransport> transport;
  RetryPolicy retry;
};

// Checks the parts of a CryptoKey name, so that none can change the path
// of a request. A project ID has lowercase letters, digits and hyphens, and
// domain-scoped projects also dots and a colon. A location has lowercase
// letters, digits and hyphens. Key ring and key names have 1 to 63 letters,
// digits, underscores and hyphens. Messages name the URI parameter.
[[nodiscard]] absl::Status ValidateGcpKmsKeyName(
    const GcpKmsKekOptions& options);

// KEK provider for kms://gcp: a symmetric CryptoKey in Google Cloud KMS,
// called over its REST API with an OAuth access token.
//
// Wrap is encrypt and Unwrap is decrypt, both with the associated data as
// additionalAuthenticatedData, which Cloud KMS authenticates. Every call
// uses the CRC-32C integrity fields in both directions: the request carries
// checksums of what it sends, the reply must confirm them (verified*
// fields), and the checksums of what comes back are recomputed. A mismatch
// discards the reply and tries again, up to kGcpKmsIntegrityAttempts in all,
// so corruption in transit never yields a wrong key. The key ID in blobs is
// the CryptoKey's resource name; the key version is the number of the
// CryptoKeyVersion that encrypted.
class GcpKmsKekProvider final : public KekProvider {
 public:
  // Reads the key and checks it can wrap (see Check()).
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<GcpKmsKekProvider>>
  Create(GcpKmsKekOptions options);

  std::string_view Kind() const override { return "gcp-kms"; }
  const std::string& KeyId() const override { return key_resource_; }
  bool BindsAssociatedData() const override { return true; }

  absl::StatusOr<Wrapped> Wrap(
      const SecretBytes& plaintext,
      std::span<const uint8_t> associated_data) override;
  absl::StatusOr<SecretBytes> Unwrap(
      std::string_view ciphertext, std::string_view key_version,
      std::span<const uint8_t> associated_data) override;

  // Reads the CryptoKey (cryptoKeys.get) and fails with kFailedPrecondition
  // when it is missing, is not an ENCRYPT_DECRYPT key, or has no enabled
  // primary version.
  absl::Status Check() override;

 private:
  GcpKmsKekProvider(GcpKmsKekOptions options, std::string key_resource,
                    std::string protection_level);

  const GcpKmsKekOptions options_;
  // "projects/P/locations/L/keyRings/R/cryptoKeys/K".
  const std::string key_resource_;
  absl::Mutex mu_;
  // The primary version's protection level as of the last Check(), such as
  // "SOFTWARE" or "HSM".
  std::string protection_level_ ABSL_GUARDED_BY(mu_);
};

}  // namespace dekms::internal

#endif  // DEKMS_SRC_KEK_GCP_KMS_KEK_PROVIDER_H_
