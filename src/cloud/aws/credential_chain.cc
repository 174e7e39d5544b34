#include "src/cloud/aws/credential_chain.h"

#include <cstdlib>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "spdlog/spdlog.h"
#include "src/base/quote.h"
#include "src/base/status_macros.h"
#include "src/base/str_cat.h"
#include "src/cloud/aws/credential_util.h"
#include "src/cloud/aws/endpoint.h"
#include "src/cloud/aws/instance_metadata.h"
#include "src/cloud/aws/shared_config.h"
#include "src/cloud/aws/web_identity.h"
#include "src/crypto/encoding.h"

namespace dekms::internal {

namespace {

// Like GetSetting, for a variable that contains a secret. The value moves
// into a SecretBytes and the string copy is wiped.
std::optional<SecretBytes> GetSecretSetting(const GetEnvFunction& getenv,
                                            std::string_view name) {
  std::optional<std::string> value = getenv(name);
  if (!value.has_value()) {
    return std::nullopt;
  }
  SecretBytes secret = SecretBytes::CopyFrom(std::string_view(*value));
  WipeString(*value);
  if (secret.empty()) {
    return std::nullopt;
  }
  return secret;
}

std::string WithoutTrailingSlashes(std::string_view url) {
  while (!url.empty() && url.back() == '/') {
    url.remove_suffix(1);
  }
  return std::string(url);
}

// ---------------------------------------------------------------------------
// Static credentials

class StaticProvider final : public AwsCredentialsProvider {
 public:
  StaticProvider(AwsCredentials credentials, std::string description)
      : credentials_(std::move(credentials)),
        description_(std::move(description)) {}

  absl::StatusOr<AwsCredentials> Get() override { return credentials_.Clone(); }

  std::string Describe() const override { return description_; }

