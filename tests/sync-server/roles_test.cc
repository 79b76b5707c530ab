// Issue 5 "Roles": every endpoint × every role × own / other site, plus
// missing, forged, expired and revoked tokens, against the real SQLCipher
// central store with every store the server has (admin, audit, blobs).
// The expectations are written out here by hand from DESIGN.md §5/§6 and
// docs/security.md, independently of the code's matrix: a change to who
// may call what must change this table too.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "pulse/engine/blob_store.h"
#include "pulse/engine/hash.h"
#include "pulse/engine/sync_protocol.h"
#include "pulse/engine/uuid.h"
#include "pulse/sync_server/service.h"
#include "pulse/sync_server/sqlcipher_admin_store.h"
#include "pulse/sync_server/sqlcipher_audit_trail.h"
#include "pulse/sync_server/sqlcipher_blob_store.h"
#include "pulse/sync_server/sqlcipher_central_store.h"
#include "sync-server/server_fixture.h"

namespace pulse::sync_server {
namespace {

namespace fs = std::filesystem;
namespace sync = engine::sync;

constexpr std::string_view kPassword = "Roles-Test-Password-2026";

// Callers: each role, clinic staff at site A (the data's site) or B.
enum Caller { kAdmin, kAuditor, kClinicianA, kTechnicianA, kClinicianB };
constexpr Caller kCallers[] = {kAdmin, kAuditor, kClinicianA, kTechnicianA,
                               kClinicianB};
const char* Name(Caller c) {
  switch (c) {
    case kAdmin: return "admin";
    case kAuditor: return "auditor";
    case kClinicianA: return "clinician@A";
    case kTechnicianA: return "technician@A";
    case kClinicianB: return "clinician@B";
  }
  return "?";
}

// What a caller gets: let through the role check (any status the request
// itself earns, 2xx or a 400/404/409 for the test's minimal bodies), or
// refused (403).
enum Verdict { kAllowed, kForbidden };

struct Endpoint {
  std::string method;
  std::string target;  // "{site}" is replaced by the caller's site
  std::string body;
  std::string content_type = "application/json";
  std::map<Caller, Verdict> verdicts;
};

class RolesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = testing::FreshTempDir("roles");
    store_ = SqlcipherCentralStore::Create(root_ / "central", "pass",
                                           testing::TestStoreOptions())
                 .value();
    site_a_ = store_->AddSite({"Kisumu", "Nyanza", "Africa/Nairobi"}, "").value();
    site_b_ = store_->AddSite({"Eldoret", "Rift", "Africa/Nairobi"}, "").value();
    const std::vector<std::pair<Caller, NewUser>> users = {
        {kAdmin, {"admin", "Admin", engine::Role::kAdmin, std::nullopt, kPassword}},
        {kAuditor, {"auditor", "Auditor", engine::Role::kAuditor, std::nullopt, kPassword}},
        {kClinicianA, {"clin.a", "Clin A", engine::Role::kClinician, site_a_, kPassword}},
        {kTechnicianA, {"tech.a", "Tech A", engine::Role::kTechnician, site_a_, kPassword}},
        {kClinicianB, {"clin.b", "Clin B", engine::Role::kClinician, site_b_, kPassword}},
    };
    for (const auto& [caller, user] : users) {
      ASSERT_TRUE(store_->AddUser(user, ""));
      usernames_[caller] = user.username;
    }
    audit_ = SqlcipherAuditTrail::Open(*store_).value();
    admin_ = std::make_unique<SqlcipherAdminStore>(*store_);
    blobs_ = std::make_unique<SqlcipherBlobStore>(*store_);
    ServiceOptions so = testing::TestServiceOptions(*store_);
    so.audit = audit_.get();
    so.admin = admin_.get();
    so.blobs = blobs_.get();
    service_ = SyncService::Create(so).value();
    for (Caller c : kCallers) tokens_[c] = Login(usernames_[c]);

