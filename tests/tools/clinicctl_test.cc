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

#include "e2e/e2e_support.h"
#include "support/temp_dir.h"
#include "support/test_data.h"
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
      {{"hash", "--dir", "x", "--site", "nope"}, "--site: not a UUID"},
      {{"record", "--dir", "x", "--user", "u", "--patient", "p", "--from",
        "synthetic", "--seconds", "0"},
       "--seconds: must be at least 1"},
      {{"record", "--dir", "x", "--user", "u", "--patient", "p"}, "missing --from"},
      {{"login", "--server", "http://127.0.0.1:1"}, "missing --user"},
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
      {"sync", "--help"}, {"status", "--help"},     {"conflicts", "--help"},
      {"login", "--help"}, {"record", "--help"},     {"hash", "--help"}};
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

TEST_F(ClinicctlTest, HashIsEqualOnFreshReplicasAndRestrictsToASite) {
  ASSERT_EQ(Init().exit_code, 0);
  const std::string other = (root_ / "other").string();
  ASSERT_EQ(Run({"init", "--dir", other, "--site", kSite, "--kdf-mem-mib", "8",
                 "--kdf-ops", "1"})
                .exit_code,
            0);
  const ToolRun a = Run({"hash", "--dir", dir_, "--json"});
  const ToolRun b = Run({"hash", "--dir", other, "--json"});
  ASSERT_EQ(a.exit_code, 0) << a.err;
  ASSERT_EQ(b.exit_code, 0) << b.err;
  const auto ja = nlohmann::json::parse(a.out);
  const auto jb = nlohmann::json::parse(b.out);
  EXPECT_EQ(ja.at("hash").get<std::string>().size(), 64u);
  EXPECT_EQ(ja.at("hash"), jb.at("hash"));
  EXPECT_NE(ja.at("device_id"), jb.at("device_id"));
  EXPECT_TRUE(ja.at("restricted_to").is_null());
  // Plain output is the hash alone; --site gives the same on an empty
  // replica.
  const ToolRun plain = Run({"hash", "--dir", dir_, "--site", kSite});
  ASSERT_EQ(plain.exit_code, 0) << plain.err;
  EXPECT_EQ(plain.out, ja.at("hash").get<std::string>() + "\n");
}

// login, sync, record and hash against the real server process (seeded
// in-process with cheap key and password costs, e2e/e2e_support.h).
class ClinicctlServerTest : public ClinicctlTest {
 protected:
  void SetUp() override {
    ClinicctlTest::SetUp();
    using pulse::testing::e2e::SeedCentralStore;
    central_ = SeedCentralStore(root_ / "central", {"Kisumu"},
                                {{"achieng", pulse::engine::Role::kClinician, "Kisumu"},
                                 {"auditor1", pulse::engine::Role::kAuditor, ""}});
    site_ = central_.site_ids.at("Kisumu");
    server_ = std::make_unique<pulse::testing::e2e::ServerProcess>(
        SYNC_SERVER_BINARY, root_ / "central", root_);
    ASSERT_TRUE(server_->Start());
  }
  void TearDown() override {
    if (server_) server_->Stop();
    ClinicctlTest::TearDown();
  }
  std::map<std::string, std::string> Password(const char* p = pulse::testing::e2e::kUserPassword) {
    return {{"PULSE_USER_PASSWORD", p}};
  }
  // A replica of the seeded site with its users synced.
  void InitAndSync() {
    ASSERT_EQ(Run({"init", "--dir", dir_, "--site", site_, "--kdf-mem-mib", "8",
                   "--kdf-ops", "1"})
                  .exit_code,
              0);
    const ToolRun sync = Run({"sync", "--dir", dir_, "--server", server_->url(), "--user",
                              "achieng", "--json"},
                             Password());
    ASSERT_EQ(sync.exit_code, 0) << sync.err;
  }
  std::string AddPatient() {
    const ToolRun add = Run({"patient", "add", "--dir", dir_, "--user", "achieng", "--mrn",
                             "K-1", "--given", "Amina", "--family", "Otieno"},
                            Password());
    EXPECT_EQ(add.exit_code, 0) << add.err;
    return add.out.substr(0, add.out.find('\n'));
  }

  pulse::testing::e2e::SeededCentral central_;
  std::string site_;
  std::unique_ptr<pulse::testing::e2e::ServerProcess> server_;
};

