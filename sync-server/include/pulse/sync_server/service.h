// SyncService: the sync server's request handlers (DESIGN.md §5, §6) as one
// pure function from a Request (plus the store and the clock it was given)
// to a Response. No sockets, no Beast: the HTTP front end (http_server.h)
// only moves bytes, and the tests call Handle() directly.
//
// Routes (docs/sync_protocol.md):
//   GET  /healthz                 200 "ok"                 (no auth)
//   GET  /metrics                 Prometheus text          (no auth)
//   POST /api/v1/auth/login       LoginRequest -> LoginResponse
//   POST /api/v1/auth/logout      204, revokes the bearer token
//   POST /api/v1/sync/push        PushRequest -> PushResponse (clinic staff)
//   GET  /api/v1/sync/pull        ?cursor&limit&protocol_version&
//                                 schema_version -> PullResponse (clinic staff)
//   GET|HEAD|PUT /api/v1/blobs/{sha256}
//                                 blob download / upload status / resumable
//                                 upload (blob_handlers.cc)
// Every error is problem+json (RFC 9457, sync::Problem). Every call but
// login, healthz and metrics needs "Authorization: Bearer <64 hex>".
//
// State: everything a second instance would need (sessions, cursors, batch
// ids) is in the CentralStore; the only in-memory state is the login rate
// limiter and the metrics, which may be lost at any moment (DESIGN.md §12).
//
// Logging: one access line per request and error events, through
// Options::log_sink (request_log.h). Never bodies, tokens, passwords or
// patient data.
//
// Thread-safety: Handle() may be called from many threads at once; the
// store and clock must be thread-safe (central_store.h requires it).
#ifndef PULSE_SYNC_SERVER_SERVICE_H_
#define PULSE_SYNC_SERVER_SERVICE_H_

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "pulse/engine/clock.h"
#include "pulse/engine/hlc.h"
#include "pulse/engine/password.h"
#include "pulse/sync_server/admin_store.h"
#include "pulse/sync_server/audit_trail.h"
#include "pulse/sync_server/central_blob_store.h"
#include "pulse/sync_server/central_store.h"
#include "pulse/sync_server/http_message.h"
#include "pulse/sync_server/metrics.h"
#include "pulse/sync_server/rate_limiter.h"
#include "pulse/sync_server/request_log.h"

namespace pulse::sync_server {

// The clinic schema versions (schema/clinic/) this server syncs with:
// the current one and the one before it, so clinics can take an update at
// their own pace. Outside the range, push and pull get 426 naming the
// version needed (docs/sync_protocol.md "Versions"). Every schema so far
// has the same replicated columns (2 added field clocks, 3 dropped the
// version graph: bookkeeping only), so entries need no translation; a
// version that adds a replicated column must strip it from pulls for the
// version before (docs/sync_protocol.md).
inline constexpr int kSupportedClinicSchemaVersion = 3;
inline constexpr int kOldestClinicSchemaVersion =
    kSupportedClinicSchemaVersion - 1;

struct ServiceOptions {
  // Not owned; must outlive the service. REQUIRES: non-null.
  CentralStore* store = nullptr;
  // Not owned; must outlive the service and be thread-safe. Null: the blob
  // routes answer 503 (blob storage not configured).
  CentralBlobStore* blobs = nullptr;
  // Not owned; must outlive the service and be thread-safe. Null: the admin
  // routes answer 503 (admin store not configured).
  AdminStore* admin = nullptr;
  // Not owned; must outlive the service and be thread-safe. Where Audit()
  // appends events and the audit routes read. Null: audit is not
  // configured — events are not recorded and the audit routes answer 503
  // (only for tests of unrelated handlers; the server binary always passes
  // a SqlcipherAuditTrail).
  AuditTrail* audit = nullptr;
  // Not owned; must be thread-safe. Null: engine::SystemClock().
  engine::Clock* clock = nullptr;

  // A session dies after this long unused ...
  std::chrono::seconds idle_timeout{std::chrono::minutes(30)};
  // ... and this long after login, used or not.
  std::chrono::seconds session_lifetime{std::chrono::hours(12)};
  // last_seen is written back at most this often per session (a read then
  // costs no write); idle expiry is thus up to this much early.
  std::chrono::seconds touch_interval{std::chrono::seconds(30)};

