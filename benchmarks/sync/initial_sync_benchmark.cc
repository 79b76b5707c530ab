// Initial-sync benchmark (issue 5, "Initial sync"): a central store holding
// N changes (default 1 000 000 new patients) of one site; a brand-new
// clinic replica of that site pulls and applies them all with the engine's
// SyncClient over CurlTransport against the real server (SyncService behind
// HttpServer on loopback). Bar: <= 30 s for 1 000 000.
//
// Besides the end-to-end time it prints where the time goes:
//   server store   time spent inside CentralStore::PullEncoded (a timing
//                  wrapper around the real store: the SQL; stored texts are
//                  sent as they are);
//   client merge   the same entries applied in-process to another fresh
//                  replica with Merger::ApplyBatch in pages of the same size
//                  (the floor of the client's apply, no HTTP, no JSON);
//   the rest       HTTP, JSON on both sides, the client's bookkeeping — the
//                  part the client's one-page look-ahead does not hide
//                  behind its merge (negative when it hides more).
//
//   initial_sync_benchmark [--changes N] [--page P] [--dir DIR]
#include <atomic>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "provision.h"
#include "pulse/engine/curl_transport.h"
#include "pulse/engine/key_file.h"
#include "pulse/engine/merge.h"
#include "pulse/engine/password.h"
#include "pulse/engine/replica.h"
#include "pulse/engine/sync_client.h"
#include "pulse/engine/sync_protocol.h"
#include "pulse/sync_server/http_server.h"
#include "pulse/sync_server/service.h"
#include "pulse/sync_server/sqlcipher_central_store.h"
#include "synthetic_changes.h"

namespace {

namespace fs = std::filesystem;
namespace ss = pulse::sync_server;
namespace engine = pulse::engine;
using Clock = std::chrono::steady_clock;
using engine::ChangeEntry;
using pulse::Result;
using pulse::Status;

constexpr std::string_view kPassphrase = "initial sync benchmark";
constexpr std::string_view kPassword = "Bench-Password-2026!";

[[noreturn]] void Die(const std::string& what) {
  std::cerr << "initial_sync_benchmark: " << what << "\n";
  std::exit(1);
}

double Seconds(Clock::duration d) {
  return std::chrono::duration<double>(d).count();
}

// Forwards to the real store, adding up the time spent in Pull and
// PullEncoded.
class TimedStore final : public ss::CentralStore {
 public:
  explicit TimedStore(ss::CentralStore& inner) : inner_(inner) {}
  Result<std::optional<ss::StoredUser>> FindUserByName(
      std::string_view username) override {
    return inner_.FindUserByName(username);
  }
  Result<std::optional<ss::StoredUser>> FindUserById(
      std::string_view user_id) override {
    return inner_.FindUserById(user_id);
  }
  Status CreateSession(const ss::Session& session) override {
    return inner_.CreateSession(session);
  }
  Result<std::optional<ss::Session>> FindSession(
      std::string_view token_hash) override {
    return inner_.FindSession(token_hash);
  }
  Status TouchSession(std::string_view token_hash,
                      std::int64_t now_ms) override {
    return inner_.TouchSession(token_hash, now_ms);
  }
  Status RevokeSession(std::string_view token_hash) override {
    return inner_.RevokeSession(token_hash);
  }
  Result<ss::IngestResult> IngestBatch(
      const ss::IngestRequest& request,
      const ss::EntryAuthorizer& authorize) override {
    return inner_.IngestBatch(request, authorize);
  }
  Result<ss::PullPage> Pull(std::string_view site, std::int64_t cursor,
                            int limit) override {
    const auto t0 = Clock::now();
    auto page = inner_.Pull(site, cursor, limit);
    pull_ns_ += std::chrono::duration_cast<std::chrono::nanoseconds>(
                    Clock::now() - t0)
                    .count();
    return page;
  }
  // What the pull handler calls: timed like Pull.
  Result<ss::EncodedPullPage> PullEncoded(std::string_view site,
                                          std::int64_t cursor,
                                          int limit) override {
    const auto t0 = Clock::now();
    auto page = inner_.PullEncoded(site, cursor, limit);
    pull_ns_ += std::chrono::duration_cast<std::chrono::nanoseconds>(
                    Clock::now() - t0)
                    .count();
    return page;
  }
  Status NoteSiteSync(std::string_view site, bool push,
                      std::int64_t now_ms) override {
    return inner_.NoteSiteSync(site, push, now_ms);
  }
  double pull_seconds() const { return static_cast<double>(pull_ns_) / 1e9; }

