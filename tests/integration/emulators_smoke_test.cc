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
//
// Azurite is checked the same way for the Blob REST API. A Shared Key
// signer in this file, written from Microsoft's "Authorize with Shared Key"
// page and independent of the store's, signs the requests. In bearer mode,
// over HTTPS, the requests carry unsigned JWTs, which Azurite accepts after
// checking their claims.

#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <map>
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

// Percent-encodes everything but RFC 3986 unreserved characters and the
// characters of `keep`, as object names in a Cloud Storage path segment or
// query parameter need.
std::string PercentEncode(std::string_view text, std::string_view keep = "") {
  static constexpr char kHexDigits[] = "0123456789ABCDEF";
  std::string encoded;
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (std::isalnum(byte) != 0 || c == '-' || c == '_' || c == '.' ||
        c == '~' || keep.find(c) != std::string_view::npos) {
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
  // The server writes its access log line after it has sent the response,
  // so the line may arrive a moment later.
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (gcs_->log_text().find("GET /storage/v1/b") == std::string::npos &&
         absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(20));
  }
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

// fake-gcs-server rejects a download of a missing object, or of any object
// in a missing bucket, with the text/plain body "Not Found", not Google's
// JSON error, so the two cases look the same there. An upload to a
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

// Azure Blob Storage against Azurite.

// The service version that the Azurite tests send. Azurite 3.35.0 accepts
// every version up to 2025-11-05 and replies with x-ms-version 2025-11-05
// whatever the request sent.
constexpr char kAzureVersion[] = "2021-08-06";
constexpr char kContainer[] = "dekms-test";

std::string Base64Encode(std::string_view data) {
  std::string encoded(4 * ((data.size() + 2) / 3), '\0');
  const int length =
      EVP_EncodeBlock(reinterpret_cast<unsigned char*>(encoded.data()),
                      reinterpret_cast<const unsigned char*>(data.data()),
                      static_cast<int>(data.size()));
  encoded.resize(static_cast<size_t>(length));
  return encoded;
}

// Decodes padded standard base64, or returns an empty string when `text` is
// not valid base64.
std::string Base64Decode(std::string_view text) {
  std::string decoded(3 * (text.size() / 4), '\0');
  const int length =
      EVP_DecodeBlock(reinterpret_cast<unsigned char*>(decoded.data()),
                      reinterpret_cast<const unsigned char*>(text.data()),
                      static_cast<int>(text.size()));
  if (length < 0) return "";
  // EVP_DecodeBlock counts the zero bytes that padding stands for.
  size_t padding = 0;
  while (padding < 2 && padding < text.size() &&
         text[text.size() - 1 - padding] == '=') {
    ++padding;
  }
  decoded.resize(static_cast<size_t>(length) - padding);
  return decoded;
}

// Base64url without padding, as JWTs use.
std::string Base64UrlEncode(std::string_view data) {
  std::string encoded = Base64Encode(data);
  std::replace(encoded.begin(), encoded.end(), '+', '-');
  std::replace(encoded.begin(), encoded.end(), '/', '_');
  encoded.erase(encoded.find_last_not_of('=') + 1);
  return encoded;
}

std::string HmacSha256(std::string_view key, std::string_view data) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), mac,
       &length);
  return std::string(reinterpret_cast<const char*>(mac), length);
}

std::string Md5Base64(std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(data.data(), data.size(), digest, &length, EVP_md5(), nullptr);
  return Base64Encode(
      std::string_view(reinterpret_cast<const char*>(digest), length));
}

// A Blob REST request before signing. Header names are lowercase.
struct AzureRequest {
  std::string method = "GET";
  // The URL path as sent, percent-encoded, starting with "/<account>".
  std::string path;
  // Query parameters, decoded, sorted by name.
  std::map<std::string, std::string> query;
  std::map<std::string, std::string> headers;
  std::string body;
};

