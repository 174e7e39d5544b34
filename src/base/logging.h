#ifndef DEKMS_SRC_BASE_LOGGING_H_
#define DEKMS_SRC_BASE_LOGGING_H_

#include <string_view>

// Log set-up for the server and the CLI. The library itself does not log; it
// returns statuses.
namespace dekms::internal {

// Sends spdlog's default logger to stderr with UTC timestamps, at `level`
// ("debug", "info", "warn", "error"). Unknown levels fall back to "info".
void ConfigureLogging(std::string_view level);

}  // namespace dekms::internal

#endif  // DEKMS_SRC_BASE_LOGGING_H_
