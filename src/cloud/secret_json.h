#ifndef DEKMS_SRC_CLOUD_SECRET_JSON_H_
#define DEKMS_SRC_CLOUD_SECRET_JSON_H_

#include <cstdint>
#include <map>
#include <string_view>
#include <vector>

#include "nlohmann/json.hpp"
#include "src/crypto/wiping_allocator.h"

namespace dekms::internal {

// JSON for documents that carry key material or credentials, such as a KMS
// Decrypt reply. Its strings, the parser's token buffer and the value
// objects themselves are allocated with WipingAllocator, so parsing and
// dumping leave no copy of a secret in freed memory. Object keys live in
// std::map nodes that are not wiped; keys are never secret.
using SecretJson =
    nlohmann::basic_json<std::map, std::vector, WipingString, bool,
                         std::int64_t, std::uint64_t, double, WipingAllocator>;

// Parses `text`; returns a discarded value when it is not valid JSON.
[[nodiscard]] inline SecretJson ParseSecretJson(std::string_view text) {
  return SecretJson::parse(text.begin(), text.end(), nullptr,
                           /*allow_exceptions=*/false);
}

// Returns the string member `name` of `object`, or nullptr when `object` is
// not an object or the member is missing or not a string.
[[nodiscard]] inline const WipingString* FindString(const SecretJson& object,
                                                    std::string_view name) {
  if (!object.is_object()) {
    return nullptr;
  }
  const auto it = object.find(name);
  if (it == object.end() || !it->is_string()) {
    return nullptr;
  }
  return &it->get_ref<const WipingString&>();
}

}  // namespace dekms::internal

#endif  // DEKMS_SRC_CLOUD_SECRET_JSON_H_
