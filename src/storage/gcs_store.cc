#include "src/storage/gcs_store.h"

#include <algorithm>
#include <array>
#include <optional>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "spdlog/spdlog.h"
#include "src/base/quote.h"
#include "src/base/status_macros.h"
#include "src/base/str_cat.h"
#include "src/base/utf8.h"
#include "src/cloud/gcp/google_api.h"
#include "src/cloud/secret_json.h"
#include "src/crypto/crc32c.h"
#include "src/crypto/encoding.h"
#include "src/storage/conditional_create.h"

namespace dekms::internal {
namespace {

constexpr std::string_view kService = "Cloud Storage";
constexpr size_t kMaxObjectNameBytes = 1024;
// Attempts at a read whose bytes do not match the server's checksum.
constexpr int kReadIntegrityAttempts = 3;

// Returns the CRC-32C of `data` as Cloud Storage writes it: base64 of the
// four bytes in big-endian order.
std::string Crc32cBase64(std::string_view data) {
  const uint32_t crc = Crc32c(data);
  const std::array<uint8_t, 4> bytes = {
      static_cast<uint8_t>(crc >> 24), static_cast<uint8_t>(crc >> 16),
      static_cast<uint8_t>(crc >> 8), static_cast<uint8_t>(crc)};
  return std::string(
      RevealAsText(EncodeBase64(bytes, Base64Alphabet::kStandard)));
}

// Returns the crc32c value of an x-goog-hash header such as
// "crc32c=n03x6A==,md5=...", or nullopt.
std::optional<std::string> Crc32cFromHashHeader(const HttpResponse& response) {
  // Servers may send one header per hash or one list; both are searched.
  for (const HttpHeader& header : response.headers) {
    if (header.name != "x-goog-hash") {
      continue;
    }
    std::string_view rest = header.value;
    while (!rest.empty()) {
      const size_t comma = rest.find(',');
      std::string_view item = rest.substr(0, comma);
      rest = comma == std::string_view::npos ? std::string_view()
                                             : rest.substr(comma + 1);
      while (!item.empty() && item.front() == ' ') {
        item.remove_prefix(1);
      }
      if (item.starts_with("crc32c=")) {
        return std::string(item.substr(7));
      }
    }
  }
  return std::nullopt;
}

std::string_view HintFor(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kPermissionDenied:
      return "; grant the caller storage.objects.create, "
             "storage.objects.get and storage.buckets.get on the bucket "
             "(roles/storage.objectCreator, roles/storage.objectViewer and "
             "roles/storage.legacyBucketReader, or a custom role), and check "
             "that the bucket is this project's";
    case absl::StatusCode::kUnauthenticated:
      return "; check the Google credentials and the machine clock";
    default:
      return "";
  }
}

absl::Status ErrorFromResponse(const HttpResponse& response,
                               std::string_view operation,
                               std::optional<absl::StatusCode> code = {}) {
  const GoogleApiError error = ParseGoogleApiError(response);
  const absl::Status status =
      GoogleApiErrorToStatus(response, error, kService, operation, code);
  return {status.code(), StrCat(status.message(), HintFor(status.code()))};
}

class GcsClient {
 public:
  explicit GcsClient(const GcsStoreOptions& options) : options_(options) {}

  std::string BucketUrl() const {
    return StrCat(options_.endpoint, "/storage/v1/b/",
                  PercentEncode(options_.bucket));
  }

  std::string ObjectMediaUrl(std::string_view name) const {
    return StrCat(BucketUrl(), "/o/", PercentEncode(name), "?alt=media");
  }

  std::string UploadUrl(std::string_view name) const {
    return StrCat(
        options_.endpoint, "/upload/storage/v1/b/",
        PercentEncode(options_.bucket),
        "/o?uploadType=media&ifGenerationMatch=0&name=", PercentEncode(name));
  }

  // Names the operation in an error that has no reply behind it, such as a
  // failed token fetch or connection.
  static absl::StatusOr<HttpResponse> WithOperation(
      std::string_view operation, absl::StatusOr<HttpResponse> sent) {
    if (sent.ok()) {
      return sent;
    }
    return absl::Status(
        sent.status().code(),
        StrCat(kService, " ", operation, ": ", sent.status().message()));
  }

