// audit-verify: proves audit logs intact, or names the first broken or
// missing entry (DESIGN.md §6; docs/security.md "Audit").
//
//   audit-verify --db DIR [--site UUID] [--public-key HEX] [--json]
//       DIR is a clinic replica or a central store directory (replica.key +
//       replica.db). The passphrase comes from $PULSE_PASSPHRASE (or
//       $PULSE_STORE_PASSPHRASE); the database is opened read-only
//       (query_only), so it may run beside a live server. Verifies every
//       site's chain from genesis (or one site's); for a central store also
//       every checkpoint — gapless, canonical, Ed25519 signature, chained
//       by prev, and its global_log hash recomputed from the rows — and
//       each chain against the newest intact checkpoint's head (truncation
//       or a rewritten prefix shows there).
//   audit-verify --server URL --user NAME [--site UUID] [--public-key HEX]
//                [--json]
//       The same through the auditor API, with the password from
//       $PULSE_USER_PASSWORD: the records come from
//       /api/v1/audit/sites/{site}/chain and are verified here, not by the
//       server; the checkpoints' signatures and prev chain are checked
//       (their global_log hashes need the database).
//
//   --public-key pins the checkpoint key: a checkpoint signed by any other
//   key is broken (without it, the key stored in / served by the server is
//   trusted).
//
// Exit: 0 all intact; 1 a chain or checkpoint is broken (each named: site,
// seq, reason); 2 usage, I/O, credentials or server errors.
#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "pulse/engine/audit.h"
#include "pulse/engine/change.h"
#include "pulse/engine/curl_transport.h"
#include "pulse/engine/database.h"
#include "pulse/engine/hash.h"
#include "pulse/engine/key_file.h"
#include "pulse/engine/replica.h"
#include "pulse/engine/sync_protocol.h"
#include "pulse/engine/uuid.h"
#include "pulse/sync_server/audit_checkpoint.h"
#include "pulse/sync_server/audit_store_reader.h"

namespace {

using nlohmann::json;
using pulse::ErrorCode;
using pulse::Fail;
using pulse::Result;
using pulse::Status;
namespace engine = pulse::engine;
namespace ss = pulse::sync_server;

constexpr int kExitIntact = 0;
constexpr int kExitBroken = 1;
constexpr int kExitUsage = 2;

constexpr std::string_view kHelp =
    "usage: audit-verify (--db DIR | --server URL --user NAME) [--site UUID]\n"
    "                    [--public-key HEX] [--json]\n"
    "\n"
    "Verifies audit hash chains (and, for a central store or server, the\n"
    "signed checkpoints) and names the first broken or missing entry.\n"
    "\n"
    "  --db DIR          a clinic replica or central store directory; opened\n"
    "                    read-only. Passphrase from $PULSE_PASSPHRASE or\n"
    "                    $PULSE_STORE_PASSPHRASE\n"
    "  --server URL      the sync server (https://..., or http:// on\n"
    "                    loopback); with --user, password from\n"
    "                    $PULSE_USER_PASSWORD (an auditor account)\n"
    "  --site UUID       verify only this site's chain\n"
    "  --public-key HEX  the checkpoint key to trust (64 hex digits)\n"
    "  --json            one JSON object on stdout instead of text\n"
    "  --help            this text\n"
    "\n"
    "Exit codes: 0 intact, 1 a chain or checkpoint is broken, 2 usage or\n"
    "I/O error.\n";

struct Options {
  std::string db;
  std::string server;
  std::string user;
  std::optional<std::string> site;
  std::optional<std::string> public_key;
  bool json = false;
};

struct SiteResult {
  std::string site;
  engine::ChainReport report;
  std::int64_t stored_events = 0;
};

struct Outcome {
  std::optional<ss::CheckpointCheck> checkpoints;
  std::vector<SiteResult> sites;
  bool ok() const {
    if (checkpoints && !checkpoints->ok) return false;
    for (const SiteResult& s : sites) {
      if (!s.report.ok) return false;
    }
    return true;
  }
};

std::optional<std::string> Env(const char* name) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return std::nullopt;
  return std::string(v);
}

