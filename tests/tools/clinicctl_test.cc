// clinicctl as a user runs it: the real binary in a child process, checked
// for exit codes (0 ok, 1 runtime error, 2 usage), help text, messages that
// name what was wrong, and secrets kept off stdout/stderr.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "support/temp_dir.h"
#include "tools/run_tool.h"

namespace {

namespace fs = std::filesystem;
using ::pulse::testing::RunTool;
using ::pulse::testing::ToolRun;

constexpr const char* kSite = "0190c0de-0000-7000-8000-0000000000aa";
constexpr const char* kPassphrase = "clinic passphrase for tests";

class ClinicctlTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    root_ = pulse::testing::TempRoot() / (std::string("clinicctl_") + info->name());
    fs::remove_all(root_);
    fs::create_directories(root_);
    dir_ = (root_ / "clinic").string();
  }
  void TearDown() override { fs::remove_all(root_); }

  ToolRun Run(const std::vector<std::string>& args,
              std::map<std::string, std::string> env = {}) {
    // The caller's environment must not leak secrets into the test.
    env.emplace("PULSE_PASSPHRASE", kPassphrase);
    env.emplace("PULSE_USER_PASSWORD", "");
    return RunTool(CLINICCTL_BINARY, args, root_, env);
  }
  // A cheap key file: the test is about the tool, not Argon2's cost.
  ToolRun Init() {
    return Run({"init", "--dir", dir_, "--site", kSite, "--kdf-mem-mib", "8",
                "--kdf-ops", "1"});
  }

  fs::path root_;
  std::string dir_;
};

TEST_F(ClinicctlTest, UsageErrorsExitTwoNamingTheProblem) {
  struct Case {
    std::vector<std::string> args;
    std::string says;
  };
  const std::vector<Case> cases = {
      {{}, "no command"},
      {{"frobnicate"}, "unknown command 'frobnicate'"},
      {{"init", "--dir", "x"}, "missing --site"},
      {{"init", "--dir", "x", "--site", kSite, "--colour", "red"},
       "unknown option '--colour'"},
      {{"init", "--dir"}, "needs a value"},
      {{"init", "--dir", "x", "--site", "not-a-uuid"}, "--site: not a UUID"},
      {{"patient"}, "add, list or set"},
      {{"patient", "remove", "--dir", "x"}, "unknown patient command 'remove'"},
      {{"patient", "set", "--dir", "x", "--user", "u", "--id", "p", "--field",
        "blood_type", "--value", "0"},
       "unknown patient field 'blood_type'"},
      {{"sync", "--dir", "x", "--server", "https://h", "--user", "u",
        "--batch-size", "many"},
       "--batch-size: not a positive number"},
  };
  for (const Case& c : cases) {
    const ToolRun run = Run(c.args);
    ASSERT_TRUE(run.exited);
    EXPECT_EQ(run.exit_code, 2) << c.says;
    EXPECT_NE(run.err.find(c.says), std::string::npos)
        << "stderr: " << run.err;
    EXPECT_TRUE(run.out.empty());
  }
}

TEST_F(ClinicctlTest, EveryCommandHasHelp) {
  const std::vector<std::vector<std::string>> commands = {
      {"--help"},       {"init", "--help"},         {"patient", "add", "--help"},
      {"patient", "list", "--help"}, {"patient", "set", "--help"},
      {"sync", "--help"}, {"status", "--help"},     {"conflicts", "--help"}};
  for (const auto& args : commands) {
    const ToolRun run = Run(args);
    ASSERT_TRUE(run.exited);
    EXPECT_EQ(run.exit_code, 0) << args[0];
    EXPECT_EQ(run.out.rfind("usage: clinicctl", 0), 0u) << run.out;
  }
  EXPECT_NE(Run({"sync", "--help"}).out.find("--server"), std::string::npos);
}

