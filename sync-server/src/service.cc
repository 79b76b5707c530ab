#include "pulse/sync_server/service.h"

#include "service_internal.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <exception>
#include <limits>
#include <map>
#include <optional>
#include <utility>
#include <variant>

#include "pulse/engine/blob_store.h"
#include "pulse/engine/crypto.h"
#include "pulse/engine/hash.h"
#include "pulse/engine/permissions.h"
#include "pulse/engine/sync_protocol.h"
#include "pulse/engine/uuid.h"
#include "pulse/sync_server/query_params.h"

namespace pulse::sync_server {
namespace sync = engine::sync;
using std::chrono::duration_cast;
using std::chrono::milliseconds;

namespace {

constexpr std::size_t kTokenBytes = 32;

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return out;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) {
    s.remove_suffix(1);
  }
  return s;
}

// Methods outside this set are counted and logged as "OTHER", so a client
// cannot grow the metrics' label space.
std::string_view MethodLabel(std::string_view method) {
  static constexpr std::array<std::string_view, 7> kKnown = {
      "GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"};
  for (std::string_view m : kKnown) {
    if (m == method) return m;
  }
  return "OTHER";
}

// "application/json" with any parameters (charset=utf-8), case-insensitive.
bool IsJsonContentType(std::optional<std::string_view> value) {
  if (!value) return false;
  std::string_view v = *value;
  v = Trim(v.substr(0, v.find(';')));
  return Lower(v) == kJsonContentType;
}

// A client-supplied X-Request-Id is kept if it is short and plain, so that
// logs on both sides line up; otherwise the server mints one.
bool IsSafeRequestId(std::string_view id) {
  if (id.empty() || id.size() > 64) return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' ||
           c == '_' || c == '.';
  });
}

std::string NewRequestId() {
  std::array<std::uint8_t, 8> bytes;
  engine::RandomBytes(bytes);
  return engine::HexEncode(bytes);
}

std::string TokenHash(std::span<const std::uint8_t> token_bytes) {
  return engine::HexEncode(engine::Blake2b256(token_bytes));
}

Response UnsupportedMediaType() {
  return ProblemResponse(415, "unsupported-media-type",
                         "Content-Type must be application/json");
}

Response UpgradeRequired(std::string detail, std::optional<int> protocol,
                         std::optional<int> schema) {
  sync::Problem p;
  p.type = std::string(kProblemTypeBase) + "upgrade-required";
  p.title = std::string(ReasonPhrase(426));
  p.status = 426;
  p.detail = std::move(detail);
  p.required_protocol_version = protocol;
  p.required_schema_version = schema;
  return ProblemResponse(p);
}

// 426 for a clinic schema this server does not sync with: newer than it
// knows (the server must be upgraded first), or older than the oldest it
// still serves (the clinic must install the update, whose migrations bring
// its replica forward). nullopt when the version is served.
std::optional<Response> CheckClinicSchema(std::int64_t version) {
  if (version > kSupportedClinicSchemaVersion) {
    return UpgradeRequired(
        "schema_version " + std::to_string(version) +
            " is newer than this server supports (" +
            std::to_string(kSupportedClinicSchemaVersion) + ")",
        std::nullopt, kSupportedClinicSchemaVersion);
  }
  if (version < kOldestClinicSchemaVersion) {
    return UpgradeRequired(
        "schema_version " + std::to_string(version) +
            " is too old; update the clinic software to schema " +
            std::to_string(kOldestClinicSchemaVersion) + " or newer",
        std::nullopt, kOldestClinicSchemaVersion);
  }
  return std::nullopt;
}

// The permission-matrix resource of a replicated table. Tables whose name
// is not a Resource name are mapped here; unknown tables are nullopt.
std::optional<engine::Resource> ResourceForTable(std::string_view table) {
  if (table == "recording_segments") return engine::Resource::kRecordings;
  if (table == "analyses") return engine::Resource::kMeasurements;
  if (table == "conflict_resolutions") return engine::Resource::kConflicts;
  auto parsed = engine::ParseResource(table);
  if (!parsed) return std::nullopt;
  return *parsed;
}