// The expected head of `site` from the newest intact checkpoint.
std::optional<engine::ChainHead> CheckpointHead(
    const std::optional<ss::CheckpointCheck>& check, const std::string& site) {
  if (!check || !check->newest) return std::nullopt;
  for (const ss::CheckpointSiteHead& h : check->newest->sites) {
    if (h.site != site || h.seq == 0) continue;
    auto bytes = engine::HexDecode(h.hash);
    if (!bytes || bytes->size() != 32) return std::nullopt;
    engine::ChainHead head;
    head.seq = h.seq;
    std::copy(bytes->begin(), bytes->end(), head.hash.begin());
    return head;
  }
  return std::nullopt;
}

std::map<std::string, std::string> PinnedOr(
    const Options& o, std::map<std::string, std::string> keys) {
  if (!o.public_key) return keys;
  auto bytes = engine::HexDecode(*o.public_key);
  std::map<std::string, std::string> pinned;
  if (bytes) pinned.emplace(ss::SigningKeyId(*bytes), *o.public_key);
  return pinned;
}

// --- database mode ---

Result<Outcome> VerifyDatabase(const Options& o) {
  std::optional<std::string> passphrase = Env("PULSE_PASSPHRASE");
  if (!passphrase) passphrase = Env("PULSE_STORE_PASSPHRASE");
  if (!passphrase) {
    return Fail(ErrorCode::kInvalidArgument,
                "no passphrase: set PULSE_PASSPHRASE or "
                "PULSE_STORE_PASSPHRASE");
  }
  const std::filesystem::path dir(o.db);
  auto key = engine::UnlockKeyFile(dir / engine::kReplicaKeyFileName,
                                   *passphrase);
  passphrase->assign(passphrase->size(), '\0');
  if (!key) return Fail(key.error());
  engine::DatabaseOptions dbo;
  dbo.create_if_missing = false;
  auto db = engine::Database::Open(dir / engine::kReplicaDatabaseFileName,
                                   key->bytes(), dbo);
  if (!db) return Fail(db.error());
  if (Status s = db->Execute("PRAGMA query_only = 1"); !s) {
    return Fail(s.error());
  }
  Outcome out;
  // A central store has the checkpoint tables; a clinic replica does not.
  bool central = false;
  {
    auto t = db->Prepare(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = "
        "'audit_checkpoints'");
    if (!t) return Fail(t.error());
    auto found = t->Step();
    if (!found) return Fail(found.error());
    central = *found;
  }
  if (central) {
    auto checkpoints = ss::ReadStoredCheckpoints(*db, 0, 0);
    if (!checkpoints) return Fail(checkpoints.error());
    auto keys = ss::ReadSigningPublicKeys(*db);
    if (!keys) return Fail(keys.error());
    ss::GlobalLogHashCursor cursor(*db);
    out.checkpoints = ss::VerifyCheckpointSequence(
        *checkpoints, PinnedOr(o, std::move(*keys)),
        [&cursor](std::int64_t seq) { return cursor.HashAt(seq); });
  }
  std::vector<std::string> sites;
  if (o.site) {
    sites.push_back(*o.site);
  } else {
    auto stored = ss::StoredAuditSites(*db);
    if (!stored) return Fail(stored.error());
    sites = std::move(*stored);
    // A site a checkpoint covers is checked even if all its rows are gone.
    if (out.checkpoints && out.checkpoints->newest) {
      for (const auto& h : out.checkpoints->newest->sites) {
        if (std::find(sites.begin(), sites.end(), h.site) == sites.end()) {
          sites.push_back(h.site);
        }
      }
      std::sort(sites.begin(), sites.end());
    }
  }
  for (const std::string& site : sites) {
    auto uuid = engine::Uuid::Parse(site);
    if (!uuid) continue;  // a row without a valid site belongs to no chain
    auto check = ss::VerifyStoredChain(*db, *uuid,
                                       CheckpointHead(out.checkpoints, site));
    if (!check) return Fail(check.error());
    out.sites.push_back(
        SiteResult{site, std::move(check->report), check->stored_events});
  }
  return out;
}

