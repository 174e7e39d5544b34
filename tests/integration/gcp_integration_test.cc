// Google credentials, the Cloud KMS KEK provider and the Cloud Storage
// store against loopback servers. tests/fakes/gcp_fake.py serves the OAuth
// token endpoint, the GCE metadata server and Cloud KMS, and verifies RS256
// assertions, bearer tokens, AAD and CRC-32C. fake-gcs-server is a real
// emulator of the Cloud Storage JSON API. Fault tests put fault_proxy.py in
// front of either.

#include <sys/stat.h>

#include <csignal>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "openssl/bio.h"
#include "openssl/evp.h"
#include "openssl/pem.h"
#include "src/cloud/gcp/credentials.h"
#include "src/cloud/http.h"
#include "src/crypto/encoding.h"
#include "src/crypto/random.h"
#include "src/kek/gcp_kms_kek_provider.h"
#include "src/storage/gcs_store.h"
#include "tests/integration/dekms_process.h"
#include "tests/testing/emulators.h"
#include "tests/testing/gcp_fake.h"
#include "tests/testing/status_matchers.h"

namespace dekms::testing {
namespace {

using ::dekms::internal::GcpKmsKekOptions;
using ::dekms::internal::GcpKmsKekProvider;
using ::dekms::internal::GcsStore;
using ::dekms::internal::GcsStoreOptions;
using ::dekms::internal::GoogleCredentialOptions;
using ::dekms::internal::GoogleTokenSource;
using ::dekms::internal::HttpTransport;
using ::dekms::internal::RevealAsText;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

std::span<const uint8_t> Bytes(std::string_view text) {
  return {reinterpret_cast<const uint8_t*>(text.data()), text.size()};
}

SecretBytes RandomDek(size_t size) {
  auto dek = ::dekms::internal::RandomSecretBytes(size);
  EXPECT_THAT(dek.status(), IsOk());
  return dek.ok() ? std::move(dek).value() : SecretBytes(size);
}

std::string ReadText(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// A clock that tests move by hand.
class ManualClock {
 public:
  absl::Time Now() const {
    absl::MutexLock lock(&mu_);
    return now_;
  }
  void Advance(absl::Duration step) {
    absl::MutexLock lock(&mu_);
    now_ += step;
  }

 private:
  mutable absl::Mutex mu_;
  absl::Time now_ = absl::Now();
};

class GcpTest : public DekmsProcessTest {
 protected:
  void SetUp() override {
    DekmsProcessTest::SetUp();
    DEKMS_ASSIGN_EMULATOR_OR_SKIP(fake_, StartGcpFake());
    transport_ = ::dekms::internal::NewCurlTransport({});
  }

  // A token source from a map of variables that never reaches the machine's
  // own: no gcloud file, and the metadata server is the fake.
  absl::StatusOr<std::unique_ptr<GoogleTokenSource>> Tokens(
      std::string credentials_path,
      std::map<std::string, std::string> environment = {},
      std::function<absl::Time()> now = nullptr) {
    environment.emplace("HOME", dir_);
    environment.emplace("GCE_METADATA_HOST", fake_->metadata_host());
    GoogleCredentialOptions options;
    options.credentials_path = std::move(credentials_path);
    options.transport = transport_.get();
    options.now = std::move(now);
    options.retry.initial_backoff = absl::Milliseconds(10);
    options.getenv =
        [environment](std::string_view name) -> std::optional<std::string> {
      const auto it = environment.find(std::string(name));
      if (it == environment.end()) {
        return std::nullopt;
      }
      return it->second;
    };
    return ::dekms::internal::NewGoogleTokenSource(std::move(options));
  }

  std::shared_ptr<GoogleTokenSource> ServiceAccountTokens() {
    auto tokens = Tokens(fake_->service_account_path());
    EXPECT_THAT(tokens.status(), IsOk());
    return tokens.ok()
               ? std::shared_ptr<GoogleTokenSource>(std::move(tokens).value())
               : nullptr;
  }

  std::string CreateKey(const GcpKeySpec& spec) {
    auto name = fake_->CreateKey(spec);
    EXPECT_THAT(name.status(), IsOk());
    return name.ok() ? *name : "";
  }

  GcpKmsKekOptions KekOptions(const std::string& key_id,
                              const std::string& endpoint = "") {
    GcpKmsKekOptions options;
    options.project_id = "dekms-test-project";
    options.location = "global";
    options.key_ring = "dekms";
    options.key_name = key_id;
    options.endpoint = endpoint.empty() ? fake_->endpoint() : endpoint;
    options.credentials = ServiceAccountTokens();
    options.transport = transport_;
    options.retry.initial_backoff = absl::Milliseconds(10);
    return options;
  }

  std::unique_ptr<GcpKmsKekProvider> NewKek(const std::string& key_id,
                                            const std::string& endpoint = "") {
    GcpKeySpec spec;
    spec.key_id = key_id;
    CreateKey(spec);
    auto kek = GcpKmsKekProvider::Create(KekOptions(key_id, endpoint));
    EXPECT_THAT(kek.status(), IsOk()) << fake_->log_text();
    return kek.ok() ? std::move(kek).value() : nullptr;
  }

  // Requests the fake logged for `operation`.
  std::vector<GcpRequestRecord> Logged(std::string_view operation) {
    auto requests = fake_->Requests();
    EXPECT_THAT(requests.status(), IsOk());
    std::vector<GcpRequestRecord> matching;
    for (GcpRequestRecord& record : requests.ok() ? *requests : matching) {
      if (record.operation == operation) {
        matching.push_back(record);
      }
    }
    return matching;
  }

  // Variables for a dekms process that keep it on loopback and away from
  // the machine's own Google settings, with `overrides` replacing the
  // defaults. Each name appears once, so no default can shadow an override.
  std::vector<std::string> GoogleEnvironment(
      const std::map<std::string, std::string>& overrides = {}) const {
    std::map<std::string, std::string> variables = {
        {"GOOGLE_APPLICATION_CREDENTIALS", ""},
        {"CLOUDSDK_CONFIG", dir_ + "/no-gcloud"},
        {"GCE_METADATA_HOST", fake_->metadata_host()},
        {"STORAGE_EMULATOR_HOST", ""}};
    for (const auto& [name, value] : overrides) {
      variables[name] = value;
    }
    std::vector<std::string> env;
    env.reserve(variables.size());
    for (const auto& [name, value] : variables) {
      env.push_back(name);
      env.back().append("=").append(value);
    }
    return env;
  }

  std::unique_ptr<GcpFake> fake_;
  std::shared_ptr<HttpTransport> transport_;
};

// --- Credentials -------------------------------------------------------------

TEST_F(GcpTest, ServiceAccountTokenIsFetchedOnceAndCached) {
  auto tokens = Tokens(fake_->service_account_path());
  ASSERT_THAT(tokens.status(), IsOk());
  auto first = (*tokens)->Get();
  ASSERT_THAT(first.status(), IsOk()) << fake_->log_text();
  auto second = (*tokens)->Get();
  ASSERT_THAT(second.status(), IsOk());
  EXPECT_EQ(RevealAsText(first->token), RevealAsText(second->token));
  auto counters = fake_->Counters();
  ASSERT_THAT(counters.status(), IsOk());
  EXPECT_EQ(counters->token_endpoint_tokens, 1);
}

TEST_F(GcpTest, TokenIsRefreshedBeforeItExpires) {
  // Tokens that live 400 s are refreshed halfway, after 200 s, since the
  // five-minute margin would come sooner. The fake accepts assertions
  // dated up to five minutes ahead, so the clock can move that far.
  GcpFakeOptions short_lived;
  short_lived.token_lifetime_seconds = 400;
  DEKMS_ASSIGN_EMULATOR_OR_SKIP(std::unique_ptr<GcpFake> fake,
                                StartGcpFake(short_lived));
  ManualClock clock;
  auto tokens = Tokens(fake->service_account_path(), {},
                       [&clock] { return clock.Now(); });
  ASSERT_THAT(tokens.status(), IsOk());
  auto first = (*tokens)->Get();
  ASSERT_THAT(first.status(), IsOk());
  clock.Advance(absl::Seconds(150));
  auto cached = (*tokens)->Get();
  ASSERT_THAT(cached.status(), IsOk());
  EXPECT_EQ(RevealAsText(cached->token), RevealAsText(first->token));
  clock.Advance(absl::Seconds(100));
  auto refreshed = (*tokens)->Get();
  ASSERT_THAT(refreshed.status(), IsOk()) << fake->log_text();
  EXPECT_NE(RevealAsText(refreshed->token), RevealAsText(first->token));
  auto counters = fake->Counters();
  ASSERT_THAT(counters.status(), IsOk());
  EXPECT_EQ(counters->token_endpoint_tokens, 2);
}

TEST_F(GcpTest, RejectedAssertionIsUnauthenticatedAndNamesTheAccount) {
  // The same account with another RSA key: the signature does not verify.
  nlohmann::json account =
      nlohmann::json::parse(ReadText(fake_->service_account_path()));
  ::dekms::internal::UniqueEvpPkey other(
      EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(2048)));
  const std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()),
                                                      &BIO_free);
  ASSERT_EQ(PEM_write_bio_PKCS8PrivateKey(bio.get(), other.get(), nullptr,
                                          nullptr, 0, nullptr, nullptr),
            1);
  char* pem = nullptr;
  const long pem_size = BIO_get_mem_data(bio.get(), &pem);
  account["private_key"] = std::string(pem, static_cast<size_t>(pem_size));
  const std::string path = WriteFile("wrong-key.json", account.dump());

