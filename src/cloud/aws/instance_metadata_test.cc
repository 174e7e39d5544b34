#include "src/cloud/aws/instance_metadata.h"

#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "src/base/str_cat.h"
#include "tests/testing/status_matchers.h"

namespace dekms::internal {
namespace {

using ::dekms::testing::IsOk;
using ::dekms::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr std::string_view kEndpoint = "http://127.0.0.1:9";
constexpr std::string_view kRole = "dekms-role";
constexpr std::string_view kSecret = "ImdsUnitSecret/abc";
constexpr std::string_view kSessionToken = "ImdsUnitSession+def";
constexpr absl::Time kNow = absl::FromUnixSeconds(1'900'000'000);

// Responds to the IMDSv2 token PUT, the role listing and the credentials GET in
// process, with `credentials_body` as the credentials reply. Nothing leaves
// the process.
class ScriptedImds : public HttpTransport {
 public:
  explicit ScriptedImds(std::string credentials_body)
      : credentials_body_(std::move(credentials_body)) {}

  absl::StatusOr<HttpResponse> Send(const HttpRequest& request,
                                    absl::Time /*deadline*/) override {
    const std::string roles_url =
        StrCat(kEndpoint, "/latest/meta-data/iam/security-credentials/");
    HttpResponse response;
    response.status = 200;
    if (request.method == "PUT" &&
        request.url == StrCat(kEndpoint, "/latest/api/token")) {
      response.body = SecretBytes::CopyFrom("session-token");
    } else if (request.method == "GET" && request.url == roles_url) {
      response.body = SecretBytes::CopyFrom(StrCat(kRole, "\n"));
    } else if (request.method == "GET" &&
               request.url == StrCat(roles_url, kRole)) {
      response.body = SecretBytes::CopyFrom(credentials_body_);
    } else {
      ADD_FAILURE() << "unexpected " << request.method << " " << request.url;
      response.status = 404;
    }
    return response;
  }

 private:
  const std::string credentials_body_;
};

// Returns a credentials reply with every field IMDS sends, as JSON object
// members, after replacing the member named `field` with `replacement` or
// dropping it when `replacement` is empty.
std::string CredentialsJson(std::string_view field = "",
                            std::string_view replacement = "") {
  const std::pair<std::string_view, std::string> members[] = {
      {"Code", "\"Success\""},
      {"LastUpdated", "\"2030-01-01T00:00:00Z\""},
      {"Type", "\"AWS-HMAC\""},
      {"AccessKeyId", "\"ASIAUNIT\""},
      // "\/" is a JSON escape for '/', so decoding must turn it back.
      {"SecretAccessKey", "\"ImdsUnitSecret\\/abc\""},
      {"Token", StrCat("\"", kSessionToken, "\"")},
      {"Expiration", "\"2030-03-17T18:00:00Z\""},
  };
  std::string json = "{";
  bool first = true;
  for (const auto& [name, value] : members) {
    std::string_view written = value;
    if (name == field) {
      if (replacement.empty()) {
        continue;
      }
      written = replacement;
    }
    json += StrCat(first ? "" : ",", "\"", name, "\":", written);
    first = false;
  }
  return json + "}";
}

absl::StatusOr<AwsCredentials> GetFromImds(const std::string& body) {
  ScriptedImds transport(body);
  AwsCredentialChainOptions options;
  options.transport = &transport;
  options.now = [] { return kNow; };
  ImdsSettings settings;
  settings.endpoint = std::string(kEndpoint);
  return NewImdsProvider(std::move(settings), options)->Get();
}

void ExpectNoSecret(const absl::Status& status) {
  EXPECT_THAT(std::string(status.message()),
              AllOf(Not(HasSubstr("ImdsUnitSecret")),
                    Not(HasSubstr("ImdsUnitSession"))));
}

TEST(InstanceMetadataTest, ParsesCredentials) {
  absl::StatusOr<AwsCredentials> credentials = GetFromImds(CredentialsJson());

  ASSERT_THAT(credentials, IsOk());
  EXPECT_EQ(credentials->access_key_id, "ASIAUNIT");
  EXPECT_TRUE(
      credentials->secret_access_key.Equals(SecretBytes::CopyFrom(kSecret)));
  EXPECT_TRUE(
      credentials->session_token.Equals(SecretBytes::CopyFrom(kSessionToken)));
  EXPECT_EQ(credentials->expiration,
            absl::FromCivil(absl::CivilSecond(2030, 3, 17, 18, 0, 0),
                            absl::UTCTimeZone()));
}

TEST(InstanceMetadataTest, InvalidJsonIsInternal) {
  absl::StatusOr<AwsCredentials> credentials =
      GetFromImds(StrCat("{\"SecretAccessKey\":\"", kSecret, "\""));

  EXPECT_THAT(credentials,
              StatusIs(absl::StatusCode::kInternal,
                       HasSubstr("of role \"dekms-role\" is not valid JSON")));
  ExpectNoSecret(credentials.status());
}

TEST(InstanceMetadataTest, JsonArrayIsNotAnObject) {
  absl::StatusOr<AwsCredentials> credentials =
      GetFromImds(StrCat("[\"", kSecret, "\"]"));

  EXPECT_THAT(credentials, StatusIs(absl::StatusCode::kInternal,
                                    HasSubstr("is not a JSON object")));
  ExpectNoSecret(credentials.status());
}

TEST(InstanceMetadataTest, MissingOrInvalidFieldIsInternal) {
  // An empty replacement drops the member.
  const std::pair<std::string_view, std::string_view> cases[] = {
      {"AccessKeyId", ""},     {"AccessKeyId", "12"},
      {"SecretAccessKey", ""}, {"SecretAccessKey", "\"\""},
      {"Token", ""},           {"Token", "{\"Value\":\"x\"}"},
      {"Expiration", ""},      {"Expiration", "null"},
  };
  for (const auto& [field, replacement] : cases) {
    SCOPED_TRACE(StrCat(field, " = ", replacement));
    absl::StatusOr<AwsCredentials> credentials =
        GetFromImds(CredentialsJson(field, replacement));

    EXPECT_THAT(credentials,
                StatusIs(absl::StatusCode::kInternal,
                         HasSubstr(StrCat("lack the string field ", field))));
    ExpectNoSecret(credentials.status());
  }
}

TEST(InstanceMetadataTest, CodeOtherThanSuccessIsUnavailable) {
  const std::pair<std::string_view, std::string_view> cases[] = {
      {"\"AssumeRoleUnauthorizedAccess\"",
       "Code \"AssumeRoleUnauthorizedAccess\""},
      {"", "Code \"\""},
      {"7", "Code \"\""},
  };
  for (const auto& [code, expected] : cases) {
    SCOPED_TRACE(code);
    absl::StatusOr<AwsCredentials> credentials =
        GetFromImds(CredentialsJson("Code", code));

    EXPECT_THAT(credentials,
                StatusIs(absl::StatusCode::kUnavailable, HasSubstr(expected)));
    ExpectNoSecret(credentials.status());
  }
}

TEST(InstanceMetadataTest, InvalidExpirationIsInternal) {
  absl::StatusOr<AwsCredentials> credentials =
      GetFromImds(CredentialsJson("Expiration", "\"tomorrow\""));

  EXPECT_THAT(credentials,
              StatusIs(absl::StatusCode::kInternal,
                       HasSubstr("Expiration in the IMDS credentials of role "
                                 "\"dekms-role\" \"tomorrow\" is not an ISO "
                                 "8601 time")));
}

}  // namespace
}  // namespace dekms::internal
