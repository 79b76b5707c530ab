// Shared pieces of the end-to-end tests: the real pulse-sync-server as a
// child process (start on a free loopback port, SIGTERM, SIGKILL, restart on
// the same store), a central store seeded in-process with cheap key and
// password costs (the e2e tests are about sync, not Argon2), and clinicctl
// runs with their JSON output parsed.
//
// POSIX only (fork/exec/waitpid). Not thread-safe: one test thread drives
// the processes.
#ifndef PULSE_TESTS_E2E_E2E_SUPPORT_H_
#define PULSE_TESTS_E2E_E2E_SUPPORT_H_

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <filesystem>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "pulse/engine/key_file.h"
#include "pulse/engine/password.h"
#include "pulse/sync_server/sqlcipher_central_store.h"
#include "tools/run_tool.h"

namespace pulse::testing::e2e {

namespace fs = std::filesystem;
using ::nlohmann::json;

inline constexpr const char* kStorePassphrase = "central store passphrase e2e";
inline constexpr const char* kClinicPassphrase = "clinic passphrase e2e";
inline constexpr const char* kUserPassword = "Correct-Horse-42-battery";

// A child process started with fork/exec whose stdout is a pipe and whose
// stderr goes to `err_path`.
struct Child {
  pid_t pid = -1;
  int stdout_fd = -1;

  // Sends `sig` and reaps the child; returns its wait status.
  int SignalAndWait(int sig) {
    if (pid <= 0) return 0;
    ::kill(pid, sig);
    return Wait();
  }
  int Wait() {
    int status = 0;
    while (pid > 0 && waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    pid = -1;
    if (stdout_fd >= 0) ::close(stdout_fd);
    stdout_fd = -1;
    return status;
  }
  bool Exited() {
    if (pid <= 0) return true;
    int status = 0;
    const pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) {
      pid = -1;
      last_status = status;
      return true;
    }
    return false;
  }
  int last_status = 0;
};

// The environment of this process with `overrides` applied (an empty
// value removes the variable), as NAME=VALUE strings.
inline std::vector<std::string> Environment(
    const std::map<std::string, std::string>& overrides) {
  std::vector<std::string> out;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string entry = *e;
    const std::string name = entry.substr(0, entry.find('='));
    if (overrides.count(name) == 0) out.push_back(entry);
  }
  for (const auto& [name, value] : overrides) {
    if (!value.empty()) out.push_back(name + "=" + value);
  }
  return out;
}

// Everything the child needs is built before fork(): the tests that spawn
// run other threads (the fault proxy), and only async-signal-safe calls
// are allowed between fork and exec.
inline Child Spawn(const std::string& binary, const std::vector<std::string>& args,
                   const fs::path& err_path,
                   const std::map<std::string, std::string>& env) {
  std::vector<std::string> env_strings = Environment(env);
  std::vector<char*> envp;
  for (std::string& e : env_strings) envp.push_back(e.data());
  envp.push_back(nullptr);
  std::vector<char*> argv;
  argv.push_back(const_cast<char*>(binary.c_str()));
  for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  const std::string err_file = err_path.string();
  int fds[2];
  if (pipe(fds) != 0) throw std::runtime_error("pipe failed");
  const pid_t pid = fork();
  if (pid == 0) {
    ::close(fds[0]);
    const int err_fd = open(err_file.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (err_fd < 0 || dup2(fds[1], 1) < 0 || dup2(err_fd, 2) < 0) _exit(127);
    execve(binary.c_str(), argv.data(), envp.data());
    _exit(127);
  }
  ::close(fds[1]);
  Child c;
  c.pid = pid;
  c.stdout_fd = fds[0];
  return c;
}

// The first line the child writes to stdout, within `timeout`; nullopt if
// none came (the child died or hung).
inline std::optional<std::string> ReadLine(int fd, std::chrono::milliseconds timeout) {
  std::string line;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (poll(&p, 1, static_cast<int>(std::max<std::int64_t>(1, left.count()))) <= 0) {
      continue;
    }
    char c;
    const ssize_t n = ::read(fd, &c, 1);
    if (n <= 0) return std::nullopt;
    if (c == '\n') return line;
    line.push_back(c);
  }
  return std::nullopt;
}

// pulse-sync-server serve on 127.0.0.1:0 over one store directory.
class ServerProcess {
 public:
  ServerProcess(std::string binary, fs::path store, fs::path scratch)
      : binary_(std::move(binary)), store_(std::move(store)), scratch_(std::move(scratch)) {}
  ~ServerProcess() { Stop(); }

  // Starts the server and waits for its "listening on" line. Returns false
  // (with the stderr path in the failure message) if it does not come.
  ::testing::AssertionResult Start() {
    child_ = Spawn(binary_,
                   {"serve", "--store", store_.string(), "--listen", "127.0.0.1:0",
                    "--shutdown-grace", "5"},
                   scratch_ / "server.stderr",
                   {{"PULSE_STORE_PASSPHRASE", kStorePassphrase}});
    auto line = ReadLine(child_.stdout_fd, std::chrono::seconds(30));
    const std::string prefix = "listening on 127.0.0.1:";
    if (!line || line->rfind(prefix, 0) != 0) {
      child_.SignalAndWait(SIGKILL);
      return ::testing::AssertionFailure()
             << "server did not start; see " << (scratch_ / "server.stderr");
    }
    port_ = std::stoi(line->substr(prefix.size()));
    ++starts_;
    return ::testing::AssertionSuccess();
  }
  // SIGTERM: graceful. Returns the wait status.
  int Stop() { return child_.SignalAndWait(SIGTERM); }
  // SIGKILL: a crash.
  int Kill() { return child_.SignalAndWait(SIGKILL); }
  bool running() const { return child_.pid > 0; }
  int port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  int starts() const { return starts_; }
  const fs::path& store() const { return store_; }

