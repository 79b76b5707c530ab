// Beat-by-beat comparison of detected QRS complexes against reference
// annotations, scored the way ANSI/AAMI EC57:2012 and WFDB's `bxb` do.
//
// MatchBeats() reproduces the beat-matching rules of bxb (WFDB 10.7, app/
// bxb.c, Moody), so that our Se/+P can be set beside published bxb results:
//
//  * Beats. A reference annotation is a QRS complex when WFDB's isqrs() says
//    so (ecgmap.h: N L R a V F J A S E j / Q e n f r ? and the flutter wave
//    `!`). All of these except `!` belong to an AAMI class (bxb's amap():
//    N, S, V, F or Q) and are the "reference beats" that Se counts. A `!`
//    outside a VF episode is class O in bxb: it is never missed, but a
//    detection matched to it counts as a false positive.
//  * VF episodes. Everything between a `[` (VFON) and the next `]` (VFOFF)
//    is skipped, beats included. A detection that matches no beat and lies
//    inside one of the two most recent episodes read from the reference is
//    not counted at all (bxb's rpann() returns `*`, which pair() ignores).
//  * Shutdown (NOISE with subtype bits 4 and 5 set) only relabels unmatched
//    beats from O to X in bxb's confusion matrix; both count in Se and +P,
//    so it needs no handling here.
//  * Matching. Both lists are walked in time order, holding the current and
//    the next annotation of each. The earlier of the two current annotations
//    is paired with the other current one when they lie within the match
//    window and no better pairing is in reach: the current partner must be
//    closer than the next annotation of the same list, or the two next
//    annotations must match each other better than that one would (bxb's
//    2002 revision). Otherwise the earlier one is unmatched (FN or FP).
//    Each annotation pairs at most once. The window is inclusive:
//    |t - T| <= window, in whole samples.
//  * Scoring start. Reference beats before `score_from_sample` are not
//    scored. The last detection before the start may still match the first
//    scored beat (it is counted then), and a detection within one window
//    after the start that is a worse match for the first scored beat than
//    the detection after it is dropped without being counted (bxb main()).
//  * Scoring end. Pairing stops once both lists have passed the last scored
//    sample; an annotation after it is counted only when it matches one
//    inside.
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
  // Rounded to whole samples as WFDB's strtim() does: 0.15 s at 360 Hz is
  // 54 samples. REQUIRES: >= 0.
  double match_window_seconds = 0.15;
  // First sample scored. EC57 uses 5 minutes (bxb's default -f 5:0), leaving
  // the detector time to learn; 0 scores the whole record.
  std::int64_t score_from_sample = 0;
  // One past the last sample scored; -1 = no limit, which matches bxb run
  // with the record's length as long as every annotation and detection lies
  // inside the record.
  std::int64_t score_to_sample = -1;
};

struct BeatMatchCounts {
  std::int64_t true_positives = 0;
  std::int64_t false_negatives = 0;  // reference beats nobody matched
  std::int64_t false_positives = 0;  // detections matching no beat

  // TP + FN: the reference beats scored.
  std::int64_t reference_beats() const {
    return true_positives + false_negatives;
  }

  // Se = TP / (TP + FN), in percent; 100 when there are no reference beats.
  double SensitivityPercent() const;
  // +P = TP / (TP + FP), in percent; 100 when nothing was detected.
  double PositivePredictivityPercent() const;

  // Adds `other` field by field: gross totals are sums of per-record counts
  // (EC57 gross statistics), never averages of percentages.
  BeatMatchCounts& operator+=(const BeatMatchCounts& other);

  friend bool operator==(const BeatMatchCounts&,
                         const BeatMatchCounts&) = default;
};

// One unmatched beat, for reports that list where a detector went wrong.
struct BeatMismatch {
  std::int64_t sample = 0;
  bool is_false_positive = false;  // else a missed reference beat
};

// One counted pair of bxb's confusion matrix, for scoring beat labels (EC57
// VEB/SVEB statistics; see beat_classifier.h ScoreVentricularBeats). Indices
// point into the `reference` and `detections` spans given to MatchBeats();
// -1 is bxb's pseudo-beat O: a missed reference beat has detection_index -1,
// a false detection reference_index -1. A detection matched to a flutter
// wave `!` (bxb's O reference) carries that annotation's index.
struct BeatPair {
  std::int64_t reference_index = -1;
  std::int64_t detection_index = -1;
};

// Scores `detections` (sample indices, ascending) against `reference`
// (annotations in file order, i.e. by time). REQUIRES:
// options.sample_rate_hz > 0. Samples are meant to lie in [0, 2^60); values
// outside are clamped, so no input can make this misbehave.
// When `mismatches` is non-null, every FN and FP is appended to it in the
// order found (by time). When `pairs` is non-null, every counted pair (TP,
// FN, FP, in that order of the matching walk) is appended to it.
BeatMatchCounts MatchBeats(std::span<const wfdb::Annotation> reference,
                           std::span<const std::int64_t> detections,
                           const BeatMatchOptions& options,
                           std::vector<BeatMismatch>* mismatches = nullptr,
                           std::vector<BeatPair>* pairs = nullptr);

}  // namespace pulse::dsp

#endif  // PULSE_DSP_BEAT_MATCH_H_