std::optional<engine::Uuid> ParseUuid(std::string_view text) {
  auto u = engine::Uuid::Parse(text);
  if (!u) return std::nullopt;
  return *u;
}

std::string Index(std::size_t i) {
  return "changes[" + std::to_string(i) + "]";
}

}  // namespace

Result<std::unique_ptr<SyncService>> SyncService::Create(
    const ServiceOptions& options) {
  if (options.store == nullptr) {
    return Fail(ErrorCode::kInvalidArgument, "store: required");
  }
  if (options.idle_timeout.count() <= 0) {
    return Fail(ErrorCode::kInvalidArgument, "idle_timeout: must be > 0 s");
  }
  if (options.session_lifetime < options.idle_timeout) {
    return Fail(ErrorCode::kInvalidArgument,
                "session_lifetime: must be >= idle_timeout");
  }
  if (options.touch_interval.count() < 0 ||
      options.touch_interval >= options.idle_timeout) {
    return Fail(ErrorCode::kInvalidArgument,
                "touch_interval: must be >= 0 and < idle_timeout");
  }
  for (const auto* limit : {&options.user_limit, &options.address_limit}) {
    if (limit->max_failures < 1 || limit->window.count() <= 0 ||
        limit->max_keys < 1) {
      return Fail(ErrorCode::kInvalidArgument,
                  "login rate limit: max_failures, window and max_keys must "
                  "be positive");
    }
  }
  if (options.drift.refuse < options.drift.warn) {
    return Fail(ErrorCode::kInvalidArgument, "drift: refuse must be >= warn");
  }
  if (Status s = engine::InitCrypto(); !s) return Fail(s.error());
  // The hash verified for unknown usernames; its password is irrelevant.
  auto dummy = engine::HashPassword("pulse-dummy-password",
                                    options.dummy_hash_cost);
  if (!dummy) return Fail(dummy.error().WithContext("dummy_hash_cost"));
  return std::unique_ptr<SyncService>(
      new SyncService(options, std::move(*dummy)));
}

SyncService::SyncService(const ServiceOptions& options, std::string dummy_hash)
    : options_(options),
      dummy_hash_(std::move(dummy_hash)),
      clock_(options.clock != nullptr ? options.clock
                                      : &engine::SystemClock()),
      log_(options.log_sink ? options.log_sink : StderrLogSink()),
      user_limiter_(options.user_limit),
      address_limiter_(options.address_limit) {}

SyncService::~SyncService() = default;

std::int64_t SyncService::NowMs() {
  return duration_cast<milliseconds>(clock_->Now().time_since_epoch())
      .count();
}

void SyncService::LogEvent(
    std::string_view level, std::string_view msg, const Context& ctx,
    std::vector<std::pair<std::string, std::string>> fields) {
  fields.emplace_back("route", ctx.route);
  log_(FormatEventLine(clock_->Now(), level, msg, ctx.request_id, fields));
}

Response SyncService::Handle(const Request& request) {
  const auto start = std::chrono::steady_clock::now();
  Context ctx;
  if (auto id = request.Header("x-request-id"); id && IsSafeRequestId(*id)) {
    ctx.request_id = std::string(*id);
  } else {
    ctx.request_id = NewRequestId();
  }
  Response response;
  try {
    response = Dispatch(request, ctx);
  } catch (const std::exception& e) {
    LogEvent("error", "unhandled exception", ctx, {{"error", e.what()}});
    response = ProblemResponse(500, "internal-error",
                               "internal error; request id " + ctx.request_id);
  } catch (...) {
    LogEvent("error", "unhandled exception", ctx, {});
    response = ProblemResponse(500, "internal-error",
                               "internal error; request id " + ctx.request_id);
  }
  response.route = ctx.route;
  response.user_id = ctx.user_id;
  response.headers.emplace_back("X-Request-Id", ctx.request_id);
  // Tokens and clinical rows must not sit in intermediary caches.
  response.headers.emplace_back("Cache-Control", "no-store");
  const auto latency = std::chrono::steady_clock::now() - start;
  const std::string_view method = MethodLabel(request.method);
  metrics_.RecordRequest(ctx.route, method, response.status, latency);
  AccessRecord record;
  record.method = method;
  record.route = ctx.route;
  record.status = response.status;
  record.latency_ms =
      std::chrono::duration<double, std::milli>(latency).count();
  record.peer = request.peer;
  record.user_id = ctx.user_id;
  record.request_id = ctx.request_id;
  log_(FormatAccessLine(clock_->Now(), record));
  return response;
}

