#include "pulse/engine/recordings.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <utility>

#include "pulse/engine/change.h"
#include "pulse/engine/hlc.h"
#include "pulse/engine/waveform_codec.h"

namespace pulse::engine {
namespace {

constexpr double kMinSampleRateHz = 1;
constexpr double kMaxSampleRateHz = 100'000;
constexpr std::int64_t kMaxLsbNv = 1'000'000;
constexpr int kMaxListLimit = 200;
// Frames are counted in int64 but travel in segment headers as u64 first
// frames; 2^62 is far beyond any recording and keeps sums from overflowing.
constexpr std::int64_t kMaxFrame = std::int64_t{1} << 62;

constexpr std::string_view kRecordingsTable = "recordings";
constexpr std::string_view kSegmentsTable = "recording_segments";

tl::unexpected<Error> Invalid(std::string_view field, std::string_view why) {
  return Fail(ErrorCode::kInvalidArgument,
              std::string(field) + ": " + std::string(why));
}

bool IsStandardLead(std::string_view name) {
  return std::find(std::begin(kStandardLeadNames), std::end(kStandardLeadNames),
                   name) != std::end(kStandardLeadNames);
}

// The same rule for input (kInvalidArgument) and for stored rows, which
// may come from another replica (kCorruption).
Status CheckLeads(const std::vector<std::string>& leads, ErrorCode code,
                  std::string_view field) {
  auto bad = [&](std::string_view why) {
    return Fail(code, std::string(field) + ": " + std::string(why));
  };
  if (leads.empty()) return bad("must name at least one lead");
  if (leads.size() > std::size(kStandardLeadNames)) {
    return bad("more than 12 leads");
  }
  for (std::size_t i = 0; i < leads.size(); ++i) {
    if (!IsStandardLead(leads[i])) {
      return bad("entry " + std::to_string(i) +
                 " is not a standard lead name (I II III aVR aVL aVF V1..V6)");
    }
    for (std::size_t j = 0; j < i; ++j) {
      if (leads[j] == leads[i]) return bad("lead " + leads[i] + " twice");
    }
  }
  return OkStatus();
}

// Segment headers carry the rate as whole millihertz; a rate that is not
// one would be stored differently in the row and in its segments.
std::optional<std::uint32_t> MillihertzOf(double hz) {
  if (!std::isfinite(hz) || hz < kMinSampleRateHz || hz > kMaxSampleRateHz) {
    return std::nullopt;
  }
  const double mhz = hz * 1000.0;
  const double whole = std::round(mhz);
  if (std::fabs(mhz - whole) > 1e-6) return std::nullopt;
  return static_cast<std::uint32_t>(whole);
}

std::string JoinLeads(const std::vector<std::string>& leads) {
  std::string joined;
  for (const std::string& lead : leads) {
    if (!joined.empty()) joined.push_back(',');
    joined += lead;
  }
  return joined;
}

std::vector<std::string> SplitLeads(std::string_view text) {
  std::vector<std::string> leads;
  if (text.empty()) return leads;
  std::size_t start = 0;
  for (;;) {
    const std::size_t comma = text.find(',', start);
    leads.emplace_back(text.substr(start, comma - start));
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return leads;
}

std::optional<RecordingStatus> ParseStatus(std::string_view text) {
  for (RecordingStatus s :
       {RecordingStatus::kRecording, RecordingStatus::kComplete,
        RecordingStatus::kFailed}) {
    if (RecordingStatusName(s) == text) return s;
  }
  return std::nullopt;
}

std::int64_t WallMs(Clock& wall) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             wall.Now().time_since_epoch())
      .count();
}

// Reads columns of one stored row. A value of the wrong type is damage or a
// foreign writer: the first one is kept as kCorruption naming the table,
// row id and column — never the value, which may be patient data.
class RowReader {
 public:
  RowReader(const Statement& stmt, std::string_view table, std::string_view id)
      : stmt_(stmt), where_(std::string(table) + " " + std::string(id)) {}

