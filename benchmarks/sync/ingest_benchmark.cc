// Ingest benchmark (issue 5, "Ingest"): the same N change entries — new
// patient registrations of several sites — applied three ways in one run,
// each into a fresh store:
//
//   http      pushed through the real sync server: SyncService behind the
//             Boost.Beast HttpServer on loopback, into a SqlcipherCentralStore
//             (group commit), by several concurrent pushers in batches of
//             --batch (default 5 000, the protocol's maximum); the push
//             bodies are encoded before the clock starts (the clinics' work,
//             not the server's), everything else — HTTP, JSON decoding,
//             authentication, authorisation, merge, global_log, commit — is
//             timed;
//   store     the same batches through SqlcipherCentralStore::IngestBatch
//             in-process by the same number of threads (no HTTP, no JSON):
//             what the store alone costs;
//   merge     the same entries merged into a fresh clinic-schema replica with
//             the shared Merger (ApplyBatch, one transaction per batch): the
//             in-process merge rate the bar compares against.
//
// Prints changes/s for each and the ratio http / merge (bar: >= 50 000
// changes/s through HTTP and >= 50 % of the merge rate).
//
//   ingest_sync_benchmark [--changes N] [--sites S] [--batch B]
//                         [--pushers P] [--server-threads T] [--dir DIR]
//                         [--no-group-commit]   (every write commits alone)
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "provision.h"
#include "pulse/engine/key_file.h"
#include "pulse/engine/merge.h"
#include "pulse/engine/password.h"
#include "pulse/engine/replica.h"
#include "pulse/engine/sync_protocol.h"
#include "pulse/sync_server/http_server.h"
#include "pulse/sync_server/service.h"
#include "pulse/sync_server/sqlcipher_central_store.h"
#include "synthetic_changes.h"

namespace {

namespace fs = std::filesystem;
namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;
using pulse::engine::ChangeEntry;
namespace ss = pulse::sync_server;

constexpr std::string_view kPassphrase = "ingest benchmark store";
constexpr std::string_view kPassword = "Bench-Password-2026!";

[[noreturn]] void Die(const std::string& what) {
  std::cerr << "ingest_sync_benchmark: " << what << "\n";
  std::exit(1);
}

bool g_group_commit = true;

ss::CentralStoreOptions BenchStoreOptions() {
  ss::CentralStoreOptions o;
  o.group_commit = g_group_commit;
  o.kdf = pulse::engine::KdfLimits{1, pulse::engine::kMinKdfMemLimitBytes};
  o.password_cost = pulse::engine::kTestPasswordHashCost;
  return o;
}

struct Args {
  int changes = 200'000;
  int sites = 8;
  int batch = 5'000;
  int pushers = 4;
  int server_threads = 8;
  fs::path dir = fs::temp_directory_path() / "pulse_ingest_benchmark";
};

Args ParseArgs(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--help") {
      std::cout << "usage: ingest_sync_benchmark [--changes N] [--sites S] "
                   "[--batch B] [--pushers P] [--server-threads T] "
                   "[--dir DIR] [--no-group-commit]\n";
      std::exit(0);
    }
    if (arg == "--no-group-commit") {
      g_group_commit = false;
      continue;
    }
    if (i + 1 >= argc) Die("missing value for " + std::string(arg));
    std::string_view value = argv[++i];
    if (arg == "--dir") {
      a.dir = std::string(value);
      continue;
    }
    int v = 0;
    auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), v);
    if (ec != std::errc() || end != value.data() + value.size() || v < 1) {
      Die("bad value for " + std::string(arg));
    }
    if (arg == "--changes") a.changes = v;
    else if (arg == "--sites") a.sites = v;
    else if (arg == "--batch") a.batch = std::min(v, 5000);
    else if (arg == "--pushers") a.pushers = v;
    else if (arg == "--server-threads") a.server_threads = v;
    else Die("unknown option " + std::string(arg));
  }
  return a;
}

struct Batch {
  std::string batch_id;
  std::size_t site = 0;  // index into the roster
  std::vector<ChangeEntry> changes;
  std::string body;  // the push request, encoded
};

// One keep-alive HTTP/1.1 connection, synchronous.
class Connection {
 public:
  explicit Connection(std::uint16_t port) : stream_(io_) {
    stream_.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port));
  }
  http::response<http::string_body> Post(std::string_view target,
                                         std::string body,
                                         const std::string& token) {
    http::request<http::string_body> req{
        http::verb::post, beast::string_view(target.data(), target.size()), 11};
    req.set(http::field::host, "127.0.0.1");
    req.set(http::field::content_type, "application/json");
    if (!token.empty()) req.set(http::field::authorization, "Bearer " + token);
    req.body() = std::move(body);
    req.prepare_payload();
    http::write(stream_, req);
    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.body_limit(64u << 20);
    http::read(stream_, buffer, parser);
    return parser.release();
  }

 private:
  net::io_context io_;
  beast::tcp_stream stream_;
};

