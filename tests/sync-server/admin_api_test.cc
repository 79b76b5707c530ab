// The admin API (/api/v1/admin/..., admin_handlers.cc) end to end in one
// process: SyncService::Handle over the real SQLCipher central store and
// SqlcipherAdminStore, with real clinic replicas syncing through the real
// SyncClient (its transport calls Handle directly). Only the audit trail is
// a recording double, so that the tests can see every event and make
// appends fail.
#include "pulse/sync_server/sqlcipher_admin_store.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "pulse/engine/conflicts.h"
#include "pulse/engine/patients.h"
#include "pulse/engine/recordings.h"
#include "pulse/engine/replica.h"
#include "pulse/engine/sync_client.h"
#include "pulse/engine/sync_transport.h"
#include "pulse/sync_server/audit_trail.h"
#include "pulse/sync_server/service.h"
#include "pulse/sync_server/sqlcipher_central_store.h"
#include "support/manual_clock.h"
#include "support/temp_dir.h"

namespace pulse::sync_server {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using ::pulse::testing::ManualClock;

constexpr std::int64_t kNowMs = 1'763'900'000'000;  // 2025-11-23
constexpr std::string_view kStorePassphrase = "central store passphrase";
constexpr std::string_view kClinicPassphrase = "clinic replica passphrase";
constexpr std::string_view kPassword = "Admin-Api-Passw0rd-2026";

// Records every appended event; can be told to fail.
class RecordingAuditTrail final : public AuditTrail {
 public:
  Status Append(const AuditRecord& record) override {
    std::lock_guard lock(mu_);
    if (fail_) return Fail(ErrorCode::kIoError, "audit: disk full (test)");
    records_.push_back(record);
    return OkStatus();
  }
  void SetFailing(bool on) {
    std::lock_guard lock(mu_);
    fail_ = on;
  }
  std::vector<AuditRecord> Take() {
    std::lock_guard lock(mu_);
    return std::exchange(records_, {});
  }

  Status CheckContinuity() override { return Unsupported(); }
  Result<std::vector<ChainStatus>> ChainStatuses() override {
    return Unsupported();
  }
  Result<std::optional<ChainStatus>> SiteChainStatus(
      std::string_view) override {
    return Unsupported();
  }
  Result<AuditEventPage> QueryEvents(const AuditEventQuery&) override {
    return Unsupported();
  }
  Result<std::vector<StoredAuditEvent>> ChainRecords(std::string_view,
                                                     std::int64_t,
                                                     int) override {
    return Unsupported();
  }
  Result<SiteVerification> VerifySite(std::string_view) override {
    return Unsupported();
  }
  Result<std::vector<AuditCheckpoint>> Checkpoints(std::int64_t,
                                                   int) override {
    return Unsupported();
  }
  Result<AuditCheckpoint> MakeCheckpoint() override { return Unsupported(); }
  std::string PublicKeyHex() const override { return std::string(64, '0'); }
  std::string KeyId() const override { return std::string(16, '0'); }
  AuditTrailStats Stats() const override { return {}; }

 private:
  static tl::unexpected<Error> Unsupported() {
    return Fail(ErrorCode::kUnsupported, "not in this test double");
  }
  std::mutex mu_;
  bool fail_ = false;
  std::vector<AuditRecord> records_;
};

// The sync client's transport, straight into SyncService::Handle.
class InProcessTransport final : public engine::SyncTransport {
 public:
  explicit InProcessTransport(SyncService& service) : service_(service) {}
  Result<engine::HttpResponse> Send(const engine::HttpRequest& in) override {
    Request request;
    request.method = in.method;
    request.SetTarget(in.target);
    for (const auto& [name, value] : in.headers) {
      std::string lower = name;
      std::transform(lower.begin(), lower.end(), lower.begin(), [](char c) {
        return static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      });
      request.headers[lower] = value;
    }
    request.body = in.body;
    request.peer = "127.0.0.1";
    const Response r = service_.Handle(request);
    engine::HttpResponse out;
    out.status = r.status;
    out.body = r.body;
    if (!r.content_type.empty()) {
      out.headers.emplace_back("Content-Type", r.content_type);
    }
    for (const auto& h : r.headers) out.headers.push_back(h);
    return out;
  }