  std::string Text(int column, std::string_view name) {
    if (stmt_.IsNull(column)) return {};
    auto value = stmt_.ColumnText(column);
    if (!value) {
      Note(name, "is not text");
      return {};
    }
    return std::string(*value);
  }
  std::optional<std::int64_t> Int(int column, std::string_view name) {
    if (stmt_.IsNull(column)) return std::nullopt;
    auto value = stmt_.ColumnInt64(column);
    if (!value) {
      Note(name, "is not an integer");
      return std::nullopt;
    }
    return *value;
  }
  std::optional<double> Real(int column, std::string_view name) {
    if (stmt_.IsNull(column)) return std::nullopt;
    auto value = stmt_.ColumnDouble(column);
    if (!value) {
      Note(name, "is not a number");
      return std::nullopt;
    }
    return *value;
  }
  // Records `why` against `name` unless an earlier problem was recorded.
  void Note(std::string_view name, std::string_view why) {
    if (!error_) {
      error_ = Error(ErrorCode::kCorruption, where_ + ": " + std::string(name) +
                                                 " " + std::string(why));
    }
  }
  const std::optional<Error>& error() const { return error_; }

 private:
  const Statement& stmt_;
  std::string where_;
  std::optional<Error> error_;
};

// site_id of the live row `id` of `table` ("" when NULL), or nullopt when
// there is no such live row. `table` is one of ours, never input.
Result<std::optional<std::string>> LiveRowSite(Database& db,
                                               std::string_view table,
                                               const std::string& id) {
  auto stmt = db.Prepare("SELECT site_id FROM " + std::string(table) +
                         " WHERE id = ? AND deleted = 0");
  if (!stmt) return Fail(stmt.error());
  if (Status s = stmt->BindText(1, id); !s) return Fail(s.error());
  auto found = stmt->Step();
  if (!found) return Fail(found.error());
  if (!*found) return std::optional<std::string>();
  if (stmt->IsNull(0)) return std::optional<std::string>(std::string());
  auto site = stmt->ColumnText(0);
  if (!site) {
    return Fail(ErrorCode::kCorruption,
                std::string(table) + " " + id + ": site_id is not text");
  }
  return std::optional<std::string>(std::string(*site));
}

std::optional<SiteId> SiteOf(const std::string& text) {
  auto site = Uuid::Parse(text);
  return site ? std::optional<SiteId>(*site) : std::nullopt;
}

}  // namespace

std::string_view RecordingStatusName(RecordingStatus status) {
  switch (status) {
    case RecordingStatus::kRecording:
      return "recording";
    case RecordingStatus::kComplete:
      return "complete";
    case RecordingStatus::kFailed:
      return "failed";
  }
  return "unknown";
}

Status ValidateRecordingStart(const RecordingStart& in) {
  if (!IsCanonicalUuid(in.patient_id)) {
    return Invalid("recording.patient_id", "must be a canonical UUID");
  }
  if (!IsCanonicalUuid(in.device_id)) {
    return Invalid("recording.device_id", "must be a canonical UUID");
  }
  if (in.started_at_ms < 0 || in.started_at_ms > Hlc::kMaxPhysicalMs) {
    return Invalid("recording.started_at_ms", "out of range");
  }
  if (!MillihertzOf(in.sample_rate_hz)) {
    return Invalid("recording.sample_rate_hz",
                   "must be 1..100000 Hz in whole millihertz");
  }
  if (Status s = CheckLeads(in.lead_names, ErrorCode::kInvalidArgument,
                            "recording.lead_names");
      !s) {
    return s;
  }
  if (in.lsb_nv < 1 || in.lsb_nv > kMaxLsbNv) {
    return Invalid("recording.lsb_nv", "must be 1..1000000 nV per unit");
  }
  return OkStatus();
}

RecordingRepository::RecordingRepository(Database& db, LocalWriter& writer,
                                         AuditLog& audit, BlobStore& blobs,
                                         Clock& wall, UuidV7Generator& ids,
                                         Uuid site)
    : db_(db),
      writer_(writer),
      audit_(audit),
      blobs_(blobs),
      wall_(wall),
      ids_(ids),
      site_(site) {}

