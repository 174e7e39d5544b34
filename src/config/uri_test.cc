#include <string>

#include "dekms/config.h"
#include "gtest/gtest.h"
#include "src/base/str_cat.h"
#include "src/crypto/encoding.h"
#include "tests/testing/status_matchers.h"

namespace dekms {
namespace {

using ::dekms::testing::IsOk;
using ::dekms::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

std::string Text(const SecretBytes& bytes) {
  return std::string(internal::RevealAsText(bytes));
}

// Secret values that survive only if decoding happens exactly once.
constexpr char kTrickySecret[] = "a+b/c=d&e%f %41";

void ExpectRejected(std::string_view uri, std::string_view expected_message) {
  auto kms = ParseKmsUri(uri);
  auto storage = ParseStorageUri(uri);
  const absl::Status& status =
      uri.substr(0, 3) == "kms" ? kms.status() : storage.status();
  EXPECT_THAT(status, StatusIs(absl::StatusCode::kInvalidArgument,
                               HasSubstr(std::string(expected_message))))
      << uri;
}

TEST(ParseUri, RejectsWrongScheme) {
  EXPECT_THAT(ParseKmsUri("storage://no-store"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("does not start with \"kms://\"")));
  EXPECT_THAT(
      ParseStorageUri("kms://cluster-kms?key=a&salt=b"),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("storage://")));
  EXPECT_THAT(ParseKmsUri("KMS://aws"), Not(IsOk()));
  EXPECT_THAT(ParseKmsUri(""), Not(IsOk()));
}

TEST(ParseUri, RejectsUnknownHost) {
  ExpectRejected("kms://vault?x=1", "unknown KMS \"vault\"");
  ExpectRejected("storage://s3?bucket=b", "unknown store \"s3\"");
  ExpectRejected("kms://", "unknown KMS");
}

TEST(ParseUri, RejectsMissingParameter) {
  ExpectRejected("kms://cluster-kms?key=AAAAAAAAAAAAAAAAAAAAAA",
                 "missing parameter \"salt\" in kms://cluster-kms");
  ExpectRejected("kms://aws?region=r", "missing parameter \"keyName\"");
  ExpectRejected("kms://azure?vaultName=v&keyName=k",
                 "missing parameter \"vaultType\"");
  ExpectRejected("kms://gcp?projectID=p&location=l&keyName=k",
                 "missing parameter \"keyRing\"");
  ExpectRejected("storage://aws?bucket=b", "missing parameter \"region\"");
  ExpectRejected("storage://azure?account=a",
                 "missing parameter \"container\"");
  ExpectRejected("storage://gcp?bucket=b", "missing parameter \"projectID\"");
}

TEST(ParseUri, RejectsUnknownParameter) {
  ExpectRejected("kms://aws?region=r&keyName=k&endpont=x",
                 "unknown parameter \"endpont\" in kms://aws URI; the "
                 "accepted parameters are region, accessKeyID, accessKey, "
                 "sessionToken, keyName, endpoint");
  ExpectRejected("storage://no-store?bucket=b", "accepted parameters are none");
  // Parameter names are case-sensitive, as in Constellation.
  ExpectRejected("kms://aws?Region=r&keyName=k",
                 "unknown parameter \"Region\"");
}

TEST(ParseUri, DoesNotEchoOddParameterNames) {
  // A secret pasted where a name belongs must not come back in the error.
  auto parsed = ParseKmsUri("kms://aws?region=r&keyName=k&s3cr3t%2Fvalue=1");
  ASSERT_THAT(parsed, Not(IsOk()));
  EXPECT_THAT(std::string(parsed.status().message()),
              AllOf(HasSubstr("(name not shown)"), Not(HasSubstr("s3cr3t"))));
}

TEST(ParseUri, LocalFormsNeedTheirPath) {
  ExpectRejected("kms://local", "missing parameter \"keyFile\"");
  ExpectRejected("storage://file", "missing parameter \"path\"");
  ExpectRejected("storage://file?path=d&mode=x", "unknown parameter \"mode\"");
  auto kms = ParseKmsUri("kms://local?keyFile=%2Fetc%2Fdekms%2Fkek");
  ASSERT_THAT(kms, IsOk());
  EXPECT_EQ(std::get<LocalKmsConfig>(*kms).key_file, "/etc/dekms/kek");
  auto storage = ParseStorageUri("storage://file?path=/srv/blobs");
  ASSERT_THAT(storage, IsOk());
  EXPECT_EQ(std::get<FileStoreConfig>(*storage).path, "/srv/blobs");
}

TEST(ParseUri, RejectsRepeatedParameter) {
  ExpectRejected("kms://aws?region=r&region=s&keyName=k",
                 "parameter \"region\" appears more than once");
}

TEST(ParseUri, RejectsEmptyValue) {
  ExpectRejected("kms://aws?region=&keyName=k",
                 "\"region\" of kms://aws URI is empty");
  ExpectRejected("kms://aws?region&keyName=k", "is empty; give it a value");
  // A required parameter cannot be left out, so the message does not say so.
  EXPECT_THAT(ParseKmsUri("kms://aws?region=&keyName=k").status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       Not(HasSubstr("leave it out"))));
  ExpectRejected("kms://aws?region=r&keyName=k&endpoint=",
                 "give it a value or leave it out");
}

