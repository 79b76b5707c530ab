// The server's audit trail end to end on a real central store
// (audit_fixture.h): the events SyncService writes for logins, denials,
// pushes and pulls; the central chain verifies; group commit under
// concurrency; continuity of a clinic's pushed chain (intact, a gap, a
// tampered record) recorded without blocking its sync; signed checkpoints.
#include <algorithm>
#include <thread>

#include "pulse/sync_server/audit_checkpoint.h"
#include "support/manual_clock.h"
#include "sync-server/audit_fixture.h"

namespace pulse::sync_server::testing {
namespace {

using engine::AuditAction;
using engine::AuditEvent;
using engine::AuditOutcome;

std::vector<AuditEvent> WithAction(const std::vector<AuditEvent>& events,
                                   AuditAction action) {
  std::vector<AuditEvent> out;
  for (const AuditEvent& e : events) {
    if (e.action == action) out.push_back(e);
  }
  return out;
}

class AuditTrailTest : public AuditServerTest {
 protected:
  Result<std::vector<AuditCheckpoint>> Checkpoints() {
    return trail_->Checkpoints(0, 100);
  }
};

TEST_F(AuditTrailTest, LoginOkAndFailedAreRecordedWithoutPasswords) {
  const std::string token = Login("amina.k");
  ASSERT_FALSE(token.empty());
  engine::sync::LoginRequest bad{"amina.k", "wrong-password-123"};
  EXPECT_EQ(Call("POST", "/api/v1/auth/login",
                 engine::sync::EncodeLoginRequest(bad))
                .status,
            401);
  engine::sync::LoginRequest unknown{"nobody.here", "whatever-123"};
  EXPECT_EQ(Call("POST", "/api/v1/auth/login",
                 engine::sync::EncodeLoginRequest(unknown), "", "10.0.0.7")
                .status,
            401);

  const auto events = CentralEvents();
  const auto ok = WithAction(events, AuditAction::kLogin);
  ASSERT_EQ(ok.size(), 1u);
  EXPECT_EQ(ok[0].actor, tech_);
  EXPECT_EQ(ok[0].role, engine::AuditRole::kTechnician);
  EXPECT_EQ(ok[0].outcome, AuditOutcome::kOk);
  EXPECT_EQ(ok[0].object_type, "session");
  EXPECT_EQ(ok[0].source, "ip:127.0.0.1");
  EXPECT_EQ(ok[0].site, central_);
  const auto failed = WithAction(events, AuditAction::kLoginFailed);
  ASSERT_EQ(failed.size(), 2u);
  EXPECT_EQ(failed[0].actor, tech_);  // known username: named
  EXPECT_EQ(failed[0].outcome, AuditOutcome::kDenied);
  EXPECT_EQ(failed[1].actor, std::nullopt);  // unknown username
  EXPECT_EQ(failed[1].role, std::nullopt);
  EXPECT_EQ(failed[1].source, "ip:10.0.0.7");
  // No password, and no username, anywhere in the stored events.
  for (const AuditEvent& e : events) {
    const std::string text = engine::EncodeAuditEvent(e).value();
    EXPECT_EQ(text.find("wrong-password"), std::string::npos);
    EXPECT_EQ(text.find("nobody.here"), std::string::npos);
    EXPECT_EQ(text.find(std::string(kPassword)), std::string::npos);
  }
  // Logout is recorded too.
  EXPECT_EQ(Call("POST", "/api/v1/auth/logout", "", token).status, 204);
  EXPECT_EQ(WithAction(CentralEvents(), AuditAction::kLogout).size(), 1u);
}

TEST_F(AuditTrailTest, DenialsAreRecorded) {
  // 401: no token at all, and an unknown token.
  EXPECT_EQ(Call("GET", "/api/v1/sync/pull").status, 401);
  EXPECT_EQ(Call("GET", "/api/v1/sync/pull", "", std::string(64, 'a')).status,
            401);
  // 403: an auditor may not pull or push.
  const std::string auditor = Login("odhiambo.a");
  EXPECT_EQ(Call("GET", "/api/v1/sync/pull", "", auditor).status, 403);
  EXPECT_EQ(Push(auditor, {}).status, 403);
  // 403: a technician may not read the audit log.
  const std::string tech = Login("amina.k");
  EXPECT_EQ(Call("GET", "/api/v1/audit/events", "", tech).status, 403);

  const auto denied = WithAction(CentralEvents(), AuditAction::kPermissionDenied);
  ASSERT_EQ(denied.size(), 5u);
  EXPECT_EQ(denied[0].actor, std::nullopt);
  EXPECT_EQ(denied[1].actor, std::nullopt);
  EXPECT_EQ(denied[2].actor, auditor_);
  EXPECT_EQ(denied[2].object_type, "global_log");
  EXPECT_EQ(denied[3].actor, auditor_);
  EXPECT_EQ(denied[3].object_type, "sync_batch");
  EXPECT_EQ(denied[4].actor, tech_);
  EXPECT_EQ(denied[4].object_type, "audit_events");
  for (const AuditEvent& e : denied) {
    EXPECT_EQ(e.outcome, AuditOutcome::kDenied);
  }
}

TEST_F(AuditTrailTest, PushAndPullAreRecordedAndTheCentralChainVerifies) {
  const std::string token = Login("amina.k");
  ClinicAuditEvents(3);
  const std::string batch = engine::NewUuidV7().ToString();
  Response pushed = Push(token, TakeClinicAuditEntries(), batch);
  ASSERT_EQ(pushed.status, 200) << pushed.body;
  Response pulled = Call("GET", "/api/v1/sync/pull?cursor=0", "", token);
  ASSERT_EQ(pulled.status, 200) << pulled.body;

  const auto events = CentralEvents();
  const auto pushes = WithAction(events, AuditAction::kSyncPush);
  ASSERT_EQ(pushes.size(), 1u);
  EXPECT_EQ(pushes[0].object_id, batch);
  EXPECT_EQ(pushes[0].object_type, "sync_batch");
  EXPECT_EQ(pushes[0].actor, tech_);
  const auto pulls = WithAction(events, AuditAction::kSyncPull);
  ASSERT_EQ(pulls.size(), 1u);
  EXPECT_EQ(pulls[0].actor, tech_);

  // The central chain: gapless from 1 and verified from genesis.
  auto verified = trail_->VerifySite(central_);
  ASSERT_TRUE(verified) << verified.error().ToString();
  EXPECT_TRUE(verified->report.ok) << verified->report.detail;
  EXPECT_EQ(verified->report.events_checked,
            static_cast<std::int64_t>(events.size()));
  for (std::size_t i = 0; i < events.size(); ++i) {
    EXPECT_EQ(events[i].seq, static_cast<std::int64_t>(i + 1));
  }
  // The clinic's own 3 events arrived as its chain, and verify too.
  auto clinic = trail_->VerifySite(site_);
  ASSERT_TRUE(clinic) << clinic.error().ToString();
  EXPECT_TRUE(clinic->report.ok);
  EXPECT_EQ(clinic->report.events_checked, 3);
}

TEST_F(AuditTrailTest, ConcurrentAppendsShareCommitsAndKeepOneChain) {
  constexpr int kThreads = 8;
  constexpr int kEach = 40;
  // The central chain already holds the store's own events (AddUser in
  // SetUp audits user creation through the replica's AuditLog).
  const auto before = static_cast<std::int64_t>(CentralEvents().size());
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kEach; ++i) {
        AuditRecord r;
        r.actor = auditor_;
        r.role = engine::Role::kAuditor;
        r.action = AuditAction::kView;
        r.object_type = "audit_events";
        r.peer = "::1";
        if (!trail_->Append(r)) ++failures;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  const AuditTrailStats stats = trail_->Stats();
  EXPECT_EQ(stats.events_appended,
            static_cast<std::uint64_t>(kThreads * kEach));
  // Group commit: never more transactions than events.
  EXPECT_LE(stats.commits, stats.events_appended);
  auto verified = trail_->VerifySite(central_);
  ASSERT_TRUE(verified);
  EXPECT_TRUE(verified->report.ok) << verified->report.detail;
  EXPECT_EQ(verified->report.events_checked, before + kThreads * kEach);
}

TEST_F(AuditTrailTest, InvalidRecordFailsAloneAndLeavesNoGap) {
  const auto before = CentralEvents().size();
  AuditRecord bad;
  bad.actor = "not-a-uuid";
  bad.role = engine::Role::kAdmin;
  bad.object_type = "patients";
  EXPECT_FALSE(trail_->Append(bad));
  AuditRecord good;
  good.object_type = "patients";
  ASSERT_TRUE(trail_->Append(good));
  const auto events = CentralEvents();
  ASSERT_EQ(events.size(), before + 1);
  EXPECT_EQ(events.back().seq, static_cast<std::int64_t>(before + 1));
  EXPECT_EQ(events.back().object_type, "patients");
  EXPECT_EQ(events.back().source.substr(0, 7), "device:");  // no peer given
}

TEST_F(AuditTrailTest, IntactClinicChainIsRecordedWithItsHead) {
  const std::string token = Login("amina.k");
  ClinicAuditEvents(4);
  ASSERT_EQ(Push(token, TakeClinicAuditEntries()).status, 200);
  ClinicAuditEvents(2);
  ASSERT_EQ(Push(token, TakeClinicAuditEntries()).status, 200);
  auto status = trail_->SiteChainStatus(site_);
  ASSERT_TRUE(status);
  ASSERT_TRUE(status->has_value());
  EXPECT_EQ((*status)->head.seq, 6);
  EXPECT_EQ((*status)->events_checked, 6);
  EXPECT_FALSE((*status)->broken.has_value());
  auto head = Clinic().audit_log().Head();
  ASSERT_TRUE(head);
  EXPECT_EQ((*status)->head, *head);
}

TEST_F(AuditTrailTest, AGapIsRecordedAsMissingAndTheSiteStillSyncs) {
  const std::string token = Login("amina.k");
  ClinicAuditEvents(5);
  auto entries = TakeClinicAuditEntries();
  ASSERT_EQ(entries.size(), 5u);
  entries.erase(entries.begin() + 2);  // seq 3 never arrives
  Response r = Push(token, entries);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(json::parse(r.body)["accepted"], 4);  // the data landed
  auto status = trail_->SiteChainStatus(site_);
  ASSERT_TRUE(status && status->has_value());
  const ChainStatus& s = **status;
  ASSERT_TRUE(s.broken.has_value());
  EXPECT_EQ(s.broken->seq, 3);
  EXPECT_EQ(s.broken->reason, engine::ChainBreak::kMissing);
  EXPECT_EQ(s.broken->found_seq, 4);
  EXPECT_EQ(s.head.seq, 2);
  // Later pushes still land; the break stays recorded.
  ClinicAuditEvents(1);
  EXPECT_EQ(Push(token, TakeClinicAuditEntries()).status, 200);
  status = trail_->SiteChainStatus(site_);
  ASSERT_TRUE(status && status->has_value());
  EXPECT_EQ((**status).broken->seq, 3);
  // Counted in /metrics.
  Response metrics = Call("GET", "/metrics");
  EXPECT_NE(metrics.body.find("pulse_audit_chain_breaks_total 1"),
            std::string::npos)
      << metrics.body;
  EXPECT_NE(metrics.body.find("pulse_audit_sites_broken 1"), std::string::npos);
  // The on-demand verification names the same seq.
  auto verified = trail_->VerifySite(site_);
  ASSERT_TRUE(verified);
  EXPECT_FALSE(verified->report.ok);
  EXPECT_EQ(verified->report.first_broken_seq, 3);
  EXPECT_EQ(verified->report.reason, engine::ChainBreak::kMissing);
}

TEST_F(AuditTrailTest, ATamperedRecordIsRecordedAsAlteredAtItsSeq) {
  const std::string token = Login("amina.k");
  ClinicAuditEvents(4);
  auto entries = TakeClinicAuditEntries();
  ASSERT_EQ(entries.size(), 4u);
  // The clinic (or someone on the way) edits the third event's text but
  // not its hash: the object it names.
  auto& fields = entries[2].fields;
  std::string event = std::get<std::string>(fields.at("event"));
  const std::string from = "\"object_type\":\"patients\"";
  const auto at = event.find(from);
  ASSERT_NE(at, std::string::npos);
  event.replace(at, from.size(), "\"object_type\":\"reports\"");
  fields["event"] = event;
  fields["object_type"] = std::string("reports");
  Response r = Push(token, entries);
  ASSERT_EQ(r.status, 200) << r.body;
  auto status = trail_->SiteChainStatus(site_);
  ASSERT_TRUE(status && status->has_value());
  ASSERT_TRUE((**status).broken.has_value());
  EXPECT_EQ((**status).broken->seq, 3);
  EXPECT_EQ((**status).broken->reason, engine::ChainBreak::kAltered);
  EXPECT_EQ((**status).head.seq, 2);
}

TEST_F(AuditTrailTest, CheckpointsAreSignedChainedAndCoverSiteHeads) {
  const std::string token = Login("amina.k");
  ClinicAuditEvents(3);
  ASSERT_EQ(Push(token, TakeClinicAuditEntries()).status, 200);
  auto first = trail_->MakeCheckpoint();
  ASSERT_TRUE(first) << first.error().ToString();
  EXPECT_EQ(first->seq, 1);
  EXPECT_TRUE(VerifyCheckpointSignature(first->statement, first->signature,
                                        trail_->PublicKeyHex()));
  auto statement = DecodeCheckpointStatement(first->statement);
  ASSERT_TRUE(statement) << statement.error().ToString();
  EXPECT_EQ(statement->prev, FirstCheckpointPrev());
  EXPECT_EQ(statement->key_id, trail_->KeyId());
  bool saw_site = false, saw_central = false;
  for (const CheckpointSiteHead& h : statement->sites) {
    if (h.site == site_) {
      saw_site = true;
      EXPECT_EQ(h.seq, 3);
      EXPECT_EQ(h.broken_seq, std::nullopt);
    }
    saw_central = saw_central || h.site == central_;
  }
  EXPECT_TRUE(saw_site);
  EXPECT_TRUE(saw_central);
  // A changed byte no longer verifies.
  std::string forged = first->statement;
  forged[forged.find("\"seq\":3")+6] = '4';
  EXPECT_FALSE(VerifyCheckpointSignature(forged, first->signature,
                                         trail_->PublicKeyHex()));
  auto second = trail_->MakeCheckpoint();
  ASSERT_TRUE(second);
  auto s2 = DecodeCheckpointStatement(second->statement);
  ASSERT_TRUE(s2);
  EXPECT_EQ(s2->checkpoint, 2);
  EXPECT_EQ(s2->prev, CheckpointHashHex(first->statement));
  EXPECT_GE(s2->global_seq, statement->global_seq);
}

TEST_F(AuditTrailTest, CheckpointsAreMadeEveryNEntries) {
  SqlcipherAuditTrailOptions o;
  o.checkpoint_every = 5;
  OpenService(o);
  auto append = [&](int n) {
    for (int i = 0; i < n; ++i) {
      AuditRecord r;
      r.object_type = "session";
      ASSERT_TRUE(trail_->Append(r));
    }
  };
  // The checkpointer thread makes them, not the appends' callers: wait.
  auto wait_for = [&](std::size_t n) {
    Result<std::vector<AuditCheckpoint>> list = Checkpoints();
    for (int waited = 0; list && list->size() < n && waited < 200; ++waited) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      list = Checkpoints();
    }
    return list;
  };
  // The fixture's users and site are global_log entries: checkpoint them
  // first, so that only the appends below count.
  // (The checkpointer may have made one of them already: count from here.)
  ASSERT_TRUE(trail_->MakeCheckpoint());
  auto base = Checkpoints();
  ASSERT_TRUE(base);
  const std::size_t made = base->size();
  append(5);
  auto first = wait_for(made + 1);
  ASSERT_TRUE(first);
  ASSERT_EQ(first->size(), made + 1);
  append(4);  // one short of the next
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  auto still = Checkpoints();
  ASSERT_TRUE(still);
  EXPECT_EQ(still->size(), made + 1) << "made before 5 new entries";
  append(1);
  auto second = wait_for(made + 2);
  ASSERT_TRUE(second);
  EXPECT_EQ(second->size(), made + 2);
  EXPECT_EQ(trail_->Stats().checkpoints_made, second->size());
}

TEST_F(AuditTrailTest, ACheckpointIsMadeWhenTheIntervalPassesWithoutAppends) {
  pulse::testing::ManualClock clock;
  clock.SetMs(1'800'000'000'000);
  SqlcipherAuditTrailOptions o;
  o.clock = &clock;
  o.checkpoint_every = 0;  // by time only
  o.checkpoint_interval = std::chrono::seconds(60);
  OpenService(o);
  const std::string token = Login("amina.k");
  ClinicAuditEvents(2);
  ASSERT_EQ(Push(token, TakeClinicAuditEntries()).status, 200);
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  auto none = Checkpoints();
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->empty()) << "made before the interval passed";
  // Nothing else is appended: the clock alone makes it due.
  clock.AdvanceMs(61'000);
  Result<std::vector<AuditCheckpoint>> list = Checkpoints();
  for (int waited = 0; list && list->empty() && waited < 100; ++waited) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    list = Checkpoints();
  }
  ASSERT_TRUE(list);
  ASSERT_EQ(list->size(), 1u);
  auto statement = DecodeCheckpointStatement(list->front().statement);
  ASSERT_TRUE(statement);
  bool saw_site = false;
  for (const CheckpointSiteHead& h : statement->sites) {
    saw_site = saw_site || (h.site == site_ && h.seq == 2);
  }
  EXPECT_TRUE(saw_site) << "the pushed chain's head is covered";
}

