#include "src/cloud/environment.h"

#include <cstdlib>

namespace dekms::internal {

GetEnvFunction ProcessEnvironment() {
  return [](std::string_view name) -> std::optional<std::string> {
    const std::string name_text(name);
    // getenv races only with setenv and putenv, which dekms calls in no
    // library or program code.
    // NOLINTNEXTLINE(concurrency-mt-unsafe)
    const char* value = std::getenv(name_text.c_str());
    if (value == nullptr) {
      return std::nullopt;
    }
    return std::string(value);
  };
}

}  // namespace dekms::internal
