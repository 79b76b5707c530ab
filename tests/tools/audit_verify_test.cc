// tools/audit-verify run as a child process against a real central store
// (and a clinic replica, and the real HTTP server) that a clinic pushed its
// chain to: intact -> 0; one byte of one event edited in the database file
// -> 1 naming that seq; an entry deleted -> 1 naming the missing seq; the
// tail deleted -> truncated against the signed checkpoint; a forged
// checkpoint signature or a foreign key -> 1; usage errors -> 2.
#include <gtest/gtest.h>

#include "pulse/engine/key_file.h"
#include "pulse/sync_server/audit_checkpoint.h"
#include "pulse/sync_server/http_server.h"
#include "sync-server/audit_fixture.h"
#include "tools/run_tool.h"

namespace pulse::sync_server::testing {
namespace {

using pulse::testing::RunTool;
using pulse::testing::ToolRun;

class AuditVerifyTest : public AuditServerTest {
 protected:
  // A technician pushes 4 audited views; a pull; one signed checkpoint.
  void Populate() {
    const std::string token = Login("amina.k");
    ClinicAuditEvents(4);
    ASSERT_EQ(Push(token, TakeClinicAuditEntries()).status, 200);
    ASSERT_EQ(Call("GET", "/api/v1/sync/pull", "", token).status, 200);
    auto cp = trail_->MakeCheckpoint();
    ASSERT_TRUE(cp) << cp.error().ToString();
  }

  // The server is stopped (the tool also runs beside a live one, see
  // ServerModeVerifiesAndNamesTheBreak).
  void StopServer() {
    service_.reset();
    trail_.reset();
    store_.reset();
  }

  engine::Database CentralDb() {
    auto key = engine::UnlockKeyFile(root_ / "central" / "replica.key",
                                     kStorePassphrase);
    EXPECT_TRUE(key) << key.error().ToString();
    auto db = engine::Database::Open(root_ / "central" / "replica.db",
                                     key->bytes(), {});
    EXPECT_TRUE(db) << db.error().ToString();
    return std::move(*db);
  }

  void Exec(engine::Database& db, const std::string& sql,
            const std::vector<std::string>& args) {
    auto stmt = db.Prepare(sql);
    ASSERT_TRUE(stmt) << stmt.error().ToString();
    for (std::size_t i = 0; i < args.size(); ++i) {
      ASSERT_TRUE(stmt->BindText(static_cast<int>(i + 1), args[i]));
    }
    ASSERT_TRUE(stmt->Run());
    ASSERT_EQ(db.ChangedRowCount(), 1);
  }

  // Changes one byte of the stored event text of `site`'s `seq`: a digit
  // of its time_ms (still valid JSON, so only the hash can tell).
  void EditOneByte(const std::string& site, std::int64_t seq) {
    engine::Database db = CentralDb();
    auto read = db.Prepare(
        "SELECT event FROM audit_events WHERE site_id = ? AND seq = ?");
    ASSERT_TRUE(read);
    ASSERT_TRUE(read->BindText(1, site));
    ASSERT_TRUE(read->BindInt64(2, seq));
    ASSERT_TRUE(read->Step().value());
    std::string event(read->ColumnText(0).value());
    read->Reset();
    const std::size_t at = event.find("\"time_ms\":") + 11;
    event[at] = event[at] == '9' ? '8' : static_cast<char>(event[at] + 1);
    Exec(db,
         "UPDATE audit_events SET event = ? WHERE site_id = ? AND seq = " +
             std::to_string(seq),
         {event, site});
  }

  void DeleteSeq(const std::string& site, std::int64_t seq) {
    engine::Database db = CentralDb();
    Exec(db,
         "DELETE FROM audit_events WHERE site_id = ? AND seq = " +
             std::to_string(seq),
         {site});
  }

  ToolRun Verify(std::vector<std::string> args,
                 std::map<std::string, std::string> env = {}) {
    env.emplace("PULSE_STORE_PASSPHRASE", std::string(kStorePassphrase));
    env.emplace("PULSE_PASSPHRASE", "");
    return RunTool(AUDIT_VERIFY_BINARY, args, root_, env);
  }