  static HttpRequest NewRequest(std::string method, std::string url) {
    HttpRequest request;
    request.method = std::move(method);
    request.url = std::move(url);
    return request;
  }

  // Sends a request that may be repeated: a read or a bucket call.
  absl::StatusOr<HttpResponse> SendRepeatable(std::string_view operation,
                                              std::string method,
                                              const std::string& url,
                                              std::string_view json_body) {
    return WithOperation(
        operation,
        SendToGoogleApi(
            options_.credentials.get(), *options_.transport, options_.retry,
            StrCat(kService, " ", operation),
            /*idempotent=*/true, [&]() -> absl::StatusOr<HttpRequest> {
              HttpRequest request = NewRequest(method, url);
              if (!json_body.empty()) {
                request.SetHeader("Content-Type", "application/json");
                request.body = SecretBytes::CopyFrom(json_body);
              }
              return request;
            }));
  }

  // Reads object `name`: its bytes, nullopt when absent, or an error.
  absl::StatusOr<std::optional<std::string>> Read(std::string_view name) {
    const std::string url = ObjectMediaUrl(name);
    for (int attempt = 1;; ++attempt) {
      DEKMS_ASSIGN_OR_RETURN(HttpResponse response,
                             SendRepeatable("objects.get", "GET", url, ""));
      if (response.status == 404) {
        return std::optional<std::string>();
      }
      if (response.status != 200) {
        return ErrorFromResponse(response, "objects.get");
      }
      std::string body(response.BodyText());
      const std::optional<std::string> crc = Crc32cFromHashHeader(response);
      if (!crc.has_value() || *crc == Crc32cBase64(body)) {
        return std::optional<std::string>(std::move(body));
      }
      if (attempt == kReadIntegrityAttempts) {
        return absl::UnavailableError(
            StrCat(kService,
                   " objects.get returned bytes that do not match their "
                   "CRC-32C ",
                   kReadIntegrityAttempts,
                   " times; data is being "
                   "corrupted between dekms and Cloud Storage"));
      }
      spdlog::warn(
          "{} objects.get: the bytes read do not match their "
          "CRC-32C; reading again",
          kService);
    }
  }

  // One create-only upload of `blob` as `name`.
  ConditionalWrite Upload(std::string_view name, std::string_view blob) {
    using Outcome = ConditionalWrite::Outcome;
    const std::string url = UploadUrl(name);
    const std::string crc = Crc32cBase64(blob);
    absl::StatusOr<HttpResponse> sent = WithOperation(
        "objects.insert",
        SendToGoogleApi(
            options_.credentials.get(), *options_.transport, options_.retry,
            StrCat(kService, " objects.insert"),
            /*idempotent=*/false,
            [&]() -> absl::StatusOr<HttpRequest> {
              HttpRequest request = NewRequest("POST", url);
              request.SetHeader("Content-Type", "application/octet-stream");
              // Cloud Storage rejects the upload when the bytes it received do
              // not match this checksum.
              request.SetHeader("X-Goog-Hash", StrCat("crc32c=", crc));
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
            }));
    if (!sent.ok()) {
      return {IsUnclearWrite(sent) ? Outcome::kUnclear : Outcome::kFailed,
              sent.status()};
    }
    if (sent->status == 412) {
      return {Outcome::kExists, absl::OkStatus()};
    }
    if (sent->status != 200) {
      std::optional<absl::StatusCode> code;
      if (sent->status == 404) {
        code = absl::StatusCode::kFailedPrecondition;
      }
      absl::Status status = ErrorFromResponse(*sent, "objects.insert", code);
      if (sent->status == 404) {
        status = absl::FailedPreconditionError(
            StrCat(status.message(), "; the bucket ", Quote(options_.bucket),
                   " may have been deleted"));
      }
      return {IsUnclearWrite(sent) ? Outcome::kUnclear : Outcome::kFailed,
              status};
    }
    return CheckUploadReply(*sent, name, blob, crc);
  }

