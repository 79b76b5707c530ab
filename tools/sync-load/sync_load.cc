// sync-load: a load generator for the sync server (issue 5, "Scale").
//
//   sync-load --setup --store DIR --clinics N --roster FILE
//       makes a fresh central store at DIR with N sites and one technician
//       per site (cheap KDF and password hash: a bench store), and writes
//       the roster (username, user id, site per line).
//   sync-load --server http://127.0.0.1:PORT --roster FILE --clinics N
//             --duration 120s --push-interval 5s --pull-interval 30s
//             --changes-per-push 20 [--server-pid PID]
//       simulates N clinics against a running server: each logs in, then
//       pushes a batch of new patient registrations every push interval and
//       pulls (until `more` is false) every pull interval, first times
//       staggered at random over one interval. Prints push and pull latency
//       percentiles, errors by status, throughput and the server's peak RSS.
//
// Secrets from the environment only: $PULSE_STORE_PASSPHRASE (setup) and
// $PULSE_LOAD_PASSWORD (the clinics' password, setup and run).
//
// Design: one Boost.Beast async client per clinic (its own keep-alive
// connection, one request at a time, as a clinic's sync client does), all
// on one io_context run by --threads threads (default 1): no thread per
// clinic, so 5 000 clinics cost the generator a few percent of a core.
// Latency is measured from the moment a request was DUE (its schedule
// tick), not from when it was sent, so a clinic whose previous request is
// still running is charged the wait (no coordinated omission).
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <deque>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "provision.h"
#include "pulse/engine/key_file.h"
#include "pulse/engine/password.h"
#include "pulse/engine/sync_protocol.h"
#include "pulse/sync_server/sqlcipher_central_store.h"
#include "synthetic_changes.h"

namespace pulse::sync_load {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr int kExitOk = 0;
constexpr int kExitRuntime = 1;
constexpr int kExitUsage = 2;
constexpr auto kRequestTimeout = std::chrono::seconds(60);

void PrintHelp() {
  std::cout <<
      R"(usage: sync-load --setup --store DIR --clinics N --roster FILE
       sync-load --server URL --roster FILE [options]

Load generator for pulse-sync-server: N simulated clinics push batches of new
patient registrations and pull on fixed intervals.

setup (provision a fresh bench store; $PULSE_STORE_PASSPHRASE and
$PULSE_LOAD_PASSWORD must be set):
  --setup              make the store and the roster, then exit
  --store DIR          the new central store directory (must not exist)
  --clinics N          sites (one technician each) to add
  --roster FILE        where to write "username user_id site" lines

run ($PULSE_LOAD_PASSWORD must be set):
  --server URL         http://HOST:PORT of a running server (loopback)
  --roster FILE        the roster written by --setup
  --clinics N          how many roster clinics to simulate (default: all)
  --duration D         measured time, e.g. 120s, 2m (default 120s)
  --push-interval D    per clinic (default 5s)
  --pull-interval D    per clinic (default 30s)
  --changes-per-push N changes in each push (default 20, 1..5000)
  --server-pid PID     report the server's peak RSS (/proc/PID/status)
  --threads N          client I/O threads (default 1)
  --login-concurrency N  logins in flight during warm-up (default 100)
  --help               this text

Durations: 500ms, 5s, 2m, or a bare number of seconds.
Exit codes: 0 ok (even with request errors: they are reported), 1 runtime
error, 2 usage error.
)";
}

int Usage(const std::string& message) {
  std::cerr << "sync-load: " << message << "\n(see 'sync-load --help')\n";
  return kExitUsage;
}

int Runtime(const std::string& message) {
  std::cerr << "sync-load: " << message << "\n";
  return kExitRuntime;
}

std::optional<std::string> Env(const char* name) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return std::nullopt;
  return std::string(v);
}

std::optional<std::int64_t> ParseCount(std::string_view text, std::int64_t lo,
                                       std::int64_t hi) {
  std::int64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() ||
      v < lo || v > hi) {
    return std::nullopt;
  }
  return v;
}

// VmHWM / VmRSS of a process in KiB, or -1.
std::int64_t ProcStatusKiB(int pid, std::string_view key) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.starts_with(key) && line.size() > key.size() &&
        line[key.size()] == ':') {
      return std::strtoll(line.c_str() + key.size() + 1, nullptr, 10);
    }
  }
  return -1;
}

// ---------------------------------------------------------------------------
// Shared results (guarded by a mutex: the io threads record into them).

