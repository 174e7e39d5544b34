#ifndef DEKMS_TESTS_TESTING_EMULATORS_H_
#define DEKMS_TESTS_TESTING_EMULATORS_H_

// Cloud emulators for integration tests, each a child process on 127.0.0.1
// with a free port: a moto server (AWS KMS and S3) with SigV4 signature
// checks on, fake-gcs-server (Google Cloud Storage), Azurite (Azure Blob
// Storage) with Shared Key checks on, and a proxy that injects faults
// between a client and an emulator.
// scripts/install-test-tools.sh installs them.
//
// In a test body or SetUp():
//
//   DEKMS_ASSIGN_EMULATOR_OR_SKIP(std::unique_ptr<MotoServer> moto,
//                                 StartMotoServer());
//   DEKMS_ASSIGN_EMULATOR_OR_SKIP(std::unique_ptr<FaultProxy> proxy,
//                                 StartFaultProxy(moto->endpoint()));
//   ASSERT_THAT(proxy->QueueFault(Fault::Status(503)), IsOk());
//   // Point the client at proxy->endpoint(), signing with
//   // moto->access_key_id() and moto->secret_access_key().

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "src/base/status_macros.h"
#include "tests/testing/subprocess.h"

namespace dekms::testing {

// Where the emulators and the interpreter that runs them are.
struct EmulatorTools {
  // Python of the virtualenv that scripts/install-test-tools.sh creates.
  std::string python;
  // tests/emulators in the source tree.
  std::string emulators_dir;
  // The bin directory of the test tools directory, where
  // scripts/install-test-tools.sh puts the Go emulators such as
  // fake-gcs-server and a link to Azurite's azurite-blob.
  std::string bin_dir;
};

// Tells whether `status` came from starting an emulator whose interpreter,
// Python packages or binary are not installed.
bool IsTestToolsMissing(const absl::Status& status);

// Tells whether the environment variable CI is "true", as on the CI runner,
// where missing test tools fail a test instead of skipping it.
bool IsContinuousIntegration();

// A running moto server. The destructor stops it.
class MotoServer {
 public:
  MotoServer(std::unique_ptr<Subprocess> process, std::string endpoint,
             std::string access_key_id, std::string secret_access_key);
  ~MotoServer();

  MotoServer(const MotoServer&) = delete;
  MotoServer& operator=(const MotoServer&) = delete;

  // Base URL, "http://127.0.0.1:<port>", for both KMS and S3 (path-style).
  [[nodiscard]] const std::string& endpoint() const { return endpoint_; }
  // The key of the emulator's IAM user, which may call every action. moto
  // looks the key up in its aws partition, so any commercial region works
  // in the credential scope.
  [[nodiscard]] const std::string& access_key_id() const {
    return access_key_id_;
  }
  // A random secret that exists only in this emulator process.
  [[nodiscard]] const std::string& secret_access_key() const {
    return secret_access_key_;
  }
  // The server's request log and errors.
  [[nodiscard]] std::string log_text() { return process_->stderr_text(); }

 private:
  std::unique_ptr<Subprocess> process_;
  std::string endpoint_;
  std::string access_key_id_;
  std::string secret_access_key_;
};

// Starts moto_launcher.py and waits up to 30 seconds for it to serve.
// Returns a status for which IsTestToolsMissing() holds when the
// interpreter or moto is not installed.
absl::StatusOr<std::unique_ptr<MotoServer>> StartMotoServer(
    const EmulatorTools& tools);

// A running fake-gcs-server (fsouza/fake-gcs-server) with its in-memory
// backend, serving the Google Cloud Storage JSON API over plain HTTP on
// 127.0.0.1. It checks no credentials and starts with no buckets. The
// destructor stops it.
class FakeGcsServer {
 public:
  FakeGcsServer(std::unique_ptr<Subprocess> process, std::string endpoint);
  ~FakeGcsServer();

  FakeGcsServer(const FakeGcsServer&) = delete;
  FakeGcsServer& operator=(const FakeGcsServer&) = delete;

  // Base URL, "http://127.0.0.1:<port>", for /storage/v1/... and
  // /upload/storage/v1/... requests.
  [[nodiscard]] const std::string& endpoint() const { return endpoint_; }
  // The server's request log and errors.
  [[nodiscard]] std::string log_text() { return process_->stderr_text(); }

