// Round trip of one GetDataKey call over a real gRPC channel on loopback,
// with the request log line formatted into a null sink.

#include <benchmark/benchmark.h>
#include <grpcpp/grpcpp.h>
#include <spdlog/sinks/null_sink.h>
#include <spdlog/spdlog.h>

#include "dekms/cluster_kms.h"
#include "kms.grpc.pb.h"
#include "src/server/key_server.h"

namespace dekms {
namespace {

void BM_KeyServiceRoundTrip(benchmark::State& state) {
  spdlog::set_default_logger(std::make_shared<spdlog::logger>(
      "null", std::make_shared<spdlog::sinks::null_sink_mt>()));

  auto kms = ClusterKms::Create(SecretBytes(32), SecretBytes(32));
  if (!kms.ok()) {
    state.SkipWithError("ClusterKms::Create failed");
    return;
  }
  auto server =
      internal::KeyServer::Start(std::move(kms).value(), "127.0.0.1:0");
  if (!server.ok()) {
    state.SkipWithError("KeyServer::Start failed");
    return;
  }
  auto stub = kms::API::NewStub(grpc::CreateChannel(
      (*server)->address(), grpc::InsecureChannelCredentials()));
  kms::GetDataKeyRequest request;
  request.set_data_key_id("3f2b8a4e-9c1d-4e7f-8a6b-2d5c9e0f1a3b");
  request.set_length(32);

  for (auto _ : state) {
    grpc::ClientContext context;
    kms::GetDataKeyResponse response;
    const grpc::Status status = stub->GetDataKey(&context, request, &response);
    if (!status.ok()) {
      state.SkipWithError("GetDataKey failed");
      break;
    }
    benchmark::DoNotOptimize(response);
  }
}
BENCHMARK(BM_KeyServiceRoundTrip)->UseRealTime();

}  // namespace
}  // namespace dekms
