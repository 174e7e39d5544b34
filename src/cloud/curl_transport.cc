// HttpTransport over libcurl's easy interface. Easy handles are pooled:
// curl keeps a connection open inside the handle that made it, so reusing
// handles reuses connections (and TLS sessions) across requests.

#include <curl/curl.h>
#include <openssl/crypto.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/cleanup/cleanup.h"
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/synchronization/mutex.h"
#include "src/base/str_cat.h"
#include "src/cloud/http.h"
#include "src/crypto/encoding.h"
#include "src/crypto/secret_text.h"

namespace dekms::internal {
namespace {

// Idle handles kept for reuse; more concurrent requests than this still
// work, their handles are closed afterwards.
constexpr size_t kMaxIdleHandles = 16;

void InitCurlOnce() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

struct CurlHandleDeleter {
  void operator()(CURL* handle) const { curl_easy_cleanup(handle); }
};
using CurlHandle = std::unique_ptr<CURL, CurlHandleDeleter>;

// Frees a header list after wiping each line: lines carry tokens and
// signatures.
struct HeaderListDeleter {
  void operator()(curl_slist* list) const {
    for (curl_slist* item = list; item != nullptr; item = item->next) {
      if (item->data != nullptr) {
        OPENSSL_cleanse(item->data, std::strlen(item->data));
      }
    }
    curl_slist_free_all(list);
  }
};
using HeaderList = std::unique_ptr<curl_slist, HeaderListDeleter>;

// Everything the callbacks write into during one transfer.
struct Transfer {
  SecretTextBuilder body;
  size_t body_size = 0;
  size_t max_body_size = 0;
  bool body_too_large = false;
  int status = 0;
  std::vector<HttpHeader> headers;
};

size_t OnBody(char* data, size_t size, size_t count, void* user) {
  auto* transfer = static_cast<Transfer*>(user);
  const size_t bytes = size * count;
  if (transfer->body_size + bytes > transfer->max_body_size) {
    transfer->body_too_large = true;
    return 0;  // Makes curl stop with CURLE_WRITE_ERROR.
  }
  transfer->body.Append(std::string_view(data, bytes));
  transfer->body_size += bytes;
  return bytes;
}

std::string_view Trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) {
    text.remove_prefix(1);
  }
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t' ||
                           text.back() == '\r' || text.back() == '\n')) {
    text.remove_suffix(1);
  }
  return text;
}

size_t OnHeader(char* data, size_t size, size_t count, void* user) {
  auto* transfer = static_cast<Transfer*>(user);
  const size_t bytes = size * count;
  const std::string_view line(data, bytes);
  if (line.starts_with("HTTP/")) {
    // A new status line starts a new response (after a 100 Continue, say);
    // headers of the earlier one do not belong to the final response.
    transfer->headers.clear();
    return bytes;
  }
  const size_t colon = line.find(':');
  if (colon == std::string_view::npos) {
    return bytes;
  }
  std::string name(Trim(line.substr(0, colon)));
  for (char& c : name) {
    c = absl::ascii_tolower(static_cast<unsigned char>(c));
  }
  transfer->headers.push_back(
      {std::move(name), std::string(Trim(line.substr(colon + 1)))});
  return bytes;
}

absl::Status CurlError(CURLcode code, const HttpRequest& request,
                       const char* detail, const Transfer& transfer) {
  const std::string where = StrCat(request.method, " ", UrlOrigin(request.url));
  const std::string what =
      detail[0] != '\0' ? detail : curl_easy_strerror(code);
  switch (code) {
    case CURLE_OPERATION_TIMEDOUT:
      return absl::DeadlineExceededError(StrCat(where, " timed out: ", what));
    case CURLE_WRITE_ERROR:
      if (transfer.body_too_large) {
        return absl::ResourceExhaustedError(
            StrCat(where, " returned a body larger than the limit of ",
                   transfer.max_body_size, " bytes"));
      }
      break;
    case CURLE_SSL_CACERT_BADFILE:
      return absl::FailedPreconditionError(
          StrCat(where, ": the CA bundle cannot be read: ", what));
    case CURLE_PEER_FAILED_VERIFICATION:
      // Asking again would meet the same certificate, so this is not
      // reported as a transient failure.
      return absl::FailedPreconditionError(StrCat(
          where, ": the server's TLS certificate is not trusted: ", what,
          "; for a server with a private CA, configure that CA's bundle"));
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
      return absl::InvalidArgumentError(
          StrCat(where, ": the URL is not usable: ", what));
    default:
      break;
  }
  return absl::UnavailableError(StrCat(where, " failed: ", what));
}

class CurlTransport final : public HttpTransport {
 public:
  explicit CurlTransport(CurlTransportOptions options)
      : options_(std::move(options)) {
    InitCurlOnce();
  }

