#include "tests/testing/subprocess.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "src/base/str_cat.h"

extern char** environ;  // NOLINT(readability-redundant-declaration)

namespace dekms::testing {

absl::StatusOr<std::unique_ptr<Subprocess>> Subprocess::Start(
    const std::vector<std::string>& argv, const std::vector<std::string>& env,
    Stdin stdin_mode) {
  if (argv.empty()) {
    return absl::InvalidArgumentError("argv is empty");
  }
  int out_pipe[2];
  int err_pipe[2];
  if (pipe2(out_pipe, O_CLOEXEC) != 0 || pipe2(err_pipe, O_CLOEXEC) != 0) {
    return absl::InternalError(StrCat("pipe2: ", std::strerror(errno)));
  }
  int in_pipe[2] = {-1, -1};
  if (stdin_mode == Stdin::kPipe && pipe2(in_pipe, O_CLOEXEC) != 0) {
    const int error = errno;
    for (const int fd : {out_pipe[0], out_pipe[1], err_pipe[0], err_pipe[1]}) {
      close(fd);
    }
    return absl::InternalError(StrCat("pipe2: ", std::strerror(error)));
  }

  // Build argv and envp before fork, so the child only calls async-signal-
  // safe functions.
  std::vector<char*> args;
  args.reserve(argv.size() + 1);
  for (const std::string& arg : argv) {
    args.push_back(const_cast<char*>(arg.c_str()));
  }
  args.push_back(nullptr);
  // An entry of `env` replaces an inherited variable of the same name.
  // Appending both would leave the inherited one first, and getenv()
  // returns the first match, so a test's override of, say, an endpoint
  // variable set on the machine would silently not apply.
  const auto name_of = [](std::string_view entry) {
    return entry.substr(0, entry.find('='));
  };
  std::vector<std::string> env_strings;
  for (char** entry = environ; *entry != nullptr; ++entry) {
    const std::string_view inherited(*entry);
    const bool overridden =
        std::any_of(env.begin(), env.end(), [&](const std::string& wanted) {
          return name_of(wanted) == name_of(inherited);
        });
    if (!overridden) {
      env_strings.emplace_back(inherited);
    }
  }
  env_strings.insert(env_strings.end(), env.begin(), env.end());
  std::vector<char*> envp;
  envp.reserve(env_strings.size() + 1);
  for (const std::string& entry : env_strings) {
    envp.push_back(const_cast<char*>(entry.c_str()));
  }
  envp.push_back(nullptr);

  const pid_t pid = fork();
  if (pid < 0) {
    return absl::InternalError(StrCat("fork: ", std::strerror(errno)));
  }
  if (pid == 0) {
    const int stdin_source =
        in_pipe[0] >= 0 ? in_pipe[0] : open("/dev/null", O_RDONLY);
    dup2(stdin_source, STDIN_FILENO);
    dup2(out_pipe[1], STDOUT_FILENO);
    dup2(err_pipe[1], STDERR_FILENO);
    // Signals blocked in the test runner must not stay blocked in the child.
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    execve(args[0], args.data(), envp.data());
    _exit(127);
  }
  close(out_pipe[1]);
  close(err_pipe[1]);
  if (in_pipe[0] >= 0) close(in_pipe[0]);
  return std::unique_ptr<Subprocess>(
      new Subprocess(pid, out_pipe[0], err_pipe[0], in_pipe[1]));
}

Subprocess::Subprocess(pid_t pid, int stdout_fd, int stderr_fd, int stdin_fd)
    : pid_(pid), stdin_fd_(stdin_fd) {
  stdout_reader_ =
      std::thread([this, stdout_fd] { ReadPipe(stdout_fd, &stdout_); });
  stderr_reader_ =
      std::thread([this, stderr_fd] { ReadPipe(stderr_fd, &stderr_); });
}

Subprocess::~Subprocess() {
  CloseStdin();
  if (!reaped_) {
    kill(pid_, SIGKILL);
    static_cast<void>(Wait(absl::Seconds(10)));
  }
  if (stdout_reader_.joinable()) stdout_reader_.join();
  if (stderr_reader_.joinable()) stderr_reader_.join();
}

void Subprocess::ReadPipe(int fd, std::string* sink) {
  char buffer[4096];
  while (true) {
    const ssize_t n = read(fd, buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    absl::MutexLock lock(&mu_);
    sink->append(buffer, static_cast<size_t>(n));
  }
  close(fd);
  absl::MutexLock lock(&mu_);
  --open_pipes_;
}

bool Subprocess::WaitForStderr(std::string_view text, absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  auto done = [this, text]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return stderr_.find(text) != std::string::npos || open_pipes_ == 0;
  };
  mu_.AwaitWithTimeout(absl::Condition(&done), timeout);
  return stderr_.find(text) != std::string::npos;
}

std::optional<std::string> Subprocess::WaitForStdoutLine(
    std::string_view prefix, absl::Duration timeout) {
  // Returns the position of the first whole line that starts with `prefix`.
  auto find_line = [this, prefix]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    size_t line_start = 0;
    while (line_start < stdout_.size()) {
      const size_t line_end = stdout_.find('\n', line_start);
      if (line_end == std::string::npos) break;
      if (std::string_view(stdout_)
              .substr(line_start, line_end - line_start)
              .starts_with(prefix)) {
        return line_start;
      }
      line_start = line_end + 1;
    }
    return std::string::npos;
  };
  absl::MutexLock lock(&mu_);
  auto done = [this, &find_line]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return find_line() != std::string::npos || open_pipes_ == 0;
  };
  mu_.AwaitWithTimeout(absl::Condition(&done), timeout);
  const size_t line_start = find_line();
  if (line_start == std::string::npos) return std::nullopt;
  return stdout_.substr(line_start,
                        stdout_.find('\n', line_start) - line_start);
}

