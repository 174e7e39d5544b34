#ifndef DEKMS_SRC_SERVER_KEY_SERVICE_H_
#define DEKMS_SRC_SERVER_KEY_SERVICE_H_

#include <grpcpp/grpcpp.h>

#include <cstddef>
#include <memory>
#include <string_view>

#include "absl/status/status.h"
#include "dekms/key_manager.h"
#include "kms.grpc.pb.h"

namespace dekms::internal {

// Prefix that Constellation's key service puts before every requested ID
// before it derives the DEK; dekms does the same so that a Constellation
// master secret yields the same disk keys.
inline constexpr std::string_view kDataKeyIdPrefix = "key-";

// Trailing metadata key that the service sets, to "key-service", on every
// error it returns itself. Errors without it come from the connection.
inline constexpr std::string_view kErrorOriginMetadataKey =
    "dekms-error-origin";

// Maximum length of a data_key_id, so that the prefixed ID stays within
// kMaxDekIdBytes.
inline constexpr size_t kMaxDataKeyIdBytes =
    kMaxDekIdBytes - kDataKeyIdPrefix.size();

// Checks a GetDataKey request as the service does: data_key_id of 1 to
// kMaxDataKeyIdBytes bytes, length of 1 to kMaxDekLengthBytes. Returns
// kInvalidArgument naming the field and the limit.
[[nodiscard]] absl::Status ValidateDataKeyRequest(std::string_view data_key_id,
                                                  size_t length_bytes);

// Converts an absl::Status to a grpc::Status with the same code; both follow
// google.rpc.Code. kInternal and kUnknown messages are replaced by a generic
// text, because they may describe internals that clients have no use for.
[[nodiscard]] grpc::Status ToGrpcStatus(const absl::Status& status);

// Converts a grpc::Status back to an absl::Status with the same code and
// message.
[[nodiscard]] absl::Status FromGrpcStatus(const grpc::Status& status);

// The kms.API gRPC service. It validates each request and gets the DEK of
// "key-" + data_key_id from the KeyManager. It logs one line per request with
// ID, length, status and latency, never key material. Thread-safe.
class KeyService final : public kms::API::Service {
 public:
  explicit KeyService(std::shared_ptr<KeyManager> key_manager);

  grpc::Status GetDataKey(grpc::ServerContext* context,
                          const kms::GetDataKeyRequest* request,
                          kms::GetDataKeyResponse* response) override;

 private:
  std::shared_ptr<KeyManager> key_manager_;
};

}  // namespace dekms::internal

#endif  // DEKMS_SRC_SERVER_KEY_SERVICE_H_