  absl::StatusOr<HttpResponse> Send(const HttpRequest& request,
                                    absl::Time deadline) override {
    const absl::Duration remaining = deadline - absl::Now();
    if (remaining <= absl::ZeroDuration()) {
      return absl::DeadlineExceededError(
          StrCat(request.method, " ", UrlOrigin(request.url),
                 " was not sent: its deadline had already passed"));
    }
    CurlHandle handle = TakeHandle();
    if (handle == nullptr) {
      return absl::InternalError("curl_easy_init failed");
    }
    absl::StatusOr<HttpResponse> response =
        Perform(handle.get(), request, remaining);
    ReturnHandle(std::move(handle));
    return response;
  }

 private:
  absl::StatusOr<HttpResponse> Perform(CURL* curl, const HttpRequest& request,
                                       absl::Duration remaining) {
    curl_easy_reset(curl);  // Keeps the connection cache.
    Transfer transfer;
    transfer.max_body_size = options_.max_response_bytes;
    char error_buffer[CURL_ERROR_SIZE] = {0};

    HeaderList header_list;
    bool append_failed = false;
    auto append = [&](const std::string& line) {
      curl_slist* head = curl_slist_append(header_list.get(), line.c_str());
      if (head == nullptr) {
        append_failed = true;
        return;
      }
      (void)header_list.release();  // `head` is the same list, extended.
      header_list.reset(head);
    };
    bool has_content_type = false;
    for (const HttpHeader& header : request.headers) {
      has_content_type |= HeaderNameEquals(header.name, "content-type");
      // "Name;" is curl's way to send a header with an empty value.
      std::string line = header.value.empty()
                             ? StrCat(header.name, ";")
                             : StrCat(header.name, ": ", header.value);
      append(line);
      WipeString(line);
    }
    // curl would add "Expect: 100-continue" to larger bodies, which some
    // servers never respond to, and a form Content-Type to bodies without
    // one.
    append("Expect:");
    if (!has_content_type) {
      append("Content-Type:");
    }
    if (append_failed) {
      return absl::ResourceExhaustedError("curl_slist_append failed");
    }

    const std::string_view body = RevealAsText(request.body);
    const auto timeout_ms =
        std::max<long>(1, absl::ToInt64Milliseconds(remaining));  // NOLINT
    const auto connect_ms = std::max<long>(  // NOLINT(google-runtime-int)
        1,
        std::min<long>(  // NOLINT(google-runtime-int)
            timeout_ms, absl::ToInt64Milliseconds(options_.connect_timeout)));

    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error_buffer);
    curl_easy_setopt(curl, CURLOPT_URL, request.url.c_str());
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    // The URL goes out exactly as built and signed: curl would otherwise
    // drop "." and ".." path segments.
    curl_easy_setopt(curl, CURLOPT_PATH_AS_IS, 1L);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 2L);
    if (!options_.ca_file.empty()) {
      curl_easy_setopt(curl, CURLOPT_CAINFO, options_.ca_file.c_str());
    }
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, connect_ms);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, header_list.get());
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, OnBody);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &transfer);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, OnHeader);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, &transfer);

    if (!request.idempotent) {
      curl_easy_setopt(curl, CURLOPT_FRESH_CONNECT, 1L);
    }
    if (request.method == "GET") {
      curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
    } else if (request.method == "HEAD") {
      curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
    } else if (request.method == "DELETE") {
      curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, "DELETE");
    } else if (request.method == "POST" || request.method == "PUT") {
      // POSTFIELDS sends the body with a Content-Length, also when it is
      // empty; CUSTOMREQUEST turns the POST into a PUT.
      curl_easy_setopt(curl, CURLOPT_POST, 1L);
      curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE,
                       static_cast<curl_off_t>(body.size()));
      curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.data());
      if (request.method == "PUT") {
        curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, "PUT");
      }
    } else {
      return absl::InvalidArgumentError(
          StrCat("HTTP method ", request.method, " is not supported"));
    }

    const CURLcode code = curl_easy_perform(curl);
    // The handle must not point at the header list once it is freed.
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, nullptr);
    if (code != CURLE_OK) {
      return CurlError(code, request, error_buffer, transfer);
    }
    long status = 0;  // NOLINT(google-runtime-int): curl's type.
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);

    HttpResponse response;
    response.status = static_cast<int>(status);
    response.headers = std::move(transfer.headers);
    response.body = std::move(transfer.body).Finish();
    return response;
  }

  CurlHandle TakeHandle() {
    {
      absl::MutexLock lock(&mu_);
      if (!idle_.empty()) {
        CurlHandle handle = std::move(idle_.back());
        idle_.pop_back();
        return handle;
      }
    }
    return CurlHandle(curl_easy_init());
  }

  void ReturnHandle(CurlHandle handle) {
    absl::MutexLock lock(&mu_);
    if (idle_.size() < kMaxIdleHandles) {
      idle_.push_back(std::move(handle));
    }
  }

  const CurlTransportOptions options_;
  absl::Mutex mu_;
  std::vector<CurlHandle> idle_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

std::unique_ptr<HttpTransport> NewCurlTransport(
    const CurlTransportOptions& options) {
  return std::make_unique<CurlTransport>(options);
}

}  // namespace dekms::internal
