// Atrial fibrillation (AF) episodes from beat times, beat classes and the
// ECG around each QRS. (How episodes are scored against MIT-BIH rhythm
// annotations: af_scoring.h.)
//
// AF shows on the surface ECG as (a) an irregularly irregular ventricular
// rhythm and (b) no P waves (fibrillatory waves instead). The detector scores
// both over a sliding window of beats centred on each RR interval:
//
//  0. Beat review (when the signal is given). Each non-ventricular beat's QRS
//     (±50 ms, 10 ms bins, all leads) is compared with the local dominant
//     QRS (per-bin median over the non-premature beats among ±16
//     neighbours — ectopic beats are premature — ±20 ms shift search). A
//     "normal" beat of another shape becomes unknown (a missed PVC, an
//     aberrant beat, an artefact); an "unknown" beat of the dominant shape
//     becomes normal (classifiers say unknown on a 10 s ECG with few beats
//     to learn from).
//  1. RR irregularity. Only intervals between two normal beats, 0.2–3 s,
//     are used. A timing rule neutralises ectopic beats the shape test
//     misses, after Petrėnas, Marozas & Sörnmo, "Low-complexity detection of
//     atrial fibrillation in continuous long-term monitoring", Comput. Biol.
//     Med. 65 (2015): a premature interval followed by a compensatory pause
//     (the pair summing to two local RRs ±10 %) is replaced by two intervals
//     of the pair's mean, and an interpolated pair (summing to one RR) by one
//     interval. The irregularity of a window is the median absolute
//     difference between RR intervals k beats apart, divided by the window's
//     median RR, taking the smallest over k = 1, 2, 3: lag 1 is the
//     successive-difference irregularity of RMSSD/ΔRR-type AF detectors
//     (cf. Tateno & Glass, Med. Biol. Eng. Comput. 39 (2001)), and lags 2
//     and 3 make bigeminy and trigeminy (regular in their own period) read
//     as regular — Petrėnas et al.'s bigeminy suppression in another form.
//     Medians make a stray beat or a missed/false detection harmless.
//  2. Atrial activity. For the normal beats of a half-length window whose
//     preceding RR is not premature (≥ 0.9 × the local median, so that
//     neither a previous T wave nor a premature P wave fills the window),
//     the segment that holds the P wave (350 to 90 ms before the QRS
//     fiducial, 10 ms bins, linearly detrended per lead) is averaged. Sinus
//     P waves are time-locked to the QRS and add coherently; fibrillatory
//     waves do not. The P-wave coherence (n·E(mean)/mean E − 1)/(n − 1),
//     energies pooled over the leads, is ≈ 1 with P waves and ≈ 0 without.
//     A window with clear P waves is not AF however irregular (sinus
//     arrhythmia, atrial ectopy with P waves).
//  3. The same coherence on the QRS segments must reach 0.3: detections on
//     noise share no QRS shape, and noise is irregular.
//
// A window is AF when irregularity ≥ irregularity_threshold, P-wave
// coherence < p_coherence_threshold and the QRS test passes (without a
// signal: on irregularity alone, less specific). Runs of AF windows shorter
// than min_episode_beats or min_episode_seconds are dropped (unless the run
// is the whole record: a short ECG in AF throughout) and gaps of up to
// max_gap_beats are bridged. Records with fewer than min_beats usable RR
// intervals give no finding: too few beats to call AF.
//
// The thresholds are physiological: sinus rhythm at rest has successive RR
// differences of a few per cent of the RR (RMSSD 20–50 ms at RR ≈ 0.8 s),
// AF typically 10–25 %.
//
// Not streaming: a block function over a whole recording (a 10 s ECG or a
// 30 min Holter record); deterministic, no global state. Non-finite samples
// are read as 0. Thread-safe: pure functions.
#ifndef PULSE_DSP_AF_DETECTOR_H_
#define PULSE_DSP_AF_DETECTOR_H_

#include <cstdint>
#include <span>
#include <vector>

#include "pulse/base/result.h"
#include "pulse/dsp/beat.h"

namespace pulse::dsp {

struct AfDetectorConfig {
  double sample_rate_hz = 500.0;  // 50 .. 10000
  int num_leads = 1;              // 1 .. 16, interleaved in the signal

  // RR intervals per analysis window (centred on each interval); 8 .. 256.
  // Shorter records use all their intervals as one window.
  int window_beats = 32;
  // Fewest usable RR intervals for any finding; 4 .. window_beats. Six
  // intervals (7 beats, a 10 s ECG at 42/min) is the least on which a
  // reader would call AF from the rhythm strip.
  int min_beats = 6;
  // Irregularity (median |RR(i) - RR(i-k)| / median RR, smallest over
  // k = 1..3) at or above which a window is irregular; 0.01 .. 1.
  double irregularity_threshold = 0.07;
  // P-wave coherence (0 .. 1) at or above which P waves are taken as
  // present and the window is not AF; 0 .. 1 (1 disables the P test).
  double p_coherence_threshold = 0.35;
  // Episodes need at least this many beats and this long; shorter runs are
  // dropped. 30 s is the clinical definition of an AF episode on ambulatory
  // ECG (ESC 2020 AF guidelines); 2 .. beats, 0 .. 600 s.
  int min_episode_beats = 16;
  double min_episode_seconds = 30.0;
  // Non-AF runs of at most this many beats between two AF runs are bridged.
  int max_gap_beats = 8;
};

// AF episodes in the record: frames [onset, offset) with a confidence (0..1,
// how far the episode's windows lie past the thresholds), in ascending order
// and not overlapping.
//
// `beats` are the QRS complexes of the whole record (ClassifiedBeat;
// normal beats drive the analysis, kVentricular ones are always left out,
// and with a signal the classes normal/unknown are reviewed by QRS shape,
// step 0 above). `interleaved_mv`
// is the ECG, config.num_leads samples per frame, in mV, in the same time
// base; it may be empty, in which case only the RR rhythm is used (less
// specific). Returns an empty list for too few beats, flat or noisy input.
// REQUIRES (else kInvalidArgument naming the field): config fields in their
// ranges; interleaved_mv.size() a multiple of num_leads.
// Beats out of order or outside the signal are tolerated (sorted/ignored).
Result<std::vector<RhythmEpisode>> DetectAtrialFibrillation(
    std::span<const ClassifiedBeat> beats, std::span<const float> interleaved_mv,
    const AfDetectorConfig& config);

// The two scores behind the decision, per usable RR interval (for
// evaluation tools and tests; DetectAtrialFibrillation uses the same).
struct AfWindowScore {
  std::int64_t onset_sample = 0;   // the beat opening the interval
  std::int64_t offset_sample = 0;  // the beat closing it
  double irregularity = 0.0;       // see AfDetectorConfig, >= 0
  double p_coherence = -1.0;       // -1 when no signal (or no normal beat
                                   // segment) was available, else <= 1
  double qrs_coherence = -1.0;     // same measure on the QRS, -1 likewise
  double usable_fraction = 0.0;    // usable intervals / all intervals in
                                   // the window's span, 0 .. 1
  bool af = false;                 // the window's verdict before the
                                   // episode rules (min length, gaps)
};

// Same REQUIRES as DetectAtrialFibrillation. Returns one score per usable
// RR interval in time order; empty when there are fewer than
// config.min_beats usable intervals.
Result<std::vector<AfWindowScore>> ScoreAfWindows(
    std::span<const ClassifiedBeat> beats, std::span<const float> interleaved_mv,
    const AfDetectorConfig& config);

}  // namespace pulse::dsp

#endif  // PULSE_DSP_AF_DETECTOR_H_
