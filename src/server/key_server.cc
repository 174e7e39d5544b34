#include "src/server/key_server.h"

#include <grpcpp/health_check_service_interface.h>

#include "absl/strings/match.h"
#include "src/base/str_cat.h"

namespace dekms::internal {

absl::StatusOr<std::unique_ptr<KeyServer>> KeyServer::Start(
    std::shared_ptr<KeyManager> key_manager,
    const std::string& listen_address) {
  auto service = std::make_unique<KeyService>(std::move(key_manager));

  grpc::EnableDefaultHealthCheckService(true);
  grpc::ServerBuilder builder;
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
