#include "src/kek/aws_kms_kek_provider.h"

#include <string>
#include <utility>

#include "absl/status/status.h"
#include "src/base/quote.h"
#include "src/base/status_macros.h"
#include "src/base/str_cat.h"
#include "src/cloud/aws/sigv4.h"
#include "src/cloud/secret_json.h"
#include "src/cloud/xml.h"
#include "src/crypto/encoding.h"

namespace dekms::internal {
namespace {

constexpr std::string_view kService = "AWS KMS";
// Encryption context entry that carries the blob's associated data. KMS
// authenticates the context and logs it in CloudTrail; it is not secret.
constexpr std::string_view kContextKey = "dekms:associated-data";

// Returns the error type of a KMS reply without the namespace prefix
// ("com.amazonaws.kms#NotFoundException") or suffix (":http://...").
std::string NormalizeErrorType(std::string_view type) {
  if (const size_t hash = type.rfind('#'); hash != std::string_view::npos) {
    type.remove_prefix(hash + 1);
  }
  if (const size_t colon = type.find(':'); colon != std::string_view::npos) {
    type = type.substr(0, colon);
  }
  return std::string(type);
}

std::string ErrorType(const HttpResponse& response, const SecretJson& body) {
  if (const WipingString* type = FindString(body, "__type")) {
    return NormalizeErrorType(std::string_view(type->data(), type->size()));
  }
  if (const std::string* header = response.FindHeader("x-amzn-errortype")) {
    return NormalizeErrorType(*header);
  }
  // Front ends and some emulators reject authentication in the XML error
  // shape of the query protocol instead.
  return XmlElementText(response.BodyText(), "Code");
}

std::optional<absl::StatusCode> CodeForErrorType(std::string_view type) {
  using absl::StatusCode;
  if (type == "NotFoundException" || type == "IncorrectKeyException" ||
      type == "DisabledException" || type == "KMSInvalidStateException" ||
      type == "InvalidKeyUsageException") {
    return StatusCode::kFailedPrecondition;
  }
  if (type == "InvalidCiphertextException") {
    return StatusCode::kDataLoss;
  }
  if (type == "AccessDeniedException") {
    return StatusCode::kPermissionDenied;
  }
  if (type == "UnrecognizedClientException" ||
      type == "InvalidSignatureException" ||
      type == "IncompleteSignatureException" ||
      type == "ExpiredTokenException" ||
      type == "MissingAuthenticationTokenException" ||
      type == "SignatureDoesNotMatch" || type == "InvalidClientTokenId") {
    return StatusCode::kUnauthenticated;
  }
  if (type == "ValidationException" || type == "InvalidGrantTokenException") {
    return StatusCode::kInvalidArgument;
  }
  if (type == "ThrottlingException" || type == "LimitExceededException" ||
      type == "KMSInternalException" || type == "DependencyTimeoutException" ||
      type == "KeyUnavailableException") {
    return StatusCode::kUnavailable;
  }
  return std::nullopt;
}

// Returns the advice for an error code, where one fix fits every case.
std::string_view HintFor(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kPermissionDenied:
      return "; grant the caller kms:DescribeKey, kms:Encrypt and kms:Decrypt "
             "on the key";
    case absl::StatusCode::kUnauthenticated:
      return "; check the access key, its secret and session token, and the "
             "machine clock";
    case absl::StatusCode::kDataLoss:
      return "; the blob was altered or belongs to another DEK ID or length";
    case absl::StatusCode::kFailedPrecondition:
      return "; check that the key exists, is enabled and is not pending "
             "deletion (aws kms describe-key)";
    default:
      return "";
  }
}

RetryDecision ClassifyKmsResponse(const HttpResponse& response) {
  if (response.status == 400) {
    const SecretJson body = ParseSecretJson(response.BodyText());
    if (ErrorType(response, body) == "ThrottlingException") {
      return {"ThrottlingException"};
    }
    return {};
  }
  return DefaultRetryClassifier(response);
}

absl::Status ErrorFromResponse(const HttpResponse& response,
                               std::string_view operation) {
  const SecretJson body = ParseSecretJson(response.BodyText());
  ProviderError error;
  error.service = std::string(kService);
  error.operation = std::string(operation);
  error.http_status = response.status;
  error.code = ErrorType(response, body);
  for (const char* field : {"message", "Message"}) {
    if (const WipingString* message = FindString(body, field)) {
      error.message.assign(message->data(), message->size());
      break;
    }
  }
  if (error.message.empty() && !body.is_object()) {
    error.message = XmlElementText(response.BodyText(), "Message");
  }
  if (const std::string* id = response.FindHeader("x-amzn-requestid")) {
    error.request_id = *id;
  }
  const absl::Status status =
      ProviderErrorToStatus(error, CodeForErrorType(error.code));
  return {status.code(), StrCat(status.message(), HintFor(status.code()))};
}

// Sends one KMS operation with `body` and returns the parsed reply.
absl::StatusOr<SecretJson> CallKms(const AwsKmsKekOptions& options,
                                   std::string_view operation,
                                   const SecretJson& body) {
  const WipingString text = body.dump();
  auto build = [&]() -> absl::StatusOr<HttpRequest> {
    HttpRequest request;
    request.method = "POST";
    request.url = StrCat(options.endpoint, "/");
    request.SetHeader("Content-Type", "application/x-amz-json-1.1");
    request.SetHeader("X-Amz-Target", StrCat("TrentService.", operation));
    request.body =
        SecretBytes::CopyFrom(std::string_view(text.data(), text.size()));
    DEKMS_ASSIGN_OR_RETURN(AwsCredentials credentials,
                           options.credentials->Get());
    SigV4Options signing;
    signing.region = options.region;
    signing.service = "kms";
    DEKMS_RETURN_IF_ERROR(SignAwsV4(request, credentials, signing,
                                    options.now ? options.now() : absl::Now()));
    return request;
  };
  absl::StatusOr<HttpResponse> sent = SendWithRetries(
      *options.transport, options.retry, StrCat(kService, " ", operation),
      /*idempotent=*/true, build, ClassifyKmsResponse);
  if (!sent.ok()) {
    return absl::Status(
        sent.status().code(),
        StrCat(kService, " ", operation, ": ", sent.status().message()));
  }
  const HttpResponse& response = *sent;
  if (response.status != 200) {
    return ErrorFromResponse(response, operation);
  }
  SecretJson reply = ParseSecretJson(response.BodyText());
  if (!reply.is_object()) {
    return absl::UnavailableError(StrCat(kService, " ", operation,
                                         " returned a reply that is not a "
                                         "JSON object; check the endpoint ",
                                         options.endpoint));
  }
  return reply;
}

absl::StatusOr<std::string> RequiredString(const SecretJson& object,
                                           std::string_view field,
                                           std::string_view operation) {
  const WipingString* value = FindString(object, field);
  if (value == nullptr) {
    return absl::UnavailableError(StrCat(
        kService, " ", operation, " reply has no string field ", Quote(field)));
  }
  return std::string(value->data(), value->size());
}

SecretJson EncryptionContext(std::span<const uint8_t> associated_data) {
  const SecretBytes encoded =
      EncodeBase64(associated_data, Base64Alphabet::kStandard);
  const std::string_view text = RevealAsText(encoded);
  SecretJson context = SecretJson::object();
  context[WipingString(kContextKey)] = WipingString(text.data(), text.size());
  return context;
}

// Checks DescribeKey's KeyMetadata and returns the key ARN.
absl::StatusOr<std::string> CheckKeyMetadata(const SecretJson& reply,
                                             std::string_view key_name) {
  const auto metadata = reply.find("KeyMetadata");
  if (metadata == reply.end() || !metadata->is_object()) {
    return absl::UnavailableError(
        StrCat(kService, " DescribeKey reply has no KeyMetadata"));
  }
  DEKMS_ASSIGN_OR_RETURN(std::string arn,
                         RequiredString(*metadata, "Arn", "DescribeKey"));
  const auto field = [&](std::string_view name) -> std::string {
    const WipingString* value = FindString(*metadata, name);
    return value == nullptr ? std::string()
                            : std::string(value->data(), value->size());
  };
  const std::string key_label =
      StrCat("AWS KMS key ", Quote(key_name),
             key_name == arn ? "" : StrCat(" (", arn, ")"));
  const std::string state = field("KeyState");
  if (state == "PendingDeletion" || state == "PendingReplicaDeletion") {
    return absl::FailedPreconditionError(
        StrCat(key_label,
               " is scheduled for deletion; cancel the deletion (aws kms "
               "cancel-key-deletion) and enable the key, or configure another "
               "key"));
  }
  if (state == "Disabled") {
    return absl::FailedPreconditionError(
        StrCat(key_label,
               " is disabled; enable it (aws kms enable-key) or "
               "configure another key"));
  }
  if (!state.empty() && state != "Enabled") {
    return absl::FailedPreconditionError(
        StrCat(key_label, " is in state ", state, ", not Enabled"));
  }
  if (const auto enabled = metadata->find("Enabled");
      enabled != metadata->end() && enabled->is_boolean() &&
      !enabled->get<bool>()) {
    return absl::FailedPreconditionError(StrCat(key_label, " is not enabled"));
  }
  std::string spec = field("KeySpec");
  if (spec.empty()) {
    spec = field("CustomerMasterKeySpec");
  }
  const std::string usage = field("KeyUsage");
  if ((!spec.empty() && spec != "SYMMETRIC_DEFAULT") ||
      (!usage.empty() && usage != "ENCRYPT_DECRYPT")) {
    return absl::FailedPreconditionError(
        StrCat(key_label, " is a ", spec.empty() ? "?" : spec, " key for ",
               usage.empty() ? "?" : usage,
               "; dekms needs a symmetric encryption key (KeySpec "
               "SYMMETRIC_DEFAULT, KeyUsage ENCRYPT_DECRYPT)"));
  }
  return arn;
}

absl::StatusOr<std::string> DescribeKey(const AwsKmsKekOptions& options) {
  SecretJson request = SecretJson::object();
  request["KeyId"] =
      WipingString(options.key_name.data(), options.key_name.size());
  absl::StatusOr<SecretJson> reply = CallKms(options, "DescribeKey", request);
  if (!reply.ok()) {
    if (reply.status().code() == absl::StatusCode::kFailedPrecondition) {
      return absl::FailedPreconditionError(
          StrCat(reply.status().message(), "; check keyName ",
                 Quote(options.key_name), " and region ", options.region));
    }
    return reply.status();
  }
  return CheckKeyMetadata(*reply, options.key_name);
}

}  // namespace

