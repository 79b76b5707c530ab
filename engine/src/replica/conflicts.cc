#include "pulse/engine/conflicts.h"

#include <chrono>
#include <set>
#include <utility>

#include "pulse/engine/replicated_tables.h"
#include "row_reading.h"

namespace pulse::engine {
namespace {

using internal::TextOrNone;

constexpr int kMaxPageSize = 200;

Status Invalid(std::string_view field, std::string_view why) {
  return Fail(ErrorCode::kInvalidArgument,
              "conflict." + std::string(field) + ": " + std::string(why));
}

bool IsConflictId(std::string_view text) {
  if (text.size() != 64) return false;
  for (char c : text) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

// A column of the current row as a change-format value, storage class
// kept (the value a take_loser write puts back must be the one recorded).
FieldValue ReadValue(const Statement& stmt, int column) {
  switch (stmt.GetColumnType(column)) {
    case ColumnType::kInteger:
      return stmt.ColumnInt64(column).value_or(0);
    case ColumnType::kFloat:
      return stmt.ColumnDouble(column).value_or(0.0);
    case ColumnType::kText:
      return std::string(stmt.ColumnText(column).value_or(""));
    case ColumnType::kBlob: {
      auto bytes = stmt.ColumnBlob(column);
      Blob blob;
      if (bytes) blob.bytes.assign(bytes->begin(), bytes->end());
      return blob;
    }
    case ColumnType::kNull:
      break;
  }
  return nullptr;
}

// The column as named in the schema's table definition: SQL is built only
// from these constants, never from text read out of the database.
std::optional<std::string_view> KnownColumn(const ReplicatedTable& table,
                                            std::string_view column) {
  for (std::string_view c : table.columns) {
    if (c == column) return c;
  }
  return std::nullopt;
}

bool IsReferenceData(std::string_view table) {
  return table == "sites" || table == "users" || table == "devices";
}

bool IsRedacted(std::string_view table, std::string_view column) {
  return table == "users" && column == "password_hash";
}

// What a conflict is about, read from the conflicting row.
struct RowState {
  bool exists = false;
  std::optional<std::string> site_id;
  bool deleted = false;
  FieldValue value;
};

Result<RowState> ReadRow(Database& db, const ReplicatedTable& table,
                         std::string_view column, const std::string& row) {
  auto stmt = db.Prepare("SELECT site_id, deleted, " + std::string(column) +
                         " FROM " + std::string(table.name) + " WHERE id = ?");
  if (!stmt) return Fail(stmt.error());
  if (Status s = stmt->BindText(1, row); !s) return Fail(s.error());
  auto found = stmt->Step();
  if (!found) return Fail(found.error());
  RowState state;
  if (!*found) return state;
  state.exists = true;
  state.site_id = TextOrNone(*stmt, 0);
  state.deleted = stmt->ColumnInt64(1).value_or(0) != 0;
  state.value = ReadValue(*stmt, 2);
  return state;
}

std::optional<SiteId> SiteOf(const std::optional<std::string>& text) {
  if (!text) return std::nullopt;
  auto site = Uuid::Parse(*text);
  if (!site) return std::nullopt;
  return *site;
}

}  // namespace

const std::string& ConflictRowSiteSql() {
  static const std::string sql = [] {
    std::string s = "CASE c.tbl";
    for (const ReplicatedTable& t : ReplicatedTables()) {
      if (t.kind != TableKind::kMutable) continue;
      const std::string name(t.name);
      s += " WHEN '" + name + "' THEN (SELECT site_id FROM " + name +
           " WHERE id = c.row_id)";
    }
    s += " END";
    return s;
  }();
  return sql;
}

Result<std::optional<std::string>> PatientOfRow(Database& db,
                                                std::string_view table,
                                                std::string_view row) {
  std::string sql;
  if (table == "patients") {
    sql = "SELECT id FROM patients WHERE id = ?";
  } else if (table == "recordings") {
    sql = "SELECT patient_id FROM recordings WHERE id = ?";
  } else if (table == "interpretations") {
    sql =
        "SELECT r.patient_id FROM interpretations i JOIN recordings r "
        "ON r.id = i.recording_id WHERE i.id = ?";
  } else {
    return std::optional<std::string>();
  }
  auto stmt = db.Prepare(sql);
  if (!stmt) return Fail(stmt.error());
  if (Status s = stmt->BindText(1, row); !s) return Fail(s.error());
  auto found = stmt->Step();
  if (!found) return Fail(found.error());
  std::optional<std::string> patient;
  if (*found) patient = TextOrNone(*stmt, 0);
  // Only a well-formed id can be named in an audit event.
  if (patient && !IsCanonicalUuid(*patient)) patient.reset();
  return patient;
}

ConflictRepository::ConflictRepository(Database& db, LocalWriter& writer,
                                       AuditLog& audit, Clock& wall,
                                       UuidV7Generator& ids, Uuid site)
    : db_(db), writer_(writer), audit_(audit), wall_(wall), ids_(ids),
      site_(site) {}

Result<ConflictPage> ConflictRepository::List(const Principal& who,
                                              const ConflictQuery& query) {
  if (query.limit < 1 || query.limit > kMaxPageSize) {
    return Fail(ErrorCode::kInvalidArgument,
                "ConflictQuery.limit must be within 1..200");
  }
  if (!query.after.empty() && !IsConflictId(query.after)) {
    return Fail(ErrorCode::kInvalidArgument,
                "ConflictQuery.after is not a conflict id");
  }
  // Ask for the widest reach the caller has (as PatientRepository::Search).
  const bool any_site =
      PermissionScope(who.role, Resource::kConflicts, Action::kRead) ==
      Scope::kAnySite;
  const Decision decision = Authorize(
      who, Action::kRead, Resource::kConflicts,
      any_site ? std::optional<SiteId>() : std::optional<SiteId>(site_));
  if (!decision) {
    return Fail(AuditDenial(writer_, audit_,
                            {.actor = &who, .object_type = "conflicts"},
                            decision.reason)
                    .error());
  }

  std::string sql =
      "SELECT c.id, c.tbl, c.row_id, c.col, c.kind, c.loser_hlc, "
      "c.loser_site, c.loser_author, c.loser_value FROM conflicts c "
      "WHERE c.id > ?1 AND NOT EXISTS (SELECT 1 FROM conflict_resolutions r "
      "WHERE r.conflict_id = c.id AND r.deleted = 0)";
  if (!any_site) sql += " AND (" + ConflictRowSiteSql() + ") = ?3";
  sql += " ORDER BY c.id LIMIT ?2";
  auto stmt = db_.Prepare(sql);
  if (!stmt) return Fail(stmt.error());
  Status s = stmt->BindText(1, query.after);
  if (s) s = stmt->BindInt64(2, query.limit + 1);  // one more: is there a next page?
  if (s && !any_site) s = stmt->BindText(3, site_.ToString());
  if (!s) return Fail(s.error());

  ConflictPage page;
  for (;;) {
    auto more = stmt->Step();
    if (!more) return Fail(more.error());
    if (!*more) break;
    if (page.conflicts.size() == static_cast<std::size_t>(query.limit)) {
      page.next_after = page.conflicts.back().id;
      break;
    }
    OpenConflict c;
    c.id = TextOrNone(*stmt, 0).value_or("");
    c.table = TextOrNone(*stmt, 1).value_or("");
    c.row = TextOrNone(*stmt, 2).value_or("");
    c.column = TextOrNone(*stmt, 3).value_or("");
    c.kind = TextOrNone(*stmt, 4).value_or("");
    const std::int64_t packed = stmt->ColumnInt64(5).value_or(0);
    c.loser_hlc =
        Hlc::FromPacked(static_cast<std::uint64_t>(packed < 0 ? 0 : packed))
            .value_or(Hlc());
    c.loser_site = TextOrNone(*stmt, 6).value_or("");
    c.loser_author = TextOrNone(*stmt, 7).value_or("");
    c.loser_value = ReadValue(*stmt, 8);
    page.conflicts.push_back(std::move(c));
  }
  stmt->Reset();

  std::set<std::pair<std::string, std::string>> audited;
  for (OpenConflict& c : page.conflicts) {
    const ReplicatedTable* table = FindReplicatedTable(c.table);
    const auto column =
        table != nullptr ? KnownColumn(*table, c.column) : std::nullopt;
    if (column) {
      auto row = ReadRow(db_, *table, *column, c.row);
      if (!row) return Fail(row.error());
      c.row_deleted = row->deleted;
      c.current_value = std::move(row->value);
    }
    if (IsRedacted(c.table, c.column)) {
      c.redacted = true;
      c.loser_value = nullptr;
      c.current_value = nullptr;
    }
    auto patient = PatientOfRow(db_, c.table, c.row);
    if (!patient) return Fail(patient.error());
    c.patient_id = std::move(*patient);
    // Seeing a conflict on patient data is seeing that data: one `view`
    // per row shown.
    if (c.patient_id && IsCanonicalUuid(c.row) &&
        audited.emplace(c.table, c.row).second) {
      if (Status a = CommitAudited(
              writer_, audit_,
              {&who, AuditAction::kView, c.table, c.row, c.patient_id}, {});
          !a) {
        return Fail(a.error());
      }
    }
  }
  return page;
}

Status ConflictRepository::Resolve(const Principal& who,
                                   std::string_view conflict_id,
                                   std::string_view decision) {
  if (!IsConflictId(conflict_id)) {
    return Invalid("id", "must be 64 lower-case hex digits");
  }
  const bool take_loser = decision == kTakeLoser;
  if (!take_loser && decision != kKeepCurrent) {
    return Invalid("decision", "must be keep_current or take_loser");
  }

  auto stmt = db_.Prepare(
      "SELECT tbl, row_id, col, kind, loser_value FROM conflicts WHERE id = ?");
  if (!stmt) return Fail(stmt.error());
  if (Status s = stmt->BindText(1, conflict_id); !s) return s;
  auto found = stmt->Step();
  if (!found) return Fail(found.error());
  if (!*found) return Fail(ErrorCode::kNotFound, "conflict not found");
  const std::string tbl = TextOrNone(*stmt, 0).value_or("");
  const std::string row = TextOrNone(*stmt, 1).value_or("");
  const std::string col = TextOrNone(*stmt, 2).value_or("");
  const std::string kind = TextOrNone(*stmt, 3).value_or("");
  FieldValue loser_value = ReadValue(*stmt, 4);
  stmt->Reset();

  // The merge records conflicts only for known columns of mutable tables
  // with UUID rows; anything else is a damaged bookkeeping row.
  const ReplicatedTable* table = FindReplicatedTable(tbl);
  const auto column =
      table != nullptr && table->kind == TableKind::kMutable
          ? KnownColumn(*table, col)
          : std::nullopt;
  if (!column || !IsCanonicalUuid(row)) {
    return Fail(ErrorCode::kCorruption, "conflicts: malformed conflict row");
  }
  auto state = ReadRow(db_, *table, *column, row);
  if (!state) return Fail(state.error());
  auto patient = PatientOfRow(db_, tbl, row);
  if (!patient) return Fail(patient.error());

  const std::optional<SiteId> row_site = SiteOf(state->site_id);
  Decision allowed =
      Authorize(who, Action::kResolve, Resource::kConflicts, row_site);
  // Settling a conflict on reference data (sites, users, devices) decides
  // a field only its editors may write — a user's role, active flag or
  // password hash — so it needs their update grant too; otherwise a
  // clinician could take a losing `role` value. Clinical tables need only
  // the resolve grant (the admin settles them without editing them).
  if (allowed && IsReferenceData(table->name)) {
    auto resource = ParseResource(table->name);
    if (!resource) return Fail(resource.error());
    allowed = Authorize(who, Action::kUpdate, *resource, row_site);
  }
  if (!allowed) {
    return AuditDenial(writer_, audit_,
                       {.actor = &who,
                        .object_type = table->name,
                        .object_id = row,
                        .patient = *patient},
                       allowed.reason);
  }

  if (take_loser && (kind == "delete_vs_update" || state->deleted)) {
    return Invalid("decision",
                   "take_loser cannot undo a deletion; keep_current only");
  }
  auto resolved = db_.Prepare(
      "SELECT 1 FROM conflict_resolutions WHERE conflict_id = ? AND "
      "deleted = 0 LIMIT 1");
  if (!resolved) return Fail(resolved.error());
  if (Status s = resolved->BindText(1, conflict_id); !s) return s;
  auto already = resolved->Step();
  if (!already) return Fail(already.error());
  resolved->Reset();
  if (*already) {
    return Fail(ErrorCode::kAlreadyExists, "conflict already resolved");
  }

  const std::int64_t now_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(
          wall_.Now().time_since_epoch())
          .count();
  std::vector<RowWrite> writes;
  writes.push_back(RowWrite{"conflict_resolutions",
                            ids_.Next().ToString(),
                            Op::kUpsert,
                            {{"site_id", site_.ToString()},
                             {"conflict_id", std::string(conflict_id)},
                             {"resolver_id", who.user_id.ToString()},
                             {"decision", std::string(decision)},
                             {"resolved_at_ms", now_ms}}});
  if (take_loser) {
    writes.push_back(RowWrite{std::string(table->name),
                              row,
                              Op::kUpsert,
                              {{std::string(*column), std::move(loser_value)}}});
  }
  return CommitAudited(
      writer_, audit_,
      {&who, AuditAction::kConflictResolved, table->name, row, *patient},
      std::move(writes));
}

}  // namespace pulse::engine
