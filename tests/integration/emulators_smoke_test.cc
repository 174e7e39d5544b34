// Checks the test emulators themselves: moto starts with signature checks
// on and with a working key pair, and the fault proxy forwards, counts and
// injects each kind of fault. The requests to moto carry a well-formed SigV4
// Authorization header with a wrong signature, so they need no signer, and
// the error code that moto returns shows whether it knew the access key.
//
// fake-gcs-server is checked for the Cloud Storage JSON API requests that a
// create-only store makes, with the status codes, headers and body fields
// that such a store reads, and behind the fault proxy for Google-shaped
// errors.

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "src/base/str_cat.h"
#include "tests/testing/emulators.h"
#include "tests/testing/status_matchers.h"

namespace dekms::testing {
namespace {

using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using ::testing::Pair;
using ::testing::StartsWith;
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
                            DEKMS_SOURCE_DIR "/tests/emulators",
                            "/nonexistent/bin"};

  const absl::StatusOr<std::unique_ptr<MotoServer>> moto =
      StartMotoServer(tools);

  ASSERT_FALSE(moto.ok());
  EXPECT_TRUE(IsTestToolsMissing(moto.status())) << moto.status();
  EXPECT_THAT(std::string(moto.status().message()),
              HasSubstr("install-test-tools.sh"));
}

TEST(EmulatorToolsTest, MissingFakeGcsServerIsToolsMissing) {
  const EmulatorTools tools{"/nonexistent/venv/bin/python3",
                            DEKMS_SOURCE_DIR "/tests/emulators",
                            "/nonexistent/bin"};

  const absl::StatusOr<std::unique_ptr<FakeGcsServer>> server =
      StartFakeGcsServer(tools);

  ASSERT_FALSE(server.ok());
  EXPECT_TRUE(IsTestToolsMissing(server.status())) << server.status();
  EXPECT_THAT(std::string(server.status().message()),
              HasSubstr("/nonexistent/bin/fake-gcs-server"));
  EXPECT_THAT(std::string(server.status().message()),
              HasSubstr("DEKMS_TEST_TOOLS_DIR=/nonexistent "
                        "scripts/install-test-tools.sh"));
}

TEST(EmulatorToolsTest, DefaultToolsNameBinDirectory) {
  EXPECT_EQ(DefaultEmulatorTools().bin_dir, DEKMS_TEST_TOOLS_DIR "/bin");
}

// Percent-encodes everything but RFC 3986 unreserved characters, as object
// names in a Cloud Storage path segment or query parameter need.
std::string PercentEncode(std::string_view text) {
  static constexpr char kHexDigits[] = "0123456789ABCDEF";
  std::string encoded;
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (std::isalnum(byte) != 0 || c == '-' || c == '_' || c == '.' ||
        c == '~') {
      encoded += c;
    } else {
      encoded += '%';
      encoded += kHexDigits[byte >> 4];
      encoded += kHexDigits[byte & 0xF];
    }
  }
  return encoded;
}

// Returns the value of the first `name` header in raw response headers,
// matching the name case-insensitively, or an empty string.
std::string HeaderValue(const std::string& headers, std::string_view name) {
  size_t start = 0;
  while (start < headers.size()) {
    size_t end = headers.find("\r\n", start);
    if (end == std::string::npos) end = headers.size();
    const std::string_view line(headers.data() + start, end - start);
    start = end + 2;
    if (line.size() <= name.size() || line[name.size()] != ':') continue;
    const bool same_name =
        std::equal(name.begin(), name.end(), line.begin(), [](char a, char b) {
          return std::tolower(static_cast<unsigned char>(a)) ==
                 std::tolower(static_cast<unsigned char>(b));
        });
    if (!same_name) continue;
    std::string_view value = line.substr(name.size() + 1);
    while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    return std::string(value);
  }
  return "";
}

// Parses a response body as JSON, or returns a discarded value.
nlohmann::json ParseJson(const std::string& body) {
  return nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
}

