// Entra ID credentials, the Key Vault and Managed HSM KEK provider and the
// Blob Storage store against loopback servers. tests/fakes/azure_fake.py
// serves the Entra ID token endpoint, the instance metadata service and the
// Key Vault keys API, and checks tokens, audiences, algorithms and key
// versions. Azurite, Microsoft's emulator of the Blob service, checks
// Shared Key signatures.

#include <csignal>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "src/cloud/azure/credentials.h"
#include "src/cloud/azure/shared_key.h"
#include "src/cloud/http.h"
#include "src/crypto/encoding.h"
#include "src/crypto/random.h"
#include "src/kek/azure_key_vault_kek_provider.h"
#include "src/storage/azure_blob_store.h"
#include "tests/integration/dekms_process.h"
#include "tests/testing/azure_fake.h"
#include "tests/testing/emulators.h"
#include "tests/testing/status_matchers.h"

namespace dekms::testing {
namespace {

using ::dekms::internal::AzureCredentialOptions;
using ::dekms::internal::AzureKeyVaultKekOptions;
using ::dekms::internal::AzureKeyVaultKekProvider;
using ::dekms::internal::AzureTokenCredential;
using ::dekms::internal::HttpTransport;
using ::dekms::internal::RevealAsText;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kVaultScope[] = "https://vault.azure.net/.default";

std::span<const uint8_t> Bytes(std::string_view text) {
  return {reinterpret_cast<const uint8_t*>(text.data()), text.size()};
}

SecretBytes RandomKey(size_t size) {
  auto key = ::dekms::internal::RandomSecretBytes(size);
  EXPECT_THAT(key.status(), IsOk());
  return key.ok() ? std::move(key).value() : SecretBytes(size);
}

class AzureTest : public DekmsProcessTest {
 protected:
  void SetUp() override {
    DekmsProcessTest::SetUp();
    DEKMS_ASSIGN_EMULATOR_OR_SKIP(fake_, StartAzureFake());
    transport_ = ::dekms::internal::NewCurlTransport({});
  }

  // A credential from the given URI fields and variables only; the
  // metadata service is the fake's.
  absl::StatusOr<std::unique_ptr<AzureTokenCredential>> Credential(
      bool with_secret, std::map<std::string, std::string> environment = {}) {
    environment.emplace("AZURE_AUTHORITY_HOST", fake_->authority_host());
    environment.emplace("AZURE_POD_IDENTITY_AUTHORITY_HOST",
                        fake_->imds_endpoint());
    AzureCredentialOptions options;
    if (with_secret) {
      options.tenant_id = fake_->tenant_id();
      options.client_id = fake_->client_id();
      options.client_secret = SecretBytes::CopyFrom(fake_->client_secret());
    }
    options.transport = transport_.get();
    options.retry.initial_backoff = absl::Milliseconds(10);
    options.getenv =
        [environment](std::string_view name) -> std::optional<std::string> {
      const auto it = environment.find(std::string(name));
      if (it == environment.end()) {
        return std::nullopt;
      }
      return it->second;
    };
    return ::dekms::internal::NewAzureCredential(std::move(options));
  }

  std::shared_ptr<AzureTokenCredential> SecretCredential() {
    auto credential = Credential(/*with_secret=*/true);
    EXPECT_THAT(credential.status(), IsOk());
    return credential.ok() ? std::shared_ptr<AzureTokenCredential>(
                                 std::move(credential).value())
                           : nullptr;
  }

  AzureKeyVersion CreateKey(const AzureKeySpec& spec) {
    auto created = fake_->CreateKey(spec);
    EXPECT_THAT(created.status(), IsOk());
    return created.ok() ? *created : AzureKeyVersion();
  }

  AzureKeyVaultKekOptions KekOptions(const std::string& key,
                                     bool managed_hsm = false) {
    AzureKeyVaultKekOptions options;
    options.vault_name = "dekms-test";
    options.vault_type =
        managed_hsm ? "managedhsm.azure.net" : "vault.azure.net";
    options.key_name = key;
    options.endpoint =
        managed_hsm ? fake_->managed_hsm_endpoint() : fake_->vault_endpoint();
    options.credentials = SecretCredential();
    options.transport = transport_;
    options.retry.initial_backoff = absl::Milliseconds(10);
    return options;
  }

