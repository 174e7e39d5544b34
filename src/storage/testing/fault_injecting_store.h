#ifndef DEKMS_SRC_STORAGE_TESTING_FAULT_INJECTING_STORE_H_
#define DEKMS_SRC_STORAGE_TESTING_FAULT_INJECTING_STORE_H_

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "dekms/store.h"

namespace dekms::testing {

// A Store for tests that wraps another one and injects faults: failing
// calls, a lost create race, corrupted reads and slow reads. It also counts
// the calls it receives. Thread-safe.
class FaultInjectingStore final : public Store {
 public:
  explicit FaultInjectingStore(std::shared_ptr<Store> base);

  // Makes call number `n` (1-based, Get and Create counted together) fail
  // with `status` without reaching the wrapped store.
  void FailCall(int n, absl::Status status);

  // Makes every Get, or every Create, fail with `status`; OK clears it.
  void FailAllGets(absl::Status status);
  void FailAllCreates(absl::Status status);

  // Makes the next Create behave as if another writer won the race: it
  // stores `winner_blob` under the ID first, then reports kAlreadyExists.
  void LoseNextCreateRace(std::string winner_blob);

  // Passes every blob that Get returns through `corrupt`.
  void CorruptGets(std::function<std::string(std::string)> corrupt);

  // Delays every Get by `delay` before it reaches the wrapped store.
  void DelayGets(absl::Duration delay);

  [[nodiscard]] int gets() const;
  [[nodiscard]] int creates() const;
  [[nodiscard]] int successful_creates() const;

  absl::StatusOr<std::string> Get(std::string_view id) override;
  absl::Status Create(std::string_view id, std::string_view blob) override;
  std::string_view Kind() const override { return "fault-injecting"; }

 private:
  // Counts a call and returns the fault planned for it, if any.
  std::optional<absl::Status> NextCall(bool is_get);

  const std::shared_ptr<Store> base_;
  mutable absl::Mutex mu_;
  int calls_ ABSL_GUARDED_BY(mu_) = 0;
  int gets_ ABSL_GUARDED_BY(mu_) = 0;
  int creates_ ABSL_GUARDED_BY(mu_) = 0;
  int successful_creates_ ABSL_GUARDED_BY(mu_) = 0;
  int fail_call_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Status fail_call_status_ ABSL_GUARDED_BY(mu_);
  absl::Status fail_gets_ ABSL_GUARDED_BY(mu_);
  absl::Status fail_creates_ ABSL_GUARDED_BY(mu_);
  std::optional<std::string> race_winner_ ABSL_GUARDED_BY(mu_);
  std::function<std::string(std::string)> corrupt_ ABSL_GUARDED_BY(mu_);
  absl::Duration get_delay_ ABSL_GUARDED_BY(mu_) = absl::ZeroDuration();
};

}  // namespace dekms::testing

#endif  // DEKMS_SRC_STORAGE_TESTING_FAULT_INJECTING_STORE_H_
