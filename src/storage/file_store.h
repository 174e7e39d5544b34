#ifndef DEKMS_SRC_STORAGE_FILE_STORE_H_
#define DEKMS_SRC_STORAGE_FILE_STORE_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "dekms/store.h"

namespace dekms::internal {

// Store for storage://file?path=DIR: one file per DEK ID in one directory.
//
// A file is named by the SHA-256 of its ID in hex plus ".blob", so every ID
// (slashes, "..", dots, NUL bytes, non-ASCII, 512 bytes) maps to a fixed-size
// name inside DIR and nothing is written anywhere else. Two IDs would share
// a file only on a SHA-256 collision.
//
// Create() writes a temporary file in DIR, fsyncs it, hard-links it to the
// final name (which fails instead of replacing) and fsyncs DIR. A crash
// leaves either no blob or a complete one, and several processes may share
// DIR. A crash can leave a temporary file ("*.tmp-XXXXXX") behind; it is
// never read and may be deleted.
//
// Thread-safe.
class FileStore final : public Store {
 public:
  // Opens `directory`, creating it with mode 0700 if it is missing (its
  // parent must exist).
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<FileStore>> Create(
      const std::string& directory);

  absl::StatusOr<std::string> Get(std::string_view id) override;
  absl::Status Create(std::string_view id, std::string_view blob) override;
  std::string_view Kind() const override { return "file"; }

  // Returns the path of the file that contains the blob of `id`.
  [[nodiscard]] std::string PathFor(std::string_view id) const;

 private:
  explicit FileStore(std::string directory);

  const std::string directory_;
};

}  // namespace dekms::internal

#endif  // DEKMS_SRC_STORAGE_FILE_STORE_H_
