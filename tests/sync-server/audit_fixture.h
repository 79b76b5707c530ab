// A real central store (SQLCipher) with its SqlcipherAuditTrail behind a
// SyncService, driven through Handle() with hand-built requests; a real
// clinic replica of one site makes the audit records a clinic pushes.
// Shared by audit_trail_test.cc and audit_api_test.cc; the store, clinic
// and request plumbing is server_fixture.h's.
#ifndef PULSE_TESTS_SYNC_SERVER_AUDIT_FIXTURE_H_
#define PULSE_TESTS_SYNC_SERVER_AUDIT_FIXTURE_H_

#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "pulse/engine/audit.h"
#include "pulse/engine/audit_log.h"
#include "pulse/engine/replica.h"
#include "pulse/engine/sync_protocol.h"
#include "pulse/sync_server/service.h"
#include "pulse/sync_server/sqlcipher_audit_trail.h"
#include "pulse/sync_server/sqlcipher_central_store.h"
#include "sync-server/server_fixture.h"

namespace pulse::sync_server::testing {

namespace fs = std::filesystem;
using nlohmann::json;

// The password of every user the fixture adds.
inline constexpr std::string_view kPassword = kStaffPassword;

class AuditServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    root_ = FreshTempDir(std::string("audit_") + info->test_suite_name() + "_" +
                         info->name());
    auto store = SqlcipherCentralStore::Create(root_ / "central",
                                               kStorePassphrase, store_options_);
    ASSERT_TRUE(store) << store.error().ToString();
    store_ = std::move(*store);
    central_ = store_->central_site_id();
    auto site = store_->AddSite(KisumuClinic(), "");
    ASSERT_TRUE(site) << site.error().ToString();
    site_ = *site;
    auto tech = store_->AddUser(KisumuTechnician(site_), "");
    ASSERT_TRUE(tech) << tech.error().ToString();
    tech_ = *tech;
    auto auditor = store_->AddUser(
        {"odhiambo.a", "Auditor", engine::Role::kAuditor, std::nullopt,
         kPassword},
        "");
    ASSERT_TRUE(auditor) << auditor.error().ToString();
    auditor_ = *auditor;
    auto admin = store_->AddUser(
        {"wanjiru.admin", "Admin", engine::Role::kAdmin, std::nullopt,
         kPassword},
        "");
    ASSERT_TRUE(admin) << admin.error().ToString();
    admin_ = *admin;
    OpenService(trail_options_);
  }

  void TearDown() override {
    service_.reset();
    trail_.reset();
    clinic_.reset();
    store_.reset();
    fs::remove_all(root_);
  }

  void OpenService(const SqlcipherAuditTrailOptions& options) {
    service_.reset();
    trail_.reset();
    auto trail = SqlcipherAuditTrail::Open(*store_, options);
    ASSERT_TRUE(trail) << trail.error().ToString();
    trail_ = std::move(*trail);
    ServiceOptions so = TestServiceOptions(*store_);
    so.audit = trail_.get();
    so.log_sink = [this](std::string_view line) {
      std::lock_guard lock(log_mu_);
      log_.emplace_back(line);
    };
    auto service = SyncService::Create(so);
    ASSERT_TRUE(service) << service.error().ToString();
    service_ = std::move(*service);
  }

  Response Call(std::string method, std::string target, std::string body = "",
                const std::string& token = "",
                std::string peer = "127.0.0.1") {
    return CallService(*service_, std::move(method), target, std::move(body),
                       token, "application/json", std::move(peer));
  }

  std::string Login(std::string_view username,
                    std::string_view password = kPassword) {
    return LoginAs(*service_, username, password);
  }

  // The central site's chain as stored, decoded.
  std::vector<engine::AuditEvent> CentralEvents() {
    std::vector<engine::AuditEvent> out;
    std::int64_t after = 0;
    for (;;) {
      auto page = trail_->ChainRecords(central_, after, 1000);
      EXPECT_TRUE(page) << page.error().ToString();
      if (!page || page->empty()) break;
      for (const StoredAuditEvent& e : *page) {
        auto ev = engine::DecodeAuditEvent(e.event);
        EXPECT_TRUE(ev) << ev.error().ToString();
        if (ev) out.push_back(*ev);
        after = e.seq;
      }
    }
    return out;
  }

  // The clinic replica of site_ (made on first use).
  engine::ClinicReplica& Clinic() {
    if (!clinic_) {
      auto clinic = CreateClinicReplica(root_ / "clinic", site_, "clinic pw",
                                        store_options_);
      EXPECT_TRUE(clinic) << clinic.error().ToString();
      clinic_ = std::move(*clinic);
    }
    return *clinic_;
  }

  // `n` audited views at the clinic by the technician: n chained records.
  void ClinicAuditEvents(int n) {
    engine::ClinicReplica& c = Clinic();
    engine::Principal who;
    who.user_id = engine::Uuid::Parse(tech_).value();
    who.role = engine::Role::kTechnician;
    who.site = engine::Uuid::Parse(site_).value();
    for (int i = 0; i < n; ++i) {
      engine::AuditFact fact;
      fact.actor = &who;
      fact.action = engine::AuditAction::kView;
      fact.object_type = "patients";
      fact.object_id = engine::NewUuidV7().ToString();
      Status s = engine::CommitAudited(c.writer(), c.audit_log(), fact, {});
      ASSERT_TRUE(s) << s.error().ToString();
    }
  }

  // The clinic outbox's audit_events entries not yet taken, in order.
  std::vector<engine::ChangeEntry> TakeClinicAuditEntries() {
    engine::Database& db = Clinic().database();
    auto stmt = db.Prepare(
        "SELECT seq, entry FROM change_log WHERE seq > ? ORDER BY seq");
    EXPECT_TRUE(stmt);
    EXPECT_TRUE(stmt->BindInt64(1, outbox_taken_));
    std::vector<engine::ChangeEntry> out;
    for (;;) {
      auto more = stmt->Step();
      EXPECT_TRUE(more);
      if (!more || !*more) break;
      outbox_taken_ = stmt->ColumnInt64(0).value();
      auto entry = engine::DecodeChange(stmt->ColumnText(1).value());
      EXPECT_TRUE(entry);
      if (entry && entry->table == "audit_events") out.push_back(*entry);
    }
    return out;
  }

  Response Push(const std::string& token,
                const std::vector<engine::ChangeEntry>& changes,
                std::string batch_id = "") {
    engine::sync::PushRequest push;
    push.batch_id =
        batch_id.empty() ? engine::NewUuidV7().ToString() : batch_id;
    push.site = site_;
    push.schema_version = kSupportedClinicSchemaVersion;
    push.client_time_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                              std::chrono::system_clock::now().time_since_epoch())
                              .count();
    push.changes = changes;
    auto body = engine::sync::EncodePushRequest(push);
    EXPECT_TRUE(body) << body.error().ToString();
    return Call("POST", "/api/v1/sync/push", *body, token);
  }

  std::vector<std::string> LogLines() {
    std::lock_guard lock(log_mu_);
    return log_;
  }

  fs::path root_;
  CentralStoreOptions store_options_ = TestStoreOptions();
  SqlcipherAuditTrailOptions trail_options_;
  std::unique_ptr<SqlcipherCentralStore> store_;
  std::unique_ptr<SqlcipherAuditTrail> trail_;
  std::unique_ptr<SyncService> service_;
  std::unique_ptr<engine::ClinicReplica> clinic_;
  std::string central_, site_, tech_, auditor_, admin_;
  std::int64_t outbox_taken_ = 0;
  std::mutex log_mu_;
  std::vector<std::string> log_;
};

}  // namespace pulse::sync_server::testing

#endif  // PULSE_TESTS_SYNC_SERVER_AUDIT_FIXTURE_H_
