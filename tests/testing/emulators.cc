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
#include <filesystem>
#include <fstream>
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
// coreutils' env, which starts Azurite without the environment variables
// that would change its accounts or storage.
constexpr char kEnvPath[] = "/usr/bin/env";
// Azurite prints this line on stdout once its server listens.
constexpr std::string_view kAzuriteListeningText =
    "Azurite Blob service successfully listens on ";
// Node.js prints this when Azurite cannot bind its port.
constexpr std::string_view kAddressInUseText = "EADDRINUSE";
// env, which runs node for azurite-blob's `#!/usr/bin/env node` line, exits
// with this code when node is not on the PATH.
constexpr int kExitCommandNotFound = 127;
// Azurite's well-known account key, published by Microsoft for the
// emulator.
constexpr char kAzuriteAccountKey[] =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/"
    "K1SZFPTOtr/KBHBeksoGMGw==";

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

void RemoveDirectory(const std::string& directory) {
  std::error_code error;
  std::filesystem::remove_all(directory, error);
}

// Returns a new private directory named after `prefix`.
absl::StatusOr<std::string> MakeTempDirectory(std::string_view prefix) {
  std::error_code error;
  const std::filesystem::path base =
      std::filesystem::temp_directory_path(error);
  if (error) {
    return absl::InternalError(
        StrCat("no temporary directory: ", error.message()));
  }
  std::string pattern = (base / StrCat(prefix, "-XXXXXX")).string();
  if (mkdtemp(pattern.data()) == nullptr) {
    return absl::InternalError(
        StrCat("mkdtemp ", pattern, " failed: ", std::strerror(errno)));
  }
  return pattern;
}

// Returns the path of the executable `name` in a directory of $PATH.
std::optional<std::string> FindOnPath(std::string_view name) {
  const char* path = std::getenv("PATH");
  std::istringstream directories(path == nullptr ? "" : path);
  std::string directory;
  while (std::getline(directories, directory, ':')) {
    if (directory.empty()) continue;
    std::string candidate = StrCat(directory, "/", name);
    if (access(candidate.c_str(), X_OK) == 0) {
      return candidate;
    }
  }
  return std::nullopt;
}

// Writes a self-signed certificate for 127.0.0.1 (a P-256 key, valid for
// one day) to `cert` and its key to `key` with the openssl command.
absl::Status WriteSelfSignedCertificate(const std::string& cert,
                                        const std::string& key) {
  const std::optional<std::string> openssl = FindOnPath("openssl");
  if (!openssl.has_value()) {
    return absl::FailedPreconditionError(
        "the openssl command is not on the PATH; install the openssl package");
  }
  DEKMS_ASSIGN_OR_RETURN(
      const ProcessResult result,
      RunProcess({*openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt",
                  "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key,
                  "-out", cert, "-days", "1", "-subj", "/CN=127.0.0.1",
                  "-addext", "subjectAltName=IP:127.0.0.1"},
                 {}, kStartTimeout));
  if (result.exit_code != 0) {
    return absl::InternalError(
        StrCat("openssl req exited with code ", result.exit_code,
               " while generating a certificate: ", result.stderr_text));
  }
  return absl::OkStatus();
}

// The result of one attempt to start Azurite on a chosen port.
struct AzuriteAttempt {
  absl::StatusOr<std::unique_ptr<Subprocess>> process;
  // Azurite could not bind its port, so another port may work.
  bool port_taken = false;
  // env found no node to run azurite-blob with.
  bool node_missing = false;
};