void Subprocess::CloseStdin() {
  if (stdin_fd_ >= 0) {
    close(stdin_fd_);
    stdin_fd_ = -1;
  }
}

void Subprocess::Signal(int signal_number) {
  if (!reaped_) {
    kill(pid_, signal_number);
  }
}

absl::StatusOr<int> Subprocess::Wait(absl::Duration timeout) {
  if (reaped_) {
    return exit_code_;
  }
  const absl::Time deadline = absl::Now() + timeout;
  int status = 0;
  while (true) {
    const pid_t result = waitpid(pid_, &status, WNOHANG);
    if (result == pid_) break;
    if (result < 0 && errno != EINTR) {
      return absl::InternalError(StrCat("waitpid: ", std::strerror(errno)));
    }
    if (absl::Now() > deadline) {
      kill(pid_, SIGKILL);
      waitpid(pid_, &status, 0);
      reaped_ = true;
      exit_code_ = 128 + SIGKILL;
      return absl::DeadlineExceededError(
          StrCat("process ", pid_, " did not exit within ",
                 absl::FormatDuration(timeout), "; it was killed"));
    }
    absl::SleepFor(absl::Milliseconds(10));
  }
  reaped_ = true;
  exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  if (stdout_reader_.joinable()) stdout_reader_.join();
  if (stderr_reader_.joinable()) stderr_reader_.join();
  return exit_code_;
}

std::string Subprocess::stdout_text() {
  absl::MutexLock lock(&mu_);
  return stdout_;
}

std::string Subprocess::stderr_text() {
  absl::MutexLock lock(&mu_);
  return stderr_;
}

absl::StatusOr<ProcessResult> RunProcess(const std::vector<std::string>& argv,
                                         const std::vector<std::string>& env,
                                         absl::Duration timeout) {
  auto process = Subprocess::Start(argv, env);
  if (!process.ok()) return process.status();
  absl::StatusOr<int> exit_code = (*process)->Wait(timeout);
  if (!exit_code.ok()) return exit_code.status();
  return ProcessResult{*exit_code, (*process)->stdout_text(),
                       (*process)->stderr_text()};
}

}  // namespace dekms::testing
