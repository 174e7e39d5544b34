#ifndef DEKMS_SRC_CRYPTO_SECRET_TEXT_H_
#define DEKMS_SRC_CRYPTO_SECRET_TEXT_H_

#include <algorithm>
#include <cstring>
#include <string_view>

#include "dekms/secret_bytes.h"

namespace dekms::internal {

// Builds text that may contain secrets, such as a URI with a master secret,
// in a SecretBytes. Growing moves the text into a larger buffer and wipes
// the old one, so no copy is left behind in freed memory, as std::string
// growth would leave one.
class SecretTextBuilder {
 public:
  void Append(std::string_view text) {
    Reserve(size_ + text.size());
    if (!text.empty()) {
      std::memcpy(buffer_.Reveal().data() + size_, text.data(), text.size());
    }
    size_ += text.size();
  }

  void Append(char c) { Append(std::string_view(&c, 1)); }

  // Returns the text built so far. The view is valid until the next
  // Append().
  [[nodiscard]] std::string_view View() const {
    return {reinterpret_cast<const char*>(buffer_.Reveal().data()), size_};
  }

  // Returns the text built so far, sized exactly.
  [[nodiscard]] SecretBytes Finish() && {
    return SecretBytes::CopyFrom(buffer_.Reveal().first(size_));
  }

 private:
  void Reserve(size_t capacity) {
    if (capacity <= buffer_.size()) {
      return;
    }
    SecretBytes larger(std::max(capacity, buffer_.size() * 2 + 64));
    if (size_ > 0) {
      std::memcpy(larger.Reveal().data(), buffer_.Reveal().data(), size_);
    }
    buffer_ = std::move(larger);  // Wipes the old buffer.
  }

  SecretBytes buffer_;
  size_t size_ = 0;
};

}  // namespace dekms::internal

#endif  // DEKMS_SRC_CRYPTO_SECRET_TEXT_H_