// Returns the value at JSON pointer `pointer` in `body`, or null when the
// body is not JSON or has no such value.
nlohmann::json JsonAt(const std::string& body, const std::string& pointer) {
  const nlohmann::json json = ParseJson(body);
  const nlohmann::json::json_pointer path(pointer);
  if (json.is_discarded() || !json.contains(path)) {
    return nullptr;
  }
  return json.at(path);
}

// Returns the string at JSON pointer `pointer` in `body`, or an empty
// string when there is none.
std::string JsonString(const std::string& body, const std::string& pointer) {
  const nlohmann::json value = JsonAt(body, pointer);
  return value.is_string() ? value.get<std::string>() : "";
}

// Returns the integer at JSON pointer `pointer` in `body`, or -1 when there
// is none.
long JsonInt(const std::string& body, const std::string& pointer) {
  const nlohmann::json value = JsonAt(body, pointer);
  return value.is_number_integer() ? value.get<long>() : -1;
}

// Returns the first error reason of a Google JSON error body.
std::string GoogleErrorReason(const std::string& body) {
  return JsonString(body, "/error/errors/0/reason");
}

constexpr char kBucket[] = "dekms-test";
// "123456789", the standard check input of CRC algorithms, with its CRC-32C
// (0xE3069283, big-endian) and MD5 in base64, as Cloud Storage sends them.
constexpr char kCheckInput[] = "123456789";
constexpr char kCheckInputCrc32c[] = "4waSgw==";
constexpr char kCheckInputMd5[] = "JfnnlDI7RTiF9RgfG2JNCw==";

class FakeGcsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    DEKMS_ASSIGN_EMULATOR_OR_SKIP(gcs_, StartFakeGcsServer());
  }

  // Base URL that requests go to, which FakeGcsProxyTest replaces with the
  // proxy's.
  virtual std::string Endpoint() { return gcs_->endpoint(); }

  TestHttpResponse InsertBucket(std::string_view name) {
    return SendTestHttpRequest("POST",
                               StrCat(Endpoint(), "/storage/v1/b?project=p"),
                               {"Content-Type: application/json"},
                               nlohmann::json{{"name", name}}.dump());
  }

  // Sends a create-only media upload of `data` as object `name`.
  TestHttpResponse Upload(std::string_view bucket, std::string_view name,
                          std::string_view data,
                          std::vector<std::string> headers = {}) {
    headers.emplace_back("Content-Type: application/octet-stream");
    return SendTestHttpRequest(
        "POST",
        StrCat(Endpoint(), "/upload/storage/v1/b/", bucket,
               "/o?uploadType=media&name=", PercentEncode(name),
               "&ifGenerationMatch=0"),
        headers, data);
  }

  TestHttpResponse Download(std::string_view bucket, std::string_view name) {
    return SendTestHttpRequest("GET",
                               StrCat(Endpoint(), "/storage/v1/b/", bucket,
                                      "/o/", PercentEncode(name), "?alt=media"),
                               {});
  }

  // Creates kBucket, failing the test when that does not return 200.
  void CreateTestBucket() {
    const TestHttpResponse response = InsertBucket(kBucket);
    ASSERT_EQ(response.curl_code, CURLE_OK) << response.curl_error;
    ASSERT_EQ(response.status, 200) << response.body;
  }

  std::unique_ptr<FakeGcsServer> gcs_;
};

TEST_F(FakeGcsTest, ServesOnLoopback) {
  EXPECT_THAT(gcs_->endpoint(), StartsWith("http://127.0.0.1:"));
  const TestHttpResponse response =
      SendTestHttpRequest("GET", gcs_->endpoint() + "/storage/v1/b", {});
  EXPECT_EQ(response.status, 200);
  EXPECT_THAT(gcs_->log_text(), HasSubstr("GET /storage/v1/b"));
}

TEST_F(FakeGcsTest, BucketInsertThenConflict) {
  const TestHttpResponse first = InsertBucket(kBucket);
  const TestHttpResponse second = InsertBucket(kBucket);

  ASSERT_EQ(first.curl_code, CURLE_OK) << first.curl_error;
  EXPECT_EQ(first.status, 200) << first.body;
  EXPECT_EQ(JsonString(first.body, "/name"), kBucket);
  EXPECT_EQ(second.status, 409) << second.body;
  EXPECT_EQ(GoogleErrorReason(second.body), "conflict") << second.body;
}

