// AWS KMS and S3 backends against moto, a real emulator of both, started on
// loopback with SigV4 signature checks on. Fault tests put fault_proxy.py
// between dekms and moto.

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "src/cloud/aws/credential_chain.h"
#include "src/cloud/aws/sigv4.h"
#include "src/cloud/http.h"
#include "src/crypto/encoding.h"
#include "src/crypto/random.h"
#include "src/kek/aws_kms_kek_provider.h"
#include "src/storage/s3_store.h"
#include "tests/integration/dekms_process.h"
#include "tests/testing/aws_test_client.h"
#include "tests/testing/emulators.h"
#include "tests/testing/status_matchers.h"

namespace dekms::testing {
namespace {

using ::dekms::internal::AwsCredentials;
using ::dekms::internal::AwsKmsKekOptions;
using ::dekms::internal::AwsKmsKekProvider;
using ::dekms::internal::HttpRequest;
using ::dekms::internal::HttpResponse;
using ::dekms::internal::HttpTransport;
using ::dekms::internal::S3Store;
using ::dekms::internal::S3StoreOptions;
using ::dekms::testing::IsOk;
using ::dekms::testing::IsOkAndHolds;
using ::dekms::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kRegion[] = "us-east-1";

// moto's DisableKey and ScheduleKeyDeletion accept a key id (KeyIdOf) but
// fail on a key ARN.

std::span<const uint8_t> Bytes(std::string_view text) {
  return {reinterpret_cast<const uint8_t*>(text.data()), text.size()};
}

SecretBytes RandomDek(size_t size) {
  auto dek = ::dekms::internal::RandomSecretBytes(size);
  EXPECT_THAT(dek.status(), IsOk());
  return dek.ok() ? std::move(dek).value() : SecretBytes(size);
}

class AwsIntegrationTest : public DekmsProcessTest {
 protected:
  void SetUp() override {
    DekmsProcessTest::SetUp();
    DEKMS_ASSIGN_EMULATOR_OR_SKIP(moto_, StartMotoServer());
    transport_ = ::dekms::internal::NewCurlTransport({});
  }

  [[nodiscard]] AwsCredentials Credentials(bool wrong_secret = false) const {
    AwsCredentials credentials;
    credentials.access_key_id = moto_->access_key_id();
    credentials.secret_access_key =
        SecretBytes::CopyFrom(wrong_secret ? std::string("not-the-secret")
                                           : moto_->secret_access_key());
    return credentials;
  }

  std::shared_ptr<::dekms::internal::AwsCredentialsProvider>
  CredentialsProvider(bool wrong_secret = false) const {
    return ::dekms::internal::NewStaticAwsCredentials(Credentials(wrong_secret),
                                                      "the test");
  }

  // Calls a KMS operation as an administrator would, for setting up keys.
  nlohmann::json Kms(const std::string& operation, const nlohmann::json& body) {
    auto reply = CallKmsForTest(*transport_, moto_->endpoint(), Credentials(),
                                operation, body);
    EXPECT_THAT(reply.status(), IsOk()) << "moto log:\n" << moto_->log_text();
    return reply.ok() ? *reply : nlohmann::json();
  }

  // Creates a key and returns its ARN.
  std::string CreateKey(const std::string& spec = "SYMMETRIC_DEFAULT",
                        const std::string& usage = "ENCRYPT_DECRYPT") {
    const nlohmann::json reply =
        Kms("CreateKey", {{"KeySpec", spec}, {"KeyUsage", usage}});
    return reply["KeyMetadata"]["Arn"].get<std::string>();
  }

  // Sends a signed S3 request as an administrator would.
  HttpResponse S3(const std::string& method, const std::string& path,
                  std::string_view body = "") {
    HttpRequest request;
    request.method = method;
    request.url = moto_->endpoint() + path;
    request.body = SecretBytes::CopyFrom(body);
    ::dekms::internal::SigV4Options signing;
    signing.region = kRegion;
    signing.service = "s3";
    signing.s3 = true;
    EXPECT_THAT(::dekms::internal::SignAwsV4(request, Credentials(), signing,
                                             absl::Now()),
                IsOk());
    auto response = transport_->Send(request, absl::Now() + absl::Seconds(30));
    EXPECT_THAT(response.status(), IsOk());
    return response.ok() ? std::move(response).value() : HttpResponse();
  }

