#include "src/storage/gcs_store.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/subprocess.h"

namespace dekms::internal {
namespace {

using ::dekms::testing::IsOk;
using ::dekms::testing::StatusIs;
using ::testing::HasSubstr;

TEST(ValidateGcsBucketNameTest, AcceptsGoogleBucketNames) {
  for (const std::string& bucket : std::vector<std::string>{
           "abc", "dekms-blobs", "dekms_blobs", "a.b.c", "0abc9",
           std::string(63, 'a'),
           std::string(63, 'a') + "." + std::string(63, 'b')}) {
    EXPECT_THAT(ValidateGcsBucketName(bucket), IsOk()) << bucket;
  }
}

TEST(ValidateGcsBucketNameTest, RejectsOthers) {
  for (const std::string& bucket : std::vector<std::string>{
           "", "ab", "Abc", "-abc", "abc-", "a..b", "goog-blobs", "a/b", "a b",
           "a%2Fb", std::string(64, 'a'), std::string(64, 'a') + ".b",
           std::string(223, 'a')}) {
    EXPECT_THAT(
        ValidateGcsBucketName(bucket),
        StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("bucket name")))
        << bucket;
  }
}

TEST(ValidateGcsObjectNameTest, AcceptsAnyPrintableUtf8) {
  for (const std::string& name : std::vector<std::string>{
           "key-1", "a/b/c", "100%", "a#b?c", "sp ace", "plus+sign",
           "caf\xc3\xa9", "..a", ".well-known/other", std::string(1024, 'x')}) {
    EXPECT_THAT(ValidateGcsObjectName(name), IsOk()) << name;
  }
}

TEST(ValidateGcsObjectNameTest, RejectsWhatCloudStorageRefuses) {
  for (const std::string& name : std::vector<std::string>{
           "", ".", "..", ".well-known/acme-challenge/x", "a\nb", "a\rb",
           std::string("a\0b", 3), "\xff\xfe", std::string(1025, 'x')}) {
    EXPECT_THAT(ValidateGcsObjectName(name),
                StatusIs(absl::StatusCode::kInvalidArgument))
        << name;
  }
}

TEST(GcsStoreTest, RejectsAStoreThatIgnoresPreconditions) {
  auto server = dekms::testing::Subprocess::Start(
      {"/usr/bin/python3",
       DEKMS_SOURCE_DIR "/tests/fakes/scripted_http_server.py"});
  ASSERT_THAT(server.status(), IsOk());
  ASSERT_TRUE((*server)->WaitForStderr("READY ", absl::Seconds(30)));
  const std::string text = (*server)->stderr_text();
  const size_t start = text.find("READY ") + 6;
  const std::string base_url =
      text.substr(start, text.find('\n', start) - start);

  GcsStoreOptions options;
  options.project_id = "p";
  options.bucket = "dekms";
  options.endpoint = base_url + "/naive-gcs";
  options.transport = NewCurlTransport({});
  EXPECT_THAT(GcsStore::Create(std::move(options)).status(),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("ignores ifGenerationMatch=0")));
}

}  // namespace
}  // namespace dekms::internal
