// pulse-sync-server: the sync server's command line (DESIGN.md §5, §11).
//
//   serve     run the HTTP server on a loopback address until SIGTERM/SIGINT
//   init      create an empty central store (and its audit signing key)
//   audit-key print the audit checkpoint public key and key id
//   add-site  add a clinic site, print its id
//   add-user  add a user, print their id
//   state-hash  canonical state hash (all or one site) and global-log
//             counts, for convergence checks (server stopped)
//
// Options come from --config FILE (key = value lines, config_file.h), then
// the command line, which overrides the file. Secrets never come from a
// flag: the store passphrase from $PULSE_STORE_PASSPHRASE or
// --passphrase-file, a new user's password from $PULSE_USER_PASSWORD or
// --password-file.
//
// Exit codes: 0 ok, 1 runtime error, 2 usage error.
#include <signal.h>

#include <charconv>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "pulse/engine/merge.h"
#include "pulse/engine/password.h"
#include "pulse/engine/permissions.h"
#include "pulse/engine/uuid.h"
#include "pulse/sync_server/config_file.h"
#include "pulse/sync_server/http_server.h"
#include "pulse/sync_server/request_log.h"
#include "pulse/sync_server/service.h"
#include "pulse/sync_server/sqlcipher_admin_store.h"
#include "pulse/sync_server/sqlcipher_audit_trail.h"
#include "pulse/sync_server/sqlcipher_blob_store.h"
#include "pulse/sync_server/sqlcipher_central_store.h"
#include "sqlcipher_central_state.h"

