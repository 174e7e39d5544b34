#ifndef DEKMS_TESTS_TESTING_CHILD_PROCESSES_H_
#define DEKMS_TESTS_TESTING_CHILD_PROCESSES_H_

#include <sys/wait.h>
#include <unistd.h>

#include <functional>
#include <vector>

namespace dekms::testing {

// Forks `count` child processes that run `body(index)` at the same time and
// exit with its return value. Returns each child's exit code in index
// order, or -1 for a child that did not exit normally or could not start.
// For tests of what several processes do to shared files.
inline std::vector<int> RunInChildProcesses(
    int count, const std::function<int(int index)>& body) {
  std::vector<pid_t> children;
  for (int i = 0; i < count; ++i) {
    const pid_t pid = fork();
    if (pid == 0) {
      _exit(body(i));
    }
    children.push_back(pid);
  }
  std::vector<int> exit_codes;
  for (const pid_t pid : children) {
    int status = 0;
    const bool exited =
        pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status);
    exit_codes.push_back(exited ? WEXITSTATUS(status) : -1);
  }
  return exit_codes;
}

}  // namespace dekms::testing

#endif  // DEKMS_TESTS_TESTING_CHILD_PROCESSES_H_