// Returns the Shared Key string-to-sign of `request` for `account`:
// the verb, eleven standard headers (Content-Length empty when 0), the
// x-ms-* headers sorted by name, and the canonicalized resource
// "/<account><path>" with one "\n<name>:<value>" line per query parameter.
// With path-style URLs the path starts with the account, so the account
// appears twice.
// NOTE: this signer neither collapses whitespace runs inside header values
// nor joins repeated query parameters, because the tests send neither.
std::string SharedKeyStringToSign(const AzureRequest& request,
                                  std::string_view account) {
  const auto header = [&request](const std::string& name) {
    const auto it = request.headers.find(name);
    return it == request.headers.end() ? std::string() : it->second;
  };
  std::string content_length = header("content-length");
  if (content_length == "0") content_length.clear();
  std::string text =
      StrCat(request.method, "\n", header("content-encoding"), "\n",
             header("content-language"), "\n", content_length, "\n",
             header("content-md5"), "\n", header("content-type"), "\n",
             header("date"), "\n", header("if-modified-since"), "\n",
             header("if-match"), "\n", header("if-none-match"), "\n",
             header("if-unmodified-since"), "\n", header("range"), "\n");
  // std::map keeps the names sorted byte by byte. Azurite sorts with
  // String.localeCompare, which orders '_' before '-', so the tests send no
  // x-ms-* names that differ only there.
  for (const auto& [name, value] : request.headers) {
    if (name.starts_with("x-ms-")) {
      text += StrCat(name, ":", value, "\n");
    }
  }
  text += StrCat("/", account, request.path);
  for (const auto& [name, value] : request.query) {
    text += StrCat("\n", name, ":", value);
  }
  return text;
}

std::string SharedKeyAuthorization(const AzureRequest& request,
                                   std::string_view account,
                                   std::string_view base64_key) {
  const std::string signature = Base64Encode(HmacSha256(
      Base64Decode(base64_key), SharedKeyStringToSign(request, account)));
  return StrCat("SharedKey ", account, ":", signature);
}

// The current time in RFC 1123 form, as x-ms-date needs.
std::string HttpDate() {
  return absl::FormatTime("%a, %d %b %Y %H:%M:%S GMT", absl::Now(),
                          absl::UTCTimeZone());
}

// Returns the <tag> element's text in an XML body, or an empty string.
std::string XmlElement(const std::string& body, std::string_view tag) {
  const std::string open = StrCat("<", tag, ">");
  const size_t start = body.find(open);
  if (start == std::string::npos) return "";
  const size_t end = body.find(StrCat("</", tag, ">"), start);
  if (end == std::string::npos) return "";
  return body.substr(start + open.size(), end - start - open.size());
}

// The claims of a made-up Entra ID access token for Azure Storage, valid
// from a minute ago for an hour.
nlohmann::json StorageTokenClaims() {
  const int64_t now = absl::ToUnixSeconds(absl::Now());
  return {
      {"iss", "https://sts.windows.net/00000000-0000-0000-0000-000000000000/"},
      {"aud", "https://storage.azure.com"},
      {"iat", now - 60},
      {"nbf", now - 60},
      {"exp", now + 3600},
      {"oid", "11111111-1111-1111-1111-111111111111"}};
}

// A JWT with `claims` and a signature that no key made.
std::string UnsignedJwt(const nlohmann::json& claims) {
  const nlohmann::json header = {{"alg", "RS256"}, {"typ", "JWT"}};
  return StrCat(Base64UrlEncode(header.dump()), ".",
                Base64UrlEncode(claims.dump()), ".",
                Base64UrlEncode("not a signature"));
}

class AzuriteTest : public ::testing::Test {
 protected:
  void SetUp() override {
    DEKMS_ASSIGN_EMULATOR_OR_SKIP(azurite_, StartAzurite(Options()));
  }

  virtual AzuriteOptions Options() { return {}; }

  // Base URL, scheme to port, that requests go to, which AzuriteProxyTest
  // replaces with the proxy's.
  virtual std::string Endpoint() { return azurite_->endpoint(); }

  // Returns a request for `path_after_account` ("/container/blob",
  // percent-encoded) with x-ms-date and x-ms-version. A request with a body,
  // and every PUT, gets the Content-Length that libcurl sends and an
  // explicit Content-Type, because libcurl would otherwise add one that the
  // signature does not cover.
  static AzureRequest MakeRequest(std::string method,
                                  std::string_view path_after_account,
                                  std::string body = "") {
    AzureRequest request;
    request.method = std::move(method);
    request.path = StrCat("/", AzuriteServer::account(), path_after_account);
    request.body = std::move(body);
    request.headers["x-ms-date"] = HttpDate();
    request.headers["x-ms-version"] = kAzureVersion;
    if (request.method == "PUT" || !request.body.empty()) {
      request.headers["content-length"] = StrCat(request.body.size());
      request.headers["content-type"] = "application/octet-stream";
    }
    return request;
  }

