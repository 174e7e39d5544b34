#include "src/crypto/hkdf.h"

#include <openssl/rand.h>

#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "src/crypto/encoding.h"
#include "tests/testing/status_matchers.h"

namespace dekms::internal {
namespace {

using ::dekms::testing::IsOk;
using ::dekms::testing::StatusIs;
using ::testing::HasSubstr;

std::vector<uint8_t> Hex(std::string_view hex) {
  auto bytes = DecodeHex(hex, "test vector");
  EXPECT_THAT(bytes, IsOk());
  return {bytes->Reveal().begin(), bytes->Reveal().end()};
}

std::vector<uint8_t> Range(int first, int end) {
  std::vector<uint8_t> bytes;
  for (int i = first; i < end; ++i) bytes.push_back(static_cast<uint8_t>(i));
  return bytes;
}

std::string Expand(const std::vector<uint8_t>& ikm,
                   const std::vector<uint8_t>& salt,
                   const std::vector<uint8_t>& info, size_t length) {
  auto hkdf = HkdfSha256::Create(ikm, salt);
  EXPECT_THAT(hkdf, IsOk());
  SecretBytes out(length);
  EXPECT_THAT(hkdf->Expand(info, out.Reveal()), IsOk());
  return std::string(RevealAsText(EncodeHex(out.Reveal())));
}

TEST(HkdfSha256, RejectsEmptyOutput) {
  auto hkdf = HkdfSha256::Create(Range(0, 16), Range(0, 16));
  ASSERT_THAT(hkdf, IsOk());
  EXPECT_THAT(hkdf->Expand({}, {}), StatusIs(absl::StatusCode::kInvalidArgument,
                                             HasSubstr("output length 0")));
}

TEST(HkdfSha256, RejectsOutputAboveMaximum) {
  auto hkdf = HkdfSha256::Create(Range(0, 16), Range(0, 16));
  ASSERT_THAT(hkdf, IsOk());
  SecretBytes out(kHkdfSha256MaxOutputBytes + 1);
  EXPECT_THAT(hkdf->Expand({}, out.Reveal()),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("8161")));
  for (const uint8_t byte : out.Reveal()) {
    ASSERT_EQ(byte, 0) << "output must be left untouched on error";
  }
}

TEST(HkdfSha256, EvpKdfRejectsBadLengths) {
  EXPECT_THAT(HkdfSha256WithEvpKdf(Range(0, 16), {}, {}, 0),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(HkdfSha256WithEvpKdf(Range(0, 16), {}, {}, 8161),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

// Test vectors from RFC 5869, appendix A.
TEST(HkdfSha256, MatchesRfc5869Case1) {
  EXPECT_EQ(Expand(Hex("0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b"),
                   Hex("000102030405060708090a0b0c"),
                   Hex("f0f1f2f3f4f5f6f7f8f9"), 42),
            "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf"
            "34007208d5b887185865");
}

TEST(HkdfSha256, MatchesRfc5869Case2) {
  EXPECT_EQ(
      Expand(Range(0x00, 0x50), Range(0x60, 0xb0), Range(0xb0, 0x100), 82),
      "b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c"
      "59045a99cac7827271cb41c65e590e09da3275600c2f09b8367793a9aca3db71"
      "cc30c58179ec3e87c14c01d5c1f3434f1d87");
}

TEST(HkdfSha256, MatchesRfc5869Case3EmptySaltAndInfo) {
  EXPECT_EQ(
      Expand(Hex("0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b"), {}, {}, 42),
      "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d"
      "9d201395faa4b61a96c8");
}

TEST(HkdfSha256, MaximumLengthMatchesEvpKdf) {
  const std::vector<uint8_t> ikm = Range(0, 32);
  const std::vector<uint8_t> salt = Range(32, 64);
  const std::vector<uint8_t> info = Range(64, 100);
  auto reference =
      HkdfSha256WithEvpKdf(ikm, salt, info, kHkdfSha256MaxOutputBytes);
  ASSERT_THAT(reference, IsOk());
  EXPECT_EQ(Expand(ikm, salt, info, kHkdfSha256MaxOutputBytes),
            RevealAsText(EncodeHex(reference->Reveal())));
}

TEST(HkdfSha256, MatchesEvpKdfOnRandomInputs) {
  // Lengths cross the SHA-256 block size (64) for salt and info, the HMAC
  // key-hashing path (salt above 64 bytes), and the output block size (32).
  for (int round = 0; round < 300; ++round) {
    std::vector<uint8_t> sizes(4);
    ASSERT_EQ(RAND_bytes(sizes.data(), static_cast<int>(sizes.size())), 1);
    std::vector<uint8_t> ikm(1 + sizes[0] % 100);
    std::vector<uint8_t> salt(sizes[1] % 150);
    std::vector<uint8_t> info(sizes[2] % 200);
    const size_t length = 1 + (sizes[3] * 7) % 300;
    ASSERT_EQ(RAND_bytes(ikm.data(), static_cast<int>(ikm.size())), 1);
    if (!salt.empty()) {
      ASSERT_EQ(RAND_bytes(salt.data(), static_cast<int>(salt.size())), 1);
    }
    if (!info.empty()) {
      ASSERT_EQ(RAND_bytes(info.data(), static_cast<int>(info.size())), 1);
    }
    auto reference = HkdfSha256WithEvpKdf(ikm, salt, info, length);
    ASSERT_THAT(reference, IsOk());
    ASSERT_EQ(Expand(ikm, salt, info, length),
              RevealAsText(EncodeHex(reference->Reveal())))
        << "ikm " << ikm.size() << " salt " << salt.size() << " info "
        << info.size() << " length " << length;
  }
}

TEST(HkdfSha256, MovedObjectStillExpands) {
  auto created = HkdfSha256::Create(Range(0, 22), Range(0, 13));
  ASSERT_THAT(created, IsOk());
  HkdfSha256 moved = std::move(created).value();
  SecretBytes out(42);
  EXPECT_THAT(moved.Expand(Range(0xf0, 0xfa), out.Reveal()), IsOk());
}

}  // namespace
}  // namespace dekms::internal
