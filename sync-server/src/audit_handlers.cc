// /api/v1/audit/...: the auditor's API (DESIGN.md §5, §6;
// docs/sync_protocol.md "Audit API").
//
//   GET  /api/v1/audit/events?site&user&patient&action&from&to&cursor&limit
//        events of every site, newest first by (time_ms, id); filters AND;
//        from/to: time_ms in [from, to); cursor: next_cursor of the last
//        page (opaque); limit 1..1000 (default 100).
//   GET  /api/v1/audit/sites
//        every site's chain as the continuity check left it.
//   GET  /api/v1/audit/sites/{site}/verify
//        the site's stored chain verified from genesis against the newest
//        checkpoint: ok, or the first broken/missing seq with the reason.
//   GET  /api/v1/audit/sites/{site}/chain?after_seq&limit
//        chained records in seq order, for independent verification.
//   GET  /api/v1/audit/checkpoints?after&limit   signed checkpoints + key
//   POST /api/v1/audit/checkpoints               make one now (201)
//   GET  /api/v1/audit/key                       the checkpoint public key
//
// Who: the permission matrix's "read audit_events" (auditors; any site).
// Others get 403, audited as permission_denied; every answered call is
// itself audited (view of audit_events, or create of audit_checkpoints),
// fail closed.
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "pulse/engine/change.h"
#include "pulse/engine/permissions.h"
#include "pulse/engine/uuid.h"
#include "pulse/sync_server/query_params.h"
#include "service_internal.h"

