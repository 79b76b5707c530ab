// Recordings of a clinic replica: an ECG recording's life (start, append
// waveform segments, complete or fail) and its reads (metadata, decoded
// samples, per-patient and recent lists). Like PatientRepository
// (patients.h), every call is checked against the permission matrix
// (Resource::kRecordings), validated (kInvalidArgument naming the field,
// nothing written), written through LocalWriter::Commit together with its
// audit event, and every read is audited as `view` with the patient's id. A
// refused attempt is audited as permission_denied and returns
// kPermissionDenied.
//
// Waveforms are not rows (DESIGN.md §3): each segment is encoded with the
// waveform codec (waveform_codec.h, docs/formats/waveform_segment.md),
// stored in the BlobStore under its SHA-256, indexed in the local `blobs`
// table (so the sync client uploads it) and only then referenced by an
// append-only `recording_segments` row. Reads verify every blob (hash, then
// the segment's CRC and header against the row): damage is kCorruption
// naming the segment, never wrong samples.
//
// State rules (on top of the matrix, docs/security.md): a recording takes
// segments only while its status is `recording`, strictly in order
// (seq 0, 1, 2, ...; each segment's first frame where the previous one
// ended); `complete` and `failed` are final — the row is immutable from then
// on (kInvalidArgument naming recording.status).
//
// Thread-safety: one repository per writer connection, one thread at a
// time (as patients.h). The BlobStore itself is thread-safe.
#ifndef PULSE_ENGINE_RECORDINGS_H_
#define PULSE_ENGINE_RECORDINGS_H_

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "pulse/base/result.h"
#include "pulse/engine/audit_log.h"
#include "pulse/engine/blob_store.h"
#include "pulse/engine/clock.h"
#include "pulse/engine/database.h"
#include "pulse/engine/local_writer.h"
#include "pulse/engine/permissions.h"
#include "pulse/engine/uuid.h"

namespace pulse::engine {

// The leads a recording may hold, by their standard names (case-sensitive).
inline constexpr std::string_view kStandardLeadNames[] = {
    "I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6"};

// Stored as text in recordings.status. An unknown stored value (a newer
// build's) makes the row kUnsupported to this build.
enum class RecordingStatus { kRecording = 1, kComplete = 2, kFailed = 3 };

// "recording", "complete", "failed".
std::string_view RecordingStatusName(RecordingStatus status);

// Field rules (checked by Start):
//  patient_id      canonical UUID of a live patient the caller may read
//                  (kNotFound otherwise, so no other site's ids leak)
//  device_id       canonical UUID of a live device of this replica's site
//                  (kNotFound otherwise)
//  started_at_ms   wall-clock ms since the Unix epoch, 0..Hlc::kMaxPhysicalMs
//                  (no plausibility window: rural PCs keep bad time, and a
//                  recording must never be refused for that)
//  sample_rate_hz  1..100 000 Hz, a whole number of millihertz (the unit
//                  segment headers carry it in)
//  lead_names      1..12 distinct names of kStandardLeadNames, in channel
//                  order
//  lsb_nv          nanovolts per ADC unit, 1..1 000 000
struct RecordingStart {
  std::string patient_id;
  std::string device_id;
  std::int64_t started_at_ms = 0;
  double sample_rate_hz = 0;
  std::vector<std::string> lead_names;
  std::int64_t lsb_nv = 0;
};

// One stored segment: frames [first_frame, first_frame + frame_count) of
// every lead, in blob `blob_sha256`.
struct RecordingSegment {
  std::string id;
  std::int64_t seq = 0;  // 0, 1, 2, ...
  std::int64_t first_frame = 0;
  std::int64_t frame_count = 0;
  std::string blob_sha256;  // 64 lowercase hex
};

struct Recording {
  std::string id;
  std::string site_id;
  std::string patient_id;
  std::string device_id;
  std::string operator_id;  // the user who started it
  std::int64_t started_at_ms = 0;
  std::optional<std::int64_t> ended_at_ms;  // set by Complete / MarkFailed
  double sample_rate_hz = 0;
  std::vector<std::string> lead_names;
  std::int64_t lsb_nv = 0;
  RecordingStatus status = RecordingStatus::kRecording;
  // Complete: the quality code; failed: the failure reason code (the schema
  // has one column for both); empty while recording.
  std::string quality;
  std::int64_t segment_count = 0;
  std::vector<RecordingSegment> segments;  // by seq
};

class RecordingRepository {
 public:
  // `site` is this replica's site: new recordings belong to it. `blobs`
  // holds the segment bytes. All references must outlive the repository.
  RecordingRepository(Database& db, LocalWriter& writer, AuditLog& audit,
                      BlobStore& blobs, Clock& wall, UuidV7Generator& ids,
                      Uuid site);

  // Starts a recording (status `recording`, no segments, operator = `who`)
  // and returns its id. kPermissionDenied (audited) unless `who` may create
  // recordings at this site; kInvalidArgument naming the field; kNotFound
  // for a patient or device as described at RecordingStart.
  Result<std::string> Start(const Principal& who, const RecordingStart& in);