Result<std::optional<Recording>> RecordingRepository::Load(
    const std::string& id) {
  auto stmt = db_.Prepare(
      "SELECT site_id, patient_id, device_id, operator_id, started_at_ms, "
      "ended_at_ms, sample_rate_hz, lead_names, lsb_nv, status, quality, "
      "segment_count FROM recordings WHERE id = ? AND deleted = 0");
  if (!stmt) return Fail(stmt.error());
  if (Status s = stmt->BindText(1, id); !s) return Fail(s.error());
  auto found = stmt->Step();
  if (!found) return Fail(found.error());
  if (!*found) return std::optional<Recording>();

  RowReader row(*stmt, kRecordingsTable, id);
  Recording r;
  r.id = id;
  r.site_id = row.Text(0, "site_id");
  r.patient_id = row.Text(1, "patient_id");
  r.device_id = row.Text(2, "device_id");
  r.operator_id = row.Text(3, "operator_id");
  const auto started = row.Int(4, "started_at_ms");
  r.ended_at_ms = row.Int(5, "ended_at_ms");
  const auto rate = row.Real(6, "sample_rate_hz");
  r.lead_names = SplitLeads(row.Text(7, "lead_names"));
  const auto lsb = row.Int(8, "lsb_nv");
  const std::string status = row.Text(9, "status");
  r.quality = row.Text(10, "quality");
  const auto segment_count = row.Int(11, "segment_count");
  if (row.error()) return Fail(*row.error());

  // Rows arrive from other replicas too: the values every reader relies on
  // are checked here, once.
  if (!started) row.Note("started_at_ms", "is missing");
  if (!rate || !MillihertzOf(*rate))
    row.Note("sample_rate_hz", "is out of range");
  if (!lsb || *lsb < 1 || *lsb > kMaxLsbNv)
    row.Note("lsb_nv", "is out of range");
  if (!segment_count || *segment_count < 0) {
    row.Note("segment_count", "is out of range");
  }
  if (row.error()) return Fail(*row.error());
  if (Status s = CheckLeads(r.lead_names, ErrorCode::kCorruption,
                            "recordings " + id + ": lead_names");
      !s) {
    return Fail(s.error());
  }
  const auto parsed = ParseStatus(status);
  if (!parsed) {
    return Fail(ErrorCode::kUnsupported,
                "recordings " + id + ": status unknown to this build");
  }
  r.started_at_ms = *started;
  r.sample_rate_hz = *rate;
  r.lsb_nv = *lsb;
  r.status = *parsed;
  r.segment_count = *segment_count;
  return std::optional<Recording>(std::move(r));
}

Result<std::vector<RecordingSegment>> RecordingRepository::LoadSegments(
    const std::string& id) {
  auto stmt = db_.Prepare(
      "SELECT id, seq, first_frame, frame_count, blob_sha256 "
      "FROM recording_segments WHERE recording_id = ? AND deleted = 0 "
      "ORDER BY seq, id");
  if (!stmt) return Fail(stmt.error());
  if (Status s = stmt->BindText(1, id); !s) return Fail(s.error());
  std::vector<RecordingSegment> segments;
  for (;;) {
    auto more = stmt->Step();
    if (!more) return Fail(more.error());
    if (!*more) break;
    auto segment_id = stmt->ColumnText(0);
    if (!segment_id)
      return Fail(ErrorCode::kCorruption, "recording_segments: malformed id");
    RecordingSegment segment;
    segment.id = std::string(*segment_id);
    RowReader row(*stmt, kSegmentsTable, segment.id);
    const auto seq = row.Int(1, "seq");
    const auto first = row.Int(2, "first_frame");
    const auto frames = row.Int(3, "frame_count");
    segment.blob_sha256 = row.Text(4, "blob_sha256");
    if (!seq || *seq < 0) row.Note("seq", "is out of range");
    if (!first || *first < 0 || *first > kMaxFrame) {
      row.Note("first_frame", "is out of range");
    }
    if (!frames || *frames < 1 || *frames > kMaxSegmentSamples) {
      row.Note("frame_count", "is out of range");
    }
    if (!IsValidBlobId(segment.blob_sha256)) {
      row.Note("blob_sha256", "is not a blob id");
    }
    if (row.error()) return Fail(*row.error());
    segment.seq = *seq;
    segment.first_frame = *first;
    segment.frame_count = *frames;
    segments.push_back(std::move(segment));
  }
  return segments;
}

Result<Recording> RecordingRepository::LoadAuthorized(const Principal& who,
                                                      const std::string& id,
                                                      Action action) {
  auto current = Load(id);
  if (!current) return Fail(current.error());
  if (!current->has_value()) {
    return Fail(ErrorCode::kNotFound, "recording not found");
  }
  Recording& r = **current;
  const Decision decision =
      Authorize(who, action, Resource::kRecordings, SiteOf(r.site_id));
  if (!decision) {
    std::optional<std::string> patient;
    if (IsCanonicalUuid(r.patient_id)) patient = r.patient_id;
    return Fail(AuditDenial(writer_, audit_,
                            {.actor = &who,
                             .object_type = kRecordingsTable,
                             .object_id = id,
                             .patient = patient},
                            decision.reason)
                    .error());
  }
  return std::move(r);
}

