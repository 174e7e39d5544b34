#ifndef DEKMS_SRC_BASE_FILES_H_
#define DEKMS_SRC_BASE_FILES_H_

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "dekms/secret_bytes.h"

// File helpers for secrets and blobs. Error messages name the path and the
// system error, never the contents.
namespace dekms::internal {

// Maps an errno value from an operation on `path` to a status: ENOENT is
// kNotFound, EEXIST kAlreadyExists, EACCES and EPERM kPermissionDenied,
// anything else kInternal. `action` is a verb phrase such as "open".
[[nodiscard]] absl::Status ErrnoToStatus(int error_number,
                                         std::string_view action,
                                         const std::string& path);

// Reads the whole file at `path` into a SecretBytes. Fails with
// kInvalidArgument when the file is larger than `max_bytes` or is not a
// regular file, and with the codes of ErrnoToStatus() otherwise.
[[nodiscard]] absl::StatusOr<SecretBytes> ReadFileToSecret(
    const std::string& path, size_t max_bytes);

// Creates the file `path` holding `contents`, with permission bits `mode`,
// and never replaces an existing file: fails with kAlreadyExists instead.
//
// The contents go to a temporary file in the same directory, which is
// fsynced and then hard-linked to `path`; the directory is fsynced last. A
// crash at any point therefore leaves either no file at `path` or a complete
// one, and readers never see a partial file.
[[nodiscard]] absl::Status CreateFileAtomically(
    const std::string& path, std::span<const uint8_t> contents, mode_t mode);

// Creates directory `path` with `mode` unless it exists. Parents must exist.
[[nodiscard]] absl::Status EnsureDirectory(const std::string& path,
                                           mode_t mode);

}  // namespace dekms::internal

#endif  // DEKMS_SRC_BASE_FILES_H_
