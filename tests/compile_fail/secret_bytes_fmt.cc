// Must not compile: formatting a SecretBytes with fmt, as spdlog does.
#include <spdlog/fmt/fmt.h>

#include "dekms/secret_bytes.h"

int main() {
  dekms::SecretBytes secret(4);
  return static_cast<int>(fmt::format("{}", secret).size());
}
