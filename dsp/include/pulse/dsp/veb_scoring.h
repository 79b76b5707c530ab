// Scoring of ventricular ectopic beat labels against reference beat
// annotations the way ANSI/AAMI EC57 and WFDB's bxb do (VEB Se and +P from
// bxb's confusion matrix). For evaluation tools and accuracy tests; the
// product never scores itself.
//
// Thread-safety: pure functions; no shared state.
#ifndef PULSE_DSP_VEB_SCORING_H_
#define PULSE_DSP_VEB_SCORING_H_

#include <cstdint>
#include <span>

#include "pulse/dsp/beat.h"
#include "pulse/dsp/beat_match.h"
#include "pulse/dsp/wfdb.h"

namespace pulse::dsp {

// Ventricular ectopic beat (VEB) statistics as WFDB's bxb prints them
// (AAMI EC57): reference V, r (R-on-T) and E (ventricular escape) are VEBs;
// a test beat is labelled v (kVentricular), n (kNormal) or q (kUnknown).
//   VEB Se = Vv / (Vv + Vn + Vq + Vo)     (a missed VEB, Vo, counts against)
//   VEB +P = Vv / (Vv + Nv + Ov)
// A v on a reference F (fusion) or Q (unclassifiable, paced) beat counts
// neither way (bxb's Fv and Qv); N includes the supraventricular S classes.
// The flutter wave `!` is bxb's O (a v matched to it is a false positive).
struct VebCounts {
  // Rows: reference class; columns: test label.
  enum Ref { kRefN = 0, kRefV = 1, kRefF = 2, kRefQ = 3, kRefO = 4 };
  enum Test { kTestN = 0, kTestV = 1, kTestQ = 2, kTestO = 3 };
  std::int64_t matrix[5][4] = {};

  std::int64_t true_positives() const { return matrix[kRefV][kTestV]; }
  std::int64_t false_negatives() const {
    return matrix[kRefV][kTestN] + matrix[kRefV][kTestQ] +
           matrix[kRefV][kTestO];
  }
  std::int64_t false_positives() const {
    return matrix[kRefN][kTestV] + matrix[kRefO][kTestV];
  }
  // Reference VEBs scored: TP + FN.
  std::int64_t reference_vebs() const {
    return true_positives() + false_negatives();
  }
  // Percent; 100 when the denominator is 0 (nothing to find / nothing said).
  double SensitivityPercent() const;
  double PositivePredictivityPercent() const;

  // Element-wise sum: gross statistics sum the counts of all records.
  VebCounts& operator+=(const VebCounts& other);
};

// Matches `beats` to `reference` with MatchBeats() (bxb rules, `options`)
// and tallies the VEB confusion matrix. REQUIRES: beats ascending by sample;
// options.sample_rate_hz > 0.
VebCounts ScoreVentricularBeats(std::span<const wfdb::Annotation> reference,
                                std::span<const ClassifiedBeat> beats,
                                const BeatMatchOptions& options);

}  // namespace pulse::dsp

#endif  // PULSE_DSP_VEB_SCORING_H_