namespace pulse::sync_server {
namespace {

constexpr int kExitOk = 0;
constexpr int kExitRuntime = 1;
constexpr int kExitUsage = 2;

struct OptionSpec {
  std::string_view name;
  std::string_view help;
};

struct Command {
  std::string_view name;
  std::string_view summary;
  std::vector<OptionSpec> options;
};

const std::vector<OptionSpec> kCommonOptions = {
    {"config", "FILE  key = value lines; keys are the long option names "
               "below (flags override the file; no secrets allowed in it)"},
    {"store", "DIR  the central store directory (required)"},
    {"passphrase-file",
     "FILE  read the store passphrase from FILE (first line); otherwise it "
     "comes from $PULSE_STORE_PASSPHRASE"},
};

const std::vector<Command> kCommands = {
    {"serve",
     "Run the sync server until SIGTERM/SIGINT: HTTPS with --tls-cert and "
     "--tls-key, else plain HTTP on loopback only.",
     {{"listen", "HOST:PORT  address to listen on (default 127.0.0.1:8080; "
                 "port 0 picks a free port; a non-loopback HOST needs TLS). "
                 "The first line on stdout is 'listening on HOST:PORT'"},
      {"tls-cert", "FILE  PEM certificate chain (server certificate first)"},
      {"tls-key", "FILE  PEM private key of the certificate, unencrypted"},
      {"threads", "N  I/O threads, 1..256 (default 2)"},
      {"idle-timeout", "S  seconds a session may stay unused (default 1800)"},
      {"session-lifetime",
       "S  seconds a session lives after login (default 43200)"},
      {"read-timeout", "S  seconds to receive one request (default 30)"},
      {"shutdown-grace",
       "S  seconds in-flight requests get on shutdown (default 10)"},
      {"group-commit",
       "on|off  commit concurrent writes together, one fsync per group "
       "(default on; off is for measuring it)"},
      {"upload-expiry-days",
       "D  drop blob uploads in progress that no chunk touched for D days, "
       "checked at start and hourly (default 7; 0: keep them for ever)"}}},
    {"init", "Create a new, empty central store at --store.", {}},
    {"audit-key",
     "Print the audit checkpoint public key (Ed25519, hex) and its key id, "
     "one per line. The secret key never leaves the store. The server must "
     "be stopped.",
     {}},
    {"add-site",
     "Add a clinic site; prints the new site id.",
     {{"name", "N  site name (required)"},
      {"region", "R  region"},
      {"timezone", "TZ  IANA time zone, e.g. Africa/Nairobi"}}},
    {"add-user",
     "Add a user; prints the new user id. Password from "
     "$PULSE_USER_PASSWORD or --password-file.",
     {{"username", "U  login name (required)"},
      {"role", "R  admin | clinician | technician | auditor (required)"},
      {"site", "ID  site id (required for clinician and technician)"},
      {"full-name", "F  full name"},
      {"password-file", "FILE  read the password from FILE (first line)"}}},
    {"state-hash",
     "Print one JSON line: the canonical state hash of the replicated "
     "tables (of one site's rows with --site) and the global log's entry "
     "count and distinct entry ids. Needs the store, so the server must be "
     "stopped.",
     {{"site", "ID  only the rows of site ID (what its clinics hold)"}}},
};

void PrintHelp(const Command* command) {
  if (command == nullptr) {
    std::cout << "usage: pulse-sync-server <command> [options]\n\n"
                 "commands:\n";
    for (const Command& c : kCommands) {
      std::cout << "  " << c.name
                << std::string(c.name.size() < 13 ? 13 - c.name.size() : 1, ' ')
                << c.summary << "\n";
    }
    std::cout << "\n'pulse-sync-server <command> --help' lists a command's "
                 "options.\nExit codes: 0 ok, 1 runtime error, 2 usage "
                 "error.\n";
    return;
  }
  std::cout << "usage: pulse-sync-server " << command->name
            << " [options]\n\n"
            << command->summary << "\n\noptions (--name VALUE or "
                                   "--name=VALUE):\n";
  auto print = [](const OptionSpec& o) {
    std::cout << "  --" << o.name << " " << o.help << "\n";
  };
  for (const auto& o : kCommonOptions) print(o);
  for (const auto& o : command->options) print(o);
  std::cout << "  --help  this text\n\nenvironment:\n"
               "  PULSE_STORE_PASSPHRASE  the store passphrase (unless "
               "--passphrase-file)\n";
  if (command->name == "add-user") {
    std::cout << "  PULSE_USER_PASSWORD     the new user's password (unless "
                 "--password-file)\n";
  }
}

struct UsageError {
  std::string message;
};

int Usage(std::string_view command, const std::string& message) {
  std::cerr << "pulse-sync-server " << command << ": " << message
            << "\n(see 'pulse-sync-server " << command << " --help')\n";
  return kExitUsage;
}

int Runtime(std::string_view command, const std::string& message) {
  std::cerr << "pulse-sync-server " << command << ": " << message << "\n";
  return kExitRuntime;
}

// The first line of a secret file, without its line ending.
Result<std::string> ReadSecretFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Fail(ErrorCode::kNotFound, path + ": cannot open");
  std::string line;
  std::getline(in, line);
  if (!line.empty() && line.back() == '\r') line.pop_back();
  if (line.empty()) {
    return Fail(ErrorCode::kInvalidArgument, path + ": empty first line");
  }
  return line;
}

Result<std::int64_t> ParseInt(const ConfigMap& opts, std::string_view key,
                              std::int64_t fallback, std::int64_t lo,
                              std::int64_t hi) {
  auto it = opts.find(key);
  if (it == opts.end()) return fallback;
  std::int64_t v = 0;
  const std::string& s = it->second;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || end != s.data() + s.size() || v < lo ||
      v > hi) {
    return Fail(ErrorCode::kInvalidArgument,
                "--" + std::string(key) + ": must be an integer in " +
                    std::to_string(lo) + ".." + std::to_string(hi));
  }
  return v;
}

std::optional<std::string> Get(const ConfigMap& opts, std::string_view key) {
  auto it = opts.find(key);
  if (it == opts.end()) return std::nullopt;
  return it->second;
}

Result<std::string> StorePassphrase(const ConfigMap& opts) {
  if (auto file = Get(opts, "passphrase-file")) return ReadSecretFile(*file);
  if (const char* env = std::getenv("PULSE_STORE_PASSPHRASE");
      env != nullptr && *env != '\0') {
    return std::string(env);
  }
  return Fail(ErrorCode::kInvalidArgument,
              "no store passphrase: set PULSE_STORE_PASSPHRASE or pass "
              "--passphrase-file");
}

std::string Describe(const Error& e) { return e.ToString(); }