// Cloud Storage needs 3 to 63 characters. fake-gcs-server takes 2 or more,
// so it rejects a one-character name as real Cloud Storage does.
TEST_F(FakeGcsTest, BucketInsertRejectsShortName) {
  const TestHttpResponse response = InsertBucket("b");

  EXPECT_EQ(response.status, 400) << response.body;
  EXPECT_EQ(GoogleErrorReason(response.body), "invalid") << response.body;
}

TEST_F(FakeGcsTest, BucketGetAndMissingBucket) {
  ASSERT_NO_FATAL_FAILURE(CreateTestBucket());

  const TestHttpResponse found = SendTestHttpRequest(
      "GET", StrCat(Endpoint(), "/storage/v1/b/", kBucket), {});
  const TestHttpResponse missing = SendTestHttpRequest(
      "GET", StrCat(Endpoint(), "/storage/v1/b/dekms-missing"), {});

  EXPECT_EQ(found.status, 200) << found.body;
  EXPECT_EQ(JsonString(found.body, "/name"), kBucket);
  EXPECT_EQ(missing.status, 404) << missing.body;
  EXPECT_EQ(GoogleErrorReason(missing.body), "notFound") << missing.body;
}

TEST_F(FakeGcsTest, MediaUploadReturnsObject) {
  ASSERT_NO_FATAL_FAILURE(CreateTestBucket());

  const TestHttpResponse response = Upload(kBucket, "dek", kCheckInput);

  ASSERT_EQ(response.status, 200) << response.body;
  EXPECT_THAT(HeaderValue(response.headers, "Content-Type"),
              StartsWith("application/json"));
  const std::string& body = response.body;
  EXPECT_EQ(JsonString(body, "/name"), "dek");
  EXPECT_EQ(JsonString(body, "/bucket"), kBucket);
  // int64 fields are JSON strings, as in the real API.
  EXPECT_EQ(JsonString(body, "/size"), "9");
  EXPECT_THAT(JsonString(body, "/generation"), MatchesRegex("[0-9]+"));
  EXPECT_EQ(JsonString(body, "/metageneration"), "1");
  EXPECT_EQ(JsonString(body, "/crc32c"), kCheckInputCrc32c);
  EXPECT_EQ(JsonString(body, "/md5Hash"), kCheckInputMd5);
  EXPECT_EQ(JsonString(body, "/contentType"), "application/octet-stream");
}

TEST_F(FakeGcsTest, MediaUploadIsCreateOnly) {
  ASSERT_NO_FATAL_FAILURE(CreateTestBucket());

  const TestHttpResponse first = Upload(kBucket, "dek", "first");
  const TestHttpResponse second = Upload(kBucket, "dek", "second");
  const TestHttpResponse download = Download(kBucket, "dek");

  EXPECT_EQ(first.status, 200) << first.body;
  EXPECT_EQ(second.status, 412) << second.body;
  EXPECT_EQ(GoogleErrorReason(second.body), "conditionNotMet") << second.body;
  EXPECT_EQ(download.body, "first");
}

TEST_F(FakeGcsTest, ConcurrentUploadsHaveOneWinner) {
  ASSERT_NO_FATAL_FAILURE(CreateTestBucket());
  constexpr int kWriters = 8;
  std::vector<long> statuses(kWriters);
  std::vector<std::thread> writers;
  writers.reserve(kWriters);
  for (int i = 0; i < kWriters; ++i) {
    writers.emplace_back([this, i, &statuses] {
      statuses[i] = Upload(kBucket, "race", StrCat("writer ", i)).status;
    });
  }
  for (std::thread& writer : writers) writer.join();

  EXPECT_THAT(statuses, Contains(200).Times(1));
  EXPECT_THAT(statuses, Contains(412).Times(kWriters - 1));
  const auto winner = std::find(statuses.begin(), statuses.end(), 200);
  ASSERT_NE(winner, statuses.end());
  EXPECT_EQ(Download(kBucket, "race").body,
            StrCat("writer ", winner - statuses.begin()));
}