 private:
  std::unique_ptr<Subprocess> process_;
  std::string endpoint_;
};

// Starts <tools.bin_dir>/fake-gcs-server on a free loopback port and waits
// up to 30 seconds until GET /storage/v1/b returns 200. Returns a status for
// which IsTestToolsMissing() holds when the binary is not installed. The
// server runs under `setpriv --pdeathsig KILL`, so the kernel kills it when
// the test process dies, even by SIGKILL.
// NOTE: the kernel also kills it when the thread that started it exits, so
// start it from the thread that runs the test, not from a helper thread.
absl::StatusOr<std::unique_ptr<FakeGcsServer>> StartFakeGcsServer(
    const EmulatorTools& tools);

// How StartAzurite() runs Azurite.
struct AzuriteOptions {
  enum class Mode {
    // Plain HTTP. Requests need Shared Key (or SAS) authorization.
    kHttpSharedKey,
    // HTTPS with a self-signed certificate for 127.0.0.1 that the launcher
    // generates with the openssl command, and `--oauth basic`: besides
    // Shared Key, Azurite takes bearer tokens. It decodes a token as a JWT
    // without checking its signature, and checks that iat, nbf and exp are
    // present and that nbf <= now <= exp, that iss starts with
    // https://sts.windows.net/ (or another cloud's STS), and that aud is
    // https://storage.azure.com, e406a681-f3d4-42a8-90b6-c2b029497af1 or
    // https://devstoreaccount1.blob.core.windows.net (URLs with or without
    // a trailing slash). A failed check gets 403 AuthenticationFailed.
    kHttpsBearer,
  };
  Mode mode = Mode::kHttpSharedKey;
  // Passes --debug, so that log_text() includes Azurite's debug log, which
  // records the Shared Key string-to-sign that Azurite computes. It also
  // records every request header, Authorization included, so use it only
  // with the well-known account key and made-up tokens.
  bool debug_log = false;
  // Passes --loose, which makes Azurite ignore headers and parameters that
  // it does not support, such as x-ms-content-crc64, instead of rejecting
  // the request with 500 FeatureNotSupported.
  bool loose = false;
};

// A running Azurite 3.35.0 blob service (the version that
// tests/emulators/azurite/package.json pins) with in-memory storage, serving
// the single account devstoreaccount1 with path-style URLs. It checks Shared
// Key signatures and the x-ms-version header, which must be one of the
// service versions that Azurite lists (2025-11-05 and older) when present.
// It starts with no containers. The destructor stops it and removes its
// temporary directory.
class AzuriteServer {
 public:
  AzuriteServer(std::unique_ptr<Subprocess> process, std::string endpoint,
                std::string temp_dir, std::string ca_file,
                std::string debug_log_path);
  ~AzuriteServer();

  AzuriteServer(const AzuriteServer&) = delete;
  AzuriteServer& operator=(const AzuriteServer&) = delete;

  // Base URL without the account, "http://127.0.0.1:<port>", or https in
  // bearer mode. StartFaultProxy() takes it in HTTP mode only, because the
  // proxy speaks plain HTTP.
  [[nodiscard]] const std::string& endpoint() const { return endpoint_; }
  // The account's URL, endpoint() followed by "/devstoreaccount1".
  // Container and blob paths follow it.
  [[nodiscard]] std::string blob_endpoint() const;
  // blob_endpoint() in bearer mode, which serves only HTTPS; empty in HTTP
  // mode.
  [[nodiscard]] std::string https_endpoint() const;
  // PEM file of the self-signed certificate that the server presents in
  // bearer mode, for CURLOPT_CAINFO; empty in HTTP mode.
  [[nodiscard]] const std::string& ca_file() const { return ca_file_; }
  [[nodiscard]] static std::string account() { return "devstoreaccount1"; }
  // The well-known key of Azurite's default account, which Microsoft
  // publishes: it protects nothing.
  [[nodiscard]] static std::string account_key();
  // The access log (one line per request), errors, and the debug log when
  // AzuriteOptions::debug_log is set.
  [[nodiscard]] std::string log_text();