  AwsKmsKekOptions KekOptions(const std::string& key_name,
                              const std::string& endpoint = "") const {
    AwsKmsKekOptions options;
    options.region = kRegion;
    options.key_name = key_name;
    options.endpoint = endpoint.empty() ? moto_->endpoint() : endpoint;
    options.credentials = CredentialsProvider();
    options.transport = transport_;
    options.retry.initial_backoff = absl::Milliseconds(20);
    return options;
  }

  S3StoreOptions StoreOptions(const std::string& bucket,
                              const std::string& endpoint = "",
                              const std::string& region = kRegion) const {
    S3StoreOptions options;
    options.bucket = bucket;
    options.region = region;
    options.endpoint = endpoint.empty() ? moto_->endpoint() : endpoint;
    options.path_style = true;
    options.credentials = CredentialsProvider();
    options.transport = transport_;
    options.retry.initial_backoff = absl::Milliseconds(20);
    return options;
  }

  // Environment for a dekms process that finds moto through the AWS SDK
  // variables and nothing on the machine.
  std::vector<std::string> AwsEnvironment() const {
    return {"AWS_ACCESS_KEY_ID=" + moto_->access_key_id(),
            "AWS_SECRET_ACCESS_KEY=" + moto_->secret_access_key(),
            "AWS_ENDPOINT_URL=" + moto_->endpoint(),
            "AWS_EC2_METADATA_DISABLED=true",
            "AWS_SHARED_CREDENTIALS_FILE=" + dir_ + "/no-credentials",
            "AWS_CONFIG_FILE=" + dir_ + "/no-config",
            "AWS_PROFILE=",
            "AWS_SESSION_TOKEN="};
  }

  std::unique_ptr<MotoServer> moto_;
  std::shared_ptr<HttpTransport> transport_;
};

// --- AWS KMS ---------------------------------------------------------------

TEST_F(AwsIntegrationTest, KmsKeyNamesResolveToArn) {
  const std::string arn = CreateKey();
  const std::string key_id = arn.substr(arn.rfind('/') + 1);
  Kms("CreateAlias",
      {{"AliasName", "alias/dekms-forms"}, {"TargetKeyId", key_id}});
  const std::string alias_arn =
      arn.substr(0, arn.find(":key/")) + ":alias/dekms-forms";

  for (const std::string& name :
       {key_id, arn, std::string("alias/dekms-forms"), alias_arn}) {
    auto kek = AwsKmsKekProvider::Create(KekOptions(name));
    ASSERT_THAT(kek.status(), IsOk()) << name;
    EXPECT_EQ((*kek)->KeyId(), arn) << name;
    EXPECT_THAT((*kek)->Check(), IsOk()) << name;
  }
}

TEST_F(AwsIntegrationTest, KmsWrapsAndUnwrapsWithTheContext) {
  auto kek = AwsKmsKekProvider::Create(KekOptions(CreateKey()));
  ASSERT_THAT(kek.status(), IsOk());
  const SecretBytes dek = RandomDek(32);
  auto wrapped = (*kek)->Wrap(dek, Bytes("id=disk-1;length=32"));
  ASSERT_THAT(wrapped.status(), IsOk());
  EXPECT_EQ(wrapped->key_version, "");

  auto unwrapped =
      (*kek)->Unwrap(wrapped->ciphertext, "", Bytes("id=disk-1;length=32"));
  ASSERT_THAT(unwrapped.status(), IsOk());
  EXPECT_TRUE(unwrapped->Equals(dek));

  // Another DEK ID or length changes the encryption context.
  EXPECT_THAT(
      (*kek)
          ->Unwrap(wrapped->ciphertext, "", Bytes("id=disk-2;length=32"))
          .status(),
      StatusIs(absl::StatusCode::kDataLoss,
               HasSubstr("InvalidCiphertextException")));
}

TEST_F(AwsIntegrationTest, KmsRejectsBlobOfAnotherKey) {
  auto first = AwsKmsKekProvider::Create(KekOptions(CreateKey()));
  auto second = AwsKmsKekProvider::Create(KekOptions(CreateKey()));
  ASSERT_THAT(first.status(), IsOk());
  ASSERT_THAT(second.status(), IsOk());
  const SecretBytes dek = RandomDek(32);
  auto wrapped = (*first)->Wrap(dek, Bytes("ad"));
  ASSERT_THAT(wrapped.status(), IsOk());
  const absl::Status status =
      (*second)->Unwrap(wrapped->ciphertext, "", Bytes("ad")).status();
  EXPECT_FALSE(status.ok());
  EXPECT_THAT(status, Not(StatusIs(absl::StatusCode::kNotFound)));
}

TEST_F(AwsIntegrationTest, KmsCheckFailsClearlyForUnusableKeys) {
  EXPECT_THAT(AwsKmsKekProvider::Create(KekOptions("alias/missing")).status(),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       AllOf(HasSubstr("NotFoundException"),
                             HasSubstr("check keyName \"alias/missing\""))));