void SyncService::RecordTransportResponse(std::string_view method,
                                          std::string_view peer,
                                          const Response& response,
                                          std::chrono::nanoseconds latency) {
  const std::string_view m = MethodLabel(method);
  metrics_.RecordRequest(response.route, m, response.status, latency);
  AccessRecord record;
  record.method = m;
  record.route = response.route;
  record.status = response.status;
  record.latency_ms =
      std::chrono::duration<double, std::milli>(latency).count();
  record.peer = peer;
  const std::string id = NewRequestId();
  record.request_id = id;
  log_(FormatAccessLine(clock_->Now(), record));
}

Response SyncService::Dispatch(const Request& request, Context& ctx) {
  using Fn = Response (SyncService::*)(const Request&, Context&);
  struct RouteDef {
    std::string_view path;
    std::string_view method;
    Fn fn;
  };
  if (request.path == "/healthz") {
    ctx.route = "/healthz";
    if (request.method != "GET" && request.method != "HEAD") {
      Response r = ProblemResponse(405, "method-not-allowed",
                                   "/healthz allows GET");
      r.headers.emplace_back("Allow", "GET, HEAD");
      return r;
    }
    Response r;
    r.content_type = "text/plain; charset=utf-8";
    r.body = "ok\n";
    return r;
  }
  if (request.path == "/metrics") {
    ctx.route = "/metrics";
    if (request.method != "GET" && request.method != "HEAD") {
      Response r =
          ProblemResponse(405, "method-not-allowed", "/metrics allows GET");
      r.headers.emplace_back("Allow", "GET, HEAD");
      return r;
    }
    Response r;
    r.content_type = "text/plain; version=0.0.4; charset=utf-8";
    r.body = metrics_.Render() + AuditMetricsText();
    return r;
  }
  static const RouteDef kApi[] = {
      {"/api/v1/auth/login", "POST", &SyncService::HandleLogin},
      {"/api/v1/auth/logout", "POST", &SyncService::HandleLogout},
      {"/api/v1/sync/push", "POST", &SyncService::HandlePush},
      {"/api/v1/sync/pull", "GET", &SyncService::HandlePull},
  };
  for (const RouteDef& route : kApi) {
    if (request.path != route.path) continue;
    ctx.route = std::string(route.path);
    if (request.method != route.method) {
      Response r = ProblemResponse(
          405, "method-not-allowed",
          std::string(route.path) + " allows " + std::string(route.method));
      r.headers.emplace_back("Allow", std::string(route.method));
      return r;
    }
    return (this->*route.fn)(request, ctx);
  }
  // Route families with path parameters, each in its own file.
  struct Family {
    std::string_view prefix;
    Fn fn;
  };
  static const std::vector<Family> kFamilies = {
      {"/api/v1/blobs/", &SyncService::HandleBlobs},  // blob_handlers.cc
      {"/api/v1/admin/", &SyncService::HandleAdmin},  // admin_handlers.cc
      {"/api/v1/audit/", &SyncService::HandleAudit},  // audit_handlers.cc
  };
  for (const Family& family : kFamilies) {
    if (request.path.starts_with(family.prefix)) {
      return (this->*family.fn)(request, ctx);
    }
  }
  return ProblemResponse(404, "not-found", "no such endpoint");
}

Response SyncService::StoreError(const Error& error, std::string_view what,
                                 Context& ctx) {
  // The store's message stays in the log; the client gets the request id.
  LogEvent("error", "store error", ctx,
           {{"operation", std::string(what)}, {"error", error.ToString()}});
  if (error.code() == ErrorCode::kBusy) {
    Response r = ProblemResponse(503, "unavailable",
                                 "the central store is busy; retry shortly");
    r.headers.emplace_back("Retry-After", "1");
    return r;
  }
  return ProblemResponse(500, "internal-error",
                         "internal error; request id " + ctx.request_id);
}