struct Results {
  std::mutex mu;
  std::vector<double> push_ms;
  std::vector<double> pull_ms;  // per pull request (each page)
  std::map<std::string, std::int64_t> errors;  // "push 503", "pull transport"
  std::int64_t pushes_ok = 0;
  std::int64_t changes_accepted = 0;
  std::int64_t pulls_ok = 0;
  std::int64_t pulled_changes = 0;
  std::int64_t logins_ok = 0;

  void Error(std::string key) {
    std::lock_guard lock(mu);
    ++errors[std::move(key)];
  }
};

struct Target {
  tcp::endpoint endpoint;
  std::string host;  // Host header
};

// Warm-up gate: limits the logins in flight and counts those finished.
struct LoginGate {
  std::mutex mu;
  int in_flight = 0;
  int finished = 0;
  int failed = 0;
};

class SimClinic : public std::enable_shared_from_this<SimClinic> {
 public:
  enum class Kind { kLogin, kPush, kPull };

  SimClinic(net::io_context& io, const Target& target, RosterEntry who,
            std::string password, std::uint64_t seed, Results& results)
      : target_(target),
        stream_(net::make_strand(io)),
        push_timer_(stream_.get_executor()),
        pull_timer_(stream_.get_executor()),
        synth_(who.site, who.user_id, seed),
        who_(std::move(who)),
        password_(std::move(password)),
        results_(results) {}

  // Warm-up: logs in; `done(ok)` afterwards, on this clinic's strand.
  void Login(std::function<void(bool)> done) {
    login_done_ = std::move(done);
    net::post(stream_.get_executor(), [self = shared_from_this()] {
      self->Enqueue(Kind::kLogin, Clock::now());
    });
  }

  // Starts the schedule: first push at `first_push`, first pull at
  // `first_pull`, none due at or after `end`.
  void Run(Clock::time_point first_push, Clock::time_point first_pull,
           Clock::time_point end, milliseconds push_every,
           milliseconds pull_every, int changes_per_push) {
    net::post(stream_.get_executor(), [=, this, self = shared_from_this()] {
      end_ = end;
      push_every_ = push_every;
      pull_every_ = pull_every;
      changes_per_push_ = changes_per_push;
      measuring_ = true;
      Arm(push_timer_, first_push, Kind::kPush);
      Arm(pull_timer_, first_pull, Kind::kPull);
    });
  }

  // Stops the timers (requests in flight finish).
  void Stop() {
    net::post(stream_.get_executor(), [self = shared_from_this()] {
      self->stopped_ = true;
      self->push_timer_.cancel();
      self->pull_timer_.cancel();
    });
  }

  bool idle() const { return idle_.load(); }

 private:
  struct Job {
    Kind kind;
    Clock::time_point due;
  };

  void Arm(net::steady_timer& timer, Clock::time_point at, Kind kind) {
    if (stopped_ || at >= end_) return;
    timer.expires_at(at);
    timer.async_wait([this, self = shared_from_this(), &timer, at,
                      kind](beast::error_code ec) {
      if (ec || stopped_) return;
      Enqueue(kind, at);
      Arm(timer, at + (kind == Kind::kPush ? push_every_ : pull_every_),
          kind);
    });
  }

  void Enqueue(Kind kind, Clock::time_point due) {
    queue_.push_back({kind, due});
    if (!busy_) Next();
  }

  void Next() {
    if (queue_.empty()) {
      busy_ = false;
      idle_ = true;
      return;
    }
    busy_ = true;
    idle_ = false;
    current_ = queue_.front();
    queue_.pop_front();
    page_due_ = current_.due;
    if (!connected_) {
      Connect();
    } else {
      Send();
    }
  }

  void Connect() {
    stream_.expires_after(kRequestTimeout);
    stream_.async_connect(
        target_.endpoint,
        [self = shared_from_this()](beast::error_code ec) {
          if (ec) return self->Failed("transport", ec);
          self->connected_ = true;
          self->Send();
        });
  }