namespace pulse::sync_server {
namespace {

using nlohmann::json;

constexpr std::string_view kAuditPrefix = "/api/v1/audit/";
constexpr int kDefaultAuditPageLimit = 100;
constexpr std::int64_t kMaxInt = std::numeric_limits<std::int64_t>::max();

Response BadRequest(std::string detail) {
  return ProblemResponse(400, "bad-request", std::move(detail));
}

Response MethodNotAllowed(std::string_view route, std::string_view allow) {
  Response r = ProblemResponse(
      405, "method-not-allowed",
      std::string(route) + " allows " + std::string(allow));
  r.headers.emplace_back("Allow", std::string(allow));
  return r;
}

json OptInt(const std::optional<std::int64_t>& v) {
  return v ? json(*v) : json(nullptr);
}

// The chained-record form (audit_chain.md §3) plus the row's keys. A
// stored event that is not JSON any more (tampered) is shown as a string.
json RecordJson(const StoredAuditEvent& e) {
  json event = json::parse(e.event, nullptr, false);
  if (event.is_discarded()) event = e.event;
  return json{{"id", e.id},          {"site", e.site},
              {"seq", e.seq},        {"time_ms", e.time_ms},
              {"event", event},      {"prev_hash", e.prev_hash},
              {"hash", e.hash}};
}

json StatusJson(const ChainStatus& s) {
  json broken = nullptr;
  if (s.broken) {
    broken = json{{"seq", s.broken->seq},
                  {"reason", std::string(engine::ChainBreakName(
                                 s.broken->reason))},
                  {"found_seq", OptInt(s.broken->found_seq)},
                  {"detail", s.broken->detail},
                  {"found_ms", s.broken->found_ms}};
  }
  return json{{"site", s.site},
              {"head_seq", s.head.seq},
              {"head_hash", engine::HexEncode(s.head.hash)},
              {"events_checked", s.events_checked},
              {"checked_ms", s.checked_ms},
              {"intact", !s.broken.has_value()},
              {"broken", broken}};
}

json CheckpointJson(const AuditCheckpoint& c) {
  json statement = json::parse(c.statement, nullptr, false);
  return json{{"seq", c.seq},
              {"time_ms", c.time_ms},
              {"global_seq", c.global_seq},
              {"global_hash", c.global_hash},
              {"key_id", c.key_id},
              {"statement", c.statement},
              {"signature", c.signature},
              {"sites", statement.is_discarded() || !statement.contains("sites")
                            ? json::array()
                            : statement["sites"]}};
}

// Cursor of the events list: "<time_ms>_<event id>".
std::optional<AuditEventQuery::Position> ParseCursor(std::string_view text) {
  const std::size_t sep = text.find('_');
  if (sep == std::string_view::npos || sep == 0 || sep > 19) {
    return std::nullopt;
  }
  std::int64_t t = 0;
  for (char c : text.substr(0, sep)) {
    if (c < '0' || c > '9') return std::nullopt;
    t = t * 10 + (c - '0');
  }
  const std::string_view id = text.substr(sep + 1);
  if (!engine::IsCanonicalUuid(id)) return std::nullopt;
  return AuditEventQuery::Position{t, std::string(id)};
}

std::optional<std::string> UuidParam(const QueryParams& params,
                                     std::string_view name, bool* bad) {
  auto it = params.find(name);
  if (it == params.end()) return std::nullopt;
  if (!engine::IsCanonicalUuid(it->second)) {
    *bad = true;
    return std::nullopt;
  }
  return it->second;
}

}  // namespace

Response SyncService::HandleAudit(const Request& request, Context& ctx) {
  const std::string_view rest =
      std::string_view(request.path).substr(kAuditPrefix.size());
  // Route templates for logs and metrics (a site id never becomes a label).
  std::string_view site_part;
  std::string_view site_action;
  if (rest == "events") {
    ctx.route = "/api/v1/audit/events";
  } else if (rest == "sites") {
    ctx.route = "/api/v1/audit/sites";
  } else if (rest == "checkpoints") {
    ctx.route = "/api/v1/audit/checkpoints";
  } else if (rest == "key") {
    ctx.route = "/api/v1/audit/key";
  } else if (rest.starts_with("sites/")) {
    const std::string_view tail = rest.substr(6);
    const std::size_t slash = tail.find('/');
    if (slash == std::string_view::npos) {
      return ProblemResponse(404, "not-found", "no such endpoint");
    }
    site_part = tail.substr(0, slash);
    site_action = tail.substr(slash + 1);
    if (site_action == "verify") {
      ctx.route = "/api/v1/audit/sites/{site}/verify";
    } else if (site_action == "chain") {
      ctx.route = "/api/v1/audit/sites/{site}/chain";
    } else {
      return ProblemResponse(404, "not-found", "no such endpoint");
    }
  } else {
    return ProblemResponse(404, "not-found", "no such endpoint");
  }
  const bool is_post_checkpoint =
      ctx.route == "/api/v1/audit/checkpoints" && request.method == "POST";
  if (request.method != "GET" && !is_post_checkpoint) {
    return MethodNotAllowed(ctx.route, ctx.route == "/api/v1/audit/checkpoints"
                                           ? "GET, POST"
                                           : "GET");
  }
  Response error;
  auto auth = Authenticate(request, ctx, &error);
  if (!auth) return error;
  engine::Principal who;
  who.user_id = engine::Uuid::Parse(auth->user.id).value_or(engine::Uuid());
  who.role = auth->user.role;
  if (auth->user.site) {
    if (auto s = engine::Uuid::Parse(*auth->user.site)) who.site = *s;
  }
  const engine::Decision decision = engine::Authorize(
      who, engine::Action::kRead, engine::Resource::kAuditEvents,
      std::nullopt);
  if (!decision) {
    AuditDenial(request, ctx, "audit_events");
    return ProblemResponse(403, "forbidden", decision.reason);
  }
  if (options_.audit == nullptr) {
    return ProblemResponse(503, "unavailable",
                           "the audit trail is not configured");
  }
  AuditTrail& trail = *options_.audit;
  // Every answered read is recorded before the data leaves (fail closed).
  auto record_view = [&]() -> bool {
    return static_cast<bool>(
        Audit(request, ctx,
              AuditNote{.action = engine::AuditAction::kView,
                        .object_type = "audit_events"}));
  };
  const Response kUnrecorded = ProblemResponse(
      500, "internal-error", "internal error; request id " + ctx.request_id);

  if (ctx.route == "/api/v1/audit/events") {
    auto params = ParseQueryParams(request.query,
                                   {"site", "user", "patient", "action", "from",
                                    "to", "cursor", "limit"});
    if (!params) return BadRequest(params.error().message());
    AuditEventQuery q;
    bool bad = false;
    q.site = UuidParam(*params, "site", &bad);
    if (bad) return BadRequest("site: not a canonical UUID");
    q.actor = UuidParam(*params, "user", &bad);
    if (bad) return BadRequest("user: not a canonical UUID");
    q.patient = UuidParam(*params, "patient", &bad);
    if (bad) return BadRequest("patient: not a canonical UUID");
    if (auto it = params->find("action"); it != params->end()) {
      q.action = engine::ParseAuditAction(it->second);
      if (!q.action) return BadRequest("action: not an audit action name");
    }
    auto from = IntParam(*params, "from", 0, kMaxInt);
    auto to = IntParam(*params, "to", 0, kMaxInt);
    auto limit = IntParam(*params, "limit", 1, kMaxAuditPageLimit);
    for (const auto* p : {&from, &to, &limit}) {
      if (!*p) return BadRequest(p->error().message());
    }
    q.from_ms = *from;
    q.to_ms = *to;
    q.limit = static_cast<int>(limit->value_or(kDefaultAuditPageLimit));
    if (auto it = params->find("cursor"); it != params->end()) {
      q.before = ParseCursor(it->second);
      if (!q.before) return BadRequest("cursor: not a cursor of this list");
    }
    auto page = trail.QueryEvents(q);
    if (!page) return StoreError(page.error(), "QueryEvents", ctx);
    if (!record_view()) return kUnrecorded;
    json events = json::array();
    for (const StoredAuditEvent& e : page->events) events.push_back(RecordJson(e));
    json next = nullptr;
    if (page->more && !page->events.empty()) {
      const StoredAuditEvent& last = page->events.back();
      next = std::to_string(last.time_ms) + "_" + last.id;
    }
    return JsonResponse(200,
                        json{{"events", events}, {"next_cursor", next}}.dump());
  }

  if (ctx.route == "/api/v1/audit/sites") {
    if (!request.query.empty()) {
      auto params = ParseQueryParams(request.query, {});
      if (!params) return BadRequest(params.error().message());
    }
    auto statuses = trail.ChainStatuses();
    if (!statuses) return StoreError(statuses.error(), "ChainStatuses", ctx);
    if (!record_view()) return kUnrecorded;
    json sites = json::array();
    for (const ChainStatus& s : *statuses) sites.push_back(StatusJson(s));
    return JsonResponse(200, json{{"sites", sites}}.dump());
  }

  if (ctx.route == "/api/v1/audit/key") {
    if (!record_view()) return kUnrecorded;
    return JsonResponse(200, json{{"algorithm", "ed25519"},
                                  {"public_key", trail.PublicKeyHex()},
                                  {"key_id", trail.KeyId()}}
                                 .dump());
  }

  if (ctx.route == "/api/v1/audit/checkpoints") {
    if (is_post_checkpoint) {
      auto made = trail.MakeCheckpoint();
      if (!made) return StoreError(made.error(), "MakeCheckpoint", ctx);
      if (!static_cast<bool>(Audit(
              request, ctx,
              AuditNote{.action = engine::AuditAction::kCreate,
                        .object_type = "audit_checkpoints"}))) {
        return kUnrecorded;
      }
      return JsonResponse(201, CheckpointJson(*made).dump());
    }
    auto params = ParseQueryParams(request.query, {"after", "limit"});
    if (!params) return BadRequest(params.error().message());
    auto after = IntParam(*params, "after", 0, kMaxInt);
    auto limit = IntParam(*params, "limit", 1, kMaxAuditPageLimit);
    for (const auto* p : {&after, &limit}) {
      if (!*p) return BadRequest(p->error().message());
    }
    const int n = static_cast<int>(limit->value_or(kDefaultAuditPageLimit));
    auto list = trail.Checkpoints(after->value_or(0), n);
    if (!list) return StoreError(list.error(), "Checkpoints", ctx);
    if (!record_view()) return kUnrecorded;
    json items = json::array();
    for (const AuditCheckpoint& c : *list) items.push_back(CheckpointJson(c));
    return JsonResponse(
        200, json{{"algorithm", "ed25519"},
                  {"public_key", trail.PublicKeyHex()},
                  {"key_id", trail.KeyId()},
                  {"checkpoints", items},
                  {"more", static_cast<int>(list->size()) == n}}
                 .dump());
  }

  // /api/v1/audit/sites/{site}/...
  if (!engine::IsCanonicalUuid(site_part)) {
    return BadRequest("site: not a canonical UUID");
  }
  const std::string site(site_part);
  if (site_action == "chain") {
    auto params = ParseQueryParams(request.query, {"after_seq", "limit"});
    if (!params) return BadRequest(params.error().message());
    auto after = IntParam(*params, "after_seq", 0, engine::kMaxAuditSeq);
    auto limit = IntParam(*params, "limit", 1, kMaxAuditPageLimit);
    for (const auto* p : {&after, &limit}) {
      if (!*p) return BadRequest(p->error().message());
    }
    const int n = static_cast<int>(limit->value_or(kMaxAuditPageLimit));
    auto records = trail.ChainRecords(site, after->value_or(0), n);
    if (!records) return StoreError(records.error(), "ChainRecords", ctx);
    if (!record_view()) return kUnrecorded;
    json items = json::array();
    for (const StoredAuditEvent& e : *records) items.push_back(RecordJson(e));
    return JsonResponse(
        200, json{{"site", site},
                  {"records", items},
                  {"more", static_cast<int>(records->size()) == n}}
                 .dump());
  }
  // verify
  if (!request.query.empty()) {
    auto params = ParseQueryParams(request.query, {});
    if (!params) return BadRequest(params.error().message());
  }
  auto verification = trail.VerifySite(site);
  if (!verification) {
    if (verification.error().code() == ErrorCode::kNotFound) {
      return ProblemResponse(404, "not-found",
                             "no audit events for this site");
    }
    return StoreError(verification.error(), "VerifySite", ctx);
  }
  if (!record_view()) return kUnrecorded;
  const engine::ChainReport& r = verification->report;
  json out = {
      {"site", site},
      {"ok", r.ok},
      {"events_checked", r.events_checked},
      {"stored_events", verification->stored_events},
      {"head", json{{"seq", r.head.seq},
                    {"hash", engine::HexEncode(r.head.hash)}}},
      {"first_broken_seq", r.ok ? json(nullptr) : json(r.first_broken_seq)},
      {"reason", r.ok ? json(nullptr)
                      : json(std::string(engine::ChainBreakName(r.reason)))},
      {"found_seq", OptInt(r.found_seq)},
      {"detail", r.ok ? json(nullptr) : json(r.detail)},
      {"checkpoint", OptInt(verification->checkpoint)},
      {"continuity", verification->recorded ? StatusJson(*verification->recorded)
                                            : json(nullptr)},
  };
  return JsonResponse(200, out.dump());
}

}  // namespace pulse::sync_server