// Starts azurite-blob on 127.0.0.1:`port` with `flags` after the common
// ones, and waits until it listens.
AzuriteAttempt StartAzuriteOnPort(const std::string& binary, int port,
                                  const std::vector<std::string>& flags) {
  // env -u keeps Azurite on its default account and on in-memory storage:
  // AZURITE_ACCOUNTS replaces the accounts, and AZURITE_DB, even when
  // empty, selects SQL storage. Without --disableTelemetry, Azurite sends
  // usage data to Microsoft.
  std::vector<std::string> argv = {kEnvPath,
                                   "-u",
                                   "AZURITE_ACCOUNTS",
                                   "-u",
                                   "AZURITE_DB",
                                   kSetprivPath,
                                   "--pdeathsig",
                                   "KILL",
                                   binary,
                                   "--blobHost",
                                   "127.0.0.1",
                                   "--blobPort",
                                   StrCat(port),
                                   "--inMemoryPersistence",
                                   "--disableTelemetry"};
  argv.insert(argv.end(), flags.begin(), flags.end());
  absl::StatusOr<std::unique_ptr<Subprocess>> started = Subprocess::Start(argv);
  if (!started.ok()) {
    return {started.status()};
  }
  std::unique_ptr<Subprocess> process = *std::move(started);
  const absl::Time deadline = absl::Now() + kStartTimeout;
  if (process->WaitForStdoutLine(kAzuriteListeningText, kStartTimeout)
          .has_value()) {
    return {std::move(process)};
  }

  // Azurite exited or did not listen in time. SIGTERM stops it, and Wait()
  // kills one that still runs.
  const bool timed_out = absl::Now() >= deadline;
  process->Signal(SIGTERM);
  const absl::StatusOr<int> exit_code = process->Wait(kStopTimeout);
  const std::string output = StrCat("\nstdout:\n", process->stdout_text(),
                                    "\nstderr:\n", process->stderr_text());
  if (timed_out) {
    return {absl::DeadlineExceededError(
        StrCat("azurite-blob on port ", port, " did not listen within ",
               absl::FormatDuration(kStartTimeout), output))};
  }
  if (!exit_code.ok()) {
    return {exit_code.status()};
  }
  AzuriteAttempt attempt{absl::InternalError(
      StrCat("azurite-blob on port ", port, " exited with code ", *exit_code,
             " before it listened", output))};
  attempt.port_taken = output.find(kAddressInUseText) != std::string::npos;
  attempt.node_missing = *exit_code == kExitCommandNotFound;
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

AzuriteServer::AzuriteServer(std::unique_ptr<Subprocess> process,
                             std::string endpoint, std::string temp_dir,
                             std::string ca_file, std::string debug_log_path)
    : process_(std::move(process)),
      endpoint_(std::move(endpoint)),
      temp_dir_(std::move(temp_dir)),
      ca_file_(std::move(ca_file)),
      debug_log_path_(std::move(debug_log_path)) {}

AzuriteServer::~AzuriteServer() {
  StopEmulator(*process_);
  RemoveDirectory(temp_dir_);
}

std::string AzuriteServer::blob_endpoint() const {
  return StrCat(endpoint_, "/", account());
}

std::string AzuriteServer::https_endpoint() const {
  return ca_file_.empty() ? "" : blob_endpoint();
}

std::string AzuriteServer::account_key() { return kAzuriteAccountKey; }

std::string AzuriteServer::log_text() {
  std::string text = StrCat(process_->stdout_text(), process_->stderr_text());
  if (!debug_log_path_.empty()) {
    std::ifstream debug_log(debug_log_path_);
    std::ostringstream contents;
    contents << debug_log.rdbuf();
    text += StrCat("\ndebug log:\n", contents.str());
  }
  return text;
}

absl::StatusOr<std::unique_ptr<AzuriteServer>> StartAzurite(
    const EmulatorTools& tools, const AzuriteOptions& options) {
  const std::string binary = StrCat(tools.bin_dir, "/azurite-blob");
  if (access(binary.c_str(), X_OK) != 0) {
    return ToolsMissingError(tools,
                             StrCat("azurite-blob not found at ", binary));
  }
  if (access(kSetprivPath, X_OK) != 0) {
    return absl::FailedPreconditionError(
        StrCat(kSetprivPath, " not found; install the util-linux package"));
  }
  DEKMS_ASSIGN_OR_RETURN(std::string temp_dir,
                         MakeTempDirectory("dekms-azurite"));
  std::vector<std::string> flags;
  const std::string debug_log =
      options.debug_log ? StrCat(temp_dir, "/debug.log") : "";
  if (options.debug_log) {
    flags.insert(flags.end(), {"--debug", debug_log});
  }
  if (options.loose) {
    flags.emplace_back("--loose");
  }
  const bool https = options.mode == AzuriteOptions::Mode::kHttpsBearer;
  std::string ca_file;
  if (https) {
    ca_file = StrCat(temp_dir, "/cert.pem");
    const std::string key = StrCat(temp_dir, "/key.pem");
    if (absl::Status written = WriteSelfSignedCertificate(ca_file, key);
        !written.ok()) {
      RemoveDirectory(temp_dir);
      return written;
    }
    flags.insert(flags.end(),
                 {"--oauth", "basic", "--cert", ca_file, "--key", key});
  }

  absl::Status last_error;
  for (int attempt = 0; attempt < kPortAttempts; ++attempt) {
    const absl::StatusOr<int> port = PickFreeLoopbackPort();
    if (!port.ok()) {
      last_error = port.status();
      break;
    }
    AzuriteAttempt result = StartAzuriteOnPort(binary, *port, flags);
    if (result.process.ok()) {
      const std::string endpoint =
          StrCat(https ? "https" : "http", "://127.0.0.1:", *port);
      return std::make_unique<AzuriteServer>(*std::move(result.process),
                                             endpoint, std::move(temp_dir),
                                             std::move(ca_file), debug_log);
    }
    last_error = result.process.status();
    if (result.node_missing) {
      last_error = ToolsMissingError(
          tools, StrCat("node, which runs ", binary,
                        ", is not on the PATH: ", last_error.message()));
    }
    if (!result.port_taken) {
      break;
    }
  }
  RemoveDirectory(temp_dir);
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
                                     std::string_view body,
                                     const std::string& ca_file) {
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
  if (!ca_file.empty()) {
    curl_easy_setopt(curl, CURLOPT_CAINFO, ca_file.c_str());
    curl_easy_setopt(curl, CURLOPT_CAPATH, nullptr);
  }
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