  std::unique_ptr<AzureKeyVaultKekProvider> NewKek(const std::string& key) {
    AzureKeySpec spec;
    spec.name = key;
    CreateKey(spec);
    auto kek = AzureKeyVaultKekProvider::Create(KekOptions(key));
    EXPECT_THAT(kek.status(), IsOk()) << fake_->log_text();
    return kek.ok() ? std::move(kek).value() : nullptr;
  }

  std::vector<AzureRequestRecord> Logged(std::string_view operation) {
    auto requests = fake_->Requests();
    EXPECT_THAT(requests.status(), IsOk());
    std::vector<AzureRequestRecord> matching;
    if (requests.ok()) {
      for (AzureRequestRecord& record : *requests) {
        if (record.operation == operation) {
          matching.push_back(record);
        }
      }
    }
    return matching;
  }

  std::unique_ptr<AzureFake> fake_;
  std::shared_ptr<HttpTransport> transport_;
};

// --- Credentials -------------------------------------------------------------

TEST_F(AzureTest, ClientSecretTokensArePerScopeAndCached) {
  auto credential = Credential(/*with_secret=*/true);
  ASSERT_THAT(credential.status(), IsOk());
  EXPECT_THAT((*credential)->Describe(),
              HasSubstr("client secret of app " + fake_->client_id()));
  auto vault = (*credential)->GetToken(kVaultScope);
  ASSERT_THAT(vault.status(), IsOk()) << fake_->log_text();
  auto again = (*credential)->GetToken(kVaultScope);
  ASSERT_THAT(again.status(), IsOk());
  EXPECT_EQ(RevealAsText(again->token), RevealAsText(vault->token));
  auto storage = (*credential)->GetToken(::dekms::internal::kAzureStorageScope);
  ASSERT_THAT(storage.status(), IsOk());
  EXPECT_NE(RevealAsText(storage->token), RevealAsText(vault->token));
  auto counters = fake_->Counters();
  ASSERT_THAT(counters.status(), IsOk());
  EXPECT_EQ(counters->entra_tokens, 2);
}

TEST_F(AzureTest, SecretFromTheEnvironment) {
  auto credential =
      Credential(false, {{"AZURE_TENANT_ID", fake_->tenant_id()},
                         {"AZURE_CLIENT_ID", fake_->client_id()},
                         {"AZURE_CLIENT_SECRET", fake_->client_secret()}});
  ASSERT_THAT(credential.status(), IsOk());
  EXPECT_THAT((*credential)->Describe(), HasSubstr("(AZURE_CLIENT_SECRET)"));
  EXPECT_THAT((*credential)->GetToken(kVaultScope).status(), IsOk());

  EXPECT_THAT(Credential(false, {{"AZURE_CLIENT_SECRET", "x"}}).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("AZURE_TENANT_ID and AZURE_CLIENT_ID")));
  EXPECT_THAT(
      Credential(false, {{"AZURE_TENANT_ID", "a/b"},
                         {"AZURE_CLIENT_ID", "c"},
                         {"AZURE_CLIENT_SECRET", "x"}})
          .status(),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("\"a/b\"")));
}

TEST_F(AzureTest, WorkloadIdentityReadsTheTokenFileEachTime) {
  auto token = fake_->RegisterFederatedToken();
  ASSERT_THAT(token.status(), IsOk());
  // Kubernetes writes the projected token with a trailing newline.
  const std::string path = WriteFile("azure-token", *token + "\n");
  // A short token lifetime is not needed: each scope fetches on its own,
  // so the second scope shows the file being read again.
  auto credential = Credential(false, {{"AZURE_TENANT_ID", fake_->tenant_id()},
                                       {"AZURE_CLIENT_ID", fake_->client_id()},
                                       {"AZURE_FEDERATED_TOKEN_FILE", path}});
  ASSERT_THAT(credential.status(), IsOk());
  EXPECT_THAT((*credential)->Describe(),
              HasSubstr("workload identity of app " + fake_->client_id()));
  ASSERT_THAT((*credential)->GetToken(kVaultScope).status(), IsOk())
      << fake_->log_text();

  auto rotated = fake_->RotateFederatedToken();
  ASSERT_THAT(rotated.status(), IsOk());
  WriteFile("azure-token", *rotated + "\n");
  EXPECT_THAT(
      (*credential)->GetToken(::dekms::internal::kAzureStorageScope).status(),
      IsOk());
  const std::vector<AzureRequestRecord> calls = Logged("token");
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[0].credential, "assertion");
  EXPECT_EQ(calls[1].credential, "assertion");
  EXPECT_EQ(calls[1].status, 200);

  // A token the file no longer matches is rejected, naming no secret.
  WriteFile("azure-token", "not-the-token");
  (*credential)->Invalidate(kVaultScope);
  EXPECT_THAT((*credential)->GetToken(kVaultScope).status(),
              StatusIs(absl::StatusCode::kUnauthenticated,
                       AllOf(HasSubstr("AADSTS70021"),
                             HasSubstr("federated credential"))));
}

