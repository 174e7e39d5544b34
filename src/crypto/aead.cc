#include "src/crypto/aead.h"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <climits>
#include <memory>

#include "src/base/str_cat.h"

namespace dekms::internal {
namespace {

struct CipherCtxDeleter {
  void operator()(EVP_CIPHER_CTX* ctx) const { EVP_CIPHER_CTX_free(ctx); }
};
using CipherCtx = std::unique_ptr<EVP_CIPHER_CTX, CipherCtxDeleter>;

absl::Status CheckKey(std::span<const uint8_t> key) {
  if (key.size() != kAes256GcmKeyBytes) {
    return absl::InvalidArgumentError(StrCat("AES-256-GCM key is ", key.size(),
                                             " bytes; it must be ",
                                             kAes256GcmKeyBytes));
  }
  return absl::OkStatus();
}

absl::Status CheckLength(size_t size, std::string_view what) {
  if (size > INT_MAX) {
    return absl::InvalidArgumentError(
        StrCat(what, " of ", size, " bytes is too large for AES-GCM"));
  }
  return absl::OkStatus();
}

absl::Status CheckInputs(std::span<const uint8_t> key, size_t data_size,
                         std::string_view data_name,
                         std::span<const uint8_t> associated_data) {
  if (absl::Status status = CheckKey(key); !status.ok()) return status;
  if (absl::Status status = CheckLength(data_size, data_name); !status.ok()) {
    return status;
  }
  return CheckLength(associated_data.size(), "associated data");
}

}  // namespace

absl::StatusOr<std::string> Aes256GcmSeal(
    std::span<const uint8_t> key, std::span<const uint8_t> plaintext,
    std::span<const uint8_t> associated_data) {
  if (absl::Status status =
          CheckInputs(key, plaintext.size(), "plaintext", associated_data);
      !status.ok()) {
    return status;
  }

  std::string sealed(kAesGcmNonceBytes + plaintext.size() + kAesGcmTagBytes,
                     '\0');
  auto* out = reinterpret_cast<uint8_t*>(sealed.data());
  if (RAND_bytes(out, static_cast<int>(kAesGcmNonceBytes)) != 1) {
    return absl::InternalError("OpenSSL's random generator failed (nonce)");
  }

  CipherCtx ctx(EVP_CIPHER_CTX_new());
  int len = 0;
  uint8_t* ciphertext = out + kAesGcmNonceBytes;
  if (ctx == nullptr ||
      EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, key.data(),
                         out) != 1 ||
      EVP_EncryptUpdate(ctx.get(), nullptr, &len, associated_data.data(),
                        static_cast<int>(associated_data.size())) != 1 ||
      EVP_EncryptUpdate(ctx.get(), ciphertext, &len, plaintext.data(),
                        static_cast<int>(plaintext.size())) != 1 ||
      EVP_EncryptFinal_ex(ctx.get(), ciphertext + len, &len) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG,
                          static_cast<int>(kAesGcmTagBytes),
                          ciphertext + plaintext.size()) != 1) {
    return absl::InternalError("OpenSSL AES-256-GCM encryption failed");
  }
  return sealed;
}

absl::StatusOr<SecretBytes> Aes256GcmOpen(
    std::span<const uint8_t> key, std::string_view sealed,
    std::span<const uint8_t> associated_data) {
  if (absl::Status status =
          CheckInputs(key, sealed.size(), "ciphertext", associated_data);
      !status.ok()) {
    return status;
  }
  if (sealed.size() < kAesGcmNonceBytes + kAesGcmTagBytes) {
    return absl::DataLossError(
        StrCat("AES-256-GCM ciphertext is ", sealed.size(),
               " bytes, shorter than a nonce and tag (",
               kAesGcmNonceBytes + kAesGcmTagBytes, " bytes)"));
  }

  const auto* in = reinterpret_cast<const uint8_t*>(sealed.data());
  const size_t ciphertext_len =
      sealed.size() - kAesGcmNonceBytes - kAesGcmTagBytes;
  const uint8_t* ciphertext = in + kAesGcmNonceBytes;
  // EVP_CIPHER_CTX_ctrl takes a non-const tag pointer but only reads it.
  auto* tag = const_cast<uint8_t*>(ciphertext + ciphertext_len);  // NOLINT

  SecretBytes plaintext(ciphertext_len);
  CipherCtx ctx(EVP_CIPHER_CTX_new());
  int len = 0;
  if (ctx == nullptr ||
      EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, key.data(),
                         in) != 1 ||
      EVP_DecryptUpdate(ctx.get(), nullptr, &len, associated_data.data(),
                        static_cast<int>(associated_data.size())) != 1 ||
      EVP_DecryptUpdate(ctx.get(), plaintext.Reveal().data(), &len, ciphertext,
                        static_cast<int>(ciphertext_len)) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG,
                          static_cast<int>(kAesGcmTagBytes), tag) != 1) {
    return absl::InternalError("OpenSSL AES-256-GCM decryption failed");
  }
  if (EVP_DecryptFinal_ex(ctx.get(), plaintext.Reveal().data() + len, &len) !=
      1) {
    // The plaintext buffer is wiped when it goes out of scope here.
    return absl::DataLossError(
        "AES-256-GCM authentication failed: the ciphertext or its associated "
        "data was altered, or the key differs");
  }
  return plaintext;
}

std::array<uint8_t, 32> Sha256(std::span<const uint8_t> data) {
  std::array<uint8_t, 32> digest{};
  SHA256(data.data(), data.size(), digest.data());
  return digest;
}

}  // namespace dekms::internal
