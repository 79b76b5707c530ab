// SyncService (sync-server/include/pulse/sync_server/service.h) driven
// through Handle() with hand-built requests, against an in-memory
// CentralStore written here (the handlers depend on the interface only;
// the real store has its own suite) and a ManualClock.
#include "pulse/sync_server/service.h"

#include <algorithm>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "pulse/engine/hash.h"
#include "pulse/engine/password.h"
#include "pulse/engine/sync_protocol.h"
#include "pulse/engine/uuid.h"
#include "support/manual_clock.h"

namespace pulse::sync_server {
namespace {

namespace sync = engine::sync;
using engine::ChangeEntry;
using engine::Hlc;
using engine::Role;

constexpr std::int64_t kT0 = 1'700'000'000'000;  // 2023-11-14, Unix ms
constexpr char kPassword[] = "correct horse battery";

std::string NewId() { return engine::NewUuidV7().ToString(); }

// An in-memory CentralStore with the semantics central_store.h states:
// idempotent batches, all-or-nothing ingest with the authorizer called per
// entry, pull filtered by the row's site.
class FakeCentralStore final : public CentralStore {
 public:
  void AddUser(const StoredUser& user) {
    std::lock_guard lock(mu_);
    users_[user.id] = user;
  }
  // The next call of any method fails with `code` (a store outage).
  void FailNext(ErrorCode code) {
    std::lock_guard lock(mu_);
    fail_next_ = code;
  }
  std::size_t log_size() {
    std::lock_guard lock(mu_);
    return log_.size();
  }
  std::optional<Session> SessionFor(const std::string& hash) {
    std::lock_guard lock(mu_);
    auto it = sessions_.find(hash);
    if (it == sessions_.end()) return std::nullopt;
    return it->second;
  }
  std::size_t session_count() {
    std::lock_guard lock(mu_);
    return sessions_.size();
  }
  std::vector<std::pair<std::string, bool>> site_syncs() {
    std::lock_guard lock(mu_);
    return site_syncs_;
  }

  Result<std::optional<StoredUser>> FindUserByName(
      std::string_view username) override {
    std::lock_guard lock(mu_);
    if (auto f = TakeFailure()) return Fail(*f, "injected");
    for (const auto& [id, u] : users_) {
      if (u.username == username) return std::optional<StoredUser>(u);
    }
    return std::optional<StoredUser>();
  }
  Result<std::optional<StoredUser>> FindUserById(
      std::string_view user_id) override {
    std::lock_guard lock(mu_);
    if (auto f = TakeFailure()) return Fail(*f, "injected");
    auto it = users_.find(std::string(user_id));
    if (it == users_.end()) return std::optional<StoredUser>();
    return std::optional<StoredUser>(it->second);
  }
  Status CreateSession(const Session& session) override {
    std::lock_guard lock(mu_);
    if (auto f = TakeFailure()) return Fail(*f, "injected");
    sessions_[session.token_hash] = session;
    return OkStatus();
  }
  Result<std::optional<Session>> FindSession(
      std::string_view token_hash) override {
    std::lock_guard lock(mu_);
    if (auto f = TakeFailure()) return Fail(*f, "injected");
    auto it = sessions_.find(std::string(token_hash));
    if (it == sessions_.end()) return std::optional<Session>();
    return std::optional<Session>(it->second);
  }
  Status TouchSession(std::string_view token_hash,
                      std::int64_t now_ms) override {
    std::lock_guard lock(mu_);
    auto it = sessions_.find(std::string(token_hash));
    if (it == sessions_.end()) return Fail(ErrorCode::kNotFound, "session");
    it->second.last_seen_ms = now_ms;
    return OkStatus();
  }
  Status RevokeSession(std::string_view token_hash) override {
    std::lock_guard lock(mu_);
    auto it = sessions_.find(std::string(token_hash));
    if (it == sessions_.end()) return Fail(ErrorCode::kNotFound, "session");
    it->second.revoked = true;
    return OkStatus();
  }
  Result<IngestResult> IngestBatch(const IngestRequest& request,
                                   const EntryAuthorizer& authorize) override {
    std::lock_guard lock(mu_);
    if (auto f = TakeFailure()) return Fail(*f, "injected");
    if (auto it = batches_.find(request.batch_id); it != batches_.end()) {
      IngestResult r = it->second;
      r.duplicate = true;
      site_syncs_.emplace_back(request.site, true);  // as IngestBatch must
      return r;
    }
    auto rows = rows_;  // applied only if every entry passes
    std::vector<ChangeEntry> added;
    for (std::size_t i = 0; i < request.changes.size(); ++i) {
      const ChangeEntry& e = request.changes[i];
      const auto key = std::make_pair(e.table, e.row);
      RowContext ctx;
      auto it = rows.find(key);
      ctx.exists = it != rows.end();
      if (ctx.exists) ctx.row_site = it->second;
      if (auto f = e.fields.find("site_id"); f != e.fields.end()) {
        if (const auto* s = std::get_if<std::string>(&f->second)) {
          ctx.row_site = *s;
        }
      }
      if (Status s = authorize(i, e, ctx); !s) return Fail(s.error());
      rows[key] = ctx.row_site.value_or("");
      if (seen_.insert(e.id).second) added.push_back(e);
    }
    rows_ = std::move(rows);
    for (auto& e : added) log_.push_back(e);
    IngestResult r;
    r.accepted = static_cast<std::int64_t>(added.size());
    batches_[request.batch_id] = r;
    site_syncs_.emplace_back(request.site, true);  // as IngestBatch must
    return r;
  }
  Result<PullPage> Pull(std::string_view site, std::int64_t cursor,
                        int limit) override {
    std::lock_guard lock(mu_);
    if (auto f = TakeFailure()) return Fail(*f, "injected");
    PullPage page;
    page.next_cursor = cursor;
    for (std::size_t seq = static_cast<std::size_t>(cursor);
         seq < log_.size(); ++seq) {
      const ChangeEntry& e = log_[seq];
      if (rows_.at({e.table, e.row}) != site) continue;
      if (static_cast<int>(page.changes.size()) == limit) {
        page.more = true;
        break;
      }
      page.changes.push_back(e);
      page.next_cursor = static_cast<std::int64_t>(seq) + 1;
    }
    return page;
  }
  Status NoteSiteSync(std::string_view site, bool push,
                      std::int64_t) override {
    std::lock_guard lock(mu_);
    site_syncs_.emplace_back(std::string(site), push);
    return OkStatus();
  }