  const std::string disabled = CreateKey();
  Kms("DisableKey", {{"KeyId", KeyIdOf(disabled)}});
  EXPECT_THAT(AwsKmsKekProvider::Create(KekOptions(disabled)).status(),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("is disabled")));

  const std::string deleted = CreateKey();
  Kms("ScheduleKeyDeletion",
      {{"KeyId", KeyIdOf(deleted)}, {"PendingWindowInDays", 7}});
  EXPECT_THAT(AwsKmsKekProvider::Create(KekOptions(deleted)).status(),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("scheduled for deletion")));

  const std::string rsa = CreateKey("RSA_2048", "ENCRYPT_DECRYPT");
  EXPECT_THAT(AwsKmsKekProvider::Create(KekOptions(rsa)).status(),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("needs a symmetric encryption key")));

  const std::string hmac = CreateKey("HMAC_256", "GENERATE_VERIFY_MAC");
  EXPECT_THAT(AwsKmsKekProvider::Create(KekOptions(hmac)).status(),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("needs a symmetric encryption key")));
}

TEST_F(AwsIntegrationTest, KmsCheckNoticesAKeyDisabledLater) {
  const std::string arn = CreateKey();
  auto kek = AwsKmsKekProvider::Create(KekOptions(arn));
  ASSERT_THAT(kek.status(), IsOk());
  Kms("DisableKey", {{"KeyId", KeyIdOf(arn)}});
  EXPECT_THAT((*kek)->Check(), StatusIs(absl::StatusCode::kFailedPrecondition,
                                        HasSubstr("is disabled")));
}

TEST_F(AwsIntegrationTest, KmsWrongSecretIsUnauthenticatedAndNotLeaked) {
  AwsKmsKekOptions options = KekOptions(CreateKey());
  options.credentials = CredentialsProvider(/*wrong_secret=*/true);
  const absl::Status status = AwsKmsKekProvider::Create(options).status();
  EXPECT_THAT(status, StatusIs(absl::StatusCode::kUnauthenticated,
                               HasSubstr("check the access key")));
  EXPECT_THAT(std::string(status.message()),
              AllOf(Not(HasSubstr("not-the-secret")),
                    Not(HasSubstr(moto_->secret_access_key()))));
}

TEST_F(AwsIntegrationTest, KmsRejectsDekLongerThanEncryptTakes) {
  auto kek = AwsKmsKekProvider::Create(KekOptions(CreateKey()));
  ASSERT_THAT(kek.status(), IsOk());
  EXPECT_THAT((*kek)->Wrap(RandomDek(4096), Bytes("ad")).status(), IsOk());
  EXPECT_THAT((*kek)->Wrap(RandomDek(4097), Bytes("ad")).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("1 to 4096 bytes")));
}

// --- Amazon S3 -------------------------------------------------------------

TEST_F(AwsIntegrationTest, S3CreatesBucketsInEveryRegionOnce) {
  for (const char* region : {"us-east-1", "eu-central-1"}) {
    const std::string bucket = std::string("dekms-") + region;
    ASSERT_THAT(S3Store::Create(StoreOptions(bucket, "", region)).status(),
                IsOk())
        << region;
    // The second start finds the bucket and the probe already there.
    ASSERT_THAT(S3Store::Create(StoreOptions(bucket, "", region)).status(),
                IsOk())
        << region;
  }
}

TEST_F(AwsIntegrationTest, S3CreateIsCreateOnly) {
  auto store = S3Store::Create(StoreOptions("dekms-create-only"));
  ASSERT_THAT(store.status(), IsOk());
  EXPECT_THAT((*store)->Get("disk-1").status(),
              StatusIs(absl::StatusCode::kNotFound));
  ASSERT_THAT((*store)->Create("disk-1", "first blob"), IsOk());
  EXPECT_THAT((*store)->Create("disk-1", "second blob"),
              StatusIs(absl::StatusCode::kAlreadyExists));
  EXPECT_THAT((*store)->Get("disk-1"), IsOkAndHolds("first blob"));
}

