#include "src/crypto/aead.h"

#include <string>
#include <string_view>

#include "gtest/gtest.h"
#include "src/crypto/encoding.h"
#include "tests/testing/status_matchers.h"

namespace dekms::internal {
namespace {

using ::dekms::testing::IsOk;
using ::dekms::testing::StatusIs;
using ::testing::HasSubstr;

constexpr std::string_view kKey = "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk";

TEST(Aes256Gcm, RejectsWrongKeySize) {
  EXPECT_THAT(
      Aes256GcmSeal(AsBytes("short"), AsBytes("x"), {}),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("5 bytes")));
  EXPECT_THAT(Aes256GcmOpen(AsBytes("short"), std::string(40, 'x'), {}),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(Aes256Gcm, RejectsTruncatedCiphertext) {
  EXPECT_THAT(Aes256GcmOpen(AsBytes(kKey), std::string(27, 'x'), {}),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("27 bytes")));
}

TEST(Aes256Gcm, RejectsEveryFlippedBit) {
  auto sealed =
      Aes256GcmSeal(AsBytes(kKey), AsBytes("dek bytes"), AsBytes("id"));
  ASSERT_THAT(sealed, IsOk());
  for (size_t bit = 0; bit < sealed->size() * 8; ++bit) {
    std::string altered = *sealed;
    altered[bit / 8] = static_cast<char>(altered[bit / 8] ^ (1 << (bit % 8)));
    EXPECT_THAT(Aes256GcmOpen(AsBytes(kKey), altered, AsBytes("id")),
                StatusIs(absl::StatusCode::kDataLoss))
        << "bit " << bit;
  }
}

TEST(Aes256Gcm, RejectsOtherAssociatedDataAndKey) {
  auto sealed = Aes256GcmSeal(AsBytes(kKey), AsBytes("dek"), AsBytes("id-1"));
  ASSERT_THAT(sealed, IsOk());
  EXPECT_THAT(Aes256GcmOpen(AsBytes(kKey), *sealed, AsBytes("id-2")),
              StatusIs(absl::StatusCode::kDataLoss));
  EXPECT_THAT(
      Aes256GcmOpen(AsBytes(std::string(32, 'o')), *sealed, AsBytes("id-1")),
      StatusIs(absl::StatusCode::kDataLoss,
               HasSubstr("authentication failed")));
}

TEST(Aes256Gcm, RoundTripsWithFreshNonces) {
  auto first = Aes256GcmSeal(AsBytes(kKey), AsBytes("dek"), AsBytes("ad"));
  auto second = Aes256GcmSeal(AsBytes(kKey), AsBytes("dek"), AsBytes("ad"));
  ASSERT_THAT(first, IsOk());
  ASSERT_THAT(second, IsOk());
  EXPECT_NE(*first, *second);
  EXPECT_EQ(first->size(), 12u + 3u + 16u);
  auto opened = Aes256GcmOpen(AsBytes(kKey), *first, AsBytes("ad"));
  ASSERT_THAT(opened, IsOk());
  EXPECT_EQ(RevealAsText(*opened), "dek");
}

TEST(Aes256Gcm, EmptyPlaintextAndAssociatedData) {
  auto sealed = Aes256GcmSeal(AsBytes(kKey), {}, {});
  ASSERT_THAT(sealed, IsOk());
  auto opened = Aes256GcmOpen(AsBytes(kKey), *sealed, {});
  ASSERT_THAT(opened, IsOk());
  EXPECT_TRUE(opened->empty());
}

TEST(Sha256, MatchesKnownDigest) {
  // SHA-256("abc") from FIPS 180-2, appendix B.1.
  const auto digest = Sha256(AsBytes("abc"));
  EXPECT_EQ(RevealAsText(EncodeHex(digest)),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

}  // namespace
}  // namespace dekms::internal