 private:
  std::optional<ErrorCode> TakeFailure() {
    auto f = fail_next_;
    fail_next_.reset();
    return f;
  }

  std::mutex mu_;
  std::optional<ErrorCode> fail_next_;
  std::map<std::string, StoredUser> users_;
  std::map<std::string, Session> sessions_;
  std::map<std::string, IngestResult> batches_;
  std::map<std::pair<std::string, std::string>, std::string> rows_;
  std::set<std::string> seen_;
  std::vector<ChangeEntry> log_;
  std::vector<std::pair<std::string, bool>> site_syncs_;
};

class HandlersTest : public ::testing::Test {
 protected:
  void SetUp() override {
    clock_.SetMs(kT0);
    hash_ = *engine::HashPassword(kPassword, engine::kTestPasswordHashCost);
    clinician_ = AddUser("nurse", Role::kClinician, site_a_);
    technician_ = AddUser("tech", Role::kTechnician, site_a_);
    other_site_user_ = AddUser("faraway", Role::kClinician, site_b_);
    admin_ = AddUser("boss", Role::kAdmin, std::nullopt);
    MakeService({});
  }

  void MakeService(ServiceOptions options) {
    options.store = &store_;
    options.clock = &clock_;
    options.dummy_hash_cost = engine::kTestPasswordHashCost;
    options.log_sink = [this](std::string_view line) {
      log_lines_.emplace_back(line);
    };
    service_ = *SyncService::Create(options);
  }

  std::string AddUser(const std::string& name, Role role,
                      std::optional<std::string> site, bool active = true) {
    StoredUser u;
    u.id = NewId();
    u.username = name;
    u.role = role;
    u.site = std::move(site);
    u.password_hash = hash_;
    u.active = active;
    store_.AddUser(u);
    return u.id;
  }

  Response Call(std::string method, std::string target, std::string body = "",
                std::map<std::string, std::string> headers = {}) {
    Request r;
    r.method = std::move(method);
    r.SetTarget(target);
    r.body = std::move(body);
    r.headers = std::move(headers);
    if (!r.body.empty() && !r.headers.contains("content-type")) {
      r.headers["content-type"] = "application/json";
    }
    r.peer = peer_;
    return service_->Handle(r);
  }

  Response Login(const std::string& user, const std::string& password) {
    return Call("POST", "/api/v1/auth/login",
                sync::EncodeLoginRequest({user, password}));
  }

  std::string TokenFor(const std::string& user) {
    Response r = Login(user, kPassword);
    EXPECT_EQ(r.status, 200) << r.body;
    return sync::DecodeLoginResponse(r.body)->token;
  }

