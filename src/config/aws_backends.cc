#include "src/config/aws_backends.h"

#include <algorithm>
#include <memory>
#include <string>
#include <utility>

#include "absl/strings/ascii.h"
#include "spdlog/spdlog.h"
#include "src/base/status_macros.h"
#include "src/base/str_cat.h"
#include "src/cloud/aws/credential_chain.h"
#include "src/cloud/aws/endpoint.h"
#include "src/cloud/http.h"
#include "src/kek/aws_kms_kek_provider.h"
#include "src/storage/s3_store.h"

namespace dekms::internal {
namespace {

// Keeps the transport that a credential chain calls STS and instance
// metadata through alive for as long as the chain.
class TransportOwningCredentials final : public AwsCredentialsProvider {
 public:
  TransportOwningCredentials(std::shared_ptr<HttpTransport> transport,
                             std::unique_ptr<AwsCredentialsProvider> inner)
      : transport_(std::move(transport)), inner_(std::move(inner)) {}

  absl::StatusOr<AwsCredentials> Get() override { return inner_->Get(); }
  std::string Describe() const override { return inner_->Describe(); }

 private:
  std::shared_ptr<HttpTransport> transport_;
  std::unique_ptr<AwsCredentialsProvider> inner_;
};

std::shared_ptr<HttpTransport> NewAwsTransport(const GetEnvFunction& getenv) {
  CurlTransportOptions options;
  // AWS_CA_BUNDLE is the AWS SDKs' variable for a private CA bundle.
  if (std::optional<std::string> bundle = getenv("AWS_CA_BUNDLE");
      bundle.has_value()) {
    options.ca_file = *bundle;
  }
  return NewCurlTransport(options);
}

absl::StatusOr<std::shared_ptr<AwsCredentialsProvider>> NewCredentials(
    const std::string& access_key_id, const SecretBytes& access_key,
    const SecretBytes& session_token, const std::string& region,
    std::shared_ptr<HttpTransport> transport, const GetEnvFunction& getenv) {
  if (!access_key_id.empty()) {
    AwsCredentials credentials;
    credentials.access_key_id = access_key_id;
    credentials.secret_access_key = access_key.Clone();
    credentials.session_token = session_token.Clone();
    return std::shared_ptr<AwsCredentialsProvider>(
        NewStaticAwsCredentials(std::move(credentials), "the URI"));
  }
  AwsCredentialChainOptions options;
  options.getenv = getenv;
  options.transport = transport.get();
  options.region = region;
  DEKMS_ASSIGN_OR_RETURN(std::unique_ptr<AwsCredentialsProvider> chain,
                         NewAwsCredentialChain(std::move(options)));
  return std::shared_ptr<AwsCredentialsProvider>(
      std::make_shared<TransportOwningCredentials>(std::move(transport),
                                                   std::move(chain)));
}

// Names the URI form in an error about its parameters.
absl::Status InUri(const absl::Status& status, std::string_view uri_form) {
  return {status.code(), StrCat(uri_form, ": ", status.message())};
}

// Returns whether `base_url` has an IP address literal as its host.
bool HasIpHost(std::string_view base_url) {
  std::string_view host = base_url.substr(base_url.find("://") + 3);
  host = host.substr(0, host.find('/'));
  if (host.starts_with('[')) {
    return true;
  }
  host = host.substr(0, host.find(':'));
  return !host.empty() && std::all_of(host.begin(), host.end(), [](char c) {
    return absl::ascii_isdigit(static_cast<unsigned char>(c)) || c == '.';
  });
}

// The endpoint, transport and credentials that every AWS client needs.
struct AwsClientParts {
  std::string endpoint;
  std::shared_ptr<HttpTransport> transport;
  std::shared_ptr<AwsCredentialsProvider> credentials;
};

// Resolves the endpoint and credentials for one service, the way the AWS
// SDKs do, from a URI's parameters and the environment.
absl::StatusOr<AwsClientParts> NewAwsClientParts(
    std::string_view uri_form, std::string_view service_env,
    std::string_view host_prefix, const std::string& region,
    const std::string& endpoint, const std::string& access_key_id,
    const SecretBytes& access_key, const SecretBytes& session_token) {
  const GetEnvFunction getenv = ProcessEnvironment();
  if (absl::Status valid = ValidateAwsRegion(region); !valid.ok()) {
    return InUri(valid, uri_form);
  }
  AwsClientParts parts;
  DEKMS_ASSIGN_OR_RETURN(
      parts.endpoint,
      ResolveAwsEndpoint(endpoint, service_env, host_prefix, region, getenv));
  parts.transport = NewAwsTransport(getenv);
  DEKMS_ASSIGN_OR_RETURN(
      parts.credentials,
      NewCredentials(access_key_id, access_key, session_token, region,
                     parts.transport, getenv));
  return parts;
}

}  // namespace

absl::StatusOr<std::unique_ptr<KekProvider>> NewAwsKmsKek(
    const AwsKmsConfig& config) {
  DEKMS_ASSIGN_OR_RETURN(
      AwsClientParts parts,
      NewAwsClientParts("kms://aws", "KMS", "kms", config.region,
                        config.endpoint, config.access_key_id,
                        config.access_key, config.session_token));
  AwsKmsKekOptions options;
  options.region = config.region;
  options.key_name = config.key_name;
  options.endpoint = std::move(parts.endpoint);
  options.transport = std::move(parts.transport);
  options.credentials = std::move(parts.credentials);
  spdlog::info("AWS KMS: key {} in {} at {}, credentials from {}",
               config.key_name, config.region, UrlOrigin(options.endpoint),
               options.credentials->Describe());
  DEKMS_ASSIGN_OR_RETURN(std::unique_ptr<AwsKmsKekProvider> kek,
                         AwsKmsKekProvider::Create(std::move(options)));
  spdlog::info("AWS KMS: key {} resolves to {}", config.key_name, kek->KeyId());
  return std::unique_ptr<KekProvider>(std::move(kek));
}

absl::StatusOr<std::unique_ptr<Store>> NewS3Store(
    const AwsS3StoreConfig& config) {
  DEKMS_ASSIGN_OR_RETURN(
      AwsClientParts parts,
      NewAwsClientParts("storage://aws", "S3", "s3", config.region,
                        config.endpoint, config.access_key_id,
                        config.access_key, config.session_token));
  S3StoreOptions options;
  options.bucket = config.bucket;
  options.region = config.region;
  options.endpoint = std::move(parts.endpoint);
  options.transport = std::move(parts.transport);
  options.credentials = std::move(parts.credentials);
  // A custom endpoint (from the URI or the environment) is most likely an
  // S3-compatible server, and those mostly need path-style addresses.
  const bool custom_endpoint = !options.endpoint.ends_with(".amazonaws.com") &&
                               !options.endpoint.ends_with(".amazonaws.com.cn");
  // Bucket names with dots break the TLS wildcard certificate of
  // virtual-hosted addresses.
  const bool dotted_bucket = config.bucket.find('.') != std::string::npos;
  options.path_style =
      config.force_path_style.value_or(custom_endpoint || dotted_bucket);
  if (!options.path_style && HasIpHost(options.endpoint)) {
    return absl::InvalidArgumentError(StrCat(
        "storage://aws: forcePathStyle=false puts the bucket name in the "
        "host, which cannot work with the IP address endpoint ",
        UrlOrigin(options.endpoint),
        "; leave forcePathStyle out or set it to true"));
  }
  spdlog::info(
      "Amazon S3: bucket {} in {} at {} ({} addressing), "
      "credentials from {}",
      config.bucket, config.region, UrlOrigin(options.endpoint),
      options.path_style ? "path-style" : "virtual-hosted",
      options.credentials->Describe());
  DEKMS_ASSIGN_OR_RETURN(std::unique_ptr<S3Store> store,
                         S3Store::Create(std::move(options)));
  return std::unique_ptr<Store>(std::move(store));
}

}  // namespace dekms::internal