TEST_F(AwsIntegrationTest, S3KeysWithSpecialCharactersRoundTrip) {
  auto store = S3Store::Create(StoreOptions("dekms-keys"));
  ASSERT_THAT(store.status(), IsOk());
  const std::vector<std::string> ids = {
      "with space",        "plus+sign", "per%cent",
      "double//slash",     "a/b/c",     "\xc3\xa9t\xc3\xa9-\xf0\x9f\x94\x91",
      "dollar$colon:at@",  "q?hash#",   "tilde~star*",
      "semi;comma,eq=amp&"};
  for (const std::string& id : ids) {
    ASSERT_THAT((*store)->Create(id, "blob:" + id), IsOk()) << id;
  }
  for (const std::string& id : ids) {
    EXPECT_THAT((*store)->Get(id), IsOkAndHolds("blob:" + id)) << id;
  }
  // "plus+sign" must not have been stored as "plus sign".
  EXPECT_THAT((*store)->Get("plus sign").status(),
              StatusIs(absl::StatusCode::kNotFound));
}

TEST_F(AwsIntegrationTest, S3TagsBlobsLikeConstellation) {
  auto store = S3Store::Create(StoreOptions("dekms-tags"));
  ASSERT_THAT(store.status(), IsOk());
  ASSERT_THAT((*store)->Create("tagged", "blob"), IsOk());
  const HttpResponse tags = S3("GET", "/dekms-tags/tagged?tagging");
  EXPECT_EQ(tags.status, 200);
  EXPECT_THAT(std::string(tags.BodyText()),
              AllOf(HasSubstr("<Key>createdBy</Key><Value>dekms</Value>"),
                    HasSubstr("<Key>component</Key><Value>constellation-dek-"
                              "store</Value>")));
}

TEST_F(AwsIntegrationTest, S3WrongSecretNeverLooksLikeAbsence) {
  ASSERT_THAT(S3Store::Create(StoreOptions("dekms-auth")).status(), IsOk());
  S3StoreOptions options = StoreOptions("dekms-auth");
  options.credentials = CredentialsProvider(/*wrong_secret=*/true);
  const absl::Status status = S3Store::Create(options).status();
  EXPECT_FALSE(status.ok());
  EXPECT_THAT(status, Not(StatusIs(absl::StatusCode::kNotFound)));
  EXPECT_THAT(std::string(status.message()),
              Not(HasSubstr(moto_->secret_access_key())));
}

TEST_F(AwsIntegrationTest, S3MissingBucketAfterStartIsNotAbsence) {
  auto store = S3Store::Create(StoreOptions("dekms-gone"));
  ASSERT_THAT(store.status(), IsOk());
  // Empty the bucket and delete it behind the store's back.
  S3("DELETE", "/dekms-gone/.dekms/conditional-write-probe");
  ASSERT_EQ(S3("DELETE", "/dekms-gone").status, 204);
  EXPECT_THAT((*store)->Get("disk").status(),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("NoSuchBucket")));
}

// --- Faults ----------------------------------------------------------------

class AwsFaultTest : public AwsIntegrationTest {
 protected:
  void SetUp() override {
    AwsIntegrationTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) {
      return;
    }
    DEKMS_ASSIGN_EMULATOR_OR_SKIP(proxy_, StartFaultProxy(moto_->endpoint()));
  }

  void Queue(Fault fault, const std::string& method = "",
             const std::string& target = "") {
    fault.method = method;
    fault.target = target;
    ASSERT_THAT(proxy_->QueueFault(fault), IsOk());
  }

  std::unique_ptr<FaultProxy> proxy_;
};

TEST_F(AwsFaultTest, KmsRetriesServerErrorsAndThrottling) {
  auto kek =
      AwsKmsKekProvider::Create(KekOptions(CreateKey(), proxy_->endpoint()));
  ASSERT_THAT(kek.status(), IsOk());
  Queue(Fault::Status(500), "", "TrentService.Encrypt");
  Fault throttled = Fault::Status(400);
  throttled.error_code = "ThrottlingException";
  Queue(throttled, "", "TrentService.Encrypt");
  Queue(Fault::Status(503), "", "TrentService.Encrypt");
  Queue(Fault::Reset(), "", "TrentService.Encrypt");
  const SecretBytes dek = RandomDek(32);
  auto wrapped = (*kek)->Wrap(dek, Bytes("ad"));
  ASSERT_THAT(wrapped.status(), IsOk());
  auto counters = proxy_->Counters();
  ASSERT_THAT(counters.status(), IsOk());
  EXPECT_EQ(counters->by_target["TrentService.Encrypt"], 5);
  EXPECT_EQ(counters->faults_pending, 0);
}

