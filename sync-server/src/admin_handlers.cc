// SyncService::HandleAdmin: the central admin's API, /api/v1/admin/...
// (DESIGN.md §1, §5, §6; docs/sync_protocol.md "Admin API").
//
// Every call: a valid session (401), the admin role and the permission
// matrix's grant for the call's (resource, action) at any site (403,
// audited as permission_denied), then the store (ServiceOptions::admin).
// Reads of patient data (patients, recordings, conflicts on clinical rows)
// are audited as `view` once per row shown, with the patient id, and the
// answer is withheld (500) if any of those events cannot be recorded;
// writes are audited after they commit (create / update /
// conflict_resolved), and a failed event turns the answer into a 500.
//
// Bodies are JSON objects; a field this API does not know is a 400 naming
// it (a typo must not silently do nothing), and so is a value of the wrong
// type. Path ids are canonical lower-case UUIDs (conflict ids: 64 hex
// digits), else 400; ids naming no live row are 404.
#include "service_internal.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <initializer_list>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "pulse/engine/change.h"
#include "pulse/engine/conflicts.h"
#include "pulse/engine/hlc.h"
#include "pulse/engine/permissions.h"
#include "pulse/engine/uuid.h"
#include "pulse/sync_server/admin_store.h"
#include "pulse/sync_server/query_params.h"

namespace pulse::sync_server {
namespace {

using nlohmann::json;
using engine::Action;
using engine::Resource;

constexpr std::string_view kAdminPrefix = "/api/v1/admin/";

std::vector<std::string_view> SplitPath(std::string_view rest) {
  std::vector<std::string_view> parts;
  while (true) {
    const std::size_t slash = rest.find('/');
    parts.push_back(rest.substr(0, slash));
    if (slash == std::string_view::npos) break;
    rest.remove_prefix(slash + 1);
  }
  return parts;
}

// "application/json", parameters allowed, case-insensitive.
bool IsJsonContentType(std::optional<std::string_view> value) {
  if (!value) return false;
  std::string_view v = value->substr(0, value->find(';'));
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) {
    v.remove_prefix(1);
  }
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) {
    v.remove_suffix(1);
  }
  if (v.size() != kJsonContentType.size()) return false;
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(v[i])) != kJsonContentType[i]) {
      return false;
    }
  }
  return true;
}

// Client text is echoed in an error only when short and plain.
std::string Quoted(std::string_view name) {
  const bool plain =
      !name.empty() && name.size() <= 40 &&
      std::all_of(name.begin(), name.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '_' ||
               c == '-' || c == '.';
      });
  return plain ? "'" + std::string(name) + "'" : "(a field)";
}

std::string Base64(const std::vector<std::uint8_t>& bytes) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  for (std::size_t i = 0; i < bytes.size(); i += 3) {
    std::uint32_t v = static_cast<std::uint32_t>(bytes[i]) << 16;
    if (i + 1 < bytes.size()) v |= static_cast<std::uint32_t>(bytes[i + 1]) << 8;
    if (i + 2 < bytes.size()) v |= bytes[i + 2];
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += i + 1 < bytes.size() ? kAlphabet[(v >> 6) & 63] : '=';
    out += i + 2 < bytes.size() ? kAlphabet[v & 63] : '=';
  }
  return out;
}

// A field value as the change format writes it (blobs {"b64": ...}).
json ValueJson(const engine::FieldValue& value) {
  struct Visitor {
    json operator()(std::nullptr_t) const { return nullptr; }
    json operator()(std::int64_t v) const { return v; }
    json operator()(double v) const { return v; }
    json operator()(const std::string& v) const { return v; }
    json operator()(const engine::Blob& v) const {
      return json{{"b64", Base64(v.bytes)}};
    }
  };
  return std::visit(Visitor{}, value);
}

template <typename T>
json Opt(const std::optional<T>& v) {
  return v ? json(*v) : json(nullptr);
}

json SiteJson(const AdminSite& s) {
  return {{"id", s.id},
          {"name", s.name},
          {"region", s.region},
          {"timezone", s.timezone},
          {"last_push_ms", Opt(s.last_push_ms)},
          {"last_pull_ms", Opt(s.last_pull_ms)},
          {"open_conflicts", s.open_conflicts}};
}

