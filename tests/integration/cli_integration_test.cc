// The `dekms` command as a user runs it: exit codes, files, output formats.

#include <sys/stat.h>

#include <fstream>
#include <string>

#include "tests/integration/dekms_process.h"

namespace dekms::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::StartsWith;

constexpr char kClusterUri[] =
    "kms://cluster-kms?key=AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=&"
    "salt=ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=";
constexpr char kDisk1Hex[] =
    "42f598bf6f15a7ac3ae7da7109eb3e97fb4744997261ad85530f6e995ed225a3";

class CliTest : public DekmsProcessTest {};

TEST_F(CliTest, HelpOnEveryCommandExitsZero) {
  for (const std::vector<std::string>& args :
       std::vector<std::vector<std::string>>{{"--help"},
                                             {"secret", "--help"},
                                             {"secret", "generate", "--help"},
                                             {"serve", "--help"},
                                             {"get", "--help"}}) {
    const ProcessResult result = Dekms(args);
    EXPECT_EQ(result.exit_code, 0) << args.back();
    EXPECT_THAT(result.stdout_text, HasSubstr("Usage"));
  }
}

TEST_F(CliTest, UsageErrorsExitTwo) {
  const std::vector<std::vector<std::string>> cases = {
      {},
      {"get"},
      {"get", "disk", "--format", "pem"},
      {"get", "disk", "--length", "many"},
      {"get", "disk", "--kms-uri", kClusterUri, "--secret-file", "f"},
      {"get", "disk", "--master-secret", "m"},
      {"get", "disk", "--server", "127.0.0.1:9000", "--secret-file", "f"},
      {"secret", "generate"},
      {"serve", "--bogus"},
      {"get", "disk", "--length", "-1"},
  };
  for (const auto& args : cases) {
    const ProcessResult result = Dekms(args);
    EXPECT_EQ(result.exit_code, 2) << ::testing::PrintToString(args);
    EXPECT_THAT(result.stderr_text, StartsWith("dekms: "));
    EXPECT_EQ(
        std::count(result.stderr_text.begin(), result.stderr_text.end(), '\n'),
        1)
        << result.stderr_text;
  }
}

TEST_F(CliTest, UsageErrorsPointToSubcommandHelp) {
  const ProcessResult result = Dekms({"get", "disk", "--format", "pem"});
  EXPECT_THAT(result.stderr_text, HasSubstr("(see dekms get --help)"));
  const ProcessResult env =
      Dekms({"get", "disk", "--server", "127.0.0.1:1"},
            {std::string("DEKMS_KMS_URI=") + kClusterUri});
  EXPECT_EQ(env.exit_code, 2);
  EXPECT_THAT(env.stderr_text, HasSubstr("$DEKMS_KMS_URI"));
}

TEST_F(CliTest, InvalidRequestsExitOneWithOneLine) {
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"get", "disk", "--length", "0", "--kms-uri", kClusterUri},
       "length is 0"},
      {{"get", "disk", "--length", "8161", "--kms-uri", kClusterUri},
       "8161 is too large"},
      {{"get", std::string(509, 'x'), "--kms-uri", kClusterUri},
       "maximum is 508 bytes"},
      {{"get", "disk", "--kms-uri", "kms://cluster-kms?key=AAAA"},
       "missing parameter \"salt\""},
      {{"get", "disk", "--kms-uri", kClusterUri, "--storage-uri",
        "storage://memory"},
       "takes storage://no-store"},
      {{"get", "disk", "--secret-file", "/nonexistent/secret.json"},
       "cannot open /nonexistent/secret.json"},
  };
  for (const auto& [args, message] : cases) {
    const ProcessResult result = Dekms(args);
    EXPECT_EQ(result.exit_code, 1) << message;
    EXPECT_THAT(result.stderr_text, HasSubstr(message));
    EXPECT_THAT(result.stdout_text, IsEmpty());
  }
}

