#ifndef DEKMS_SRC_CLI_COMMANDS_H_
#define DEKMS_SRC_CLI_COMMANDS_H_

#include <cstddef>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "dekms/config.h"

// The subcommands of the `dekms` CLI, one function each, so that tests can
// call them without a process. main.cc parses arguments into these options
// and turns the returned status into an exit code.
namespace dekms::internal {

// Sources of a command's key backend. At most one may be set, which the
// caller enforces.
struct BackendOptions {
  std::string kms_uri;             // kms:// URI.
  std::string storage_uri;         // storage:// URI; empty means no-store.
  std::string secret_file;         // Master secret JSON file.
  std::string master_secret_path;  // Raw master secret, with salt_path.
  std::string salt_path;           // Raw salt, with master_secret_path.
};

// A backend configuration and a description of where it came from, for
// logs. The description never contains secrets.
struct ResolvedBackend {
  KmsConfig kms;
  StorageConfig storage;
  std::string source;
};

// Returns whether any backend source is set in `options`.
[[nodiscard]] bool HasBackendSource(const BackendOptions& options);

// Turns `options` into a backend configuration. Raw master secret and salt
// files follow Constellation's key service: the master secret must be at
// least 16 bytes and the salt at least 32 bytes.
[[nodiscard]] absl::StatusOr<ResolvedBackend> ResolveBackend(
    const BackendOptions& options);

// Returns the state directory of `dekms serve`: $DEKMS_STATE_DIR if set,
// else ./dekms-state.
[[nodiscard]] std::string DefaultStateDirectory();

// Loads the master secret of `state_dir`, creating the directory (mode
// 0700) and a new secret (mode 0600) on first use. Two processes starting
// at once end up with the same secret, because creation never replaces.
// Sets `*created` when this call made the secret.
[[nodiscard]] absl::StatusOr<ResolvedBackend> LoadOrCreateStateSecret(
    const std::string& state_dir, bool* created);

struct SecretGenerateOptions {
  std::string out_path;
  bool print_uri = false;
};

// `dekms secret generate`: writes a new master secret file and, when asked,
// prints its kms://cluster-kms URI to `out_fd`.
[[nodiscard]] absl::Status RunSecretGenerate(
    const SecretGenerateOptions& options, int out_fd);

struct KekGenerateOptions {
  std::string out_path;
};

// `dekms kek generate`: writes a new 32-byte KEK file for kms://local.
[[nodiscard]] absl::Status RunKekGenerate(const KekGenerateOptions& options);

// `dekms kek fingerprint`: writes the key id of the KEK file at `path`.
[[nodiscard]] absl::Status RunKekFingerprint(const std::string& path,
                                             int out_fd);

struct ServeOptions {
  std::string listen_address;
  BackendOptions backend;
  KeyManagerOptions key_manager;
  std::string state_dir;  // Used when no backend source is set.
  double shutdown_grace_seconds = 30;
};

// `dekms serve`: runs the key service until SIGTERM or SIGINT, then lets
// calls in flight finish (up to the grace period) and returns OK.
[[nodiscard]] absl::Status RunServe(const ServeOptions& options);

struct GetOptions {
  std::string data_key_id;
  size_t length_bytes = 32;
  std::string format = "hex";  // "hex", "base64" or "raw".
  std::string server_address;  // Used when no backend source is set.
  BackendOptions backend;
  double timeout_seconds = 10;
};

// `dekms get`: writes the DEK of "key-" + data_key_id to `out_fd`, from a
// running key service or derived locally; both give the same bytes.
[[nodiscard]] absl::Status RunGet(const GetOptions& options, int out_fd);

// Sets RLIMIT_CORE to 0 and clears the process's dumpable flag, so that key
// material never lands in a core dump.
[[nodiscard]] absl::Status DisableCoreDumps();

}  // namespace dekms::internal

#endif  // DEKMS_SRC_CLI_COMMANDS_H_
