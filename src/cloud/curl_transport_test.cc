#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "src/cloud/http.h"
#include "src/cloud/retry.h"
#include "src/crypto/encoding.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/subprocess.h"

namespace dekms::internal {
namespace {

using ::dekms::testing::IsOk;
using ::dekms::testing::StatusIs;
using ::testing::HasSubstr;
using ::testing::Not;

// Starts tests/fakes/scripted_http_server.py and returns its base URL.
class ScriptedServerTest : public ::testing::Test {
 protected:
  void SetUp() override { StartServer({}); }

  void StartServer(const std::vector<std::string>& extra_args) {
    std::vector<std::string> argv = {"/usr/bin/python3", DEKMS_SOURCE_DIR
                                     "/tests/fakes/scripted_http_server.py"};
    argv.insert(argv.end(), extra_args.begin(), extra_args.end());
    auto process = dekms::testing::Subprocess::Start(argv);
    ASSERT_THAT(process.status(), IsOk());
    server_ = std::move(process).value();
    ASSERT_TRUE(server_->WaitForStderr("READY ", absl::Seconds(30)))
        << server_->stderr_text();
    const std::string text = server_->stderr_text();
    const size_t start = text.find("READY ") + 6;
    base_url_ = text.substr(start, text.find('\n', start) - start);
  }

  [[nodiscard]] HttpRequest Request(std::string method,
                                    const std::string& path) const {
    HttpRequest request;
    request.method = std::move(method);
    request.url = base_url_ + path;
    return request;
  }

  absl::StatusOr<HttpResponse> Send(
      HttpTransport& transport, const HttpRequest& request,
      absl::Duration timeout = absl::Seconds(10)) {
    return transport.Send(request, absl::Now() + timeout);
  }

