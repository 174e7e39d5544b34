// Checks the C++ launcher of tests/fakes/azure_fake.py: it starts the fake,
// reads its endpoints and app registration, and its control helpers reach
// the fake. Key wrap round trips with tokens from the Entra ID and IMDS
// endpoints, over HTTP and over verified HTTPS, show that the endpoints it
// reports work. azure_fake_selftest.py tests the fake's protocol checks in
// depth.

#include <curl/curl.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "src/base/str_cat.h"
#include "tests/testing/azure_fake.h"
#include "tests/testing/emulators.h"
#include "tests/testing/status_matchers.h"

namespace dekms::testing {
namespace {

using ::nlohmann::json;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

constexpr char kApiVersion[] = "api-version=7.5";
constexpr char kVaultScope[] = "https://vault.azure.net/.default";
constexpr char kManagedHsmResource[] = "https://managedhsm.azure.net";
constexpr long kHttpTimeoutMs = 30'000;

json ParseJson(const std::string& text) {
  return json::parse(text, nullptr, /*allow_exceptions=*/false);
}

// Percent-encodes everything but RFC 3986 unreserved characters, as a form
// body needs.
std::string FormEncode(std::string_view text) {
  static constexpr char kHexDigits[] = "0123456789ABCDEF";
  std::string encoded;
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (absl::ascii_isalnum(byte) || c == '-' || c == '_' || c == '.' ||
        c == '~') {
      encoded += c;
    } else {
      encoded += '%';
      encoded += kHexDigits[byte >> 4];
      encoded += kHexDigits[byte & 0xF];
    }
  }
  return encoded;
}

size_t AppendToString(char* data, size_t size, size_t count, void* sink) {
  static_cast<std::string*>(sink)->append(data, size * count);
  return size * count;
}

// Sends one HTTPS request that trusts only the CA in `ca_file` (or the
// system's CAs when it is empty), with peer and host name verification on.
// SendTestHttpRequest() has no CA option.
TestHttpResponse SendWithCaFile(std::string_view method, const std::string& url,
                                const std::vector<std::string>& headers,
                                const std::string& body,
                                const std::string& ca_file) {
  static const CURLcode global_init = curl_global_init(CURL_GLOBAL_DEFAULT);
  TestHttpResponse response;
  CURL* curl = global_init == CURLE_OK ? curl_easy_init() : nullptr;
  if (curl == nullptr) {
    response.curl_code = CURLE_FAILED_INIT;
    response.curl_error = "libcurl initialisation failed";
    return response;
  }
  const std::string method_text(method);
  curl_slist* header_list = nullptr;
  for (const std::string& header : headers) {
    header_list = curl_slist_append(header_list, header.c_str());
  }
  header_list = curl_slist_append(header_list, "Expect:");
  char error_buffer[CURL_ERROR_SIZE] = {};

  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_PROXY, "");
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, kHttpTimeoutMs);
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error_buffer);
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, header_list);
  curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 2L);
  if (!ca_file.empty()) {
    curl_easy_setopt(curl, CURLOPT_CAINFO, ca_file.c_str());
  }
  curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method_text.c_str());
  if (method_text == "POST") {
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE,
                     static_cast<curl_off_t>(body.size()));
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.c_str());
  }
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, AppendToString);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &response.body);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, AppendToString);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &response.headers);

  const CURLcode result = curl_easy_perform(curl);
  response.curl_code = result;
  if (result != CURLE_OK) {
    response.curl_error = error_buffer[0] != '\0'
                              ? std::string(error_buffer)
                              : std::string(curl_easy_strerror(result));
  }
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &response.status);
  curl_slist_free_all(header_list);
  curl_easy_cleanup(curl);
  return response;
}

// Sends a keys data plane request to `base` with `token`, over HTTPS with
// `ca_file` when it is set.
TestHttpResponse CallKeys(const std::string& base, std::string_view method,
                          std::string_view path, const std::string& token,
                          const json& document = nullptr,
                          const std::string& ca_file = "") {
  const std::string url = StrCat(base, "/keys/", path, "?", kApiVersion);
  const std::vector<std::string> headers = {
      StrCat("Authorization: Bearer ", token),
      "Content-Type: application/json"};
  const std::string body = document.is_null() ? "" : document.dump();
  if (!ca_file.empty()) {
    return SendWithCaFile(method, url, headers, body, ca_file);
  }
  return SendTestHttpRequest(method, url, headers, body);
}

