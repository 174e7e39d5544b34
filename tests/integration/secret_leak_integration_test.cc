// Sends one known master secret through every path (key service, CLI, error
// paths, logs) and checks that neither it nor any DEK derived from it shows
// up in a log line or an error message.

#include <signal.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "src/crypto/encoding.h"
#include "tests/integration/dekms_process.h"

namespace dekms::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

std::string Encoded(const std::string& bytes, int form) {
  const std::span<const uint8_t> span(
      reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
  switch (form) {
    case 0:
      return std::string(internal::RevealAsText(internal::EncodeHex(span)));
    case 1:
      return std::string(internal::RevealAsText(
          internal::EncodeBase64(span, internal::Base64Alphabet::kStandard)));
    default:
      return std::string(internal::RevealAsText(
          internal::EncodeBase64(span, internal::Base64Alphabet::kUrlSafe)));
  }
}

// Returns the forms in which a secret could leak: raw bytes, hex, base64 and
// base64url, each cut to a 16-character window so that partial leaks count.
std::vector<std::string> LeakPatterns(const std::string& secret) {
  std::vector<std::string> patterns;
  for (int form = 0; form < 3; ++form) {
    std::string encoded = Encoded(secret, form);
    while (!encoded.empty() && encoded.back() == '=') encoded.pop_back();
    patterns.push_back(encoded.substr(0, 16));
    patterns.push_back(encoded.substr(encoded.size() - 16));
  }
  patterns.push_back(secret.substr(0, 12));
  return patterns;
}

class SecretLeakTest : public DekmsProcessTest {
 protected:
  void SetUp() override {
    DekmsProcessTest::SetUp();
    // A recognisable master secret and salt, all bytes distinct from the
    // ASCII that logs contain.
    for (int i = 0; i < 32; ++i) {
      master_.push_back(static_cast<char>(0xa0 + i));
      salt_.push_back(static_cast<char>(0x80 + i));
    }
    std::ofstream(dir_ + "/master", std::ios::binary) << master_;
    std::ofstream(dir_ + "/salt", std::ios::binary) << salt_;
    kms_uri_ = "kms://cluster-kms?key=" + Encoded(master_, 2) +
               "&salt=" + Encoded(salt_, 2);
    for (int i = 0; i < 32; ++i) kek_.push_back(static_cast<char>(0xc0 + i));
    const std::string kek_path = WriteFile("kek", kek_);
    std::filesystem::permissions(kek_path,
                                 std::filesystem::perms::owner_read |
                                     std::filesystem::perms::owner_write,
                                 std::filesystem::perm_options::replace);
    std::ofstream(dir_ + "/secret.json")
        << "{\"key\":\"" << Encoded(master_, 1) << "\",\"salt\":\""
        << Encoded(salt_, 1) << "\"}";
  }

  void Record(const ProcessResult& result) { logs_ += result.stderr_text; }

  // Every DEK seen on stdout is remembered, so the test can check that no
  // log line repeats one.
  void RecordDek(const ProcessResult& result) {
    Record(result);
    if (result.exit_code == 0) deks_hex_.push_back(result.stdout_text);
  }

  std::string master_;
  std::string salt_;
  std::string kek_;
  std::string kms_uri_;
  std::string logs_;
  std::vector<std::string> deks_hex_;
};

TEST_F(SecretLeakTest, NoSecretInLogsOrErrors) {
  const std::vector<std::vector<std::string>> sources = {
      {"--kms-uri", kms_uri_},
      {"--secret-file", dir_ + "/secret.json"},
      {"--master-secret", dir_ + "/master", "--salt", dir_ + "/salt"},
      {"--kms-uri", "kms://local?keyFile=" + dir_ + "/kek", "--storage-uri",
       "storage://file?path=" + dir_ + "/blobs"},
  };
  for (const auto& source : sources) {
    std::string address;
    auto server = StartServer(source, &address);
    ASSERT_NE(server, nullptr);
    const std::vector<std::vector<std::string>> requests = {
        {"disk-1"},
        {"disk-2", "--length", "64"},
        {"disk-3", "--length", "0"},
        {"disk-4", "--length", "9000"},
        {std::string(600, 's')},
    };
    for (const auto& request : requests) {
      std::vector<std::string> remote = {"get"};
      remote.insert(remote.end(), request.begin(), request.end());
      std::vector<std::string> local = remote;
      remote.insert(remote.end(), {"--server", address});
      local.insert(local.end(), source.begin(), source.end());
      RecordDek(Dekms(remote));
      RecordDek(Dekms(local));
      std::vector<std::string> base64 = local;
      base64.insert(base64.end(), {"--format", "base64"});
      const ProcessResult encoded = Dekms(base64);
      Record(encoded);
      if (encoded.exit_code == 0) deks_hex_.push_back(encoded.stdout_text);
    }
    server->Signal(SIGTERM);
    ASSERT_TRUE(server->Wait(absl::Seconds(30)).ok());
    logs_ += server->stderr_text();
  }

  // Error paths that hold the secret in hand: a URI with a bad parameter,
  // a store that does not fit, a secret that is too short.
  Record(Dekms({"get", "x", "--kms-uri", kms_uri_ + "&extra=1"}));
  Record(Dekms({"get", "x", "--kms-uri", kms_uri_, "--storage-uri",
                "storage://memory"}));
  Record(Dekms({"get", "x", "--kms-uri",
                "kms://cluster-kms?key=" + Encoded(master_.substr(0, 8), 2) +
                    "&salt=" + Encoded(salt_, 2)}));
  Record(Dekms({"get", "x", "--kms-uri",
                "kms://cluster-kms?key=" + Encoded(master_, 1) +
                    "&salt=" + Encoded(salt_, 1)}));
  Record(Dekms({"serve", "--listen", "127.0.0.1:0", "--kms-uri",
                kms_uri_ + "&salt=again"}));

  // The test is only meaningful if the paths ran and logged.
  ASSERT_THAT(logs_, HasSubstr("GetDataKey data_key_id=\"disk-1\""));
  ASSERT_THAT(logs_, HasSubstr("REDACTED"));
  ASSERT_GE(deks_hex_.size(), 9u);

  for (const std::string& secret : {master_, salt_, kek_}) {
    for (const std::string& pattern : LeakPatterns(secret)) {
      EXPECT_THAT(logs_, Not(HasSubstr(pattern)));
    }
  }
  for (std::string dek : deks_hex_) {
    dek.pop_back();  // The newline.
    EXPECT_THAT(logs_, Not(HasSubstr(dek.substr(0, 16))));
    EXPECT_THAT(logs_, Not(HasSubstr(dek.substr(dek.size() - 16))));
  }
}

}  // namespace
}  // namespace dekms::testing
