// Client-side cost of Google calls: the CRC-32C that Cloud KMS and Cloud
// Storage calls carry, against a byte-at-a-time table as the baseline, and
// the RS256 assertion a service account signs for each access token.
// Network and server time are not included.

#include <benchmark/benchmark.h>

#include <array>
#include <string>

#include "openssl/bio.h"
#include "openssl/evp.h"
#include "openssl/pem.h"
#include "src/cloud/gcp/credentials.h"
#include "src/crypto/crc32c.h"

namespace dekms::internal {
namespace {

std::string TestData(size_t size) {
  std::string data(size, '\0');
  for (size_t i = 0; i < size; ++i) {
    data[i] = static_cast<char>(i * 131 + 7);
  }
  return data;
}

// The classic one-table loop, for comparison with the eight-table loop.
uint32_t Crc32cBytewise(std::string_view data) {
  static const std::array<uint32_t, 256> table = [] {
    std::array<uint32_t, 256> result{};
    for (uint32_t byte = 0; byte < 256; ++byte) {
      uint32_t crc = byte;
      for (int bit = 0; bit < 8; ++bit) {
        crc = (crc & 1) != 0 ? (crc >> 1) ^ 0x82F63B78 : crc >> 1;
      }
      result[byte] = crc;
    }
    return result;
  }();
  uint32_t crc = 0xFFFFFFFF;
  for (const char c : data) {
    crc = (crc >> 8) ^ table[(crc ^ static_cast<uint8_t>(c)) & 0xff];
  }
  return ~crc;
}

void BM_Crc32c(benchmark::State& state) {
  const std::string data = TestData(static_cast<size_t>(state.range(0)));
  for (auto _ : state) {
    benchmark::DoNotOptimize(Crc32c(data));
  }
  state.SetBytesProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_Crc32c)->Arg(32)->Arg(200)->Arg(4096)->Arg(65536);

void BM_Crc32cBytewise(benchmark::State& state) {
  const std::string data = TestData(static_cast<size_t>(state.range(0)));
  for (auto _ : state) {
    benchmark::DoNotOptimize(Crc32cBytewise(data));
  }
  state.SetBytesProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_Crc32cBytewise)->Arg(32)->Arg(200)->Arg(4096)->Arg(65536);

// The assertion a service account exchanges for a token, about once an
// hour: JSON, base64url and one RSA-2048 PKCS #1 v1.5 signature.
void BM_SignServiceAccountAssertion(benchmark::State& state) {
  ServiceAccountKey key;
  key.client_email = "dekms@my-project.iam.gserviceaccount.com";
  key.private_key_id = "0123456789abcdef0123456789abcdef01234567";
  key.token_uri = "https://oauth2.googleapis.com/token";
  key.private_key = std::shared_ptr<EVP_PKEY>(
      EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(2048)),
      EvpPkeyDeleter());
  const absl::Time now = absl::FromUnixSeconds(1767225600);
  for (auto _ : state) {
    benchmark::DoNotOptimize(
        MakeServiceAccountAssertion(key, kGoogleCloudPlatformScope, now));
  }
}
BENCHMARK(BM_SignServiceAccountAssertion);

}  // namespace
}  // namespace dekms::internal
