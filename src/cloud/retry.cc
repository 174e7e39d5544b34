#include "src/cloud/retry.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <string>

#include "absl/random/random.h"
#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "spdlog/spdlog.h"
#include "src/base/str_cat.h"

namespace dekms::internal {
namespace {

// Parses Retry-After: either delay seconds or an HTTP date (RFC 9110).
std::optional<absl::Duration> ParseRetryAfter(const std::string& value,
                                              absl::Time now) {
  int64_t seconds = 0;
  const char* end = value.data() + value.size();
  if (auto [ptr, ec] = std::from_chars(value.data(), end, seconds);
      ec == std::errc() && ptr == end) {
    return seconds >= 0 ? std::optional(absl::Seconds(seconds)) : std::nullopt;
  }
  absl::Time when;
  std::string error;
  if (absl::ParseTime("%a, %d %b %Y %H:%M:%S GMT", value, &when, &error)) {
    return std::max(absl::ZeroDuration(), when - now);
  }
  return std::nullopt;
}

absl::Duration Backoff(const RetryPolicy& policy, int attempt) {
  // Full jitter: uniform in [0, min(max, initial * 2^(attempt - 1))].
  const absl::Duration ceiling =
      std::min(policy.max_backoff,
               policy.initial_backoff * std::ldexp(1.0, attempt - 1));
  static absl::Mutex mu(absl::kConstInit);
  static absl::BitGen* bitgen = new absl::BitGen();  // Never destroyed.
  absl::MutexLock lock(&mu);
  return absl::Microseconds(absl::Uniform<int64_t>(
      absl::IntervalClosed, *bitgen, 0,
      std::max<int64_t>(0, absl::ToInt64Microseconds(ceiling))));
}

bool IsRetryableTransportError(const absl::Status& status) {
  return status.code() == absl::StatusCode::kUnavailable ||
         status.code() == absl::StatusCode::kDeadlineExceeded;
}

}  // namespace

RetryDecision DefaultRetryClassifier(const HttpResponse& response) {
  switch (response.status) {
    case 408:
    case 429:
    case 500:
    case 502:
    case 503:
    case 504:
      return {StrCat("HTTP ", response.status)};
    default:
      return {};
  }
}

absl::StatusOr<HttpResponse> SendWithRetries(
    HttpTransport& transport, const RetryPolicy& policy, std::string_view what,
    bool idempotent, absl::FunctionRef<absl::StatusOr<HttpRequest>()> build,
    RetryClassifier classify) {
  const auto now = [&policy] {
    return policy.now ? policy.now() : absl::Now();
  };
  const auto sleep = [&policy](absl::Duration d) {
    if (policy.sleep) {
      policy.sleep(d);
    } else {
      absl::SleepFor(d);
    }
  };
  const int max_attempts = std::max(1, policy.max_attempts);
  const absl::Time overall_deadline = now() + policy.total_timeout;

  for (int attempt = 1;; ++attempt) {
    absl::StatusOr<HttpRequest> request = build();
    if (!request.ok()) {
      return request.status();
    }
    request->idempotent = idempotent;
    const absl::Time attempt_deadline =
        std::min(overall_deadline, now() + policy.attempt_timeout);
    absl::StatusOr<HttpResponse> result =
        transport.Send(*request, attempt_deadline);

    std::string reason;
    std::optional<absl::Duration> retry_after;
    if (!result.ok()) {
      if (!idempotent || !IsRetryableTransportError(result.status())) {
        return result;
      }
      reason = std::string(result.status().message());
    } else {
      RetryDecision decision = classify(*result);
      if (!decision.retry_reason.has_value()) {
        return result;
      }
      reason = std::move(*decision.retry_reason);
      if (const std::string* header = result->FindHeader("retry-after")) {
        retry_after = ParseRetryAfter(*header, now());
      }
    }

    const auto give_up =
        [&](std::string_view why) -> absl::StatusOr<HttpResponse> {
      spdlog::warn("{}: attempt {} of {} failed ({}); {}", std::string(what),
                   attempt, max_attempts, reason, std::string(why));
      if (!result.ok()) {
        return absl::Status(
            result.status().code(),
            StrCat(result.status().message(), " (gave up after ", attempt,
                   attempt == 1 ? " attempt)" : " attempts)"));
      }
      return std::move(result);
    };
    if (attempt >= max_attempts) {
      return give_up("no attempts left");
    }
    absl::Duration wait = Backoff(policy, attempt);
    if (retry_after.has_value()) {
      wait = std::max(wait, *retry_after);
    }
    if (now() + wait >= overall_deadline) {
      return give_up(StrCat("the next attempt would miss the deadline of ",
                            absl::FormatDuration(policy.total_timeout)));
    }
    spdlog::warn("{}: attempt {} of {} failed ({}); retrying in {} ms",
                 std::string(what), attempt, max_attempts, reason,
                 absl::ToInt64Milliseconds(wait));
    sleep(wait);
  }
}

}  // namespace dekms::internal
