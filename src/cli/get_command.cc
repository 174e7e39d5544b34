#include <grpcpp/grpcpp.h>

#include <chrono>
#include <memory>

#include "kms.grpc.pb.h"
#include "src/base/status_macros.h"
#include "src/base/str_cat.h"
#include "src/base/utf8.h"
#include "src/cli/commands.h"
#include "src/cli/output.h"
#include "src/crypto/encoding.h"
#include "src/server/key_service.h"

namespace dekms::internal {
namespace {

// Derives or looks up the DEK in this process, with the "key-" prefix that
// the key service applies, so both paths return the same bytes.
absl::StatusOr<SecretBytes> GetLocally(const GetOptions& options) {
  DEKMS_ASSIGN_OR_RETURN(ResolvedBackend backend,
                         ResolveBackend(options.backend));
  DEKMS_ASSIGN_OR_RETURN(std::unique_ptr<KeyManager> key_manager,
                         NewKeyManager(backend.kms, backend.storage));
  return key_manager->GetDek(StrCat(kDataKeyIdPrefix, options.data_key_id),
                             options.length_bytes);
}

absl::StatusOr<SecretBytes> GetFromServer(const GetOptions& options) {
  // data_key_id is a protobuf string, which must be UTF-8: protobuf would
  // refuse to serialise the request with no useful error.
  if (!IsValidUtf8(options.data_key_id)) {
    return absl::InvalidArgumentError(
        "the ID is not valid UTF-8, which the key service's GetDataKey "
        "requires; use a UTF-8 ID");
  }
  auto channel = grpc::CreateChannel(options.server_address,
                                     grpc::InsecureChannelCredentials());
  auto stub = kms::API::NewStub(channel);

  grpc::ClientContext context;
  context.set_deadline(
      std::chrono::system_clock::now() +
      std::chrono::duration_cast<std::chrono::system_clock::duration>(
          std::chrono::duration<double>(options.timeout_seconds)));
  kms::GetDataKeyRequest request;
  request.set_data_key_id(options.data_key_id);
  request.set_length(static_cast<uint32_t>(options.length_bytes));
  kms::GetDataKeyResponse response;
  const grpc::Status status = stub->GetDataKey(&context, request, &response);
  if (!status.ok()) {
    const auto& trailers = context.GetServerTrailingMetadata();
    const bool answered_by_service =
        trailers.find(std::string(internal::kErrorOriginMetadataKey)) !=
        trailers.end();
    std::string hint;
    if (!answered_by_service &&
        (status.error_code() == grpc::StatusCode::UNAVAILABLE ||
         status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED)) {
      hint = "; check that the key service runs there, or pass --server";
    }
    return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                        StrCat("key service at ", options.server_address, ": ",
                               status.error_message(), hint));
  }

  SecretBytes dek = SecretBytes::CopyFrom(response.data_key());
  WipeString(*response.mutable_data_key());
  if (dek.size() != options.length_bytes) {
    return absl::DataLossError(StrCat(
        "key service at ", options.server_address, " returned ", dek.size(),
        " bytes for a request of ", options.length_bytes, " bytes"));
  }
  return dek;
}

}  // namespace

absl::Status RunGet(const GetOptions& options, int out_fd) {
  if (options.format != "hex" && options.format != "base64" &&
      options.format != "raw") {
    return absl::InvalidArgumentError(StrCat(
        "unknown --format \"", options.format, "\"; use hex, base64 or raw"));
  }
  if (!(options.timeout_seconds > 0)) {
    return absl::InvalidArgumentError("--timeout must be more than 0 seconds");
  }
  DEKMS_RETURN_IF_ERROR(
      ValidateDataKeyRequest(options.data_key_id, options.length_bytes));

  absl::StatusOr<SecretBytes> dek = HasBackendSource(options.backend)
                                        ? GetLocally(options)
                                        : GetFromServer(options);
  DEKMS_RETURN_IF_ERROR(dek.status());

  if (options.format == "raw") {
    return WriteToFd(out_fd, dek->Reveal());
  }
  const SecretBytes text =
      options.format == "hex"
          ? EncodeHex(dek->Reveal())
          : EncodeBase64(dek->Reveal(), Base64Alphabet::kStandard);
  DEKMS_RETURN_IF_ERROR(WriteToFd(out_fd, text.Reveal()));
  return WriteToFd(out_fd, "\n");
}

}  // namespace dekms::internal