  std::unique_ptr<dekms::testing::Subprocess> server_;
  std::string base_url_;
};

TEST_F(ScriptedServerTest, PostSendsBodyHeadersAndContentLength) {
  auto transport = NewCurlTransport({});
  HttpRequest request = Request("POST", "/echo");
  request.SetHeader("Content-Type", "application/x-amz-json-1.1");
  request.SetHeader("X-Custom", "value");
  request.body = SecretBytes::CopyFrom(std::string_view("{\"a\":1}"));

  auto response = Send(*transport, request);
  ASSERT_THAT(response.status(), IsOk());
  EXPECT_EQ(response->status, 200);
  const auto echo = nlohmann::json::parse(response->BodyText());
  EXPECT_EQ(echo["method"], "POST");
  EXPECT_EQ(echo["body"], "{\"a\":1}");
  EXPECT_FALSE(echo["chunked"].get<bool>());
  std::map<std::string, std::string> headers;
  for (const auto& pair : echo["headers"]) {
    headers[pair[0].get<std::string>()] = pair[1].get<std::string>();
  }
  EXPECT_EQ(headers["Content-Length"], "7");
  EXPECT_EQ(headers["Content-Type"], "application/x-amz-json-1.1");
  EXPECT_EQ(headers["X-Custom"], "value");
  EXPECT_EQ(headers.count("Expect"), 0U);
}

TEST_F(ScriptedServerTest, EmptyPutAndPostSendContentLengthZero) {
  auto transport = NewCurlTransport({});
  for (const char* method : {"PUT", "POST"}) {
    auto response = Send(*transport, Request(method, "/echo"));
    ASSERT_THAT(response.status(), IsOk());
    const auto echo = nlohmann::json::parse(response->BodyText());
    EXPECT_EQ(echo["method"], method);
    bool saw_length = false;
    for (const auto& pair : echo["headers"]) {
      if (pair[0] == "Content-Length") {
        saw_length = true;
        EXPECT_EQ(pair[1], "0");
      }
      // curl must not invent a form content type for a bare body.
      EXPECT_NE(pair[0], "Content-Type") << method;
    }
    EXPECT_TRUE(saw_length) << method;
  }
}

TEST_F(ScriptedServerTest, LargeBodyIsSentWithoutExpectContinue) {
  auto transport = NewCurlTransport({});
  HttpRequest request = Request("PUT", "/echo");
  request.body = SecretBytes::CopyFrom(std::string(100000, 'b'));
  auto response = Send(*transport, request);
  ASSERT_THAT(response.status(), IsOk());
  const auto echo = nlohmann::json::parse(response->BodyText());
  EXPECT_EQ(echo["body"].get<std::string>().size(), 100000U);
  for (const auto& pair : echo["headers"]) {
    EXPECT_NE(pair[0], "Expect");
  }
}

TEST_F(ScriptedServerTest, PathGoesOutUnchanged) {
  auto transport = NewCurlTransport({});
  auto response = Send(*transport, Request("GET", "/echo/a/../b/./c//d"));
  ASSERT_THAT(response.status(), IsOk());
  EXPECT_EQ(nlohmann::json::parse(response->BodyText())["path"],
            "/echo/a/../b/./c//d");
}

TEST_F(ScriptedServerTest, ResponseHeadersAreLowercasedAndTrimmed) {
  auto transport = NewCurlTransport({});
  auto response = Send(*transport, Request("GET", "/echo"));
  ASSERT_THAT(response.status(), IsOk());
  const std::string* value = response->FindHeader("X-TEST-HEADER");
  ASSERT_NE(value, nullptr);
  EXPECT_EQ(*value, "padded value");
  for (const HttpHeader& header : response->headers) {
    EXPECT_EQ(header.name, absl::AsciiStrToLower(header.name));
  }
}

TEST_F(ScriptedServerTest, ErrorStatusesAreResponsesNotErrors) {
  auto transport = NewCurlTransport({});
  for (int code : {400, 403, 404, 412, 500, 503}) {
    auto response =
        Send(*transport, Request("GET", "/status/" + std::to_string(code)));
    ASSERT_THAT(response.status(), IsOk());
    EXPECT_EQ(response->status, code);
  }
}

TEST_F(ScriptedServerTest, HeadHasNoBody) {
  auto transport = NewCurlTransport({});
  auto response = Send(*transport, Request("HEAD", "/status/404"));
  ASSERT_THAT(response.status(), IsOk());
  EXPECT_EQ(response->status, 404);
  EXPECT_EQ(response->body.size(), 0U);
}

TEST_F(ScriptedServerTest, BodyOverTheCapIsResourceExhausted) {
  CurlTransportOptions options;
  options.max_response_bytes = 1000;
  auto transport = NewCurlTransport(options);
  EXPECT_THAT(Send(*transport, Request("GET", "/bytes/1000")).status(), IsOk());
  EXPECT_THAT(Send(*transport, Request("GET", "/bytes/1001")).status(),
              StatusIs(absl::StatusCode::kResourceExhausted,
                       HasSubstr("limit of 1000 bytes")));
}

TEST_F(ScriptedServerTest, SlowAnswerIsDeadlineExceeded) {
  auto transport = NewCurlTransport({});
  EXPECT_THAT(
      Send(*transport, Request("GET", "/slow/3000"), absl::Milliseconds(300))
          .status(),
      StatusIs(absl::StatusCode::kDeadlineExceeded, HasSubstr("timed out")));
}

TEST_F(ScriptedServerTest, PassedDeadlineSendsNothing) {
  auto transport = NewCurlTransport({});
  EXPECT_THAT(
      transport->Send(Request("GET", "/count/x"), absl::Now()).status(),
      StatusIs(absl::StatusCode::kDeadlineExceeded, HasSubstr("was not sent")));
}

TEST_F(ScriptedServerTest, ResetIsUnavailableAndNamesOnlyTheOrigin) {
  auto transport = NewCurlTransport({});
  auto response = Send(*transport, Request("GET", "/reset?secret-ish=1"));
  EXPECT_THAT(response.status(),
              StatusIs(absl::StatusCode::kUnavailable,
                       HasSubstr("GET " + base_url_ + " failed")));
  EXPECT_THAT(response.status().message(), Not(HasSubstr("secret-ish")));
}

TEST_F(ScriptedServerTest, RetriesAgainstARealServerUntilItRecovers) {
  auto transport = NewCurlTransport({});
  RetryPolicy policy;
  policy.initial_backoff = absl::Milliseconds(10);
  auto response =
      SendWithRetries(*transport, policy, "flaky call", /*idempotent=*/true,
                      [this]() -> absl::StatusOr<HttpRequest> {
                        return Request("GET", "/flaky/a/2/503");
                      });
  ASSERT_THAT(response.status(), IsOk());
  EXPECT_EQ(response->status, 200);
  auto count = Send(*transport, Request("GET", "/count/a"));
  ASSERT_THAT(count.status(), IsOk());
  EXPECT_EQ(count->BodyText(), "3");
}

TEST_F(ScriptedServerTest, RetriesResetsOnlyForIdempotentRequests) {
  auto transport = NewCurlTransport({});
  RetryPolicy policy;
  policy.max_attempts = 3;
  policy.initial_backoff = absl::Milliseconds(10);
  auto build = [this]() -> absl::StatusOr<HttpRequest> {
    return Request("GET", "/reset");
  };
  EXPECT_THAT(
      SendWithRetries(*transport, policy, "reset call", true, build).status(),
      StatusIs(absl::StatusCode::kUnavailable,
               HasSubstr("gave up after 3 attempts")));
  EXPECT_THAT(
      SendWithRetries(*transport, policy, "reset call", false, build).status(),
      StatusIs(absl::StatusCode::kUnavailable, Not(HasSubstr("gave up"))));
}

// libcurl sends a request again, on its own, when the reused connection it
// went out on was closed before any reply. That must not happen to a
// request marked as not idempotent.
TEST_F(ScriptedServerTest, NonIdempotentRequestIsNeverReplayedByCurl) {
  auto transport = NewCurlTransport({});
  for (const bool idempotent : {true, false}) {
    const std::string key = idempotent ? "replayed" : "once";
    // Leaves an idle keep-alive connection in the transport's handle.
    ASSERT_THAT(Send(*transport, Request("GET", "/echo")).status(), IsOk());
    HttpRequest put = Request("PUT", "/reset-count/" + key);
    put.idempotent = idempotent;
    EXPECT_FALSE(Send(*transport, put).ok());
    auto count = Send(*transport, Request("GET", "/count/" + key));
    ASSERT_THAT(count.status(), IsOk());
    EXPECT_EQ(count->BodyText(), idempotent ? "2" : "1") << key;
  }
}

// Serves HTTPS with a self-signed certificate for 127.0.0.1.
class TlsServerTest : public ScriptedServerTest {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/dekms-tls-XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    dir_ = pattern;
    auto openssl = dekms::testing::RunProcess(
        {"/usr/bin/openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
         "ec_paramgen_curve:P-256", "-nodes", "-days", "1", "-subj",
         "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout",
         dir_ + "/key.pem", "-out", dir_ + "/cert.pem"});
    ASSERT_THAT(openssl.status(), IsOk());
    ASSERT_EQ(openssl->exit_code, 0) << openssl->stderr_text;
    StartServer({"--tls", dir_ + "/cert.pem", dir_ + "/key.pem"});
  }

  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string dir_;
};

TEST_F(TlsServerTest, UntrustedCertificateIsRejected) {
  auto transport = NewCurlTransport({});
  ASSERT_TRUE(base_url_.starts_with("https://")) << base_url_;
  EXPECT_THAT(Send(*transport, Request("GET", "/echo")).status(),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("TLS certificate is not trusted")));
}

