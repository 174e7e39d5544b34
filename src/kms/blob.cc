#include "src/kms/blob.h"

#include <cstdlib>
#include <limits>

#include "src/base/str_cat.h"
#include "src/crypto/aead.h"

namespace dekms::internal {
namespace {

constexpr std::string_view kMagic = "DKMB";

void AppendUint(std::string& out, uint64_t value, int bytes) {
  for (int i = bytes - 1; i >= 0; --i) {
    out.push_back(static_cast<char>((value >> (8 * i)) & 0xff));
  }
}

// Appends `field` after a length prefix of `prefix_bytes` bytes.
void AppendField(std::string& out, std::string_view field, int prefix_bytes) {
  const uint64_t max = (uint64_t{1} << (8 * prefix_bytes)) - 1;
  if (field.size() > max) {
    std::abort();  // Callers keep fields within their prefixes.
  }
  AppendUint(out, field.size(), prefix_bytes);
  out.append(field);
}

std::string SerializeHeaderPrefix(const BlobHeader& header) {
  std::string out(kMagic);
  AppendUint(out, header.version, 1);
  AppendUint(out, static_cast<uint8_t>(header.algorithm), 1);
  AppendUint(out, header.dek_length, 4);
  out.append(reinterpret_cast<const char*>(header.id_digest.data()),
             header.id_digest.size());
  AppendField(out, header.provider, 1);
  AppendField(out, header.key_id, 2);
  return out;
}

// Reads big-endian fields from a blob. Each read returns false, and reads
// nothing, when the blob ends before the field does.
class Reader {
 public:
  explicit Reader(std::string_view bytes) : bytes_(bytes) {}

  bool ReadUint(int size, uint64_t* value) {
    if (!Has(static_cast<size_t>(size))) return false;
    *value = 0;
    for (int i = 0; i < size; ++i) {
      *value = (*value << 8) | static_cast<uint8_t>(bytes_[offset_++]);
    }
    return true;
  }

  bool ReadBytes(size_t size, std::string_view* out) {
    if (!Has(size)) return false;
    *out = bytes_.substr(offset_, size);
    offset_ += size;
    return true;
  }

  bool ReadField(int prefix_bytes, std::string* out) {
    uint64_t size = 0;
    std::string_view field;
    if (!ReadUint(prefix_bytes, &size) || !ReadBytes(size, &field)) {
      return false;
    }
    *out = std::string(field);
    return true;
  }

  [[nodiscard]] size_t offset() const { return offset_; }
  [[nodiscard]] size_t remaining() const { return bytes_.size() - offset_; }

 private:
  bool Has(size_t size) const { return size <= bytes_.size() - offset_; }

  std::string_view bytes_;
  size_t offset_ = 0;
};

absl::Status Truncated(std::string_view field, const Reader& reader,
                       size_t total) {
  return absl::DataLossError(
      StrCat("blob is truncated: its ", total, " bytes end inside the ", field,
             " field, which starts at byte ", reader.offset()));
}

}  // namespace

std::array<uint8_t, kBlobIdDigestBytes> BlobIdDigest(std::string_view dek_id) {
  const auto digest = Sha256(AsBytes(dek_id));
  std::array<uint8_t, kBlobIdDigestBytes> out{};
  std::copy_n(digest.begin(), out.size(), out.begin());
  return out;
}

std::string BlobAssociatedData(const BlobHeader& header,
                               std::string_view dek_id) {
  std::string out = SerializeHeaderPrefix(header);
  AppendField(out, dek_id, 2);
  return out;
}

std::string SerializeBlob(const Blob& blob) {
  std::string out = SerializeHeaderPrefix(blob.header);
  AppendField(out, blob.key_version, 2);
  AppendField(out, blob.wrapped, 4);
  if (blob.header.algorithm == BlobAlgorithm::kLocalAeadLayer) {
    AppendField(out, blob.layer, 4);
  }
  return out;
}

absl::StatusOr<Blob> ParseBlob(std::string_view bytes) {
  Reader reader(bytes);
  std::string_view magic;
  if (!reader.ReadBytes(kMagic.size(), &magic)) {
    return Truncated("magic", reader, bytes.size());
  }
  if (magic != kMagic) {
    return absl::DataLossError(
        "blob does not start with the dekms magic \"DKMB\"; it is not a "
        "dekms blob or its start was overwritten");
  }

  Blob blob;
  uint64_t value = 0;
  if (!reader.ReadUint(1, &value)) {
    return Truncated("version", reader, bytes.size());
  }
  if (value != kBlobFormatVersion) {
    return absl::DataLossError(StrCat(
        "blob format version ", value,
        " is not supported; this dekms reads version ", int{kBlobFormatVersion},
        value > kBlobFormatVersion ? ", so upgrade dekms to read it" : ""));
  }
  blob.header.version = static_cast<uint8_t>(value);

  if (!reader.ReadUint(1, &value)) {
    return Truncated("algorithm", reader, bytes.size());
  }
  if (value != static_cast<uint8_t>(BlobAlgorithm::kKekAead) &&
      value != static_cast<uint8_t>(BlobAlgorithm::kLocalAeadLayer)) {
    return absl::DataLossError(
        StrCat("blob names unknown wrapping algorithm ", value,
               "; the blob is corrupted, or a newer dekms wrote it"));
  }
  blob.header.algorithm = static_cast<BlobAlgorithm>(value);

  if (!reader.ReadUint(4, &value)) {
    return Truncated("DEK length", reader, bytes.size());
  }
  blob.header.dek_length = static_cast<uint32_t>(value);
  std::string_view digest;
  if (!reader.ReadBytes(kBlobIdDigestBytes, &digest)) {
    return Truncated("ID digest", reader, bytes.size());
  }
  std::copy(digest.begin(), digest.end(), blob.header.id_digest.begin());
  if (!reader.ReadField(1, &blob.header.provider)) {
    return Truncated("provider", reader, bytes.size());
  }
  if (!reader.ReadField(2, &blob.header.key_id)) {
    return Truncated("key id", reader, bytes.size());
  }
  if (!reader.ReadField(2, &blob.key_version)) {
    return Truncated("key version", reader, bytes.size());
  }
  if (!reader.ReadField(4, &blob.wrapped)) {
    return Truncated("wrapped", reader, bytes.size());
  }
  if (blob.header.algorithm == BlobAlgorithm::kLocalAeadLayer &&
      !reader.ReadField(4, &blob.layer)) {
    return Truncated("layer", reader, bytes.size());
  }
  if (reader.remaining() != 0) {
    return absl::DataLossError(StrCat(
        "blob has ", reader.remaining(),
        reader.remaining() == 1 ? " unexpected byte" : " unexpected bytes",
        " after its last field"));
  }
  return blob;
}

}  // namespace dekms::internal
