// Sync under faults (issue 5, "Tests"): the real pulse-sync-server process
// behind the fault-injecting TCP proxy (support/fault_proxy.h), clinics
// syncing through it with the product's SyncClient + CurlTransport
// in-process (and, for the clinic crash, the clinicctl binary).
//
//  - RandomFaultRoundsLoseNothingAndDuplicateNothing: N rounds (default
//    200, ~30 s; PULSE_FAULT_ROUNDS; the `slow` entry runs 1000), each: random
//    offline edits at a random clinic, then one SyncOnce through a
//    connection that drew a random fault (drop, delay, reset, truncated
//    request or response, half-close, or none). After a last clean sync:
//    every edit is at the clinic and centrally (hash of the site's rows
//    equal), pulled back into a fresh replica of the site (hash equal),
//    the global log holds each entry id once and exactly the clinic's
//    changes plus the central ones.
//  - ServerKilledMidPushRestartsWithNothingLostOrDoubled: SIGKILL the
//    server while a large push streams through the proxy, restart it on
//    the same store, sync again; twice.
//  - ClinicKilledMidSyncResumesWithNothingLostOrDoubled: SIGKILL a
//    `clinicctl sync` with a large outbox mid-push, run it again.
//
// Seeds are printed; PULSE_FAULT_SEED reproduces a run.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "e2e/e2e_support.h"
#include "pulse/engine/curl_transport.h"
#include "pulse/engine/merge.h"
#include "pulse/engine/replica.h"
#include "pulse/engine/sync_client.h"
#include "support/fault_proxy.h"
#include "support/temp_dir.h"

namespace pulse::testing::e2e {
namespace {

using engine::ClinicReplica;
using engine::CurlTransport;
using engine::SyncClient;

int EnvInt(const char* name, int fallback) {
  const char* text = std::getenv(name);
  return text != nullptr && *text != '\0' ? std::atoi(text) : fallback;
}

std::uint64_t Seed() {
  const char* text = std::getenv("PULSE_FAULT_SEED");
  if (text != nullptr && *text != '\0') return std::strtoull(text, nullptr, 10);
  return std::random_device{}();
}

engine::ReplicaOptions CheapReplicaOptions() {
  engine::ReplicaOptions options;
  options.kdf = engine::KdfLimits{1, engine::kMinKdfMemLimitBytes};
  options.users.hash_cost = engine::kTestPasswordHashCost;
  return options;
}

std::int64_t Count(engine::Database& db, const std::string& sql) {
  auto stmt = db.Prepare(sql);
  EXPECT_TRUE(stmt.has_value());
  if (!stmt) return -1;
  auto row = stmt->Step();
  EXPECT_TRUE(row.has_value() && *row);
  return stmt->ColumnInt64(0).value_or(-1);
}

// A clinic replica driven in-process: edits through the repositories,
// sync through a fresh CurlTransport + SyncClient per call (so every sync
// opens a new connection, which draws a new fault, and re-logs in, as a
// restarted clinic does).
struct InProcessClinic {
  InProcessClinic(std::string n, std::string s, std::string u, fs::path d)
      : name(std::move(n)), site(std::move(s)), user(std::move(u)), dir(std::move(d)) {}

  std::string name;
  std::string site;
  std::string user;
  fs::path dir;
  std::unique_ptr<ClinicReplica> replica;
  std::optional<engine::Principal> who;
  std::map<std::string, std::map<std::string, std::string>> model;  // id -> field -> value

  ::testing::AssertionResult Create() {
    auto r = ClinicReplica::Create(dir, {engine::Uuid::Parse(site).value(), kClinicPassphrase},
                                   CheapReplicaOptions());
    if (!r) return ::testing::AssertionFailure() << r.error().ToString();
    replica = std::move(*r);
    return ::testing::AssertionSuccess();
  }

  Status Sync(const std::string& url, std::size_t batch = 50) {
    engine::CurlTransportOptions t;
    t.base_url = url;
    t.connect_timeout = std::chrono::seconds(2);
    t.total_timeout = std::chrono::seconds(10);
    auto transport = CurlTransport::Create(t);
    if (!transport) return Fail(transport.error());
    engine::SyncClientOptions o;
    o.username = user;
    o.password = [] { return Result<std::string>(std::string(kUserPassword)); };
    o.interval = std::chrono::milliseconds(0);
    o.push_batch_size = batch;
    o.pull_limit = 100;
    auto client = SyncClient::Create(*replica, **transport, o);
    if (!client) return Fail(client.error());
    return (*client)->SyncOnce();
  }