TEST_F(CliTest, SecretGenerateWritesPrivateFileOnce) {
  const std::string path = dir_ + "/secret.json";
  const ProcessResult first = Dekms({"secret", "generate", "--out", path});
  ASSERT_EQ(first.exit_code, 0) << first.stderr_text;
  EXPECT_THAT(first.stdout_text, IsEmpty());  // No URI unless asked.
  struct stat info {};
  ASSERT_EQ(stat(path.c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0600u);
  std::ifstream in(path);
  const std::string contents((std::istreambuf_iterator<char>(in)), {});

  const ProcessResult second = Dekms({"secret", "generate", "--out", path});
  EXPECT_EQ(second.exit_code, 1);
  EXPECT_THAT(second.stderr_text, HasSubstr("already exists"));
  std::ifstream again(path);
  EXPECT_EQ(std::string((std::istreambuf_iterator<char>(again)), {}), contents);
}

TEST_F(CliTest, PrintedUriDerivesSameKeysAsFile) {
  const std::string path = dir_ + "/secret.json";
  const ProcessResult generated =
      Dekms({"secret", "generate", "--out", path, "--print-uri"});
  ASSERT_EQ(generated.exit_code, 0) << generated.stderr_text;
  ASSERT_THAT(generated.stdout_text, StartsWith("kms://cluster-kms?key="));
  const std::string uri =
      generated.stdout_text.substr(0, generated.stdout_text.size() - 1);

  const ProcessResult from_file = Dekms({"get", "x", "--secret-file", path});
  const ProcessResult from_uri = Dekms({"get", "x", "--kms-uri", uri});
  const ProcessResult from_env = Dekms({"get", "x"}, {"DEKMS_KMS_URI=" + uri});
  ASSERT_EQ(from_file.exit_code, 0) << from_file.stderr_text;
  EXPECT_EQ(from_uri.stdout_text, from_file.stdout_text);
  EXPECT_EQ(from_env.stdout_text, from_file.stdout_text);
}

TEST_F(CliTest, OutputFormats) {
  const ProcessResult hex = Dekms({"get", "disk-1", "--kms-uri", kClusterUri});
  EXPECT_EQ(hex.stdout_text, std::string(kDisk1Hex) + "\n");

  const ProcessResult raw =
      Dekms({"get", "disk-1", "--kms-uri", kClusterUri, "--format", "raw"});
  ASSERT_EQ(raw.stdout_text.size(), 32u);
  EXPECT_EQ(static_cast<unsigned char>(raw.stdout_text[0]), 0x42);
  EXPECT_EQ(static_cast<unsigned char>(raw.stdout_text[31]), 0xa3);

  const ProcessResult base64 =
      Dekms({"get", "disk-1", "--kms-uri", kClusterUri, "--format", "base64"});
  EXPECT_EQ(base64.stdout_text,
            "QvWYv28Vp6w659pxCes+l/tHRJlyYa2FUw9umV7SJaM=\n");
}

TEST_F(CliTest, RawMasterSecretFilesAsConstellationReadsThem) {
  std::string master;
  std::string salt;
  for (int i = 0; i < 32; ++i) master.push_back(static_cast<char>(i));
  for (int i = 32; i < 64; ++i) salt.push_back(static_cast<char>(i));
  std::ofstream(dir_ + "/master", std::ios::binary) << master;
  std::ofstream(dir_ + "/salt", std::ios::binary) << salt;
  const ProcessResult result =
      Dekms({"get", "disk-1", "--master-secret", dir_ + "/master", "--salt",
             dir_ + "/salt"});
  EXPECT_EQ(result.stdout_text, std::string(kDisk1Hex) + "\n");
}

TEST_F(CliTest, IdsAreCaseSensitive) {
  const ProcessResult lower =
      Dekms({"get", "disk-1", "--kms-uri", kClusterUri});
  const ProcessResult upper =
      Dekms({"get", "Disk-1", "--kms-uri", kClusterUri});
  EXPECT_NE(lower.stdout_text, upper.stdout_text);
}

}  // namespace
}  // namespace dekms::testing
