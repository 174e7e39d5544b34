#ifndef DEKMS_SRC_CLOUD_AWS_SHARED_CONFIG_H_
#define DEKMS_SRC_CLOUD_AWS_SHARED_CONFIG_H_

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "dekms/secret_bytes.h"
#include "src/cloud/aws/credentials.h"

namespace dekms::internal {

// Settings of one profile, merged from the shared credentials and config
// files.
struct SharedConfigProfile {
  std::string name;  // The value of AWS_PROFILE, or "default".
  bool set_by_aws_profile = false;
  // The value of HOME, for expanding "~/" in paths that the profile sets.
  std::optional<std::string> home;
  // Keys are lowercased. Where both files set a key, the value from the
  // credentials file wins. Values are SecretBytes because some are secrets.
  std::map<std::string, SecretBytes> values;
  // The files that contain the profile, the credentials file first. Empty
  // when neither does.
  std::vector<std::string> sources;
  // The files that were looked in, for messages, such as
  // "/h/.aws/credentials or /h/.aws/config (does not exist)", or
  // "no shared file (HOME is not set)".
  std::string looked_in;
};

// Reads profile AWS_PROFILE, or "default", from the shared credentials file
// (AWS_SHARED_CREDENTIALS_FILE, else $HOME/.aws/credentials) and the shared
// config file (AWS_CONFIG_FILE, else $HOME/.aws/config). A file that does
// not exist counts as empty. Fails when a file cannot be read, and with
// kInvalidArgument, naming the file and line number but never the line,
// which may contain a secret, when a line is malformed.
[[nodiscard]] absl::StatusOr<SharedConfigProfile> ReadSharedConfigProfile(
    const GetEnvFunction& getenv);

// Expands a leading "~/" with $HOME, as the AWS CLI does for file paths.
[[nodiscard]] std::string ExpandHome(const std::string& path,
                                     const std::optional<std::string>& home);

}  // namespace dekms::internal

#endif  // DEKMS_SRC_CLOUD_AWS_SHARED_CONFIG_H_