  ::testing::AssertionResult SignIn() {
    auto r = replica->sign_in().Login(user, kUserPassword);
    if (!r || !r->ok()) return ::testing::AssertionFailure() << "sign-in as " << user;
    who = *r->principal;
    return ::testing::AssertionSuccess();
  }

  void AddPatient(std::mt19937_64& rng) {
    engine::PatientInput in;
    in.mrn = "MRN-" + std::to_string(rng() % 10'000'000);
    in.given_name = "Given" + std::to_string(rng() % 1000);
    in.family_name = "Family" + std::to_string(rng() % 1000);
    in.birth_date = "1980-01-01";
    in.sex = "U";
    auto id = replica->patients().Register(*who, in);
    ASSERT_TRUE(id.has_value()) << id.error().ToString();
    model[*id] = {{"given_name", in.given_name}, {"family_name", in.family_name},
                  {"phone", ""}};
  }

  void EditPatient(std::mt19937_64& rng) {
    if (model.empty()) return AddPatient(rng);
    auto it = model.begin();
    std::advance(it, static_cast<long>(rng() % model.size()));
    engine::PatientChanges changes;
    const std::string value = std::to_string(rng() % 100'000'000);
    std::string field;
    switch (rng() % 3) {
      case 0:
        field = "given_name";
        changes.given_name = "G" + value;
        break;
      case 1:
        field = "family_name";
        changes.family_name = "F" + value;
        break;
      default:
        field = "phone";
        changes.phone = "07" + value;
        break;
    }
    ASSERT_TRUE(replica->patients().Update(*who, it->first, changes).has_value());
    it->second[field] = field == "phone" ? "07" + value : field.substr(0, 1) == "g"
                                                             ? "G" + value
                                                             : "F" + value;
  }

  // Every modelled patient is in the replica with the modelled values.
  void CheckModel() {
    for (const auto& [id, fields] : model) {
      auto p = replica->patients().Get(*who, id);
      ASSERT_TRUE(p.has_value()) << name << " lost patient " << id;
      EXPECT_EQ(p->fields.given_name, fields.at("given_name"));
      EXPECT_EQ(p->fields.family_name, fields.at("family_name"));
      EXPECT_EQ(p->fields.phone, fields.at("phone"));
    }
  }
};

class SyncFaultsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    root_ = TempRoot() / (std::string("faults_") + info->name());
    fs::remove_all(root_);
    fs::create_directories(root_);
    seed_ = Seed();
    rng_.seed(seed_);
    std::printf("seed %llu (PULSE_FAULT_SEED reproduces)\n",
                static_cast<unsigned long long>(seed_));
    tools_ = std::make_unique<Tools>(CLINICCTL_BINARY, SYNC_SERVER_BINARY, root_);
    store_ = root_ / "central";
    central_ = SeedCentralStore(store_, {"Kisumu", "Nakuru"},
                                {{"achieng", engine::Role::kClinician, "Kisumu"},
                                 {"kiprop", engine::Role::kTechnician, "Nakuru"}});
    server_ = std::make_unique<ServerProcess>(SYNC_SERVER_BINARY, store_, root_);
    // What the centre itself wrote per site (its sites row, its users),
    // before any clinic: the global log must end with exactly these plus
    // the clinics' changes.
    for (const auto& [name, site] : central_.site_ids) {
      const json state = tools_->CentralState(store_, site);
      ASSERT_TRUE(state.is_object());
      central_entries_[site] = state.at("global_log_entries").get<std::int64_t>();
    }
    ASSERT_TRUE(server_->Start());
    FaultProxyOptions p;
    p.target_port = static_cast<std::uint16_t>(server_->port());
    p.seed = seed_;
    p.max_delay = std::chrono::milliseconds(100);
    p.max_cut_bytes = 6000;
    auto proxy = FaultProxy::Start(p);
    ASSERT_TRUE(proxy.has_value()) << proxy.error().ToString();
    proxy_ = std::move(*proxy);
  }
  void TearDown() override {
    if (proxy_) proxy_->Stop();
    if (server_) server_->Stop();
    if (!HasFailure()) fs::remove_all(root_);
  }

  std::string ProxyUrl() const { return "http://127.0.0.1:" + std::to_string(proxy_->port()); }