  auto tokens = Tokens(path);
  ASSERT_THAT(tokens.status(), IsOk());
  EXPECT_THAT(
      (*tokens)->Get().status(),
      StatusIs(
          absl::StatusCode::kUnauthenticated,
          AllOf(HasSubstr("invalid_grant"), HasSubstr("Invalid JWT Signature"),
                HasSubstr(account["client_email"]), HasSubstr("keys list"))));
}

TEST_F(GcpTest, GcloudUserCredentialsAreExchanged) {
  const std::string config_dir = dir_ + "/gcloud";
  ASSERT_EQ(mkdir(config_dir.c_str(), 0700), 0);
  std::ofstream(config_dir + "/application_default_credentials.json")
      << ReadText(fake_->authorized_user_path());
  auto tokens = Tokens("", {{"CLOUDSDK_CONFIG", config_dir}});
  ASSERT_THAT(tokens.status(), IsOk());
  EXPECT_THAT((*tokens)->Describe(), HasSubstr("gcloud user credentials"));
  ASSERT_THAT((*tokens)->Get().status(), IsOk()) << fake_->log_text();
}

TEST_F(GcpTest, MetadataServerIsTheLastResort) {
  auto tokens = Tokens("");
  ASSERT_THAT(tokens.status(), IsOk());
  ASSERT_THAT((*tokens)->Get().status(), IsOk()) << fake_->log_text();
  auto counters = fake_->Counters();
  ASSERT_THAT(counters.status(), IsOk());
  EXPECT_EQ(counters->metadata_tokens, 1);
  const std::vector<GcpRequestRecord> calls = Logged("token");
  ASSERT_FALSE(calls.empty());
  EXPECT_TRUE(calls.back().metadata_flavor);
}

