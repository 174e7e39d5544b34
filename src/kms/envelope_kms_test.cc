#include "src/kms/envelope_kms.h"

#include <sys/stat.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/notification.h"
#include "gtest/gtest.h"
#include "src/crypto/encoding.h"
#include "src/kek/local_kek_provider.h"
#include "src/kms/blob.h"
#include "src/storage/testing/fault_injecting_store.h"
#include "tests/testdata/golden_blob.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/test_bytes.h"

namespace dekms::internal {
namespace {

using ::dekms::testing::FaultInjectingStore;
using ::dekms::testing::IsOk;
using ::dekms::testing::StatusIs;
using ::testing::HasSubstr;
using ::testing::Not;

std::string Hex(const SecretBytes& bytes) {
  return std::string(RevealAsText(EncodeHex(bytes.Reveal())));
}

// A KEK provider that cannot bind associated data, like a KMS whose wrap
// API takes none: it wraps with the local provider and ignores the data.
class NoAssociatedDataProvider final : public KekProvider {
 public:
  explicit NoAssociatedDataProvider(std::shared_ptr<KekProvider> base)
      : base_(std::move(base)) {}
  std::string_view Kind() const override { return base_->Kind(); }
  const std::string& KeyId() const override { return base_->KeyId(); }
  bool BindsAssociatedData() const override { return false; }
  absl::StatusOr<Wrapped> Wrap(const SecretBytes& plaintext,
                               std::span<const uint8_t>) override {
    return base_->Wrap(plaintext, {});
  }
  absl::StatusOr<SecretBytes> Unwrap(std::string_view ciphertext,
                                     std::string_view version,
                                     std::span<const uint8_t>) override {
    return base_->Unwrap(ciphertext, version, {});
  }
  absl::Status Check() override { return base_->Check(); }

 private:
  std::shared_ptr<KekProvider> base_;
};

class EnvelopeKmsTest : public ::dekms::testing::TempDirTest {
 protected:
  void SetUp() override {
    TempDirTest::SetUp();
    kek_ = LoadKek("kek", 0x40);
    memory_ = NewMemoryStore();
    store_ = std::make_shared<FaultInjectingStore>(memory_);
  }

  std::shared_ptr<KekProvider> LoadKek(const std::string& name, int first) {
    const std::string path =
        WriteFile(name, ::dekms::testing::SequentialBytes(first));
    EXPECT_EQ(chmod(path.c_str(), 0600), 0);
    auto kek = LocalKekProvider::Create(path);
    EXPECT_THAT(kek, IsOk());
    return kek.ok() ? std::shared_ptr<KekProvider>(std::move(kek).value())
                    : nullptr;
  }

  std::unique_ptr<EnvelopeKms> NewKms(
      EnvelopeKmsOptions options = {},
      const std::shared_ptr<KekProvider>& kek = nullptr) {
    auto kms =
        EnvelopeKms::Create(kek ? kek : kek_, store_, std::move(options));
    EXPECT_THAT(kms, IsOk());
    return kms.ok() ? std::move(kms).value() : nullptr;
  }

  std::string StoredBlob(std::string_view id) {
    auto blob = memory_->Get(id);
    EXPECT_THAT(blob, IsOk());
    return blob.ok() ? *blob : "";
  }

