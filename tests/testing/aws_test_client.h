#ifndef DEKMS_TESTS_TESTING_AWS_TEST_CLIENT_H_
#define DEKMS_TESTS_TESTING_AWS_TEST_CLIENT_H_

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/time/clock.h"
#include "nlohmann/json.hpp"
#include "src/base/status_macros.h"
#include "src/base/str_cat.h"
#include "src/cloud/aws/sigv4.h"
#include "src/cloud/http.h"

namespace dekms::testing {

// Calls the AWS KMS operation `operation` with `body`, signed for
// us-east-1, as an administrator setting up keys for a test would. Returns
// the reply; a reply other than 200 is an error carrying its body.
inline absl::StatusOr<nlohmann::json> CallKmsForTest(
    ::dekms::internal::HttpTransport& transport, const std::string& endpoint,
    const ::dekms::internal::AwsCredentials& credentials,
    std::string_view operation, const nlohmann::json& body) {
  ::dekms::internal::HttpRequest request;
  request.method = "POST";
  request.url = endpoint + "/";
  request.SetHeader("Content-Type", "application/x-amz-json-1.1");
  request.SetHeader("X-Amz-Target", StrCat("TrentService.", operation));
  request.body = SecretBytes::CopyFrom(body.dump());
  ::dekms::internal::SigV4Options signing;
  signing.region = "us-east-1";
  signing.service = "kms";
  DEKMS_RETURN_IF_ERROR(
      ::dekms::internal::SignAwsV4(request, credentials, signing, absl::Now()));
  DEKMS_ASSIGN_OR_RETURN(
      ::dekms::internal::HttpResponse response,
      transport.Send(request, absl::Now() + absl::Seconds(30)));
  if (response.status != 200) {
    return absl::UnknownError(StrCat(operation, " answered HTTP ",
                                     response.status, ": ",
                                     response.BodyText()));
  }
  return nlohmann::json::parse(response.BodyText(), nullptr, false);
}

// Returns the key id at the end of a key ARN.
inline std::string KeyIdOf(const std::string& arn) {
  return arn.substr(arn.rfind('/') + 1);
}

}  // namespace dekms::testing

#endif  // DEKMS_TESTS_TESTING_AWS_TEST_CLIENT_H_
