#include "src/crypto/encoding.h"

#include <openssl/crypto.h>

#include <array>

#include "src/base/str_cat.h"

namespace dekms::internal {
namespace {

constexpr std::string_view kStandardChars =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr std::string_view kUrlSafeChars =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
constexpr uint8_t kInvalid = 0xff;

std::string_view CharsOf(Base64Alphabet alphabet) {
  return alphabet == Base64Alphabet::kStandard ? kStandardChars : kUrlSafeChars;
}

std::string_view NameOf(Base64Alphabet alphabet) {
  return alphabet == Base64Alphabet::kStandard ? "base64" : "base64url";
}

// Maps a character to its 6-bit value, or kInvalid outside `alphabet`.
uint8_t SextetOf(char c, Base64Alphabet alphabet) {
  if (c >= 'A' && c <= 'Z') return static_cast<uint8_t>(c - 'A');
  if (c >= 'a' && c <= 'z') return static_cast<uint8_t>(c - 'a' + 26);
  if (c >= '0' && c <= '9') return static_cast<uint8_t>(c - '0' + 52);
  const std::string_view chars = CharsOf(alphabet);
  if (c == chars[62]) return 62;
  if (c == chars[63]) return 63;
  return kInvalid;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

SecretBytes EncodeBase64(std::span<const uint8_t> bytes,
                         Base64Alphabet alphabet) {
  const std::string_view chars = CharsOf(alphabet);
  SecretBytes text((bytes.size() + 2) / 3 * 4);
  std::span<uint8_t> out = text.Reveal();
  size_t o = 0;
  size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    const uint32_t group = (uint32_t{bytes[i]} << 16) |
                           (uint32_t{bytes[i + 1]} << 8) | bytes[i + 2];
    out[o++] = chars[(group >> 18) & 0x3f];
    out[o++] = chars[(group >> 12) & 0x3f];
    out[o++] = chars[(group >> 6) & 0x3f];
    out[o++] = chars[group & 0x3f];
  }
  const size_t rest = bytes.size() - i;
  if (rest > 0) {
    uint32_t group = uint32_t{bytes[i]} << 16;
    if (rest == 2) group |= uint32_t{bytes[i + 1]} << 8;
    out[o++] = chars[(group >> 18) & 0x3f];
    out[o++] = chars[(group >> 12) & 0x3f];
    out[o++] = rest == 2 ? chars[(group >> 6) & 0x3f] : '=';
    out[o++] = '=';
  }
  return text;
}

absl::StatusOr<SecretBytes> DecodeBase64(std::string_view text,
                                         Base64Alphabet alphabet,
                                         std::string_view what) {
  // Split off the padding, then check that it fits the unpadded length.
  size_t data_len = text.size();
  while (data_len > 0 && text[data_len - 1] == '=') {
    --data_len;
  }
  const size_t padding = text.size() - data_len;
  const size_t tail = data_len % 4;
  if (tail == 1) {
    return absl::InvalidArgumentError(
        StrCat(what, " is not valid ", NameOf(alphabet), ": its length of ",
               data_len, " characters is not produced by any encoding"));
  }
  if (padding > 0 && (padding > 2 || (tail + padding) % 4 != 0)) {
    return absl::InvalidArgumentError(StrCat(
        what, " is not valid ", NameOf(alphabet),
        ": the '=' padding does not complete the last group of 4 characters"));
  }

  SecretBytes out(data_len / 4 * 3 + (tail == 0 ? 0 : tail - 1));
  std::span<uint8_t> bytes = out.Reveal();
  size_t o = 0;
  uint32_t group = 0;
  int sextets = 0;
  for (size_t i = 0; i < data_len; ++i) {
    const uint8_t value = SextetOf(text[i], alphabet);
    if (value == kInvalid) {
      std::string hint;
      if (alphabet == Base64Alphabet::kUrlSafe &&
          (text[i] == '+' || text[i] == '/' || text[i] == ' ')) {
        hint =
            "; it looks like standard base64, so replace '+' with '-' and "
            "'/' with '_'";
      } else if (text[i] == '=') {
        hint = "; '=' may appear only as padding at the end";
      }
      return absl::InvalidArgumentError(
          StrCat(what, " is not valid ", NameOf(alphabet),
                 ": the character at offset ", i, " is outside the ",
                 NameOf(alphabet), " alphabet", hint));
    }
    group = (group << 6) | value;
    if (++sextets == 4) {
      bytes[o++] = static_cast<uint8_t>(group >> 16);
      bytes[o++] = static_cast<uint8_t>(group >> 8);
      bytes[o++] = static_cast<uint8_t>(group);
      group = 0;
      sextets = 0;
    }
  }
  if (sextets == 2) {
    bytes[o++] = static_cast<uint8_t>(group >> 4);
  } else if (sextets == 3) {
    bytes[o++] = static_cast<uint8_t>(group >> 10);
    bytes[o++] = static_cast<uint8_t>(group >> 2);
  }
  OPENSSL_cleanse(&group, sizeof(group));
  return out;
}

SecretBytes EncodeHex(std::span<const uint8_t> bytes) {
  constexpr std::string_view kDigits = "0123456789abcdef";
  SecretBytes text(bytes.size() * 2);
  std::span<uint8_t> out = text.Reveal();
  for (size_t i = 0; i < bytes.size(); ++i) {
    out[2 * i] = kDigits[bytes[i] >> 4];
    out[2 * i + 1] = kDigits[bytes[i] & 0x0f];
  }
  return text;
}

absl::StatusOr<SecretBytes> DecodeHex(std::string_view text,
                                      std::string_view what) {
  if (text.size() % 2 != 0) {
    return absl::InvalidArgumentError(
        StrCat(what, " is not valid hex: it has an odd number of characters (",
               text.size(), ")"));
  }
  SecretBytes out(text.size() / 2);
  std::span<uint8_t> bytes = out.Reveal();
  for (size_t i = 0; i < bytes.size(); ++i) {
    const int high = HexValue(text[2 * i]);
    const int low = HexValue(text[2 * i + 1]);
    if (high < 0 || low < 0) {
      return absl::InvalidArgumentError(
          StrCat(what, " is not valid hex: the character at offset ",
                 high < 0 ? 2 * i : 2 * i + 1, " is not a hex digit"));
    }
    bytes[i] = static_cast<uint8_t>((high << 4) | low);
  }
  return out;
}

void WipeString(std::string& text) {
  if (!text.empty()) {
    OPENSSL_cleanse(text.data(), text.size());
  }
  text.clear();
}

}  // namespace dekms::internal
