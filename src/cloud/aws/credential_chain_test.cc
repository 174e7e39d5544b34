#include "src/cloud/aws/credential_chain.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "spdlog/sinks/ostream_sink.h"
#include "spdlog/spdlog.h"
#include "src/base/str_cat.h"
#include "src/crypto/encoding.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/subprocess.h"
#include "tests/testing/temp_dir.h"

namespace dekms::internal {
namespace {

using ::dekms::testing::IsOk;
using ::dekms::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;

constexpr std::string_view kRoleArn =
    "arn:aws:iam::123456789012:role/dekms-test";
// Contains characters that form encoding must escape.
constexpr std::string_view kWebIdentityToken = "eyJhbGciOi.WebIdToken+/=one";
constexpr std::string_view kSecondWebIdentityToken =
    "eyJhbGciOi.WebIdToken+/=two";
constexpr std::string_view kEnvSecret = "EnvSecretKey/abc+def";
constexpr std::string_view kFileSecret = "FileSecretKey/xyz";

// Parts of every secret the tests and the fake hand out. No log line and no
// error message may contain one.
constexpr std::string_view kSecretMarkers[] = {
    "WebIdToken",        "EnvSecretKey",    "FileSecretKey",
    "SessionTokenValue", "FakeStsSecret",   "FakeStsSession",
    "FakeImdsSecret",    "FakeImdsSession", "FakeImdsToken"};

// A fixed time in 2030, well clear of the real clock.
constexpr absl::Time kStart = absl::FromUnixSeconds(1'900'000'000);

std::string IsoTime(absl::Time time) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", time, absl::UTCTimeZone());
}

// Fails the test when `text` contains a secret marker.
void ExpectNoSecret(std::string_view text, std::string_view source) {
  for (const std::string_view marker : kSecretMarkers) {
    EXPECT_EQ(text.find(marker), std::string_view::npos)
        << source << " contains a secret marked " << marker;
  }
}

void ExpectNoSecret(const absl::Status& status) {
  ExpectNoSecret(std::string(status.message()), "the error message");
}

// Fails the test when a call reaches it: tests of the non-HTTP sources must
// not send anything.
class NoNetworkTransport : public HttpTransport {
 public:
  absl::StatusOr<HttpResponse> Send(const HttpRequest& request,
                                    absl::Time /*deadline*/) override {
    ADD_FAILURE() << "unexpected HTTP request to " << request.url;
    return absl::UnavailableError("network access is off in this test");
  }
};

class ManualClock {
 public:
  absl::Time Now() {
    absl::MutexLock lock(&mu_);
    return now_;
  }
  void Set(absl::Time now) {
    absl::MutexLock lock(&mu_);
    now_ = now;
  }

 private:
  absl::Mutex mu_;
  absl::Time now_ = kStart;
};

// Every test builds its environment from scratch, so neither the AWS_*
// variables nor the ~/.aws files of the machine running the tests can
// change the result. Instance metadata is off unless a test turns it on,
// and its endpoint is a loopback port in every case.
class CredentialChainTest : public dekms::testing::TempDirTest {
 protected:
  void SetUp() override {
    TempDirTest::SetUp();
    home_ = dir_ + "/home";
    ASSERT_EQ(mkdir(home_.c_str(), 0700), 0);
    ASSERT_EQ(mkdir((home_ + "/.aws").c_str(), 0700), 0);
    env_ = {{"HOME", home_},
            {"AWS_EC2_METADATA_DISABLED", "true"},
            {"AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://127.0.0.1:9"}};

    log_sink_ = std::make_shared<spdlog::sinks::ostream_sink_mt>(log_);
    previous_logger_ = spdlog::default_logger();
    spdlog::set_default_logger(
        std::make_shared<spdlog::logger>("credential_chain_test", log_sink_));
  }

  void TearDown() override {
    spdlog::set_default_logger(previous_logger_);
    ExpectNoSecret(Log(), "the log");
    TempDirTest::TearDown();
  }

  std::string Log() {
    log_sink_->flush();
    return log_.str();
  }

  AwsCredentialChainOptions Options() {
    AwsCredentialChainOptions options;
    options.getenv =
        [env = env_](std::string_view name) -> std::optional<std::string> {
      const auto it = env.find(std::string(name));
      if (it == env.end()) {
        return std::nullopt;
      }
      return it->second;
    };
    options.transport = transport_;
    options.retry.initial_backoff = absl::Milliseconds(1);
    options.retry.max_backoff = absl::Milliseconds(5);
    options.retry.attempt_timeout = absl::Seconds(10);
    options.now = [this] { return clock_.Now(); };
    return options;
  }

  absl::StatusOr<std::unique_ptr<AwsCredentialsProvider>> Chain() {
    return NewAwsCredentialChain(Options());
  }

  // Builds the chain and fetches credentials once.
  absl::StatusOr<AwsCredentials> GetFromChain() {
    absl::StatusOr<std::unique_ptr<AwsCredentialsProvider>> chain = Chain();
    if (!chain.ok()) {
      return chain.status();
    }
    return (*chain)->Get();
  }

  std::string WriteCredentialsFile(const std::string& contents) {
    return WriteFile("home/.aws/credentials", contents);
  }

  std::string WriteConfigFile(const std::string& contents) {
    return WriteFile("home/.aws/config", contents);
  }