TEST(ParseUri, RejectsBadPercentEncoding) {
  ExpectRejected("kms://aws?region=r%2&keyName=k",
                 "parameter \"region\" has an invalid percent-encoding");
  ExpectRejected("kms://aws?region=r%zz&keyName=k", "%25");
}

TEST(ParseUri, RejectsFragmentAndPath) {
  ExpectRejected("kms://aws?region=r&keyName=k#x", "fragment");
  ExpectRejected("kms://aws/path?region=r&keyName=k", "has a path");
}

TEST(ParseUri, RejectsHalfAwsCredentials) {
  ExpectRejected("kms://aws?region=r&keyName=k&accessKeyID=AKIA",
                 "sets only one of \"accessKeyID\" and \"accessKey\"");
  ExpectRejected("storage://aws?bucket=b&region=r&accessKey=secret",
                 "sets only one of");
}

TEST(ParseUri, RejectsAzureSecretWithoutClient) {
  ExpectRejected(
      "kms://azure?clientSecret=s&vaultName=v&vaultType=vault.azure.net&"
      "keyName=k",
      "\"clientSecret\" without both");
}

TEST(ParseUri, RejectsBadVaultType) {
  for (const char* type : {"https%3A%2F%2Fx", "vault.azure.com",
                           "VAULT.AZURE.NET", "managedhsm.azure.cn", ""}) {
    ExpectRejected(
        StrCat("kms://azure?vaultName=v&vaultType=", type, "&keyName=k"),
        type[0] == '\0' ? "\"vaultType\""
                        : "is not one of vault.azure.net, vault.azure.cn, "
                          "vault.usgovcloudapi.net, vault.microsoftazure.de, "
                          "managedhsm.azure.net");
  }
}

TEST(ParseAzureUri, TakesEndpointAndSharedKey) {
  auto kms = ParseKmsUri(
      "kms://azure?vaultName=v&vaultType=managedhsm.azure.net&keyName=k&"
      "endpoint=http%3A%2F%2F127.0.0.1%3A8443");
  ASSERT_THAT(kms, IsOk());
  EXPECT_EQ(std::get<AzureKmsConfig>(*kms).endpoint, "http://127.0.0.1:8443");
  auto storage = ParseStorageUri(
      "storage://azure?account=a&container=c&sharedKey=a2V5%2B%2F%3D");
  ASSERT_THAT(storage, IsOk());
  EXPECT_EQ(internal::RevealAsText(
                std::get<AzureBlobStoreConfig>(storage.value()).shared_key),
            "a2V5+/=");
  EXPECT_EQ(RedactedStorageUri(*storage),
            "storage://azure?account=a&container=c&sharedKey=REDACTED");
  EXPECT_THAT(ParseStorageUri("storage://azure?account=a&container=c&"
                              "sharedKey=k&tenantID=t&clientID=c&"
                              "clientSecret=s"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("both \"sharedKey\" and \"clientSecret\"")));
}

TEST(ParseClusterKmsUri, RejectsStandardBase64) {
  ExpectRejected("kms://cluster-kms?key=ab%2Bc&salt=AAAA",
                 "parameter \"key\" of kms://cluster-kms is not valid "
                 "base64url");
  ExpectRejected("kms://cluster-kms?key=AAAA&salt=ab%2Fc",
                 "parameter \"salt\"");
}

