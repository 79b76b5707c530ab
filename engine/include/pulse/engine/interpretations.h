// Interpretations of a recording (DESIGN.md §1, §3): a clinician's
// statement about an ECG, drafted, edited while a draft, then confirmed
// (signed off); a confirmed statement is never edited, only amended, and
// every amendment is signed off again. The table is mutable and the field
// most likely to conflict: concurrent edits at two replicas are kept by
// the merge and shown as conflicts (conflicts.h).
//
// States and the calls that move between them (docs/security.md §2: the
// matrix decides who; these rules decide when):
//
//   Draft() ──> draft ──Confirm()──> confirmed ──Amend()──> amended
//               │  ^                                        │  ^
//               └──┘ Edit()                                 └──┘ Amend()
//
// Edit is Action::kUpdate; Confirm and Amend are Action::kConfirm, which
// technicians do not have (DESIGN.md §6): their attempt is refused and
// audited. A call out of turn (Edit of a confirmed statement, Confirm of a
// confirmed one, Amend of a draft) is kInvalidArgument naming
// "interpretation.status", nothing written.
//
// Every call is authorised against the site of the row (the recording's
// site for Draft), validated (bad values are kInvalidArgument naming the
// field, nothing written), written through LocalWriter with its audit
// event in the same Commit, and audited with the patient id (looked up
// from the recording), denials included. A statement is patient data:
// reads are audited too.
//
// Thread-safety: one repository per writer connection, one thread at a
// time.
#ifndef PULSE_ENGINE_INTERPRETATIONS_H_
#define PULSE_ENGINE_INTERPRETATIONS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "pulse/base/result.h"
#include "pulse/engine/audit_log.h"
#include "pulse/engine/clock.h"
#include "pulse/engine/database.h"
#include "pulse/engine/local_writer.h"
#include "pulse/engine/permissions.h"
#include "pulse/engine/uuid.h"

namespace pulse::engine {

// Statement rule: 1–4000 bytes of UTF-8, not only white space, no control
// characters other than newline and tab (C0, DEL and C1 are refused).
inline constexpr std::size_t kMaxStatementBytes = 4000;

struct Interpretation {
  std::string id;
  std::string site_id;
  std::string recording_id;
  std::string author_id;  // who drafted it
  std::string statement;
  std::string status;     // "draft", "confirmed" or "amended"
  std::optional<std::string> confirmed_by;  // last sign-off
  std::optional<std::int64_t> confirmed_at_ms;  // Unix ms, wall clock
};

class InterpretationRepository {
 public:
  // `wall` stamps confirmed_at_ms. All references must outlive the
  // repository.
  InterpretationRepository(Database& db, LocalWriter& writer, AuditLog& audit,
                           Clock& wall, UuidV7Generator& ids);

  // A new draft of `who` for the recording; returns its id. kNotFound for
  // an unknown or deleted recording; kPermissionDenied (audited);
  // kInvalidArgument "interpretation.statement: ...".
  Result<std::string> Draft(const Principal& who,
                            const std::string& recording_id,
                            std::string_view statement);

  // Replaces the statement of a draft. kNotFound, kPermissionDenied,
  // kInvalidArgument (statement, or status when not a draft).
  Status Edit(const Principal& who, const std::string& id,
              std::string_view statement);

  // Signs off a draft: status confirmed, confirmed_by = who, confirmed_at_ms
  // = now. kNotFound, kPermissionDenied (a technician, another site's
  // clinician), kInvalidArgument when not a draft.
  Status Confirm(const Principal& who, const std::string& id);

  // Replaces the statement of a confirmed or amended interpretation and
  // signs it off again: status amended, confirmed_by = who,
  // confirmed_at_ms = now. Errors as Confirm, and as Edit for the statement.
  Status Amend(const Principal& who, const std::string& id,
               std::string_view statement);

  // The live interpretations of a recording, oldest first; one `view`
  // audit event (object recordings/<recording_id>, with the patient).
  // kNotFound for an unknown or deleted recording; kPermissionDenied
  // (audited).
  Result<std::vector<Interpretation>> ForRecording(
      const Principal& who, const std::string& recording_id);

 private:
  struct RecordingRef {
    std::string site_id;
    std::optional<std::string> patient_id;
  };
  Result<RecordingRef> LoadRecording(const std::string& recording_id);
  Result<std::optional<Interpretation>> Load(const std::string& id);
  // Load() + the recording's patient + Authorize() against the row's site:
  // kNotFound, or the denial (audited), or the live row.
  Result<Interpretation> LoadAuthorized(const Principal& who,
                                        const std::string& id, Action action,
                                        std::optional<std::string>* patient);
  std::int64_t NowMs();

  Database& db_;
  LocalWriter& writer_;
  AuditLog& audit_;
  Clock& wall_;
  UuidV7Generator& ids_;
};

// The statement rule above. kInvalidArgument "interpretation.statement:
// <why>", never quoting the text.
Status ValidateStatement(std::string_view statement);

}  // namespace pulse::engine

#endif  // PULSE_ENGINE_INTERPRETATIONS_H_
