#ifndef DEKMS_TESTS_TESTING_AZURE_FAKE_H_
#define DEKMS_TESTS_TESTING_AZURE_FAKE_H_

// A loopback fake of the Entra ID token endpoint, the Azure IMDS managed
// identity token endpoint and the Key Vault and Managed HSM keys data plane
// (tests/fakes/azure_fake.py), as a child process on 127.0.0.1. It checks
// client secrets, federated tokens sent as client assertions (AKS workload
// identity) and token audiences, wraps with RSA (RSA-OAEP-256, RSA-OAEP,
// RSA1_5) and AES key wrap (A128KW to A256KW, CKM_AES_KEY_WRAP,
// CKM_AES_KEY_WRAP_PAD), returns Azure's error shapes and injects
// faults. The module docstring of azure_fake.py describes the wire
// behaviour.
//
// In a test body or SetUp():
//
//   DEKMS_ASSIGN_EMULATOR_OR_SKIP(std::unique_ptr<AzureFake> fake,
//                                 StartAzureFake());
//   absl::StatusOr<AzureKeyVersion> key = fake->CreateKey(AzureKeySpec{});
//   // Point the credential code at fake->authority_host() with
//   // fake->tenant_id(), fake->client_id() and fake->client_secret(), or at
//   // fake->imds_endpoint(), and Key Vault requests at
//   // fake->vault_endpoint() or Managed HSM requests at
//   // fake->managed_hsm_endpoint().
//
// For workload identity, write the token that RegisterFederatedToken()
// returns to a file, set AZURE_FEDERATED_TOKEN_FILE to it with
// AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_AUTHORITY_HOST, and call
// RotateFederatedToken() to make the old token fail.

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "tests/testing/emulators.h"
#include "tests/testing/subprocess.h"

namespace dekms::testing {

// How StartAzureFake() starts the fake.
struct AzureFakeOptions {
  // expires_in of every access token the fake issues, in seconds. Tokens
  // stop working on the data planes after that time.
  int token_lifetime_seconds = 3599;
  // Whether the two data planes serve HTTPS with a certificate for
  // 127.0.0.1, ::1 and localhost that a new CA signs. AzureFake::ca_file()
  // is that CA. The token endpoints and the control API stay plain HTTP.
  bool tls = false;
};

// The data plane of a key. Each has its own port and token audience.
enum class AzureVault {
  // Key Vault: audience https://vault.azure.net, key types RSA and RSA-HSM.
  kKeyVault,
  // Managed HSM: audience https://managedhsm.azure.net, key types RSA-HSM
  // and oct-HSM.
  kManagedHsm,
};

// A key for AzureFake::CreateKey(). Its first version gets random key
// material.
struct AzureKeySpec {
  std::string name = "kek";
  AzureVault vault = AzureVault::kKeyVault;
  // RSA, RSA-HSM or oct-HSM (an AES key, Managed HSM only).
  std::string kty = "RSA";
  // Bits: 2048, 3072 or 4096 for RSA keys, 128, 192 or 256 for oct-HSM
  // keys. 0 picks 2048 or 256.
  int size = 0;
  // The operations the key permits. Wrap and unwrap need "wrapKey" and
  // "unwrapKey".
  std::vector<std::string> key_ops = {"wrapKey", "unwrapKey"};
  // Whether version 1 is enabled. Every operation on a disabled version
  // fails with 403 Forbidden, inner error KeyDisabled.
  bool enabled = true;
  // Whether every call on the key fails with 403 Forbidden, inner error
  // ForbiddenByRbac.
  bool deny = false;
};

// One version of a key.
struct AzureKeyVersion {
  std::string name;
  // "<data plane endpoint>/keys/<name>/<version>".
  std::string kid;
  // 32 lowercase hex digits.
  std::string version;
};

// A status fault for AzureFake::QueueFault(). It fails the next `count`
// calls of `operation` that pass authentication (and, on the data planes,
// the api-version check) with `status`, without doing the operation.
struct AzureFault {
  enum class Operation {
    // POST /<tenant>/oauth2/v2.0/token.
    kToken,
    // GET /metadata/identity/oauth2/token.
    kImds,
    // Get key, on either data plane.
    kGet,
    kWrap,
    kUnwrap,
  };

  static AzureFault Status(Operation operation, int status, int count = 1);