TEST(ParseClusterKmsUri, ErrorsNeverEchoSecrets) {
  const std::string uris[] = {
      "kms://cluster-kms?key=SECRETSECRET!!&salt=AAAA",
      "kms://cluster-kms?key=SECRETSECRET&salt=SECRET+SECRET",
      "kms://aws?region=r&keyName=k&accessKey=SECRETSECRET",
      "kms://aws?region=r&keyName=k&accessKey=SECRETSECRET%zz&accessKeyID=a",
  };
  for (const std::string& uri : uris) {
    auto parsed = ParseKmsUri(uri);
    ASSERT_THAT(parsed, Not(IsOk())) << uri;
    EXPECT_THAT(std::string(parsed.status().message()),
                Not(HasSubstr("SECRET")))
        << uri;
  }
}

TEST(ParseClusterKmsUri, AcceptsConstellationUri) {
  // Constellation's encoder writes padded base64url and leaves '=' raw.
  auto parsed = ParseKmsUri(
      "kms://cluster-kms?key=AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=&"
      "salt=ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=");
  ASSERT_THAT(parsed, IsOk());
  const auto& config = std::get<ClusterKmsConfig>(*parsed);
  ASSERT_EQ(config.master_secret.size(), 32u);
  ASSERT_EQ(config.salt.size(), 32u);
  for (size_t i = 0; i < 32; ++i) {
    EXPECT_EQ(config.master_secret.Reveal()[i], i);
    EXPECT_EQ(config.salt.Reveal()[i], i + 32);
  }
}

TEST(ParseClusterKmsUri, AcceptsUnpaddedAndPercentEncodedPadding) {
  auto unpadded = ParseKmsUri("kms://cluster-kms?key=_-8&salt=AA");
  auto encoded = ParseKmsUri("kms://cluster-kms?salt=AA%3D%3D&key=_-8%3D");
  ASSERT_THAT(unpadded, IsOk());
  ASSERT_THAT(encoded, IsOk());
  EXPECT_TRUE(std::get<ClusterKmsConfig>(*unpadded).master_secret.Equals(
      std::get<ClusterKmsConfig>(*encoded).master_secret));
  EXPECT_EQ(Text(std::get<ClusterKmsConfig>(*unpadded).master_secret),
            "\xff\xef");
}

TEST(ParseUri, AcceptsTrailingSlashAndEmptyPairs) {
  EXPECT_THAT(ParseStorageUri("storage://no-store/"), IsOk());
  EXPECT_THAT(ParseKmsUri("kms://aws/?region=r&&keyName=k&"), IsOk());
}

TEST(ParseAwsUri, ReadsConstellationForm) {
  auto parsed = ParseKmsUri(
      "kms://aws?region=eu-central-1&accessKeyID=AKIAEXAMPLE&accessKey="
      "wJalr%2BXUtnFEMI%2FK7MDENG&keyName=alias%2Fdekms");
  ASSERT_THAT(parsed, IsOk());
  const auto& config = std::get<AwsKmsConfig>(*parsed);
  EXPECT_EQ(config.region, "eu-central-1");
  EXPECT_EQ(config.access_key_id, "AKIAEXAMPLE");
  EXPECT_EQ(Text(config.access_key), "wJalr+XUtnFEMI/K7MDENG");
  EXPECT_EQ(config.key_name, "alias/dekms");
}

TEST(ParseAwsUri, CredentialsAreOptional) {
  auto parsed = ParseKmsUri("kms://aws?region=r&keyName=k");
  ASSERT_THAT(parsed, IsOk());
  EXPECT_TRUE(std::get<AwsKmsConfig>(*parsed).access_key.empty());
}

TEST(ParseAwsUri, ReadsDekmsExtensions) {
  auto kms = ParseKmsUri(
      "kms://aws?region=r&keyName=k&accessKeyID=A&accessKey=S&sessionToken="
      "T%2B1&endpoint=http%3A%2F%2F127.0.0.1%3A4566");
  ASSERT_THAT(kms, IsOk());
  const auto& kms_config = std::get<AwsKmsConfig>(*kms);
  EXPECT_EQ(Text(kms_config.session_token), "T+1");
  EXPECT_EQ(kms_config.endpoint, "http://127.0.0.1:4566");

  auto s3 = ParseStorageUri(
      "storage://aws?bucket=b&region=r&endpoint=https%3A%2F%2Fs3.example.com"
      "&forcePathStyle=false");
  ASSERT_THAT(s3, IsOk());
  const auto& s3_config = std::get<AwsS3StoreConfig>(*s3);
  EXPECT_EQ(s3_config.endpoint, "https://s3.example.com");
  EXPECT_EQ(s3_config.force_path_style, false);
  auto plain = ParseStorageUri("storage://aws?bucket=b&region=r");
  ASSERT_THAT(plain, IsOk());
  EXPECT_FALSE(std::get<AwsS3StoreConfig>(*plain).force_path_style.has_value());
}