 private:
  SyncService& service_;
};

class AdminApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    root_ = pulse::testing::TempRoot() / (std::string("admin_") + info->name());
    fs::remove_all(root_);
    fs::create_directories(root_);
    wall_.SetMs(kNowMs);
    CentralStoreOptions o;
    o.kdf = engine::KdfLimits{1, engine::kMinKdfMemLimitBytes};
    o.password_cost = engine::kTestPasswordHashCost;
    o.wall_clock = &wall_;
    o.readers = 2;
    auto central = SqlcipherCentralStore::Create(root_ / "central",
                                                 kStorePassphrase, o);
    ASSERT_TRUE(central) << central.error().ToString();
    central_ = std::move(*central);
    site_a_ = central_->AddSite({"Kisumu", "Nyanza", "Africa/Nairobi"}, "")
                  .value();
    site_b_ = central_->AddSite({"Eldoret", "Rift", "Africa/Nairobi"}, "")
                  .value();
    admin_id_ = AddUser("root.admin", engine::Role::kAdmin, std::nullopt);
    tech_a_ = AddUser("tech.a", engine::Role::kTechnician, site_a_);
    clin_a_ = AddUser("clin.a", engine::Role::kClinician, site_a_);
    tech_b_ = AddUser("tech.b", engine::Role::kTechnician, site_b_);
    auditor_ = AddUser("audit.or", engine::Role::kAuditor, std::nullopt);
    MakeService(AdminStoreOptions{});
  }
  void TearDown() override {
    clients_.clear();
    transport_.reset();
    replicas_.clear();
    service_.reset();
    admin_.reset();
    central_.reset();
    fs::remove_all(root_);
  }

  void MakeService(AdminStoreOptions admin_options) {
    service_.reset();
    admin_ = std::make_unique<SqlcipherAdminStore>(*central_, admin_options);
    ServiceOptions s;
    s.store = central_.get();
    s.admin = admin_.get();
    s.audit = &audit_;
    s.clock = &wall_;
    s.dummy_hash_cost = engine::kTestPasswordHashCost;
    s.log_sink = [](std::string_view) {};
    auto service = SyncService::Create(s);
    ASSERT_TRUE(service) << service.error().ToString();
    service_ = std::move(*service);
    transport_ = std::make_unique<InProcessTransport>(*service_);
    tokens_.clear();
  }

  std::string AddUser(const std::string& name, engine::Role role,
                      std::optional<std::string> site) {
    auto id = central_->AddUser({name, "Test " + name, role, site, kPassword},
                                "");
    EXPECT_TRUE(id) << id.error().ToString();
    return id.value_or("");
  }

  Response Call(std::string method, std::string target,
                const std::string& token, std::string body = "",
                std::string content_type = "application/json") {
    Request r;
    r.method = std::move(method);
    r.SetTarget(target);
    if (!token.empty()) r.headers["authorization"] = "Bearer " + token;
    if (!body.empty() || r.method == "POST" || r.method == "PATCH") {
      r.headers["content-type"] = content_type;
    }
    r.body = std::move(body);
    r.peer = "127.0.0.1";
    return service_->Handle(r);
  }

  std::string Login(const std::string& username,
                    std::string_view password = kPassword) {
    json body = {{"username", username}, {"password", password}};
    Response r = Call("POST", "/api/v1/auth/login", "", body.dump());
    EXPECT_EQ(r.status, 200) << r.body;
    if (r.status != 200) return "";
    return json::parse(r.body).at("token").get<std::string>();
  }
  const std::string& TokenOf(const std::string& username) {
    auto it = tokens_.find(username);
    if (it == tokens_.end()) it = tokens_.emplace(username, Login(username)).first;
    return it->second;
  }
  Response Admin(std::string method, std::string target,
                 std::string body = "") {
    return Call(std::move(method), std::move(target), TokenOf("root.admin"),
                std::move(body));
  }
  static json Body(const Response& r) { return json::parse(r.body); }

  // A clinic replica of `site` (its own directory) and its sync client,
  // signed in as `username`.
  engine::ClinicReplica& Replica(const std::string& name,
                                 const std::string& site,
                                 const std::string& username) {
    engine::ReplicaOptions o;
    o.kdf = engine::KdfLimits{1, engine::kMinKdfMemLimitBytes};
    o.users.hash_cost = engine::kTestPasswordHashCost;
    o.wall_clock = &wall_;
    o.database.synchronous = engine::Synchronous::kNormal;
    auto r = engine::ClinicReplica::Create(
        root_ / name,
        engine::ReplicaSetup{engine::Uuid::Parse(site).value(),
                             kClinicPassphrase},
        o);
    EXPECT_TRUE(r) << r.error().ToString();
    replicas_[name] = std::move(*r);
    engine::SyncClientOptions c;
    c.username = username;
    c.password = [] { return Result<std::string>(std::string(kPassword)); };
    c.interval = std::chrono::milliseconds(0);
    c.wall_clock = &wall_;
    auto client = engine::SyncClient::Create(*replicas_[name], *transport_, c);
    EXPECT_TRUE(client) << client.error().ToString();
    clients_[name] = std::move(*client);
    return *replicas_[name];
  }
  void Sync(const std::string& name) {
    auto s = clients_.at(name)->SyncOnce();
    ASSERT_TRUE(s) << name << ": " << s.error().ToString();
  }
  std::string Register(engine::ClinicReplica& r, const std::string& user,
                       engine::PatientInput in) {
    engine::Principal who{engine::Uuid::Parse(user).value(),
                          engine::Role::kTechnician, r.site_id()};
    auto id = r.patients().Register(who, in);
    EXPECT_TRUE(id) << id.error().ToString();
    wall_.AdvanceMs(3);
    return id.value_or("");
  }

  // Every page of `target` (which has no cursor) at `limit`, in order.
  std::vector<json> Walk(const std::string& target, const std::string& key,
                         int limit) {
    std::vector<json> all;
    std::string cursor;
    const char sep = target.find('?') == std::string::npos ? '?' : '&';
    for (int pages = 0; pages < 1000; ++pages) {
      std::string t = target + sep + "limit=" + std::to_string(limit);
      if (!cursor.empty()) t += "&cursor=" + cursor;
      Response r = Admin("GET", t);
      EXPECT_EQ(r.status, 200) << t << ": " << r.body;
      if (r.status != 200) break;
      json page = Body(r);
      EXPECT_LE(page.at(key).size(), static_cast<std::size_t>(limit));
      for (const json& row : page.at(key)) all.push_back(row);
      if (page.at("next_cursor").is_null()) break;
      cursor = page.at("next_cursor").get<std::string>();
    }
    return all;
  }

  fs::path root_;
  ManualClock wall_;
  RecordingAuditTrail audit_;
  std::unique_ptr<SqlcipherCentralStore> central_;
  std::unique_ptr<SqlcipherAdminStore> admin_;
  std::unique_ptr<SyncService> service_;
  std::unique_ptr<InProcessTransport> transport_;
  std::map<std::string, std::unique_ptr<engine::ClinicReplica>> replicas_;
  std::map<std::string, std::unique_ptr<engine::SyncClient>> clients_;
  std::map<std::string, std::string> tokens_;
  std::string site_a_, site_b_, admin_id_, tech_a_, clin_a_, tech_b_,
      auditor_;
};

