#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "dekms/store.h"
#include "src/base/quote.h"
#include "src/base/str_cat.h"

namespace dekms {
namespace {

class MemoryStore final : public Store {
 public:
  absl::StatusOr<std::string> Get(std::string_view id) override {
    absl::MutexLock lock(&mu_);
    auto it = blobs_.find(absl::string_view(id.data(), id.size()));
    if (it == blobs_.end()) {
      return absl::NotFoundError(StrCat("no blob stored for DEK ID ",
                                        internal::Quote(id),
                                        " in storage://memory"));
    }
    return it->second;
  }

  absl::Status Create(std::string_view id, std::string_view blob) override {
    absl::MutexLock lock(&mu_);
    const bool inserted =
        blobs_.try_emplace(std::string(id), std::string(blob)).second;
    if (!inserted) {
      return absl::AlreadyExistsError(
          StrCat("a blob is already stored for DEK ID ", internal::Quote(id),
                 " in storage://memory; it was left unchanged"));
    }
    return absl::OkStatus();
  }

  std::string_view Kind() const override { return "memory"; }

 private:
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, std::string> blobs_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

std::unique_ptr<Store> NewMemoryStore() {
  return std::make_unique<MemoryStore>();
}

}  // namespace dekms
