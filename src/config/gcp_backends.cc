#include "src/config/gcp_backends.h"

#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "spdlog/spdlog.h"
#include "src/base/status_macros.h"
#include "src/base/str_cat.h"
#include "src/cloud/gcp/credentials.h"
#include "src/cloud/http.h"
#include "src/cloud/oauth.h"
#include "src/kek/gcp_kms_kek_provider.h"
#include "src/storage/gcs_store.h"

namespace dekms::internal {
namespace {

constexpr std::string_view kCloudKmsEndpoint =
    "https://cloudkms.googleapis.com";
constexpr std::string_view kCloudStorageEndpoint =
    "https://storage.googleapis.com";

// Keeps the transport that a token source sends token requests through
// alive for as long as the source.
class TransportOwningTokenSource final : public GoogleTokenSource {
 public:
  TransportOwningTokenSource(std::shared_ptr<HttpTransport> transport,
                             std::unique_ptr<GoogleTokenSource> inner)
      : transport_(std::move(transport)), inner_(std::move(inner)) {}

  absl::StatusOr<GoogleAccessToken> Get() override { return inner_->Get(); }
  std::string Describe() const override { return inner_->Describe(); }
  void Invalidate() override { inner_->Invalidate(); }

 private:
  std::shared_ptr<HttpTransport> transport_;
  std::unique_ptr<GoogleTokenSource> inner_;
};

absl::StatusOr<std::shared_ptr<GoogleTokenSource>> NewTokenSource(
    const std::string& credentials_path,
    std::shared_ptr<HttpTransport> transport, const GetEnvFunction& getenv) {
  GoogleCredentialOptions options;
  options.credentials_path = credentials_path;
  options.getenv = getenv;
  options.transport = transport.get();
  DEKMS_ASSIGN_OR_RETURN(std::unique_ptr<GoogleTokenSource> source,
                         NewGoogleTokenSource(std::move(options)));
  return std::shared_ptr<GoogleTokenSource>(
      std::make_shared<TransportOwningTokenSource>(std::move(transport),
                                                   std::move(source)));
}

}  // namespace

absl::StatusOr<std::unique_ptr<KekProvider>> NewGcpKmsKek(
    const GcpKmsConfig& config, const GetEnvFunction& getenv) {
  GcpKmsKekOptions options;
  options.project_id = config.project_id;
  options.location = config.location;
  options.key_ring = config.key_ring;
  options.key_name = config.key_name;
  DEKMS_RETURN_IF_ERROR(ValidateGcpKmsKeyName(options));
  options.endpoint = config.endpoint.empty() ? std::string(kCloudKmsEndpoint)
                                             : config.endpoint;
  // Requests there carry bearer tokens.
  DEKMS_RETURN_IF_ERROR(ValidateCredentialUrl(
      options.endpoint, "parameter \"endpoint\" of kms://gcp URI"));
  while (options.endpoint.ends_with('/')) {
    options.endpoint.pop_back();
  }
  options.transport = NewCurlTransport(CurlTransportOptions());
  DEKMS_ASSIGN_OR_RETURN(
      options.credentials,
      NewTokenSource(config.credentials_path, options.transport, getenv));
  spdlog::info(
      "Google Cloud KMS: key {} in project {}, location {}, key ring {} at "
      "{}, credentials from {}",
      config.key_name, config.project_id, config.location, config.key_ring,
      UrlOrigin(options.endpoint), options.credentials->Describe());
  DEKMS_ASSIGN_OR_RETURN(std::unique_ptr<GcpKmsKekProvider> kek,
                         GcpKmsKekProvider::Create(std::move(options)));
  return std::unique_ptr<KekProvider>(std::move(kek));
}

absl::StatusOr<std::unique_ptr<Store>> NewGcsStore(
    const GcsStoreConfig& config, const GetEnvFunction& getenv) {
  GcsStoreOptions options;
  options.project_id = config.project_id;
  options.bucket = config.bucket;
  DEKMS_RETURN_IF_ERROR(ValidateGcsBucketName(options.bucket));
  bool emulator = false;
  if (!config.endpoint.empty()) {
    options.endpoint = config.endpoint;
    // Requests there carry bearer tokens.
    DEKMS_RETURN_IF_ERROR(ValidateCredentialUrl(
        options.endpoint, "parameter \"endpoint\" of storage://gcp URI"));
  } else if (std::optional<std::string> host = getenv("STORAGE_EMULATOR_HOST");
             host.has_value() && !host->empty()) {
    options.endpoint = host->find("://") == std::string::npos
                           ? StrCat("http://", *host)
                           : *host;
    DEKMS_RETURN_IF_ERROR(
        ValidateBaseUrl(options.endpoint, "STORAGE_EMULATOR_HOST"));
    emulator = true;
  } else {
    options.endpoint = std::string(kCloudStorageEndpoint);
  }
  while (options.endpoint.ends_with('/')) {
    options.endpoint.pop_back();
  }
  options.transport = NewCurlTransport(CurlTransportOptions());
  std::string credentials_text =
      "nowhere: requests carry no credentials, as STORAGE_EMULATOR_HOST is "
      "set";
  if (!emulator || !config.credentials_path.empty()) {
    DEKMS_ASSIGN_OR_RETURN(
        options.credentials,
        NewTokenSource(config.credentials_path, options.transport, getenv));
    credentials_text = options.credentials->Describe();
  }
  spdlog::info(
      "Google Cloud Storage: bucket {} in project {} at {}, credentials "
      "from {}",
      config.bucket, config.project_id, UrlOrigin(options.endpoint),
      credentials_text);
  DEKMS_ASSIGN_OR_RETURN(std::unique_ptr<GcsStore> store,
                         GcsStore::Create(std::move(options)));
  return std::unique_ptr<Store>(std::move(store));
}

}  // namespace dekms::internal