TEST_F(AzureTest, WrongSecretIsUnauthenticatedAndNotShown) {
  auto credential =
      Credential(false, {{"AZURE_TENANT_ID", fake_->tenant_id()},
                         {"AZURE_CLIENT_ID", fake_->client_id()},
                         {"AZURE_CLIENT_SECRET", "not+the/secret="}});
  ASSERT_THAT(credential.status(), IsOk());
  EXPECT_THAT(
      (*credential)->GetToken(kVaultScope).status(),
      StatusIs(absl::StatusCode::kUnauthenticated,
               AllOf(HasSubstr("invalid_client"), HasSubstr("client secret"),
                     Not(HasSubstr("not+the/secret=")))));
}

TEST_F(AzureTest, ManagedIdentityWhenNoSecretIsGiven) {
  auto credential = Credential(
      false, {{"AZURE_CLIENT_ID", fake_->managed_identity_client_id()}});
  ASSERT_THAT(credential.status(), IsOk());
  EXPECT_THAT(
      (*credential)->Describe(),
      HasSubstr("managed identity " + fake_->managed_identity_client_id()));
  ASSERT_THAT((*credential)->GetToken(kVaultScope).status(), IsOk())
      << fake_->log_text();
  const std::vector<AzureRequestRecord> calls = Logged("token");
  ASSERT_FALSE(calls.empty());
  EXPECT_EQ(calls.back().resource, "https://vault.azure.net");
}

TEST_F(AzureTest, UriClientIdSelectsTheManagedIdentity) {
  AzureCredentialOptions options;
  options.client_id = fake_->managed_identity_client_id();
  options.transport = transport_.get();
  const std::string imds = fake_->imds_endpoint();
  options.getenv = [imds](std::string_view name) -> std::optional<std::string> {
    if (name == "AZURE_POD_IDENTITY_AUTHORITY_HOST") {
      return imds;
    }
    if (name == "AZURE_CLIENT_ID") {
      return std::string("00000000-0000-0000-0000-000000000000");
    }
    return std::nullopt;
  };
  auto credential = ::dekms::internal::NewAzureCredential(std::move(options));
  ASSERT_THAT(credential.status(), IsOk());
  EXPECT_THAT((*credential)->Describe(),
              HasSubstr(fake_->managed_identity_client_id()));
  EXPECT_THAT((*credential)->GetToken(kVaultScope).status(), IsOk());
}

TEST_F(AzureTest, ManagedIdentityRetriesWhileTheServiceUpdates) {
  ASSERT_THAT(
      fake_->QueueFault(AzureFault::Status(AzureFault::Operation::kImds, 410)),
      IsOk());
  auto credential = Credential(false);
  ASSERT_THAT(credential.status(), IsOk());
  EXPECT_THAT((*credential)->GetToken(kVaultScope).status(), IsOk());
}

TEST_F(AzureTest, UnreachableMetadataServiceSaysWhereItLooked) {
  auto credential = Credential(
      false, {{"AZURE_POD_IDENTITY_AUTHORITY_HOST", "http://127.0.0.1:1"}});
  ASSERT_THAT(credential.status(), IsOk());
  EXPECT_THAT((*credential)->GetToken(kVaultScope).status(),
              StatusIs(absl::StatusCode::kUnavailable,
                       AllOf(HasSubstr("127.0.0.1:1"),
                             HasSubstr("No client secret was configured"))));
}

// --- Key Vault and Managed HSM ----------------------------------------------

