#ifndef DEKMS_SRC_STORAGE_CONDITIONAL_CREATE_H_
#define DEKMS_SRC_STORAGE_CONDITIONAL_CREATE_H_

#include <optional>
#include <string>
#include <string_view>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "src/cloud/http.h"
#include "src/cloud/retry.h"

namespace dekms::internal {

// What one create-only write (S3 `If-None-Match: *`, GCS
// `ifGenerationMatch=0`) came to.
struct ConditionalWrite {
  enum class Outcome {
    kWritten,        // The store confirmed the new object.
    kExists,         // The store refused: an object is there (412).
    kUnclear,        // No answer, a timeout or a 5xx: it may have landed.
    kFailed,         // Refused for another reason; `status` says why.
  };
  Outcome outcome = Outcome::kFailed;
  absl::Status status;  // Why, for kUnclear and kFailed.
};

// Classifies a write that reached no clear answer: transport errors and
// timeouts (kUnavailable, kDeadlineExceeded) and 5xx replies are unclear.
[[nodiscard]] bool IsUnclearWrite(const absl::StatusOr<HttpResponse>& sent);

// Creates an object with `write` and never replaces one. A write whose
// outcome is unclear is settled by reading the object back with `read`
// (the stored bytes, or nullopt when absent): our own bytes mean the write
// landed, other bytes mean another writer won (kAlreadyExists), and an
// absent object means the write is repeated, within `retry`'s attempts and
// total deadline. A 412 after an unclear attempt is settled the same way,
// since the earlier attempt may have created the object. `what` names the
// write in logs and errors, such as "S3 PutObject"; `exists_message` is
// the message of kAlreadyExists.
[[nodiscard]] absl::Status CreateSettlingUnclearWrites(
    std::string_view blob, const RetryPolicy& retry, std::string_view what,
    std::string_view exists_message,
    absl::FunctionRef<ConditionalWrite()> write,
    absl::FunctionRef<absl::StatusOr<std::optional<std::string>>()> read);

}  // namespace dekms::internal

#endif  // DEKMS_SRC_STORAGE_CONDITIONAL_CREATE_H_
