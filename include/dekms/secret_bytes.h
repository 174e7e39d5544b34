#ifndef DEKMS_INCLUDE_DEKMS_SECRET_BYTES_H_
#define DEKMS_INCLUDE_DEKMS_SECRET_BYTES_H_

#include <cstddef>
#include <cstdint>
#include <iosfwd>
#include <memory>
#include <span>
#include <string_view>

namespace dekms {

// An owned buffer of key material: master secrets, salts, DEKs, KEKs and
// credentials.
//
// Move-only. Copies are made only by an explicit Clone(). The bytes are
// overwritten with zeros (OPENSSL_cleanse, which the compiler may not elide)
// when the object is destroyed, assigned over, or moved from. A moved-from
// object is empty.
//
// The type has no stream operator, fmt formatter or AbslStringify overload,
// so a secret cannot be logged or formatted by accident: such code does not
// compile. Reveal() is the one accessor for the raw bytes; grep for it to
// find every place where key material leaves the container.
//
// Thread-compatible: concurrent const calls are safe, and any mutation needs
// external synchronisation.
class SecretBytes {
 public:
  // An empty buffer.
  SecretBytes() = default;

  // A buffer of `size_bytes` zero bytes.
  explicit SecretBytes(size_t size_bytes);

  // A buffer holding a copy of `bytes`. The caller remains responsible for
  // wiping its own copy.
  static SecretBytes CopyFrom(std::span<const uint8_t> bytes);
  static SecretBytes CopyFrom(std::string_view bytes);

  SecretBytes(SecretBytes&& other) noexcept;
  SecretBytes& operator=(SecretBytes&& other) noexcept;
  SecretBytes(const SecretBytes&) = delete;
  SecretBytes& operator=(const SecretBytes&) = delete;
  ~SecretBytes();

  // Returns a deep copy. Named so that every copy of a secret is visible.
  [[nodiscard]] SecretBytes Clone() const;

  // Compares contents in time that depends only on the sizes, never on the
  // bytes. Sizes are not treated as secret.
  [[nodiscard]] bool Equals(const SecretBytes& other) const;

  [[nodiscard]] size_t size() const { return size_; }
  [[nodiscard]] bool empty() const { return size_ == 0; }

  // Returns a view of the raw key material. The view is valid until this
  // object is destroyed, assigned over or moved from. Never log or print it.
  [[nodiscard]] std::span<const uint8_t> Reveal() const {
    return {data_.get(), size_};
  }
  [[nodiscard]] std::span<uint8_t> Reveal() { return {data_.get(), size_}; }

  // Printing or formatting a secret is a bug, so it fails to compile.
  friend std::ostream& operator<<(std::ostream&, const SecretBytes&) = delete;

 private:
  void Wipe() noexcept;

  std::unique_ptr<uint8_t[]> data_;
  size_t size_ = 0;
};

}  // namespace dekms

#endif  // DEKMS_INCLUDE_DEKMS_SECRET_BYTES_H_
