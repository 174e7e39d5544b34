#include <sys/stat.h>

#include <filesystem>

#include "dekms/config.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace dekms {
namespace {

using ::dekms::testing::IsOk;
using ::dekms::testing::StatusIs;
using ::testing::HasSubstr;

constexpr char kClusterUri[] =
    "kms://cluster-kms?key=AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=&"
    "salt=ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=";

TEST(NewKeyManager, ClusterKmsRejectsStore) {
  auto kms = ParseKmsUri(kClusterUri);
  ASSERT_THAT(kms, IsOk());
  EXPECT_THAT(NewKeyManager(*kms, MemoryStoreConfig{}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("takes storage://no-store, not "
                                 "storage://memory")));
}

TEST(NewKeyManager, ClusterKmsRejectsShortSecret) {
  auto kms = ParseKmsUri("kms://cluster-kms?key=AAAA&salt=AAAA");
  ASSERT_THAT(kms, IsOk());
  EXPECT_THAT(
      NewKeyManager(*kms, NoStoreConfig{}),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("3 bytes long")));
}

// Credentials must not travel in clear text, so an endpoint that gets them
// is https or loopback http.
TEST(NewKeyManager, CredentialEndpointsAreHttpsOrLoopback) {
  for (const char* uri :
       {"kms://azure?vaultName=dekms&vaultType=vault.azure.net&keyName=k&"
        "endpoint=http%3A%2F%2F10.0.0.1",
        "kms://gcp?projectID=p-1&location=global&keyRing=r&keyName=k&"
        "endpoint=http%3A%2F%2Fkms.example.com"}) {
    auto kms = ParseKmsUri(uri);
    ASSERT_THAT(kms, IsOk());
    EXPECT_THAT(NewKeyManager(*kms, MemoryStoreConfig{}),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         HasSubstr("uses plain http to a host that is not "
                                   "loopback")))
        << uri;
  }
}

// These Azure cases fail before any request is sent.
TEST(NewKeyManager, AzureKmsChecksStoreAndNames) {
  auto kms = ParseKmsUri(
      "kms://azure?vaultName=v&vaultType=vault.azure.net&keyName=k");
  ASSERT_THAT(kms, IsOk());
  EXPECT_THAT(NewKeyManager(*kms, NoStoreConfig{}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("kms://azure wraps random DEKs")));
  EXPECT_THAT(NewKeyManager(*kms, MemoryStoreConfig{}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("vaultName \"v\" is not valid")));
}

// These Google cases fail before any request: on the store, on a name that
// Cloud KMS would reject, or on a credentials file that does not exist.
TEST(NewKeyManager, GcpKmsChecksStoreNamesAndCredentialsFile) {
  auto no_store = ParseKmsUri(
      "kms://gcp?projectID=my-project&location=global&keyRing=r"
      "&keyName=k&credentialsPath=%2Fnonexistent%2Fsa.json");
  ASSERT_THAT(no_store, IsOk());
  EXPECT_THAT(NewKeyManager(*no_store, NoStoreConfig{}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("kms://gcp wraps random DEKs")));

  auto bad_ring = ParseKmsUri(
      "kms://gcp?projectID=my-project&location=global&keyRing=a%2Fb"
      "&keyName=k&credentialsPath=%2Fnonexistent%2Fsa.json");
  ASSERT_THAT(bad_ring, IsOk());
  EXPECT_THAT(
      NewKeyManager(*bad_ring, MemoryStoreConfig{}),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("\"keyRing\"")));

  EXPECT_THAT(NewKeyManager(*no_store, MemoryStoreConfig{}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("credentialsPath /nonexistent/sa.json")));
}

// These AWS cases fail before any request, or send one to a closed
// loopback port; credentials come from the URI, so no discovery runs.
TEST(NewKeyManager, AwsKmsChecksRegionEndpointAndStore) {
  const std::string credentials = "&accessKeyID=AKIDTEST&accessKey=secret";
  auto bad_region =
      ParseKmsUri("kms://aws?region=EU_1&keyName=k" + credentials);
  ASSERT_THAT(bad_region, IsOk());
  EXPECT_THAT(
      NewKeyManager(*bad_region, MemoryStoreConfig{}),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("region name")));

  auto good = ParseKmsUri("kms://aws?region=us-east-1&keyName=k" + credentials +
                          "&endpoint=http%3A%2F%2F127.0.0.1%3A1");
  ASSERT_THAT(good, IsOk());
  EXPECT_THAT(NewKeyManager(*good, NoStoreConfig{}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("kms://aws wraps random DEKs")));
  EXPECT_THAT(NewKeyManager(*good, MemoryStoreConfig{}),
              StatusIs(absl::StatusCode::kUnavailable,
                       HasSubstr("http://127.0.0.1:1")));
}

TEST(NewStore, S3ChecksBucketAndEndpoint) {
  auto bad_bucket = ParseStorageUri(
      "storage://aws?bucket=Bad_Bucket&region=us-east-1&accessKeyID=A&"
      "accessKey=S&endpoint=http%3A%2F%2F127.0.0.1%3A1");
  ASSERT_THAT(bad_bucket, IsOk());
  EXPECT_THAT(NewStore(*bad_bucket),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("bucket name \"Bad_Bucket\" is invalid")));
  auto unreachable = ParseStorageUri(
      "storage://aws?bucket=dekms&region=us-east-1&accessKeyID=A&"
      "accessKey=S&endpoint=http%3A%2F%2F127.0.0.1%3A1");
  ASSERT_THAT(unreachable, IsOk());
  EXPECT_THAT(NewStore(*unreachable), StatusIs(absl::StatusCode::kUnavailable));
}

