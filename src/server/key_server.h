#ifndef DEKMS_SRC_SERVER_KEY_SERVER_H_
#define DEKMS_SRC_SERVER_KEY_SERVER_H_

#include <grpcpp/grpcpp.h>

#include <memory>
#include <mutex>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "dekms/key_manager.h"
#include "src/server/key_service.h"

namespace dekms::internal {

// Checks that `address` has one of the forms KeyServer::Start() takes, so
// that a typo fails with a clear message before anything starts, and a port
// above 65535 is not silently wrapped around. Returns kInvalidArgument.
[[nodiscard]] absl::Status ValidateListenAddress(const std::string& address);

// Sends gRPC's internal log lines to spdlog at debug level. Call once at
// start-up, before any gRPC object exists.
void RouteGrpcLogsToSpdlog();

// A running gRPC key service: kms.API plus the standard grpc.health.v1
// health service, on one listening address without TLS.
//
// Thread-safe. Destroying it shuts it down with a zero grace period if
// Shutdown() has not run.
class KeyServer {
 public:
  // Default listening address: loopback only, so that nothing is exposed
  // unless the operator asks for it.
  static constexpr std::string_view kDefaultListenAddress = "127.0.0.1:9000";

  // Starts serving `key_manager` on `listen_address`, which takes gRPC's
  // forms: "127.0.0.1:9000", "[::1]:9000", "unix:/path/to/socket". Port 0
  // picks a free port; address() then returns it. Fails with
  // kInvalidArgument for another form or a port above 65535, and with
  // kUnavailable when the address cannot be bound, for example because
  // another process listens there.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<KeyServer>> Start(
      std::shared_ptr<KeyManager> key_manager,
      const std::string& listen_address);

  ~KeyServer();

  // Returns the address the server listens on, with the real port.
  [[nodiscard]] const std::string& address() const { return address_; }

  // Marks the service NOT_SERVING in the health service, stops accepting
  // calls, and waits up to `grace` for calls in flight to finish before
  // cancelling them. Returns once the server has stopped.
  void Shutdown(absl::Duration grace);

 private:
  KeyServer(std::unique_ptr<KeyService> service,
            std::unique_ptr<grpc::Server> server, std::string address);

  std::unique_ptr<KeyService> service_;
  std::unique_ptr<grpc::Server> server_;
  std::string address_;
  std::once_flag shutdown_once_;
};

}  // namespace dekms::internal

#endif  // DEKMS_SRC_SERVER_KEY_SERVER_H_
