#ifndef DEKMS_SRC_CLOUD_GCP_GOOGLE_API_H_
#define DEKMS_SRC_CLOUD_GCP_GOOGLE_API_H_

#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "src/cloud/http.h"

namespace dekms::internal {

// The error body of a Google JSON API:
//   {"error": {"code": 403, "message": "...", "status": "PERMISSION_DENIED",
//              "errors": [{"domain": "global", "reason": "forbidden"}]}}
// Cloud KMS fills `status`; Cloud Storage fills `errors[0].reason`. Fields
// that are missing stay empty. None of them is secret.
struct GoogleApiError {
  std::string status;   // Canonical code name, such as "INVALID_ARGUMENT".
  std::string reason;   // First errors[].reason, such as "conditionNotMet".
  std::string message;  // The service's own message.
};

// Parses an error body; a body in another shape gives empty fields, and a
// plain-text body becomes the message.
[[nodiscard]] GoogleApiError ParseGoogleApiError(const HttpResponse& response);

// Maps an error reply with ProviderErrorToStatus: the code names the status
// or reason, and `code` overrides the mapping by HTTP status.
[[nodiscard]] absl::Status GoogleApiErrorToStatus(
    const HttpResponse& response, const GoogleApiError& error,
    std::string_view service, std::string_view operation,
    std::optional<absl::StatusCode> code = std::nullopt);

// Parses a Google int64 field, which proto3's JSON mapping writes as a
// decimal string, and accepts a JSON number as well. Returns nullopt when
// it is missing, negative or not an integer.
template <typename Json>
[[nodiscard]] std::optional<uint64_t> GoogleUint64Field(const Json& object,
                                                        std::string_view name);

}  // namespace dekms::internal

#include "src/cloud/gcp/google_api_inl.h"  // IWYU pragma: export

#endif  // DEKMS_SRC_CLOUD_GCP_GOOGLE_API_H_