TEST(ParseAwsUri, RejectsBadExtensions) {
  EXPECT_THAT(ParseKmsUri("kms://aws?region=r&keyName=k&sessionToken=T"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("\"sessionToken\" without")));
  EXPECT_THAT(
      ParseKmsUri("kms://aws?region=r&keyName=k&endpoint=ftp%3A%2F%2Fx"),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("must start with https:// or http://")));
  for (const char* endpoint : {"http%3A%2F%2F", "http%3A%2F%2Fu%3Ap%40host",
                               "http%3A%2F%2Fh%2F%3Fq"}) {
    EXPECT_THAT(ParseStorageUri(StrCat("storage://aws?bucket=b&region=r&",
                                       "endpoint=", endpoint)),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         HasSubstr("must be a base URL")))
        << endpoint;
  }
  EXPECT_THAT(
      ParseStorageUri("storage://aws?bucket=b&region=r&forcePathStyle=yes"),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("must be true or false")));
}

TEST(ParseGcpUri, TakesEndpoint) {
  auto kms = ParseKmsUri(
      "kms://gcp?projectID=p&location=global&keyRing=r&keyName=k&"
      "endpoint=http%3A%2F%2F127.0.0.1%3A8080");
  ASSERT_THAT(kms, IsOk());
  EXPECT_EQ(std::get<GcpKmsConfig>(*kms).endpoint, "http://127.0.0.1:8080");
  auto storage = ParseStorageUri(
      "storage://gcp?projectID=p&bucket=b&endpoint=https%3A%2F%2Fgcs.example");
  ASSERT_THAT(storage, IsOk());
  EXPECT_EQ(std::get<GcsStoreConfig>(storage.value()).endpoint,
            "https://gcs.example");
  EXPECT_THAT(
      ParseStorageUri("storage://gcp?projectID=p&bucket=b&endpoint=gcs"),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("must start with https:// or http://")));
}

TEST(ParseUri, PlusDecodesToSpace) {
  auto parsed = ParseKmsUri("kms://aws?region=r&keyName=my+key");
  ASSERT_THAT(parsed, IsOk());
  EXPECT_EQ(std::get<AwsKmsConfig>(*parsed).key_name, "my key");
}

TEST(EncodeUri, TrickySecretsRoundTrip) {
  AwsKmsConfig aws;
  aws.region = "us-east-1";
  aws.access_key_id = "id with space";
  aws.access_key = SecretBytes::CopyFrom(kTrickySecret);
  aws.key_name = "arn:aws:kms:us-east-1:1:key/abc";
  const KmsConfig config(std::move(aws));
  const SecretBytes uri = EncodeKmsUri(config);
  auto parsed = ParseKmsUri(internal::RevealAsText(uri));
  ASSERT_THAT(parsed, IsOk()) << parsed.status();
  const auto& back = std::get<AwsKmsConfig>(*parsed);
  EXPECT_EQ(back.region, "us-east-1");
  EXPECT_EQ(back.access_key_id, "id with space");
  EXPECT_EQ(Text(back.access_key), kTrickySecret);
  EXPECT_EQ(back.key_name, "arn:aws:kms:us-east-1:1:key/abc");
  // Parse -> encode -> parse is stable.
  EXPECT_EQ(Text(EncodeKmsUri(*parsed)), Text(uri));
}