  // Sends `request` with `authorization` ("" for none).
  TestHttpResponse SendWithAuthorization(const AzureRequest& request,
                                         const std::string& authorization) {
    std::string url = StrCat(Endpoint(), request.path);
    char separator = '?';
    for (const auto& [name, value] : request.query) {
      url += StrCat(std::string(1, separator), name, "=", PercentEncode(value));
      separator = '&';
    }
    std::vector<std::string> headers;
    for (const auto& [name, value] : request.headers) {
      // libcurl sets Content-Length itself from the body.
      if (name != "content-length")
        headers.push_back(StrCat(name, ": ", value));
    }
    if (!authorization.empty()) {
      headers.push_back(StrCat("Authorization: ", authorization));
    }
    return SendTestHttpRequest(request.method, url, headers, request.body,
                               azurite_->ca_file());
  }

  // Signs `request` with Shared Key and sends it.
  TestHttpResponse Send(const AzureRequest& request,
                        std::string_view key = AzuriteServer::account_key()) {
    return SendWithAuthorization(
        request,
        SharedKeyAuthorization(request, AzuriteServer::account(), key));
  }

  TestHttpResponse CreateContainer(
      std::string_view name,
      const std::map<std::string, std::string>& headers = {}) {
    AzureRequest request = MakeRequest("PUT", StrCat("/", name));
    request.query["restype"] = "container";
    for (const auto& [header, value] : headers) {
      request.headers.insert_or_assign(header, value);
    }
    return Send(request);
  }

  // Sends a create-only Put Blob of `data` to `blob` (percent-encoded).
  TestHttpResponse PutBlob(
      std::string_view blob, std::string data,
      const std::map<std::string, std::string>& headers = {}) {
    AzureRequest request =
        MakeRequest("PUT", StrCat("/", kContainer, "/", blob), std::move(data));
    request.headers["x-ms-blob-type"] = "BlockBlob";
    request.headers["if-none-match"] = "*";
    for (const auto& [name, value] : headers) {
      request.headers.insert_or_assign(name, value);
    }
    return Send(request);
  }

  TestHttpResponse GetBlob(std::string_view blob,
                           std::string_view container = kContainer) {
    return Send(MakeRequest("GET", StrCat("/", container, "/", blob)));
  }

  // Creates kContainer, failing the test when that does not return 201.
  void CreateTestContainer() {
    const TestHttpResponse response = CreateContainer(kContainer);
    ASSERT_EQ(response.curl_code, CURLE_OK) << response.curl_error;
    ASSERT_EQ(response.status, 201) << response.body;
  }

  std::unique_ptr<AzuriteServer> azurite_;
};

TEST_F(AzuriteTest, ServesOnLoopback) {
  EXPECT_THAT(azurite_->endpoint(), StartsWith("http://127.0.0.1:"));
  EXPECT_EQ(azurite_->blob_endpoint(),
            azurite_->endpoint() + "/devstoreaccount1");
  EXPECT_EQ(azurite_->https_endpoint(), "");
  EXPECT_EQ(azurite_->ca_file(), "");
  AzureRequest request = MakeRequest("GET", "/");
  request.query["comp"] = "list";

  const TestHttpResponse response = Send(request);

  ASSERT_EQ(response.curl_code, CURLE_OK) << response.curl_error;
  EXPECT_EQ(response.status, 200) << response.body;
  EXPECT_THAT(response.body, HasSubstr("<EnumerationResults"));
  EXPECT_THAT(azurite_->log_text(), HasSubstr("successfully listens on"));
}

TEST_F(AzuriteTest, CreateContainerThenConflict) {
  const TestHttpResponse first = CreateContainer(kContainer);
  const TestHttpResponse second = CreateContainer(kContainer);

  ASSERT_EQ(first.curl_code, CURLE_OK) << first.curl_error;
  EXPECT_EQ(first.status, 201) << first.body;
  EXPECT_THAT(HeaderValue(first.headers, "ETag"), StartsWith("\"0x"));
  EXPECT_EQ(second.status, 409) << second.body;
  EXPECT_EQ(HeaderValue(second.headers, "x-ms-error-code"),
            "ContainerAlreadyExists");
  EXPECT_EQ(XmlElement(second.body, "Code"), "ContainerAlreadyExists");
}

TEST_F(AzuriteTest, ContainerMetadataIsStored) {
  ASSERT_EQ(
      CreateContainer(kContainer, {{"x-ms-meta-purpose", "dekms"}}).status,
      201);
  AzureRequest request = MakeRequest("GET", StrCat("/", kContainer));
  request.query["restype"] = "container";

  const TestHttpResponse response = Send(request);

  EXPECT_EQ(response.status, 200) << response.body;
  EXPECT_EQ(HeaderValue(response.headers, "x-ms-meta-purpose"), "dekms");
}

