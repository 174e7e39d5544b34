#include "src/storage/azure_blob_store.h"

#include <algorithm>
#include <array>
#include <optional>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "openssl/evp.h"
#include "spdlog/spdlog.h"
#include "src/base/quote.h"
#include "src/base/status_macros.h"
#include "src/base/str_cat.h"
#include "src/base/utf8.h"
#include "src/cloud/azure/shared_key.h"
#include "src/cloud/xml.h"
#include "src/crypto/encoding.h"
#include "src/storage/conditional_create.h"

namespace dekms::internal {
namespace {

constexpr std::string_view kService = "Azure Blob Storage";
constexpr size_t kMaxBlobNameBytes = 1024;
// Attempts at a read whose bytes do not match the Content-MD5 sent with it.
constexpr int kReadIntegrityAttempts = 3;

// Returns the Content-MD5 value of `data`: base64 of its MD5 digest. MD5
// serves only to detect corruption in transit here, as Azure uses it.
std::string ContentMd5(std::string_view data) {
  std::array<uint8_t, EVP_MAX_MD_SIZE> digest{};
  unsigned int size = 0;
  EVP_Digest(data.data(), data.size(), digest.data(), &size, EVP_md5(),
             nullptr);
  return std::string(
      RevealAsText(EncodeBase64(std::span<const uint8_t>(digest.data(), size),
                                Base64Alphabet::kStandard)));
}

// Percent-encodes each "/"-separated segment of a blob name, keeping the
// slashes, which Azure treats as virtual directory separators.
std::string EncodeBlobName(std::string_view name) {
  std::string out;
  size_t start = 0;
  while (true) {
    const size_t slash = name.find('/', start);
    out += PercentEncode(name.substr(start, slash - start));
    if (slash == std::string_view::npos) {
      return out;
    }
    out += '/';
    start = slash + 1;
  }
}

struct AzureError {
  std::string code;
  absl::Status status;
};

std::string_view HintFor(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kPermissionDenied:
      return "; grant the caller the Blob data actions blobs/read, "
             "blobs/write and blobs/add/action on the container (role Storage "
             "Blob Data Contributor), and containers/write where dekms "
             "creates the container";
    case absl::StatusCode::kUnauthenticated:
      return "; check the account key, or the tenant, client ID and secret, "
             "and the machine clock";
    default:
      return "";
  }
}

AzureError ErrorFromResponse(const HttpResponse& response,
                             std::string_view operation,
                             bool shared_key = false) {
  ProviderError error;
  error.service = std::string(kService);
  error.operation = std::string(operation);
  error.http_status = response.status;
  if (const std::string* code = response.FindHeader("x-ms-error-code")) {
    error.code = *code;
  } else {
    error.code = XmlElementText(response.BodyText(), "Code");
  }
  error.message = XmlElementText(response.BodyText(), "Message");
  if (const std::string* id = response.FindHeader("x-ms-request-id")) {
    error.request_id = *id;
  }
  std::optional<absl::StatusCode> code;
  if (error.code == "AuthenticationFailed" ||
      error.code == "AuthorizationFailure" || response.status == 401) {
    code = error.code == "AuthorizationFailure" && response.status == 403
               ? absl::StatusCode::kPermissionDenied
               : absl::StatusCode::kUnauthenticated;
  } else if (error.code == "ContainerNotFound") {
    code = absl::StatusCode::kFailedPrecondition;
  } else if (response.status == 404 || error.code == "ServerBusy" ||
             error.code == "OperationTimedOut" ||
             error.code == "ContainerBeingDeleted") {
    // Only BlobNotFound proves absence, and callers check for it, so any
    // other 404 is a reply that cannot be trusted.
    code = absl::StatusCode::kUnavailable;
  }
  const absl::Status status = ProviderErrorToStatus(error, code);
  std::string message =
      shared_key && (error.code == "AuthenticationFailed" ||
                     error.code == "AuthorizationFailure")
          ? StrCat(status.message(),
                   "; check sharedKey, the account's key (az storage account "
                   "keys list), and the machine clock")
          : StrCat(status.message(), HintFor(status.code()));
  if (error.code == "ContainerNotFound") {
    message = StrCat(message, "; the container may have been deleted");
  }
  return {error.code, absl::Status(status.code(), message)};
}

class BlobClient {
 public:
  explicit BlobClient(const AzureBlobStoreOptions& options)
      : options_(options) {}