TEST_F(AdminApiTest, NonAdminRolesAreRefusedAndTheRefusalIsAudited) {
  const std::vector<std::pair<std::string, std::string>> calls = {
      {"GET", "/api/v1/admin/sites"},
      {"GET", "/api/v1/admin/patients?q=a"},
      {"GET", "/api/v1/admin/conflicts"},
      {"GET", "/api/v1/admin/users"},
      {"POST", "/api/v1/admin/users"},
  };
  for (const std::string user : {"tech.a", "clin.a", "audit.or"}) {
    (void)TokenOf(user);  // its login event is not the one looked for
    for (const auto& [method, target] : calls) {
      audit_.Take();
      Response r = Call(method, target, TokenOf(user),
                        method == "POST" ? "{}" : "");
      EXPECT_EQ(r.status, 403) << user << " " << target << ": " << r.body;
      EXPECT_EQ(r.content_type, "application/problem+json");
      auto events = audit_.Take();
      ASSERT_EQ(events.size(), 1u) << user << " " << target;
      EXPECT_EQ(events[0].action, engine::AuditAction::kPermissionDenied);
      EXPECT_EQ(events[0].outcome, engine::AuditOutcome::kDenied);
    }
  }
  // No token, and a token of nobody: 401 before anything else.
  EXPECT_EQ(Call("GET", "/api/v1/admin/sites", "").status, 401);
  EXPECT_EQ(Call("GET", "/api/v1/admin/sites", std::string(64, 'a')).status,
            401);
  // The admin passes.
  EXPECT_EQ(Admin("GET", "/api/v1/admin/sites").status, 200);
}

TEST_F(AdminApiTest, SitesShowLastPushAndPullAfterARealSync) {
  Response before = Admin("GET", "/api/v1/admin/sites");
  ASSERT_EQ(before.status, 200) << before.body;
  const json before_sites = Body(before).at("sites");
  for (const json& s : before_sites) {
    EXPECT_TRUE(s.at("last_push_ms").is_null());
    EXPECT_TRUE(s.at("last_pull_ms").is_null());
  }
  engine::ClinicReplica& a = Replica("a", site_a_, "tech.a");
  Register(a, tech_a_, {"KSM-1", "Amina", "Otieno", "1980-02-03", "F", "", ""});
  wall_.AdvanceMs(5000);
  const std::int64_t synced_at = kNowMs + 5003;
  Sync("a");

  json sites = Body(Admin("GET", "/api/v1/admin/sites")).at("sites");
  ASSERT_EQ(sites.size(), 2u);
  std::map<std::string, json> by_id;
  for (const json& s : sites) by_id[s.at("id").get<std::string>()] = s;
  const json& sa = by_id.at(site_a_);
  EXPECT_EQ(sa.at("name"), "Kisumu");
  EXPECT_EQ(sa.at("timezone"), "Africa/Nairobi");
  EXPECT_EQ(sa.at("last_push_ms"), synced_at);
  EXPECT_EQ(sa.at("last_pull_ms"), synced_at);
  EXPECT_EQ(sa.at("open_conflicts"), 0);
  EXPECT_TRUE(by_id.at(site_b_).at("last_push_ms").is_null());

  // A new site through the API: 201, listed, and validated.
  Response made = Admin("POST", "/api/v1/admin/sites",
                        R"({"name":"Nakuru","region":"Rift","timezone":"Africa/Nairobi"})");
  ASSERT_EQ(made.status, 201) << made.body;
  const std::string id = Body(made).at("id");
  EXPECT_EQ(Admin("GET", "/api/v1/admin/sites/" + id).status, 200);
  EXPECT_EQ(Admin("POST", "/api/v1/admin/sites",
                  R"({"name":"X","timezone":"not a zone"})")
                .status,
            400);
  Response unknown = Admin("POST", "/api/v1/admin/sites",
                           R"({"name":"X","timezone":"UTC","colour":"red"})");
  EXPECT_EQ(unknown.status, 400);
  EXPECT_NE(Body(unknown).at("detail").get<std::string>().find("'colour'"),
            std::string::npos);
  EXPECT_EQ(Admin("POST", "/api/v1/admin/sites",
                  R"({"name":7,"timezone":"UTC"})")
                .status,
            400);
  EXPECT_EQ(Call("POST", "/api/v1/admin/sites", TokenOf("root.admin"),
                 R"({"name":"X","timezone":"UTC"})", "text/plain")
                .status,
            415);
}