  std::map<std::string, std::string> Bearer(const std::string& token) {
    return {{"authorization", "Bearer " + token}};
  }

  ChangeEntry Entry(const std::string& table, const std::string& row,
                    const std::string& author, std::int64_t hlc_ms,
                    const std::optional<std::string>& row_site) {
    ChangeEntry e;
    e.id = NewId();
    e.hlc = *Hlc::FromParts(hlc_ms, counter_++);
    e.site = site_a_;
    e.table = table;
    e.row = row;
    e.author = author;
    if (row_site) e.fields["site_id"] = *row_site;
    e.fields["note"] = std::string("x");
    return e;
  }

  sync::PushRequest Push(std::vector<ChangeEntry> changes) {
    sync::PushRequest p;
    p.batch_id = NewId();
    p.site = site_a_;
    p.schema_version = kSupportedClinicSchemaVersion;
    p.client_time_ms = clock_.Now().time_since_epoch() /
                       std::chrono::milliseconds(1);
    p.changes = std::move(changes);
    return p;
  }

  Response SendPush(const std::string& token, const sync::PushRequest& p) {
    return Call("POST", "/api/v1/sync/push", *sync::EncodePushRequest(p),
                Bearer(token));
  }

  // Every error answer: problem+json with type, title, status, detail.
  static void ExpectProblem(const Response& r, int status) {
    EXPECT_EQ(r.status, status) << r.body;
    EXPECT_EQ(r.content_type, "application/problem+json");
    auto p = sync::DecodeProblem(r.body);
    ASSERT_TRUE(p) << r.body;
    EXPECT_EQ(p->status, status);
    EXPECT_FALSE(p->title.empty());
    EXPECT_FALSE(p->detail.empty());
    EXPECT_TRUE(p->type.starts_with(kProblemTypeBase)) << p->type;
  }

  static std::optional<std::string> HeaderOf(const Response& r,
                                             std::string_view name) {
    for (const auto& [k, v] : r.headers) {
      if (k == name) return v;
    }
    return std::nullopt;
  }

  pulse::testing::ManualClock clock_;
  FakeCentralStore store_;
  std::unique_ptr<SyncService> service_;
  std::vector<std::string> log_lines_;
  std::string hash_;
  std::string site_a_ = NewId();
  std::string site_b_ = NewId();
  std::string clinician_, technician_, other_site_user_, admin_;
  std::string peer_ = "127.0.0.1";
  std::uint16_t counter_ = 1;
};

// --- routing ---

TEST_F(HandlersTest, HealthzAnswersOkWithoutAuth) {
  Response r = Call("GET", "/healthz");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "ok\n");
}

TEST_F(HandlersTest, UnknownRouteIs404AndCountedUnmatched) {
  ExpectProblem(Call("GET", "/api/v1/nope/secret-path"), 404);
  const std::string metrics = Call("GET", "/metrics").body;
  EXPECT_NE(metrics.find("route=\"(unmatched)\",method=\"GET\",status=\"404\""),
            std::string::npos);
  EXPECT_EQ(metrics.find("secret-path"), std::string::npos);
}

TEST_F(HandlersTest, WrongMethodIs405WithAllow) {
  struct Case {
    const char* method;
    const char* path;
    const char* allow;
  };
  for (const Case& c : {Case{"GET", "/api/v1/sync/push", "POST"},
                        Case{"POST", "/api/v1/sync/pull", "GET"},
                        Case{"GET", "/api/v1/auth/login", "POST"},
                        Case{"DELETE", "/healthz", "GET, HEAD"}}) {
    SCOPED_TRACE(std::string(c.method) + " " + c.path);
    Response r = Call(c.method, c.path);
    ExpectProblem(r, 405);
    EXPECT_EQ(HeaderOf(r, "Allow"), c.allow);
  }
}

// --- login ---

TEST_F(HandlersTest, LoginIssuesTokenStoredOnlyAsHash) {
  Response r = Login("nurse", kPassword);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.content_type, "application/json");
  EXPECT_EQ(HeaderOf(r, "Cache-Control"), "no-store");
  auto login = sync::DecodeLoginResponse(r.body);
  ASSERT_TRUE(login);
  EXPECT_EQ(login->token.size(), 64u);
  EXPECT_EQ(login->user_id, clinician_);
  EXPECT_EQ(login->role, "clinician");
  EXPECT_EQ(login->site, site_a_);
  EXPECT_EQ(login->expires_at_ms, kT0 + 12 * 3600 * 1000);
  EXPECT_EQ(login->idle_timeout_s, 30 * 60);
  ASSERT_EQ(store_.session_count(), 1u);
  EXPECT_FALSE(store_.SessionFor(login->token));  // not stored in clear
  // The hash is BLAKE2b-256 of the 32 token bytes.
  auto bytes = engine::HexDecode(login->token);
  auto session = store_.SessionFor(engine::HexEncode(engine::Blake2b256(*bytes)));
  ASSERT_TRUE(session);
  EXPECT_EQ(session->user_id, clinician_);
  // Two logins never share a token.
  EXPECT_NE(sync::DecodeLoginResponse(Login("nurse", kPassword).body)->token,
            login->token);
}

