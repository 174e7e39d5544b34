// Cost of one cluster-KMS derivation, next to the baselines it is judged
// against: two bare SHA-256 compressions, and a full HKDF through OpenSSL's
// EVP_KDF (extract and expand on every call, as a derivation that does not
// cache the extract step must do).

// SHA256_Init and friends are deprecated in OpenSSL 3 but are the cheapest
// way to time raw compressions.
#define OPENSSL_SUPPRESS_DEPRECATED

#include <benchmark/benchmark.h>
#include <openssl/sha.h>

#include <array>
#include <atomic>
#include <cstdlib>
#include <new>
#include <string>

#include "dekms/cluster_kms.h"
#include "src/crypto/hkdf.h"

// Counts heap allocations, so the benchmark can report allocations per call.
// The replacement operators pair malloc with free, which GCC cannot see
// through once they are inlined into static initialisers.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif
namespace {
std::atomic<long> g_allocations{0};
}  // namespace

void* operator new(size_t size) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  void* pointer = std::malloc(size == 0 ? 1 : size);
  if (pointer == nullptr) throw std::bad_alloc();
  return pointer;
}
void* operator new[](size_t size) { return operator new(size); }
void operator delete(void* pointer) noexcept { std::free(pointer); }
void operator delete[](void* pointer) noexcept { std::free(pointer); }
void operator delete(void* pointer, size_t) noexcept { std::free(pointer); }
void operator delete[](void* pointer, size_t) noexcept { std::free(pointer); }

namespace dekms {
namespace {

constexpr size_t kDekBytes = 32;
// "key-" plus a 36-character UUID, the shape of Constellation's disk IDs.
const std::string kDekId = "key-3f2b8a4e-9c1d-4e7f-8a6b-2d5c9e0f1a3b";

SecretBytes Filled(size_t size, uint8_t first) {
  SecretBytes bytes(size);
  for (size_t i = 0; i < size; ++i) {
    bytes.Reveal()[i] = static_cast<uint8_t>(first + i);
  }
  return bytes;
}

void BM_ClusterKmsGetDek(benchmark::State& state) {
  auto kms = ClusterKms::Create(Filled(32, 0), Filled(32, 32));
  if (!kms.ok()) {
    state.SkipWithError("ClusterKms::Create failed");
    return;
  }
  static_assert(sizeof(char) == 1);
  const long allocations_before = g_allocations.load();
  for (auto _ : state) {
    auto dek = (*kms)->GetDek(kDekId, kDekBytes);
    benchmark::DoNotOptimize(dek);
  }
  state.counters["allocs_per_call"] = benchmark::Counter(
      static_cast<double>(g_allocations.load() - allocations_before) /
      static_cast<double>(state.iterations()));
  state.counters["id_bytes"] = static_cast<double>(kDekId.size());
}
BENCHMARK(BM_ClusterKmsGetDek);

void BM_EvpKdfHkdfSha256(benchmark::State& state) {
  const SecretBytes master = Filled(32, 0);
  const SecretBytes salt = Filled(32, 32);
  const std::span<const uint8_t> info(
      reinterpret_cast<const uint8_t*>(kDekId.data()), kDekId.size());
  for (auto _ : state) {
    auto dek = internal::HkdfSha256WithEvpKdf(master.Reveal(), salt.Reveal(),
                                              info, kDekBytes);
    benchmark::DoNotOptimize(dek);
  }
}
BENCHMARK(BM_EvpKdfHkdfSha256);

void BM_TwoSha256Compressions(benchmark::State& state) {
  // Two one-block SHA-256 hashes: the floor for HMAC-SHA256 over a short
  // message with precomputed keyed states.
  std::array<uint8_t, 40> message{};
  std::array<uint8_t, 32> digest{};
  for (auto _ : state) {
    SHA256_CTX ctx;
    SHA256_Init(&ctx);
    SHA256_Update(&ctx, message.data(), message.size());
    SHA256_Final(digest.data(), &ctx);
    SHA256_Init(&ctx);
    SHA256_Update(&ctx, digest.data(), digest.size());
    SHA256_Final(digest.data(), &ctx);
    benchmark::DoNotOptimize(digest);
  }
}
BENCHMARK(BM_TwoSha256Compressions);

}  // namespace
}  // namespace dekms

BENCHMARK_MAIN();
