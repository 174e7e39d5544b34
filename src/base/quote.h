#ifndef DEKMS_SRC_BASE_QUOTE_H_
#define DEKMS_SRC_BASE_QUOTE_H_

#include <cstddef>
#include <string>
#include <string_view>

#include "absl/strings/escaping.h"
#include "src/base/str_cat.h"

namespace dekms::internal {

// Quotes a caller-supplied, non-secret value such as a DEK ID for an error
// message or log line. Quotes, backslashes and non-printable bytes get C-style
// escapes, so the value cannot forge or split log lines, and input past
// `max_bytes` bytes is cut off with a note of the full size.
[[nodiscard]] inline std::string Quote(std::string_view value,
                                       size_t max_bytes = 128) {
  const absl::string_view view(value.data(), value.size());
  if (view.size() <= max_bytes) {
    return StrCat("\"", absl::CEscape(view), "\"");
  }
  return StrCat("\"", absl::CEscape(view.substr(0, max_bytes)), "\"... (",
                value.size(), " bytes)");
}

}  // namespace dekms::internal

#endif  // DEKMS_SRC_BASE_QUOTE_H_