Result<std::string> RecordingRepository::Start(const Principal& who,
                                               const RecordingStart& in) {
  const Decision decision =
      Authorize(who, Action::kCreate, Resource::kRecordings, site_);
  if (!decision) {
    std::optional<std::string> patient;
    if (IsCanonicalUuid(in.patient_id)) patient = in.patient_id;
    return Fail(AuditDenial(writer_, audit_,
                            {.actor = &who,
                             .object_type = kRecordingsTable,
                             .patient = patient},
                            decision.reason)
                    .error());
  }
  if (Status s = ValidateRecordingStart(in); !s) return Fail(s.error());

  // A patient the caller may not read is reported exactly like a missing
  // one, so that ids of another site's patients reveal nothing.
  auto patient_site = LiveRowSite(db_, "patients", in.patient_id);
  if (!patient_site) return Fail(patient_site.error());
  if (!patient_site->has_value() ||
      !Authorize(who, Action::kRead, Resource::kPatients,
                 SiteOf(**patient_site))) {
    return Fail(ErrorCode::kNotFound,
                "recording.patient_id: patient not found");
  }
  // The device must be registered here: a recording names the instrument
  // that took it (DESIGN.md §3), and clinic staff can register a new one
  // offline (docs/security.md).
  auto device_site = LiveRowSite(db_, "devices", in.device_id);
  if (!device_site) return Fail(device_site.error());
  if (!device_site->has_value() || **device_site != site_.ToString()) {
    return Fail(ErrorCode::kNotFound, "recording.device_id: device not found");
  }

  RowWrite write;
  write.table = std::string(kRecordingsTable);
  write.row = ids_.Next().ToString();
  write.fields = {
      {"site_id", site_.ToString()},
      {"patient_id", in.patient_id},
      {"device_id", in.device_id},
      {"operator_id", who.user_id.ToString()},
      {"started_at_ms", in.started_at_ms},
      {"sample_rate_hz", in.sample_rate_hz},
      {"lead_names", JoinLeads(in.lead_names)},
      {"lsb_nv", in.lsb_nv},
      {"status", std::string(RecordingStatusName(RecordingStatus::kRecording))},
      {"segment_count", std::int64_t{0}},
  };
  const std::string id = write.row;
  std::vector<RowWrite> writes;
  writes.push_back(std::move(write));
  if (Status s = CommitAudited(
          writer_, audit_,
          {&who, AuditAction::kCreate, kRecordingsTable, id, in.patient_id},
          std::move(writes));
      !s) {
    return Fail(s.error());
  }
  return id;
}

