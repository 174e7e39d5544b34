// Checks the test emulators themselves: moto starts with signature checks
// on and with a working key pair, and the fault proxy forwards, counts and
// injects each kind of fault. The requests carry a well-formed SigV4
// Authorization header with a wrong signature, so they need no signer, and
// the error code that moto returns shows whether it knew the access key.

#include <curl/curl.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "src/base/str_cat.h"
#include "tests/testing/emulators.h"
#include "tests/testing/status_matchers.h"

namespace dekms::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Pair;
using ::testing::UnorderedElementsAre;

// SHA-256 of the empty payload.
constexpr char kEmptyPayloadHash[] =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

// Headers of an S3 request signed by `access_key_id` with a wrong
// signature.
std::vector<std::string> BadlySignedHeaders(std::string_view access_key_id) {
  return {
      StrCat("Authorization: AWS4-HMAC-SHA256 Credential=", access_key_id,
             "/20250101/us-east-1/s3/aws4_request, "
             "SignedHeaders=host;x-amz-content-sha256;x-amz-date, "
             "Signature=",
             std::string(64, '0')),
      "x-amz-date: 20250101T000000Z",
      StrCat("x-amz-content-sha256: ", kEmptyPayloadHash),
  };
}

class EmulatorsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    DEKMS_ASSIGN_EMULATOR_OR_SKIP(moto_, StartMotoServer());
    DEKMS_ASSIGN_EMULATOR_OR_SKIP(proxy_, StartFaultProxy(moto_->endpoint()));
  }

  // Sends a badly signed S3 ListBuckets request, or PutObject for "PUT",
  // through the proxy.
  TestHttpResponse SendThroughProxy(std::string_view method) {
    const std::string path = method == "PUT" ? "/bucket/key" : "/";
    return SendTestHttpRequest(method, proxy_->endpoint() + path,
                               BadlySignedHeaders(moto_->access_key_id()));
  }

  std::unique_ptr<MotoServer> moto_;
  std::unique_ptr<FaultProxy> proxy_;
};

TEST_F(EmulatorsTest, MotoRejectsWrongSignature) {
  const TestHttpResponse response =
      SendTestHttpRequest("GET", moto_->endpoint() + "/",
                          BadlySignedHeaders(moto_->access_key_id()));

  ASSERT_EQ(response.curl_code, CURLE_OK) << response.curl_error;
  EXPECT_EQ(response.status, 403);
  EXPECT_THAT(response.body, HasSubstr("<Code>SignatureDoesNotMatch</Code>"));
}

TEST_F(EmulatorsTest, MotoRejectsUnknownAccessKey) {
  const TestHttpResponse response =
      SendTestHttpRequest("GET", moto_->endpoint() + "/",
                          BadlySignedHeaders("AKIAIOSFODNN7EXAMPLE"));

  ASSERT_EQ(response.curl_code, CURLE_OK) << response.curl_error;
  EXPECT_EQ(response.status, 403);
  EXPECT_THAT(response.body, HasSubstr("<Code>InvalidAccessKeyId</Code>"));
}

TEST_F(EmulatorsTest, MotoPrintsCredentials) {
  EXPECT_THAT(moto_->endpoint(), HasSubstr("http://127.0.0.1:"));
  EXPECT_EQ(moto_->access_key_id().size(), 20u);
  EXPECT_EQ(moto_->access_key_id().substr(0, 4), "AKIA");
  EXPECT_EQ(moto_->secret_access_key().size(), 40u);
}

TEST_F(EmulatorsTest, ProxyForwardsAndCounts) {
  const TestHttpResponse response = SendThroughProxy("GET");

  ASSERT_EQ(response.curl_code, CURLE_OK) << response.curl_error;
  EXPECT_EQ(response.status, 403);
  EXPECT_THAT(response.body, HasSubstr("<Code>SignatureDoesNotMatch</Code>"));
  const absl::StatusOr<FaultProxyCounters> counters = proxy_->Counters();
  ASSERT_THAT(counters, IsOk());
  EXPECT_EQ(counters->total, 1);
  EXPECT_EQ(counters->forwarded, 1);
  EXPECT_EQ(counters->faults_applied, 0);
  EXPECT_THAT(counters->by_method, UnorderedElementsAre(Pair("GET", 1)));
  EXPECT_TRUE(counters->by_target.empty());
}

