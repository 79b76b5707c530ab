// Analysis results of a clinic replica: the immutable output of one run of
// the signal-processing algorithms over a completed recording — an
// `analyses` row (recording, algorithm version, time) with its
// `measurements` (heart rate, intervals, axes, amplitudes) and `findings`
// (coded statements with a time span, a count and a confidence), DESIGN.md
// §3. All are append-only: a new run adds a new analysis, nothing is ever
// rewritten (docs/security.md: update and delete are denied to everyone).
//
// As PatientRepository (patients.h): every call is checked against the
// permission matrix (Resource::kMeasurements and Resource::kFindings —
// the matrix has no separate entry for the `analyses` row, which is
// governed with them), validated (kInvalidArgument naming the field,
// nothing written), written through one LocalWriter::Commit together with
// its audit event, and reads are audited as `view` with the patient's id. A
// refused attempt is audited as permission_denied and returns
// kPermissionDenied.
//
// Thread-safety: one repository per writer connection, one thread at a
// time (as patients.h).
#ifndef PULSE_ENGINE_ANALYSES_H_
#define PULSE_ENGINE_ANALYSES_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "pulse/base/result.h"
#include "pulse/engine/audit_log.h"
#include "pulse/engine/database.h"
#include "pulse/engine/local_writer.h"
#include "pulse/engine/permissions.h"
#include "pulse/engine/uuid.h"

namespace pulse::engine {

inline constexpr std::size_t kMaxMeasurementsPerAnalysis = 1000;
inline constexpr std::size_t kMaxFindingsPerAnalysis = 1000;

// One measured quantity. Rules:
//  name   an identifier [a-z][a-z0-9_]{0,62}, e.g. "heart_rate", "qtc"
//  lead   absent for a global measurement, else one of the recording's
//         leads ("V5"); (name, lead) is unique within an analysis
//  value  finite
//  unit   1..16 printable ASCII characters without spaces ("bpm", "ms",
//         "uV", "deg"; "1" for a dimensionless ratio)
struct Measurement {
  std::string name;
  std::optional<std::string> lead;
  double value = 0;
  std::string unit;

  friend bool operator==(const Measurement&, const Measurement&) = default;
};

// One coded statement about the recording. Rules:
//  code        an identifier, e.g. "sinus_rhythm", "pvc", "afib"
//  label       1..200 bytes of UTF-8, no control characters: the words a
//              report prints ("Premature ventricular complex")
//  onset_ms,
//  offset_ms   the span it covers, ms from the recording's first sample:
//              0 <= onset_ms <= offset_ms <= the recording's duration
//  count       occurrences (beats, episodes), >= 1; 1 for a statement about
//              the whole span
//  confidence  the algorithm's confidence, 0..1
struct Finding {
  std::string code;
  std::string label;
  std::int64_t onset_ms = 0;
  std::int64_t offset_ms = 0;
  std::int64_t count = 1;
  double confidence = 0;

  friend bool operator==(const Finding&, const Finding&) = default;
};

// One run's output. Rules:
//  recording_id       canonical UUID of a live, complete recording the
//                     caller may read (kNotFound otherwise)
//  algorithm_version  1..64 characters of [A-Za-z0-9._+-], e.g.
//                     "pulse-dsp-1.4.0"
//  analysed_at_ms     wall-clock ms since the Unix epoch,
//                     0..Hlc::kMaxPhysicalMs
//  measurements       at most kMaxMeasurementsPerAnalysis
//  findings           at most kMaxFindingsPerAnalysis
struct AnalysisInput {
  std::string recording_id;
  std::string algorithm_version;
  std::int64_t analysed_at_ms = 0;
  std::vector<Measurement> measurements;
  std::vector<Finding> findings;
};

struct Analysis {
  std::string id;
  std::string site_id;
  std::string recording_id;
  std::string algorithm_version;
  std::int64_t analysed_at_ms = 0;
  std::vector<Measurement> measurements;  // in the order stored
  std::vector<Finding> findings;          // in the order stored
};

class AnalysisRepository {
 public:
  // All references must outlive the repository.
  AnalysisRepository(Database& db, LocalWriter& writer, AuditLog& audit,
                     UuidV7Generator& ids);

  // Stores one analysis — the analyses row, every measurement and finding
  // (each a new UUIDv7 row, site of the recording) and one audit event
  // (create, object "analyses") — in one Commit, and returns its id.
  // kInvalidArgument naming the field ("analysis.measurements[2].value:
  // ..."); kNotFound for a recording that is unknown, removed or not the
  // caller's to read; kInvalidArgument (analysis.recording_id) for a
  // recording that is not complete — a run over a recording still growing
  // or failed would not describe the stored samples; kPermissionDenied
  // (audited) unless `who` may create measurements and findings at the
  // recording's site.
  Result<std::string> Store(const Principal& who, const AnalysisInput& in);

  // The latest analysis of recording `recording_id` — the one stored last,
  // in the replicas' common HLC order (created_hlc; not analysed_at_ms,
  // which comes from a wall clock that may be wrong) — with its
  // measurements and findings. Audited as a view of the analysis with the
  // recording's patient. kNotFound for an unknown or removed recording, or
  // one with no analysis; kPermissionDenied (audited) unless `who` may
  // read measurements and findings at the recording's site.
  Result<Analysis> ForRecording(const Principal& who,
                                const std::string& recording_id);

 private:
  struct RecordingFacts;
  Result<std::optional<RecordingFacts>> LoadRecording(const std::string& id);

  Database& db_;
  LocalWriter& writer_;
  AuditLog& audit_;
  UuidV7Generator& ids_;
};

}  // namespace pulse::engine

#endif  // PULSE_ENGINE_ANALYSES_H_
