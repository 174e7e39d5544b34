// Client-side cost of an AWS call: signing a KMS or S3 request with
// Signature Version 4, and parsing a KMS Decrypt reply into wiped memory.
// Network and server time are not included.

#include <benchmark/benchmark.h>

#include <string>

#include "src/cloud/aws/sigv4.h"
#include "src/cloud/secret_json.h"

namespace dekms::internal {
namespace {

AwsCredentials TestCredentials(bool session) {
  AwsCredentials credentials;
  credentials.access_key_id = "AKIDEXAMPLE";
  credentials.secret_access_key = SecretBytes::CopyFrom(
      std::string_view("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"));
  if (session) {
    credentials.session_token = SecretBytes::CopyFrom(std::string(700, 't'));
  }
  return credentials;
}

// A KMS Encrypt request of a 32-byte DEK with its encryption context.
void BM_SignKmsEncrypt(benchmark::State& state) {
  const AwsCredentials credentials = TestCredentials(state.range(0) != 0);
  const std::string body =
      R"({"KeyId":"arn:aws:kms:eu-central-1:111122223333:key/)"
      R"(1234abcd-12ab-34cd-56ef-1234567890ab","Plaintext":")" +
      std::string(44, 'A') +
      R"(","EncryptionContext":{"dekms:associated-data":")" +
      std::string(120, 'B') + R"("}})";
  SigV4Options options{"eu-central-1", "kms", false};
  const absl::Time now = absl::FromUnixSeconds(1767225600);
  for (auto _ : state) {
    HttpRequest request;
    request.method = "POST";
    request.url = "https://kms.eu-central-1.amazonaws.com/";
    request.SetHeader("Content-Type", "application/x-amz-json-1.1");
    request.SetHeader("X-Amz-Target", "TrentService.Encrypt");
    request.body = SecretBytes::CopyFrom(body);
    benchmark::DoNotOptimize(SignAwsV4(request, credentials, options, now));
  }
}
BENCHMARK(BM_SignKmsEncrypt)->ArgName("session_token")->Arg(0)->Arg(1);

// An S3 PutObject of a 300-byte blob under a key that needs encoding.
void BM_SignS3PutObject(benchmark::State& state) {
  const AwsCredentials credentials = TestCredentials(false);
  const std::string blob(300, 'b');
  SigV4Options options{"eu-central-1", "s3", true};
  const absl::Time now = absl::FromUnixSeconds(1767225600);
  for (auto _ : state) {
    HttpRequest request;
    request.method = "PUT";
    request.url = "https://s3.eu-central-1.amazonaws.com/dekms-blobs/" +
                  AwsUriEncode("key-disk 1/volume+2", true);
    request.SetHeader("Content-Type", "application/octet-stream");
    request.SetHeader("If-None-Match", "*");
    request.SetHeader("x-amz-tagging",
                      "createdBy=dekms&component=constellation-dek-store");
    request.body = SecretBytes::CopyFrom(blob);
    benchmark::DoNotOptimize(SignAwsV4(request, credentials, options, now));
  }
}
BENCHMARK(BM_SignS3PutObject);

// Parsing a KMS Decrypt reply with the wiping JSON type.
void BM_ParseDecryptReply(benchmark::State& state) {
  const std::string reply =
      R"({"KeyId":"arn:aws:kms:eu-central-1:111122223333:key/)"
      R"(1234abcd-12ab-34cd-56ef-1234567890ab","Plaintext":")" +
      std::string(44, 'A') + R"(","EncryptionAlgorithm":"SYMMETRIC_DEFAULT"})";
  for (auto _ : state) {
    const SecretJson json = ParseSecretJson(reply);
    benchmark::DoNotOptimize(FindString(json, "Plaintext"));
  }
}
BENCHMARK(BM_ParseDecryptReply);

}  // namespace
}  // namespace dekms::internal