  Operation operation = Operation::kWrap;
  int count = 1;
  // The HTTP status, 400 to 599.
  int status = 0;
  // Retry-After in seconds, or negative to send none. 429 faults send 1
  // when this is negative.
  int retry_after_seconds = -1;
  // The error code ("error" for the token endpoints), or empty for one that
  // fits the status, such as Throttled or ServiceUnavailable.
  std::string code;
  // The error message, or empty for a generic one.
  std::string message;
};

// One request the fake served, without any token, secret or key material.
struct AzureRequestRecord {
  int sequence = 0;
  // "entra", "imds", "vault", "managedhsm" or "other".
  std::string role;
  std::string method;
  // "token" for the token endpoints, "get", "wrap", "unwrap" or "unknown"
  // on the data planes.
  std::string operation;
  // Data planes: the key name and the version used (the latest one when
  // the request named none), or empty.
  std::string key;
  std::string version;
  // Data planes: the request's "alg" and api-version, or empty.
  std::string alg;
  std::string api_version;
  // Data planes: "valid", "missing", "invalid", "expired" or
  // "wrong-audience".
  std::string authorization;
  // Entra ID: the tenant, client_id and scope of the request.
  std::string tenant;
  std::string client_id;
  std::string scope;
  // Entra ID: the client credential sent, "secret", "assertion" or "both",
  // or empty when the request had neither or failed before the fake read
  // it.
  std::string credential;
  // Entra ID: the AADSTS number of an error, such as 70021 for an unknown
  // client assertion or 700024 for an expired one, or 0.
  int aadsts_code = 0;
  // IMDS: the resource parameter.
  std::string resource;
  int status = 0;
  // The error code (KeyNotFound, invalid_client, bad_request_102, ...) and
  // the data plane's inner error code (KeyDisabled, ForbiddenByRbac, ...).
  std::string error_code;
  std::string inner_error;
  // "status" when a queued fault failed the request, else empty.
  std::string fault;
};

// A federated token for AzureFake::RegisterFederatedToken() and
// AzureFake::RotateFederatedToken(). The token endpoint accepts it as the
// client assertion of its app while it is the app's current federated
// token and its expiry has not passed.
struct AzureFederatedTokenSpec {
  // The app registration, or both empty for tenant_id() and client_id(). A
  // new pair becomes an app registration without a client secret.
  std::string tenant_id;
  std::string client_id;
  // Seconds from now until the token expires. Zero or less makes a token
  // that is already expired, which fails with AADSTS700024.
  int lifetime_seconds = 3600;
  // The token to accept, or empty for a JWT-shaped one that the fake
  // generates with iss https://oidc.example.test/, sub
  // system:serviceaccount:dekms-test:dekms and aud
  // api://AzureADTokenExchange. A given token must not contain whitespace.
  // Its exp claim, when it has one, sets the expiry in place of
  // lifetime_seconds.
  std::string token;
};

struct AzureFakeCounters {
  // Requests other than control requests.
  int requests = 0;
  // Access tokens issued by the Entra ID token endpoint, by IMDS and by
  // IssueAccessToken().
  int entra_tokens = 0;
  int imds_tokens = 0;
  int control_tokens = 0;
  // Fault applications still queued.
  int faults_pending = 0;
};

// A running azure_fake.py. The destructor stops it and removes the
// directory with its credentials and certificate files.
class AzureFake {
 public:
  struct Endpoints {
    std::string main;
    std::string vault;
    std::string managed_hsm;
  };
  // The default app registration and managed identity that the fake wrote
  // to its credentials file.
  struct Identity {
    std::string tenant_id;
    std::string client_id;
    std::string client_secret;
    std::string managed_identity_client_id;
  };

  AzureFake(std::unique_ptr<Subprocess> process, Endpoints endpoints,
            Identity identity, std::string directory, std::string ca_file);
  ~AzureFake();

  AzureFake(const AzureFake&) = delete;
  AzureFake& operator=(const AzureFake&) = delete;

  // Base URL, "http://127.0.0.1:<port>", of the token endpoints and the
  // control API.
  [[nodiscard]] const std::string& endpoint() const { return endpoints_.main; }
  // The Entra ID authority host: clients post to
  // <authority_host>/<tenant>/oauth2/v2.0/token. Equal to endpoint().
  [[nodiscard]] const std::string& authority_host() const {
    return endpoints_.main;
  }
  // authority_host() + "/" + tenant_id() + "/oauth2/v2.0/token".
  [[nodiscard]] std::string token_url() const;
  // The IMDS base URL, in place of http://169.254.169.254. Equal to
  // endpoint(); the token path is /metadata/identity/oauth2/token.
  [[nodiscard]] const std::string& imds_endpoint() const {
    return endpoints_.main;
  }
  // Key Vault data plane: "http://127.0.0.1:<port>", or https with
  // AzureFakeOptions::tls.
  [[nodiscard]] const std::string& vault_endpoint() const {
    return endpoints_.vault;
  }
  // Managed HSM data plane, on its own port.
  [[nodiscard]] const std::string& managed_hsm_endpoint() const {
    return endpoints_.managed_hsm;
  }
  // PEM file of the CA that signed the data planes' certificate, or empty
  // without AzureFakeOptions::tls.
  [[nodiscard]] const std::string& ca_file() const { return ca_file_; }