// Patients of two sites, searched by MRN/name prefix in any case, paged
// without duplicates or gaps, filtered by site; both search plans (index
// union and id-order walk) give the same pages.
TEST_F(AdminApiTest, PatientSearchMatchesPrefixesAcrossSitesAndPagesCleanly) {
  engine::ClinicReplica& a = Replica("a", site_a_, "tech.a");
  engine::ClinicReplica& b = Replica("b", site_b_, "tech.b");
  const std::vector<std::string> families = {"Otieno", "Odhiambo", "Kamau",
                                             "otis", "Wanjiru", "Ochieng"};
  std::map<std::string, std::string> family_of;  // id -> family name
  std::map<std::string, std::string> site_of;
  for (int i = 0; i < 24; ++i) {
    const bool at_a = i % 3 != 0;
    engine::ClinicReplica& r = at_a ? a : b;
    const std::string mrn = (at_a ? "KSM-" : "ELD-") + std::to_string(100 + i);
    const std::string family = families[static_cast<std::size_t>(i) %
                                        families.size()];
    const std::string id = Register(r, at_a ? tech_a_ : tech_b_,
                                    {mrn, i % 2 ? "Grace" : "Peter", family,
                                     "1990-05-06", "U", "", ""});
    family_of[id] = family;
    site_of[id] = at_a ? site_a_ : site_b_;
  }
  Sync("a");
  Sync("b");

  auto expect_ids = [&](auto pred) {
    std::vector<std::string> ids;
    for (const auto& [id, family] : family_of) {
      if (pred(id, family)) ids.push_back(id);
    }
    return ids;  // std::map keeps them sorted: the API's order
  };
  auto ids_of = [](const std::vector<json>& rows) {
    std::vector<std::string> ids;
    for (const json& row : rows) ids.push_back(row.at("id"));
    return ids;
  };
  auto lower_starts = [](std::string s, std::string p) {
    for (char& c : s) c = static_cast<char>(std::tolower(c));
    return s.rfind(p, 0) == 0;
  };

  for (const AdminStoreOptions plan : {AdminStoreOptions{2000},
                                       AdminStoreOptions{1}}) {
    SCOPED_TRACE("dense_probe_limit " + std::to_string(plan.dense_probe_limit));
    MakeService(plan);
    // "OTI" matches Otieno and otis, in any case; pages of 3.
    const auto oti = expect_ids([&](const std::string&, const std::string& f) {
      return lower_starts(f, "oti");
    });
    ASSERT_EQ(oti.size(), 8u);
    for (std::string q : {"OTI", "oti", "oTi"}) {
      auto rows = Walk("/api/v1/admin/patients?q=" + q, "patients", 3);
      EXPECT_EQ(ids_of(rows), oti) << q;
    }
    // "o" matches Otieno, Odhiambo, otis, Ochieng.
    const auto o = expect_ids([&](const std::string&, const std::string& f) {
      return lower_starts(f, "o");
    });
    EXPECT_EQ(ids_of(Walk("/api/v1/admin/patients?q=o", "patients", 5)), o);
    // MRN prefix, case-insensitive, and the site filter.
    const auto ksm = expect_ids([&](const std::string& id, const std::string&) {
      return site_of[id] == site_a_;
    });
    EXPECT_EQ(ids_of(Walk("/api/v1/admin/patients?q=ksm-", "patients", 4)),
              ksm);
    EXPECT_EQ(ids_of(Walk("/api/v1/admin/patients?site=" + site_a_,
                          "patients", 7)),
              ksm);
    const auto o_at_b = expect_ids([&](const std::string& id,
                                       const std::string& f) {
      return site_of[id] == site_b_ && lower_starts(f, "o");
    });
    EXPECT_EQ(ids_of(Walk("/api/v1/admin/patients?q=O&site=" + site_b_,
                          "patients", 2)),
              o_at_b);
    // Given names too; no match is an empty page.
    EXPECT_EQ(Walk("/api/v1/admin/patients?q=gra", "patients", 50).size(), 12u);
    EXPECT_TRUE(Walk("/api/v1/admin/patients?q=zz", "patients", 50).empty());
    // Everything, paged by 5: all 24, no duplicates.
    EXPECT_EQ(ids_of(Walk("/api/v1/admin/patients", "patients", 5)),
              expect_ids([](auto&, auto&) { return true; }));
  }

  // Each listed patient is audited as viewed, with its id.
  audit_.Take();
  Response page = Admin("GET", "/api/v1/admin/patients?q=kam");
  ASSERT_EQ(page.status, 200);
  const json rows = Body(page).at("patients");
  ASSERT_EQ(rows.size(), 4u);
  EXPECT_FALSE(rows[0].contains("phone"));  // contact fields: detail only
  auto events = audit_.Take();
  ASSERT_EQ(events.size(), 4u);
  std::set<std::string> audited;
  for (const AuditRecord& e : events) {
    EXPECT_EQ(e.action, engine::AuditAction::kView);
    EXPECT_EQ(e.object_type, "patients");
    ASSERT_TRUE(e.patient);
    audited.insert(*e.patient);
  }
  std::set<std::string> listed;
  for (const json& row : rows) listed.insert(row.at("id"));
  EXPECT_EQ(audited, listed);

  // One patient's detail (audited), and the errors around it.
  const std::string id = rows[0].at("id");
  Response one = Admin("GET", "/api/v1/admin/patients/" + id);
  ASSERT_EQ(one.status, 200) << one.body;
  EXPECT_EQ(Body(one).at("family_name"), "Kamau");
  EXPECT_EQ(Body(one).at("recording_count"), 0);
  EXPECT_EQ(audit_.Take().size(), 1u);
  std::string upper = id;
  for (char& c : upper) c = static_cast<char>(std::toupper(c));
  EXPECT_EQ(Admin("GET", "/api/v1/admin/patients/" + upper).status, 400);
  EXPECT_EQ(Admin("GET", "/api/v1/admin/patients/not-a-uuid").status, 400);
  EXPECT_EQ(Admin("GET", "/api/v1/admin/patients/" + site_a_).status, 404);
  EXPECT_EQ(Admin("GET", "/api/v1/admin/patients?limit=0").status, 400);
  EXPECT_EQ(Admin("GET", "/api/v1/admin/patients?limit=201").status, 400);
  EXPECT_EQ(Admin("GET", "/api/v1/admin/patients?cursor=12").status, 400);
  EXPECT_EQ(Admin("GET", "/api/v1/admin/patients?qq=a").status, 400);
  EXPECT_EQ(Admin("GET", "/api/v1/admin/patients?q=" + std::string(65, 'a'))
                .status,
            400);
  EXPECT_EQ(Admin("DELETE", "/api/v1/admin/patients").status, 405);
  EXPECT_EQ(Admin("GET", "/api/v1/admin/nothing").status, 404);
  EXPECT_EQ(Admin("GET", "/api/v1/admin/patients/" + id + "/x").status, 404);
}

