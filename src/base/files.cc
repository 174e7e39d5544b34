#include "src/base/files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/cleanup/cleanup.h"
#include "src/base/str_cat.h"

namespace dekms::internal {
namespace {

std::string DirectoryOf(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) {
    return ".";
  }
  return slash == 0 ? "/" : path.substr(0, slash);
}

absl::Status WriteAll(int fd, std::span<const uint8_t> bytes,
                      const std::string& path) {
  while (!bytes.empty()) {
    const ssize_t written = ::write(fd, bytes.data(), bytes.size());
    if (written < 0) {
      if (errno == EINTR) {
        continue;
      }
      return ErrnoToStatus(errno, "write", path);
    }
    bytes = bytes.subspan(static_cast<size_t>(written));
  }
  return absl::OkStatus();
}

absl::Status SyncDirectory(const std::string& directory) {
  const int fd = ::open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    return ErrnoToStatus(errno, "open directory", directory);
  }
  const int result = ::fsync(fd);
  const int saved_errno = errno;
  ::close(fd);
  if (result != 0) {
    return ErrnoToStatus(saved_errno, "fsync directory", directory);
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ErrnoToStatus(int error_number, std::string_view action,
                           const std::string& path) {
  const std::string message =
      StrCat("cannot ", action, " ", path, ": ",
             std::strerror(error_number));  // NOLINT(concurrency-mt-unsafe)
  switch (error_number) {
    case ENOENT:
      return absl::NotFoundError(message);
    case EEXIST:
      return absl::AlreadyExistsError(message);
    case EACCES:
    case EPERM:
      return absl::PermissionDeniedError(message);
    default:
      return absl::InternalError(message);
  }
}

absl::StatusOr<SecretBytes> ReadFileToSecret(const std::string& path,
                                             size_t max_bytes) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return ErrnoToStatus(errno, "open", path);
  }
  absl::Cleanup close_fd = [fd] { ::close(fd); };

  struct stat info {};
  if (::fstat(fd, &info) != 0) {
    return ErrnoToStatus(errno, "stat", path);
  }
  if (!S_ISREG(info.st_mode)) {
    return absl::InvalidArgumentError(StrCat(path, " is not a regular file"));
  }
  if (static_cast<size_t>(info.st_size) > max_bytes) {
    return absl::InvalidArgumentError(StrCat(path, " is ", info.st_size,
                                             " bytes long; at most ", max_bytes,
                                             " bytes are expected"));
  }

  SecretBytes contents(static_cast<size_t>(info.st_size));
  size_t done = 0;
  while (done < contents.size()) {
    const ssize_t n =
        ::read(fd, contents.Reveal().data() + done, contents.size() - done);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0) {
      return ErrnoToStatus(errno, "read", path);
    }
    if (n == 0) {
      break;  // The file shrank while being read.
    }
    done += static_cast<size_t>(n);
  }
  if (done != contents.size()) {
    return SecretBytes::CopyFrom(contents.Reveal().first(done));
  }
  return contents;
}

absl::Status CreateFileAtomically(const std::string& path,
                                  std::span<const uint8_t> contents,
                                  mode_t mode) {
  struct stat existing {};
  if (::lstat(path.c_str(), &existing) == 0) {
    return absl::AlreadyExistsError(
        StrCat(path, " already exists and is never overwritten"));
  }

  // Write the contents under a temporary name that no other writer uses.
  const std::string directory = DirectoryOf(path);
  std::string temp_path = StrCat(path, ".tmp-XXXXXX");
  const int fd = ::mkostemp(temp_path.data(), O_CLOEXEC);
  if (fd < 0) {
    // The error of the temporary file is the error of creating `path`: both
    // live in the same directory.
    return ErrnoToStatus(errno, "create", path);
  }
  // On success the temporary name is a second link to the new file, and on
  // failure it is the only one; either way it goes.
  absl::Cleanup remove_temp = [&temp_path] { ::unlink(temp_path.c_str()); };
  {
    absl::Cleanup close_fd = [fd] { ::close(fd); };
    if (::fchmod(fd, mode) != 0) {
      return ErrnoToStatus(errno, "chmod", temp_path);
    }
    absl::Status written = WriteAll(fd, contents, temp_path);
    if (!written.ok()) {
      return written;
    }
    if (::fsync(fd) != 0) {
      return ErrnoToStatus(errno, "fsync", temp_path);
    }
  }

  // link() fails with EEXIST instead of replacing, which makes creation
  // exclusive even between processes.
  if (::link(temp_path.c_str(), path.c_str()) != 0) {
    if (errno == EEXIST) {
      return absl::AlreadyExistsError(
          StrCat(path, " already exists and is never overwritten"));
    }
    return ErrnoToStatus(errno, "link the new file to", path);
  }
  return SyncDirectory(directory);
}

absl::Status EnsureDirectory(const std::string& path, mode_t mode) {
  if (::mkdir(path.c_str(), mode) == 0 || errno == EEXIST) {
    struct stat info {};
    if (::stat(path.c_str(), &info) != 0) {
      return ErrnoToStatus(errno, "stat", path);
    }
    if (!S_ISDIR(info.st_mode)) {
      return absl::FailedPreconditionError(
          StrCat(path, " exists but is not a directory"));
    }
    return absl::OkStatus();
  }
  return ErrnoToStatus(errno, "create directory", path);
}

}  // namespace dekms::internal
