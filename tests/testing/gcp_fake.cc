#include "tests/testing/gcp_fake.h"

#include <curl/curl.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <optional>
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
constexpr std::string_view kReadyPrefix = "READY ";
// gcp_fake.py exits with this code when it cannot import cryptography.
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

// Returns a new private directory for the credential files.
absl::StatusOr<std::string> MakeTempDirectory() {
  std::error_code error;
  const std::filesystem::path base =
      std::filesystem::temp_directory_path(error);
  if (error) {
    return absl::InternalError(
        StrCat("no temporary directory: ", error.message()));
  }
  std::string pattern = (base / "dekms-gcp-fake-XXXXXX").string();
  if (mkdtemp(pattern.data()) == nullptr) {
    return absl::InternalError(StrCat("mkdtemp ", pattern, " failed"));
  }
  return pattern;
}

std::string OperationName(GcpFault::Operation operation) {
  switch (operation) {
    case GcpFault::Operation::kToken:
      return "token";
    case GcpFault::Operation::kMetadataToken:
      return "metadata_token";
    case GcpFault::Operation::kGet:
      return "get";
    case GcpFault::Operation::kEncrypt:
      return "encrypt";
    case GcpFault::Operation::kDecrypt:
      return "decrypt";
  }
  return "unknown";
}

std::string KindName(GcpFault::Kind kind) {
  switch (kind) {
    case GcpFault::Kind::kStatus:
      return "status";
    case GcpFault::Kind::kCorruptChecksum:
      return "corrupt_checksum";
    case GcpFault::Kind::kCorruptData:
      return "corrupt_data";
    case GcpFault::Kind::kOmitVerified:
      return "omit_verified";
  }
  return "unknown";
}

GcpRequestRecord ParseRecord(const json& entry) {
  GcpRequestRecord record;
  record.sequence = JsonIntField(entry, "seq");
  record.role = JsonStringField(entry, "role");
  record.method = JsonStringField(entry, "method");
  record.operation = JsonStringField(entry, "operation");
  record.name = JsonStringField(entry, "name");
  record.authorization = JsonStringField(entry, "authorization");
  const auto fields = entry.find("fields");
  if (fields != entry.end() && fields->is_array()) {
    for (const json& field : *fields) {
      if (field.is_string()) {
        record.fields.push_back(field.get<std::string>());
      }
    }
  }
  const auto flavor = entry.find("metadata_flavor");
  record.metadata_flavor =
      flavor != entry.end() && flavor->is_boolean() && flavor->get<bool>();
  record.status = JsonIntField(entry, "status");
  record.error_status = JsonStringField(entry, "error_status");
  record.fault = JsonStringField(entry, "fault");
  return record;
}

}  // namespace

std::string GcpKeySpec::Name() const {
  return StrCat("projects/", project, "/locations/", location, "/keyRings/",
                key_ring, "/cryptoKeys/", key_id);
}

GcpFault GcpFault::Status(Operation operation, int status, int count) {
  GcpFault fault;
  fault.operation = operation;
  fault.kind = Kind::kStatus;
  fault.status = status;
  fault.count = count;
  return fault;
}

GcpFault GcpFault::Response(Operation operation, Kind kind, int count) {
  GcpFault fault;
  fault.operation = operation;
  fault.kind = kind;
  fault.count = count;
  return fault;
}

GcpFake::GcpFake(std::unique_ptr<Subprocess> process, std::string endpoint,
                 std::string directory, std::string service_account_path,
                 std::string authorized_user_path)
    : process_(std::move(process)),
      endpoint_(std::move(endpoint)),
      directory_(std::move(directory)),
      service_account_path_(std::move(service_account_path)),
      authorized_user_path_(std::move(authorized_user_path)) {}

GcpFake::~GcpFake() {
  StopFake(*process_);
  RemoveDirectory(directory_);
}

std::string GcpFake::metadata_host() const {
  constexpr std::string_view kScheme = "http://";
  return endpoint_.substr(kScheme.size());
}