 private:
  // A write counts only when the reply names the object with the bytes
  // sent: the right name, size and checksum.
  ConditionalWrite CheckUploadReply(const HttpResponse& response,
                                    std::string_view name,
                                    std::string_view blob,
                                    const std::string& crc) const {
    using Outcome = ConditionalWrite::Outcome;
    const SecretJson object = ParseSecretJson(response.BodyText());
    const WipingString* stored_name = FindString(object, "name");
    const WipingString* stored_crc = FindString(object, "crc32c");
    const std::optional<uint64_t> size = GoogleUint64Field(object, "size");
    if (stored_name == nullptr ||
        std::string_view(stored_name->data(), stored_name->size()) != name ||
        !size.has_value()) {
      // Without a confirmation the outcome is unknown.
      return {Outcome::kUnclear,
              absl::UnavailableError(
                  StrCat(kService,
                         " objects.insert answered 200 without naming the "
                         "object and its size"))};
    }
    if (*size != blob.size() ||
        (stored_crc != nullptr &&
         std::string_view(stored_crc->data(), stored_crc->size()) != crc)) {
      return {Outcome::kFailed,
              absl::DataLossError(StrCat(
                  kService, " stored an object of ", *size,
                  " bytes that does not match the blob of ", blob.size(),
                  " bytes sent; the stored blob will fail authentication, "
                  "so delete the object and request the DEK again"))};
    }
    return {Outcome::kWritten, absl::OkStatus()};
  }

  const GcsStoreOptions& options_;
};

absl::Status CreateBucket(GcsClient& client, const GcsStoreOptions& options) {
  const std::string url =
      StrCat(options.endpoint,
             "/storage/v1/b?project=", PercentEncode(options.project_id));
  const std::string body = nlohmann::json({{"name", options.bucket}}).dump();
  DEKMS_ASSIGN_OR_RETURN(
      HttpResponse response,
      client.SendRepeatable("buckets.insert", "POST", url, body));
  if (response.status == 200) {
    // A warning, so that `dekms get` shows it too: a misspelt bucket name
    // gives a new, empty bucket and with it new DEKs.
    spdlog::warn(
        "created Cloud Storage bucket {} in project {}, because it did not "
        "exist; if DEKs were expected in it, check the bucket name",
        options.bucket, options.project_id);
    return absl::OkStatus();
  }
  if (response.status == 409) {
    // Another dekms or an earlier attempt of this call created the bucket
    // meanwhile, or someone else owns it. A second read shows which.
    DEKMS_ASSIGN_OR_RETURN(
        HttpResponse again,
        client.SendRepeatable("buckets.get", "GET", client.BucketUrl(), ""));
    if (again.status == 200) {
      return absl::OkStatus();
    }
    return absl::FailedPreconditionError(
        StrCat("Cloud Storage bucket ", Quote(options.bucket),
               " exists but this account cannot read it; it may belong to "
               "another project, so choose another bucket name"));
  }
  return ErrorFromResponse(response, "buckets.insert");
}

absl::Status EnsureBucket(GcsClient& client, const GcsStoreOptions& options) {
  DEKMS_ASSIGN_OR_RETURN(
      HttpResponse response,
      client.SendRepeatable("buckets.get", "GET", client.BucketUrl(), ""));
  if (response.status == 200) {
    return absl::OkStatus();
  }
  if (response.status == 404) {
    return CreateBucket(client, options);
  }
  return ErrorFromResponse(response, "buckets.get");
}

// Uploads the probe object twice with `ifGenerationMatch=0`; the second
// upload must fail with 412.
absl::Status ProbePreconditions(GcsClient& client,
                                const GcsStoreOptions& options) {
  return ProbeCreateOnly(
      [&] {
        return client.Upload(kGcsProbeObject,
                             "dekms checks that this store rejects overwrites");
      },
      StrCat("the Cloud Storage server at ", UrlOrigin(options.endpoint),
             " ignores ifGenerationMatch=0 and replaced an existing object, so "
             "two dekms instances could replace each other's DEKs; use Cloud "
             "Storage or an emulator that honours preconditions"));
}

}  // namespace