TEST_F(TlsServerTest, UnreadableCaBundleIsFailedPrecondition) {
  CurlTransportOptions options;
  options.ca_file = dir_ + "/missing.pem";
  auto transport = NewCurlTransport(options);
  EXPECT_THAT(Send(*transport, Request("GET", "/echo")).status(),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("CA bundle cannot be read")));
}

TEST_F(TlsServerTest, ConfiguredCaBundleIsTrusted) {
  CurlTransportOptions options;
  options.ca_file = dir_ + "/cert.pem";
  auto transport = NewCurlTransport(options);
  auto response = Send(*transport, Request("GET", "/echo"));
  ASSERT_THAT(response.status(), IsOk());
  EXPECT_EQ(response->status, 200);
}

TEST(CurlTransportTest, RefusedConnectionIsUnavailable) {
  auto transport = NewCurlTransport({});
  HttpRequest request;
  request.method = "GET";
  // Port 1 on loopback: nothing listens there on a test machine.
  request.url = "http://127.0.0.1:1/x";
  EXPECT_THAT(transport->Send(request, absl::Now() + absl::Seconds(5)).status(),
              StatusIs(absl::StatusCode::kUnavailable));
}

TEST(CurlTransportTest, RejectsOtherSchemesAndMethods) {
  auto transport = NewCurlTransport({});
  HttpRequest request;
  request.method = "GET";
  request.url = "file:///etc/passwd";
  EXPECT_THAT(transport->Send(request, absl::Now() + absl::Seconds(5)).status(),
              StatusIs(absl::StatusCode::kInvalidArgument));
  request.method = "PATCH";
  request.url = "http://127.0.0.1:1/x";
  EXPECT_THAT(transport->Send(request, absl::Now() + absl::Seconds(5)).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("PATCH")));
}

