#include "src/cloud/retry.h"

#include <deque>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace dekms::internal {
namespace {

using ::dekms::testing::IsOk;
using ::dekms::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// Returns, from each Send(), the next scripted outcome: an HTTP status, or a
// transport error when the status is negative.
class ScriptedTransport : public HttpTransport {
 public:
  struct Outcome {
    int status;
    std::string retry_after;
  };

  explicit ScriptedTransport(std::vector<Outcome> outcomes)
      : outcomes_(outcomes.begin(), outcomes.end()) {}

  absl::StatusOr<HttpResponse> Send(const HttpRequest& /*request*/,
                                    absl::Time /*deadline*/) override {
    ++calls_;
    Outcome outcome = outcomes_.front();
    if (outcomes_.size() > 1) {
      outcomes_.pop_front();
    }
    if (outcome.status == -1) {
      return absl::UnavailableError("connection reset");
    }
    if (outcome.status == -2) {
      return absl::DeadlineExceededError("timed out");
    }
    HttpResponse response;
    response.status = outcome.status;
    if (!outcome.retry_after.empty()) {
      response.headers.push_back({"retry-after", outcome.retry_after});
    }
    return response;
  }

  int calls_ = 0;

 private:
  std::deque<Outcome> outcomes_;
};

class RetryTest : public ::testing::Test {
 protected:
  RetryTest() {
    policy_.now = [this] { return now_; };
    policy_.sleep = [this](absl::Duration d) {
      sleeps_.push_back(d);
      now_ += d;
    };
  }

  absl::StatusOr<HttpResponse> Run(ScriptedTransport& transport,
                                   bool idempotent = true) {
    return SendWithRetries(transport, policy_, "test call", idempotent,
                           [this]() -> absl::StatusOr<HttpRequest> {
                             ++builds_;
                             HttpRequest request;
                             request.method = "GET";
                             request.url = "http://127.0.0.1:1/";
                             return request;
                           });
  }

  RetryPolicy policy_;
  absl::Time now_ = absl::FromUnixSeconds(1700000000);
  std::vector<absl::Duration> sleeps_;
  int builds_ = 0;
};

TEST_F(RetryTest, SuccessNeedsOneAttempt) {
  ScriptedTransport transport({{200, ""}});
  auto response = Run(transport);
  ASSERT_THAT(response.status(), IsOk());
  EXPECT_EQ(transport.calls_, 1);
  EXPECT_TRUE(sleeps_.empty());
}

TEST_F(RetryTest, RetriesServerErrorsAndRebuildsEachAttempt) {
  ScriptedTransport transport({{500, ""}, {503, ""}, {429, ""}, {200, ""}});
  auto response = Run(transport);
  ASSERT_THAT(response.status(), IsOk());
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(transport.calls_, 4);
  EXPECT_EQ(builds_, 4);
  ASSERT_EQ(sleeps_.size(), 3U);
  // Full jitter stays under the doubling ceiling.
  EXPECT_LE(sleeps_[0], absl::Milliseconds(100));
  EXPECT_LE(sleeps_[1], absl::Milliseconds(200));
  EXPECT_LE(sleeps_[2], absl::Milliseconds(400));
}

TEST_F(RetryTest, ClientErrorsAreNotRetried) {
  for (int status : {400, 401, 403, 404, 409, 412}) {
    ScriptedTransport transport({{status, ""}});
    auto response = Run(transport);
    ASSERT_THAT(response.status(), IsOk());
    EXPECT_EQ(response->status, status);
    EXPECT_EQ(transport.calls_, 1) << status;
  }
}

TEST_F(RetryTest, StopsAfterMaxAttemptsAndReturnsLastResponse) {
  policy_.max_attempts = 3;
  ScriptedTransport transport({{503, ""}});
  auto response = Run(transport);
  ASSERT_THAT(response.status(), IsOk());
  EXPECT_EQ(response->status, 503);
  EXPECT_EQ(transport.calls_, 3);
}

TEST_F(RetryTest, TransportErrorsRetriedOnlyWhenIdempotent) {
  ScriptedTransport retried({{-1, ""}, {-2, ""}, {200, ""}});
  EXPECT_THAT(Run(retried).status(), IsOk());
  EXPECT_EQ(retried.calls_, 3);

  ScriptedTransport not_retried({{-1, ""}, {200, ""}});
  EXPECT_THAT(Run(not_retried, /*idempotent=*/false).status(),
              StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_EQ(not_retried.calls_, 1);
}

TEST_F(RetryTest, FinalTransportErrorSaysHowManyAttempts) {
  policy_.max_attempts = 2;
  ScriptedTransport transport({{-1, ""}});
  EXPECT_THAT(Run(transport).status(),
              StatusIs(absl::StatusCode::kUnavailable,
                       HasSubstr("gave up after 2 attempts")));
}

TEST_F(RetryTest, HonoursRetryAfterSeconds) {
  ScriptedTransport transport({{429, "3"}, {200, ""}});
  ASSERT_THAT(Run(transport).status(), IsOk());
  EXPECT_THAT(sleeps_, ElementsAre(absl::Seconds(3)));
}

TEST_F(RetryTest, HonoursRetryAfterDate) {
  // 1700000000 is Tue, 14 Nov 2023 22:13:20 GMT.
  ScriptedTransport transport(
      {{503, "Tue, 14 Nov 2023 22:13:27 GMT"}, {200, ""}});
  ASSERT_THAT(Run(transport).status(), IsOk());
  EXPECT_THAT(sleeps_, ElementsAre(absl::Seconds(7)));
}

TEST_F(RetryTest, RetryAfterBeyondTheDeadlineEndsTheLoop) {
  policy_.total_timeout = absl::Seconds(10);
  ScriptedTransport transport({{503, "60"}, {200, ""}});
  auto response = Run(transport);
  ASSERT_THAT(response.status(), IsOk());
  EXPECT_EQ(response->status, 503);
  EXPECT_EQ(transport.calls_, 1);
  EXPECT_TRUE(sleeps_.empty());
}

TEST_F(RetryTest, BackoffIsCappedByMaxBackoff) {
  policy_.max_attempts = 10;
  policy_.max_backoff = absl::Milliseconds(250);
  policy_.total_timeout = absl::Hours(1);
  ScriptedTransport transport({{500, ""}});
  (void)Run(transport);
  ASSERT_EQ(sleeps_.size(), 9U);
  for (absl::Duration d : sleeps_) {
    EXPECT_LE(d, absl::Milliseconds(250));
  }
}

TEST_F(RetryTest, CustomClassifierDecides) {
  ScriptedTransport transport({{409, ""}, {200, ""}});
  auto response = SendWithRetries(
      transport, policy_, "test call", true,
      []() -> absl::StatusOr<HttpRequest> { return HttpRequest(); },
      [](const HttpResponse& r) {
        return r.status == 409 ? RetryDecision{"conflict"} : RetryDecision{};
      });
  ASSERT_THAT(response.status(), IsOk());
  EXPECT_EQ(transport.calls_, 2);
}

TEST_F(RetryTest, BuildErrorStopsAtOnce) {
  ScriptedTransport transport({{200, ""}});
  auto response =
      SendWithRetries(transport, policy_, "test call", true,
                      []() -> absl::StatusOr<HttpRequest> {
                        return absl::UnauthenticatedError("no credentials");
                      });
  EXPECT_THAT(response.status(), StatusIs(absl::StatusCode::kUnauthenticated));
  EXPECT_EQ(transport.calls_, 0);
}

}  // namespace
}  // namespace dekms::internal
