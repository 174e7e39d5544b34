#include "src/cloud/gcp/jwt.h"

#include <memory>
#include <string>

#include "openssl/err.h"
#include "src/base/str_cat.h"
#include "src/crypto/encoding.h"
#include "src/crypto/secret_text.h"

namespace dekms::internal {
namespace {

struct MdCtxDeleter {
  void operator()(EVP_MD_CTX* context) const { EVP_MD_CTX_free(context); }
};

std::span<const uint8_t> AsBytes(std::string_view text) {
  return {reinterpret_cast<const uint8_t*>(text.data()), text.size()};
}

}  // namespace

SecretBytes EncodeBase64UrlNoPadding(std::span<const uint8_t> bytes) {
  const SecretBytes padded = EncodeBase64(bytes, Base64Alphabet::kUrlSafe);
  std::string_view text = RevealAsText(padded);
  while (text.ends_with('=')) {
    text.remove_suffix(1);
  }
  return SecretBytes::CopyFrom(text);
}

absl::StatusOr<SecretBytes> SignJwtRs256(std::string_view header_json,
                                         std::string_view claims_json,
                                         EVP_PKEY& key) {
  if (EVP_PKEY_is_a(&key, "RSA") != 1) {
    return absl::InvalidArgumentError(
        "RS256 needs an RSA private key, but the key is of another type");
  }
  SecretTextBuilder jwt;
  jwt.Append(RevealAsText(EncodeBase64UrlNoPadding(AsBytes(header_json))));
  jwt.Append('.');
  jwt.Append(RevealAsText(EncodeBase64UrlNoPadding(AsBytes(claims_json))));
  const std::string_view signing_input = jwt.View();

  const std::unique_ptr<EVP_MD_CTX, MdCtxDeleter> context(EVP_MD_CTX_new());
  size_t signature_size = 0;
  if (context == nullptr ||
      EVP_DigestSignInit(context.get(), nullptr, EVP_sha256(), nullptr, &key) !=
          1 ||
      EVP_DigestSign(context.get(), nullptr, &signature_size,
                     AsBytes(signing_input).data(),
                     signing_input.size()) != 1) {
    ERR_clear_error();
    return absl::InvalidArgumentError(
        "cannot sign with the RSA key; it may be a public key only");
  }
  std::string signature(signature_size, '\0');
  if (EVP_DigestSign(context.get(),
                     reinterpret_cast<uint8_t*>(signature.data()),
                     &signature_size, AsBytes(signing_input).data(),
                     signing_input.size()) != 1) {
    ERR_clear_error();
    return absl::InternalError("RS256 signing failed in OpenSSL");
  }
  signature.resize(signature_size);
  jwt.Append('.');
  jwt.Append(RevealAsText(EncodeBase64UrlNoPadding(AsBytes(signature))));
  return std::move(jwt).Finish();
}

}  // namespace dekms::internal