  void Send() {
    req_ = {};
    req_.version(11);
    req_.set(http::field::host, target_.host);
    req_.keep_alive(true);
    switch (current_.kind) {
      case Kind::kLogin: {
        req_.method(http::verb::post);
        req_.target("/api/v1/auth/login");
        req_.set(http::field::content_type, "application/json");
        req_.body() = engine::sync::EncodeLoginRequest(
            {who_.username, password_});
        break;
      }
      case Kind::kPush: {
        auto body = synth_.PushBody(synth_.NewPatients(changes_per_push_));
        if (!body) {
          results_.Error("push encode");
          return Done();
        }
        req_.method(http::verb::post);
        req_.target("/api/v1/sync/push");
        req_.set(http::field::content_type, "application/json");
        req_.set(http::field::authorization, "Bearer " + token_);
        req_.body() = std::move(*body);
        break;
      }
      case Kind::kPull: {
        req_.method(http::verb::get);
        req_.target("/api/v1/sync/pull?cursor=" + std::to_string(cursor_) +
                    "&limit=1000");
        req_.set(http::field::authorization, "Bearer " + token_);
        break;
      }
    }
    req_.prepare_payload();
    stream_.expires_after(kRequestTimeout);
    http::async_write(
        stream_, req_,
        [self = shared_from_this()](beast::error_code ec, std::size_t) {
          if (ec) return self->Failed("transport", ec);
          self->res_ = {};
          self->buffer_.clear();
          http::async_read(
              self->stream_, self->buffer_, self->res_,
              [self](beast::error_code ec2, std::size_t) {
                if (ec2) return self->Failed("transport", ec2);
                self->Answered();
              });
        });
  }

  std::string_view KindName() const {
    switch (current_.kind) {
      case Kind::kLogin:
        return "login";
      case Kind::kPush:
        return "push";
      case Kind::kPull:
        return "pull";
    }
    return "?";
  }

  void Failed(std::string_view what, beast::error_code ec) {
    results_.Error(std::string(KindName()) + " " + std::string(what) + " (" +
                   ec.message() + ")");
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.close();
    connected_ = false;
    if (current_.kind == Kind::kLogin) return LoginFinished(false);
    Done();
  }

  void Answered() {
    const double ms =
        std::chrono::duration<double, std::milli>(Clock::now() - page_due_)
            .count();
    const int status = res_.result_int();
    if (!res_.keep_alive()) {
      beast::error_code ignored;
      stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
      stream_.close();
      connected_ = false;
    }
    if (status != 200) {
      results_.Error(std::string(KindName()) + " " + std::to_string(status));
      if (current_.kind == Kind::kLogin) return LoginFinished(false);
      return Done();
    }
    switch (current_.kind) {
      case Kind::kLogin: {
        auto login = engine::sync::DecodeLoginResponse(res_.body());
        if (!login) {
          results_.Error("login undecodable");
          return LoginFinished(false);
        }
        token_ = login->token;
        return LoginFinished(true);
      }
      case Kind::kPush: {
        auto push = engine::sync::DecodePushResponse(res_.body());
        std::lock_guard lock(results_.mu);
        if (!push) {
          ++results_.errors["push undecodable"];
        } else if (measuring_) {
          results_.push_ms.push_back(ms);
          ++results_.pushes_ok;
          results_.changes_accepted += push->accepted;
        }
        break;
      }
      case Kind::kPull: {
        auto pull = engine::sync::DecodePullResponse(res_.body());
        if (!pull) {
          results_.Error("pull undecodable");
          return Done();
        }
        {
          std::lock_guard lock(results_.mu);
          results_.pull_ms.push_back(ms);
          ++results_.pulls_ok;
          results_.pulled_changes +=
              static_cast<std::int64_t>(pull->changes.size());
        }
        cursor_ = pull->next_cursor;
        if (pull->more) {
          // The next page is due now: a clinic pulls until `more` is false.
          page_due_ = Clock::now();
          return connected_ ? Send() : Connect();
        }
        break;
      }
    }
    Done();
  }

  void LoginFinished(bool ok) {
    auto done = std::move(login_done_);
    Done();
    if (done) done(ok);
  }

  void Done() { Next(); }

  const Target& target_;
  beast::tcp_stream stream_;
  net::steady_timer push_timer_;
  net::steady_timer pull_timer_;
  SyntheticSite synth_;
  RosterEntry who_;
  std::string password_;
  Results& results_;

  beast::flat_buffer buffer_;
  http::request<http::string_body> req_;
  http::response<http::string_body> res_;
  std::function<void(bool)> login_done_;
  std::deque<Job> queue_;
  Job current_{Kind::kLogin, {}};
  Clock::time_point page_due_;
  bool busy_ = false;
  std::atomic<bool> idle_{true};
  bool connected_ = false;
  bool stopped_ = false;
  bool measuring_ = false;
  std::string token_;
  std::int64_t cursor_ = 0;
  Clock::time_point end_;
  milliseconds push_every_{5000};
  milliseconds pull_every_{30000};
  int changes_per_push_ = 20;
};