Result<SyncService::Auth> SyncService::Authenticate(const Request& request,
                                                    Context& ctx,
                                                    Response* error) {
  auto refuse = [&](std::string kind, std::string detail) {
    metrics_.AddAuthFailure(kind);
    AuditDenial(request, ctx, "session");
    *error = Unauthorized(std::move(detail));
    return Fail(ErrorCode::kPermissionDenied, "unauthorized");
  };
  const auto header = request.Header("authorization");
  if (!header) {
    return refuse("missing_token", "Authorization: Bearer <token> required");
  }
  std::string_view value = Trim(*header);
  const std::size_t space = value.find(' ');
  if (space == std::string_view::npos ||
      Lower(value.substr(0, space)) != "bearer") {
    return refuse("invalid_token", "Authorization must use the Bearer scheme");
  }
  const std::string_view token = Trim(value.substr(space + 1));
  auto bytes = token.size() == 2 * kTokenBytes
                   ? engine::HexDecode(token)
                   : Result<std::vector<std::uint8_t>>(
                         Fail(ErrorCode::kInvalidArgument, "length"));
  if (!bytes) return refuse("invalid_token", "malformed bearer token");
  Auth auth;
  auth.token_hash = TokenHash(*bytes);
  auto session = options_.store->FindSession(auth.token_hash);
  if (!session) {
    *error = StoreError(session.error(), "FindSession", ctx);
    return Fail(session.error());
  }
  if (!session->has_value()) {
    return refuse("invalid_token", "unknown bearer token");
  }
  auth.session = std::move(**session);
  const std::int64_t now = NowMs();
  if (auth.session.revoked) {
    return refuse("revoked_token", "the session was logged out");
  }
  if (now >= auth.session.expires_ms) {
    return refuse("expired_token", "the session has expired; log in again");
  }
  const std::int64_t idle_ms =
      duration_cast<milliseconds>(options_.idle_timeout).count();
  if (now - auth.session.last_seen_ms >= idle_ms) {
    return refuse("expired_token",
                  "the session was idle too long; log in again");
  }
  auto user = options_.store->FindUserById(auth.session.user_id);
  if (!user) {
    *error = StoreError(user.error(), "FindUserById", ctx);
    return Fail(user.error());
  }
  if (!user->has_value() || !(*user)->active) {
    return refuse("inactive_user", "the session's user is no longer active");
  }
  auth.user = std::move(**user);
  ctx.user_id = auth.user.id;
  ctx.role = auth.user.role;
  ctx.site = auth.user.site;
  const std::int64_t touch_ms =
      duration_cast<milliseconds>(options_.touch_interval).count();
  if (now - auth.session.last_seen_ms >= touch_ms) {
    if (Status s = options_.store->TouchSession(auth.token_hash, now); !s) {
      // The request may proceed; the session merely looks idler than it is.
      LogEvent("warn", "session touch failed", ctx,
               {{"error", s.error().ToString()}});
    }
  }
  return auth;
}

