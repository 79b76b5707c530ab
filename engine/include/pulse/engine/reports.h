// Reports of a recording (DESIGN.md §3, §9): the record that a PDF report
// was generated — its blob's SHA-256 (the bytes live in the blob store),
// who generated it and when. Append-only: a report is never edited; a new
// PDF is a new row.
//
// Generating a report takes patient data out of the system, on paper or
// as a file, so Record() names why: ReportUse::kPrint (Action::kPrint,
// audited `print`) or ReportUse::kExport (Action::kExport, audited
// `export`; technicians may print but not export, docs/security.md §2).
// Both need Action::kCreate on reports as well, at the recording's site.
//
// Every call is authorised, validated (bad values are kInvalidArgument
// naming the field, nothing written), written through LocalWriter with its
// audit event (with the patient id, looked up from the recording) in the
// same Commit; refusals are audited (permission_denied). Reads are
// audited as `view`.
//
// Thread-safety: one repository per writer connection, one thread at a
// time.
#ifndef PULSE_ENGINE_REPORTS_H_
#define PULSE_ENGINE_REPORTS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "pulse/base/result.h"
#include "pulse/engine/audit_log.h"
#include "pulse/engine/database.h"
#include "pulse/engine/local_writer.h"
#include "pulse/engine/permissions.h"
#include "pulse/engine/uuid.h"

namespace pulse::engine {

enum class ReportUse { kPrint, kExport };

struct Report {
  std::string id;
  std::string site_id;
  std::string recording_id;
  std::string pdf_sha256;     // 64 lower-case hex digits
  std::string generated_by;   // user id
  std::int64_t generated_at_ms = 0;  // Unix ms, wall clock of the generator
};

class ReportRepository {
 public:
  // All references must outlive the repository.
  ReportRepository(Database& db, LocalWriter& writer, AuditLog& audit,
                   UuidV7Generator& ids);

  // Records a generated PDF of the recording, generated_by = who; returns
  // the report's id. kNotFound for an unknown or deleted recording;
  // kPermissionDenied (audited) unless `who` may create reports and
  // print/export at the recording's site; kInvalidArgument for
  // "report.pdf_sha256" (not 64 lower-case hex digits) or
  // "report.generated_at_ms" (not within 1 .. 2^47 - 1).
  Result<std::string> Record(const Principal& who,
                             const std::string& recording_id,
                             std::string_view pdf_sha256,
                             std::int64_t generated_at_ms, ReportUse use);

  // The reports of a recording, oldest first; one `view` audit event
  // (object recordings/<recording_id>, with the patient). kNotFound for an
  // unknown or deleted recording; kPermissionDenied (audited).
  Result<std::vector<Report>> ForRecording(const Principal& who,
                                           const std::string& recording_id);

 private:
  struct RecordingRef {
    std::string site_id;
    std::optional<std::string> patient_id;
  };
  Result<RecordingRef> LoadRecording(const std::string& recording_id);

  Database& db_;
  LocalWriter& writer_;
  AuditLog& audit_;
  UuidV7Generator& ids_;
};

}  // namespace pulse::engine

#endif  // PULSE_ENGINE_REPORTS_H_
