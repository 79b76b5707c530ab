// Rhythm findings with time spans: what the rhythm line of a resting-ECG
// report (or the event list of a longer recording) states, each finding with
// onset, offset, beat count, confidence and a human label.
//
// Rules, from the classified beats (beat_classifier.h), the AF episodes
// (af_detector.h) and the P-wave evidence of the median-beat delineation.
// Definitions follow the AHA/ACCF/HRS recommendations for the standardization
// and interpretation of the ECG (Mason et al., Circulation 2007;115:1325) and
// ANSI/AAMI EC57 for ventricular runs.
//   - Atrial fibrillation: one finding per AF episode (episodes clipped to
//     the record, overlapping ones merged), labelled as suggestive only and
//     requiring physician confirmation; the AF detector decides, this unit
//     does not second-guess it.
//   - Ventricular beats are grouped into runs of consecutive kVentricular
//     beats in the beat list (an unknown or normal beat ends a run):
//     1 beat → isolated PVC (one finding per PVC, so the report has every
//     time and the count is the number of findings); exactly 2 → couplet;
//     ≥ 3 at a mean rate ≥ vt_min_rate_bpm (100/min) → ventricular
//     tachycardia; ≥ 3 below that rate → "slow ventricular run"
//     (idioventricular rhythm / accelerated idioventricular rhythm; not VT).
//     The run rate is 60000 / mean RR within the run; like the sinus rate
//     it is compared with its thresholds after rounding to a whole /min,
//     the figure the label prints (so "60/min" is never a bradycardia).
//   - Ventricular bigeminy: ≥ bigeminy_min_cycles (3) consecutive cycles of
//     one kNormal beat followed by one isolated PVC, i.e. N V N V N V; the
//     finding spans the first N to the last V. Its PVCs are also reported
//     as isolated PVCs (bigeminy is a pattern, the PVC count stays whole).
//   - Pause: two consecutive detected beats (of any class: an unknown beat is
//     still a detected QRS and ends a pause) more than pause_threshold_ms
//     (2000 ms) apart; onset and offset are the two beats' samples.
//   - Sinus rhythm: a maximal stretch of kNormal beats that have a P wave
//     and lie outside every AF episode, continued across isolated PVCs and
//     couplets, broken by unknown beats, ventricular runs of ≥ 3, AF and
//     beats without a P wave. Its rate is 60000 / the mean of the RR
//     intervals between consecutive sinus beats of the stretch, leaving out
//     pauses. It is reported as exactly one of sinus bradycardia (rate <
//     60/min), sinus tachycardia (> 100/min) or sinus rhythm; a stretch with
//     no such interval (e.g. bigeminy throughout) gives no sinus finding,
//     and no P wave means no sinus finding at all (never claimed without
//     atrial evidence).
//   - Unknown beats never make a finding and break runs and stretches.
//
// Spans are record frames [onset_sample, offset_sample): for beat-based
// findings from the first beat's sample to the last beat's sample + 1; for
// a pause from the beat before to the beat after (offset − onset is the
// pause); for AF the episode itself.
//
// Confidence (0..1): for beat-based findings the mean classifier confidence
// of the beats involved; for the sinus kinds also scaled by how far the rate
// lies from the nearest threshold (0.5 at a threshold, 1 from 5/min beyond);
// for AF the episode's confidence; for a pause the mean confidence of the
// two bounding beats.
//
// Ordering is deterministic: by onset, then kind, then offset.
//
// Thread-safety: pure functions; no shared state.
#ifndef PULSE_DSP_RHYTHM_FINDINGS_H_
#define PULSE_DSP_RHYTHM_FINDINGS_H_

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "pulse/base/result.h"
#include "pulse/dsp/beat.h"

namespace pulse::dsp {

// Stable values (stored with an analysis); never renumbered.
enum class RhythmFindingKind : std::uint8_t {
  kSinusRhythm = 0,
  kSinusBradycardia = 1,
  kSinusTachycardia = 2,
  kAtrialFibrillation = 3,
  kIsolatedPvc = 4,
  kVentricularCouplet = 5,
  kVentricularBigeminy = 6,
  kVentricularTachycardia = 7,
  kSlowVentricularRun = 8,  // ≥ 3 consecutive V below the VT rate
  kPause = 9,
};

// Short stable identifier, e.g. "sinus_bradycardia", "ventricular_couplet".
std::string_view RhythmFindingKindName(RhythmFindingKind kind);

struct RhythmFinding {
  RhythmFindingKind kind = RhythmFindingKind::kSinusRhythm;
  std::int64_t onset_sample = 0;   // record frames, [onset, offset)
  std::int64_t offset_sample = 0;
  int beat_count = 0;  // beats in the span (for a pause: the 2 bounding beats)
  float confidence = 0.0f;  // 0 .. 1
  // Sinus kinds, VT and slow runs: the rate, /min. Pause: absent.
  std::optional<double> rate_bpm;
  // Pause: the RR interval, ms. Others: absent.
  std::optional<double> duration_ms;
  std::string label;  // e.g. "Sinus bradycardia, 52/min", "Pause of 2.40 s"

  friend bool operator==(const RhythmFinding&, const RhythmFinding&) = default;
};

// Thresholds; the defaults are the clinical definitions in the file comment.
struct RhythmCriteria {
  double bradycardia_below_bpm = 60.0;   // 30 .. 80
  double tachycardia_above_bpm = 100.0;  // 80 .. 150, > bradycardia
  double vt_min_rate_bpm = 100.0;        // 60 .. 200
  double pause_threshold_ms = 2000.0;    // 1000 .. 10000, RR strictly above
  int bigeminy_min_cycles = 3;           // 2 .. 100
};

struct RhythmContext {
  double sample_rate_hz = 500.0;          // of the record; 50 .. 10000
  std::int64_t record_length_frames = 0;  // ≥ 1; every beat lies inside
  // P-wave evidence. If beat_has_p_wave is non-empty it must hold one flag
  // per beat (non-zero = a P wave precedes that beat, e.g. from per-beat
  // delineation) and is used; otherwise normal_beats_have_p_waves (from the
  // median-beat delineation: WaveFiducials::has_p()) applies to every
  // kNormal beat. The default claims no P waves, so sinus is never reported
  // by a caller that forgot to say.
  bool normal_beats_have_p_waves = false;
  std::span<const std::uint8_t> beat_has_p_wave;
  RhythmCriteria criteria;
};

// Returns the findings of one record, ordered by onset, kind, offset.
// `beats`: all classified beats, strictly ascending, each sample in
// [0, record_length_frames). `af_episodes`: any order; clipped to the record.
// Empty input gives no findings (and no error).
// Returns kInvalidArgument naming the field for a context value out of its
// range, beats out of order or outside the record, a beat_has_p_wave of the
// wrong size, or an AF episode whose offset precedes its onset.
Result<std::vector<RhythmFinding>> FindRhythms(
    std::span<const ClassifiedBeat> beats,
    std::span<const RhythmEpisode> af_episodes, const RhythmContext& context);

}  // namespace pulse::dsp

#endif  // PULSE_DSP_RHYTHM_FINDINGS_H_
