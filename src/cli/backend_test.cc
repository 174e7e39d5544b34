#include <sys/stat.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include "gtest/gtest.h"
#include "src/cli/commands.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace dekms::internal {
namespace {

using ::dekms::testing::IsOk;
using ::dekms::testing::StatusIs;
using ::testing::HasSubstr;

class BackendTest : public ::dekms::testing::TempDirTest {};

TEST_F(BackendTest, NoSourceIsInvalidArgument) {
  EXPECT_THAT(ResolveBackend(BackendOptions{}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("no key backend given")));
}

TEST_F(BackendTest, MasterSecretNeedsSalt) {
  BackendOptions options;
  options.master_secret_path = WriteFile("master", std::string(32, 'm'));
  EXPECT_THAT(
      ResolveBackend(options),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("go together")));
}

TEST_F(BackendTest, RejectsShortRawMasterSecret) {
  BackendOptions options;
  options.master_secret_path = WriteFile("master", std::string(15, 'm'));
  options.salt_path = WriteFile("salt", std::string(32, 's'));
  EXPECT_THAT(ResolveBackend(options),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("is 15 bytes long; at least 16")));
}

TEST_F(BackendTest, RejectsShortRawSalt) {
  BackendOptions options;
  options.master_secret_path = WriteFile("master", std::string(16, 'm'));
  options.salt_path = WriteFile("salt", std::string(31, 's'));
  EXPECT_THAT(ResolveBackend(options),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("is 31 bytes long; at least 32")));
}

TEST_F(BackendTest, ReadsRawFiles) {
  BackendOptions options;
  options.master_secret_path = WriteFile("master", std::string(16, '\0'));
  options.salt_path = WriteFile("salt", std::string(32, '\xff'));
  auto backend = ResolveBackend(options);
  ASSERT_THAT(backend, IsOk());
  const auto& config = std::get<ClusterKmsConfig>(backend->kms);
  EXPECT_EQ(config.master_secret.size(), 16u);
  EXPECT_EQ(config.salt.size(), 32u);
  EXPECT_TRUE(std::holds_alternative<NoStoreConfig>(backend->storage));
}

TEST_F(BackendTest, InvalidKmsUriNamesOption) {
  BackendOptions options;
  options.kms_uri = "kms://nope";
  EXPECT_THAT(ResolveBackend(options),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("invalid --kms-uri: unknown KMS")));
  options.kms_uri = "kms://aws?region=r&keyName=k";
  options.storage_uri = "storage://nope";
  EXPECT_THAT(ResolveBackend(options),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("invalid --storage-uri")));
}

TEST_F(BackendTest, StateSecretIsCreatedOnceAndReused) {
  const std::string state_dir = dir_ + "/state";
  bool created = false;
  auto first = LoadOrCreateStateSecret(state_dir, &created);
  ASSERT_THAT(first, IsOk());
  EXPECT_TRUE(created);

  struct stat info {};
  ASSERT_EQ(stat(state_dir.c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0700u);

  auto second = LoadOrCreateStateSecret(state_dir, &created);
  ASSERT_THAT(second, IsOk());
  EXPECT_FALSE(created);
  EXPECT_TRUE(std::get<ClusterKmsConfig>(first->kms)
                  .master_secret.Equals(
                      std::get<ClusterKmsConfig>(second->kms).master_secret));
}

TEST_F(BackendTest, CorruptStateSecretIsAnErrorNotReplaced) {
  const std::string state_dir = dir_ + "/state";
  ASSERT_EQ(mkdir(state_dir.c_str(), 0700), 0);
  WriteFile("state/master-secret.json", "{\"key\": \"AAAA\"");
  bool created = false;
  EXPECT_THAT(LoadOrCreateStateSecret(state_dir, &created),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_FALSE(created);
}

// NOLINTBEGIN(concurrency-mt-unsafe): no other thread reads the environment.
TEST(DefaultStateDirectory, UsesEnvironment) {
  ASSERT_EQ(setenv("DEKMS_STATE_DIR", "/tmp/somewhere", 1), 0);
  EXPECT_EQ(DefaultStateDirectory(), "/tmp/somewhere");
  ASSERT_EQ(unsetenv("DEKMS_STATE_DIR"), 0);
  EXPECT_EQ(DefaultStateDirectory(), "./dekms-state");
}
// NOLINTEND(concurrency-mt-unsafe)

}  // namespace
}  // namespace dekms::internal