Result<RecordingSegment> RecordingRepository::AppendSegment(
    const Principal& who, const std::string& id, std::int64_t seq,
    std::int64_t first_frame, std::span<const std::int16_t> interleaved,
    int channels) {
  auto rec = LoadAuthorized(who, id, Action::kUpdate);
  if (!rec) return Fail(rec.error());
  if (rec->status != RecordingStatus::kRecording) {
    return Invalid("recording.status",
                   "is " + std::string(RecordingStatusName(rec->status)) +
                       ": takes no more segments");
  }
  auto segments = LoadSegments(id);
  if (!segments) return Fail(segments.error());
  if (static_cast<std::int64_t>(segments->size()) != rec->segment_count) {
    return Fail(
        ErrorCode::kCorruption,
        "recordings " + id + ": segment_count disagrees with its segments");
  }
  if (seq != rec->segment_count) {
    return Invalid("segment.seq",
                   "must be " + std::to_string(rec->segment_count));
  }
  const std::int64_t expected_first =
      segments->empty()
          ? 0
          : segments->back().first_frame + segments->back().frame_count;
  if (first_frame != expected_first) {
    return Invalid("segment.first_frame",
                   "must be " + std::to_string(expected_first) +
                       ", where the previous segment ended");
  }
  const auto leads = static_cast<int>(rec->lead_names.size());
  if (channels != leads) {
    return Invalid("segment.channels", "must be the recording's " +
                                           std::to_string(leads) + " leads");
  }
  if (interleaved.empty()) return Invalid("segment.samples", "is empty");
  if (interleaved.size() % static_cast<std::size_t>(leads) != 0) {
    return Invalid("segment.samples", "is not a whole number of frames");
  }
  if (interleaved.size() > static_cast<std::size_t>(kMaxSegmentSamples)) {
    return Invalid(
        "segment.samples",
        "more than " + std::to_string(kMaxSegmentSamples) + " samples");
  }
  const auto frames = static_cast<std::int64_t>(
      interleaved.size() / static_cast<std::size_t>(leads));

  SegmentParams params;
  params.sample_rate_millihertz = *MillihertzOf(rec->sample_rate_hz);
  params.lsb_nanovolts = static_cast<std::uint32_t>(rec->lsb_nv);
  params.first_frame = static_cast<std::uint64_t>(first_frame);
  auto encoded = EncodeSegment(interleaved, channels, params);
  if (!encoded) return Fail(encoded.error());

  // Bytes first, rows after: a row must never name a blob that is not
  // stored. Put() is content-addressed and idempotent, so a retry of the
  // same segment finds the same blob.
  const std::string where = "segment " + std::to_string(seq);
  auto ref = blobs_.Put(*encoded);
  if (!ref) return Fail(ref.error().WithContext(where));

  // The local blob index (what the sync client uploads) is not replicated,
  // so LocalWriter cannot write it: one plain statement, its own implicit
  // transaction, before the Commit that references the blob. A crash or a
  // failed Commit between the two leaves only an indexed blob that no row
  // names — harmless: at worst it is uploaded once and never read, and a
  // retry of the same segment encodes to the same bytes, hence the same
  // blob and index row (INSERT OR IGNORE).
  {
    auto index = db_.Prepare(
        "INSERT OR IGNORE INTO blobs (sha256, size_bytes, stored_at_ms, "
        "uploaded) VALUES (?, ?, ?, 0)");
    if (!index) return Fail(index.error());
    Status s = index->BindText(1, ref->sha256);
    if (s) s = index->BindInt64(2, static_cast<std::int64_t>(ref->size));
    if (s) s = index->BindInt64(3, std::max<std::int64_t>(0, WallMs(wall_)));
    if (s) s = index->Run();
    if (!s) return Fail(s.error());
  }

  RecordingSegment segment;
  segment.id = ids_.Next().ToString();
  segment.seq = seq;
  segment.first_frame = first_frame;
  segment.frame_count = frames;
  segment.blob_sha256 = ref->sha256;
  std::vector<RowWrite> writes;
  writes.push_back(RowWrite{std::string(kSegmentsTable),
                            segment.id,
                            Op::kUpsert,
                            {{"site_id", rec->site_id},
                             {"recording_id", id},
                             {"seq", seq},
                             {"first_frame", first_frame},
                             {"frame_count", frames},
                             {"blob_sha256", segment.blob_sha256}}});
  writes.push_back(RowWrite{std::string(kRecordingsTable),
                            id,
                            Op::kUpsert,
                            {{"segment_count", seq + 1}}});
  // As elsewhere here: a malformed patient id in a synced row is left out
  // of the event rather than failing the append.
  std::optional<std::string> patient;
  if (IsCanonicalUuid(rec->patient_id)) patient = rec->patient_id;
  if (Status s = CommitAudited(writer_, audit_,
                               {&who, AuditAction::kCreate, kSegmentsTable,
                                segment.id, patient},
                               std::move(writes));
      !s) {
    return Fail(s.error());
  }
  return segment;
}