double Percentile(std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  const std::size_t k = std::min(
      v.size() - 1, static_cast<std::size_t>(p / 100.0 * static_cast<double>(v.size())));
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k),
                   v.end());
  return v[k];
}

void PrintLatency(std::string_view name, std::vector<double> v) {
  if (v.empty()) {
    std::cout << name << " latency: no samples\n";
    return;
  }
  const double p50 = Percentile(v, 50), p90 = Percentile(v, 90),
               p99 = Percentile(v, 99);
  const double max = *std::max_element(v.begin(), v.end());
  std::printf("%.*s latency ms: p50 %.1f  p90 %.1f  p99 %.1f  max %.1f  (n=%zu)\n",
              static_cast<int>(name.size()), name.data(), p50, p90, p99, max,
              v.size());
}

// ---------------------------------------------------------------------------

int Setup(const std::map<std::string, std::string>& opts) {
  auto store_dir = opts.find("store");
  auto roster_file = opts.find("roster");
  auto clinics_text = opts.find("clinics");
  if (store_dir == opts.end() || roster_file == opts.end() ||
      clinics_text == opts.end()) {
    return Usage("--setup needs --store, --clinics and --roster");
  }
  auto clinics = ParseCount(clinics_text->second, 1, 100'000);
  if (!clinics) return Usage("--clinics: an integer in 1..100000");
  auto passphrase = Env("PULSE_STORE_PASSPHRASE");
  auto password = Env("PULSE_LOAD_PASSWORD");
  if (!passphrase || !password) {
    return Usage("set PULSE_STORE_PASSPHRASE and PULSE_LOAD_PASSWORD");
  }
  if (Status s = engine::CheckPasswordPolicy("load-00001", *password); !s) {
    return Usage("PULSE_LOAD_PASSWORD: " + s.error().message());
  }
  sync_server::CentralStoreOptions options;
  // A bench store: the cheapest KDF and password hash the engine allows, so
  // that opening it and 5 000 logins cost nothing measurable.
  options.kdf = engine::KdfLimits{1, engine::kMinKdfMemLimitBytes};
  options.password_cost = engine::kTestPasswordHashCost;
  auto store = sync_server::SqlcipherCentralStore::Create(
      store_dir->second, *passphrase, options);
  if (!store) return Runtime("creating the store: " + store.error().ToString());
  const auto t0 = Clock::now();
  auto roster = ProvisionClinics(**store, static_cast<int>(*clinics), *password,
                                 [](int done) {
                                   std::cerr << "  provisioned " << done
                                             << " clinics\n";
                                 });
  if (!roster) return Runtime(roster.error().ToString());
  if (Status s = WriteRoster(roster_file->second, *roster); !s) {
    return Runtime(s.error().ToString());
  }
  std::cout << "provisioned " << roster->size() << " clinics in "
            << std::chrono::duration<double>(Clock::now() - t0).count()
            << " s; roster " << roster_file->second << "\n";
  return kExitOk;
}

int RunLoad(const std::map<std::string, std::string>& opts) {
  auto get = [&](const char* k) -> std::optional<std::string> {
    auto it = opts.find(k);
    if (it == opts.end()) return std::nullopt;
    return it->second;
  };
  auto server = get("server");
  auto roster_file = get("roster");
  if (!server || !roster_file) return Usage("--server and --roster are required");
  auto password = Env("PULSE_LOAD_PASSWORD");
  if (!password) return Usage("set PULSE_LOAD_PASSWORD");
  // http://HOST:PORT
  std::string_view url = *server;
  if (!url.starts_with("http://")) {
    return Usage("--server: expected http://HOST:PORT (loopback)");
  }
  url.remove_prefix(7);
  while (url.ends_with("/")) url.remove_suffix(1);
  const std::size_t colon = url.rfind(':');
  if (colon == std::string_view::npos) return Usage("--server: no port");
  auto port = ParseCount(url.substr(colon + 1), 1, 65535);
  if (!port) return Usage("--server: bad port");
  const std::string host(url.substr(0, colon));

  auto duration = ParseDuration(get("duration").value_or("120s"));
  auto push_every = ParseDuration(get("push-interval").value_or("5s"));
  auto pull_every = ParseDuration(get("pull-interval").value_or("30s"));
  auto per_push = ParseCount(get("changes-per-push").value_or("20"), 1,
                             static_cast<std::int64_t>(
                                 engine::sync::kMaxPushChanges));
  auto threads = ParseCount(get("threads").value_or("1"), 1, 64);
  auto login_concurrency =
      ParseCount(get("login-concurrency").value_or("100"), 1, 10'000);
  std::optional<std::int64_t> server_pid;
  if (auto pid = get("server-pid")) {
    server_pid = ParseCount(*pid, 1, std::numeric_limits<int>::max());
    if (!server_pid) return Usage("--server-pid: a process id");
  }
  if (!duration || !push_every || !pull_every || duration->count() == 0 ||
      push_every->count() == 0 || pull_every->count() == 0) {
    return Usage("--duration, --push-interval, --pull-interval: positive "
                 "durations such as 5s");
  }
  if (!per_push) return Usage("--changes-per-push: an integer in 1..5000");
  if (!threads || !login_concurrency) {
    return Usage("--threads 1..64, --login-concurrency 1..10000");
  }
  auto roster = ReadRoster(*roster_file);
  if (!roster) return Runtime(roster.error().ToString());
  std::int64_t clinics = static_cast<std::int64_t>(roster->size());
  if (auto n = get("clinics")) {
    auto parsed = ParseCount(*n, 1, clinics);
    if (!parsed) {
      return Usage("--clinics: 1.." + std::to_string(clinics) +
                   " (the roster's size)");
    }
    clinics = *parsed;
  }

  // One socket per clinic, plus the server's: raise the soft fd limit.
  rlimit fds{};
  if (getrlimit(RLIMIT_NOFILE, &fds) == 0 && fds.rlim_cur < fds.rlim_max) {
    fds.rlim_cur = fds.rlim_max;
    setrlimit(RLIMIT_NOFILE, &fds);
  }

  net::io_context io;
  beast::error_code ec;
  auto address = net::ip::make_address(host, ec);
  if (ec) return Usage("--server: HOST must be an IP address (" + host + ")");
  Target target{tcp::endpoint(address, static_cast<unsigned short>(*port)),
                host + ":" + std::to_string(*port)};
  Results results;
  std::vector<std::shared_ptr<SimClinic>> sims;
  sims.reserve(static_cast<std::size_t>(clinics));
  for (std::int64_t i = 0; i < clinics; ++i) {
    sims.push_back(std::make_shared<SimClinic>(
        io, target, (*roster)[static_cast<std::size_t>(i)], *password,
        0x5eed0000u + static_cast<std::uint64_t>(i), results));
  }
  auto work = net::make_work_guard(io);
  std::vector<std::thread> pool;
  for (std::int64_t t = 0; t < *threads; ++t) {
    pool.emplace_back([&io] { io.run(); });
  }
  const auto finish = [&](int code) {
    work.reset();
    io.stop();
    for (auto& t : pool) t.join();
    return code;
  };

  // Warm-up (not measured): every clinic logs in, login_concurrency at a
  // time.
  std::cerr << "logging in " << clinics << " clinics...\n";
  const auto login_start = Clock::now();
  LoginGate gate;
  std::condition_variable gate_cv;
  for (auto& sim : sims) {
    std::unique_lock lock(gate.mu);
    gate_cv.wait(lock, [&] { return gate.in_flight < *login_concurrency; });
    ++gate.in_flight;
    lock.unlock();
    sim->Login([&](bool ok) {
      std::lock_guard l(gate.mu);
      --gate.in_flight;
      ++gate.finished;
      if (!ok) ++gate.failed;
      gate_cv.notify_all();
    });
  }
  {
    std::unique_lock lock(gate.mu);
    gate_cv.wait(lock, [&] { return gate.finished == clinics; });
    if (gate.failed > 0) {
      std::cerr << "sync-load: " << gate.failed << " logins failed:\n";
      std::lock_guard l(results.mu);
      for (const auto& [k, n] : results.errors) {
        std::cerr << "  " << k << ": " << n << "\n";
      }
      return finish(Runtime("warm-up failed"));
    }
  }
  std::cerr << "logged in " << clinics << " clinics in "
            << std::chrono::duration<double>(Clock::now() - login_start).count()
            << " s; running for "
            << static_cast<double>(duration->count()) / 1000.0 << " s\n";

  // Measured phase: staggered first ticks, uniformly over one interval.
  const auto start = Clock::now() + milliseconds(100);
  const auto end = start + *duration;
  std::mt19937_64 rng(42);
  std::uniform_int_distribution<std::int64_t> push_offset(
      0, push_every->count() - 1);
  std::uniform_int_distribution<std::int64_t> pull_offset(
      0, pull_every->count() - 1);
  for (auto& sim : sims) {
    sim->Run(start + milliseconds(push_offset(rng)),
             start + milliseconds(pull_offset(rng)), end, *push_every,
             *pull_every, static_cast<int>(*per_push));
  }
  std::int64_t peak_rss_kib = -1;
  while (Clock::now() < end) {
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    if (server_pid) {
      peak_rss_kib = std::max(peak_rss_kib,
                              ProcStatusKiB(static_cast<int>(*server_pid),
                                            "VmRSS"));
    }
  }
  for (auto& sim : sims) sim->Stop();
  // Requests due before `end` finish (bounded by the request timeout).
  const auto drain_deadline = Clock::now() + kRequestTimeout;
  while (Clock::now() < drain_deadline &&
         !std::all_of(sims.begin(), sims.end(),
                      [](const auto& s) { return s->idle(); })) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  const double elapsed_s =
      std::chrono::duration<double>(Clock::now() - start).count();
  finish(kExitOk);

  std::lock_guard lock(results.mu);
  std::int64_t error_count = 0;
  for (const auto& [k, n] : results.errors) error_count += n;
  std::printf("clinics %lld, duration %.0f s (measured %.1f s incl. drain), "
              "push every %lld ms x %lld changes, pull every %lld ms\n",
              static_cast<long long>(clinics),
              static_cast<double>(duration->count()) / 1000.0,
              elapsed_s, static_cast<long long>(push_every->count()),
              static_cast<long long>(*per_push),
              static_cast<long long>(pull_every->count()));
  PrintLatency("push", results.push_ms);
  PrintLatency("pull", results.pull_ms);
  const double secs = static_cast<double>(duration->count()) / 1000.0;
  std::printf("throughput: %.1f pushes/s, %.0f changes/s accepted, %.1f pull "
              "requests/s (%lld changes pulled)\n",
              static_cast<double>(results.pushes_ok) / secs,
              static_cast<double>(results.changes_accepted) / secs,
              static_cast<double>(results.pulls_ok) / secs,
              static_cast<long long>(results.pulled_changes));
  std::printf("errors: %lld\n", static_cast<long long>(error_count));
  for (const auto& [k, n] : results.errors) {
    std::printf("  %s: %lld\n", k.c_str(), static_cast<long long>(n));
  }
  if (server_pid) {
    const std::int64_t hwm =
        ProcStatusKiB(static_cast<int>(*server_pid), "VmHWM");
    std::printf("server RSS: peak sampled %.1f MiB, VmHWM %.1f MiB\n",
                static_cast<double>(peak_rss_kib) / 1024.0,
                static_cast<double>(hwm) / 1024.0);
  }
  std::printf("load generator: VmHWM %.1f MiB\n",
              static_cast<double>(ProcStatusKiB(getpid(), "VmHWM")) / 1024.0);
  return kExitOk;
}

int Main(int argc, char** argv) {
  std::map<std::string, std::string> opts;
  bool setup = false;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      PrintHelp();
      return kExitOk;
    }
    if (arg == "--setup") {
      setup = true;
      continue;
    }
    if (!arg.starts_with("--")) {
      return Usage("unexpected argument '" + std::string(arg) + "'");
    }
    arg.remove_prefix(2);
    std::string name, value;
    if (const std::size_t eq = arg.find('='); eq != std::string_view::npos) {
      name = std::string(arg.substr(0, eq));
      value = std::string(arg.substr(eq + 1));
    } else {
      name = std::string(arg);
      if (i + 1 >= argc) return Usage("--" + name + " needs a value");
      value = argv[++i];
    }
    static const std::vector<std::string_view> kKnown = {
        "store",          "clinics",     "roster",        "server",
        "duration",       "push-interval", "pull-interval", "changes-per-push",
        "server-pid",     "threads",     "login-concurrency"};
    if (std::find(kKnown.begin(), kKnown.end(), name) == kKnown.end()) {
      return Usage("unknown option --" + name);
    }
    if (!opts.emplace(name, value).second) {
      return Usage("--" + name + " given twice");
    }
  }
  if (argc < 2) {
    PrintHelp();
    return kExitUsage;
  }
  try {
    return setup ? Setup(opts) : RunLoad(opts);
  } catch (const std::exception& e) {
    return Runtime(std::string("unexpected error: ") + e.what());
  }
}

}  // namespace
}  // namespace pulse::sync_load

int main(int argc, char** argv) { return pulse::sync_load::Main(argc, argv); }
