#include "src/base/utf8.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace dekms::internal {
namespace {

TEST(IsValidUtf8, AcceptsWellFormedText) {
  for (const std::string& text : std::vector<std::string>{
           "", "ascii", "\xc3\xa9t\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x94\x91",
           "\xf4\x8f\xbf\xbf", std::string("nul\0inside", 10)}) {
    EXPECT_TRUE(IsValidUtf8(text)) << text;
  }
}

TEST(IsValidUtf8, RejectsMalformedText) {
  for (const char* text :
       {"\xff", "\x80", "\xc0\xaf", "\xe0\x80\xaf", "\xed\xa0\x80",
        "\xf4\x90\x80\x80", "\xe2\x82", "\xc3\x28", "\xf8\x88\x80\x80\x80"}) {
    EXPECT_FALSE(IsValidUtf8(text)) << text;
  }
}

TEST(HasControlCharacters, FindsC0DelAndC1) {
  EXPECT_FALSE(HasControlCharacters("plain text \xc3\xa9"));
  EXPECT_TRUE(HasControlCharacters("tab\there"));
  EXPECT_TRUE(HasControlCharacters(std::string("nul\0", 4)));
  EXPECT_TRUE(HasControlCharacters("del\x7f"));
  EXPECT_TRUE(HasControlCharacters("c1\xc2\x85"));
  EXPECT_FALSE(HasControlCharacters("nbsp\xc2\xa0"));
}

}  // namespace
}  // namespace dekms::internal
