#include "src/base/files.h"

#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "src/crypto/aead.h"
#include "src/crypto/encoding.h"
#include "tests/testing/child_processes.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace dekms::internal {
namespace {

using ::dekms::testing::IsOk;
using ::dekms::testing::StatusIs;
using ::testing::HasSubstr;

class FilesTest : public ::dekms::testing::TempDirTest {
 protected:
  std::vector<std::string> ListDir() {
    std::vector<std::string> names;
    for (const auto& entry : std::filesystem::directory_iterator(dir_)) {
      names.push_back(entry.path().filename().string());
    }
    return names;
  }
};

TEST_F(FilesTest, ReadMissingFileIsNotFound) {
  EXPECT_THAT(ReadFileToSecret(dir_ + "/missing", 100),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("missing")));
}

TEST_F(FilesTest, ReadRejectsOversizedFile) {
  std::ofstream(dir_ + "/big") << std::string(101, 'x');
  EXPECT_THAT(ReadFileToSecret(dir_ + "/big", 100),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("101 bytes long")));
}

TEST_F(FilesTest, ReadRejectsDirectory) {
  EXPECT_THAT(ReadFileToSecret(dir_, 100),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("not a regular file")));
}

TEST_F(FilesTest, CreateNeverOverwrites) {
  const std::string path = dir_ + "/secret";
  ASSERT_THAT(CreateFileAtomically(path, AsBytes("first"), 0600), IsOk());
  EXPECT_THAT(CreateFileAtomically(path, AsBytes("second"), 0600),
              StatusIs(absl::StatusCode::kAlreadyExists));
  auto contents = ReadFileToSecret(path, 100);
  ASSERT_THAT(contents, IsOk());
  EXPECT_EQ(RevealAsText(*contents), "first");
  EXPECT_EQ(ListDir(), std::vector<std::string>{"secret"});
}

TEST_F(FilesTest, CreateSetsModeDespiteUmask) {
  const mode_t old_umask = umask(0);
  const std::string path = dir_ + "/secret";
  ASSERT_THAT(CreateFileAtomically(path, AsBytes("x"), 0600), IsOk());
  umask(old_umask);
  struct stat info {};
  ASSERT_EQ(stat(path.c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0600u);
}

TEST_F(FilesTest, CreateInMissingDirectoryFails) {
  EXPECT_THAT(CreateFileAtomically(dir_ + "/no/such/file", AsBytes("x"), 0600),
              StatusIs(absl::StatusCode::kNotFound));
}

TEST_F(FilesTest, ConcurrentCreatesLeaveOneWinner) {
  // Several processes race to create the same file; exactly one succeeds,
  // and the file contains that one's contents in full.
  const std::string path = dir_ + "/race";
  constexpr int kProcesses = 4;
  const std::vector<int> exit_codes =
      ::dekms::testing::RunInChildProcesses(kProcesses, [&](int i) {
        const std::string contents(4096, static_cast<char>('a' + i));
        const absl::Status status =
            CreateFileAtomically(path, AsBytes(contents), 0600);
        if (status.ok()) return 0;
        return status.code() == absl::StatusCode::kAlreadyExists ? 1 : 2;
      });
  int winners = 0;
  for (const int exit_code : exit_codes) {
    ASSERT_TRUE(exit_code == 0 || exit_code == 1) << exit_code;
    winners += exit_code == 0 ? 1 : 0;
  }
  EXPECT_EQ(winners, 1);
  auto contents = ReadFileToSecret(path, 10000);
  ASSERT_THAT(contents, IsOk());
  const std::string_view text = RevealAsText(*contents);
  ASSERT_EQ(text.size(), 4096u);
  EXPECT_EQ(text.find_first_not_of(text[0]), std::string_view::npos);
  EXPECT_EQ(ListDir(), std::vector<std::string>{"race"});
}

TEST_F(FilesTest, EnsureDirectoryRejectsFile) {
  std::ofstream(dir_ + "/file") << "x";
  EXPECT_THAT(EnsureDirectory(dir_ + "/file", 0700),
              StatusIs(absl::StatusCode::kFailedPrecondition));
}

TEST_F(FilesTest, EnsureDirectoryCreatesOnce) {
  EXPECT_THAT(EnsureDirectory(dir_ + "/state", 0700), IsOk());
  EXPECT_THAT(EnsureDirectory(dir_ + "/state", 0700), IsOk());
}

}  // namespace
}  // namespace dekms::internal