TEST_F(ClinicctlTest, InitTwiceRefusesTheSecondAndChangesNothing) {
  const ToolRun first = Init();
  ASSERT_EQ(first.exit_code, 0) << first.err;
  EXPECT_NE(first.out.find(kSite), std::string::npos);
  const auto key_before = pulse::testing::ReadFileText(fs::path(dir_) / "replica.key");

  const ToolRun second = Init();
  EXPECT_EQ(second.exit_code, 1);
  EXPECT_NE(second.err.find("already holds a replica"), std::string::npos)
      << second.err;
  EXPECT_EQ(pulse::testing::ReadFileText(fs::path(dir_) / "replica.key"),
            key_before);
  EXPECT_EQ(second.err.find(kPassphrase), std::string::npos);
}

TEST_F(ClinicctlTest, WrongOrMissingPassphraseIsAClearError) {
  ASSERT_EQ(Init().exit_code, 0);
  ToolRun run = Run({"status", "--dir", dir_},
                    {{"PULSE_PASSPHRASE", "not the passphrase"}});
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_NE(run.err.find("wrong passphrase"), std::string::npos) << run.err;
  EXPECT_EQ(run.err.find("not the passphrase"), std::string::npos);

  // From a file instead: the file wins, one trailing newline is ignored.
  const fs::path file = root_ / "pass";
  std::ofstream(file) << kPassphrase << "\n";
  run = Run({"status", "--dir", dir_, "--passphrase-file", file.string()},
            {{"PULSE_PASSPHRASE", "not the passphrase"}});
  EXPECT_EQ(run.exit_code, 0) << run.err;

  run = Run({"status", "--dir", dir_}, {{"PULSE_PASSPHRASE", ""}});
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_NE(run.err.find("PULSE_PASSPHRASE"), std::string::npos) << run.err;
}

TEST_F(ClinicctlTest, StatusJsonOnAFreshReplica) {
  ASSERT_EQ(Init().exit_code, 0);
  const ToolRun run = Run({"status", "--dir", dir_, "--json"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  const auto j = nlohmann::json::parse(run.out);
  EXPECT_EQ(j.at("site_id"), kSite);
  EXPECT_GE(j.at("schema_version").get<int>(), 1);
  EXPECT_EQ(j.at("pending_changes"), 0);
  EXPECT_EQ(j.at("unpushed_changes"), 0);
  EXPECT_EQ(j.at("pull_cursor"), 0);
  EXPECT_TRUE(j.at("last_sync_ok_ms").is_null());
  EXPECT_TRUE(j.at("last_sync_error").is_null());
}

TEST_F(ClinicctlTest, OfflineSignInNeedsASyncedUser) {
  ASSERT_EQ(Init().exit_code, 0);
  const ToolRun run =
      Run({"patient", "list", "--dir", dir_, "--user", "akinyi"},
          {{"PULSE_USER_PASSWORD", "Some-Passw0rd"}});
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_NE(run.err.find("sign-in as 'akinyi' refused"), std::string::npos)
      << run.err;
  EXPECT_EQ(run.err.find("Some-Passw0rd"), std::string::npos);
}

TEST_F(ClinicctlTest, SyncRefusesPlainHttpOffLoopbackAndReportsNoServer) {
  ASSERT_EQ(Init().exit_code, 0);
  const std::map<std::string, std::string> env = {
      {"PULSE_USER_PASSWORD", "Some-Passw0rd"}};
  ToolRun run = Run({"sync", "--dir", dir_, "--user", "u", "--server",
                     "http://sync.example.org"},
                    env);
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_NE(run.err.find("plain http is allowed only to a loopback host"),
            std::string::npos)
      << run.err;
  // Nothing listens on port 1: a transport error, recorded for status.
  run = Run({"sync", "--dir", dir_, "--user", "u", "--server",
             "http://127.0.0.1:1"},
            env);
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_NE(run.err.find("I/O error"), std::string::npos) << run.err;
  EXPECT_EQ(run.err.find("Some-Passw0rd"), std::string::npos);
  run = Run({"status", "--dir", dir_, "--json"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  const auto j = nlohmann::json::parse(run.out);
  EXPECT_NE(j.at("last_sync_error").get<std::string>().find("sync login"),
            std::string::npos);
}

}  // namespace