  // Syncs cleanly until a SyncOnce succeeds (a few tries: the first may
  // meet a connection still closing).
  void CleanSync(InProcessClinic& c, const std::string& url) {
    Status s = c.Sync(url, 500);
    for (int i = 0; i < 4 && !s; ++i) s = c.Sync(url, 500);
    ASSERT_TRUE(s.has_value()) << c.name << ": " << s.error().ToString();
  }

  // With the server stopped: the central store's rows of the clinic's site
  // equal the clinic's; the global log of the site holds each entry once,
  // and exactly the clinic's changes plus the centre's.
  void CheckCentralAgainst(engine::Database& db, const std::string& site,
                           const std::string& name) {
    const std::string clinic_hash = engine::CanonicalStateHash(db).value();
    const std::int64_t clinic_changes = Count(db, "SELECT count(*) FROM change_log");
    EXPECT_EQ(Count(db, "SELECT count(*) FROM change_log WHERE pushed_at_ms IS NULL"), 0)
        << name << ": changes not acknowledged";
    const json state = tools_->CentralState(store_, site);
    ASSERT_TRUE(state.is_object());
    EXPECT_EQ(state.at("hash").get<std::string>(), clinic_hash)
        << name << " and the central store differ";
    EXPECT_EQ(state.at("global_log_entries"), state.at("global_log_distinct_ids"))
        << name << ": an entry is in the global log twice";
    EXPECT_EQ(state.at("global_log_entries").get<std::int64_t>(),
              clinic_changes + central_entries_.at(site))
        << name << ": global log is not the clinic's changes plus the centre's";
  }

  void PrintFaults(const char* what) {
    const FaultCounts c = proxy_->Counts();
    std::string text;
    for (std::size_t i = 0; i < kFaultKinds; ++i) {
      text += std::string(FaultName(static_cast<Fault>(i))) + " " +
              std::to_string(c.assigned[i]) + "/" + std::to_string(c.fired[i]) + "  ";
    }
    std::printf("%s: %llu connections; per fault drawn/took effect: %s\n", what,
                static_cast<unsigned long long>(c.connections), text.c_str());
    std::printf("%s: %llu bytes to the server, %llu back\n", what,
                static_cast<unsigned long long>(c.bytes_to_target),
                static_cast<unsigned long long>(c.bytes_from_target));
  }

  // A replica of `site` with `patients` registered offline (after one clean
  // sync for the users), ready for a large push.
  void FillClinic(InProcessClinic& c, int patients) {
    ASSERT_TRUE(c.Create());
    ASSERT_NO_FATAL_FAILURE(CleanSync(c, server_->url()));
    ASSERT_TRUE(c.SignIn());
    for (int i = 0; i < patients; ++i) ASSERT_NO_FATAL_FAILURE(c.AddPatient(rng_));
  }

  // Waits until the proxy has forwarded `bytes` more to the server than at
  // `base`, or `process_done` says the sync ended first. True when reached.
  template <typename Done>
  bool WaitForBytes(std::uint64_t base, std::uint64_t bytes, Done process_done) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (std::chrono::steady_clock::now() < deadline) {
      if (proxy_->Counts().bytes_to_target >= base + bytes) return true;
      if (process_done()) return false;
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    return false;
  }

  fs::path root_;
  fs::path store_;
  std::uint64_t seed_ = 0;
  std::mt19937_64 rng_;
  std::unique_ptr<Tools> tools_;
  std::unique_ptr<ServerProcess> server_;
  std::unique_ptr<FaultProxy> proxy_;
  SeededCentral central_;
  std::map<std::string, std::int64_t> central_entries_;
};

