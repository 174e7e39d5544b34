#include "src/crypto/crc32c.h"

#include <cstdint>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace dekms::internal {
namespace {

// Vectors from RFC 3720, appendix B.4 (iSCSI), and the classic check value
// of "123456789".
TEST(Crc32cTest, MatchesPublishedVectors) {
  EXPECT_EQ(Crc32c(std::string_view()), 0u);
  EXPECT_EQ(Crc32c("123456789"), 0xE3069283u);
  EXPECT_EQ(Crc32c(std::string(32, '\0')), 0x8A9136AAu);
  EXPECT_EQ(Crc32c(std::string(32, '\xff')), 0x62A8AB43u);
  std::vector<uint8_t> ascending(32);
  std::vector<uint8_t> descending(32);
  for (size_t i = 0; i < 32; ++i) {
    ascending[i] = static_cast<uint8_t>(i);
    descending[i] = static_cast<uint8_t>(31 - i);
  }
  EXPECT_EQ(Crc32c(ascending), 0x46DD794Eu);
  EXPECT_EQ(Crc32c(descending), 0x113FDB5Cu);
}

// Google Cloud KMS sends checksums as decimal int64 strings; this is the
// value its documentation pairs with "123456789".
TEST(Crc32cTest, CheckValueAsDecimal) {
  EXPECT_EQ(std::to_string(Crc32c("123456789")), "3808858755");
}

// The eight-byte loop and the byte loop must agree at every split and
// length, including lengths that are not a multiple of eight.
TEST(Crc32cTest, AgreesWithBitwiseDefinitionAtEveryLength) {
  auto bitwise = [](std::span<const uint8_t> data) {
    uint32_t crc = 0xFFFFFFFF;
    for (const uint8_t byte : data) {
      crc ^= byte;
      for (int bit = 0; bit < 8; ++bit) {
        crc = (crc & 1) != 0 ? (crc >> 1) ^ 0x82F63B78 : crc >> 1;
      }
    }
    return ~crc;
  };
  std::vector<uint8_t> data(100);
  for (size_t i = 0; i < data.size(); ++i) {
    data[i] = static_cast<uint8_t>(i * 37 + 11);
  }
  for (size_t length = 0; length <= data.size(); ++length) {
    const std::span<const uint8_t> prefix(data.data(), length);
    ASSERT_EQ(Crc32c(prefix), bitwise(prefix)) << "length " << length;
  }
}

TEST(Crc32cTest, ExtendEqualsOneShot) {
  const std::string text = "the quick brown fox jumps over the lazy dog";
  for (size_t split = 0; split <= text.size(); ++split) {
    const std::string_view a = std::string_view(text).substr(0, split);
    const std::string_view b = std::string_view(text).substr(split);
    EXPECT_EQ(
        Crc32cExtend(Crc32c(a),
                     {reinterpret_cast<const uint8_t*>(b.data()), b.size()}),
        Crc32c(text));
  }
}

TEST(Crc32cTest, DetectsASingleFlippedBit) {
  std::string data(64, 'a');
  const uint32_t original = Crc32c(data);
  data[17] ^= 0x04;
  EXPECT_NE(Crc32c(data), original);
}

}  // namespace
}  // namespace dekms::internal