TEST_F(AzuriteTest, PutBlobIsCreateOnly) {
  ASSERT_NO_FATAL_FAILURE(CreateTestContainer());

  const TestHttpResponse first = PutBlob("dek", kCheckInput);
  const TestHttpResponse second = PutBlob("dek", "second");
  const TestHttpResponse get = GetBlob("dek");

  ASSERT_EQ(first.curl_code, CURLE_OK) << first.curl_error;
  EXPECT_EQ(first.status, 201) << first.body;
  EXPECT_THAT(HeaderValue(first.headers, "ETag"), StartsWith("\"0x"));
  EXPECT_EQ(HeaderValue(first.headers, "Content-MD5"), kCheckInputMd5);
  EXPECT_NE(HeaderValue(first.headers, "x-ms-request-id"), "");
  EXPECT_EQ(HeaderValue(first.headers, "x-ms-content-crc64"), "");
  EXPECT_EQ(second.status, 409) << second.body;
  EXPECT_EQ(HeaderValue(second.headers, "x-ms-error-code"),
            "BlobAlreadyExists");
  EXPECT_EQ(XmlElement(second.body, "Code"), "BlobAlreadyExists");
  EXPECT_EQ(get.status, 200) << get.body;
  EXPECT_EQ(get.body, kCheckInput);
  EXPECT_EQ(HeaderValue(get.headers, "ETag"),
            HeaderValue(first.headers, "ETag"));
  EXPECT_EQ(HeaderValue(get.headers, "Content-MD5"), kCheckInputMd5);
  EXPECT_EQ(HeaderValue(get.headers, "x-ms-blob-type"), "BlockBlob");
}

TEST_F(AzuriteTest, MissingBlobAndContainerAre404) {
  ASSERT_NO_FATAL_FAILURE(CreateTestContainer());

  const TestHttpResponse missing_blob = GetBlob("missing");
  const TestHttpResponse missing_container =
      GetBlob("missing", "dekms-missing");
  const TestHttpResponse head =
      Send(MakeRequest("HEAD", StrCat("/", kContainer, "/missing")));

  EXPECT_EQ(missing_blob.status, 404);
  EXPECT_EQ(HeaderValue(missing_blob.headers, "x-ms-error-code"),
            "BlobNotFound");
  EXPECT_EQ(XmlElement(missing_blob.body, "Code"), "BlobNotFound");
  EXPECT_EQ(missing_container.status, 404);
  EXPECT_EQ(HeaderValue(missing_container.headers, "x-ms-error-code"),
            "ContainerNotFound");
  // HEAD responses have no body, so the header carries the code.
  EXPECT_EQ(head.status, 404);
  EXPECT_EQ(HeaderValue(head.headers, "x-ms-error-code"), "BlobNotFound");
  EXPECT_EQ(head.body, "");
}

// Azurite rejects a failed Shared Key check with 403 AuthorizationFailure,
// where Azure Storage sends 403 AuthenticationFailed.
TEST_F(AzuriteTest, RejectsWrongKeyAndMissingAuthorization) {
  ASSERT_NO_FATAL_FAILURE(CreateTestContainer());
  const AzureRequest request =
      MakeRequest("GET", StrCat("/", kContainer, "/x"));

  const TestHttpResponse wrong_key =
      Send(request, Base64Encode(std::string(64, 'k')));
  const TestHttpResponse unsigned_request = SendWithAuthorization(request, "");

  EXPECT_EQ(wrong_key.status, 403) << wrong_key.body;
  EXPECT_EQ(HeaderValue(wrong_key.headers, "x-ms-error-code"),
            "AuthorizationFailure");
  EXPECT_EQ(unsigned_request.status, 403) << unsigned_request.body;
  EXPECT_EQ(HeaderValue(unsigned_request.headers, "x-ms-error-code"),
            "AuthorizationFailure");
}

// The canonicalized resource of a path-style URL names the account twice:
// once as Shared Key requires and once as the first path segment.
TEST_F(AzuriteTest, SignatureCoversAccountTwice) {
  ASSERT_NO_FATAL_FAILURE(CreateTestContainer());
  AzureRequest request = MakeRequest("GET", StrCat("/", kContainer));
  request.query["restype"] = "container";
  AzureRequest account_once = request;
  account_once.path = StrCat("/", kContainer);

  const TestHttpResponse twice = Send(request);
  const TestHttpResponse once = SendWithAuthorization(
      request, SharedKeyAuthorization(account_once, AzuriteServer::account(),
                                      AzuriteServer::account_key()));

  EXPECT_THAT(SharedKeyStringToSign(request, AzuriteServer::account()),
              HasSubstr("\n/devstoreaccount1/devstoreaccount1/dekms-test\n"
                        "restype:container"));
  EXPECT_EQ(twice.status, 200) << twice.body;
  EXPECT_EQ(once.status, 403) << once.body;
}

