// The replica's side of the audit chain (DESIGN.md §6): turns "who did what
// to which object" into the next chained audit event of this site, as a row
// write for the audit_events table that the caller commits together with
// the data write it audits (LocalWriter::Commit), so an operation and its
// audit record land or fail together. Offline events are chained locally
// and travel to the server like any other change.
//
// CommitAudited() and AuditDenial() below are the one way repositories
// commit: data writes with their event, or a refusal's event alone.
//
// Thread-safety: one AuditLog per LocalWriter connection, one thread at a
// time; the chain head is read from the database each time, so a failed
// commit leaves no gap.
#ifndef PULSE_ENGINE_AUDIT_LOG_H_
#define PULSE_ENGINE_AUDIT_LOG_H_

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "pulse/base/result.h"
#include "pulse/engine/audit.h"
#include "pulse/engine/clock.h"
#include "pulse/engine/database.h"
#include "pulse/engine/hlc.h"
#include "pulse/engine/local_writer.h"
#include "pulse/engine/permissions.h"
#include "pulse/engine/uuid.h"

namespace pulse::engine {

// What happened, for one audit event. Every member has a default, so a
// designated initializer names only what it sets.
struct AuditFact {
  const Principal* actor = nullptr;  // nullptr: no known user
  AuditAction action = AuditAction::kView;
  std::string_view object_type{};          // e.g. "patients"
  std::optional<std::string> object_id{};  // UUID
  std::optional<std::string> patient{};    // UUID of the patient concerned
  AuditOutcome outcome = AuditOutcome::kOk;
};

class AuditLog {
 public:
  // `site` is this replica's site; `device` the replica's install UUID,
  // recorded as the source "device:<uuid>" of every event.
  AuditLog(Database& db, Clock& wall, HybridClock& clock, UuidV7Generator& ids,
           Uuid site, Uuid device);

  // The next chained event for `fact` as a RowWrite of audit_events.
  // REQUIRES: committed (LocalWriter::Commit) before the next call, in the
  // same connection's transaction as any write it audits.
  Result<RowWrite> Next(const AuditFact& fact);

  // Chain head as stored: (0, genesis) for an empty chain.
  Result<ChainHead> Head();

 private:
  Database& db_;
  Clock& wall_;
  HybridClock& clock_;
  UuidV7Generator& ids_;
  Uuid site_;
  std::string source_;
};

// Commits `writes` followed by the audit event for `fact` (AuditLog::Next)
// in one LocalWriter::Commit, so the data and its record land or fail
// together; `writes` may be empty (a read is audited by its event alone).
// The change entries are authored by fact.actor's user id, or by the nil
// UUID (which no account has) when fact.actor is null — no known user, as
// in a sign-in attempt for an unknown name. Returns the error of Next() or
// Commit(), nothing written then.
Status CommitAudited(LocalWriter& writer, AuditLog& audit,
                     const AuditFact& fact, std::vector<RowWrite> writes);

// Audits a refusal by the permission matrix: commits the event for `fact`
// with its action set to permission_denied and its outcome to denied, alone
// (the attempted action is implied by the caller's API; the event has no
// free-text field for `reason`). Returns kPermissionDenied with message
// `reason`, or the error of the audit write if that failed.
Status AuditDenial(LocalWriter& writer, AuditLog& audit, AuditFact fact,
                   std::string_view reason);

// `site`'s chain as stored in `db`'s audit_events, in seq order, ready for
// VerifyChain (audit.h). kCorruption naming the seq for a row whose event
// or hashes do not decode; the verifier judges the rest.
Result<std::vector<ChainedEvent>> ReadAuditChain(Database& db,
                                                 const Uuid& site);

}  // namespace pulse::engine

#endif  // PULSE_ENGINE_AUDIT_LOG_H_