  std::string home_;
  std::map<std::string, std::string> env_;
  ManualClock clock_;
  NoNetworkTransport no_network_;
  HttpTransport* transport_ = &no_network_;
  std::ostringstream log_;
  std::shared_ptr<spdlog::sinks::ostream_sink_mt> log_sink_;
  std::shared_ptr<spdlog::logger> previous_logger_;
};

// -- Environment variables ---------------------------------------------------

TEST_F(CredentialChainTest, EnvironmentKeys) {
  env_["AWS_ACCESS_KEY_ID"] = "AKIAENVEXAMPLE";
  env_["AWS_SECRET_ACCESS_KEY"] = std::string(kEnvSecret);

  absl::StatusOr<std::unique_ptr<AwsCredentialsProvider>> chain = Chain();
  ASSERT_THAT(chain, IsOk());
  absl::StatusOr<AwsCredentials> credentials = (*chain)->Get();
  ASSERT_THAT(credentials, IsOk());

  EXPECT_EQ(credentials->access_key_id, "AKIAENVEXAMPLE");
  EXPECT_TRUE(
      credentials->secret_access_key.Equals(SecretBytes::CopyFrom(kEnvSecret)));
  EXPECT_TRUE(credentials->session_token.empty());
  EXPECT_EQ(credentials->expiration, absl::InfiniteFuture());
  EXPECT_THAT((*chain)->Describe(), HasSubstr("environment variables"));
}

TEST_F(CredentialChainTest, EnvironmentSessionToken) {
  env_["AWS_ACCESS_KEY_ID"] = "ASIAENVEXAMPLE";
  env_["AWS_SECRET_ACCESS_KEY"] = std::string(kEnvSecret);
  env_["AWS_SESSION_TOKEN"] = "SessionTokenValue+1";

  absl::StatusOr<AwsCredentials> credentials = GetFromChain();

  ASSERT_THAT(credentials, IsOk());
  EXPECT_TRUE(credentials->session_token.Equals(
      SecretBytes::CopyFrom("SessionTokenValue+1")));
}

TEST_F(CredentialChainTest, EnvironmentHalfPairIsInvalid) {
  const std::map<std::string, std::string> half_pairs[] = {
      {{"AWS_ACCESS_KEY_ID", "AKIAENVEXAMPLE"}},
      {{"AWS_SECRET_ACCESS_KEY", std::string(kEnvSecret)}},
      {{"AWS_ACCESS_KEY_ID", ""},
       {"AWS_SECRET_ACCESS_KEY", std::string(kEnvSecret)}},
  };
  const std::string missing_names[] = {
      "AWS_SECRET_ACCESS_KEY", "AWS_ACCESS_KEY_ID", "AWS_ACCESS_KEY_ID"};
  for (size_t i = 0; i < std::size(half_pairs); ++i) {
    SCOPED_TRACE(missing_names[i]);
    env_.erase("AWS_ACCESS_KEY_ID");
    env_.erase("AWS_SECRET_ACCESS_KEY");
    env_.insert(half_pairs[i].begin(), half_pairs[i].end());

    absl::StatusOr<std::unique_ptr<AwsCredentialsProvider>> chain = Chain();

    EXPECT_THAT(chain,
                StatusIs(absl::StatusCode::kInvalidArgument,
                         HasSubstr(StrCat(missing_names[i], " is not"))));
    ExpectNoSecret(chain.status());
  }
}

TEST_F(CredentialChainTest, EnvironmentSessionTokenAloneIsInvalid) {
  env_["AWS_SESSION_TOKEN"] = "SessionTokenValue+1";

  EXPECT_THAT(Chain(), StatusIs(absl::StatusCode::kInvalidArgument,
                                HasSubstr("AWS_SESSION_TOKEN is set")));
}

// -- Precedence ---------------------------------------------------------------

TEST_F(CredentialChainTest, EnvironmentWinsOverOtherSources) {
  env_["AWS_ACCESS_KEY_ID"] = "AKIAENVEXAMPLE";
  env_["AWS_SECRET_ACCESS_KEY"] = std::string(kEnvSecret);
  env_["AWS_WEB_IDENTITY_TOKEN_FILE"] =
      WriteFile("token", std::string(kWebIdentityToken));
  env_["AWS_ROLE_ARN"] = std::string(kRoleArn);
  env_["AWS_REGION"] = "eu-west-1";
  env_.erase("AWS_EC2_METADATA_DISABLED");
  WriteCredentialsFile(StrCat("[default]\naws_access_key_id = AKIAFILE\n",
                              "aws_secret_access_key = ", kFileSecret, "\n"));

  absl::StatusOr<AwsCredentials> credentials = GetFromChain();

  ASSERT_THAT(credentials, IsOk());
  EXPECT_EQ(credentials->access_key_id, "AKIAENVEXAMPLE");
}

TEST_F(CredentialChainTest, WebIdentityWinsOverProfile) {
  env_["AWS_WEB_IDENTITY_TOKEN_FILE"] =
      WriteFile("token", std::string(kWebIdentityToken));
  env_["AWS_ROLE_ARN"] = std::string(kRoleArn);
  env_["AWS_REGION"] = "eu-west-1";
  WriteCredentialsFile(StrCat("[default]\naws_access_key_id = AKIAFILE\n",
                              "aws_secret_access_key = ", kFileSecret, "\n"));

  absl::StatusOr<std::unique_ptr<AwsCredentialsProvider>> chain = Chain();

  ASSERT_THAT(chain, IsOk());
  EXPECT_THAT((*chain)->Describe(),
              AllOf(HasSubstr("web identity token file"), HasSubstr(kRoleArn),
                    HasSubstr("https://sts.eu-west-1.amazonaws.com")));
}

TEST_F(CredentialChainTest, ProfileWinsOverInstanceMetadata) {
  env_.erase("AWS_EC2_METADATA_DISABLED");
  WriteCredentialsFile(StrCat("[default]\naws_access_key_id = AKIAFILE\n",
                              "aws_secret_access_key = ", kFileSecret, "\n"));

  absl::StatusOr<AwsCredentials> credentials = GetFromChain();

  ASSERT_THAT(credentials, IsOk());
  EXPECT_EQ(credentials->access_key_id, "AKIAFILE");
}

TEST_F(CredentialChainTest, LogsChosenSourceOnce) {
  env_["AWS_ACCESS_KEY_ID"] = "AKIAENVEXAMPLE";
  env_["AWS_SECRET_ACCESS_KEY"] = std::string(kEnvSecret);

  absl::StatusOr<std::unique_ptr<AwsCredentialsProvider>> chain = Chain();
  ASSERT_THAT(chain, IsOk());
  ASSERT_THAT((*chain)->Get(), IsOk());
  ASSERT_THAT((*chain)->Get(), IsOk());

  const std::string log = Log();
  const std::string line = "AWS credentials: using environment variables";
  EXPECT_THAT(log, HasSubstr(line));
  EXPECT_EQ(log.find(line), log.rfind(line)) << log;
}

// -- Web identity settings ----------------------------------------------------

TEST_F(CredentialChainTest, WebIdentityHalfSetIsInvalid) {
  env_["AWS_ROLE_ARN"] = std::string(kRoleArn);

  EXPECT_THAT(Chain(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("AWS_WEB_IDENTITY_TOKEN_FILE is not")));
}

TEST_F(CredentialChainTest, WebIdentityNeedsRegionOrEndpoint) {
  env_["AWS_WEB_IDENTITY_TOKEN_FILE"] =
      WriteFile("token", std::string(kWebIdentityToken));
  env_["AWS_ROLE_ARN"] = std::string(kRoleArn);

  EXPECT_THAT(Chain(), StatusIs(absl::StatusCode::kFailedPrecondition,
                                HasSubstr("set AWS_REGION")));
}

TEST_F(CredentialChainTest, WebIdentityRegionOrder) {
  env_["AWS_WEB_IDENTITY_TOKEN_FILE"] =
      WriteFile("token", std::string(kWebIdentityToken));
  env_["AWS_ROLE_ARN"] = std::string(kRoleArn);
  AwsCredentialChainOptions options = Options();
  options.region = "ap-south-1";

  {
    absl::StatusOr<std::unique_ptr<AwsCredentialsProvider>> chain =
        NewAwsCredentialChain(options);
    ASSERT_THAT(chain, IsOk());
    EXPECT_THAT((*chain)->Describe(),
                HasSubstr("https://sts.ap-south-1.amazonaws.com"));
  }

  env_["AWS_DEFAULT_REGION"] = "cn-north-1";
  options.getenv = Options().getenv;
  {
    absl::StatusOr<std::unique_ptr<AwsCredentialsProvider>> chain =
        NewAwsCredentialChain(options);
    ASSERT_THAT(chain, IsOk());
    EXPECT_THAT((*chain)->Describe(),
                HasSubstr("https://sts.cn-north-1.amazonaws.com.cn"));
  }

  env_["AWS_REGION"] = "eu-west-3";
  options.getenv = Options().getenv;
  {
    absl::StatusOr<std::unique_ptr<AwsCredentialsProvider>> chain =
        NewAwsCredentialChain(options);
    ASSERT_THAT(chain, IsOk());
    EXPECT_THAT((*chain)->Describe(),
                HasSubstr("https://sts.eu-west-3.amazonaws.com"));
  }
}

// -- Shared files -------------------------------------------------------------

TEST_F(CredentialChainTest, DefaultProfileFromCredentialsFile) {
  const std::string path = WriteCredentialsFile(
      StrCat("[default]\naws_access_key_id = AKIAFILE\n",
             "aws_secret_access_key = ", kFileSecret, "\n"));

  absl::StatusOr<std::unique_ptr<AwsCredentialsProvider>> chain = Chain();
  ASSERT_THAT(chain, IsOk());
  absl::StatusOr<AwsCredentials> credentials = (*chain)->Get();

  ASSERT_THAT(credentials, IsOk());
  EXPECT_EQ(credentials->access_key_id, "AKIAFILE");
  EXPECT_TRUE(credentials->secret_access_key.Equals(
      SecretBytes::CopyFrom(kFileSecret)));
  EXPECT_TRUE(credentials->session_token.empty());
  EXPECT_EQ((*chain)->Describe(), StrCat("profile \"default\" in ", path));
}

TEST_F(CredentialChainTest, NamedProfileFromConfigFile) {
  env_["AWS_PROFILE"] = "ci";
  WriteConfigFile(StrCat("[default]\naws_access_key_id = AKIADEFAULT\n",
                         "aws_secret_access_key = other\n",
                         "[profile ci]\naws_access_key_id = AKIACI\n",
                         "aws_secret_access_key = ", kFileSecret, "\n",
                         "aws_session_token = SessionTokenValue/ci\n"));

  absl::StatusOr<AwsCredentials> credentials = GetFromChain();

  ASSERT_THAT(credentials, IsOk());
  EXPECT_EQ(credentials->access_key_id, "AKIACI");
  EXPECT_TRUE(credentials->session_token.Equals(
      SecretBytes::CopyFrom("SessionTokenValue/ci")));
}

TEST_F(CredentialChainTest, ConfigFileNeedsProfilePrefix) {
  env_["AWS_PROFILE"] = "ci";
  WriteConfigFile(StrCat("[ci]\naws_access_key_id = AKIACI\n",
                         "aws_secret_access_key = ", kFileSecret, "\n"));

  EXPECT_THAT(Chain(), StatusIs(absl::StatusCode::kNotFound,
                                HasSubstr("AWS profile \"ci\"")));
}

TEST_F(CredentialChainTest, CredentialsFileWinsOverConfigFile) {
  env_["AWS_PROFILE"] = "ci";
  const std::string credentials_path = WriteCredentialsFile(
      StrCat("[ci]\naws_access_key_id = AKIAFROMCREDENTIALS\n",
             "aws_secret_access_key = ", kFileSecret, "\n"));
  const std::string config_path = WriteConfigFile(
      "[profile ci]\naws_access_key_id = AKIAFROMCONFIG\n"
      "aws_secret_access_key = FileSecretKey/config\n"
      "aws_session_token = SessionTokenValue/config\n");

  absl::StatusOr<std::unique_ptr<AwsCredentialsProvider>> chain = Chain();
  ASSERT_THAT(chain, IsOk());
  absl::StatusOr<AwsCredentials> credentials = (*chain)->Get();

  ASSERT_THAT(credentials, IsOk());
  EXPECT_EQ(credentials->access_key_id, "AKIAFROMCREDENTIALS");
  EXPECT_TRUE(credentials->secret_access_key.Equals(
      SecretBytes::CopyFrom(kFileSecret)));
  // Settings only the config file has still apply.
  EXPECT_TRUE(credentials->session_token.Equals(
      SecretBytes::CopyFrom("SessionTokenValue/config")));
  EXPECT_EQ((*chain)->Describe(), StrCat("profile \"ci\" in ", credentials_path,
                                         " and ", config_path));
}

TEST_F(CredentialChainTest, CommentsAndIndentedLinesAreSkipped) {
  WriteCredentialsFile(StrCat("# leading comment\n", "; another comment\n",
                              "\n", "[other]\naws_access_key_id = AKIAOTHER\n",
                              "aws_secret_access_key = other\n",
                              "[default]   # comment after the header\n",
                              "   ; indented comment\n",
                              "AWS_Access_Key_ID=AKIAFILE\n", "s3 =\n",
                              "  aws_access_key_id = AKIAINDENTED\n",
                              "  max_concurrent_requests = 20\n",
                              "aws_secret_access_key: ", kFileSecret, "\r\n",
                              "#aws_session_token = commented out\n"));

  absl::StatusOr<AwsCredentials> credentials = GetFromChain();

  ASSERT_THAT(credentials, IsOk());
  EXPECT_EQ(credentials->access_key_id, "AKIAFILE");
  EXPECT_TRUE(credentials->secret_access_key.Equals(
      SecretBytes::CopyFrom(kFileSecret)));
  EXPECT_TRUE(credentials->session_token.empty());
}

TEST_F(CredentialChainTest, FilePathsFromEnvironment) {
  env_["AWS_SHARED_CREDENTIALS_FILE"] = "~/elsewhere/credentials";
  env_["AWS_CONFIG_FILE"] = dir_ + "/custom-config";
  ASSERT_EQ(mkdir((home_ + "/elsewhere").c_str(), 0700), 0);
  WriteCredentialsFile(
      "[default]\naws_access_key_id = AKIAIGNORED\n"
      "aws_secret_access_key = ignored\n");
  const std::string path =
      WriteFile("home/elsewhere/credentials",
                StrCat("[default]\naws_access_key_id = AKIAELSEWHERE\n",
                       "aws_secret_access_key = ", kFileSecret, "\n"));

  absl::StatusOr<std::unique_ptr<AwsCredentialsProvider>> chain = Chain();
  ASSERT_THAT(chain, IsOk());
  absl::StatusOr<AwsCredentials> credentials = (*chain)->Get();

  ASSERT_THAT(credentials, IsOk());
  EXPECT_EQ(credentials->access_key_id, "AKIAELSEWHERE");
  EXPECT_EQ((*chain)->Describe(), StrCat("profile \"default\" in ", path));
}

TEST_F(CredentialChainTest, MissingChosenProfileIsNotFound) {
  env_["AWS_PROFILE"] = "missing";
  WriteCredentialsFile(StrCat("[default]\naws_access_key_id = AKIAFILE\n",
                              "aws_secret_access_key = ", kFileSecret, "\n"));

  EXPECT_THAT(Chain(),
              StatusIs(absl::StatusCode::kNotFound,
                       AllOf(HasSubstr("AWS profile \"missing\""),
                             HasSubstr("AWS_PROFILE"),
                             HasSubstr(home_ + "/.aws/credentials"),
                             HasSubstr(home_ + "/.aws/config (does not "
                                               "exist)"))));
}

TEST_F(CredentialChainTest, ProfileHalfKeyPairIsInvalid) {
  WriteCredentialsFile(
      StrCat("[default]\naws_secret_access_key = ", kFileSecret, "\n"));

  absl::StatusOr<std::unique_ptr<AwsCredentialsProvider>> chain = Chain();

  EXPECT_THAT(chain, StatusIs(absl::StatusCode::kInvalidArgument,
                              HasSubstr("sets aws_secret_access_key but not "
                                        "aws_access_key_id")));
  ExpectNoSecret(chain.status());
}

TEST_F(CredentialChainTest, UnsupportedProfileKindsAreUnimplemented) {
  const std::pair<std::string, std::string> cases[] = {
      {"role_arn = arn:aws:iam::1:role/r\nsource_profile = base\n", "role_arn"},
      {"credential_process = /usr/bin/true\n", "credential_process"},
      {"sso_session = corp\n", "sso_session"},
  };
  for (const auto& [settings, key] : cases) {
    SCOPED_TRACE(key);
    WriteConfigFile(StrCat("[profile tool]\n", settings));
    env_["AWS_PROFILE"] = "tool";

    EXPECT_THAT(Chain(), StatusIs(absl::StatusCode::kUnimplemented,
                                  HasSubstr(StrCat("sets ", key))));
  }
}

TEST_F(CredentialChainTest, ProfileWithoutCredentials) {
  WriteConfigFile(
      "[profile ci]\nregion = eu-west-1\n"
      "[default]\nregion = eu-west-1\n");

  // The default profile without credentials is not a configured source.
  EXPECT_THAT(Chain(), StatusIs(absl::StatusCode::kFailedPrecondition,
                                HasSubstr("has no credential settings")));

  // A profile chosen with AWS_PROFILE must have them.
  env_["AWS_PROFILE"] = "ci";
  EXPECT_THAT(Chain(), StatusIs(absl::StatusCode::kFailedPrecondition,
                                HasSubstr("(from AWS_PROFILE) has no "
                                          "credentials")));
}

TEST_F(CredentialChainTest, MalformedLineNamesLineNumber) {
  const std::string path = WriteCredentialsFile(
      StrCat("[default]\naws_access_key_id = AKIAFILE\n", kFileSecret, "\n"));

  absl::StatusOr<std::unique_ptr<AwsCredentialsProvider>> chain = Chain();

  EXPECT_THAT(chain, StatusIs(absl::StatusCode::kInvalidArgument,
                              HasSubstr(StrCat(path, " line 3"))));
  ExpectNoSecret(chain.status());
}

TEST_F(CredentialChainTest, NothingConfiguredListsSources) {
  EXPECT_THAT(
      Chain(),
      StatusIs(absl::StatusCode::kFailedPrecondition,
               AllOf(HasSubstr("no AWS credentials found"),
                     HasSubstr("AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY "
                               "are not set"),
                     HasSubstr("AWS_WEB_IDENTITY_TOKEN_FILE and AWS_ROLE_ARN "
                               "are not set"),
                     HasSubstr("profile \"default\" is not in"),
                     HasSubstr("AWS_EC2_METADATA_DISABLED"),
                     HasSubstr("Set AWS_ACCESS_KEY_ID"))));
}

TEST_F(CredentialChainTest, InstanceMetadataNeedsTransport) {
  env_.erase("AWS_EC2_METADATA_DISABLED");
  AwsCredentialChainOptions options = Options();
  options.transport = nullptr;

  EXPECT_THAT(NewAwsCredentialChain(options),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("options.transport is null")));
}

TEST(StaticAwsCredentialsTest, ReturnsCopies) {
  AwsCredentials credentials;
  credentials.access_key_id = "AKIASTATIC";
  credentials.secret_access_key = SecretBytes::CopyFrom(kEnvSecret);
  std::unique_ptr<AwsCredentialsProvider> provider =
      NewStaticAwsCredentials(std::move(credentials), "the URI");

  for (int i = 0; i < 2; ++i) {
    absl::StatusOr<AwsCredentials> got = provider->Get();
    ASSERT_THAT(got, IsOk());
    EXPECT_EQ(got->access_key_id, "AKIASTATIC");
    EXPECT_TRUE(
        got->secret_access_key.Equals(SecretBytes::CopyFrom(kEnvSecret)));
  }
  EXPECT_EQ(provider->Describe(), "the URI");
}

// -- STS and instance metadata over HTTP --------------------------------------

// Runs tests/fakes/aws_token_fake.py on a loopback port and points the STS
// and instance metadata endpoints at it.
class CredentialChainHttpTest : public CredentialChainTest {
 protected:
  void SetUp() override {
    CredentialChainTest::SetUp();
    absl::StatusOr<std::unique_ptr<dekms::testing::Subprocess>> fake =
        dekms::testing::Subprocess::Start(
            {DEKMS_PYTHON3,
             StrCat(DEKMS_SOURCE_DIR, "/tests/fakes/aws_token_fake.py"),
             "--exit-on-stdin-eof", "--role-arn", std::string(kRoleArn),
             "--expiration", IsoTime(kStart + absl::Hours(1))},
            {}, dekms::testing::Subprocess::Stdin::kPipe);
    ASSERT_THAT(fake, IsOk());
    fake_ = std::move(*fake);
    const std::optional<std::string> ready =
        fake_->WaitForStdoutLine("READY ", absl::Seconds(30));
    ASSERT_TRUE(ready.has_value()) << fake_->stderr_text();
    url_ = ready->substr(std::string_view("READY ").size());

    CurlTransportOptions transport_options;
    transport_options.connect_timeout = absl::Seconds(2);
    curl_transport_ = NewCurlTransport(transport_options);
    transport_ = curl_transport_.get();
    env_["AWS_ENDPOINT_URL_STS"] = url_;
    env_["AWS_EC2_METADATA_SERVICE_ENDPOINT"] = url_;
    token_file_ = WriteFile("token", std::string(kWebIdentityToken));
  }