TEST_F(GcpTest, MetadataServerWithoutFlavorHeaderIsRefused) {
  ASSERT_THAT(fake_->SetMetadataFlavorHeader(false), IsOk());
  auto tokens = Tokens("");
  ASSERT_THAT(tokens.status(), IsOk());
  EXPECT_THAT((*tokens)->Get().status(),
              StatusIs(absl::StatusCode::kUnavailable,
                       AllOf(HasSubstr("not a GCE metadata server"),
                             HasSubstr("credentialsPath"))));
}

TEST_F(GcpTest, UnreachableMetadataServerSaysWhereItLooked) {
  auto tokens = Tokens("", {{"GCE_METADATA_HOST", "127.0.0.1:1"}});
  ASSERT_THAT(tokens.status(), IsOk());
  EXPECT_THAT(
      (*tokens)->Get().status(),
      StatusIs(absl::StatusCode::kUnavailable,
               AllOf(HasSubstr("127.0.0.1:1"),
                     HasSubstr("GOOGLE_APPLICATION_CREDENTIALS are not set"),
                     HasSubstr("works only on GCE and GKE"))));
}

// --- Cloud KMS ---------------------------------------------------------------

TEST_F(GcpTest, KmsWrapsWithAadAndChecksums) {
  auto kek = NewKek("wrap");
  ASSERT_NE(kek, nullptr);
  EXPECT_EQ(kek->Kind(), "gcp-kms");
  EXPECT_EQ(kek->KeyId(),
            "projects/dekms-test-project/locations/global/keyRings/dekms/"
            "cryptoKeys/wrap");
  const SecretBytes dek = RandomDek(32);
  auto wrapped = kek->Wrap(dek, Bytes("id-and-length"));
  ASSERT_THAT(wrapped.status(), IsOk()) << fake_->log_text();
  EXPECT_EQ(wrapped->key_version, "1");
  auto unwrapped = kek->Unwrap(wrapped->ciphertext, wrapped->key_version,
                               Bytes("id-and-length"));
  ASSERT_THAT(unwrapped.status(), IsOk());
  EXPECT_TRUE(unwrapped->Equals(dek));

  const std::vector<GcpRequestRecord> encrypts = Logged("encrypt");
  ASSERT_EQ(encrypts.size(), 1u);
  EXPECT_EQ(encrypts[0].authorization, "valid");
  EXPECT_THAT(encrypts[0].fields,
              ::testing::IsSupersetOf({"plaintext", "plaintextCrc32c",
                                       "additionalAuthenticatedData",
                                       "additionalAuthenticatedDataCrc32c"}));
  const std::vector<GcpRequestRecord> decrypts = Logged("decrypt");
  ASSERT_EQ(decrypts.size(), 1u);
  EXPECT_THAT(decrypts[0].fields,
              ::testing::IsSupersetOf({"ciphertext", "ciphertextCrc32c",
                                       "additionalAuthenticatedData",
                                       "additionalAuthenticatedDataCrc32c"}));
}

TEST_F(GcpTest, KmsRejectsForeignOrAlteredBlobs) {
  auto kek = NewKek("bind");
  auto other = NewKek("other");
  ASSERT_NE(kek, nullptr);
  ASSERT_NE(other, nullptr);
  auto wrapped = kek->Wrap(RandomDek(32), Bytes("ad-1"));
  ASSERT_THAT(wrapped.status(), IsOk());
  EXPECT_THAT(kek->Unwrap(wrapped->ciphertext, "1", Bytes("ad-2")).status(),
              StatusIs(absl::StatusCode::kDataLoss,
                       HasSubstr("belongs to another DEK ID")));
  std::string altered = wrapped->ciphertext;
  altered[altered.size() / 2] ^= 0x01;
  EXPECT_THAT(kek->Unwrap(altered, "1", Bytes("ad-1")).status(),
              StatusIs(absl::StatusCode::kDataLoss));
  EXPECT_THAT(other->Unwrap(wrapped->ciphertext, "1", Bytes("ad-1")).status(),
              StatusIs(absl::StatusCode::kDataLoss));
}