// --- server mode ---

class Api {
 public:
  static Result<Api> Connect(const Options& o) {
    engine::CurlTransportOptions co;
    co.base_url = o.server;
    auto transport = engine::CurlTransport::Create(co);
    if (!transport) return Fail(transport.error());
    auto password = Env("PULSE_USER_PASSWORD");
    if (!password) {
      return Fail(ErrorCode::kInvalidArgument,
                  "no password: set PULSE_USER_PASSWORD");
    }
    Api api(std::move(*transport));
    engine::sync::LoginRequest login{o.user, *password};
    password->assign(password->size(), '\0');
    engine::HttpRequest req;
    req.method = "POST";
    req.target = "/api/v1/auth/login";
    req.headers = {{"Content-Type", "application/json"}};
    req.body = engine::sync::EncodeLoginRequest(login);
    login.password.assign(login.password.size(), '\0');
    auto resp = api.transport_->Send(req);
    if (!resp) return Fail(resp.error());
    if (resp->status != 200) {
      return Fail(ErrorCode::kPermissionDenied,
                  "login refused (HTTP " + std::to_string(resp->status) + ")");
    }
    auto decoded = engine::sync::DecodeLoginResponse(resp->body);
    if (!decoded) return Fail(decoded.error());
    api.token_ = decoded->token;
    return api;
  }

  Result<json> Get(const std::string& target) {
    engine::HttpRequest req;
    req.method = "GET";
    req.target = target;
    req.headers = {{"Authorization", "Bearer " + token_}};
    auto resp = transport_->Send(req);
    if (!resp) return Fail(resp.error());
    if (resp->status != 200) {
      return Fail(ErrorCode::kIoError, target.substr(0, target.find('?')) +
                                           ": HTTP " +
                                           std::to_string(resp->status));
    }
    json body = json::parse(resp->body, nullptr, false);
    if (body.is_discarded()) {
      return Fail(ErrorCode::kCorruption, "the server's answer is not JSON");
    }
    return body;
  }

  void Logout() {
    engine::HttpRequest req;
    req.method = "POST";
    req.target = "/api/v1/auth/logout";
    req.headers = {{"Authorization", "Bearer " + token_}};
    (void)transport_->Send(req);
  }

 private:
  explicit Api(std::unique_ptr<engine::CurlTransport> t)
      : transport_(std::move(t)) {}
  std::unique_ptr<engine::CurlTransport> transport_;
  std::string token_;
};

Result<engine::ChainedEvent> RecordFromJson(const json& r) {
  if (!r.is_object() || !r.contains("event") || !r.contains("hash") ||
      !r.contains("prev_hash")) {
    return Fail(ErrorCode::kCorruption, "record lacks event or hashes");
  }
  const json& ev = r["event"];
  auto event = engine::DecodeAuditEvent(ev.is_string() ? ev.get<std::string>()
                                                       : ev.dump());
  if (!event) return Fail(event.error());
  engine::ChainedEvent rec;
  rec.event = std::move(*event);
  auto prev = engine::HexDecode(r["prev_hash"].is_string()
                                    ? r["prev_hash"].get<std::string>()
                                    : "");
  auto hash = engine::HexDecode(
      r["hash"].is_string() ? r["hash"].get<std::string>() : "");
  if (!prev || !hash || prev->size() != 32 || hash->size() != 32) {
    return Fail(ErrorCode::kCorruption, "prev_hash or hash: not 64 hex");
  }
  std::copy(prev->begin(), prev->end(), rec.prev_hash.begin());
  std::copy(hash->begin(), hash->end(), rec.hash.begin());
  return rec;
}

