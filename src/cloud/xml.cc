#include "src/cloud/xml.h"

#include <string>
#include <utility>

#include "src/base/str_cat.h"

namespace dekms::internal {

std::string XmlElementText(std::string_view xml, std::string_view tag) {
  const std::string open = StrCat("<", tag, ">");
  const std::string close = StrCat("</", tag, ">");
  const size_t start = xml.find(open);
  if (start == std::string_view::npos) {
    return "";
  }

  const size_t begin = start + open.size();
  const size_t end = xml.find(close, begin);
  if (end == std::string_view::npos) {
    return "";
  }

  std::string_view raw = xml.substr(begin, end - begin);
  std::string text;
  text.reserve(raw.size());
  constexpr std::pair<std::string_view, char> kEntities[] = {{"&amp;", '&'},
                                                             {"&lt;", '<'},
                                                             {"&gt;", '>'},
                                                             {"&quot;", '"'},
                                                             {"&apos;", '\''}};

  while (!raw.empty()) {
    bool replaced = false;
    if (raw.front() == '&') {
      for (const auto& [entity, c] : kEntities) {
        if (raw.starts_with(entity)) {
          text += c;
          raw.remove_prefix(entity.size());
          replaced = true;
          break;
        }
      }
    }
    if (!replaced) {
      text += raw.front();
      raw.remove_prefix(1);
    }
  }
  return text;
}

}  // namespace dekms::internal