// Drops abandoned blob uploads (CentralBlobStore::DropStaleUploads) at
// start and then hourly, on its own thread, until destroyed. A zero expiry
// keeps them for ever.
class UploadSweeper {
 public:
  UploadSweeper(CentralBlobStore& blobs, std::chrono::days expiry, LogSink log)
      : blobs_(blobs), expiry_(expiry), log_(std::move(log)) {
    if (expiry_.count() > 0) thread_ = std::thread([this] { Run(); });
  }
  ~UploadSweeper() {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable()) thread_.join();
  }
  UploadSweeper(const UploadSweeper&) = delete;
  UploadSweeper& operator=(const UploadSweeper&) = delete;

 private:
  void Run() {
    std::unique_lock lock(mu_);
    while (!stop_) {
      lock.unlock();
      Sweep();
      lock.lock();
      wake_.wait_for(lock, std::chrono::hours(1), [this] { return stop_; });
    }
  }
  void Sweep() {
    const auto now = std::chrono::system_clock::now();
    const std::int64_t cutoff_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(
            (now - expiry_).time_since_epoch())
            .count();
    auto dropped = blobs_.DropStaleUploads(cutoff_ms);
    if (!dropped) {
      log_(FormatEventLine(now, "warn", "stale upload sweep failed", "",
                           {{"error", dropped.error().ToString()}}));
    } else if (*dropped > 0) {
      log_(FormatEventLine(now, "info", "stale uploads dropped", "",
                           {{"uploads", std::to_string(*dropped)}}));
    }
  }

  CentralBlobStore& blobs_;
  const std::chrono::days expiry_;
  const LogSink log_;
  std::mutex mu_;
  std::condition_variable wake_;
  bool stop_ = false;
  std::thread thread_;
};

int Serve(const ConfigMap& opts, std::string_view cmd) {
  std::string listen = Get(opts, "listen").value_or("127.0.0.1:8080");
  const std::size_t colon = listen.rfind(':');
  if (colon == std::string::npos) {
    return Usage(cmd, "--listen: expected HOST:PORT");
  }
  HttpServerOptions http_options;
  http_options.address = listen.substr(0, colon);
  if (http_options.address.size() > 2 && http_options.address.front() == '[' &&
      http_options.address.back() == ']') {
    http_options.address =
        http_options.address.substr(1, http_options.address.size() - 2);
  }
  ConfigMap port_only{{"port", listen.substr(colon + 1)}};
  auto port = ParseInt(port_only, "port", 0, 0, 65535);
  if (!port) return Usage(cmd, "--listen: port must be 0..65535");
  http_options.port = static_cast<std::uint16_t>(*port);
  auto threads = ParseInt(opts, "threads", 2, 1, 256);
  auto idle = ParseInt(opts, "idle-timeout", 1800, 1, 86400 * 30);
  auto lifetime = ParseInt(opts, "session-lifetime", 43200, 1, 86400 * 365);
  auto read_timeout = ParseInt(opts, "read-timeout", 30, 1, 3600);
  auto grace = ParseInt(opts, "shutdown-grace", 10, 0, 3600);
  auto upload_expiry = ParseInt(opts, "upload-expiry-days", 7, 0, 3650);
  for (const auto* r : {&threads, &idle, &lifetime, &read_timeout, &grace,
                        &upload_expiry}) {
    if (!*r) return Usage(cmd, r->error().message());
  }
  http_options.threads = static_cast<int>(*threads);
  const auto tls_cert = Get(opts, "tls-cert");
  const auto tls_key = Get(opts, "tls-key");
  if (tls_cert.has_value() != tls_key.has_value()) {
    return Usage(cmd, "--tls-cert and --tls-key go together");
  }
  if (tls_cert) http_options.tls = TlsFiles{*tls_cert, *tls_key};
  http_options.read_timeout = std::chrono::seconds(*read_timeout);
  http_options.shutdown_grace = std::chrono::seconds(*grace);

  // SIGTERM/SIGINT are taken by sigwait() below; blocked before any thread
  // starts so that every thread inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  auto store_dir = Get(opts, "store");
  if (!store_dir) return Usage(cmd, "--store is required");
  auto passphrase = StorePassphrase(opts);
  if (!passphrase) return Usage(cmd, passphrase.error().message());
  CentralStoreOptions store_options;
  if (auto group = Get(opts, "group-commit")) {
    if (*group != "on" && *group != "off") {
      return Usage(cmd, "--group-commit: on or off");
    }
    store_options.group_commit = *group == "on";
  }
  auto store =
      SqlcipherCentralStore::Open(*store_dir, *passphrase, store_options);
  passphrase->assign(passphrase->size(), '\0');
  if (!store) return Runtime(cmd, "opening the store: " + Describe(store.error()));

  // The admin API's store, on the same database (declared before the
  // service so that it outlives it).
  SqlcipherAdminStore admin_store(**store);
  // Content-addressed blobs (sealed files + upload tables), same database.
  SqlcipherBlobStore blob_store(**store);
  // The audit trail (events, continuity, signed checkpoints), same database.
  auto audit_trail = SqlcipherAuditTrail::Open(**store);
  if (!audit_trail) {
    return Runtime(cmd, "opening the audit trail: " +
                            Describe(audit_trail.error()));
  }
  ServiceOptions service_options;
  service_options.store = store->get();
  service_options.audit = audit_trail->get();
  service_options.admin = &admin_store;
  service_options.blobs = &blob_store;
  service_options.idle_timeout = std::chrono::seconds(*idle);
  service_options.session_lifetime = std::chrono::seconds(*lifetime);
  auto service = SyncService::Create(service_options);
  if (!service) return Usage(cmd, service.error().message());

  auto server = HttpServer::Start(**service, http_options);
  if (!server) {
    return server.error().code() == ErrorCode::kInvalidArgument
               ? Usage(cmd, server.error().message())
               : Runtime(cmd, Describe(server.error()));
  }
  const std::string where =
      (http_options.address.find(':') != std::string::npos
           ? "[" + http_options.address + "]"
           : http_options.address) +
      ":" + std::to_string((*server)->port());
  std::cout << "listening on " << where << std::endl;  // flushed: tests read it
  const LogSink log = StderrLogSink();
  log(FormatEventLine(std::chrono::system_clock::now(), "info",
                      "server started", "", {{"listen", where}}));
  UploadSweeper sweeper(blob_store, std::chrono::days(*upload_expiry), log);
  int sig = 0;
  sigwait(&signals, &sig);
  log(FormatEventLine(std::chrono::system_clock::now(), "info",
                      "shutting down", "",
                      {{"signal", sig == SIGTERM ? "SIGTERM" : "SIGINT"}}));
  const bool clean = (*server)->Stop();
  log(FormatEventLine(std::chrono::system_clock::now(),
                      clean ? "info" : "warn", "server stopped", "",
                      {{"in_flight_finished", clean ? "true" : "false"}}));
  return kExitOk;
}

