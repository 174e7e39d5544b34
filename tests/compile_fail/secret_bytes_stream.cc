// Must not compile: streaming a SecretBytes.
#include <iostream>

#include "dekms/secret_bytes.h"

int main() {
  dekms::SecretBytes secret(4);
  std::cout << secret << "\n";
  return 0;
}
