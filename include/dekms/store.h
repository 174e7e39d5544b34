#ifndef DEKMS_INCLUDE_DEKMS_STORE_H_
#define DEKMS_INCLUDE_DEKMS_STORE_H_

#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace dekms {

// Storage for wrapped DEK blobs, addressed by DEK ID.
//
// Blobs are ciphertext and are not treated as secret. A blob, once created,
// is never replaced or deleted through this interface, which is what keeps a
// DEK from being silently replaced.
//
// Implementations are thread-safe.
class Store {
 public:
  virtual ~Store() = default;

  // Returns the blob stored under `id`. Fails with kNotFound when there is
  // none; any other error code means the store could not tell, and callers
  // must not treat it as absence.
  [[nodiscard]] virtual absl::StatusOr<std::string> Get(
      std::string_view id) = 0;

  // Stores `blob` under `id` if, and only if, nothing is stored there yet.
  // Fails with kAlreadyExists, leaving the stored blob untouched, when `id`
  // is taken. On success the blob is durable as far as the backend promises.
  [[nodiscard]] virtual absl::Status Create(std::string_view id,
                                            std::string_view blob) = 0;

  // Returns a short name of the backend for logs, such as "memory".
  [[nodiscard]] virtual std::string_view Kind() const = 0;
};

// Returns an empty store kept in process memory: fast and thread-safe, and
// lost when the process exits. Meant for tests and single-process use.
[[nodiscard]] std::unique_ptr<Store> NewMemoryStore();

}  // namespace dekms

#endif  // DEKMS_INCLUDE_DEKMS_STORE_H_