  std::shared_ptr<KekProvider> kek_;
  std::shared_ptr<Store> memory_;
  std::shared_ptr<FaultInjectingStore> store_;
};

// Safety cases.

TEST_F(EnvelopeKmsTest, CreateRejectsMissingParts) {
  EXPECT_THAT(EnvelopeKms::Create(nullptr, store_, {}),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EnvelopeKmsOptions options;
  options.cache_ttl = absl::Seconds(1);
  options.cache_max_entries = 0;
  EXPECT_THAT(EnvelopeKms::Create(kek_, store_, options),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("maximum of 0 entries")));
}

TEST_F(EnvelopeKmsTest, InvalidRequestsTouchNoStore) {
  auto kms = NewKms();
  EXPECT_THAT(kms->GetDek("", 32),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(kms->GetDek("disk", 0),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(kms->GetDek("disk", 8161),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_EQ(store_->gets() + store_->creates(), 0);
}

TEST_F(EnvelopeKmsTest, ReadErrorNeverCreatesDek) {
  auto kms = NewKms();
  store_->FailAllGets(absl::UnavailableError("bucket timed out"));
  EXPECT_THAT(kms->GetDek("disk", 32),
              StatusIs(absl::StatusCode::kUnavailable,
                       HasSubstr("read the blob of DEK ID \"disk\"")));
  store_->FailAllGets(absl::PermissionDeniedError("no read access"));
  EXPECT_THAT(kms->GetDek("disk", 32),
              StatusIs(absl::StatusCode::kPermissionDenied));
  EXPECT_EQ(store_->creates(), 0);
}

TEST_F(EnvelopeKmsTest, FailedNthCallReturnsErrorThenRecovers) {
  auto kms = NewKms();
  store_->FailCall(2, absl::UnavailableError("write timed out"));
  // Call 1 is the Get (NotFound), call 2 the Create, which fails.
  EXPECT_THAT(kms->GetDek("disk", 32),
              StatusIs(absl::StatusCode::kUnavailable,
                       HasSubstr("write the new blob")));
  EXPECT_EQ(store_->successful_creates(), 0);
  auto dek = kms->GetDek("disk", 32);
  ASSERT_THAT(dek, IsOk());
  EXPECT_EQ(store_->successful_creates(), 1);
}

TEST_F(EnvelopeKmsTest, LostCreateRaceReturnsWinnersDek) {
  // Another writer, with its own store and the same KEK, makes the blob.
  std::shared_ptr<Store> winner_store = NewMemoryStore();
  auto winner_kms_or = EnvelopeKms::Create(kek_, winner_store, {});
  ASSERT_THAT(winner_kms_or, IsOk());
  auto winner_dek = (*winner_kms_or)->GetDek("disk", 32);
  ASSERT_THAT(winner_dek, IsOk());
  auto winner_blob = winner_store->Get("disk");
  ASSERT_THAT(winner_blob, IsOk());

  store_->LoseNextCreateRace(*winner_blob);
  auto kms = NewKms();
  auto dek = kms->GetDek("disk", 32);
  ASSERT_THAT(dek, IsOk());
  EXPECT_TRUE(dek->Equals(*winner_dek));
  EXPECT_EQ(StoredBlob("disk"), *winner_blob);
  EXPECT_EQ(store_->successful_creates(), 0);
}

TEST_F(EnvelopeKmsTest, BitFlipsFailAuthentication) {
  auto kms = NewKms();
  ASSERT_THAT(kms->GetDek("disk", 32), IsOk());
  const std::string blob = StoredBlob("disk");
  for (size_t bit = 0; bit < blob.size() * 8; bit += 3) {
    store_->CorruptGets([bit](std::string b) {
      b[bit / 8] = static_cast<char>(b[bit / 8] ^ (1 << (bit % 8)));
      return b;
    });
    auto dek = NewKms()->GetDek("disk", 32);
    ASSERT_THAT(dek, Not(IsOk())) << "bit " << bit;
    EXPECT_THAT(dek.status().code(),
                ::testing::AnyOf(absl::StatusCode::kDataLoss,
                                 absl::StatusCode::kFailedPrecondition))
        << "bit " << bit << ": " << dek.status();
  }
}

TEST_F(EnvelopeKmsTest, FlippedCiphertextNamesAuthentication) {
  auto kms = NewKms();
  ASSERT_THAT(kms->GetDek("disk", 32), IsOk());
  store_->CorruptGets([](std::string b) {
    b.back() = static_cast<char>(b.back() ^ 1);
    return b;
  });
  EXPECT_THAT(NewKms()->GetDek("disk", 32),
              StatusIs(absl::StatusCode::kDataLoss,
                       HasSubstr("failed authentication")));
}

TEST_F(EnvelopeKmsTest, TruncatedBlobIsDataLoss) {
  auto kms = NewKms();
  ASSERT_THAT(kms->GetDek("disk", 32), IsOk());
  store_->CorruptGets(
      [](const std::string& b) { return b.substr(0, b.size() - 5); });
  EXPECT_THAT(NewKms()->GetDek("disk", 32),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("truncated")));
}

TEST_F(EnvelopeKmsTest, BlobSwappedBetweenIdsIsDataLoss) {
  auto kms = NewKms();
  ASSERT_THAT(kms->GetDek("disk-a", 32), IsOk());
  const std::string blob_a = StoredBlob("disk-a");
  ASSERT_THAT(memory_->Create("disk-b", blob_a), IsOk());
  EXPECT_THAT(kms->GetDek("disk-b", 32),
              StatusIs(absl::StatusCode::kDataLoss,
                       HasSubstr("written for another DEK ID")));
}

TEST_F(EnvelopeKmsTest, ForgedIdDigestStillFailsAuthentication) {
  // Copy a blob to another ID and rewrite its ID digest to match: the
  // associated data still binds the full ID.
  auto kms = NewKms();
  ASSERT_THAT(kms->GetDek("disk-a", 32), IsOk());
  auto blob = ParseBlob(StoredBlob("disk-a"));
  ASSERT_THAT(blob, IsOk());
  blob->header.id_digest = BlobIdDigest("disk-b");
  ASSERT_THAT(memory_->Create("disk-b", SerializeBlob(*blob)), IsOk());
  EXPECT_THAT(kms->GetDek("disk-b", 32),
              StatusIs(absl::StatusCode::kDataLoss,
                       HasSubstr("failed authentication")));
}

TEST_F(EnvelopeKmsTest, ForgedLengthFailsAuthentication) {
  auto kms = NewKms();
  ASSERT_THAT(kms->GetDek("disk", 32), IsOk());
  auto blob = ParseBlob(StoredBlob("disk"));
  ASSERT_THAT(blob, IsOk());
  blob->header.dek_length = 64;
  store_->CorruptGets(
      [forged = SerializeBlob(*blob)](const std::string&) { return forged; });
  EXPECT_THAT(NewKms()->GetDek("disk", 64),
              StatusIs(absl::StatusCode::kDataLoss,
                       HasSubstr("failed authentication")));
}

TEST_F(EnvelopeKmsTest, OtherKeyFileNamesBothKeys) {
  ASSERT_THAT(NewKms()->GetDek("disk", 32), IsOk());
  auto other = NewKms({}, LoadKek("other-kek", 0x10));
  auto dek = other->GetDek("disk", 32);
  EXPECT_THAT(dek, StatusIs(absl::StatusCode::kFailedPrecondition,
                            HasSubstr("configure the KEK that wrote it")));
  EXPECT_THAT(std::string(dek.status().message()), HasSubstr(kek_->KeyId()));
}

TEST_F(EnvelopeKmsTest, UnknownVersionIsClearError) {
  ASSERT_THAT(NewKms()->GetDek("disk", 32), IsOk());
  store_->CorruptGets([](std::string b) {
    b[4] = 9;
    return b;
  });
  EXPECT_THAT(NewKms()->GetDek("disk", 32),
              StatusIs(absl::StatusCode::kDataLoss,
                       HasSubstr("version 9 is not supported")));
}

TEST_F(EnvelopeKmsTest, OtherLengthIsFailedPrecondition) {
  auto kms = NewKms();
  ASSERT_THAT(kms->GetDek("disk", 32), IsOk());
  EXPECT_THAT(kms->GetDek("disk", 64),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("exists with a length of 32 bytes, but 64 "
                                 "bytes were requested")));
}

// Behaviour.

TEST_F(EnvelopeKmsTest, SecondCallReturnsStoredDek) {
  auto kms = NewKms();
  auto first = kms->GetDek("disk", 32);
  auto second = NewKms()->GetDek("disk", 32);
  ASSERT_THAT(first, IsOk());
  ASSERT_THAT(second, IsOk());
  EXPECT_TRUE(first->Equals(*second));
  EXPECT_EQ(store_->successful_creates(), 1);
  EXPECT_NE(Hex(*first), Hex(*kms->GetDek("disk-2", 32)));
}

TEST_F(EnvelopeKmsTest, OpensGoldenBlob) {
  // The golden blob's KEK, bytes 40..5f, is this fixture's kek_.
  auto golden = DecodeHex(::dekms::testing::kGoldenBlobHex, "golden blob");
  ASSERT_THAT(golden, IsOk());
  ASSERT_THAT(memory_->Create(::dekms::testing::kGoldenBlobDekId,
                              RevealAsText(*golden)),
              IsOk());
  auto dek = NewKms()->GetDek(::dekms::testing::kGoldenBlobDekId, 32);
  ASSERT_THAT(dek, IsOk());
  EXPECT_EQ(Hex(*dek),
            "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f");
}

TEST_F(EnvelopeKmsTest, LayerAlgorithmBindsIdForProvidersWithoutData) {
  auto provider = std::make_shared<NoAssociatedDataProvider>(kek_);
  auto kms = NewKms({}, provider);
  auto dek = kms->GetDek("disk-a", 32);
  ASSERT_THAT(dek, IsOk());
  auto blob = ParseBlob(StoredBlob("disk-a"));
  ASSERT_THAT(blob, IsOk());
  EXPECT_EQ(blob->header.algorithm, BlobAlgorithm::kLocalAeadLayer);
  auto again = NewKms({}, provider)->GetDek("disk-a", 32);
  ASSERT_THAT(again, IsOk());
  EXPECT_TRUE(again->Equals(*dek));

  // A forged digest on a copied blob still fails: the layer binds the ID.
  blob->header.id_digest = BlobIdDigest("disk-b");
  ASSERT_THAT(memory_->Create("disk-b", SerializeBlob(*blob)), IsOk());
  EXPECT_THAT(kms->GetDek("disk-b", 32),
              StatusIs(absl::StatusCode::kDataLoss,
                       HasSubstr("failed authentication")));
}

TEST_F(EnvelopeKmsTest, ConcurrentCallersShareOneRoundTrip) {
  // A slow store keeps the first round trip open while every thread
  // requests the same ID.
  store_->DelayGets(absl::Milliseconds(300));
  auto kms = NewKms();
  constexpr int kThreads = 32;
  std::vector<std::string> results(kThreads);
  std::vector<std::thread> threads;
  threads.reserve(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&kms, &results, t] {
      auto dek = kms->GetDek("new-disk", 32);
      results[static_cast<size_t>(t)] = dek.ok() ? Hex(*dek) : "error";
    });
  }
  for (auto& thread : threads) thread.join();
  for (const std::string& result : results) {
    EXPECT_EQ(result, results[0]);
  }
  EXPECT_NE(results[0], "error");
  EXPECT_EQ(store_->gets(), 1);
  EXPECT_EQ(store_->creates(), 1);
}

TEST_F(EnvelopeKmsTest, ThirtyTwoKmsInstancesAgreeOnNewId) {
  // Separate instances share only the store, so nothing is coalesced and the
  // create-only write decides.
  constexpr int kThreads = 32;
  std::vector<std::string> results(kThreads);
  std::vector<std::thread> threads;
  threads.reserve(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([this, &results, t] {
      auto kms = EnvelopeKms::Create(kek_, store_, {});
      auto dek = kms.ok() ? (*kms)->GetDek("raced", 32)
                          : absl::StatusOr<SecretBytes>(kms.status());
      results[static_cast<size_t>(t)] = dek.ok() ? Hex(*dek) : "error";
    });
  }
  for (auto& thread : threads) thread.join();
  for (const std::string& result : results) {
    EXPECT_EQ(result, results[0]);
  }
  EXPECT_NE(results[0], "error");
  EXPECT_EQ(store_->successful_creates(), 1);
}

// A store whose Get for "a" waits until a Get for "b" has started, so it
// finishes only if the two run in parallel.
class RendezvousStore final : public Store {
 public:
  absl::StatusOr<std::string> Get(std::string_view id) override {
    if (id == "b") {
      b_started_.Notify();
    } else if (!b_started_.WaitForNotificationWithTimeout(absl::Seconds(10))) {
      return absl::DeadlineExceededError("calls were serialized");
    }
    return memory_->Get(id);
  }
  absl::Status Create(std::string_view id, std::string_view blob) override {
    return memory_->Create(id, blob);
  }
  std::string_view Kind() const override { return "rendezvous"; }

