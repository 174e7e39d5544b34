#include "src/kek/gcp_kms_kek_provider.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace dekms::internal {
namespace {

using ::dekms::testing::IsOk;
using ::dekms::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;

GcpKmsKekOptions Names(std::string project, std::string location,
                       std::string ring, std::string key) {
  GcpKmsKekOptions options;
  options.project_id = std::move(project);
  options.location = std::move(location);
  options.key_ring = std::move(ring);
  options.key_name = std::move(key);
  return options;
}

TEST(ValidateGcpKmsKeyNameTest, AcceptsCloudKmsNames) {
  EXPECT_THAT(ValidateGcpKmsKeyName(
                  Names("my-project-123", "global", "dekms_ring-1", "KEK_2")),
              IsOk());
  EXPECT_THAT(
      ValidateGcpKmsKeyName(Names("example.com:my-project", "europe-west3",
                                  std::string(63, 'r'), std::string(63, 'k'))),
      IsOk());
}

TEST(ValidateGcpKmsKeyNameTest, NamesTheParameterAtFault) {
  const struct {
    GcpKmsKekOptions options;
    const char* parameter;
  } cases[] = {
      {Names("", "global", "r", "k"), "\"projectID\""},
      {Names("My-Project", "global", "r", "k"), "\"projectID\""},
      {Names("p/../x", "global", "r", "k"), "\"projectID\""},
      {Names("1project", "global", "r", "k"), "\"projectID\""},
      {Names("p", "", "r", "k"), "\"location\""},
      {Names("p", "us east1", "r", "k"), "\"location\""},
      {Names("p", "global", "", "k"), "\"keyRing\""},
      {Names("p", "global", "r/cryptoKeys/x", "k"), "\"keyRing\""},
      {Names("p", "global", std::string(64, 'r'), "k"), "\"keyRing\""},
      {Names("p", "global", "r", "k:encrypt"), "\"keyName\""},
      {Names("p", "global", "r", "k%2F"), "\"keyName\""},
      {Names("p", "global", "r", ""), "\"keyName\""},
  };
  for (const auto& c : cases) {
    EXPECT_THAT(ValidateGcpKmsKeyName(c.options),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         AllOf(HasSubstr("kms://gcp"), HasSubstr(c.parameter))))
        << c.parameter;
  }
}

}  // namespace
}  // namespace dekms::internal
