#ifndef DEKMS_SRC_CRYPTO_RANDOM_H_
#define DEKMS_SRC_CRYPTO_RANDOM_H_

#include <cstddef>

#include "absl/status/statusor.h"
#include "dekms/secret_bytes.h"

namespace dekms::internal {

// Returns `size_bytes` bytes from OpenSSL's CSPRNG (RAND_priv_bytes, the
// generator OpenSSL keeps apart for private values). Fails with kInternal
// when the generator is not seeded or errors.
[[nodiscard]] absl::StatusOr<SecretBytes> RandomSecretBytes(size_t size_bytes);

}  // namespace dekms::internal

#endif  // DEKMS_SRC_CRYPTO_RANDOM_H_