int Init(const ConfigMap& opts, std::string_view cmd) {
  auto store_dir = Get(opts, "store");
  if (!store_dir) return Usage(cmd, "--store is required");
  auto passphrase = StorePassphrase(opts);
  if (!passphrase) return Usage(cmd, passphrase.error().message());
  // The store directory's parent is made on demand; the store refuses to
  // replace an existing store itself.
  std::error_code ec;
  const auto parent = std::filesystem::absolute(*store_dir, ec).parent_path();
  if (!ec && !parent.empty()) std::filesystem::create_directories(parent, ec);
  if (ec) return Runtime(cmd, parent.string() + ": " + ec.message());
  auto store = SqlcipherCentralStore::Create(*store_dir, *passphrase);
  if (!store) return Runtime(cmd, Describe(store.error()));
  // The checkpoint signing key is generated now, inside the new store.
  auto trail = SqlcipherAuditTrail::Open(**store);
  if (!trail) return Runtime(cmd, "audit key: " + Describe(trail.error()));
  std::cout << "created central store at " << *store_dir << " (central site "
            << (*store)->central_site_id() << ", audit key "
            << (*trail)->KeyId() << ")\n";
  return kExitOk;
}

int AuditKey(const ConfigMap& opts, std::string_view cmd) {
  auto store_dir = Get(opts, "store");
  if (!store_dir) return Usage(cmd, "--store is required");
  auto passphrase = StorePassphrase(opts);
  if (!passphrase) return Usage(cmd, passphrase.error().message());
  auto store = SqlcipherCentralStore::Open(*store_dir, *passphrase);
  passphrase->assign(passphrase->size(), '\0');
  if (!store) return Runtime(cmd, Describe(store.error()));
  auto trail = SqlcipherAuditTrail::Open(**store);
  if (!trail) return Runtime(cmd, Describe(trail.error()));
  std::cout << (*trail)->PublicKeyHex() << "\n" << (*trail)->KeyId() << "\n";
  return kExitOk;
}

Result<std::unique_ptr<SqlcipherCentralStore>> OpenStore(
    const ConfigMap& opts) {
  auto store_dir = Get(opts, "store");
  if (!store_dir) return Fail(ErrorCode::kInvalidArgument, "--store is required");
  auto passphrase = StorePassphrase(opts);
  if (!passphrase) return Fail(passphrase.error());
  return SqlcipherCentralStore::Open(*store_dir, *passphrase);
}