  void TearDown() override {
    fake_.reset();
    CredentialChainTest::TearDown();
  }

  void UseWebIdentity() {
    env_["AWS_WEB_IDENTITY_TOKEN_FILE"] = token_file_;
    env_["AWS_ROLE_ARN"] = std::string(kRoleArn);
  }

  void UseInstanceMetadata() { env_.erase("AWS_EC2_METADATA_DISABLED"); }

  // Sends a request to one of the fake's control paths.
  nlohmann::json Control(const std::string& method, const std::string& path,
                         const std::string& body = "") {
    HttpRequest request;
    request.method = method;
    request.url = StrCat(url_, path);
    request.body = SecretBytes::CopyFrom(body);
    absl::StatusOr<HttpResponse> response =
        transport_->Send(request, absl::Now() + absl::Seconds(10));
    EXPECT_THAT(response, IsOk());
    if (!response.ok()) {
      return nlohmann::json::object();
    }
    EXPECT_EQ(response->status, 200) << response->BodyText();
    return nlohmann::json::parse(response->BodyText(), nullptr, false);
  }

  nlohmann::json State() { return Control("GET", "/_fake/state"); }

  void Configure(const nlohmann::json& settings) {
    Control("POST", "/_fake/configure", settings.dump());
  }

  std::unique_ptr<dekms::testing::Subprocess> fake_;
  std::string url_;
  std::unique_ptr<HttpTransport> curl_transport_;
  std::string token_file_;
};

TEST_F(CredentialChainHttpTest, WebIdentityAssumesRole) {
  UseWebIdentity();

  absl::StatusOr<std::unique_ptr<AwsCredentialsProvider>> chain = Chain();
  ASSERT_THAT(chain, IsOk());
  absl::StatusOr<AwsCredentials> credentials = (*chain)->Get();

  ASSERT_THAT(credentials, IsOk());
  EXPECT_EQ(credentials->access_key_id, "ASIAFAKESTS0001");
  EXPECT_TRUE(credentials->secret_access_key.Equals(
      SecretBytes::CopyFrom("FakeStsSecret/1+key")));
  // The fake escapes '&' as "&amp;" in the XML.
  EXPECT_TRUE(credentials->session_token.Equals(
      SecretBytes::CopyFrom("FakeStsSession+1&/=")));
  EXPECT_EQ(credentials->expiration, kStart + absl::Hours(1));

  const nlohmann::json state = State();
  EXPECT_EQ(state["sts_calls"], 1);
  EXPECT_EQ(state["sts_last_token"], std::string(kWebIdentityToken));
  EXPECT_EQ(state["sts_last_role_arn"], std::string(kRoleArn));
  EXPECT_EQ(state["sts_last_session_name"],
            StrCat("dekms-", absl::ToUnixSeconds(kStart)));
}

TEST_F(CredentialChainHttpTest, WebIdentitySessionNameFromEnvironment) {
  UseWebIdentity();
  env_["AWS_ROLE_SESSION_NAME"] = "build-42";

  ASSERT_THAT(GetFromChain(), IsOk());

  EXPECT_EQ(State()["sts_last_session_name"], "build-42");
}

TEST_F(CredentialChainHttpTest, WebIdentityFromProfile) {
  env_["AWS_PROFILE"] = "irsa";
  WriteConfigFile(StrCat("[profile irsa]\nrole_arn = ", kRoleArn,
                         "\nweb_identity_token_file = ~/../token\n",
                         "role_session_name = from-profile\n"));

  absl::StatusOr<std::unique_ptr<AwsCredentialsProvider>> chain = Chain();
  ASSERT_THAT(chain, IsOk());
  EXPECT_THAT((*chain)->Describe(), HasSubstr("profile \"irsa\""));
  ASSERT_THAT((*chain)->Get(), IsOk());

  const nlohmann::json state = State();
  EXPECT_EQ(state["sts_last_token"], std::string(kWebIdentityToken));
  EXPECT_EQ(state["sts_last_session_name"], "from-profile");
}

TEST_F(CredentialChainHttpTest, WebIdentityRefreshesBeforeExpiry) {
  UseWebIdentity();
  absl::StatusOr<std::unique_ptr<AwsCredentialsProvider>> chain = Chain();
  ASSERT_THAT(chain, IsOk());
  ASSERT_THAT((*chain)->Get(), IsOk());

  // Outside the five-minute margin the cached credentials are used.
  clock_.Set(kStart + absl::Minutes(54));
  absl::StatusOr<AwsCredentials> cached = (*chain)->Get();
  ASSERT_THAT(cached, IsOk());
  EXPECT_EQ(cached->access_key_id, "ASIAFAKESTS0001");
  EXPECT_EQ(State()["sts_calls"], 1);

  Configure({{"expiration", IsoTime(kStart + absl::Hours(2))}});
  clock_.Set(kStart + absl::Minutes(56));
  absl::StatusOr<AwsCredentials> refreshed = (*chain)->Get();
  ASSERT_THAT(refreshed, IsOk());
  EXPECT_EQ(refreshed->access_key_id, "ASIAFAKESTS0002");
  EXPECT_EQ(refreshed->expiration, kStart + absl::Hours(2));
  EXPECT_EQ(State()["sts_calls"], 2);
}

TEST_F(CredentialChainHttpTest, WebIdentityRereadsTokenFile) {
  UseWebIdentity();
  absl::StatusOr<std::unique_ptr<AwsCredentialsProvider>> chain = Chain();
  ASSERT_THAT(chain, IsOk());
  ASSERT_THAT((*chain)->Get(), IsOk());
  EXPECT_EQ(State()["sts_last_token"], std::string(kWebIdentityToken));

  WriteFile("token", StrCat(kSecondWebIdentityToken, "\n"));
  Configure({{"expiration", IsoTime(kStart + absl::Hours(2))}});
  clock_.Set(kStart + absl::Minutes(58));
  ASSERT_THAT((*chain)->Get(), IsOk());

  EXPECT_EQ(State()["sts_last_token"], std::string(kSecondWebIdentityToken));
}

TEST_F(CredentialChainHttpTest, WebIdentityMissingTokenFileFails) {
  UseWebIdentity();
  env_["AWS_WEB_IDENTITY_TOKEN_FILE"] = dir_ + "/no-such-token";

  absl::StatusOr<AwsCredentials> credentials = GetFromChain();

  EXPECT_THAT(credentials, StatusIs(absl::StatusCode::kNotFound,
                                    AllOf(HasSubstr("web identity token file"),
                                          HasSubstr(dir_ + "/no-such-token"))));
  EXPECT_EQ(State()["sts_calls"], 0);
}

TEST_F(CredentialChainHttpTest, StsErrorsMapToStatusCodes) {
  UseWebIdentity();
  const std::pair<std::string, absl::StatusCode> cases[] = {
      {"InvalidIdentityToken", absl::StatusCode::kUnauthenticated},
      {"ExpiredTokenException", absl::StatusCode::kUnauthenticated},
      {"AccessDenied", absl::StatusCode::kPermissionDenied},
      {"ValidationError", absl::StatusCode::kInvalidArgument},
  };
  for (const auto& [error_code, status_code] : cases) {
    SCOPED_TRACE(error_code);
    Configure({{"sts_error", error_code}});

    absl::StatusOr<AwsCredentials> credentials = GetFromChain();

    EXPECT_THAT(
        credentials,
        StatusIs(status_code, AllOf(HasSubstr(error_code),
                                    HasSubstr("AssumeRoleWithWebIdentity"),
                                    HasSubstr("request id fake-request-"),
                                    HasSubstr(url_), HasSubstr(kRoleArn))));
    ExpectNoSecret(credentials.status());
  }
}

TEST_F(CredentialChainHttpTest, StsErrorMessageHidesToken) {
  UseWebIdentity();
  Configure(
      {{"sts_error", "InvalidIdentityToken"}, {"sts_error_echo_token", true}});

  absl::StatusOr<AwsCredentials> credentials = GetFromChain();

  EXPECT_THAT(credentials, StatusIs(absl::StatusCode::kUnauthenticated,
                                    HasSubstr("[redacted]")));
  ExpectNoSecret(credentials.status());
}

TEST_F(CredentialChainHttpTest, StsServiceUnavailableIsRetried) {
  UseWebIdentity();
  Configure({{"sts_unavailable_count", 2}});

  absl::StatusOr<AwsCredentials> credentials = GetFromChain();

  ASSERT_THAT(credentials, IsOk());
  EXPECT_EQ(State()["sts_calls"], 3);
}

// Returns a loopback port that nothing listens on.
int ClosedPort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(address);
  if (fd < 0 ||
      bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    ADD_FAILURE() << "cannot bind a loopback socket";
  }
  const int port = ntohs(address.sin_port);
  close(fd);
  return port;
}

