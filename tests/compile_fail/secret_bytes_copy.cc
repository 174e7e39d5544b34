// Must not compile: an implicit copy of a SecretBytes.
#include "dekms/secret_bytes.h"

int main() {
  dekms::SecretBytes secret(4);
  dekms::SecretBytes copy = secret;
  return static_cast<int>(copy.size());
}
