#include "pulse/engine/interpretations.h"

#include <chrono>
#include <utility>

#include "pulse/engine/change.h"
#include "row_reading.h"

namespace pulse::engine {
namespace {

using internal::TextOrNone;

constexpr std::string_view kDraft = "draft";
constexpr std::string_view kConfirmed = "confirmed";
constexpr std::string_view kAmended = "amended";

Status Invalid(std::string_view field, std::string_view why) {
  return Fail(ErrorCode::kInvalidArgument,
              "interpretation." + std::string(field) + ": " + std::string(why));
}

// The patient id for an audit event: only a well-formed id (a damaged row
// must not make the operation unauditable, hence impossible).
std::optional<std::string> PatientRef(std::optional<std::string> id) {
  if (id && !IsCanonicalUuid(*id)) return std::nullopt;
  return id;
}

}  // namespace

Status ValidateStatement(std::string_view statement) {
  if (statement.empty()) return Invalid("statement", "must not be empty");
  if (statement.size() > kMaxStatementBytes) {
    return Invalid("statement", "longer than 4000 bytes");
  }
  if (!IsValidUtf8(statement)) return Invalid("statement", "not valid UTF-8");
  bool blank = true;
  for (std::size_t i = 0; i < statement.size(); ++i) {
    const auto u = static_cast<unsigned char>(statement[i]);
    const bool c0 = u < 0x20 && u != '\n' && u != '\t';
    // U+0080..U+009F (C1 controls) are 0xC2 0x80..0x9F in UTF-8.
    const bool c1 = u == 0xC2 && i + 1 < statement.size() &&
                    static_cast<unsigned char>(statement[i + 1]) <= 0x9F;
    if (c0 || c1 || u == 0x7F) {
      return Invalid("statement", "contains a control character");
    }
    if (u != ' ' && u != '\n' && u != '\t') blank = false;
  }
  if (blank) return Invalid("statement", "must not be only white space");
  return OkStatus();
}

InterpretationRepository::InterpretationRepository(Database& db,
                                                   LocalWriter& writer,
                                                   AuditLog& audit,
                                                   Clock& wall,
                                                   UuidV7Generator& ids)
    : db_(db), writer_(writer), audit_(audit), wall_(wall), ids_(ids) {}

std::int64_t InterpretationRepository::NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             wall_.Now().time_since_epoch())
      .count();
}

Result<InterpretationRepository::RecordingRef>
InterpretationRepository::LoadRecording(const std::string& recording_id) {
  auto stmt = db_.Prepare(
      "SELECT site_id, patient_id FROM recordings WHERE id = ? AND deleted = 0");
  if (!stmt) return Fail(stmt.error());
  if (Status s = stmt->BindText(1, recording_id); !s) return Fail(s.error());
  auto found = stmt->Step();
  if (!found) return Fail(found.error());
  if (!*found) return Fail(ErrorCode::kNotFound, "recording not found");
  RecordingRef ref;
  ref.site_id = TextOrNone(*stmt, 0).value_or("");
  ref.patient_id = PatientRef(TextOrNone(*stmt, 1));
  return ref;
}

Result<std::optional<Interpretation>> InterpretationRepository::Load(
    const std::string& id) {
  auto stmt = db_.Prepare(
      "SELECT site_id, recording_id, author_id, statement, status, "
      "confirmed_by, confirmed_at_ms FROM interpretations "
      "WHERE id = ? AND deleted = 0");
  if (!stmt) return Fail(stmt.error());
  if (Status s = stmt->BindText(1, id); !s) return Fail(s.error());
  auto found = stmt->Step();
  if (!found) return Fail(found.error());
  if (!*found) return std::optional<Interpretation>();
  Interpretation row;
  row.id = id;
  row.site_id = TextOrNone(*stmt, 0).value_or("");
  row.recording_id = TextOrNone(*stmt, 1).value_or("");
  row.author_id = TextOrNone(*stmt, 2).value_or("");
  row.statement = TextOrNone(*stmt, 3).value_or("");
  row.status = TextOrNone(*stmt, 4).value_or("");
  row.confirmed_by = TextOrNone(*stmt, 5);
  if (stmt->GetColumnType(6) == ColumnType::kInteger) {
    row.confirmed_at_ms = stmt->ColumnInt64(6).value_or(0);
  }
  return std::optional<Interpretation>(std::move(row));
}

Result<Interpretation> InterpretationRepository::LoadAuthorized(
    const Principal& who, const std::string& id, Action action,
    std::optional<std::string>* patient) {
  auto current = Load(id);
  if (!current) return Fail(current.error());
  if (!current->has_value()) {
    return Fail(ErrorCode::kNotFound, "interpretation not found");
  }
  // The patient, for the audit trail, even if the recording was removed
  // since (or has not arrived yet: then there is none to name).
  auto stmt = db_.Prepare("SELECT patient_id FROM recordings WHERE id = ?");
  if (!stmt) return Fail(stmt.error());
  if (Status s = stmt->BindText(1, (*current)->recording_id); !s) {
    return Fail(s.error());
  }
  auto found = stmt->Step();
  if (!found) return Fail(found.error());
  *patient = *found ? PatientRef(TextOrNone(*stmt, 0)) : std::nullopt;

  auto row_site = Uuid::Parse((*current)->site_id);
  const Decision decision =
      Authorize(who, action, Resource::kInterpretations,
                row_site ? std::optional<SiteId>(*row_site) : std::nullopt);
  if (!decision) {
    return Fail(AuditDenial(writer_, audit_,
                            {.actor = &who,
                             .object_type = "interpretations",
                             .object_id = id,
                             .patient = *patient},
                            decision.reason)
                    .error());
  }
  return std::move(**current);
}

