#ifndef DEKMS_TESTS_TESTING_JSON_FIELDS_H_
#define DEKMS_TESTS_TESTING_JSON_FIELDS_H_

// Reading the JSON that the loopback fakes send back to their launchers.

#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"
#include "src/base/str_cat.h"

namespace dekms::testing {

// Returns the string at `key`, or "" when it is missing or not a string.
inline std::string JsonStringField(const nlohmann::json& object,
                                   const char* key) {
  const auto it = object.find(key);
  if (it == object.end() || !it->is_string()) {
    return "";
  }
  return it->get<std::string>();
}

// Returns the integer at `key`, or 0 when it is missing or not an integer.
inline int JsonIntField(const nlohmann::json& object, const char* key) {
  const auto it = object.find(key);
  if (it == object.end() || !it->is_number_integer()) {
    return 0;
  }
  return it->get<int>();
}

// Parses `text`, which `sender` sent for `what`, as a JSON object.
inline absl::StatusOr<nlohmann::json> ParseJsonObject(const std::string& text,
                                                      std::string_view sender,
                                                      std::string_view what) {
  nlohmann::json parsed =
      nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded() || !parsed.is_object()) {
    return absl::InternalError(
        ::dekms::StrCat(sender, " sent invalid JSON for ", what, ": ", text));
  }
  return parsed;
}

}  // namespace dekms::testing

#endif  // DEKMS_TESTS_TESTING_JSON_FIELDS_H_
