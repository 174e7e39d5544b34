// Checks the C++ launcher of tests/fakes/gcp_fake.py: it starts the fake,
// writes a usable service account file, and its control helpers reach the
// fake. One Cloud KMS round trip with a metadata server token shows that
// the endpoints it reports work. gcp_fake_selftest.py tests the fake's
// protocol checks in depth.

#include <curl/curl.h>
#include <sys/stat.h>

#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/escaping.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "src/base/str_cat.h"
#include "src/crypto/crc32c.h"
#include "tests/testing/emulators.h"
#include "tests/testing/gcp_fake.h"
#include "tests/testing/status_matchers.h"

namespace dekms::testing {
namespace {

using ::nlohmann::json;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::StartsWith;

json ParseJson(const std::string& text) {
  return json::parse(text, nullptr, /*allow_exceptions=*/false);
}

std::string Checksum(std::string_view data) {
  return StrCat(::dekms::internal::Crc32c(data));
}

class GcpFakeSmokeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    DEKMS_ASSIGN_EMULATOR_OR_SKIP(fake_, StartGcpFake());
    absl::StatusOr<std::string> key = fake_->CreateKey(GcpKeySpec{});
    ASSERT_THAT(key, IsOk());
    key_name_ = *key;
  }

  // Sends a Cloud KMS request for `name_and_verb`, such as
  // "projects/.../cryptoKeys/k:encrypt", with `token` as bearer token.
  TestHttpResponse CallKms(std::string_view method,
                           const std::string& name_and_verb,
                           const std::string& token,
                           const std::string& body = "") {
    return SendTestHttpRequest(method,
                               StrCat(fake_->endpoint(), "/v1/", name_and_verb),
                               {StrCat("Authorization: Bearer ", token),
                                "Content-Type: application/json"},
                               body);
  }

  std::unique_ptr<GcpFake> fake_;
  std::string key_name_;
};

TEST_F(GcpFakeSmokeTest, MetadataTokenRoundTrip) {
  const TestHttpResponse token_response = SendTestHttpRequest(
      "GET",
      StrCat("http://", fake_->metadata_host(),
             "/computeMetadata/v1/instance/service-accounts/default/token"),
      {"Metadata-Flavor: Google"});
  ASSERT_EQ(token_response.curl_code, CURLE_OK) << token_response.curl_error;
  ASSERT_EQ(token_response.status, 200) << token_response.body;
  EXPECT_THAT(token_response.headers, HasSubstr("Metadata-Flavor: Google"));
  const std::string token =
      ParseJson(token_response.body).value("access_token", "");
  ASSERT_FALSE(token.empty());

  const std::string plaintext = "a data encryption key";
  const std::string aad = "dek-id:disk-1";
  const json encrypt_request = {
      {"plaintext", absl::Base64Escape(plaintext)},
      {"plaintextCrc32c", Checksum(plaintext)},
      {"additionalAuthenticatedData", absl::Base64Escape(aad)},
      {"additionalAuthenticatedDataCrc32c", Checksum(aad)},
  };
  const TestHttpResponse encrypted = CallKms(
      "POST", StrCat(key_name_, ":encrypt"), token, encrypt_request.dump());
  ASSERT_EQ(encrypted.status, 200) << encrypted.body;
  const json encrypt_response = ParseJson(encrypted.body);
  EXPECT_EQ(encrypt_response.value("name", ""),
            StrCat(key_name_, "/cryptoKeyVersions/1"));
  EXPECT_EQ(encrypt_response.value("verifiedPlaintextCrc32c", false), true);
  EXPECT_EQ(encrypt_response.value("verifiedAdditionalAuthenticatedDataCrc32c",
                                   false),
            true);
  std::string ciphertext;
  ASSERT_TRUE(absl::Base64Unescape(encrypt_response.value("ciphertext", ""),
                                   &ciphertext));
  EXPECT_EQ(encrypt_response.value("ciphertextCrc32c", ""),
            Checksum(ciphertext));

  const json decrypt_request = {
      {"ciphertext", absl::Base64Escape(ciphertext)},
      {"ciphertextCrc32c", Checksum(ciphertext)},
      {"additionalAuthenticatedData", absl::Base64Escape(aad)},
  };
  const TestHttpResponse decrypted = CallKms(
      "POST", StrCat(key_name_, ":decrypt"), token, decrypt_request.dump());
  ASSERT_EQ(decrypted.status, 200) << decrypted.body;
  const json decrypt_response = ParseJson(decrypted.body);
  std::string recovered;
  ASSERT_TRUE(absl::Base64Unescape(decrypt_response.value("plaintext", ""),
                                   &recovered));
  EXPECT_EQ(recovered, plaintext);
  EXPECT_EQ(decrypt_response.value("plaintextCrc32c", ""), Checksum(plaintext));

  absl::StatusOr<GcpFakeCounters> counters = fake_->Counters();
  ASSERT_THAT(counters, IsOk());
  EXPECT_EQ(counters->metadata_tokens, 1);
  EXPECT_EQ(counters->token_endpoint_tokens, 0);
  EXPECT_THAT(fake_->log_text(), Not(HasSubstr(token)));
}