absl::Status ValidateGcsBucketName(std::string_view bucket) {
  const auto edge_ok = [](char c) {
    return absl::ascii_islower(static_cast<unsigned char>(c)) ||
           absl::ascii_isdigit(static_cast<unsigned char>(c));
  };
  const bool dotted = bucket.find('.') != std::string_view::npos;
  bool valid = bucket.size() >= 3 && bucket.size() <= (dotted ? 222 : 63) &&
               edge_ok(bucket.front()) && edge_ok(bucket.back()) &&
               !bucket.starts_with("goog") &&
               bucket.find("google") == std::string_view::npos &&
               std::all_of(bucket.begin(), bucket.end(), [&](char c) {
                 return edge_ok(c) || c == '-' || c == '_' || c == '.';
               });
  for (size_t start = 0; valid && start <= bucket.size();) {
    const size_t end = std::min(bucket.find('.', start), bucket.size());
    valid = end - start >= 1 && end - start <= 63;
    start = end + 1;
  }
  if (!valid) {
    return absl::InvalidArgumentError(
        StrCat("Cloud Storage bucket name ", Quote(bucket),
               " is invalid; use 3 to 63 lowercase letters, digits, hyphens, "
               "underscores and dots (up to 222 with dots, 63 between dots), "
               "starting and ending with a letter or digit, not starting with "
               "\"goog\" and not containing \"google\""));
  }
  return absl::OkStatus();
}

absl::Status ValidateGcsObjectName(std::string_view id) {
  if (id.empty() || id.size() > kMaxObjectNameBytes) {
    return absl::InvalidArgumentError(
        StrCat("storage://gcp stores each DEK under its ID, so the ID must "
               "be 1 to ",
               kMaxObjectNameBytes, " bytes long"));
  }
  if (!IsValidUtf8(id) || HasControlCharacters(id)) {
    return absl::InvalidArgumentError(
        "storage://gcp stores each DEK under its ID, so the ID must be valid "
        "UTF-8 without control characters");
  }
  if (id == "." || id == ".." ||
      id.starts_with(".well-known/acme-challenge/")) {
    return absl::InvalidArgumentError(
        "storage://gcp cannot store an object named \".\" or \"..\" or under "
        "\".well-known/acme-challenge/\"; use another DEK ID");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<GcsStore>> GcsStore::Create(
    GcsStoreOptions options) {
  DEKMS_RETURN_IF_ERROR(ValidateGcsBucketName(options.bucket));
  if (options.transport == nullptr) {
    return absl::InvalidArgumentError("GcsStore needs a transport");
  }
  GcsClient client(options);
  DEKMS_RETURN_IF_ERROR(EnsureBucket(client, options));
  DEKMS_RETURN_IF_ERROR(ProbePreconditions(client, options));
  return std::unique_ptr<GcsStore>(new GcsStore(std::move(options)));
}

GcsStore::GcsStore(GcsStoreOptions options) : options_(std::move(options)) {}

absl::StatusOr<std::string> GcsStore::Get(std::string_view id) {
  DEKMS_RETURN_IF_ERROR(ValidateGcsObjectName(id));
  GcsClient client(options_);
  DEKMS_ASSIGN_OR_RETURN(std::optional<std::string> blob, client.Read(id));
  if (!blob.has_value()) {
    return absl::NotFoundError(
        StrCat("no blob stored under this ID in Cloud Storage bucket ",
               Quote(options_.bucket)));
  }
  return std::move(*blob);
}

absl::Status GcsStore::Create(std::string_view id, std::string_view blob) {
  DEKMS_RETURN_IF_ERROR(ValidateGcsObjectName(id));
  GcsClient client(options_);
  return CreateSettlingUnclearWrites(
      blob, options_.retry, "Cloud Storage objects.insert",
      StrCat("a blob is already stored under this ID in Cloud Storage "
             "bucket ",
             Quote(options_.bucket)),
      [&]() { return client.Upload(id, blob); },
      [&]() { return client.Read(id); });
}

}  // namespace dekms::internal
