#ifndef DEKMS_TESTS_TESTING_GCP_FAKE_H_
#define DEKMS_TESTS_TESTING_GCP_FAKE_H_

// A loopback fake of Google's OAuth2 token endpoint, the GCE metadata server
// and Cloud KMS REST v1 (tests/fakes/gcp_fake.py), as a child process on
// 127.0.0.1 with a free port. It verifies RS256 JWT assertions, issues bearer
// tokens that its KMS requires, checks AAD and CRC32C fields, and injects
// faults. The module docstring of gcp_fake.py describes the wire behaviour.
//
// In a test body or SetUp():
//
//   DEKMS_ASSIGN_EMULATOR_OR_SKIP(std::unique_ptr<GcpFake> fake,
//                                 StartGcpFake());
//   absl::StatusOr<std::string> key = fake->CreateKey(GcpKeySpec{});
//   // Point the credential code at fake->service_account_path() (its
//   // token_uri is fake->token_uri()) or at fake->metadata_host(), and
//   // Cloud KMS requests at fake->endpoint().

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "tests/testing/emulators.h"
#include "tests/testing/subprocess.h"

namespace dekms::testing {

// How StartGcpFake() starts the fake.
struct GcpFakeOptions {
  // expires_in of every access token the fake issues, in seconds. Tokens
  // stop working for Cloud KMS after that time.
  int token_lifetime_seconds = 3599;
  // project_id of the credential files and of the metadata server.
  std::string project_id = "dekms-test-project";
  // Whether to write an authorized_user credential file besides the
  // service account key file.
  bool write_authorized_user = true;
};

// A CryptoKey for GcpFake::CreateKey(). Its first version gets a random
// AES-256 key.
struct GcpKeySpec {
  std::string project = "dekms-test-project";
  std::string location = "global";
  std::string key_ring = "dekms";
  std::string key_id = "kek";
  // ENCRYPT_DECRYPT, RAW_ENCRYPT_DECRYPT, ASYMMETRIC_SIGN,
  // ASYMMETRIC_DECRYPT or MAC. Only ENCRYPT_DECRYPT keys encrypt.
  std::string purpose = "ENCRYPT_DECRYPT";
  // SOFTWARE, HSM, EXTERNAL or EXTERNAL_VPC. HSM keys accept at most 8 KiB
  // of plaintext and AAD together.
  std::string protection_level = "SOFTWARE";
  // The algorithm that cryptoKeys.get reports. Empty picks the usual one for
  // `purpose`, such as GOOGLE_SYMMETRIC_ENCRYPTION.
  std::string algorithm;
  // State of version 1, such as ENABLED or DISABLED.
  std::string primary_state = "ENABLED";
  // Whether every call on the key fails with 403 PERMISSION_DENIED.
  bool deny = false;

  // Returns "projects/P/locations/L/keyRings/R/cryptoKeys/K".
  [[nodiscard]] std::string Name() const;
};

// A fault for GcpFake::QueueFault(). It applies to the next `count` calls
// of `operation`: a kStatus fault to calls that pass authentication, the
// other kinds to calls that would succeed.
struct GcpFault {
  enum class Operation {
    // POST /token.
    kToken,
    // The metadata server's token request.
    kMetadataToken,
    // cryptoKeys.get.
    kGet,
    kEncrypt,
    kDecrypt,
  };
  enum class Kind {
    // Respond with `status` without doing the operation: Google's JSON error
    // shape for Cloud KMS, an OAuth error for the token endpoint and text
    // for the metadata server.
    kStatus,
    // kEncrypt, kDecrypt: a wrong ciphertextCrc32c or plaintextCrc32c.
    kCorruptChecksum,
    // kEncrypt, kDecrypt: one flipped bit in the returned ciphertext or
    // plaintext, with the checksum of the original.
    kCorruptData,
    // kEncrypt: no verifiedPlaintextCrc32c and
    // verifiedAdditionalAuthenticatedDataCrc32c fields.
    kOmitVerified,
  };

  static GcpFault Status(Operation operation, int status, int count = 1);
  static GcpFault Response(Operation operation, Kind kind, int count = 1);