// From service version 2015-02-21 on, a Content-Length of 0 is signed as an
// empty line.
TEST_F(AzuriteTest, ZeroContentLengthSignsEmpty) {
  ASSERT_NO_FATAL_FAILURE(CreateTestContainer());
  AzureRequest request = MakeRequest("PUT", StrCat("/", kContainer, "/empty"));
  request.headers["x-ms-blob-type"] = "BlockBlob";
  const std::string string_to_sign =
      SharedKeyStringToSign(request, AzuriteServer::account());
  const std::string prefix = "PUT\n\n\n";
  ASSERT_TRUE(string_to_sign.starts_with(prefix + "\n"));
  const std::string zero_signed =
      prefix + "0" + string_to_sign.substr(prefix.size());
  const std::string zero_signature = Base64Encode(
      HmacSha256(Base64Decode(AzuriteServer::account_key()), zero_signed));

  const TestHttpResponse with_zero = SendWithAuthorization(
      request,
      StrCat("SharedKey ", AzuriteServer::account(), ":", zero_signature));
  const TestHttpResponse with_empty = Send(request);

  EXPECT_EQ(with_zero.status, 403) << with_zero.body;
  EXPECT_EQ(with_empty.status, 201) << with_empty.body;
  EXPECT_EQ(GetBlob("empty").body, "");
}

// Without --skipApiVersionCheck, Azurite accepts the service versions it
// lists, 2025-11-05 and older, and rejects newer ones.
TEST_F(AzuriteTest, ChecksServiceVersion) {
  ASSERT_NO_FATAL_FAILURE(CreateTestContainer());
  for (const char* version :
       {"2021-08-06", "2023-11-03", "2025-05-05", "2025-11-05"}) {
    SCOPED_TRACE(version);
    AzureRequest request = MakeRequest("GET", StrCat("/", kContainer));
    request.query["restype"] = "container";
    request.headers["x-ms-version"] = version;

    const TestHttpResponse response = Send(request);

    EXPECT_EQ(response.status, 200) << response.body;
    EXPECT_EQ(HeaderValue(response.headers, "x-ms-version"), "2025-11-05");
  }
  AzureRequest request = MakeRequest("GET", StrCat("/", kContainer));
  request.query["restype"] = "container";
  request.headers["x-ms-version"] = "2099-01-01";

  const TestHttpResponse unknown = Send(request);

  EXPECT_EQ(unknown.status, 400) << unknown.body;
  EXPECT_EQ(HeaderValue(unknown.headers, "x-ms-error-code"),
            "InvalidHeaderValue");
}

// Azurite checks a Content-MD5 it receives, but rejects a mismatch with 400
// InvalidOperation, where Azure Storage sends 400 Md5Mismatch.
TEST_F(AzuriteTest, ChecksContentMd5) {
  ASSERT_NO_FATAL_FAILURE(CreateTestContainer());

  const TestHttpResponse right =
      PutBlob("right", kCheckInput, {{"content-md5", kCheckInputMd5}});
  const TestHttpResponse wrong =
      PutBlob("wrong", kCheckInput, {{"content-md5", Md5Base64("other")}});

  EXPECT_EQ(right.status, 201) << right.body;
  EXPECT_EQ(HeaderValue(right.headers, "Content-MD5"), kCheckInputMd5);
  EXPECT_EQ(wrong.status, 400) << wrong.body;
  EXPECT_EQ(HeaderValue(wrong.headers, "x-ms-error-code"), "InvalidOperation");
  EXPECT_EQ(GetBlob("wrong").status, 404);
}

// Azurite does not support x-ms-content-crc64 and, unless started with
// --loose, rejects a request that carries it.
TEST_F(AzuriteTest, RejectsContentCrc64) {
  ASSERT_NO_FATAL_FAILURE(CreateTestContainer());

  const TestHttpResponse response =
      PutBlob("crc", kCheckInput, {{"x-ms-content-crc64", "AAAAAAAAAAA="}});

  EXPECT_EQ(response.status, 500) << response.body;
  EXPECT_EQ(HeaderValue(response.headers, "x-ms-error-code"),
            "FeatureNotSupported");
  EXPECT_EQ(GetBlob("crc").status, 404);
}

