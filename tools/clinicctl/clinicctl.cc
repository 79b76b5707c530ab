// clinicctl: a headless clinic (DESIGN.md §2 tools/). It drives a clinic
// replica from the command line — create it, register and edit patients as
// a signed-in user, sync it with the server, show its status and open
// conflicts, record an ECG into it, check an account online and print the
// replica's canonical state hash — for scripts, the demo and end-to-end
// tests.
//
// Secrets never come from the command line (where `ps` shows them): the
// site passphrase from PULSE_PASSPHRASE or --passphrase-file, a user's
// password from PULSE_USER_PASSWORD or --password-file. They are never
// printed.
//
// Exit codes: 0 success, 1 runtime error (message on stderr), 2 usage.
#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "pulse/dsp/ecg_synth.h"
#include "pulse/dsp/wfdb_file.h"
#include "pulse/engine/curl_transport.h"
#include "pulse/engine/devices.h"
#include "pulse/engine/merge.h"
#include "pulse/engine/recordings.h"
#include "pulse/engine/replica.h"
#include "pulse/engine/sync_client.h"
#include "pulse/engine/sync_protocol.h"

namespace {

using ::nlohmann::json;
using namespace ::pulse;
using namespace ::pulse::engine;

constexpr int kExitOk = 0;
constexpr int kExitRuntime = 1;
constexpr int kExitUsage = 2;

constexpr const char* kMainHelp =
    R"(usage: clinicctl <command> [options]

A headless clinic replica.

commands:
  init        create a replica
  patient     add | list | set  patients (as a signed-in user)
  sync        push and pull once with the sync server
  login       check an account online; print its role
  record      record an ECG (synthetic or a WFDB record) for a patient
  status      replica and last-sync status (no patient data)
  conflicts   list open conflicts
  hash        canonical state hash of the replica (convergence checks)

Every command takes --help and --json. Secrets come from the environment
(PULSE_PASSPHRASE, PULSE_USER_PASSWORD) or from --passphrase-file /
--password-file. Exit codes: 0 ok, 1 error, 2 usage.
)";

struct Command {
  std::string name;  // "init", "patient add", ...
  std::string help;
  std::set<std::string> required;
  std::set<std::string> optional;  // options taking a value
};

const std::string kSecretOpts =
    "  --passphrase-file F  site passphrase (else env PULSE_PASSPHRASE)\n";
const std::string kUserOpts =
    "  --user U             sign in as U (offline, against the replica)\n"
    "  --password-file F    U's password (else env PULSE_USER_PASSWORD)\n";

