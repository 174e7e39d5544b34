// Entry point of the `dekms` command: parses arguments with CLI11 and maps
// the status of the chosen subcommand to an exit code: 0 on success, 2 when
// the arguments do not parse, 1 on any other failure.

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <iostream>
#include <string>

#include "absl/status/status.h"
#include "src/base/logging.h"
#include "src/cli/commands.h"
#include "src/server/key_server.h"

namespace {

constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;

void AddBackendOptions(CLI::App& command,
                       dekms::internal::BackendOptions& backend) {
  auto* kms_uri =
      command
          .add_option("--kms-uri", backend.kms_uri,
                      "kms:// URI of the key backend, for example "
                      "kms://cluster-kms?key=...&salt=... or "
                      "kms://aws?region=...&keyName=... (docs/uris.md, "
                      "docs/aws.md, docs/gcp.md, docs/azure.md). Also read "
                      "from "
                      "$DEKMS_KMS_URI, which keeps secrets out of the process "
                      "list")
          ->envname("DEKMS_KMS_URI");
  command
      .add_option("--storage-uri", backend.storage_uri,
                  "storage:// URI of the store for wrapped DEKs, for example "
                  "storage://aws?bucket=...&region=... (default: "
                  "storage://no-store). Also read from $DEKMS_STORAGE_URI")
      ->envname("DEKMS_STORAGE_URI")
      ->needs(kms_uri);
  auto* secret_file =
      command
          .add_option("--secret-file", backend.secret_file,
                      "master secret JSON file, as written by `dekms "
                      "secret generate` or by Constellation")
          ->excludes(kms_uri);
  auto* master_secret =
      command
          .add_option("--master-secret", backend.master_secret_path,
                      "file holding the raw master secret (at least 16 "
                      "bytes), as Constellation's key service reads it")
          ->excludes(kms_uri)
          ->excludes(secret_file);
  auto* salt = command
                   .add_option("--salt", backend.salt_path,
                               "file holding the raw salt (at least 32 bytes)")
                   ->excludes(kms_uri)
                   ->excludes(secret_file);
  master_secret->needs(salt);
  salt->needs(master_secret);
}

// Returns the help command of the deepest subcommand that the arguments
// reached, such as "dekms get --help".
std::string HelpCommand(CLI::App& app) {
  std::string command = "dekms";
  CLI::App* current = &app;
  while (current != nullptr) {
    CLI::App* next = nullptr;
    for (CLI::App* sub : current->get_subcommands()) {
      command += " " + sub->get_name();
      next = sub;
    }
    current = next;
  }
  return command + " --help";
}

int ReportFailure(std::string_view command, const absl::Status& status) {
  std::cerr << "dekms " << command << ": " << status.message() << "\n";
  return kExitFailure;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "dekms hands out data encryption keys (DEKs) by ID: derived from a "
      "master secret (cluster KMS), or generated at random and kept wrapped "
      "by a key-encryption key (envelope KMS).",
      "dekms"};
  app.set_version_flag("--version", "dekms 0.1.0");
  app.require_subcommand(1);

  // dekms secret generate
  CLI::App* secret = app.add_subcommand("secret", "Manage master secrets");
  secret->require_subcommand(1);
  dekms::internal::SecretGenerateOptions generate_options;
  CLI::App* generate = secret->add_subcommand(
      "generate",
      "Write a new 32-byte master secret and 32-byte salt to a file (mode "
      "0600); an existing file is never overwritten");
  generate
      ->add_option("--out", generate_options.out_path,
                   "path of the new master secret file")
      ->required();
  generate->add_flag("--print-uri", generate_options.print_uri,
                     "also print the kms://cluster-kms URI, which contains "
                     "the secret, to stdout");

  // dekms kek generate
  CLI::App* kek = app.add_subcommand("kek", "Manage local key-encryption keys");
  kek->require_subcommand(1);
  dekms::internal::KekGenerateOptions kek_options;
  CLI::App* kek_generate = kek->add_subcommand(
      "generate",
      "Write a new 32-byte KEK for kms://local?keyFile=FILE to a file (mode "
      "0600); an existing file is never overwritten");
  kek_generate
      ->add_option("--out", kek_options.out_path, "path of the new KEK file")
      ->required();
  std::string fingerprint_path;
  CLI::App* kek_fingerprint = kek->add_subcommand(
      "fingerprint",
      "Print the fingerprint of a KEK file, the key id that blobs and error "
      "messages name");
  kek_fingerprint->add_option("FILE", fingerprint_path, "path of the KEK file")
      ->required();