TEST_F(AdminApiTest, AReadIsWithheldWhenItsAuditEventCannotBeWritten) {
  engine::ClinicReplica& a = Replica("a", site_a_, "tech.a");
  Register(a, tech_a_, {"KSM-9", "Amina", "Otieno", "1980-02-03", "F", "", ""});
  Sync("a");
  (void)TokenOf("root.admin");
  audit_.SetFailing(true);
  Response r = Admin("GET", "/api/v1/admin/patients?q=oti");
  EXPECT_EQ(r.status, 500);
  EXPECT_EQ(r.body.find("Otieno"), std::string::npos);
  EXPECT_EQ(r.body.find("KSM-9"), std::string::npos);
  Response rec = Admin("GET", "/api/v1/admin/recordings");
  EXPECT_EQ(rec.status, 200);  // no recordings: nothing to audit or withhold
  audit_.SetFailing(false);
  EXPECT_EQ(Admin("GET", "/api/v1/admin/patients?q=oti").status, 200);
}

// Two replicas of one site edit the same field offline; the server records
// the conflict, the admin sees it, resolves it with take_loser, and a
// replica that pulls afterwards has the lost value and no open conflict.
TEST_F(AdminApiTest, ConflictsAppearAndTheirResolutionReplicatesToClinics) {
  engine::ClinicReplica& a1 = Replica("a1", site_a_, "clin.a");
  engine::ClinicReplica& a2 = Replica("a2", site_a_, "tech.a");
  const std::string patient =
      Register(a1, clin_a_, {"KSM-7", "Amina", "Otieno", "1980-02-03", "F",
                             "", ""});
  Sync("a1");
  Sync("a2");  // a2 now has the patient
  engine::Principal clin{engine::Uuid::Parse(clin_a_).value(),
                         engine::Role::kClinician, a1.site_id()};
  engine::Principal tech{engine::Uuid::Parse(tech_a_).value(),
                         engine::Role::kTechnician, a2.site_id()};
  engine::PatientChanges c1, c2;
  c1.phone = "+254 700 111";
  c2.phone = "+254 700 222";
  ASSERT_TRUE(a1.patients().Update(clin, patient, c1));
  wall_.AdvanceMs(1000);
  ASSERT_TRUE(a2.patients().Update(tech, patient, c2));  // later: wins
  Sync("a1");
  Sync("a2");

  (void)TokenOf("root.admin");
  (void)TokenOf("clin.a");
  audit_.Take();
  Response list = Admin("GET", "/api/v1/admin/conflicts");
  ASSERT_EQ(list.status, 200) << list.body;
  json conflicts = Body(list).at("conflicts");
  ASSERT_EQ(conflicts.size(), 1u) << list.body;
  const json& c = conflicts[0];
  EXPECT_EQ(c.at("table"), "patients");
  EXPECT_EQ(c.at("row"), patient);
  EXPECT_EQ(c.at("column"), "phone");
  EXPECT_EQ(c.at("state"), "open");
  EXPECT_EQ(c.at("site_id"), site_a_);
  EXPECT_EQ(c.at("patient_id"), patient);
  EXPECT_EQ(c.at("current_value"), "+254 700 222");
  EXPECT_EQ(c.at("loser").at("value"), "+254 700 111");
  EXPECT_EQ(c.at("loser").at("author"), clin_a_);
  auto events = audit_.Take();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].action, engine::AuditAction::kView);
  EXPECT_EQ(events[0].patient, patient);
  // The site list counts it; the site filter finds it, the other site not.
  const json sites = Body(Admin("GET", "/api/v1/admin/sites")).at("sites");
  for (const json& s : sites) {
    EXPECT_EQ(s.at("open_conflicts"), s.at("id") == site_a_ ? 1 : 0);
  }
  EXPECT_EQ(Body(Admin("GET", "/api/v1/admin/conflicts?site=" + site_b_))
                .at("conflicts")
                .size(),
            0u);

  const std::string id = c.at("id");
  const std::string resolve = "/api/v1/admin/conflicts/" + id + "/resolve";
  EXPECT_EQ(Admin("POST", resolve, R"({"decision":"pick_one"})").status, 400);
  EXPECT_EQ(Admin("POST", resolve, R"({"decision":"take_loser","x":1})").status,
            400);
  EXPECT_EQ(Admin("POST", "/api/v1/admin/conflicts/" + std::string(64, 'f') +
                              "/resolve",
                  R"({"decision":"keep_current"})")
                .status,
            404);
  EXPECT_EQ(Admin("POST", "/api/v1/admin/conflicts/xyz/resolve",
                  R"({"decision":"keep_current"})")
                .status,
            400);
  // A clinician may settle conflicts at their own site, but not here.
  EXPECT_EQ(Call("POST", resolve, TokenOf("clin.a"),
                 R"({"decision":"keep_current"})")
                .status,
            403);
  audit_.Take();
  Response done = Admin("POST", resolve, R"({"decision":"take_loser"})");
  ASSERT_EQ(done.status, 200) << done.body;
  events = audit_.Take();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].action, engine::AuditAction::kConflictResolved);
  EXPECT_EQ(events[0].patient, patient);
  EXPECT_EQ(Admin("POST", resolve, R"({"decision":"keep_current"})").status,
            409);

  EXPECT_EQ(Body(Admin("GET", "/api/v1/admin/conflicts")).at("conflicts").size(),
            0u);
  json resolved = Body(Admin("GET", "/api/v1/admin/conflicts?state=resolved"))
                      .at("conflicts");
  ASSERT_EQ(resolved.size(), 1u);
  EXPECT_EQ(resolved[0].at("resolution").at("decision"), "take_loser");
  EXPECT_EQ(resolved[0].at("resolution").at("resolver_id"), admin_id_);
  EXPECT_EQ(resolved[0].at("current_value"), "+254 700 111");
  EXPECT_EQ(Admin("GET", "/api/v1/admin/conflicts?state=closed").status, 400);

  // The clinics pull the resolution and the restored value.
  for (const std::string name : {"a1", "a2"}) {
    SCOPED_TRACE(name);
    Sync(name);
    engine::ClinicReplica& r = *replicas_.at(name);
    const engine::Principal& who = name == "a1" ? clin : tech;
    auto p = r.patients().Get(who, patient);
    ASSERT_TRUE(p) << p.error().ToString();
    EXPECT_EQ(p->fields.phone, "+254 700 111");
    auto open = r.conflicts().List(who, engine::ConflictQuery{});
    ASSERT_TRUE(open) << open.error().ToString();
    EXPECT_TRUE(open->conflicts.empty());
  }
}