Result<Outcome> VerifyServer(const Options& o) {
  auto api = Api::Connect(o);
  if (!api) return Fail(api.error());
  Outcome out;
  // Checkpoints, all pages.
  std::vector<ss::StoredCheckpoint> checkpoints;
  std::map<std::string, std::string> keys;
  for (std::int64_t after = 0;;) {
    auto page = api->Get("/api/v1/audit/checkpoints?limit=1000&after=" +
                         std::to_string(after));
    if (!page) return Fail(page.error());
    keys[(*page).value("key_id", "")] = (*page).value("public_key", "");
    const json& items = (*page)["checkpoints"];
    for (const json& c : items) {
      ss::StoredCheckpoint s;
      s.seq = c.value("seq", std::int64_t{0});
      s.time_ms = c.value("time_ms", std::int64_t{0});
      s.global_seq = c.value("global_seq", std::int64_t{0});
      s.global_hash = c.value("global_hash", "");
      s.statement = c.value("statement", "");
      s.signature = c.value("signature", "");
      s.key_id = c.value("key_id", "");
      after = s.seq;
      checkpoints.push_back(std::move(s));
    }
    if (items.empty() || !(*page).value("more", false)) break;
  }
  out.checkpoints = ss::VerifyCheckpointSequence(checkpoints,
                                                 PinnedOr(o, keys), nullptr);
  std::vector<std::string> sites;
  if (o.site) {
    sites.push_back(*o.site);
  } else {
    auto listed = api->Get("/api/v1/audit/sites");
    if (!listed) return Fail(listed.error());
    for (const json& s : (*listed)["sites"]) sites.push_back(s.value("site", ""));
  }
  for (const std::string& site : sites) {
    auto uuid = engine::Uuid::Parse(site);
    if (!uuid) continue;
    engine::ChainVerifier verifier(*uuid);
    if (auto head = CheckpointHead(out.checkpoints, site)) {
      verifier.ExpectCheckpoint(*head);
    }
    SiteResult result{site, {}, 0};
    bool decoded_all = true;
    for (std::int64_t after = 0; decoded_all;) {
      auto page = api->Get("/api/v1/audit/sites/" + site +
                           "/chain?limit=1000&after_seq=" +
                           std::to_string(after));
      if (!page) return Fail(page.error());
      const json& records = (*page)["records"];
      for (const json& r : records) {
        ++result.stored_events;
        after = r.value("seq", after);
        auto rec = RecordFromJson(r);
        if (!rec) {
          engine::ChainReport rep = verifier.Report();
          if (rep.ok) {
            rep.ok = false;
            rep.first_broken_seq = rep.head.seq + 1;
            rep.reason = engine::ChainBreak::kAltered;
            rep.found_seq = r.value("seq", std::int64_t{0});
            rep.detail = "record does not decode: " + rec.error().message();
            result.report = rep;
          }
          decoded_all = false;
          break;
        }
        if (!verifier.Add(*rec)) break;
      }
      if (records.empty() || !(*page).value("more", false)) break;
    }
    if (decoded_all) result.report = verifier.Finish();
    out.sites.push_back(std::move(result));
  }
  api->Logout();
  return out;
}

// --- output ---

std::string Reason(const engine::ChainReport& r) {
  return std::string(engine::ChainBreakName(r.reason));
}

void PrintText(const Outcome& out) {
  if (out.checkpoints) {
    const ss::CheckpointCheck& c = *out.checkpoints;
    if (c.ok) {
      std::cout << "checkpoints: " << c.checked << " verified\n";
    } else {
      std::cout << "checkpoints: BROKEN at checkpoint " << *c.broken << ": "
                << c.detail << "\n";
    }
  }
  for (const SiteResult& s : out.sites) {
    if (s.report.ok) {
      std::cout << "site " << s.site << ": intact, " << s.report.events_checked
                << " events, head seq " << s.report.head.seq << "\n";
    } else {
      std::cout << "site " << s.site << ": BROKEN at seq "
                << s.report.first_broken_seq << " (" << Reason(s.report)
                << "): " << s.report.detail << "\n";
    }
  }
  std::cout << (out.ok() ? "intact\n" : "BROKEN\n");
}

