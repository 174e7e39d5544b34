#ifndef DEKMS_SRC_CLI_OUTPUT_H_
#define DEKMS_SRC_CLI_OUTPUT_H_

#include <cstdint>
#include <span>
#include <string_view>

#include "absl/status/status.h"

namespace dekms::internal {

// Writes `bytes` to `fd` with write(2), bypassing stdio so that no copy of
// key material stays behind in a stdio buffer.
[[nodiscard]] absl::Status WriteToFd(int fd, std::span<const uint8_t> bytes);
[[nodiscard]] absl::Status WriteToFd(int fd, std::string_view text);

}  // namespace dekms::internal

#endif  // DEKMS_SRC_CLI_OUTPUT_H_