  std::string ContainerUrl() const {
    return StrCat(options_.endpoint, "/", options_.container);
  }
  std::string BlobUrl(std::string_view name) const {
    return StrCat(ContainerUrl(), "/", EncodeBlobName(name));
  }

  // Sends a request built by `build` (without x-ms-version and
  // authorization), signed or with a token on each attempt.
  absl::StatusOr<HttpResponse> Send(
      std::string_view operation, bool idempotent,
      absl::FunctionRef<HttpRequest()> build,
      RetryClassifier classify = DefaultRetryClassifier) const {
    const std::string what = StrCat(kService, " ", operation);
    auto versioned = [&]() -> absl::StatusOr<HttpRequest> {
      HttpRequest request = build();
      request.SetHeader("x-ms-version", kAzureStorageApiVersion);
      if (!options_.shared_key.empty()) {
        DEKMS_RETURN_IF_ERROR(
            SignAzureSharedKey(request, options_.account, options_.shared_key,
                               options_.now ? options_.now() : absl::Now()));
      }
      return request;
    };
    if (!options_.shared_key.empty()) {
      return SendWithRetries(*options_.transport, options_.retry, what,
                             idempotent, versioned, classify);
    }
    return SendToAzureApi(*options_.credentials, kAzureStorageScope,
                          *options_.transport, options_.retry, what, idempotent,
                          versioned, classify);
  }

  // Reads blob `name`: its bytes, nullopt for BlobNotFound, or an error.
  absl::StatusOr<std::optional<std::string>> Read(std::string_view name) const {
    const std::string url = BlobUrl(name);
    for (int attempt = 1;; ++attempt) {
      DEKMS_ASSIGN_OR_RETURN(const HttpResponse response,
                             Send("Get Blob", /*idempotent=*/true, [&] {
                               HttpRequest request;
                               request.method = "GET";
                               request.url = url;
                               return request;
                             }));
      if (response.status != 200) {
        AzureError error = ErrorFromResponse(response, "Get Blob",
                                             !options_.shared_key.empty());
        if (response.status == 404 && error.code == "BlobNotFound") {
          return std::optional<std::string>();
        }
        return error.status;
      }
      std::string body(response.BodyText());
      const std::string* md5 = response.FindHeader("content-md5");
      if (md5 == nullptr || *md5 == ContentMd5(body)) {
        return std::optional<std::string>(std::move(body));
      }
      if (attempt == kReadIntegrityAttempts) {
        return absl::UnavailableError(
            StrCat(kService,
                   " Get Blob returned bytes that do not match their "
                   "Content-MD5 ",
                   kReadIntegrityAttempts,
                   " times; data is being "
                   "corrupted between dekms and Azure"));
      }
      spdlog::warn(
          "{} Get Blob: the bytes read do not match their "
          "Content-MD5; reading again",
          kService);
    }
  }

  // One create-only Put Blob of `blob` as `name`.
  ConditionalWrite Put(std::string_view name, std::string_view blob) const {
    using Outcome = ConditionalWrite::Outcome;
    const std::string url = BlobUrl(name);
    const std::string md5 = ContentMd5(blob);
    absl::StatusOr<HttpResponse> sent = Send(
        "Put Blob", /*idempotent=*/false,
        [&] {
          HttpRequest request;
          request.method = "PUT";
          request.url = url;
          request.SetHeader("Content-Type", "application/octet-stream");
          request.SetHeader("Content-MD5", md5);
          request.SetHeader("If-None-Match", "*");
          request.SetHeader("x-ms-blob-type", "BlockBlob");
          request.body = SecretBytes::CopyFrom(blob);
          request.idempotent = false;
          return request;
        },
        [](const HttpResponse& response) -> RetryDecision {
          // Only replies that prove nothing was written are retried here;
          // a 5xx reply is unclear and is settled by reading back.
          if (response.status == 429 || response.status == 408) {
            return {StrCat("HTTP ", response.status)};
          }
          return {};
        });
    if (!sent.ok()) {
      return {IsUnclearWrite(sent) ? Outcome::kUnclear : Outcome::kFailed,
              sent.status()};
    }
    if (sent->status == 201) {
      return {Outcome::kWritten, absl::OkStatus()};
    }
    AzureError error =
        ErrorFromResponse(*sent, "Put Blob", !options_.shared_key.empty());
    if ((sent->status == 409 && error.code == "BlobAlreadyExists") ||
        sent->status == 412) {
      return {Outcome::kExists, absl::OkStatus()};
    }
    return {IsUnclearWrite(sent) ? Outcome::kUnclear : Outcome::kFailed,
            error.status};
  }

