// `dekms serve` as a process on a loopback port, called with `dekms get` and
// with a gRPC client.

#include <grpcpp/grpcpp.h>
#include <signal.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "kms.grpc.pb.h"
#include "tests/integration/dekms_process.h"

namespace dekms::testing {
namespace {

using ::testing::HasSubstr;

class KeyServiceIntegrationTest : public DekmsProcessTest {
 protected:
  std::string WriteSecretFile() {
    std::string path = dir_ + "/secret.json";
    std::ofstream(path)
        << "{\"key\":\"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\","
           "\"salt\":\"ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=\"}";
    return path;
  }
};

TEST_F(KeyServiceIntegrationTest, GetFromServerEqualsLocalDerivation) {
  const std::string secret = WriteSecretFile();
  std::string address;
  auto server = StartServer({"--secret-file", secret}, &address);
  ASSERT_NE(server, nullptr);

  for (const char* length : {"1", "32", "64", "8160"}) {
    const ProcessResult remote =
        Dekms({"get", "disk-1", "--length", length, "--server", address});
    const ProcessResult local =
        Dekms({"get", "disk-1", "--length", length, "--secret-file", secret});
    ASSERT_EQ(remote.exit_code, 0) << remote.stderr_text;
    ASSERT_EQ(local.exit_code, 0) << local.stderr_text;
    EXPECT_EQ(remote.stdout_text, local.stdout_text) << length;
  }

  // Expected DEK: master secret 00..1f, salt 20..3f, ID "key-disk-1".
  const ProcessResult known = Dekms({"get", "disk-1", "--server", address});
  EXPECT_EQ(
      known.stdout_text,
      "42f598bf6f15a7ac3ae7da7109eb3e97fb4744997261ad85530f6e995ed225a3\n");
}

TEST_F(KeyServiceIntegrationTest, InvalidRequestsFailWithClearErrors) {
  std::string address;
  auto server = StartServer({"--secret-file", WriteSecretFile()}, &address);
  ASSERT_NE(server, nullptr);

  auto stub = kms::API::NewStub(
      grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  const std::pair<std::string, uint32_t> cases[] = {
      {"disk", 0}, {"", 32}, {std::string(509, 'x'), 32}, {"disk", 8161}};
  // The CLI catches an ID that is not UTF-8, which protobuf cannot send.
  const ProcessResult not_utf8 = Dekms({"get", "bad\xff", "--server", address});
  EXPECT_EQ(not_utf8.exit_code, 1);
  EXPECT_THAT(not_utf8.stderr_text, HasSubstr("the ID is not valid UTF-8"));

  for (const auto& [id, length] : cases) {
    grpc::ClientContext context;
    kms::GetDataKeyRequest request;
    request.set_data_key_id(id);
    request.set_length(length);
    kms::GetDataKeyResponse response;
    const grpc::Status status = stub->GetDataKey(&context, request, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
        << id.size() << " " << length;
    EXPECT_TRUE(response.data_key().empty());
  }
  server->Signal(SIGTERM);
  auto exit_code = server->Wait(absl::Seconds(30));
  ASSERT_TRUE(exit_code.ok());
  EXPECT_EQ(*exit_code, 0);
  // One log line per request, with the status code.
  EXPECT_THAT(
      server->stderr_text(),
      HasSubstr("data_key_id=\"disk\" length=0 status=INVALID_ARGUMENT"));
}

TEST_F(KeyServiceIntegrationTest, SigtermAndSigintStopWithExitZero) {
  for (const int signal_number : {SIGTERM, SIGINT}) {
    std::string address;
    auto server = StartServer({"--secret-file", WriteSecretFile()}, &address);
    ASSERT_NE(server, nullptr);
    ASSERT_EQ(Dekms({"get", "disk", "--server", address}).exit_code, 0);
    server->Signal(signal_number);
    auto exit_code = server->Wait(absl::Seconds(30));
    ASSERT_TRUE(exit_code.ok()) << exit_code.status();
    EXPECT_EQ(*exit_code, 0);
    EXPECT_THAT(server->stderr_text(), HasSubstr("dekms key service stopped"));
  }
}

TEST_F(KeyServiceIntegrationTest, DefaultStateDirectoryPersistsSecret) {
  const std::vector<std::string> env = {"DEKMS_STATE_DIR=" + dir_ + "/state"};
  std::string first_output;
  for (int run = 0; run < 2; ++run) {
    std::string address;
    auto server = StartServer({}, &address, env);
    ASSERT_NE(server, nullptr);
    const ProcessResult got = Dekms({"get", "disk", "--server", address});
    ASSERT_EQ(got.exit_code, 0) << got.stderr_text;
    if (run == 0) {
      first_output = got.stdout_text;
      EXPECT_THAT(server->stderr_text(),
                  HasSubstr("created a new master secret"));
    } else {
      EXPECT_EQ(got.stdout_text, first_output);
      EXPECT_THAT(server->stderr_text(),
                  ::testing::Not(HasSubstr("created a new master secret")));
    }
    server->Signal(SIGTERM);
    ASSERT_TRUE(server->Wait(absl::Seconds(30)).ok());
  }
  // The local path reads the same file and gives the same key.
  const ProcessResult local = Dekms(
      {"get", "disk", "--secret-file", dir_ + "/state/master-secret.json"});
  EXPECT_EQ(local.stdout_text, first_output);
}

TEST_F(KeyServiceIntegrationTest, ServesOnUnixSocket) {
  const std::string socket = "unix:" + dir_ + "/dekms.sock";
  auto server = Subprocess::Start({kDekmsPath, "serve", "--listen", socket,
                                   "--secret-file", WriteSecretFile()});
  ASSERT_TRUE(server.ok());
  ASSERT_TRUE((*server)->WaitForStderr("listening on", absl::Seconds(30)));
  const ProcessResult got = Dekms({"get", "disk", "--server", socket});
  EXPECT_EQ(got.exit_code, 0) << got.stderr_text;
  EXPECT_EQ(got.stdout_text.size(), 65u);
}

TEST_F(KeyServiceIntegrationTest, CoreDumpsAreDisabled) {
  std::string address;
  auto server = StartServer({"--secret-file", WriteSecretFile()}, &address);
  ASSERT_NE(server, nullptr);
  std::ifstream limits("/proc/" + std::to_string(server->pid()) + "/limits");
  std::string line;
  bool found = false;
  while (std::getline(limits, line)) {
    if (line.rfind("Max core file size", 0) == 0) {
      found = true;
      EXPECT_THAT(line,
                  ::testing::MatchesRegex("Max core file size +0 +0 +bytes *"));
    }
  }
  EXPECT_TRUE(found);
}

TEST_F(KeyServiceIntegrationTest, BadStartupConfigExitsOne) {
  const ProcessResult short_salt =
      Dekms({"serve", "--listen", "127.0.0.1:0", "--master-secret",
             dir_ + "/master", "--salt", dir_ + "/salt"});
  EXPECT_EQ(short_salt.exit_code, 1);
  EXPECT_THAT(short_salt.stderr_text, HasSubstr("cannot open"));

  std::ofstream(dir_ + "/master") << std::string(32, 'm');
  std::ofstream(dir_ + "/salt") << std::string(8, 's');
  const ProcessResult result =
      Dekms({"serve", "--listen", "127.0.0.1:0", "--master-secret",
             dir_ + "/master", "--salt", dir_ + "/salt"});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_THAT(result.stderr_text, HasSubstr("is 8 bytes long; at least 32"));

  const ProcessResult bad_address =
      Dekms({"serve", "--listen", "127.0.0.1:99999"},
            {"DEKMS_STATE_DIR=" + dir_ + "/state"});
  EXPECT_EQ(bad_address.exit_code, 1);
  EXPECT_THAT(bad_address.stderr_text, HasSubstr("port from 0 to 65535"));
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/state"));

  const ProcessResult bad_vault =
      Dekms({"serve", "--listen", "127.0.0.1:0", "--kms-uri",
             "kms://azure?vaultName=v&vaultType=vault.azure.net&keyName=k",
             "--storage-uri", "storage://memory"});
  EXPECT_EQ(bad_vault.exit_code, 1);
  EXPECT_THAT(bad_vault.stderr_text, HasSubstr("vaultName \"v\""));
}

TEST_F(KeyServiceIntegrationTest, ServerUnreachableIsClearError) {
  // Port 1 on loopback has no listener.
  const ProcessResult result =
      Dekms({"get", "disk", "--server", "127.0.0.1:1", "--timeout", "2"});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_THAT(result.stderr_text, HasSubstr("key service at 127.0.0.1:1"));
}

}  // namespace
}  // namespace dekms::testing
