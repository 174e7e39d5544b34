// The AWS KMS provider against nsmithuk/local-kms, which rejects operations
// on disabled keys and keys pending deletion as AWS does; moto encrypts
// under them. tests/emulators/local_kms_netns.sh starts the emulator in a
// private network namespace and sets DEKMS_LOCAL_KMS_ENDPOINT.

#include <cstdlib>
#include <memory>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "src/cloud/aws/credential_chain.h"
#include "src/crypto/random.h"
#include "src/kek/aws_kms_kek_provider.h"
#include "tests/testing/aws_test_client.h"
#include "tests/testing/emulators.h"
#include "tests/testing/status_matchers.h"

namespace dekms::testing {
namespace {

using ::dekms::internal::AwsCredentials;
using ::dekms::internal::AwsKmsKekOptions;
using ::dekms::internal::AwsKmsKekProvider;
using ::testing::HasSubstr;

std::span<const uint8_t> Bytes(std::string_view text) {
  return {reinterpret_cast<const uint8_t*>(text.data()), text.size()};
}

class LocalKmsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* endpoint = std::getenv("DEKMS_LOCAL_KMS_ENDPOINT");
    if (endpoint == nullptr) {
      if (IsContinuousIntegration()) {
        GTEST_FAIL() << "DEKMS_LOCAL_KMS_ENDPOINT is not set; run this test "
                        "through ctest, which starts local-kms";
      }
      GTEST_SKIP() << "run through ctest, which starts local-kms";
    }
    endpoint_ = endpoint;
    transport_ = ::dekms::internal::NewCurlTransport({});
  }

  // local-kms checks no signatures; the requests are signed all the same.
  static AwsCredentials Credentials() {
    AwsCredentials credentials;
    credentials.access_key_id = "AKIDLOCALKMS";
    credentials.secret_access_key =
        SecretBytes::CopyFrom(std::string_view("local-kms-test-secret"));
    return credentials;
  }

  std::string CreateKey() {
    auto reply = CallKmsForTest(*transport_, endpoint_, Credentials(),
                                "CreateKey", nlohmann::json::object());
    EXPECT_THAT(reply.status(), IsOk());
    return reply.ok() ? (*reply)["KeyMetadata"]["Arn"].get<std::string>()
                      : std::string();
  }

  void Admin(std::string_view operation, const nlohmann::json& body) {
    EXPECT_THAT(
        CallKmsForTest(*transport_, endpoint_, Credentials(), operation, body)
            .status(),
        IsOk());
  }

  std::unique_ptr<AwsKmsKekProvider> NewKek(const std::string& arn) {
    AwsKmsKekOptions options;
    options.region = "us-east-1";
    options.key_name = arn;
    options.endpoint = endpoint_;
    options.credentials =
        ::dekms::internal::NewStaticAwsCredentials(Credentials(), "the test");
    options.transport = transport_;
    auto kek = AwsKmsKekProvider::Create(options);
    EXPECT_THAT(kek.status(), IsOk());
    return kek.ok() ? std::move(kek).value() : nullptr;
  }

  std::string endpoint_;
  std::shared_ptr<::dekms::internal::HttpTransport> transport_;
};

TEST_F(LocalKmsTest, DisabledKeyStopsWrapAndUnwrap) {
  const std::string arn = CreateKey();
  auto kek = NewKek(arn);
  ASSERT_NE(kek, nullptr);
  auto dek = ::dekms::internal::RandomSecretBytes(32);
  ASSERT_THAT(dek.status(), IsOk());
  auto wrapped = kek->Wrap(*dek, Bytes("ad"));
  ASSERT_THAT(wrapped.status(), IsOk());

  Admin("DisableKey", {{"KeyId", KeyIdOf(arn)}});
  EXPECT_THAT(kek->Check(), StatusIs(absl::StatusCode::kFailedPrecondition,
                                     HasSubstr("is disabled")));
  EXPECT_THAT(kek->Wrap(*dek, Bytes("ad")).status(),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("DisabledException")));
  EXPECT_THAT(kek->Unwrap(wrapped->ciphertext, "", Bytes("ad")).status(),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("DisabledException")));

  // Enabled again, the old blob unwraps to the same DEK.
  Admin("EnableKey", {{"KeyId", KeyIdOf(arn)}});
  auto unwrapped = kek->Unwrap(wrapped->ciphertext, "", Bytes("ad"));
  ASSERT_THAT(unwrapped.status(), IsOk());
  EXPECT_TRUE(unwrapped->Equals(*dek));
}

TEST_F(LocalKmsTest, KeyPendingDeletionStopsWrap) {
  const std::string arn = CreateKey();
  auto kek = NewKek(arn);
  ASSERT_NE(kek, nullptr);
  Admin("ScheduleKeyDeletion",
        {{"KeyId", KeyIdOf(arn)}, {"PendingWindowInDays", 7}});
  EXPECT_THAT(kek->Check(), StatusIs(absl::StatusCode::kFailedPrecondition,
                                     HasSubstr("scheduled for deletion")));
  auto dek = ::dekms::internal::RandomSecretBytes(32);
  ASSERT_THAT(dek.status(), IsOk());
  EXPECT_THAT(kek->Wrap(*dek, Bytes("ad")).status(),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("KMSInvalidStateException")));
}

TEST_F(LocalKmsTest, ContextMismatchIsDataLoss) {
  auto kek = NewKek(CreateKey());
  ASSERT_NE(kek, nullptr);
  auto dek = ::dekms::internal::RandomSecretBytes(16);
  ASSERT_THAT(dek.status(), IsOk());
  auto wrapped = kek->Wrap(*dek, Bytes("id=a;length=16"));
  ASSERT_THAT(wrapped.status(), IsOk());
  EXPECT_THAT(
      kek->Unwrap(wrapped->ciphertext, "", Bytes("id=b;length=16")).status(),
      StatusIs(absl::StatusCode::kDataLoss));
}

}  // namespace
}  // namespace dekms::testing