void PrintJson(const Outcome& out) {
  json j;
  j["ok"] = out.ok();
  if (out.checkpoints) {
    const ss::CheckpointCheck& c = *out.checkpoints;
    j["checkpoints"] = {
        {"ok", c.ok},
        {"checked", c.checked},
        {"broken", c.broken ? json(*c.broken) : json(nullptr)},
        {"detail", c.ok ? json(nullptr) : json(c.detail)}};
  } else {
    j["checkpoints"] = nullptr;
  }
  j["sites"] = json::array();
  for (const SiteResult& s : out.sites) {
    const engine::ChainReport& r = s.report;
    j["sites"].push_back(
        {{"site", s.site},
         {"ok", r.ok},
         {"events_checked", r.events_checked},
         {"stored_events", s.stored_events},
         {"head_seq", r.head.seq},
         {"head_hash", engine::HexEncode(r.head.hash)},
         {"first_broken_seq", r.ok ? json(nullptr) : json(r.first_broken_seq)},
         {"reason", r.ok ? json(nullptr) : json(Reason(r))},
         {"found_seq", r.found_seq ? json(*r.found_seq) : json(nullptr)},
         {"detail", r.ok ? json(nullptr) : json(r.detail)}});
  }
  std::cout << j.dump() << "\n";
}

int Usage(const std::string& message) {
  std::cerr << "audit-verify: " << message << "\n(see 'audit-verify --help')\n";
  return kExitUsage;
}

int Main(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::cout << kHelp;
      return kExitIntact;
    }
    if (arg == "--json") {
      o.json = true;
      continue;
    }
    auto value = [&](std::string* out) {
      if (i + 1 >= argc) return false;
      *out = argv[++i];
      return true;
    };
    std::string v;
    if (arg == "--db" || arg == "--server" || arg == "--user" ||
        arg == "--site" || arg == "--public-key") {
      if (!value(&v)) return Usage(std::string(arg) + " needs a value");
      if (arg == "--db") o.db = v;
      if (arg == "--server") o.server = v;
      if (arg == "--user") o.user = v;
      if (arg == "--site") o.site = v;
      if (arg == "--public-key") o.public_key = v;
      continue;
    }
    if (arg == "--password" || arg == "--passphrase") {
      return Usage(std::string(arg) +
                   " is not accepted: secrets come from the environment");
    }
    return Usage("unknown argument '" + std::string(arg) + "'");
  }
  if (o.db.empty() == o.server.empty()) {
    return Usage("give exactly one of --db DIR or --server URL");
  }
  if (!o.server.empty() && o.user.empty()) {
    return Usage("--server needs --user");
  }
  if (o.site && !engine::IsCanonicalUuid(*o.site)) {
    return Usage("--site: not a canonical UUID");
  }
  if (o.public_key) {
    auto bytes = engine::HexDecode(*o.public_key);
    if (!bytes || bytes->size() != ss::kSigningPublicKeyBytes) {
      return Usage("--public-key: not 64 hex digits");
    }
  }
  auto outcome = o.db.empty() ? VerifyServer(o) : VerifyDatabase(o);
  if (!outcome) {
    std::cerr << "audit-verify: " << outcome.error().ToString() << "\n";
    return kExitUsage;
  }
  if (o.json) {
    PrintJson(*outcome);
  } else {
    PrintText(*outcome);
  }
  return outcome->ok() ? kExitIntact : kExitBroken;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return Main(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "audit-verify: unexpected error: " << e.what() << "\n";
    return kExitUsage;
  }
}