  Operation operation = Operation::kEncrypt;
  Kind kind = Kind::kStatus;
  int count = 1;
  // For kStatus: the HTTP status, 400 to 599.
  int status = 0;
  // For kStatus: the error's "status" (Cloud KMS) or "error" (token
  // endpoint). Empty picks one by HTTP status, such as UNAVAILABLE.
  std::string status_name;
  // For kStatus: the error message, or empty for a generic one.
  std::string message;
};

// One request the fake served, without any token, key or data.
struct GcpRequestRecord {
  int sequence = 0;
  // "token", "metadata", "kms" or "other".
  std::string role;
  std::string method;
  // "jwt_bearer", "refresh_token", "token", "project_id", "email", "get",
  // "get_version", "encrypt", "decrypt" or "unknown".
  std::string operation;
  // The Cloud KMS resource, the client_email or client_id, or the metadata
  // path. Empty when unknown.
  std::string name;
  // Cloud KMS only: "valid", "missing", "invalid" or "insufficient_scope".
  // Empty for other roles.
  std::string authorization;
  // Cloud KMS only: the JSON field names present in the request body.
  std::vector<std::string> fields;
  // Metadata only: whether the request had "Metadata-Flavor: Google".
  bool metadata_flavor = false;
  int status = 0;
  // Cloud KMS errors: the canonical status, such as INVALID_ARGUMENT.
  std::string error_status;
  // The kind of fault applied ("status", "corrupt_checksum", ...), or empty.
  std::string fault;
};

struct GcpFakeCounters {
  // Requests other than control requests.
  int requests = 0;
  // Access tokens issued by POST /token.
  int token_endpoint_tokens = 0;
  // Access tokens issued by the metadata server.
  int metadata_tokens = 0;
  // Access tokens issued by IssueAccessToken().
  int control_tokens = 0;
  // Fault applications still queued.
  int faults_pending = 0;
};

// A running gcp_fake.py. The destructor stops it and removes the directory
// with its credential files.
class GcpFake {
 public:
  GcpFake(std::unique_ptr<Subprocess> process, std::string endpoint,
          std::string directory, std::string service_account_path,
          std::string authorized_user_path);
  ~GcpFake();

  GcpFake(const GcpFake&) = delete;
  GcpFake& operator=(const GcpFake&) = delete;

  // Base URL, "http://127.0.0.1:<port>", of all three services. Cloud KMS
  // paths start with "/v1/".
  [[nodiscard]] const std::string& endpoint() const { return endpoint_; }
  // The OAuth2 token endpoint, endpoint() + "/token", which is also the
  // token_uri and the required JWT audience.
  [[nodiscard]] std::string token_uri() const { return endpoint_ + "/token"; }
  // "127.0.0.1:<port>", in the form of GCE_METADATA_HOST.
  [[nodiscard]] std::string metadata_host() const;
  // A service account JSON key file (mode 0600) whose key the token endpoint
  // accepts.
  [[nodiscard]] const std::string& service_account_path() const {
    return service_account_path_;
  }
  // An authorized_user file, or empty when GcpFakeOptions turned it off.
  [[nodiscard]] const std::string& authorized_user_path() const {
    return authorized_user_path_;
  }
  // The fake's log: one line per request with operation, resource and
  // status.
  [[nodiscard]] std::string log_text() { return process_->stderr_text(); }

  // Creates a CryptoKey and returns its name.
  absl::StatusOr<std::string> CreateKey(const GcpKeySpec& spec);
  // Adds an ENABLED version to `key_name`, makes it the primary and returns
  // its name.
  absl::StatusOr<std::string> Rotate(std::string_view key_name);
  // Sets the state of a CryptoKeyVersion, such as DISABLED. DESTROYED
  // discards its key for good.
  absl::Status SetVersionState(std::string_view version_name,
                               std::string_view state);
  // Makes every call on `key_name` fail with 403 PERMISSION_DENIED, or
  // stops that.
  absl::Status SetDenied(std::string_view key_name, bool deny);
  // Whether a missing key gets 404 NOT_FOUND (the default) or 403
  // PERMISSION_DENIED "(or it may not exist)".
  absl::Status SetMissingKeyStatus(int http_status);
  // Queues `fault` behind those already queued.
  absl::Status QueueFault(const GcpFault& fault);
  absl::Status ClearFaults();
  // Whether metadata responses carry "Metadata-Flavor: Google", as a
  // genuine metadata server's do.
  absl::Status SetMetadataFlavorHeader(bool send);
  // Returns a fresh access token with the cloud-platform scope, without the
  // token endpoint.
  absl::StatusOr<std::string> IssueAccessToken();
  // Makes every access token issued so far invalid.
  absl::Status ExpireTokens();

  absl::StatusOr<std::vector<GcpRequestRecord>> Requests();
  absl::Status ClearRequests();
  absl::StatusOr<GcpFakeCounters> Counters();

 private:
  // Sends a control request and returns the JSON response body.
  absl::StatusOr<std::string> Control(std::string_view method,
                                      std::string_view path,
                                      const std::string& body);

  std::unique_ptr<Subprocess> process_;
  std::string endpoint_;
  std::string directory_;
  std::string service_account_path_;
  std::string authorized_user_path_;
};

// Starts tests/fakes/gcp_fake.py with the interpreter of `tools` and waits
// up to 30 seconds for it to serve. Returns a status for which
// IsTestToolsMissing() holds when the interpreter or its `cryptography`
// package is missing.
absl::StatusOr<std::unique_ptr<GcpFake>> StartGcpFake(
    const EmulatorTools& tools, const GcpFakeOptions& options = {});

#if defined(DEKMS_TEST_PYTHON) && defined(DEKMS_SOURCE_DIR) && \
    defined(DEKMS_TEST_TOOLS_DIR)
inline absl::StatusOr<std::unique_ptr<GcpFake>> StartGcpFake(
    const GcpFakeOptions& options = {}) {
  return StartGcpFake(DefaultEmulatorTools(), options);
}
#endif

}  // namespace dekms::testing

#endif  // DEKMS_TESTS_TESTING_GCP_FAKE_H_
