// The replica's side of the audit chain (DESIGN.md §6): turns "who did what
// to which object" into the next chained audit event of this site, as a row
// write for the audit_events table that the caller commits together with
// the data write it audits (LocalWriter::Commit), so an operation and its
// audit record land or fail together. Offline events are chained locally
// and travel to the server like any other change.
//
// Thread-safety: one AuditLog per LocalWriter connection, one thread at a
// time; the chain head is read from the database each time, so a failed
// commit leaves no gap.
#ifndef PULSE_ENGINE_AUDIT_LOG_H_
#define PULSE_ENGINE_AUDIT_LOG_H_

#include <optional>
#include <string>
#include <string_view>

#include "pulse/base/result.h"
#include "pulse/engine/audit.h"
#include "pulse/engine/clock.h"
#include "pulse/engine/database.h"
#include "pulse/engine/hlc.h"
#include "pulse/engine/local_writer.h"
#include "pulse/engine/permissions.h"
#include "pulse/engine/uuid.h"

namespace pulse::engine {

// What happened, for one audit event.
struct AuditFact {
  const Principal* actor = nullptr;  // nullptr: no known user
  AuditAction action = AuditAction::kView;
  std::string_view object_type;          // e.g. "patients"
  std::optional<std::string> object_id;  // UUID
  std::optional<std::string> patient;    // UUID of the patient concerned
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

}  // namespace pulse::engine

#endif  // PULSE_ENGINE_AUDIT_LOG_H_
