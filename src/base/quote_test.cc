#include "src/base/quote.h"

#include <string>

#include "gtest/gtest.h"

namespace dekms::internal {
namespace {

TEST(Quote, EscapesNewlinesAndQuotes) {
  EXPECT_EQ(Quote("a\nb\"c"), "\"a\\nb\\\"c\"");
}

TEST(Quote, EscapesNonPrintableBytes) {
  EXPECT_EQ(Quote(std::string("\x01\xff", 2)), "\"\\001\\377\"");
}

TEST(Quote, TruncatesLongValues) {
  EXPECT_EQ(Quote(std::string(10, 'x'), 4), "\"xxxx\"... (10 bytes)");
}

TEST(Quote, KeepsPlainValues) { EXPECT_EQ(Quote("disk-7"), "\"disk-7\""); }

}  // namespace
}  // namespace dekms::internal