 private:
  absl::Notification b_started_;
  std::unique_ptr<Store> memory_ = NewMemoryStore();
};

TEST_F(EnvelopeKmsTest, DifferentIdsRunInParallel) {
  auto kms_or =
      EnvelopeKms::Create(kek_, std::make_shared<RendezvousStore>(), {});
  ASSERT_THAT(kms_or, IsOk());
  auto& kms = *kms_or;
  absl::StatusOr<SecretBytes> a = absl::UnknownError("not run");
  std::thread first([&] { a = kms->GetDek("a", 32); });
  absl::SleepFor(absl::Milliseconds(50));
  EXPECT_THAT(kms->GetDek("b", 32), IsOk());
  first.join();
  EXPECT_THAT(a, IsOk());
}

TEST_F(EnvelopeKmsTest, CacheServesUntilTimeToLive) {
  absl::Time now = absl::FromUnixSeconds(1000);
  EnvelopeKmsOptions options;
  options.cache_ttl = absl::Seconds(60);
  options.clock = [&now] { return now; };
  auto kms = NewKms(options);
  auto first = kms->GetDek("disk", 32);
  ASSERT_THAT(first, IsOk());
  ASSERT_THAT(kms->GetDek("disk", 32), IsOk());
  EXPECT_EQ(store_->gets(), 1);
  EXPECT_THAT(kms->GetDek("disk", 64),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  now += absl::Seconds(61);
  auto later = kms->GetDek("disk", 32);
  ASSERT_THAT(later, IsOk());
  EXPECT_TRUE(later->Equals(*first));
  EXPECT_EQ(store_->gets(), 2);
}

TEST_F(EnvelopeKmsTest, CacheEvictsOldestBeyondMaximum) {
  EnvelopeKmsOptions options;
  options.cache_ttl = absl::Hours(1);
  options.cache_max_entries = 2;
  auto kms = NewKms(options);
  for (const char* id : {"a", "b", "c"}) {
    ASSERT_THAT(kms->GetDek(id, 32), IsOk());
  }
  const int gets = store_->gets();
  ASSERT_THAT(kms->GetDek("c", 32), IsOk());
  ASSERT_THAT(kms->GetDek("b", 32), IsOk());
  EXPECT_EQ(store_->gets(), gets);
  ASSERT_THAT(kms->GetDek("a", 32), IsOk());
  EXPECT_EQ(store_->gets(), gets + 1);
}

TEST_F(EnvelopeKmsTest, CacheNeverKeepsFailures) {
  EnvelopeKmsOptions options;
  options.cache_ttl = absl::Hours(1);
  auto kms = NewKms(options);
  store_->FailAllCreates(absl::UnavailableError("down"));
  EXPECT_THAT(kms->GetDek("disk", 32), Not(IsOk()));
  store_->FailAllCreates(absl::OkStatus());
  EXPECT_THAT(kms->GetDek("disk", 32), IsOk());
  EXPECT_EQ(store_->gets(), 2);
}

}  // namespace
}  // namespace dekms::internal
