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

// The outcome of one create-only write (S3 `If-None-Match: *`, GCS
// `ifGenerationMatch=0`).
struct ConditionalWrite {
  enum class Outcome {
    kWritten,  // The store confirmed the new object.
    kExists,   // The store rejected it because an object exists (412).
    kUnclear,  // No reply, a timeout or a 5xx, so it may have landed.
    kFailed,   // Rejected for another reason, given in `status`.
  };
  Outcome outcome = Outcome::kFailed;
  absl::Status status;  // Why, for kUnclear and kFailed.
};

// Returns whether a write has an unknown outcome: a transport error or
// timeout (kUnavailable, kDeadlineExceeded), or a 5xx reply.
[[nodiscard]] bool IsUnclearWrite(const absl::StatusOr<HttpResponse>& sent);

// Creates an object with `write` and never replaces one. A write whose
// outcome is unclear is settled by reading the object back with `read`,
// which returns the stored bytes or nullopt. Our own bytes mean the write
// landed, and other bytes mean another writer won (kAlreadyExists). An
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

// Proves at start-up that a store rejects a second create-only write:
// `write` creates the probe object, twice when it is new. Returns OK once a
// write reports kExists, the write's error when one fails, and
// kFailedPrecondition with `ignored_message` when both writes succeed,
// because then two writers could replace each other's DEKs.
[[nodiscard]] absl::Status ProbeCreateOnly(
    absl::FunctionRef<ConditionalWrite()> write,
    std::string_view ignored_message);

}  // namespace dekms::internal

#endif  // DEKMS_SRC_STORAGE_CONDITIONAL_CREATE_H_