 private:
  std::unique_ptr<Subprocess> process_;
  std::string endpoint_;
  std::string temp_dir_;
  std::string ca_file_;
  std::string debug_log_path_;
};

// Starts <tools.bin_dir>/azurite-blob on a free loopback port, with
// telemetry off, and waits up to 30 seconds until it listens. Returns a
// status for which IsTestToolsMissing() holds when Azurite or node is not
// installed. Like StartFakeGcsServer(), it runs the server under `setpriv
// --pdeathsig KILL`, with the same NOTE about threads.
absl::StatusOr<std::unique_ptr<AzuriteServer>> StartAzurite(
    const EmulatorTools& tools, const AzuriteOptions& options = {});

// A fault for FaultProxy::QueueFault. Build one with the static functions,
// then set `method`, `target` or `path_contains` to narrow the requests it
// applies to.
struct Fault {
  enum class Kind {
    // Respond with `status` and an error body without forwarding.
    kStatus,
    // Wait `delay`, then forward.
    kDelay,
    // Reset the connection (TCP RST) without forwarding or responding.
    kReset,
    // Forward, then reset the client connection instead of responding, so
    // the upstream acted on a request that the client sees fail.
    kForwardThenReset,
  };

  // An error response with HTTP status `status`: a JSON body with `__type`
  // for requests with an X-Amz-Target header (AWS KMS); Key Vault's JSON
  // error ({"error": {"code", "message"}}, and a bearer challenge in
  // WWW-Authenticate for 401) for paths that contain /keys/ with an
  // api-version query parameter (Azure Key Vault and Managed HSM); Azure
  // Storage's XML <Error> with an x-ms-error-code header for requests with
  // an x-ms-version header (Azure Blob Storage); Google's JSON error
  // ({"error": {"code", "message", "status", "errors": [{"domain",
  // "reason", "message"}]}}) for requests without X-Amz-* headers whose
  // path starts with /storage/, /upload/storage/ or /v1/projects/ (Cloud
  // Storage and Cloud KMS); S3's XML <Error> otherwise. 429 gets
  // `Retry-After: 1`.
  static Fault Status(int status, int count = 1);
  static Fault Delay(absl::Duration delay, int count = 1);
  static Fault Reset(int count = 1);
  static Fault ForwardThenReset(int count = 1);

  Kind kind = Kind::kStatus;
  // Number of matching requests the fault applies to.
  int count = 1;
  // HTTP method that a request must have, or empty for any method.
  std::string method;
  // X-Amz-Target header that a request must have, such as
  // "TrentService.Decrypt", or empty for any request.
  std::string target;
  // Text that the request path, query string included and percent-encoded
  // as sent, must contain, such as ":encrypt" or "uploadType=media", or
  // empty for any request.
  std::string path_contains;
  // For kStatus: the HTTP status.
  int status = 0;
  // For kStatus: the error type (AWS JSON), code (S3 XML, Azure XML and
  // Key Vault JSON) or reason (Google JSON). When empty, the proxy picks one
  // by status, such as KMSInternalException, SlowDown, ServerBusy,
  // KeyNotFound or backendError.
  std::string error_code;
  // For kStatus: the Retry-After header in seconds. A negative value sends
  // none, except for 429, which then sends 1.
  int retry_after_seconds = -1;
  // For kDelay: the wait before forwarding, in whole milliseconds.
  absl::Duration delay;
};

// Requests a fault proxy has seen since it started or was cleared. Control
// requests are not counted.
struct FaultProxyCounters {
  int total = 0;
  // Requests sent to the upstream, including kForwardThenReset ones.
  int forwarded = 0;
  int faults_applied = 0;
  // Requests that the queued faults will still apply to.
  int faults_pending = 0;
  std::map<std::string, int> by_method;
  // By X-Amz-Target header, for requests that have one.
  std::map<std::string, int> by_target;
  // By request path without the query string, percent-encoded as sent,
  // such as "/storage/v1/b/bucket/o/a%2Fb".
  std::map<std::string, int> by_path;
};

// A running fault_proxy.py in front of an upstream emulator. Requests to
// endpoint() go to the upstream unchanged, Host header included, so SigV4
// signatures made for endpoint() verify upstream. The destructor stops it.
class FaultProxy {
 public:
  FaultProxy(std::unique_ptr<Subprocess> process, std::string endpoint);
  ~FaultProxy();

  FaultProxy(const FaultProxy&) = delete;
  FaultProxy& operator=(const FaultProxy&) = delete;

  // Base URL, "http://127.0.0.1:<port>".
  [[nodiscard]] const std::string& endpoint() const { return endpoint_; }

  // Queues `fault` behind those already queued. Each request takes the
  // first queued fault that matches it.
  absl::Status QueueFault(const Fault& fault);
  absl::StatusOr<FaultProxyCounters> Counters();
  // Drops queued faults and zeroes the counters.
  absl::Status Clear();