TEST_F(AdminApiTest, UsersAreCreatedListedAndDeactivatedAndSessionsFollow) {
  json make = {{"username", "new.tech"},
               {"full_name", "New Tech"},
               {"role", "technician"},
               {"site", site_a_},
               {"password", "New-Tech-Passw0rd-1"}};
  Response made = Admin("POST", "/api/v1/admin/users", make.dump());
  ASSERT_EQ(made.status, 201) << made.body;
  const json user = Body(made);
  const std::string id = user.at("id");
  EXPECT_EQ(user.at("role"), "technician");
  EXPECT_EQ(user.at("site_id"), site_a_);
  EXPECT_EQ(user.at("active"), true);
  EXPECT_FALSE(user.contains("password"));
  EXPECT_FALSE(user.contains("password_hash"));
  EXPECT_EQ(made.body.find("New-Tech-Passw0rd-1"), std::string::npos);
  EXPECT_EQ(made.body.find("argon2"), std::string::npos);
  EXPECT_EQ(Admin("POST", "/api/v1/admin/users", make.dump()).status, 409);

  // Listed with the site's users, never with a hash.
  Response list = Admin("GET", "/api/v1/admin/users?site=" + site_a_);
  ASSERT_EQ(list.status, 200);
  EXPECT_EQ(list.body.find("argon2"), std::string::npos);
  std::set<std::string> names;
  const json users = Body(list).at("users");
  for (const json& u : users) names.insert(u.at("username"));
  EXPECT_EQ(names, (std::set<std::string>{"clin.a", "new.tech", "tech.a"}));
  EXPECT_EQ(Walk("/api/v1/admin/users", "users", 2).size(), 6u);

  // The new account works; its clinic pulls it.
  const std::string token = Login("new.tech", "New-Tech-Passw0rd-1");
  EXPECT_EQ(Call("GET", "/api/v1/sync/pull", token).status, 200);

  // Deactivation ends the live session at once and refuses new logins.
  Response off = Admin("PATCH", "/api/v1/admin/users/" + id,
                       R"({"active":false})");
  ASSERT_EQ(off.status, 200) << off.body;
  EXPECT_EQ(Body(off).at("active"), false);
  EXPECT_EQ(Call("GET", "/api/v1/sync/pull", token).status, 401);
  Response login = Call("POST", "/api/v1/auth/login", "",
                        json{{"username", "new.tech"},
                             {"password", "New-Tech-Passw0rd-1"}}
                            .dump());
  EXPECT_NE(login.status, 200);

  // Role change, rename, password reset; the site is fixed.
  Response on = Admin("PATCH", "/api/v1/admin/users/" + id,
                      R"({"active":true,"role":"clinician","full_name":"N T","password":"Another-Passw0rd-22"})");
  ASSERT_EQ(on.status, 200) << on.body;
  EXPECT_EQ(Body(on).at("role"), "clinician");
  EXPECT_EQ(Body(on).at("full_name"), "N T");
  EXPECT_FALSE(Login("new.tech", "Another-Passw0rd-22").empty());
  EXPECT_EQ(Admin("PATCH", "/api/v1/admin/users/" + id,
                  json{{"site", site_b_}}.dump())
                .status,
            400);
  EXPECT_EQ(Admin("PATCH", "/api/v1/admin/users/" + id, R"({"active":"no"})")
                .status,
            400);
  EXPECT_EQ(Admin("PATCH", "/api/v1/admin/users/" + id, "{}").status, 400);
  EXPECT_EQ(Admin("PATCH", "/api/v1/admin/users/" + site_a_,
                  R"({"active":false})")
                .status,
            404);

  // Bad creations name the field.
  json bad = make;
  bad["username"] = "other";
  bad["site"] = std::string("00000000-0000-7000-8000-000000000000");
  Response no_site = Admin("POST", "/api/v1/admin/users", bad.dump());
  EXPECT_EQ(no_site.status, 400);
  EXPECT_NE(Body(no_site).at("detail").get<std::string>().find("site"),
            std::string::npos);
  bad = make;
  bad["username"] = "weak.one";
  bad["password"] = "Zq9";
  Response weak = Admin("POST", "/api/v1/admin/users", bad.dump());
  EXPECT_EQ(weak.status, 400);
  EXPECT_EQ(weak.body.find("Zq9"), std::string::npos);
  bad = make;
  bad["role"] = "superuser";
  EXPECT_EQ(Admin("POST", "/api/v1/admin/users", bad.dump()).status, 400);
}