 private:
  std::string binary_;
  fs::path store_;
  fs::path scratch_;
  Child child_;
  int port_ = 0;
  int starts_ = 0;
};

struct SeededCentral {
  std::string central_site;
  std::map<std::string, std::string> site_ids;  // name -> id
};

// Creates the central store at `dir` in-process with cheap key-file and
// password costs, adds `sites` and `users` (username -> {role, site name or
// ""}), and closes it, so that a server process can open it.
inline SeededCentral SeedCentralStore(
    const fs::path& dir, const std::vector<std::string>& sites,
    const std::vector<std::tuple<std::string, engine::Role, std::string>>& users) {
  sync_server::CentralStoreOptions options;
  options.kdf = engine::KdfLimits{1, engine::kMinKdfMemLimitBytes};
  options.password_cost = engine::kTestPasswordHashCost;
  auto store = sync_server::SqlcipherCentralStore::Create(dir, kStorePassphrase, options);
  if (!store) throw std::runtime_error("central store: " + store.error().ToString());
  SeededCentral out;
  out.central_site = (*store)->central_site_id();
  for (const std::string& name : sites) {
    auto id = (*store)->AddSite({name, "Rift Valley", "Africa/Nairobi"}, "");
    if (!id) throw std::runtime_error("add site: " + id.error().ToString());
    out.site_ids[name] = *id;
  }
  for (const auto& [username, role, site] : users) {
    sync_server::NewUser u;
    u.username = username;
    u.full_name = username;
    u.role = role;
    if (!site.empty()) u.site = out.site_ids.at(site);
    u.password = kUserPassword;
    auto id = (*store)->AddUser(u, "");
    if (!id) throw std::runtime_error("add user: " + id.error().ToString());
  }
  return out;
}

// One clinicctl replica directory and the account it signs in with.
struct Clinic {
  std::string name;
  std::string dir;
  std::string site;
  std::string user;
};

class Tools {
 public:
  Tools(std::string clinicctl, std::string server, fs::path scratch)
      : clinicctl_(std::move(clinicctl)), server_(std::move(server)),
        scratch_(std::move(scratch)) {}

  ToolRun Clinicctl(const std::vector<std::string>& args) const {
    return RunTool(clinicctl_, args, scratch_,
                   {{"PULSE_PASSPHRASE", kClinicPassphrase},
                    {"PULSE_USER_PASSWORD", kUserPassword}});
  }
  ToolRun Server(const std::vector<std::string>& args) const {
    return RunTool(server_, args, scratch_,
                   {{"PULSE_STORE_PASSPHRASE", kStorePassphrase},
                    {"PULSE_USER_PASSWORD", ""}});
  }
  // Runs clinicctl with --json and parses stdout; fails the test (and
  // returns null) on a non-zero exit.
  json ClinicctlJson(std::vector<std::string> args) const {
    args.push_back("--json");
    const ToolRun run = Clinicctl(args);
    EXPECT_TRUE(run.exited && run.exit_code == 0)
        << "clinicctl " << args[0] << " failed (" << run.exit_code << "): " << run.err;
    if (!run.exited || run.exit_code != 0) return nullptr;
    return json::parse(run.out, nullptr, false);
  }
  const std::string& clinicctl() const { return clinicctl_; }
  const std::string& server() const { return server_; }

  void InitClinic(const Clinic& c) const {
    const ToolRun run = Clinicctl({"init", "--dir", c.dir, "--site", c.site,
                                   "--kdf-mem-mib", "8", "--kdf-ops", "1"});
    ASSERT_EQ(run.exit_code, 0) << run.err;
  }
  // One `clinicctl sync`; the parsed counts, or null on failure.
  json Sync(const Clinic& c, const std::string& url) const {
    return ClinicctlJson({"sync", "--dir", c.dir, "--server", url, "--user", c.user});
  }
  std::string Hash(const Clinic& c, const std::string& site = "") const {
    std::vector<std::string> args = {"hash", "--dir", c.dir};
    if (!site.empty()) {
      args.push_back("--site");
      args.push_back(site);
    }
    const json j = ClinicctlJson(args);
    return j.is_object() ? j.at("hash").get<std::string>() : "";
  }
  // pulse-sync-server state-hash (the server must be stopped).
  json CentralState(const fs::path& store, const std::string& site = "") const {
    std::vector<std::string> args = {"state-hash", "--store", store.string()};
    if (!site.empty()) {
      args.push_back("--site");
      args.push_back(site);
    }
    const ToolRun run = Server(args);
    EXPECT_EQ(run.exit_code, 0) << run.err;
    if (run.exit_code != 0) return nullptr;
    return json::parse(run.out, nullptr, false);
  }

 private:
  std::string clinicctl_;
  std::string server_;
  fs::path scratch_;
};

}  // namespace pulse::testing::e2e

#endif  // PULSE_TESTS_E2E_E2E_SUPPORT_H_