  // One line per request with the fault applied or the upstream status.
  [[nodiscard]] std::string log_text() { return process_->stderr_text(); }

 private:
  std::unique_ptr<Subprocess> process_;
  std::string endpoint_;
};

// Starts fault_proxy.py in front of `upstream_url` (http on a loopback
// address, no path) and waits up to 30 seconds for it to listen.
absl::StatusOr<std::unique_ptr<FaultProxy>> StartFaultProxy(
    const EmulatorTools& tools, std::string_view upstream_url);

// The result of a plain HTTP request, for tests of the emulators
// themselves. The clients under test have their own HTTP code.
struct TestHttpResponse {
  // libcurl's result: CURLE_OK (0), or for example CURLE_RECV_ERROR (56)
  // after a connection reset.
  int curl_code = 0;
  std::string curl_error;
  // HTTP status, or 0 when no response arrived.
  long status = 0;
  std::string headers;
  std::string body;
};

// Sends one request with libcurl, without retries, and waits up to 30
// seconds. `headers` are "Name: value" lines; "Name:" removes a header that
// libcurl adds, such as the Content-Type of a request with a body. For an
// https URL, `ca_file` names the PEM file of the certificates to trust in
// place of the system's.
TestHttpResponse SendTestHttpRequest(std::string_view method,
                                     const std::string& url,
                                     const std::vector<std::string>& headers,
                                     std::string_view body = "",
                                     const std::string& ca_file = "");

// Defaults from the compile definitions that dekms_cc_test sets.
#if defined(DEKMS_TEST_PYTHON) && defined(DEKMS_SOURCE_DIR) && \
    defined(DEKMS_TEST_TOOLS_DIR)
inline EmulatorTools DefaultEmulatorTools() {
  return EmulatorTools{DEKMS_TEST_PYTHON, DEKMS_SOURCE_DIR "/tests/emulators",
                       DEKMS_TEST_TOOLS_DIR "/bin"};
}

inline absl::StatusOr<std::unique_ptr<MotoServer>> StartMotoServer() {
  return StartMotoServer(DefaultEmulatorTools());
}

inline absl::StatusOr<std::unique_ptr<FakeGcsServer>> StartFakeGcsServer() {
  return StartFakeGcsServer(DefaultEmulatorTools());
}

inline absl::StatusOr<std::unique_ptr<AzuriteServer>> StartAzurite(
    const AzuriteOptions& options = {}) {
  return StartAzurite(DefaultEmulatorTools(), options);
}

inline absl::StatusOr<std::unique_ptr<FaultProxy>> StartFaultProxy(
    std::string_view upstream_url) {
  return StartFaultProxy(DefaultEmulatorTools(), upstream_url);
}
#endif

}  // namespace dekms::testing

// Evaluates `rexpr`, an absl::StatusOr from starting an emulator, and moves
// its value into `lhs`. When the test tools are not installed, it skips the
// test with a message that names scripts/install-test-tools.sh. It fails the
// test instead when CI is "true", and on any other error. It returns from
// the enclosing function, so use it in a test body or in SetUp(), where a
// skip or failure keeps the test body from running.
#define DEKMS_ASSIGN_EMULATOR_OR_SKIP(lhs, rexpr) \
  DEKMS_ASSIGN_EMULATOR_OR_SKIP_IMPL_(            \
      DEKMS_STATUS_MACROS_CONCAT_(dekms_emulator_, __COUNTER__), lhs, rexpr)

// `lhs` stays unparenthesised because it may be a declaration.
// NOLINTBEGIN(bugprone-macro-parentheses)
#define DEKMS_ASSIGN_EMULATOR_OR_SKIP_IMPL_(statusor, lhs, rexpr)  \
  auto statusor = (rexpr);                                         \
  if (!statusor.ok()) {                                            \
    if (::dekms::testing::IsTestToolsMissing(statusor.status()) && \
        !::dekms::testing::IsContinuousIntegration()) {            \
      GTEST_SKIP() << statusor.status();                           \
    }                                                              \
    GTEST_FAIL() << statusor.status();                             \
  }                                                                \
  lhs = std::move(statusor).value()
// NOLINTEND(bugprone-macro-parentheses)

#endif  // DEKMS_TESTS_TESTING_EMULATORS_H_
