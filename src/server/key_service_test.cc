#include "src/server/key_service.h"

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <unistd.h>

#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "dekms/cluster_kms.h"
#include "gtest/gtest.h"
#include "src/server/key_server.h"
#include "tests/testing/status_matchers.h"

namespace dekms::internal {
namespace {

using ::dekms::testing::IsOk;
using ::testing::HasSubstr;

SecretBytes Range(int first, int end) {
  SecretBytes bytes(static_cast<size_t>(end - first));
  for (int i = first; i < end; ++i) {
    bytes.Reveal()[static_cast<size_t>(i - first)] = static_cast<uint8_t>(i);
  }
  return bytes;
}

// A KeyManager that fails every call with a fixed status.
class FailingKeyManager final : public KeyManager {
 public:
  explicit FailingKeyManager(absl::Status status)
      : status_(std::move(status)) {}
  absl::StatusOr<SecretBytes> GetDek(std::string_view, size_t) override {
    return status_;
  }
  std::string_view Kind() const override { return "failing"; }

 private:
  absl::Status status_;
};

// Runs a KeyServer on a free loopback port and talks to it over a real
// gRPC channel.
class KeyServiceTest : public ::testing::Test {
 protected:
  void StartWith(std::shared_ptr<KeyManager> key_manager) {
    auto server = KeyServer::Start(std::move(key_manager), "127.0.0.1:0");
    ASSERT_THAT(server, IsOk());
    server_ = std::move(server).value();
    channel_ = grpc::CreateChannel(server_->address(),
                                   grpc::InsecureChannelCredentials());
    stub_ = kms::API::NewStub(channel_);
  }

  void SetUp() override {
    auto kms = ClusterKms::Create(Range(0, 32), Range(32, 64));
    ASSERT_THAT(kms, IsOk());
    cluster_kms_ = std::shared_ptr<KeyManager>(std::move(kms).value());
    StartWith(cluster_kms_);
  }

  grpc::Status Call(const std::string& id, uint32_t length,
                    std::string* data_key) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(10));
    kms::GetDataKeyRequest request;
    request.set_data_key_id(id);
    request.set_length(length);
    kms::GetDataKeyResponse response;
    grpc::Status status = stub_->GetDataKey(&context, request, &response);
    *data_key = response.data_key();
    return status;
  }

  std::string LibraryDek(const std::string& id, size_t length) {
    auto dek = cluster_kms_->GetDek(id, length);
    EXPECT_THAT(dek, IsOk());
    if (!dek.ok()) return "";
    return std::string(reinterpret_cast<const char*>(dek->Reveal().data()),
                       dek->size());
  }

  std::shared_ptr<KeyManager> cluster_kms_;
  std::unique_ptr<KeyServer> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<kms::API::Stub> stub_;
};

TEST_F(KeyServiceTest, ZeroLengthIsInvalidArgument) {
  std::string key;
  const grpc::Status status = Call("disk", 0, &key);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("length is 0"));
  EXPECT_TRUE(key.empty());
}

TEST_F(KeyServiceTest, LengthAboveMaximumIsInvalidArgument) {
  std::string key;
  const grpc::Status status = Call("disk", 8161, &key);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("8161"));
}

TEST_F(KeyServiceTest, EmptyIdIsInvalidArgument) {
  std::string key;
  const grpc::Status status = Call("", 32, &key);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("data_key_id is empty"));
}

TEST_F(KeyServiceTest, OverlongIdIsInvalidArgument) {
  std::string key;
  const grpc::Status status =
      Call(std::string(kMaxDataKeyIdBytes + 1, 'x'), 32, &key);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("maximum is 508 bytes"));
}

TEST_F(KeyServiceTest, AcceptsLimits) {
  std::string key;
  EXPECT_TRUE(Call(std::string(kMaxDataKeyIdBytes, 'x'), 32, &key).ok());
  EXPECT_TRUE(Call("disk", 8160, &key).ok());
  EXPECT_EQ(key.size(), 8160u);
}

TEST_F(KeyServiceTest, ReturnsLibraryDekForPrefixedId) {
  std::string key;
  ASSERT_TRUE(Call("disk-1", 32, &key).ok());
  EXPECT_EQ(key, LibraryDek("key-disk-1", 32));
  EXPECT_NE(key, LibraryDek("disk-1", 32));
}

TEST_F(KeyServiceTest, MatchesKnownAnswer) {
  // Master secret 00..1f, salt 20..3f, ID "key-disk-1"; computed with
  // Python's hmac module.
  std::string key;
  ASSERT_TRUE(Call("disk-1", 32, &key).ok());
  std::string hex;
  for (const unsigned char c : key) {
    constexpr char kDigits[] = "0123456789abcdef";
    hex += kDigits[c >> 4];
    hex += kDigits[c & 0xf];
  }
  EXPECT_EQ(hex,
            "42f598bf6f15a7ac3ae7da7109eb3e97fb4744997261ad85530f6e995ed225a3");
}

TEST_F(KeyServiceTest, ConcurrentCallsAgree) {
  std::string expected;
  ASSERT_TRUE(Call("disk-9", 32, &expected).ok());
  std::vector<std::thread> threads;
  std::vector<std::string> results(8);
  for (size_t t = 0; t < results.size(); ++t) {
    threads.emplace_back([this, &results, t] {
      for (int i = 0; i < 20; ++i) {
        EXPECT_TRUE(Call("disk-9", 32, &results[t]).ok());
      }
    });
  }
  for (auto& thread : threads) thread.join();
  for (const std::string& result : results) EXPECT_EQ(result, expected);
}