std::vector<Command> Commands() {
  return {
      {"init",
       "usage: clinicctl init --dir D --site SITE_UUID [options]\n\n"
       "Creates a clinic replica in D (which must not exist or be empty).\n\n" +
           kSecretOpts +
           "  --kdf-mem-mib N      Argon2id memory for the key file (default "
           "256)\n"
           "  --kdf-ops N          Argon2id passes (default 3)\n"
           "  --json               machine-readable output\n",
       {"dir", "site"},
       {"passphrase-file", "kdf-mem-mib", "kdf-ops"}},
      {"patient add",
       "usage: clinicctl patient add --dir D --user U --mrn M --given G "
       "--family F [--birth-date YYYY-MM-DD] [--sex F|M|X|U]\n\n"
       "Registers a patient as user U; prints the new patient id.\n\n" +
           kSecretOpts + kUserOpts +
           "  --phone P, --address A  optional fields\n"
           "  --json               machine-readable output\n",
       {"dir", "user", "mrn", "given", "family"},
       {"passphrase-file", "password-file", "birth-date", "sex", "phone",
        "address"}},
      {"patient list",
       "usage: clinicctl patient list --dir D --user U [--query TEXT]\n\n"
       "Lists live patients U may see (each view is audited).\n\n" +
           kSecretOpts + kUserOpts +
           "  --query TEXT         MRN or name prefix\n"
           "  --json               machine-readable output\n",
       {"dir", "user"},
       {"passphrase-file", "password-file", "query"}},
      {"patient set",
       "usage: clinicctl patient set --dir D --user U --id PID --field F "
       "--value V\n\n"
       "Changes one field of patient PID. F is one of mrn, given_name,\n"
       "family_name, birth_date, sex, phone, address.\n\n" +
           kSecretOpts + kUserOpts + "  --json               machine-readable output\n",
       {"dir", "user", "id", "field", "value"},
       {"passphrase-file", "password-file"}},
      {"sync",
       "usage: clinicctl sync --dir D --server URL --user U [options]\n\n"
       "Logs in to the server as U (online; U need not exist locally yet),\n"
       "pushes the outbox and pulls until up to date; prints the counts.\n"
       "URL is https://host[:port]; http:// only to a loopback host.\n\n" +
           kSecretOpts +
           "  --user U             the server account\n"
           "  --password-file F    U's password (else env PULSE_USER_PASSWORD)\n"
           "  --ca-file F          trusted CA certificates (PEM)\n"
           "  --batch-size N       changes per push batch (default 1000)\n"
           "  --json               machine-readable output\n",
       {"dir", "server", "user"},
       {"passphrase-file", "password-file", "ca-file", "batch-size"}},
      {"status",
       "usage: clinicctl status --dir D\n\n"
       "Shows the replica's identity, schema, outbox and last sync.\n\n" +
           kSecretOpts + "  --json               machine-readable output\n",
       {"dir"},
       {"passphrase-file"}},
      {"conflicts",
       "usage: clinicctl conflicts --dir D --user U\n\n"
       "Lists the open conflicts U may see.\n\n" +
           kSecretOpts + kUserOpts + "  --json               machine-readable output\n",
       {"dir", "user"},
       {"passphrase-file", "password-file"}},
      {"login",
       "usage: clinicctl login --server URL --user U [options]\n\n"
       "Logs in to the server as U (online), prints U's role and site, and\n"
       "logs out again. Needs no replica. Exit 1 if the server refuses.\n\n"
       "  --password-file F    U's password (else env PULSE_USER_PASSWORD)\n"
       "  --ca-file F          trusted CA certificates (PEM)\n"
       "  --json               machine-readable output\n",
       {"server", "user"},
       {"password-file", "ca-file"}},
      {"record",
       "usage: clinicctl record --dir D --user U --patient PID --from SOURCE "
       "[options]\n\n"
       "Records an ECG for patient PID as user U: SOURCE is `synthetic` (a\n"
       "12-lead sinus rhythm) or the path of a WFDB record without extension\n"
       "(e.g. ../shared/data/mitdb/100). The samples are stored as waveform\n"
       "segments (blobs) and the recording completed; prints its id.\n\n" +
           kSecretOpts + kUserOpts +
           "  --seconds N          length to record (default: synthetic 10,\n"
           "                       WFDB the whole record)\n"
           "  --segment-seconds N  seconds per segment (default 10)\n"
           "  --device-serial S    the recorder's serial; registered at this\n"
           "                       site if new (default SIM-<device id>)\n"
           "  --json               machine-readable output\n",
       {"dir", "user", "patient", "from"},
       {"passphrase-file", "password-file", "seconds", "segment-seconds",
        "device-serial"}},
      {"hash",
       "usage: clinicctl hash --dir D [--site S]\n\n"
       "Prints the canonical state hash (BLAKE2b-256, hex) of the replica's\n"
       "replicated tables, or of site S's rows only. Two replicas hold the\n"
       "same merged state exactly when their hashes are equal; a clinic\n"
       "equals the central store's hash for its site (pulse-sync-server\n"
       "state-hash --site). No patient data is printed.\n\n" +
           kSecretOpts +
           "  --site S             only rows of site S (a UUID)\n"
           "  --json               machine-readable output\n",
       {"dir"},
       {"passphrase-file", "site"}},
  };
}

struct UsageError {
  std::string message;
};
struct RuntimeError {
  std::string message;
};

struct Args {
  const Command* command = nullptr;
  std::map<std::string, std::string> values;
  bool json = false;
  bool help = false;

  const std::string& Get(const std::string& key) const {
    static const std::string kEmpty;
    auto it = values.find(key);
    return it == values.end() ? kEmpty : it->second;
  }
  bool Has(const std::string& key) const { return values.count(key) != 0; }
};

std::string ReadSecretFile(const std::string& path, const char* what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw RuntimeError{std::string(what) + " file '" + path + "' cannot be read"};
  std::string text((std::istreambuf_iterator<char>(in)),
                   std::istreambuf_iterator<char>());
  if (!text.empty() && text.back() == '\n') text.pop_back();
  if (!text.empty() && text.back() == '\r') text.pop_back();
  if (text.empty()) throw RuntimeError{std::string(what) + " file '" + path + "' is empty"};
  return text;
}

std::string Secret(const Args& args, const std::string& file_option,
                   const char* env, const char* what) {
  if (args.Has(file_option)) return ReadSecretFile(args.Get(file_option), what);
  const char* value = std::getenv(env);
  if (value != nullptr && *value != '\0') return value;
  throw RuntimeError{std::string("no ") + what + ": set " + env + " or pass --" +
                     file_option};
}

