#include "src/cloud/xml.h"

#include "gtest/gtest.h"

namespace dekms::internal {
namespace {

TEST(XmlElementText, ReadsFirstElementAndDecodesEntities) {
  constexpr std::string_view kXml =
      "<?xml version=\"1.0\"?><Error><Code>NoSuchKey</Code>"
      "<Message>a &lt;b&gt; &amp; &quot;c&quot; &apos;d&apos; &amp;lt;"
      "</Message><Code>Second</Code></Error>";
  EXPECT_EQ(XmlElementText(kXml, "Code"), "NoSuchKey");
  EXPECT_EQ(XmlElementText(kXml, "Message"), "a <b> & \"c\" 'd' &lt;");
}

TEST(XmlElementText, MissingOrUnclosedIsEmpty) {
  EXPECT_EQ(XmlElementText("<Error><Code>X</Code></Error>", "RequestId"), "");
  EXPECT_EQ(XmlElementText("<Code>unclosed", "Code"), "");
  EXPECT_EQ(XmlElementText("", "Code"), "");
  EXPECT_EQ(XmlElementText("<Code></Code>", "Code"), "");
}

}  // namespace
}  // namespace dekms::internal
