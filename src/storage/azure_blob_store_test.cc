#include "src/storage/azure_blob_store.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace dekms::internal {
namespace {

using ::dekms::testing::IsOk;
using ::dekms::testing::StatusIs;
using ::testing::HasSubstr;

TEST(ValidateAzureNamesTest, AccountsAndContainers) {
  EXPECT_THAT(ValidateAzureAccountName("devstoreaccount1"), IsOk());
  for (const std::string& account : std::vector<std::string>{
           "", "ab", "Dekms", "dekms-1", std::string(25, 'a')}) {
    EXPECT_THAT(
        ValidateAzureAccountName(account),
        StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("account name")))
        << account;
  }
  for (const std::string& container : std::vector<std::string>{
           "abc", "dekms-blobs", "0-1", std::string(63, 'c')}) {
    EXPECT_THAT(ValidateAzureContainerName(container), IsOk()) << container;
  }
  for (const std::string& container :
       std::vector<std::string>{"ab", "Dekms", "-abc", "abc-", "a--b", "a_b",
                                "a.b", std::string(64, 'c')}) {
    EXPECT_THAT(ValidateAzureContainerName(container),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         HasSubstr("container name")))
        << container;
  }
}

TEST(ValidateAzureBlobNameTest, AcceptsPrintableUtf8) {
  for (const std::string& name : std::vector<std::string>{
           "key-1", "a/b/c", "100%", "a#b?c", "sp ace", "a+b", "caf\xc3\xa9",
           "..a", "x/.y", std::string(1024, 'x')}) {
    EXPECT_THAT(ValidateAzureBlobName(name), IsOk()) << name;
  }
}

TEST(ValidateAzureBlobNameTest, RejectsWhatUrlsWouldMangle) {
  for (const std::string& name : std::vector<std::string>{
           "", ".", "..", "a/./b", "a/../b", "a.", "a/", "a\\", "a\nb",
           std::string("a\0b", 3), "\xff\xfe", std::string(1025, 'x')}) {
    EXPECT_THAT(ValidateAzureBlobName(name),
                StatusIs(absl::StatusCode::kInvalidArgument))
        << name;
  }
}

}  // namespace
}  // namespace dekms::internal
