#ifndef DEKMS_TESTS_TESTING_TEMP_DIR_H_
#define DEKMS_TESTS_TESTING_TEMP_DIR_H_

#include <stdlib.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include "gtest/gtest.h"

namespace dekms::testing {

// Test fixture with a fresh temporary directory, `dir_`, removed after each
// test.
class TempDirTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = ::testing::TempDir() + "/dekms-test-XXXXXX";
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }

  void TearDown() override {
    // NOLINTNEXTLINE(concurrency-mt-unsafe): tests run one at a time.
    ASSERT_EQ(std::system(("rm -rf '" + dir_ + "'").c_str()), 0);
  }

  // Writes `contents` to `name` inside the directory and returns its path.
  std::string WriteFile(const std::string& name, const std::string& contents) {
    std::string path = dir_ + "/" + name;
    std::ofstream(path, std::ios::binary) << contents;
    return path;
  }

  std::string dir_;
};

}  // namespace dekms::testing

#endif  // DEKMS_TESTS_TESTING_TEMP_DIR_H_
