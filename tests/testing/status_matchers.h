#ifndef DEKMS_TESTS_TESTING_STATUS_MATCHERS_H_
#define DEKMS_TESTS_TESTING_STATUS_MATCHERS_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gmock/gmock.h"

// IsOk, IsOkAndHolds and StatusIs for absl::Status and absl::StatusOr, named
// like the matchers of newer Abseil releases, which Debian 12's Abseil
// (20220623) does not ship.
namespace dekms::testing {
namespace internal {

inline const absl::Status& GetStatus(const absl::Status& status) {
  return status;
}

template <typename T>
const absl::Status& GetStatus(const absl::StatusOr<T>& status_or) {
  return status_or.status();
}

}  // namespace internal

// Matches an OK absl::Status or absl::StatusOr.
MATCHER(IsOk, negation ? "is not OK" : "is OK") {
  const absl::Status& status = internal::GetStatus(arg);
  if (!status.ok()) {
    *result_listener << "status is " << status;
  }
  return status.ok();
}

// Matches an OK absl::StatusOr whose value matches `value_matcher`.
MATCHER_P(IsOkAndHolds, value_matcher,
          "is OK and holds a value that " +
              ::testing::DescribeMatcher<
                  const typename std::decay_t<arg_type>::value_type&>(
                  value_matcher, negation)) {
  if (!arg.ok()) {
    *result_listener << "status is " << arg.status();
    return false;
  }
  return ::testing::ExplainMatchResult(value_matcher, *arg, result_listener);
}

// Matches a status, or the status of a StatusOr, with code `code`.
MATCHER_P(StatusIs, code,
          std::string(negation ? "does not have" : "has") + " status code " +
              absl::StatusCodeToString(code)) {
  const absl::Status& status = internal::GetStatus(arg);
  *result_listener << "status is " << status;
  return status.code() == code;
}

// Matches a status with code `code` and a message matching
// `message_matcher`.
MATCHER_P2(StatusIs, code, message_matcher,
           std::string(negation ? "does not have" : "has") + " status code " +
               absl::StatusCodeToString(code) + " and a message that " +
               ::testing::DescribeMatcher<std::string>(message_matcher)) {
  const absl::Status& status = internal::GetStatus(arg);
  *result_listener << "status is " << status;
  return status.code() == code &&
         ::testing::Matches(message_matcher)(std::string(status.message()));
}

}  // namespace dekms::testing

#endif  // DEKMS_TESTS_TESTING_STATUS_MATCHERS_H_