 private:
  ss::CentralStore& inner_;
  std::atomic<std::int64_t> pull_ns_{0};
};

engine::ReplicaOptions BenchReplicaOptions() {
  engine::ReplicaOptions ro;
  ro.kdf = engine::KdfLimits{1, engine::kMinKdfMemLimitBytes};
  ro.users.hash_cost = engine::kTestPasswordHashCost;
  return ro;
}

}  // namespace

int main(int argc, char** argv) {
  int changes = 1'000'000;
  int page = engine::sync::kMaxPullLimit;
  fs::path dir = fs::temp_directory_path() / "pulse_initial_sync_benchmark";
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--help") {
      std::cout << "usage: initial_sync_benchmark [--changes N] [--page P] "
                   "[--dir DIR]\n";
      return 0;
    }
    if (i + 1 >= argc) Die("missing value for " + std::string(arg));
    std::string_view value = argv[++i];
    if (arg == "--dir") {
      dir = std::string(value);
      continue;
    }
    int v = 0;
    auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), v);
    if (ec != std::errc() || end != value.data() + value.size() || v < 1) {
      Die("bad value for " + std::string(arg));
    }
    if (arg == "--changes") changes = v;
    else if (arg == "--page") page = std::min(v, engine::sync::kMaxPullLimit);
    else Die("unknown option " + std::string(arg));
  }
  fs::remove_all(dir);
  fs::create_directories(dir);

  // --- Fill the central store (IngestBatch in-process, 2 threads). -------
  ss::CentralStoreOptions so;
  so.kdf = engine::KdfLimits{1, engine::kMinKdfMemLimitBytes};
  so.password_cost = engine::kTestPasswordHashCost;
  auto store = ss::SqlcipherCentralStore::Create(dir / "central", kPassphrase, so);
  if (!store) Die(store.error().ToString());
  auto roster = pulse::sync_load::ProvisionClinics(**store, 1, kPassword, {});
  if (!roster) Die(roster.error().ToString());
  const auto& clinic = roster->front();
  {
    const auto t0 = Clock::now();
    constexpr int kBatch = 5000;
    std::atomic<int> next{0};
    std::vector<std::thread> fillers;
    for (int f = 0; f < 2; ++f) {
      fillers.emplace_back([&, f] {
        pulse::sync_load::SyntheticSite synth(clinic.site, clinic.user_id,
                                              900 + f);
        for (;;) {
          const int start = next.fetch_add(kBatch);
          if (start >= changes) return;
          auto batch = synth.NewPatients(std::min(kBatch, changes - start));
          ss::IngestRequest r;
          r.batch_id = engine::NewUuidV7().ToString();
          r.site = clinic.site;
          r.pushed_by = clinic.user_id;
          r.received_ms = 1;
          r.changes = batch;
          auto result = (*store)->IngestBatch(
              r, [](std::size_t, const ChangeEntry&, const ss::RowContext&) {
                return pulse::OkStatus();
              });
          if (!result) Die(result.error().ToString());
        }
      });
    }
    for (auto& t : fillers) t.join();
    std::printf("filled: %d changes in %.1f s (IngestBatch, 2 threads)\n",
                changes, Seconds(Clock::now() - t0));
  }

  // --- The server. ---------------------------------------------------------
  TimedStore timed(**store);
  ss::ServiceOptions svc;
  svc.store = &timed;
  svc.dummy_hash_cost = engine::kTestPasswordHashCost;
  svc.log_sink = [](std::string_view) {};
  auto service = ss::SyncService::Create(svc);
  if (!service) Die(service.error().ToString());
  ss::HttpServerOptions ho;
  ho.threads = 2;
  auto server = ss::HttpServer::Start(**service, ho);
  if (!server) Die(server.error().ToString());

  // --- A new clinic replica pulls everything. -----------------------------
  double sync_s = 0;
  std::int64_t pulled = 0, applied = 0, pages = 0;
  {
    auto replica = engine::ClinicReplica::Create(
        dir / "clinic",
        engine::ReplicaSetup{engine::Uuid::Parse(clinic.site).value(),
                             "clinic passphrase"},
        BenchReplicaOptions());
    if (!replica) Die(replica.error().ToString());
    engine::CurlTransportOptions co;
    co.base_url = "http://127.0.0.1:" + std::to_string((*server)->port());
    auto transport = engine::CurlTransport::Create(co);
    if (!transport) Die(transport.error().ToString());
    engine::SyncClientOptions opts;
    opts.username = clinic.username;
    opts.password = [] { return Result<std::string>(std::string(kPassword)); };
    opts.pull_limit = page;
    opts.max_steps = 1000;
    opts.interval = std::chrono::milliseconds(0);
    auto client = engine::SyncClient::Create(**replica, **transport, opts);
    if (!client) Die(client.error().ToString());
    const auto t0 = Clock::now();
    for (;;) {
      if (Status s = (*client)->SyncOnce(); !s) Die(s.error().ToString());
      const engine::SyncCounts counts = (*client)->GetState().last_counts;
      pulled += counts.pulled_changes;
      applied += counts.applied;
      pages += counts.pull_pages;
      if (counts.pulled_changes == 0 || applied >= changes) break;
    }
    sync_s = Seconds(Clock::now() - t0);
    if (applied < changes) {
      Die("applied only " + std::to_string(applied) + " of " +
          std::to_string(changes));
    }
  }
  (*server)->Stop();
  std::printf("initial sync: %lld changes pulled (%lld applied, %lld pages "
              "of <= %d) in %.2f s = %.0f changes/s  [bar: <= 30 s for 1M]\n",
              static_cast<long long>(pulled), static_cast<long long>(applied),
              static_cast<long long>(pages), page, sync_s,
              static_cast<double>(pulled) / sync_s);
  std::printf("  server store (CentralStore::PullEncoded): %.2f s\n",
              timed.pull_seconds());

  // --- The client's apply floor: the same pages merged in-process. --------
  {
    auto replica = engine::ClinicReplica::Create(
        dir / "floor",
        engine::ReplicaSetup{engine::Uuid::Parse(clinic.site).value(),
                             "clinic passphrase"},
        BenchReplicaOptions());
    if (!replica) Die(replica.error().ToString());
    double merge_s = 0, read_s = 0;
    std::int64_t cursor = 0;
    for (;;) {
      const auto r0 = Clock::now();
      auto p = (*store)->Pull(clinic.site, cursor, page);
      read_s += Seconds(Clock::now() - r0);
      if (!p) Die(p.error().ToString());
      const auto m0 = Clock::now();
      auto done = (*replica)->merger().ApplyBatch(p->changes);
      merge_s += Seconds(Clock::now() - m0);
      if (!done) Die(done.error().ToString());
      cursor = p->next_cursor;
      if (!p->more) break;
    }
    std::printf("  in-process floor: store Pull %.2f s + Merger::ApplyBatch "
                "%.2f s = %.2f s (no HTTP, no JSON)\n",
                read_s, merge_s, read_s + merge_s);
    // The client fetches page n+1 while it applies page n, so the server's
    // time and the transfer overlap the merge: a negative remainder means
    // that overlap, not a clock error.
    std::printf("  => sync - server store - merge floor = %.2f s (HTTP, JSON "
                "and client bookkeeping not hidden by the one-page "
                "look-ahead)\n",
                sync_s - timed.pull_seconds() - merge_s);
  }
  store->reset();
  fs::remove_all(dir);
  return 0;
}