TEST(CurlTransportTest, TlsVerificationFailsForAnUntrustedServer) {
  // A plain HTTP server spoken to with https fails the handshake; the
  // transport reports it as unavailable rather than carrying on.
  auto transport = NewCurlTransport({});
  HttpRequest request;
  request.method = "GET";
  request.url = "https://127.0.0.1:1/x";
  EXPECT_THAT(transport->Send(request, absl::Now() + absl::Seconds(5)).status(),
              StatusIs(absl::StatusCode::kUnavailable));
}

TEST(ProviderErrorTest, MapsStatusAndKeepsCodeAndRequestId) {
  ProviderError error{"Amazon S3",    "GetObject",     403,
                      "AccessDenied", "Access Denied", "REQ123"};
  EXPECT_THAT(ProviderErrorToStatus(error),
              StatusIs(absl::StatusCode::kPermissionDenied,
                       "Amazon S3 GetObject failed: HTTP 403 AccessDenied: "
                       "Access Denied (request id REQ123)"));
  error.http_status = 503;
  EXPECT_THAT(ProviderErrorToStatus(error),
              StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(ProviderErrorToStatus(error, absl::StatusCode::kDataLoss),
              StatusIs(absl::StatusCode::kDataLoss));
}

TEST(ProviderErrorTest, ShortensAndCleansTheProviderMessage) {
  ProviderError error{
      "AWS KMS", "Decrypt", 400, "X", std::string(1000, 'm') + "\n\x01", ""};
  const absl::Status status = ProviderErrorToStatus(error);
  EXPECT_LT(status.message().size(), 400U);
  EXPECT_THAT(std::string(status.message()), Not(HasSubstr("\n")));
  EXPECT_THAT(std::string(status.message()), HasSubstr("..."));
}

TEST(UrlOriginTest, DropsPathQueryAndUserInformation) {
  EXPECT_EQ(UrlOrigin("https://kms.us-east-1.amazonaws.com/"),
            "https://kms.us-east-1.amazonaws.com");
  EXPECT_EQ(UrlOrigin("http://127.0.0.1:9000/bucket/key?x=1"),
            "http://127.0.0.1:9000");
  EXPECT_EQ(UrlOrigin("http://user:pass@host:1/p"), "http://host:1");
  EXPECT_EQ(UrlOrigin("no scheme"), "(malformed URL)");
}

TEST(PercentEncodeTest, KeepsOnlyUnreservedCharacters) {
  EXPECT_EQ(PercentEncode("aZ09-._~"), "aZ09-._~");
  EXPECT_EQ(PercentEncode("a/b c+d%e#f?g&h=\xc3\xa9"),
            "a%2Fb%20c%2Bd%25e%23f%3Fg%26h%3D%C3%A9");
  EXPECT_EQ(PercentEncode(std::string_view("\0\x7f", 2)), "%00%7F");
  SecretTextBuilder builder;
  AppendPercentEncoded("s+/=", builder);
  EXPECT_EQ(RevealAsText(std::move(builder).Finish()), "s%2B%2F%3D");
}

TEST(IsLoopbackHostTest, AcceptsOnlyLoopbackAddresses) {
  for (const char* host : {"localhost", "127.0.0.1", "127.1.2.3", "::1"}) {
    EXPECT_TRUE(IsLoopbackHost(host)) << host;
  }
  for (const char* host :
       {"", "128.0.0.1", "127.0.0", "127.0.0.1.example", "localhost.example",
        "10.0.0.1", "::2", "127..0.1"}) {
    EXPECT_FALSE(IsLoopbackHost(host)) << host;
  }
}

}  // namespace
}  // namespace dekms::internal
