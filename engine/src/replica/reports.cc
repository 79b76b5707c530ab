#include "pulse/engine/reports.h"

#include <utility>

#include "pulse/engine/audit.h"
#include "pulse/engine/change.h"
#include "pulse/engine/hlc.h"
#include "row_reading.h"

namespace pulse::engine {
namespace {

using internal::TextOrNone;

Status Invalid(std::string_view field, std::string_view why) {
  return Fail(ErrorCode::kInvalidArgument,
              "report." + std::string(field) + ": " + std::string(why));
}

bool IsLowerHexSha256(std::string_view text) {
  if (text.size() != 64) return false;
  for (char c : text) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

std::optional<SiteId> SiteOf(const std::string& text) {
  auto site = Uuid::Parse(text);
  if (!site) return std::nullopt;
  return *site;
}

}  // namespace

ReportRepository::ReportRepository(Database& db, LocalWriter& writer,
                                   AuditLog& audit, UuidV7Generator& ids)
    : db_(db), writer_(writer), audit_(audit), ids_(ids) {}

Result<ReportRepository::RecordingRef> ReportRepository::LoadRecording(
    const std::string& recording_id) {
  auto stmt = db_.Prepare(
      "SELECT site_id, patient_id FROM recordings WHERE id = ? AND deleted = 0");
  if (!stmt) return Fail(stmt.error());
  if (Status s = stmt->BindText(1, recording_id); !s) return Fail(s.error());
  auto found = stmt->Step();
  if (!found) return Fail(found.error());
  if (!*found) return Fail(ErrorCode::kNotFound, "recording not found");
  RecordingRef ref;
  ref.site_id = TextOrNone(*stmt, 0).value_or("");
  ref.patient_id = TextOrNone(*stmt, 1);
  // Only a well-formed id can be named in an audit event.
  if (ref.patient_id && !IsCanonicalUuid(*ref.patient_id)) {
    ref.patient_id.reset();
  }
  return ref;
}

Result<std::string> ReportRepository::Record(const Principal& who,
                                             const std::string& recording_id,
                                             std::string_view pdf_sha256,
                                             std::int64_t generated_at_ms,
                                             ReportUse use) {
  auto recording = LoadRecording(recording_id);
  if (!recording) return Fail(recording.error());
  const std::optional<SiteId> site = SiteOf(recording->site_id);
  const Action use_action =
      use == ReportUse::kExport ? Action::kExport : Action::kPrint;
  Decision decision = Authorize(who, Action::kCreate, Resource::kReports, site);
  if (decision) decision = Authorize(who, use_action, Resource::kReports, site);
  if (!decision) {
    return Fail(AuditDenial(writer_, audit_,
                            {.actor = &who,
                             .object_type = "reports",
                             .patient = recording->patient_id},
                            decision.reason)
                    .error());
  }
  if (!IsLowerHexSha256(pdf_sha256)) {
    return Fail(Invalid("pdf_sha256", "must be 64 lower-case hex digits").error());
  }
  if (generated_at_ms < 1 || generated_at_ms > Hlc::kMaxPhysicalMs) {
    return Fail(Invalid("generated_at_ms", "out of range").error());
  }
  RowWrite write;
  write.table = "reports";
  write.row = ids_.Next().ToString();
  write.fields = {
      {"site_id", recording->site_id},
      {"recording_id", recording_id},
      {"pdf_sha256", std::string(pdf_sha256)},
      {"generated_by", who.user_id.ToString()},
      {"generated_at_ms", generated_at_ms},
  };
  const std::string id = write.row;
  std::vector<RowWrite> writes;
  writes.push_back(std::move(write));
  if (Status s = CommitAudited(writer_, audit_,
                               {&who,
                                use == ReportUse::kExport ? AuditAction::kExport
                                                          : AuditAction::kPrint,
                                "reports", id, recording->patient_id},
                               std::move(writes));
      !s) {
    return Fail(s.error());
  }
  return id;
}

Result<std::vector<Report>> ReportRepository::ForRecording(
    const Principal& who, const std::string& recording_id) {
  auto recording = LoadRecording(recording_id);
  if (!recording) return Fail(recording.error());
  const Decision decision = Authorize(who, Action::kRead, Resource::kReports,
                                      SiteOf(recording->site_id));
  if (!decision) {
    return Fail(AuditDenial(writer_, audit_,
                            {.actor = &who,
                             .object_type = "recordings",
                             .object_id = recording_id,
                             .patient = recording->patient_id},
                            decision.reason)
                    .error());
  }
  auto stmt = db_.Prepare(
      "SELECT id, site_id, pdf_sha256, generated_by, generated_at_ms "
      "FROM reports WHERE recording_id = ? AND deleted = 0 ORDER BY id");
  if (!stmt) return Fail(stmt.error());
  if (Status s = stmt->BindText(1, recording_id); !s) return Fail(s.error());
  std::vector<Report> found;
  for (;;) {
    auto more = stmt->Step();
    if (!more) return Fail(more.error());
    if (!*more) break;
    Report report;
    report.id = TextOrNone(*stmt, 0).value_or("");
    report.site_id = TextOrNone(*stmt, 1).value_or("");
    report.recording_id = recording_id;
    report.pdf_sha256 = TextOrNone(*stmt, 2).value_or("");
    report.generated_by = TextOrNone(*stmt, 3).value_or("");
    if (stmt->GetColumnType(4) == ColumnType::kInteger) {
      report.generated_at_ms = stmt->ColumnInt64(4).value_or(0);
    }
    found.push_back(std::move(report));
  }
  stmt->Reset();  // no read open while the audit event is written
  if (Status s = CommitAudited(writer_, audit_,
                               {&who, AuditAction::kView, "recordings",
                                recording_id, recording->patient_id},
                               {});
      !s) {
    return Fail(s.error());
  }
  return found;
}

}  // namespace pulse::engine
