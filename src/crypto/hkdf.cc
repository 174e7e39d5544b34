// The SHA-256 context functions (SHA256_Init and friends) are deprecated in
// OpenSSL 3.0 in favour of EVP_MD_CTX. They are used here on purpose: copying
// an EVP digest context under OpenSSL 3 allocates a provider context
// (dupctx), while a SHA256_CTX is a plain struct that can be copied on the
// stack. That copy is what lets Expand() reuse the keyed HMAC state without
// touching the heap. The macro keeps the deprecation attributes away.
#define OPENSSL_SUPPRESS_DEPRECATED

#include "src/crypto/hkdf.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/sha.h>

#include <algorithm>
#include <array>
#include <cstring>

#include "absl/cleanup/cleanup.h"
#include "src/base/str_cat.h"

namespace dekms::internal {

// HMAC-SHA256 (RFC 2104) with the key already absorbed: `inner` has hashed
// the key XOR ipad block and `outer` the key XOR opad block. Both are as
// secret as the key itself.
struct HmacSha256State {
  SHA256_CTX inner;
  SHA256_CTX outer;

  HmacSha256State() = default;
  HmacSha256State(const HmacSha256State&) = delete;
  HmacSha256State& operator=(const HmacSha256State&) = delete;
  ~HmacSha256State() { OPENSSL_cleanse(this, sizeof(*this)); }
};

namespace {

constexpr size_t kSha256BlockBytes = 64;

void InitHmacSha256(std::span<const uint8_t> key, HmacSha256State& state) {
  // Keys longer than the block are hashed first (RFC 2104, section 2).
  std::array<uint8_t, kSha256BlockBytes> key_block{};
  if (key.size() > kSha256BlockBytes) {
    SHA256(key.data(), key.size(), key_block.data());
  } else if (!key.empty()) {
    std::memcpy(key_block.data(), key.data(), key.size());
  }

  std::array<uint8_t, kSha256BlockBytes> pad{};
  for (size_t i = 0; i < kSha256BlockBytes; ++i) {
    pad[i] = key_block[i] ^ 0x36;
  }
  SHA256_Init(&state.inner);
  SHA256_Update(&state.inner, pad.data(), pad.size());

  for (size_t i = 0; i < kSha256BlockBytes; ++i) {
    pad[i] = key_block[i] ^ 0x5c;
  }
  SHA256_Init(&state.outer);
  SHA256_Update(&state.outer, pad.data(), pad.size());

  OPENSSL_cleanse(key_block.data(), key_block.size());
  OPENSSL_cleanse(pad.data(), pad.size());
}

// Finishes HMAC over the concatenation of up to three message parts, so
// callers need not build the concatenation in a buffer.
void FinishHmacSha256(const HmacSha256State& state,
                      std::span<const uint8_t> part1,
                      std::span<const uint8_t> part2,
                      std::span<const uint8_t> part3,
                      uint8_t out[kSha256DigestBytes]) {
  SHA256_CTX ctx = state.inner;
  SHA256_Update(&ctx, part1.data(), part1.size());
  SHA256_Update(&ctx, part2.data(), part2.size());
  SHA256_Update(&ctx, part3.data(), part3.size());
  SHA256_Final(out, &ctx);

  ctx = state.outer;
  SHA256_Update(&ctx, out, kSha256DigestBytes);
  SHA256_Final(out, &ctx);
  OPENSSL_cleanse(&ctx, sizeof(ctx));
}

std::string OpenSslErrorText() {
  unsigned long code = ERR_get_error();  // NOLINT(google-runtime-int)
  if (code == 0) {
    return "no OpenSSL error queued";
  }
  std::array<char, 256> text{};
  ERR_error_string_n(code, text.data(), text.size());
  ERR_clear_error();
  return std::string(text.data());
}

}  // namespace

absl::StatusOr<HkdfSha256> HkdfSha256::Create(std::span<const uint8_t> ikm,
                                              std::span<const uint8_t> salt) {
  // HKDF-Extract: PRK = HMAC-SHA256(key = salt, message = IKM).
  auto salt_state = std::make_unique<HmacSha256State>();
  InitHmacSha256(salt, *salt_state);
  std::array<uint8_t, kSha256DigestBytes> prk{};
  FinishHmacSha256(*salt_state, ikm, {}, {}, prk.data());

  // Key HMAC with the PRK once; every Expand() starts from copies of it.
  auto prk_state = std::make_unique<HmacSha256State>();
  InitHmacSha256(prk, *prk_state);
  OPENSSL_cleanse(prk.data(), prk.size());
  return HkdfSha256(std::move(prk_state));
}

HkdfSha256::HkdfSha256(std::unique_ptr<HmacSha256State> prk_state)
    : prk_state_(std::move(prk_state)) {}
HkdfSha256::HkdfSha256(HkdfSha256&&) noexcept = default;
HkdfSha256& HkdfSha256::operator=(HkdfSha256&&) noexcept = default;
HkdfSha256::~HkdfSha256() = default;

absl::Status HkdfSha256::Expand(std::span<const uint8_t> info,
                                std::span<uint8_t> out) const {
  if (out.empty() || out.size() > kHkdfSha256MaxOutputBytes) {
    return absl::InvalidArgumentError(
        StrCat("HKDF-SHA256 output length ", out.size(),
               " is out of range; request 1 to ", kHkdfSha256MaxOutputBytes,
               " bytes"));
  }

  // T(0) is empty; T(i) = HMAC(PRK, T(i-1) | info | i) for i = 1..N, and the
  // output is the first L bytes of T(1) | T(2) | ... (RFC 5869, section 2.3).
  std::array<uint8_t, kSha256DigestBytes> block{};
  std::span<const uint8_t> previous;
  uint8_t counter = 1;
  size_t written = 0;
  while (written < out.size()) {
    FinishHmacSha256(*prk_state_, previous, info, {&counter, 1}, block.data());
    const size_t take = std::min(block.size(), out.size() - written);
    std::memcpy(out.data() + written, block.data(), take);
    written += take;
    previous = block;
    ++counter;
  }
  OPENSSL_cleanse(block.data(), block.size());
  return absl::OkStatus();
}

absl::StatusOr<SecretBytes> HkdfSha256WithEvpKdf(std::span<const uint8_t> ikm,
                                                 std::span<const uint8_t> salt,
                                                 std::span<const uint8_t> info,
                                                 size_t length_bytes) {
  if (length_bytes == 0 || length_bytes > kHkdfSha256MaxOutputBytes) {
    return absl::InvalidArgumentError(
        StrCat("HKDF-SHA256 output length ", length_bytes,
               " is out of range; request 1 to ", kHkdfSha256MaxOutputBytes,
               " bytes"));
  }

  EVP_KDF* kdf = EVP_KDF_fetch(nullptr, OSSL_KDF_NAME_HKDF, nullptr);
  if (kdf == nullptr) {
    return absl::InternalError(
        StrCat("OpenSSL has no HKDF: ", OpenSslErrorText()));
  }
  absl::Cleanup free_kdf = [kdf] { EVP_KDF_free(kdf); };
  EVP_KDF_CTX* ctx = EVP_KDF_CTX_new(kdf);
  if (ctx == nullptr) {
    return absl::InternalError(
        StrCat("EVP_KDF_CTX_new failed: ", OpenSslErrorText()));
  }
  absl::Cleanup free_ctx = [ctx] { EVP_KDF_CTX_free(ctx); };

  // OSSL_PARAM takes non-const pointers but only reads the inputs.
  char digest_name[] = "SHA256";
  auto as_param = [](std::span<const uint8_t> bytes) {
    return const_cast<uint8_t*>(bytes.data());  // NOLINT
  };
  // An empty salt or info is left out: OpenSSL rejects a zero-length octet
  // parameter without data, and RFC 5869 defines both defaults.
  std::array<OSSL_PARAM, 5> params{};
  size_t count = 0;
  params[count++] =
      OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest_name, 0);
  params[count++] = OSSL_PARAM_construct_octet_string(
      OSSL_KDF_PARAM_KEY, as_param(ikm), ikm.size());
  if (!salt.empty()) {
    params[count++] = OSSL_PARAM_construct_octet_string(
        OSSL_KDF_PARAM_SALT, as_param(salt), salt.size());
  }
  if (!info.empty()) {
    params[count++] = OSSL_PARAM_construct_octet_string(
        OSSL_KDF_PARAM_INFO, as_param(info), info.size());
  }
  params[count] = OSSL_PARAM_construct_end();

  SecretBytes out(length_bytes);
  if (EVP_KDF_derive(ctx, out.Reveal().data(), out.size(), params.data()) !=
      1) {
    return absl::InternalError(
        StrCat("EVP_KDF_derive (HKDF-SHA256) failed: ", OpenSslErrorText()));
  }
  return out;
}

}  // namespace dekms::internal
