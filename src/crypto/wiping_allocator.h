#ifndef DEKMS_SRC_CRYPTO_WIPING_ALLOCATOR_H_
#define DEKMS_SRC_CRYPTO_WIPING_ALLOCATOR_H_

#include <openssl/crypto.h>

#include <cstddef>
#include <memory>
#include <string>

namespace dekms::internal {

// Allocator that zeroes memory before freeing it. Containers that may hold
// secrets use it so that growth, which copies into a new buffer and frees
// the old one, leaves no copy behind.
template <typename T>
struct WipingAllocator {
  using value_type = T;

  WipingAllocator() = default;
  template <typename U>
  WipingAllocator(const WipingAllocator<U>& /*other*/) noexcept {}  // NOLINT

  [[nodiscard]] T* allocate(size_t count) {
    return std::allocator<T>().allocate(count);
  }

  void deallocate(T* pointer, size_t count) noexcept {
    OPENSSL_cleanse(pointer, count * sizeof(T));
    std::allocator<T>().deallocate(pointer, count);
  }

  template <typename U>
  bool operator==(const WipingAllocator<U>& /*other*/) const noexcept {
    return true;
  }
};

// std::string whose heap buffer is wiped when freed. Text short enough for
// the small-string buffer lives inside the object itself, so an object that
// may hold a short secret must itself come from a WipingAllocator.
using WipingString =
    std::basic_string<char, std::char_traits<char>, WipingAllocator<char>>;

}  // namespace dekms::internal

#endif  // DEKMS_SRC_CRYPTO_WIPING_ALLOCATOR_H_
