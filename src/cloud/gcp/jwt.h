#ifndef DEKMS_SRC_CLOUD_GCP_JWT_H_
#define DEKMS_SRC_CLOUD_GCP_JWT_H_

#include <memory>
#include <span>
#include <string_view>

#include "absl/status/statusor.h"
#include "dekms/secret_bytes.h"
#include "openssl/evp.h"

namespace dekms::internal {

struct EvpPkeyDeleter {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
// OpenSSL clears the private parts of an RSA key when it frees them.
using UniqueEvpPkey = std::unique_ptr<EVP_PKEY, EvpPkeyDeleter>;

// Encodes `bytes` as base64url without padding (RFC 7515, section 2), the
// form of each part of a JWT.
[[nodiscard]] SecretBytes EncodeBase64UrlNoPadding(
    std::span<const uint8_t> bytes);

// Builds a JWS in compact form signed with RS256 (RSASSA-PKCS1-v1_5 with
// SHA-256, RFC 7518 section 3.3): base64url(header) "." base64url(claims)
// "." base64url(signature). `header_json` and `claims_json` are used byte
// for byte. The result is a bearer credential, hence SecretBytes. Fails
// with kInvalidArgument when `key` is not an RSA private key.
[[nodiscard]] absl::StatusOr<SecretBytes> SignJwtRs256(
    std::string_view header_json, std::string_view claims_json, EVP_PKEY& key);

}  // namespace dekms::internal

#endif  // DEKMS_SRC_CLOUD_GCP_JWT_H_