    // A blob of site A, uploaded by its technician.
    blob_bytes_ = "twelve-lead waveform segment";
    blob_id_ = engine::BlobIdOf(std::span(
        reinterpret_cast<const std::uint8_t*>(blob_bytes_.data()),
        blob_bytes_.size()));
    Response put = Call("PUT", "/api/v1/blobs/" + blob_id_, blob_bytes_,
                        tokens_[kTechnicianA], "application/octet-stream");
    ASSERT_EQ(put.status, 201) << put.body;
  }
  void TearDown() override {
    service_.reset();
    blobs_.reset();
    admin_.reset();
    audit_.reset();
    store_.reset();
    fs::remove_all(root_);
  }

  Response Call(const std::string& method, const std::string& target,
                const std::string& body, const std::string& token,
                const std::string& content_type = "application/json") {
    return testing::CallService(*service_, method, target, body, token,
                                content_type);
  }
  std::string Login(const std::string& username) {
    return testing::LoginAs(*service_, username, kPassword);
  }
  std::string SiteOf(Caller c) const {
    return c == kClinicianB ? site_b_ : site_a_;
  }
  std::string PushBody(const std::string& site) const {
    sync::PushRequest p;
    p.batch_id = engine::NewUuidV7().ToString();
    p.site = site;
    p.schema_version = kSupportedClinicSchemaVersion;
    return sync::EncodePushRequest(p).value();
  }

  std::vector<Endpoint> Endpoints() const {
    const std::string unknown = engine::NewUuidV7().ToString();
    const std::map<Caller, Verdict> admin_only = {
        {kAdmin, kAllowed}, {kAuditor, kForbidden}, {kClinicianA, kForbidden},
        {kTechnicianA, kForbidden}, {kClinicianB, kForbidden}};
    const std::map<Caller, Verdict> auditor_only = {
        {kAdmin, kForbidden}, {kAuditor, kAllowed}, {kClinicianA, kForbidden},
        {kTechnicianA, kForbidden}, {kClinicianB, kForbidden}};
    const std::map<Caller, Verdict> clinic_staff = {
        {kAdmin, kForbidden}, {kAuditor, kForbidden}, {kClinicianA, kAllowed},
        {kTechnicianA, kAllowed}, {kClinicianB, kAllowed}};
    std::vector<Endpoint> e = {
        {"GET", "/api/v1/sync/pull?cursor=0&limit=10", "", "", clinic_staff},
        // Push of the caller's own site (PushBody is made per caller).
        {"POST", "/api/v1/sync/push", "{own}", "application/json", clinic_staff},
        // Push naming site A: only A's staff.
        {"POST", "/api/v1/sync/push", "{site A}", "application/json",
         {{kAdmin, kForbidden}, {kAuditor, kForbidden}, {kClinicianA, kAllowed},
          {kTechnicianA, kAllowed}, {kClinicianB, kForbidden}}},
        // A blob of site A: its staff and the admin read it.
        {"GET", "/api/v1/blobs/" + blob_id_, "", "",
         {{kAdmin, kAllowed}, {kAuditor, kForbidden}, {kClinicianA, kAllowed},
          {kTechnicianA, kAllowed}, {kClinicianB, kForbidden}}},
        // Uploads come from clinic staff only.
        {"PUT", "/api/v1/blobs/" + blob_id_, blob_bytes_,
         "application/octet-stream", clinic_staff},
    };
    for (const char* get : {"sites", "patients?q=a", "recordings", "conflicts",
                            "users", "devices"}) {
      e.push_back({"GET", std::string("/api/v1/admin/") + get, "", "", admin_only});
    }
    for (const char* get : {"sites/", "patients/", "users/"}) {
      e.push_back({"GET", std::string("/api/v1/admin/") + get + unknown, "", "",
                   admin_only});
    }
    for (const char* post : {"sites", "users", "devices"}) {
      e.push_back({"POST", std::string("/api/v1/admin/") + post, "{}",
                   "application/json", admin_only});
    }
    e.push_back({"POST", "/api/v1/admin/conflicts/" + unknown + "/resolve", "{}",
                 "application/json", admin_only});
    e.push_back({"PATCH", "/api/v1/admin/users/" + unknown, "{}",
                 "application/json", admin_only});
    e.push_back({"PATCH", "/api/v1/admin/devices/" + unknown, "{}",
                 "application/json", admin_only});
    const std::vector<std::string> audit_gets = {
        "events", "sites", "checkpoints", "key",
        "sites/" + site_a_ + "/verify", "sites/" + site_a_ + "/chain"};
    for (const std::string& get : audit_gets) {
      e.push_back({"GET", "/api/v1/audit/" + get, "", "", auditor_only});
    }
    e.push_back({"POST", "/api/v1/audit/checkpoints", "", "", auditor_only});
    return e;
  }

