#include "src/storage/s3_store.h"

#include <algorithm>
#include <optional>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/time/clock.h"
#include "spdlog/spdlog.h"
#include "src/base/quote.h"
#include "src/base/status_macros.h"
#include "src/base/str_cat.h"
#include "src/base/utf8.h"
#include "src/cloud/aws/sigv4.h"
#include "src/cloud/xml.h"
#include "src/crypto/encoding.h"
#include "src/storage/conditional_create.h"

namespace dekms::internal {
namespace {

constexpr std::string_view kService = "Amazon S3";
constexpr size_t kMaxObjectKeyBytes = 1024;

// Returns the status code for S3 error `code` where the HTTP status alone
// would mislead, or nullopt to map by HTTP status.
std::optional<absl::StatusCode> CodeForS3Error(std::string_view code,
                                               int http_status) {
  const bool bad_credentials = code == "SignatureDoesNotMatch" ||
                               code == "InvalidAccessKeyId" ||
                               code == "RequestTimeTooSkewed" ||
                               code == "ExpiredToken" || code == "InvalidToken";
  const bool wrong_bucket_or_region =
      code == "NoSuchBucket" || code == "AuthorizationHeaderMalformed" ||
      code == "PermanentRedirect" ||
      code == "IllegalLocationConstraintException" || http_status == 301 ||
      http_status == 307;
  // Only NoSuchKey proves absence, and callers check for it themselves, so
  // any other 404 is a response that cannot be trusted.
  const bool transient_or_unclear =
      code == "SlowDown" || code == "RequestTimeout" ||
      code == "ConditionalRequestConflict" || http_status == 404;
  if (bad_credentials) {
    return absl::StatusCode::kUnauthenticated;
  }
  if (wrong_bucket_or_region) {
    return absl::StatusCode::kFailedPrecondition;
  }
  if (transient_or_unclear) {
    return absl::StatusCode::kUnavailable;
  }
  return std::nullopt;
}

struct S3Error {
  std::string code;
  absl::Status status;
};

S3Error ErrorFromResponse(
    const HttpResponse& response, std::string_view operation,
    std::optional<absl::StatusCode> code_override = std::nullopt) {
  const std::string_view body = response.BodyText();
  ProviderError error;
  error.service = std::string(kService);
  error.operation = std::string(operation);
  error.http_status = response.status;
  error.code = XmlElementText(body, "Code");
  error.message = XmlElementText(body, "Message");
  error.request_id = XmlElementText(body, "RequestId");
  if (error.request_id.empty()) {
    if (const std::string* id = response.FindHeader("x-amz-request-id")) {
      error.request_id = *id;
    }
  }
  std::optional<absl::StatusCode> code = code_override;
  if (!code.has_value()) {
    code = CodeForS3Error(error.code, response.status);
  }
  absl::Status status = ProviderErrorToStatus(error, code);
  std::string_view hint;
  switch (status.code()) {
    case absl::StatusCode::kPermissionDenied:
      hint =
          "; grant the caller s3:GetObject, s3:PutObject and "
          "s3:PutObjectTagging on the bucket's objects";
      break;
    case absl::StatusCode::kUnauthenticated:
      hint =
          "; check the access key, its secret and session token, and the "
          "machine clock";
      break;
    case absl::StatusCode::kFailedPrecondition:
      hint = error.code == "NoSuchBucket"
                 ? "; the bucket was deleted after dekms started; restore "
                   "it, or restart dekms to create an empty one"
                 : "; check that the region parameter is the bucket's "
                   "region";
      break;
    default:
      break;
  }
  if (error.code.empty() && response.status == 400) {
    // HEAD replies carry no error body, so the status is all there is.
    hint =
        "; S3 gave no error code (a HEAD reply has no body); a 400 here "
        "is most often an invalid or expired session token, or a region "
        "that is not the bucket's";
  }
  return {error.code,
          absl::Status(status.code(), StrCat(status.message(), hint))};
}

}  // namespace

absl::Status ValidateS3BucketName(std::string_view bucket) {
  const auto edge_ok = [](char c) {
    return absl::ascii_islower(static_cast<unsigned char>(c)) ||
           absl::ascii_isdigit(static_cast<unsigned char>(c));
  };
  const bool valid =
      bucket.size() >= 3 && bucket.size() <= 63 && edge_ok(bucket.front()) &&
      edge_ok(bucket.back()) && bucket.find("..") == std::string_view::npos &&
      std::all_of(bucket.begin(), bucket.end(),
                  [&](char c) { return edge_ok(c) || c == '.' || c == '-'; });
  if (!valid) {
    return absl::InvalidArgumentError(
        StrCat("S3 bucket name ", Quote(bucket),
               " is invalid; use 3 to 63 lowercase letters, digits, dots and "
               "dashes, starting and ending with a letter or digit"));
  }
  const bool looks_like_ip =
      std::all_of(bucket.begin(), bucket.end(), [](char c) {
        return absl::ascii_isdigit(static_cast<unsigned char>(c)) || c == '.';
      });
  if (looks_like_ip) {
    return absl::InvalidArgumentError(
        StrCat("S3 bucket name ", Quote(bucket),
               " is invalid: S3 rejects names formatted as IP addresses"));
  }
  // Prefixes and suffixes that S3 reserves for its own kinds of bucket.
  for (std::string_view prefix : {"xn--", "sthree-", "amzn-s3-demo-"}) {
    if (bucket.starts_with(prefix)) {
      return absl::InvalidArgumentError(StrCat("S3 bucket name ", Quote(bucket),
                                               " is invalid: S3 reserves "
                                               "the prefix ",
                                               Quote(prefix)));
    }
  }
  for (std::string_view suffix :
       {"-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"}) {
    if (bucket.ends_with(suffix)) {
      return absl::InvalidArgumentError(StrCat("S3 bucket name ", Quote(bucket),
                                               " is invalid: S3 reserves "
                                               "the suffix ",
                                               Quote(suffix)));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateS3ObjectKey(std::string_view id) {
  if (id.empty() || id.size() > kMaxObjectKeyBytes) {
    return absl::InvalidArgumentError(
        StrCat("storage://aws stores each DEK under its ID, and an S3 object "
               "key is 1 to ",
               kMaxObjectKeyBytes, " bytes; this ID is ", id.size(), " bytes"));
  }
  if (!IsValidUtf8(id) || HasControlCharacters(id)) {
    return absl::InvalidArgumentError(
        "storage://aws stores each DEK under its ID, so the ID must be valid "
        "UTF-8 without control characters");
  }
  size_t start = 0;
  while (start <= id.size()) {
    const size_t end = std::min(id.find('/', start), id.size());
    const std::string_view segment = id.substr(start, end - start);
    if (segment == "." || segment == "..") {
      return absl::InvalidArgumentError(
          "storage://aws stores each DEK under its ID, so the ID must not "
          "have \".\" or \"..\" between slashes");
    }
    start = end + 1;
  }
  return absl::OkStatus();
}

namespace {

// Builds the URL of `key` in the bucket, or of the bucket when `key` is
// empty.
std::string S3Url(const S3StoreOptions& options, std::string_view key) {
  const std::string encoded_key = AwsUriEncode(key, /*keep_slash=*/true);
  if (options.path_style) {
    return StrCat(options.endpoint, "/", options.bucket, "/", encoded_key);
  }
  const size_t scheme_end = options.endpoint.find("://") + 3;
  return StrCat(options.endpoint.substr(0, scheme_end), options.bucket, ".",
                options.endpoint.substr(scheme_end), "/", encoded_key);
}

absl::StatusOr<HttpRequest> SignedRequest(const S3StoreOptions& options,
                                          std::string method, std::string url,
                                          std::vector<HttpHeader> headers,
                                          std::string_view body) {
  HttpRequest request;
  request.method = std::move(method);
  request.url = std::move(url);
  request.headers = std::move(headers);
  request.body = SecretBytes::CopyFrom(body);
  DEKMS_ASSIGN_OR_RETURN(AwsCredentials credentials,
                         options.credentials->Get());
  SigV4Options signing;
  signing.region = options.region;
  signing.service = "s3";
  signing.s3 = true;
  DEKMS_RETURN_IF_ERROR(SignAwsV4(request, credentials, signing,
                                  options.now ? options.now() : absl::Now()));
  return request;
}

RetryDecision ClassifyS3Read(const HttpResponse& response) {
  if (response.status == 400 &&
      XmlElementText(response.BodyText(), "Code") == "RequestTimeout") {
    return {"RequestTimeout"};
  }
  return DefaultRetryClassifier(response);
}

// Retries only the replies that prove nothing was written. A 5xx reply is
// ambiguous, so it is left to the caller.
RetryDecision ClassifyS3Write(const HttpResponse& response) {
  if (response.status == 409 && XmlElementText(response.BodyText(), "Code") ==
                                    "ConditionalRequestConflict") {
    return {"ConditionalRequestConflict"};
  }
  if (response.status == 429 ||
      (response.status == 400 &&
       XmlElementText(response.BodyText(), "Code") == "RequestTimeout")) {
    return {StrCat("HTTP ", response.status)};
  }
  return {};
}

absl::StatusOr<HttpResponse> SendRead(const S3StoreOptions& options,
                                      std::string_view what, std::string method,
                                      std::string url) {
  return SendWithRetries(
      *options.transport, options.retry, StrCat(kService, " ", what),
      /*idempotent=*/true,
      [&]() { return SignedRequest(options, method, url, {}, ""); },
      ClassifyS3Read);
}

absl::StatusOr<HttpResponse> PutConditional(const S3StoreOptions& options,
                                            std::string_view key,
                                            std::string_view blob) {
  const std::string url = S3Url(options, key);
  return SendWithRetries(
      *options.transport, options.retry, StrCat(kService, " PutObject"),
      /*idempotent=*/false,
      [&]() {
        return SignedRequest(options, "PUT", url,
                             {{"Content-Type", "application/octet-stream"},
                              {"If-None-Match", "*"},
                              {"x-amz-tagging", std::string(kS3BlobTags)}},
                             blob);
      },
      ClassifyS3Write);
}

// Reads `key`: the blob, std::nullopt for NoSuchKey, or an error.
absl::StatusOr<std::optional<std::string>> ReadObject(
    const S3StoreOptions& options, std::string_view key) {
  DEKMS_ASSIGN_OR_RETURN(
      HttpResponse response,
      SendRead(options, "GetObject", "GET", S3Url(options, key)));
  if (response.status == 200) {
    return std::optional<std::string>(std::string(response.BodyText()));
  }
  S3Error error = ErrorFromResponse(response, "GetObject");
  if (response.status == 404 && error.code == "NoSuchKey") {
    return std::optional<std::string>();
  }
  return error.status;
}

absl::Status CreateBucket(const S3StoreOptions& options) {
  std::string body;
  // us-east-1 takes no location constraint, and every other region needs
  // one.
  if (options.region != "us-east-1") {
    body = StrCat(
        "<CreateBucketConfiguration "
        "xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
        "<LocationConstraint>",
        options.region, "</LocationConstraint></CreateBucketConfiguration>");
  }
  const std::string url = S3Url(options, "");
  DEKMS_ASSIGN_OR_RETURN(
      HttpResponse response,
      SendWithRetries(
          *options.transport, options.retry, StrCat(kService, " CreateBucket"),
          /*idempotent=*/true, [&]() {
            return SignedRequest(
                options, "PUT", url,
                body.empty() ? std::vector<HttpHeader>{}
                             : std::vector<HttpHeader>{{"Content-Type",
                                                        "application/xml"}},
                body);
          }));
  if (response.status == 200) {
    // A warning, so that `dekms get` shows it too: a misspelt bucket name
    // gives a new, empty bucket and with it new DEKs.
    spdlog::warn(
        "created S3 bucket {} in {}, because it did not exist; if DEKs were "
        "expected in it, check the bucket name",
        options.bucket, options.region);
    return absl::OkStatus();
  }
  S3Error error = ErrorFromResponse(response, "CreateBucket");
  if (error.code == "BucketAlreadyOwnedByYou") {
    return absl::OkStatus();
  }
  if (error.code == "BucketAlreadyExists") {
    return absl::FailedPreconditionError(
        StrCat("S3 bucket ", Quote(options.bucket),
               " belongs to another account; choose another bucket name"));
  }
  return error.status;
}

absl::Status EnsureBucket(const S3StoreOptions& options) {
  DEKMS_ASSIGN_OR_RETURN(
      HttpResponse response,
      SendRead(options, "HeadBucket", "HEAD", S3Url(options, "")));
  if (const std::string* region = response.FindHeader("x-amz-bucket-region");
      region != nullptr && !region->empty() && *region != options.region) {
    return absl::FailedPreconditionError(
        StrCat("S3 bucket ", Quote(options.bucket), " is in region ", *region,
               ", not ", options.region, "; set region=", *region));
  }
  switch (response.status) {
    case 200:
      return absl::OkStatus();
    case 404:
      return CreateBucket(options);
    case 403:
      // HeadBucket needs s3:ListBucket, which dekms does not ask for. The
      // bucket exists; object calls will tell whether they are allowed.
      return absl::OkStatus();
    default:
      return ErrorFromResponse(response, "HeadBucket").status;
  }
}

// Writes the probe object twice with `If-None-Match: *`; the second write
// must fail with 412.
// One create-only PutObject of `blob` as `key`.
ConditionalWrite PutOnce(const S3StoreOptions& options, std::string_view key,
                         std::string_view blob) {
  using Outcome = ConditionalWrite::Outcome;
  absl::StatusOr<HttpResponse> put = PutConditional(options, key, blob);
  if (put.ok() && put->status == 200) {
    return {Outcome::kWritten, absl::OkStatus()};
  }
  if (put.ok() && put->status == 412) {
    return {Outcome::kExists, absl::OkStatus()};
  }
  const absl::Status status =
      put.ok() ? ErrorFromResponse(*put, "PutObject").status : put.status();
  return {IsUnclearWrite(put) ? Outcome::kUnclear : Outcome::kFailed, status};
}

absl::Status ProbeConditionalWrites(const S3StoreOptions& options) {
  return ProbeCreateOnly(
      [&] {
        return PutOnce(options, kS3ProbeKey,
                       "dekms checks that this store rejects overwrites");
      },
      StrCat("the S3 store at ", UrlOrigin(options.endpoint),
             " ignores \"If-None-Match: *\" and replaced an existing object, "
             "so two dekms instances could replace each other's DEKs; use a "
             "store that supports conditional writes (Amazon S3, or an "
             "S3-compatible server that answers 412 Precondition Failed)"));
}

}  // namespace

absl::StatusOr<std::unique_ptr<S3Store>> S3Store::Create(
    S3StoreOptions options) {
  DEKMS_RETURN_IF_ERROR(ValidateS3BucketName(options.bucket));
  if (options.credentials == nullptr || options.transport == nullptr) {
    return absl::InvalidArgumentError(
        "S3Store needs credentials and a transport");
  }
  DEKMS_RETURN_IF_ERROR(EnsureBucket(options));
  DEKMS_RETURN_IF_ERROR(ProbeConditionalWrites(options));
  return std::unique_ptr<S3Store>(new S3Store(std::move(options)));
}

S3Store::S3Store(S3StoreOptions options) : options_(std::move(options)) {}

absl::StatusOr<std::string> S3Store::Get(std::string_view id) {
  DEKMS_RETURN_IF_ERROR(ValidateS3ObjectKey(id));
  DEKMS_ASSIGN_OR_RETURN(std::optional<std::string> blob,
                         ReadObject(options_, id));
  if (!blob.has_value()) {
    return absl::NotFoundError(StrCat(
        "no blob stored under this ID in S3 bucket ", Quote(options_.bucket)));
  }
  return std::move(*blob);
}

absl::Status S3Store::Create(std::string_view id, std::string_view blob) {
  DEKMS_RETURN_IF_ERROR(ValidateS3ObjectKey(id));
  return CreateSettlingUnclearWrites(
      blob, options_.retry, "S3 PutObject",
      StrCat("a blob is already stored under this ID in S3 bucket ",
             Quote(options_.bucket)),
      [&]() { return PutOnce(options_, id, blob); },
      [&]() { return ReadObject(options_, id); });
}

}  // namespace dekms::internal
