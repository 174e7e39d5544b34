#include "src/server/key_service.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <string>

#include "absl/strings/escaping.h"
#include "src/base/quote.h"
#include "src/base/str_cat.h"

namespace dekms::internal {
absl::Status ValidateDataKeyRequest(std::string_view data_key_id,
                                    size_t length_bytes) {
  if (length_bytes == 0) {
    return absl::InvalidArgumentError(StrCat(
        "length is 0; request a DEK of 1 to ", kMaxDekLengthBytes, " bytes"));
  }
  if (length_bytes > kMaxDekLengthBytes) {
    return absl::InvalidArgumentError(StrCat("length ", length_bytes,
                                             " is too large; request 1 to ",
                                             kMaxDekLengthBytes, " bytes"));
  }
  if (data_key_id.empty()) {
    return absl::InvalidArgumentError(
        "data_key_id is empty; pass the ID of the DEK to get");
  }
  if (data_key_id.size() > kMaxDataKeyIdBytes) {
    return absl::InvalidArgumentError(
        StrCat("data_key_id is ", data_key_id.size(),
               " bytes long; the maximum is ", kMaxDataKeyIdBytes, " bytes"));
  }
  return absl::OkStatus();
}

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) {
    return grpc::Status::OK;
  }
  const auto code = static_cast<grpc::StatusCode>(status.code());
  if (status.code() == absl::StatusCode::kInternal ||
      status.code() == absl::StatusCode::kUnknown) {
    return grpc::Status(code,
                        "internal error in the key service; its log has the "
                        "details");
  }
  return grpc::Status(code, std::string(status.message()));
}

absl::Status FromGrpcStatus(const grpc::Status& status) {
  if (status.ok()) {
    return absl::OkStatus();
  }
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                      status.error_message());
}

KeyService::KeyService(std::shared_ptr<KeyManager> key_manager)
    : key_manager_(std::move(key_manager)) {}

grpc::Status KeyService::GetDataKey(grpc::ServerContext* context,
                                    const kms::GetDataKeyRequest* request,
                                    kms::GetDataKeyResponse* response) {
  const auto start = std::chrono::steady_clock::now();

  absl::Status status =
      ValidateDataKeyRequest(request->data_key_id(), request->length());
  if (status.ok()) {
    const std::string dek_id = StrCat(kDataKeyIdPrefix, request->data_key_id());
    absl::StatusOr<SecretBytes> dek =
        key_manager_->GetDek(dek_id, request->length());
    if (dek.ok()) {
      // NOTE: protobuf keeps the DEK in a std::string that dekms cannot wipe;
      // the copy lives until gRPC has sent the response.
      const std::span<const uint8_t> bytes = dek->Reveal();
      response->set_data_key(reinterpret_cast<const char*>(bytes.data()),
                             bytes.size());
    } else {
      status = dek.status();
    }
  }

  const auto latency = std::chrono::duration_cast<std::chrono::microseconds>(
      std::chrono::steady_clock::now() - start);
  const std::string id = Quote(request->data_key_id());
  if (status.ok()) {
    spdlog::info(
        "GetDataKey data_key_id={} length={} status=OK latency_us={} "
        "peer={}",
        id, request->length(), latency.count(), context->peer());
  } else if (status.code() == absl::StatusCode::kInvalidArgument ||
             status.code() == absl::StatusCode::kNotFound ||
             status.code() == absl::StatusCode::kFailedPrecondition) {
    spdlog::info(
        "GetDataKey data_key_id={} length={} status={} latency_us={} peer={} "
        "error=\"{}\"",
        id, request->length(), absl::StatusCodeToString(status.code()),
        latency.count(), context->peer(), absl::CEscape(status.message()));
  } else {
    spdlog::error(
        "GetDataKey data_key_id={} length={} status={} latency_us={} peer={} "
        "error=\"{}\"",
        id, request->length(), absl::StatusCodeToString(status.code()),
        latency.count(), context->peer(), absl::CEscape(status.message()));
  }
  if (!status.ok()) {
    // Tells clients that the service ran and returned this error, so they
    // do not blame the connection for a backend's failure.
    context->AddTrailingMetadata(std::string(kErrorOriginMetadataKey),
                                 "key-service");
  }
  return ToGrpcStatus(status);
}

}  // namespace dekms::internal