TEST_F(AzureTest, KeyVaultWrapsWithRsaOaep256) {
  auto kek = NewKek("wrap");
  ASSERT_NE(kek, nullptr);
  EXPECT_EQ(kek->Kind(), "azure-key-vault");
  EXPECT_EQ(kek->KeyId(), "https://dekms-test.vault.azure.net/keys/wrap");
  EXPECT_FALSE(kek->BindsAssociatedData());
  const SecretBytes key = RandomKey(32);
  auto wrapped = kek->Wrap(key, Bytes("ignored"));
  ASSERT_THAT(wrapped.status(), IsOk()) << fake_->log_text();
  EXPECT_EQ(wrapped->key_version.size(), 32u);
  auto unwrapped =
      kek->Unwrap(wrapped->ciphertext, wrapped->key_version, Bytes("ignored"));
  ASSERT_THAT(unwrapped.status(), IsOk());
  EXPECT_TRUE(unwrapped->Equals(key));
  const std::vector<AzureRequestRecord> wraps = Logged("wrap");
  ASSERT_EQ(wraps.size(), 1u);
  EXPECT_EQ(wraps[0].alg, "RSA-OAEP-256");
  EXPECT_EQ(wraps[0].version, wrapped->key_version);
  EXPECT_EQ(wraps[0].api_version, "7.4");
  EXPECT_EQ(wraps[0].authorization, "valid");
}

TEST_F(AzureTest, KeyVaultRotationNeverBreaksOldBlobs) {
  auto kek = NewKek("rotate");
  ASSERT_NE(kek, nullptr);
  auto old_blob = kek->Wrap(RandomKey(32), {});
  ASSERT_THAT(old_blob.status(), IsOk());
  auto rotated = fake_->Rotate(AzureVault::kKeyVault, "rotate");
  ASSERT_THAT(rotated.status(), IsOk());
  // Until the next Check(), new DEKs still use the pinned version.
  auto pinned = kek->Wrap(RandomKey(32), {});
  ASSERT_THAT(pinned.status(), IsOk());
  EXPECT_EQ(pinned->key_version, old_blob->key_version);
  ASSERT_THAT(kek->Check(), IsOk());
  auto new_blob = kek->Wrap(RandomKey(32), {});
  ASSERT_THAT(new_blob.status(), IsOk());
  EXPECT_EQ(new_blob->key_version, rotated->version);
  EXPECT_NE(new_blob->key_version, old_blob->key_version);
  EXPECT_THAT(
      kek->Unwrap(old_blob->ciphertext, old_blob->key_version, {}).status(),
      IsOk());

  ASSERT_THAT(fake_->SetVersionEnabled(AzureVault::kKeyVault, "rotate",
                                       old_blob->key_version, false),
              IsOk());
  EXPECT_THAT(
      kek->Unwrap(old_blob->ciphertext, old_blob->key_version, {}).status(),
      StatusIs(
          absl::StatusCode::kFailedPrecondition,
          AllOf(HasSubstr("KeyDisabled"), HasSubstr("enable the key"),
                HasSubstr("wrapped by version " + old_blob->key_version))));
  EXPECT_THAT(
      kek->Unwrap(new_blob->ciphertext, new_blob->key_version, {}).status(),
      IsOk());
}

TEST_F(AzureTest, KeyVaultRejectsAlteredOrForeignBlobs) {
  auto kek = NewKek("bind");
  ASSERT_NE(kek, nullptr);
  auto wrapped = kek->Wrap(RandomKey(32), {});
  ASSERT_THAT(wrapped.status(), IsOk());
  std::string altered = wrapped->ciphertext;
  altered[altered.size() / 2] ^= 0x01;
  EXPECT_THAT(kek->Unwrap(altered, wrapped->key_version, {}).status(),
              StatusIs(absl::StatusCode::kDataLoss));
  EXPECT_THAT(kek->Unwrap(wrapped->ciphertext, "../other", {}).status(),
              StatusIs(absl::StatusCode::kDataLoss,
                       HasSubstr("names no valid version")));
}

TEST_F(AzureTest, KeyVaultCheckFailsClearlyForUnusableKeys) {
  EXPECT_THAT(AzureKeyVaultKekProvider::Create(KekOptions("missing")).status(),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       AllOf(HasSubstr("KeyNotFound"),
                             HasSubstr("keys/missing exists"))));

  AzureKeySpec no_wrap;
  no_wrap.name = "no-wrap";
  no_wrap.key_ops = {"encrypt", "decrypt"};
  CreateKey(no_wrap);
  EXPECT_THAT(AzureKeyVaultKekProvider::Create(KekOptions("no-wrap")).status(),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("wrapKey and unwrapKey")));

  AzureKeySpec denied;
  denied.name = "denied";
  denied.deny = true;
  CreateKey(denied);
  EXPECT_THAT(AzureKeyVaultKekProvider::Create(KekOptions("denied")).status(),
              StatusIs(absl::StatusCode::kPermissionDenied,
                       AllOf(HasSubstr("ForbiddenByRbac"),
                             HasSubstr("Key Vault Crypto User"))));

  AzureKeySpec disabled;
  disabled.name = "disabled";
  disabled.enabled = false;
  CreateKey(disabled);
  EXPECT_THAT(
      AzureKeyVaultKekProvider::Create(KekOptions("disabled")).status(),
      StatusIs(absl::StatusCode::kFailedPrecondition,
               AllOf(HasSubstr("KeyDisabled"), HasSubstr("enable the key"))));
}