TEST_F(AzuriteTest, ConcurrentPutsHaveOneWinner) {
  ASSERT_NO_FATAL_FAILURE(CreateTestContainer());
  constexpr int kWriters = 8;
  std::vector<long> statuses(kWriters);
  std::vector<std::thread> writers;
  writers.reserve(kWriters);
  for (int i = 0; i < kWriters; ++i) {
    writers.emplace_back([this, i, &statuses] {
      statuses[i] = PutBlob("race", StrCat("writer ", i)).status;
    });
  }
  for (std::thread& writer : writers) writer.join();

  EXPECT_THAT(statuses, Contains(201).Times(1));
  EXPECT_THAT(statuses, Contains(409).Times(kWriters - 1));
  const auto winner = std::find(statuses.begin(), statuses.end(), 201);
  ASSERT_NE(winner, statuses.end());
  EXPECT_EQ(GetBlob("race").body, StrCat("writer ", winner - statuses.begin()));
}

// The signature covers the path as sent, percent-encoded, so a name with
// reserved characters signs and round-trips whether '/' is sent as is or
// as %2F.
TEST_F(AzuriteTest, SpecialBlobNameRoundTrips) {
  ASSERT_NO_FATAL_FAILURE(CreateTestContainer());
  const std::string name = "dir/a%b#c?d e+f\xc3\xa9";

  const TestHttpResponse put = PutBlob(PercentEncode(name, "/"), "special");
  const TestHttpResponse get = GetBlob(PercentEncode(name, "/"));
  const TestHttpResponse get_encoded_slash = GetBlob(PercentEncode(name));
  AzureRequest list = MakeRequest("GET", StrCat("/", kContainer));
  list.query["restype"] = "container";
  list.query["comp"] = "list";
  const TestHttpResponse listing = Send(list);

  EXPECT_EQ(put.status, 201) << put.body;
  EXPECT_EQ(get.status, 200) << get.body;
  EXPECT_EQ(get.body, "special");
  EXPECT_EQ(get_encoded_slash.status, 200) << get_encoded_slash.body;
  EXPECT_EQ(get_encoded_slash.body, "special");
  EXPECT_EQ(listing.status, 200) << listing.body;
  EXPECT_EQ(XmlElement(listing.body, "Name"), name);
}

class AzuriteBearerTest : public AzuriteTest {
 protected:
  AzuriteOptions Options() override {
    AzuriteOptions options;
    options.mode = AzuriteOptions::Mode::kHttpsBearer;
    return options;
  }

  // Sends `request` with a bearer token made of `claims`.
  TestHttpResponse SendWithToken(const AzureRequest& request,
                                 const nlohmann::json& claims) {
    return SendWithAuthorization(request,
                                 StrCat("Bearer ", UnsignedJwt(claims)));
  }
};

TEST_F(AzuriteBearerTest, ServesHttpsWithItsCertificate) {
  EXPECT_THAT(azurite_->endpoint(), StartsWith("https://127.0.0.1:"));
  EXPECT_EQ(azurite_->https_endpoint(), azurite_->blob_endpoint());
  EXPECT_NE(azurite_->ca_file(), "");
  const std::string url = azurite_->blob_endpoint() + "/?comp=list";

  // The certificate is not in the system's store.
  const TestHttpResponse untrusted = SendTestHttpRequest("GET", url, {});
  const TestHttpResponse plain_http = SendTestHttpRequest(
      "GET", "http://" + url.substr(std::string_view("https://").size()), {});

  EXPECT_EQ(untrusted.curl_code, CURLE_PEER_FAILED_VERIFICATION)
      << untrusted.curl_error;
  EXPECT_NE(plain_http.curl_code, CURLE_OK);
}

TEST_F(AzuriteBearerTest, AcceptsUnsignedToken) {
  AzureRequest create = MakeRequest("PUT", StrCat("/", kContainer));
  create.query["restype"] = "container";
  AzureRequest put =
      MakeRequest("PUT", StrCat("/", kContainer, "/dek"), kCheckInput);
  put.headers["x-ms-blob-type"] = "BlockBlob";
  put.headers["if-none-match"] = "*";

  const TestHttpResponse created = SendWithToken(create, StorageTokenClaims());
  const TestHttpResponse first = SendWithToken(put, StorageTokenClaims());
  const TestHttpResponse second = SendWithToken(put, StorageTokenClaims());
  const TestHttpResponse get =
      SendWithToken(MakeRequest("GET", StrCat("/", kContainer, "/dek")),
                    StorageTokenClaims());

  ASSERT_EQ(created.curl_code, CURLE_OK) << created.curl_error;
  EXPECT_EQ(created.status, 201) << created.body;
  EXPECT_EQ(first.status, 201) << first.body;
  EXPECT_EQ(second.status, 409) << second.body;
  EXPECT_EQ(HeaderValue(second.headers, "x-ms-error-code"),
            "BlobAlreadyExists");
  EXPECT_EQ(get.status, 200) << get.body;
  EXPECT_EQ(get.body, kCheckInput);
}