TEST_F(AwsFaultTest, KmsGivesUpAfterBoundedAttempts) {
  AwsKmsKekOptions options = KekOptions(CreateKey(), proxy_->endpoint());
  options.retry.max_attempts = 3;
  auto kek = AwsKmsKekProvider::Create(options);
  ASSERT_THAT(kek.status(), IsOk());
  Queue(Fault::Status(503, /*count=*/10), "", "TrentService.Decrypt");
  auto wrapped = (*kek)->Wrap(RandomDek(32), Bytes("ad"));
  ASSERT_THAT(wrapped.status(), IsOk());
  EXPECT_THAT((*kek)->Unwrap(wrapped->ciphertext, "", Bytes("ad")).status(),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("HTTP 503")));
  auto counters = proxy_->Counters();
  ASSERT_THAT(counters.status(), IsOk());
  EXPECT_EQ(counters->by_target["TrentService.Decrypt"], 3);
}

TEST_F(AwsFaultTest, KmsSlowReplyTimesOut) {
  AwsKmsKekOptions options = KekOptions(CreateKey(), proxy_->endpoint());
  auto kek = AwsKmsKekProvider::Create(options);
  ASSERT_THAT(kek.status(), IsOk());
  options.retry.max_attempts = 2;
  options.retry.attempt_timeout = absl::Milliseconds(300);
  auto slow = AwsKmsKekProvider::Create(options);
  ASSERT_THAT(slow.status(), IsOk());
  Queue(Fault::Delay(absl::Seconds(2), 2), "", "TrentService.Encrypt");
  EXPECT_THAT((*slow)->Wrap(RandomDek(32), Bytes("ad")).status(),
              StatusIs(absl::StatusCode::kDeadlineExceeded,
                       HasSubstr("gave up after 2 attempts")));
}

// moto 5.2.6 never sends these error types (it encrypts under disabled
// keys, for one), so the proxy returns them in KMS's JSON error shape instead.
TEST_F(AwsFaultTest, KmsMapsErrorTypesMotoNeverSends) {
  auto kek =
      AwsKmsKekProvider::Create(KekOptions(CreateKey(), proxy_->endpoint()));
  ASSERT_THAT(kek.status(), IsOk());
  const std::pair<std::string, absl::StatusCode> cases[] = {
      {"DisabledException", absl::StatusCode::kFailedPrecondition},
      {"KMSInvalidStateException", absl::StatusCode::kFailedPrecondition},
      {"IncorrectKeyException", absl::StatusCode::kFailedPrecondition},
      {"InvalidCiphertextException", absl::StatusCode::kDataLoss},
      {"AccessDeniedException", absl::StatusCode::kPermissionDenied},
      {"UnrecognizedClientException", absl::StatusCode::kUnauthenticated},
      {"ExpiredTokenException", absl::StatusCode::kUnauthenticated},
      {"ValidationException", absl::StatusCode::kInvalidArgument},
  };
  for (const auto& [type, code] : cases) {
    Fault fault = Fault::Status(400);
    fault.error_code = type;
    Queue(fault, "", "TrentService.Decrypt");
    const absl::Status status =
        (*kek)->Unwrap("ciphertext", "", Bytes("ad")).status();
    EXPECT_THAT(status, StatusIs(code, HasSubstr(type))) << type;
    EXPECT_THAT(status, Not(StatusIs(absl::StatusCode::kNotFound))) << type;
  }
  auto counters = proxy_->Counters();
  ASSERT_THAT(counters.status(), IsOk());
  // Client errors are returned at once, without retries.
  EXPECT_EQ(counters->by_target["TrentService.Decrypt"], 8);
}

