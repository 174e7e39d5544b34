#include "src/server/key_server.h"

#include <grpc/support/log.h>
#include <grpcpp/health_check_service_interface.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <string_view>

#include "absl/strings/match.h"
#include "src/base/quote.h"
#include "src/base/status_macros.h"
#include "src/base/str_cat.h"

namespace dekms::internal {

absl::Status ValidateListenAddress(const std::string& address) {
  if (absl::StartsWith(address, "unix:")) {
    if (address.size() == std::string_view("unix:").size()) {
      return absl::InvalidArgumentError(
          "listen address \"unix:\" has no socket path; use unix:PATH");
    }
    return absl::OkStatus();
  }
  const size_t colon = address.rfind(':');
  const std::string_view host =
      colon == std::string::npos ? ""
                                 : std::string_view(address).substr(0, colon);
  const std::string_view port =
      colon == std::string::npos ? ""
                                 : std::string_view(address).substr(colon + 1);
  const bool port_is_number = !port.empty() && port.size() <= 5 &&
                              std::all_of(port.begin(), port.end(), [](char c) {
                                return c >= '0' && c <= '9';
                              });
  if (host.empty() || !port_is_number || std::stoi(std::string(port)) > 65535) {
    return absl::InvalidArgumentError(
        StrCat("listen address ", Quote(address),
               " is not HOST:PORT with a port from 0 to 65535, [IPv6]:PORT or "
               "unix:PATH"));
  }
  return absl::OkStatus();
}

namespace {

// Hands gRPC's own log lines to spdlog at debug level, so they follow the
// service's log format and stay out of the way unless --log-level debug.
void LogGrpcMessage(gpr_log_func_args* args) {
  spdlog::debug("grpc: {} ({}:{})", args->message, args->file, args->line);
}

}  // namespace

void RouteGrpcLogsToSpdlog() { gpr_set_log_function(LogGrpcMessage); }

absl::StatusOr<std::unique_ptr<KeyServer>> KeyServer::Start(
    std::shared_ptr<KeyManager> key_manager,
    const std::string& listen_address) {
  DEKMS_RETURN_IF_ERROR(ValidateListenAddress(listen_address));
  auto service = std::make_unique<KeyService>(std::move(key_manager));

  grpc::EnableDefaultHealthCheckService(true);
  grpc::ServerBuilder builder;
  // gRPC sets SO_REUSEPORT by default, which lets a second key service bind
  // the same port and receive part of the calls. One port, one service.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  int selected_port = 0;
  builder.AddListeningPort(listen_address, grpc::InsecureServerCredentials(),
                           &selected_port);
  builder.RegisterService(service.get());
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || selected_port == 0) {
    return absl::UnavailableError(StrCat(
        "cannot listen on ", listen_address,
        ": the address is invalid, in use, or not permitted; pick another "
        "with --listen"));
  }
  server->GetHealthCheckService()->SetServingStatus(true);

  // gRPC reports the bound port separately; put it into the address so that
  // port 0 shows the port actually chosen.
  std::string address = listen_address;
  if (!absl::StartsWith(listen_address, "unix:")) {
    const size_t colon = listen_address.rfind(':');
    address = StrCat(listen_address.substr(0, colon), ":", selected_port);
  }
  return std::unique_ptr<KeyServer>(
      new KeyServer(std::move(service), std::move(server), std::move(address)));
}

KeyServer::KeyServer(std::unique_ptr<KeyService> service,
                     std::unique_ptr<grpc::Server> server, std::string address)
    : service_(std::move(service)),
      server_(std::move(server)),
      address_(std::move(address)) {}

KeyServer::~KeyServer() { Shutdown(absl::ZeroDuration()); }

void KeyServer::Shutdown(absl::Duration grace) {
  std::call_once(shutdown_once_, [this, grace] {
    server_->GetHealthCheckService()->SetServingStatus(false);
    server_->Shutdown(absl::ToChronoTime(absl::Now() + grace));
    server_->Wait();
  });
}

}  // namespace dekms::internal