int AddSite(const ConfigMap& opts, std::string_view cmd) {
  NewSite site;
  auto name = Get(opts, "name");
  if (!name || name->empty()) return Usage(cmd, "--name is required");
  site.name = *name;
  site.region = Get(opts, "region").value_or("");
  site.timezone = Get(opts, "timezone").value_or("");
  if (!Get(opts, "store")) return Usage(cmd, "--store is required");
  auto store = OpenStore(opts);
  if (!store) {
    return store.error().code() == ErrorCode::kInvalidArgument
               ? Usage(cmd, store.error().message())
               : Runtime(cmd, Describe(store.error()));
  }
  auto id = (*store)->AddSite(site, "");
  if (!id) return Runtime(cmd, Describe(id.error()));
  std::cout << *id << "\n";
  return kExitOk;
}

int AddUser(const ConfigMap& opts, std::string_view cmd) {
  NewUser user;
  auto username = Get(opts, "username");
  auto role = Get(opts, "role");
  if (!username || username->empty()) return Usage(cmd, "--username is required");
  if (!role) return Usage(cmd, "--role is required");
  auto parsed_role = engine::ParseRole(*role);
  if (!parsed_role) {
    return Usage(cmd, "--role: '" + *role +
                          "' is not admin, clinician, technician or auditor");
  }
  user.username = *username;
  user.role = *parsed_role;
  user.site = Get(opts, "site");
  user.full_name = Get(opts, "full-name").value_or("");
  const bool clinic_staff = user.role == engine::Role::kClinician ||
                            user.role == engine::Role::kTechnician;
  if (clinic_staff && !user.site) {
    return Usage(cmd, "--site is required for clinicians and technicians");
  }
  if (!clinic_staff && user.site) {
    return Usage(cmd, "--site is only for clinicians and technicians");
  }
  std::string password;
  if (auto file = Get(opts, "password-file")) {
    auto p = ReadSecretFile(*file);
    if (!p) return Usage(cmd, p.error().message());
    password = std::move(*p);
  } else if (const char* env = std::getenv("PULSE_USER_PASSWORD");
             env != nullptr && *env != '\0') {
    password = env;
  } else {
    return Usage(cmd,
                 "no password: set PULSE_USER_PASSWORD or pass --password-file");
  }
  if (Status s = engine::CheckPasswordPolicy(user.username, password); !s) {
    return Runtime(cmd, "password: " + s.error().message());
  }
  if (!Get(opts, "store")) return Usage(cmd, "--store is required");
  auto store = OpenStore(opts);
  if (!store) {
    return store.error().code() == ErrorCode::kInvalidArgument
               ? Usage(cmd, store.error().message())
               : Runtime(cmd, Describe(store.error()));
  }
  user.password = password;
  auto id = (*store)->AddUser(user, "");
  password.assign(password.size(), '\0');
  if (!id) return Runtime(cmd, Describe(id.error()));
  std::cout << *id << "\n";
  return kExitOk;
}

Result<std::int64_t> CountOf(engine::Database& db, const std::string& sql,
                            const std::optional<std::string>& site) {
  auto stmt = db.Prepare(sql);
  if (!stmt) return Fail(stmt.error());
  if (site) {
    if (Status s = stmt->BindText(1, *site); !s) return Fail(s.error());
  }
  auto row = stmt->Step();
  if (!row) return Fail(row.error());
  return stmt->ColumnInt64(0);
}

