#include "src/cloud/gcp/credentials.h"

#include <map>
#include <memory>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "openssl/bio.h"
#include "openssl/evp.h"
#include "openssl/pem.h"
#include "openssl/rsa.h"
#include "src/cloud/gcp/jwt.h"
#include "src/crypto/encoding.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace dekms::internal {
namespace {

using ::dekms::testing::IsOk;
using ::dekms::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

UniqueEvpPkey GenerateKey(const char* type) {
  if (std::string_view(type) == "RSA") {
    return UniqueEvpPkey(
        EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(2048)));
  }
  return UniqueEvpPkey(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
}

std::string PrivatePem(EVP_PKEY& key) {
  const std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()),
                                                      &BIO_free);
  EXPECT_EQ(PEM_write_bio_PKCS8PrivateKey(bio.get(), &key, nullptr, nullptr, 0,
                                          nullptr, nullptr),
            1);
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(size));
}

std::string Decode(std::string_view part) {
  absl::StatusOr<SecretBytes> bytes =
      DecodeBase64(part, Base64Alphabet::kUrlSafe, "JWT part");
  EXPECT_THAT(bytes, IsOk());
  return bytes.ok() ? std::string(RevealAsText(*bytes)) : "";
}

class GoogleCredentialsTest : public ::dekms::testing::TempDirTest {
 protected:
  static void SetUpTestSuite() { rsa_ = GenerateKey("RSA").release(); }
  static void TearDownTestSuite() { EVP_PKEY_free(rsa_); }

  nlohmann::json ServiceAccount() const {
    return {{"type", "service_account"},
            {"project_id", "my-project"},
            {"private_key_id", "key-id-1"},
            {"private_key", PrivatePem(*rsa_)},
            {"client_email", "dekms@my-project.iam.gserviceaccount.com"},
            {"client_id", "1234"},
            {"token_uri", "https://oauth2.googleapis.com/token"}};
  }

  absl::StatusOr<ServiceAccountKey> Parse(const nlohmann::json& json) {
    return ParseServiceAccountKey(SecretBytes::CopyFrom(json.dump()),
                                  "credentialsPath /k.json");
  }

  // Builds a token source from files and variables only; no test here
  // fetches a token, so nothing is sent anywhere.
  absl::StatusOr<std::unique_ptr<GoogleTokenSource>> Source(
      std::string credentials_path,
      const std::map<std::string, std::string>& environment) {
    GoogleCredentialOptions options;
    options.credentials_path = std::move(credentials_path);
    options.transport = transport_.get();
    options.getenv =
        [environment](std::string_view name) -> std::optional<std::string> {
      const auto it = environment.find(std::string(name));
      if (it == environment.end()) {
        return std::nullopt;
      }
      return it->second;
    };
    return NewGoogleTokenSource(std::move(options));
  }

  static EVP_PKEY* rsa_;
  std::unique_ptr<HttpTransport> transport_ =
      NewCurlTransport(CurlTransportOptions());
};

EVP_PKEY* GoogleCredentialsTest::rsa_ = nullptr;

TEST_F(GoogleCredentialsTest, JwtIsSignedWithRs256AndVerifies) {
  const std::string header = R"({"alg":"RS256","typ":"JWT"})";
  const std::string claims = R"({"iss":"a","n":1})";
  absl::StatusOr<SecretBytes> jwt = SignJwtRs256(header, claims, *rsa_);
  ASSERT_THAT(jwt, IsOk());
  const std::string text(RevealAsText(*jwt));
  ASSERT_EQ(std::count(text.begin(), text.end(), '.'), 2);
  EXPECT_EQ(text.find('='), std::string::npos);
  const size_t first = text.find('.');
  const size_t second = text.find('.', first + 1);
  EXPECT_EQ(Decode(text.substr(0, first)), header);
  EXPECT_EQ(Decode(text.substr(first + 1, second - first - 1)), claims);

  const std::string signature = Decode(text.substr(second + 1));
  const std::string signed_part = text.substr(0, second);
  const std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> context(
      EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  ASSERT_EQ(
      EVP_DigestVerifyInit(context.get(), nullptr, EVP_sha256(), nullptr, rsa_),
      1);
  EXPECT_EQ(
      EVP_DigestVerify(context.get(),
                       reinterpret_cast<const uint8_t*>(signature.data()),
                       signature.size(),
                       reinterpret_cast<const uint8_t*>(signed_part.data()),
                       signed_part.size()),
      1);

  // PKCS #1 v1.5 signatures are deterministic.
  absl::StatusOr<SecretBytes> again = SignJwtRs256(header, claims, *rsa_);
  ASSERT_THAT(again, IsOk());
  EXPECT_EQ(RevealAsText(*again), text);
}

TEST_F(GoogleCredentialsTest, JwtRejectsAnEcKey) {
  const UniqueEvpPkey ec = GenerateKey("EC");
  EXPECT_THAT(SignJwtRs256("{}", "{}", *ec),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("RSA private key")));
}

