#include "dekms/key_manager.h"

#include "src/base/str_cat.h"

namespace dekms {

absl::Status ValidateDekRequest(std::string_view dek_id, size_t length_bytes) {
  if (dek_id.empty()) {
    return absl::InvalidArgumentError(
        "DEK ID is empty; pass a non-empty ID of up to 512 bytes");
  }
  if (dek_id.size() > kMaxDekIdBytes) {
    return absl::InvalidArgumentError(StrCat("DEK ID is ", dek_id.size(),
                                             " bytes long; the maximum is ",
                                             kMaxDekIdBytes, " bytes"));
  }
  if (length_bytes == 0 || length_bytes > kMaxDekLengthBytes) {
    return absl::InvalidArgumentError(StrCat("DEK length ", length_bytes,
                                             " is out of range; request 1 to ",
                                             kMaxDekLengthBytes, " bytes"));
  }
  return absl::OkStatus();
}

}  // namespace dekms
