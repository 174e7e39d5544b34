// Resolution of the key backend shared by `dekms serve` and `dekms get`.

#include <sys/prctl.h>
#include <sys/resource.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "dekms/cluster_kms.h"
#include "src/base/files.h"
#include "src/base/status_macros.h"
#include "src/base/str_cat.h"
#include "src/cli/commands.h"
#include "src/cli/master_secret_file.h"

namespace dekms::internal {
namespace {

// Constellation's key service reads the salt as raw bytes and requires at
// least this many.
constexpr size_t kMinRawSaltBytes = 32;
constexpr size_t kMaxRawSecretFileBytes = size_t{64} * 1024;
constexpr std::string_view kStateSecretName = "master-secret.json";

absl::StatusOr<ResolvedBackend> FromRawFiles(const BackendOptions& options) {
  ClusterKmsConfig config;
  DEKMS_ASSIGN_OR_RETURN(
      config.master_secret,
      ReadFileToSecret(options.master_secret_path, kMaxRawSecretFileBytes));
  DEKMS_ASSIGN_OR_RETURN(
      config.salt, ReadFileToSecret(options.salt_path, kMaxRawSecretFileBytes));
  if (config.master_secret.size() < ClusterKms::kMinMasterSecretBytes) {
    return absl::InvalidArgumentError(
        StrCat("master secret file ", options.master_secret_path, " is ",
               config.master_secret.size(), " bytes long; at least ",
               ClusterKms::kMinMasterSecretBytes, " raw bytes are required"));
  }
  if (config.salt.size() < kMinRawSaltBytes) {
    return absl::InvalidArgumentError(StrCat(
        "salt file ", options.salt_path, " is ", config.salt.size(),
        " bytes long; at least ", kMinRawSaltBytes, " raw bytes are required"));
  }
  return ResolvedBackend{
      .kms = std::move(config),
      .storage = NoStoreConfig{},
      .source = StrCat("master secret file ", options.master_secret_path,
                       " and salt file ", options.salt_path)};
}

}  // namespace

bool HasBackendSource(const BackendOptions& options) {
  return !options.kms_uri.empty() || !options.secret_file.empty() ||
         !options.master_secret_path.empty() || !options.salt_path.empty();
}

absl::StatusOr<ResolvedBackend> ResolveBackend(const BackendOptions& options) {
  if (!options.master_secret_path.empty() || !options.salt_path.empty()) {
    if (options.master_secret_path.empty() || options.salt_path.empty()) {
      return absl::InvalidArgumentError(
          "--master-secret and --salt go together; give both files");
    }
    return FromRawFiles(options);
  }
  if (!options.secret_file.empty()) {
    DEKMS_ASSIGN_OR_RETURN(ClusterKmsConfig config,
                           ReadMasterSecretFile(options.secret_file));
    return ResolvedBackend{
        .kms = std::move(config),
        .storage = NoStoreConfig{},
        .source = StrCat("master secret file ", options.secret_file)};
  }
  if (options.kms_uri.empty()) {
    return absl::InvalidArgumentError(
        "no key backend given; pass --kms-uri, --secret-file, or "
        "--master-secret with --salt");
  }
  ResolvedBackend backend{.kms = ClusterKmsConfig{},
                          .storage = NoStoreConfig{},
                          .source = "--kms-uri"};
  absl::StatusOr<KmsConfig> kms = ParseKmsUri(options.kms_uri);
  if (!kms.ok()) {
    return absl::InvalidArgumentError(
        StrCat("invalid --kms-uri: ", kms.status().message()));
  }
  backend.kms = std::move(kms).value();
  if (!options.storage_uri.empty()) {
    absl::StatusOr<StorageConfig> storage =
        ParseStorageUri(options.storage_uri);
    if (!storage.ok()) {
      return absl::InvalidArgumentError(
          StrCat("invalid --storage-uri: ", storage.status().message()));
    }
    backend.storage = std::move(storage).value();
  }
  return backend;
}

std::string DefaultStateDirectory() {
  const char* from_env =
      std::getenv("DEKMS_STATE_DIR");  // NOLINT(concurrency-mt-unsafe)
  if (from_env != nullptr && from_env[0] != '\0') {
    return from_env;
  }
  return "./dekms-state";
}

absl::StatusOr<ResolvedBackend> LoadOrCreateStateSecret(
    const std::string& state_dir, bool* created) {
  *created = false;
  DEKMS_RETURN_IF_ERROR(EnsureDirectory(state_dir, 0700));
  const std::string path = StrCat(state_dir, "/", kStateSecretName);

  absl::StatusOr<ClusterKmsConfig> existing = ReadMasterSecretFile(path);
  if (existing.status().code() == absl::StatusCode::kNotFound) {
    DEKMS_ASSIGN_OR_RETURN(ClusterKmsConfig generated, GenerateMasterSecret());
    const absl::Status written = WriteMasterSecretFile(path, generated);
    if (written.ok()) {
      *created = true;
    } else if (written.code() != absl::StatusCode::kAlreadyExists) {
      return written;
    }
    // A concurrent start may have won the race; either way the file on disk
    // is the one secret to use.
    existing = ReadMasterSecretFile(path);
  }
  DEKMS_RETURN_IF_ERROR(existing.status());
  return ResolvedBackend{.kms = std::move(existing).value(),
                         .storage = NoStoreConfig{},
                         .source = StrCat("master secret file ", path)};
}

absl::Status DisableCoreDumps() {
  const struct rlimit no_core = {0, 0};
  if (setrlimit(RLIMIT_CORE, &no_core) != 0) {
    return absl::InternalError(
        StrCat("cannot disable core dumps (setrlimit RLIMIT_CORE): ",
               std::strerror(errno)));  // NOLINT(concurrency-mt-unsafe)
  }
  if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) {
    return absl::InternalError(
        StrCat("cannot disable core dumps (prctl PR_SET_DUMPABLE): ",
               std::strerror(errno)));  // NOLINT(concurrency-mt-unsafe)
  }
  return absl::OkStatus();
}

}  // namespace dekms::internal