// Wraps `dek` with `alg` at `kid`'s version, unwraps the result, and checks
// that both responses name `kid` and the round trip returns `dek`.
void ExpectWrapRoundTrip(const std::string& base, std::string_view key_name,
                         const std::string& kid, std::string_view alg,
                         std::string_view dek, const std::string& token,
                         const std::string& ca_file = "") {
  const std::string version = kid.substr(kid.rfind('/') + 1);
  const TestHttpResponse wrapped =
      CallKeys(base, "POST", StrCat(key_name, "/", version, "/wrapkey"), token,
               json{{"alg", std::string(alg)},
                    {"value", absl::WebSafeBase64Escape(std::string(dek))}},
               ca_file);
  ASSERT_EQ(wrapped.curl_code, CURLE_OK) << wrapped.curl_error;
  ASSERT_EQ(wrapped.status, 200) << wrapped.body;
  const json wrap_response = ParseJson(wrapped.body);
  EXPECT_EQ(wrap_response.value("kid", ""), kid);
  const std::string wrapped_value = wrap_response.value("value", "");
  EXPECT_THAT(wrapped_value, Not(HasSubstr("=")));

  const TestHttpResponse unwrapped = CallKeys(
      base, "POST", StrCat(key_name, "/", version, "/unwrapkey"), token,
      json{{"alg", std::string(alg)}, {"value", wrapped_value}}, ca_file);
  ASSERT_EQ(unwrapped.status, 200) << unwrapped.body;
  const json unwrap_response = ParseJson(unwrapped.body);
  EXPECT_EQ(unwrap_response.value("kid", ""), kid);
  std::string recovered;
  ASSERT_TRUE(absl::WebSafeBase64Unescape(unwrap_response.value("value", ""),
                                          &recovered));
  EXPECT_EQ(recovered, dek);
}

class AzureFakeSmokeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    DEKMS_ASSIGN_EMULATOR_OR_SKIP(fake_, StartAzureFake());
  }

  // Returns an access token from the Entra ID endpoint, or "" after a
  // failed assertion.
  std::string EntraToken(std::string_view scope) {
    const std::string form =
        StrCat("grant_type=client_credentials&client_id=",
               FormEncode(fake_->client_id()),
               "&client_secret=", FormEncode(fake_->client_secret()),
               "&scope=", FormEncode(scope));
    const TestHttpResponse response = SendTestHttpRequest(
        "POST", fake_->token_url(),
        {"Content-Type: application/x-www-form-urlencoded"}, form);
    EXPECT_EQ(response.curl_code, CURLE_OK) << response.curl_error;
    EXPECT_EQ(response.status, 200) << response.body;
    const json document = ParseJson(response.body);
    EXPECT_EQ(document.value("token_type", ""), "Bearer");
    EXPECT_TRUE(document.contains("expires_in") &&
                document["expires_in"].is_number());
    return document.value("access_token", "");
  }

  std::unique_ptr<AzureFake> fake_;
};

TEST_F(AzureFakeSmokeTest, EntraTokenKeyVaultRoundTrip) {
  absl::StatusOr<AzureKeyVersion> key = fake_->CreateKey(AzureKeySpec{});
  ASSERT_THAT(key, IsOk());
  const std::string token = EntraToken(kVaultScope);
  ASSERT_FALSE(token.empty());

  const TestHttpResponse got =
      CallKeys(fake_->vault_endpoint(), "GET", "kek", token);
  ASSERT_EQ(got.status, 200) << got.body;
  const json bundle = ParseJson(got.body);
  const std::string kid = bundle["key"].value("kid", "");
  EXPECT_EQ(kid, key->kid);
  EXPECT_THAT(kid, StartsWith(StrCat(fake_->vault_endpoint(), "/keys/kek/")));
  EXPECT_EQ(bundle["key"].value("kty", ""), "RSA");
  ExpectWrapRoundTrip(fake_->vault_endpoint(), "kek", kid, "RSA-OAEP-256",
                      "a 32-byte data encryption key..", token);

  absl::StatusOr<AzureFakeCounters> counters = fake_->Counters();
  ASSERT_THAT(counters, IsOk());
  EXPECT_EQ(counters->entra_tokens, 1);
  EXPECT_EQ(counters->imds_tokens, 0);
  const std::string log = fake_->log_text();
  EXPECT_THAT(log, Not(HasSubstr(token)));
  EXPECT_THAT(log, Not(HasSubstr(fake_->client_secret())));
}

