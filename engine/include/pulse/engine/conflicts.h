// Conflicts for a person to settle (DESIGN.md §4, docs/data_model.md §3.3).
//
// The merge keeps every value that was overwritten by a writer who never
// saw it in the local `conflicts` table (one row per losing version, with
// an id equal on every replica) while the winner stands. A person then
// decides: keep the current value, or take the lost one. The decision is a
// replicated, append-only `conflict_resolutions` row, so every replica
// stops showing the conflict once the decision reaches it; the conflict
// row itself stays (the merge owns it), and "open" means: in `conflicts`,
// with no resolution.
//
// take_loser writes the lost value back to its field as an ordinary local
// write (LocalWriter, base = the current version: a successor of the
// winner, not a new concurrent edit), in the same Commit as the resolution
// and its audit event. It does not apply to a delete_vs_update conflict:
// tombstones are final in the merge (a row is never undeleted), so the lost
// update of a deleted row can only be acknowledged (keep_current).
//
// Who (docs/security.md §2): reading conflicts is Resource::kConflicts /
// Action::kRead, settling one Action::kResolve, both against the site of
// the conflicting row — the admin anywhere, a clinician at their own site;
// technicians see but do not settle; the auditor neither (conflicts hold
// clinical values). Conflicts on reference data (sites, users, devices)
// also need the update grant of their table, since settling one decides a
// field only its editors may write (a user's role or password hash): in
// practice, the admin's. Refusals are audited (permission_denied) and
// return kPermissionDenied. Listing a conflict on patient data is a read of it:
// audited as `view` per row shown, with the patient id; a resolution is
// audited as `conflict_resolved` (object: the conflicting row).
//
// Password hashes never leave through this API: values of
// users.password_hash are listed as redacted.
//
// Thread-safety: one repository per writer connection, one thread at a
// time.
#ifndef PULSE_ENGINE_CONFLICTS_H_
#define PULSE_ENGINE_CONFLICTS_H_

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "pulse/base/result.h"
#include "pulse/engine/audit_log.h"
#include "pulse/engine/change.h"
#include "pulse/engine/clock.h"
#include "pulse/engine/database.h"
#include "pulse/engine/hlc.h"
#include "pulse/engine/local_writer.h"
#include "pulse/engine/permissions.h"
#include "pulse/engine/uuid.h"

namespace pulse::engine {

// The decisions, as stored in conflict_resolutions.decision.
inline constexpr std::string_view kKeepCurrent = "keep_current";
inline constexpr std::string_view kTakeLoser = "take_loser";

struct OpenConflict {
  std::string id;      // 64 hex digits (BLAKE2b of table, row, column, loser)
  std::string table;   // e.g. "patients"
  std::string row;     // UUID of the conflicting row
  std::string column;  // the field
  std::string kind;    // "concurrent_update" or "delete_vs_update"
  // The value that lost, who wrote it and when.
  FieldValue loser_value;
  std::string loser_author;  // user UUID
  Hlc loser_hlc;
  std::string loser_site;  // the writing replica
  // The field's value now (the winner's), and whether the row is deleted.
  FieldValue current_value;
  bool row_deleted = false;
  // True when both values are withheld (users.password_hash): they are
  // null here.
  bool redacted = false;
  // The patient the row belongs to (patients, recordings,
  // interpretations), for the UI and the audit trail.
  std::optional<std::string> patient_id;
};

struct ConflictQuery {
  // Conflicts with ids greater than this (a page's next_after); empty for
  // the first page.
  std::string after;
  int limit = 50;  // 1..200
};

struct ConflictPage {
  std::vector<OpenConflict> conflicts;  // ordered by id
  // The `after` of the next page; nullopt when this is the last page.
  std::optional<std::string> next_after;
};

// An SQL expression for the site_id of the row that the conflict aliased
// `c` (a `conflicts` row) is about, across every mutable table (only they
// have conflicts); NULL when the row is not stored. Shared with the central
// admin store, which counts and filters conflicts by site the same way.
const std::string& ConflictRowSiteSql();

// The patient a row of `table` belongs to: the row itself for patients, its
// patient_id for recordings, its recording's patient for interpretations.
// nullopt for any other table, for a row not stored here, and for a stored
// id that is not a canonical UUID (only a well-formed id may be named in an
// audit event). Public because the central admin store lists and settles
// conflicts over its own connections and must name the same patient.
Result<std::optional<std::string>> PatientOfRow(Database& db,
                                                std::string_view table,
                                                std::string_view row);

class ConflictRepository {
 public:
  // `site` is this replica's site: resolutions belong to it, and roles with
  // an own-site grant see the conflicts of its rows. `wall` stamps
  // resolved_at_ms. All references must outlive the repository.
  ConflictRepository(Database& db, LocalWriter& writer, AuditLog& audit,
                     Clock& wall, UuidV7Generator& ids, Uuid site);

  // One page of open conflicts in the caller's reach (every site for the
  // admin; this replica's site for clinic staff). kInvalidArgument for a
  // limit outside 1..200 or an `after` that is not a conflict id;
  // kPermissionDenied (audited).
  Result<ConflictPage> List(const Principal& who, const ConflictQuery& query);

  // Settles conflict `conflict_id` with `decision` (kKeepCurrent or
  // kTakeLoser). kInvalidArgument "conflict.id" / "conflict.decision" for a
  // malformed id or an unknown decision, or take_loser on a
  // delete_vs_update conflict; kNotFound if no such conflict is recorded
  // here; kPermissionDenied (audited); kAlreadyExists if it is already
  // resolved. Nothing is written on any error.
  Status Resolve(const Principal& who, std::string_view conflict_id,
                 std::string_view decision);

 private:
  Database& db_;
  LocalWriter& writer_;
  AuditLog& audit_;
  Clock& wall_;
  UuidV7Generator& ids_;
  Uuid site_;
};

}  // namespace pulse::engine

#endif  // PULSE_ENGINE_CONFLICTS_H_
