#include "src/cloud/azure/shared_key.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "src/crypto/encoding.h"
#include "tests/testing/status_matchers.h"

namespace dekms::internal {
namespace {

using ::dekms::testing::IsOk;
using ::testing::HasSubstr;
using ::testing::StartsWith;

// The string-to-sign is spelled out line by line from the rules of the
// Shared Key scheme, so a change in canonicalization fails here even where
// a server that checks signatures is not running.
TEST(AzureSharedKeyTest, PutBlobStringToSign) {
  HttpRequest request;
  request.method = "PUT";
  request.url =
      "http://127.0.0.1:10000/devstoreaccount1/dekms/key-a%2Fb?timeout=30";
  request.SetHeader("Content-Type", "application/octet-stream");
  request.SetHeader("Content-MD5", "md5==");
  request.SetHeader("If-None-Match", "*");
  request.SetHeader("x-ms-version", "2021-08-06");
  request.SetHeader("X-MS-Blob-Type", "BlockBlob");
  request.SetHeader("x-ms-date", "Sat, 05 Dec 2026 01:02:03 GMT");
  request.SetHeader("x-ms-meta-note", "  two   spaces ");
  request.body = SecretBytes::CopyFrom(std::string_view("12345"));

  absl::StatusOr<std::string> text =
      AzureSharedKeyStringToSign(request, "devstoreaccount1");
  ASSERT_THAT(text, IsOk());
  EXPECT_EQ(*text,
            "PUT\n"
            "\n"                          // Content-Encoding
            "\n"                          // Content-Language
            "5\n"                         // Content-Length
            "md5==\n"                     // Content-MD5
            "application/octet-stream\n"  // Content-Type
            "\n"                          // Date
            "\n"                          // If-Modified-Since
            "\n"                          // If-Match
            "*\n"                         // If-None-Match
            "\n"                          // If-Unmodified-Since
            "\n"                          // Range
            "x-ms-blob-type:BlockBlob\n"
            "x-ms-date:Sat, 05 Dec 2026 01:02:03 GMT\n"
            "x-ms-meta-note:two   spaces\n"
            "x-ms-version:2021-08-06\n"
            "/devstoreaccount1/devstoreaccount1/dekms/key-a%2Fb\n"
            "timeout:30");
}

TEST(AzureSharedKeyTest, EmptyBodyAndSortedDecodedQuery) {
  HttpRequest request;
  request.method = "GET";
  request.url =
      "https://acct.blob.core.windows.net/c?restype=container&"
      "COMP=list&prefix=a%20b&include=x&include=a";
  absl::StatusOr<std::string> text =
      AzureSharedKeyStringToSign(request, "acct");
  ASSERT_THAT(text, IsOk());
  EXPECT_EQ(*text,
            "GET\n\n\n\n\n\n\n\n\n\n\n\n"
            "/acct/c\n"
            "comp:list\n"
            "include:a,x\n"
            "prefix:a b\n"
            "restype:container");
}

TEST(AzureSharedKeyTest, SignSetsDateAndAuthorization) {
  HttpRequest request;
  request.method = "GET";
  request.url = "https://acct.blob.core.windows.net/c/b";
  request.SetHeader("x-ms-version", "2021-08-06");
  const SecretBytes key = SecretBytes::CopyFrom(std::string_view("key"));
  ASSERT_THAT(SignAzureSharedKey(request, "acct", key,
                                 absl::FromUnixSeconds(1796432523)),
              IsOk());
  std::string date;
  std::string authorization;
  for (const HttpHeader& header : request.headers) {
    if (header.name == "x-ms-date") {
      date = header.value;
    }
    if (header.name == "Authorization") {
      authorization = header.value;
    }
  }
  EXPECT_EQ(date, "Sat, 05 Dec 2026 01:02:03 GMT");
  EXPECT_THAT(authorization, StartsWith("SharedKey acct:"));
  // Base64 of a 32-byte HMAC-SHA256 is 44 characters.
  EXPECT_EQ(authorization.size(), std::string("SharedKey acct:").size() + 44);
}

TEST(AzureSharedKeyTest, RejectsRelativeUrl) {
  HttpRequest request;
  request.method = "GET";
  request.url = "/c/b";
  EXPECT_THAT(AzureSharedKeyStringToSign(request, "acct").status(),
              ::dekms::testing::StatusIs(absl::StatusCode::kInvalidArgument,
                                         HasSubstr("absolute URL")));
}

}  // namespace
}  // namespace dekms::internal
