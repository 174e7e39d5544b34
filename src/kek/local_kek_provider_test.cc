#include "src/kek/local_kek_provider.h"

#include <sys/stat.h>

#include <string>

#include "gtest/gtest.h"
#include "src/crypto/aead.h"
#include "tests/testdata/golden_blob.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/test_bytes.h"

namespace dekms::internal {
namespace {

using ::dekms::testing::IsOk;
using ::dekms::testing::StatusIs;
using ::testing::HasSubstr;
using ::testing::StartsWith;

class LocalKekProviderTest : public ::dekms::testing::TempDirTest {
 protected:
  std::string WriteKey(const std::string& name, const std::string& key,
                       mode_t mode = 0600) {
    std::string path = WriteFile(name, key);
    EXPECT_EQ(chmod(path.c_str(), mode), 0);
    return path;
  }
};

TEST_F(LocalKekProviderTest, MissingFileIsNotFound) {
  EXPECT_THAT(LocalKekProvider::Create(dir_ + "/none"),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("/none")));
}

TEST_F(LocalKekProviderTest, RejectsWrongSize) {
  for (const size_t size : {0, 16, 31, 33, 64}) {
    const std::string path =
        WriteKey("key" + std::to_string(size), std::string(size, 'k'));
    EXPECT_THAT(LocalKekProvider::Create(path),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         HasSubstr(std::to_string(size) + " bytes long")))
        << size;
  }
}

TEST_F(LocalKekProviderTest, RejectsGroupOrOtherAccess) {
  for (const mode_t mode : {0640, 0604, 0620, 0644, 0660}) {
    const std::string path =
        WriteKey("key", ::dekms::testing::SequentialBytes('a'), mode);
    EXPECT_THAT(LocalKekProvider::Create(path),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         HasSubstr("run chmod 600")))
        << std::oct << mode;
  }
}

TEST_F(LocalKekProviderTest, RejectsDirectory) {
  EXPECT_THAT(LocalKekProvider::Create(dir_),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST_F(LocalKekProviderTest, KeyIdIsFingerprintNotKey) {
  auto provider = LocalKekProvider::Create(
      WriteKey("key", ::dekms::testing::SequentialBytes(0x40)));
  ASSERT_THAT(provider, IsOk());
  // Computed with Python's hashlib over the label and key bytes 40..5f.
  EXPECT_EQ((*provider)->KeyId(), ::dekms::testing::kGoldenBlobKeyId);
  EXPECT_EQ((*provider)->Kind(), "local");
  EXPECT_THAT((*provider)->Check(), IsOk());
}

TEST_F(LocalKekProviderTest, OtherKeyCannotUnwrap) {
  auto first = LocalKekProvider::Create(
      WriteKey("a", ::dekms::testing::SequentialBytes('a')));
  auto second = LocalKekProvider::Create(
      WriteKey("b", ::dekms::testing::SequentialBytes('b')));
  ASSERT_THAT(first, IsOk());
  ASSERT_THAT(second, IsOk());
  EXPECT_NE((*first)->KeyId(), (*second)->KeyId());
  auto wrapped =
      (*first)->Wrap(SecretBytes::CopyFrom("dek"), AsBytes("binding"));
  ASSERT_THAT(wrapped, IsOk());
  EXPECT_THAT((*second)->Unwrap(wrapped->ciphertext, "", AsBytes("binding")),
              StatusIs(absl::StatusCode::kDataLoss));
  auto unwrapped =
      (*first)->Unwrap(wrapped->ciphertext, "", AsBytes("binding"));
  ASSERT_THAT(unwrapped, IsOk());
  EXPECT_TRUE(unwrapped->Equals(SecretBytes::CopyFrom("dek")));
}

TEST_F(LocalKekProviderTest, GenerateWritesPrivateFileOnce) {
  const std::string path = dir_ + "/kek";
  ASSERT_THAT(GenerateLocalKekFile(path), IsOk());
  struct stat info {};
  ASSERT_EQ(stat(path.c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0600u);
  EXPECT_EQ(info.st_size, 32);
  auto provider = LocalKekProvider::Create(path);
  ASSERT_THAT(provider, IsOk());
  EXPECT_THAT((*provider)->KeyId(), StartsWith("sha256:"));
  EXPECT_THAT(GenerateLocalKekFile(path),
              StatusIs(absl::StatusCode::kAlreadyExists,
                       HasSubstr("never overwrites")));
}

}  // namespace
}  // namespace dekms::internal