TEST_F(GcpTest, KmsRecordsKeyVersion) {
  auto kek = NewKek("rotate");
  ASSERT_NE(kek, nullptr);
  auto old_blob = kek->Wrap(RandomDek(32), Bytes("ad"));
  ASSERT_THAT(old_blob.status(), IsOk());
  ASSERT_THAT(fake_->Rotate(kek->KeyId()).status(), IsOk());
  auto new_blob = kek->Wrap(RandomDek(32), Bytes("ad"));
  ASSERT_THAT(new_blob.status(), IsOk());
  EXPECT_EQ(old_blob->key_version, "1");
  EXPECT_EQ(new_blob->key_version, "2");
  EXPECT_THAT(kek->Unwrap(old_blob->ciphertext, "1", Bytes("ad")).status(),
              IsOk());

  ASSERT_THAT(
      fake_->SetVersionState(kek->KeyId() + "/cryptoKeyVersions/1", "DISABLED"),
      IsOk());
  EXPECT_THAT(kek->Unwrap(old_blob->ciphertext, "1", Bytes("ad")).status(),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       AllOf(HasSubstr("not enabled"),
                             HasSubstr("wrapped by version 1"))));
  EXPECT_THAT(kek->Unwrap(new_blob->ciphertext, "2", Bytes("ad")).status(),
              IsOk());
}

TEST_F(GcpTest, KmsCheckFailsClearlyForUnusableKeys) {
  EXPECT_THAT(GcpKmsKekProvider::Create(KekOptions("missing")).status(),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       AllOf(HasSubstr("HTTP 404"),
                             HasSubstr("cryptoKeys/missing exists"))));

  GcpKeySpec denied;
  denied.key_id = "denied";
  denied.deny = true;
  CreateKey(denied);
  EXPECT_THAT(GcpKmsKekProvider::Create(KekOptions("denied")).status(),
              StatusIs(absl::StatusCode::kPermissionDenied,
                       AllOf(HasSubstr("cloudkms.cryptoKeys.get"),
                             HasSubstr("useToDecrypt"))));

  GcpKeySpec signing;
  signing.key_id = "signing";
  signing.purpose = "ASYMMETRIC_SIGN";
  CreateKey(signing);
  EXPECT_THAT(GcpKmsKekProvider::Create(KekOptions("signing")).status(),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("purpose ASYMMETRIC_SIGN")));

  GcpKeySpec disabled;
  disabled.key_id = "disabled";
  disabled.primary_state = "DISABLED";
  CreateKey(disabled);
  EXPECT_THAT(GcpKmsKekProvider::Create(KekOptions("disabled")).status(),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       AllOf(HasSubstr("is DISABLED, not ENABLED"),
                             HasSubstr("versions enable"))));
}

TEST_F(GcpTest, KmsCheckNoticesAKeyDisabledLater) {
  auto kek = NewKek("later");
  ASSERT_NE(kek, nullptr);
  EXPECT_THAT(kek->Check(), IsOk());
  ASSERT_THAT(
      fake_->SetVersionState(kek->KeyId() + "/cryptoKeyVersions/1", "DISABLED"),
      IsOk());
  EXPECT_THAT(kek->Check(), StatusIs(absl::StatusCode::kFailedPrecondition));
}

TEST_F(GcpTest, KmsHsmKeysTakeAtMost8KiB) {
  GcpKeySpec spec;
  spec.key_id = "hsm";
  spec.protection_level = "HSM";
  CreateKey(spec);
  auto kek = GcpKmsKekProvider::Create(KekOptions("hsm"));
  ASSERT_THAT(kek.status(), IsOk());
  // The limit counts plaintext and associated data together.
  EXPECT_THAT(
      (*kek)->Wrap(RandomDek(8160), Bytes(std::string(40, 'a'))).status(),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("HSM keys take at most 8192 bytes")));
  EXPECT_THAT((*kek)->Wrap(RandomDek(64), Bytes("ad")).status(), IsOk());
  EXPECT_EQ(Logged("encrypt").size(), 1u);
}

TEST_F(GcpTest, KmsRetriesWhenChecksumsShowCorruption) {
  auto kek = NewKek("integrity");
  ASSERT_NE(kek, nullptr);
  using Operation = GcpFault::Operation;
  using Kind = GcpFault::Kind;
  ASSERT_THAT(fake_->QueueFault(GcpFault::Response(Operation::kEncrypt,
                                                   Kind::kCorruptChecksum)),
              IsOk());
  ASSERT_THAT(fake_->QueueFault(
                  GcpFault::Response(Operation::kEncrypt, Kind::kOmitVerified)),
              IsOk());
  const SecretBytes dek = RandomDek(32);
  auto wrapped = kek->Wrap(dek, Bytes("ad"));
  ASSERT_THAT(wrapped.status(), IsOk());
  EXPECT_EQ(Logged("encrypt").size(), 3u);

  ASSERT_THAT(fake_->QueueFault(
                  GcpFault::Response(Operation::kDecrypt, Kind::kCorruptData)),
              IsOk());
  auto unwrapped = kek->Unwrap(wrapped->ciphertext, "1", Bytes("ad"));
  ASSERT_THAT(unwrapped.status(), IsOk());
  EXPECT_TRUE(unwrapped->Equals(dek));
  EXPECT_EQ(Logged("decrypt").size(), 2u);
}

