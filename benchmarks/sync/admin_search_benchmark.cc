// Admin search benchmark (issue 5, "admin queries"): a real central store
// holding N patients (default 100 000) from S sites (default 50), filled
// through CentralStore::IngestBatch with synthetic registrations (real HLC
// stamps and UUIDv7 ids per site, as a clinic's LocalWriter makes them);
// then patient searches through SyncService::Handle — authentication, the
// permission check, SqlcipherAdminStore, JSON, and one audit event per
// patient shown — timed one request at a time. Bar: p99 < 50 ms.
//
// Query mix (each drawn at random, names from the generated population):
//   prefix1   one letter of a family/given name       (dense: ~1/20)
//   prefix3   three letters                           (hundreds)
//   name      a whole family name                     (tens)
//   mrn       an MRN prefix of one site ("S07-01")    (tens to hundreds)
//   site      a name prefix filtered to one site
//   page      pages 2..5 of a prefix1/prefix3 query (keyset cursor)
//
//   admin_search_benchmark [--patients N] [--sites S] [--queries Q]
//                          [--audit trail|log] [--dir DIR] [--seed X]
//
// With --dir the store is kept, and a later run with the same --dir,
// --patients, --sites and --seed reuses it instead of filling again.
//
// --audit trail (default) appends each event to the real SQLCipher audit
// trail (group commit, audit_trail.h); --audit log leaves the trail out, to
// show what the audit writes cost.
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "pulse/engine/change.h"
#include "pulse/engine/hlc.h"
#include "pulse/engine/key_file.h"
#include "pulse/engine/password.h"
#include "pulse/engine/uuid.h"
#include "pulse/sync_server/service.h"
#include "pulse/sync_server/sqlcipher_admin_store.h"
#include "pulse/sync_server/sqlcipher_audit_trail.h"
#include "pulse/sync_server/sqlcipher_central_store.h"

namespace {

namespace fs = std::filesystem;
namespace ss = pulse::sync_server;
namespace engine = pulse::engine;
using Clock = std::chrono::steady_clock;
using nlohmann::json;

constexpr std::string_view kPassphrase = "admin search benchmark";
constexpr std::string_view kPassword = "Bench-Admin-Password-2026!";
constexpr int kBatch = 1000;

[[noreturn]] void Die(const std::string& what) {
  std::cerr << "admin_search_benchmark: " << what << "\n";
  std::exit(1);
}

double Seconds(Clock::duration d) {
  return std::chrono::duration<double>(d).count();
}

// Family names from syllables: 30 x 10 x 8 = 2400 names, drawn with a
// skew so that a few are common (as in a real register).
constexpr std::string_view kHeads[] = {
    "Ot", "Wan", "Kip", "Mwa", "Nje", "Om", "Ka", "Aki", "Che", "Bar",
    "Ga", "Ha", "Ju", "Ke", "Lu", "Ma", "Na", "Ny", "On", "Ru",
    "Sa", "Ta", "Wa", "Ya", "Zu", "Ach", "Ben", "Dau", "Eli", "Fa"};
constexpr std::string_view kMiddles[] = {"ie", "an", "to", "ng", "ji",
                                         "on", "mu", "ny", "ri", "ko"};
constexpr std::string_view kTails[] = {"no", "ru", "o", "i",
                                       "a",  "u",  "ni", "e"};
constexpr std::string_view kGiven[] = {
    "Achieng", "Baraka", "Chebet", "Daudi", "Esther", "Faraji", "Gathoni",
    "Hamisi", "Imani", "Jabali", "Kendi", "Lulu", "Makena", "Nia", "Otieno",
    "Pendo", "Rehema", "Sifa", "Tumaini", "Upendo", "Wairimu", "Yusuf",
    "Zawadi", "Amani", "Brian", "Cynthia", "Dennis", "Faith", "Grace",
    "Hope", "Ivy", "James", "Kevin", "Lydia", "Mercy", "Naomi", "Peter",
    "Ruth", "Samuel", "Tabitha"};

std::string FamilyName(std::mt19937_64& rng) {
  // Squaring a uniform draw skews towards the start of each list.
  auto skewed = [&](std::size_t n) {
    const double u = std::uniform_real_distribution<double>(0, 1)(rng);
    return std::min(n - 1, static_cast<std::size_t>(u * u * double(n)));
  };
  return std::string(kHeads[skewed(std::size(kHeads))]) +
         std::string(kMiddles[skewed(std::size(kMiddles))]) +
         std::string(kTails[skewed(std::size(kTails))]);
}

struct Options {
  int patients = 100'000;
  int sites = 50;
  int queries = 2000;
  bool real_audit = true;
  std::uint64_t seed = 20261124;
  std::optional<fs::path> dir;
};

Options ParseArgs(int argc, char** argv) {
  Options o;
  auto number = [&](std::string_view v) {
    long long n = 0;
    auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
    if (ec != std::errc() || p != v.data() + v.size() || n < 1) {
      Die("not a positive number: " + std::string(v));
    }
    return n;
  };
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (i + 1 >= argc) Die("missing value for " + std::string(a));
    const std::string_view v = argv[++i];
    if (a == "--patients") {
      o.patients = static_cast<int>(number(v));
    } else if (a == "--sites") {
      o.sites = static_cast<int>(number(v));
    } else if (a == "--queries") {
      o.queries = static_cast<int>(number(v));
    } else if (a == "--seed") {
      o.seed = static_cast<std::uint64_t>(number(v));
    } else if (a == "--dir") {
      o.dir = fs::path(v);
    } else if (a == "--audit") {
      if (v != "trail" && v != "log") Die("--audit: trail or log");
      o.real_audit = v == "trail";
    } else {
      Die("unknown option " + std::string(a));
    }
  }
  if (o.sites > 99) Die("--sites: at most 99");
  return o;
}