TEST_F(AwsFaultTest, S3ReadErrorsAreNotAbsence) {
  auto store =
      S3Store::Create(StoreOptions("dekms-faults", proxy_->endpoint()));
  ASSERT_THAT(store.status(), IsOk());
  ASSERT_THAT((*store)->Create("disk", "blob"), IsOk());

  Queue(Fault::Status(500), "GET");
  Queue(Fault::Status(429), "GET");
  Queue(Fault::Reset(), "GET");
  EXPECT_THAT((*store)->Get("disk"), IsOkAndHolds("blob"));

  Fault forbidden = Fault::Status(403);
  forbidden.error_code = "AccessDenied";
  Queue(forbidden, "GET");
  EXPECT_THAT((*store)->Get("missing").status(),
              StatusIs(absl::StatusCode::kPermissionDenied));
  Fault bare_404 = Fault::Status(404);
  bare_404.error_code = "SomethingElse";
  Queue(bare_404, "GET");
  EXPECT_THAT((*store)->Get("missing").status(),
              StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT((*store)->Get("missing").status(),
              StatusIs(absl::StatusCode::kNotFound));
}

TEST_F(AwsFaultTest, S3UnclearWriteIsSettledByReadingBack) {
  auto store =
      S3Store::Create(StoreOptions("dekms-unclear", proxy_->endpoint()));
  ASSERT_THAT(store.status(), IsOk());
  ASSERT_THAT(proxy_->Clear(), IsOk());

  // moto stores the object, but the client sees a reset.
  Queue(Fault::ForwardThenReset(), "PUT");
  ASSERT_THAT((*store)->Create("landed", "mine"), IsOk());
  EXPECT_THAT((*store)->Get("landed"), IsOkAndHolds("mine"));
  auto counters = proxy_->Counters();
  ASSERT_THAT(counters.status(), IsOk());
  // One PUT, settled by one GET, and no second PUT.
  EXPECT_EQ(counters->by_method["PUT"], 1);

  // The write never reached moto: the read-back finds nothing and the write
  // is repeated once.
  ASSERT_THAT(proxy_->Clear(), IsOk());
  Queue(Fault::Status(500), "PUT");
  ASSERT_THAT((*store)->Create("retried", "mine"), IsOk());
  counters = proxy_->Counters();
  ASSERT_THAT(counters.status(), IsOk());
  EXPECT_EQ(counters->by_method["PUT"], 2);
  EXPECT_THAT((*store)->Get("retried"), IsOkAndHolds("mine"));

  // Another writer's blob is already there: the unclear write of ours is
  // AlreadyExists, and the stored blob is untouched.
  ASSERT_THAT((*store)->Create("taken", "theirs"), IsOk());
  Queue(Fault::Status(503), "PUT");
  EXPECT_THAT((*store)->Create("taken", "mine"),
              StatusIs(absl::StatusCode::kAlreadyExists));
  EXPECT_THAT((*store)->Get("taken"), IsOkAndHolds("theirs"));
}

TEST_F(AwsFaultTest, S3ConditionalConflictIsRetried) {
  auto store =
      S3Store::Create(StoreOptions("dekms-conflict", proxy_->endpoint()));
  ASSERT_THAT(store.status(), IsOk());
  Fault conflict = Fault::Status(409);
  conflict.error_code = "ConditionalRequestConflict";
  Queue(conflict, "PUT");
  ASSERT_THAT((*store)->Create("disk", "blob"), IsOk());
  EXPECT_THAT((*store)->Get("disk"), IsOkAndHolds("blob"));
}

TEST_F(AwsFaultTest, S3UnclearWritesAreBounded) {
  S3StoreOptions options = StoreOptions("dekms-bounded", proxy_->endpoint());
  options.retry.max_attempts = 3;
  auto store = S3Store::Create(options);
  ASSERT_THAT(store.status(), IsOk());
  ASSERT_THAT(proxy_->Clear(), IsOk());
  Queue(Fault::Status(500, /*count=*/20), "PUT");
  EXPECT_THAT(
      (*store)->Create("disk", "blob"),
      StatusIs(absl::StatusCode::kUnavailable, HasSubstr("unclear outcome")));
  auto counters = proxy_->Counters();
  ASSERT_THAT(counters.status(), IsOk());
  EXPECT_EQ(counters->by_method["PUT"], 3);
  EXPECT_THAT((*store)->Get("disk").status(),
              StatusIs(absl::StatusCode::kNotFound));
}

TEST_F(AwsFaultTest, ServiceErrorIsNotBlamedOnTheConnection) {
  const std::string arn = CreateKey();
  std::vector<std::string> env = AwsEnvironment();
  for (std::string& entry : env) {
    if (entry.starts_with("AWS_ENDPOINT_URL=")) {
      entry = "AWS_ENDPOINT_URL=" + proxy_->endpoint();
    }
  }
  // The storage URI comes from the environment, as a URI with secrets
  // should, to stay out of the process list.
  env.push_back(
      "DEKMS_STORAGE_URI=storage://aws?bucket=dekms-blame&"
      "region=us-east-1");
  std::string address;
  auto server =
      StartServer({"--kms-uri", "kms://aws?region=us-east-1&keyName=" + arn},
                  &address, env);
  ASSERT_NE(server, nullptr);
  EXPECT_THAT(server->stderr_text(), HasSubstr("bucket dekms-blame"));

  Queue(Fault::Status(503, /*count=*/5), "GET");
  const ProcessResult failed =
      Dekms({"get", "key-disk-1", "--server", address});
  EXPECT_EQ(failed.exit_code, 1);
  EXPECT_THAT(failed.stderr_text,
              AllOf(HasSubstr("key service at " + address),
                    HasSubstr("Amazon S3 GetObject failed: HTTP 503"),
                    Not(HasSubstr("check that the key service runs"))));

  server->Signal(SIGTERM);
  ASSERT_THAT(server->Wait(absl::Seconds(30)).status(), IsOk());
  const ProcessResult unreachable =
      Dekms({"get", "key-disk-1", "--server", address, "--timeout", "2"});
  EXPECT_THAT(unreachable.stderr_text,
              HasSubstr("check that the key service runs"));
}

// --- dekms end to end --------------------------------------------------------

TEST_F(AwsIntegrationTest, ServiceServesDeksFromKmsAndS3) {
  const std::string arn = CreateKey();
  Kms("CreateAlias", {{"AliasName", "alias/dekms-e2e"},
                      {"TargetKeyId", arn.substr(arn.rfind('/') + 1)}});
  // Constellation's URI forms, with credentials and endpoint from the
  // environment.
  const std::vector<std::string> backend = {
      "--kms-uri", "kms://aws?region=us-east-1&keyName=alias/dekms-e2e",
      "--storage-uri", "storage://aws?bucket=dekms-e2e&region=us-east-1"};
  std::string address;
  auto server = StartServer(backend, &address, AwsEnvironment());
  ASSERT_NE(server, nullptr);
  EXPECT_THAT(server->stderr_text(),
              AllOf(HasSubstr("credentials from environment variables"),
                    HasSubstr("resolves to " + arn)));

  const ProcessResult first = Dekms({"get", "key-disk-1", "--server", address});
  const ProcessResult second =
      Dekms({"get", "key-disk-1", "--server", address});
  ASSERT_EQ(first.exit_code, 0) << first.stderr_text;
  EXPECT_EQ(first.stdout_text.size(), 65U);
  EXPECT_EQ(second.stdout_text, first.stdout_text);

  // A process that reads the same bucket directly gets the same DEK.
  std::vector<std::string> local = {"get", "key-disk-1"};
  local.insert(local.end(), backend.begin(), backend.end());
  const ProcessResult direct = Dekms(local, AwsEnvironment());
  ASSERT_EQ(direct.exit_code, 0) << direct.stderr_text;
  EXPECT_EQ(direct.stdout_text, first.stdout_text);

  server->Signal(SIGTERM);
  auto exit_code = server->Wait(absl::Seconds(30));
  ASSERT_THAT(exit_code.status(), IsOk());
  EXPECT_EQ(*exit_code, 0);
  EXPECT_THAT(server->stderr_text(),
              Not(HasSubstr(moto_->secret_access_key())));
}

TEST_F(AwsIntegrationTest, FourProcessesAgreeOnANewId) {
  const std::string arn = CreateKey();
  std::vector<std::string> argv = {
      kDekmsPath,
      "get",
      "key-race",
      "--kms-uri",
      "kms://aws?region=us-east-1&keyName=" + arn,
      "--storage-uri",
      "storage://aws?bucket=dekms-race&region=us-east-1"};
  // Create the bucket first, so the race is about the object alone.
  ASSERT_EQ(Dekms({"get", "key-warm-up", "--kms-uri", argv[4], "--storage-uri",
                   argv[6]},
                  AwsEnvironment())
                .exit_code,
            0);
  std::vector<std::unique_ptr<Subprocess>> processes;
  for (int i = 0; i < 4; ++i) {
    auto process = Subprocess::Start(argv, AwsEnvironment());
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