double Rate(std::size_t changes, Clock::duration d) {
  return static_cast<double>(changes) / std::chrono::duration<double>(d).count();
}

// CPU seconds (user + system) of the whole process, every thread: on a
// shared 2-core box the wall clock also counts other people's work, so each
// phase reports both.
double CpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  const auto secs = [](const timeval& t) {
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6;
  };
  return secs(u.ru_utime) + secs(u.ru_stime);
}

}  // namespace

int main(int argc, char** argv) {
  const Args args = ParseArgs(argc, argv);
  fs::remove_all(args.dir);
  fs::create_directories(args.dir);

  // --- Store A (http): sites and users, then the server. -----------------
  auto store_a = ss::SqlcipherCentralStore::Create(args.dir / "http", kPassphrase,
                                                   BenchStoreOptions());
  if (!store_a) Die(store_a.error().ToString());
  auto roster = pulse::sync_load::ProvisionClinics(**store_a, args.sites,
                                                   kPassword, {});
  if (!roster) Die(roster.error().ToString());

  // The same entries for every run: per site, new patients by its user.
  std::vector<Batch> batches;
  {
    const int per_site = args.changes / args.sites;
    for (std::size_t s = 0; s < roster->size(); ++s) {
      pulse::sync_load::SyntheticSite synth((*roster)[s].site,
                                            (*roster)[s].user_id, 77 + s);
      for (int done = 0; done < per_site; done += args.batch) {
        Batch b;
        b.site = s;
        auto changes = synth.NewPatients(std::min(args.batch, per_site - done));
        b.changes = changes;
        auto body = synth.PushBody(std::move(changes));
        if (!body) Die(body.error().ToString());
        b.body = std::move(*body);
        auto decoded = pulse::engine::sync::DecodePushRequest(b.body);
        if (!decoded) Die(decoded.error().ToString());
        b.batch_id = decoded->batch_id;
        batches.push_back(std::move(b));
      }
    }
  }
  std::size_t total = 0;
  for (const Batch& b : batches) total += b.changes.size();
  std::printf("%zu changes (new patients of %d sites), %zu batches of <= %d; "
              "%d pushers, %d server threads, group commit %s\n",
              total, args.sites, batches.size(), args.batch, args.pushers,
              args.server_threads, g_group_commit ? "on" : "off");

  double http_rate = 0;
  {
    ss::ServiceOptions so;
    so.store = store_a->get();
    so.dummy_hash_cost = pulse::engine::kTestPasswordHashCost;
    so.log_sink = [](std::string_view) {};  // request logs off: bench only
    auto service = ss::SyncService::Create(so);
    if (!service) Die(service.error().ToString());
    ss::HttpServerOptions ho;
    ho.threads = args.server_threads;
    auto server = ss::HttpServer::Start(**service, ho);
    if (!server) Die(server.error().ToString());
    const std::uint16_t port = (*server)->port();

    std::vector<std::string> tokens;
    {
      Connection c(port);
      for (const auto& r : *roster) {
        auto res = c.Post("/api/v1/auth/login",
                          pulse::engine::sync::EncodeLoginRequest(
                              {r.username, std::string(kPassword)}),
                          "");
        if (res.result_int() != 200) Die("login: " + res.body());
        auto login = pulse::engine::sync::DecodeLoginResponse(res.body());
        if (!login) Die(login.error().ToString());
        tokens.push_back(login->token);
      }
    }
    std::atomic<std::size_t> next{0};
    std::atomic<std::int64_t> accepted{0};
    std::mutex error_mu;
    std::string first_error;
    const double cpu0 = CpuSeconds();
    const auto t0 = Clock::now();
    std::vector<std::thread> pushers;
    for (int p = 0; p < args.pushers; ++p) {
      pushers.emplace_back([&] {
        try {
          Connection c(port);
          for (;;) {
            const std::size_t i = next.fetch_add(1);
            if (i >= batches.size()) return;
            auto res = c.Post("/api/v1/sync/push", batches[i].body,
                              tokens[batches[i].site]);
            auto push = pulse::engine::sync::DecodePushResponse(res.body());
            if (res.result_int() != 200 || !push) {
              std::lock_guard lock(error_mu);
              first_error = "push " + std::to_string(res.result_int()) + ": " +
                            res.body();
              return;
            }
            accepted += push->accepted;
          }
        } catch (const std::exception& e) {
          std::lock_guard lock(error_mu);
          first_error = e.what();
        }
      });
    }
    for (auto& t : pushers) t.join();
    const auto elapsed = Clock::now() - t0;
    if (!first_error.empty()) Die(first_error);
    if (accepted.load() != static_cast<std::int64_t>(total)) {
      Die("http: accepted " + std::to_string(accepted.load()) + " of " +
          std::to_string(total));
    }
    http_rate = Rate(total, elapsed);
    const double cpu = CpuSeconds() - cpu0;
    std::printf("http   %8.2f s  %9.0f changes/s   CPU %6.2f s (server + "
                "pushers) = %7.0f changes/CPU-s\n",
                std::chrono::duration<double>(elapsed).count(), http_rate, cpu,
                static_cast<double>(total) / cpu);
    (*server)->Stop();
  }
  store_a->reset();

  // --- Store B (store): IngestBatch in-process, same threads. -------------
  double store_rate = 0;
  {
    auto store_b = ss::SqlcipherCentralStore::Create(
        args.dir / "store", kPassphrase, BenchStoreOptions());
    if (!store_b) Die(store_b.error().ToString());
    // The entries name store A's sites and users; the authorizer here
    // allows them (the handler's checks are what the http run adds).
    std::atomic<std::size_t> next{0};
    std::atomic<std::int64_t> accepted{0};
    std::string first_error;
    std::mutex error_mu;
    const double cpu0 = CpuSeconds();
    const auto t0 = Clock::now();
    std::vector<std::thread> threads;
    for (int p = 0; p < args.pushers; ++p) {
      threads.emplace_back([&] {
        for (;;) {
          const std::size_t i = next.fetch_add(1);
          if (i >= batches.size()) return;
          ss::IngestRequest r;
          r.batch_id = batches[i].batch_id;
          r.site = (*roster)[batches[i].site].site;
          r.pushed_by = (*roster)[batches[i].site].user_id;
          r.received_ms = 1;
          r.changes = batches[i].changes;
          auto result = (*store_b)->IngestBatch(
              r, [](std::size_t, const ChangeEntry&, const ss::RowContext&) {
                return pulse::OkStatus();
              });
          if (!result) {
            std::lock_guard lock(error_mu);
            first_error = result.error().ToString();
            return;
          }
          accepted += result->accepted;
        }
      });
    }
    for (auto& t : threads) t.join();
    const auto elapsed = Clock::now() - t0;
    if (!first_error.empty()) Die(first_error);
    store_rate = Rate(total, elapsed);
    const double cpu = CpuSeconds() - cpu0;
    std::printf("store  %8.2f s  %9.0f changes/s   CPU %6.2f s = %7.0f "
                "changes/CPU-s  (IngestBatch, no HTTP)\n",
                std::chrono::duration<double>(elapsed).count(), store_rate, cpu,
                static_cast<double>(total) / cpu);
  }

  // --- Replica C (merge): the shared Merger, one thread. ------------------
  double merge_rate = 0;
  {
    pulse::engine::ReplicaOptions ro;
    ro.kdf = pulse::engine::KdfLimits{1, pulse::engine::kMinKdfMemLimitBytes};
    ro.users.hash_cost = pulse::engine::kTestPasswordHashCost;
    auto replica = pulse::engine::ClinicReplica::Create(
        args.dir / "merge",
        pulse::engine::ReplicaSetup{pulse::engine::NewUuidV7(), kPassphrase},
        ro);
    if (!replica) Die(replica.error().ToString());
    const double cpu0 = CpuSeconds();
    const auto t0 = Clock::now();
    std::size_t fresh = 0;
    for (const Batch& b : batches) {
      auto applied = (*replica)->merger().ApplyBatch(b.changes);
      if (!applied) Die(applied.error().ToString());
      fresh += *applied;
    }
    const auto elapsed = Clock::now() - t0;
    if (fresh != total) Die("merge: applied " + std::to_string(fresh));
    merge_rate = Rate(total, elapsed);
    const double cpu = CpuSeconds() - cpu0;
    std::printf("merge  %8.2f s  %9.0f changes/s   CPU %6.2f s = %7.0f "
                "changes/CPU-s  (Merger::ApplyBatch, in-process)\n",
                std::chrono::duration<double>(elapsed).count(), merge_rate, cpu,
                static_cast<double>(total) / cpu);
  }
  std::printf("http / merge = %.0f %%   http / store = %.0f %%\n",
              100.0 * http_rate / merge_rate, 100.0 * http_rate / store_rate);
  fs::remove_all(args.dir);
  return 0;
}
