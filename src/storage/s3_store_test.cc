#include "src/storage/s3_store.h"

#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "src/cloud/aws/credential_chain.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/subprocess.h"

namespace dekms::internal {
namespace {

using ::dekms::testing::IsOk;
using ::dekms::testing::StatusIs;
using ::testing::HasSubstr;

TEST(ValidateS3BucketName, AcceptsS3Names) {
  const std::string longest(63, 'a');
  for (const std::string& name :
       std::vector<std::string>{"abc", "dekms-blobs", "my.bucket.1", longest}) {
    EXPECT_THAT(ValidateS3BucketName(name), IsOk()) << name;
  }
}

TEST(ValidateS3BucketName, RejectsOthers) {
  const std::string too_long(64, 'a');
  for (const std::string& name :
       std::vector<std::string>{"ab", too_long, "Upper", "under_score", "-dash",
                                "dash-", "a..b", ".dot", "sp ace"}) {
    EXPECT_THAT(ValidateS3BucketName(name),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         HasSubstr("3 to 63 lowercase")))
        << name;
  }
}

TEST(ValidateS3BucketName, RejectsReservedForms) {
  const std::pair<std::string, std::string> cases[] = {
      {"192.168.1.1", "IP addresses"},
      {"xn--bucket", "prefix \"xn--\""},
      {"sthree-x", "prefix \"sthree-\""},
      {"data-s3alias", "suffix \"-s3alias\""},
      {"data--ol-s3", "suffix \"--ol-s3\""},
  };
  for (const auto& [name, message] : cases) {
    EXPECT_THAT(
        ValidateS3BucketName(name),
        StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(message)))
        << name;
  }
}

TEST(ValidateS3ObjectKey, AcceptsPrintableUtf8) {
  for (const char* id :
       {"key-disk-1", "a b+c%d", "dir//file", "dir/.hidden", "a/..b",
        "\xc3\xa9t\xc3\xa9", "\xf0\x9f\x94\x91", "$:@=&?#"}) {
    EXPECT_THAT(ValidateS3ObjectKey(id), IsOk()) << id;
  }
}

TEST(ValidateS3ObjectKey, RejectsWhatS3OrHttpWouldMangle) {
  const std::pair<std::string, std::string> cases[] = {
      {"", "1 to 1024 bytes"},
      {std::string(1025, 'k'), "1 to 1024 bytes"},
      {"tab\there", "valid UTF-8 without control characters"},
      {"nul" + std::string(1, '\0'), "valid UTF-8 without control"},
      {"\xff\xfe", "valid UTF-8"},
      {"\xc0\xaf", "valid UTF-8"},      // Overlong "/".
      {"\xed\xa0\x80", "valid UTF-8"},  // A surrogate.
      {"\xe2\x82", "valid UTF-8"},      // Cut short.
      {".", "\".\" or \"..\""},
      {"a/../b", "\".\" or \"..\""},
      {"a/.", "\".\" or \"..\""},
  };
  for (const auto& [id, message] : cases) {
    EXPECT_THAT(
        ValidateS3ObjectKey(id),
        StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(message)))
        << id;
  }
}

TEST(S3StoreTest, RejectsAStoreThatIgnoresConditionalWrites) {
  auto server = dekms::testing::Subprocess::Start(
      {"/usr/bin/python3",
       DEKMS_SOURCE_DIR "/tests/fakes/scripted_http_server.py"});
  ASSERT_THAT(server.status(), IsOk());
  ASSERT_TRUE((*server)->WaitForStderr("READY ", absl::Seconds(30)));
  const std::string text = (*server)->stderr_text();
  const size_t start = text.find("READY ") + 6;
  const std::string base_url =
      text.substr(start, text.find('\n', start) - start);

  S3StoreOptions options;
  options.bucket = "dekms";
  options.region = "us-east-1";
  options.endpoint = base_url + "/naive-s3";
  options.path_style = true;
  AwsCredentials credentials;
  credentials.access_key_id = "AKIDTEST";
  credentials.secret_access_key = SecretBytes::CopyFrom(std::string_view("x"));
  options.credentials =
      NewStaticAwsCredentials(std::move(credentials), "the test");
  options.transport = NewCurlTransport({});
  EXPECT_THAT(S3Store::Create(std::move(options)).status(),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("ignores \"If-None-Match: *\"")));
}

}  // namespace
}  // namespace dekms::internal
