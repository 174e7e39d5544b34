#include "src/cloud/aws/endpoint.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "src/base/quote.h"
#include "src/base/status_macros.h"
#include "src/base/str_cat.h"
#include "src/cloud/http.h"

namespace dekms::internal {
namespace {

absl::StatusOr<std::string> CheckBaseUrl(std::string url,
                                         std::string_view source) {
  DEKMS_RETURN_IF_ERROR(ValidateBaseUrl(url, StrCat("endpoint from ", source)));
  while (url.ends_with('/')) {
    url.pop_back();
  }
  return url;
}

}  // namespace

absl::Status ValidateAwsRegion(std::string_view region) {
  const bool valid =
      !region.empty() && region.size() <= 64 && region.front() != '-' &&
      region.back() != '-' &&
      std::all_of(region.begin(), region.end(), [](char c) {
        return absl::ascii_islower(static_cast<unsigned char>(c)) ||
               absl::ascii_isdigit(static_cast<unsigned char>(c)) || c == '-';
      });
  if (!valid) {
    return absl::InvalidArgumentError(
        StrCat("AWS region ", Quote(region),
               " is not a region name such as eu-central-1: use lowercase "
               "letters, digits and dashes"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> ResolveAwsEndpoint(std::string_view configured,
                                               std::string_view service_env,
                                               std::string_view host_prefix,
                                               std::string_view region,
                                               const GetEnvFunction& getenv) {
  if (!configured.empty()) {
    return CheckBaseUrl(std::string(configured), "the URI");
  }
  const std::optional<std::string> ignore =
      getenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS");
  if (!ignore.has_value() || absl::AsciiStrToLower(*ignore) != "true") {
    for (const std::string& name : {StrCat("AWS_ENDPOINT_URL_", service_env),
                                    std::string("AWS_ENDPOINT_URL")}) {
      if (std::optional<std::string> value = getenv(name);
          value.has_value() && !value->empty()) {
        return CheckBaseUrl(std::move(*value), name);
      }
    }
  }
  DEKMS_RETURN_IF_ERROR(ValidateAwsRegion(region));
  const std::string_view suffix =
      region.starts_with("cn-") ? "amazonaws.com.cn" : "amazonaws.com";
  return StrCat("https://", host_prefix, ".", region, ".", suffix);
}

}  // namespace dekms::internal