struct Population {
  std::vector<std::string> site_ids;
  std::vector<std::string> family_names;  // one per patient, for queries
};

// Registers `o.patients` patients spread over `o.sites` new sites. With
// `reuse`, the store already holds them (an earlier run with the same
// --dir and --seed): the same names are drawn again and nothing is written.
Population Fill(ss::SqlcipherCentralStore& store, const std::string& author,
                const Options& o, std::mt19937_64& rng, bool reuse,
                ss::AdminStore& admin) {
  Population pop;
  engine::UuidV7Generator ids(engine::SystemClock());
  const auto start = Clock::now();
  std::int64_t ingested = 0;
  if (reuse) {
    auto sites = admin.ListSites("", ss::kAdminMaxPageSize);
    if (!sites) Die("ListSites: " + sites.error().ToString());
    if (static_cast<int>(sites->sites.size()) != o.sites) {
      Die("--dir holds another population (sites)");
    }
    for (const ss::AdminSite& site : sites->sites) {
      pop.site_ids.push_back(site.id);
    }
  }
  for (int s = 0; s < o.sites; ++s) {
    std::optional<std::string> site;
    if (reuse) {
      site = pop.site_ids[static_cast<std::size_t>(s)];
    } else {
      char name[32];
      std::snprintf(name, sizeof name, "Clinic %02d", s);
      auto added = store.AddSite({name, "Region", "Africa/Nairobi"}, author);
      if (!added) Die("AddSite: " + added.error().ToString());
      site = *added;
      pop.site_ids.push_back(*site);
    }
    // Each site stamps with its own hybrid logical clock, as its replica
    // would.
    engine::HybridClock hlc;
    const int count = o.patients / o.sites + (s < o.patients % o.sites);
    std::vector<engine::ChangeEntry> batch;
    for (int i = 0; i < count; ++i) {
      engine::ChangeEntry e;
      e.id = ids.Next().ToString();
      e.hlc = hlc.Now();
      e.site = *site;
      e.table = "patients";
      e.row = ids.Next().ToString();
      e.op = engine::Op::kUpsert;
      e.author = author;
      char mrn[24];
      std::snprintf(mrn, sizeof mrn, "S%02d-%06d", s, i);
      char date[16];
      std::snprintf(date, sizeof date, "%04d-%02d-%02d",
                    1940 + static_cast<int>(rng() % 80),
                    1 + static_cast<int>(rng() % 12),
                    1 + static_cast<int>(rng() % 28));
      std::string family = FamilyName(rng);
      pop.family_names.push_back(family);
      e.fields["site_id"] = *site;
      e.fields["mrn"] = std::string(mrn);
      e.fields["given_name"] =
          std::string(kGiven[rng() % std::size(kGiven)]);
      e.fields["family_name"] = std::move(family);
      e.fields["birth_date"] = std::string(date);
      e.fields["sex"] = std::string(rng() % 2 ? "F" : "M");
      e.fields["phone"] = "+254 7" + std::to_string(10000000 + rng() % 89999999);
      e.fields["address"] = "Plot " + std::to_string(1 + rng() % 900);
      if (reuse) continue;
      batch.push_back(std::move(e));
      if (static_cast<int>(batch.size()) == kBatch || i + 1 == count) {
        ss::IngestRequest request;
        request.batch_id = ids.Next().ToString();
        request.site = *site;
        request.pushed_by = author;
        request.received_ms = 1;
        request.changes = batch;
        auto result = store.IngestBatch(
            request, [](std::size_t, const engine::ChangeEntry&,
                        const ss::RowContext&) { return pulse::OkStatus(); });
        if (!result) Die("IngestBatch: " + result.error().ToString());
        ingested += result->accepted;
        batch.clear();
      }
    }
  }
  const double secs = Seconds(Clock::now() - start);
  if (reuse) {
    std::printf("reusing the store's %d patients of %d sites\n", o.patients,
                o.sites);
    return pop;
  }
  std::printf("filled %lld patients from %d sites in %.1f s (%.0f/s)\n",
              static_cast<long long>(ingested), o.sites, secs,
              double(ingested) / secs);
  return pop;
}