json PatientJson(const AdminPatient& p) {
  json j = {{"id", p.id},
            {"site_id", p.site_id},
            {"mrn", p.mrn},
            {"given_name", p.given_name},
            {"family_name", p.family_name},
            {"birth_date", p.birth_date},
            {"sex", p.sex}};
  if (p.phone) j["phone"] = *p.phone;
  if (p.address) j["address"] = *p.address;
  if (p.recording_count) j["recording_count"] = *p.recording_count;
  return j;
}

json RecordingJson(const AdminRecording& r) {
  return {{"id", r.id},
          {"site_id", r.site_id},
          {"patient_id", Opt(r.patient_id)},
          {"device_id", Opt(r.device_id)},
          {"operator_id", Opt(r.operator_id)},
          {"started_at_ms", Opt(r.started_at_ms)},
          {"ended_at_ms", Opt(r.ended_at_ms)},
          {"sample_rate_hz", Opt(r.sample_rate_hz)},
          {"lead_names", Opt(r.lead_names)},
          {"status", Opt(r.status)},
          {"quality", Opt(r.quality)},
          {"segment_count", Opt(r.segment_count)}};
}

json ConflictJson(const AdminConflict& c) {
  const auto hlc = engine::Hlc::FromPacked(c.loser_hlc);
  json j = {{"id", c.id},
            {"table", c.table},
            {"row", c.row},
            {"column", c.column},
            {"kind", c.kind},
            {"site_id", Opt(c.row_site)},
            {"patient_id", Opt(c.patient_id)},
            {"state", c.resolution ? "resolved" : "open"},
            {"redacted", c.redacted},
            {"row_deleted", c.row_deleted},
            {"current_value", ValueJson(c.current_value)},
            {"loser",
             {{"value", ValueJson(c.loser_value)},
              {"author", c.loser_author},
              {"site", c.loser_site},
              // Packed HLCs pass 2^53: a string, so JavaScript keeps it.
              {"hlc", std::to_string(c.loser_hlc)},
              {"at_ms", hlc ? json(hlc->physical_ms()) : json(nullptr)}}},
            {"resolution", nullptr}};
  if (c.resolution) {
    j["resolution"] = {{"decision", c.resolution->decision},
                       {"resolver_id", c.resolution->resolver_id},
                       {"resolved_at_ms", Opt(c.resolution->resolved_at_ms)}};
  }
  return j;
}

json UserJson(const AdminUser& u) {
  return {{"id", u.id},
          {"username", u.username},
          {"full_name", u.full_name},
          {"role", u.role},
          {"site_id", Opt(u.site_id)},
          {"active", u.active}};
}

json DeviceJson(const AdminDevice& d) {
  return {{"id", d.id},
          {"site_id", d.site_id},
          {"serial", d.fields.serial},
          {"kind", d.fields.kind},
          {"model", d.fields.model},
          {"firmware", d.fields.firmware}};
}

template <typename Page, typename Rows, typename ToJson>
Response PageResponse(std::string_view key, const Rows& rows,
                      const std::optional<std::string>& next, ToJson to_json) {
  json items = json::array();
  for (const auto& row : rows) items.push_back(to_json(row));
  json body = {{std::string(key), std::move(items)},
               {"next_cursor", Opt(next)}};
  return JsonResponse(200, body.dump());
}

Response BadRequest(std::string detail) {
  return ProblemResponse(400, "bad-request", std::move(detail));
}

// A JSON object body whose keys are all in `allowed`, or the 400/415.
Result<json> ParseBody(const Request& request,
                       std::initializer_list<std::string_view> allowed,
                       Response* error) {
  if (!IsJsonContentType(request.Header("content-type"))) {
    *error = ProblemResponse(415, "unsupported-media-type",
                             "Content-Type must be application/json");
    return Fail(ErrorCode::kInvalidArgument, "content type");
  }
  json body = json::parse(request.body, nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded() || !body.is_object()) {
    *error = BadRequest("the body must be a JSON object");
    return Fail(ErrorCode::kInvalidArgument, "body");
  }
  for (const auto& [key, value] : body.items()) {
    if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
      *error = BadRequest("unknown field " + Quoted(key));
      return Fail(ErrorCode::kInvalidArgument, "field");
    }
  }
  return body;
}

