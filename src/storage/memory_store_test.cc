#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "dekms/store.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace dekms {
namespace {

using ::dekms::testing::IsOk;
using ::dekms::testing::IsOkAndHolds;
using ::dekms::testing::StatusIs;
using ::testing::HasSubstr;

TEST(MemoryStore, GetMissingIsNotFound) {
  auto store = NewMemoryStore();
  EXPECT_THAT(store->Get("disk-1"),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("disk-1")));
}

TEST(MemoryStore, CreateExistingIsAlreadyExistsAndKeepsBlob) {
  auto store = NewMemoryStore();
  ASSERT_THAT(store->Create("disk-1", "first"), IsOk());
  EXPECT_THAT(store->Create("disk-1", "second"),
              StatusIs(absl::StatusCode::kAlreadyExists));
  EXPECT_THAT(store->Get("disk-1"), IsOkAndHolds("first"));
}

TEST(MemoryStore, KeepsBinaryBlobsAndIds) {
  auto store = NewMemoryStore();
  const std::string id("a\0b", 3);
  const std::string blob("\x00\xff\x01", 3);
  ASSERT_THAT(store->Create(id, blob), IsOk());
  EXPECT_THAT(store->Get(id), IsOkAndHolds(blob));
  EXPECT_THAT(store->Get("a"), StatusIs(absl::StatusCode::kNotFound));
}

TEST(MemoryStore, IdsAreCaseSensitive) {
  auto store = NewMemoryStore();
  ASSERT_THAT(store->Create("Disk", "upper"), IsOk());
  ASSERT_THAT(store->Create("disk", "lower"), IsOk());
  EXPECT_THAT(store->Get("Disk"), IsOkAndHolds("upper"));
  EXPECT_THAT(store->Get("disk"), IsOkAndHolds("lower"));
}

TEST(MemoryStore, ConcurrentCreatesHaveOneWinner) {
  auto store = NewMemoryStore();
  std::atomic<int> winners{0};
  std::vector<std::thread> threads;
  threads.reserve(16);
  for (int t = 0; t < 16; ++t) {
    threads.emplace_back([&store, &winners, t] {
      const absl::Status status = store->Create("shared", std::to_string(t));
      if (status.ok()) {
        ++winners;
      } else {
        EXPECT_EQ(status.code(), absl::StatusCode::kAlreadyExists);
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(winners.load(), 1);
  EXPECT_THAT(store->Get("shared"), IsOk());
}

TEST(MemoryStore, KindIsMemory) {
  EXPECT_EQ(NewMemoryStore()->Kind(), "memory");
}

}  // namespace
}  // namespace dekms
