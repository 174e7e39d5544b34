#ifndef DEKMS_SRC_KMS_BLOB_H_
#define DEKMS_SRC_KMS_BLOB_H_

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

// The stored form of a wrapped DEK. docs/blob_format.md documents it byte
// for byte; every change to it needs a new format version there and in
// kBlobFormatVersion.
//
// Layout, integers big-endian:
//
//   "DKMB" | version u8 | algorithm u8 | DEK length u32 | ID digest [8]
//   | provider length u8 | provider | key id length u16 | key id
//   | key version length u16 | key version | wrapped length u32 | wrapped
//   | (algorithm 2 only) layer length u32 | layer
namespace dekms::internal {

inline constexpr uint8_t kBlobFormatVersion = 1;

enum class BlobAlgorithm : uint8_t {
  // The KEK provider wraps the DEK and authenticates the associated data.
  kKekAead = 1,
  // The DEK is sealed with AES-256-GCM under a one-time key, with the
  // associated data; the KEK provider wraps the one-time key. For providers
  // whose wrap takes no associated data.
  kLocalAeadLayer = 2,
};

inline constexpr size_t kBlobIdDigestBytes = 8;

struct BlobHeader {
  uint8_t version = kBlobFormatVersion;
  BlobAlgorithm algorithm = BlobAlgorithm::kKekAead;
  uint32_t dek_length = 0;
  // First 8 bytes of SHA-256 of the DEK ID: lets a blob copied to another ID
  // be named as such in errors. The full ID is bound by the associated data.
  std::array<uint8_t, kBlobIdDigestBytes> id_digest{};
  std::string provider;
  std::string key_id;
};

struct Blob {
  BlobHeader header;
  std::string key_version;
  std::string wrapped;
  std::string layer;  // Empty unless the algorithm is kLocalAeadLayer.
};

// Returns the ID digest stored in a header for `dek_id`.
[[nodiscard]] std::array<uint8_t, kBlobIdDigestBytes> BlobIdDigest(
    std::string_view dek_id);

// Returns the associated data that binds a DEK to its ID, length, KEK and
// blob header: the header fields up to the key id, then the ID's length
// (u16) and the ID.
[[nodiscard]] std::string BlobAssociatedData(const BlobHeader& header,
                                             std::string_view dek_id);

// Serializes `blob`. Fields longer than their length prefix allows are a
// programming error and abort.
[[nodiscard]] std::string SerializeBlob(const Blob& blob);

// Parses a blob. Fails with kDataLoss when it is truncated, has trailing
// bytes, lacks the magic, or has an unknown version or algorithm. The
// message names the problem and the field.
[[nodiscard]] absl::StatusOr<Blob> ParseBlob(std::string_view bytes);

}  // namespace dekms::internal

#endif  // DEKMS_SRC_KMS_BLOB_H_
