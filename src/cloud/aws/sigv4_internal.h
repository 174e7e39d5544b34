#ifndef DEKMS_SRC_CLOUD_AWS_SIGV4_INTERNAL_H_
#define DEKMS_SRC_CLOUD_AWS_SIGV4_INTERNAL_H_

// The steps of AWS Signature Version 4 signing, exposed so that tests can
// check each one against published test vectors. Production code calls
// SignAwsV4() in sigv4.h.

#include <span>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "dekms/secret_bytes.h"
#include "src/cloud/aws/credentials.h"
#include "src/cloud/aws/sigv4.h"
#include "src/cloud/http.h"

namespace dekms::internal::aws_sigv4 {

// The parts of an http or https URL that signing uses.
struct UrlParts {
  // The Host header curl sends for the URL: the host as written (case
  // kept, IPv6 literals in brackets), then ":port" unless the port is the
  // scheme's default. User information is dropped.
  std::string host_header;
  std::string path;   // As on the wire; empty when the URL has no path.
  std::string query;  // After '?', without a fragment; may be empty.
};

// Splits `url`. Fails with kInvalidArgument when the scheme is not http or
// https, the host is missing, or the port is not a number from 1 to 65535.
// The messages never quote the URL, because its user information may hold
// a password.
[[nodiscard]] absl::StatusOr<UrlParts> ParseUrl(std::string_view url);

// Removes empty, "." and ".." segments from an absolute path, keeping a
// trailing slash when the result has at least one segment. This is the
// normalisation botocore applies for services other than S3: "/a/b/.."
// becomes "/a", "//a//" becomes "/a/", and "/.." becomes "/".
[[nodiscard]] std::string NormalizePath(std::string_view path);

// Returns the CanonicalURI for `wire_path`, the path exactly as sent. S3
// uses it unchanged. Other services normalise it and percent-encode it a
// second time, so "%20" becomes "%2520". An empty path becomes "/".
[[nodiscard]] std::string CanonicalUri(std::string_view wire_path, bool s3);

// Returns the CanonicalQueryString for `wire_query`: each name and value is
// percent-decoded and encoded again with AwsUriEncode(), the pairs are
// sorted by encoded name and then encoded value, a parameter without '='
// gets an empty value, and empty parameters ("a&&b") are dropped. '+' is
// taken literally, not as a space. Fails with kInvalidArgument on a '%'
// that is not followed by two hex digits.
[[nodiscard]] absl::StatusOr<std::string> CanonicalQuery(
    std::string_view wire_query);

struct CanonicalHeaders {
  // One "name:value\n" line per distinct header name, sorted by name. It
  // contains the session token when one is signed, hence SecretBytes.
  SecretBytes block;
  // The lowercased names joined with ';', as in SignedHeaders=.
  std::string signed_headers;
};

// Canonicalises every header in `headers`. Names are lowercased. Values
// are trimmed of spaces and tabs at both ends, with inner runs collapsed to
// one space, and the values of one name are joined with ',' in the order
// given. Fails with kInvalidArgument when a name is not an HTTP token or a
// value contains CR, LF or NUL. Messages never quote a value.
[[nodiscard]] absl::StatusOr<CanonicalHeaders> CanonicalizeHeaders(
    std::span<const HttpHeader> headers);

// Returns the hex SHA-256 of `body`, the HashedPayload of the canonical
// request and the value of x-amz-content-sha256.
[[nodiscard]] std::string HashPayload(const SecretBytes& body);

// Formats `time` as the X-Amz-Date value, yyyymmddTHHMMSSZ in UTC. Fails
// with kInvalidArgument for an infinite time or a year outside 1000 to
// 9999, which the format cannot express.
[[nodiscard]] absl::StatusOr<std::string> FormatAmzDate(absl::Time time);

// Builds the canonical request for `request` without changing it: every
// header on it is signed and nothing is added. `s3` selects S3's
// CanonicalURI rule. The result contains the session token when one is
// signed, hence SecretBytes.
[[nodiscard]] absl::StatusOr<SecretBytes> BuildCanonicalRequest(
    const HttpRequest& request, bool s3, std::string* signed_headers);

// Returns the credential scope, "yyyymmdd/region/service/aws4_request".
[[nodiscard]] std::string CredentialScope(std::string_view amz_date,
                                          std::string_view region,
                                          std::string_view service);

// Builds the string to sign: the algorithm name, `amz_date`, `scope` and the
// hex SHA-256 of `canonical_request`, one per line.
[[nodiscard]] std::string BuildStringToSign(
    std::string_view amz_date, std::string_view scope,
    const SecretBytes& canonical_request);

// Derives the signing key, HMAC-SHA256 chained over "AWS4" + secret, the
// date (yyyymmdd), the region, the service and "aws4_request". Fails with
// kInternal when OpenSSL fails.
[[nodiscard]] absl::StatusOr<SecretBytes> DeriveSigningKey(
    const SecretBytes& secret_access_key, std::string_view date,
    std::string_view region, std::string_view service);

// Returns hex(HMAC-SHA256(signing_key, string_to_sign)). Fails with
// kInternal when OpenSSL fails.
[[nodiscard]] absl::StatusOr<std::string> ComputeSignature(
    const SecretBytes& signing_key, std::string_view string_to_sign);

// The intermediate values and the result of one signing.
struct SigV4Signature {
  SecretBytes canonical_request;
  std::string string_to_sign;
  std::string signed_headers;
  std::string signature;  // Lowercase hex.
  // The Authorization header value: "AWS4-HMAC-SHA256 Credential=...,
  // SignedHeaders=..., Signature=...".
  std::string authorization;
};

// Computes the signature of `request` without adding any header. The
// timestamp comes from its X-Amz-Date header, every header on it is signed,
// and `options.s3` selects only the CanonicalURI rule. Fails with
// kInvalidArgument when X-Amz-Date is missing or malformed, or when the URL,
// a header, the method, the region, the service or the credentials are
// invalid. Fails with kInternal when OpenSSL fails.
[[nodiscard]] absl::StatusOr<SigV4Signature> ComputeAwsV4Signature(
    const HttpRequest& request, const AwsCredentials& credentials,
    const SigV4Options& options);

}  // namespace dekms::internal::aws_sigv4

#endif  // DEKMS_SRC_CLOUD_AWS_SIGV4_INTERNAL_H_
