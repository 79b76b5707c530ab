// Runs a command-line tool built by this project as a child process and
// captures its exit status, stdout and stderr, so that tests see exactly
// what a user would. POSIX only (fork/exec); no shell is involved, so
// arguments need no quoting.
#ifndef PULSE_TESTS_TOOLS_RUN_TOOL_H_
#define PULSE_TESTS_TOOLS_RUN_TOOL_H_

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <vector>

namespace pulse::testing {

struct ToolRun {
  bool exited = false;  // false: killed by a signal (a crash)
  int exit_code = -1;
  int signal = 0;
  std::string out;
  std::string err;
};

inline std::string ReadFileText(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in),
                     std::istreambuf_iterator<char>());
}

// Runs `binary` with `args` in `working_dir` (empty: inherit), with
// `env_overrides` set (an empty value unsets the variable). Output goes
// through files in `scratch_dir`, which must exist.
inline ToolRun RunTool(
    const std::string& binary, const std::vector<std::string>& args,
    const std::filesystem::path& scratch_dir,
    const std::map<std::string, std::string>& env_overrides = {},
    const std::filesystem::path& working_dir = {}) {
  const auto out_path = scratch_dir / "tool.stdout";
  const auto err_path = scratch_dir / "tool.stderr";
  ToolRun run;
  const pid_t pid = fork();
  if (pid == 0) {
    const int out_fd =
        open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const int err_fd =
        open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (out_fd < 0 || err_fd < 0 || dup2(out_fd, 1) < 0 ||
        dup2(err_fd, 2) < 0) {
      _exit(127);
    }
    for (const auto& [name, value] : env_overrides) {
      if (value.empty()) {
        unsetenv(name.c_str());
      } else {
        setenv(name.c_str(), value.c_str(), 1);
      }
    }
    if (!working_dir.empty() && chdir(working_dir.c_str()) != 0) _exit(127);
    std::vector<char*> argv;
    argv.push_back(const_cast<char*>(binary.c_str()));
    for (const std::string& a : args)
      argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(binary.c_str(), argv.data());
    _exit(127);
  }
  if (pid < 0) return run;
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status)) {
    run.exited = true;
    run.exit_code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    run.signal = WTERMSIG(status);
  }
  run.out = ReadFileText(out_path);
  run.err = ReadFileText(err_path);
  return run;
}

}  // namespace pulse::testing

#endif  // PULSE_TESTS_TOOLS_RUN_TOOL_H_