TEST_F(HandlersTest, LoginRefusalsAreProblems) {
  AddUser("gone", Role::kClinician, site_a_, /*active=*/false);
  struct Case {
    std::string name;
    std::string body;
    std::string content_type;
    int status;
  };
  const std::vector<Case> cases = {
      {"wrong password", sync::EncodeLoginRequest({"nurse", "nope nope nope"}),
       "application/json", 401},
      {"unknown user", sync::EncodeLoginRequest({"nobody", kPassword}),
       "application/json", 401},
      {"inactive user", sync::EncodeLoginRequest({"gone", kPassword}),
       "application/json", 403},
      {"malformed JSON", "{\"username\":", "application/json", 400},
      {"wrong type", R"({"username":5,"password":"x"})", "application/json",
       400},
      {"unknown field",
       R"({"username":"nurse","password":"x","admin":true})",
       "application/json", 400},
      {"not JSON", sync::EncodeLoginRequest({"nurse", kPassword}),
       "text/plain", 415},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    peer_ = "10.0.0." + std::to_string(&c - cases.data());  // own address
    Response r = Call("POST", "/api/v1/auth/login", c.body,
                      {{"content-type", c.content_type}});
    ExpectProblem(r, c.status);
    if (c.status == 401) {
      // Unknown user and wrong password read the same.
      EXPECT_NE(r.body.find("wrong username or password"), std::string::npos);
    }
  }
  EXPECT_EQ(store_.session_count(), 0u);
}

TEST_F(HandlersTest, LoginFailuresAreRateLimitedPerUsername) {
  for (int i = 0; i < 5; ++i) {
    peer_ = "10.1.0." + std::to_string(i);  // spread over addresses
    ExpectProblem(Login("nurse", "wrong password!"), 401);
  }
  peer_ = "10.1.0.99";
  Response limited = Login("nurse", kPassword);  // even the right password
  ExpectProblem(limited, 429);
  ASSERT_TRUE(HeaderOf(limited, "Retry-After"));
  EXPECT_EQ(*HeaderOf(limited, "Retry-After"), "300");
  // Other users are not affected.
  EXPECT_EQ(Login("tech", kPassword).status, 200);
  // The window slides: after five minutes the user may try again.
  clock_.AdvanceMs(5 * 60 * 1000);
  EXPECT_EQ(Login("nurse", kPassword).status, 200);
  EXPECT_NE(Call("GET", "/metrics").body.find(
                "pulse_auth_failures_total{kind=\"rate_limited\"} 1"),
            std::string::npos);
}

TEST_F(HandlersTest, LoginFailuresAreRateLimitedPerAddress) {
  for (int i = 0; i < 20; ++i) {
    ExpectProblem(Login("user" + std::to_string(i), "whatever pw"), 401);
  }
  ExpectProblem(Login("tech", kPassword), 429);
  peer_ = "127.0.0.2";
  EXPECT_EQ(Login("tech", kPassword).status, 200);
}

TEST_F(HandlersTest, LoginStoreOutageIs500WithoutDetail) {
  store_.FailNext(ErrorCode::kIoError);
  Response r = Login("nurse", kPassword);
  ExpectProblem(r, 500);
  EXPECT_EQ(r.body.find("injected"), std::string::npos);
  bool logged = std::any_of(log_lines_.begin(), log_lines_.end(),
                            [](const std::string& l) {
                              return l.find("injected") != std::string::npos;
                            });
  EXPECT_TRUE(logged);
}

// --- tokens ---

