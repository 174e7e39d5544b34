#ifndef DEKMS_SRC_BASE_STR_CAT_H_
#define DEKMS_SRC_BASE_STR_CAT_H_

#include <string>
#include <string_view>
#include <type_traits>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace dekms {
namespace str_cat_internal {

template <typename T>
decltype(auto) ForAbsl(const T& value) {
  if constexpr (std::is_same_v<T, std::string_view>) {
    return absl::string_view(value.data(), value.size());
  } else {
    return (value);
  }
}

}  // namespace str_cat_internal

// absl::StrCat that also takes std::string_view. Debian 12 builds Abseil
// with its own absl::string_view (ABSL_OPTION_USE_STD_STRING_VIEW is 0), and
// absl::StrCat does not accept a std::string_view.
template <typename... Args>
[[nodiscard]] std::string StrCat(const Args&... args) {
  return absl::StrCat(str_cat_internal::ForAbsl(args)...);
}

}  // namespace dekms

#endif  // DEKMS_SRC_BASE_STR_CAT_H_