TEST_F(CredentialChainHttpTest, StsUnreachableIsUnavailable) {
  UseWebIdentity();
  const std::string endpoint = StrCat("http://127.0.0.1:", ClosedPort());
  env_["AWS_ENDPOINT_URL_STS"] = endpoint;

  absl::StatusOr<AwsCredentials> credentials = GetFromChain();

  EXPECT_THAT(credentials,
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr(endpoint)));
  ExpectNoSecret(credentials.status());
}

TEST_F(CredentialChainHttpTest, FailedRefreshKeepsValidCredentials) {
  UseWebIdentity();
  absl::StatusOr<std::unique_ptr<AwsCredentialsProvider>> chain = Chain();
  ASSERT_THAT(chain, IsOk());
  ASSERT_THAT((*chain)->Get(), IsOk());
  Configure({{"sts_error", "InvalidIdentityToken"}});

  // Inside the margin, the refresh fails and the old credentials stay.
  clock_.Set(kStart + absl::Minutes(56));
  absl::StatusOr<AwsCredentials> still_cached = (*chain)->Get();
  ASSERT_THAT(still_cached, IsOk());
  EXPECT_EQ(still_cached->access_key_id, "ASIAFAKESTS0001");
  EXPECT_EQ(State()["sts_calls"], 2);
  EXPECT_THAT(Log(), AllOf(HasSubstr("InvalidIdentityToken"),
                           HasSubstr("stays in use until it expires")));

  // The next attempt waits 30 seconds.
  clock_.Set(kStart + absl::Minutes(56) + absl::Seconds(10));
  ASSERT_THAT((*chain)->Get(), IsOk());
  EXPECT_EQ(State()["sts_calls"], 2);
  clock_.Set(kStart + absl::Minutes(57));
  ASSERT_THAT((*chain)->Get(), IsOk());
  EXPECT_EQ(State()["sts_calls"], 3);

  // Expired credentials are never returned.
  clock_.Set(kStart + absl::Hours(1));
  EXPECT_THAT((*chain)->Get(), StatusIs(absl::StatusCode::kUnauthenticated,
                                        HasSubstr("InvalidIdentityToken")));

  Configure({{"sts_error", nullptr},
             {"expiration", IsoTime(kStart + absl::Hours(2))}});
  absl::StatusOr<AwsCredentials> recovered = (*chain)->Get();
  ASSERT_THAT(recovered, IsOk());
  EXPECT_EQ(recovered->access_key_id, "ASIAFAKESTS0002");
}