TEST_F(GcpTest, KmsPersistentCorruptionFails) {
  auto kek = NewKek("corrupt");
  ASSERT_NE(kek, nullptr);
  using Operation = GcpFault::Operation;
  using Kind = GcpFault::Kind;
  auto wrapped = kek->Wrap(RandomDek(32), Bytes("ad"));
  ASSERT_THAT(wrapped.status(), IsOk());
  ASSERT_THAT(fake_->QueueFault(GcpFault::Response(
                  Operation::kDecrypt, Kind::kCorruptData, /*count=*/3)),
              IsOk());
  EXPECT_THAT(kek->Unwrap(wrapped->ciphertext, "1", Bytes("ad")).status(),
              StatusIs(absl::StatusCode::kUnavailable,
                       AllOf(HasSubstr("CRC-32C integrity checks 3 times"),
                             HasSubstr("does not match its checksum"))));
  ASSERT_THAT(fake_->QueueFault(GcpFault::Response(
                  Operation::kEncrypt, Kind::kCorruptData, /*count=*/3)),
              IsOk());
  EXPECT_THAT(
      kek->Wrap(RandomDek(32), Bytes("ad")).status(),
      StatusIs(absl::StatusCode::kUnavailable, HasSubstr("integrity checks")));
}

TEST_F(GcpTest, KmsRetriesServerErrorsAndQuota) {
  auto kek = NewKek("retry");
  ASSERT_NE(kek, nullptr);
  using Operation = GcpFault::Operation;
  ASSERT_THAT(fake_->QueueFault(GcpFault::Status(Operation::kEncrypt, 503)),
              IsOk());
  ASSERT_THAT(fake_->QueueFault(GcpFault::Status(Operation::kEncrypt, 429)),
              IsOk());
  ASSERT_THAT(kek->Wrap(RandomDek(32), Bytes("ad")).status(), IsOk());
  EXPECT_EQ(Logged("encrypt").size(), 3u);
}

TEST_F(GcpTest, KmsFetchesANewTokenWhenOneIsRefused) {
  auto kek = NewKek("revoked");
  ASSERT_NE(kek, nullptr);
  // The cached token is still within its lifetime, but the server no
  // longer accepts it.
  ASSERT_THAT(fake_->ExpireTokens(), IsOk());
  ASSERT_THAT(kek->Wrap(RandomDek(32), Bytes("ad")).status(), IsOk());
  const std::vector<GcpRequestRecord> encrypts = Logged("encrypt");
  ASSERT_EQ(encrypts.size(), 2u);
  EXPECT_EQ(encrypts[0].authorization, "invalid");
  EXPECT_EQ(encrypts[1].authorization, "valid");
  auto counters = fake_->Counters();
  ASSERT_THAT(counters.status(), IsOk());
  EXPECT_EQ(counters->token_endpoint_tokens, 2);
}

TEST_F(GcpTest, KmsLogsNoSecret) {
  auto kek = NewKek("quiet");
  ASSERT_NE(kek, nullptr);
  const SecretBytes dek = RandomDek(32);
  auto wrapped = kek->Wrap(dek, Bytes("ad"));
  ASSERT_THAT(wrapped.status(), IsOk());
  const std::string encoded(RevealAsText(::dekms::internal::EncodeBase64(
      dek.Reveal(), ::dekms::internal::Base64Alphabet::kStandard)));
  EXPECT_THAT(fake_->log_text(),
              AllOf(Not(HasSubstr(encoded)), Not(HasSubstr("ya29."))));
}

// --- Cloud Storage -----------------------------------------------------------

class GcsTest : public GcpTest {
 protected:
  void SetUp() override {
    GcpTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) {
      return;
    }
    DEKMS_ASSIGN_EMULATOR_OR_SKIP(gcs_, StartFakeGcsServer());
  }

  GcsStoreOptions StoreOptions(const std::string& bucket,
                               const std::string& endpoint = "") {
    GcsStoreOptions options;
    options.project_id = "dekms-test-project";
    options.bucket = bucket;
    options.endpoint = endpoint.empty() ? gcs_->endpoint() : endpoint;
    options.credentials = ServiceAccountTokens();
    options.transport = transport_;
    options.retry.initial_backoff = absl::Milliseconds(10);
    return options;
  }

  std::unique_ptr<GcsStore> NewStore(const std::string& bucket,
                                     const std::string& endpoint = "") {
    auto store = GcsStore::Create(StoreOptions(bucket, endpoint));
    EXPECT_THAT(store.status(), IsOk()) << gcs_->log_text();
    return store.ok() ? std::move(store).value() : nullptr;
  }

  TestHttpResponse Gcs(std::string_view method, const std::string& path,
                       std::string_view body = "") {
    return SendTestHttpRequest(method, gcs_->endpoint() + path,
                               {"Content-Type: application/json"}, body);
  }

  std::unique_ptr<FakeGcsServer> gcs_;
};

