#include "pulse/engine/replicated_tables.h"

#include <algorithm>
#include <array>

namespace pulse::engine {
namespace {

constexpr std::string_view kSites[] = {"site_id", "name", "region",
                                       "timezone"};
constexpr std::string_view kUsers[] = {"site_id", "username", "full_name",
                                       "role", "password_hash", "active"};
constexpr std::string_view kDevices[] = {"site_id", "serial", "kind", "model",
                                         "firmware"};
constexpr std::string_view kPatients[] = {
    "site_id",    "mrn", "given_name", "family_name",
    "birth_date", "sex", "phone",      "address"};
constexpr std::string_view kRecordings[] = {
    "site_id",       "patient_id",     "device_id",  "operator_id",
    "started_at_ms", "ended_at_ms",    "sample_rate_hz", "lead_names",
    "lsb_nv",        "status",         "quality",    "segment_count"};
constexpr std::string_view kInterpretations[] = {
    "site_id", "recording_id", "author_id",      "statement",
    "status",  "confirmed_by", "confirmed_at_ms"};
constexpr std::string_view kRecordingSegments[] = {
    "site_id", "recording_id", "seq", "first_frame", "frame_count",
    "blob_sha256"};
constexpr std::string_view kAnalyses[] = {"site_id", "recording_id",
                                          "algorithm_version",
                                          "analysed_at_ms"};
constexpr std::string_view kMeasurements[] = {"site_id", "analysis_id",
                                              "recording_id", "name",
                                              "lead",    "value", "unit"};
constexpr std::string_view kFindings[] = {
    "site_id",  "analysis_id", "recording_id", "code",      "label",
    "onset_ms", "offset_ms",   "count",        "confidence"};
constexpr std::string_view kReports[] = {"site_id", "recording_id",
                                         "pdf_sha256", "generated_by",
                                         "generated_at_ms"};
constexpr std::string_view kAuditEvents[] = {
    "site_id",     "seq",       "time_ms", "hlc",     "actor",
    "role",        "action",    "object_type", "object_id", "patient",
    "outcome",     "source",    "event",   "prev_hash", "hash"};
constexpr std::string_view kClientErrors[] = {
    "site_id", "at_ms", "component", "message", "detail", "app_version"};
constexpr std::string_view kConflictResolutions[] = {
    "site_id", "conflict_id", "resolver_id", "decision", "resolved_at_ms"};

constexpr TableKind kMut = TableKind::kMutable;
constexpr TableKind kApp = TableKind::kAppendOnly;

const std::array<ReplicatedTable, 14> kTables = {{
    {"sites", kMut, kSites},
    {"users", kMut, kUsers},
    {"devices", kMut, kDevices},
    {"patients", kMut, kPatients},
    {"recordings", kMut, kRecordings},
    {"interpretations", kMut, kInterpretations},
    {"recording_segments", kApp, kRecordingSegments},
    {"analyses", kApp, kAnalyses},
    {"measurements", kApp, kMeasurements},
    {"findings", kApp, kFindings},
    {"reports", kApp, kReports},
    {"audit_events", kApp, kAuditEvents},
    {"client_errors", kApp, kClientErrors},
    {"conflict_resolutions", kApp, kConflictResolutions},
}};

}  // namespace

bool ReplicatedTable::HasColumn(std::string_view column) const {
  return std::find(columns.begin(), columns.end(), column) != columns.end();
}

std::span<const ReplicatedTable> ReplicatedTables() {
  return kTables;
}

const ReplicatedTable* FindReplicatedTable(std::string_view name) {
  for (const ReplicatedTable& table : ReplicatedTables()) {
    if (table.name == name) return &table;
  }
  return nullptr;
}

}  // namespace pulse::engine
