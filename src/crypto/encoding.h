#ifndef DEKMS_SRC_CRYPTO_ENCODING_H_
#define DEKMS_SRC_CRYPTO_ENCODING_H_

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "dekms/secret_bytes.h"

// Text encodings for bytes that may be secret. Encoders return their text in
// a SecretBytes, so encoded key material is wiped like the key itself.
// Decoders never put the input, or any part of it, in an error message.
namespace dekms::internal {

enum class Base64Alphabet {
  kStandard,  // RFC 4648, section 4: '+' and '/'.
  kUrlSafe,   // RFC 4648, section 5: '-' and '_'.
};

// Encodes `bytes` as base64 with '=' padding.
[[nodiscard]] SecretBytes EncodeBase64(std::span<const uint8_t> bytes,
                                       Base64Alphabet alphabet);

// Decodes base64 in `alphabet`, with or without '=' padding. Fails with
// kInvalidArgument on a character outside the alphabet, on padding that is
// not at the end or does not complete the last group, or on a length that no
// encoding produces. The message names `what` and, for a bad character, its
// offset.
[[nodiscard]] absl::StatusOr<SecretBytes> DecodeBase64(std::string_view text,
                                                       Base64Alphabet alphabet,
                                                       std::string_view what);

// Encodes `bytes` as lowercase hexadecimal.
[[nodiscard]] SecretBytes EncodeHex(std::span<const uint8_t> bytes);

// Decodes hexadecimal in either case. Fails with kInvalidArgument, naming
// `what`, on an odd length or a non-hex character.
[[nodiscard]] absl::StatusOr<SecretBytes> DecodeHex(std::string_view text,
                                                    std::string_view what);

// Returns the bytes of an encoded secret as text, for writing to a stream or
// URI. The view is valid as long as `text`.
[[nodiscard]] inline std::string_view RevealAsText(const SecretBytes& text) {
  const std::span<const uint8_t> bytes = text.Reveal();
  return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

// Overwrites the characters of `text` with zeros and clears it. For the few
// places where a third-party API hands key material over as std::string.
void WipeString(std::string& text);

}  // namespace dekms::internal

#endif  // DEKMS_SRC_CRYPTO_ENCODING_H_
