#include "tests/testing/emulators.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <sstream>

#include "absl/strings/cord.h"
#include "absl/time/clock.h"
#include "src/base/str_cat.h"

namespace dekms::testing {
namespace {

// Payload that marks a status from a missing interpreter or package.
constexpr char kToolsMissingPayloadUrl[] = "dekms.testing/test-tools-missing";
constexpr absl::Duration kStartTimeout = absl::Seconds(30);
constexpr absl::Duration kStopTimeout = absl::Seconds(10);
constexpr long kHttpTimeoutMs = 30'000;
// moto_launcher.py exits with this code when it cannot import moto.
constexpr int kExitMotoMissing = 3;
// Another process may take the free port between PickFreeLoopbackPort()
// and the emulator's bind, so a start that fails for that reason is
// retried on a new port this many times in all.
constexpr int kPortAttempts = 3;
// util-linux's setpriv, which Debian installs on every system (util-linux is
// an essential package).
constexpr char kSetprivPath[] = "/usr/bin/setpriv";
// fake-gcs-server logs this once its listener accepts connections.
constexpr std::string_view kFakeGcsStartedText = "server started at";

constexpr std::string_view kReadyPrefix = "READY ";
constexpr std::string_view kCredentialsPrefix = "CREDENTIALS ";

// Returns the test tools directory that `tools` points into, or an empty
// string when neither path has the layout that CMake sets up.
std::string ToolsDirOf(const EmulatorTools& tools) {
  // CMake sets the interpreter to <tools dir>/venv/bin/python3 and the
  // binaries directory to <tools dir>/bin.
  constexpr std::string_view kVenvPython = "/venv/bin/python3";
  constexpr std::string_view kBin = "/bin";
  if (tools.python.ends_with(kVenvPython)) {
    return tools.python.substr(0, tools.python.size() - kVenvPython.size());
  }
  if (tools.bin_dir.ends_with(kBin)) {
    return tools.bin_dir.substr(0, tools.bin_dir.size() - kBin.size());
  }
  return "";
}

// Returns an error that names the command which installs the tools for
// `tools`, and that IsTestToolsMissing() recognises.
absl::Status ToolsMissingError(const EmulatorTools& tools,
                               std::string_view problem) {
  std::string command = "scripts/install-test-tools.sh";
  if (const std::string tools_dir = ToolsDirOf(tools); !tools_dir.empty()) {
    command = StrCat("DEKMS_TEST_TOOLS_DIR=", tools_dir, " ", command);
  }
  absl::Status status =
      absl::FailedPreconditionError(StrCat(problem, "; run ", command));
  status.SetPayload(kToolsMissingPayloadUrl, absl::Cord("missing"));
  return status;
}

// Returns the path of `script` after checking that it and the interpreter
// exist.
absl::StatusOr<std::string> FindScript(const EmulatorTools& tools,
                                       std::string_view script) {
  if (access(tools.python.c_str(), X_OK) != 0) {
    return ToolsMissingError(tools, StrCat("test emulator interpreter ",
                                           tools.python, " not found"));
  }
  std::string path = StrCat(tools.emulators_dir, "/", script);
  if (access(path.c_str(), R_OK) != 0) {
    return absl::NotFoundError(StrCat("emulator script ", path, " not found"));
  }
  return path;
}

// Stops `process` by closing its stdin, which makes the emulators exit, and
// by SIGTERM, then waits for it.
void StopEmulator(Subprocess& process) {
  process.CloseStdin();
  process.Signal(SIGTERM);
  static_cast<void>(process.Wait(kStopTimeout));
}

// Starts `script` with `args` and waits for the stdout line that starts
// with `last_prefix`, the last one it prints when ready.
absl::StatusOr<std::unique_ptr<Subprocess>> StartEmulator(
    const EmulatorTools& tools, std::string_view script,
    const std::vector<std::string>& args, std::string_view last_prefix) {
  DEKMS_ASSIGN_OR_RETURN(const std::string path, FindScript(tools, script));
  std::vector<std::string> argv = {tools.python, path, "--exit-on-stdin-eof"};
  argv.insert(argv.end(), args.begin(), args.end());
  DEKMS_ASSIGN_OR_RETURN(std::unique_ptr<Subprocess> process,
                         Subprocess::Start(argv, {"PYTHONUNBUFFERED=1"},
                                           Subprocess::Stdin::kPipe));
  if (process->WaitForStdoutLine(last_prefix, kStartTimeout).has_value()) {
    return process;
  }

  // The emulator exited or did not get ready in time. Closing stdin ends a
  // slow one, and Wait() kills one that still runs.
  process->CloseStdin();
  const absl::StatusOr<int> exit_code = process->Wait(kStopTimeout);
  if (exit_code.ok() && *exit_code == kExitMotoMissing) {
    return ToolsMissingError(
        tools, StrCat(script, " cannot import moto with ", tools.python));
  }
  const std::string output = StrCat("\nstdout:\n", process->stdout_text(),
                                    "\nstderr:\n", process->stderr_text());
  if (exit_code.ok()) {
    return absl::InternalError(StrCat(script, " exited with code ", *exit_code,
                                      " before it was ready", output));
  }
  return absl::DeadlineExceededError(StrCat(script, " was not ready within ",
                                            absl::FormatDuration(kStartTimeout),
                                            output));
}

// Returns the URL of the emulator's `READY <url>` line.
absl::StatusOr<std::string> ReadyEndpoint(Subprocess& process) {
  const std::optional<std::string> line =
      process.WaitForStdoutLine(kReadyPrefix, absl::ZeroDuration());
  if (!line.has_value()) {
    return absl::InternalError(StrCat(
        "emulator printed no READY line; stdout:\n", process.stdout_text()));
  }
  return line->substr(kReadyPrefix.size());
}

size_t AppendToString(char* data, size_t size, size_t count, void* sink) {
  static_cast<std::string*>(sink)->append(data, size * count);
  return size * count;
}

// Percent-encodes everything but RFC 3986 unreserved characters.
std::string UrlEncode(std::string_view text) {
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

std::string FaultKindName(Fault::Kind kind) {
  switch (kind) {
    case Fault::Kind::kStatus:
      return "status";
    case Fault::Kind::kDelay:
      return "delay";
    case Fault::Kind::kReset:
      return "reset";
    case Fault::Kind::kForwardThenReset:
      return "forward_reset";
  }
  return "unknown";
}

// Returns a TCP port on 127.0.0.1 that was free a moment ago.
absl::StatusOr<int> PickFreeLoopbackPort() {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return absl::InternalError(StrCat("socket: ", std::strerror(errno)));
  }
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(address);
  if (bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    const int error = errno;
    close(fd);
    return absl::InternalError(
        StrCat("cannot bind a loopback socket: ", std::strerror(error)));
  }
  close(fd);
  return ntohs(address.sin_port);
}

// Waits until GET <endpoint>/storage/v1/b returns 200 or `deadline`
// passes. Returns whether it did.
bool WaitForFakeGcsServer(const std::string& endpoint, absl::Time deadline) {
  while (true) {
    const TestHttpResponse response =
        SendTestHttpRequest("GET", StrCat(endpoint, "/storage/v1/b"), {});
    if (response.status == 200) {
      return true;
    }
    if (absl::Now() >= deadline) {
      return false;
    }
    absl::SleepFor(absl::Milliseconds(50));
  }
}

// The result of one attempt to start fake-gcs-server on a chosen port.
struct FakeGcsAttempt {
  absl::StatusOr<std::unique_ptr<FakeGcsServer>> server;
  // The server could not bind its port, so another port may work.
  bool port_taken = false;
};

FakeGcsAttempt StartFakeGcsServerOnPort(const std::string& binary, int port) {
  const std::string port_text = StrCat(port);
  const std::string host_port = StrCat("127.0.0.1:", port);
  // -public-host replaces storage.googleapis.com as the Host header that the
  // XML API routes match. The JSON API routes match any Host header.
  absl::StatusOr<std::unique_ptr<Subprocess>> started =
      Subprocess::Start({kSetprivPath, "--pdeathsig", "KILL", binary, "-scheme",
                         "http", "-host", "127.0.0.1", "-port", port_text,
                         "-backend", "memory", "-public-host", host_port});
  if (!started.ok()) {
    return {started.status()};
  }
  std::unique_ptr<Subprocess> process = *std::move(started);
  const std::string endpoint = StrCat("http://", host_port);

  const absl::Time deadline = absl::Now() + kStartTimeout;
  if (process->WaitForStderr(kFakeGcsStartedText, kStartTimeout) &&
      WaitForFakeGcsServer(endpoint, deadline)) {
    return {std::make_unique<FakeGcsServer>(std::move(process), endpoint)};
  }

  // The server exited or did not serve in time. SIGTERM stops it, and
  // Wait() kills one that still runs.
  const bool timed_out = absl::Now() >= deadline;
  StopEmulator(*process);
  const std::string log = process->stderr_text();
  const std::string output =
      StrCat("\nstdout:\n", process->stdout_text(), "\nstderr:\n", log);
  if (timed_out) {
    return {absl::DeadlineExceededError(
        StrCat("fake-gcs-server on port ", port, " was not ready within ",
               absl::FormatDuration(kStartTimeout), output))};
  }
  FakeGcsAttempt attempt{
      absl::InternalError(StrCat("fake-gcs-server on port ", port,
                                 " exited before it was ready", output))};
  attempt.port_taken = log.find("address already in use") != std::string::npos;
  return attempt;
}

// Sends a control request to the proxy and returns the response body.
absl::StatusOr<std::string> SendControlRequest(std::string_view method,
                                               const std::string& url) {
  const TestHttpResponse response = SendTestHttpRequest(method, url, {});
  if (response.curl_code != CURLE_OK) {
    return absl::UnavailableError(StrCat("fault proxy control request ", method,
                                         " ", url,
                                         " failed: ", response.curl_error));
  }
  if (response.status != 200) {
    return absl::InvalidArgumentError(
        StrCat("fault proxy control request ", method, " ", url,
               " returned HTTP ", response.status, ": ", response.body));
  }
  return response.body;
}

}  // namespace

bool IsTestToolsMissing(const absl::Status& status) {
  return status.GetPayload(kToolsMissingPayloadUrl).has_value();
}

bool IsContinuousIntegration() {
  const char* value = std::getenv("CI");
  return value != nullptr && std::string_view(value) == "true";
}

MotoServer::MotoServer(std::unique_ptr<Subprocess> process,
                       std::string endpoint, std::string access_key_id,
                       std::string secret_access_key)
    : process_(std::move(process)),
      endpoint_(std::move(endpoint)),
      access_key_id_(std::move(access_key_id)),
      secret_access_key_(std::move(secret_access_key)) {}

MotoServer::~MotoServer() { StopEmulator(*process_); }

absl::StatusOr<std::unique_ptr<MotoServer>> StartMotoServer(
    const EmulatorTools& tools) {
  DEKMS_ASSIGN_OR_RETURN(
      std::unique_ptr<Subprocess> process,
      StartEmulator(tools, "moto_launcher.py", {}, kCredentialsPrefix));
  absl::StatusOr<std::string> endpoint = ReadyEndpoint(*process);
  if (!endpoint.ok()) {
    StopEmulator(*process);
    return endpoint.status();
  }

  // The line is "CREDENTIALS <access key id> <secret access key>".
  const std::string line =
      process->WaitForStdoutLine(kCredentialsPrefix, absl::ZeroDuration())
          .value_or("");
  std::istringstream fields(line.substr(kCredentialsPrefix.size()));
  std::string access_key_id;
  std::string secret_access_key;
  fields >> access_key_id >> secret_access_key;
  if (access_key_id.empty() || secret_access_key.empty()) {
    StopEmulator(*process);
    return absl::InternalError(
        "moto_launcher.py printed a CREDENTIALS line without a key pair");
  }
  return std::make_unique<MotoServer>(std::move(process), *std::move(endpoint),
                                      std::move(access_key_id),
                                      std::move(secret_access_key));
}

FakeGcsServer::FakeGcsServer(std::unique_ptr<Subprocess> process,
                             std::string endpoint)
    : process_(std::move(process)), endpoint_(std::move(endpoint)) {}

FakeGcsServer::~FakeGcsServer() { StopEmulator(*process_); }

absl::StatusOr<std::unique_ptr<FakeGcsServer>> StartFakeGcsServer(
    const EmulatorTools& tools) {
  const std::string binary = StrCat(tools.bin_dir, "/fake-gcs-server");
  if (access(binary.c_str(), X_OK) != 0) {
    return ToolsMissingError(tools,
                             StrCat("fake-gcs-server not found at ", binary));
  }
  if (access(kSetprivPath, X_OK) != 0) {
    return absl::FailedPreconditionError(
        StrCat(kSetprivPath, " not found; install the util-linux package"));
  }
  absl::Status last_error;
  for (int attempt = 0; attempt < kPortAttempts; ++attempt) {
    DEKMS_ASSIGN_OR_RETURN(const int port, PickFreeLoopbackPort());
    FakeGcsAttempt result = StartFakeGcsServerOnPort(binary, port);
    if (result.server.ok() || !result.port_taken) {
      return std::move(result.server);
    }
    last_error = result.server.status();
  }
  return last_error;
}

Fault Fault::Status(int status, int count) {
  Fault fault;
  fault.kind = Kind::kStatus;
  fault.status = status;
  fault.count = count;
  return fault;
}

Fault Fault::Delay(absl::Duration delay, int count) {
  Fault fault;
  fault.kind = Kind::kDelay;
  fault.delay = delay;
  fault.count = count;
  return fault;
}

Fault Fault::Reset(int count) {
  Fault fault;
  fault.kind = Kind::kReset;
  fault.count = count;
  return fault;
}

Fault Fault::ForwardThenReset(int count) {
  Fault fault;
  fault.kind = Kind::kForwardThenReset;
  fault.count = count;
  return fault;
}

FaultProxy::FaultProxy(std::unique_ptr<Subprocess> process,
                       std::string endpoint)
    : process_(std::move(process)), endpoint_(std::move(endpoint)) {}

FaultProxy::~FaultProxy() { StopEmulator(*process_); }

absl::Status FaultProxy::QueueFault(const Fault& fault) {
  std::string url =
      StrCat(endpoint_, "/__fault__/queue?kind=", FaultKindName(fault.kind),
             "&count=", fault.count);
  if (!fault.method.empty()) {
    url += StrCat("&method=", UrlEncode(fault.method));
  }
  if (!fault.target.empty()) {
    url += StrCat("&target=", UrlEncode(fault.target));
  }
  if (!fault.path_contains.empty()) {
    url += StrCat("&path=", UrlEncode(fault.path_contains));
  }
  switch (fault.kind) {
    case Fault::Kind::kStatus:
      url += StrCat("&status=", fault.status);
      if (!fault.error_code.empty()) {
        url += StrCat("&error_code=", UrlEncode(fault.error_code));
      }
      if (fault.retry_after_seconds >= 0) {
        url += StrCat("&retry_after=", fault.retry_after_seconds);
      }
      break;
    case Fault::Kind::kDelay:
      url += StrCat("&delay_ms=", absl::ToInt64Milliseconds(fault.delay));
      break;
    case Fault::Kind::kReset:
    case Fault::Kind::kForwardThenReset:
      break;
  }
  return SendControlRequest("POST", url).status();
}

absl::StatusOr<FaultProxyCounters> FaultProxy::Counters() {
  DEKMS_ASSIGN_OR_RETURN(
      const std::string body,
      SendControlRequest("GET", StrCat(endpoint_, "/__fault__/counters")));
  // Lines are "<name> <n>", or "method <method> <n>", "target <target> <n>"
  // and "path <path> <n>", whose keys contain no whitespace.
  FaultProxyCounters counters;
  std::istringstream lines(body);
  std::string line;
  while (std::getline(lines, line)) {
    std::istringstream fields(line);
    std::string name;
    std::string key;
    int value = 0;
    fields >> name;
    if (name == "method" || name == "target" || name == "path") {
      fields >> key;
    }
    if (!(fields >> value)) {
      return absl::InternalError(
          StrCat("fault proxy sent an invalid counter line: ", line));
    }
    if (name == "total") {
      counters.total = value;
    } else if (name == "forwarded") {
      counters.forwarded = value;
    } else if (name == "faults_applied") {
      counters.faults_applied = value;
    } else if (name == "faults_pending") {
      counters.faults_pending = value;
    } else if (name == "method") {
      counters.by_method[key] = value;
    } else if (name == "target") {
      counters.by_target[key] = value;
    } else if (name == "path") {
      counters.by_path[key] = value;
    }
  }
  return counters;
}

absl::Status FaultProxy::Clear() {
  return SendControlRequest("POST", StrCat(endpoint_, "/__fault__/clear"))
      .status();
}

absl::StatusOr<std::unique_ptr<FaultProxy>> StartFaultProxy(
    const EmulatorTools& tools, std::string_view upstream_url) {
  DEKMS_ASSIGN_OR_RETURN(
      std::unique_ptr<Subprocess> process,
      StartEmulator(tools, "fault_proxy.py", {std::string(upstream_url)},
                    kReadyPrefix));
  absl::StatusOr<std::string> endpoint = ReadyEndpoint(*process);
  if (!endpoint.ok()) {
    StopEmulator(*process);
    return endpoint.status();
  }
  return std::make_unique<FaultProxy>(std::move(process), *std::move(endpoint));
}

TestHttpResponse SendTestHttpRequest(std::string_view method,
                                     const std::string& url,
                                     const std::vector<std::string>& headers,
                                     std::string_view body) {
  // Runs once, before the first handle, as libcurl requires.
  static const CURLcode global_init = curl_global_init(CURL_GLOBAL_DEFAULT);
  TestHttpResponse response;
  if (global_init != CURLE_OK) {
    response.curl_code = global_init;
    response.curl_error = curl_easy_strerror(global_init);
    return response;
  }
  CURL* curl = curl_easy_init();
  if (curl == nullptr) {
    response.curl_code = CURLE_FAILED_INIT;
    response.curl_error = "curl_easy_init failed";
    return response;
  }

  const std::string method_text(method);
  curl_slist* header_list = nullptr;
  for (const std::string& header : headers) {
    header_list = curl_slist_append(header_list, header.c_str());
  }
  // Without this, libcurl waits for 100 Continue before larger bodies.
  header_list = curl_slist_append(header_list, "Expect:");
  char error_buffer[CURL_ERROR_SIZE] = {};

  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_PROXY, "");
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, kHttpTimeoutMs);
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error_buffer);
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, header_list);
  if (method_text == "HEAD") {
    curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
  } else {
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method_text.c_str());
  }
  if (!body.empty() || method_text == "POST" || method_text == "PUT") {
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE,
                     static_cast<curl_off_t>(body.size()));
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.empty() ? "" : body.data());
  }
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, AppendToString);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &response.body);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, AppendToString);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &response.headers);

  const CURLcode result = curl_easy_perform(curl);
  response.curl_code = result;
  if (result != CURLE_OK) {
    response.curl_error = error_buffer[0] != '\0'
                              ? std::string(error_buffer)
                              : std::string(curl_easy_strerror(result));
  }
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &response.status);
  curl_slist_free_all(header_list);
  curl_easy_cleanup(curl);
  return response;
}

}  // namespace dekms::testing
