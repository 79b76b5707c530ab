// The auditor's API (/api/v1/audit/..., audit_handlers.cc) on a real
// central store: roles (auditor only; others 403 and audited), the event
// filters, paging newest first with a cursor, chain status, verification,
// the chain export, checkpoints and the public key; reads are audited.
#include "pulse/sync_server/audit_checkpoint.h"
#include "sync-server/audit_fixture.h"

namespace pulse::sync_server::testing {
namespace {

class AuditApiTest : public AuditServerTest {
 protected:
  json Get(const std::string& target, const std::string& token,
           int expect = 200) {
    Response r = Call("GET", target, "", token);
    EXPECT_EQ(r.status, expect) << target << ": " << r.body;
    return json::parse(r.body, nullptr, false);
  }
};

TEST_F(AuditApiTest, OnlyAuditorsReadAndEveryRefusalIsAudited) {
  const std::string tech = Login("amina.k");
  const std::string admin = Login("wanjiru.admin");
  const std::string auditor = Login("odhiambo.a");
  for (const std::string& target :
       {std::string("/api/v1/audit/events"), std::string("/api/v1/audit/sites"),
        std::string("/api/v1/audit/checkpoints"),
        std::string("/api/v1/audit/key"),
        "/api/v1/audit/sites/" + site_ + "/verify"}) {
    EXPECT_EQ(Call("GET", target, "", tech).status, 403) << target;
    EXPECT_EQ(Call("GET", target, "", admin).status, 403) << target;
    EXPECT_EQ(Call("GET", target).status, 401) << target;
  }
  EXPECT_EQ(Call("POST", "/api/v1/audit/checkpoints", "", tech).status, 403);
  EXPECT_EQ(Call("GET", "/api/v1/audit/events", "", auditor).status, 200);
  EXPECT_EQ(Call("DELETE", "/api/v1/audit/events", "", auditor).status, 405);
  EXPECT_EQ(Call("GET", "/api/v1/audit/nothing", "", auditor).status, 404);
  Response problem = Call("GET", "/api/v1/audit/events", "", tech);
  EXPECT_EQ(problem.content_type, "application/problem+json");

  // 5 routes x (tech, admin, anonymous), the POST and the problem check:
  // 17 denials recorded.
  auto page = Get("/api/v1/audit/events?action=permission_denied&limit=1000",
                  auditor);
  EXPECT_EQ(page["events"].size(), 17u);
  // The auditor's own read was recorded as a view of audit_events.
  auto views = Get("/api/v1/audit/events?action=view&user=" + auditor_,
                   auditor);
  ASSERT_GE(views["events"].size(), 1u);
  EXPECT_EQ(views["events"][0]["event"]["object_type"], "audit_events");
  EXPECT_EQ(views["events"][0]["event"]["role"], "auditor");
}

TEST_F(AuditApiTest, FiltersBySiteUserPatientActionAndTime) {
  const std::string auditor = Login("odhiambo.a");
  const std::string tech = Login("amina.k");
  // Three clinic events about one patient, pushed.
  engine::ClinicReplica& c = Clinic();
  engine::Principal who;
  who.user_id = engine::Uuid::Parse(tech_).value();
  who.role = engine::Role::kTechnician;
  who.site = engine::Uuid::Parse(site_).value();
  const std::string patient = engine::NewUuidV7().ToString();
  for (int i = 0; i < 3; ++i) {
    engine::AuditFact fact;
    fact.actor = &who;
    fact.object_type = "patients";
    fact.object_id = patient;
    fact.patient = patient;
    ASSERT_TRUE(engine::CommitAudited(c.writer(), c.audit_log(), fact, {}));
  }
  ClinicAuditEvents(2);  // two more, other patients
  ASSERT_EQ(Push(tech, TakeClinicAuditEntries()).status, 200);

  auto by_site = Get("/api/v1/audit/events?site=" + site_, auditor);
  EXPECT_EQ(by_site["events"].size(), 5u);
  for (const auto& e : by_site["events"]) EXPECT_EQ(e["site"], site_);
  auto by_patient = Get("/api/v1/audit/events?patient=" + patient, auditor);
  EXPECT_EQ(by_patient["events"].size(), 3u);
  for (const auto& e : by_patient["events"]) {
    EXPECT_EQ(e["event"]["patient"], patient);
    // The record form lets an auditor recompute the hash.
    EXPECT_EQ(e["hash"].get<std::string>().size(), 64u);
  }
  auto by_user = Get("/api/v1/audit/events?user=" + tech_ +
                         "&action=sync_push",
                     auditor);
  ASSERT_EQ(by_user["events"].size(), 1u);
  EXPECT_EQ(by_user["events"][0]["event"]["site"], central_);
  // Time: everything is in [0, now+1h); nothing before 1000.
  auto none = Get("/api/v1/audit/events?to=1000", auditor);
  EXPECT_EQ(none["events"].size(), 0u);
  const std::int64_t t = by_patient["events"][0]["time_ms"];
  auto from = Get("/api/v1/audit/events?patient=" + patient +
                      "&from=" + std::to_string(t) +
                      "&to=" + std::to_string(t + 1),
                  auditor);
  EXPECT_GE(from["events"].size(), 1u);
  // Bad filters are 400 problems.
  Get("/api/v1/audit/events?site=kisumu", auditor, 400);
  Get("/api/v1/audit/events?action=peek", auditor, 400);
  Get("/api/v1/audit/events?limit=0", auditor, 400);
  Get("/api/v1/audit/events?cursor=zzz", auditor, 400);
  Get("/api/v1/audit/events?colour=red", auditor, 400);
}

TEST_F(AuditApiTest, PagesNewestFirstWithACursorAndNoRepeats) {
  const std::string auditor = Login("odhiambo.a");
  for (int i = 0; i < 7; ++i) {
    AuditRecord r;
    r.object_type = "session";
    r.action = engine::AuditAction::kLogout;
    ASSERT_TRUE(trail_->Append(r));
  }
  std::vector<std::string> ids;
  std::string cursor;
  for (int pages = 0; pages < 10; ++pages) {
    auto page = Get("/api/v1/audit/events?action=logout&limit=3" +
                        (cursor.empty() ? "" : "&cursor=" + cursor),
                    auditor);
    for (const auto& e : page["events"]) ids.push_back(e["id"]);
    if (page["next_cursor"].is_null()) break;
    cursor = page["next_cursor"];
  }
  ASSERT_EQ(ids.size(), 7u);
  // Newest first: the central chain's seq descends along the pages.
  auto all = CentralEvents();
  std::vector<std::string> logouts;
  for (const auto& e : all) {
    if (e.action == engine::AuditAction::kLogout) logouts.push_back(e.id);
  }
  std::reverse(logouts.begin(), logouts.end());
  EXPECT_EQ(ids, logouts);
}

TEST_F(AuditApiTest, SitesVerifyChainAndCheckpoints) {
  const std::string auditor = Login("odhiambo.a");
  const std::string tech = Login("amina.k");
  ClinicAuditEvents(3);
  auto entries = TakeClinicAuditEntries();
  ASSERT_EQ(Push(tech, entries).status, 200);

  auto sites = Get("/api/v1/audit/sites", auditor);
  bool found = false;
  for (const auto& s : sites["sites"]) {
    if (s["site"] != site_) continue;
    found = true;
    EXPECT_EQ(s["head_seq"], 3);
    EXPECT_EQ(s["intact"], true);
  }
  EXPECT_TRUE(found);

  auto verify = Get("/api/v1/audit/sites/" + site_ + "/verify", auditor);
  EXPECT_EQ(verify["ok"], true);
  EXPECT_EQ(verify["events_checked"], 3);
  EXPECT_TRUE(verify["first_broken_seq"].is_null());
  Get("/api/v1/audit/sites/" + engine::NewUuidV7().ToString() + "/verify",
      auditor, 404);
  Get("/api/v1/audit/sites/not-a-site/verify", auditor, 400);

  auto chain = Get("/api/v1/audit/sites/" + site_ + "/chain?after_seq=1",
                   auditor);
  ASSERT_EQ(chain["records"].size(), 2u);
  EXPECT_EQ(chain["records"][0]["seq"], 2);
  // The export's record verifies with the engine from the stored head.
  engine::ChainedEvent rec;
  rec.event = engine::DecodeAuditEvent(chain["records"][0]["event"].dump())
                  .value();
  const auto prev = engine::HexDecode(
      chain["records"][0]["prev_hash"].get<std::string>()).value();
  std::copy(prev.begin(), prev.end(), rec.prev_hash.begin());
  const auto hash =
      engine::HexDecode(chain["records"][0]["hash"].get<std::string>()).value();
  std::copy(hash.begin(), hash.end(), rec.hash.begin());
  EXPECT_EQ(engine::AuditChainHash(rec.prev_hash, rec.event).value(),
            rec.hash);

  Response made = Call("POST", "/api/v1/audit/checkpoints", "", auditor);
  ASSERT_EQ(made.status, 201) << made.body;
  auto list = Get("/api/v1/audit/checkpoints", auditor);
  ASSERT_EQ(list["checkpoints"].size(), 1u);
  EXPECT_EQ(list["algorithm"], "ed25519");
  const auto& cp = list["checkpoints"][0];
  EXPECT_TRUE(VerifyCheckpointSignature(cp["statement"].get<std::string>(),
                                        cp["signature"].get<std::string>(),
                                        list["public_key"].get<std::string>()));
  auto key = Get("/api/v1/audit/key", auditor);
  EXPECT_EQ(key["public_key"], trail_->PublicKeyHex());
  EXPECT_EQ(key["key_id"], trail_->KeyId());
  // The verification now uses the checkpoint's head for the site.
  verify = Get("/api/v1/audit/sites/" + site_ + "/verify", auditor);
  EXPECT_EQ(verify["checkpoint"], 1);
  EXPECT_EQ(verify["ok"], true);
}

}  // namespace
}  // namespace pulse::sync_server::testing