TEST_F(GcsTest, CreatesTheBucketOnceAndProbesPreconditions) {
  EXPECT_EQ(Gcs("GET", "/storage/v1/b/dekms-new").status, 404);
  auto first = NewStore("dekms-new");
  ASSERT_NE(first, nullptr);
  EXPECT_EQ(first->Kind(), "gcs");
  EXPECT_EQ(Gcs("GET", "/storage/v1/b/dekms-new").status, 200);
  EXPECT_EQ(Gcs("GET",
                "/storage/v1/b/dekms-new/o/.dekms%2Fconditional-write-"
                "probe")
                .status,
            200);
  // A second store finds the bucket and the probe in place.
  EXPECT_NE(NewStore("dekms-new"), nullptr);
}

TEST_F(GcsTest, CreateIsCreateOnly) {
  auto store = NewStore("dekms-create");
  ASSERT_NE(store, nullptr);
  EXPECT_THAT(store->Get("key-1").status(),
              StatusIs(absl::StatusCode::kNotFound,
                       HasSubstr("bucket \"dekms-create\"")));
  ASSERT_THAT(store->Create("key-1", "first blob"), IsOk());
  EXPECT_THAT(store->Create("key-1", "second blob"),
              StatusIs(absl::StatusCode::kAlreadyExists));
  EXPECT_THAT(store->Get("key-1"), IsOkAndHolds(std::string("first blob")));
}

TEST_F(GcsTest, NamesWithSpecialCharactersRoundTrip) {
  auto store = NewStore("dekms-names");
  ASSERT_NE(store, nullptr);
  const std::vector<std::string> ids = {
      "a/b",   "a%2Fb",       "100%",  "a#b?c",  "sp ace", "a+b",
      "a//b/", "caf\xc3\xa9", "a&b=c", "~tilde", "x..y",   "key-disk-1"};
  for (const std::string& id : ids) {
    ASSERT_THAT(store->Create(id, "blob of " + id), IsOk()) << id;
  }
  for (const std::string& id : ids) {
    EXPECT_THAT(store->Get(id), IsOkAndHolds("blob of " + id)) << id;
  }
  // "a/b" is one object named with a slash, not a folder.
  EXPECT_EQ(Gcs("GET", "/storage/v1/b/dekms-names/o/a%2Fb").status, 200);
}

TEST_F(GcsTest, RacingCreatesLeaveOneWinner) {
  auto store = NewStore("dekms-race");
  ASSERT_NE(store, nullptr);
  constexpr int kWriters = 8;
  std::vector<absl::Status> results(kWriters);
  std::vector<std::thread> threads;
  threads.reserve(kWriters);
  for (int i = 0; i < kWriters; ++i) {
    threads.emplace_back([&, i] {
      results[i] = store->Create("key-race", "blob " + std::to_string(i));
    });
  }
  for (std::thread& thread : threads) {
    thread.join();
  }
  int winners = 0;
  std::string winner;
  for (int i = 0; i < kWriters; ++i) {
    if (results[i].ok()) {
      ++winners;
      winner = "blob " + std::to_string(i);
    } else {
      EXPECT_THAT(results[i], StatusIs(absl::StatusCode::kAlreadyExists));
    }
  }
  EXPECT_EQ(winners, 1);
  EXPECT_THAT(store->Get("key-race"), IsOkAndHolds(winner));
}

TEST_F(GcsTest, BucketDeletedAfterStartNeverYieldsANewBlob) {
  auto store = NewStore("dekms-gone");
  ASSERT_NE(store, nullptr);
  ASSERT_EQ(Gcs("DELETE",
                "/storage/v1/b/dekms-gone/o/.dekms%2Fconditional-write-probe")
                    .status /
                100,
            2);
  ASSERT_EQ(Gcs("DELETE", "/storage/v1/b/dekms-gone").status / 100, 2);
  EXPECT_THAT(store->Create("key-1", "blob"),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("may have been deleted")));
}

class GcsFaultTest : public GcsTest {
 protected:
  void SetUp() override {
    GcsTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) {
      return;
    }
    DEKMS_ASSIGN_EMULATOR_OR_SKIP(proxy_, StartFaultProxy(gcs_->endpoint()));
    store_ = NewStore("dekms-faults", proxy_->endpoint());
    ASSERT_NE(store_, nullptr);
    ASSERT_THAT(proxy_->Clear(), IsOk());
  }

  void Queue(Fault fault, const std::string& method,
             const std::string& path_contains = "") {
    fault.method = method;
    fault.path_contains = path_contains;
    ASSERT_THAT(proxy_->QueueFault(fault), IsOk());
  }

  int Uploads() {
    auto counters = proxy_->Counters();
    EXPECT_THAT(counters.status(), IsOk());
    return counters.ok() ? counters->by_method["POST"] : -1;
  }

  std::unique_ptr<FaultProxy> proxy_;
  std::unique_ptr<GcsStore> store_;
};