TEST_F(AzureTest, ManagedHsmWrapsWithAesKeyWrap) {
  AzureKeySpec spec;
  spec.name = "hsm-kek";
  spec.vault = AzureVault::kManagedHsm;
  spec.kty = "oct-HSM";
  spec.size = 256;
  CreateKey(spec);
  auto kek = AzureKeyVaultKekProvider::Create(
      KekOptions("hsm-kek", /*managed_hsm=*/true));
  ASSERT_THAT(kek.status(), IsOk()) << fake_->log_text();
  EXPECT_EQ((*kek)->KeyId(),
            "https://dekms-test.managedhsm.azure.net/keys/hsm-kek");
  const SecretBytes key = RandomKey(32);
  auto wrapped = (*kek)->Wrap(key, {});
  ASSERT_THAT(wrapped.status(), IsOk()) << fake_->log_text();
  auto unwrapped =
      (*kek)->Unwrap(wrapped->ciphertext, wrapped->key_version, {});
  ASSERT_THAT(unwrapped.status(), IsOk());
  EXPECT_TRUE(unwrapped->Equals(key));
  const std::vector<AzureRequestRecord> wraps = Logged("wrap");
  ASSERT_EQ(wraps.size(), 1u);
  EXPECT_EQ(wraps[0].alg, "CKM_AES_KEY_WRAP_PAD");
  // The token was requested for Managed HSM's scope.
  bool hsm_scope = false;
  for (const AzureRequestRecord& record : Logged("token")) {
    hsm_scope =
        hsm_scope || record.scope == "https://managedhsm.azure.net/.default";
  }
  EXPECT_TRUE(hsm_scope);
}

TEST_F(AzureTest, KeyVaultRetriesThrottlingAndRefusedTokens) {
  auto kek = NewKek("retry");
  ASSERT_NE(kek, nullptr);
  AzureFault throttled = AzureFault::Status(AzureFault::Operation::kWrap, 429);
  throttled.retry_after_seconds = 1;
  ASSERT_THAT(fake_->QueueFault(throttled), IsOk());
  ASSERT_THAT(
      fake_->QueueFault(AzureFault::Status(AzureFault::Operation::kWrap, 503)),
      IsOk());
  const absl::Time start = absl::Now();
  ASSERT_THAT(kek->Wrap(RandomKey(32), {}).status(), IsOk());
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(900));
  EXPECT_EQ(Logged("wrap").size(), 3u);

  ASSERT_THAT(fake_->ExpireTokens(), IsOk());
  ASSERT_THAT(kek->Wrap(RandomKey(32), {}).status(), IsOk());
  const std::vector<AzureRequestRecord> wraps = Logged("wrap");
  ASSERT_EQ(wraps.size(), 5u);
  EXPECT_EQ(wraps[3].authorization, "expired");
  EXPECT_EQ(wraps[4].authorization, "valid");
}

// --- Blob Storage ------------------------------------------------------------

using ::dekms::internal::AzureBlobStore;
using ::dekms::internal::AzureBlobStoreOptions;

class AzureBlobTest : public AzureTest {
 protected:
  void SetUp() override {
    AzureTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) {
      return;
    }
    DEKMS_ASSIGN_EMULATOR_OR_SKIP(azurite_, StartAzurite());
  }

  AzureBlobStoreOptions StoreOptions(const std::string& container,
                                     const std::string& endpoint = "") {
    AzureBlobStoreOptions options;
    options.account = AzuriteServer::account();
    options.container = container;
    options.endpoint = endpoint.empty() ? azurite_->blob_endpoint() : endpoint;
    auto key = ::dekms::internal::DecodeBase64(
        AzuriteServer::account_key(),
        ::dekms::internal::Base64Alphabet::kStandard, "account key");
    EXPECT_THAT(key.status(), IsOk());
    if (key.ok()) {
      options.shared_key = std::move(key).value();
    }
    options.transport = transport_;
    options.retry.initial_backoff = absl::Milliseconds(10);
    return options;
  }

  std::unique_ptr<AzureBlobStore> NewStore(const std::string& container,
                                           const std::string& endpoint = "") {
    auto store = AzureBlobStore::Create(StoreOptions(container, endpoint));
    EXPECT_THAT(store.status(), IsOk()) << azurite_->log_text();
    return store.ok() ? std::move(store).value() : nullptr;
  }

  std::unique_ptr<AzuriteServer> azurite_;
};