Status RecordingRepository::Finish(const Principal& who, const std::string& id,
                                   RecordingStatus status,
                                   std::optional<std::int64_t> ended_at_ms,
                                   std::string_view code,
                                   std::string_view field) {
  auto rec = LoadAuthorized(who, id, Action::kUpdate);
  if (!rec) return Fail(rec.error());
  if (rec->status != RecordingStatus::kRecording) {
    return Invalid("recording.status",
                   "is " + std::string(RecordingStatusName(rec->status)) +
                       ": a finished recording is immutable");
  }
  if (!IsIdentifier(code)) {
    return Invalid(field, "must be a code of [a-z][a-z0-9_]{0,62}");
  }
  std::int64_t ended = 0;
  if (ended_at_ms) {
    if (*ended_at_ms < rec->started_at_ms ||
        *ended_at_ms > Hlc::kMaxPhysicalMs) {
      return Invalid("recording.ended_at_ms",
                     "must be from started_at_ms to the end of the clock");
    }
    ended = *ended_at_ms;
  } else {
    // The wall clock may have jumped back since the start; the recording
    // cannot end before it began.
    ended = std::clamp(WallMs(wall_), rec->started_at_ms, Hlc::kMaxPhysicalMs);
  }
  if (status == RecordingStatus::kComplete && rec->segment_count < 1) {
    return Invalid("recording.segment_count",
                   "no segments: a recording without samples is failed, "
                   "not complete");
  }
  std::vector<RowWrite> writes;
  writes.push_back(
      RowWrite{std::string(kRecordingsTable),
               id,
               Op::kUpsert,
               {{"status", std::string(RecordingStatusName(status))},
                {"ended_at_ms", ended},
                {"quality", std::string(code)}}});
  std::optional<std::string> patient;
  if (IsCanonicalUuid(rec->patient_id)) patient = rec->patient_id;
  return CommitAudited(
      writer_, audit_,
      {&who, AuditAction::kUpdate, kRecordingsTable, id, patient},
      std::move(writes));
}

Status RecordingRepository::Complete(const Principal& who,
                                     const std::string& id,
                                     std::int64_t ended_at_ms,
                                     std::string_view quality) {
  return Finish(who, id, RecordingStatus::kComplete, ended_at_ms, quality,
                "recording.quality");
}

Status RecordingRepository::MarkFailed(const Principal& who,
                                       const std::string& id,
                                       std::string_view reason) {
  return Finish(who, id, RecordingStatus::kFailed, std::nullopt, reason,
                "recording.reason");
}

Result<Recording> RecordingRepository::Get(const Principal& who,
                                           const std::string& id) {
  auto rec = LoadAuthorized(who, id, Action::kRead);
  if (!rec) return Fail(rec.error());
  auto segments = LoadSegments(id);
  if (!segments) return Fail(segments.error());
  rec->segments = std::move(*segments);
  std::optional<std::string> patient;
  if (IsCanonicalUuid(rec->patient_id)) patient = rec->patient_id;
  if (Status s = CommitAudited(
          writer_, audit_,
          {&who, AuditAction::kView, kRecordingsTable, id, patient}, {});
      !s) {
    return Fail(s.error());
  }
  return rec;
}

Result<std::vector<std::int16_t>> RecordingRepository::ReadSamples(
    const Principal& who, const std::string& id) {
  auto rec = LoadAuthorized(who, id, Action::kRead);
  if (!rec) return Fail(rec.error());
  auto segments = LoadSegments(id);
  if (!segments) return Fail(segments.error());
  const auto channels = static_cast<int>(rec->lead_names.size());
  const std::uint32_t rate = *MillihertzOf(rec->sample_rate_hz);

  std::vector<std::int16_t> samples;
  std::int64_t next_frame = 0;
  for (std::size_t i = 0; i < segments->size(); ++i) {
    const RecordingSegment& segment = (*segments)[i];
    const auto expected_seq = static_cast<std::int64_t>(i);
    const std::string where = "segment " + std::to_string(segment.seq);
    if (segment.seq < expected_seq) {
      return Fail(ErrorCode::kCorruption, where + ": stored twice");
    }
    if (segment.seq > expected_seq) {
      return Fail(ErrorCode::kNotFound,
                  "segment " + std::to_string(i) + ": not on this replica yet");
    }
    if (segment.first_frame != next_frame) {
      return Fail(ErrorCode::kCorruption,
                  where + ": starts at frame " +
                      std::to_string(segment.first_frame) + ", expected " +
                      std::to_string(next_frame) + " (gap or overlap)");
    }
    // Get() proves the bytes hash to the id; DecodeSegment() then checks
    // the segment's own CRC and structure.
    auto bytes = blobs_.Get(segment.blob_sha256);
    if (!bytes) return Fail(bytes.error().WithContext(where));
    auto decoded = DecodeSegment(*bytes);
    if (!decoded) return Fail(decoded.error().WithContext(where));
    const SegmentInfo& info = decoded->info;
    if (info.channels != channels || info.frames != segment.frame_count ||
        info.first_frame != static_cast<std::uint64_t>(segment.first_frame) ||
        info.sample_rate_millihertz != rate ||
        info.lsb_nanovolts != static_cast<std::uint32_t>(rec->lsb_nv)) {
      return Fail(ErrorCode::kCorruption,
                  where + ": segment header disagrees with its recording");
    }
    samples.insert(samples.end(), decoded->samples.begin(),
                   decoded->samples.end());
    next_frame += segment.frame_count;
  }
  if (static_cast<std::int64_t>(segments->size()) < rec->segment_count) {
    return Fail(ErrorCode::kNotFound, "segment " +
                                          std::to_string(segments->size()) +
                                          ": not on this replica yet");
  }
  std::optional<std::string> patient;
  if (IsCanonicalUuid(rec->patient_id)) patient = rec->patient_id;
  if (Status s = CommitAudited(
          writer_, audit_,
          {&who, AuditAction::kView, kRecordingsTable, id, patient}, {});
      !s) {
    return Fail(s.error());
  }
  return samples;
}

