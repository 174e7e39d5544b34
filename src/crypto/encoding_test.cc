#include "src/crypto/encoding.h"

#include <string>

#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace dekms::internal {
namespace {

using ::dekms::testing::IsOk;
using ::dekms::testing::StatusIs;
using ::testing::HasSubstr;
using ::testing::Not;

std::span<const uint8_t> Bytes(std::string_view text) {
  return {reinterpret_cast<const uint8_t*>(text.data()), text.size()};
}

std::string Decoded(std::string_view text, Base64Alphabet alphabet) {
  auto decoded = DecodeBase64(text, alphabet, "test value");
  EXPECT_THAT(decoded, IsOk());
  return decoded.ok() ? std::string(RevealAsText(*decoded)) : "";
}

TEST(DecodeBase64, RejectsStandardAlphabetInUrlSafe) {
  EXPECT_THAT(DecodeBase64("ab+/", Base64Alphabet::kUrlSafe, "parameter key"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("replace '+' with '-'")));
}

TEST(DecodeBase64, RejectsUrlSafeAlphabetInStandard) {
  EXPECT_THAT(
      DecodeBase64("ab-_", Base64Alphabet::kStandard, "field"),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("offset 2")));
}

TEST(DecodeBase64, RejectsImpossibleLength) {
  EXPECT_THAT(DecodeBase64("abcde", Base64Alphabet::kUrlSafe, "v"),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(DecodeBase64, RejectsMisplacedPadding) {
  EXPECT_THAT(DecodeBase64("ab=c", Base64Alphabet::kUrlSafe, "v"), Not(IsOk()));
  EXPECT_THAT(DecodeBase64("abcd=", Base64Alphabet::kUrlSafe, "v"),
              Not(IsOk()));
  EXPECT_THAT(DecodeBase64("ab=", Base64Alphabet::kUrlSafe, "v"), Not(IsOk()));
  EXPECT_THAT(DecodeBase64("a===", Base64Alphabet::kUrlSafe, "v"), Not(IsOk()));
}

TEST(DecodeBase64, ErrorNamesValueButNotContent) {
  auto decoded =
      DecodeBase64("SECRET!!", Base64Alphabet::kUrlSafe, "parameter \"key\"");
  ASSERT_THAT(decoded, Not(IsOk()));
  EXPECT_THAT(std::string(decoded.status().message()),
              HasSubstr("parameter \"key\""));
  EXPECT_THAT(std::string(decoded.status().message()),
              Not(HasSubstr("SECRET")));
}

TEST(DecodeBase64, AcceptsPaddedAndUnpadded) {
  EXPECT_EQ(Decoded("Zm9vYg==", Base64Alphabet::kUrlSafe), "foob");
  EXPECT_EQ(Decoded("Zm9vYg", Base64Alphabet::kUrlSafe), "foob");
  EXPECT_EQ(Decoded("Zm9vYmE=", Base64Alphabet::kUrlSafe), "fooba");
  EXPECT_EQ(Decoded("Zm9vYmE", Base64Alphabet::kUrlSafe), "fooba");
  EXPECT_EQ(Decoded("Zm9vYmFy", Base64Alphabet::kUrlSafe), "foobar");
  EXPECT_EQ(Decoded("", Base64Alphabet::kUrlSafe), "");
}

TEST(DecodeBase64, DecodesAlphabetSpecificCharacters) {
  EXPECT_EQ(Decoded("-_8=", Base64Alphabet::kUrlSafe), "\xfb\xff");
  EXPECT_EQ(Decoded("+/8=", Base64Alphabet::kStandard), "\xfb\xff");
}

TEST(EncodeBase64, MatchesRfc4648Vectors) {
  // Test vectors of RFC 4648, section 10.
  const std::pair<std::string_view, std::string_view> cases[] = {
      {"", ""},
      {"f", "Zg=="},
      {"fo", "Zm8="},
      {"foo", "Zm9v"},
      {"foob", "Zm9vYg=="},
      {"fooba", "Zm9vYmE="},
      {"foobar", "Zm9vYmFy"},
  };
  for (const auto& [plain, encoded] : cases) {
    EXPECT_EQ(
        RevealAsText(EncodeBase64(Bytes(plain), Base64Alphabet::kStandard)),
        encoded);
  }
}

TEST(EncodeBase64, RoundTripsAllByteValues) {
  std::string all;
  for (int i = 0; i < 256; ++i) all.push_back(static_cast<char>(i));
  for (size_t len = 0; len <= all.size(); len += 7) {
    const std::string_view input = std::string_view(all).substr(0, len);
    for (const auto alphabet :
         {Base64Alphabet::kStandard, Base64Alphabet::kUrlSafe}) {
      const SecretBytes text = EncodeBase64(Bytes(input), alphabet);
      EXPECT_EQ(Decoded(RevealAsText(text), alphabet), input);
    }
  }
}

TEST(DecodeHex, RejectsOddLengthAndNonHex) {
  EXPECT_THAT(DecodeHex("abc", "v"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("odd")));
  EXPECT_THAT(DecodeHex("zz", "v"), StatusIs(absl::StatusCode::kInvalidArgument,
                                             HasSubstr("offset 0")));
}

TEST(EncodeHex, RoundTrips) {
  const SecretBytes text =
      EncodeHex(Bytes(std::string_view("\x00\x01\xab\xff", 4)));
  EXPECT_EQ(RevealAsText(text), "0001abff");
  auto decoded = DecodeHex("0001ABff", "v");
  ASSERT_THAT(decoded, IsOk());
  EXPECT_EQ(RevealAsText(*decoded), std::string_view("\x00\x01\xab\xff", 4));
}

TEST(WipeString, ClearsText) {
  std::string text = "secret";
  WipeString(text);
  EXPECT_TRUE(text.empty());
}

}  // namespace
}  // namespace dekms::internal