TEST_F(GoogleCredentialsTest, AssertionCarriesGoogleClaims) {
  absl::StatusOr<ServiceAccountKey> key = Parse(ServiceAccount());
  ASSERT_THAT(key, IsOk());
  const absl::Time now = absl::FromUnixSeconds(1'800'000'000);
  absl::StatusOr<SecretBytes> jwt =
      MakeServiceAccountAssertion(*key, kGoogleCloudPlatformScope, now);
  ASSERT_THAT(jwt, IsOk());
  const std::string text(RevealAsText(*jwt));
  const size_t first = text.find('.');
  const size_t second = text.find('.', first + 1);
  const auto header = nlohmann::json::parse(Decode(text.substr(0, first)));
  const auto claims =
      nlohmann::json::parse(Decode(text.substr(first + 1, second - first - 1)));
  EXPECT_EQ(header["alg"], "RS256");
  EXPECT_EQ(header["kid"], "key-id-1");
  EXPECT_EQ(claims["iss"], "dekms@my-project.iam.gserviceaccount.com");
  EXPECT_EQ(claims["aud"], "https://oauth2.googleapis.com/token");
  EXPECT_EQ(claims["scope"], std::string(kGoogleCloudPlatformScope));
  EXPECT_EQ(claims["iat"], 1'800'000'000);
  EXPECT_EQ(claims["exp"], 1'800'003'600);
}

TEST_F(GoogleCredentialsTest, ParsesAServiceAccountKey) {
  absl::StatusOr<ServiceAccountKey> key = Parse(ServiceAccount());
  ASSERT_THAT(key, IsOk());
  EXPECT_EQ(key->client_email, "dekms@my-project.iam.gserviceaccount.com");
  EXPECT_EQ(key->private_key_id, "key-id-1");
  EXPECT_EQ(key->project_id, "my-project");
  EXPECT_EQ(key->token_uri, "https://oauth2.googleapis.com/token");
}

TEST_F(GoogleCredentialsTest, NamesTheBrokenField) {
  for (const char* field :
       {"type", "client_email", "private_key", "token_uri"}) {
    nlohmann::json json = ServiceAccount();
    json.erase(field);
    EXPECT_THAT(Parse(json),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         AllOf(HasSubstr("credentialsPath /k.json"),
                               HasSubstr(std::string("\"") + field + "\""))))
        << field;
    json[field] = 42;
    EXPECT_THAT(Parse(json),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(field)))
        << field;
  }
}

TEST_F(GoogleCredentialsTest, RejectsBadKeysWithoutShowingThem) {
  nlohmann::json json = ServiceAccount();
  json["private_key"] = "-----BEGIN PRIVATE KEY-----\nnot base64!\n";
  EXPECT_THAT(Parse(json), StatusIs(absl::StatusCode::kInvalidArgument,
                                    AllOf(HasSubstr("not a PEM private key"),
                                          Not(HasSubstr("not base64")))));
  const UniqueEvpPkey ec = GenerateKey("EC");
  json["private_key"] = PrivatePem(*ec);
  EXPECT_THAT(Parse(json), StatusIs(absl::StatusCode::kInvalidArgument,
                                    HasSubstr("not an RSA key")));
}

TEST_F(GoogleCredentialsTest, RejectsOtherTypesAndNonJson) {
  nlohmann::json json = ServiceAccount();
  json["type"] = "authorized_user";
  EXPECT_THAT(Parse(json),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("\"type\" is \"authorized_user\""),
                             HasSubstr("only \"service_account\""))));
  EXPECT_THAT(ParseServiceAccountKey(SecretBytes::CopyFrom("[1,2]"), "f"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("not a JSON object")));
  EXPECT_THAT(ParseServiceAccountKey(SecretBytes::CopyFrom("{"), "f"),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST_F(GoogleCredentialsTest, TokenUriMustBeHttpsOrLoopback) {
  nlohmann::json json = ServiceAccount();
  for (const char* uri : {"http://127.0.0.1:8080/token", "http://[::1]/token",
                          "http://localhost:1/token"}) {
    json["token_uri"] = uri;
    EXPECT_THAT(Parse(json), IsOk()) << uri;
  }
  for (const char* uri :
       {"http://oauth2.example/token", "ftp://x/token", "https:///token",
        "http://128.0.0.1/token", "https://user@host/token"}) {
    json["token_uri"] = uri;
    EXPECT_THAT(Parse(json), StatusIs(absl::StatusCode::kInvalidArgument,
                                      HasSubstr("\"token_uri\"")))
        << uri;
  }
}

TEST_F(GoogleCredentialsTest, CredentialsPathComesFirst) {
  const std::string path = WriteFile("sa.json", ServiceAccount().dump());
  auto source = Source(path, {{"GOOGLE_APPLICATION_CREDENTIALS", "/none"}});
  ASSERT_THAT(source, IsOk());
  EXPECT_EQ((*source)->Describe(),
            "service account dekms@my-project.iam.gserviceaccount.com "
            "(credentialsPath " +
                path + ")");
}

TEST_F(GoogleCredentialsTest, ThenGoogleApplicationCredentials) {
  const std::string path = WriteFile("sa.json", ServiceAccount().dump());
  auto source = Source("", {{"GOOGLE_APPLICATION_CREDENTIALS", path},
                            {"CLOUDSDK_CONFIG", dir_}});
  ASSERT_THAT(source, IsOk());
  EXPECT_THAT((*source)->Describe(),
              HasSubstr("(GOOGLE_APPLICATION_CREDENTIALS " + path + ")"));

  // A named file that is broken is an error, not a reason to search on.
  const std::string user =
      WriteFile("user.json", R"({"type":"authorized_user","client_id":"c",)"
                             R"("client_secret":"s","refresh_token":"r"})");
  EXPECT_THAT(Source("", {{"GOOGLE_APPLICATION_CREDENTIALS", user}}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("GOOGLE_APPLICATION_CREDENTIALS " + user)));
  EXPECT_THAT(
      Source("", {{"GOOGLE_APPLICATION_CREDENTIALS", dir_ + "/no"}}),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(dir_ + "/no")));
}