// Typed field readers: absent is nullopt; a wrong type sets `error`.
struct FieldReader {
  const json& body;
  std::optional<Response> error;

  std::optional<std::string> String(std::string_view name, bool required) {
    auto it = body.find(std::string(name));
    if (it == body.end()) {
      if (required && !error) {
        error = BadRequest(std::string(name) + ": required");
      }
      return std::nullopt;
    }
    if (!it->is_string()) {
      if (!error) error = BadRequest(std::string(name) + ": must be a string");
      return std::nullopt;
    }
    return it->get<std::string>();
  }
  std::optional<bool> Bool(std::string_view name) {
    auto it = body.find(std::string(name));
    if (it == body.end()) return std::nullopt;
    if (!it->is_boolean()) {
      if (!error) error = BadRequest(std::string(name) + ": must be a boolean");
      return std::nullopt;
    }
    return it->get<bool>();
  }
};

}  // namespace

Response SyncService::HandleAdmin(const Request& request, Context& ctx) {
  const std::vector<std::string_view> parts =
      SplitPath(std::string_view(request.path).substr(kAdminPrefix.size()));

  // The route table: path shape (with "{id}" for one segment), methods.
  struct Route {
    std::vector<std::string_view> shape;
    std::string_view method;
    Resource resource;
    Action action;
    std::string_view name;  // for ctx.route
  };
  static const std::vector<Route> kRoutes = {
      {{"sites"}, "GET", Resource::kSites, Action::kRead, "sites"},
      {{"sites"}, "POST", Resource::kSites, Action::kCreate, "sites"},
      {{"sites", "{id}"}, "GET", Resource::kSites, Action::kRead,
       "sites/{id}"},
      {{"patients"}, "GET", Resource::kPatients, Action::kRead, "patients"},
      {{"patients", "{id}"}, "GET", Resource::kPatients, Action::kRead,
       "patients/{id}"},
      {{"recordings"}, "GET", Resource::kRecordings, Action::kRead,
       "recordings"},
      {{"conflicts"}, "GET", Resource::kConflicts, Action::kRead, "conflicts"},
      {{"conflicts", "{id}", "resolve"}, "POST", Resource::kConflicts,
       Action::kResolve, "conflicts/{id}/resolve"},
      {{"users"}, "GET", Resource::kUsers, Action::kRead, "users"},
      {{"users"}, "POST", Resource::kUsers, Action::kCreate, "users"},
      {{"users", "{id}"}, "GET", Resource::kUsers, Action::kRead,
       "users/{id}"},
      {{"users", "{id}"}, "PATCH", Resource::kUsers, Action::kUpdate,
       "users/{id}"},
      {{"devices"}, "GET", Resource::kDevices, Action::kRead, "devices"},
      {{"devices"}, "POST", Resource::kDevices, Action::kCreate, "devices"},
      {{"devices", "{id}"}, "PATCH", Resource::kDevices, Action::kUpdate,
       "devices/{id}"},
  };
  auto matches = [&](const Route& r) {
    if (r.shape.size() != parts.size()) return false;
    for (std::size_t i = 0; i < parts.size(); ++i) {
      if (parts[i].empty()) return false;
      if (r.shape[i] != "{id}" && r.shape[i] != parts[i]) return false;
    }
    return true;
  };
  const Route* route = nullptr;
  std::string allow;
  for (const Route& r : kRoutes) {
    if (!matches(r)) continue;
    ctx.route = std::string(kAdminPrefix) + std::string(r.name);
    if (!allow.empty()) allow += ", ";
    allow += r.method;
    if (r.method == request.method) route = &r;
  }
  if (allow.empty()) {
    return ProblemResponse(404, "not-found", "no such endpoint");
  }
  if (route == nullptr) {
    Response r = ProblemResponse(405, "method-not-allowed",
                                 ctx.route + " allows " + allow);
    r.headers.emplace_back("Allow", allow);
    return r;
  }
  // The path's {id}, if any (the second segment in every shape here).
  const std::string path_id =
      parts.size() >= 2 ? std::string(parts[1]) : std::string();

  Response error;
  auto auth = Authenticate(request, ctx, &error);
  if (!auth) return error;
  const StoredUser& user = auth->user;

  engine::Principal who;
  who.user_id = engine::Uuid::Parse(user.id).value_or(engine::Uuid());
  who.role = user.role;
  if (user.site) {
    if (auto site = engine::Uuid::Parse(*user.site)) who.site = *site;
  }
  const std::string object_type(engine::ResourceName(route->resource));

  auto audit_failed = [&](const Status& s) {
    LogEvent("error", "audit write failed", ctx,
             {{"error", s.error().ToString()}});
    return ProblemResponse(500, "internal-error",
                           "internal error (audit); request id " +
                               ctx.request_id);
  };
  // The admin API is the central console: the admin role only, even where
  // the matrix lets another role read the same rows elsewhere (the
  // auditor reads users through the audit API, clinic staff their own
  // site's through sync). Then the matrix's grant for this call.
  {
    std::string reason;
    if (user.role != engine::Role::kAdmin) {
      reason = "denied: the admin API is for the admin role only";
    } else if (const engine::Decision d = engine::Authorize(
                   who, route->action, route->resource, std::nullopt);
               !d) {
      reason = d.reason;
    }
    if (!reason.empty()) {
      AuditNote note;
      note.action = engine::AuditAction::kPermissionDenied;
      note.object_type = object_type;
      if (engine::IsCanonicalUuid(path_id)) note.object_id = path_id;
      note.outcome = engine::AuditOutcome::kDenied;
      if (Status s = Audit(request, ctx, note); !s) return audit_failed(s);
      return ProblemResponse(403, "forbidden", reason);
    }
  }
  if (options_.admin == nullptr) {
    return ProblemResponse(503, "unavailable",
                           "this server has no admin store configured");
  }
  AdminStore& store = *options_.admin;

  // Store errors: the client's mistakes keep their (field-naming) message;
  // the rest is logged, and the client gets the request id.
  auto store_error = [&](const Error& e, std::string_view what) -> Response {
    switch (e.code()) {
      case ErrorCode::kInvalidArgument:
        return BadRequest(e.message());
      case ErrorCode::kNotFound:
        return ProblemResponse(404, "not-found", e.message());
      case ErrorCode::kAlreadyExists:
        return ProblemResponse(409, "conflict", e.message());
      case ErrorCode::kPermissionDenied:
        return ProblemResponse(403, "forbidden", e.message());
      default:
        return StoreError(e, what, ctx);
    }
  };
  auto audit = [&](engine::AuditAction action, std::string type,
                   std::optional<std::string> id,
                   std::optional<std::string> patient) {
    AuditNote note;
    note.action = action;
    note.object_type = std::move(type);
    note.object_id = std::move(id);
    note.patient = std::move(patient);
    return Audit(request, ctx, note);
  };
  // The `view` events of one page go to the trail in one AppendAll: one
  // transaction (one fsync), where 50 appends in a row would cost 50
  // (about 8 ms each on a disk that syncs). Fails closed: the page is
  // withheld unless every event was recorded.
  std::vector<AuditNote> views;
  auto view = [&](std::string type, std::string id,
                  std::optional<std::string> patient) {
    AuditNote note;
    note.action = engine::AuditAction::kView;
    note.object_type = std::move(type);
    note.object_id = std::move(id);
    note.patient = std::move(patient);
    views.push_back(std::move(note));
  };
  auto audit_views = [&]() -> Status {
    return AuditAll(request, ctx, views);
  };

  const bool is_get = request.method == "GET";
  QueryParams params;
  std::optional<int> limit;
  std::string cursor;
  auto parse_query = [&](std::initializer_list<std::string_view> allowed)
      -> std::optional<Response> {
    auto parsed = ParseQueryParams(request.query, allowed);
    if (!parsed) return BadRequest(parsed.error().message());
    params = std::move(*parsed);
    auto l = IntParam(params, "limit", 1, kAdminMaxPageSize);
    if (!l) return BadRequest(l.error().message());
    limit = static_cast<int>(l->value_or(kAdminDefaultPageSize));
    if (auto it = params.find("cursor"); it != params.end()) {
      cursor = it->second;
    }
    return std::nullopt;
  };
  auto param = [&](std::string_view name) -> std::optional<std::string> {
    auto it = params.find(name);
    if (it == params.end()) return std::nullopt;
    return it->second;
  };
  if (!is_get && !request.query.empty()) {
    return BadRequest("this call takes no query parameters");
  }
  // Ids in the path are checked before the store sees them.
  auto bad_path_id = [&](std::string_view what) {
    return BadRequest(std::string(what) +
                      " id: must be a canonical (lower-case) UUID");
  };

  // --- sites ---
  if (route->name == "sites" && is_get) {
    if (auto e = parse_query({"cursor", "limit"})) return *e;
    auto page = store.ListSites(cursor, *limit);
    if (!page) return store_error(page.error(), "ListSites");
    return PageResponse<AdminSitePage>("sites", page->sites, page->next_after,
                                       SiteJson);
  }
  if (route->name == "sites/{id}") {
    if (auto e = parse_query({})) return *e;
    if (!engine::IsCanonicalUuid(path_id)) return bad_path_id("site");
    auto site = store.GetSite(path_id);
    if (!site) return store_error(site.error(), "GetSite");
    return JsonResponse(200, SiteJson(*site).dump());
  }
  if (route->name == "sites") {  // POST
    auto body = ParseBody(request, {"name", "region", "timezone"}, &error);
    if (!body) return error;
    FieldReader f{*body, std::nullopt};
    AdminSiteInput in;
    in.name = f.String("name", true).value_or("");
    in.region = f.String("region", false).value_or("");
    in.timezone = f.String("timezone", true).value_or("");
    if (f.error) return *f.error;
    auto id = store.CreateSite(who, in);
    if (!id) return store_error(id.error(), "CreateSite");
    if (Status s = audit(engine::AuditAction::kCreate, "sites", *id, {}); !s) {
      return audit_failed(s);
    }
    auto site = store.GetSite(*id);
    if (!site) return store_error(site.error(), "GetSite");
    Response r = JsonResponse(201, SiteJson(*site).dump());
    r.headers.emplace_back("Location", std::string(kAdminPrefix) + "sites/" + *id);
    return r;
  }

  // --- patients ---
  if (route->name == "patients") {
    if (auto e = parse_query({"q", "site", "cursor", "limit"})) return *e;
    PatientSearchQuery q;
    q.text = param("q").value_or("");
    q.site = param("site");
    q.after = cursor;
    q.limit = *limit;
    auto page = store.SearchPatients(q);
    if (!page) return store_error(page.error(), "SearchPatients");
    for (const AdminPatient& p : page->patients) view("patients", p.id, p.id);
    if (Status s = audit_views(); !s) return audit_failed(s);
    return PageResponse<AdminPatientPage>("patients", page->patients,
                                          page->next_after, PatientJson);
  }
  if (route->name == "patients/{id}") {
    if (auto e = parse_query({})) return *e;
    if (!engine::IsCanonicalUuid(path_id)) return bad_path_id("patient");
    auto patient = store.GetPatient(path_id);
    if (!patient) return store_error(patient.error(), "GetPatient");
    if (Status s = audit(engine::AuditAction::kView, "patients", patient->id,
                         patient->id);
        !s) {
      return audit_failed(s);
    }
    return JsonResponse(200, PatientJson(*patient).dump());
  }

  // --- recordings ---
  if (route->name == "recordings") {
    if (auto e = parse_query({"patient", "site", "cursor", "limit"})) return *e;
    RecordingListQuery q;
    q.patient = param("patient");
    q.site = param("site");
    q.after = cursor;
    q.limit = *limit;
    auto page = store.ListRecordings(q);
    if (!page) return store_error(page.error(), "ListRecordings");
    for (const AdminRecording& r : page->recordings) {
      std::optional<std::string> patient = r.patient_id;
      if (patient && !engine::IsCanonicalUuid(*patient)) patient.reset();
      view("recordings", r.id, std::move(patient));
    }
    if (Status s = audit_views(); !s) return audit_failed(s);
    return PageResponse<AdminRecordingPage>("recordings", page->recordings,
                                            page->next_after, RecordingJson);
  }

  // --- conflicts ---
  if (route->name == "conflicts") {
    if (auto e = parse_query({"site", "state", "cursor", "limit"})) return *e;
    ConflictListQuery q;
    const std::string state = param("state").value_or("open");
    if (state == "open") {
      q.state = ConflictState::kOpen;
    } else if (state == "resolved") {
      q.state = ConflictState::kResolved;
    } else {
      return BadRequest("state: must be open or resolved");
    }
    q.site = param("site");
    q.after = cursor;
    q.limit = *limit;
    auto page = store.ListConflicts(q);
    if (!page) return store_error(page.error(), "ListConflicts");
    // Seeing a conflict on clinical data is seeing that data: one `view`
    // per row shown (as the engine's ConflictRepository::List does).
    std::set<std::pair<std::string, std::string>> audited;
    for (const AdminConflict& c : page->conflicts) {
      if (!c.patient_id || !engine::IsCanonicalUuid(c.row) ||
          !audited.emplace(c.table, c.row).second) {
        continue;
      }
      view(c.table, c.row, c.patient_id);
    }
    if (Status s = audit_views(); !s) return audit_failed(s);
    return PageResponse<AdminConflictPage>("conflicts", page->conflicts,
                                           page->next_after, ConflictJson);
  }
  if (route->name == "conflicts/{id}/resolve") {
    auto body = ParseBody(request, {"decision"}, &error);
    if (!body) return error;
    FieldReader f{*body, std::nullopt};
    const std::string decision = f.String("decision", true).value_or("");
    if (f.error) return *f.error;
    if (decision != engine::kKeepCurrent && decision != engine::kTakeLoser) {
      return BadRequest("decision: must be keep_current or take_loser");
    }
    auto resolved = store.ResolveConflict(who, path_id, decision);
    if (!resolved) return store_error(resolved.error(), "ResolveConflict");
    std::optional<std::string> row;
    if (engine::IsCanonicalUuid(resolved->row)) row = resolved->row;
    if (Status s = audit(engine::AuditAction::kConflictResolved,
                         resolved->table, row, resolved->patient_id);
        !s) {
      return audit_failed(s);
    }
    json out = {{"id", path_id},
                {"state", "resolved"},
                {"decision", decision},
                {"table", resolved->table},
                {"row", resolved->row}};
    return JsonResponse(200, out.dump());
  }

  // --- users ---
  if (route->name == "users" && is_get) {
    if (auto e = parse_query({"site", "cursor", "limit"})) return *e;
    UserListQuery q;
    q.site = param("site");
    q.after = cursor;
    q.limit = *limit;
    auto page = store.ListUsers(q);
    if (!page) return store_error(page.error(), "ListUsers");
    return PageResponse<AdminUserPage>("users", page->users, page->next_after,
                                       UserJson);
  }
  if (route->name == "users/{id}" && is_get) {
    if (auto e = parse_query({})) return *e;
    if (!engine::IsCanonicalUuid(path_id)) return bad_path_id("user");
    auto u = store.GetUser(path_id);
    if (!u) return store_error(u.error(), "GetUser");
    return JsonResponse(200, UserJson(*u).dump());
  }
  if (route->name == "users") {  // POST
    auto body = ParseBody(
        request, {"username", "full_name", "role", "site", "password"}, &error);
    if (!body) return error;
    FieldReader f{*body, std::nullopt};
    AdminUserInput in;
    in.username = f.String("username", true).value_or("");
    in.full_name = f.String("full_name", true).value_or("");
    const std::string role = f.String("role", true).value_or("");
    std::optional<std::string> site;
    if (body->contains("site") && !(*body)["site"].is_null()) {
      site = f.String("site", false);
    }
    const std::string password = f.String("password", true).value_or("");
    if (f.error) return *f.error;
    auto parsed_role = engine::ParseRole(role);
    if (!parsed_role) {
      return BadRequest(
          "role: must be admin, clinician, technician or auditor");
    }
    in.role = *parsed_role;
    in.site = site;
    in.password = password;
    auto id = store.CreateUser(who, in);
    if (!id) return store_error(id.error(), "CreateUser");
    if (Status s = audit(engine::AuditAction::kCreate, "users", *id, {}); !s) {
      return audit_failed(s);
    }
    auto u = store.GetUser(*id);
    if (!u) return store_error(u.error(), "GetUser");
    Response r = JsonResponse(201, UserJson(*u).dump());
    r.headers.emplace_back("Location", std::string(kAdminPrefix) + "users/" + *id);
    return r;
  }
  if (route->name == "users/{id}") {  // PATCH
    if (!engine::IsCanonicalUuid(path_id)) return bad_path_id("user");
    auto body = ParseBody(
        request, {"full_name", "role", "active", "password", "site"}, &error);
    if (!body) return error;
    if (body->contains("site")) {
      return BadRequest(
          "site: an account's site is fixed once created (create a new "
          "account at the other site and deactivate this one)");
    }
    FieldReader f{*body, std::nullopt};
    AdminUserChanges changes;
    changes.full_name = f.String("full_name", false);
    const std::optional<std::string> role = f.String("role", false);
    changes.active = f.Bool("active");
    const std::optional<std::string> password = f.String("password", false);
    if (f.error) return *f.error;
    if (role) {
      auto parsed = engine::ParseRole(*role);
      if (!parsed) {
        return BadRequest(
            "role: must be admin, clinician, technician or auditor");
      }
      changes.role = *parsed;
    }
    if (password) changes.password = *password;
    if (!changes.full_name && !changes.role && !changes.active &&
        !changes.password) {
      return BadRequest("nothing to change: give full_name, role, active or "
                        "password");
    }
    if (Status s = store.UpdateUser(who, path_id, changes); !s) {
      return store_error(s.error(), "UpdateUser");
    }
    if (Status s = audit(engine::AuditAction::kUpdate, "users", path_id, {});
        !s) {
      return audit_failed(s);
    }
    auto u = store.GetUser(path_id);
    if (!u) return store_error(u.error(), "GetUser");
    return JsonResponse(200, UserJson(*u).dump());
  }

  // --- devices ---
  if (route->name == "devices" && is_get) {
    if (auto e = parse_query({"site", "cursor", "limit"})) return *e;
    DeviceListQuery q;
    q.site = param("site");
    q.after = cursor;
    q.limit = *limit;
    auto page = store.ListDevices(q);
    if (!page) return store_error(page.error(), "ListDevices");
    return PageResponse<AdminDevicePage>("devices", page->devices,
                                         page->next_after, DeviceJson);
  }
  if (route->name == "devices") {  // POST
    auto body = ParseBody(
        request, {"site", "serial", "kind", "model", "firmware"}, &error);
    if (!body) return error;
    FieldReader f{*body, std::nullopt};
    const std::string site = f.String("site", true).value_or("");
    AdminDeviceInput in;
    in.serial = f.String("serial", true).value_or("");
    in.kind = f.String("kind", true).value_or("");
    in.model = f.String("model", true).value_or("");
    in.firmware = f.String("firmware", false).value_or("");
    if (f.error) return *f.error;
    auto id = store.RegisterDevice(who, site, in);
    if (!id) return store_error(id.error(), "RegisterDevice");
    if (Status s = audit(engine::AuditAction::kCreate, "devices", *id, {});
        !s) {
      return audit_failed(s);
    }
    AdminDevice d{*id, site, in};
    Response r = JsonResponse(201, DeviceJson(d).dump());
    r.headers.emplace_back("Location",
                           std::string(kAdminPrefix) + "devices/" + *id);
    return r;
  }
  if (route->name == "devices/{id}") {  // PATCH
    if (!engine::IsCanonicalUuid(path_id)) return bad_path_id("device");
    auto body =
        ParseBody(request, {"serial", "kind", "model", "firmware"}, &error);
    if (!body) return error;
    FieldReader f{*body, std::nullopt};
    AdminDeviceChanges changes;
    changes.serial = f.String("serial", false);
    changes.kind = f.String("kind", false);
    changes.model = f.String("model", false);
    changes.firmware = f.String("firmware", false);
    if (f.error) return *f.error;
    if (!changes.serial && !changes.kind && !changes.model &&
        !changes.firmware) {
      return BadRequest(
          "nothing to change: give serial, kind, model or firmware");
    }
    if (Status s = store.UpdateDevice(who, path_id, changes); !s) {
      return store_error(s.error(), "UpdateDevice");
    }
    if (Status s = audit(engine::AuditAction::kUpdate, "devices", path_id, {});
        !s) {
      return audit_failed(s);
    }
    return JsonResponse(200, json{{"id", path_id}, {"updated", true}}.dump());
  }
  // Every route above is handled; reaching here is a table/handler drift.
  return ProblemResponse(500, "internal-error",
                         "internal error; request id " + ctx.request_id);
}

}  // namespace pulse::sync_server