Response SyncService::HandleLogin(const Request& request, Context& ctx) {
  if (!IsJsonContentType(request.Header("content-type"))) {
    return UnsupportedMediaType();
  }
  auto login = sync::DecodeLoginRequest(request.body);
  if (!login) {
    return ProblemResponse(400, "bad-request", login.error().message());
  }
  const auto now = clock_->Now();
  const std::string user_key = Lower(login->username);
  const std::string& address_key = request.peer;
  std::optional<milliseconds> wait = user_limiter_.RetryAfter(user_key, now);
  if (auto w = address_limiter_.RetryAfter(address_key, now)) {
    wait = wait ? std::max(*wait, *w) : *w;
  }
  // Every refusal is audited as login_failed (denied), naming the user
  // when the name is known; never the password.
  auto audit_failed = [&](const StoredUser* known) {
    AuditNote note;
    note.action = engine::AuditAction::kLoginFailed;
    note.object_type = "session";
    note.outcome = engine::AuditOutcome::kDenied;
    if (known != nullptr) {
      note.actor = known->id;
      note.actor_role = known->role;
    }
    (void)Audit(request, ctx, note);  // a failure is logged by Audit
  };
  if (wait) {
    audit_failed(nullptr);
    metrics_.AddAuthFailure("rate_limited");
    const auto seconds = (wait->count() + 999) / 1000;
    Response r = ProblemResponse(
        429, "too-many-requests",
        "too many failed logins; retry in " + std::to_string(seconds) + " s");
    r.headers.emplace_back("Retry-After", std::to_string(seconds));
    return r;
  }
  auto failed = [&](std::string_view kind) {
    user_limiter_.RecordFailure(user_key, now);
    address_limiter_.RecordFailure(address_key, now);
    metrics_.AddAuthFailure(kind);
  };
  // One message for unknown user and wrong password.
  const std::string kBadCredentials = "wrong username or password";

  auto found = options_.store->FindUserByName(login->username);
  if (!found) return StoreError(found.error(), "FindUserByName", ctx);
  if (!found->has_value()) {
    // Same Argon2 work as a real check, so timing does not tell whether
    // the username exists.
    (void)engine::VerifyPassword(dummy_hash_, login->password);
    failed("bad_credentials");
    audit_failed(nullptr);
    return Unauthorized(kBadCredentials);
  }
  const StoredUser& user = **found;
  if (Status ok = engine::VerifyPassword(user.password_hash, login->password);
      !ok) {
    if (ok.error().code() == ErrorCode::kCorruption) {
      LogEvent("error", "stored password hash unusable", ctx,
               {{"user_id", user.id}});
      return ProblemResponse(500, "internal-error",
                             "internal error; request id " + ctx.request_id);
    }
    failed("bad_credentials");
    audit_failed(&user);
    return Unauthorized(kBadCredentials);
  }
  if (!user.active) {
    failed("inactive_user");
    audit_failed(&user);
    return ProblemResponse(403, "account-disabled",
                           "this account is disabled");
  }
  user_limiter_.Clear(user_key);

  std::array<std::uint8_t, kTokenBytes> token_bytes;
  engine::RandomBytes(token_bytes);
  const std::int64_t now_ms =
      duration_cast<milliseconds>(now.time_since_epoch()).count();
  Session session;
  session.token_hash = TokenHash(token_bytes);
  session.user_id = user.id;
  session.role = user.role;
  session.site = user.site;
  session.created_ms = now_ms;
  session.last_seen_ms = now_ms;
  session.expires_ms =
      now_ms + duration_cast<milliseconds>(options_.session_lifetime).count();
  if (Status s = options_.store->CreateSession(session); !s) {
    return StoreError(s.error(), "CreateSession", ctx);
  }
  ctx.user_id = user.id;
  ctx.role = user.role;
  ctx.site = user.site;
  // A sign-in that cannot be recorded does not happen: the new session is
  // revoked before the token is ever seen.
  if (Status s = Audit(request, ctx,
                       AuditNote{.action = engine::AuditAction::kLogin,
                                 .object_type = "session"});
      !s) {
    (void)options_.store->RevokeSession(session.token_hash);
    return ProblemResponse(500, "internal-error",
                           "internal error; request id " + ctx.request_id);
  }
  sync::LoginResponse out;
  out.token = engine::HexEncode(token_bytes);
  out.user_id = user.id;
  out.role = std::string(engine::RoleName(user.role));
  out.site = user.site;
  out.expires_at_ms = session.expires_ms;
  out.idle_timeout_s = options_.idle_timeout.count();
  return JsonResponse(200, sync::EncodeLoginResponse(out));
}

Response SyncService::HandleLogout(const Request& request, Context& ctx) {
  Response error;
  auto auth = Authenticate(request, ctx, &error);
  if (!auth) return error;
  if (Status s = options_.store->RevokeSession(auth->token_hash);
      !s && s.error().code() != ErrorCode::kNotFound) {
    return StoreError(s.error(), "RevokeSession", ctx);
  }
  // The session is already revoked; a failure to record that is logged.
  (void)Audit(request, ctx,
              AuditNote{.action = engine::AuditAction::kLogout,
                        .object_type = "session"});
  Response r;
  r.status = 204;
  return r;
}

