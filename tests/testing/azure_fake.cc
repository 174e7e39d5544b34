#include "tests/testing/azure_fake.h"

#include <curl/curl.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <system_error>
#include <utility>

#include "absl/strings/cord.h"
#include "nlohmann/json.hpp"
#include "src/base/status_macros.h"
#include "src/base/str_cat.h"
#include "tests/testing/json_fields.h"

namespace dekms::testing {
namespace {

using ::nlohmann::json;

// The payload that IsTestToolsMissing() in emulators.cc looks for, so both
// constants must stay equal.
constexpr char kToolsMissingPayloadUrl[] = "dekms.testing/test-tools-missing";
constexpr absl::Duration kStartTimeout = absl::Seconds(30);
constexpr absl::Duration kStopTimeout = absl::Seconds(10);
// azure_fake.py prints the data plane URLs on these lines before READY.
constexpr std::string_view kReadyPrefix = "READY ";
constexpr std::string_view kVaultPrefix = "VAULT ";
constexpr std::string_view kManagedHsmPrefix = "MANAGED_HSM ";
// azure_fake.py exits with this code when it cannot import cryptography.
constexpr int kExitCryptographyMissing = 3;

absl::Status ToolsMissingError(std::string_view problem) {
  absl::Status status = absl::FailedPreconditionError(
      StrCat(problem, "; run scripts/install-test-tools.sh"));
  status.SetPayload(kToolsMissingPayloadUrl, absl::Cord("missing"));
  return status;
}

// Stops `process` by closing its stdin, which makes the fake exit, and by
// SIGTERM, then waits for it.
void StopFake(Subprocess& process) {
  process.CloseStdin();
  process.Signal(SIGTERM);
  static_cast<void>(process.Wait(kStopTimeout));
}

void RemoveDirectory(const std::string& directory) {
  std::error_code error;
  std::filesystem::remove_all(directory, error);
}

// Returns a new private directory for the credentials and TLS files.
absl::StatusOr<std::string> MakeTempDirectory() {
  std::error_code error;
  const std::filesystem::path base =
      std::filesystem::temp_directory_path(error);
  if (error) {
    return absl::InternalError(
        StrCat("no temporary directory: ", error.message()));
  }
  std::string pattern = (base / "dekms-azure-fake-XXXXXX").string();
  if (mkdtemp(pattern.data()) == nullptr) {
    return absl::InternalError(StrCat("mkdtemp ", pattern, " failed"));
  }
  return pattern;
}

std::string VaultName(AzureVault vault) {
  return vault == AzureVault::kManagedHsm ? "managedhsm" : "vault";
}

std::string OperationName(AzureFault::Operation operation) {
  switch (operation) {
    case AzureFault::Operation::kToken:
      return "token";
    case AzureFault::Operation::kImds:
      return "imds";
    case AzureFault::Operation::kGet:
      return "get";
    case AzureFault::Operation::kWrap:
      return "wrap";
    case AzureFault::Operation::kUnwrap:
      return "unwrap";
  }
  return "unknown";
}

absl::StatusOr<AzureKeyVersion> ParseKeyVersion(const std::string& body,
                                                std::string_view what) {
  DEKMS_ASSIGN_OR_RETURN(const json response,
                         ParseJsonObject(body, "azure_fake.py", what));
  AzureKeyVersion version;
  version.name = JsonStringField(response, "name");
  version.kid = JsonStringField(response, "kid");
  version.version = JsonStringField(response, "version");
  if (version.kid.empty() || version.version.empty()) {
    return absl::InternalError(
        StrCat("azure_fake.py sent no kid or version for ", what, ": ", body));
  }
  return version;
}

AzureRequestRecord ParseRecord(const json& entry) {
  AzureRequestRecord record;
  record.sequence = JsonIntField(entry, "seq");
  record.role = JsonStringField(entry, "role");
  record.method = JsonStringField(entry, "method");
  record.operation = JsonStringField(entry, "operation");
  record.key = JsonStringField(entry, "key");
  record.version = JsonStringField(entry, "version");
  record.alg = JsonStringField(entry, "alg");
  record.api_version = JsonStringField(entry, "api_version");
  record.authorization = JsonStringField(entry, "authorization");
  record.tenant = JsonStringField(entry, "tenant");
  record.client_id = JsonStringField(entry, "client_id");
  record.scope = JsonStringField(entry, "scope");
  record.credential = JsonStringField(entry, "credential");
  record.resource = JsonStringField(entry, "resource");
  record.status = JsonIntField(entry, "status");
  // Entra ID and IMDS errors name the error in "error", the data planes in
  // "error_code".
  record.error_code = JsonStringField(entry, "error_code");
  if (record.role == "entra" || record.role == "imds") {
    record.error_code = JsonStringField(entry, "error");
  }
  // Entra ID entries keep the AADSTS number in "error_code".
  if (record.role == "entra") {
    record.aadsts_code = JsonIntField(entry, "error_code");
  }
  record.inner_error = JsonStringField(entry, "inner_error");
  record.fault = JsonStringField(entry, "fault");
  return record;
}

// Reads the credentials file that azure_fake.py wrote.
absl::StatusOr<AzureFake::Identity> ReadIdentity(const std::string& path) {
  std::ifstream file(path);
  if (!file) {
    return absl::InternalError(
        StrCat("azure_fake.py wrote no credentials file ", path));
  }
  std::stringstream contents;
  contents << file.rdbuf();
  DEKMS_ASSIGN_OR_RETURN(
      const json document,
      ParseJsonObject(contents.str(), "azure_fake.py", "the credentials file"));
  AzureFake::Identity identity;
  identity.tenant_id = JsonStringField(document, "tenant_id");
  identity.client_id = JsonStringField(document, "client_id");
  identity.client_secret = JsonStringField(document, "client_secret");
  identity.managed_identity_client_id =
      JsonStringField(document, "managed_identity_client_id");
  if (identity.tenant_id.empty() || identity.client_id.empty() ||
      identity.client_secret.empty()) {
    return absl::InternalError(StrCat("credentials file ", path,
                                      " lacks tenant_id, client_id or "
                                      "client_secret"));
  }
  return identity;
}

// Returns the URL of the stdout line that starts with `prefix`.
absl::StatusOr<std::string> PrintedUrl(Subprocess& process,
                                       std::string_view prefix) {
  const std::optional<std::string> line =
      process.WaitForStdoutLine(prefix, absl::ZeroDuration());
  if (!line.has_value()) {
    return absl::InternalError(StrCat("azure_fake.py printed no ", prefix,
                                      "line; stdout:\n",
                                      process.stdout_text()));
  }
  return line->substr(prefix.size());
}

// What a fake that printed READY reports: its URLs and its default identity.
struct FakeSetup {
  AzureFake::Endpoints endpoints;
  AzureFake::Identity identity;
};

absl::StatusOr<FakeSetup> ReadFakeSetup(Subprocess& process,
                                        const std::string& credentials_path) {
  FakeSetup setup;
  DEKMS_ASSIGN_OR_RETURN(setup.endpoints.main,
                         PrintedUrl(process, kReadyPrefix));
  DEKMS_ASSIGN_OR_RETURN(setup.endpoints.vault,
                         PrintedUrl(process, kVaultPrefix));
  DEKMS_ASSIGN_OR_RETURN(setup.endpoints.managed_hsm,
                         PrintedUrl(process, kManagedHsmPrefix));
  DEKMS_ASSIGN_OR_RETURN(setup.identity, ReadIdentity(credentials_path));
  return setup;
}

}  // namespace

AzureFault AzureFault::Status(Operation operation, int status, int count) {
  AzureFault fault;
  fault.operation = operation;
  fault.status = status;
  fault.count = count;
  return fault;
}

AzureFake::AzureFake(std::unique_ptr<Subprocess> process, Endpoints endpoints,
                     Identity identity, std::string directory,
                     std::string ca_file)
    : process_(std::move(process)),
      endpoints_(std::move(endpoints)),
      identity_(std::move(identity)),
      directory_(std::move(directory)),
      ca_file_(std::move(ca_file)) {}

AzureFake::~AzureFake() {
  StopFake(*process_);
  RemoveDirectory(directory_);
}

std::string AzureFake::token_url() const {
  return StrCat(endpoints_.main, "/", identity_.tenant_id,
                "/oauth2/v2.0/token");
}

absl::StatusOr<std::string> AzureFake::Control(std::string_view method,
                                               std::string_view path,
                                               const std::string& body) {
  const std::string url = StrCat(endpoints_.main, "/__control__/", path);
  const TestHttpResponse response = SendTestHttpRequest(
      method, url, {"Content-Type: application/json"}, body);
  if (response.curl_code != CURLE_OK) {
    return absl::UnavailableError(StrCat("azure_fake.py control request ",
                                         method, " ", url,
                                         " failed: ", response.curl_error));
  }
  if (response.status != 200) {
    return absl::InvalidArgumentError(
        StrCat("azure_fake.py control request ", method, " ", url,
               " returned HTTP ", response.status, ": ", response.body));
  }
  return response.body;
}

absl::StatusOr<AzureKeyVersion> AzureFake::CreateKey(const AzureKeySpec& spec) {
  json request = {
      {"name", spec.name},       {"vault", VaultName(spec.vault)},
      {"kty", spec.kty},         {"key_ops", spec.key_ops},
      {"enabled", spec.enabled}, {"deny", spec.deny},
  };
  if (spec.size != 0) {
    request["size"] = spec.size;
  }
  DEKMS_ASSIGN_OR_RETURN(const std::string body,
                         Control("POST", "keys", request.dump()));
  return ParseKeyVersion(body, "keys");
}

absl::StatusOr<AzureKeyVersion> AzureFake::Rotate(AzureVault vault,
                                                  std::string_view name) {
  const json request = {{"name", std::string(name)},
                        {"vault", VaultName(vault)}};
  DEKMS_ASSIGN_OR_RETURN(const std::string body,
                         Control("POST", "rotate", request.dump()));
  return ParseKeyVersion(body, "rotate");
}

absl::Status AzureFake::SetVersionEnabled(AzureVault vault,
                                          std::string_view name,
                                          std::string_view version,
                                          bool enabled) {
  const json request = {{"name", std::string(name)},
                        {"vault", VaultName(vault)},
                        {"version", std::string(version)},
                        {"enabled", enabled}};
  return Control("POST", "version-state", request.dump()).status();
}

absl::Status AzureFake::SetDenied(AzureVault vault, std::string_view name,
                                  bool deny) {
  const json request = {
      {"name", std::string(name)}, {"vault", VaultName(vault)}, {"deny", deny}};
  return Control("POST", "deny", request.dump()).status();
}

absl::Status AzureFake::RegisterClient(std::string_view tenant_id,
                                       std::string_view client_id,
                                       std::string_view client_secret) {
  const json request = {{"tenant_id", std::string(tenant_id)},
                        {"client_id", std::string(client_id)},
                        {"client_secret", std::string(client_secret)}};
  return Control("POST", "clients", request.dump()).status();
}

absl::StatusOr<std::string> AzureFake::RegisterFederatedToken(
    const AzureFederatedTokenSpec& spec) {
  return FederatedTokenControl("federated-credentials", spec);
}

absl::StatusOr<std::string> AzureFake::RotateFederatedToken(
    const AzureFederatedTokenSpec& spec) {
  return FederatedTokenControl("rotate-federated-token", spec);
}

absl::StatusOr<std::string> AzureFake::FederatedTokenControl(
    std::string_view path, const AzureFederatedTokenSpec& spec) {
  json request = {{"lifetime", spec.lifetime_seconds}};
  if (!spec.tenant_id.empty() || !spec.client_id.empty()) {
    request["tenant_id"] = spec.tenant_id;
    request["client_id"] = spec.client_id;
  }
  if (!spec.token.empty()) {
    request["token"] = spec.token;
  }
  DEKMS_ASSIGN_OR_RETURN(const std::string body,
                         Control("POST", path, request.dump()));
  DEKMS_ASSIGN_OR_RETURN(const json response,
                         ParseJsonObject(body, "azure_fake.py", path));
  std::string token = JsonStringField(response, "token");
  if (token.empty()) {
    // The body contains no token, so it can go into the message.
    return absl::InternalError(StrCat(
        "azure_fake.py returned no federated token for ", path, ": ", body));
  }
  return token;
}

absl::Status AzureFake::SetApiVersions(
    const std::vector<std::string>& versions) {
  const json request = {{"api_versions", versions}};
  return Control("POST", "config", request.dump()).status();
}

absl::Status AzureFake::QueueFault(const AzureFault& fault) {
  json request = {
      {"operation", OperationName(fault.operation)},
      {"status", fault.status},
      {"count", fault.count},
  };
  if (fault.retry_after_seconds >= 0) {
    request["retry_after"] = fault.retry_after_seconds;
  }
  if (!fault.code.empty()) {
    request["code"] = fault.code;
  }
  if (!fault.message.empty()) {
    request["message"] = fault.message;
  }
  return Control("POST", "faults", request.dump()).status();
}

absl::Status AzureFake::ClearFaults() {
  return Control("DELETE", "faults", "").status();
}

absl::StatusOr<std::string> AzureFake::IssueAccessToken(
    std::string_view resource) {
  const json request = {{"resource", std::string(resource)}};
  DEKMS_ASSIGN_OR_RETURN(const std::string body,
                         Control("POST", "issue-token", request.dump()));
  DEKMS_ASSIGN_OR_RETURN(const json response,
                         ParseJsonObject(body, "azure_fake.py", "issue-token"));
  std::string token = JsonStringField(response, "access_token");
  if (token.empty()) {
    return absl::InternalError("azure_fake.py issued no access token");
  }
  return token;
}

absl::Status AzureFake::ExpireTokens() {
  return Control("POST", "expire-tokens", "{}").status();
}

absl::StatusOr<std::vector<AzureRequestRecord>> AzureFake::Requests() {
  DEKMS_ASSIGN_OR_RETURN(const std::string body,
                         Control("GET", "requests", ""));
  DEKMS_ASSIGN_OR_RETURN(const json response,
                         ParseJsonObject(body, "azure_fake.py", "requests"));
  const auto entries = response.find("requests");
  if (entries == response.end() || !entries->is_array()) {
    return absl::InternalError(
        StrCat("azure_fake.py sent no request list: ", body));
  }
  std::vector<AzureRequestRecord> records;
  for (const json& entry : *entries) {
    if (entry.is_object()) {
      records.push_back(ParseRecord(entry));
    }
  }
  return records;
}

absl::Status AzureFake::ClearRequests() {
  return Control("DELETE", "requests", "").status();
}

absl::StatusOr<AzureFakeCounters> AzureFake::Counters() {
  DEKMS_ASSIGN_OR_RETURN(const std::string body, Control("GET", "state", ""));
  DEKMS_ASSIGN_OR_RETURN(const json response,
                         ParseJsonObject(body, "azure_fake.py", "state"));
  const auto counters = response.find("counters");
  if (counters == response.end() || !counters->is_object()) {
    return absl::InternalError(
        StrCat("azure_fake.py sent no counters: ", body));
  }
  AzureFakeCounters result;
  result.requests = JsonIntField(*counters, "requests");
  result.entra_tokens = JsonIntField(*counters, "entra_tokens");
  result.imds_tokens = JsonIntField(*counters, "imds_tokens");
  result.control_tokens = JsonIntField(*counters, "control_tokens");
  result.faults_pending = JsonIntField(response, "faults_pending");
  return result;
}

absl::StatusOr<std::unique_ptr<AzureFake>> StartAzureFake(
    const EmulatorTools& tools, const AzureFakeOptions& options) {
  if (access(tools.python.c_str(), X_OK) != 0) {
    return ToolsMissingError(
        StrCat("test emulator interpreter ", tools.python, " not found"));
  }
  // The fake lives beside the emulators, in tests/fakes.
  const std::string script =
      StrCat(tools.emulators_dir, "/../fakes/azure_fake.py");
  if (access(script.c_str(), R_OK) != 0) {
    return absl::NotFoundError(StrCat("fake script ", script, " not found"));
  }

  DEKMS_ASSIGN_OR_RETURN(const std::string directory, MakeTempDirectory());
  const std::string credentials_path = StrCat(directory, "/credentials.json");
  std::vector<std::string> argv = {
      tools.python,
      script,
      "--exit-on-stdin-eof",
      "--write-credentials",
      credentials_path,
      "--token-lifetime",
      StrCat(options.token_lifetime_seconds),
  };
  std::string ca_file;
  if (options.tls) {
    argv.push_back("--generate-tls");
    argv.push_back(directory);
    ca_file = StrCat(directory, "/ca.pem");
  }

  absl::StatusOr<std::unique_ptr<Subprocess>> started =
      Subprocess::Start(argv, {"PYTHONUNBUFFERED=1"}, Subprocess::Stdin::kPipe);
  if (!started.ok()) {
    RemoveDirectory(directory);
    return started.status();
  }
  std::unique_ptr<Subprocess> process = *std::move(started);
  if (process->WaitForStdoutLine(kReadyPrefix, kStartTimeout).has_value()) {
    absl::StatusOr<FakeSetup> setup = ReadFakeSetup(*process, credentials_path);
    if (!setup.ok()) {
      StopFake(*process);
      RemoveDirectory(directory);
      return setup.status();
    }
    return std::make_unique<AzureFake>(
        std::move(process), std::move(setup->endpoints),
        std::move(setup->identity), directory, ca_file);
  }

  // The fake exited or did not get ready in time. Closing stdin ends a slow
  // one, and Wait() kills one that still runs.
  process->CloseStdin();
  const absl::StatusOr<int> exit_code = process->Wait(kStopTimeout);
  RemoveDirectory(directory);
  if (exit_code.ok() && *exit_code == kExitCryptographyMissing) {
    return ToolsMissingError(
        StrCat("azure_fake.py cannot import cryptography with ", tools.python));
  }
  const std::string output = StrCat("\nstdout:\n", process->stdout_text(),
                                    "\nstderr:\n", process->stderr_text());
  if (exit_code.ok()) {
    return absl::InternalError(StrCat("azure_fake.py exited with code ",
                                      *exit_code, " before it was ready",
                                      output));
  }
  return absl::DeadlineExceededError(
      StrCat("azure_fake.py was not ready within ",
             absl::FormatDuration(kStartTimeout), output));
}

}  // namespace dekms::testing
