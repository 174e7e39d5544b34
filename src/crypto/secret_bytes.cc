#include "dekms/secret_bytes.h"

#include <openssl/crypto.h>

#include <cstring>

namespace dekms {

SecretBytes::SecretBytes(size_t size_bytes)
    : data_(size_bytes == 0 ? nullptr : new uint8_t[size_bytes]()),
      size_(size_bytes) {}

SecretBytes SecretBytes::CopyFrom(std::span<const uint8_t> bytes) {
  SecretBytes out(bytes.size());
  if (!bytes.empty()) {
    std::memcpy(out.data_.get(), bytes.data(), bytes.size());
  }
  return out;
}

SecretBytes SecretBytes::CopyFrom(std::string_view bytes) {
  return CopyFrom(std::span<const uint8_t>(
      reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()));
}

SecretBytes::SecretBytes(SecretBytes&& other) noexcept
    : data_(std::move(other.data_)), size_(other.size_) {
  other.size_ = 0;
}

SecretBytes& SecretBytes::operator=(SecretBytes&& other) noexcept {
  if (this != &other) {
    Wipe();
    data_ = std::move(other.data_);
    size_ = other.size_;
    other.size_ = 0;
  }
  return *this;
}

SecretBytes::~SecretBytes() { Wipe(); }

SecretBytes SecretBytes::Clone() const { return CopyFrom(Reveal()); }

bool SecretBytes::Equals(const SecretBytes& other) const {
  if (size_ != other.size_) {
    return false;
  }
  if (size_ == 0) {
    return true;
  }
  return CRYPTO_memcmp(data_.get(), other.data_.get(), size_) == 0;
}

void SecretBytes::Wipe() noexcept {
  // Moving the unique_ptr hands the same allocation to the new owner, so a
  // moved-from object owns no bytes and needs no wipe of its own.
  if (data_ != nullptr) {
    OPENSSL_cleanse(data_.get(), size_);
    data_.reset();
  }
  size_ = 0;
}

}  // namespace dekms
