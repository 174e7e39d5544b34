#ifndef DEKMS_SRC_CLOUD_HTTP_H_
#define DEKMS_SRC_CLOUD_HTTP_H_

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "dekms/secret_bytes.h"
#include "src/crypto/secret_text.h"

namespace dekms::internal {

// One HTTP header. Values may carry credentials (bearer tokens, session
// tokens), so the request and response types wipe them on destruction.
struct HttpHeader {
  std::string name;
  std::string value;
};

struct HttpRequest {
  HttpRequest() = default;
  HttpRequest(HttpRequest&&) = default;
  HttpRequest& operator=(HttpRequest&&) = default;
  ~HttpRequest();

  // Sets header `name`, replacing an earlier value under the same name
  // (compared case-insensitively).
  void SetHeader(std::string_view name, std::string_view value);

  std::string method;  // "GET", "HEAD", "PUT", "POST" or "DELETE".
  // Absolute URL, already percent-encoded exactly as it goes on the wire.
  std::string url;
  // Sent as given, in this order. The transport adds Content-Length and
  // Host and suppresses `Expect: 100-continue`; it adds nothing else that
  // a signer would need to know about.
  std::vector<HttpHeader> headers;
  // May hold key material (a KMS Encrypt body), hence SecretBytes.
  SecretBytes body;
  // False for a request that must not reach the server twice, such as a
  // conditional create. The transport then sends it on a new connection:
  // libcurl silently sends a request again when a reused connection turns
  // out to be closed, and for such a request that second copy would be a
  // blind second write.
  bool idempotent = true;
};

struct HttpResponse {
  HttpResponse() = default;
  HttpResponse(HttpResponse&&) = default;
  HttpResponse& operator=(HttpResponse&&) = default;
  ~HttpResponse();

  // Returns the value of the first header named `name` (compared
  // case-insensitively), or nullptr.
  [[nodiscard]] const std::string* FindHeader(std::string_view name) const;

  // Returns the body as text. The view is valid while the response lives.
  [[nodiscard]] std::string_view BodyText() const;

  int status = 0;
  std::vector<HttpHeader> headers;  // Names lowercased.
  SecretBytes body;  // May hold key material (a KMS Decrypt reply).
};

// Sends one HTTP request and returns the response, whatever its status.
// Implementations are thread-safe.
class HttpTransport {
 public:
  virtual ~HttpTransport() = default;

  // Sends `request` once, with no retry. A response with any status code is
  // a success here. Errors: kUnavailable when no response arrived (refused,
  // reset, DNS, TLS), kDeadlineExceeded when `deadline` passed first,
  // kResourceExhausted when the body exceeds the size cap, kInvalidArgument
  // for a malformed request. Messages name the host, never the body.
  [[nodiscard]] virtual absl::StatusOr<HttpResponse> Send(
      const HttpRequest& request, absl::Time deadline) = 0;
};

struct CurlTransportOptions {
  // PEM bundle of trusted CAs; empty means the system default. TLS peer
  // and host verification are always on.
  std::string ca_file;
  absl::Duration connect_timeout = absl::Seconds(5);
  // Responses with a larger body fail with kResourceExhausted.
  size_t max_response_bytes = 1 << 20;
};

// The error a cloud returned for a rejected request, as parsed from its
// error reply. None of the fields is secret.
struct ProviderError {
  std::string service;    // "AWS KMS", "Amazon S3".
  std::string operation;  // "Decrypt", "PutObject".
  int http_status = 0;
  std::string code;        // The provider's error code: "AccessDenied".
  std::string message;     // The provider's own message, if any.
  std::string request_id;  // For the provider's support and logs.
};

// Maps an error reply to a status by its HTTP status class: 400
// InvalidArgument, 401 Unauthenticated, 403 PermissionDenied, 404 NotFound,
// 409 Aborted, 412 FailedPrecondition, 429 ResourceExhausted, 5xx
// Unavailable, others Unknown. The message names the service, operation,
// status, code, the provider's message (shortened, control characters
// replaced) and request id. Callers that know a code means something else
// pass `code` to override the mapping.
[[nodiscard]] absl::Status ProviderErrorToStatus(
    const ProviderError& error,
    std::optional<absl::StatusCode> code = std::nullopt);

// Compares header names the way HTTP does, ignoring ASCII case.
[[nodiscard]] bool HeaderNameEquals(std::string_view a, std::string_view b);

// Checks that `url` is a base URL for an API: http or https, a host, and
// no user information, query or fragment. Messages start with `what`, such
// as "parameter \"endpoint\" of kms://aws URI", and show an example.
[[nodiscard]] absl::Status ValidateBaseUrl(std::string_view url,
                                           std::string_view what);

// Returns `value` with every byte except the unreserved characters of RFC
// 3986 (letters, digits, "-", ".", "_", "~") written as %XX, so that it
// fits in one path segment or query value whatever it contains.
[[nodiscard]] std::string PercentEncode(std::string_view value);

// Like PercentEncode(), for a value that may be secret, such as a client
// secret in a form body.
void AppendPercentEncoded(std::string_view value, SecretTextBuilder& out);

// Returns whether `host` (without port or brackets) is a loopback address:
// "localhost", 127.0.0.0/8 or ::1.
[[nodiscard]] bool IsLoopbackHost(std::string_view host);

// Returns "scheme://host[:port]" of `url`, for messages that must not show
// the path or query.
[[nodiscard]] std::string UrlOrigin(std::string_view url);

// Returns a libcurl transport that keeps connections alive between calls.
[[nodiscard]] std::unique_ptr<HttpTransport> NewCurlTransport(
    const CurlTransportOptions& options);

}  // namespace dekms::internal

#endif  // DEKMS_SRC_CLOUD_HTTP_H_
