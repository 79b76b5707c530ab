// Beat-by-beat comparison of detected QRS complexes against reference
// annotations, scored the way ANSI/AAMI EC57:2012 and WFDB's `bxb` do.
//
// Reference beats are the annotations for which wfdb::IsBeat() is true. A
// detection matches a reference beat when they lie within the match window
// (150 ms by default) of each other; each beat matches at most once. Beats
// before `score_from_sample` are not scored (EC57 leaves the first 5 minutes
// for the detector to learn), nor are those inside ventricular
// flutter/fibrillation episodes (the reference's `[` ... `]` annotations),
// as bxb does.
//
// Pure functions; thread-safe.
#ifndef PULSE_DSP_BEAT_MATCH_H_
#define PULSE_DSP_BEAT_MATCH_H_

#include <cstdint>
#include <span>
#include <vector>

#include "pulse/dsp/wfdb.h"

namespace pulse::dsp {

struct BeatMatchOptions {
  double sample_rate_hz = 360.0;
  double match_window_seconds = 0.15;
  std::int64_t score_from_sample = 0;  // first sample scored
  std::int64_t score_to_sample = -1;   // one past the last; -1 = to the end
};

struct BeatMatchCounts {
  std::int64_t true_positives = 0;
  std::int64_t false_negatives = 0;  // reference beats nobody matched
  std::int64_t false_positives = 0;  // detections matching no beat

  // Se = TP / (TP + FN), in percent; 100 when there are no reference beats.
  double SensitivityPercent() const;
  // +P = TP / (TP + FP), in percent; 100 when nothing was detected.
  double PositivePredictivityPercent() const;

  BeatMatchCounts& operator+=(const BeatMatchCounts& other);
};

// One unmatched beat, for reports that list where a detector went wrong.
struct BeatMismatch {
  std::int64_t sample = 0;
  bool is_false_positive = false;  // else a missed reference beat
};

// Scores `detections` (sample indices, ascending) against `reference`
// (annotations in file order). REQUIRES: options.sample_rate_hz > 0.
// When `mismatches` is non-null, every FN and FP is appended to it.
BeatMatchCounts MatchBeats(std::span<const wfdb::Annotation> reference,
                           std::span<const std::int64_t> detections,
                           const BeatMatchOptions& options,
                           std::vector<BeatMismatch>* mismatches = nullptr);

}  // namespace pulse::dsp

#endif  // PULSE_DSP_BEAT_MATCH_H_