  json SiteOf(const json& out, const std::string& site) {
    for (const json& s : out["sites"]) {
      if (s["site"] == site) return s;
    }
    ADD_FAILURE() << "site " << site << " not in " << out.dump();
    return json();
  }
};

TEST_F(AuditVerifyTest, HelpAndUsageErrors) {
  ToolRun help = Verify({"--help"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_NE(help.out.find("usage: audit-verify"), std::string::npos);
  EXPECT_EQ(Verify({}).exit_code, 2);
  EXPECT_EQ(Verify({"--db", (root_ / "central").string(), "--server",
                    "http://127.0.0.1:1"})
                .exit_code,
            2);
  EXPECT_EQ(Verify({"--db", (root_ / "central").string(), "--passphrase",
                    "x"})
                .exit_code,
            2);
  EXPECT_EQ(Verify({"--db", (root_ / "central").string(), "--site", "kisumu"})
                .exit_code,
            2);
  // A wrong passphrase is an I/O-class error, named, with no secret shown.
  ToolRun wrong = Verify({"--db", (root_ / "central").string()},
                         {{"PULSE_STORE_PASSPHRASE", "not the passphrase"}});
  EXPECT_EQ(wrong.exit_code, 2);
  EXPECT_NE(wrong.err.find("wrong passphrase"), std::string::npos);
  EXPECT_EQ(wrong.err.find("not the passphrase"), std::string::npos);
  EXPECT_EQ(Verify({"--db", (root_ / "nowhere").string()}).exit_code, 2);
}

TEST_F(AuditVerifyTest, AnIntactStoreExitsZero) {
  Populate();
  StopServer();
  ToolRun run = Verify({"--db", (root_ / "central").string(), "--json"});
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  json out = json::parse(run.out);
  EXPECT_EQ(out["ok"], true);
  EXPECT_EQ(out["checkpoints"]["checked"], 1);
  json site = SiteOf(out, site_);
  EXPECT_EQ(site["ok"], true);
  EXPECT_EQ(site["head_seq"], 4);
  EXPECT_EQ(SiteOf(out, central_)["ok"], true);
  ToolRun text = Verify({"--db", (root_ / "central").string()});
  EXPECT_EQ(text.exit_code, 0);
  EXPECT_NE(text.out.find("site " + site_ + ": intact, 4 events"),
            std::string::npos)
      << text.out;
}

TEST_F(AuditVerifyTest, OneEditedByteNamesThatSeq) {
  Populate();
  StopServer();
  EditOneByte(site_, 2);
  ToolRun run = Verify({"--db", (root_ / "central").string(), "--json"});
  ASSERT_EQ(run.exit_code, 1) << run.out << run.err;
  json site = SiteOf(json::parse(run.out), site_);
  EXPECT_EQ(site["ok"], false);
  EXPECT_EQ(site["first_broken_seq"], 2);
  EXPECT_EQ(site["reason"], "altered");
  ToolRun text = Verify({"--db", (root_ / "central").string()});
  EXPECT_EQ(text.exit_code, 1);
  EXPECT_NE(text.out.find("site " + site_ + ": BROKEN at seq 2 (altered)"),
            std::string::npos)
      << text.out;
}

TEST_F(AuditVerifyTest, ADeletedEntryNamesTheMissingSeq) {
  Populate();
  StopServer();
  DeleteSeq(site_, 3);
  ToolRun run = Verify({"--db", (root_ / "central").string(), "--json",
                        "--site", site_});
  ASSERT_EQ(run.exit_code, 1) << run.out << run.err;
  json site = SiteOf(json::parse(run.out), site_);
  EXPECT_EQ(site["first_broken_seq"], 3);
  EXPECT_EQ(site["reason"], "missing");
  EXPECT_EQ(site["found_seq"], 4);
}

TEST_F(AuditVerifyTest, ADeletedTailIsTruncatedAgainstTheCheckpoint) {
  Populate();
  StopServer();
  DeleteSeq(site_, 4);  // without the checkpoint this would look complete
  ToolRun run = Verify({"--db", (root_ / "central").string(), "--json"});
  ASSERT_EQ(run.exit_code, 1) << run.out << run.err;
  json site = SiteOf(json::parse(run.out), site_);
  EXPECT_EQ(site["first_broken_seq"], 4);
  EXPECT_EQ(site["reason"], "truncated");
}

TEST_F(AuditVerifyTest, AForgedCheckpointSignatureIsBroken) {
  Populate();
  StopServer();
  {
    engine::Database db = CentralDb();
    auto read = db.Prepare("SELECT signature FROM audit_checkpoints WHERE seq = 1");
    ASSERT_TRUE(read);
    ASSERT_TRUE(read->Step().value());
    std::string sig(read->ColumnText(0).value());
    read->Reset();
    sig[10] = sig[10] == '0' ? '1' : '0';
    Exec(db, "UPDATE audit_checkpoints SET signature = ? WHERE seq = 1", {sig});
  }
  ToolRun run = Verify({"--db", (root_ / "central").string(), "--json"});
  ASSERT_EQ(run.exit_code, 1) << run.out << run.err;
  json out = json::parse(run.out);
  EXPECT_EQ(out["checkpoints"]["ok"], false);
  EXPECT_EQ(out["checkpoints"]["broken"], 1);
  EXPECT_NE(out["checkpoints"]["detail"].get<std::string>().find(
                "signature does not verify"),
            std::string::npos);
}

TEST_F(AuditVerifyTest, AnEditedGlobalLogRowBreaksItsCheckpoint) {
  Populate();
  StopServer();
  {
    engine::Database db = CentralDb();
    Exec(db,
         "UPDATE global_log SET entry = entry || ' ' WHERE seq = (SELECT "
         "min(seq) FROM global_log) AND ? = ?",
         {"x", "x"});
  }
  ToolRun run = Verify({"--db", (root_ / "central").string(), "--json"});
  ASSERT_EQ(run.exit_code, 1) << run.out << run.err;
  json out = json::parse(run.out);
  EXPECT_EQ(out["checkpoints"]["broken"], 1);
  EXPECT_NE(out["checkpoints"]["detail"].get<std::string>().find("global_log"),
            std::string::npos);
}

TEST_F(AuditVerifyTest, APinnedKeyRejectsCheckpointsOfAnotherKey) {
  Populate();
  const std::string real_key = trail_->PublicKeyHex();
  StopServer();
  auto other = GenerateSigningKey();
  ASSERT_TRUE(other);
  ToolRun bad = Verify({"--db", (root_ / "central").string(), "--public-key",
                        engine::HexEncode(other->public_key)});
  EXPECT_EQ(bad.exit_code, 1) << bad.out << bad.err;
  EXPECT_NE(bad.out.find("unknown key"), std::string::npos) << bad.out;
  ToolRun good = Verify({"--db", (root_ / "central").string(), "--public-key",
                         real_key});
  EXPECT_EQ(good.exit_code, 0) << good.out << good.err;
}

TEST_F(AuditVerifyTest, AClinicReplicaVerifiesItsOwnChain) {
  ClinicAuditEvents(3);
  ToolRun run = Verify({"--db", (root_ / "clinic").string(), "--json"},
                       {{"PULSE_PASSPHRASE", "clinic pw"}});
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  json out = json::parse(run.out);
  EXPECT_TRUE(out["checkpoints"].is_null());
  EXPECT_EQ(SiteOf(out, site_)["head_seq"], 3);
}

TEST_F(AuditVerifyTest, ServerModeVerifiesAndNamesTheBreak) {
  Populate();
  HttpServerOptions http;
  auto server = HttpServer::Start(*service_, http);
  ASSERT_TRUE(server) << server.error().ToString();
  const std::string url =
      "http://127.0.0.1:" + std::to_string((*server)->port());
  const std::map<std::string, std::string> env = {
      {"PULSE_USER_PASSWORD", std::string(kPassword)}};
  ToolRun run = Verify({"--server", url, "--user", "odhiambo.a", "--json"},
                       env);
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  json out = json::parse(run.out);
  EXPECT_EQ(out["checkpoints"]["checked"], 1);
  EXPECT_EQ(SiteOf(out, site_)["head_seq"], 4);
  // Edited under the live server: the records the API serves no longer
  // chain, and the tool (not the server) says where.
  EditOneByte(site_, 3);
  ToolRun broken = Verify({"--server", url, "--user", "odhiambo.a", "--json",
                           "--site", site_},
                          env);
  ASSERT_EQ(broken.exit_code, 1) << broken.out << broken.err;
  json site = SiteOf(json::parse(broken.out), site_);
  EXPECT_EQ(site["first_broken_seq"], 3);
  EXPECT_EQ(site["reason"], "altered");
  // A non-auditor is refused: exit 2, nothing verified.
  ToolRun tech = Verify({"--server", url, "--user", "amina.k"}, env);
  EXPECT_EQ(tech.exit_code, 2) << tech.out << tech.err;
  (*server)->Stop();
}

}  // namespace
}  // namespace pulse::sync_server::testing
