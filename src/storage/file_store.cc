#include "src/storage/file_store.h"

#include "src/base/files.h"
#include "src/base/quote.h"
#include "src/base/status_macros.h"
#include "src/base/str_cat.h"
#include "src/crypto/aead.h"
#include "src/crypto/encoding.h"

namespace dekms::internal {
namespace {

// Blobs are a few hundred bytes; a much larger file is not one of ours.
constexpr size_t kMaxBlobBytes = size_t{1} << 20;

}  // namespace

absl::StatusOr<std::unique_ptr<FileStore>> FileStore::Create(
    const std::string& directory) {
  if (directory.empty()) {
    return absl::InvalidArgumentError(
        "storage://file needs a directory in its \"path\" parameter");
  }
  DEKMS_RETURN_IF_ERROR(EnsureDirectory(directory, 0700));
  return std::unique_ptr<FileStore>(new FileStore(directory));
}

FileStore::FileStore(std::string directory)
    : directory_(std::move(directory)) {}

std::string FileStore::PathFor(std::string_view id) const {
  const auto digest = Sha256(AsBytes(id));
  return StrCat(directory_, "/", RevealAsText(EncodeHex(digest)), ".blob");
}

absl::StatusOr<std::string> FileStore::Get(std::string_view id) {
  const std::string path = PathFor(id);
  absl::StatusOr<SecretBytes> contents = ReadFileToSecret(path, kMaxBlobBytes);
  if (contents.status().code() == absl::StatusCode::kNotFound) {
    return absl::NotFoundError(
        StrCat("no blob stored for DEK ID ", Quote(id), " in ", directory_));
  }
  if (!contents.ok()) {
    return contents.status();
  }
  return std::string(RevealAsText(*contents));
}

absl::Status FileStore::Create(std::string_view id, std::string_view blob) {
  absl::Status created = CreateFileAtomically(PathFor(id), AsBytes(blob), 0600);
  if (created.code() == absl::StatusCode::kAlreadyExists) {
    return absl::AlreadyExistsError(
        StrCat("a blob is already stored for DEK ID ", Quote(id), " in ",
               directory_, "; it was left unchanged"));
  }
  return created;
}

}  // namespace dekms::internal
