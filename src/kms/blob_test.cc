#include "src/kms/blob.h"

#include <string>

#include "gtest/gtest.h"
#include "src/crypto/encoding.h"
#include "tests/testdata/golden_blob.h"
#include "tests/testing/status_matchers.h"

namespace dekms::internal {
namespace {

using ::dekms::testing::IsOk;
using ::dekms::testing::StatusIs;
using ::testing::HasSubstr;

std::string GoldenBlob() {
  auto bytes = DecodeHex(::dekms::testing::kGoldenBlobHex, "golden blob");
  EXPECT_THAT(bytes, IsOk());
  return std::string(RevealAsText(*bytes));
}

TEST(ParseBlob, RejectsEveryTruncation) {
  const std::string golden = GoldenBlob();
  for (size_t size = 0; size < golden.size(); ++size) {
    EXPECT_THAT(ParseBlob(golden.substr(0, size)),
                StatusIs(absl::StatusCode::kDataLoss))
        << size;
  }
}

TEST(ParseBlob, TruncationNamesField) {
  EXPECT_THAT(ParseBlob(""), StatusIs(absl::StatusCode::kDataLoss,
                                      HasSubstr("inside the magic field")));
  EXPECT_THAT(ParseBlob(GoldenBlob().substr(0, 100)),
              StatusIs(absl::StatusCode::kDataLoss,
                       HasSubstr("inside the wrapped field")));
}

TEST(ParseBlob, RejectsTrailingBytes) {
  EXPECT_THAT(ParseBlob(GoldenBlob() + "x"),
              StatusIs(absl::StatusCode::kDataLoss,
                       HasSubstr("1 unexpected byte after")));
}

TEST(ParseBlob, RejectsMissingMagic) {
  std::string blob = GoldenBlob();
  blob[0] = 'X';
  EXPECT_THAT(ParseBlob(blob),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("magic")));
}

TEST(ParseBlob, RejectsUnknownVersion) {
  std::string blob = GoldenBlob();
  blob[4] = 2;
  EXPECT_THAT(ParseBlob(blob),
              StatusIs(absl::StatusCode::kDataLoss,
                       HasSubstr("version 2 is not supported; this dekms "
                                 "reads version 1, so upgrade dekms")));
}

TEST(ParseBlob, RejectsUnknownAlgorithm) {
  std::string blob = GoldenBlob();
  blob[5] = 9;
  EXPECT_THAT(ParseBlob(blob),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("algorithm 9")));
}

TEST(ParseBlob, ReadsGoldenBlob) {
  auto blob = ParseBlob(GoldenBlob());
  ASSERT_THAT(blob, IsOk());
  EXPECT_EQ(blob->header.version, 1);
  EXPECT_EQ(blob->header.algorithm, BlobAlgorithm::kKekAead);
  EXPECT_EQ(blob->header.dek_length, 32u);
  EXPECT_EQ(blob->header.id_digest,
            BlobIdDigest(::dekms::testing::kGoldenBlobDekId));
  EXPECT_EQ(blob->header.provider, "local");
  EXPECT_EQ(blob->header.key_id, ::dekms::testing::kGoldenBlobKeyId);
  EXPECT_EQ(blob->key_version, "");
  EXPECT_EQ(blob->wrapped.size(), 12u + 32u + 16u);
  EXPECT_TRUE(blob->layer.empty());
}

TEST(SerializeBlob, ReproducesGoldenBlob) {
  auto blob = ParseBlob(GoldenBlob());
  ASSERT_THAT(blob, IsOk());
  EXPECT_EQ(SerializeBlob(*blob), GoldenBlob());
}

TEST(SerializeBlob, RoundTripsLayerAlgorithm) {
  Blob blob;
  blob.header.algorithm = BlobAlgorithm::kLocalAeadLayer;
  blob.header.dek_length = 64;
  blob.header.id_digest = BlobIdDigest("id");
  blob.header.provider = "azure";
  blob.header.key_id = "https://vault.example/keys/k";
  blob.key_version = "v7";
  blob.wrapped = std::string(256, 'w');
  blob.layer = std::string(92, 'l');
  auto parsed = ParseBlob(SerializeBlob(blob));
  ASSERT_THAT(parsed, IsOk());
  EXPECT_EQ(parsed->header.algorithm, BlobAlgorithm::kLocalAeadLayer);
  EXPECT_EQ(parsed->header.provider, "azure");
  EXPECT_EQ(parsed->key_version, "v7");
  EXPECT_EQ(parsed->wrapped, blob.wrapped);
  EXPECT_EQ(parsed->layer, blob.layer);
}

TEST(BlobAssociatedData, BindsIdAndLength) {
  BlobHeader header;
  header.dek_length = 32;
  header.provider = "local";
  header.key_id = "k";
  const std::string base = BlobAssociatedData(header, "disk-1");
  EXPECT_NE(base, BlobAssociatedData(header, "disk-2"));
  header.dek_length = 64;
  EXPECT_NE(base, BlobAssociatedData(header, "disk-1"));
}

}  // namespace
}  // namespace dekms::internal
