// clinicctl: a headless clinic (DESIGN.md §2 tools/). It drives a clinic
// replica from the command line — create it, register and edit patients as
// a signed-in user, sync it with the server, show its status and open
// conflicts — for scripts, the demo and end-to-end tests.
//
// Secrets never come from the command line (where `ps` shows them): the
// site passphrase from PULSE_PASSPHRASE or --passphrase-file, a user's
// password from PULSE_USER_PASSWORD or --password-file. They are never
// printed.
//
// Exit codes: 0 success, 1 runtime error (message on stderr), 2 usage.
#include <cstdlib>
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

#include "pulse/engine/curl_transport.h"
#include "pulse/engine/replica.h"
#include "pulse/engine/sync_client.h"

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
  status      replica and last-sync status (no patient data)
  conflicts   list open conflicts

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
  for (const char* number : {"kdf-mem-mib", "kdf-ops", "batch-size"}) {
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