TEST_F(SyncFaultsTest, RandomFaultRoundsLoseNothingAndDuplicateNothing) {
  SCOPED_TRACE("seed " + std::to_string(seed_));
  const auto started = std::chrono::steady_clock::now();
  const int rounds = EnvInt("PULSE_FAULT_ROUNDS", 200);
  InProcessClinic a{"kisumu", central_.site_ids["Kisumu"], "achieng", root_ / "a"};
  InProcessClinic b{"nakuru", central_.site_ids["Nakuru"], "kiprop", root_ / "b"};
  std::vector<InProcessClinic*> clinics = {&a, &b};
  for (InProcessClinic* c : clinics) {
    ASSERT_TRUE(c->Create());
    ASSERT_NO_FATAL_FAILURE(CleanSync(*c, server_->url()));
    ASSERT_TRUE(c->SignIn());
  }
  // Pass twice as often as any one fault: most rounds fail somewhere.
  proxy_->SetWeights({3, 1, 1, 1, 1, 1, 1});
  std::map<std::string, int> outcomes;
  std::map<std::string, std::string> first_error;
  int edits = 0;
  for (int round = 0; round < rounds; ++round) {
    InProcessClinic& c = *clinics[rng_() % clinics.size()];
    const int n = static_cast<int>(rng_() % 5);
    for (int i = 0; i < n; ++i) {
      if (rng_() % 3 == 0) {
        ASSERT_NO_FATAL_FAILURE(c.AddPatient(rng_));
      } else {
        ASSERT_NO_FATAL_FAILURE(c.EditPatient(rng_));
      }
      ++edits;
    }
    const Status s = c.Sync(ProxyUrl(), 1 + rng_() % 20);
    const std::string outcome = s ? "ok" : std::string(ErrorCodeName(s.error().code()));
    if (++outcomes[outcome] == 1 && !s) first_error[outcome] = s.error().message();
  }
  // One message per kind of failure, to tell what the faults looked like
  // from the client (problem details and transport errors: no patient data).
  for (const auto& [what, message] : first_error) {
    std::printf("fault rounds: first %s: %s\n", what.c_str(), message.c_str());
  }
  PrintFaults("fault rounds");
  std::string summary;
  for (const auto& [what, n] : outcomes) summary += what + " " + std::to_string(n) + "  ";
  std::printf("fault rounds: %d rounds, %d edits; SyncOnce outcomes: %s\n", rounds, edits,
              summary.c_str());
  const FaultCounts counts = proxy_->Counts();
  std::uint64_t faults_fired = 0;
  for (std::size_t i = 1; i < kFaultKinds; ++i) faults_fired += counts.fired[i];
  EXPECT_GT(faults_fired, static_cast<std::uint64_t>(rounds / 4));
  EXPECT_GT(outcomes["ok"], 0);
  // Every fault here is the link's, so every failed round must say so: an
  // I/O error (which the client retries), never "malformed answer"
  // (corruption) or "bad request" (invalid argument) — a response cut in
  // its headers or a request cut mid-body used to read as those.
  for (const auto& [what, n] : outcomes) {
    EXPECT_TRUE(what == "ok" || what == ErrorCodeName(ErrorCode::kIoError))
        << n << " rounds ended in " << what << ": "
        << first_error[what];
  }

  proxy_->SetWeights({1, 0, 0, 0, 0, 0, 0});
  for (InProcessClinic* c : clinics) {
    ASSERT_NO_FATAL_FAILURE(CleanSync(*c, ProxyUrl()));
  }
  // "And back": a new PC of each site pulls everything the centre has of it.
  std::vector<std::unique_ptr<InProcessClinic>> fresh;
  for (InProcessClinic* c : clinics) {
    fresh.push_back(std::make_unique<InProcessClinic>(c->name + "-new-pc", c->site, c->user,
                                                      c->dir.string() + "-new"));
    ASSERT_TRUE(fresh.back()->Create());
    ASSERT_NO_FATAL_FAILURE(CleanSync(*fresh.back(), ProxyUrl()));
  }
  // Hashes before any read below: reads are audited, i.e. local writes.
  server_->Stop();
  for (std::size_t i = 0; i < clinics.size(); ++i) {
    InProcessClinic& c = *clinics[i];
    CheckCentralAgainst(c.replica->database(), c.site, c.name);
    EXPECT_EQ(engine::CanonicalStateHash(fresh[i]->replica->database()).value(),
              engine::CanonicalStateHash(c.replica->database()).value())
        << fresh[i]->name << " did not pull back all of " << c.name;
  }
  for (std::size_t i = 0; i < clinics.size(); ++i) {
    ASSERT_NO_FATAL_FAILURE(clinics[i]->CheckModel());
    fresh[i]->who = clinics[i]->who;
    fresh[i]->model = clinics[i]->model;
    ASSERT_NO_FATAL_FAILURE(fresh[i]->CheckModel());
  }
  std::printf("fault rounds: %.1f s\n",
              std::chrono::duration<double>(std::chrono::steady_clock::now() - started)
                  .count());
}