std::string Passphrase(const Args& args) {
  return Secret(args, "passphrase-file", "PULSE_PASSPHRASE", "site passphrase");
}
std::string UserPassword(const Args& args) {
  return Secret(args, "password-file", "PULSE_USER_PASSWORD", "user password");
}

[[noreturn]] void Throw(const Error& e, const std::string& context) {
  throw RuntimeError{context + ": " + e.ToString()};
}

std::unique_ptr<ClinicReplica> OpenReplica(const Args& args) {
  const std::string& dir = args.Get("dir");
  const std::string passphrase = Passphrase(args);
  auto replica = ClinicReplica::Open(dir, passphrase);
  if (!replica) {
    if (replica.error().code() == ErrorCode::kPermissionDenied) {
      throw RuntimeError{"cannot open replica '" + dir +
                         "': wrong passphrase"};
    }
    Throw(replica.error(), "cannot open replica '" + dir + "'");
  }
  return std::move(*replica);
}

Principal SignInAs(ClinicReplica& replica, const Args& args) {
  const std::string& user = args.Get("user");
  const std::string password = UserPassword(args);
  auto result = replica.sign_in().Login(user, password);
  if (!result) Throw(result.error(), "sign-in as '" + user + "'");
  if (!result->ok() || !result->principal) {
    std::string why = "invalid user name or password";
    if (result->result == LoginResult::kAccountDisabled) why = "account disabled";
    if (result->result == LoginResult::kLockedOut) {
      why = "locked out; retry in " + std::to_string(result->retry_after.count()) + " s";
    }
    throw RuntimeError{"sign-in as '" + user + "' refused: " + why +
                       " (users arrive with `clinicctl sync`)"};
  }
  return *result->principal;
}

json ValueJson(const FieldValue& value) {
  return std::visit(
      [](const auto& v) -> json {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, std::nullptr_t>) {
          return nullptr;
        } else if constexpr (std::is_same_v<T, Blob>) {
          return "<" + std::to_string(v.bytes.size()) + " bytes>";
        } else {
          return v;
        }
      },
      value);
}

json PatientJson(const Patient& p) {
  return json{{"id", p.id},
              {"site_id", p.site_id},
              {"mrn", p.fields.mrn},
              {"given_name", p.fields.given_name},
              {"family_name", p.fields.family_name},
              {"birth_date", p.fields.birth_date},
              {"sex", p.fields.sex},
              {"phone", p.fields.phone},
              {"address", p.fields.address}};
}

void Print(const Args& args, const json& j, const std::string& text) {
  if (args.json) {
    std::cout << j.dump() << "\n";
  } else {
    std::cout << text;
  }
}

// --- Commands ---

int RunInit(const Args& args) {
  auto site = Uuid::Parse(args.Get("site"));
  if (!site || site->IsNil()) {
    throw UsageError{"--site: not a UUID: '" + args.Get("site") + "'"};
  }
  ReplicaOptions options;
  if (args.Has("kdf-mem-mib")) {
    options.kdf.mem_limit_bytes =
        static_cast<std::uint64_t>(std::stoull(args.Get("kdf-mem-mib"))) << 20;
  }
  if (args.Has("kdf-ops")) {
    options.kdf.ops_limit = std::stoull(args.Get("kdf-ops"));
  }
  const std::string passphrase = Passphrase(args);
  auto replica = ClinicReplica::Create(args.Get("dir"),
                                       ReplicaSetup{*site, passphrase}, options);
  if (!replica) {
    if (replica.error().code() == ErrorCode::kAlreadyExists) {
      throw RuntimeError{"'" + args.Get("dir") +
                         "' already holds a replica or is not empty; "
                         "nothing was changed"};
    }
    Throw(replica.error(), "cannot create replica '" + args.Get("dir") + "'");
  }
  const std::string device = (*replica)->device_id().ToString();
  Print(args,
        json{{"dir", args.Get("dir")}, {"site_id", site->ToString()},
             {"device_id", device}},
        "created replica " + args.Get("dir") + " (site " + site->ToString() +
            ", device " + device + ")\n");
  return kExitOk;
}

int RunPatientAdd(const Args& args) {
  auto replica = OpenReplica(args);
  const Principal who = SignInAs(*replica, args);
  PatientInput in;
  in.mrn = args.Get("mrn");
  in.given_name = args.Get("given");
  in.family_name = args.Get("family");
  in.birth_date = args.Has("birth-date") ? args.Get("birth-date") : "1900-01-01";
  in.sex = args.Has("sex") ? args.Get("sex") : "U";
  in.phone = args.Get("phone");
  in.address = args.Get("address");
  auto id = replica->patients().Register(who, in);
  if (!id) Throw(id.error(), "patient add");
  Print(args, json{{"id", *id}}, *id + "\n");
  return kExitOk;
}