TEST_F(FakeGcsTest, DownloadReturnsBytesAndHashes) {
  ASSERT_NO_FATAL_FAILURE(CreateTestBucket());
  const TestHttpResponse upload = Upload(kBucket, "dek", kCheckInput);
  ASSERT_EQ(upload.status, 200) << upload.body;

  const TestHttpResponse download = Download(kBucket, "dek");

  ASSERT_EQ(download.status, 200) << download.body;
  EXPECT_EQ(download.body, kCheckInput);
  EXPECT_EQ(HeaderValue(download.headers, "X-Goog-Generation"),
            JsonString(upload.body, "/generation"));
  EXPECT_EQ(HeaderValue(download.headers, "X-Goog-Hash"),
            StrCat("crc32c=", kCheckInputCrc32c, ",md5=", kCheckInputMd5));
}

TEST_F(FakeGcsTest, BinaryDataRoundTrips) {
  ASSERT_NO_FATAL_FAILURE(CreateTestBucket());
  const std::string data("\0\x01\xff\r\n\0end", 9);

  ASSERT_EQ(Upload(kBucket, "binary", data).status, 200);
  const TestHttpResponse download = Download(kBucket, "binary");

  EXPECT_EQ(download.status, 200);
  EXPECT_EQ(download.body, data);
}

// fake-gcs-server answers a download of a missing object, or of any object
// in a missing bucket, with the text/plain body "Not Found", not Google's
// JSON error, so the two cases cannot be told apart there. An upload to a
// missing bucket gets the JSON error.
TEST_F(FakeGcsTest, MissingObjectAndBucketAre404) {
  ASSERT_NO_FATAL_FAILURE(CreateTestBucket());

  const TestHttpResponse missing_object = Download(kBucket, "missing");
  const TestHttpResponse missing_bucket = Download("dekms-missing", "missing");
  const TestHttpResponse upload_to_missing_bucket =
      Upload("dekms-missing", "dek", "data");

  EXPECT_EQ(missing_object.status, 404);
  EXPECT_THAT(missing_object.body, HasSubstr("Not Found"));
  EXPECT_EQ(missing_bucket.status, 404);
  EXPECT_EQ(upload_to_missing_bucket.status, 404);
  EXPECT_EQ(GoogleErrorReason(upload_to_missing_bucket.body), "notFound")
      << upload_to_missing_bucket.body;
}

TEST_F(FakeGcsTest, SpecialObjectNameRoundTrips) {
  ASSERT_NO_FATAL_FAILURE(CreateTestBucket());
  const std::string name = "dir/a%b#c?d e+f\xc3\xa9";

  const TestHttpResponse upload = Upload(kBucket, name, "special");
  const TestHttpResponse download = Download(kBucket, name);
  const TestHttpResponse metadata = SendTestHttpRequest(
      "GET",
      StrCat(Endpoint(), "/storage/v1/b/", kBucket, "/o/", PercentEncode(name)),
      {});

  ASSERT_EQ(upload.status, 200) << upload.body;
  EXPECT_EQ(JsonString(upload.body, "/name"), name);
  EXPECT_EQ(download.status, 200);
  EXPECT_EQ(download.body, "special");
  EXPECT_EQ(metadata.status, 200);
  EXPECT_EQ(JsonString(metadata.body, "/name"), name);
}

// The emulator checks no credentials: a made-up bearer token works. Tests
// of authentication need their own token endpoint and checks.
TEST_F(FakeGcsTest, IgnoresAuthorizationHeader) {
  ASSERT_NO_FATAL_FAILURE(CreateTestBucket());

  const TestHttpResponse response =
      SendTestHttpRequest("GET", StrCat(Endpoint(), "/storage/v1/b/", kBucket),
                          {"Authorization: Bearer not-a-real-token"});

  EXPECT_EQ(response.status, 200) << response.body;
}

