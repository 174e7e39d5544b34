#ifndef DEKMS_SRC_CLOUD_AWS_SIGV4_H_
#define DEKMS_SRC_CLOUD_AWS_SIGV4_H_

#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "src/cloud/aws/credentials.h"
#include "src/cloud/http.h"

namespace dekms::internal {

struct SigV4Options {
  std::string region;   // "us-east-1"
  std::string service;  // Signing name: "kms", "s3", "sts".
  // S3 rules: the canonical URI is the path exactly as sent, neither
  // normalised nor encoded a second time, and the request carries
  // x-amz-content-sha256. The curl transport sends paths unchanged
  // (CURLOPT_PATH_AS_IS), which these rules rely on.
  bool s3 = false;
};

// Signs `request` with AWS Signature Version 4. Adds Host (with the port
// when it is not the scheme's default) unless the request has one. Sets
// X-Amz-Date, X-Amz-Security-Token when `credentials` has a session token
// (signed), x-amz-content-sha256 (the SHA-256 of the body) for S3, and
// Authorization, replacing headers of the same name, and removes an
// X-Amz-Security-Token when there is no session token. Signing again, as
// a retry does, so leaves one of each. Every other header already on the
// request is signed, so set only headers that go on the wire unchanged.
//
// Fails with kInvalidArgument, leaving the request unchanged, for a URL it
// cannot parse, an invalid method, header, region, service or credential,
// or a time outside years 1000 to 9999; with kInternal, leaving the
// request partly changed, when OpenSSL fails. Messages never contain the
// secret access key, the session token or a header value.
[[nodiscard]] absl::Status SignAwsV4(HttpRequest& request,
                                     const AwsCredentials& credentials,
                                     const SigV4Options& options,
                                     absl::Time now);

// Percent-encodes `text` with the set SigV4 and S3 object keys use:
// A-Z a-z 0-9 - _ . ~ stay, everything else becomes %XX with uppercase hex
// of its UTF-8 bytes. `/` stays when `keep_slash` is true.
[[nodiscard]] std::string AwsUriEncode(std::string_view text, bool keep_slash);

}  // namespace dekms::internal

#endif  // DEKMS_SRC_CLOUD_AWS_SIGV4_H_