TEST_F(AzureFakeSmokeTest, ImdsTokenManagedHsmRoundTrip) {
  AzureKeySpec spec;
  spec.name = "hsm-kek";
  spec.vault = AzureVault::kManagedHsm;
  spec.kty = "oct-HSM";
  absl::StatusOr<AzureKeyVersion> key = fake_->CreateKey(spec);
  ASSERT_THAT(key, IsOk());
  const TestHttpResponse token_response = SendTestHttpRequest(
      "GET",
      StrCat(fake_->imds_endpoint(),
             "/metadata/identity/oauth2/token?api-version=2018-02-01&resource=",
             FormEncode(kManagedHsmResource)),
      {"Metadata: true"});
  ASSERT_EQ(token_response.status, 200) << token_response.body;
  const json token_document = ParseJson(token_response.body);
  // IMDS sends its numbers as strings.
  EXPECT_TRUE(token_document["expires_in"].is_string());
  EXPECT_EQ(token_document.value("client_id", ""),
            fake_->managed_identity_client_id());
  const std::string token = token_document.value("access_token", "");

  ExpectWrapRoundTrip(fake_->managed_hsm_endpoint(), "hsm-kek", key->kid,
                      "A256KW", "0123456789abcdef0123456789abcdef", token);
  ExpectWrapRoundTrip(fake_->managed_hsm_endpoint(), "hsm-kek", key->kid,
                      "CKM_AES_KEY_WRAP_PAD", "seven b", token);

  // A Managed HSM token is for another audience than Key Vault.
  const TestHttpResponse vault_call =
      CallKeys(fake_->vault_endpoint(), "GET", "hsm-kek", token);
  EXPECT_EQ(vault_call.status, 401) << vault_call.body;
  EXPECT_THAT(vault_call.headers,
              HasSubstr("resource=\"https://vault.azure.net\""));
  EXPECT_THAT(fake_->log_text(), Not(HasSubstr(token)));
}