TEST_F(ClinicctlServerTest, LoginPrintsTheRoleAndRefusesAWrongPassword) {
  ToolRun run = Run({"login", "--server", server_->url(), "--user", "achieng", "--json"},
                    Password());
  ASSERT_EQ(run.exit_code, 0) << run.err;
  auto j = nlohmann::json::parse(run.out);
  EXPECT_EQ(j.at("role"), "clinician");
  EXPECT_EQ(j.at("site_id"), site_);
  EXPECT_EQ(j.at("logged_out"), true);

  run = Run({"login", "--server", server_->url(), "--user", "auditor1"}, Password());
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(run.out, "auditor1: auditor\n");

  run = Run({"login", "--server", server_->url(), "--user", "achieng"},
            Password("Wrong-Password-99"));
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_NE(run.err.find("login as 'achieng' refused (HTTP 401"), std::string::npos)
      << run.err;
  EXPECT_EQ(run.err.find("Wrong-Password-99"), std::string::npos);
  EXPECT_TRUE(run.out.empty());
}

TEST_F(ClinicctlServerTest, RecordSyntheticStoresSegmentsAsBlobsAndSyncs) {
  ASSERT_NO_FATAL_FAILURE(InitAndSync());
  const std::string patient = AddPatient();
  const std::string before = nlohmann::json::parse(
      Run({"hash", "--dir", dir_, "--json"}).out).at("hash");
  ToolRun run = Run({"record", "--dir", dir_, "--user", "achieng", "--patient", patient,
                     "--from", "synthetic", "--seconds", "25", "--json"},
                    Password());
  ASSERT_EQ(run.exit_code, 0) << run.err;
  const auto j = nlohmann::json::parse(run.out);
  EXPECT_EQ(j.at("frames"), 25 * 500);
  EXPECT_EQ(j.at("segments"), 3);  // 10 + 10 + 5 s
  EXPECT_EQ(j.at("leads").size(), 12u);
  ASSERT_EQ(j.at("blobs").size(), 3u);
  for (const auto& blob : j.at("blobs")) {
    EXPECT_EQ(blob.get<std::string>().size(), 64u);
    EXPECT_TRUE(fs::exists(fs::path(dir_) / "blobs")) << "no blob directory";
  }
  // The same device is reused by a second recording.
  const ToolRun second = Run({"record", "--dir", dir_, "--user", "achieng", "--patient",
                              patient, "--from", "synthetic", "--json"},
                             Password());
  ASSERT_EQ(second.exit_code, 0) << second.err;
  EXPECT_EQ(nlohmann::json::parse(second.out).at("device_id"), j.at("device_id"));
  EXPECT_NE(nlohmann::json::parse(Run({"hash", "--dir", dir_, "--json"}).out).at("hash"),
            before);

  // Unknown patient: a clear error, nothing recorded.
  run = Run({"record", "--dir", dir_, "--user", "achieng", "--patient",
             "0190c0de-0000-7000-8000-00000000beef", "--from", "synthetic"},
            Password());
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_NE(run.err.find("record"), std::string::npos) << run.err;

  // The recording reaches the server: the clinic's hash equals the
  // centre's hash of the site once synced (server stopped to read it).
  const ToolRun sync = Run({"sync", "--dir", dir_, "--server", server_->url(), "--user",
                            "achieng", "--json"},
                           Password());
  ASSERT_EQ(sync.exit_code, 0) << sync.err;
  server_->Stop();
  const ToolRun state = RunTool(SYNC_SERVER_BINARY,
                                {"state-hash", "--store", (root_ / "central").string(),
                                 "--site", site_},
                                root_,
                                {{"PULSE_STORE_PASSPHRASE",
                                  pulse::testing::e2e::kStorePassphrase}});
  ASSERT_EQ(state.exit_code, 0) << state.err;
  const std::string clinic_hash =
      nlohmann::json::parse(Run({"hash", "--dir", dir_, "--json"}).out).at("hash");
  EXPECT_EQ(nlohmann::json::parse(state.out).at("hash"), clinic_hash);
}

TEST_F(ClinicctlServerTest, RecordFromAWfdbRecordInPlace) {
  PULSE_REQUIRE_DATA("mitdb");
  ASSERT_NO_FATAL_FAILURE(InitAndSync());
  const std::string patient = AddPatient();
  const std::string record = (pulse::testing::DataDir() / "mitdb" / "101").string();
  ToolRun run = Run({"record", "--dir", dir_, "--user", "achieng", "--patient", patient,
                     "--from", record, "--seconds", "30", "--json"},
                    Password());
  ASSERT_EQ(run.exit_code, 0) << run.err;
  const auto j = nlohmann::json::parse(run.out);
  EXPECT_EQ(j.at("leads"), nlohmann::json({"II", "V1"}));  // MLII, V1
  EXPECT_EQ(j.at("sample_rate_hz"), 360.0);
  EXPECT_EQ(j.at("frames"), 30 * 360);
  EXPECT_EQ(j.at("segments"), 3);

  run = Run({"record", "--dir", dir_, "--user", "achieng", "--patient", patient, "--from",
             (root_ / "no-such-record").string()},
            Password());
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_NE(run.err.find("no-such-record"), std::string::npos) << run.err;
}

}  // namespace