  // Failed logins allowed per window, per username and per client address.
  FailureRateLimiter::Options user_limit{5, std::chrono::minutes(5), 100000};
  FailureRateLimiter::Options address_limit{20, std::chrono::minutes(5),
                                            100000};

  // Stamps further ahead than drift.refuse are refused (422); clocks apart
  // by more than drift.warn get clock_skew_warning.
  engine::DriftPolicy drift;

  // Cost of the dummy hash verified for unknown usernames, so that their
  // refusal takes as long as a wrong password. Should match the cost of
  // real hashes (password.h default); tests lower it.
  engine::PasswordHashCost dummy_hash_cost;

  // Null: StderrLogSink().
  LogSink log_sink;
};

class SyncService {
 public:
  // kInvalidArgument naming the option if one is out of range (no store,
  // a non-positive timeout, lifetime shorter than idle timeout, ...).
  static Result<std::unique_ptr<SyncService>> Create(
      const ServiceOptions& options);

  SyncService(const SyncService&) = delete;
  SyncService& operator=(const SyncService&) = delete;
  ~SyncService();

  // Handles one complete request: routes, authenticates, answers, records
  // metrics and writes the access log line. Never throws.
  Response Handle(const Request& request);

  // For responses the transport makes itself (413 over the body limit, 400
  // for an unparsable request, 408 on a read timeout): counts and logs them
  // like handled ones. `route` should be "(transport)".
  void RecordTransportResponse(std::string_view method, std::string_view peer,
                               const Response& response,
                               std::chrono::nanoseconds latency);

  Metrics& metrics() { return metrics_; }

 private:
  explicit SyncService(const ServiceOptions& options, std::string dummy_hash);
  struct Auth;
  struct Context;

  Response Dispatch(const Request& request, Context& ctx);
  Response HandleLogin(const Request& request, Context& ctx);
  Response HandleLogout(const Request& request, Context& ctx);
  Response HandlePush(const Request& request, Context& ctx);
  Response HandlePull(const Request& request, Context& ctx);
  // Route families (Dispatch's kFamilies), one file each.
  // (route family declarations go here)
  // /api/v1/audit/...: events, chain status and verification, checkpoints
  // (audit_handlers.cc; docs/sync_protocol.md "Audit API"). Auditors only.
  Response HandleAudit(const Request& request, Context& ctx);
  // /api/v1/blobs/{sha256}: GET, HEAD, PUT (blob_handlers.cc).
  Response HandleBlobs(const Request& request, Context& ctx);
  // /api/v1/admin/...: sites, patients, recordings, conflicts, users,
  // devices (admin_handlers.cc; docs/sync_protocol.md "Admin API").
  Response HandleAdmin(const Request& request, Context& ctx);

  // Appends the audit event (DESIGN.md §6) for what the caller of `request`
  // (ctx's authenticated user, if any) did. A handler that reads or writes
  // patient data calls it before answering and fails closed (500) when it
  // fails: an access that cannot be recorded does not happen.
  // Implemented in server_audit.cc.
  struct AuditNote;
  Status Audit(const Request& request, const Context& ctx,
               const AuditNote& note);
  // The events of `notes` in one wait (AuditTrail::AppendAll): a page of
  // search results is one commit, not one per row shown.
  Status AuditAll(const Request& request, const Context& ctx,
                  std::span<const AuditNote> notes);
  // Audits a 401/403 (permission_denied, outcome denied) on `object_type`;
  // a failure to record it is logged (the request is refused anyway).
  void AuditDenial(const Request& request, const Context& ctx,
                   std::string_view object_type,
                   std::optional<std::string> object_id = std::nullopt);
  // The audit trail's counters in Prometheus text, appended to /metrics.
  std::string AuditMetricsText() const;
  // The session behind the bearer token, or the 401/500 to answer.
  Result<Auth> Authenticate(const Request& request, Context& ctx,
                            Response* error);
  Response StoreError(const Error& error, std::string_view what,
                      Context& ctx);
  void LogEvent(std::string_view level, std::string_view msg,
                const Context& ctx,
                std::vector<std::pair<std::string, std::string>> fields);
  std::int64_t NowMs();

  const ServiceOptions options_;
  const std::string dummy_hash_;
  engine::Clock* const clock_;
  const LogSink log_;
  FailureRateLimiter user_limiter_;
  FailureRateLimiter address_limiter_;
  Metrics metrics_;
};

}  // namespace pulse::sync_server

#endif  // PULSE_SYNC_SERVER_SERVICE_H_