TEST_F(CredentialChainHttpTest, ExpiredCredentialsFromSourceAreRejected) {
  UseWebIdentity();
  Configure({{"expiration", IsoTime(kStart - absl::Minutes(1))}});

  EXPECT_THAT(GetFromChain(), StatusIs(absl::StatusCode::kUnavailable,
                                       HasSubstr("check the system clock")));
}

TEST_F(CredentialChainHttpTest, ConcurrentCallsShareOneRefresh) {
  UseWebIdentity();
  absl::StatusOr<std::unique_ptr<AwsCredentialsProvider>> chain = Chain();
  ASSERT_THAT(chain, IsOk());
  AwsCredentialsProvider& provider = **chain;

  std::vector<std::thread> threads;
  std::vector<absl::StatusOr<AwsCredentials>> results(8);
  for (size_t i = 0; i < results.size(); ++i) {
    threads.emplace_back(
        [&provider, &results, i] { results[i] = provider.Get(); });
  }
  for (std::thread& thread : threads) {
    thread.join();
  }

  for (const absl::StatusOr<AwsCredentials>& result : results) {
    ASSERT_THAT(result, IsOk());
    EXPECT_EQ(result->access_key_id, "ASIAFAKESTS0001");
  }
  EXPECT_EQ(State()["sts_calls"], 1);
}