TEST_F(GcsFaultTest, ReadErrorsAreNotAbsence) {
  Queue(Fault::Status(503, /*count=*/10), "GET");
  EXPECT_THAT(store_->Get("key-1").status(),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("HTTP 503")));
  ASSERT_THAT(proxy_->Clear(), IsOk());
  Queue(Fault::Status(403), "GET");
  EXPECT_THAT(store_->Get("key-1").status(),
              StatusIs(absl::StatusCode::kPermissionDenied,
                       HasSubstr("storage.objects.get")));
  Queue(Fault::Status(401, /*count=*/2), "GET");
  EXPECT_THAT(store_->Get("key-1").status(),
              StatusIs(absl::StatusCode::kUnauthenticated));
}

TEST_F(GcsFaultTest, UnclearWriteIsSettledByReadingBack) {
  Queue(Fault::ForwardThenReset(), "POST", "uploadType=media");
  ASSERT_THAT(store_->Create("key-1", "my blob"), IsOk());
  EXPECT_THAT(store_->Get("key-1"), IsOkAndHolds(std::string("my blob")));

  // Another writer's blob is there: the unclear write of ours is not
  // mistaken for a success.
  ASSERT_THAT(store_->Create("key-2", "their blob"), IsOk());
  Queue(Fault::Status(503), "POST", "uploadType=media");
  EXPECT_THAT(store_->Create("key-2", "my blob"),
              StatusIs(absl::StatusCode::kAlreadyExists));
  EXPECT_THAT(store_->Get("key-2"), IsOkAndHolds(std::string("their blob")));
}

TEST_F(GcsFaultTest, ThrottledUploadIsRetried) {
  Queue(Fault::Status(429), "POST", "uploadType=media");
  ASSERT_THAT(store_->Create("key-1", "blob"), IsOk());
  EXPECT_EQ(Uploads(), 2);
}

TEST_F(GcsFaultTest, UnclearWritesAreBounded) {
  Queue(Fault::Status(503, /*count=*/50), "POST", "uploadType=media");
  EXPECT_THAT(store_->Create("key-1", "blob"),
              StatusIs(absl::StatusCode::kUnavailable,
                       HasSubstr("kept failing with an unclear outcome")));
  EXPECT_EQ(Uploads(), 5);
}

TEST_F(GcsFaultTest, SlowReadTimesOut) {
  GcsStoreOptions options = StoreOptions("dekms-faults", proxy_->endpoint());
  options.retry.max_attempts = 2;
  options.retry.attempt_timeout = absl::Milliseconds(300);
  auto slow = GcsStore::Create(options);
  ASSERT_THAT(slow.status(), IsOk());
  Queue(Fault::Delay(absl::Seconds(2), 2), "GET", "alt=media");
  EXPECT_THAT((*slow)->Get("key-1").status(),
              StatusIs(absl::StatusCode::kDeadlineExceeded));
}

// --- dekms end to end --------------------------------------------------------

class GcpEndToEndTest : public GcsTest {
 protected:
  // Constellation's URI forms plus the loopback endpoints.
  std::vector<std::string> Backend(const std::string& key_id,
                                   const std::string& bucket,
                                   bool credentials_in_uri = true) {
    CreateKey([&] {
      GcpKeySpec spec;
      spec.key_id = key_id;
      return spec;
    }());
    const std::string credentials =
        credentials_in_uri
            ? "&credentialsPath=" + ::dekms::internal::PercentEncode(
                                        fake_->service_account_path())
            : "";
    return {
        "--kms-uri",
        "kms://gcp?projectID=dekms-test-project&location=global&"
        "keyRing=dekms&keyName=" +
            key_id + credentials +
            "&endpoint=" + ::dekms::internal::PercentEncode(fake_->endpoint()),
        "--storage-uri",
        "storage://gcp?projectID=dekms-test-project&bucket=" + bucket +
            credentials +
            "&endpoint=" + ::dekms::internal::PercentEncode(gcs_->endpoint())};
  }
};

TEST_F(GcpEndToEndTest, ServiceServesDeksFromCloudKmsAndGcs) {
  const std::vector<std::string> backend = Backend("e2e", "dekms-e2e");
  std::string address;
  auto server = StartServer(backend, &address, GoogleEnvironment());
  ASSERT_NE(server, nullptr);
  EXPECT_THAT(server->stderr_text(),
              AllOf(HasSubstr("Google Cloud KMS: key e2e"),
                    HasSubstr("credentials from service account")));

  const ProcessResult first = Dekms({"get", "key-disk-1", "--server", address});
  const ProcessResult second =
      Dekms({"get", "key-disk-1", "--server", address});
  ASSERT_EQ(first.exit_code, 0) << first.stderr_text;
  EXPECT_EQ(first.stdout_text.size(), 65U);
  EXPECT_EQ(second.stdout_text, first.stdout_text);

  // A process that reads the same bucket directly gets the same DEK.
  std::vector<std::string> local = {"get", "key-disk-1"};
  local.insert(local.end(), backend.begin(), backend.end());
  const ProcessResult direct = Dekms(local, GoogleEnvironment());
  ASSERT_EQ(direct.exit_code, 0) << direct.stderr_text;
  EXPECT_EQ(direct.stdout_text, first.stdout_text);

  server->Signal(SIGTERM);
  auto exit_code = server->Wait(absl::Seconds(30));
  ASSERT_THAT(exit_code.status(), IsOk());
  EXPECT_EQ(*exit_code, 0);
  for (const std::string& log : {server->stderr_text(), direct.stderr_text}) {
    EXPECT_THAT(log,
                AllOf(Not(HasSubstr("ya29.")), Not(HasSubstr("PRIVATE KEY"))));
  }
}