int StateHash(const ConfigMap& opts, std::string_view cmd) {
  std::optional<std::string> site = Get(opts, "site");
  if (site) {
    auto parsed = engine::Uuid::Parse(*site);
    if (!parsed) return Usage(cmd, "--site: not a UUID");
    site = parsed->ToString();
  }
  if (!Get(opts, "store")) return Usage(cmd, "--store is required");
  auto store = OpenStore(opts);
  if (!store) {
    return store.error().code() == ErrorCode::kInvalidArgument
               ? Usage(cmd, store.error().message())
               : Runtime(cmd, Describe(store.error()));
  }
  auto& state = (*store)->state();
  std::lock_guard lock(state.writer_mutex);
  engine::Database& db = state.replica->database();
  auto hash = site ? engine::CanonicalSiteStateHash(db, *site)
                   : engine::CanonicalStateHash(db);
  if (!hash) return Runtime(cmd, Describe(hash.error()));
  const std::string where = site ? " WHERE row_site = ?1" : "";
  auto entries = CountOf(db, "SELECT count(*) FROM global_log" + where, site);
  auto distinct = CountOf(
      db, "SELECT count(DISTINCT entry_id) FROM global_log" + where, site);
  if (!entries) return Runtime(cmd, Describe(entries.error()));
  if (!distinct) return Runtime(cmd, Describe(distinct.error()));
  // Hex, UUIDs and numbers only: no escaping needed.
  std::cout << "{\"hash\":\"" << *hash << "\",\"site\":"
            << (site ? "\"" + *site + "\"" : std::string("null"))
            << ",\"central_site\":\"" << (*store)->central_site_id()
            << "\",\"global_log_entries\":" << *entries
            << ",\"global_log_distinct_ids\":" << *distinct << "}\n";
  return kExitOk;
}

int Main(int argc, char** argv) {
  if (argc < 2) {
    PrintHelp(nullptr);
    return kExitUsage;
  }
  const std::string_view cmd_name = argv[1];
  if (cmd_name == "--help" || cmd_name == "-h" || cmd_name == "help") {
    PrintHelp(nullptr);
    return kExitOk;
  }
  const Command* command = nullptr;
  for (const Command& c : kCommands) {
    if (c.name == cmd_name) command = &c;
  }
  if (command == nullptr) {
    std::cerr << "pulse-sync-server: unknown command '" << cmd_name
              << "' (see 'pulse-sync-server --help')\n";
    return kExitUsage;
  }
  std::set<std::string, std::less<>> known;
  for (const auto& o : kCommonOptions) known.emplace(o.name);
  for (const auto& o : command->options) known.emplace(o.name);

  ConfigMap flags;
  for (int i = 2; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      PrintHelp(command);
      return kExitOk;
    }
    if (!arg.starts_with("--")) {
      return Usage(cmd_name, "unexpected argument '" + std::string(arg) + "'");
    }
    arg.remove_prefix(2);
    std::string name, value;
    if (const std::size_t eq = arg.find('='); eq != std::string_view::npos) {
      name = std::string(arg.substr(0, eq));
      value = std::string(arg.substr(eq + 1));
    } else {
      name = std::string(arg);
      if (i + 1 >= argc) return Usage(cmd_name, "--" + name + " needs a value");
      value = argv[++i];
    }
    if (name == "passphrase" || name == "password") {
      return Usage(cmd_name, "--" + name +
                                 " is not accepted: secrets come from the "
                                 "environment or a *-file option");
    }
    if (!known.contains(name)) {
      return Usage(cmd_name, "unknown option --" + name);
    }
    if (!flags.emplace(name, value).second) {
      return Usage(cmd_name, "--" + name + " given twice");
    }
  }
  ConfigMap opts;
  if (auto config = Get(flags, "config")) {
    auto file = ReadConfigFile(*config);
    if (!file) return Usage(cmd_name, file.error().message());
    for (auto& [k, v] : *file) {
      if (k == "config") return Usage(cmd_name, *config + ": config may not nest");
      // Keys of other commands are ignored, so one file serves them all.
      bool any_command = known.contains(k);
      for (const Command& c : kCommands) {
        for (const auto& o : c.options) any_command |= o.name == k;
      }
      if (!any_command) {
        return Usage(cmd_name, *config + ": unknown key '" + k + "'");
      }
      if (known.contains(k)) opts[k] = v;
    }
  }
  for (auto& [k, v] : flags) opts[k] = v;  // flags override the file

  try {
    if (cmd_name == "serve") return Serve(opts, cmd_name);
    if (cmd_name == "init") return Init(opts, cmd_name);
    if (cmd_name == "audit-key") return AuditKey(opts, cmd_name);
    if (cmd_name == "add-site") return AddSite(opts, cmd_name);
    if (cmd_name == "state-hash") return StateHash(opts, cmd_name);
    return AddUser(opts, cmd_name);
  } catch (const std::exception& e) {
    return Runtime(cmd_name, std::string("unexpected error: ") + e.what());
  }
}

}  // namespace
}  // namespace pulse::sync_server

int main(int argc, char** argv) { return pulse::sync_server::Main(argc, argv); }