Response SyncService::HandlePush(const Request& request, Context& ctx) {
  if (!IsJsonContentType(request.Header("content-type"))) {
    return UnsupportedMediaType();
  }
  Response error;
  auto auth = Authenticate(request, ctx, &error);
  if (!auth) return error;
  const StoredUser& user = auth->user;
  if (!IsClinicStaff(user.role) || !user.site) {
    AuditDenial(request, ctx, "sync_batch");
    return ProblemResponse(403, "forbidden",
                           "only clinic staff (clinician, technician) push");
  }
  auto push = sync::DecodePushRequest(request.body);
  if (!push) {
    switch (push.error().code()) {
      case ErrorCode::kUnsupported:
        return UpgradeRequired(push.error().message(),
                               sync::kProtocolVersion, std::nullopt);
      case ErrorCode::kOutOfRange:
        return ProblemResponse(413, "payload-too-large",
                               push.error().message());
      default:
        return ProblemResponse(400, "bad-request", push.error().message());
    }
  }
  if (auto refused = CheckClinicSchema(push->schema_version)) {
    return *refused;
  }
  const std::string& site = *user.site;
  if (push->site != site) {
    AuditDenial(request, ctx, "sync_batch", push->batch_id);
    return ProblemResponse(403, "forbidden",
                           "site: not the site of the session's user");
  }
  const auto now = clock_->Now();
  const std::int64_t now_ms =
      duration_cast<milliseconds>(now.time_since_epoch()).count();
  bool stamp_warning = false;
  for (std::size_t i = 0; i < push->changes.size(); ++i) {
    const engine::ChangeEntry& entry = push->changes[i];
    if (entry.site != push->site) {
      AuditDenial(request, ctx, "sync_batch", push->batch_id);
      return ProblemResponse(
          403, "forbidden",
          Index(i) + ".site: not the pushing site (a replica pushes only its "
                     "own writes)");
    }
    // Checked here, not only in the authorizer: the store must know the
    // table before it can tell the authorizer whose row it is.
    if (!ResourceForTable(entry.table)) {
      // The decoder allowed only [a-z][a-z0-9_]*: safe to echo.
      return ProblemResponse(400, "bad-request",
                             Index(i) + ".table: '" + entry.table +
                                 "' is not a replicated table");
    }
    switch (engine::CheckStampDrift(entry.hlc, now, options_.drift)) {
      case engine::DriftVerdict::kRefuse: {
        const std::int64_t ahead_s =
            (entry.hlc.physical_ms() - now_ms) / 1000;
        return ProblemResponse(
            422, "clock-drift",
            Index(i) + ".hlc: stamped " + std::to_string(ahead_s) +
                " s ahead of the server clock (limit " +
                std::to_string(
                    duration_cast<std::chrono::seconds>(options_.drift.refuse)
                        .count()) +
                " s); fix the clinic's clock");
      }
      case engine::DriftVerdict::kWarn:
        stamp_warning = true;
        break;
      case engine::DriftVerdict::kOk:
        break;
    }
  }

  // Authors are looked up before the ingest transaction opens, so the
  // authorizer never calls back into the store from inside it.
  std::map<std::string, std::optional<StoredUser>, std::less<>> authors;
  for (const engine::ChangeEntry& entry : push->changes) {
    if (authors.contains(entry.author)) continue;
    auto author = options_.store->FindUserById(entry.author);
    if (!author) return StoreError(author.error(), "FindUserById", ctx);
    authors.emplace(entry.author, std::move(*author));
  }

  std::optional<Response> denied;
  auto deny = [&denied](int status, std::string_view slug,
                        std::string detail) -> Status {
    denied = ProblemResponse(status, slug, detail);
    return Fail(status == 400 ? ErrorCode::kInvalidArgument
                              : ErrorCode::kPermissionDenied,
                std::move(detail));
  };
  const std::optional<engine::Uuid> site_uuid = ParseUuid(site);
  EntryAuthorizer authorize = [&](std::size_t i,
                                  const engine::ChangeEntry& entry,
                                  const RowContext& row) -> Status {
    const auto resource = ResourceForTable(entry.table);
    if (!resource) {
      return deny(400, "bad-request",
                  Index(i) + ".table: '" + entry.table +
                      "' is not a replicated table");
    }
    if (!row.row_site || *row.row_site != site) {
      return deny(403, "forbidden",
                  Index(i) +
                      ": the row belongs to another site (a clinic writes "
                      "only its own site's rows)");
    }
    const engine::Action action =
        entry.op == engine::Op::kDelete ? engine::Action::kDelete
        : row.exists                    ? engine::Action::kUpdate
                                        : engine::Action::kCreate;
    const std::optional<StoredUser>& author = authors.at(entry.author);
    if (!author) {
      // Append-only machine records may come from a user the central store
      // has not seen (an error before the first sync of a new user).
      if (*resource == engine::Resource::kAuditEvents ||
          *resource == engine::Resource::kClientErrors) {
        return OkStatus();
      }
      return deny(403, "forbidden", Index(i) + ".author: unknown user");
    }
    engine::Principal who;
    who.user_id = ParseUuid(author->id).value_or(engine::Uuid());
    who.role = author->role;
    if (author->site) who.site = ParseUuid(*author->site);
    const engine::Decision decision =
        engine::Authorize(who, action, *resource, site_uuid);
    if (!decision) {
      return deny(403, "forbidden", Index(i) + ": " + decision.reason);
    }
    return OkStatus();
  };

  IngestRequest ingest;
  ingest.batch_id = push->batch_id;
  ingest.site = site;
  ingest.pushed_by = user.id;
  ingest.received_ms = now_ms;
  ingest.changes = push->changes;
  auto result = options_.store->IngestBatch(ingest, authorize);
  if (!result) {
    if (denied) {
      if (denied->status == 403) {
        AuditDenial(request, ctx, "sync_batch", push->batch_id);
      }
      return *denied;
    }
    switch (result.error().code()) {
      case ErrorCode::kInvalidArgument:
      case ErrorCode::kConstraint:
      case ErrorCode::kUnsupported:
      case ErrorCode::kCorruption:
        // The merge refused an entry (a column the schema lacks, a value of
        // the wrong type): the client's data, not our fault, but its
        // message may quote values, so it stays in the log.
        LogEvent("warn", "batch rejected by the store", ctx,
                 {{"error", result.error().ToString()}});
        (void)Audit(request, ctx,
                    AuditNote{.action = engine::AuditAction::kSyncPush,
                              .object_type = "sync_batch",
                              .object_id = push->batch_id,
                              .outcome = engine::AuditOutcome::kError});
        return ProblemResponse(
            422, "change-rejected",
            "the central store rejected a change of this batch; request id " +
                ctx.request_id);
      default:
        return StoreError(result.error(), "IngestBatch", ctx);
    }
  }
  metrics_.AddChangesIngested(result->duplicate ? 0 : result->accepted);
  metrics_.AddConflicts(result->duplicate ? 0 : result->conflicts);
  // (IngestBatch recorded the site's push time in its transaction.)
  const bool has_audit_records = std::any_of(
      push->changes.begin(), push->changes.end(),
      [](const engine::ChangeEntry& e) { return e.table == "audit_events"; });
  if (options_.audit != nullptr && !result->duplicate && has_audit_records) {
    // The pushed audit records must extend the site's chain; a break is
    // stored for the auditor and never blocks the clinic's sync. A batch
    // without audit records cannot break a chain, so it skips the check
    // (a writer transaction per push); the central chain is checked with
    // every checkpoint.
    if (Status s = options_.audit->CheckContinuity(); !s) {
      LogEvent("warn", "audit continuity check failed", ctx,
               {{"error", s.error().ToString()}});
    }
  }
  // Fail closed: the batch is stored, but an unrecorded push is not
  // acknowledged; the clinic resends it (same batch id: answered as a
  // duplicate and recorded then).
  if (Status s = Audit(request, ctx,
                       AuditNote{.action = engine::AuditAction::kSyncPush,
                                 .object_type = "sync_batch",
                                 .object_id = push->batch_id});
      !s) {
    return ProblemResponse(500, "internal-error",
                           "internal error; request id " + ctx.request_id);
  }
  sync::PushResponse out;
  out.batch_id = push->batch_id;
  out.accepted = result->accepted;
  out.duplicate = result->duplicate;
  out.conflicts = result->conflicts;
  out.server_time_ms = now_ms;
  if (options_.blobs != nullptr) {
    // The blobs this batch's rows reference that the site has not uploaded
    // yet (docs/sync_protocol.md "Blobs"); a resent batch asks again.
    std::vector<std::string> referenced;
    for (const engine::ChangeEntry& entry : push->changes) {
      const std::string_view column =
          entry.table == "recording_segments" ? "blob_sha256"
          : entry.table == "reports"          ? "pdf_sha256"
                                              : "";
      if (column.empty()) continue;
      auto field = entry.fields.find(std::string(column));
      if (field == entry.fields.end()) continue;
      const auto* hash = std::get_if<std::string>(&field->second);
      if (hash != nullptr && engine::IsValidBlobId(*hash)) {
        referenced.push_back(*hash);
      }
    }
    auto missing = options_.blobs->MissingFor(site, referenced);
    if (!missing) return StoreError(missing.error(), "MissingFor", ctx);
    out.missing_blobs = std::move(*missing);
  }
  const auto client_time = std::chrono::system_clock::time_point(
      milliseconds(push->client_time_ms));
  out.clock_skew_warning =
      stamp_warning || engine::CheckClockSkew(client_time, now,
                                              options_.drift) !=
                           engine::DriftVerdict::kOk;
  return JsonResponse(200, sync::EncodePushResponse(out));
}

