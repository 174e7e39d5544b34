#ifndef DEKMS_SRC_CLOUD_AWS_REFRESHING_PROVIDER_H_
#define DEKMS_SRC_CLOUD_AWS_REFRESHING_PROVIDER_H_

#include <functional>
#include <string>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "src/cloud/aws/credential_chain.h"
#include "src/cloud/aws/credentials.h"
#include "src/cloud/refreshing_cache.h"

namespace dekms::internal {

// Caches temporary credentials from Fetch() in a RefreshingCache, which
// refreshes them `refresh_margin` before they expire, fetches on one thread
// at a time, keeps still-valid credentials when a refresh fails, and never
// returns expired ones.
class RefreshingProvider : public AwsCredentialsProvider {
 public:
  // Takes `refresh_margin` and `now` from `options`, where `now` must be set.
  RefreshingProvider(std::string description, std::string error_hint,
                     const AwsCredentialChainOptions& options)
      : description_(std::move(description)),
        now_(options.now),
        cache_("AWS credentials", description_, std::move(error_hint),
               options.now, options.refresh_margin) {}

  absl::StatusOr<AwsCredentials> Get() final {
    return cache_.Get([this] { return Fetch(); });
  }

  std::string Describe() const final { return description_; }

 protected:
  // Fetches new credentials from the source. Get() runs it on one thread at
  // a time, so implementations may keep state between calls without a lock.
  virtual absl::StatusOr<AwsCredentials> Fetch() = 0;

  [[nodiscard]] absl::Time Now() const { return now_(); }

 private:
  const std::string description_;
  const std::function<absl::Time()> now_;
  RefreshingCache<AwsCredentials> cache_;
};

}  // namespace dekms::internal

#endif  // DEKMS_SRC_CLOUD_AWS_REFRESHING_PROVIDER_H_