 private:
  const AzureBlobStoreOptions& options_;
};

absl::Status EnsureContainer(const BlobClient& client,
                             const AzureBlobStoreOptions& options) {
  const std::string url = StrCat(client.ContainerUrl(), "?restype=container");
  DEKMS_ASSIGN_OR_RETURN(
      const HttpResponse response,
      client.Send("Create Container", /*idempotent=*/true, [&] {
        HttpRequest request;
        request.method = "PUT";
        request.url = url;
        // Constellation's tag keys and component value, so that rules
        // written for its DEK store also match.
        request.SetHeader("x-ms-meta-createdBy", "dekms");
        request.SetHeader("x-ms-meta-component", "constellation-dek-store");
        return request;
      }));
  if (response.status == 201) {
    // A warning, so that `dekms get` shows it too: a misspelt container
    // name gives a new, empty container and with it new DEKs.
    spdlog::warn(
        "created Azure Blob container {} in account {}, because it did not "
        "exist; if DEKs were expected in it, check the container name",
        options.container, options.account);
    return absl::OkStatus();
  }
  AzureError error = ErrorFromResponse(response, "Create Container",
                                       !options.shared_key.empty());
  if (error.code == "ContainerAlreadyExists") {
    return absl::OkStatus();
  }
  // With an account key, a 403 means a wrong key (Azurite reports that as
  // AuthorizationFailure), never a missing role.
  const bool key_rejected =
      !options.shared_key.empty() && error.code == "AuthorizationFailure";
  if (response.status == 403 && error.code != "AuthenticationFailed" &&
      !key_rejected) {
    // Without containers/write the container cannot be created, but it may
    // exist. The probe that follows shows whether it does.
    spdlog::warn("{}; assuming the container exists",
                 std::string(error.status.message()));
    return absl::OkStatus();
  }
  return error.status;
}

// Writes the probe blob twice with `If-None-Match: *`; the second write
// must be rejected.
absl::Status ProbeConditionalWrites(const BlobClient& client,
                                    const AzureBlobStoreOptions& options) {
  return ProbeCreateOnly(
      [&] {
        return client.Put(kAzureProbeBlob,
                          "dekms checks that this store rejects overwrites");
      },
      StrCat("the Azure Blob service at ", UrlOrigin(options.endpoint),
             " ignores \"If-None-Match: *\" and replaced an existing blob, "
             "so two dekms instances could replace each other's DEKs; use "
             "Azure Storage or an emulator that honours it"));
}

}  // namespace

absl::Status ValidateAzureAccountName(std::string_view account) {
  const bool valid =
      account.size() >= 3 && account.size() <= 24 &&
      std::all_of(account.begin(), account.end(), [](char c) {
        return absl::ascii_islower(static_cast<unsigned char>(c)) ||
               absl::ascii_isdigit(static_cast<unsigned char>(c));
      });
  if (!valid) {
    return absl::InvalidArgumentError(
        StrCat("Azure storage account name ", Quote(account),
               " is invalid; use 3 to 24 lowercase letters and digits"));
  }
  return absl::OkStatus();
}

