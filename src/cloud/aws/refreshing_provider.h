#ifndef DEKMS_SRC_CLOUD_AWS_REFRESHING_PROVIDER_H_
#define DEKMS_SRC_CLOUD_AWS_REFRESHING_PROVIDER_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "src/cloud/aws/credential_chain.h"
#include "src/cloud/aws/credentials.h"

namespace dekms::internal {

// Caches temporary credentials from Fetch() and refreshes them
// `refresh_margin` before they expire, or halfway through their lifetime if
// that is later. One thread refreshes at a time. While it does, other
// callers get the cached credentials if those have not expired, and wait
// otherwise. A failed refresh keeps credentials that are still valid and logs
// a warning. Expired credentials are never returned.
class RefreshingProvider : public AwsCredentialsProvider {
 public:
  // Takes `refresh_margin` and `now` from `options`, where `now` must be set.
  RefreshingProvider(std::string description, std::string error_hint,
                     const AwsCredentialChainOptions& options)
      : description_(std::move(description)),
        error_hint_(std::move(error_hint)),
        now_(options.now),
        refresh_margin_(options.refresh_margin) {}

  absl::StatusOr<AwsCredentials> Get() final;

  std::string Describe() const final { return description_; }

 protected:
  // Fetches new credentials from the source. Get() runs it on one thread at
  // a time, so implementations may keep state between calls without a lock.
  virtual absl::StatusOr<AwsCredentials> Fetch() = 0;

  [[nodiscard]] absl::Time Now() const { return now_(); }

 private:
  absl::Status DescribeError(const absl::Status& status) const;

  const std::string description_;
  // A sentence appended to error messages, to say why this source was
  // chosen.
  const std::string error_hint_;
  const std::function<absl::Time()> now_;
  const absl::Duration refresh_margin_;

  absl::Mutex mu_;
  std::optional<AwsCredentials> cached_ ABSL_GUARDED_BY(mu_);
  // Time of the next Fetch() while `cached_` is set.
  absl::Time refresh_at_ ABSL_GUARDED_BY(mu_);
  bool refreshing_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t finished_refreshes_ ABSL_GUARDED_BY(mu_) = 0;
  // The outcome of the last refresh.
  absl::Status last_refresh_status_ ABSL_GUARDED_BY(mu_);
};

}  // namespace dekms::internal

#endif  // DEKMS_SRC_CLOUD_AWS_REFRESHING_PROVIDER_H_
