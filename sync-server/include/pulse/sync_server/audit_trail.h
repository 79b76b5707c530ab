// AuditTrail: the server's audit storage as the handlers see it (DESIGN.md
// §6, docs/security.md "Audit"), owned by the code that uses it like
// CentralStore is:
//   - Append(): one chained event of the central site's chain for what a
//     caller of the API did (SyncService::Audit calls it);
//   - CheckContinuity(): verifies the audit records that clinics pushed
//     since the last check extend each site's chain, and stores the
//     verified head or the first break per site;
//   - the auditor's reads: events by filter, per-site chain verification,
//     signed checkpoints and the checkpoint public key.
//
// Implementations: SqlcipherAuditTrail (sqlcipher_audit_trail.h) on the
// embedded central store. Everything it keeps (events, chain status,
// checkpoints, the signing key) is in the store; counters in Stats() are
// per process.
//
// Thread-safety: every method may be called from any thread concurrently.
#ifndef PULSE_SYNC_SERVER_AUDIT_TRAIL_H_
#define PULSE_SYNC_SERVER_AUDIT_TRAIL_H_

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "pulse/base/result.h"
#include "pulse/engine/audit.h"
#include "pulse/engine/permissions.h"

namespace pulse::sync_server {

// What happened, for one server-side event. Ids are canonical UUIDs.
struct AuditRecord {
  std::optional<std::string> actor;  // user id; nullopt = no known user
  std::optional<engine::Role> role;  // REQUIRES: present exactly when actor
  engine::AuditAction action = engine::AuditAction::kView;
  std::string object_type;  // identifier, e.g. "session", "audit_events"
  std::optional<std::string> object_id;
  std::optional<std::string> patient;
  engine::AuditOutcome outcome = engine::AuditOutcome::kOk;
  // The peer's address as the transport saw it ("127.0.0.1", "::1"); the
  // event's source is "ip:<peer>". Empty or not an IP address: the
  // server's own device id is the source.
  std::string peer;
};

// Filters of the auditor's event list; all optional, combined with AND.
// Order: newest first by (time_ms, id); `before` continues a listing
// after the last event of the previous page.
struct AuditEventQuery {
  std::optional<std::string> site;
  std::optional<std::string> actor;
  std::optional<std::string> patient;
  std::optional<engine::AuditAction> action;
  std::optional<std::int64_t> from_ms;  // time_ms >= from_ms
  std::optional<std::int64_t> to_ms;    // time_ms < to_ms
  struct Position {
    std::int64_t time_ms = 0;
    std::string id;
  };
  std::optional<Position> before;
  int limit = 100;  // REQUIRES: 1..kMaxAuditPageLimit
};
inline constexpr int kMaxAuditPageLimit = 1000;

// One stored event in its chained-record form (audit_chain.md §3).
struct StoredAuditEvent {
  std::string id;
  std::string site;
  std::int64_t seq = 0;
  std::int64_t time_ms = 0;
  std::string event;  // canonical JSON as stored
  std::string prev_hash;
  std::string hash;
};

struct AuditEventPage {
  std::vector<StoredAuditEvent> events;
  bool more = false;  // another page follows the last event
};

// A site's chain as the continuity check last left it.
struct ChainStatus {
  std::string site;
  engine::ChainHead head;          // last record verified intact
  std::int64_t events_checked = 0;
  std::int64_t checked_ms = 0;     // server time of the last check
  struct Break {
    std::int64_t seq = 0;          // first seq that does not extend the chain
    engine::ChainBreak reason = engine::ChainBreak::kNone;
    std::optional<std::int64_t> found_seq;  // seq the offending record claims
    std::string detail;
    std::int64_t found_ms = 0;
  };
  std::optional<Break> broken;  // nullopt while intact
};

// A full verification of one site's stored chain, from genesis, against
// the newest checkpoint's head for the site.
struct SiteVerification {
  std::string site;
  engine::ChainReport report;   // Finish()ed verifier report
  std::int64_t stored_events = 0;
  std::optional<std::int64_t> checkpoint;  // checkpoint whose head was used
  std::optional<ChainStatus> recorded;     // the continuity status stored
};

struct AuditCheckpoint {
  std::int64_t seq = 0;
  std::int64_t time_ms = 0;
  std::int64_t global_seq = 0;
  std::string global_hash;
  std::string statement;  // the signed bytes (audit_checkpoint.h)
  std::string signature;  // hex
  std::string key_id;
};

// Per-process counters for /metrics.
struct AuditTrailStats {
  std::uint64_t events_appended = 0;
  std::uint64_t append_failures = 0;
  std::uint64_t commits = 0;           // group-commit transactions
  std::uint64_t chain_breaks_found = 0;
  std::int64_t sites_broken = 0;       // gauge: sites whose chain is broken
  std::uint64_t checkpoints_made = 0;
};

class AuditTrail {
 public:
  virtual ~AuditTrail() = default;

  // Appends `record` to the central site's chain and returns once it is
  // committed (durable), or the error: the caller must then not serve the
  // access it audits. kInvalidArgument naming the field for a record that
  // breaks the event rules (audit_chain.md §1.1).
  virtual Status Append(const AuditRecord& record) = 0;

  // Appends every record of `records`, in order, and returns once all are
  // committed, or the first error (some may then be committed: each event
  // is durable on its own, and a caller that gets an error must not serve
  // any of the accesses audited). One call is one wait: an implementation
  // with group commit puts the whole span in as few transactions as its
  // batch limit allows, where a loop of Append() pays one commit (one
  // fsync) per record. This default is that loop.
  virtual Status AppendAll(std::span<const AuditRecord> records) {
    for (const AuditRecord& r : records) {
      if (Status s = Append(r); !s) return s;
    }
    return OkStatus();
  }

  // Verifies every audit record stored since the last check (all sites,
  // the central one included) against each site's stored head, and stores
  // the new heads and any first break. A break is recorded once and is
  // sticky; it never fails the call. Errors are store errors.
  virtual Status CheckContinuity() = 0;

  // The stored status of every checked site (sorted by site), or of one.
  virtual Result<std::vector<ChainStatus>> ChainStatuses() = 0;
  virtual Result<std::optional<ChainStatus>> SiteChainStatus(
      std::string_view site) = 0;

  virtual Result<AuditEventPage> QueryEvents(const AuditEventQuery& query) = 0;

  // Chained records of `site` with seq > after_seq, in seq order, at most
  // `limit` (REQUIRES: 1..kMaxAuditPageLimit): the chain export that an
  // independent verifier (tools/audit-verify) recomputes.
  virtual Result<std::vector<StoredAuditEvent>> ChainRecords(
      std::string_view site, std::int64_t after_seq, int limit) = 0;

  // Verifies `site`'s stored chain from genesis (the verified head of the
  // newest checkpoint is expected). kNotFound when the site has no event
  // and no status.
  virtual Result<SiteVerification> VerifySite(std::string_view site) = 0;

  // Checkpoints with seq > after_seq, oldest first, at most `limit`.
  virtual Result<std::vector<AuditCheckpoint>> Checkpoints(
      std::int64_t after_seq, int limit) = 0;
  // Makes a checkpoint now (after a continuity check) and returns it.
  virtual Result<AuditCheckpoint> MakeCheckpoint() = 0;

  // The checkpoint public key (64 hex) and its key id (16 hex).
  virtual std::string PublicKeyHex() const = 0;
  virtual std::string KeyId() const = 0;

  virtual AuditTrailStats Stats() const = 0;
};

}  // namespace pulse::sync_server

#endif  // PULSE_SYNC_SERVER_AUDIT_TRAIL_H_
