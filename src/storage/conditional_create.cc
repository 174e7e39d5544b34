#include "src/storage/conditional_create.h"

#include <algorithm>

#include "absl/time/clock.h"
#include "spdlog/spdlog.h"
#include "src/base/status_macros.h"
#include "src/base/str_cat.h"

namespace dekms::internal {

bool IsUnclearWrite(const absl::StatusOr<HttpResponse>& sent) {
  if (!sent.ok()) {
    return sent.status().code() == absl::StatusCode::kUnavailable ||
           sent.status().code() == absl::StatusCode::kDeadlineExceeded;
  }
  return sent->status >= 500;
}

absl::Status CreateSettlingUnclearWrites(
    std::string_view blob, const RetryPolicy& retry, std::string_view what,
    std::string_view exists_message,
    absl::FunctionRef<ConditionalWrite()> write,
    absl::FunctionRef<absl::StatusOr<std::optional<std::string>>()> read) {
  using Outcome = ConditionalWrite::Outcome;
  const int max_rounds = std::max(1, retry.max_attempts);
  const auto now = [&retry] { return retry.now ? retry.now() : absl::Now(); };
  const absl::Time deadline = now() + retry.total_timeout;
  bool earlier_attempt_unclear = false;
  absl::Status last_unclear;
  for (int round = 1; round <= max_rounds; ++round) {
    const ConditionalWrite attempt = write();
    switch (attempt.outcome) {
      case Outcome::kWritten:
        return absl::OkStatus();
      case Outcome::kFailed:
        return attempt.status;
      case Outcome::kExists:
        if (!earlier_attempt_unclear) {
          return absl::AlreadyExistsError(std::string(exists_message));
        }
        last_unclear = absl::AlreadyExistsError("412 after an unclear write");
        break;
      case Outcome::kUnclear:
        last_unclear = attempt.status;
        break;
    }
    // Either this write's outcome is unknown, or it met an object that an
    // earlier unknown write of ours may have created, so the stored bytes
    // decide.
    DEKMS_ASSIGN_OR_RETURN(const std::optional<std::string> stored, read());
    if (stored.has_value()) {
      if (*stored == blob) {
        spdlog::info(
            "{} outcome was unclear; reading back found the blob "
            "written",
            what);
        return absl::OkStatus();
      }
      return absl::AlreadyExistsError(std::string(exists_message));
    }
    earlier_attempt_unclear = true;
    const absl::Duration wait = retry.initial_backoff * round;
    if (round == max_rounds || now() + wait >= deadline) {
      break;
    }
    spdlog::warn(
        "{} round {} of {} had an unclear outcome ({}); the object "
        "is absent, so the write is repeated",
        what, round, max_rounds, std::string(last_unclear.message()));
    if (retry.sleep) {
      retry.sleep(wait);
    } else {
      absl::SleepFor(wait);
    }
  }
  return absl::UnavailableError(
      StrCat(what,
             " kept failing with an unclear outcome, and the object is "
             "still absent; last error: ",
             last_unclear.message()));
}

absl::Status ProbeCreateOnly(absl::FunctionRef<ConditionalWrite()> write,
                             std::string_view ignored_message) {
  using Outcome = ConditionalWrite::Outcome;
  for (int attempt = 0; attempt < 2; ++attempt) {
    const ConditionalWrite result = write();
    if (result.outcome == Outcome::kExists) {
      return absl::OkStatus();
    }
    if (result.outcome != Outcome::kWritten) {
      return result.status;
    }
  }
  return absl::FailedPreconditionError(std::string(ignored_message));
}

}  // namespace dekms::internal