struct Sample {
  std::string kind;
  double ms = 0;      // wall time of the request
  double cpu_ms = 0;  // CPU time of the whole process meanwhile
  std::size_t rows = 0;
};

// CPU time of this process (every thread), ms: on a shared machine the
// wall time includes waiting for a core, the CPU time does not.
double ProcessCpuMs() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return double(ts.tv_sec) * 1e3 + double(ts.tv_nsec) / 1e6;
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const auto i = static_cast<std::size_t>(p * double(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

std::string Encode(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (std::isalnum(static_cast<unsigned char>(c)) || c == '-') {
      out += c;
    } else {
      char buf[4];
      std::snprintf(buf, sizeof buf, "%%%02X", static_cast<unsigned char>(c));
      out += buf;
    }
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = ParseArgs(argc, argv);
  std::mt19937_64 rng(o.seed);
  const fs::path root =
      o.dir ? *o.dir
            : fs::temp_directory_path() /
                  ("admin_search_bench_" + std::to_string(::getpid()));
  const bool reuse = o.dir && fs::exists(root / "central");
  if (!reuse) {
    fs::remove_all(root);
    fs::create_directories(root);
  }

  ss::CentralStoreOptions store_options;
  store_options.kdf = engine::KdfLimits{1, engine::kMinKdfMemLimitBytes};
  store_options.password_cost = engine::kTestPasswordHashCost;
  auto store = reuse ? ss::SqlcipherCentralStore::Open(
                           root / "central", kPassphrase, store_options)
                     : ss::SqlcipherCentralStore::Create(
                           root / "central", kPassphrase, store_options);
  if (!store) Die("store: " + store.error().ToString());
  std::string admin_id;
  if (reuse) {
    auto found = (*store)->FindUserByName("bench.admin");
    if (!found || !found->has_value()) Die("--dir: no bench.admin user");
    admin_id = (**found).id;
  } else {
    auto added = (*store)->AddUser(
        {"bench.admin", "Bench Admin", engine::Role::kAdmin, std::nullopt,
         kPassword},
        "");
    if (!added) Die("AddUser: " + added.error().ToString());
    admin_id = *added;
  }
  ss::SqlcipherAdminStore admin(**store);
  const Population pop = Fill(**store, admin_id, o, rng, reuse, admin);

  std::unique_ptr<ss::SqlcipherAuditTrail> trail;
  if (o.real_audit) {
    auto t = ss::SqlcipherAuditTrail::Open(**store);
    if (!t) Die("audit trail: " + t.error().ToString());
    trail = std::move(*t);
  }
  ss::ServiceOptions service_options;
  service_options.store = store->get();
  service_options.admin = &admin;
  service_options.audit = trail.get();
  service_options.dummy_hash_cost = engine::kTestPasswordHashCost;
  service_options.log_sink = [](std::string_view) {};
  auto service = ss::SyncService::Create(service_options);
  if (!service) Die("service: " + service.error().ToString());

  auto handle = [&](const std::string& method, const std::string& target,
                    const std::string& token, const std::string& body) {
    ss::Request r;
    r.method = method;
    r.SetTarget(target);
    if (!token.empty()) r.headers["authorization"] = "Bearer " + token;
    if (!body.empty()) r.headers["content-type"] = "application/json";
    r.body = body;
    r.peer = "127.0.0.1";
    return (*service)->Handle(r);
  };
  const auto login = handle(
      "POST", "/api/v1/auth/login", "",
      json{{"username", "bench.admin"}, {"password", kPassword}}.dump());
  if (login.status != 200) Die("login: " + login.body);
  const std::string token = json::parse(login.body).at("token");

  std::vector<Sample> samples;
  auto run = [&](const std::string& kind, const std::string& target) {
    const double cpu0 = ProcessCpuMs();
    const auto t0 = Clock::now();
    const ss::Response r = handle("GET", target, token, "");
    const double ms =
        std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    const double cpu_ms = ProcessCpuMs() - cpu0;
    if (r.status != 200) Die(target + ": " + std::to_string(r.status) + " " + r.body);
    const json page = json::parse(r.body);
    samples.push_back({kind, ms, cpu_ms, page.at("patients").size()});
    return page;
  };
  auto name = [&] {
    return pop.family_names[rng() % pop.family_names.size()];
  };
  auto site = [&] { return pop.site_ids[rng() % pop.site_ids.size()]; };
  const std::string base = "/api/v1/admin/patients?limit=50";

  // Warm-up: a few queries so the first samples do not measure page-cache
  // misses of a cold process alone (reported separately below).
  for (int i = 0; i < 20; ++i) run("warmup", base + "&q=" + name().substr(0, 2));

  const auto start = Clock::now();
  for (int i = 0; i < o.queries; ++i) {
    switch (rng() % 6) {
      case 0:
        run("prefix1", base + "&q=" + Encode(name().substr(0, 1)));
        break;
      case 1:
        run("prefix3", base + "&q=" + Encode(name().substr(0, 3)));
        break;
      case 2:
        run("name", base + "&q=" + Encode(name()));
        break;
      case 3: {
        // The MRN of a random patient cut to 6..8 characters ("S07-00",
        // "S07-001", "S07-0012"): a site's 1000, 100 or 10... patients.
        const int sites = static_cast<int>(pop.site_ids.size());
        const int s = static_cast<int>(rng() % sites);
        const int per_site = o.patients / sites;
        char mrn[16];
        std::snprintf(mrn, sizeof mrn, "S%02d-%06d", s,
                      static_cast<int>(rng() % per_site));
        run("mrn", base + "&q=" +
                       Encode(std::string(mrn).substr(0, 6 + rng() % 3)));
        break;
      }
      case 4:
        run("site", base + "&q=" + Encode(name().substr(0, 2)) +
                        "&site=" + site());
        break;
      case 5: {
        const std::string q = name().substr(0, 1 + rng() % 3);
        json page = run("page1", base + "&q=" + Encode(q));
        for (int p = 2; p <= 5 && !page.at("next_cursor").is_null(); ++p) {
          page = run("page", base + "&q=" + Encode(q) + "&cursor=" +
                                 page.at("next_cursor").get<std::string>());
        }
        break;
      }
    }
  }
  const double total = Seconds(Clock::now() - start);

  std::map<std::string, std::vector<double>> by_kind;
  std::vector<double> all, all_cpu;
  std::map<std::string, std::size_t> rows;
  for (const Sample& s : samples) {
    if (s.kind == "warmup") continue;
    by_kind[s.kind].push_back(s.ms);
    rows[s.kind] += s.rows;
    all.push_back(s.ms);
    all_cpu.push_back(s.cpu_ms);
  }
  std::printf("%zu search requests in %.1f s, audit %s\n", all.size(), total,
              o.real_audit ? "trail (SQLCipher, group commit)" : "log only");
  std::printf("%-8s %6s %8s %8s %8s %8s %9s\n", "kind", "n", "p50 ms",
              "p90 ms", "p99 ms", "max ms", "rows/req");
  for (const auto& [kind, v] : by_kind) {
    std::printf("%-8s %6zu %8.2f %8.2f %8.2f %8.2f %9.1f\n", kind.c_str(),
                v.size(), Percentile(v, 0.5), Percentile(v, 0.9),
                Percentile(v, 0.99), *std::max_element(v.begin(), v.end()),
                double(rows[kind]) / double(v.size()));
  }
  std::printf("%-8s %6zu %8.2f %8.2f %8.2f %8.2f\n", "all", all.size(),
              Percentile(all, 0.5), Percentile(all, 0.9),
              Percentile(all, 0.99), *std::max_element(all.begin(), all.end()));
  if (trail) {
    const ss::AuditTrailStats st = trail->Stats();
    std::printf("audit: %llu events in %llu commits (%.1f events/commit)\n",
                static_cast<unsigned long long>(st.events_appended),
                static_cast<unsigned long long>(st.commits),
                st.commits ? double(st.events_appended) / double(st.commits)
                           : 0.0);
  }
  std::printf("%-8s %6zu %8.2f %8.2f %8.2f %8.2f  (process CPU time per "
              "request)\n",
              "cpu", all_cpu.size(), Percentile(all_cpu, 0.5),
              Percentile(all_cpu, 0.9), Percentile(all_cpu, 0.99),
              *std::max_element(all_cpu.begin(), all_cpu.end()));
  double load[3] = {0, 0, 0};
  if (getloadavg(load, 3) == 3) {
    std::printf("load average at the end: %.1f (machine cores: %u)\n",
                load[0], std::thread::hardware_concurrency());
  }
  const double p99 = Percentile(all, 0.99);
  std::printf("bar p99 < 50 ms: %s\n", p99 < 50 ? "met" : "NOT met");

  trail.reset();
  service->reset();
  store->reset();
  if (!o.dir) fs::remove_all(root);
  return p99 < 50 ? 0 : 2;
}