TEST_F(KeyServiceTest, BackendCodesPassThrough) {
  server_.reset();
  StartWith(std::make_shared<FailingKeyManager>(
      absl::UnavailableError("store timed out")));
  std::string key;
  const grpc::Status status = Call("disk", 32, &key);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(status.error_message(), "store timed out");
}

TEST_F(KeyServiceTest, InternalErrorsAreNotDetailed) {
  server_.reset();
  StartWith(std::make_shared<FailingKeyManager>(
      absl::InternalError("OpenSSL said something internal")));
  std::string key;
  const grpc::Status status = Call("disk", 32, &key);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INTERNAL);
  EXPECT_THAT(status.error_message(), HasSubstr("its log has the details"));
  EXPECT_THAT(status.error_message(), ::testing::Not(HasSubstr("OpenSSL")));
}

TEST_F(KeyServiceTest, HealthServiceReportsServing) {
  // grpc.health.v1.Health/Check with an empty HealthCheckRequest; the
  // response HealthCheckResponse{status: SERVING} encodes as 08 01.
  grpc::GenericStub generic(channel_);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(10));
  grpc::Slice empty_message{std::string()};
  grpc::ByteBuffer request(&empty_message, 1);
  grpc::ByteBuffer response;

  grpc::Status status;
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  generic.UnaryCall(&context, "/grpc.health.v1.Health/Check",
                    grpc::StubOptions(), &request, &response,
                    [&](grpc::Status s) {
                      std::lock_guard<std::mutex> lock(mu);
                      status = std::move(s);
                      done = true;
                      cv.notify_one();
                    });
  std::unique_lock<std::mutex> lock(mu);
  cv.wait(lock, [&] { return done; });
  ASSERT_TRUE(status.ok()) << status.error_message();

  std::vector<grpc::Slice> slices;
  ASSERT_TRUE(response.Dump(&slices).ok());
  std::string bytes;
  for (const auto& slice : slices) {
    bytes.append(reinterpret_cast<const char*>(slice.begin()), slice.size());
  }
  EXPECT_EQ(bytes, std::string("\x08\x01", 2));
}

TEST_F(KeyServiceTest, ShutdownLetsCallsInFlightFinish) {
  // A slow backend keeps a call in flight while Shutdown() runs; the call
  // still completes with its key.
  class SlowKeyManager final : public KeyManager {
   public:
    absl::StatusOr<SecretBytes> GetDek(std::string_view, size_t n) override {
      std::this_thread::sleep_for(std::chrono::milliseconds(300));
      return SecretBytes(n);
    }
    std::string_view Kind() const override { return "slow"; }
  };
  server_.reset();
  StartWith(std::make_shared<SlowKeyManager>());
  std::string key;
  grpc::Status status;
  std::thread caller([&] { status = Call("disk", 16, &key); });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  server_->Shutdown(absl::Seconds(5));
  caller.join();
  EXPECT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(key.size(), 16u);
}

TEST(KeyServer, RejectsMalformedListenAddresses) {
  for (const char* address :
       {"bogus", "127.0.0.1:99999", "127.0.0.1:65536", ":9000",
        "unix:", "127.0.0.1:-1", "127.0.0.1:", "127.0.0.1:http"}) {
    auto kms = ClusterKms::Create(Range(0, 32), Range(32, 64));
    ASSERT_THAT(kms, IsOk());
    auto server = KeyServer::Start(std::move(kms).value(), address);
    EXPECT_EQ(server.status().code(), absl::StatusCode::kInvalidArgument)
        << address;
  }
}

TEST(KeyServer, SecondServerOnSamePortFails) {
  auto first_kms = ClusterKms::Create(Range(0, 32), Range(32, 64));
  auto second_kms = ClusterKms::Create(Range(1, 33), Range(32, 64));
  ASSERT_THAT(first_kms, IsOk());
  ASSERT_THAT(second_kms, IsOk());
  auto first = KeyServer::Start(std::move(first_kms).value(), "127.0.0.1:0");
  ASSERT_THAT(first, IsOk());
  auto second =
      KeyServer::Start(std::move(second_kms).value(), (*first)->address());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(second.status().message()),
              HasSubstr((*first)->address()));
}

TEST(KeyServer, BadAddressIsUnavailable) {
  auto kms = ClusterKms::Create(Range(0, 32), Range(32, 64));
  ASSERT_THAT(kms, IsOk());
  auto server = KeyServer::Start(std::move(kms).value(), "256.1.1.1:1");
  EXPECT_EQ(server.status().code(), absl::StatusCode::kUnavailable);
}

TEST(KeyServer, ListensOnUnixSocket) {
  auto kms = ClusterKms::Create(Range(0, 32), Range(32, 64));
  ASSERT_THAT(kms, IsOk());
  const std::string address = "unix:" + ::testing::TempDir() + "/dekms-test-" +
                              std::to_string(getpid()) + ".sock";
  auto server = KeyServer::Start(std::move(kms).value(), address);
  ASSERT_THAT(server, IsOk());
  EXPECT_EQ((*server)->address(), address);
  auto stub = kms::API::NewStub(
      grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  kms::GetDataKeyRequest request;
  request.set_data_key_id("disk");
  request.set_length(32);
  kms::GetDataKeyResponse response;
  EXPECT_TRUE(stub->GetDataKey(&context, request, &response).ok());
  EXPECT_EQ(response.data_key().size(), 32u);
}

TEST(StatusConversion, KeepsCodeAndMessage) {
  const grpc::Status status =
      ToGrpcStatus(absl::PermissionDeniedError("no kms:Decrypt"));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(status.error_message(), "no kms:Decrypt");
  const absl::Status back = FromGrpcStatus(status);
  EXPECT_EQ(back.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(ToGrpcStatus(absl::OkStatus()).ok());
}

}  // namespace
}  // namespace dekms::internal