TEST_F(AuditTrailTest, TheSigningKeySurvivesReopening) {
  const std::string key = trail_->PublicKeyHex();
  EXPECT_EQ(key.size(), 64u);
  OpenService(trail_options_);
  EXPECT_EQ(trail_->PublicKeyHex(), key);
  // The secret key never shows in a log line.
  for (const std::string& line : LogLines()) {
    EXPECT_EQ(line.find(key), std::string::npos);
  }
}

// The real trail, whose Append() can be made to fail (a full disk, a
// broken store): what the handlers do when an access cannot be recorded.
class FlakyTrail final : public AuditTrail {
 public:
  explicit FlakyTrail(AuditTrail& real) : real_(real) {}
  std::atomic<bool> fail{false};
  Status Append(const AuditRecord& r) override {
    if (fail) return Fail(ErrorCode::kIoError, "injected audit failure");
    return real_.Append(r);
  }
  Status CheckContinuity() override { return real_.CheckContinuity(); }
  Result<std::vector<ChainStatus>> ChainStatuses() override {
    return real_.ChainStatuses();
  }
  Result<std::optional<ChainStatus>> SiteChainStatus(
      std::string_view site) override {
    return real_.SiteChainStatus(site);
  }
  Result<AuditEventPage> QueryEvents(const AuditEventQuery& q) override {
    return real_.QueryEvents(q);
  }
  Result<std::vector<StoredAuditEvent>> ChainRecords(std::string_view site,
                                                     std::int64_t after,
                                                     int limit) override {
    return real_.ChainRecords(site, after, limit);
  }
  Result<SiteVerification> VerifySite(std::string_view site) override {
    return real_.VerifySite(site);
  }
  Result<std::vector<AuditCheckpoint>> Checkpoints(std::int64_t after,
                                                   int limit) override {
    return real_.Checkpoints(after, limit);
  }
  Result<AuditCheckpoint> MakeCheckpoint() override {
    return real_.MakeCheckpoint();
  }
  std::string PublicKeyHex() const override { return real_.PublicKeyHex(); }
  std::string KeyId() const override { return real_.KeyId(); }
  AuditTrailStats Stats() const override { return real_.Stats(); }

