#include "src/cli/output.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "src/base/str_cat.h"

namespace dekms::internal {

absl::Status WriteToFd(int fd, std::span<const uint8_t> bytes) {
  while (!bytes.empty()) {
    const ssize_t written = ::write(fd, bytes.data(), bytes.size());
    if (written < 0) {
      if (errno == EINTR) {
        continue;
      }
      return absl::UnavailableError(
          StrCat("cannot write the output: ",
                 std::strerror(errno)));  // NOLINT(concurrency-mt-unsafe)
    }
    bytes = bytes.subspan(static_cast<size_t>(written));
  }
  return absl::OkStatus();
}

absl::Status WriteToFd(int fd, std::string_view text) {
  return WriteToFd(
      fd, std::span<const uint8_t>(
              reinterpret_cast<const uint8_t*>(text.data()), text.size()));
}

}  // namespace dekms::internal
