#include "dekms/config.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace dekms {
namespace {

using ::dekms::testing::IsOk;
using ::dekms::testing::StatusIs;
using ::testing::HasSubstr;

constexpr char kClusterUri[] =
    "kms://cluster-kms?key=AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=&"
    "salt=ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=";

TEST(NewKeyManager, ClusterKmsRejectsStore) {
  auto kms = ParseKmsUri(kClusterUri);
  ASSERT_THAT(kms, IsOk());
  EXPECT_THAT(NewKeyManager(*kms, MemoryStoreConfig{}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("takes storage://no-store, not "
                                 "storage://memory")));
}

TEST(NewKeyManager, ClusterKmsRejectsShortSecret) {
  auto kms = ParseKmsUri("kms://cluster-kms?key=AAAA&salt=AAAA");
  ASSERT_THAT(kms, IsOk());
  EXPECT_THAT(
      NewKeyManager(*kms, NoStoreConfig{}),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("3 bytes long")));
}

TEST(NewKeyManager, CloudKmsIsUnimplemented) {
  const std::pair<const char*, const char*> cases[] = {
      {"kms://aws?region=r&keyName=k", "kms://aws (AWS KMS)"},
      {"kms://azure?vaultName=v&vaultType=vault.azure.net&keyName=k",
       "kms://azure"},
      {"kms://gcp?projectID=p&location=l&keyRing=r&keyName=k", "kms://gcp"},
  };
  for (const auto& [uri, name] : cases) {
    auto kms = ParseKmsUri(uri);
    ASSERT_THAT(kms, IsOk());
    EXPECT_THAT(NewKeyManager(*kms, NoStoreConfig{}),
                StatusIs(absl::StatusCode::kUnimplemented,
                         HasSubstr(std::string(name) + "")))
        << uri;
  }
}

TEST(NewKeyManager, BuildsClusterKms) {
  auto kms = ParseKmsUri(kClusterUri);
  ASSERT_THAT(kms, IsOk());
  auto key_manager = NewKeyManager(*kms, NoStoreConfig{});
  ASSERT_THAT(key_manager, IsOk());
  EXPECT_EQ((*key_manager)->Kind(), "cluster-kms");
  EXPECT_THAT((*key_manager)->GetDek("key-disk-1", 32), IsOk());
}

TEST(NewStore, NoStoreHasNoStore) {
  EXPECT_THAT(NewStore(NoStoreConfig{}),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(NewStore, CloudStoresAreUnimplemented) {
  for (const char* uri : {"storage://aws?bucket=b&region=r",
                          "storage://azure?account=a&container=c",
                          "storage://gcp?projectID=p&bucket=b"}) {
    auto storage = ParseStorageUri(uri);
    ASSERT_THAT(storage, IsOk());
    EXPECT_THAT(NewStore(*storage), StatusIs(absl::StatusCode::kUnimplemented,
                                             HasSubstr("is not built yet")))
        << uri;
  }
}

TEST(NewStore, BuildsMemoryStore) {
  auto store = NewStore(MemoryStoreConfig{});
  ASSERT_THAT(store, IsOk());
  EXPECT_EQ((*store)->Kind(), "memory");
}

}  // namespace
}  // namespace dekms