// fake-gcs-server stores what it receives and computes the hashes itself:
// a wrong X-Goog-Hash on upload is not rejected, unlike in Cloud Storage.
TEST_F(FakeGcsTest, IgnoresUploadHashHeader) {
  ASSERT_NO_FATAL_FAILURE(CreateTestBucket());

  const TestHttpResponse response =
      Upload(kBucket, "dek", kCheckInput, {"X-Goog-Hash: crc32c=AAAAAA=="});

  ASSERT_EQ(response.status, 200) << response.body;
  EXPECT_EQ(JsonString(response.body, "/crc32c"), kCheckInputCrc32c);
}

class FakeGcsProxyTest : public FakeGcsTest {
 protected:
  void SetUp() override {
    FakeGcsTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    DEKMS_ASSIGN_EMULATOR_OR_SKIP(proxy_, StartFaultProxy(gcs_->endpoint()));
  }

  std::string Endpoint() override { return proxy_->endpoint(); }

  std::unique_ptr<FaultProxy> proxy_;
};

TEST_F(FakeGcsProxyTest, ForwardsGcsRequests) {
  ASSERT_NO_FATAL_FAILURE(CreateTestBucket());

  ASSERT_EQ(Upload(kBucket, "dek", kCheckInput).status, 200);
  const TestHttpResponse download = Download(kBucket, "dek");

  EXPECT_EQ(download.status, 200);
  EXPECT_EQ(download.body, kCheckInput);
  EXPECT_EQ(HeaderValue(download.headers, "X-Goog-Hash"),
            StrCat("crc32c=", kCheckInputCrc32c, ",md5=", kCheckInputMd5));
}

TEST_F(FakeGcsProxyTest, StatusFaultHasGoogleErrorShape) {
  ASSERT_NO_FATAL_FAILURE(CreateTestBucket());
  ASSERT_THAT(proxy_->QueueFault(Fault::Status(503)), IsOk());

  const TestHttpResponse response = Upload(kBucket, "dek", "data");

  ASSERT_EQ(response.curl_code, CURLE_OK) << response.curl_error;
  EXPECT_EQ(response.status, 503);
  EXPECT_THAT(HeaderValue(response.headers, "Content-Type"),
              StartsWith("application/json"));
  const std::string& body = response.body;
  EXPECT_EQ(JsonInt(body, "/error/code"), 503) << body;
  EXPECT_EQ(JsonString(body, "/error/status"), "UNAVAILABLE");
  EXPECT_THAT(JsonString(body, "/error/message"), HasSubstr("503"));
  EXPECT_EQ(JsonAt(body, "/error/errors").size(), 1u);
  EXPECT_EQ(JsonString(body, "/error/errors/0/domain"), "global");
  EXPECT_EQ(JsonString(body, "/error/errors/0/reason"), "backendError");
  EXPECT_THAT(JsonString(body, "/error/errors/0/message"), HasSubstr("503"));
  // The upload never reached the emulator.
  EXPECT_EQ(Download(kBucket, "dek").status, 404);
}

TEST_F(FakeGcsProxyTest, GoogleStatusFaultsByCode) {
  struct Case {
    int status;
    std::string canonical;
    std::string reason;
  };
  const std::vector<Case> cases = {
      {429, "RESOURCE_EXHAUSTED", "rateLimitExceeded"},
      {500, "INTERNAL", "backendError"},
      {403, "PERMISSION_DENIED", "forbidden"},
      {404, "NOT_FOUND", "notFound"},
      {412, "FAILED_PRECONDITION", "conditionNotMet"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.status);
    ASSERT_THAT(proxy_->QueueFault(Fault::Status(c.status)), IsOk());

    const TestHttpResponse response = SendTestHttpRequest(
        "GET", StrCat(Endpoint(), "/storage/v1/b/", kBucket), {});

    EXPECT_EQ(response.status, c.status);
    EXPECT_EQ(JsonInt(response.body, "/error/code"), c.status) << response.body;
    EXPECT_EQ(JsonString(response.body, "/error/status"), c.canonical);
    EXPECT_EQ(GoogleErrorReason(response.body), c.reason);
    EXPECT_EQ(HeaderValue(response.headers, "Retry-After"),
              c.status == 429 ? "1" : "");
  }
}

