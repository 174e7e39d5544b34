#ifndef DEKMS_TESTS_INTEGRATION_DEKMS_PROCESS_H_
#define DEKMS_TESTS_INTEGRATION_DEKMS_PROCESS_H_

#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/subprocess.h"
#include "tests/testing/temp_dir.h"

namespace dekms::testing {

// Path of the dekms binary under test, set by CMake.
inline const std::string kDekmsPath = DEKMS_CLI_PATH;

// Runs the dekms binary inside a fresh temporary directory per test.
class DekmsProcessTest : public TempDirTest {
 protected:
  // Runs `dekms args...` to completion.
  ProcessResult Dekms(std::vector<std::string> args,
                      const std::vector<std::string>& env = {}) {
    args.insert(args.begin(), kDekmsPath);
    auto result = RunProcess(args, env);
    EXPECT_TRUE(result.ok()) << result.status();
    return result.ok() ? *result : ProcessResult{};
  }

  // Starts `dekms serve` on a free loopback port with `args` and returns
  // the process once it logs its address, stored in `address`.
  std::unique_ptr<Subprocess> StartServer(
      std::vector<std::string> args, std::string* address,
      const std::vector<std::string>& env = {}) {
    args.insert(args.begin(), {kDekmsPath, "serve", "--listen", "127.0.0.1:0"});
    auto process = Subprocess::Start(args, env);
    EXPECT_TRUE(process.ok()) << process.status();
    if (!process.ok()) return nullptr;
    constexpr std::string_view kMarker = "listening on ";
    EXPECT_TRUE((*process)->WaitForStderr(kMarker, absl::Seconds(30)))
        << (*process)->stderr_text();
    const std::string log = (*process)->stderr_text();
    const size_t start = log.find(kMarker);
    if (start != std::string::npos) {
      const size_t begin = start + kMarker.size();
      *address = log.substr(begin, log.find(' ', begin) - begin);
    }
    return std::move(process).value();
  }
};

}  // namespace dekms::testing

#endif  // DEKMS_TESTS_INTEGRATION_DEKMS_PROCESS_H_
