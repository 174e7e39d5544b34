#ifndef DEKMS_SRC_CLOUD_RETRY_H_
#define DEKMS_SRC_CLOUD_RETRY_H_

#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "src/cloud/http.h"

namespace dekms::internal {

struct RetryPolicy {
  // Attempts in all, the first included.
  int max_attempts = 5;
  absl::Duration initial_backoff = absl::Milliseconds(100);
  absl::Duration max_backoff = absl::Seconds(5);
  // Deadline for one attempt.
  absl::Duration attempt_timeout = absl::Seconds(20);
  // Deadline for all attempts and the waits between them together.
  absl::Duration total_timeout = absl::Seconds(60);
  // Injection points for tests; both default to the real clock.
  std::function<absl::Time()> now;
  std::function<void(absl::Duration)> sleep;
};

// The decision on one attempt's outcome.
struct RetryDecision {
  // Set to retry the request. The text is the reason, and goes to the log.
  std::optional<std::string> retry_reason;
};

// Decides whether a response (any status) is worth another attempt. The
// default, DefaultRetryClassifier, retries 408, 429, 500, 502, 503 and 504.
using RetryClassifier = absl::FunctionRef<RetryDecision(const HttpResponse&)>;

RetryDecision DefaultRetryClassifier(const HttpResponse& response);

// Sends the request from `build` until it gets a response that
// `classify` does not want retried, or the policy runs out. `build` runs
// once per attempt, so a signer can date and sign each attempt afresh.
// Connection errors and attempt timeouts are retried only when
// `idempotent` is true. Between attempts it waits with full-jitter
// exponential backoff, or for as long as a Retry-After header asks when
// that still fits in the deadline. Each retry is logged with `what`, the
// attempt number and the reason.
//
// Returns the last response (which may carry an error status) or the last
// transport error. When the policy runs out on a retryable answer, the
// status message says how many attempts were made.
[[nodiscard]] absl::StatusOr<HttpResponse> SendWithRetries(
    HttpTransport& transport, const RetryPolicy& policy, std::string_view what,
    bool idempotent, absl::FunctionRef<absl::StatusOr<HttpRequest>()> build,
    RetryClassifier classify = DefaultRetryClassifier);

}  // namespace dekms::internal

#endif  // DEKMS_SRC_CLOUD_RETRY_H_
