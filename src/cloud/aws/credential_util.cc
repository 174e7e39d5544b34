#include "src/cloud/aws/credential_util.h"

#include <string>

#include "src/base/quote.h"
#include "src/base/str_cat.h"

namespace dekms::internal {

bool IsSpace(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' ||
         c == '\f';
}

std::string_view Trim(std::string_view text) {
  while (!text.empty() && IsSpace(text.front())) {
    text.remove_prefix(1);
  }
  while (!text.empty() && IsSpace(text.back())) {
    text.remove_suffix(1);
  }
  return text;
}

std::string ToLower(std::string_view text) {
  std::string lower(text);
  for (char& c : lower) {
    if (c >= 'A' && c <= 'Z') {
      c = static_cast<char>(c - 'A' + 'a');
    }
  }
  return lower;
}

std::optional<std::string> GetSetting(const GetEnvFunction& getenv,
                                      std::string_view name) {
  std::optional<std::string> value = getenv(name);
  if (!value.has_value() || value->empty()) {
    return std::nullopt;
  }
  return value;
}

absl::Status WithContext(const absl::Status& status, std::string_view context) {
  return {status.code(), StrCat(context, ": ", status.message())};
}

absl::StatusOr<absl::Time> ParseIsoTime(std::string_view text,
                                        std::string_view what) {
  absl::Time time;
  std::string error;
  if (!absl::ParseTime(absl::RFC3339_full, std::string(text), &time, &error)) {
    return absl::InternalError(StrCat(what, " ", Quote(text),
                                      " is not an ISO 8601 time such as "
                                      "2030-01-02T03:04:05Z"));
  }
  return time;
}

}  // namespace dekms::internal
