#include "src/cli/master_secret_file.h"

#include <sys/stat.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include "gtest/gtest.h"
#include "src/crypto/encoding.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace dekms::internal {
namespace {

using ::dekms::testing::IsOk;
using ::dekms::testing::StatusIs;
using ::testing::HasSubstr;
using ::testing::Not;

class MasterSecretFileTest : public ::dekms::testing::TempDirTest {};

TEST_F(MasterSecretFileTest, RejectsInvalidJsonWithoutEchoingIt) {
  const std::string path =
      WriteFile("bad.json", "{\"key\": \"SECRETSECRET\" oops");
  auto secret = ReadMasterSecretFile(path);
  EXPECT_THAT(secret, StatusIs(absl::StatusCode::kInvalidArgument,
                               HasSubstr("invalid JSON near byte")));
  EXPECT_THAT(std::string(secret.status().message()), Not(HasSubstr("SECRET")));
}

TEST_F(MasterSecretFileTest, RejectsMissingField) {
  const std::string path = WriteFile("nosalt.json", "{\"key\": \"AAAA\"}");
  EXPECT_THAT(ReadMasterSecretFile(path),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("no string field \"salt\"")));
}

TEST_F(MasterSecretFileTest, RejectsNonObject) {
  const std::string path = WriteFile("array.json", "[1, 2]");
  EXPECT_THAT(ReadMasterSecretFile(path),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("expected a JSON object")));
}

TEST_F(MasterSecretFileTest, RejectsUrlSafeBase64) {
  const std::string path =
      WriteFile("url.json", "{\"key\": \"-_-_\", \"salt\": \"AAAA\"}");
  EXPECT_THAT(
      ReadMasterSecretFile(path),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("field \"key\"")));
}

TEST_F(MasterSecretFileTest, MissingFileIsNotFound) {
  EXPECT_THAT(ReadMasterSecretFile(dir_ + "/none.json"),
              StatusIs(absl::StatusCode::kNotFound));
}

TEST_F(MasterSecretFileTest, ReadsConstellationFile) {
  // The layout Constellation's CLI writes: Go's encoding/json with standard
  // base64 for []byte fields.
  const std::string path =
      WriteFile("constellation-mastersecret.json",
                "{\"key\":\"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\","
                "\"salt\":\"ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=\"}");
  auto secret = ReadMasterSecretFile(path);
  ASSERT_THAT(secret, IsOk());
  ASSERT_EQ(secret->master_secret.size(), 32u);
  EXPECT_EQ(secret->master_secret.Reveal()[31], 31);
  EXPECT_EQ(secret->salt.Reveal()[0], 32);
}

TEST_F(MasterSecretFileTest, WriteThenReadRoundTrips) {
  auto generated = GenerateMasterSecret();
  ASSERT_THAT(generated, IsOk());
  EXPECT_EQ(generated->master_secret.size(), 32u);
  EXPECT_EQ(generated->salt.size(), 32u);
  const std::string path = dir_ + "/secret.json";
  ASSERT_THAT(WriteMasterSecretFile(path, *generated), IsOk());

  struct stat info {};
  ASSERT_EQ(stat(path.c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0600u);

  auto read = ReadMasterSecretFile(path);
  ASSERT_THAT(read, IsOk());
  EXPECT_TRUE(read->master_secret.Equals(generated->master_secret));
  EXPECT_TRUE(read->salt.Equals(generated->salt));
}

TEST_F(MasterSecretFileTest, WriteNeverOverwrites) {
  auto first = GenerateMasterSecret();
  auto second = GenerateMasterSecret();
  ASSERT_THAT(first, IsOk());
  ASSERT_THAT(second, IsOk());
  const std::string path = dir_ + "/secret.json";
  ASSERT_THAT(WriteMasterSecretFile(path, *first), IsOk());
  EXPECT_THAT(WriteMasterSecretFile(path, *second),
              StatusIs(absl::StatusCode::kAlreadyExists));
  auto read = ReadMasterSecretFile(path);
  ASSERT_THAT(read, IsOk());
  EXPECT_TRUE(read->master_secret.Equals(first->master_secret));
}

}  // namespace
}  // namespace dekms::internal
