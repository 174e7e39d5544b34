#include "src/cloud/aws/refreshing_provider.h"

#include <algorithm>
#include <string>

#include "spdlog/spdlog.h"
#include "src/base/str_cat.h"

namespace dekms::internal {
namespace {

// After a failed refresh, credentials that are still valid stay in use for
// this long before the next attempt, which also limits the warnings.
constexpr absl::Duration kRefreshRetryInterval = absl::Seconds(30);

std::string FormatUtc(absl::Time time) {
  return absl::FormatTime(absl::RFC3339_sec, time, absl::UTCTimeZone());
}

}  // namespace

absl::Status RefreshingProvider::DescribeError(
    const absl::Status& status) const {
  std::string message =
      StrCat("AWS credentials from ", description_, ": ", status.message());
  if (!error_hint_.empty()) {
    message = StrCat(message, ". ", error_hint_);
  }
  return {status.code(), message};
}

absl::StatusOr<AwsCredentials> RefreshingProvider::Get() {
  absl::MutexLock lock(&mu_);
  const uint64_t finished_before = finished_refreshes_;
  auto refresh_finished = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return !refreshing_;
  };
  while (refreshing_) {
    if (cached_.has_value() && now_() < cached_->expiration) {
      return cached_->Clone();
    }
    mu_.Await(absl::Condition(&refresh_finished));
  }
  if (finished_refreshes_ != finished_before && !last_refresh_status_.ok()) {
    // The refresh this call waited for failed. Report that instead of
    // sending the same request again at once.
    return last_refresh_status_;
  }
  const absl::Time now = now_();
  if (cached_.has_value() && now < refresh_at_ && now < cached_->expiration) {
    return cached_->Clone();
  }

  refreshing_ = true;
  mu_.Unlock();
  absl::StatusOr<AwsCredentials> fetched = Fetch();
  const absl::Time fetched_at = now_();
  if (fetched.ok() && fetched->expiration <= fetched_at) {
    fetched = absl::UnavailableError(StrCat(
        "the credentials received expired at ", FormatUtc(fetched->expiration),
        ", before they could be used; check the system clock"));
  }
  mu_.Lock();
  refreshing_ = false;
  ++finished_refreshes_;

  if (fetched.ok()) {
    // Refresh `refresh_margin_` before expiry, but not before half of the
    // lifetime has passed, so that short-lived credentials are not fetched
    // again on every call.
    const absl::Duration lifetime = fetched->expiration - fetched_at;
    refresh_at_ = std::max(fetched->expiration - refresh_margin_,
                           fetched_at + lifetime / 2);
    cached_ = fetched->Clone();
    last_refresh_status_ = absl::OkStatus();
    return fetched;
  }

  last_refresh_status_ = DescribeError(fetched.status());
  if (cached_.has_value() && fetched_at < cached_->expiration) {
    refresh_at_ =
        std::min(fetched_at + kRefreshRetryInterval, cached_->expiration);
    spdlog::warn(
        "{}; the current credentials stay in use until they expire at {}",
        std::string(last_refresh_status_.message()),
        FormatUtc(cached_->expiration));
    return cached_->Clone();
  }
  cached_.reset();
  return last_refresh_status_;
}

}  // namespace dekms::internal