TEST_F(SyncFaultsTest, ServerKilledMidPushRestartsWithNothingLostOrDoubled) {
  SCOPED_TRACE("seed " + std::to_string(seed_));
  InProcessClinic a{"kisumu", central_.site_ids["Kisumu"], "achieng", root_ / "a"};
  ASSERT_NO_FATAL_FAILURE(FillClinic(a, 600));
  const std::int64_t outbox = Count(a.replica->database(),
                                    "SELECT count(*) FROM change_log WHERE pushed_at_ms IS NULL");
  std::printf("outbox: %lld changes\n", static_cast<long long>(outbox));
  int kills = 0;
  for (int attempt = 0; attempt < 2; ++attempt) {
    const std::uint64_t base = proxy_->Counts().bytes_to_target;
    std::atomic<bool> done{false};
    Status result = OkStatus();
    std::thread sync([&] {
      result = a.Sync(ProxyUrl(), 100);
      done = true;
    });
    // Somewhere in the first half of what is left to send (~500 bytes a
    // change on the wire).
    const std::uint64_t at = 20'000 + rng_() % 150'000;
    const bool reached = WaitForBytes(base, at, [&] { return done.load(); });
    if (reached) {
      server_->Kill();
      ++kills;
      std::printf("server SIGKILLed %llu bytes into the push\n",
                  static_cast<unsigned long long>(proxy_->Counts().bytes_to_target - base));
    }
    sync.join();
    if (reached) {
      EXPECT_FALSE(result.has_value()) << "the sync survived a killed server";
      ASSERT_TRUE(server_->Start());
      proxy_->SetTargetPort(static_cast<std::uint16_t>(server_->port()));
    }
  }
  EXPECT_GE(kills, 1) << "every push finished before the kill point";
  ASSERT_NO_FATAL_FAILURE(CleanSync(a, ProxyUrl()));
  server_->Stop();
  CheckCentralAgainst(a.replica->database(), a.site, a.name);
  // After the hash: reading is audited, i.e. a local write.
  ASSERT_NO_FATAL_FAILURE(a.CheckModel());
  std::printf("server SIGKILLed %d times mid-push, %d starts\n", kills, server_->starts());
}

TEST_F(SyncFaultsTest, ClinicKilledMidSyncResumesWithNothingLostOrDoubled) {
  SCOPED_TRACE("seed " + std::to_string(seed_));
  InProcessClinic a{"kisumu", central_.site_ids["Kisumu"], "achieng", root_ / "a"};
  ASSERT_NO_FATAL_FAILURE(FillClinic(a, 600));
  auto model = a.model;
  a.replica.reset();  // clinicctl takes the directory from here

  const std::uint64_t base = proxy_->Counts().bytes_to_target;
  Child sync = Spawn(tools_->clinicctl(),
                     {"sync", "--dir", a.dir.string(), "--server", ProxyUrl(), "--user",
                      a.user, "--batch-size", "100"},
                     root_ / "clinicctl.stderr",
                     {{"PULSE_PASSPHRASE", kClinicPassphrase},
                      {"PULSE_USER_PASSWORD", kUserPassword}});
  const std::uint64_t at = 20'000 + rng_() % 150'000;
  const bool reached = WaitForBytes(base, at, [&] { return sync.Exited(); });
  ASSERT_TRUE(reached) << "clinicctl sync finished before the kill point";
  const int status = sync.SignalAndWait(SIGKILL);
  ASSERT_TRUE(WIFSIGNALED(status)) << "clinicctl was not killed";
  std::printf("clinicctl sync SIGKILLed %llu bytes into the push\n",
              static_cast<unsigned long long>(proxy_->Counts().bytes_to_target - base));

  const json again = tools_->Sync(Clinic{"kisumu", a.dir.string(), a.site, a.user}, ProxyUrl());
  ASSERT_TRUE(again.is_object());
  EXPECT_EQ(again.at("pending"), 0);
  std::printf("after the kill: resent %d changes, %d new to the server\n",
              again.at("pushed").get<int>(), again.at("accepted").get<int>());

  server_->Stop();
  auto reopened = ClinicReplica::Open(a.dir, kClinicPassphrase, CheapReplicaOptions());
  ASSERT_TRUE(reopened.has_value()) << reopened.error().ToString();
  a.replica = std::move(*reopened);
  CheckCentralAgainst(a.replica->database(), a.site, a.name);
  ASSERT_TRUE(a.SignIn());
  a.model = model;
  ASSERT_NO_FATAL_FAILURE(a.CheckModel());
}

}  // namespace
}  // namespace pulse::testing::e2e