absl::StatusOr<std::string> GcpFake::Control(std::string_view method,
                                             std::string_view path,
                                             const std::string& body) {
  const std::string url = StrCat(endpoint_, "/__control__/", path);
  const TestHttpResponse response = SendTestHttpRequest(
      method, url, {"Content-Type: application/json"}, body);
  if (response.curl_code != CURLE_OK) {
    return absl::UnavailableError(StrCat("gcp_fake.py control request ", method,
                                         " ", url,
                                         " failed: ", response.curl_error));
  }
  if (response.status != 200) {
    return absl::InvalidArgumentError(
        StrCat("gcp_fake.py control request ", method, " ", url,
               " returned HTTP ", response.status, ": ", response.body));
  }
  return response.body;
}

absl::StatusOr<std::string> GcpFake::CreateKey(const GcpKeySpec& spec) {
  json request = {
      {"name", spec.Name()},
      {"purpose", spec.purpose},
      {"protection_level", spec.protection_level},
      {"primary_state", spec.primary_state},
      {"deny", spec.deny},
  };
  if (!spec.algorithm.empty()) {
    request["algorithm"] = spec.algorithm;
  }
  DEKMS_ASSIGN_OR_RETURN(const std::string body,
                         Control("POST", "keys", request.dump()));
  DEKMS_ASSIGN_OR_RETURN(const json response,
                         ParseJsonObject(body, "gcp_fake.py", "keys"));
  return JsonStringField(response, "name");
}

absl::StatusOr<std::string> GcpFake::Rotate(std::string_view key_name) {
  const json request = {{"name", std::string(key_name)}};
  DEKMS_ASSIGN_OR_RETURN(const std::string body,
                         Control("POST", "rotate", request.dump()));
  DEKMS_ASSIGN_OR_RETURN(const json response,
                         ParseJsonObject(body, "gcp_fake.py", "rotate"));
  return JsonStringField(response, "primary");
}

absl::Status GcpFake::SetVersionState(std::string_view version_name,
                                      std::string_view state) {
  const json request = {{"name", std::string(version_name)},
                        {"state", std::string(state)}};
  return Control("POST", "version-state", request.dump()).status();
}

absl::Status GcpFake::SetDenied(std::string_view key_name, bool deny) {
  const json request = {{"name", std::string(key_name)}, {"deny", deny}};
  return Control("POST", "deny", request.dump()).status();
}

absl::Status GcpFake::SetMissingKeyStatus(int http_status) {
  const json request = {{"missing_key_status", http_status}};
  return Control("POST", "config", request.dump()).status();
}

absl::Status GcpFake::QueueFault(const GcpFault& fault) {
  json request = {
      {"operation", OperationName(fault.operation)},
      {"kind", KindName(fault.kind)},
      {"count", fault.count},
  };
  if (fault.kind == GcpFault::Kind::kStatus) {
    request["status"] = fault.status;
    if (!fault.status_name.empty()) {
      request["status_name"] = fault.status_name;
    }
    if (!fault.message.empty()) {
      request["message"] = fault.message;
    }
  }
  return Control("POST", "faults", request.dump()).status();
}

absl::Status GcpFake::ClearFaults() {
  return Control("DELETE", "faults", "").status();
}

absl::Status GcpFake::SetMetadataFlavorHeader(bool send) {
  const json request = {{"flavor_header", send}};
  return Control("POST", "metadata", request.dump()).status();
}

absl::StatusOr<std::string> GcpFake::IssueAccessToken() {
  DEKMS_ASSIGN_OR_RETURN(const std::string body,
                         Control("POST", "issue-token", "{}"));
  DEKMS_ASSIGN_OR_RETURN(const json response,
                         ParseJsonObject(body, "gcp_fake.py", "issue-token"));
  std::string token = JsonStringField(response, "access_token");
  if (token.empty()) {
    return absl::InternalError("gcp_fake.py issued no access token");
  }
  return token;
}

absl::Status GcpFake::ExpireTokens() {
  return Control("POST", "expire-tokens", "{}").status();
}

absl::StatusOr<std::vector<GcpRequestRecord>> GcpFake::Requests() {
  DEKMS_ASSIGN_OR_RETURN(const std::string body,
                         Control("GET", "requests", ""));
  DEKMS_ASSIGN_OR_RETURN(const json response,
                         ParseJsonObject(body, "gcp_fake.py", "requests"));
  const auto entries = response.find("requests");
  if (entries == response.end() || !entries->is_array()) {
    return absl::InternalError(
        StrCat("gcp_fake.py sent no request list: ", body));
  }
  std::vector<GcpRequestRecord> records;
  for (const json& entry : *entries) {
    if (entry.is_object()) {
      records.push_back(ParseRecord(entry));
    }
  }
  return records;
}

