// Control: the same includes and flags as the other snippets compile, and a
// SecretBytes can be revealed explicitly.
#include <spdlog/fmt/fmt.h>

#include <iostream>

#include "dekms/secret_bytes.h"

int main() {
  dekms::SecretBytes secret(4);
  std::cout << secret.Reveal().size() << fmt::format("{}", 1) << "\n";
  return 0;
}