TEST_F(AdminApiTest, DevicesAreRegisteredForASiteAndItsClinicPullsThem) {
  Response made = Admin("POST", "/api/v1/admin/devices",
                        json{{"site", site_b_},
                             {"serial", "ECG-0042"},
                             {"kind", "ecg"},
                             {"model", "PulseRec 12"},
                             {"firmware", "1.2.0"}}
                            .dump());
  ASSERT_EQ(made.status, 201) << made.body;
  const std::string id = Body(made).at("id");
  json listed = Body(Admin("GET", "/api/v1/admin/devices?site=" + site_b_))
                    .at("devices");
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].at("serial"), "ECG-0042");
  EXPECT_EQ(listed[0].at("site_id"), site_b_);
  EXPECT_TRUE(Body(Admin("GET", "/api/v1/admin/devices?site=" + site_a_))
                  .at("devices")
                  .empty());
  EXPECT_EQ(Admin("PATCH", "/api/v1/admin/devices/" + id,
                  R"({"firmware":"1.3.0"})")
                .status,
            200);
  EXPECT_EQ(Admin("POST", "/api/v1/admin/devices",
                  json{{"site", site_b_},
                       {"serial", "ECG-0042"},
                       {"kind", "ecg"},
                       {"model", "PulseRec 12"}}
                      .dump())
                .status,
            409);
  EXPECT_EQ(Admin("POST", "/api/v1/admin/devices",
                  json{{"site", site_b_},
                       {"serial", "ECG-0043"},
                       {"kind", "toaster"},
                       {"model", "PulseRec 12"}}
                      .dump())
                .status,
            400);

  engine::ClinicReplica& b = Replica("b", site_b_, "tech.b");
  Sync("b");
  engine::Principal who{engine::Uuid::Parse(tech_b_).value(),
                        engine::Role::kTechnician, b.site_id()};
  auto device = b.devices().Get(who, id);
  ASSERT_TRUE(device) << device.error().ToString();
  EXPECT_EQ(device->fields.serial, "ECG-0042");
  EXPECT_EQ(device->fields.firmware, "1.3.0");
}