absl::Status GcpFake::ClearRequests() {
  return Control("DELETE", "requests", "").status();
}

absl::StatusOr<GcpFakeCounters> GcpFake::Counters() {
  DEKMS_ASSIGN_OR_RETURN(const std::string body, Control("GET", "state", ""));
  DEKMS_ASSIGN_OR_RETURN(const json response,
                         ParseJsonObject(body, "gcp_fake.py", "state"));
  const auto counters = response.find("counters");
  if (counters == response.end() || !counters->is_object()) {
    return absl::InternalError(StrCat("gcp_fake.py sent no counters: ", body));
  }
  GcpFakeCounters result;
  result.requests = JsonIntField(*counters, "requests");
  result.token_endpoint_tokens =
      JsonIntField(*counters, "token_endpoint_tokens");
  result.metadata_tokens = JsonIntField(*counters, "metadata_tokens");
  result.control_tokens = JsonIntField(*counters, "control_tokens");
  result.faults_pending = JsonIntField(response, "faults_pending");
  return result;
}

absl::StatusOr<std::unique_ptr<GcpFake>> StartGcpFake(
    const EmulatorTools& tools, const GcpFakeOptions& options) {
  if (access(tools.python.c_str(), X_OK) != 0) {
    return ToolsMissingError(
        StrCat("test emulator interpreter ", tools.python, " not found"));
  }
  // The fake lives beside the emulators, in tests/fakes.
  const std::string script =
      StrCat(tools.emulators_dir, "/../fakes/gcp_fake.py");
  if (access(script.c_str(), R_OK) != 0) {
    return absl::NotFoundError(StrCat("fake script ", script, " not found"));
  }

  DEKMS_ASSIGN_OR_RETURN(const std::string directory, MakeTempDirectory());
  const std::string service_account_path =
      StrCat(directory, "/service-account.json");
  const std::string authorized_user_path =
      options.write_authorized_user ? StrCat(directory, "/authorized-user.json")
                                    : std::string();
  std::vector<std::string> argv = {
      tools.python,
      script,
      "--exit-on-stdin-eof",
      "--write-service-account",
      service_account_path,
      "--token-lifetime",
      StrCat(options.token_lifetime_seconds),
      "--project-id",
      options.project_id,
  };
  if (!authorized_user_path.empty()) {
    argv.push_back("--write-authorized-user");
    argv.push_back(authorized_user_path);
  }

  absl::StatusOr<std::unique_ptr<Subprocess>> started =
      Subprocess::Start(argv, {"PYTHONUNBUFFERED=1"}, Subprocess::Stdin::kPipe);
  if (!started.ok()) {
    RemoveDirectory(directory);
    return started.status();
  }
  std::unique_ptr<Subprocess> process = *std::move(started);
  const std::optional<std::string> ready =
      process->WaitForStdoutLine(kReadyPrefix, kStartTimeout);
  if (ready.has_value()) {
    return std::make_unique<GcpFake>(
        std::move(process), ready->substr(kReadyPrefix.size()), directory,
        service_account_path, authorized_user_path);
  }

  // The fake exited or did not get ready in time. Closing stdin ends a slow
  // one, and Wait() kills one that still runs.
  process->CloseStdin();
  const absl::StatusOr<int> exit_code = process->Wait(kStopTimeout);
  RemoveDirectory(directory);
  if (exit_code.ok() && *exit_code == kExitCryptographyMissing) {
    return ToolsMissingError(
        StrCat("gcp_fake.py cannot import cryptography with ", tools.python));
  }
  const std::string output = StrCat("\nstdout:\n", process->stdout_text(),
                                    "\nstderr:\n", process->stderr_text());
  if (exit_code.ok()) {
    return absl::InternalError(StrCat("gcp_fake.py exited with code ",
                                      *exit_code, " before it was ready",
                                      output));
  }
  return absl::DeadlineExceededError(StrCat("gcp_fake.py was not ready within ",
                                            absl::FormatDuration(kStartTimeout),
                                            output));
}

}  // namespace dekms::testing
