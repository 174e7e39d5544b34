// GetDek of the envelope KMS with a local KEK and the directory store:
// served from the cache, read and unwrapped from a stored blob, and created
// (random DEK, wrap, fsynced create-only write).

#include <benchmark/benchmark.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "dekms/config.h"

namespace dekms {
namespace {

// A temporary directory with a KEK file, removed when the benchmark ends.
class Workspace {
 public:
  Workspace() {
    std::string pattern =
        std::filesystem::temp_directory_path().string() + "/dekms-bench-XXXXXX";
    if (mkdtemp(pattern.data()) != nullptr) {
      dir_ = pattern;
      std::ofstream(dir_ + "/kek", std::ios::binary) << std::string(32, 'k');
      chmod((dir_ + "/kek").c_str(), 0600);
    }
  }
  ~Workspace() {
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }
  Workspace(const Workspace&) = delete;
  Workspace& operator=(const Workspace&) = delete;

  std::unique_ptr<KeyManager> NewKms(absl::Duration cache_ttl) const {
    KeyManagerOptions options;
    options.cache_ttl = cache_ttl;
    auto kms = NewKeyManager(LocalKmsConfig{dir_ + "/kek"},
                             FileStoreConfig{dir_ + "/blobs"}, options);
    return kms.ok() ? std::move(kms).value() : nullptr;
  }

 private:
  std::string dir_;
};

void RunGet(benchmark::State& state, absl::Duration cache_ttl) {
  Workspace workspace;
  auto kms = workspace.NewKms(cache_ttl);
  if (kms == nullptr || !kms->GetDek("disk-1", 32).ok()) {
    state.SkipWithError("could not set up the envelope KMS");
    return;
  }
  for (auto _ : state) {
    auto dek = kms->GetDek("disk-1", 32);
    benchmark::DoNotOptimize(dek);
  }
}

void BM_EnvelopeGetDekCached(benchmark::State& state) {
  RunGet(state, absl::Hours(1));
}
BENCHMARK(BM_EnvelopeGetDekCached);

void BM_EnvelopeGetDekRead(benchmark::State& state) {
  RunGet(state, absl::ZeroDuration());
}
BENCHMARK(BM_EnvelopeGetDekRead);

void BM_EnvelopeGetDekCreate(benchmark::State& state) {
  Workspace workspace;
  auto kms = workspace.NewKms(absl::ZeroDuration());
  if (kms == nullptr) {
    state.SkipWithError("could not set up the envelope KMS");
    return;
  }
  int64_t next_id = 0;
  for (auto _ : state) {
    auto dek = kms->GetDek("disk-" + std::to_string(next_id++), 32);
    if (!dek.ok()) {
      state.SkipWithError("GetDek failed");
      break;
    }
    benchmark::DoNotOptimize(dek);
  }
}
// Each create fsyncs a file and its directory, so the iteration count is
// capped to keep the directory and the run small.
BENCHMARK(BM_EnvelopeGetDekCreate)->Iterations(500)->UseRealTime();

}  // namespace
}  // namespace dekms
