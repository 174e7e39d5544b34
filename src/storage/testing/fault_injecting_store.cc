#include "src/storage/testing/fault_injecting_store.h"

#include <utility>

namespace dekms::testing {

FaultInjectingStore::FaultInjectingStore(std::shared_ptr<Store> base)
    : base_(std::move(base)) {}

void FaultInjectingStore::FailCall(int n, absl::Status status) {
  absl::MutexLock lock(&mu_);
  fail_call_ = n;
  fail_call_status_ = std::move(status);
}

void FaultInjectingStore::FailAllGets(absl::Status status) {
  absl::MutexLock lock(&mu_);
  fail_gets_ = std::move(status);
}

void FaultInjectingStore::FailAllCreates(absl::Status status) {
  absl::MutexLock lock(&mu_);
  fail_creates_ = std::move(status);
}

void FaultInjectingStore::LoseNextCreateRace(std::string winner_blob) {
  absl::MutexLock lock(&mu_);
  race_winner_ = std::move(winner_blob);
}

void FaultInjectingStore::CorruptGets(
    std::function<std::string(std::string)> corrupt) {
  absl::MutexLock lock(&mu_);
  corrupt_ = std::move(corrupt);
}

void FaultInjectingStore::DelayGets(absl::Duration delay) {
  absl::MutexLock lock(&mu_);
  get_delay_ = delay;
}

int FaultInjectingStore::gets() const {
  absl::MutexLock lock(&mu_);
  return gets_;
}

int FaultInjectingStore::creates() const {
  absl::MutexLock lock(&mu_);
  return creates_;
}

int FaultInjectingStore::successful_creates() const {
  absl::MutexLock lock(&mu_);
  return successful_creates_;
}

std::optional<absl::Status> FaultInjectingStore::NextCall(bool is_get) {
  absl::MutexLock lock(&mu_);
  ++calls_;
  if (is_get) {
    ++gets_;
  } else {
    ++creates_;
  }
  if (calls_ == fail_call_) {
    return fail_call_status_;
  }
  if (is_get && !fail_gets_.ok()) {
    return fail_gets_;
  }
  if (!is_get && !fail_creates_.ok()) {
    return fail_creates_;
  }
  return std::nullopt;
}

absl::StatusOr<std::string> FaultInjectingStore::Get(std::string_view id) {
  if (std::optional<absl::Status> fault = NextCall(/*is_get=*/true)) {
    return *fault;
  }
  absl::Duration delay;
  std::function<std::string(std::string)> corrupt;
  {
    absl::MutexLock lock(&mu_);
    delay = get_delay_;
    corrupt = corrupt_;
  }
  absl::SleepFor(delay);
  absl::StatusOr<std::string> blob = base_->Get(id);
  if (blob.ok() && corrupt) {
    return corrupt(*std::move(blob));
  }
  return blob;
}

absl::Status FaultInjectingStore::Create(std::string_view id,
                                         std::string_view blob) {
  if (std::optional<absl::Status> fault = NextCall(/*is_get=*/false)) {
    return *fault;
  }
  std::optional<std::string> winner;
  {
    absl::MutexLock lock(&mu_);
    winner.swap(race_winner_);
  }
  if (winner.has_value()) {
    absl::Status stored = base_->Create(id, *winner);
    if (!stored.ok()) {
      return stored;
    }
    return absl::AlreadyExistsError("another writer created this blob first");
  }
  absl::Status created = base_->Create(id, blob);
  if (created.ok()) {
    absl::MutexLock lock(&mu_);
    ++successful_creates_;
  }
  return created;
}

}  // namespace dekms::testing
