// The sync client against an in-memory server that speaks the protocol
// (sync_protocol.h): it keeps one global log, hands out cursors, dedups
// pushes by batch id, and can be told to fail the Nth call (before or
// after it applied the request) or to answer 401/426/500/400. The client,
// the replicas and the codec are real.
#include "pulse/engine/sync_client.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdio>
#include <random>
#include <condition_variable>
#include <deque>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "pulse/engine/blob_store.h"
#include "pulse/engine/hash.h"
#include "pulse/engine/merge.h"
#include "pulse/engine/replica.h"
#include "pulse/engine/sync_protocol.h"
#include "support/manual_clock.h"
#include "support/temp_dir.h"

namespace pulse::engine {
namespace {

namespace fs = std::filesystem;
using ::pulse::testing::ManualClock;

constexpr std::int64_t kNowMs = 1'763'900'000'000;  // 2025-11-23
constexpr std::string_view kPassphrase = "correct horse battery staple";
constexpr std::string_view kUser = "sync-tech";
constexpr std::string_view kPassword = "Sync-Passw0rd-for-tests";

// --- The fake server ---

class FakeServer final : public SyncTransport {
 public:
  enum class FailMode { kBeforeApply, kAfterApply };

  explicit FakeServer(ManualClock& clock) : clock_(clock) {}

  // Call number `n` (1-based, counting every Send) fails with kIoError:
  // kBeforeApply as a refused connection, kAfterApply as a response lost
  // after the server did the work. 0: never.
  void FailCall(int n, FailMode mode) {
    fail_at_ = n;
    fail_mode_ = mode;
  }
  void FailAllCalls(bool on) { fail_all_ = on; }
  // The next authenticated requests are answered with these statuses.
  void ForceStatus(int status) { forced_.push_back(status); }
  void RevokeTokens() { tokens_.clear(); }
  void SetPassword(std::string password) { password_ = std::move(password); }

  int calls() const { return calls_; }
  int logins() const { return logins_; }
  const std::vector<ChangeEntry>& log() const { return log_; }
  // Every push received (batch id, entry ids), duplicates included.
  const std::vector<std::pair<std::string, std::vector<std::string>>>& pushes()
      const {
    return pushes_;
  }
  // Protocol violations seen (a batch id reused with other changes).
  const std::vector<std::string>& violations() const { return violations_; }
  std::vector<std::int64_t> pull_cursors;  // the cursor of each pull

  // Blobs: push answers name these ids until the blob is complete here.
  void RequireBlob(std::string id) { required_blobs_.push_back(std::move(id)); }
  // The n-th blob PUT from now (1-based) is lost in flight: the connection
  // drops before the server sees the body. 0: never.
  void DropBlobPut(int n) { drop_blob_put_ = n; }
  const std::map<std::string, std::string>& blobs() const { return blobs_; }
  std::int64_t blob_bytes_received = 0;  // PUT bodies, lost ones included
  std::vector<std::string> paths;        // "METHOD path" of every request

  Result<HttpResponse> Send(const HttpRequest& request) override {
    ++calls_;
    paths.push_back(request.method + " " +
                    request.target.substr(0, request.target.find('?')));
    if (request.method == "PUT") {
      blob_bytes_received += static_cast<std::int64_t>(request.body.size());
      if (drop_blob_put_ > 0 && --drop_blob_put_ == 0) {
        return Fail(ErrorCode::kIoError, "fake: connection reset mid-body");
      }
    }
    const bool fail = fail_all_ || calls_ == fail_at_;
    if (fail && (fail_all_ || fail_mode_ == FailMode::kBeforeApply)) {
      return Fail(ErrorCode::kIoError, "fake: connection refused");
    }
    HttpResponse response = Handle(request);
    if (fail) return Fail(ErrorCode::kIoError, "fake: connection reset");
    return response;
  }

 private:
  static HttpResponse Problem(int status, std::string detail,
                              std::optional<int> protocol = std::nullopt) {
    sync::Problem p;
    p.type = "https://pulse-ledger.example/problems/test";
    p.title = "fake problem";
    p.status = status;
    p.detail = std::move(detail);
    p.required_protocol_version = protocol;
    return HttpResponse{status, {}, sync::EncodeProblem(p)};
  }

