#include <signal.h>
#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstring>
#include <memory>

#include "absl/time/time.h"
#include "src/base/status_macros.h"
#include "src/base/str_cat.h"
#include "src/cli/commands.h"
#include "src/server/key_server.h"

namespace dekms::internal {
namespace {

const char* SignalName(int signal_number) {
  switch (signal_number) {
    case SIGTERM:
      return "SIGTERM";
    case SIGINT:
      return "SIGINT";
    default:
      return "a signal";
  }
}

}  // namespace

absl::Status RunServe(const ServeOptions& options) {
  // Check the address before anything, such as a new master secret, is
  // created on disk.
  DEKMS_RETURN_IF_ERROR(ValidateListenAddress(options.listen_address));

  // Block the shutdown signals before any gRPC thread exists, so that every
  // thread inherits the mask and sigwait() below is their only receiver.
  sigset_t shutdown_signals;
  sigemptyset(&shutdown_signals);
  sigaddset(&shutdown_signals, SIGTERM);
  sigaddset(&shutdown_signals, SIGINT);
  if (const int error = pthread_sigmask(SIG_BLOCK, &shutdown_signals, nullptr);
      error != 0) {
    return absl::InternalError(
        StrCat("cannot block SIGTERM and SIGINT: ",
               std::strerror(error)));  // NOLINT(concurrency-mt-unsafe)
  }

  ResolvedBackend backend;
  if (HasBackendSource(options.backend)) {
    DEKMS_ASSIGN_OR_RETURN(backend, ResolveBackend(options.backend));
  } else {
    bool created = false;
    DEKMS_ASSIGN_OR_RETURN(
        backend, LoadOrCreateStateSecret(options.state_dir, &created));
    if (created) {
      spdlog::warn(
          "created a new master secret in {}; back it up, because every DEK "
          "is derived from it and cannot be recovered without it",
          options.state_dir);
    }
  }

  DEKMS_ASSIGN_OR_RETURN(
      std::unique_ptr<KeyManager> key_manager,
      NewKeyManager(backend.kms, backend.storage, options.key_manager));
  const std::string kind(key_manager->Kind());
  const absl::Duration cache_ttl = options.key_manager.cache_ttl;
  if (kind != "envelope" && cache_ttl > absl::ZeroDuration()) {
    spdlog::warn(
        "--cache-ttl is ignored: the {} backend derives every DEK "
        "and has no cache",
        kind);
  } else if (kind == "envelope") {
    spdlog::info(
        "DEK cache: {}",
        cache_ttl > absl::ZeroDuration()
            ? StrCat(absl::FormatDuration(cache_ttl), " time-to-live, at most ",
                     options.key_manager.cache_max_entries,
                     " entries; a cached DEK is served "
                     "without re-reading its blob")
            : std::string("off"));
  }
  DEKMS_ASSIGN_OR_RETURN(
      std::unique_ptr<KeyServer> server,
      KeyServer::Start(std::move(key_manager), options.listen_address));
  spdlog::info(
      "dekms key service listening on {} (backend {}, from {}; kms URI {}, "
      "storage URI {})",
      server->address(), kind, backend.source, RedactedKmsUri(backend.kms),
      RedactedStorageUri(backend.storage));

  int signal_number = 0;
  if (const int error = sigwait(&shutdown_signals, &signal_number);
      error != 0) {
    spdlog::error("sigwait failed: {}; shutting down",
                  std::strerror(error));  // NOLINT(concurrency-mt-unsafe)
  }
  spdlog::info("received {}; finishing calls in flight (grace period {} s)",
               SignalName(signal_number), options.shutdown_grace_seconds);
  server->Shutdown(absl::Seconds(options.shutdown_grace_seconds));
  spdlog::info("dekms key service stopped");
  return absl::OkStatus();
}

}  // namespace dekms::internal
