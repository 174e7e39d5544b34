#ifndef DEKMS_SRC_CLOUD_GCP_GOOGLE_API_INL_H_
#define DEKMS_SRC_CLOUD_GCP_GOOGLE_API_INL_H_

// Template definitions for google_api.h.

#include <charconv>
#include <cstdint>
#include <optional>
#include <string_view>

namespace dekms::internal {

template <typename Json>
std::optional<uint64_t> GoogleUint64Field(const Json& object,
                                          std::string_view name) {
  if (!object.is_object()) {
    return std::nullopt;
  }
  const auto it = object.find(name);
  if (it == object.end()) {
    return std::nullopt;
  }
  if (it->is_number_unsigned()) {
    return it->template get<uint64_t>();
  }
  if (!it->is_string()) {
    return std::nullopt;
  }
  const auto& text = it->template get_ref<const typename Json::string_t&>();
  uint64_t value = 0;
  const char* end = text.data() + text.size();
  const auto [ptr, error] = std::from_chars(text.data(), end, value);
  if (text.empty() || error != std::errc() || ptr != end) {
    return std::nullopt;
  }
  return value;
}

}  // namespace dekms::internal

#endif  // DEKMS_SRC_CLOUD_GCP_GOOGLE_API_INL_H_