TEST_F(AzureFakeSmokeTest, ControlHelpersReachFake) {
  absl::StatusOr<AzureKeyVersion> first = fake_->CreateKey(AzureKeySpec{});
  ASSERT_THAT(first, IsOk());
  absl::StatusOr<AzureKeyVersion> second =
      fake_->Rotate(AzureVault::kKeyVault, "kek");
  ASSERT_THAT(second, IsOk());
  EXPECT_NE(first->version, second->version);
  absl::StatusOr<std::string> token =
      fake_->IssueAccessToken("https://vault.azure.net");
  ASSERT_THAT(token, IsOk());
  ASSERT_THAT(fake_->ClearRequests(), IsOk());
  AzureFault throttle = AzureFault::Status(AzureFault::Operation::kGet, 429);
  throttle.retry_after_seconds = 2;
  ASSERT_THAT(fake_->QueueFault(throttle), IsOk());

  const TestHttpResponse throttled =
      CallKeys(fake_->vault_endpoint(), "GET", "kek", *token);
  const TestHttpResponse latest =
      CallKeys(fake_->vault_endpoint(), "GET", "kek", *token);
  ASSERT_THAT(fake_->SetVersionEnabled(AzureVault::kKeyVault, "kek",
                                       second->version, false),
              IsOk());
  const TestHttpResponse disabled =
      CallKeys(fake_->vault_endpoint(), "GET", "kek", *token);
  ASSERT_THAT(fake_->SetDenied(AzureVault::kKeyVault, "kek", true), IsOk());
  const TestHttpResponse denied = CallKeys(
      fake_->vault_endpoint(), "GET", StrCat("kek/", first->version), *token);
  ASSERT_THAT(fake_->ExpireTokens(), IsOk());
  const TestHttpResponse expired =
      CallKeys(fake_->vault_endpoint(), "GET", "kek", *token);

  EXPECT_EQ(throttled.status, 429) << throttled.body;
  EXPECT_THAT(throttled.headers, HasSubstr("Retry-After: 2"));
  EXPECT_THAT(throttled.body, HasSubstr("\"Throttled\""));
  EXPECT_EQ(latest.status, 200) << latest.body;
  EXPECT_EQ(ParseJson(latest.body)["key"].value("kid", ""), second->kid);
  EXPECT_EQ(disabled.status, 403) << disabled.body;
  EXPECT_THAT(disabled.body, HasSubstr("KeyDisabled"));
  EXPECT_EQ(denied.status, 403) << denied.body;
  EXPECT_THAT(denied.body, HasSubstr("ForbiddenByRbac"));
  EXPECT_EQ(expired.status, 401) << expired.body;
  absl::StatusOr<std::vector<AzureRequestRecord>> records = fake_->Requests();
  ASSERT_THAT(records, IsOk());
  ASSERT_EQ(records->size(), 5u);
  EXPECT_EQ((*records)[0].role, "vault");
  EXPECT_EQ((*records)[0].operation, "get");
  EXPECT_EQ((*records)[0].key, "kek");
  EXPECT_EQ((*records)[0].fault, "status");
  EXPECT_EQ((*records)[0].error_code, "Throttled");
  EXPECT_EQ((*records)[1].version, second->version);
  EXPECT_EQ((*records)[1].api_version, "7.5");
  EXPECT_EQ((*records)[2].inner_error, "KeyDisabled");
  EXPECT_EQ((*records)[3].inner_error, "ForbiddenByRbac");
  EXPECT_EQ((*records)[4].authorization, "expired");
  EXPECT_THAT(fake_->SetVersionEnabled(AzureVault::kKeyVault, "kek",
                                       "no-such-version", true),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST_F(AzureFakeSmokeTest, RegisteredClientGetsTokens) {
  ASSERT_THAT(fake_->RegisterClient("other-tenant", "other-app",
                                    "FakeAzureSecret+other/="),
              IsOk());
  ASSERT_THAT(
      fake_->QueueFault(AzureFault::Status(AzureFault::Operation::kToken, 503)),
      IsOk());
  const std::string url =
      StrCat(fake_->authority_host(), "/other-tenant/oauth2/v2.0/token");
  const std::string form =
      StrCat("grant_type=client_credentials&client_id=other-app&client_secret=",
             FormEncode("FakeAzureSecret+other/="),
             "&scope=", FormEncode(kVaultScope));
  const std::vector<std::string> headers = {
      "Content-Type: application/x-www-form-urlencoded"};

  const TestHttpResponse unavailable =
      SendTestHttpRequest("POST", url, headers, form);
  const TestHttpResponse served =
      SendTestHttpRequest("POST", url, headers, form);

  EXPECT_EQ(unavailable.status, 503) << unavailable.body;
  EXPECT_EQ(served.status, 200) << served.body;
  absl::StatusOr<std::vector<AzureRequestRecord>> records = fake_->Requests();
  ASSERT_THAT(records, IsOk());
  ASSERT_EQ(records->size(), 2u);
  EXPECT_EQ((*records)[1].role, "entra");
  EXPECT_EQ((*records)[1].tenant, "other-tenant");
  EXPECT_EQ((*records)[1].client_id, "other-app");
  EXPECT_EQ((*records)[1].scope, kVaultScope);
}

TEST(AzureFakeTlsTest, VerifiedHttpsRoundTrip) {
  AzureFakeOptions options;
  options.tls = true;
  DEKMS_ASSIGN_EMULATOR_OR_SKIP(std::unique_ptr<AzureFake> fake,
                                StartAzureFake(options));
  ASSERT_THAT(fake->vault_endpoint(), StartsWith("https://127.0.0.1:"));
  ASSERT_THAT(fake->managed_hsm_endpoint(), StartsWith("https://127.0.0.1:"));
  ASSERT_FALSE(fake->ca_file().empty());
  absl::StatusOr<AzureKeyVersion> key = fake->CreateKey(AzureKeySpec{});
  ASSERT_THAT(key, IsOk());
  absl::StatusOr<std::string> token =
      fake->IssueAccessToken("https://vault.azure.net");
  ASSERT_THAT(token, IsOk());

  ExpectWrapRoundTrip(fake->vault_endpoint(), "kek", key->kid, "RSA-OAEP-256",
                      "a data encryption key over TLS", *token,
                      fake->ca_file());

  // Without the fake's CA the certificate does not verify.
  const TestHttpResponse untrusted = SendWithCaFile(
      "GET", StrCat(fake->vault_endpoint(), "/keys/kek?", kApiVersion),
      {StrCat("Authorization: Bearer ", *token)}, "",
      /*ca_file=*/"");
  EXPECT_EQ(untrusted.curl_code, CURLE_PEER_FAILED_VERIFICATION)
      << untrusted.curl_error;
}

TEST(AzureFakeStartTest, MissingInterpreterIsToolsMissing) {
  EmulatorTools tools;
  tools.python = "/nonexistent/venv/bin/python3";
  tools.emulators_dir = DEKMS_SOURCE_DIR "/tests/emulators";

  absl::StatusOr<std::unique_ptr<AzureFake>> fake = StartAzureFake(tools);

  ASSERT_FALSE(fake.ok());
  EXPECT_TRUE(IsTestToolsMissing(fake.status())) << fake.status();
}

}  // namespace
}  // namespace dekms::testing