TEST_F(CredentialChainHttpTest, InstanceMetadataRoleCredentials) {
  UseInstanceMetadata();

  absl::StatusOr<std::unique_ptr<AwsCredentialsProvider>> chain = Chain();
  ASSERT_THAT(chain, IsOk());
  EXPECT_THAT((*chain)->Describe(), HasSubstr(StrCat("IMDSv2) at ", url_)));
  absl::StatusOr<AwsCredentials> credentials = (*chain)->Get();

  ASSERT_THAT(credentials, IsOk());
  EXPECT_EQ(credentials->access_key_id, "ASIAFAKEIMDS0001");
  EXPECT_TRUE(credentials->secret_access_key.Equals(
      SecretBytes::CopyFrom("FakeImdsSecret/1")));
  EXPECT_TRUE(credentials->session_token.Equals(
      SecretBytes::CopyFrom("FakeImdsSession+1")));
  EXPECT_EQ(credentials->expiration, kStart + absl::Hours(1));
  const nlohmann::json state = State();
  EXPECT_EQ(state["imds_token_puts"], 1);
  EXPECT_EQ(state["imds_unauthorized"], 0);
}

TEST_F(CredentialChainHttpTest, InstanceMetadataReusesToken) {
  UseInstanceMetadata();
  absl::StatusOr<std::unique_ptr<AwsCredentialsProvider>> chain = Chain();
  ASSERT_THAT(chain, IsOk());
  ASSERT_THAT((*chain)->Get(), IsOk());

  Configure({{"expiration", IsoTime(kStart + absl::Hours(2))}});
  clock_.Set(kStart + absl::Minutes(58));
  absl::StatusOr<AwsCredentials> refreshed = (*chain)->Get();

  ASSERT_THAT(refreshed, IsOk());
  EXPECT_EQ(refreshed->access_key_id, "ASIAFAKEIMDS0002");
  const nlohmann::json state = State();
  EXPECT_EQ(state["imds_credential_gets"], 2);
  EXPECT_EQ(state["imds_token_puts"], 1);
}

