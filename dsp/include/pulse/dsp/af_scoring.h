// Scoring of atrial fibrillation episodes against the rhythm annotations of
// a reference record (MIT-BIH's "(AFIB"), episode and duration Se / +P as
// ANSI/AAMI EC57 and WFDB's epicmp define them. For evaluation tools and
// accuracy tests.
//
// Thread-safety: pure functions; no shared state.
#ifndef PULSE_DSP_AF_SCORING_H_
#define PULSE_DSP_AF_SCORING_H_

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "pulse/dsp/beat.h"
#include "pulse/dsp/wfdb.h"

namespace pulse::dsp {

// Scoring AF episodes against reference rhythm annotations, as WFDB's
// `epicmp -A` implements ANSI/AAMI EC38/EC57 (app/epicmp.c, G. Moody):
// - A reference AF episode runs from a rhythm annotation whose aux begins
//   "(AFIB" to the next rhythm annotation that does not; one left open runs
//   to the end of the scoring span. Atrial flutter ("(AFL") episodes are
//   found the same way.
// - Episodes are clipped to the scoring span [score_from, score_to); ones
//   ending before it are skipped.
// - Episode Se: a reference episode is detected when any test episode
//   overlaps it. Episode +P: a test episode is true when it overlaps any
//   reference AF episode; the parts of test episodes inside reference atrial
//   flutter are excluded from +P (a test episode wholly inside flutter is
//   ignored).
// - Duration Se = overlap / reference AF duration; duration +P = overlap /
//   test AF duration (flutter parts excluded).
struct AfScoreOptions {
  std::int64_t score_from_sample = 0;  // epicmp default: 5 min
  std::int64_t score_to_sample = 0;    // end of the record
};

struct AfEpisodeCounts {
  std::int64_t ref_detected = 0;    // epicmp STP
  std::int64_t ref_missed = 0;      // FN
  std::int64_t test_true = 0;       // PTP
  std::int64_t test_false = 0;      // FP
  std::int64_t ref_samples = 0;     // reference AF duration, frames
  std::int64_t test_samples = 0;    // test AF duration (flutter excluded)
  std::int64_t overlap_se_samples = 0;  // overlap seen from the reference
  std::int64_t overlap_pp_samples = 0;  // overlap seen from the test

  // Percentages; NaN-free: 100 when the denominator is 0 and nothing was
  // wrong, i.e. callers should check the denominators (has_*).
  double EpisodeSensitivityPercent() const;
  double EpisodePositivePredictivityPercent() const;
  double DurationSensitivityPercent() const;
  double DurationPositivePredictivityPercent() const;
  AfEpisodeCounts& operator+=(const AfEpisodeCounts& other);
};

// Reference episodes of `rhythm_prefix` ("(AFIB", "(AFL") in `annotations`
// (any order is accepted; sorted by sample first), frames [onset, offset);
// an open episode ends at `record_end_sample`.
std::vector<RhythmEpisode> ReferenceRhythmEpisodes(
    std::span<const wfdb::Annotation> annotations,
    std::string_view rhythm_prefix, std::int64_t record_end_sample);

// Scores `detected` AF episodes against `reference` annotations.
// REQUIRES: detected episodes ascending and not overlapping.
AfEpisodeCounts ScoreAfEpisodes(std::span<const wfdb::Annotation> reference,
                                std::span<const RhythmEpisode> detected,
                                const AfScoreOptions& options);

}  // namespace pulse::dsp

#endif  // PULSE_DSP_AF_SCORING_H_