TEST_F(AzuriteBearerTest, AcceptsEachStorageAudience) {
  ASSERT_NO_FATAL_FAILURE(CreateTestContainer());
  for (const char* audience :
       {"https://storage.azure.com", "https://storage.azure.com/",
        "e406a681-f3d4-42a8-90b6-c2b029497af1",
        "https://devstoreaccount1.blob.core.windows.net"}) {
    SCOPED_TRACE(audience);
    nlohmann::json claims = StorageTokenClaims();
    claims["aud"] = audience;
    AzureRequest request = MakeRequest("GET", StrCat("/", kContainer));
    request.query["restype"] = "container";

    EXPECT_EQ(SendWithToken(request, claims).status, 200);
  }
}

TEST_F(AzuriteBearerTest, RejectsBadClaims) {
  ASSERT_NO_FATAL_FAILURE(CreateTestContainer());
  const int64_t now = absl::ToUnixSeconds(absl::Now());
  struct Case {
    std::string name;
    std::string claim;
    nlohmann::json value;
    std::string detail;
  };
  const std::vector<Case> cases = {
      {"expired", "exp", now - 10,
       "Lifetime validation failed. The token is expired."},
      {"not yet valid", "nbf", now + 600, "Lifetime validation failed."},
      {"Key Vault audience", "aud", "https://vault.azure.net",
       "Invalid token audience."},
      {"other account", "aud", "https://other.blob.core.windows.net",
       "Invalid token audience."},
      {"v2 issuer", "iss", "https://login.microsoftonline.com/t/v2.0",
       "Invalid token issuer."},
      {"no iat", "iat", nullptr,
       "Authentication scheme Bearer is not supported."},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    nlohmann::json claims = StorageTokenClaims();
    if (c.value.is_null()) {
      claims.erase(c.claim);
    } else {
      claims[c.claim] = c.value;
    }
    AzureRequest request = MakeRequest("GET", StrCat("/", kContainer));
    request.query["restype"] = "container";

    const TestHttpResponse response = SendWithToken(request, claims);

    EXPECT_EQ(response.status, 403) << response.body;
    EXPECT_EQ(HeaderValue(response.headers, "x-ms-error-code"),
              "AuthenticationFailed");
    EXPECT_EQ(XmlElement(response.body, "AuthenticationErrorDetail"), c.detail);
  }
}

TEST_F(AzuriteBearerTest, RejectsTokenThatIsNotJwt) {
  AzureRequest request = MakeRequest("GET", "/");
  request.query["comp"] = "list";

  const TestHttpResponse response =
      SendWithAuthorization(request, "Bearer not-a-jwt");

  EXPECT_EQ(response.status, 403) << response.body;
  EXPECT_EQ(HeaderValue(response.headers, "x-ms-error-code"),
            "AuthenticationFailed");
}

// Shared Key still works in bearer mode.
TEST_F(AzuriteBearerTest, AcceptsSharedKeyOverHttps) {
  const TestHttpResponse response = CreateContainer(kContainer);

  ASSERT_EQ(response.curl_code, CURLE_OK) << response.curl_error;
  EXPECT_EQ(response.status, 201) << response.body;
}

class AzuriteProxyTest : public AzuriteTest {
 protected:
  void SetUp() override {
    AzuriteTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    DEKMS_ASSIGN_EMULATOR_OR_SKIP(proxy_,
                                  StartFaultProxy(azurite_->endpoint()));
  }

  std::string Endpoint() override { return proxy_->endpoint(); }

  std::unique_ptr<FaultProxy> proxy_;
};

// Shared Key does not sign the Host header, so signatures made for the
// proxy's URL verify at Azurite.
TEST_F(AzuriteProxyTest, ForwardsSignedRequests) {
  ASSERT_NO_FATAL_FAILURE(CreateTestContainer());

  const TestHttpResponse put = PutBlob("dek", kCheckInput);
  const TestHttpResponse get = GetBlob("dek");

  EXPECT_EQ(put.status, 201) << put.body;
  EXPECT_EQ(get.body, kCheckInput);
  const absl::StatusOr<FaultProxyCounters> counters = proxy_->Counters();
  ASSERT_THAT(counters, IsOk());
  EXPECT_EQ(counters->forwarded, 3);
}

