#ifndef DEKMS_SRC_CLOUD_ENVIRONMENT_H_
#define DEKMS_SRC_CLOUD_ENVIRONMENT_H_

#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace dekms::internal {

// Reads an environment variable; tests pass a map instead of the real
// environment, so that no test depends on the variables of the machine.
using GetEnvFunction =
    std::function<std::optional<std::string>(std::string_view name)>;

// Returns the process environment as a GetEnvFunction.
[[nodiscard]] GetEnvFunction ProcessEnvironment();

}  // namespace dekms::internal

#endif  // DEKMS_SRC_CLOUD_ENVIRONMENT_H_