  HttpResponse Handle(const HttpRequest& request) {
    const std::string path = request.target.substr(0, request.target.find('?'));
    if (path == "/api/v1/auth/login") {
      auto login = sync::DecodeLoginRequest(request.body);
      if (!login) return Problem(400, login.error().message());
      if (login->username != kUser || login->password != password_) {
        return Problem(401, "invalid credentials");
      }
      ++logins_;
      sync::LoginResponse answer;
      char hex[65];
      std::snprintf(hex, sizeof hex, "%064x", logins_);
      answer.token = hex;
      answer.user_id = "0190c0de-0000-7000-8000-000000000001";
      answer.role = "technician";
      answer.expires_at_ms = kNowMs + 3'600'000'000;
      answer.idle_timeout_s = 3600;
      tokens_.insert(answer.token);
      return HttpResponse{200, {}, sync::EncodeLoginResponse(answer)};
    }
    const std::string auth(FindHeader(request.headers, "authorization"));
    if (auth.rfind("Bearer ", 0) != 0 || tokens_.count(auth.substr(7)) == 0) {
      return Problem(401, "no valid session");
    }
    if (!forced_.empty()) {
      const int status = forced_.front();
      forced_.pop_front();
      return Problem(status, "forced by the test",
                     status == 426 ? std::optional<int>(2) : std::nullopt);
    }
    if (path == "/api/v1/sync/push" && request.method == "POST") {
      auto push = sync::DecodePushRequest(request.body);
      if (!push) return Problem(400, push.error().message());
      std::vector<std::string> ids;
      for (const ChangeEntry& e : push->changes) ids.push_back(e.id);
      pushes_.emplace_back(push->batch_id, ids);
      sync::PushResponse answer;
      answer.batch_id = push->batch_id;
      answer.server_time_ms = ToMs();
      for (const std::string& id : required_blobs_) {
        if (!blobs_.contains(id)) answer.missing_blobs.push_back(id);
      }
      if (auto it = batches_.find(push->batch_id); it != batches_.end()) {
        if (it->second.first != ids) {
          violations_.push_back("batch " + push->batch_id +
                                " resent with other changes");
        }
        answer.duplicate = true;
        answer.accepted = it->second.second;
      } else {
        for (const ChangeEntry& e : push->changes) {
          for (const auto& [bid, batch] : batches_) {
            for (const std::string& id : batch.first) {
              if (id == e.id) {
                violations_.push_back("change " + e.id +
                                      " sent under a second batch id");
              }
            }
          }
          if (seen_.insert(e.id).second) {
            log_.push_back(e);
            ++answer.accepted;
          }
        }
        batches_[push->batch_id] = {ids, answer.accepted};
      }
      return HttpResponse{200, {}, sync::EncodePushResponse(answer)};
    }
    if (path == "/api/v1/sync/pull" && request.method == "GET") {
      std::map<std::string, std::string> query;
      std::string q = request.target.substr(path.size() + 1);
      while (!q.empty()) {
        const std::size_t amp = q.find('&');
        const std::string pair = q.substr(0, amp);
        const std::size_t eq = pair.find('=');
        query[pair.substr(0, eq)] = pair.substr(eq + 1);
        q = amp == std::string::npos ? "" : q.substr(amp + 1);
      }
      if (query["protocol_version"] != "1" || query["schema_version"].empty()) {
        return Problem(400, "pull without versions");
      }
      const auto cursor = static_cast<std::size_t>(std::stoll(query["cursor"]));
      const auto limit = static_cast<std::size_t>(std::stoll(query["limit"]));
      pull_cursors.push_back(static_cast<std::int64_t>(cursor));
      sync::PullResponse answer;
      const std::size_t end = std::min(log_.size(), cursor + limit);
      for (std::size_t i = cursor; i < end; ++i) answer.changes.push_back(log_[i]);
      answer.next_cursor = static_cast<std::int64_t>(std::max(end, cursor));
      answer.more = end < log_.size();
      answer.server_time_ms = ToMs();
      auto body = sync::EncodePullResponse(answer);
      if (!body) return Problem(500, body.error().message());
      return HttpResponse{200, {}, *body};
    }
    if (path.rfind("/api/v1/blobs/", 0) == 0) return HandleBlob(request, path);
    return Problem(404, "no such endpoint");
  }

