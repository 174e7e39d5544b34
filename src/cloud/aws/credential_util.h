#ifndef DEKMS_SRC_CLOUD_AWS_CREDENTIAL_UTIL_H_
#define DEKMS_SRC_CLOUD_AWS_CREDENTIAL_UTIL_H_

// Text, environment and status helpers shared by the AWS credential
// sources: the chain, the shared files, web identity and instance metadata.

#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "src/cloud/aws/credentials.h"

namespace dekms::internal {

// Returns true for ASCII whitespace: space, \t, \r, \n, \v and \f.
[[nodiscard]] bool IsSpace(char c);

// Returns `text` without leading and trailing ASCII whitespace.
[[nodiscard]] std::string_view Trim(std::string_view text);

// Returns `text` with ASCII letters lowercased.
[[nodiscard]] std::string ToLower(std::string_view text);

// Returns the value of environment variable `name`, treating an empty value
// as unset, as the AWS SDKs do.
[[nodiscard]] std::optional<std::string> GetSetting(
    const GetEnvFunction& getenv, std::string_view name);

// Keeps the code of `status` and puts `context` before its message.
[[nodiscard]] absl::Status WithContext(const absl::Status& status,
                                       std::string_view context);

// Parses an RFC 3339 time such as "2030-01-02T03:04:05Z". Fails with
// kInternal, naming `what` and quoting `text`, so `text` must not be secret.
[[nodiscard]] absl::StatusOr<absl::Time> ParseIsoTime(std::string_view text,
                                                      std::string_view what);

}  // namespace dekms::internal

#endif  // DEKMS_SRC_CLOUD_AWS_CREDENTIAL_UTIL_H_