TEST_F(HandlersTest, BadTokensAre401) {
  const std::string token = TokenFor("nurse");
  std::string forged = token;
  forged[0] = forged[0] == 'a' ? 'b' : 'a';
  const std::vector<std::pair<std::string, std::map<std::string, std::string>>>
      cases = {
          {"no header", {}},
          {"basic scheme", {{"authorization", "Basic dXNlcjpwdw=="}}},
          {"short token", Bearer("abcd")},
          {"non-hex token", Bearer(std::string(64, 'z'))},
          {"forged token", Bearer(forged)},
      };
  for (const auto& [name, headers] : cases) {
    SCOPED_TRACE(name);
    Response r = Call("GET", "/api/v1/sync/pull", "", headers);
    ExpectProblem(r, 401);
    EXPECT_TRUE(HeaderOf(r, "WWW-Authenticate"));
  }
  EXPECT_EQ(Call("GET", "/api/v1/sync/pull", "", Bearer(token)).status, 200);
}

TEST_F(HandlersTest, LogoutRevokesToken) {
  const std::string token = TokenFor("nurse");
  Response out = Call("POST", "/api/v1/auth/logout", "", Bearer(token));
  EXPECT_EQ(out.status, 204);
  EXPECT_TRUE(out.body.empty());
  ExpectProblem(Call("GET", "/api/v1/sync/pull", "", Bearer(token)), 401);
  ExpectProblem(Call("POST", "/api/v1/auth/logout", "", Bearer(token)), 401);
}

TEST_F(HandlersTest, IdleSessionExpires) {
  const std::string token = TokenFor("nurse");
  clock_.AdvanceMs(29 * 60 * 1000);
  EXPECT_EQ(Call("GET", "/api/v1/sync/pull", "", Bearer(token)).status, 200);
  // Use refreshed it: another 29 minutes are fine ...
  clock_.AdvanceMs(29 * 60 * 1000);
  EXPECT_EQ(Call("GET", "/api/v1/sync/pull", "", Bearer(token)).status, 200);
  // ... 30 minutes of silence are not.
  clock_.AdvanceMs(30 * 60 * 1000);
  ExpectProblem(Call("GET", "/api/v1/sync/pull", "", Bearer(token)), 401);
}

TEST_F(HandlersTest, SessionHasAbsoluteLifetime) {
  ServiceOptions options;
  options.idle_timeout = std::chrono::minutes(10);
  options.session_lifetime = std::chrono::hours(1);
  MakeService(options);
  const std::string token = TokenFor("nurse");
  for (int i = 0; i < 11; ++i) {  // used every 5 min: never idle
    clock_.AdvanceMs(5 * 60 * 1000);
    ASSERT_EQ(Call("GET", "/api/v1/sync/pull", "", Bearer(token)).status, 200)
        << i;
  }
  clock_.AdvanceMs(5 * 60 * 1000);  // 60 min since login
  Response r = Call("GET", "/api/v1/sync/pull", "", Bearer(token));
  ExpectProblem(r, 401);
  EXPECT_NE(r.body.find("expired"), std::string::npos);
}

TEST_F(HandlersTest, DeactivatedUsersSessionStopsWorking) {
  const std::string token = TokenFor("nurse");
  StoredUser u = **store_.FindUserById(clinician_);
  u.active = false;
  store_.AddUser(u);
  ExpectProblem(Call("GET", "/api/v1/sync/pull", "", Bearer(token)), 401);
}

TEST_F(HandlersTest, OptionsAreValidated) {
  ServiceOptions bad;
  bad.store = &store_;
  bad.idle_timeout = std::chrono::hours(2);
  bad.session_lifetime = std::chrono::hours(1);
  auto s = SyncService::Create(bad);
  ASSERT_FALSE(s);
  EXPECT_NE(s.error().message().find("session_lifetime"), std::string::npos);
  EXPECT_FALSE(SyncService::Create(ServiceOptions{}));  // no store
}

// --- push ---

TEST_F(HandlersTest, PushAcceptsOwnSiteRowsAndIsIdempotent) {
  const std::string token = TokenFor("nurse");
  auto push = Push({Entry("patients", NewId(), clinician_, kT0 - 1000, site_a_),
                    Entry("recordings", NewId(), technician_, kT0 - 500,
                          site_a_)});
  Response r = SendPush(token, push);
  ASSERT_EQ(r.status, 200) << r.body;
  auto answer = sync::DecodePushResponse(r.body);
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->batch_id, push.batch_id);
  EXPECT_EQ(answer->accepted, 2);
  EXPECT_FALSE(answer->duplicate);
  EXPECT_EQ(answer->server_time_ms, kT0);
  EXPECT_FALSE(answer->clock_skew_warning);
  // The same batch again: nothing new, flagged duplicate.
  Response again = SendPush(token, push);
  ASSERT_EQ(again.status, 200);
  auto second = sync::DecodePushResponse(again.body);
  EXPECT_TRUE(second->duplicate);
  EXPECT_EQ(store_.log_size(), 2u);
  ASSERT_FALSE(store_.site_syncs().empty());
  EXPECT_EQ(store_.site_syncs().front(), std::make_pair(site_a_, true));
  EXPECT_NE(Call("GET", "/metrics").body.find(
                "pulse_sync_changes_ingested_total 2"),
            std::string::npos);
}