  // The blob protocol of docs/sync_protocol.md "Blobs", in memory.
  HttpResponse HandleBlob(const HttpRequest& request, const std::string& path) {
    const std::string id = path.substr(std::string("/api/v1/blobs/").size());
    if (!IsValidBlobId(id)) return Problem(404, "no such blob path");
    auto offset = [](int status, std::size_t n) {
      return HttpResponse{status, {{"Upload-Offset", std::to_string(n)}}, ""};
    };
    std::string& partial = partial_[id];
    if (request.method == "HEAD") {
      if (auto it = blobs_.find(id); it != blobs_.end()) {
        return offset(200, it->second.size());
      }
      return offset(404, partial.size());
    }
    if (request.method != "PUT") return Problem(405, "method");
    if (FindHeader(request.headers, "content-type") != "application/octet-stream") {
      return Problem(415, "content type");
    }
    if (blobs_.contains(id)) return offset(200, blobs_[id].size());
    std::size_t first = 0, last = 0, total = request.body.size();
    const std::string range(FindHeader(request.headers, "content-range"));
    if (!range.empty()) {
      if (std::sscanf(range.c_str(), "bytes %zu-%zu/%zu", &first, &last,
                      &total) != 3 ||
          last - first + 1 != request.body.size()) {
        return Problem(400, "bad Content-Range");
      }
      if (request.body.size() > kMaxBlobChunkBytes) return Problem(413, "chunk");
    } else {
      partial.clear();
    }
    if (first != partial.size()) return offset(409, partial.size());
    partial += request.body;
    if (partial.size() < total) return offset(204, partial.size());
    const std::string content = std::move(partial);
    partial.clear();
    if (Sha256Hex(std::span<const std::uint8_t>(
            reinterpret_cast<const std::uint8_t*>(content.data()),
            content.size())) != id) {
      return Problem(422, "hash mismatch");
    }
    blobs_[id] = content;
    return offset(201, content.size());
  }

  std::int64_t ToMs() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               clock_.Now().time_since_epoch())
        .count();
  }

  ManualClock& clock_;
  std::string password_{kPassword};
  int calls_ = 0;
  int logins_ = 0;
  int fail_at_ = 0;
  FailMode fail_mode_ = FailMode::kBeforeApply;
  bool fail_all_ = false;
  std::deque<int> forced_;
  std::set<std::string> tokens_;
  std::vector<ChangeEntry> log_;
  std::set<std::string> seen_;
  std::map<std::string, std::pair<std::vector<std::string>, std::int64_t>>
      batches_;
  std::vector<std::pair<std::string, std::vector<std::string>>> pushes_;
  std::vector<std::string> violations_;
  std::vector<std::string> required_blobs_;
  std::map<std::string, std::string> blobs_;    // complete, verified
  std::map<std::string, std::string> partial_;  // uploads in progress
  int drop_blob_put_ = 0;
};

// --- Fixture ---

class SyncClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    root_ = pulse::testing::TempRoot() / (std::string("sync_") + info->name());
    fs::remove_all(root_);
    fs::create_directories(root_);
    wall_.SetMs(kNowMs);
    options_.kdf = KdfLimits{1, kMinKdfMemLimitBytes};
    options_.users.hash_cost = kTestPasswordHashCost;
    options_.wall_clock = &wall_;
    // No fsync per commit: the suite makes hundreds of replicas, and
    // power-loss durability is not what it tests.
    options_.database.synchronous = Synchronous::kNormal;
  }
  void TearDown() override { fs::remove_all(root_); }

  std::unique_ptr<ClinicReplica> Create(const std::string& name) {
    UuidV7Generator ids(wall_);
    auto r = ClinicReplica::Create(root_ / name,
                                   ReplicaSetup{ids.Next(), kPassphrase},
                                   options_);
    EXPECT_TRUE(r.has_value()) << r.error().ToString();
    return r ? std::move(*r) : nullptr;
  }
  std::unique_ptr<ClinicReplica> Open(const std::string& name) {
    auto r = ClinicReplica::Open(root_ / name, kPassphrase, options_);
    EXPECT_TRUE(r.has_value()) << r.error().ToString();
    return r ? std::move(*r) : nullptr;
  }

  SyncClientOptions ClientOptions() {
    SyncClientOptions o;
    o.username = std::string(kUser);
    o.password = [] { return Result<std::string>(std::string(kPassword)); };
    o.interval = std::chrono::milliseconds(0);
    o.wall_clock = &wall_;
    return o;
  }
  std::unique_ptr<SyncClient> Client(ClinicReplica& replica,
                                     SyncTransport& transport,
                                     SyncClientOptions o) {
    auto c = SyncClient::Create(replica, transport, std::move(o));
    EXPECT_TRUE(c.has_value()) << c.error().ToString();
    return c ? std::move(*c) : nullptr;
  }

  // Registers `n` patients on `replica`, then edits the first one.
  void Write(ClinicReplica& replica, int n, const std::string& tag) {
    Principal who{replica.ids().Next(), Role::kTechnician, replica.site_id()};
    std::string first;
    for (int i = 0; i < n; ++i) {
      PatientInput in{tag + "-" + std::to_string(i), "Given", "Family" + tag,
                      "1990-01-01", "U", "", ""};
      auto id = replica.patients().Register(who, in);
      ASSERT_TRUE(id.has_value()) << id.error().ToString();
      if (i == 0) first = *id;
      wall_.AdvanceMs(7);
    }
    PatientChanges changes;
    changes.phone = "+254 700 000";
    ASSERT_TRUE(replica.patients().Update(who, first, changes).has_value());
  }

  static std::int64_t Count(Database& db, const std::string& sql) {
    auto stmt = db.Prepare(sql);
    EXPECT_TRUE(stmt.has_value()) << stmt.error().ToString();
    if (!stmt) return -1;
    auto row = stmt->Step();
    EXPECT_TRUE(row.has_value() && *row);
    return stmt->ColumnInt64(0).value();
  }
  static std::string Hash(ClinicReplica& replica) {
    auto hash = CanonicalStateHash(replica.database());
    EXPECT_TRUE(hash.has_value()) << hash.error().ToString();
    return hash.value_or("");
  }
  // The server's log holds no entry twice and saw no protocol violation.
  static void ExpectServerInvariants(const FakeServer& server) {
    std::set<std::string> ids;
    for (const ChangeEntry& e : server.log()) {
      EXPECT_TRUE(ids.insert(e.id).second) << "duplicate entry " << e.id;
    }
    EXPECT_TRUE(server.violations().empty()) << server.violations().front();
  }

  fs::path root_;
  ManualClock wall_;
  ReplicaOptions options_;
};

