#ifndef DEKMS_SRC_CLOUD_AZURE_SHARED_KEY_H_
#define DEKMS_SRC_CLOUD_AZURE_SHARED_KEY_H_

#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "dekms/secret_bytes.h"
#include "src/cloud/http.h"

namespace dekms::internal {

// Returns the Shared Key string-to-sign of `request` for Azure Storage
// (Blob service, versions 2015-02-21 and later). It has the verb and
// eleven standard headers (Content-Length empty when 0), then the x-ms-*
// headers lowercased, sorted and with their values trimmed. Last comes the
// canonicalized resource "/<account><path>" with one
// "\n<name>:<value>" line per query parameter, names lowercased and sorted,
// values decoded. The request's URL must be absolute and encoded.
[[nodiscard]] absl::StatusOr<std::string> AzureSharedKeyStringToSign(
    const HttpRequest& request, std::string_view account);

// Signs `request` with an Azure Storage account key (the decoded bytes of
// the base64 key): sets x-ms-date to `now` and
// "Authorization: SharedKey <account>:<base64 HMAC-SHA256>". Headers set
// later are not covered, so sign last.
[[nodiscard]] absl::Status SignAzureSharedKey(HttpRequest& request,
                                              std::string_view account,
                                              const SecretBytes& account_key,
                                              absl::Time now);

}  // namespace dekms::internal

#endif  // DEKMS_SRC_CLOUD_AZURE_SHARED_KEY_H_