TEST_F(HandlersTest, PushReportsClockSkew) {
  const std::string token = TokenFor("nurse");
  auto push = Push({});
  push.client_time_ms = kT0 - 10 * 60 * 1000;  // clinic 10 min behind
  auto answer = sync::DecodePushResponse(SendPush(token, push).body);
  ASSERT_TRUE(answer);
  EXPECT_TRUE(answer->clock_skew_warning);
}

TEST_F(HandlersTest, PushRefusals) {
  const std::string token = TokenFor("nurse");
  const std::string tech_token = TokenFor("tech");
  const std::string admin_token = TokenFor("boss");
  const std::string b_row = NewId();
  // A row of site B already in the store (pushed by B's replica).
  {
    peer_ = "127.0.0.3";
    const std::string b_token = TokenFor("faraway");
    auto p = Push({Entry("patients", b_row, other_site_user_, kT0, site_b_)});
    p.site = site_b_;
    p.changes[0].site = site_b_;
    ASSERT_EQ(SendPush(b_token, p).status, 200);
  }
  struct Case {
    std::string name;
    std::string token;
    sync::PushRequest push;
    int status;
    std::string detail;  // substring of the problem's detail
  };
  std::vector<Case> cases;
  cases.push_back({"another site's existing row", token,
                   Push({Entry("patients", NewId(), clinician_, kT0, site_a_),
                         Entry("patients", b_row, clinician_, kT0,
                               std::nullopt)}),
                   403, "changes[1]"});
  cases.push_back({"new row claiming another site", token,
                   Push({Entry("patients", NewId(), clinician_, kT0, site_b_)}),
                   403, "changes[0]"});
  {
    auto p = Push({Entry("patients", NewId(), clinician_, kT0, site_a_)});
    p.site = site_b_;
    cases.push_back({"request for another site", token, p, 403, "site"});
  }
  {
    auto p = Push({Entry("patients", NewId(), clinician_, kT0, site_a_)});
    p.changes[0].site = site_b_;
    cases.push_back({"entry from another replica", token, p, 403,
                     "changes[0].site"});
  }
  {
    auto e = Entry("patients", NewId(), technician_, kT0, site_a_);
    e.op = engine::Op::kDelete;
    e.fields.clear();
    cases.push_back({"author lacks permission (technician deletes patient)",
                     token, Push({e}), 403, "changes[0]"});
  }
  cases.push_back({"unknown author", token,
                   Push({Entry("patients", NewId(), NewId(), kT0, site_a_)}),
                   403, "changes[0].author"});
  cases.push_back({"unknown table", token,
                   Push({Entry("wormholes", NewId(), clinician_, kT0,
                               site_a_)}),
                   400, "wormholes"});
  cases.push_back(
      {"future stamp", token,
       Push({Entry("patients", NewId(), clinician_, kT0, site_a_),
             Entry("patients", NewId(), clinician_, kT0 + 2 * 3600 * 1000,
                   site_a_)}),
       422, "changes[1].hlc"});
  {
    auto p = Push({});
    p.schema_version = kSupportedClinicSchemaVersion + 1;
    cases.push_back({"newer schema", token, p, 426, "schema_version"});
  }
  cases.push_back({"admin may not push", admin_token,
                   Push({Entry("patients", NewId(), admin_, kT0, site_a_)}),
                   403, "clinic staff"});
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    Response r = SendPush(c.token, c.push);
    ExpectProblem(r, c.status);
    EXPECT_NE(sync::DecodeProblem(r.body)->detail.find(c.detail),
              std::string::npos)
        << r.body;
  }
  EXPECT_EQ(store_.log_size(), 1u);  // nothing of the refused batches
  // A technician may create audit events by an author unknown centrally.
  EXPECT_EQ(SendPush(tech_token, Push({Entry("audit_events", NewId(), NewId(),
                                             kT0, site_a_)}))
                .status,
            200);
}