#define ASSERT_OK(expr)                                               \
  do {                                                                \
    auto _s = (expr);                                                 \
    ASSERT_TRUE(_s.has_value()) << #expr ": " << _s.error().ToString(); \
  } while (0)

TEST_F(SyncClientTest, PushAndPullRoundTripConverges) {
  FakeServer server(wall_);
  auto a = Create("a");
  auto b = Create("b");
  ASSERT_TRUE(a && b);
  Write(*a, 3, "A");
  Write(*b, 2, "B");
  const std::int64_t a_rows = Count(a->database(), "SELECT count(*) FROM change_log");
  const std::int64_t b_rows = Count(b->database(), "SELECT count(*) FROM change_log");
  ASSERT_GT(a_rows, 3);

  auto ca = Client(*a, server, ClientOptions());
  auto cb = Client(*b, server, ClientOptions());
  ASSERT_OK(ca->SyncOnce());
  EXPECT_EQ(ca->GetState().last_counts.pushed_changes, a_rows);
  ASSERT_OK(cb->SyncOnce());
  EXPECT_EQ(cb->GetState().last_counts.pulled_changes, a_rows + b_rows);
  EXPECT_EQ(cb->GetState().last_counts.applied, a_rows);
  ASSERT_OK(ca->SyncOnce());

  EXPECT_EQ(static_cast<std::int64_t>(server.log().size()), a_rows + b_rows);
  ExpectServerInvariants(server);
  EXPECT_EQ(Hash(*a), Hash(*b));
  EXPECT_EQ(Count(a->database(),
                  "SELECT count(*) FROM change_log WHERE pushed_at_ms IS NULL"),
            0);
  const SyncState state = ca->GetState();
  EXPECT_EQ(state.phase, SyncPhase::kIdle);
  EXPECT_TRUE(state.online);
  EXPECT_EQ(state.pending_changes, 0);
  EXPECT_EQ(state.last_success_ms, kNowMs + 3 * 7 + 2 * 7);
  EXPECT_EQ(server.logins(), 2);  // one session per client
  // Pulled stamps raise the persisted high-water mark (change_log.md §1.5).
  auto a_status = a->GetStatus();
  auto b_status = b->GetStatus();
  ASSERT_TRUE(a_status && b_status);
  EXPECT_EQ(a_status->hlc_high_water, b_status->hlc_high_water);
}

