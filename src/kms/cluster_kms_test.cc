#include "dekms/cluster_kms.h"

#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "src/crypto/encoding.h"
#include "tests/testing/status_matchers.h"

namespace dekms {
namespace {

using ::dekms::testing::IsOk;
using ::dekms::testing::StatusIs;
using ::testing::HasSubstr;
using ::testing::Not;

SecretBytes Range(int first, int end) {
  SecretBytes bytes(static_cast<size_t>(end - first));
  for (int i = first; i < end; ++i) {
    bytes.Reveal()[static_cast<size_t>(i - first)] = static_cast<uint8_t>(i);
  }
  return bytes;
}

std::unique_ptr<ClusterKms> NewKms() {
  // Master secret bytes 0..31, salt bytes 32..63.
  auto kms = ClusterKms::Create(Range(0, 32), Range(32, 64));
  EXPECT_THAT(kms, IsOk());
  return std::move(kms).value();
}

std::string DekHex(ClusterKms& kms, std::string_view id, size_t length) {
  auto dek = kms.GetDek(id, length);
  EXPECT_THAT(dek, IsOk());
  if (!dek.ok()) return "";
  return std::string(
      internal::RevealAsText(internal::EncodeHex(dek->Reveal())));
}

TEST(ClusterKms, RejectsShortMasterSecret) {
  EXPECT_THAT(ClusterKms::Create(Range(0, 15), Range(0, 32)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("is 15 bytes long")));
}

TEST(ClusterKms, RejectsEmptySalt) {
  EXPECT_THAT(ClusterKms::Create(Range(0, 32), SecretBytes()),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("salt is 0 bytes")));
}

TEST(ClusterKms, AcceptsMinimumMasterSecret) {
  EXPECT_THAT(ClusterKms::Create(Range(0, 16), Range(0, 1)), IsOk());
}

TEST(ClusterKms, RejectsZeroLength) {
  EXPECT_THAT(
      NewKms()->GetDek("disk", 0),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("length 0")));
}

TEST(ClusterKms, RejectsLengthAboveMaximum) {
  EXPECT_THAT(NewKms()->GetDek("disk", kMaxDekLengthBytes + 1),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("8161")));
  // A huge length is rejected before anything is allocated.
  EXPECT_THAT(NewKms()->GetDek("disk", SIZE_MAX),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(ClusterKms, RejectsEmptyId) {
  EXPECT_THAT(NewKms()->GetDek("", 32),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("DEK ID is empty")));
}

TEST(ClusterKms, RejectsIdAboveMaximum) {
  EXPECT_THAT(NewKms()->GetDek(std::string(kMaxDekIdBytes + 1, 'a'), 32),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("513 bytes long")));
}

TEST(ClusterKms, AcceptsLimits) {
  auto kms = NewKms();
  EXPECT_THAT(kms->GetDek(std::string(kMaxDekIdBytes, 'a'), 1), IsOk());
  auto dek = kms->GetDek("a", kMaxDekLengthBytes);
  ASSERT_THAT(dek, IsOk());
  EXPECT_EQ(dek->size(), kMaxDekLengthBytes);
}

// Expected DEKs computed with Python's hmac module for master secret
// 00 01 .. 1f and salt 20 21 .. 3f; the IDs carry the "key-" prefix that
// the key service adds.
TEST(ClusterKms, MatchesKnownAnswers) {
  auto kms = NewKms();
  EXPECT_EQ(DekHex(*kms, "key-disk-1", 32),
            "42f598bf6f15a7ac3ae7da7109eb3e97fb4744997261ad85530f6e995ed225a3");
  EXPECT_EQ(DekHex(*kms, "key-state-disk", 64),
            "09fdab3f3d97cc69e34a7f76998af792a388991ea0edf959e7ba966ba46735a9"
            "8c256c4fe6f9d2ffd360f500d3c72e631ea9f4b78bf6bc6e0c406553b77a060d");
  EXPECT_EQ(DekHex(*kms, "key-a", 1), "84");
}

TEST(ClusterKms, IdsAreCaseSensitive) {
  auto kms = NewKms();
  EXPECT_EQ(DekHex(*kms, "key-Disk-1", 32),
            "66c6932585c96e55f15997945a4d18b4a562b355b1f5eb2984a5af19c54d9fff");
  EXPECT_NE(DekHex(*kms, "key-Disk-1", 32), DekHex(*kms, "key-disk-1", 32));
}

TEST(ClusterKms, ShorterLengthIsPrefix) {
  // HKDF output for L bytes is the prefix of the output for more bytes, so
  // a caller that changes the length gets a related, not independent, key.
  auto kms = NewKms();
  EXPECT_EQ(DekHex(*kms, "key-state-disk", 64).substr(0, 64),
            DekHex(*kms, "key-state-disk", 32));
}

TEST(ClusterKms, SameInputsSameDek) {
  auto first = NewKms();
  auto second = NewKms();
  EXPECT_EQ(DekHex(*first, "volume", 32), DekHex(*second, "volume", 32));
  EXPECT_NE(DekHex(*first, "volume", 32), DekHex(*first, "volume2", 32));
}

TEST(ClusterKms, DifferentSaltDifferentDek) {
  auto kms = NewKms();
  auto other = ClusterKms::Create(Range(0, 32), Range(33, 65));
  ASSERT_THAT(other, IsOk());
  EXPECT_NE(DekHex(*kms, "volume", 32), DekHex(**other, "volume", 32));
}

TEST(ClusterKms, ConcurrentCallsAgree) {
  auto kms = NewKms();
  const std::string expected = DekHex(*kms, "key-disk-1", 32);
  std::vector<std::thread> threads;
  std::vector<std::string> results(8);
  for (size_t t = 0; t < results.size(); ++t) {
    threads.emplace_back([&kms, &results, t] {
      for (int i = 0; i < 200; ++i) {
        results[t] = DekHex(*kms, "key-disk-1", 32);
      }
    });
  }
  for (auto& thread : threads) thread.join();
  for (const std::string& result : results) {
    EXPECT_EQ(result, expected);
  }
}

TEST(ValidateDekRequest, NamesValueAndLimit) {
  EXPECT_THAT(ValidateDekRequest("id", 9000),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("DEK length 9000 is out of range; request 1 "
                                 "to 8160 bytes")));
  EXPECT_THAT(ValidateDekRequest("id", 32), Not(Not(IsOk())));
}

}  // namespace
}  // namespace dekms
