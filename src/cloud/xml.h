#ifndef DEKMS_SRC_CLOUD_XML_H_
#define DEKMS_SRC_CLOUD_XML_H_

#include <string>
#include <string_view>

namespace dekms::internal {

// Returns the text of the first <tag>...</tag> element in `xml`, with the
// five predefined entities decoded, or an empty string when there is none.
// It is not a general XML parser. Cloud error replies are small documents
// whose elements have no attributes, CDATA or repeated names that matter,
// so this is all the XML reading they need.
[[nodiscard]] std::string XmlElementText(std::string_view xml,
                                         std::string_view tag);

}  // namespace dekms::internal

#endif  // DEKMS_SRC_CLOUD_XML_H_
