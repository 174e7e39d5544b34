#include "src/storage/file_store.h"

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace dekms::internal {
namespace {

using ::dekms::testing::IsOk;
using ::dekms::testing::IsOkAndHolds;
using ::dekms::testing::StatusIs;
using ::testing::HasSubstr;

class FileStoreTest : public ::dekms::testing::TempDirTest {
 protected:
  std::unique_ptr<FileStore> NewStore() {
    auto store = FileStore::Create(dir_ + "/blobs");
    EXPECT_THAT(store, IsOk());
    return store.ok() ? std::move(store).value() : nullptr;
  }

  // Returns every file below the temporary directory, relative to it.
  std::vector<std::string> AllFiles() {
    std::vector<std::string> files;
    for (const auto& entry :
         std::filesystem::recursive_directory_iterator(dir_)) {
      if (entry.is_regular_file()) {
        files.push_back(std::filesystem::relative(entry.path(), dir_));
      }
    }
    return files;
  }
};

TEST_F(FileStoreTest, GetMissingIsNotFound) {
  auto store = NewStore();
  EXPECT_THAT(store->Get("disk-1"),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("disk-1")));
}

TEST_F(FileStoreTest, MissingParentIsAnError) {
  EXPECT_THAT(FileStore::Create(dir_ + "/no/such"),
              StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(FileStore::Create(""),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST_F(FileStoreTest, CreateNeverReplaces) {
  auto store = NewStore();
  ASSERT_THAT(store->Create("disk-1", "first"), IsOk());
  EXPECT_THAT(
      store->Create("disk-1", "second"),
      StatusIs(absl::StatusCode::kAlreadyExists, HasSubstr("left unchanged")));
  EXPECT_THAT(store->Get("disk-1"), IsOkAndHolds("first"));
}

TEST_F(FileStoreTest, HostileIdsStayInsideDirectory) {
  auto store = NewStore();
  const std::vector<std::string> ids = {
      "../escape",
      "/etc/passwd",
      "a/b/c",
      ".",
      "..",
      "...",
      std::string(512, 'x'),
      "caf\xc3\xa9",
      std::string("nul\0byte", 8),
      "Disk",
      "disk",
      " spaced ",
      "new\nline",
  };
  for (size_t i = 0; i < ids.size(); ++i) {
    ASSERT_THAT(store->Create(ids[i], "blob" + std::to_string(i)), IsOk()) << i;
  }
  for (size_t i = 0; i < ids.size(); ++i) {
    EXPECT_THAT(store->Get(ids[i]), IsOkAndHolds("blob" + std::to_string(i)))
        << i;
  }
  const std::vector<std::string> files = AllFiles();
  EXPECT_EQ(files.size(), ids.size());
  for (const std::string& file : files) {
    EXPECT_EQ(file.rfind("blobs/", 0), 0u) << file;
    EXPECT_EQ(file.size(), std::string("blobs/").size() + 64 + 5) << file;
  }
}

TEST_F(FileStoreTest, BlobFilesArePrivate) {
  auto store = NewStore();
  ASSERT_THAT(store->Create("disk", "blob"), IsOk());
  struct stat info {};
  ASSERT_EQ(stat(store->PathFor("disk").c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0600u);
  ASSERT_EQ(stat((dir_ + "/blobs").c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0700u);
}

TEST_F(FileStoreTest, ProcessesRacingCreateLeaveOneBlob) {
  constexpr int kProcesses = 4;
  auto store = NewStore();
  std::vector<pid_t> children;
  for (int i = 0; i < kProcesses; ++i) {
    const pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      auto own = FileStore::Create(dir_ + "/blobs");
      if (!own.ok()) _exit(3);
      const absl::Status status = (*own)->Create(
          "shared", std::string(8192, static_cast<char>('a' + i)));
      _exit(status.ok()
                ? 0
                : (status.code() == absl::StatusCode::kAlreadyExists ? 1 : 2));
    }
    children.push_back(pid);
  }
  int winners = 0;
  for (const pid_t pid : children) {
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status));
    ASSERT_LT(WEXITSTATUS(status), 2);
    winners += WEXITSTATUS(status) == 0 ? 1 : 0;
  }
  EXPECT_EQ(winners, 1);
  auto blob = store->Get("shared");
  ASSERT_THAT(blob, IsOk());
  ASSERT_EQ(blob->size(), 8192u);
  EXPECT_EQ(blob->find_first_not_of((*blob)[0]), std::string::npos);
  EXPECT_EQ(AllFiles().size(), 1u);
}

}  // namespace
}  // namespace dekms::internal