int RunPatientList(const Args& args) {
  auto replica = OpenReplica(args);
  const Principal who = SignInAs(*replica, args);
  PatientQuery query;
  query.text = args.Get("query");
  query.limit = 200;
  auto found = replica->patients().Search(who, query);
  if (!found) Throw(found.error(), "patient list");
  json list = json::array();
  std::string text;
  for (const Patient& p : *found) {
    list.push_back(PatientJson(p));
    text += p.id + "  " + p.fields.mrn + "  " + p.fields.family_name + ", " +
            p.fields.given_name + "  " + p.fields.birth_date + "  " +
            p.fields.sex + "\n";
  }
  Print(args, json{{"patients", list}}, text);
  return kExitOk;
}

int RunPatientSet(const Args& args) {
  PatientChanges changes;
  const std::string& field = args.Get("field");
  const std::string& value = args.Get("value");
  std::map<std::string, std::optional<std::string>*> fields = {
      {"mrn", &changes.mrn},
      {"given_name", &changes.given_name},
      {"family_name", &changes.family_name},
      {"birth_date", &changes.birth_date},
      {"sex", &changes.sex},
      {"phone", &changes.phone},
      {"address", &changes.address}};
  auto it = fields.find(field);
  if (it == fields.end()) {
    throw UsageError{"--field: unknown patient field '" + field + "'"};
  }
  *it->second = value;
  auto replica = OpenReplica(args);
  const Principal who = SignInAs(*replica, args);
  if (auto s = replica->patients().Update(who, args.Get("id"), changes); !s) {
    Throw(s.error(), "patient set");
  }
  Print(args, json{{"id", args.Get("id")}, {"field", field}},
        "updated " + field + " of " + args.Get("id") + "\n");
  return kExitOk;
}

int RunSync(const Args& args) {
  auto replica = OpenReplica(args);
  CurlTransportOptions transport_options;
  transport_options.base_url = args.Get("server");
  transport_options.ca_file = args.Get("ca-file");
  auto transport = CurlTransport::Create(transport_options);
  if (!transport) Throw(transport.error(), "sync");
  SyncClientOptions options;
  options.username = args.Get("user");
  options.interval = std::chrono::milliseconds(0);
  if (args.Has("batch-size")) {
    options.push_batch_size = std::stoul(args.Get("batch-size"));
  }
  // Read the password now so that a missing one is reported before any
  // network traffic.
  auto password = std::make_shared<std::string>(UserPassword(args));
  options.password = [password] { return Result<std::string>(*password); };
  auto client = SyncClient::Create(*replica, **transport, options);
  if (!client) Throw(client.error(), "sync");
  Status s = (*client)->SyncOnce();
  const SyncState state = (*client)->GetState();
  if (!s) Throw(s.error(), "sync");
  const SyncCounts& c = state.last_counts;
  json j{{"pushed", c.pushed_changes},
         {"accepted", c.accepted},
         {"push_batches", c.push_batches},
         {"pulled", c.pulled_changes},
         {"applied", c.applied},
         {"server_conflicts", c.server_conflicts},
         {"missing_blobs", c.missing_blobs.size()},
         {"pending", state.pending_changes},
         {"clock_skew_warning", state.clock_skew_warning},
         {"clock_skew_ms", state.clock_skew_ms}};
  std::string text = "pushed " + std::to_string(c.pushed_changes) +
                     " changes (" + std::to_string(c.accepted) +
                     " new to the server), pulled " +
                     std::to_string(c.pulled_changes) + " (" +
                     std::to_string(c.applied) + " new here); " +
                     std::to_string(state.pending_changes) + " pending\n";
  if (state.clock_skew_warning) {
    text += "warning: this PC's clock differs from the server's by " +
            std::to_string(state.clock_skew_ms / 1000) + " s\n";
  }
  Print(args, j, text);
  return kExitOk;
}

std::optional<std::string> StateText(Database& db, std::string_view key) {
  auto stmt = db.Prepare("SELECT CAST(value AS TEXT) FROM sync_state WHERE key = ?");
  if (!stmt || !stmt->BindText(1, key)) return std::nullopt;
  auto row = stmt->Step();
  if (!row || !*row || stmt->IsNull(0)) return std::nullopt;
  auto text = stmt->ColumnText(0);
  if (!text) return std::nullopt;
  return std::string(*text);
}

