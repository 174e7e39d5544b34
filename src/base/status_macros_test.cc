#include "src/base/status_macros.h"

#include <memory>

#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace dekms {
namespace {

using ::dekms::testing::IsOk;
using ::dekms::testing::IsOkAndHolds;
using ::dekms::testing::StatusIs;

absl::Status ReturnIfError(const absl::Status& status, bool* reached_end) {
  DEKMS_RETURN_IF_ERROR(status);
  *reached_end = true;
  return absl::OkStatus();
}

absl::StatusOr<int> AssignOrReturn(absl::StatusOr<std::unique_ptr<int>> input) {
  DEKMS_ASSIGN_OR_RETURN(std::unique_ptr<int> value, std::move(input));
  DEKMS_ASSIGN_OR_RETURN(auto second, absl::StatusOr<int>(1));
  return *value + second;
}

TEST(StatusMacros, ReturnIfErrorReturnsError) {
  bool reached_end = false;
  EXPECT_THAT(ReturnIfError(absl::NotFoundError("gone"), &reached_end),
              StatusIs(absl::StatusCode::kNotFound, "gone"));
  EXPECT_FALSE(reached_end);
}

TEST(StatusMacros, ReturnIfErrorPassesOk) {
  bool reached_end = false;
  EXPECT_THAT(ReturnIfError(absl::OkStatus(), &reached_end), IsOk());
  EXPECT_TRUE(reached_end);
}

TEST(StatusMacros, AssignOrReturnReturnsError) {
  EXPECT_THAT(AssignOrReturn(absl::DataLossError("bad blob")),
              StatusIs(absl::StatusCode::kDataLoss));
}

TEST(StatusMacros, AssignOrReturnMovesValue) {
  EXPECT_THAT(AssignOrReturn(std::make_unique<int>(41)), IsOkAndHolds(42));
}

TEST(StatusMatchers, DescribeMismatch) {
  EXPECT_THAT(absl::StatusOr<int>(absl::InternalError("x")),
              ::testing::Not(IsOkAndHolds(1)));
  EXPECT_THAT(absl::StatusOr<int>(2), ::testing::Not(IsOkAndHolds(1)));
  EXPECT_THAT(absl::InternalError("x"), ::testing::Not(IsOk()));
  EXPECT_THAT(absl::InternalError("x"),
              ::testing::Not(StatusIs(absl::StatusCode::kNotFound)));
}

}  // namespace
}  // namespace dekms