TEST_F(AzureBlobTest, CreatesTheContainerWithConstellationTags) {
  auto store = NewStore("dekms-new");
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->Kind(), "azure-blob");
  // A second store finds the container and the probe in place.
  EXPECT_NE(NewStore("dekms-new"), nullptr);
  ASSERT_THAT(store->Create("key-1", "blob"), IsOk());
  EXPECT_THAT(store->Get("key-1"), IsOkAndHolds(std::string("blob")));
}

TEST_F(AzureBlobTest, CreateIsCreateOnly) {
  auto store = NewStore("dekms-create");
  ASSERT_NE(store, nullptr);
  EXPECT_THAT(store->Get("key-1").status(),
              StatusIs(absl::StatusCode::kNotFound,
                       HasSubstr("container \"dekms-create\"")));
  ASSERT_THAT(store->Create("key-1", "first blob"), IsOk());
  EXPECT_THAT(store->Create("key-1", "second blob"),
              StatusIs(absl::StatusCode::kAlreadyExists));
  EXPECT_THAT(store->Get("key-1"), IsOkAndHolds(std::string("first blob")));
}

TEST_F(AzureBlobTest, NamesWithSpecialCharactersRoundTrip) {
  auto store = NewStore("dekms-names");
  ASSERT_NE(store, nullptr);
  const std::vector<std::string> ids = {
      "a/b",         "100%",  "a#b?c",  "sp ace", "a+b",
      "caf\xc3\xa9", "a&b=c", "~tilde", "x..y",   "key-disk-1"};
  for (const std::string& id : ids) {
    ASSERT_THAT(store->Create(id, "blob of " + id), IsOk()) << id;
  }
  for (const std::string& id : ids) {
    EXPECT_THAT(store->Get(id), IsOkAndHolds("blob of " + id)) << id;
  }
}

TEST_F(AzureBlobTest, RacingCreatesLeaveOneWinner) {
  auto store = NewStore("dekms-race");
  ASSERT_NE(store, nullptr);
  constexpr int kWriters = 8;
  std::vector<absl::Status> results(kWriters);
  std::vector<std::thread> threads;
  threads.reserve(kWriters);
  for (int i = 0; i < kWriters; ++i) {
    threads.emplace_back([&, i] {
      results[i] = store->Create("key-race", "blob " + std::to_string(i));
    });
  }
  for (std::thread& thread : threads) {
    thread.join();
  }
  int winners = 0;
  std::string winner;
  for (int i = 0; i < kWriters; ++i) {
    if (results[i].ok()) {
      ++winners;
      winner = "blob " + std::to_string(i);
    } else {
      EXPECT_THAT(results[i], StatusIs(absl::StatusCode::kAlreadyExists));
    }
  }
  EXPECT_EQ(winners, 1);
  EXPECT_THAT(store->Get("key-race"), IsOkAndHolds(winner));
}

TEST_F(AzureBlobTest, WrongKeyIsRejectedAndNeverAbsence) {
  AzureBlobStoreOptions options = StoreOptions("dekms-key");
  options.shared_key = SecretBytes::CopyFrom(std::string_view("wrong key"));
  EXPECT_THAT(AzureBlobStore::Create(std::move(options)).status(),
              StatusIs(absl::StatusCode::kPermissionDenied,
                       HasSubstr("AuthorizationFailure")));
}

TEST_F(AzureBlobTest, DeletedContainerIsNotAbsence) {
  auto store = NewStore("dekms-gone");
  ASSERT_NE(store, nullptr);
  // Deleting needs a signed request; a second store with the same options
  // signs one.
  ::dekms::internal::HttpRequest request;
  request.method = "DELETE";
  request.url = azurite_->blob_endpoint() + "/dekms-gone?restype=container";
  request.SetHeader("x-ms-version", "2021-08-06");
  ASSERT_THAT(::dekms::internal::SignAzureSharedKey(
                  request, AzuriteServer::account(),
                  StoreOptions("dekms-gone").shared_key, absl::Now()),
              IsOk());
  auto deleted = transport_->Send(request, absl::Now() + absl::Seconds(10));
  ASSERT_THAT(deleted.status(), IsOk());
  ASSERT_EQ(deleted->status, 202);
  EXPECT_THAT(store->Get("key-1").status(),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("ContainerNotFound")));
}