TEST_F(FakeGcsProxyTest, CloudKmsPathGetsGoogleError) {
  Fault fault = Fault::Status(400);
  fault.error_code = "badRequest";
  fault.path_contains = ":encrypt";
  ASSERT_THAT(proxy_->QueueFault(fault), IsOk());
  const std::string key_url =
      StrCat(Endpoint(), "/v1/projects/p/locations/global/keyRings/r/",
             "cryptoKeys/k");

  // fake-gcs-server has no such route, so a forwarded request gets 404.
  const TestHttpResponse decrypt = SendTestHttpRequest(
      "POST", key_url + ":decrypt", {"Content-Type: application/json"}, "{}");
  const TestHttpResponse response = SendTestHttpRequest(
      "POST", key_url + ":encrypt", {"Content-Type: application/json"}, "{}");

  EXPECT_EQ(decrypt.status, 404);
  EXPECT_EQ(response.status, 400);
  EXPECT_EQ(JsonString(response.body, "/error/status"), "INVALID_ARGUMENT")
      << response.body;
  EXPECT_EQ(GoogleErrorReason(response.body), "badRequest");
}

// An S3 path-style request to a bucket named "storage" starts like a Cloud
// Storage path, but its X-Amz-* headers make it an S3 request.
TEST_F(FakeGcsProxyTest, S3RequestOnStoragePathGetsXmlError) {
  ASSERT_THAT(proxy_->QueueFault(Fault::Status(503)), IsOk());

  const TestHttpResponse response =
      SendTestHttpRequest("GET", StrCat(Endpoint(), "/storage/key"),
                          BadlySignedHeaders("AKIAIOSFODNN7EXAMPLE"));

  EXPECT_EQ(response.status, 503);
  EXPECT_THAT(response.body, HasSubstr("<Code>SlowDown</Code>"));
}

TEST_F(FakeGcsProxyTest, PathFilterSelectsRequests) {
  ASSERT_NO_FATAL_FAILURE(CreateTestBucket());
  Fault fault = Fault::Status(500);
  fault.path_contains = "uploadType=media";
  ASSERT_THAT(proxy_->QueueFault(fault), IsOk());

  const TestHttpResponse bucket_get = SendTestHttpRequest(
      "GET", StrCat(Endpoint(), "/storage/v1/b/", kBucket), {});
  const TestHttpResponse failed_upload = Upload(kBucket, "a/b", "data");
  const TestHttpResponse retried_upload = Upload(kBucket, "a/b", "data");

  EXPECT_EQ(bucket_get.status, 200);
  EXPECT_EQ(failed_upload.status, 500);
  EXPECT_EQ(retried_upload.status, 200) << retried_upload.body;
  const absl::StatusOr<FaultProxyCounters> counters = proxy_->Counters();
  ASSERT_THAT(counters, IsOk());
  EXPECT_EQ(counters->faults_applied, 1);
  EXPECT_EQ(counters->faults_pending, 0);
}

TEST_F(FakeGcsProxyTest, CountsRequestsByPath) {
  ASSERT_NO_FATAL_FAILURE(CreateTestBucket());
  ASSERT_EQ(Upload(kBucket, "a/b", "data").status, 200);
  ASSERT_EQ(Download(kBucket, "a/b").status, 200);
  ASSERT_EQ(Download(kBucket, "a/b").status, 200);

  const absl::StatusOr<FaultProxyCounters> counters = proxy_->Counters();

  ASSERT_THAT(counters, IsOk());
  // Paths are counted without the query string and as sent, so the
  // encoded "/" stays %2F.
  EXPECT_THAT(counters->by_path,
              UnorderedElementsAre(
                  Pair("/storage/v1/b", 1),
                  Pair(StrCat("/upload/storage/v1/b/", kBucket, "/o"), 1),
                  Pair(StrCat("/storage/v1/b/", kBucket, "/o/a%2Fb"), 2)));
  EXPECT_THAT(counters->by_method,
              UnorderedElementsAre(Pair("POST", 2), Pair("GET", 2)));
}

}  // namespace
}  // namespace dekms::testing