TEST_F(SyncClientTest, LostPushAnswerIsResentWithTheSameBatchId) {
  FakeServer server(wall_);
  auto a = Create("a");
  ASSERT_TRUE(a);
  Write(*a, 2, "A");
  auto ca = Client(*a, server, ClientOptions());
  // Call 1 is the login, call 2 the push: the server applies it, the
  // answer is lost.
  server.FailCall(2, FakeServer::FailMode::kAfterApply);
  auto failed = ca->SyncOnce();
  ASSERT_FALSE(failed.has_value());
  EXPECT_EQ(failed.error().code(), ErrorCode::kIoError);
  EXPECT_EQ(ca->GetState().phase, SyncPhase::kOffline);
  EXPECT_FALSE(ca->GetState().online);
  const std::size_t logged = server.log().size();
  ASSERT_GT(logged, 0u);

  // Restart in between: the batch id lives in the replica, not in memory.
  ca.reset();
  a.reset();
  a = Open("a");
  ASSERT_TRUE(a);
  ca = Client(*a, server, ClientOptions());
  EXPECT_EQ(ca->GetState().pending_changes, static_cast<std::int64_t>(logged));
  EXPECT_NE(ca->GetState().last_error.find("connection reset"), std::string::npos);
  ASSERT_OK(ca->SyncOnce());

  ASSERT_EQ(server.pushes().size(), 2u);
  EXPECT_EQ(server.pushes()[0], server.pushes()[1]);  // same id, same changes
  EXPECT_EQ(server.log().size(), logged);             // nothing twice
  ExpectServerInvariants(server);
  EXPECT_EQ(Count(a->database(),
                  "SELECT count(DISTINCT batch_id) FROM change_log"),
            1);
  EXPECT_EQ(ca->GetState().pending_changes, 0);
}

// Fails call N for every N in turn (refused, then lost after applying),
// syncing two replicas until they stop failing: nothing lost, nothing
// twice, no batch id reused for other changes, and the replicas converge.
TEST_F(SyncClientTest, FailingEveryCallInTurnLosesNothing) {
  for (auto mode : {FakeServer::FailMode::kBeforeApply,
                    FakeServer::FailMode::kAfterApply}) {
    for (int n = 1;; ++n) {
      SCOPED_TRACE("fail call " + std::to_string(n) +
                   (mode == FakeServer::FailMode::kAfterApply ? " after" : " before"));
      const std::string tag = std::to_string(n) +
                              (mode == FakeServer::FailMode::kAfterApply ? "x" : "y");
      FakeServer server(wall_);
      auto a = Create("a" + tag);
      auto b = Create("b" + tag);
      ASSERT_TRUE(a && b);
      Write(*a, 3, "A");
      Write(*b, 3, "B");
      const std::int64_t total =
          Count(a->database(), "SELECT count(*) FROM change_log") +
          Count(b->database(), "SELECT count(*) FROM change_log");
      SyncClientOptions o = ClientOptions();
      o.push_batch_size = 3;  // several batches per replica
      o.pull_limit = 4;       // several pages
      auto ca = Client(*a, server, o);
      auto cb = Client(*b, server, o);
      server.FailCall(n, mode);

      bool failed_once = false;
      for (int round = 0; round < 6; ++round) {
        for (SyncClient* c : {ca.get(), cb.get()}) {
          auto s = c->SyncOnce();
          if (!s) {
            failed_once = true;
            EXPECT_EQ(s.error().code(), ErrorCode::kIoError);
          }
          ExpectServerInvariants(server);
        }
      }
      EXPECT_EQ(static_cast<std::int64_t>(server.log().size()), total);
      EXPECT_EQ(Hash(*a), Hash(*b));
      for (auto* r : {a.get(), b.get()}) {
        EXPECT_EQ(Count(r->database(), "SELECT count(*) FROM change_log "
                                       "WHERE pushed_at_ms IS NULL"),
                  0);
      }
      // Every (batch id -> changes) pairing the server saw is consistent.
      std::map<std::string, std::vector<std::string>> by_id;
      for (const auto& [id, changes] : server.pushes()) {
        auto [it, fresh] = by_id.emplace(id, changes);
        if (!fresh) {
          EXPECT_EQ(it->second, changes);
        }
      }
      ca.reset();
      cb.reset();
      a.reset();
      b.reset();
      fs::remove_all(root_ / ("a" + tag));
      fs::remove_all(root_ / ("b" + tag));
      if (!failed_once) break;  // N is past the last call: done
      ASSERT_LT(n, 200) << "the sync never stopped failing";
    }
  }
}

TEST_F(SyncClientTest, PullCursorPersistsAcrossReopening) {
  FakeServer server(wall_);
  auto a = Create("a");
  auto b = Create("b");
  ASSERT_TRUE(a && b);
  Write(*a, 4, "A");
  auto ca = Client(*a, server, ClientOptions());
  ASSERT_OK(ca->SyncOnce());
  SyncClientOptions o = ClientOptions();
  o.pull_limit = 3;
  {
    auto cb = Client(*b, server, o);
    ASSERT_OK(cb->SyncOnce());
  }
  const auto end = static_cast<std::int64_t>(server.log().size());
  EXPECT_EQ(Count(b->database(),
                  "SELECT value FROM sync_state WHERE key = 'pull_cursor'"),
            end);
  b.reset();
  b = Open("b");
  ASSERT_TRUE(b);
  server.pull_cursors.clear();
  auto cb = Client(*b, server, o);
  ASSERT_OK(cb->SyncOnce());
  ASSERT_EQ(server.pull_cursors.size(), 1u);
  EXPECT_EQ(server.pull_cursors[0], end);
  EXPECT_EQ(cb->GetState().last_counts.pulled_changes, 0);
  EXPECT_EQ(Hash(*a), Hash(*b));
}