TEST_F(CredentialChainHttpTest, InstanceMetadataUnauthorizedGetsNewToken) {
  UseInstanceMetadata();
  absl::StatusOr<std::unique_ptr<AwsCredentialsProvider>> chain = Chain();
  ASSERT_THAT(chain, IsOk());
  ASSERT_THAT((*chain)->Get(), IsOk());

  Control("POST", "/_fake/expire-imds-tokens");
  Configure({{"expiration", IsoTime(kStart + absl::Hours(2))}});
  clock_.Set(kStart + absl::Minutes(58));
  absl::StatusOr<AwsCredentials> refreshed = (*chain)->Get();

  ASSERT_THAT(refreshed, IsOk());
  EXPECT_EQ(refreshed->access_key_id, "ASIAFAKEIMDS0002");
  const nlohmann::json state = State();
  EXPECT_EQ(state["imds_unauthorized"], 1);
  EXPECT_EQ(state["imds_token_puts"], 2);
}

TEST_F(CredentialChainHttpTest, FakeInstanceMetadataRejectsMissingToken) {
  HttpRequest request;
  request.method = "GET";
  request.url = StrCat(url_, "/latest/meta-data/iam/security-credentials/");

  absl::StatusOr<HttpResponse> response =
      transport_->Send(request, absl::Now() + absl::Seconds(10));

  ASSERT_THAT(response, IsOk());
  EXPECT_EQ(response->status, 401);
}