  // Appends segment `seq` of recording `id`: `interleaved` holds
  // frame_count frames of `channels` samples (ADC units, channel order of
  // the recording's lead_names). Stores the encoded blob first, then
  // commits the segment row and the recording's new segment_count with one
  // audit event. Returns the stored segment.
  // kNotFound: no such live recording. kPermissionDenied (audited): `who`
  // may not update it. kInvalidArgument, nothing committed: status is not
  // `recording` (recording.status), seq is not segment_count (segment.seq),
  // first_frame is not where the previous segment ended
  // (segment.first_frame), channels differs from the lead count
  // (segment.channels), or the samples are empty, not whole frames or more
  // than kMaxSegmentSamples (segment.samples). Blob store errors (kIoError)
  // pass through; a failure after the blob was stored leaves only an
  // unreferenced blob, and a retry of the same call succeeds.
  Result<RecordingSegment> AppendSegment(
      const Principal& who, const std::string& id, std::int64_t seq,
      std::int64_t first_frame, std::span<const std::int16_t> interleaved,
      int channels);

  // Ends recording `id` as `complete`. REQUIRES (kInvalidArgument naming the
  // field otherwise): status `recording` (recording.status), at least one
  // segment (recording.segment_count: a recording without samples is
  // failed, not complete), started_at_ms <= ended_at_ms <=
  // Hlc::kMaxPhysicalMs (recording.ended_at_ms), `quality` a code of
  // [a-z][a-z0-9_]{0,62} such as "good", "fair", "poor"
  // (recording.quality). kNotFound / kPermissionDenied as AppendSegment.
  Status Complete(const Principal& who, const std::string& id,
                  std::int64_t ended_at_ms, std::string_view quality);

  // Ends recording `id` as `failed`, with `reason` a code of the same form
  // as a quality code (e.g. "lead_off", "device_lost", "cancelled"), stored
  // in `quality`; ended_at_ms becomes the wall clock (never before
  // started_at_ms). REQUIRES: status `recording`. Errors as Complete.
  // (Not called Fail: that name is pulse::Fail, which every member function
  // here returns errors through.)
  Status MarkFailed(const Principal& who, const std::string& id,
                    std::string_view reason);

  // The recording with its segments. kNotFound for an unknown or removed
  // recording; kPermissionDenied (audited) if `who` may not read it.
  Result<Recording> Get(const Principal& who, const std::string& id);

  // The recording's samples: every segment decoded, in order, interleaved
  // (frames x lead count, channel order of lead_names). Held whole in
  // memory (a 10-minute 12-lead ECG at 500 Hz is 7 MB). Errors as Get,
  // plus: kCorruption naming the segment ("segment 3: ...") for a damaged
  // blob, a segment whose header disagrees with its row or recording, or
  // segments that overlap or leave a gap; kNotFound naming the segment
  // when a segment row or its blob has not reached this replica yet.
  Result<std::vector<std::int16_t>> ReadSamples(const Principal& who,
                                                const std::string& id);

  // Live recordings of `patient_id` within the caller's reach (own site;
  // any site for roles that read all sites), newest first (started_at_ms,
  // then id), at most `limit` (1..200), each with its segments and each
  // audited as viewed. kInvalidArgument for a malformed patient id or
  // limit; kPermissionDenied (audited) for roles that read no recordings.
  Result<std::vector<Recording>> ForPatient(const Principal& who,
                                            const std::string& patient_id,
                                            int limit);

  // The newest live recordings within the caller's reach, as ForPatient.
  Result<std::vector<Recording>> Recent(const Principal& who, int limit);

 private:
  // The live row (segments not loaded), or nullopt.
  Result<std::optional<Recording>> Load(const std::string& id);
  Result<std::vector<RecordingSegment>> LoadSegments(const std::string& id);
  // Load() + Authorize() against the row's site: kNotFound, or the denial
  // (audited), or the live recording (segments not loaded).
  Result<Recording> LoadAuthorized(const Principal& who, const std::string& id,
                                   Action action);
  // Complete() and MarkFailed(): `ended_at_ms` nullopt means "the wall clock";
  // `field` names `code` in errors.
  Status Finish(const Principal& who, const std::string& id,
                RecordingStatus status, std::optional<std::int64_t> ended_at_ms,
                std::string_view code, std::string_view field);
  Result<std::vector<Recording>> List(const Principal& who,
                                      const std::optional<std::string>& patient,
                                      int limit);

  Database& db_;
  LocalWriter& writer_;
  AuditLog& audit_;
  BlobStore& blobs_;
  Clock& wall_;
  UuidV7Generator& ids_;
  Uuid site_;
};

// The rules of RecordingStart that need no database (every field's form;
// not whether the patient and device exist), for callers that validate
// before asking (UI forms). kInvalidArgument naming the field
// ("recording.lead_names: ...").
Status ValidateRecordingStart(const RecordingStart& in);

}  // namespace pulse::engine

#endif  // PULSE_ENGINE_RECORDINGS_H_
