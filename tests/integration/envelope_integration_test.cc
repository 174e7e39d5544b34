// The envelope KMS end to end: kms://local with storage://file, through the
// CLI and the key service, with several processes sharing one directory.

#include <signal.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "tests/integration/dekms_process.h"

namespace dekms::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;

class EnvelopeIntegrationTest : public DekmsProcessTest {
 protected:
  void SetUp() override {
    DekmsProcessTest::SetUp();
    kek_ = dir_ + "/kek";
    blobs_ = dir_ + "/blobs";
    const ProcessResult generated = Dekms({"kek", "generate", "--out", kek_});
    ASSERT_EQ(generated.exit_code, 0) << generated.stderr_text;
  }

  std::vector<std::string> Backend() const {
    return {"--kms-uri", "kms://local?keyFile=" + kek_, "--storage-uri",
            "storage://file?path=" + blobs_};
  }

  std::vector<std::string> Get(const std::string& id,
                               std::vector<std::string> extra = {}) const {
    std::vector<std::string> args = {"get", id};
    for (const std::string& arg : Backend()) args.push_back(arg);
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
  }

  std::vector<std::string> BlobFiles() const {
    std::vector<std::string> names;
    for (const auto& entry : std::filesystem::directory_iterator(blobs_)) {
      names.push_back(entry.path().filename().string());
    }
    return names;
  }

  std::string kek_;
  std::string blobs_;
};

TEST_F(EnvelopeIntegrationTest, KekGenerateWritesPrivateFileOnce) {
  struct stat info {};
  ASSERT_EQ(stat(kek_.c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0600u);
  EXPECT_EQ(info.st_size, 32);
  const ProcessResult again = Dekms({"kek", "generate", "--out", kek_});
  EXPECT_EQ(again.exit_code, 1);
  EXPECT_THAT(again.stderr_text, HasSubstr("never overwrites a KEK"));
  EXPECT_EQ(Dekms({"kek", "generate", "--help"}).exit_code, 0);
}

TEST_F(EnvelopeIntegrationTest, OtherKekErrorNamesFingerprint) {
  const ProcessResult fingerprint = Dekms({"kek", "fingerprint", kek_});
  ASSERT_EQ(fingerprint.exit_code, 0) << fingerprint.stderr_text;
  ASSERT_THAT(fingerprint.stdout_text, ::testing::StartsWith("sha256:"));
  const std::string key_id =
      fingerprint.stdout_text.substr(0, fingerprint.stdout_text.size() - 1);

  ASSERT_EQ(Dekms(Get("disk")).exit_code, 0);
  const std::string other = dir_ + "/other-kek";
  ASSERT_EQ(Dekms({"kek", "generate", "--out", other}).exit_code, 0);
  const ProcessResult read =
      Dekms({"get", "disk", "--kms-uri", "kms://local?keyFile=" + other,
             "--storage-uri", "storage://file?path=" + blobs_});
  EXPECT_EQ(read.exit_code, 1);
  EXPECT_THAT(read.stderr_text, HasSubstr("configure the KEK that wrote it"));
  EXPECT_THAT(read.stderr_text, HasSubstr(key_id));
}

TEST_F(EnvelopeIntegrationTest, FourProcessesAgreeOnNewId) {
  constexpr int kProcesses = 4;
  std::vector<std::unique_ptr<Subprocess>> processes;
  for (int i = 0; i < kProcesses; ++i) {
    std::vector<std::string> argv = Get("race");
    argv.insert(argv.begin(), kDekmsPath);
    auto process = Subprocess::Start(argv);
    ASSERT_TRUE(process.ok()) << process.status();
    processes.push_back(std::move(process).value());
  }
  std::vector<std::string> outputs;
  for (auto& process : processes) {
    auto exit_code = process->Wait(absl::Seconds(60));
    ASSERT_TRUE(exit_code.ok());
    EXPECT_EQ(*exit_code, 0) << process->stderr_text();
    outputs.push_back(process->stdout_text());
  }
  for (const std::string& output : outputs) {
    EXPECT_EQ(output, outputs[0]);
  }
  EXPECT_EQ(outputs[0].size(), 65u);
  EXPECT_EQ(BlobFiles().size(), 1u);
}

TEST_F(EnvelopeIntegrationTest, ServiceAndLocalGetAgree) {
  std::string address;
  std::vector<std::string> serve_args = Backend();
  serve_args.insert(serve_args.end(), {"--cache-ttl", "60"});
  auto server = StartServer(serve_args, &address);
  ASSERT_NE(server, nullptr);
  EXPECT_THAT(server->stderr_text(), HasSubstr("DEK cache: 1m time-to-live"));

  const ProcessResult first = Dekms({"get", "disk-1", "--server", address});
  const ProcessResult second = Dekms({"get", "disk-1", "--server", address});
  const ProcessResult local = Dekms(Get("disk-1"));
  ASSERT_EQ(first.exit_code, 0) << first.stderr_text;
  EXPECT_EQ(second.stdout_text, first.stdout_text);
  EXPECT_EQ(local.stdout_text, first.stdout_text);

  const ProcessResult other_length =
      Dekms({"get", "disk-1", "--length", "64", "--server", address});
  EXPECT_EQ(other_length.exit_code, 1);
  EXPECT_THAT(other_length.stderr_text,
              HasSubstr("exists with a length of 32 bytes, but 64"));

  server->Signal(SIGTERM);
  auto exit_code = server->Wait(absl::Seconds(30));
  ASSERT_TRUE(exit_code.ok());
  EXPECT_EQ(*exit_code, 0);
  EXPECT_THAT(server->stderr_text(), HasSubstr("backend envelope"));
  EXPECT_THAT(server->stderr_text(), HasSubstr("status=FAILED_PRECONDITION"));
}

TEST_F(EnvelopeIntegrationTest, TamperedBlobIsRejected) {
  const ProcessResult created = Dekms(Get("disk"));
  ASSERT_EQ(created.exit_code, 0) << created.stderr_text;
  const std::vector<std::string> files = BlobFiles();
  ASSERT_EQ(files.size(), 1u);
  const std::string path = blobs_ + "/" + files[0];
  std::string blob;
  {
    std::ifstream in(path, std::ios::binary);
    blob.assign(std::istreambuf_iterator<char>(in), {});
  }
  blob.back() = static_cast<char>(blob.back() ^ 0x01);
  std::filesystem::permissions(path, std::filesystem::perms::owner_write,
                               std::filesystem::perm_options::add);
  std::ofstream(path, std::ios::binary | std::ios::trunc) << blob;

  const ProcessResult read = Dekms(Get("disk"));
  EXPECT_EQ(read.exit_code, 1);
  EXPECT_THAT(read.stdout_text, IsEmpty());
  EXPECT_THAT(read.stderr_text, HasSubstr("failed authentication"));
}

}  // namespace
}  // namespace dekms::testing