int RunStatus(const Args& args) {
  auto replica = OpenReplica(args);
  auto status = replica->GetStatus();
  if (!status) Throw(status.error(), "status");
  Database& db = replica->database();
  std::int64_t unpushed = 0;
  if (auto stmt = db.Prepare(
          "SELECT count(*) FROM change_log WHERE pushed_at_ms IS NULL")) {
    if (auto row = stmt->Step(); row && *row) unpushed = stmt->ColumnInt64(0).value_or(0);
  }
  const auto cursor = StateText(db, kPullCursorKey);
  const auto ok_ms = StateText(db, kLastSyncOkKey);
  const auto error = StateText(db, kLastSyncErrorKey);
  json j{{"dir", args.Get("dir")},
         {"site_id", replica->site_id().ToString()},
         {"device_id", replica->device_id().ToString()},
         {"schema_version", status->schema_version},
         {"pending_changes", status->pending_changes},
         {"unpushed_changes", unpushed},
         {"hlc_high_water", status->hlc_high_water.ToString()},
         {"pull_cursor", cursor ? json(std::stoll(*cursor)) : json(0)},
         {"last_sync_ok_ms", ok_ms ? json(std::stoll(*ok_ms)) : json(nullptr)},
         {"last_sync_error", error ? json(*error) : json(nullptr)}};
  std::ostringstream text;
  text << "site            " << replica->site_id().ToString() << "\n"
       << "device          " << replica->device_id().ToString() << "\n"
       << "schema version  " << status->schema_version << "\n"
       << "not yet sent    " << status->pending_changes << " changes\n"
       << "not yet acked   " << unpushed << " changes\n"
       << "pull cursor     " << (cursor ? *cursor : "0") << "\n"
       << "last sync ok    " << (ok_ms ? *ok_ms + " (Unix ms)" : "never") << "\n";
  if (error) text << "last sync error " << *error << "\n";
  Print(args, j, text.str());
  return kExitOk;
}

int RunConflicts(const Args& args) {
  auto replica = OpenReplica(args);
  const Principal who = SignInAs(*replica, args);
  json list = json::array();
  std::string text;
  ConflictQuery query;
  query.limit = 200;
  for (;;) {
    auto page = replica->conflicts().List(who, query);
    if (!page) Throw(page.error(), "conflicts");
    for (const OpenConflict& c : page->conflicts) {
      list.push_back(json{{"id", c.id},
                          {"table", c.table},
                          {"row", c.row},
                          {"column", c.column},
                          {"kind", c.kind},
                          {"loser_value", ValueJson(c.loser_value)},
                          {"loser_author", c.loser_author},
                          {"loser_site", c.loser_site},
                          {"loser_hlc", c.loser_hlc.ToString()},
                          {"current_value", ValueJson(c.current_value)},
                          {"row_deleted", c.row_deleted},
                          {"redacted", c.redacted}});
      text += c.id.substr(0, 12) + "  " + c.table + "." + c.column + "  row " +
              c.row + "  " + c.kind + "  loser " + ValueJson(c.loser_value).dump() +
              " vs current " + ValueJson(c.current_value).dump() + "\n";
    }
    if (!page->next_after) break;
    query.after = *page->next_after;
  }
  if (list.empty()) text = "no open conflicts\n";
  Print(args, json{{"conflicts", list}}, text);
  return kExitOk;
}

int RunHash(const Args& args) {
  std::optional<std::string> site;
  if (args.Has("site")) {
    auto parsed = Uuid::Parse(args.Get("site"));
    if (!parsed || parsed->IsNil()) {
      throw UsageError{"--site: not a UUID: '" + args.Get("site") + "'"};
    }
    site = parsed->ToString();
  }
  auto replica = OpenReplica(args);
  auto hash = site ? CanonicalSiteStateHash(replica->database(), *site)
                   : CanonicalStateHash(replica->database());
  if (!hash) Throw(hash.error(), "hash");
  Print(args,
        json{{"hash", *hash},
             {"site_id", replica->site_id().ToString()},
             {"device_id", replica->device_id().ToString()},
             {"restricted_to", site ? json(*site) : json(nullptr)}},
        *hash + "\n");
  return kExitOk;
}