Response SyncService::HandlePull(const Request& request, Context& ctx) {
  Response error;
  auto auth = Authenticate(request, ctx, &error);
  if (!auth) return error;
  const StoredUser& user = auth->user;
  if (!IsClinicStaff(user.role) || !user.site) {
    AuditDenial(request, ctx, "global_log");
    return ProblemResponse(403, "forbidden",
                           "only clinic staff (clinician, technician) pull");
  }
  auto params = ParseQueryParams(
      request.query, {"cursor", "limit", "protocol_version", "schema_version"});
  if (!params) {
    return ProblemResponse(400, "bad-request", params.error().message());
  }
  constexpr std::int64_t kMaxInt = std::numeric_limits<std::int64_t>::max();
  auto cursor = IntParam(*params, "cursor", 0, kMaxInt);
  auto limit = IntParam(*params, "limit", 1, sync::kMaxPullLimit);
  auto protocol = IntParam(*params, "protocol_version", 0, kMaxInt);
  auto schema = IntParam(*params, "schema_version", 1, kMaxInt);
  for (const auto* p : {&cursor, &limit, &protocol, &schema}) {
    if (!*p) return ProblemResponse(400, "bad-request", p->error().message());
  }
  if (*protocol && **protocol != sync::kProtocolVersion) {
    return UpgradeRequired("protocol_version " + std::to_string(**protocol) +
                               " is not spoken by this server",
                           sync::kProtocolVersion, std::nullopt);
  }
  if (*schema) {
    if (auto refused = CheckClinicSchema(**schema)) return *refused;
  }
  const std::string& site = *user.site;
  auto page = options_.store->PullEncoded(
      site, cursor->value_or(0),
      static_cast<int>(limit->value_or(sync::kDefaultPullLimit)));
  if (!page) return StoreError(page.error(), "Pull", ctx);
  const std::int64_t now_ms = NowMs();
  if (Status s = options_.store->NoteSiteSync(site, /*push=*/false, now_ms);
      !s) {
    LogEvent("warn", "NoteSiteSync failed", ctx,
             {{"error", s.error().ToString()}});
  }
  // Fail closed: rows that cannot be recorded as read are not sent.
  if (Status s = Audit(request, ctx,
                       AuditNote{.action = engine::AuditAction::kSyncPull,
                                 .object_type = "global_log"});
      !s) {
    return ProblemResponse(500, "internal-error",
                           "internal error; request id " + ctx.request_id);
  }
  sync::PullResponse out;
  out.next_cursor = page->next_cursor;
  out.more = page->more;
  out.server_time_ms = now_ms;
  return JsonResponse(200, sync::EncodePullResponse(out, page->changes));
}

}  // namespace pulse::sync_server