 private:
  const AwsCredentials credentials_;
  const std::string description_;
};

// ---------------------------------------------------------------------------
// The chain

// The sources that were tried and are not configured, for errors.
using NotConfiguredNotes = std::vector<std::string>;

std::string JoinNotes(const NotConfiguredNotes& notes) {
  return absl::StrJoin(notes, "; ");
}

absl::StatusOr<std::unique_ptr<AwsCredentialsProvider>> FromEnvironmentKeys(
    const AwsCredentialChainOptions& options, NotConfiguredNotes& notes) {
  const std::optional<std::string> access_key_id =
      GetSetting(options.getenv, "AWS_ACCESS_KEY_ID");
  std::optional<SecretBytes> secret_access_key =
      GetSecretSetting(options.getenv, "AWS_SECRET_ACCESS_KEY");
  std::optional<SecretBytes> session_token =
      GetSecretSetting(options.getenv, "AWS_SESSION_TOKEN");
  if (!access_key_id.has_value() && !secret_access_key.has_value()) {
    if (session_token.has_value()) {
      return absl::InvalidArgumentError(
          "AWS_SESSION_TOKEN is set, but AWS_ACCESS_KEY_ID and "
          "AWS_SECRET_ACCESS_KEY are not; set all three or unset it");
    }
    notes.push_back("AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set");
    return nullptr;
  }
  if (!access_key_id.has_value() || !secret_access_key.has_value()) {
    const std::string_view set_name = access_key_id.has_value()
                                          ? "AWS_ACCESS_KEY_ID"
                                          : "AWS_SECRET_ACCESS_KEY";
    const std::string_view unset_name = access_key_id.has_value()
                                            ? "AWS_SECRET_ACCESS_KEY"
                                            : "AWS_ACCESS_KEY_ID";
    return absl::InvalidArgumentError(
        StrCat(set_name, " is set, but ", unset_name,
               " is not; set both, or neither to use another credential "
               "source"));
  }
  AwsCredentials credentials;
  credentials.access_key_id = *access_key_id;
  credentials.secret_access_key = std::move(*secret_access_key);
  std::string description =
      "environment variables AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY";
  if (session_token.has_value()) {
    credentials.session_token = std::move(*session_token);
    description =
        "environment variables AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and "
        "AWS_SESSION_TOKEN";
  }
  return NewStaticAwsCredentials(std::move(credentials),
                                 std::move(description));
}

// Returns the STS endpoint: AWS_ENDPOINT_URL_STS, AWS_ENDPOINT_URL, or the
// regional endpoint of AWS_REGION, AWS_DEFAULT_REGION, options.region or
// `profile_region`, the first that is set.
absl::StatusOr<std::string> StsEndpoint(
    const AwsCredentialChainOptions& options,
    const std::string& profile_region) {
  std::string region = profile_region;
  if (std::optional<std::string> value =
          GetSetting(options.getenv, "AWS_REGION")) {
    region = *value;
  } else if (std::optional<std::string> fallback =
                 GetSetting(options.getenv, "AWS_DEFAULT_REGION")) {
    region = *fallback;
  } else if (!options.region.empty()) {
    region = options.region;
  }
  absl::StatusOr<std::string> endpoint =
      ResolveAwsEndpoint("", "STS", "sts", region, options.getenv);
  if (endpoint.ok()) {
    return endpoint;
  }
  if (region.empty()) {
    return absl::FailedPreconditionError(
        "web identity credentials need an STS endpoint, but no AWS region is "
        "set; set AWS_REGION or AWS_ENDPOINT_URL_STS");
  }
  return WithContext(endpoint.status(),
                     StrCat("STS endpoint for region ", Quote(region)));
}

absl::Status CheckTransport(const AwsCredentialChainOptions& options,
                            std::string_view source) {
  if (options.transport == nullptr) {
    return absl::InvalidArgumentError(
        StrCat("AWS credentials from ", source,
               " need an HTTP transport, but options.transport is null"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<AwsCredentialsProvider>> FromWebIdentityEnv(
    const AwsCredentialChainOptions& options, NotConfiguredNotes& notes) {
  const std::optional<std::string> token_file =
      GetSetting(options.getenv, "AWS_WEB_IDENTITY_TOKEN_FILE");
  const std::optional<std::string> role_arn =
      GetSetting(options.getenv, "AWS_ROLE_ARN");
  if (!token_file.has_value() && !role_arn.has_value()) {
    notes.push_back("AWS_WEB_IDENTITY_TOKEN_FILE and AWS_ROLE_ARN are not set");
    return nullptr;
  }
  if (!token_file.has_value() || !role_arn.has_value()) {
    return absl::InvalidArgumentError(StrCat(
        token_file.has_value() ? "AWS_WEB_IDENTITY_TOKEN_FILE" : "AWS_ROLE_ARN",
        " is set, but ",
        token_file.has_value() ? "AWS_ROLE_ARN" : "AWS_WEB_IDENTITY_TOKEN_FILE",
        " is not; web identity credentials need both"));
  }
  DEKMS_RETURN_IF_ERROR(CheckTransport(options, "a web identity token"));
  WebIdentitySettings settings;
  settings.token_file = *token_file;
  settings.role_arn = *role_arn;
  settings.session_name =
      GetSetting(options.getenv, "AWS_ROLE_SESSION_NAME").value_or("");
  settings.origin = "AWS_WEB_IDENTITY_TOKEN_FILE and AWS_ROLE_ARN";
  DEKMS_ASSIGN_OR_RETURN(settings.sts_endpoint, StsEndpoint(options, ""));
  return NewWebIdentityProvider(std::move(settings), options);
}

// Turns the merged settings of a profile into a provider, or returns
// nullptr when the profile contains no credential settings.
absl::StatusOr<std::unique_ptr<AwsCredentialsProvider>> FromProfileSettings(
    const AwsCredentialChainOptions& options,
    const std::map<std::string, SecretBytes>& values, const std::string& origin,
    const std::optional<std::string>& home) {
  auto text = [&](const std::string& key) -> std::optional<std::string> {
    const auto it = values.find(key);
    if (it == values.end() || it->second.empty()) {
      return std::nullopt;
    }
    return std::string(RevealAsText(it->second));
  };

  const std::optional<std::string> role_arn = text("role_arn");
  const std::optional<std::string> token_file = text("web_identity_token_file");
  if (token_file.has_value() && !role_arn.has_value()) {
    return absl::InvalidArgumentError(
        StrCat(origin, " sets web_identity_token_file but not role_arn"));
  }
  if (role_arn.has_value()) {
    if (!token_file.has_value()) {
      // TODO: assume roles with source_profile and credential_source.
      return absl::UnimplementedError(
          StrCat(origin,
                 " sets role_arn without web_identity_token_file; dekms does "
                 "not support assuming a role from source_profile or "
                 "credential_source yet"));
    }
    DEKMS_RETURN_IF_ERROR(CheckTransport(options, origin));
    WebIdentitySettings settings;
    settings.token_file = ExpandHome(*token_file, home);
    settings.role_arn = *role_arn;
    settings.session_name = text("role_session_name").value_or("");
    settings.origin = origin;
    DEKMS_ASSIGN_OR_RETURN(settings.sts_endpoint,
                           StsEndpoint(options, text("region").value_or("")));
    return NewWebIdentityProvider(std::move(settings), options);
  }
  // TODO: support IAM Identity Center (SSO) profiles.
  for (const std::string_view key : {"sso_session", "sso_start_url"}) {
    if (text(std::string(key)).has_value()) {
      return absl::UnimplementedError(
          StrCat(origin, " sets ", key,
                 "; dekms does not support IAM Identity Center (SSO) "
                 "credentials yet"));
    }
  }

  std::optional<std::string> access_key_id = text("aws_access_key_id");
  const auto secret = values.find("aws_secret_access_key");
  const bool has_secret = secret != values.end() && !secret->second.empty();
  if (access_key_id.has_value() || has_secret) {
    if (!access_key_id.has_value() || !has_secret) {
      return absl::InvalidArgumentError(
          StrCat(origin, " sets ",
                 has_secret ? "aws_secret_access_key" : "aws_access_key_id",
                 " but not ",
                 has_secret ? "aws_access_key_id" : "aws_secret_access_key"));
    }
    AwsCredentials credentials;
    credentials.access_key_id = std::move(*access_key_id);
    credentials.secret_access_key = secret->second.Clone();
    if (const auto token = values.find("aws_session_token");
        token != values.end()) {
      credentials.session_token = token->second.Clone();
    }
    return NewStaticAwsCredentials(std::move(credentials), origin);
  }
  if (text("credential_process").has_value()) {
    // TODO: run credential_process programs.
    return absl::UnimplementedError(
        StrCat(origin,
               " sets credential_process; dekms does not run credential "
               "programs yet"));
  }
  return nullptr;
}

absl::StatusOr<std::unique_ptr<AwsCredentialsProvider>> FromSharedFiles(
    const AwsCredentialChainOptions& options, NotConfiguredNotes& notes) {
  DEKMS_ASSIGN_OR_RETURN(const SharedConfigProfile profile,
                         ReadSharedConfigProfile(options.getenv));
  if (profile.sources.empty()) {
    if (profile.set_by_aws_profile) {
      return absl::NotFoundError(StrCat(
          "AWS profile ", Quote(profile.name), " (from AWS_PROFILE) is not in ",
          profile.looked_in, "; add it or correct AWS_PROFILE"));
    }
    notes.push_back(StrCat("profile ", Quote(profile.name), " is not in ",
                           profile.looked_in));
    return nullptr;
  }

  const std::string origin = StrCat("profile ", Quote(profile.name), " in ",
                                    absl::StrJoin(profile.sources, " and "));
  DEKMS_ASSIGN_OR_RETURN(
      std::unique_ptr<AwsCredentialsProvider> provider,
      FromProfileSettings(options, profile.values, origin, profile.home));
  if (provider != nullptr) {
    return provider;
  }
  if (profile.set_by_aws_profile) {
    return absl::FailedPreconditionError(
        StrCat(origin,
               " (from AWS_PROFILE) has no credentials; set "
               "aws_access_key_id and aws_secret_access_key, or role_arn and "
               "web_identity_token_file"));
  }
  notes.push_back(StrCat(origin, " has no credential settings"));
  return nullptr;
}

absl::StatusOr<std::unique_ptr<AwsCredentialsProvider>> FromInstanceMetadata(
    const AwsCredentialChainOptions& options, NotConfiguredNotes& notes) {
  const std::optional<std::string> disabled =
      GetSetting(options.getenv, "AWS_EC2_METADATA_DISABLED");
  if (disabled.has_value() && ToLower(*disabled) == "true") {
    notes.push_back(
        "EC2 instance metadata is turned off by "
        "AWS_EC2_METADATA_DISABLED=true");
    return nullptr;
  }

  ImdsSettings settings;
  if (std::optional<std::string> endpoint =
          GetSetting(options.getenv, "AWS_EC2_METADATA_SERVICE_ENDPOINT")) {
    settings.endpoint = WithoutTrailingSlashes(*endpoint);
  } else {
    const std::string mode = ToLower(
        GetSetting(options.getenv, "AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE")
            .value_or("ipv4"));
    if (mode == "ipv4") {
      settings.endpoint = "http://169.254.169.254";
    } else if (mode == "ipv6") {
      settings.endpoint = "http://[fd00:ec2::254]";
    } else {
      return absl::InvalidArgumentError(
          StrCat("AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE is ", Quote(mode),
                 "; use IPv4 or IPv6"));
    }
  }
  if (options.transport == nullptr) {
    return absl::FailedPreconditionError(
        StrCat("no AWS credentials found: EC2 instance metadata is the only "
               "source left, but options.transport is null. No other source "
               "is configured: ",
               JoinNotes(notes)));
  }
  settings.error_hint =
      StrCat("No other source is configured: ", JoinNotes(notes));
  return NewImdsProvider(std::move(settings), options);
}

absl::StatusOr<std::unique_ptr<AwsCredentialsProvider>> ResolveChain(
    const AwsCredentialChainOptions& options) {
  using Source = absl::StatusOr<std::unique_ptr<AwsCredentialsProvider>> (*)(
      const AwsCredentialChainOptions&, NotConfiguredNotes&);
  NotConfiguredNotes notes;
  for (const Source source : {FromEnvironmentKeys, FromWebIdentityEnv,
                              FromSharedFiles, FromInstanceMetadata}) {
    DEKMS_ASSIGN_OR_RETURN(std::unique_ptr<AwsCredentialsProvider> provider,
                           source(options, notes));
    if (provider != nullptr) {
      return provider;
    }
  }
  return absl::FailedPreconditionError(StrCat(
      "no AWS credentials found: ", JoinNotes(notes),
      ". Set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, set "
      "AWS_WEB_IDENTITY_TOKEN_FILE and AWS_ROLE_ARN, add a profile with "
      "credentials to ~/.aws/credentials (choose it with AWS_PROFILE), or run "
      "on EC2 with an instance role and instance metadata turned on"));
}

}  // namespace

std::unique_ptr<AwsCredentialsProvider> NewStaticAwsCredentials(
    AwsCredentials credentials, std::string description) {
  return std::make_unique<StaticProvider>(std::move(credentials),
                                          std::move(description));
}

absl::StatusOr<std::unique_ptr<AwsCredentialsProvider>> NewAwsCredentialChain(
    AwsCredentialChainOptions options) {
  if (!options.getenv) {
    options.getenv = ProcessEnvironment();
  }
  if (!options.now) {
    options.now = [] { return absl::Now(); };
  }
  if (options.refresh_margin < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        "options.refresh_margin must not be negative");
  }
  DEKMS_ASSIGN_OR_RETURN(std::unique_ptr<AwsCredentialsProvider> provider,
                         ResolveChain(options));
  spdlog::info("AWS credentials: using {}", provider->Describe());
  return provider;
}

}  // namespace dekms::internal