  // The tenant and app registration that the token endpoint accepts. The
  // secret contains '+', '/' and '=', so it works only percent-encoded.
  [[nodiscard]] const std::string& tenant_id() const {
    return identity_.tenant_id;
  }
  [[nodiscard]] const std::string& client_id() const {
    return identity_.client_id;
  }
  [[nodiscard]] const std::string& client_secret() const {
    return identity_.client_secret;
  }
  // The client_id of the managed identity that IMDS issues tokens for.
  // Requests without client_id get the same identity.
  [[nodiscard]] const std::string& managed_identity_client_id() const {
    return identity_.managed_identity_client_id;
  }

  // The fake's log: one line per request with operation, key, version,
  // algorithm and status.
  [[nodiscard]] std::string log_text() { return process_->stderr_text(); }

  absl::StatusOr<AzureKeyVersion> CreateKey(const AzureKeySpec& spec);
  // Adds a version to a key and makes it the latest.
  absl::StatusOr<AzureKeyVersion> Rotate(AzureVault vault,
                                         std::string_view name);
  absl::Status SetVersionEnabled(AzureVault vault, std::string_view name,
                                 std::string_view version, bool enabled);
  // Makes every call on a key fail with 403 ForbiddenByRbac, or stops that.
  absl::Status SetDenied(AzureVault vault, std::string_view name, bool deny);
  // Registers another app registration for the token endpoint.
  absl::Status RegisterClient(std::string_view tenant_id,
                              std::string_view client_id,
                              std::string_view client_secret);
  // Gives an app a federated identity credential and returns the federated
  // token to write into the file that AZURE_FEDERATED_TOKEN_FILE names.
  // Calling it again replaces the app's token and its credential's claims.
  absl::StatusOr<std::string> RegisterFederatedToken(
      const AzureFederatedTokenSpec& spec = {});
  // Replaces the federated token of an app that RegisterFederatedToken()
  // set up, keeping its claims, and returns the new token. The old token
  // fails with AADSTS70021 from then on.
  absl::StatusOr<std::string> RotateFederatedToken(
      const AzureFederatedTokenSpec& spec = {});
  // Sets the api-version values that the data planes accept (default 7.4,
  // 7.5, 7.6 and 2025-07-01).
  absl::Status SetApiVersions(const std::vector<std::string>& versions);
  // Queues `fault` behind those already queued.
  absl::Status QueueFault(const AzureFault& fault);
  absl::Status ClearFaults();
  // Returns a fresh access token for `resource`, such as
  // https://vault.azure.net, without a token endpoint.
  absl::StatusOr<std::string> IssueAccessToken(std::string_view resource);
  // Makes every access token issued so far expired.
  absl::Status ExpireTokens();

  absl::StatusOr<std::vector<AzureRequestRecord>> Requests();
  absl::Status ClearRequests();
  absl::StatusOr<AzureFakeCounters> Counters();

 private:
  // Sends a control request and returns the JSON response body.
  absl::StatusOr<std::string> Control(std::string_view method,
                                      std::string_view path,
                                      const std::string& body);
  // Sends `spec` to the federated token control path `path` and returns
  // the token from its response.
  absl::StatusOr<std::string> FederatedTokenControl(
      std::string_view path, const AzureFederatedTokenSpec& spec);

  std::unique_ptr<Subprocess> process_;
  Endpoints endpoints_;
  Identity identity_;
  std::string directory_;
  std::string ca_file_;
};

// Starts tests/fakes/azure_fake.py with the interpreter of `tools` and waits
// up to 30 seconds for it to serve. Returns a status for which
// IsTestToolsMissing() holds when the interpreter or its `cryptography`
// package is missing.
absl::StatusOr<std::unique_ptr<AzureFake>> StartAzureFake(
    const EmulatorTools& tools, const AzureFakeOptions& options = {});

#if defined(DEKMS_TEST_PYTHON) && defined(DEKMS_SOURCE_DIR) && \
    defined(DEKMS_TEST_TOOLS_DIR)
inline absl::StatusOr<std::unique_ptr<AzureFake>> StartAzureFake(
    const AzureFakeOptions& options = {}) {
  return StartAzureFake(DefaultEmulatorTools(), options);
}
#endif

}  // namespace dekms::testing

#endif  // DEKMS_TESTS_TESTING_AZURE_FAKE_H_