TEST_F(AzureBlobTest, BearerTokensFromEntraId) {
  AzuriteOptions bearer;
  bearer.mode = AzuriteOptions::Mode::kHttpsBearer;
  DEKMS_ASSIGN_EMULATOR_OR_SKIP(std::unique_ptr<AzuriteServer> https,
                                StartAzurite(bearer));
  ::dekms::internal::CurlTransportOptions tls;
  tls.ca_file = https->ca_file();
  AzureBlobStoreOptions options;
  options.account = AzuriteServer::account();
  options.container = "dekms-bearer";
  options.endpoint = https->https_endpoint();
  options.credentials = SecretCredential();
  options.transport = ::dekms::internal::NewCurlTransport(tls);
  auto store = AzureBlobStore::Create(std::move(options));
  ASSERT_THAT(store.status(), IsOk()) << https->log_text();
  ASSERT_THAT((*store)->Create("key-1", "blob"), IsOk());
  EXPECT_THAT((*store)->Get("key-1"), IsOkAndHolds(std::string("blob")));
  bool storage_scope = false;
  for (const AzureRequestRecord& record : Logged("token")) {
    storage_scope =
        storage_scope || record.scope == "https://storage.azure.com/.default";
  }
  EXPECT_TRUE(storage_scope);
}

class AzureBlobFaultTest : public AzureBlobTest {
 protected:
  void SetUp() override {
    AzureBlobTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) {
      return;
    }
    DEKMS_ASSIGN_EMULATOR_OR_SKIP(proxy_,
                                  StartFaultProxy(azurite_->endpoint()));
    store_ = NewStore("dekms-faults",
                      proxy_->endpoint() + "/" + AzuriteServer::account());
    ASSERT_NE(store_, nullptr);
    ASSERT_THAT(proxy_->Clear(), IsOk());
  }

  void Queue(Fault fault, const std::string& method) {
    fault.method = method;
    ASSERT_THAT(proxy_->QueueFault(fault), IsOk());
  }

  int Puts() {
    auto counters = proxy_->Counters();
    EXPECT_THAT(counters.status(), IsOk());
    return counters.ok() ? counters->by_method["PUT"] : -1;
  }

  std::unique_ptr<FaultProxy> proxy_;
  std::unique_ptr<AzureBlobStore> store_;
};

TEST_F(AzureBlobFaultTest, ReadErrorsAreNotAbsence) {
  Queue(Fault::Status(503, /*count=*/10), "GET");
  EXPECT_THAT(store_->Get("key-1").status(),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("HTTP 503")));
  ASSERT_THAT(proxy_->Clear(), IsOk());
  Fault other_404 = Fault::Status(404);
  other_404.error_code = "ResourceNotFound";
  Queue(other_404, "GET");
  EXPECT_THAT(
      store_->Get("key-1").status(),
      StatusIs(absl::StatusCode::kUnavailable, HasSubstr("ResourceNotFound")));
}

TEST_F(AzureBlobFaultTest, UnclearWriteIsSettledByReadingBack) {
  Queue(Fault::ForwardThenReset(), "PUT");
  ASSERT_THAT(store_->Create("key-1", "my blob"), IsOk());
  EXPECT_THAT(store_->Get("key-1"), IsOkAndHolds(std::string("my blob")));

  ASSERT_THAT(store_->Create("key-2", "their blob"), IsOk());
  Queue(Fault::Status(503), "PUT");
  EXPECT_THAT(store_->Create("key-2", "my blob"),
              StatusIs(absl::StatusCode::kAlreadyExists));
  EXPECT_THAT(store_->Get("key-2"), IsOkAndHolds(std::string("their blob")));
}

TEST_F(AzureBlobFaultTest, UnclearWritesAreBounded) {
  Queue(Fault::Status(500, /*count=*/50), "PUT");
  EXPECT_THAT(store_->Create("key-1", "blob"),
              StatusIs(absl::StatusCode::kUnavailable,
                       HasSubstr("kept failing with an unclear outcome")));
  EXPECT_EQ(Puts(), 5);
}

// --- dekms end to end --------------------------------------------------------