// POST /api/v1/auth/login, then logout: the credentials are checked by the
// server, and no session is left behind.
int RunLogin(const Args& args) {
  CurlTransportOptions transport_options;
  transport_options.base_url = args.Get("server");
  transport_options.ca_file = args.Get("ca-file");
  auto transport = CurlTransport::Create(transport_options);
  if (!transport) Throw(transport.error(), "login");
  std::string password = UserPassword(args);
  HttpRequest request;
  request.method = "POST";
  request.target = "/api/v1/auth/login";
  request.headers = {{"Content-Type", "application/json"}};
  request.body = sync::EncodeLoginRequest({args.Get("user"), password});
  password.assign(password.size(), '\0');
  auto response = (*transport)->Send(request);
  request.body.assign(request.body.size(), '\0');
  if (!response) Throw(response.error(), "login");
  if (response->status != 200) {
    std::string detail = "HTTP " + std::to_string(response->status);
    if (auto problem = sync::DecodeProblem(response->body)) {
      detail += ": " + problem->detail;
    }
    throw RuntimeError{"login as '" + args.Get("user") + "' refused (" +
                       detail + ")"};
  }
  auto login = sync::DecodeLoginResponse(response->body);
  if (!login) Throw(login.error(), "login: unreadable answer");
  HttpRequest logout;
  logout.method = "POST";
  logout.target = "/api/v1/auth/logout";
  logout.headers = {{"Authorization", "Bearer " + login->token}};
  auto out = (*transport)->Send(logout);
  login->token.assign(login->token.size(), '\0');
  const bool logged_out = out && out->status / 100 == 2;
  Print(args,
        json{{"user", args.Get("user")},
             {"user_id", login->user_id},
             {"role", login->role},
             {"site_id", login->site ? json(*login->site) : json(nullptr)},
             {"logged_out", logged_out}},
        args.Get("user") + ": " + login->role +
            (login->site ? " at site " + *login->site : std::string()) + "\n");
  return kExitOk;
}

// A recording source in ADC units with its lead names and lsb.
struct Samples {
  double sample_rate_hz = 0;
  std::vector<std::string> leads;
  std::int64_t lsb_nv = 0;
  std::vector<std::int16_t> interleaved;
};

std::int64_t PositiveOption(const Args& args, const char* name,
                            std::int64_t fallback) {
  if (!args.Has(name)) return fallback;
  const std::int64_t v = std::stoll(args.Get(name));
  if (v < 1) throw UsageError{std::string("--") + name + ": must be at least 1"};
  return v;
}

Samples SyntheticSamples(std::int64_t seconds) {
  dsp::EcgSynthConfig config;
  config.sample_rate_hz = 500.0;
  config.duration_s = static_cast<double>(seconds);
  auto ecg = dsp::SynthesizeEcg(config);
  if (!ecg) Throw(ecg.error(), "record: synthetic ECG");
  Samples out;
  out.sample_rate_hz = ecg->sample_rate_hz;
  for (std::string_view lead : kStandardLeadNames) out.leads.emplace_back(lead);
  out.lsb_nv = 1000;  // 1 uV per unit: +-32 mV in int16
  out.interleaved.reserve(ecg->interleaved_mv.size());
  for (float mv : ecg->interleaved_mv) {
    const double adu = std::round(static_cast<double>(mv) * 1000.0);
    out.interleaved.push_back(static_cast<std::int16_t>(
        std::clamp(adu, -32768.0, 32767.0)));
  }
  return out;
}