  // dekms serve
  dekms::internal::ServeOptions serve_options;
  serve_options.listen_address =
      std::string(dekms::internal::KeyServer::kDefaultListenAddress);
  serve_options.state_dir = dekms::internal::DefaultStateDirectory();
  std::string log_level = "info";
  CLI::App* serve = app.add_subcommand(
      "serve",
      "Run the gRPC key service (kms.API, as Constellation's key service). "
      "Without a backend option it uses the master secret in the state "
      "directory, creating one on first start");
  serve
      ->add_option("--listen", serve_options.listen_address,
                   "address to listen on: HOST:PORT, [IPv6]:PORT or "
                   "unix:PATH; port 0 picks a free port")
      ->capture_default_str();
  serve->add_option("--state-dir", serve_options.state_dir,
                    "directory of the default master secret (default: "
                    "$DEKMS_STATE_DIR, else ./dekms-state)");
  serve
      ->add_option("--shutdown-grace", serve_options.shutdown_grace_seconds,
                   "seconds that calls in flight get to finish after SIGTERM "
                   "or SIGINT")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  double cache_ttl_seconds = 0;
  serve
      ->add_option("--cache-ttl", cache_ttl_seconds,
                   "seconds that an unwrapped DEK stays cached in the "
                   "service; 0 turns the cache off (envelope KMS only)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  serve
      ->add_option("--cache-max-entries",
                   serve_options.key_manager.cache_max_entries,
                   "maximum number of cached DEKs; the oldest is evicted "
                   "first")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  serve->add_option("--log-level", log_level, "debug, info, warn or error")
      ->capture_default_str()
      ->check(CLI::IsMember({"debug", "info", "warn", "error"}));
  AddBackendOptions(*serve, serve_options.backend);

  // dekms get
  dekms::internal::GetOptions get_options;
  get_options.server_address =
      std::string(dekms::internal::KeyServer::kDefaultListenAddress);
  CLI::App* get = app.add_subcommand(
      "get",
      "Print the DEK for an ID, from a running key service or derived "
      "locally; both apply the \"key-\" prefix of the key service and give "
      "the same bytes");
  get->add_option("ID", get_options.data_key_id, "ID of the DEK")->required();
  // CLI11 would wrap a negative number around to a huge size_t.
  const CLI::Validator not_negative(
      [](const std::string& value) {
        return !value.empty() && value[0] == '-'
                   ? std::string("must not be negative")
                   : std::string();
      },
      "NOT NEGATIVE");
  get->add_option("--length", get_options.length_bytes,
                  "length of the DEK in bytes, 1 to 8160")
      ->capture_default_str()
      ->check(not_negative);
  get->add_option("--format", get_options.format,
                  "output encoding: hex, base64 (standard alphabet) or raw")
      ->capture_default_str()
      ->check(CLI::IsMember({"hex", "base64", "raw"}));
  CLI::Option* server_option =
      get->add_option("--server", get_options.server_address,
                      "address of the key service to ask; without a backend "
                      "option, get asks the key service")
          ->capture_default_str();
  get->add_option("--timeout", get_options.timeout_seconds,
                  "seconds to wait for the key service")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  AddBackendOptions(*get, get_options.backend);

  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << "dekms: " << e.what() << " (see " << HelpCommand(app) << ")\n";
    return kExitUsage;
  }
  if (get->parsed() && server_option->count() > 0 &&
      dekms::internal::HasBackendSource(get_options.backend)) {
    std::cerr << "dekms: --server asks a running key service, but a local "
                 "backend is set too (--kms-uri, $DEKMS_KMS_URI, "
                 "--secret-file or --master-secret); give one of them (see "
                 "dekms get --help)\n";
    return kExitUsage;
  }

  // Logs go to stderr, so they never mix with a key on stdout. Only the
  // service logs at info level.
  dekms::internal::ConfigureLogging(serve->parsed() ? log_level : "warn");
  dekms::internal::RouteGrpcLogsToSpdlog();

  // Every command handles key material, so none may leave a core dump.
  if (absl::Status status = dekms::internal::DisableCoreDumps(); !status.ok()) {
    return ReportFailure("startup", status);
  }

  if (generate->parsed()) {
    const absl::Status status =
        dekms::internal::RunSecretGenerate(generate_options, STDOUT_FILENO);
    return status.ok() ? 0 : ReportFailure("secret generate", status);
  }
  if (kek_generate->parsed()) {
    const absl::Status status = dekms::internal::RunKekGenerate(kek_options);
    return status.ok() ? 0 : ReportFailure("kek generate", status);
  }
  if (kek_fingerprint->parsed()) {
    const absl::Status status =
        dekms::internal::RunKekFingerprint(fingerprint_path, STDOUT_FILENO);
    return status.ok() ? 0 : ReportFailure("kek fingerprint", status);
  }
  if (serve->parsed()) {
    serve_options.key_manager.cache_ttl = absl::Seconds(cache_ttl_seconds);
    const absl::Status status = dekms::internal::RunServe(serve_options);
    if (!status.ok()) {
      spdlog::critical("dekms serve failed: {}", std::string(status.message()));
      return kExitFailure;
    }
    return 0;
  }
  if (get->parsed()) {
    const absl::Status status =
        dekms::internal::RunGet(get_options, STDOUT_FILENO);
    return status.ok() ? 0 : ReportFailure("get", status);
  }
  return kExitUsage;
}
