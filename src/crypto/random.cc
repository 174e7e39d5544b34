#include "src/crypto/random.h"

#include <openssl/rand.h>

#include <climits>

#include "src/base/str_cat.h"

namespace dekms::internal {

absl::StatusOr<SecretBytes> RandomSecretBytes(size_t size_bytes) {
  if (size_bytes > INT_MAX) {
    return absl::InvalidArgumentError(
        StrCat("random buffer of ", size_bytes,
               " bytes requested; the maximum is ", INT_MAX, " bytes"));
  }
  SecretBytes out(size_bytes);
  if (size_bytes == 0) {
    return out;
  }
  if (RAND_priv_bytes(out.Reveal().data(), static_cast<int>(size_bytes)) != 1) {
    return absl::InternalError(
        "OpenSSL's random generator failed (RAND_priv_bytes); check that the "
        "system entropy source is available");
  }
  return out;
}

}  // namespace dekms::internal