TEST_F(AzuriteProxyTest, StatusFaultHasAzureErrorShape) {
  ASSERT_NO_FATAL_FAILURE(CreateTestContainer());
  ASSERT_THAT(proxy_->QueueFault(Fault::Status(503)), IsOk());

  const TestHttpResponse response = PutBlob("dek", "data");

  ASSERT_EQ(response.curl_code, CURLE_OK) << response.curl_error;
  EXPECT_EQ(response.status, 503);
  EXPECT_EQ(HeaderValue(response.headers, "x-ms-error-code"), "ServerBusy");
  EXPECT_THAT(HeaderValue(response.headers, "Content-Type"),
              StartsWith("application/xml"));
  EXPECT_THAT(response.body,
              StartsWith("<?xml version=\"1.0\" encoding=\"utf-8\"?><Error>"));
  EXPECT_EQ(XmlElement(response.body, "Code"), "ServerBusy");
  EXPECT_THAT(XmlElement(response.body, "Message"), HasSubstr("503"));
  // The upload never reached the emulator.
  EXPECT_EQ(GetBlob("dek").status, 404);
}

TEST_F(AzuriteProxyTest, AzureStatusFaultsByCode) {
  struct Case {
    int status;
    std::string code;
  };
  const std::vector<Case> cases = {
      {500, "InternalError"},        {429, "ServerBusy"},
      {403, "AuthenticationFailed"}, {404, "BlobNotFound"},
      {409, "BlobAlreadyExists"},    {412, "ConditionNotMet"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.status);
    ASSERT_THAT(proxy_->QueueFault(Fault::Status(c.status)), IsOk());

    const TestHttpResponse response = GetBlob("dek");

    EXPECT_EQ(response.status, c.status);
    EXPECT_EQ(HeaderValue(response.headers, "x-ms-error-code"), c.code);
    EXPECT_EQ(XmlElement(response.body, "Code"), c.code) << response.body;
    EXPECT_EQ(HeaderValue(response.headers, "Retry-After"),
              c.status == 429 ? "1" : "");
  }
}

TEST_F(AzuriteProxyTest, KeyVaultPathGetsJsonError) {
  Fault fault = Fault::Status(401);
  fault.path_contains = "/wrapkey";
  ASSERT_THAT(proxy_->QueueFault(fault), IsOk());
  ASSERT_THAT(proxy_->QueueFault(Fault::Status(404)), IsOk());
  const std::string key_url = StrCat(Endpoint(), "/keys/kek/0123456789abcdef");

  const TestHttpResponse wrap = SendTestHttpRequest(
      "POST", key_url + "/wrapkey?api-version=7.4",
      {"Content-Type: application/json"}, R"({"alg":"RSA-OAEP-256"})");
  const TestHttpResponse get =
      SendTestHttpRequest("GET", key_url + "?api-version=7.4", {});

  EXPECT_EQ(wrap.status, 401);
  EXPECT_EQ(JsonString(wrap.body, "/error/code"), "Unauthorized") << wrap.body;
  EXPECT_THAT(JsonString(wrap.body, "/error/message"), HasSubstr("401"));
  EXPECT_THAT(HeaderValue(wrap.headers, "WWW-Authenticate"),
              MatchesRegex("Bearer authorization=\"https://login\\."
                           "microsoftonline\\.com/[-0-9a-f]+\", "
                           "resource=\"https://vault\\.azure\\.net\""));
  EXPECT_EQ(get.status, 404);
  EXPECT_EQ(JsonString(get.body, "/error/code"), "KeyNotFound") << get.body;
  EXPECT_EQ(HeaderValue(get.headers, "WWW-Authenticate"), "");
}

TEST(EmulatorToolsTest, MissingAzuriteIsToolsMissing) {
  const EmulatorTools tools{"/nonexistent/venv/bin/python3",
                            DEKMS_SOURCE_DIR "/tests/emulators",
                            "/nonexistent/bin"};

  const absl::StatusOr<std::unique_ptr<AzuriteServer>> server =
      StartAzurite(tools);

  ASSERT_FALSE(server.ok());
  EXPECT_TRUE(IsTestToolsMissing(server.status())) << server.status();
  EXPECT_THAT(std::string(server.status().message()),
              HasSubstr("/nonexistent/bin/azurite-blob"));
}

}  // namespace
}  // namespace dekms::testing
