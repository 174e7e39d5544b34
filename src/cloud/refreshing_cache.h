#ifndef DEKMS_SRC_CLOUD_REFRESHING_CACHE_H_
#define DEKMS_SRC_CLOUD_REFRESHING_CACHE_H_

#include <algorithm>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "spdlog/spdlog.h"
#include "src/base/str_cat.h"

namespace dekms::internal {

// Caches a credential that expires (temporary AWS keys, OAuth access
// tokens) and fetches a new one `refresh_margin` before it expires, or
// halfway through its lifetime if that is later, so short-lived
// credentials are not fetched on every call.
//
// One thread fetches at a time. While it does, other callers get the cached
// value if it has not expired, and wait otherwise. A failed fetch keeps a
// value that is still valid, logs a warning and tries again after 30
// seconds. An expired value is never returned.
//
// `T` has a member `absl::Time expiration` and a `T Clone() const`.
template <typename T>
class RefreshingCache {
 public:
  // Error messages start with "`noun` from `source`", such as "AWS
  // credentials from environment variables", and end with `error_hint`
  // when it is not empty.
  RefreshingCache(std::string noun, std::string_view source,
                  std::string error_hint, std::function<absl::Time()> now,
                  absl::Duration refresh_margin)
      : noun_(std::move(noun)),
        error_prefix_(StrCat(noun_, " from ", source)),
        error_hint_(std::move(error_hint)),
        now_(now ? std::move(now) : [] { return absl::Now(); }),
        refresh_margin_(refresh_margin) {}

  // Returns the cached value, or calls `fetch` when it is due for refresh.
  absl::StatusOr<T> Get(absl::FunctionRef<absl::StatusOr<T>()> fetch);

  // Drops the cached value, so the next Get() fetches, for a value that the
  // server refused before its time.
  void Invalidate() {
    absl::MutexLock lock(&mu_);
    cached_.reset();
  }

 private:
  absl::Status DescribeError(const absl::Status& status) const {
    std::string message = StrCat(error_prefix_, ": ", status.message());
    if (!error_hint_.empty()) {
      message = StrCat(message, ". ", error_hint_);
    }
    return {status.code(), message};
  }

  static std::string FormatUtc(absl::Time time) {
    return absl::FormatTime(absl::RFC3339_sec, time, absl::UTCTimeZone());
  }

  // After a failed fetch, a value that is still valid stays in use for this
  // long before the next attempt, which also limits the warnings.
  static constexpr absl::Duration kRetryInterval = absl::Seconds(30);

  const std::string noun_;
  const std::string error_prefix_;
  const std::string error_hint_;
  const std::function<absl::Time()> now_;
  const absl::Duration refresh_margin_;

  absl::Mutex mu_;
  std::optional<T> cached_ ABSL_GUARDED_BY(mu_);
  // Time of the next fetch while `cached_` is set.
  absl::Time refresh_at_ ABSL_GUARDED_BY(mu_);
  bool fetching_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t finished_fetches_ ABSL_GUARDED_BY(mu_) = 0;
  // The outcome of the last fetch.
  absl::Status last_status_ ABSL_GUARDED_BY(mu_);
};

template <typename T>
absl::StatusOr<T> RefreshingCache<T>::Get(
    absl::FunctionRef<absl::StatusOr<T>()> fetch) {
  absl::MutexLock lock(&mu_);
  const uint64_t finished_before = finished_fetches_;
  auto fetch_finished = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return !fetching_;
  };
  while (fetching_) {
    if (cached_.has_value() && now_() < cached_->expiration) {
      return cached_->Clone();
    }
    mu_.Await(absl::Condition(&fetch_finished));
  }
  if (finished_fetches_ != finished_before && !last_status_.ok()) {
    // The fetch this call waited for failed. Report that instead of sending
    // the same request again at once.
    return last_status_;
  }
  const absl::Time now = now_();
  if (cached_.has_value() && now < refresh_at_ && now < cached_->expiration) {
    return cached_->Clone();
  }

  fetching_ = true;
  mu_.Unlock();
  absl::StatusOr<T> fetched = fetch();
  const absl::Time fetched_at = now_();
  if (fetched.ok() && fetched->expiration <= fetched_at) {
    fetched = absl::UnavailableError(StrCat(
        "the ", noun_, " received expired at ", FormatUtc(fetched->expiration),
        ", before it could be used; check the system clock"));
  }
  mu_.Lock();
  fetching_ = false;
  ++finished_fetches_;

  if (fetched.ok()) {
    const absl::Duration lifetime = fetched->expiration - fetched_at;
    refresh_at_ = std::max(fetched->expiration - refresh_margin_,
                           fetched_at + lifetime / 2);
    cached_ = fetched->Clone();
    last_status_ = absl::OkStatus();
    return fetched;
  }

  last_status_ = DescribeError(fetched.status());
  if (cached_.has_value() && fetched_at < cached_->expiration) {
    refresh_at_ = std::min(fetched_at + kRetryInterval, cached_->expiration);
    spdlog::warn("{}; the current one stays in use until it expires at {}",
                 std::string(last_status_.message()),
                 FormatUtc(cached_->expiration));
    return cached_->Clone();
  }
  cached_.reset();
  return last_status_;
}

}  // namespace dekms::internal

#endif  // DEKMS_SRC_CLOUD_REFRESHING_CACHE_H_
