#ifndef DEKMS_SRC_CLI_MASTER_SECRET_FILE_H_
#define DEKMS_SRC_CLI_MASTER_SECRET_FILE_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "dekms/config.h"

// The master secret file of `dekms secret generate` and of the state
// directory. Its format is Constellation's master secret JSON,
//
//   {"key": "<base64>", "salt": "<base64>"}
//
// with standard base64 (RFC 4648, section 4), so the file of a Constellation
// cluster can be used as it is.
namespace dekms::internal {

// Bytes of a newly generated master secret and of its salt.
inline constexpr size_t kGeneratedMasterSecretBytes = 32;
inline constexpr size_t kGeneratedSaltBytes = 32;

// Returns a new master secret and salt from the CSPRNG.
[[nodiscard]] absl::StatusOr<ClusterKmsConfig> GenerateMasterSecret();

// Writes `secret` to a new file at `path` with mode 0600. Fails with
// kAlreadyExists, leaving the file alone, when `path` exists.
[[nodiscard]] absl::Status WriteMasterSecretFile(
    const std::string& path, const ClusterKmsConfig& secret);

// Reads a master secret file. Fails with kInvalidArgument naming the path
// when it is not valid JSON, lacks "key" or "salt", or contains invalid base64.
[[nodiscard]] absl::StatusOr<ClusterKmsConfig> ReadMasterSecretFile(
    const std::string& path);

}  // namespace dekms::internal

#endif  // DEKMS_SRC_CLI_MASTER_SECRET_FILE_H_