TEST_F(GoogleCredentialsTest, ThenTheGcloudFile) {
  WriteFile("application_default_credentials.json",
            R"({"type":"authorized_user","client_id":"c",)"
            R"("client_secret":"s","refresh_token":"r"})");
  auto source = Source("", {{"CLOUDSDK_CONFIG", dir_}});
  ASSERT_THAT(source, IsOk());
  EXPECT_THAT((*source)->Describe(), HasSubstr("gcloud user credentials"));

  WriteFile("application_default_credentials.json",
            R"({"type":"authorized_user","client_id":"c"})");
  EXPECT_THAT(Source("", {{"CLOUDSDK_CONFIG", dir_}}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("\"refresh_token\"")));
}

TEST_F(GoogleCredentialsTest, ThenTheMetadataServer) {
  auto overridden =
      Source("", {{"HOME", dir_}, {"GCE_METADATA_HOST", "127.0.0.1:9"}});
  ASSERT_THAT(overridden, IsOk());
  EXPECT_EQ((*overridden)->Describe(),
            "the GCE metadata server at 127.0.0.1:9");
  auto fallback = Source("", {{"HOME", dir_}});
  ASSERT_THAT(fallback, IsOk());
  EXPECT_EQ((*fallback)->Describe(),
            "the GCE metadata server at metadata.google.internal");
  EXPECT_THAT(Source("", {{"GCE_METADATA_HOST", "http://h/x"}}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("GCE_METADATA_HOST")));
}

}  // namespace
}  // namespace dekms::internal
