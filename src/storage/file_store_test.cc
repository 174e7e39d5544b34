#include "src/storage/file_store.h"

#include <sys/stat.h>

#include <filesystem>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/testing/child_processes.h"
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

TEST_F(FileStoreTest, CrashLeftoversAreNeverRead) {
  // A crash before the link step leaves only a partial temporary file next
  // to where the blob would go. Readers must not see it, and the next create
  // must still succeed.
  auto store = NewStore();
  const std::string final_path = store->PathFor("disk");
  WriteFile(
      "blobs/" + final_path.substr(final_path.rfind('/') + 1) + ".tmp-AbC123",
      "partial");
  EXPECT_THAT(store->Get("disk"), StatusIs(absl::StatusCode::kNotFound));
  ASSERT_THAT(store->Create("disk", "complete"), IsOk());
  EXPECT_THAT(store->Get("disk"), IsOkAndHolds("complete"));
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
  const std::vector<int> exit_codes =
      ::dekms::testing::RunInChildProcesses(kProcesses, [&](int i) {
        auto own = FileStore::Create(dir_ + "/blobs");
        if (!own.ok()) return 3;
        const absl::Status status = (*own)->Create(
            "shared", std::string(8192, static_cast<char>('a' + i)));
        if (status.ok()) return 0;
        return status.code() == absl::StatusCode::kAlreadyExists ? 1 : 2;
      });
  int winners = 0;
  for (const int exit_code : exit_codes) {
    ASSERT_TRUE(exit_code == 0 || exit_code == 1) << exit_code;
    winners += exit_code == 0 ? 1 : 0;
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
