#ifndef DEKMS_TESTS_TESTING_TEST_BYTES_H_
#define DEKMS_TESTS_TESTING_TEST_BYTES_H_

#include <cstddef>
#include <string>

namespace dekms::testing {

// Returns `count` bytes counting up from `first` (wrapping at 256), a
// recognisable stand-in for a key in tests.
inline std::string SequentialBytes(int first, size_t count = 32) {
  std::string bytes;
  bytes.reserve(count);
  for (size_t i = 0; i < count; ++i) {
    bytes.push_back(static_cast<char>(first + static_cast<int>(i)));
  }
  return bytes;
}

}  // namespace dekms::testing

#endif  // DEKMS_TESTS_TESTING_TEST_BYTES_H_
