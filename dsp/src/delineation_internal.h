// Internal to delineation.cc (and its tuning scratch runs): the constants
// of the delineator in one struct, and the core that delineates one
// multi-lead window. Not a public contract.
#ifndef PULSE_DSP_SRC_DELINEATION_INTERNAL_H_
#define PULSE_DSP_SRC_DELINEATION_INTERNAL_H_

#include <cstdint>
#include <span>
#include <vector>

#include "pulse/base/result.h"
#include "pulse/dsp/beat.h"
#include "pulse/dsp/delineation.h"
#include "pulse/dsp/median_beat.h"

namespace pulse::dsp::detail {

// Times in seconds, fractions 0..1. The defaults were chosen on LUDB
// records 1-50 (docs/accuracy.md, "Delineation and intervals on LUDB").
struct DelineationTuning {
  double despike_s = 0.008;      // running median against pacing spikes
  double smooth_s = 0.010;       // moving average before slopes
  double wave_smooth_s = 0.020;  // moving average for P and T waves
  // QRS (spatial velocity).
  double qrs_peak_search_s = 0.080;  // ± around the fiducial
  double qrs_on_fraction = 0.05;     // of (peak - floor) spatial velocity
  double qrs_off_fraction = 0.06;
  double qrs_quiet_s = 0.006;        // run below threshold that ends a QRS
  double qrs_max_before_s = 0.150;
  double qrs_max_after_s = 0.200;
  double min_qrs_to_floor = 4.0;     // velocity peak / floor for a QRS
  // Per-lead QRS boundaries around the multi-lead ones: each lead's own
  // slope, walked out from where it is steep (>= steep fraction of the
  // lead's largest slope in the QRS) until it drops below on/off fraction.
  double qrs_lead_steep_fraction = 0.3;
  double qrs_lead_on_fraction = 0.05;
  double qrs_lead_off_fraction = 0.04;
  double qrs_lead_reach_s = 0.030;   // beyond the multi-lead points
  double qrs_lead_min_share = 0.2;   // lead's slope / largest lead's
  int qrs_global_skip = 1;           // extreme leads left out of global
  bool qrs_global_per_lead = false;  // global = extremes of lead points
  // Per-lead point: the multi-lead point plus the lead's own point's
  // difference from the leads' median, held within ± this (0: none).
  double qrs_lead_max_dev_s = 0.004;
  // Per-lead QRS by a wavelet boundary (Martinez et al. 2004), replacing
  // the slope point above when qrs_wt_max_dev_s > 0: quadratic-spline WT
  // at scale 2^qrs_wt_scale (2^3 at 500 Hz is Martinez's 2^2 at 250 Hz);
  // the first / last local maximum of |WT| above qrs_wt_significant x the
  // lead's largest |WT| in the QRS, within qrs_wt_reach_s of the
  // multi-lead points; the boundary where |WT| falls below xi x that
  // maximum or reaches a local minimum (qrs_wt_stop_at_min). The lead's
  // point is the multi-lead point moved by qrs_wt_gain x the lead's
  // distance from it (from the leads' median when qrs_wt_relative), held
  // within ± qrs_wt_max_dev_s. Records 1-50: QRS on / off SD 12.4 / 13.1
  // -> 11.4 / 12.5 ms; the SD rises with the gain beyond 0.4 (0.7:
  // 12.2 / 13.3; single-beat WT points are noisy).
  double qrs_wt_max_dev_s = 0.020;
  int qrs_wt_scale = 3;
  double qrs_wt_significant = 0.2;
  double qrs_wt_xi_on = 0.05;
  double qrs_wt_xi_off = 0.125;
  double qrs_wt_reach_s = 0.030;
  bool qrs_wt_relative = false;
  bool qrs_wt_stop_at_min = true;
  double qrs_wt_gain = 0.4;
  // T wave (Zhang's area indicator per lead).
  double t_start_after_qrs_s = 0.080;
  double t_peak_max_after_qrs_s = 0.400;
  double t_zhang_window_s = 0.100;
  double t_zhang_scale = 0.35;       // window >= scale x (T peak - QRS on)
  double t_min_amplitude_mv = 0.04;
  double t_guide_reach_s = 0.06;     // per beat: T end near the median's
  double t_center_quantile = 0.5;    // the leads' centre T end
  double t_lead_max_dev_s = 0.010;   // per-lead T end within centre ± this
  double t_global_outlier_s = 0.060;  // leads farther from the centre are
                                      // left out of the global T end
  double t_global_quantile = 0.75;   // of the remaining leads' T ends
  // P wave.
  double p_search_s = 0.300;         // before QRS onset
  double p_search_rr_fraction = 0.45;
  double p_anchor_gap_s = 0.020;     // detrend anchor before QRS onset
  double p_end_gap_s = 0.010;        // P peak at least this before QRS on
  double p_max_half_width_s = 0.120;
  double p_zhang_window_s = 0.060;
  double p_off_zhang_window_s = 0.060;  // the same for the P offset
  double p_min_amplitude_mv = 0.03;
  double p_min_to_noise = 3.0;
  double p_min_dominance = 1.2;      // P peak energy / other peaks' energy
  double p_min_coherence = 0.5;      // beats vs median over the P wave
  double p_guide_reach_s = 0.03;     // per beat: P peak near the median's
  double p_guided_dominance = 0.0;   // dominance required when guided
  double p_lead_min_share = 0.3;     // lead P amplitude / largest lead's
  double p_lead_max_dev_s = 0.010;   // per-lead P within the median ± this
  double p_on_quantile = 0.25;       // global P from the leads' points
  double p_off_quantile = 0.75;
  // DelineateMedianBeats(): global points as carts define them (earliest
  // onset, latest offset, robust to an outlier lead); the median alone
  // cannot check P-wave coherence, hence a stricter P test there.
  double median_p_min_dominance = 2.0;
  double median_t_global_quantile = 1.0;
  double median_p_on_quantile = 0.15;
  double median_p_off_quantile = 0.75;
  // A wider area window for the median's P offsets: the global offset is
  // the latest over leads (IEC 60601-2-25), and the narrower window ends
  // each lead's P ~15 ms before the annotators' latest lead (records 1-50:
  // P duration -16.4 -> -8.0 ms; 0.09 s raised its SD to 15.4 ms).
  double median_p_off_zhang_window_s = 0.080;
  // Global QRS of the median beat: 2nd earliest / 2nd latest lead point
  // (IEC 60601-2-25); per beat the multi-lead point (noisier leads).
  bool median_qrs_global_per_lead = true;
};

// Limits on where waves are searched, as window indices.
struct WindowLimits {
  std::int64_t p_search_begin = 0;  // earliest P onset
  std::int64_t t_search_end = 0;    // latest T end (exclusive)
  double rr_before_s = 0.0;         // 0 = unknown
  // Guide from the median beat of the beat's class (per-beat delineation):
  // kNone = no guide; kAbsent = the median has no P wave, so neither has
  // the beat; kAt = look for the P peak near qrs_onset + p_peak_from_qrs.
  enum class PGuide { kNone, kAbsent, kAt };
  PGuide p_guide = PGuide::kNone;
  std::int64_t p_peak_from_qrs_on = 0;  // frames (negative)
  // When >= 0: the median beat's T end, frames after QRS onset; the beat's
  // T end is searched within ± t_guide_reach_s of it.
  std::int64_t t_end_from_qrs_on = -1;
};

struct WindowDelineation {
  std::int64_t p_peak = -1;  // window index of the P peak found, or -1
  // QRS onset of the spatial velocity (the reference of the P and T
  // guides), which global.qrs_onset may differ from.
  std::int64_t velocity_qrs_onset = -1;
  WaveFiducials global;
  std::vector<WaveFiducials> per_lead;
};

// Delineates one window: `lead_major` holds num_leads runs of `length`
// finite samples (mV), `fiducial` the QRS fiducial index in it.
WindowDelineation DelineateWindow(std::span<const float> lead_major,
                                  int num_leads, std::int64_t length,
                                  std::int64_t fiducial, double fs,
                                  const WindowLimits& limits,
                                  const DelineationTuning& tuning);

// DelineateMedianBeats() with explicit tuning (for tuning runs); the
// default is MedianTuning().
Result<MedianDelineation> DelineateMedianBeatsTuned(
    const MedianBeatSet& medians, const DelineationTuning& tuning);

// The DelineateMedianBeats() overload with the beats, with explicit
// (per-beat) tuning whose median_* fields apply.
Result<MedianDelineation> DelineateMedianBeatsWithBeatsTuned(
    const MedianBeatSet& medians, std::span<const float> interleaved_mv,
    std::span<const ClassifiedBeat> beats, const DelineationTuning& tuning);

// The tuning DelineateMedianBeats() uses: the per-beat defaults with the
// median_* overrides applied.
DelineationTuning MedianTuning(DelineationTuning t = {});

// Mean correlation, over the beats of the medians' class, of each beat with
// the median beat over the median's P wave (global p_onset..p_offset).
double PWaveCoherence(std::span<const float> interleaved_mv, int num_leads,
                      const MedianBeatSet& medians, const WaveFiducials& global,
                      std::span<const ClassifiedBeat> beats);

// DelineateBeats() with explicit tuning (for tuning runs).
Result<std::vector<BeatDelineation>> DelineateBeatsTuned(
    std::span<const float> interleaved_mv, int num_leads,
    double sample_rate_hz, std::span<const ClassifiedBeat> beats,
    const MedianBeatOptions& options, const DelineationTuning& tuning);

}  // namespace pulse::dsp::detail

#endif  // PULSE_DSP_SRC_DELINEATION_INTERNAL_H_
