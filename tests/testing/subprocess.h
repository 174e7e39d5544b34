#ifndef DEKMS_TESTS_TESTING_SUBPROCESS_H_
#define DEKMS_TESTS_TESTING_SUBPROCESS_H_

#include <sys/types.h>

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace dekms::testing {

// A child process with its stdout and stderr captured in memory, for tests
// that run the `dekms` binary. The destructor kills a child still running.
class Subprocess {
 public:
  // What the child reads on stdin.
  enum class Stdin {
    kDevNull,
    // A pipe whose write end this process closes in CloseStdin(), in the
    // destructor, or by exiting, even by SIGKILL. So a child that stops at
    // end of file ends with the test. The write end is close-on-exec, but a
    // child forked without exec keeps it open too.
    kPipe,
  };

  // Starts `argv` with the current environment plus `env` ("NAME=value"
  // entries), which replace inherited variables of the same name.
  static absl::StatusOr<std::unique_ptr<Subprocess>> Start(
      const std::vector<std::string>& argv,
      const std::vector<std::string>& env = {},
      Stdin stdin_mode = Stdin::kDevNull);

  ~Subprocess();

  [[nodiscard]] pid_t pid() const { return pid_; }

  // Waits until stderr contains `text`, the child exits, or `timeout`
  // passes. Returns whether `text` appeared.
  bool WaitForStderr(std::string_view text, absl::Duration timeout);

  // Waits until stdout contains a whole line that starts with `prefix`, the
  // child exits, or `timeout` passes. Returns the first such line without
  // its newline, or nullopt.
  std::optional<std::string> WaitForStdoutLine(std::string_view prefix,
                                               absl::Duration timeout);

  // Closes the write end of a Stdin::kPipe stdin, so the child reads end of
  // file. Does nothing for Stdin::kDevNull or when already closed.
  void CloseStdin();

  // Sends `signal_number` to the child.
  void Signal(int signal_number);

  // Waits for the child to exit and both pipes to close, killing it with
  // SIGKILL after `timeout`. Returns the exit code, or 128 + the signal
  // number when a signal ended it.
  absl::StatusOr<int> Wait(absl::Duration timeout);

  [[nodiscard]] std::string stdout_text();
  [[nodiscard]] std::string stderr_text();

 private:
  Subprocess(pid_t pid, int stdout_fd, int stderr_fd, int stdin_fd);
  void ReadPipe(int fd, std::string* sink);

  pid_t pid_;
  int stdin_fd_;
  bool reaped_ = false;
  int exit_code_ = -1;
  absl::Mutex mu_;
  std::string stdout_ ABSL_GUARDED_BY(mu_);
  std::string stderr_ ABSL_GUARDED_BY(mu_);
  int open_pipes_ ABSL_GUARDED_BY(mu_) = 2;
  std::thread stdout_reader_;
  std::thread stderr_reader_;
};

struct ProcessResult {
  int exit_code = -1;
  std::string stdout_text;
  std::string stderr_text;
};

// Runs `argv` to completion within `timeout` and returns what it printed.
absl::StatusOr<ProcessResult> RunProcess(
    const std::vector<std::string>& argv,
    const std::vector<std::string>& env = {},
    absl::Duration timeout = absl::Seconds(60));

}  // namespace dekms::testing

#endif  // DEKMS_TESTS_TESTING_SUBPROCESS_H_