TEST(EncodeUri, EveryFormRoundTrips) {
  // Long URIs are split across adjacent literals on purpose.
  // NOLINTBEGIN(bugprone-suspicious-missing-comma)
  const std::string kms_uris[] = {
      "kms://cluster-kms?key=AAECAwQFBgcICQoLDA0ODw%3D%3D&salt=ICEi",
      "kms://aws?region=r&keyName=k",
      "kms://aws?region=r&accessKeyID=i&accessKey=s%2B%2F%3D%26%25&keyName=k",
      "kms://aws?region=r&accessKeyID=i&accessKey=s&sessionToken=t%2B&"
      "keyName=k&endpoint=http%3A%2F%2F127.0.0.1%3A1",
      "kms://azure?tenantID=t&clientID=c&clientSecret=s%26x&vaultName=v&"
      "vaultType=vault.azure.net&keyName=k",
      "kms://azure?vaultName=v&vaultType=managedhsm.azure.net&keyName=k",
      "kms://gcp?projectID=p&location=global&keyRing=r&credentialsPath=%2Fetc"
      "%2Fsa.json&keyName=k",
      "kms://gcp?projectID=p&location=global&keyRing=r&keyName=k",
      "kms://gcp?projectID=p&location=global&keyRing=r&keyName=k&"
      "endpoint=http%3A%2F%2F127.0.0.1%3A9",
      "kms://local?keyFile=%2Fvar%2Flib%2Fdekms%2Fkek",
  };
  for (const std::string& uri : kms_uris) {
    auto parsed = ParseKmsUri(uri);
    ASSERT_THAT(parsed, IsOk()) << uri;
    const std::string encoded = Text(EncodeKmsUri(*parsed));
    auto again = ParseKmsUri(encoded);
    ASSERT_THAT(again, IsOk()) << encoded;
    EXPECT_EQ(Text(EncodeKmsUri(*again)), encoded);
    EXPECT_EQ(parsed->index(), again->index());
  }
  const std::string storage_uris[] = {
      "storage://no-store",
      "storage://memory",
      "storage://aws?bucket=b&region=r",
      "storage://aws?bucket=b&region=r&accessKeyID=i&accessKey=s%2B",
      "storage://aws?bucket=b&region=r&endpoint=http%3A%2F%2Fh&"
      "forcePathStyle=true",
      "storage://azure?account=a&container=c",
      "storage://azure?account=a&container=c&tenantID=t&clientID=c&"
      "clientSecret=s",
      "storage://gcp?projectID=p&bucket=b",
      "storage://gcp?projectID=p&bucket=b&credentialsPath=f",
      "storage://gcp?projectID=p&bucket=b&endpoint=http%3A%2F%2F127.0.0.1%3A9",
      "storage://file?path=%2Fvar%2Flib%2Fdekms%2Fblobs",
  };
  // NOLINTEND(bugprone-suspicious-missing-comma)
  for (const std::string& uri : storage_uris) {
    auto parsed = ParseStorageUri(uri);
    ASSERT_THAT(parsed, IsOk()) << uri;
    EXPECT_EQ(Text(EncodeStorageUri(*parsed)), uri);
  }
}

TEST(RedactedUri, HidesEverySecret) {
  auto cluster = ParseKmsUri("kms://cluster-kms?key=c2VjcmV0a2V5&salt=c2FsdA");
  ASSERT_THAT(cluster, IsOk());
  EXPECT_EQ(RedactedKmsUri(*cluster),
            "kms://cluster-kms?key=REDACTED&salt=REDACTED");

  auto aws = ParseKmsUri(
      "kms://aws?region=r&accessKeyID=AKIA&accessKey=topsecret&keyName=k");
  ASSERT_THAT(aws, IsOk());
  EXPECT_EQ(RedactedKmsUri(*aws),
            "kms://aws?region=r&accessKeyID=AKIA&accessKey=REDACTED&keyName=k");
  auto session = ParseKmsUri(
      "kms://aws?region=r&accessKeyID=AKIA&accessKey=topsecret&sessionToken="
      "tokensecret&keyName=k");
  ASSERT_THAT(session, IsOk());
  EXPECT_THAT(
      RedactedKmsUri(*session),
      AllOf(HasSubstr("sessionToken=REDACTED"), Not(HasSubstr("tokensecret"))));

  auto azure = ParseStorageUri(
      "storage://azure?account=a&container=c&tenantID=t&clientID=c&"
      "clientSecret=topsecret");
  ASSERT_THAT(azure, IsOk());
  EXPECT_THAT(
      RedactedStorageUri(*azure),
      AllOf(HasSubstr("clientSecret=REDACTED"), Not(HasSubstr("topsecret"))));
  auto s3 = ParseStorageUri(
      "storage://aws?bucket=b&region=r&accessKeyID=i&accessKey=topsecret");
  ASSERT_THAT(s3, IsOk());
  EXPECT_THAT(RedactedStorageUri(*s3), Not(HasSubstr("topsecret")));
}

}  // namespace
}  // namespace dekms