absl::StatusOr<std::unique_ptr<AwsKmsKekProvider>> AwsKmsKekProvider::Create(
    AwsKmsKekOptions options) {
  if (options.key_name.empty()) {
    return absl::InvalidArgumentError("kms://aws needs a keyName");
  }
  if (options.credentials == nullptr || options.transport == nullptr) {
    return absl::InvalidArgumentError(
        "AwsKmsKekProvider needs credentials and a transport");
  }
  DEKMS_ASSIGN_OR_RETURN(std::string arn, DescribeKey(options));
  return std::unique_ptr<AwsKmsKekProvider>(
      new AwsKmsKekProvider(std::move(options), std::move(arn)));
}

AwsKmsKekProvider::AwsKmsKekProvider(AwsKmsKekOptions options,
                                     std::string key_arn)
    : options_(std::move(options)), key_arn_(std::move(key_arn)) {}

absl::Status AwsKmsKekProvider::Check() {
  DEKMS_ASSIGN_OR_RETURN(const std::string arn, DescribeKey(options_));
  if (arn != key_arn_) {
    return absl::FailedPreconditionError(
        StrCat("AWS KMS key ", Quote(options_.key_name), " now resolves to ",
               arn, " but was ", key_arn_,
               " at start-up; restart dekms to pick up the change"));
  }
  return absl::OkStatus();
}

