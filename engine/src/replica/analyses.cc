#include "pulse/engine/analyses.h"

#include <algorithm>
#include <cmath>
#include <set>
#include <utility>

#include "pulse/engine/change.h"
#include "pulse/engine/hlc.h"

namespace pulse::engine {
namespace {

constexpr std::string_view kAnalysesTable = "analyses";
constexpr std::size_t kMaxAlgorithmVersionChars = 64;
constexpr std::size_t kMaxUnitChars = 16;
constexpr std::size_t kMaxLabelBytes = 200;

tl::unexpected<Error> Invalid(std::string_view field, std::string_view why) {
  return Fail(ErrorCode::kInvalidArgument,
              "analysis." + std::string(field) + ": " + std::string(why));
}

std::string Indexed(std::string_view list, std::size_t i,
                    std::string_view field) {
  return std::string(list) + "[" + std::to_string(i) + "]." +
         std::string(field);
}

bool IsVersionChar(char c) {
  return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') ||
         (c >= 'a' && c <= 'z') || c == '.' || c == '_' || c == '+' || c == '-';
}

bool IsUnit(std::string_view unit) {
  if (unit.empty() || unit.size() > kMaxUnitChars) return false;
  return std::all_of(unit.begin(), unit.end(),
                     [](char c) { return c > 0x20 && c < 0x7F; });
}

bool IsLabel(std::string_view label) {
  if (label.empty() || label.size() > kMaxLabelBytes) return false;
  if (!IsValidUtf8(label)) return false;
  return std::none_of(label.begin(), label.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u < 0x20 || u == 0x7F;
  });
}

std::vector<std::string> SplitLeads(std::string_view text) {
  std::vector<std::string> leads;
  std::size_t start = 0;
  while (!text.empty()) {
    const std::size_t comma = text.find(',', start);
    leads.emplace_back(text.substr(start, comma - start));
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return leads;
}

std::optional<SiteId> SiteOf(const std::string& text) {
  auto site = Uuid::Parse(text);
  return site ? std::optional<SiteId>(*site) : std::nullopt;
}

std::optional<std::string> PatientOf(const std::string& text) {
  return IsCanonicalUuid(text) ? std::optional<std::string>(text)
                               : std::nullopt;
}

tl::unexpected<Error> Corrupt(std::string_view table, const std::string& id,
                              std::string_view column) {
  return Fail(ErrorCode::kCorruption, std::string(table) + " " + id + ": " +
                                          std::string(column) +
                                          " is malformed");
}

// Reads a text column (NULL as nullopt); a value of another type is damage.
Result<std::optional<std::string>> TextAt(const Statement& stmt, int column) {
  if (stmt.IsNull(column)) return std::optional<std::string>();
  auto text = stmt.ColumnText(column);
  if (!text) return Fail(text.error());
  return std::optional<std::string>(std::string(*text));
}

// The row id in column 0, for error messages ("?" if unreadable).
std::string IdAt(const Statement& stmt) {
  auto id = stmt.IsNull(0) ? Result<std::string_view>(std::string_view("?"))
                           : stmt.ColumnText(0);
  return id ? std::string(*id) : std::string("?");
}

Status CheckMeasurements(const std::vector<Measurement>& measurements,
                         const std::vector<std::string>& leads) {
  if (measurements.size() > kMaxMeasurementsPerAnalysis) {
    return Invalid("measurements",
                   "more than " + std::to_string(kMaxMeasurementsPerAnalysis));
  }
  std::set<std::pair<std::string, std::string>> seen;
  for (std::size_t i = 0; i < measurements.size(); ++i) {
    const Measurement& m = measurements[i];
    if (!IsIdentifier(m.name)) {
      return Invalid(Indexed("measurements", i, "name"),
                     "must be an identifier [a-z][a-z0-9_]{0,62}");
    }
    if (m.lead &&
        std::find(leads.begin(), leads.end(), *m.lead) == leads.end()) {
      return Invalid(Indexed("measurements", i, "lead"),
                     "is not a lead of the recording");
    }
    if (!std::isfinite(m.value)) {
      return Invalid(Indexed("measurements", i, "value"), "is not finite");
    }
    if (!IsUnit(m.unit)) {
      return Invalid(Indexed("measurements", i, "unit"),
                     "must be 1..16 printable ASCII characters, no spaces");
    }
    // A lead name never starts with '*', so this key cannot collide with a
    // lead's.
    if (!seen.emplace(m.name, m.lead.value_or("*global")).second) {
      return Invalid(Indexed("measurements", i, "name"),
                     "measured twice for the same lead");
    }
  }
  return OkStatus();
}

Status CheckFindings(const std::vector<Finding>& findings,
                     std::int64_t duration_ms) {
  if (findings.size() > kMaxFindingsPerAnalysis) {
    return Invalid("findings",
                   "more than " + std::to_string(kMaxFindingsPerAnalysis));
  }
  for (std::size_t i = 0; i < findings.size(); ++i) {
    const Finding& f = findings[i];
    if (!IsIdentifier(f.code)) {
      return Invalid(Indexed("findings", i, "code"),
                     "must be an identifier [a-z][a-z0-9_]{0,62}");
    }
    if (!IsLabel(f.label)) {
      return Invalid(Indexed("findings", i, "label"),
                     "must be 1..200 bytes of UTF-8 without control "
                     "characters");
    }
    if (f.onset_ms < 0) {
      return Invalid(Indexed("findings", i, "onset_ms"), "is negative");
    }
    if (f.offset_ms < f.onset_ms) {
      return Invalid(Indexed("findings", i, "offset_ms"), "is before onset_ms");
    }
    if (f.offset_ms > duration_ms) {
      return Invalid(Indexed("findings", i, "offset_ms"),
                     "is after the end of the recording (" +
                         std::to_string(duration_ms) + " ms)");
    }
    if (f.count < 1) {
      return Invalid(Indexed("findings", i, "count"), "must be at least 1");
    }
    if (!(f.confidence >= 0.0 && f.confidence <= 1.0)) {  // NaN fails too
      return Invalid(Indexed("findings", i, "confidence"),
                     "must be within 0..1");
    }
  }
  return OkStatus();
}

}  // namespace

// What Store and ForRecording need to know of a recording.
struct AnalysisRepository::RecordingFacts {
  std::string site_id;
  std::string patient_id;
  std::string status;
  std::vector<std::string> lead_names;
  // Whole milliseconds covered by its stored segments, rounded up.
  std::int64_t duration_ms = 0;
};

AnalysisRepository::AnalysisRepository(Database& db, LocalWriter& writer,
                                       AuditLog& audit, UuidV7Generator& ids)
    : db_(db), writer_(writer), audit_(audit), ids_(ids) {}

Result<std::optional<AnalysisRepository::RecordingFacts>>
AnalysisRepository::LoadRecording(const std::string& id) {
  auto stmt = db_.Prepare(
      "SELECT site_id, patient_id, status, lead_names, sample_rate_hz, "
      "(SELECT coalesce(sum(frame_count), 0) FROM recording_segments s "
      " WHERE s.recording_id = r.id AND s.deleted = 0) "
      "FROM recordings r WHERE r.id = ? AND r.deleted = 0");
  if (!stmt) return Fail(stmt.error());
  if (Status s = stmt->BindText(1, id); !s) return Fail(s.error());
  auto found = stmt->Step();
  if (!found) return Fail(found.error());
  if (!*found) return std::optional<RecordingFacts>();
  RecordingFacts facts;
  auto site = TextAt(*stmt, 0);
  auto patient = TextAt(*stmt, 1);
  auto status = TextAt(*stmt, 2);
  auto leads = TextAt(*stmt, 3);
  if (!site) return Corrupt("recordings", id, "site_id");
  if (!patient) return Corrupt("recordings", id, "patient_id");
  if (!status) return Corrupt("recordings", id, "status");
  if (!leads) return Corrupt("recordings", id, "lead_names");
  facts.site_id = site->value_or("");
  facts.patient_id = patient->value_or("");
  facts.status = status->value_or("");
  facts.lead_names = SplitLeads(leads->value_or(""));
  auto rate = stmt->ColumnDouble(4);
  if (!rate || !std::isfinite(*rate) || *rate <= 0) {
    return Corrupt("recordings", id, "sample_rate_hz");
  }
  auto frames = stmt->ColumnInt64(5);
  if (!frames || *frames < 0) {
    return Corrupt("recording_segments", id, "frame_count");
  }
  const double ms = std::ceil(static_cast<double>(*frames) * 1000.0 / *rate);
  facts.duration_ms =
      ms < 9.0e18 ? static_cast<std::int64_t>(ms) : std::int64_t{0};
  return std::optional<RecordingFacts>(std::move(facts));
}

Result<std::string> AnalysisRepository::Store(const Principal& who,
                                              const AnalysisInput& in) {
  if (!IsCanonicalUuid(in.recording_id)) {
    return Invalid("recording_id", "must be a canonical UUID");
  }
  auto recording = LoadRecording(in.recording_id);
  if (!recording) return Fail(recording.error());
  if (!recording->has_value()) {
    return Fail(ErrorCode::kNotFound,
                "analysis.recording_id: recording not found");
  }
  const RecordingFacts& rec = **recording;
  const std::optional<SiteId> site = SiteOf(rec.site_id);
  // The run writes both kinds of row (and the analyses row that groups
  // them), so it needs both grants.
  for (Resource resource : {Resource::kMeasurements, Resource::kFindings}) {
    const Decision decision = Authorize(who, Action::kCreate, resource, site);
    if (!decision) {
      return Fail(AuditDenial(writer_, audit_,
                              {.actor = &who,
                               .object_type = kAnalysesTable,
                               .patient = PatientOf(rec.patient_id)},
                              decision.reason)
                      .error());
    }
  }
  if (!Authorize(who, Action::kRead, Resource::kRecordings, site)) {
    return Fail(ErrorCode::kNotFound,
                "analysis.recording_id: recording not found");
  }
  if (rec.status != "complete") {
    return Invalid("recording_id", "the recording is not complete");
  }
  bool version_ok = !in.algorithm_version.empty() &&
                    in.algorithm_version.size() <= kMaxAlgorithmVersionChars;
  for (char c : in.algorithm_version)
    version_ok = version_ok && IsVersionChar(c);
  if (!version_ok) {
    return Invalid("algorithm_version",
                   "must be 1..64 characters of [A-Za-z0-9._+-]");
  }
  if (in.analysed_at_ms < 0 || in.analysed_at_ms > Hlc::kMaxPhysicalMs) {
    return Invalid("analysed_at_ms", "out of range");
  }
  if (Status s = CheckMeasurements(in.measurements, rec.lead_names); !s)
    return Fail(s.error());
  if (Status s = CheckFindings(in.findings, rec.duration_ms); !s)
    return Fail(s.error());

  // The rows belong to the recording's site, like the recording itself.
  const std::string analysis_id = ids_.Next().ToString();
  std::vector<RowWrite> writes;
  writes.reserve(1 + in.measurements.size() + in.findings.size() + 1);
  writes.push_back(RowWrite{std::string(kAnalysesTable),
                            analysis_id,
                            Op::kUpsert,
                            {{"site_id", rec.site_id},
                             {"recording_id", in.recording_id},
                             {"algorithm_version", in.algorithm_version},
                             {"analysed_at_ms", in.analysed_at_ms}}});
  // Row ids come from one monotonic generator, so id order is input order
  // (ForRecording reads them back that way).
  for (const Measurement& m : in.measurements) {
    writes.push_back(
        RowWrite{"measurements",
                 ids_.Next().ToString(),
                 Op::kUpsert,
                 {{"site_id", rec.site_id},
                  {"analysis_id", analysis_id},
                  {"recording_id", in.recording_id},
                  {"name", m.name},
                  {"lead", m.lead ? FieldValue(*m.lead) : FieldValue(nullptr)},
                  {"value", m.value},
                  {"unit", m.unit}}});
  }
  for (const Finding& f : in.findings) {
    writes.push_back(RowWrite{"findings",
                              ids_.Next().ToString(),
                              Op::kUpsert,
                              {{"site_id", rec.site_id},
                               {"analysis_id", analysis_id},
                               {"recording_id", in.recording_id},
                               {"code", f.code},
                               {"label", f.label},
                               {"onset_ms", f.onset_ms},
                               {"offset_ms", f.offset_ms},
                               {"count", f.count},
                               {"confidence", f.confidence}}});
  }
  if (Status s = CommitAudited(writer_, audit_,
                               {&who, AuditAction::kCreate, kAnalysesTable,
                                analysis_id, PatientOf(rec.patient_id)},
                               std::move(writes));
      !s) {
    return Fail(s.error());
  }
  return analysis_id;
}

Result<Analysis> AnalysisRepository::ForRecording(
    const Principal& who, const std::string& recording_id) {
  if (!IsCanonicalUuid(recording_id)) {
    return Invalid("recording_id", "must be a canonical UUID");
  }
  auto recording = LoadRecording(recording_id);
  if (!recording) return Fail(recording.error());
  if (!recording->has_value()) {
    return Fail(ErrorCode::kNotFound, "recording not found");
  }
  const RecordingFacts& rec = **recording;
  const std::optional<SiteId> site = SiteOf(rec.site_id);
  for (Resource resource : {Resource::kMeasurements, Resource::kFindings}) {
    const Decision decision = Authorize(who, Action::kRead, resource, site);
    if (!decision) {
      return Fail(AuditDenial(writer_, audit_,
                              {.actor = &who,
                               .object_type = kAnalysesTable,
                               .patient = PatientOf(rec.patient_id)},
                              decision.reason)
                      .error());
    }
  }

  Analysis analysis;
  analysis.recording_id = recording_id;
  {
    auto stmt = db_.Prepare(
        "SELECT id, site_id, algorithm_version, analysed_at_ms FROM analyses "
        "WHERE recording_id = ? AND deleted = 0 "
        "ORDER BY created_hlc DESC, id DESC LIMIT 1");
    if (!stmt) return Fail(stmt.error());
    if (Status s = stmt->BindText(1, recording_id); !s) return Fail(s.error());
    auto found = stmt->Step();
    if (!found) return Fail(found.error());
    if (!*found) {
      return Fail(ErrorCode::kNotFound, "no analysis for this recording");
    }
    auto id = TextAt(*stmt, 0);
    if (!id || !id->has_value()) return Corrupt("analyses", recording_id, "id");
    analysis.id = **id;
    auto site_text = TextAt(*stmt, 1);
    auto version = TextAt(*stmt, 2);
    auto at = stmt->ColumnInt64(3);
    if (!site_text) return Corrupt("analyses", analysis.id, "site_id");
    if (!version) return Corrupt("analyses", analysis.id, "algorithm_version");
    if (!at) return Corrupt("analyses", analysis.id, "analysed_at_ms");
    analysis.site_id = site_text->value_or("");
    analysis.algorithm_version = version->value_or("");
    analysis.analysed_at_ms = *at;
  }
  {
    auto stmt = db_.Prepare(
        "SELECT id, name, lead, value, unit FROM measurements "
        "WHERE analysis_id = ? AND deleted = 0 ORDER BY id");
    if (!stmt) return Fail(stmt.error());
    if (Status s = stmt->BindText(1, analysis.id); !s) return Fail(s.error());
    for (;;) {
      auto more = stmt->Step();
      if (!more) return Fail(more.error());
      if (!*more) break;
      const std::string row = IdAt(*stmt);
      auto name = TextAt(*stmt, 1);
      auto lead = TextAt(*stmt, 2);
      auto value = stmt->ColumnDouble(3);
      auto unit = TextAt(*stmt, 4);
      if (!name || !lead || !unit || !value) {
        return Corrupt("measurements", row, "a column");
      }
      analysis.measurements.push_back(
          Measurement{name->value_or(""), *lead, *value, unit->value_or("")});
    }
  }
  {
    auto stmt = db_.Prepare(
        "SELECT id, code, label, onset_ms, offset_ms, count, confidence "
        "FROM findings WHERE analysis_id = ? AND deleted = 0 ORDER BY id");
    if (!stmt) return Fail(stmt.error());
    if (Status s = stmt->BindText(1, analysis.id); !s) return Fail(s.error());
    for (;;) {
      auto more = stmt->Step();
      if (!more) return Fail(more.error());
      if (!*more) break;
      const std::string row = IdAt(*stmt);
      auto code = TextAt(*stmt, 1);
      auto label = TextAt(*stmt, 2);
      auto onset = stmt->ColumnInt64(3);
      auto offset = stmt->ColumnInt64(4);
      auto count = stmt->ColumnInt64(5);
      auto confidence = stmt->ColumnDouble(6);
      if (!code || !label || !onset || !offset || !count || !confidence) {
        return Corrupt("findings", row, "a column");
      }
      analysis.findings.push_back(Finding{code->value_or(""),
                                          label->value_or(""), *onset, *offset,
                                          *count, *confidence});
    }
  }
  if (Status s = CommitAudited(writer_, audit_,
                               {&who, AuditAction::kView, kAnalysesTable,
                                analysis.id, PatientOf(rec.patient_id)},
                               {});
      !s) {
    return Fail(s.error());
  }
  return analysis;
}

}  // namespace pulse::engine