TEST_F(HandlersTest, PushUpgradeRequiredNamesVersions) {
  const std::string token = TokenFor("nurse");
  auto p = Push({});
  p.schema_version = 99;
  auto problem = sync::DecodeProblem(SendPush(token, p).body);
  ASSERT_TRUE(problem);
  EXPECT_EQ(problem->required_schema_version, kSupportedClinicSchemaVersion);

  auto body = nlohmann::json::parse(*sync::EncodePushRequest(Push({})));
  body["protocol_version"] = 2;
  Response r = Call("POST", "/api/v1/sync/push", body.dump(), Bearer(token));
  ExpectProblem(r, 426);
  EXPECT_EQ(sync::DecodeProblem(r.body)->required_protocol_version,
            sync::kProtocolVersion);
}

TEST_F(HandlersTest, PushBodyErrors) {
  const std::string token = TokenFor("nurse");
  auto good = nlohmann::json::parse(*sync::EncodePushRequest(Push({})));
  auto wrong_type = good;
  wrong_type["schema_version"] = "three";
  auto unknown = good;
  unknown["extra"] = 1;
  auto too_many = good;
  const auto entry = nlohmann::json::parse(*engine::EncodeChange(
      Entry("patients", NewId(), clinician_, kT0, site_a_)));
  too_many["changes"] = nlohmann::json::array();
  for (std::size_t i = 0; i <= sync::kMaxPushChanges; ++i) {
    too_many["changes"].push_back(entry);
  }
  struct Case {
    std::string name, body, content_type;
    int status;
  };
  const std::vector<Case> cases = {
      {"malformed JSON", "{\"batch_id\": [", "application/json", 400},
      {"wrong type", wrong_type.dump(), "application/json", 400},
      {"unknown field", unknown.dump(), "application/json", 400},
      {"too many changes", too_many.dump(), "application/json", 413},
      {"wrong content type", good.dump(), "text/plain", 415},
      {"no content type", good.dump(), "", 415},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    auto headers = Bearer(token);
    headers["content-type"] = c.content_type;
    if (c.content_type.empty()) headers.erase("content-type");
    Request req;
    req.method = "POST";
    req.SetTarget("/api/v1/sync/push");
    req.body = c.body;
    req.headers = headers;
    req.peer = peer_;
    ExpectProblem(service_->Handle(req), c.status);
  }
  // Charset parameters are fine.
  auto headers = Bearer(token);
  headers["content-type"] = "Application/JSON; charset=utf-8";
  EXPECT_EQ(Call("POST", "/api/v1/sync/push", good.dump(), headers).status,
            200);
}

TEST_F(HandlersTest, PushStoreErrors) {
  const std::string token = TokenFor("nurse");
  store_.FailNext(ErrorCode::kIoError);
  Response r = SendPush(token, Push({}));
  // FindSession fails first: still a 500 problem, never the store's text.
  ExpectProblem(r, 500);
  EXPECT_EQ(r.body.find("injected"), std::string::npos);
  store_.FailNext(ErrorCode::kBusy);
  Response busy = SendPush(token, Push({}));
  ExpectProblem(busy, 503);
  EXPECT_EQ(HeaderOf(busy, "Retry-After"), "1");
}

// --- pull ---

TEST_F(HandlersTest, PullPagesThroughOwnSiteChanges) {
  const std::string token = TokenFor("nurse");
  std::vector<ChangeEntry> changes;
  for (int i = 0; i < 5; ++i) {
    changes.push_back(Entry("patients", NewId(), clinician_, kT0, site_a_));
  }
  ASSERT_EQ(SendPush(token, Push(changes)).status, 200);
  std::vector<std::string> ids;
  std::int64_t cursor = 0;
  for (int page = 0;; ++page) {
    ASSERT_LT(page, 10);
    Response r = Call("GET",
                      "/api/v1/sync/pull?cursor=" + std::to_string(cursor) +
                          "&limit=2&protocol_version=1&schema_version=3",
                      "", Bearer(token));
    ASSERT_EQ(r.status, 200) << r.body;
    auto out = sync::DecodePullResponse(r.body);
    ASSERT_TRUE(out) << out.error().ToString();
    EXPECT_LE(out->changes.size(), 2u);
    EXPECT_EQ(out->server_time_ms, kT0);
    for (const auto& c : out->changes) ids.push_back(c.id);
    cursor = out->next_cursor;
    if (!out->more) break;
  }
  ASSERT_EQ(ids.size(), 5u);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(ids[i], changes[i].id);
  // Another site sees none of them.
  peer_ = "127.0.0.9";
  const std::string b_token = TokenFor("faraway");
  auto b = sync::DecodePullResponse(
      Call("GET", "/api/v1/sync/pull", "", Bearer(b_token)).body);
  ASSERT_TRUE(b);
  EXPECT_TRUE(b->changes.empty());
  EXPECT_FALSE(b->more);
}