Result<std::vector<Recording>> RecordingRepository::List(
    const Principal& who, const std::optional<std::string>& patient,
    int limit) {
  if (limit < 1 || limit > kMaxListLimit) {
    return Invalid("limit", "must be within 1..200");
  }
  if (patient && !IsCanonicalUuid(*patient)) {
    return Invalid("patient_id", "must be a canonical UUID");
  }
  // Reading at any site is a wider grant than reading at one's own: ask for
  // the widest the caller has (as PatientRepository::Search).
  const bool any_site = PermissionScope(who.role, Resource::kRecordings,
                                        Action::kRead) == Scope::kAnySite;
  const Decision decision = Authorize(
      who, Action::kRead, Resource::kRecordings,
      any_site ? std::optional<SiteId>() : std::optional<SiteId>(site_));
  if (!decision) {
    return Fail(AuditDenial(writer_, audit_,
                            {.actor = &who,
                             .object_type = kRecordingsTable,
                             .patient = patient},
                            decision.reason)
                    .error());
  }
  // recordings_by_patient / recordings_by_start give started_at_ms order;
  // id breaks ties so that the order is the same on every replica.
  std::string sql = "SELECT id FROM recordings WHERE deleted = 0";
  if (patient) sql += " AND patient_id = ?1";
  if (!any_site) sql += " AND site_id = ?2";
  sql += " ORDER BY started_at_ms DESC, id DESC LIMIT ?3";
  auto stmt = db_.Prepare(sql);
  if (!stmt) return Fail(stmt.error());
  Status s = OkStatus();
  if (patient) s = stmt->BindText(1, *patient);
  if (s && !any_site) s = stmt->BindText(2, site_.ToString());
  if (s) s = stmt->BindInt64(3, limit);
  if (!s) return Fail(s.error());
  std::vector<std::string> ids;
  for (;;) {
    auto more = stmt->Step();
    if (!more) return Fail(more.error());
    if (!*more) break;
    auto id = stmt->ColumnText(0);
    if (!id) return Fail(ErrorCode::kCorruption, "recordings: malformed id");
    ids.emplace_back(*id);
  }
  stmt->Reset();

  std::vector<Recording> found;
  for (const std::string& id : ids) {
    auto rec = Load(id);
    if (!rec) return Fail(rec.error());
    if (!rec->has_value()) continue;
    auto segments = LoadSegments(id);
    if (!segments) return Fail(segments.error());
    (*rec)->segments = std::move(*segments);
    std::optional<std::string> of;
    if (IsCanonicalUuid((*rec)->patient_id)) of = (*rec)->patient_id;
    // Each recording shown is a patient's record seen: audited one by one.
    if (Status w = CommitAudited(
            writer_, audit_,
            {&who, AuditAction::kView, kRecordingsTable, id, of}, {});
        !w) {
      return Fail(w.error());
    }
    found.push_back(std::move(**rec));
  }
  return found;
}

Result<std::vector<Recording>> RecordingRepository::ForPatient(
    const Principal& who, const std::string& patient_id, int limit) {
  return List(who, patient_id, limit);
}

Result<std::vector<Recording>> RecordingRepository::Recent(const Principal& who,
                                                           int limit) {
  return List(who, std::nullopt, limit);
}

}  // namespace pulse::engine