TEST_F(CredentialChainHttpTest, InstanceMetadataDisabledIsNotContacted) {
  absl::StatusOr<std::unique_ptr<AwsCredentialsProvider>> chain = Chain();

  EXPECT_THAT(chain, StatusIs(absl::StatusCode::kFailedPrecondition,
                              HasSubstr("AWS_EC2_METADATA_DISABLED")));
  EXPECT_EQ(State()["requests"], 0);
}

TEST_F(CredentialChainHttpTest, InstanceMetadataWithoutRoleIsNotFound) {
  UseInstanceMetadata();
  Configure({{"imds_role", ""}});

  absl::StatusOr<AwsCredentials> credentials = GetFromChain();

  EXPECT_THAT(credentials,
              StatusIs(absl::StatusCode::kNotFound,
                       AllOf(HasSubstr("the instance has no IAM role"),
                             HasSubstr("No other source is configured"))));
}

TEST_F(CredentialChainHttpTest, InstanceMetadataFailureCode) {
  UseInstanceMetadata();
  Configure({{"imds_code", "Failed"}});

  absl::StatusOr<AwsCredentials> credentials = GetFromChain();

  EXPECT_THAT(credentials, StatusIs(absl::StatusCode::kUnavailable,
                                    HasSubstr("Code \"Failed\"")));
  ExpectNoSecret(credentials.status());
}

TEST_F(CredentialChainHttpTest, InstanceMetadataUnreachableIsUnavailable) {
  UseInstanceMetadata();
  const std::string endpoint = StrCat("http://127.0.0.1:", ClosedPort());
  env_["AWS_EC2_METADATA_SERVICE_ENDPOINT"] = endpoint;

  absl::StatusOr<AwsCredentials> credentials = GetFromChain();

  EXPECT_THAT(credentials,
              StatusIs(absl::StatusCode::kUnavailable,
                       AllOf(HasSubstr(endpoint), HasSubstr("api/token"))));
}

}  // namespace
}  // namespace dekms::internal