TEST_F(EmulatorsTest, ProxyInjectsStatusOnMatchingMethod) {
  Fault fault = Fault::Status(503);
  fault.method = "PUT";
  ASSERT_THAT(proxy_->QueueFault(fault), IsOk());

  const TestHttpResponse get = SendThroughProxy("GET");
  const TestHttpResponse first_put = SendThroughProxy("PUT");
  const TestHttpResponse second_put = SendThroughProxy("PUT");

  EXPECT_EQ(get.status, 403);
  EXPECT_EQ(first_put.status, 503);
  EXPECT_THAT(first_put.body, HasSubstr("<Code>SlowDown</Code>"));
  EXPECT_EQ(second_put.status, 403);
  const absl::StatusOr<FaultProxyCounters> counters = proxy_->Counters();
  ASSERT_THAT(counters, IsOk());
  EXPECT_EQ(counters->total, 3);
  EXPECT_EQ(counters->forwarded, 2);
  EXPECT_EQ(counters->faults_applied, 1);
  EXPECT_EQ(counters->faults_pending, 0);
  EXPECT_THAT(counters->by_method,
              UnorderedElementsAre(Pair("GET", 1), Pair("PUT", 2)));
}

TEST_F(EmulatorsTest, ProxyThrottlesKmsRequestWithJson) {
  Fault fault = Fault::Status(429);
  fault.target = "TrentService.Encrypt";
  ASSERT_THAT(proxy_->QueueFault(fault), IsOk());

  const TestHttpResponse response =
      SendTestHttpRequest("POST", proxy_->endpoint() + "/",
                          {"X-Amz-Target: TrentService.Encrypt",
                           "Content-Type: application/x-amz-json-1.1"},
                          "{}");

  ASSERT_EQ(response.curl_code, CURLE_OK) << response.curl_error;
  EXPECT_EQ(response.status, 429);
  EXPECT_THAT(response.headers, HasSubstr("Retry-After: 1\r\n"));
  EXPECT_THAT(response.body, HasSubstr(R"("__type": "ThrottlingException")"));
  const absl::StatusOr<FaultProxyCounters> counters = proxy_->Counters();
  ASSERT_THAT(counters, IsOk());
  EXPECT_EQ(counters->forwarded, 0);
  EXPECT_THAT(counters->by_target,
              UnorderedElementsAre(Pair("TrentService.Encrypt", 1)));
}

TEST_F(EmulatorsTest, ProxyResetsWithoutForwarding) {
  ASSERT_THAT(proxy_->QueueFault(Fault::Reset()), IsOk());

  const TestHttpResponse response = SendThroughProxy("GET");

  EXPECT_EQ(response.curl_code, CURLE_RECV_ERROR) << response.curl_error;
  const absl::StatusOr<FaultProxyCounters> counters = proxy_->Counters();
  ASSERT_THAT(counters, IsOk());
  EXPECT_EQ(counters->total, 1);
  EXPECT_EQ(counters->forwarded, 0);
}

TEST_F(EmulatorsTest, ProxyResetsAfterForwarding) {
  ASSERT_THAT(proxy_->QueueFault(Fault::ForwardThenReset()), IsOk());

  const TestHttpResponse response = SendThroughProxy("PUT");

  EXPECT_EQ(response.curl_code, CURLE_RECV_ERROR) << response.curl_error;
  const absl::StatusOr<FaultProxyCounters> counters = proxy_->Counters();
  ASSERT_THAT(counters, IsOk());
  EXPECT_EQ(counters->forwarded, 1);
}

TEST_F(EmulatorsTest, ProxyDelaysRequest) {
  ASSERT_THAT(proxy_->QueueFault(Fault::Delay(absl::Milliseconds(300))),
              IsOk());

  const absl::Time start = absl::Now();
  const TestHttpResponse response = SendThroughProxy("GET");
  const absl::Duration elapsed = absl::Now() - start;

  EXPECT_EQ(response.status, 403);
  EXPECT_GE(elapsed, absl::Milliseconds(300));
}

TEST_F(EmulatorsTest, ProxyClearDropsFaults) {
  ASSERT_THAT(proxy_->QueueFault(Fault::Status(500, /*count=*/5)), IsOk());
  ASSERT_THAT(proxy_->Clear(), IsOk());

  const TestHttpResponse response = SendThroughProxy("GET");

  EXPECT_EQ(response.status, 403);
  const absl::StatusOr<FaultProxyCounters> counters = proxy_->Counters();
  ASSERT_THAT(counters, IsOk());
  EXPECT_EQ(counters->faults_pending, 0);
  EXPECT_EQ(counters->faults_applied, 0);
}

TEST_F(EmulatorsTest, ProxyRejectsInvalidFault) {
  EXPECT_THAT(proxy_->QueueFault(Fault::Status(42)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("status=42 is invalid")));
}

TEST(EmulatorToolsTest, MissingInterpreterIsToolsMissing) {
  const EmulatorTools tools{"/nonexistent/venv/bin/python3",
                            DEKMS_SOURCE_DIR "/tests/emulators"};

  const absl::StatusOr<std::unique_ptr<MotoServer>> moto =
      StartMotoServer(tools);

  ASSERT_FALSE(moto.ok());
  EXPECT_TRUE(IsTestToolsMissing(moto.status())) << moto.status();
  EXPECT_THAT(std::string(moto.status().message()),
              HasSubstr("install-test-tools.sh"));
}

}  // namespace
}  // namespace dekms::testing
