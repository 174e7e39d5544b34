#include "src/cloud/aws/endpoint.h"

#include <map>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace dekms::internal {
namespace {

using ::dekms::testing::IsOkAndHolds;
using ::dekms::testing::StatusIs;
using ::testing::HasSubstr;

GetEnvFunction FakeEnvironment(std::map<std::string, std::string> values) {
  return [values = std::move(values)](
             std::string_view name) -> std::optional<std::string> {
    auto it = values.find(std::string(name));
    if (it == values.end()) {
      return std::nullopt;
    }
    return it->second;
  };
}

TEST(ResolveAwsEndpoint, DefaultsToTheRegionalEndpoint) {
  const auto env = FakeEnvironment({});
  EXPECT_THAT(ResolveAwsEndpoint("", "KMS", "kms", "eu-central-1", env),
              IsOkAndHolds("https://kms.eu-central-1.amazonaws.com"));
  EXPECT_THAT(ResolveAwsEndpoint("", "S3", "s3", "cn-north-1", env),
              IsOkAndHolds("https://s3.cn-north-1.amazonaws.com.cn"));
}

TEST(ResolveAwsEndpoint, PrefersUriThenServiceThenGlobalVariable) {
  const auto env =
      FakeEnvironment({{"AWS_ENDPOINT_URL_KMS", "http://127.0.0.1:1/"},
                       {"AWS_ENDPOINT_URL", "http://127.0.0.1:2"}});
  EXPECT_THAT(
      ResolveAwsEndpoint("http://127.0.0.1:3//", "KMS", "kms", "r", env),
      IsOkAndHolds("http://127.0.0.1:3"));
  EXPECT_THAT(ResolveAwsEndpoint("", "KMS", "kms", "r", env),
              IsOkAndHolds("http://127.0.0.1:1"));
  EXPECT_THAT(ResolveAwsEndpoint("", "S3", "s3", "r", env),
              IsOkAndHolds("http://127.0.0.1:2"));
}

TEST(ResolveAwsEndpoint, IgnoreVariableSkipsEnvironmentEndpoints) {
  const auto env =
      FakeEnvironment({{"AWS_ENDPOINT_URL", "http://127.0.0.1:2"},
                       {"AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "TRUE"}});
  EXPECT_THAT(ResolveAwsEndpoint("", "KMS", "kms", "us-east-1", env),
              IsOkAndHolds("https://kms.us-east-1.amazonaws.com"));
}

TEST(ResolveAwsEndpoint, RejectsBadValuesNamingTheSource) {
  const auto env = FakeEnvironment({{"AWS_ENDPOINT_URL_STS", "127.0.0.1:5"}});
  EXPECT_THAT(ResolveAwsEndpoint("", "STS", "sts", "r", env),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("AWS_ENDPOINT_URL_STS")));
  EXPECT_THAT(
      ResolveAwsEndpoint("https://u:p@h", "KMS", "kms", "r", env),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("no user name")));
  EXPECT_THAT(ResolveAwsEndpoint("", "KMS", "kms", "Bad_Region", env),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("AWS region \"Bad_Region\" is not")));
}

TEST(ValidateAwsRegion, AcceptsRegionNamesOnly) {
  EXPECT_TRUE(ValidateAwsRegion("us-gov-west-1").ok());
  for (const char* bad : {"", "-us", "us-", "US-EAST-1", "us east", "a.b"}) {
    EXPECT_FALSE(ValidateAwsRegion(bad).ok()) << bad;
  }
}

}  // namespace
}  // namespace dekms::internal