TEST_F(SyncClientTest, UpgradeRequiredIsUnsupportedNamingTheVersion) {
  FakeServer server(wall_);
  auto a = Create("a");
  ASSERT_TRUE(a);
  Write(*a, 1, "A");
  auto ca = Client(*a, server, ClientOptions());
  server.ForceStatus(426);
  auto s = ca->SyncOnce();
  ASSERT_FALSE(s.has_value());
  EXPECT_EQ(s.error().code(), ErrorCode::kUnsupported);
  EXPECT_NE(s.error().message().find("server requires protocol version 2"),
            std::string::npos)
      << s.error().message();
  const SyncState state = ca->GetState();
  EXPECT_EQ(state.phase, SyncPhase::kError);
  EXPECT_TRUE(state.online);
  EXPECT_EQ(state.consecutive_failures, 1);
}

TEST_F(SyncClientTest, ExpiredTokenLogsInAgainOnce) {
  FakeServer server(wall_);
  auto a = Create("a");
  ASSERT_TRUE(a);
  auto ca = Client(*a, server, ClientOptions());
  ASSERT_OK(ca->SyncOnce());
  EXPECT_EQ(server.logins(), 1);
  server.RevokeTokens();
  Write(*a, 1, "A");
  ASSERT_OK(ca->SyncOnce());
  EXPECT_EQ(server.logins(), 2);

  // The account's password changed on the server: the re-login is
  // refused, once, and the step reports it.
  server.RevokeTokens();
  server.SetPassword("another-Passw0rd");
  auto s = ca->SyncOnce();
  ASSERT_FALSE(s.has_value());
  EXPECT_EQ(s.error().code(), ErrorCode::kPermissionDenied);
  EXPECT_EQ(s.error().message().find(kPassword), std::string::npos);
  EXPECT_EQ(ca->GetState().phase, SyncPhase::kError);
}

