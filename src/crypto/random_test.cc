#include "src/crypto/random.h"

#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace dekms::internal {
namespace {

using ::dekms::testing::IsOk;

TEST(RandomSecretBytes, ZeroBytesIsEmpty) {
  auto bytes = RandomSecretBytes(0);
  ASSERT_THAT(bytes, IsOk());
  EXPECT_TRUE(bytes->empty());
}

TEST(RandomSecretBytes, ReturnsRequestedSize) {
  auto bytes = RandomSecretBytes(32);
  ASSERT_THAT(bytes, IsOk());
  EXPECT_EQ(bytes->size(), 32u);
}

TEST(RandomSecretBytes, TwoDrawsDiffer) {
  auto first = RandomSecretBytes(32);
  auto second = RandomSecretBytes(32);
  ASSERT_THAT(first, IsOk());
  ASSERT_THAT(second, IsOk());
  EXPECT_FALSE(first->Equals(*second));
}

}  // namespace
}  // namespace dekms::internal