TEST_F(AdminApiTest, RecordingsAreListedByPatientAndSiteAndAudited) {
  Response device = Admin("POST", "/api/v1/admin/devices",
                          json{{"site", site_a_},
                               {"serial", "ECG-7"},
                               {"kind", "ecg"},
                               {"model", "PulseRec 12"}}
                              .dump());
  ASSERT_EQ(device.status, 201) << device.body;
  engine::ClinicReplica& a = Replica("a", site_a_, "tech.a");
  Sync("a");  // the device reaches the clinic
  const std::string patient = Register(
      a, tech_a_, {"KSM-5", "Amina", "Otieno", "1980-02-03", "F", "", ""});
  const std::string other = Register(
      a, tech_a_, {"KSM-6", "Baraka", "Kamau", "1975-01-01", "M", "", ""});
  engine::Principal who{engine::Uuid::Parse(tech_a_).value(),
                        engine::Role::kTechnician, a.site_id()};
  std::vector<std::string> recordings;
  for (const std::string& p : {patient, patient, other}) {
    engine::RecordingStart start;
    start.patient_id = p;
    start.device_id = Body(device).at("id");
    start.started_at_ms = kNowMs;
    start.sample_rate_hz = 500;
    start.lead_names = {"I", "II"};
    start.lsb_nv = 1000;
    auto id = a.recordings().Start(who, start);
    ASSERT_TRUE(id) << id.error().ToString();
    recordings.push_back(*id);
  }
  Sync("a");

  (void)TokenOf("root.admin");
  audit_.Take();
  Response r = Admin("GET", "/api/v1/admin/recordings?patient=" + patient);
  ASSERT_EQ(r.status, 200) << r.body;
  const json rows = Body(r).at("recordings");
  ASSERT_EQ(rows.size(), 2u);
  for (const json& row : rows) {
    EXPECT_EQ(row.at("patient_id"), patient);
    EXPECT_EQ(row.at("site_id"), site_a_);
    EXPECT_EQ(row.at("status"), "recording");
    EXPECT_EQ(row.at("sample_rate_hz"), 500.0);
  }
  auto events = audit_.Take();
  ASSERT_EQ(events.size(), 2u);
  for (const AuditRecord& e : events) {
    EXPECT_EQ(e.action, engine::AuditAction::kView);
    EXPECT_EQ(e.object_type, "recordings");
    EXPECT_EQ(e.patient, patient);
  }
  EXPECT_EQ(Walk("/api/v1/admin/recordings?site=" + site_a_, "recordings", 2)
                .size(),
            3u);
  EXPECT_TRUE(Walk("/api/v1/admin/recordings?site=" + site_b_, "recordings", 2)
                  .empty());
  EXPECT_EQ(Body(Admin("GET", "/api/v1/admin/patients/" + patient))
                .at("recording_count"),
            2);
  EXPECT_EQ(Admin("GET", "/api/v1/admin/recordings?patient=KSM-5").status,
            400);
}

}  // namespace
}  // namespace pulse::sync_server