 private:
  AuditTrail& real_;
};

TEST_F(AuditTrailTest, AnAccessThatCannotBeRecordedDoesNotHappen) {
  FlakyTrail flaky(*trail_);
  ServiceOptions so;
  so.store = store_.get();
  so.audit = &flaky;
  so.dummy_hash_cost = engine::kTestPasswordHashCost;
  so.log_sink = [](std::string_view) {};
  auto created = SyncService::Create(so);
  ASSERT_TRUE(created);
  service_ = std::move(*created);
  const std::string token = Login("amina.k");
  ClinicAuditEvents(2);
  const auto entries = TakeClinicAuditEntries();
  const std::string batch = engine::NewUuidV7().ToString();

  flaky.fail = true;
  // Login: no token is handed out.
  engine::sync::LoginRequest login{"amina.k", std::string(kPassword)};
  Response refused =
      Call("POST", "/api/v1/auth/login", engine::sync::EncodeLoginRequest(login));
  EXPECT_EQ(refused.status, 500);
  EXPECT_EQ(refused.body.find("\"token\""), std::string::npos);
  // Pull: no rows leave.
  Response pull = Call("GET", "/api/v1/sync/pull", "", token);
  EXPECT_EQ(pull.status, 500);
  EXPECT_EQ(pull.body.find("changes"), std::string::npos);
  // Push: stored but not acknowledged ...
  EXPECT_EQ(Push(token, entries, batch).status, 500);
  // ... and acknowledged (as a duplicate) and recorded once the trail works.
  flaky.fail = false;
  Response again = Push(token, entries, batch);
  ASSERT_EQ(again.status, 200) << again.body;
  EXPECT_EQ(json::parse(again.body)["duplicate"], true);
  const auto pushes = WithAction(CentralEvents(), AuditAction::kSyncPush);
  ASSERT_EQ(pushes.size(), 1u);
  EXPECT_EQ(pushes[0].object_id, batch);
  // Only the first login is recorded, and its token still works.
  EXPECT_EQ(WithAction(CentralEvents(), AuditAction::kLogin).size(), 1u);
  EXPECT_EQ(Call("GET", "/api/v1/sync/pull", "", token).status, 200);
}

}  // namespace
}  // namespace pulse::sync_server::testing