TEST_F(GcpFakeSmokeTest, WritesPrivateServiceAccountFile) {
  struct stat info = {};
  ASSERT_EQ(stat(fake_->service_account_path().c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0600);
  std::ifstream file(fake_->service_account_path());
  std::stringstream contents;
  contents << file.rdbuf();
  const json account = ParseJson(contents.str());

  EXPECT_EQ(account.value("type", ""), "service_account");
  EXPECT_EQ(account.value("token_uri", ""), fake_->token_uri());
  EXPECT_THAT(account.value("private_key", ""),
              StartsWith("-----BEGIN PRIVATE KEY-----"));
  EXPECT_THAT(fake_->authorized_user_path(), Not(IsEmpty()));
  EXPECT_EQ(StrCat("http://", fake_->metadata_host()), fake_->endpoint());
}

TEST_F(GcpFakeSmokeTest, ControlHelpersReachFake) {
  absl::StatusOr<std::string> token = fake_->IssueAccessToken();
  ASSERT_THAT(token, IsOk());
  ASSERT_THAT(fake_->ClearRequests(), IsOk());
  ASSERT_THAT(
      fake_->QueueFault(GcpFault::Status(GcpFault::Operation::kGet, 503)),
      IsOk());

  const TestHttpResponse faulted = CallKms("GET", key_name_, *token);
  const TestHttpResponse served = CallKms("GET", key_name_, *token);
  ASSERT_THAT(fake_->SetDenied(key_name_, true), IsOk());
  const TestHttpResponse denied = CallKms("GET", key_name_, *token);
  ASSERT_THAT(fake_->ExpireTokens(), IsOk());
  const TestHttpResponse expired = CallKms("GET", key_name_, *token);

  EXPECT_EQ(faulted.status, 503) << faulted.body;
  EXPECT_THAT(faulted.body, HasSubstr("\"UNAVAILABLE\""));
  EXPECT_EQ(served.status, 200) << served.body;
  EXPECT_EQ(denied.status, 403) << denied.body;
  EXPECT_EQ(expired.status, 401) << expired.body;
  absl::StatusOr<std::vector<GcpRequestRecord>> records = fake_->Requests();
  ASSERT_THAT(records, IsOk());
  ASSERT_EQ(records->size(), 4u);
  EXPECT_EQ((*records)[0].operation, "get");
  EXPECT_EQ((*records)[0].name, key_name_);
  EXPECT_EQ((*records)[0].fault, "status");
  EXPECT_EQ((*records)[0].error_status, "UNAVAILABLE");
  EXPECT_EQ((*records)[1].authorization, "valid");
  EXPECT_EQ((*records)[3].authorization, "invalid");
  EXPECT_EQ((*records)[3].status, 401);
}

TEST_F(GcpFakeSmokeTest, RotateAndVersionState) {
  absl::StatusOr<std::string> primary = fake_->Rotate(key_name_);
  ASSERT_THAT(primary, IsOk());
  EXPECT_EQ(*primary, StrCat(key_name_, "/cryptoKeyVersions/2"));
  ASSERT_THAT(fake_->SetVersionState(*primary, "DISABLED"), IsOk());
  absl::StatusOr<std::string> token = fake_->IssueAccessToken();
  ASSERT_THAT(token, IsOk());

  const TestHttpResponse encrypted =
      CallKms("POST", StrCat(key_name_, ":encrypt"), *token,
              json{{"plaintext", absl::Base64Escape("x")}}.dump());

  EXPECT_EQ(encrypted.status, 400) << encrypted.body;
  EXPECT_THAT(encrypted.body, HasSubstr("FAILED_PRECONDITION"));
  EXPECT_THAT(fake_->SetVersionState(*primary, "NO_SUCH_STATE"),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(GcpFakeStartTest, MissingInterpreterIsToolsMissing) {
  EmulatorTools tools;
  tools.python = "/nonexistent/venv/bin/python3";
  tools.emulators_dir = DEKMS_SOURCE_DIR "/tests/emulators";

  absl::StatusOr<std::unique_ptr<GcpFake>> fake = StartGcpFake(tools);

  ASSERT_FALSE(fake.ok());
  EXPECT_TRUE(IsTestToolsMissing(fake.status())) << fake.status();
}

}  // namespace
}  // namespace dekms::testing