absl::StatusOr<KekProvider::Wrapped> AwsKmsKekProvider::Wrap(
    const SecretBytes& plaintext, std::span<const uint8_t> associated_data) {
  if (plaintext.empty() || plaintext.size() > kAwsKmsMaxPlaintextBytes) {
    return absl::InvalidArgumentError(
        StrCat("AWS KMS Encrypt takes 1 to ", kAwsKmsMaxPlaintextBytes,
               " bytes, so kms://aws cannot wrap a DEK of ", plaintext.size(),
               " bytes; request a shorter DEK"));
  }
  const SecretBytes encoded =
      EncodeBase64(plaintext.Reveal(), Base64Alphabet::kStandard);
  const std::string_view encoded_text = RevealAsText(encoded);
  SecretJson request = SecretJson::object();
  request["KeyId"] = WipingString(key_arn_.data(), key_arn_.size());
  request["Plaintext"] = WipingString(encoded_text.data(), encoded_text.size());
  request["EncryptionContext"] = EncryptionContext(associated_data);

  DEKMS_ASSIGN_OR_RETURN(SecretJson reply,
                         CallKms(options_, "Encrypt", request));
  DEKMS_ASSIGN_OR_RETURN(std::string blob,
                         RequiredString(reply, "CiphertextBlob", "Encrypt"));
  DEKMS_ASSIGN_OR_RETURN(
      SecretBytes ciphertext,
      DecodeBase64(blob, Base64Alphabet::kStandard,
                   "CiphertextBlob of the AWS KMS Encrypt reply"));
  if (const WipingString* key_id = FindString(reply, "KeyId");
      key_id != nullptr &&
      std::string_view(key_id->data(), key_id->size()) != key_arn_) {
    return absl::InternalError(
        StrCat("AWS KMS Encrypt used key ",
               std::string_view(key_id->data(), key_id->size()), " instead of ",
               key_arn_));
  }
  return Wrapped{std::string(RevealAsText(ciphertext)), ""};
}

absl::StatusOr<SecretBytes> AwsKmsKekProvider::Unwrap(
    std::string_view ciphertext, std::string_view /*key_version*/,
    std::span<const uint8_t> associated_data) {
  const SecretBytes encoded = EncodeBase64(
      {reinterpret_cast<const uint8_t*>(ciphertext.data()), ciphertext.size()},
      Base64Alphabet::kStandard);
  const std::string_view encoded_text = RevealAsText(encoded);
  SecretJson request = SecretJson::object();
  request["KeyId"] = WipingString(key_arn_.data(), key_arn_.size());
  request["CiphertextBlob"] =
      WipingString(encoded_text.data(), encoded_text.size());
  request["EncryptionContext"] = EncryptionContext(associated_data);

  DEKMS_ASSIGN_OR_RETURN(SecretJson reply,
                         CallKms(options_, "Decrypt", request));
  const WipingString* plaintext = FindString(reply, "Plaintext");
  if (plaintext == nullptr) {
    return absl::UnavailableError(
        "AWS KMS Decrypt reply has no string field \"Plaintext\"");
  }
  return DecodeBase64(std::string_view(plaintext->data(), plaintext->size()),
                      Base64Alphabet::kStandard,
                      "Plaintext of the AWS KMS Decrypt reply");
}

}  // namespace dekms::internal