absl::Status ValidateAzureContainerName(std::string_view container) {
  const auto edge_ok = [](char c) {
    return absl::ascii_islower(static_cast<unsigned char>(c)) ||
           absl::ascii_isdigit(static_cast<unsigned char>(c));
  };
  const bool valid =
      container.size() >= 3 && container.size() <= 63 &&
      edge_ok(container.front()) && edge_ok(container.back()) &&
      container.find("--") == std::string_view::npos &&
      std::all_of(container.begin(), container.end(),
                  [&](char c) { return edge_ok(c) || c == '-'; });
  if (!valid) {
    return absl::InvalidArgumentError(
        StrCat("Azure Blob container name ", Quote(container),
               " is invalid; use 3 to 63 lowercase letters, digits and single "
               "hyphens, starting and ending with a letter or digit"));
  }
  return absl::OkStatus();
}

absl::Status ValidateAzureBlobName(std::string_view id) {
  if (id.empty() || id.size() > kMaxBlobNameBytes) {
    return absl::InvalidArgumentError(
        StrCat("storage://azure stores each DEK under its ID, so the ID must "
               "be 1 to ",
               kMaxBlobNameBytes, " bytes long"));
  }
  if (!IsValidUtf8(id) || HasControlCharacters(id)) {
    return absl::InvalidArgumentError(
        "storage://azure stores each DEK under its ID, so the ID must be "
        "valid UTF-8 without control characters");
  }
  if (id.ends_with('.') || id.ends_with('/') || id.ends_with('\\')) {
    return absl::InvalidArgumentError(
        "storage://azure cannot store an ID that ends with \".\", \"/\" or "
        "\"\\\", because Azure and HTTP clients may strip it");
  }
  size_t start = 0;
  while (start <= id.size()) {
    const size_t end = std::min(id.find('/', start), id.size());
    const std::string_view segment = id.substr(start, end - start);
    if (segment == "." || segment == "..") {
      return absl::InvalidArgumentError(
          "storage://azure stores each DEK under its ID, so the ID must not "
          "have \".\" or \"..\" between slashes");
    }
    start = end + 1;
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<AzureBlobStore>> AzureBlobStore::Create(
    AzureBlobStoreOptions options) {
  DEKMS_RETURN_IF_ERROR(ValidateAzureAccountName(options.account));
  DEKMS_RETURN_IF_ERROR(ValidateAzureContainerName(options.container));
  if (options.transport == nullptr ||
      (options.shared_key.empty() && options.credentials == nullptr)) {
    return absl::InvalidArgumentError(
        "AzureBlobStore needs a transport, and an account key or "
        "credentials");
  }
  if (options.endpoint.empty()) {
    options.endpoint =
        StrCat("https://", options.account, ".blob.core.windows.net");
  }
  BlobClient client(options);
  DEKMS_RETURN_IF_ERROR(EnsureContainer(client, options));
  DEKMS_RETURN_IF_ERROR(ProbeConditionalWrites(client, options));
  return std::unique_ptr<AzureBlobStore>(
      new AzureBlobStore(std::move(options)));
}

AzureBlobStore::AzureBlobStore(AzureBlobStoreOptions options)
    : options_(std::move(options)) {}

absl::StatusOr<std::string> AzureBlobStore::Get(std::string_view id) {
  DEKMS_RETURN_IF_ERROR(ValidateAzureBlobName(id));
  BlobClient client(options_);
  DEKMS_ASSIGN_OR_RETURN(std::optional<std::string> blob, client.Read(id));
  if (!blob.has_value()) {
    return absl::NotFoundError(
        StrCat("no blob stored under this ID in Azure Blob container ",
               Quote(options_.container)));
  }
  return std::move(*blob);
}

absl::Status AzureBlobStore::Create(std::string_view id,
                                    std::string_view blob) {
  DEKMS_RETURN_IF_ERROR(ValidateAzureBlobName(id));
  BlobClient client(options_);
  return CreateSettlingUnclearWrites(
      blob, options_.retry, "Azure Put Blob",
      StrCat("a blob is already stored under this ID in Azure Blob "
             "container ",
             Quote(options_.container)),
      [&]() { return client.Put(id, blob); },
      [&]() { return client.Read(id); });
}

}  // namespace dekms::internal