  fs::path root_;
  std::unique_ptr<SqlcipherCentralStore> store_;
  std::unique_ptr<SqlcipherAuditTrail> audit_;
  std::unique_ptr<SqlcipherAdminStore> admin_;
  std::unique_ptr<SqlcipherBlobStore> blobs_;
  std::unique_ptr<SyncService> service_;
  std::map<Caller, std::string> usernames_, tokens_;
  std::string site_a_, site_b_, blob_bytes_, blob_id_;
};

TEST_F(RolesTest, EveryEndpointForEveryRoleAndSite) {
  int checked = 0;
  for (const Endpoint& e : Endpoints()) {
    for (Caller c : kCallers) {
      std::string body = e.body;
      if (body == "{own}") body = PushBody(SiteOf(c));
      if (body == "{site A}") body = PushBody(site_a_);
      const Response r = Call(e.method, e.target, body, tokens_[c],
                              e.content_type);
      const Verdict want = e.verdicts.at(c);
      SCOPED_TRACE(e.method + " " + e.target + " as " + Name(c));
      if (want == kForbidden) {
        EXPECT_EQ(r.status, 403) << r.body;
        EXPECT_EQ(r.content_type, "application/problem+json");
      } else {
        EXPECT_NE(r.status, 401) << r.body;
        EXPECT_NE(r.status, 403) << r.body;
        EXPECT_LT(r.status, 500) << r.body;
      }
      ++checked;
    }
  }
  EXPECT_GE(checked, 5 * 25);
}

TEST_F(RolesTest, MissingForgedExpiredAndRevokedTokensAre401Everywhere) {
  // Expired: a session whose absolute expiry has passed.
  const std::vector<std::uint8_t> bytes(32, 0x42);
  Session expired;
  expired.token_hash = engine::HexEncode(engine::Blake2b256(bytes));
  expired.user_id = store_->FindUserByName("admin").value()->id;
  expired.role = engine::Role::kAdmin;
  expired.created_ms = 1'000;
  expired.last_seen_ms = 1'000;
  expired.expires_ms = 2'000;
  ASSERT_TRUE(store_->CreateSession(expired));
  // Revoked: logged out.
  std::map<Caller, std::string> revoked;
  for (Caller c : kCallers) {
    revoked[c] = Login(usernames_[c]);
    ASSERT_EQ(Call("POST", "/api/v1/auth/logout", "", revoked[c]).status, 204);
  }
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"missing", ""},
      {"forged", std::string(64, 'f')},
      {"malformed", "not-a-token"},
      {"expired", engine::HexEncode(bytes)},
      {"revoked admin", revoked[kAdmin]},
      {"revoked auditor", revoked[kAuditor]},
      {"revoked clinician", revoked[kClinicianA]},
  };
  std::vector<Endpoint> endpoints = Endpoints();
  endpoints.push_back({"POST", "/api/v1/auth/logout", "", "", {}});
  for (const Endpoint& e : endpoints) {
    for (const auto& [what, token] : bad) {
      std::string body = e.body;
      if (body == "{own}" || body == "{site A}") body = PushBody(site_a_);
      const Response r = Call(e.method, e.target, body, token, e.content_type);
      EXPECT_EQ(r.status, 401) << e.method << " " << e.target << " with a "
                               << what << " token: " << r.body;
    }
  }
  // Health and metrics need no token.
  EXPECT_EQ(Call("GET", "/healthz", "", "").status, 200);
  EXPECT_EQ(Call("GET", "/metrics", "", "").status, 200);
}

}  // namespace
}  // namespace pulse::sync_server
