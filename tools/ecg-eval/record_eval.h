// The work both ecg-eval subcommands share: find records, run the QRS
// detector over a record, and time it.
//
// Detection feeds every signal of the record, converted from ADC units to
// millivolts (wfdb::MillivoltsPerAdu, baseline subtracted) into a reused
// float buffer, to pulse::dsp::QrsDetector in chunks of kChunkFrames frames,
// the way a streaming caller would. Only the detector's own calls are timed
// as "detection"; reading and conversion are not.
//
// Thread-compatible: a Detection run owns its scratch buffer.
#ifndef PULSE_TOOLS_ECG_EVAL_RECORD_EVAL_H_
#define PULSE_TOOLS_ECG_EVAL_RECORD_EVAL_H_

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "pulse/base/result.h"
#include "pulse/dsp/wfdb_file.h"

namespace pulse::ecg_eval {

// Frames handed to QrsDetector::Process() per call.
inline constexpr std::int64_t kChunkFrames = 4096;

// The folder of reference data: $PULSE_DATA_DIR when set and not empty,
// else ../shared/data when it exists relative to the working directory,
// else the data folder configured at build time (beside the source tree).
std::filesystem::path DefaultDataDir();

// Names (without extension) of the records in `dir` that have both a .hea
// and a reference annotation file "<name>.<annotator>", in record order
// (shorter names first, so LUDB's 1, 2, .., 10; then by text). kNotFound
// when `dir` is not a folder. Annotator "hea" lists every record.
Result<std::vector<std::string>> ListAnnotatedRecords(
    const std::filesystem::path& dir, std::string_view annotator = "atr");

// The records a database command runs on: `requested` (from --records) when
// not empty, else every annotated record of `db` (ListAnnotatedRecords);
// kNotFound naming `db` and the annotator when there is none.
Result<std::vector<std::string>> SelectRecords(
    const std::filesystem::path& db, std::vector<std::string> requested,
    std::string_view annotator);

// Rounds `seconds` to the nearest frame at `rate_hz`, as WFDB's strtim().
std::int64_t SecondsToFrames(double seconds, double rate_hz);

struct DetectionResult {
  std::vector<std::int64_t> beats;  // frame indices from the record start
  double detector_seconds = 0.0;    // wall time inside the detector only
};

// Reusable state for running the detector over many records: the float
// buffers live here so that a run over a database allocates them once.
class DetectionRunner {
 public:
  // Runs a fresh QrsDetector over frames [first_frame, end_frame) of
  // `record` (clamped to the record). Fails (kUnsupported or
  // kInvalidArgument, naming `record_name`) when a signal's units are not a
  // voltage or the detector rejects the rate or lead count.
  Result<DetectionResult> Run(const dsp::wfdb::Record& record,
                              const std::string& record_name,
                              std::int64_t first_frame, std::int64_t end_frame);

 private:
  std::vector<float> millivolts_;  // one chunk, interleaved
  std::vector<float> scale_;       // mV per ADC unit, per chunk position
  std::vector<float> offset_;      // -baseline * scale, per chunk position
};

}  // namespace pulse::ecg_eval

#endif  // PULSE_TOOLS_ECG_EVAL_RECORD_EVAL_H_
