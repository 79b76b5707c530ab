// The whole resting-ECG analysis in one call: 12-lead samples in, a typed
// result out — signal quality, beats with their class, median beats and
// their fiducial points, global measurements and rhythm findings — stamped
// with the algorithm version that produced it, so a stored analysis can be
// told apart from (and re-run by) a later algorithm.
//
// The stages, in order (each documented in its own header):
//   AssessSignalQuality  (signal_quality.h)   per-lead score and reason
//   QrsDetector          (qrs_detector.h)     on the leads that are usable
//   ClassifyBeats        (beat_classifier.h)  normal / ventricular / unknown
//   DetectAtrialFibrillation (af_detector.h)  AF episodes
//   BuildMedianBeats + DelineateMedianBeats (median_beat.h, delineation.h)
//   ComputeMeasurements  (measurements.h)
//   FindRhythms          (rhythm_findings.h)
//
// Garbage in never becomes a finding: leads whose quality is not usable
// (non-finite, lead-off, flat) are left out of detection; when no lead is
// usable, or too few beats are found to measure, the result says why
// (`status`, `status_reason`) and carries the quality report but no beats,
// measurements or findings. No field is ever NaN or Inf.
//
// Deterministic: the same input and config give the same result, bit for
// bit, on the same build.
//
// Cost: a 10 s, 12-lead, 500 Hz ECG is analysed in well under 2 ms on one
// core (benchmarks/dsp/analysis_benchmark.cc; figures in docs/accuracy.md).
//
// Thread-safety: AnalyzeEcg() is a pure function with no shared state; any
// number of threads may call it at once (a recording pipeline and a UI
// re-analysing stored ECGs, say).
#ifndef PULSE_DSP_ANALYSIS_H_
#define PULSE_DSP_ANALYSIS_H_

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "pulse/base/result.h"
#include "pulse/dsp/beat.h"
#include "pulse/dsp/delineation.h"
#include "pulse/dsp/measurements.h"
#include "pulse/dsp/median_beat.h"
#include "pulse/dsp/rhythm_findings.h"
#include "pulse/dsp/signal_quality.h"

namespace pulse::dsp {

// Changes whenever any stage changes what it computes. Stored with every
// analysis.
inline constexpr std::string_view kAnalysisAlgorithmVersion =
    "pulse-ecg-analysis/1.0";

struct AnalysisConfig {
  double sample_rate_hz = 500.0;  // 250 .. 1000
  // ADC input range of the recorder in mV (for saturation / lead-off).
  float adc_min_mv = -32.768f;
  float adc_max_mv = 32.767f;
};

// Why an analysis carries no measurements or findings. Stable values.
enum class AnalysisStatus {
  kComplete = 0,        // everything that could be measured was
  kNoUsableLeads = 1,   // every lead is flat, off, saturated or non-finite
  kTooFewBeats = 2,     // < 2 beats found: no rhythm, no median beat
};

std::string_view AnalysisStatusName(AnalysisStatus status);

struct EcgAnalysis {
  std::string algorithm_version;  // kAnalysisAlgorithmVersion
  double sample_rate_hz = 0.0;
  std::int64_t num_frames = 0;

  AnalysisStatus status = AnalysisStatus::kComplete;
  std::string status_reason;  // empty when kComplete

  SignalQualityReport quality;      // always present, one entry per lead
  std::vector<bool> lead_used;      // per lead: took part in detection

  std::vector<ClassifiedBeat> beats;         // record frames, ascending
  std::vector<RhythmEpisode> af_episodes;    // record frames
  std::optional<MedianBeatSet> median_beats;
  std::optional<MedianDelineation> delineation;  // median-window indices
  std::optional<EcgMeasurements> measurements;
  std::vector<RhythmFinding> findings;
};

// Analyses `interleaved_mv`: frames of 12 samples in kStandardLeadOrder
// (leads.h), millivolts, any length from 2 s up. Fails with
// kInvalidArgument (naming the field) for a config out of range, an input
// that is not a whole number of 12-sample frames, or one shorter than 2 s.
// Any finite or non-finite sample values are accepted.
Result<EcgAnalysis> AnalyzeEcg(std::span<const float> interleaved_mv,
                               const AnalysisConfig& config);

}  // namespace pulse::dsp

#endif  // PULSE_DSP_ANALYSIS_H_