// WFDB signal descriptions ("MLII", "V1", "v5", "ECG lead I") to standard
// lead names; "" if there is none.
std::string StandardLead(std::string description) {
  std::string upper;
  for (char c : description) {
    if (!std::isspace(static_cast<unsigned char>(c))) {
      upper.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
    }
  }
  if (upper.rfind("ECGLEAD", 0) == 0) upper = upper.substr(7);
  if (upper.rfind("ML", 0) == 0) upper = upper.substr(2);  // modified limb
  for (std::string_view lead : kStandardLeadNames) {
    std::string name(lead);
    std::transform(name.begin(), name.end(), name.begin(),
                   [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
    if (upper == name) return std::string(lead);
  }
  return "";
}

Samples WfdbSamples(const std::string& path, std::optional<std::int64_t> seconds) {
  auto record = dsp::wfdb::ReadRecord(path);
  if (!record) Throw(record.error(), "record: WFDB record '" + path + "'");
  Samples out;
  out.sample_rate_hz = record->header.sampling_frequency_hz;
  const int channels = record->num_signals();
  if (channels < 1) throw RuntimeError{"record: '" + path + "' has no signals"};
  std::vector<int> baseline;
  std::vector<double> lsb_of;  // nV per ADC unit, per signal
  for (int c = 0; c < channels; ++c) {
    const auto& spec = record->header.signals[static_cast<std::size_t>(c)];
    const std::string lead = StandardLead(spec.description);
    if (lead.empty() ||
        std::find(out.leads.begin(), out.leads.end(), lead) != out.leads.end()) {
      throw RuntimeError{"record: signal " + std::to_string(c) + " of '" + path +
                         "' ('" + spec.description +
                         "') is not a distinct standard ECG lead"};
    }
    out.leads.push_back(lead);
    auto mv_per_adu = dsp::wfdb::MillivoltsPerAdu(spec);
    if (!mv_per_adu) Throw(mv_per_adu.error(), "record: '" + path + "'");
    lsb_of.push_back(*mv_per_adu * 1e6);
    baseline.push_back(spec.baseline_adu);
  }
  // One lsb per recording: the record's own when every signal shares a
  // whole number of nanovolts per unit (lossless), else 1 uV per unit with
  // each signal rescaled.
  const double first = lsb_of.front();
  const bool shared = std::all_of(lsb_of.begin(), lsb_of.end(), [&](double l) {
    return std::abs(l - first) <= 1e-9 * first;
  });
  const bool whole = std::abs(first - std::round(first)) < 1e-6 && first >= 1 &&
                     first <= 1e6;
  out.lsb_nv = shared && whole ? std::llround(first) : 1000;
  std::int64_t frames = record->num_frames();
  if (seconds) {
    frames = std::min<std::int64_t>(
        frames, static_cast<std::int64_t>(static_cast<double>(*seconds) * out.sample_rate_hz));
  }
  out.interleaved.reserve(static_cast<std::size_t>(frames * channels));
  for (std::int64_t f = 0; f < frames; ++f) {
    for (int c = 0; c < channels; ++c) {
      const auto i = static_cast<std::size_t>(c);
      const double v = static_cast<double>(record->at(f, c) - baseline[i]) *
                       lsb_of[i] / static_cast<double>(out.lsb_nv);
      out.interleaved.push_back(static_cast<std::int16_t>(
          std::clamp(std::round(v), -32768.0, 32767.0)));
    }
  }
  return out;
}

int RunRecord(const Args& args) {
  const std::string& from = args.Get("from");
  const std::int64_t segment_seconds = PositiveOption(args, "segment-seconds", 10);
  std::optional<std::int64_t> seconds;
  if (args.Has("seconds")) seconds = PositiveOption(args, "seconds", 10);
  // Read the source before opening the replica: a bad path changes nothing.
  const Samples samples = from == "synthetic"
                              ? SyntheticSamples(seconds.value_or(10))
                              : WfdbSamples(from, seconds);
  const int channels = static_cast<int>(samples.leads.size());
  const std::int64_t frames =
      static_cast<std::int64_t>(samples.interleaved.size()) / channels;
  if (frames == 0) throw RuntimeError{"record: the source holds no samples"};

  auto replica = OpenReplica(args);
  const Principal who = SignInAs(*replica, args);
  const std::string serial =
      args.Has("device-serial")
          ? args.Get("device-serial")
          : "SIM-" + replica->device_id().ToString().substr(0, 8);
  auto devices = replica->devices().List(who, replica->site_id());
  if (!devices) Throw(devices.error(), "record: devices");
  std::string device_id;
  for (const Device& d : *devices) {
    if (d.fields.serial == serial) device_id = d.id;
  }
  if (device_id.empty()) {
    DeviceInput in;
    in.serial = serial;
    in.kind = "ecg";
    in.model = "clinicctl recorder";
    auto id = replica->devices().Register(who, in);
    if (!id) Throw(id.error(), "record: registering device '" + serial + "'");
    device_id = *id;
  }
  RecordingStart start;
  start.patient_id = args.Get("patient");
  start.device_id = device_id;
  start.started_at_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
  start.sample_rate_hz = samples.sample_rate_hz;
  start.lead_names = samples.leads;
  start.lsb_nv = samples.lsb_nv;
  RecordingRepository& recordings = replica->recordings();
  auto id = recordings.Start(who, start);
  if (!id) Throw(id.error(), "record");
  const std::int64_t per_segment = std::max<std::int64_t>(
      1, static_cast<std::int64_t>(static_cast<double>(segment_seconds) * samples.sample_rate_hz));
  json blobs = json::array();
  std::int64_t seq = 0;
  for (std::int64_t first = 0; first < frames; first += per_segment, ++seq) {
    const std::int64_t count = std::min(per_segment, frames - first);
    const std::span<const std::int16_t> chunk(
        samples.interleaved.data() + first * channels,
        static_cast<std::size_t>(count * channels));
    auto segment = recordings.AppendSegment(who, *id, seq, first, chunk, channels);
    if (!segment) {
      // Leave no recording half-open: mark it failed, report the cause.
      (void)recordings.MarkFailed(who, *id, "cancelled");
      Throw(segment.error(), "record: segment " + std::to_string(seq));
    }
    blobs.push_back(segment->blob_sha256);
  }
  const std::int64_t duration_ms = static_cast<std::int64_t>(
      std::ceil(static_cast<double>(frames) * 1000.0 / samples.sample_rate_hz));
  if (Status s = recordings.Complete(who, *id, start.started_at_ms + duration_ms,
                                     "good");
      !s) {
    Throw(s.error(), "record: complete");
  }
  Print(args,
        json{{"id", *id},
             {"device_id", device_id},
             {"leads", samples.leads},
             {"sample_rate_hz", samples.sample_rate_hz},
             {"frames", frames},
             {"segments", seq},
             {"blobs", blobs}},
        *id + "\n");
  return kExitOk;
}

// --- Argument parsing ---

// Fills `args` as it goes, so that a usage error can show the help of the
// command it was about.
void Parse(int argc, char** argv, Args& args) {
  std::vector<std::string> words(argv + 1, argv + argc);
  if (words.empty()) throw UsageError{"no command given"};
  if (words[0] == "--help" || words[0] == "-h" || words[0] == "help") {
    args.help = true;
    return;
  }
  static const std::vector<Command> commands = Commands();
  std::size_t used = 0;
  for (const Command& c : commands) {
    std::istringstream parts(c.name);
    std::vector<std::string> name_words{std::istream_iterator<std::string>(parts),
                                        std::istream_iterator<std::string>()};
    if (words.size() >= name_words.size() &&
        std::equal(name_words.begin(), name_words.end(), words.begin())) {
      args.command = &c;
      used = name_words.size();
      break;
    }
  }
  if (args.command == nullptr) {
    if (words[0] == "patient") {
      throw UsageError{words.size() > 1 && words[1].rfind("--", 0) != 0
                           ? "unknown patient command '" + words[1] +
                                 "' (add, list, set)"
                           : "patient needs a subcommand: add, list or set"};
    }
    throw UsageError{"unknown command '" + words[0] + "'"};
  }
  for (std::size_t i = used; i < words.size(); ++i) {
    const std::string& w = words[i];
    if (w == "--help" || w == "-h") {
      args.help = true;
      return;
    }
    if (w == "--json") {
      args.json = true;
      continue;
    }
    if (w.rfind("--", 0) != 0) throw UsageError{"unexpected argument '" + w + "'"};
    const std::string key = w.substr(2);
    if (!args.command->required.count(key) && !args.command->optional.count(key)) {
      throw UsageError{"unknown option '" + w + "' for " + args.command->name};
    }
    if (i + 1 >= words.size()) throw UsageError{"option '" + w + "' needs a value"};
    args.values[key] = words[++i];
  }
  for (const std::string& key : args.command->required) {
    if (!args.Has(key)) throw UsageError{"missing --" + key};
  }
  for (const char* number : {"kdf-mem-mib", "kdf-ops", "batch-size", "seconds",
                             "segment-seconds"}) {
    if (!args.Has(number)) continue;
    const std::string& v = args.Get(number);
    if (v.empty() || v.size() > 9 ||
        v.find_first_not_of("0123456789") != std::string::npos) {
      throw UsageError{std::string("--") + number + ": not a positive number: '" +
                       v + "'"};
    }
  }
}

int Dispatch(const Args& args) {
  const std::string& name = args.command->name;
  if (name == "init") return RunInit(args);
  if (name == "patient add") return RunPatientAdd(args);
  if (name == "patient list") return RunPatientList(args);
  if (name == "patient set") return RunPatientSet(args);
  if (name == "sync") return RunSync(args);
  if (name == "status") return RunStatus(args);
  if (name == "login") return RunLogin(args);
  if (name == "record") return RunRecord(args);
  if (name == "hash") return RunHash(args);
  return RunConflicts(args);
}

}  // namespace

int main(int argc, char** argv) {
  Args args;
  try {
    Parse(argc, argv, args);
    if (args.help) {
      std::cout << (args.command != nullptr ? args.command->help : kMainHelp);
      return kExitOk;
    }
    return Dispatch(args);
  } catch (const UsageError& e) {
    std::cerr << "clinicctl: " << e.message << "\n";
    if (args.command != nullptr) {
      std::cerr << args.command->help;
    } else {
      std::cerr << "run 'clinicctl --help' for the commands\n";
    }
    return kExitUsage;
  } catch (const RuntimeError& e) {
    std::cerr << "clinicctl: " << e.message << "\n";
    return kExitRuntime;
  } catch (const std::exception& e) {
    std::cerr << "clinicctl: internal error: " << e.what() << "\n";
    return kExitRuntime;
  }
}