TEST_F(SyncClientTest, RefusedBatchStaysAssignedAndIsResentUnchanged) {
  FakeServer server(wall_);
  auto a = Create("a");
  ASSERT_TRUE(a);
  Write(*a, 2, "A");
  auto ca = Client(*a, server, ClientOptions());
  server.ForceStatus(500);
  auto s = ca->SyncOnce();
  ASSERT_FALSE(s.has_value());
  EXPECT_EQ(s.error().code(), ErrorCode::kIoError);
  EXPECT_NE(s.error().message().find("HTTP 500"), std::string::npos);
  EXPECT_EQ(ca->GetState().phase, SyncPhase::kError);  // it answered

  server.ForceStatus(400);
  s = ca->SyncOnce();
  ASSERT_FALSE(s.has_value());
  EXPECT_EQ(s.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(ca->GetState().consecutive_failures, 2);
  // Still one batch, assigned, unacknowledged.
  EXPECT_EQ(Count(a->database(), "SELECT count(DISTINCT batch_id) FROM "
                                 "change_log WHERE pushed_at_ms IS NULL"),
            1);
  EXPECT_EQ(Count(a->database(),
                  "SELECT count(*) FROM change_log WHERE batch_id IS NULL"),
            0);
  // A change written meanwhile is not slipped into the assigned batch.
  Write(*a, 1, "late");
  ASSERT_OK(ca->SyncOnce());
  ASSERT_GE(server.pushes().size(), 2u);
  EXPECT_EQ(Count(a->database(), "SELECT count(DISTINCT batch_id) FROM change_log"),
            2);
  EXPECT_EQ(ca->GetState().consecutive_failures, 0);
  ExpectServerInvariants(server);
}

TEST_F(SyncClientTest, BackoffDoublesUpToTheCapWithFullJitter) {
  SyncClientOptions o;
  o.interval = std::chrono::milliseconds(60'000);
  o.backoff_base = std::chrono::milliseconds(1'000);
  o.backoff_max = std::chrono::milliseconds(30'000);
  const std::uint64_t top = std::numeric_limits<std::uint64_t>::max();
  EXPECT_EQ(SyncDelay(o, 0, top).count(), 60'000);
  const std::int64_t ceilings[] = {1'000, 2'000, 4'000, 8'000, 16'000,
                                   30'000, 30'000};
  for (int n = 1; n <= 7; ++n) {
    EXPECT_EQ(SyncDelay(o, n, top).count(), ceilings[n - 1]) << n;
    EXPECT_EQ(SyncDelay(o, n, 0).count(), 0) << n;
    EXPECT_LE(SyncDelay(o, n, top / 2).count(), ceilings[n - 1]);
    EXPECT_GE(SyncDelay(o, n, top / 2).count(), ceilings[n - 1] / 2 - 1);
  }
  EXPECT_EQ(SyncDelay(o, 1000, top).count(), 30'000);  // no overflow
}

TEST_F(SyncClientTest, LoopBacksOffWhileOfflineAndRecovers) {
  FakeServer server(wall_);
  auto a = Create("a");
  ASSERT_TRUE(a);
  Write(*a, 1, "A");
  server.FailAllCalls(true);

  std::mutex mu;  // guards delays and the server switch
  std::condition_variable cv;
  std::vector<std::int64_t> delays;
  SyncClientOptions o = ClientOptions();
  o.interval = std::chrono::milliseconds(60'000);
  o.backoff_base = std::chrono::milliseconds(1'000);
  o.backoff_max = std::chrono::milliseconds(8'000);
  o.random = [] { return std::numeric_limits<std::uint64_t>::max(); };
  o.sleep = [&](std::chrono::milliseconds d) {
    std::lock_guard<std::mutex> lock(mu);
    delays.push_back(d.count());
    // After six failures the link comes back (this runs on the loop
    // thread, between steps, so the server is not in use).
    if (delays.size() == 6) server.FailAllCalls(false);
    cv.notify_all();
  };
  auto ca = Client(*a, server, o);
  std::mutex replica_mu;
  ca->Start(replica_mu);
  {
    std::unique_lock<std::mutex> lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(30),
                            [&] { return delays.size() >= 8; }));
  }
  ca->Stop();
  const std::vector<std::int64_t> want = {1'000, 2'000, 4'000, 8'000,
                                          8'000, 8'000, 60'000, 60'000};
  ASSERT_GE(delays.size(), want.size());
  EXPECT_EQ(std::vector<std::int64_t>(delays.begin(), delays.begin() + 8), want);
  EXPECT_EQ(ca->GetState().phase, SyncPhase::kIdle);
  EXPECT_EQ(ca->GetState().pending_changes, 0);
  ExpectServerInvariants(server);
}

TEST_F(SyncClientTest, BadOptionsAreRefusedByName) {
  FakeServer server(wall_);
  auto a = Create("a");
  ASSERT_TRUE(a);
  SyncClientOptions o = ClientOptions();
  o.push_batch_size = sync::kMaxPushChanges + 1;
  auto c = SyncClient::Create(*a, server, o);
  ASSERT_FALSE(c.has_value());
  EXPECT_NE(c.error().message().find("push_batch_size"), std::string::npos);
  o = ClientOptions();
  o.username.clear();
  c = SyncClient::Create(*a, server, o);
  ASSERT_FALSE(c.has_value());
  EXPECT_NE(c.error().message().find("username"), std::string::npos);
}

}  // namespace
}  // namespace pulse::engine

namespace pulse::engine {
namespace {

// Random bytes put into `replica`'s blob store; returns the id.
std::string PutBlob(ClinicReplica& replica, std::size_t n, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<std::uint8_t> bytes(n);
  for (auto& b : bytes) b = static_cast<std::uint8_t>(rng());
  auto ref = replica.blob_store().Put(bytes);
  EXPECT_TRUE(ref.has_value()) << ref.error().ToString();
  return ref ? ref->sha256 : "";
}

std::string Content(ClinicReplica& replica, const std::string& id) {
  auto bytes = replica.blob_store().Get(id);
  EXPECT_TRUE(bytes.has_value()) << bytes.error().ToString();
  return bytes ? std::string(bytes->begin(), bytes->end()) : "";
}

TEST_F(SyncClientTest, MissingBlobsAreUploadedAfterMetadataAndResumeAfterAKill) {
  FakeServer server(wall_);
  constexpr std::size_t kChunk = 64 * 1024;
  std::string id;
  std::size_t size = 0;
  std::string expected;
  {
    auto a = Create("a");
    ASSERT_TRUE(a);
    Write(*a, 2, "A");
    std::mt19937 rng(
        static_cast<std::uint32_t>(::testing::GTEST_FLAG(random_seed)));
    size = 5 * kChunk + rng() % kChunk;
    id = PutBlob(*a, size, static_cast<std::uint32_t>(rng()));
    expected = Content(*a, id);
    server.RequireBlob(id);
    server.DropBlobPut(3);  // the link drops during the third chunk
    SyncClientOptions o = ClientOptions();
    o.blob_chunk_bytes = kChunk;
    auto client = Client(*a, server, o);
    Status first = client->SyncOnce();
    ASSERT_FALSE(first.has_value());
    EXPECT_EQ(first.error().code(), ErrorCode::kIoError);
    const SyncState state = client->GetState();
    EXPECT_EQ(state.phase, SyncPhase::kOffline);
    EXPECT_EQ(state.pending_changes, 0);  // metadata went first
    EXPECT_EQ(state.pending_blobs, 1);
    EXPECT_EQ(state.pending_blob_bytes, static_cast<std::int64_t>(size));
    // Metadata before blobs: no blob request precedes the push or the pull.
    const auto first_blob = std::find_if(
        server.paths.begin(), server.paths.end(), [](const std::string& p) {
          return p.find("/api/v1/blobs/") != std::string::npos;
        });
    ASSERT_NE(first_blob, server.paths.end());
    EXPECT_NE(std::find(server.paths.begin(), first_blob,
                        "POST /api/v1/sync/push"),
              first_blob);
    EXPECT_NE(std::find(server.paths.begin(), first_blob,
                        "GET /api/v1/sync/pull"),
              first_blob);
    EXPECT_FALSE(server.blobs().contains(id));
    // The process dies here: client and replica go, nothing is kept.
  }
  auto a = Open("a");
  ASSERT_TRUE(a);
  SyncClientOptions o = ClientOptions();
  o.blob_chunk_bytes = kChunk;
  auto client = Client(*a, server, o);
  EXPECT_EQ(client->GetState().pending_blobs, 1);
  ASSERT_OK(client->SyncOnce());
  ASSERT_TRUE(server.blobs().contains(id));
  EXPECT_EQ(server.blobs().at(id), expected);
  // Two chunks were held; the dropped one is the only resend.
  EXPECT_LE(server.blob_bytes_received,
            static_cast<std::int64_t>(size + kChunk));
  EXPECT_EQ(client->GetState().last_counts.uploaded_blobs, 1);
  EXPECT_EQ(client->GetState().pending_blobs, 0);
  EXPECT_EQ(client->GetState().pending_blob_bytes, 0);
  // Nothing more to send.
  const std::size_t requests = server.paths.size();
  ASSERT_OK(client->SyncOnce());
  for (std::size_t i = requests; i < server.paths.size(); ++i) {
    EXPECT_EQ(server.paths[i].find("/api/v1/blobs/"), std::string::npos);
  }
}

TEST_F(SyncClientTest, LostChunkAnswerContinuesFromTheServersOffset) {
  FakeServer server(wall_);
  auto a = Create("a");
  ASSERT_TRUE(a);
  Write(*a, 1, "A");
  const std::string id = PutBlob(*a, 3 * 1000 + 1, 7);
  server.RequireBlob(id);
  SyncClientOptions o = ClientOptions();
  o.blob_chunk_bytes = 1000;
  auto client = Client(*a, server, o);
  // Call 5 is the first PUT (login, push, pull, HEAD, PUT): the server
  // stores it but its answer is lost.
  server.FailCall(5, FakeServer::FailMode::kAfterApply);
  ASSERT_FALSE(client->SyncOnce().has_value());
  ASSERT_OK(client->SyncOnce());
  EXPECT_EQ(server.blobs().at(id), Content(*a, id));
  // HEAD found the stored chunk: nothing was sent twice.
  EXPECT_EQ(server.blob_bytes_received, 3 * 1000 + 1);
}

TEST_F(SyncClientTest, SmallBlobGoesWholeAndAMissingLocalBlobIsReported) {
  FakeServer server(wall_);
  auto a = Create("a");
  ASSERT_TRUE(a);
  Write(*a, 1, "A");
  const std::string id = PutBlob(*a, 500, 9);
  const std::string absent(64, 'a');  // never stored here
  server.RequireBlob(absent);
  server.RequireBlob(id);
  auto client = Client(*a, server, ClientOptions());
  Status s = client->SyncOnce();
  ASSERT_FALSE(s.has_value());
  EXPECT_EQ(s.error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(server.blobs().at(id), Content(*a, id));  // the other still went
  EXPECT_EQ(server.blob_bytes_received, 500);         // one whole PUT
  EXPECT_EQ(client->GetState().pending_blobs, 1);
  EXPECT_EQ(client->GetState().phase, SyncPhase::kError);
}

}  // namespace
}  // namespace pulse::engine