TEST_F(HandlersTest, PullQueryErrors) {
  const std::string token = TokenFor("nurse");
  struct Case {
    std::string query;
    int status;
  };
  for (const Case& c : {Case{"limit=0", 400}, Case{"limit=10001", 400},
                        Case{"limit=abc", 400}, Case{"cursor=-1", 400},
                        Case{"cursor=1&cursor=2", 400},
                        Case{"colour=blue", 400},
                        Case{"limit=99999999999999999999", 400},
                        Case{"protocol_version=2", 426},
                        Case{"schema_version=4", 426},
                        Case{"limit=10000", 200}, Case{"limit=1", 200},
                        Case{"", 200}}) {
    SCOPED_TRACE(c.query);
    Response r =
        Call("GET", "/api/v1/sync/pull?" + c.query, "", Bearer(token));
    if (c.status == 200) {
      EXPECT_EQ(r.status, 200) << r.body;
    } else {
      ExpectProblem(r, c.status);
    }
  }
  auto problem = sync::DecodeProblem(
      Call("GET", "/api/v1/sync/pull?protocol_version=7", "", Bearer(token))
          .body);
  EXPECT_EQ(problem->required_protocol_version, sync::kProtocolVersion);
  // Central staff have no site to pull.
  ExpectProblem(
      Call("GET", "/api/v1/sync/pull", "", Bearer(TokenFor("boss"))), 403);
}

// --- metrics and logs ---

TEST_F(HandlersTest, MetricsCountRequestsLatencyAndAuthFailures) {
  (void)Login("nurse", "bad password!!");
  (void)Call("GET", "/healthz");
  const std::string text = Call("GET", "/metrics").body;
  for (const char* needle :
       {"# TYPE pulse_http_requests_total counter",
        "pulse_http_requests_total{route=\"/api/v1/auth/login\",method="
        "\"POST\",status=\"401\"} 1",
        "pulse_http_requests_total{route=\"/healthz\",method=\"GET\",status="
        "\"200\"} 1",
        "# TYPE pulse_http_request_duration_seconds histogram",
        "pulse_http_request_duration_seconds_bucket{route=\"/healthz\",le="
        "\"+Inf\"} 1",
        "pulse_http_request_duration_seconds_count{route=\"/healthz\"} 1",
        "pulse_sync_changes_ingested_total 0",
        "pulse_sync_conflicts_total 0",
        "pulse_auth_failures_total{kind=\"bad_credentials\"} 1"}) {
    EXPECT_NE(text.find(needle), std::string::npos) << needle << "\n" << text;
  }
}

TEST_F(HandlersTest, AccessLogIsOneJsonLinePerRequestWithoutSecrets) {
  const std::string token = TokenFor("nurse");
  log_lines_.clear();
  Request r;
  r.method = "GET";
  r.SetTarget("/api/v1/sync/pull?cursor=0&limit=5");
  r.headers = Bearer(token);
  r.headers["x-request-id"] = "req-42";
  r.peer = "127.0.0.1";
  Response resp = service_->Handle(r);
  ASSERT_EQ(resp.status, 200);
  ASSERT_EQ(log_lines_.size(), 1u);
  auto line = nlohmann::json::parse(log_lines_[0]);
  EXPECT_EQ(line["level"], "info");
  EXPECT_EQ(line["method"], "GET");
  EXPECT_EQ(line["route"], "/api/v1/sync/pull");  // no query string
  EXPECT_EQ(line["status"], 200);
  EXPECT_EQ(line["peer"], "127.0.0.1");
  EXPECT_EQ(line["user_id"], clinician_);
  EXPECT_EQ(line["request_id"], "req-42");
  EXPECT_TRUE(line["latency_ms"].is_number());
  EXPECT_TRUE(line["time"].get<std::string>().ends_with("Z"));
  EXPECT_EQ(HeaderOf(resp, "X-Request-Id"), "req-42");
  // Login lines carry neither the password nor the token.
  log_lines_.clear();
  Response login = Login("nurse", kPassword);
  const std::string issued = sync::DecodeLoginResponse(login.body)->token;
  (void)Login("nurse", "a wrong secret");
  for (const std::string& l : log_lines_) {
    EXPECT_EQ(l.find(kPassword), std::string::npos) << l;
    EXPECT_EQ(l.find("a wrong secret"), std::string::npos) << l;
    EXPECT_EQ(l.find(issued), std::string::npos) << l;
    EXPECT_EQ(l.find(token), std::string::npos) << l;
  }
}

}  // namespace
}  // namespace pulse::sync_server