Result<std::string> InterpretationRepository::Draft(
    const Principal& who, const std::string& recording_id,
    std::string_view statement) {
  auto recording = LoadRecording(recording_id);
  if (!recording) return Fail(recording.error());
  auto row_site = Uuid::Parse(recording->site_id);
  const Decision decision =
      Authorize(who, Action::kCreate, Resource::kInterpretations,
                row_site ? std::optional<SiteId>(*row_site) : std::nullopt);
  if (!decision) {
    return Fail(AuditDenial(writer_, audit_,
                            {.actor = &who,
                             .object_type = "interpretations",
                             .patient = recording->patient_id},
                            decision.reason)
                    .error());
  }
  if (Status s = ValidateStatement(statement); !s) return Fail(s.error());
  RowWrite write;
  write.table = "interpretations";
  write.row = ids_.Next().ToString();
  write.fields = {
      {"site_id", recording->site_id},
      {"recording_id", recording_id},
      {"author_id", who.user_id.ToString()},
      {"statement", std::string(statement)},
      {"status", std::string(kDraft)},
  };
  const std::string id = write.row;
  std::vector<RowWrite> writes;
  writes.push_back(std::move(write));
  if (Status s = CommitAudited(writer_, audit_,
                               {&who, AuditAction::kCreate, "interpretations",
                                id, recording->patient_id},
                               std::move(writes));
      !s) {
    return Fail(s.error());
  }
  return id;
}

Status InterpretationRepository::Edit(const Principal& who,
                                      const std::string& id,
                                      std::string_view statement) {
  std::optional<std::string> patient;
  auto current = LoadAuthorized(who, id, Action::kUpdate, &patient);
  if (!current) return Fail(current.error());
  if (current->status != kDraft) {
    return Invalid("status", "only a draft can be edited; amend it instead");
  }
  if (Status s = ValidateStatement(statement); !s) return s;
  std::vector<RowWrite> writes;
  writes.push_back(RowWrite{"interpretations", id, Op::kUpsert,
                            {{"statement", std::string(statement)}}});
  return CommitAudited(
      writer_, audit_,
      {&who, AuditAction::kUpdate, "interpretations", id, patient},
      std::move(writes));
}

Status InterpretationRepository::Confirm(const Principal& who,
                                         const std::string& id) {
  std::optional<std::string> patient;
  auto current = LoadAuthorized(who, id, Action::kConfirm, &patient);
  if (!current) return Fail(current.error());
  if (current->status != kDraft) {
    return Invalid("status", "only a draft can be confirmed");
  }
  std::vector<RowWrite> writes;
  writes.push_back(RowWrite{"interpretations",
                            id,
                            Op::kUpsert,
                            {{"status", std::string(kConfirmed)},
                             {"confirmed_by", who.user_id.ToString()},
                             {"confirmed_at_ms", NowMs()}}});
  return CommitAudited(
      writer_, audit_,
      {&who, AuditAction::kUpdate, "interpretations", id, patient},
      std::move(writes));
}

Status InterpretationRepository::Amend(const Principal& who,
                                       const std::string& id,
                                       std::string_view statement) {
  std::optional<std::string> patient;
  auto current = LoadAuthorized(who, id, Action::kConfirm, &patient);
  if (!current) return Fail(current.error());
  if (current->status != kConfirmed && current->status != kAmended) {
    return Invalid("status", "only a confirmed interpretation can be amended");
  }
  if (Status s = ValidateStatement(statement); !s) return s;
  std::vector<RowWrite> writes;
  writes.push_back(RowWrite{"interpretations",
                            id,
                            Op::kUpsert,
                            {{"statement", std::string(statement)},
                             {"status", std::string(kAmended)},
                             {"confirmed_by", who.user_id.ToString()},
                             {"confirmed_at_ms", NowMs()}}});
  return CommitAudited(
      writer_, audit_,
      {&who, AuditAction::kUpdate, "interpretations", id, patient},
      std::move(writes));
}

Result<std::vector<Interpretation>> InterpretationRepository::ForRecording(
    const Principal& who, const std::string& recording_id) {
  auto recording = LoadRecording(recording_id);
  if (!recording) return Fail(recording.error());
  auto row_site = Uuid::Parse(recording->site_id);
  const Decision decision =
      Authorize(who, Action::kRead, Resource::kInterpretations,
                row_site ? std::optional<SiteId>(*row_site) : std::nullopt);
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
      "SELECT id FROM interpretations WHERE recording_id = ? AND deleted = 0 "
      "ORDER BY id");
  if (!stmt) return Fail(stmt.error());
  if (Status s = stmt->BindText(1, recording_id); !s) return Fail(s.error());
  std::vector<std::string> ids;
  for (;;) {
    auto more = stmt->Step();
    if (!more) return Fail(more.error());
    if (!*more) break;
    auto id = stmt->ColumnText(0);
    if (!id) return Fail(id.error());
    ids.emplace_back(*id);
  }
  std::vector<Interpretation> found;
  found.reserve(ids.size());
  for (const std::string& id : ids) {
    auto row = Load(id);
    if (!row) return Fail(row.error());
    if (row->has_value()) found.push_back(std::move(**row));
  }
  // One event for the read, before the data is handed out.
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
