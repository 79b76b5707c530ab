// Per-lead signal quality of a recorded ECG block: a score in [0, 1], the
// main problem found (QualityIssue) and a short text, plus the metrics the
// verdict came from, and an overall verdict over all leads.
//
// Checks, in order of precedence (the first hard fault decides the issue):
//   kNonFinite       any NaN / Inf sample (score 0). Non-finite samples never
//                    reach the arithmetic, so no result field is ever NaN.
//   kLeadOff         a run of >= lead_off_min_seconds at or beyond the ADC
//                    rail, or an exactly constant run that long inside a
//                    lead that is otherwise live (electrode detached: the
//                    front end pins to a rail or freezes) (score 0).
//   kFlatLine        standard deviation < flat_line_max_std_mv (score 0).
//   kSaturation      fraction of samples in runs of >= 2 consecutive samples
//                    at or beyond the ADC range (clipped peaks).
//   kHighFrequencyNoise  RMS above hf_cutoff (40 Hz, Butterworth high-pass
//                    order 4) relative to RMS in the QRS band (5-15 Hz,
//                    Butterworth high-pass 5 Hz + low-pass 15 Hz, order 2):
//                    most QRS energy lies in 5-15 Hz (Pan & Tompkins 1985,
//                    §II), EMG and mains sit above 40 Hz. Noise whose
//                    RMS above 40 Hz is under hf_noise_floor_mv is never
//                    an issue, however small the lead's QRS: a lead
//                    nearly perpendicular to the heart's axis (aVL at a
//                    +60° axis) is small, not noisy, and 20 µV RMS is a
//                    fifth of a millimetre on a 10 mm/mV trace.
//   kBaselineWander  peak-to-peak excursion (mV) of the 0.5 Hz low-pass
//                    (Butterworth order 2) of the mean-removed lead; the
//                    first second is skipped as filter transient.
// The graded checks map their metric m against threshold t to a sub-score
// 1 / (1 + (m/t)^2): 1 when clean, exactly 0.5 at the threshold, falling
// towards 0 beyond. The lead score is the smallest sub-score; the issue is
// that of the smallest sub-score when it is below 0.5, else kOk.
// Samples outside the ADC range are clamped to it before filtering, so huge
// finite values cannot overflow.
//
// This is a block (whole-record) assessment, not a streaming stage.
//
// Thread-safety: pure function; no shared state.
#ifndef PULSE_DSP_SIGNAL_QUALITY_H_
#define PULSE_DSP_SIGNAL_QUALITY_H_

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "pulse/base/result.h"

namespace pulse::dsp {

// Numeric values are stable (may be stored); never renumbered.
enum class QualityIssue {
  kOk = 0,
  kNonFinite = 1,
  kLeadOff = 2,
  kFlatLine = 3,
  kSaturation = 4,
  kHighFrequencyNoise = 5,
  kBaselineWander = 6,
};

// Short lower-case name, e.g. "ok", "lead off", "high-frequency noise".
std::string_view QualityIssueName(QualityIssue issue);

struct SignalQualityConfig {
  double sample_rate_hz = 500.0;  // 100 .. 2000
  int num_leads = 1;              // 1 .. 64, interleaved in the input
  // ADC input range in millivolts (adc_min_mv < adc_max_mv, finite). The
  // default is a 16-bit converter at 1000 adu/mV (LUDB, PTB-XL).
  float adc_min_mv = -32.768f;
  float adc_max_mv = 32.767f;
  float flat_line_max_std_mv = 0.01f;     // > 0
  double lead_off_min_seconds = 1.0;      // > 0
  double saturation_max_fraction = 0.005;  // > 0; fraction of samples
  double hf_noise_max_ratio = 0.5;         // > 0; RMS(>40 Hz)/RMS(5-15 Hz)
  double hf_noise_floor_mv = 0.02;         // >= 0; RMS(>40 Hz) always ok
  double wander_max_pp_mv = 1.5;           // > 0; mV peak-to-peak
};

struct LeadQuality {
  float score = 0.0f;  // 0 .. 1, higher is better; never NaN
  QualityIssue issue = QualityIssue::kOk;
  std::string reason;  // e.g. "clipped: 1.2% of samples at the ADC range"
  // Metrics (all finite; 0 when not computed because of a hard fault).
  std::int64_t non_finite_samples = 0;
  double std_mv = 0.0;
  double longest_rail_run_seconds = 0.0;
  double longest_constant_run_seconds = 0.0;
  double clipped_fraction = 0.0;
  double hf_noise_ratio = 0.0;
  double hf_noise_rms_mv = 0.0;  // RMS above 40 Hz
  double wander_pp_mv = 0.0;
};

struct SignalQualityReport {
  std::vector<LeadQuality> leads;  // one per input lead, in input order
  int num_ok_leads = 0;
  // The smallest lead score and that lead's issue (kOk when all are ok).
  float overall_score = 0.0f;
  QualityIssue overall_issue = QualityIssue::kOk;
};

// Assesses `interleaved_mv` (frames of config.num_leads samples, mV).
// Fails with kInvalidArgument naming the config field out of range, or when
// the input is empty or not a whole number of frames.
Result<SignalQualityReport> AssessSignalQuality(
    std::span<const float> interleaved_mv, const SignalQualityConfig& config);

}  // namespace pulse::dsp

#endif  // PULSE_DSP_SIGNAL_QUALITY_H_
