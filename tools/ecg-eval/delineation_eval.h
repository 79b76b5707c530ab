// What `ecg-eval delineation` and `ecg-eval intervals` share (and the
// accuracy test, so that the test and the tool compute the same figures):
// the product pipeline over one LUDB record, reading LUDB's per-lead wave
// annotations, and the scoring.
//
// Pipeline: the record in millivolts, in standard lead order (Derive12Lead
// on the header's channel names), QrsDetector over all 12 leads as
// `ecg-eval qrs` runs it (DetectionRunner), ClassifyBeats, then
// DelineateBeats (per beat and lead) and BuildMedianBeats +
// DelineateMedianBeats (global intervals).
//
// LUDB annotation files (one per lead: .i .ii .iii .avr .avl .avf .v1 ..
// .v6) mark each wave by its peak ('p', 'N', 't') with '(' just before for
// its onset and ')' just after for its offset.
//
// Scoring of fiducials (per lead, per fiducial kind): each annotated point
// is matched to the nearest detected point of the same kind in the same
// lead within `match_window_ms` (150 ms, EC57's beat match window); a
// matched pair gives an error (detected - annotated, ms), an annotated
// point with none is a miss (counts against Se). LUDB leaves the first and
// last beats of most records unannotated, so detected points outside the
// annotated span of their lead (first annotation - window .. last +
// window) are not scored at all; detected points inside it that match no
// annotation are counted as "unmatched" and reported, but they do not
// enter Se or the error statistics (the annotators did not mark, e.g., P
// waves they judged absent, such as in AF).
//
// Thread-compatible: a DelineationRunner owns scratch state.
#ifndef PULSE_TOOLS_ECG_EVAL_DELINEATION_EVAL_H_
#define PULSE_TOOLS_ECG_EVAL_DELINEATION_EVAL_H_

#include <array>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "pulse/base/result.h"
#include "pulse/dsp/beat.h"
#include "pulse/dsp/delineation.h"
#include "pulse/dsp/median_beat.h"
#include "record_eval.h"

namespace pulse::ecg_eval {

// Fiducial kinds scored, in table order.
enum class Fiducial { kPOn = 0, kPOff, kQrsOn, kQrsOff, kTOff };
inline constexpr int kNumFiducials = 5;
// "P on", "P off", "QRS on", "QRS off", "T off".
std::string_view FiducialName(Fiducial f);
// "p_on", "p_off", "qrs_on", "qrs_off", "t_off" (JSON keys).
std::string_view FiducialKey(Fiducial f);

// One annotated wave of one lead, frame indices; -1 when a mark is absent.
struct AnnotatedWave {
  std::int64_t onset = -1;
  std::int64_t peak = -1;
  std::int64_t offset = -1;
};

struct LeadAnnotations {
  std::vector<AnnotatedWave> p, qrs, t;
};

// Reads the 12 per-lead annotation files of `record` in standard lead
// order. Fails (naming the file) when one is missing or malformed.
Result<std::array<LeadAnnotations, 12>> ReadLudbAnnotations(
    const std::filesystem::path& record);

// The product pipeline's output for one record.
struct RecordRun {
  std::string name;
  double sample_rate_hz = 0.0;
  std::int64_t num_frames = 0;
  std::vector<dsp::ClassifiedBeat> beats;
  bool classifier_used = false;  // false: ClassifyBeats failed, all kNormal
  std::vector<dsp::BeatDelineation> per_beat;  // record frames
  std::optional<dsp::MedianBeatSet> medians;
  std::optional<dsp::MedianDelineation> median_delineation;
  double delineation_seconds = 0.0;  // BuildMedianBeats + DelineateMedian
  std::array<LeadAnnotations, 12> annotations;
};

// Delineators used by RunRecord(): DelineateBeats and DelineateMedianBeats
// by default; tuning runs pass their own.
using BeatDelineator = std::function<Result<std::vector<dsp::BeatDelineation>>(
    std::span<const float> interleaved_mv, int num_leads,
    double sample_rate_hz, std::span<const dsp::ClassifiedBeat> beats)>;

// Runs the pipeline over `record` (path without extension) and reads its
// annotations. Fails for unreadable files or a record without the 12
// standard leads.
using MedianDelineator = std::function<Result<dsp::MedianDelineation>(
    const dsp::MedianBeatSet& medians, std::span<const float> interleaved_mv,
    std::span<const dsp::ClassifiedBeat> beats)>;

Result<RecordRun> RunRecord(const std::filesystem::path& record,
                            const std::string& name, DetectionRunner* runner,
                            const BeatDelineator& delineator = {},
                            const MedianDelineator& median_delineator = {});

// Error statistics of one fiducial kind (summable).
struct FiducialStats {
  std::int64_t annotated = 0;  // annotated points scored
  std::int64_t matched = 0;
  std::int64_t unmatched_detections = 0;  // see the file comment
  double sum_ms = 0.0;
  double sum_sq_ms = 0.0;
  std::int64_t gross_errors = 0;  // matched with |error| > kGrossErrorMs

  double SensitivityPercent() const;  // 100 when nothing annotated
  double MeanMs() const;              // 0 when nothing matched
  double SdMs() const;                // sample SD; 0 below 2 matches
  FiducialStats& operator+=(const FiducialStats& other);
};

inline constexpr double kGrossErrorMs = 40.0;

using DelineationScore = std::array<FiducialStats, kNumFiducials>;

// Scores run.per_beat against run.annotations (file comment).
DelineationScore ScoreDelineation(const RecordRun& run,
                                  double match_window_ms = 150.0);

// Global intervals of a record, ms; absent when a wave is.
struct GlobalIntervals {
  std::optional<double> p_ms, pr_ms, qrs_ms, qt_ms;
};

// Intervals of the median beat's global fiducials.
GlobalIntervals IntervalsFromMedian(const RecordRun& run);

// The same from the annotations: per annotated beat (QRS marks of all
// leads within 100 ms of each other), the earliest onset and latest offset
// over the leads of each wave, leaving out the `outlier_leads` most extreme
// leads (robust to a lead's annotation outlier, as the global points of the
// median beat are); the record's value is the median over its beats of
// each interval.
GlobalIntervals IntervalsFromAnnotations(const RecordRun& run,
                                         int outlier_leads = 1);

// Record names "first".."last" (LUDB's records are named 1..200).
std::vector<std::string> LudbRecordRange(int first, int last);


}  // namespace pulse::ecg_eval

#endif  // PULSE_TOOLS_ECG_EVAL_DELINEATION_EVAL_H_