class AzureEndToEndTest : public AzureBlobTest {
 protected:
  std::vector<std::string> Backend(const std::string& key,
                                   const std::string& container) {
    AzureKeySpec spec;
    spec.name = key;
    CreateKey(spec);
    using ::dekms::internal::PercentEncode;
    return {"--kms-uri",
            "kms://azure?tenantID=" + fake_->tenant_id() +
                "&clientID=" + fake_->client_id() +
                "&clientSecret=" + PercentEncode(fake_->client_secret()) +
                "&vaultName=dekms-test&vaultType=vault.azure.net&keyName=" +
                key + "&endpoint=" + PercentEncode(fake_->vault_endpoint()),
            "--storage-uri",
            "storage://azure?account=" + AzuriteServer::account() +
                "&container=" + container +
                "&sharedKey=" + PercentEncode(AzuriteServer::account_key()) +
                "&endpoint=" + PercentEncode(azurite_->blob_endpoint())};
  }

  std::vector<std::string> AzureEnvironment() const {
    return {"AZURE_AUTHORITY_HOST=" + fake_->authority_host(),
            "AZURE_POD_IDENTITY_AUTHORITY_HOST=" + fake_->imds_endpoint(),
            "AZURE_TENANT_ID=",
            "AZURE_CLIENT_ID=",
            "AZURE_CLIENT_SECRET=",
            "AZURE_FEDERATED_TOKEN_FILE="};
  }
};

TEST_F(AzureEndToEndTest, ServiceServesDeksFromKeyVaultAndBlob) {
  const std::vector<std::string> backend = Backend("e2e", "dekms-e2e");
  // The URIs carry secrets, so they go through the environment.
  std::vector<std::string> env = AzureEnvironment();
  env.push_back("DEKMS_KMS_URI=" + backend[1]);
  env.push_back("DEKMS_STORAGE_URI=" + backend[3]);
  std::string address;
  auto server = StartServer({}, &address, env);
  ASSERT_NE(server, nullptr);
  EXPECT_THAT(server->stderr_text(),
              AllOf(HasSubstr("Azure Key Vault: key e2e"),
                    HasSubstr("the account key of devstoreaccount1")));

  const ProcessResult first = Dekms({"get", "key-disk-1", "--server", address});
  const ProcessResult second =
      Dekms({"get", "key-disk-1", "--server", address});
  ASSERT_EQ(first.exit_code, 0) << first.stderr_text;
  EXPECT_EQ(first.stdout_text.size(), 65U);
  EXPECT_EQ(second.stdout_text, first.stdout_text);

  const ProcessResult direct = Dekms({"get", "key-disk-1"}, env);
  ASSERT_EQ(direct.exit_code, 0) << direct.stderr_text;
  EXPECT_EQ(direct.stdout_text, first.stdout_text);

  server->Signal(SIGTERM);
  auto exit_code = server->Wait(absl::Seconds(30));
  ASSERT_THAT(exit_code.status(), IsOk());
  EXPECT_EQ(*exit_code, 0);
  for (const std::string& log : {server->stderr_text(), direct.stderr_text}) {
    EXPECT_THAT(log, AllOf(Not(HasSubstr(fake_->client_secret())),
                           Not(HasSubstr(AzuriteServer::account_key())),
                           Not(HasSubstr("FakeAzureToken"))));
  }
}

TEST_F(AzureEndToEndTest, FourProcessesAgreeOnANewId) {
  const std::vector<std::string> backend = Backend("race", "dekms-race-e2e");
  std::vector<std::string> env = AzureEnvironment();
  env.push_back("DEKMS_KMS_URI=" + backend[1]);
  env.push_back("DEKMS_STORAGE_URI=" + backend[3]);
  ASSERT_EQ(Dekms({"get", "key-warm-up"}, env).exit_code, 0);
  std::vector<std::unique_ptr<Subprocess>> processes;
  for (int i = 0; i < 4; ++i) {
    auto process = Subprocess::Start({kDekmsPath, "get", "key-race"}, env);
    ASSERT_THAT(process.status(), IsOk());
    processes.push_back(std::move(process).value());
  }
  std::vector<std::string> outputs;
  for (auto& process : processes) {
    auto exit_code = process->Wait(absl::Seconds(60));
    ASSERT_THAT(exit_code.status(), IsOk());
    EXPECT_EQ(*exit_code, 0) << process->stderr_text();
    outputs.push_back(process->stdout_text());
  }
  for (const std::string& output : outputs) {
    EXPECT_EQ(output, outputs[0]);
  }
  EXPECT_EQ(outputs[0].size(), 65U);
}

}  // namespace
}  // namespace dekms::testing
