#include "src/cloud/aws/shared_config.h"

#include <algorithm>
#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_join.h"
#include "src/base/files.h"
#include "src/base/status_macros.h"
#include "src/base/str_cat.h"
#include "src/cloud/aws/credential_util.h"
#include "src/crypto/encoding.h"

namespace dekms::internal {
namespace {

constexpr size_t kMaxSharedFileBytes = size_t{1024} * 1024;

// One profile's settings from one shared file.
struct SharedFileProfile {
  std::string path;
  bool file_exists = false;
  bool has_profile = false;
  // Keys are lowercased. Values are SecretBytes because some are secrets.
  std::map<std::string, SecretBytes> values;
};

// Returns the profile name of the section header `section` (the text between
// the brackets), or nullopt when the section is not a profile. The config
// file names profiles "[profile NAME]", except "[default]", and has other
// kinds of sections too. The credentials file names them "[NAME]".
std::optional<std::string> ProfileOfSection(std::string_view section,
                                            bool config_file) {
  section = Trim(section);
  if (!config_file || section == "default") {
    return std::string(section);
  }
  constexpr std::string_view kPrefix = "profile";
  if (section.size() > kPrefix.size() &&
      section.substr(0, kPrefix.size()) == kPrefix &&
      IsSpace(section[kPrefix.size()])) {
    return std::string(Trim(section.substr(kPrefix.size())));
  }
  return std::nullopt;
}

// Parses the INI text of a shared file and keeps the settings of `profile`.
// Lines starting with '#' or ';' are comments. Indented lines continue a
// value or contain sub-properties (as under "s3 ="). No setting read here
// uses them, so they are skipped. Later values win over earlier ones. Errors
// name the line number, never the line, which may contain a secret.
absl::Status ParseSharedFile(std::string_view text, std::string_view profile,
                             bool config_file, SharedFileProfile& result) {
  bool in_profile = false;
  int line_number = 0;
  while (!text.empty()) {
    const size_t newline = text.find('\n');
    std::string_view line = text.substr(0, newline);
    text.remove_prefix(newline == std::string_view::npos ? text.size()
                                                         : newline + 1);
    ++line_number;

    if (Trim(line).empty() || IsSpace(line.front())) {
      continue;
    }
    line = Trim(line);
    if (line.front() == '#' || line.front() == ';') {
      continue;
    }
    auto where = [&] { return StrCat(result.path, " line ", line_number); };
    if (line.front() == '[') {
      const size_t close = line.find(']');
      if (close == std::string_view::npos) {
        return absl::InvalidArgumentError(
            StrCat(where(), ": the section header is missing its closing ']'"));
      }
      const std::string_view rest = Trim(line.substr(close + 1));
      if (!rest.empty() && rest.front() != '#' && rest.front() != ';') {
        return absl::InvalidArgumentError(
            StrCat(where(), ": unexpected text after the section header"));
      }
      const std::optional<std::string> name =
          ProfileOfSection(line.substr(1, close - 1), config_file);
      in_profile = name.has_value() && *name == profile;
      result.has_profile = result.has_profile || in_profile;
      continue;
    }

    // botocore, under the AWS CLI, reads these files with Python's
    // configparser, which takes '=' or ':', whichever comes first, as the
    // delimiter.
    const size_t delimiter = line.find_first_of("=:");
    if (delimiter == std::string_view::npos || delimiter == 0) {
      return absl::InvalidArgumentError(
          StrCat(where(),
                 " is not a section header, a comment or a "
                 "\"key = value\" line"));
    }
    if (!in_profile) {
      continue;
    }
    const std::string key = ToLower(Trim(line.substr(0, delimiter)));
    const std::string_view value = Trim(line.substr(delimiter + 1));
    result.values.insert_or_assign(key, SecretBytes::CopyFrom(value));
  }
  return absl::OkStatus();
}

absl::StatusOr<SharedFileProfile> ReadSharedFile(const std::string& path,
                                                 std::string_view profile,
                                                 bool config_file) {
  SharedFileProfile result;
  result.path = path;
  absl::StatusOr<SecretBytes> contents =
      ReadFileToSecret(path, kMaxSharedFileBytes);
  if (absl::IsNotFound(contents.status())) {
    return result;
  }
  if (!contents.ok()) {
    return WithContext(contents.status(),
                       config_file ? "cannot read the AWS config file"
                                   : "cannot read the AWS credentials file");
  }
  result.file_exists = true;
  DEKMS_RETURN_IF_ERROR(
      ParseSharedFile(RevealAsText(*contents), profile, config_file, result));
  return result;
}

}  // namespace

std::string ExpandHome(const std::string& path,
                       const std::optional<std::string>& home) {
  if (home.has_value() && (path == "~" || path.rfind("~/", 0) == 0)) {
    return StrCat(*home, path.substr(1));
  }
  return path;
}

absl::StatusOr<SharedConfigProfile> ReadSharedConfigProfile(
    const GetEnvFunction& getenv) {
  SharedConfigProfile result;
  result.home = GetSetting(getenv, "HOME");
  const std::optional<std::string> chosen_profile =
      GetSetting(getenv, "AWS_PROFILE");
  result.name = chosen_profile.value_or("default");
  result.set_by_aws_profile = chosen_profile.has_value();

  std::vector<SharedFileProfile> files;
  const std::pair<std::string_view, std::string_view> locations[] = {
      {"AWS_SHARED_CREDENTIALS_FILE", "/.aws/credentials"},
      {"AWS_CONFIG_FILE", "/.aws/config"}};
  for (const auto& [variable, default_suffix] : locations) {
    std::string path;
    if (std::optional<std::string> set = GetSetting(getenv, variable)) {
      path = ExpandHome(*set, result.home);
    } else if (result.home.has_value()) {
      path = StrCat(*result.home, default_suffix);
    } else {
      continue;  // Without HOME there is no default location.
    }
    const bool config_file = variable == "AWS_CONFIG_FILE";
    DEKMS_ASSIGN_OR_RETURN(SharedFileProfile file,
                           ReadSharedFile(path, result.name, config_file));
    files.push_back(std::move(file));
  }

  // Credentials file values win, so the config file is merged first.
  std::vector<std::string> looked_in;
  for (auto file = files.rbegin(); file != files.rend(); ++file) {
    looked_in.push_back(file->file_exists
                            ? file->path
                            : StrCat(file->path, " (does not exist)"));
    if (!file->has_profile) {
      continue;
    }
    result.sources.insert(result.sources.begin(), file->path);
    for (auto& [key, value] : file->values) {
      result.values.insert_or_assign(key, std::move(value));
    }
  }
  std::reverse(looked_in.begin(), looked_in.end());
  result.looked_in = looked_in.empty() ? "no shared file (HOME is not set)"
                                       : absl::StrJoin(looked_in, " or ");
  return result;
}

}  // namespace dekms::internal