TEST_F(GcpEndToEndTest, CredentialsAreFoundLikeGoogleLibrariesFindThem) {
  std::vector<std::string> backend =
      Backend("discovery", "dekms-discovery", /*credentials_in_uri=*/false);
  // Serves with `backend` and `env`, and returns the server's log and the
  // DEK it hands out.
  const auto serve = [&](const std::vector<std::string>& env) {
    std::string address;
    auto server = StartServer(backend, &address, env);
    EXPECT_NE(server, nullptr);
    if (server == nullptr) {
      return std::pair<std::string, std::string>();
    }
    const ProcessResult get = Dekms({"get", "key-disk-1", "--server", address});
    EXPECT_EQ(get.exit_code, 0) << get.stderr_text;
    server->Signal(SIGTERM);
    EXPECT_THAT(server->Wait(absl::Seconds(30)).status(), IsOk());
    return std::make_pair(server->stderr_text(), get.stdout_text);
  };

  const auto [file_log, file_dek] = serve(GoogleEnvironment(
      {{"GOOGLE_APPLICATION_CREDENTIALS", fake_->service_account_path()}}));
  EXPECT_THAT(file_log, HasSubstr("(GOOGLE_APPLICATION_CREDENTIALS " +
                                  fake_->service_account_path() + ")"));

  // Without a file, the metadata server; and STORAGE_EMULATOR_HOST names an
  // emulator that gets no credentials.
  backend[3] =
      "storage://gcp?projectID=dekms-test-project&"
      "bucket=dekms-discovery";
  const auto [metadata_log, metadata_dek] = serve(
      GoogleEnvironment({{"STORAGE_EMULATOR_HOST",
                          gcs_->endpoint().substr(std::strlen("http://"))}}));
  EXPECT_THAT(metadata_log, AllOf(HasSubstr("the GCE metadata server at " +
                                            fake_->metadata_host()),
                                  HasSubstr("requests carry no credentials"),
                                  Not(HasSubstr("googleapis.com"))));
  EXPECT_EQ(metadata_dek, file_dek);
  EXPECT_EQ(file_dek.size(), 65U);
}

TEST_F(GcpEndToEndTest, BrokenKeyFileFailsStartUp) {
  nlohmann::json account =
      nlohmann::json::parse(ReadText(fake_->service_account_path()));
  account.erase("client_email");
  const std::string path = WriteFile("broken.json", account.dump());
  std::vector<std::string> backend = Backend("broken", "dekms-broken");
  const std::string good =
      ::dekms::internal::PercentEncode(fake_->service_account_path());
  backend[1].replace(backend[1].find(good), good.size(),
                     ::dekms::internal::PercentEncode(path));
  std::vector<std::string> get = {"get", "key-disk-1"};
  get.insert(get.end(), backend.begin(), backend.end());
  const ProcessResult result = Dekms(get, GoogleEnvironment());
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_THAT(result.stderr_text,
              AllOf(HasSubstr("credentialsPath " + path),
                    HasSubstr("\"client_email\" is missing"),
                    Not(HasSubstr("PRIVATE KEY"))));
}

TEST_F(GcpEndToEndTest, FourProcessesAgreeOnANewId) {
  const std::vector<std::string> backend = Backend("race", "dekms-race-e2e");
  std::vector<std::string> warm_up = {"get", "key-warm-up"};
  warm_up.insert(warm_up.end(), backend.begin(), backend.end());
  // Create the bucket first, so the race is about the object alone.
  ASSERT_EQ(Dekms(warm_up, GoogleEnvironment()).exit_code, 0);
  std::vector<std::string> argv = {kDekmsPath, "get", "key-race"};
  argv.insert(argv.end(), backend.begin(), backend.end());
  std::vector<std::unique_ptr<Subprocess>> processes;
  for (int i = 0; i < 4; ++i) {
    auto process = Subprocess::Start(argv, GoogleEnvironment());
    ASSERT_THAT(process.status(), IsOk());
    processes.push_back(std::move(process).value());
  }
  std::vector<std::string> outputs;
  for (auto& process : processes) {
    auto exit_code = process->Wait(absl::Seconds(60));
    ASSERT_THAT(exit_code.status(), IsOk());
    EXPECT_EQ(*exit_code, 0) << process->stderr_text();
    outputs.push_back(process->stdout_text());
  }
  for (const std::string& output : outputs) {
    EXPECT_EQ(output, outputs[0]);
  }
  EXPECT_EQ(outputs[0].size(), 65U);
}

}  // namespace
}  // namespace dekms::testing