TEST(NewStore, S3VirtualHostsNeedAHostName) {
  auto storage = ParseStorageUri(
      "storage://aws?bucket=dekms&region=us-east-1&accessKeyID=A&"
      "accessKey=S&endpoint=http%3A%2F%2F127.0.0.1%3A1&forcePathStyle=false");
  ASSERT_THAT(storage, IsOk());
  EXPECT_THAT(NewStore(*storage),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("cannot work with the IP address endpoint")));
}

TEST(NewKeyManager, BuildsClusterKms) {
  auto kms = ParseKmsUri(kClusterUri);
  ASSERT_THAT(kms, IsOk());
  auto key_manager = NewKeyManager(*kms, NoStoreConfig{});
  ASSERT_THAT(key_manager, IsOk());
  EXPECT_EQ((*key_manager)->Kind(), "cluster-kms");
  EXPECT_THAT((*key_manager)->GetDek("key-disk-1", 32), IsOk());
}

class LocalBackendTest : public ::dekms::testing::TempDirTest {
 protected:
  std::string WriteKek(mode_t mode = 0600) {
    std::string path = WriteFile("kek", std::string(32, 'k'));
    EXPECT_EQ(chmod(path.c_str(), mode), 0);
    return path;
  }
};

TEST_F(LocalBackendTest, LocalKmsNeedsStore) {
  EXPECT_THAT(
      NewKeyManager(LocalKmsConfig{WriteKek()}, NoStoreConfig{}),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("needs a store")));
}

TEST_F(LocalBackendTest, LocalKmsRejectsBadKeyFile) {
  EXPECT_THAT(
      NewKeyManager(LocalKmsConfig{WriteKek(0644)},
                    FileStoreConfig{dir_ + "/blobs"}),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("chmod 600")));
  EXPECT_THAT(
      NewKeyManager(LocalKmsConfig{dir_ + "/missing"}, MemoryStoreConfig{}),
      StatusIs(absl::StatusCode::kNotFound));
}

TEST_F(LocalBackendTest, LocalKmsChecksTheCloudStore) {
  auto storage = ParseStorageUri("storage://azure?account=a&container=c");
  ASSERT_THAT(storage, IsOk());
  EXPECT_THAT(
      NewKeyManager(LocalKmsConfig{WriteKek()}, *storage),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("account name")));
}

TEST_F(LocalBackendTest, BuildsEnvelopeWithFileStore) {
  KeyManagerOptions options;
  options.cache_ttl = absl::Seconds(30);
  auto key_manager = NewKeyManager(LocalKmsConfig{WriteKek()},
                                   FileStoreConfig{dir_ + "/blobs"}, options);
  ASSERT_THAT(key_manager, IsOk());
  EXPECT_EQ((*key_manager)->Kind(), "envelope");
  auto dek = (*key_manager)->GetDek("disk", 32);
  ASSERT_THAT(dek, IsOk());

  // A second key manager over the same directory returns the same DEK.
  auto again = NewKeyManager(LocalKmsConfig{dir_ + "/kek"},
                             FileStoreConfig{dir_ + "/blobs"});
  ASSERT_THAT(again, IsOk());
  auto same = (*again)->GetDek("disk", 32);
  ASSERT_THAT(same, IsOk());
  EXPECT_TRUE(same->Equals(*dek));
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir_ + "/blobs"),
                          std::filesystem::directory_iterator()),
            1);
}

TEST(NewStore, NoStoreHasNoStore) {
  EXPECT_THAT(NewStore(NoStoreConfig{}),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(NewStore, AzureBlobChecksNamesAndKey) {
  auto bad_account = ParseStorageUri("storage://azure?account=a&container=c");
  ASSERT_THAT(bad_account, IsOk());
  EXPECT_THAT(NewStore(*bad_account),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("account name \"a\" is invalid")));
  auto bad_container =
      ParseStorageUri("storage://azure?account=abc&container=C--d");
  ASSERT_THAT(bad_container, IsOk());
  EXPECT_THAT(NewStore(*bad_container),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("container name \"C--d\" is invalid")));
  auto bad_key = ParseStorageUri(
      "storage://azure?account=abc&container=dekms&sharedKey=not*base64");
  ASSERT_THAT(bad_key, IsOk());
  EXPECT_THAT(
      NewStore(*bad_key),
      StatusIs(absl::StatusCode::kInvalidArgument,
               ::testing::AllOf(HasSubstr("\"sharedKey\""),
                                ::testing::Not(HasSubstr("not*base64")))));
}

TEST(NewStore, GcsChecksBucketNameAndCredentialsFile) {
  auto bad_bucket = ParseStorageUri("storage://gcp?projectID=p&bucket=B_");
  ASSERT_THAT(bad_bucket, IsOk());
  EXPECT_THAT(NewStore(*bad_bucket),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("bucket name \"B_\" is invalid")));
  auto missing_file = ParseStorageUri(
      "storage://gcp?projectID=p&bucket=dekms-test"
      "&credentialsPath=%2Fnonexistent%2Fsa.json");
  ASSERT_THAT(missing_file, IsOk());
  EXPECT_THAT(NewStore(*missing_file),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("credentialsPath /nonexistent/sa.json")));
}

TEST(NewStore, BuildsMemoryStore) {
  auto store = NewStore(MemoryStoreConfig{});
  ASSERT_THAT(store, IsOk());
  EXPECT_EQ((*store)->Kind(), "memory");
}

}  // namespace
}  // namespace dekms
