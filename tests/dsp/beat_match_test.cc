// Hand-made annotation lists that pin the bxb rules of beat_match.h. Most
// cases run at 1000 Hz so that one sample is one millisecond.
#include "pulse/dsp/beat_match.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <initializer_list>
#include <vector>

namespace pulse::dsp {
namespace {

using wfdb::Annotation;
using wfdb::AnnotationCode;

Annotation Ann(std::int64_t sample,
               AnnotationCode code = AnnotationCode::kNormal,
               std::int8_t subtype = 0) {
  Annotation a;
  a.sample = sample;
  a.code = code;
  a.subtype = subtype;
  return a;
}

std::vector<Annotation> Beats(std::initializer_list<std::int64_t> samples) {
  std::vector<Annotation> out;
  for (std::int64_t s : samples) out.push_back(Ann(s));
  return out;
}

class BeatMatchTest : public ::testing::Test {
 protected:
  BeatMatchTest() {
    options_.sample_rate_hz = 1000.0;  // 1 sample = 1 ms
    options_.match_window_seconds = 0.150;
    options_.score_from_sample = 0;
  }

  BeatMatchCounts Match(const std::vector<Annotation>& reference,
                        const std::vector<std::int64_t>& detections) {
    mismatches_.clear();
    return MatchBeats(reference, detections, options_, &mismatches_);
  }

  static BeatMatchCounts Counts(std::int64_t tp, std::int64_t fn,
                                std::int64_t fp) {
    BeatMatchCounts c;
    c.true_positives = tp;
    c.false_negatives = fn;
    c.false_positives = fp;
    return c;
  }

  BeatMatchOptions options_;
  std::vector<BeatMismatch> mismatches_;
};

TEST_F(BeatMatchTest, ExactMatchIsTruePositive) {
  EXPECT_EQ(Match(Beats({1000, 2000, 3000}), {1000, 2000, 3000}),
            Counts(3, 0, 0));
  EXPECT_TRUE(mismatches_.empty());
}

TEST_F(BeatMatchTest, WindowIsInclusiveAt150Ms) {
  EXPECT_EQ(Match(Beats({1000}), {1149}), Counts(1, 0, 0));
  EXPECT_EQ(Match(Beats({1000}), {851}), Counts(1, 0, 0));
  EXPECT_EQ(Match(Beats({1000}), {1150}), Counts(1, 0, 0));
  EXPECT_EQ(Match(Beats({1000}), {850}), Counts(1, 0, 0));
}

TEST_F(BeatMatchTest, DetectionOff151MsIsOneMissAndOneFalsePositive) {
  EXPECT_EQ(Match(Beats({1000}), {1151}), Counts(0, 1, 1));
  ASSERT_EQ(mismatches_.size(), 2u);
  EXPECT_EQ(mismatches_[0].sample, 1000);
  EXPECT_FALSE(mismatches_[0].is_false_positive);
  EXPECT_EQ(mismatches_[1].sample, 1151);
  EXPECT_TRUE(mismatches_[1].is_false_positive);

  EXPECT_EQ(Match(Beats({1000}), {849}), Counts(0, 1, 1));
  ASSERT_EQ(mismatches_.size(), 2u);
  EXPECT_EQ(mismatches_[0].sample, 849);  // in time order
  EXPECT_TRUE(mismatches_[0].is_false_positive);
}

TEST_F(BeatMatchTest, WindowRoundsToWholeSamplesLikeStrtim) {
  options_.sample_rate_hz = 360.0;  // 0.15 s = 54 samples
  EXPECT_EQ(Match(Beats({10000}), {10054}), Counts(1, 0, 0));
  EXPECT_EQ(Match(Beats({10000}), {10055}), Counts(0, 1, 1));
  options_.match_window_seconds = 0.1;  // 36 samples
  EXPECT_EQ(Match(Beats({10000}), {9964}), Counts(1, 0, 0));
  EXPECT_EQ(Match(Beats({10000}), {9963}), Counts(0, 1, 1));
}

TEST_F(BeatMatchTest, TwoDetectionsNearOneBeatGiveOneHitAndOneFalsePositive) {
  // The closer detection takes the beat, whichever comes first.
  EXPECT_EQ(Match(Beats({1000}), {950, 1010}), Counts(1, 0, 1));
  ASSERT_EQ(mismatches_.size(), 1u);
  EXPECT_EQ(mismatches_[0].sample, 950);
  EXPECT_TRUE(mismatches_[0].is_false_positive);

  EXPECT_EQ(Match(Beats({1000}), {990, 1100}), Counts(1, 0, 1));
  ASSERT_EQ(mismatches_.size(), 1u);
  EXPECT_EQ(mismatches_[0].sample, 1100);
}

TEST_F(BeatMatchTest, OneDetectionBetweenTwoCloseBeatsMatchesTheCloserOne) {
  EXPECT_EQ(Match(Beats({1000, 1200}), {1090}), Counts(1, 1, 0));
  ASSERT_EQ(mismatches_.size(), 1u);
  EXPECT_EQ(mismatches_[0].sample, 1200);
  EXPECT_FALSE(mismatches_[0].is_false_positive);

  EXPECT_EQ(Match(Beats({1000, 1200}), {1110}), Counts(1, 1, 0));
  ASSERT_EQ(mismatches_.size(), 1u);
  EXPECT_EQ(mismatches_[0].sample, 1000);
}

TEST_F(BeatMatchTest, NextPairsBetterMatchDoesNotStealTheCurrentBeat) {
  // James Pardey's case in bxb.c (2002 revision), window 37 samples: test1
  // is as close to ref2 as to ref1, but ref2 has a better partner in test2,
  // so ref1-test1 and ref2-test2 both match. A naive nearest-neighbour rule
  // (and bxb before 2002) gives 1 TP, 1 FN, 1 FP here.
  options_.match_window_seconds = 0.037;
  EXPECT_EQ(Match(Beats({96, 160}), {128, 185}), Counts(2, 0, 0));
  // And the mirror image, with the roles of the two lists swapped.
  EXPECT_EQ(Match(Beats({128, 185}), {96, 160}), Counts(2, 0, 0));
}

TEST_F(BeatMatchTest, EachBeatAndDetectionPairsAtMostOnce) {
  EXPECT_EQ(Match(Beats({1000}), {1000, 1000, 1000}), Counts(1, 0, 2));
  EXPECT_EQ(Match(Beats({1000, 1000}), {1000}), Counts(1, 1, 0));
}

TEST_F(BeatMatchTest, BeatsAndDetectionsBeforeTheStartAreNotScored) {
  options_.score_from_sample = 300'000;  // 5 min
  EXPECT_EQ(Match(Beats({1000, 100'000, 299'000, 301'000, 302'000}),
                  {5000, 150'000, 301'000, 302'000}),
            Counts(2, 0, 0));
}

TEST_F(BeatMatchTest, LastDetectionBeforeTheStartMayMatchTheFirstBeat) {
  options_.score_from_sample = 10'000;
  EXPECT_EQ(Match(Beats({10'020, 11'000}), {9'990, 11'000}), Counts(2, 0, 0));
  // A beat before the start is not scored, detected or not.
  EXPECT_EQ(Match(Beats({9'950, 11'000}), {9'950, 11'000}), Counts(1, 0, 0));
  EXPECT_EQ(Match(Beats({9'950, 11'000}), {11'000}), Counts(1, 0, 0));
}

TEST_F(BeatMatchTest, EarlyDetectionLosingTheFirstBeatIsDroppedUnscored) {
  // bxb main(): a detection within one window after the start that the next
  // detection beats for the first scored beat is skipped, not an FP...
  options_.score_from_sample = 10'000;
  EXPECT_EQ(Match(Beats({10'090}), {10'010, 10'100}), Counts(1, 0, 0));
  // ... but the same detection later in the record is an FP.
  options_.score_from_sample = 9'000;
  EXPECT_EQ(Match(Beats({10'090}), {10'010, 10'100}), Counts(1, 0, 1));
}

TEST_F(BeatMatchTest, ScoringEndsAtScoreToSample) {
  options_.score_to_sample = 5'000;  // samples 0 .. 4999
  EXPECT_EQ(Match(Beats({1'000, 4'000, 6'000}), {1'000, 7'000}),
            Counts(1, 1, 0));
  // A beat just past the end still counts when a detection inside takes it.
  EXPECT_EQ(Match(Beats({5'050}), {4'990}), Counts(1, 0, 0));
}

TEST_F(BeatMatchTest, VentricularFibrillationEpisodeIsExcluded) {
  const std::vector<Annotation> reference = {
      Ann(1'000), Ann(2'000, AnnotationCode::kVfOnset),
      Ann(2'300), Ann(2'600, AnnotationCode::kFlutterWave),
      Ann(2'900), Ann(3'000, AnnotationCode::kVfOffset),
      Ann(4'000)};
  // Beats inside [ ] are not scored, and detections there are not FPs.
  EXPECT_EQ(Match(reference, {1'000, 2'300, 2'500, 2'600, 2'900, 4'000}),
            Counts(2, 0, 0));
  EXPECT_EQ(Match(reference, {}), Counts(0, 2, 0));
  // Outside the episode a stray detection still counts.
  EXPECT_EQ(Match(reference, {1'000, 3'500, 4'000}), Counts(2, 0, 1));
}

TEST_F(BeatMatchTest, FlutterWaveOutsideVfIsNoBeatButTakesADetection) {
  // `!` is a QRS for isqrs() but class O for bxb's amap(): never missed, and
  // a detection paired with it is a false positive.
  const std::vector<Annotation> reference = {
      Ann(1'000), Ann(2'000, AnnotationCode::kFlutterWave), Ann(3'000)};
  EXPECT_EQ(Match(reference, {1'000, 2'000, 3'000}), Counts(2, 0, 1));
  EXPECT_EQ(Match(reference, {1'000, 3'000}), Counts(2, 0, 0));
}

TEST_F(BeatMatchTest, NonBeatAnnotationsAreIgnored) {
  const std::vector<Annotation> reference = {
      Ann(500, AnnotationCode::kRhythm),
      Ann(1'000),
      Ann(1'500, AnnotationCode::kNoise, 1),
      Ann(2'000),
      Ann(2'500, AnnotationCode::kArtifact),
      Ann(2'700, AnnotationCode::kPWave),
      Ann(3'000)};
  EXPECT_EQ(Match(reference, {1'000, 2'000, 3'000}), Counts(3, 0, 0));
  EXPECT_EQ(Match(reference, {500, 1'000, 2'000, 2'500, 3'000}),
            Counts(3, 0, 2));
}

TEST_F(BeatMatchTest, ShutdownChangesNoCounts) {
  // A NOISE with subtype bits 4-5 set (both leads unreadable) and its end:
  // bxb relabels misses and extras in it X instead of O; both still count.
  const std::vector<Annotation> reference = {
      Ann(1'000), Ann(1'500, AnnotationCode::kNoise, -1), Ann(1'800),
      Ann(2'500, AnnotationCode::kNoise, 0), Ann(3'000)};
  EXPECT_EQ(Match(reference, {1'000, 2'000, 3'000}), Counts(2, 1, 1));
}

TEST_F(BeatMatchTest, EveryQrsCodeButFlutterWaveIsAReferenceBeat) {
  const std::vector<int> scored = {1,  2,  3,  4,  5,  6,  7,  8,  9, 10,
                                   11, 12, 13, 25, 30, 34, 35, 38, 41};
  for (int code = 0; code <= 41; ++code) {
    const auto ac = static_cast<AnnotationCode>(code);
    if (ac == AnnotationCode::kVfOnset) continue;  // would open an episode
    const bool expected =
        std::find(scored.begin(), scored.end(), code) != scored.end();
    EXPECT_EQ(Match({Ann(1'000, ac)}, {}).reference_beats(), expected ? 1 : 0)
        << "code " << code;
  }
}

TEST_F(BeatMatchTest, EmptyInputs) {
  EXPECT_EQ(Match({}, {}), Counts(0, 0, 0));
  EXPECT_EQ(Match(Beats({1'000, 2'000}), {}), Counts(0, 2, 0));
  EXPECT_EQ(Match({}, {1'000, 2'000}), Counts(0, 0, 2));
  const BeatMatchCounts none;
  EXPECT_DOUBLE_EQ(none.SensitivityPercent(), 100.0);
  EXPECT_DOUBLE_EQ(none.PositivePredictivityPercent(), 100.0);
  EXPECT_EQ(MatchBeats({}, {}, options_), Counts(0, 0, 0));  // no list
}

TEST_F(BeatMatchTest, StartAtZeroScoresABeatAtSampleZero) {
  EXPECT_EQ(Match(Beats({0, 1'000}), {2, 1'000}), Counts(2, 0, 0));
  EXPECT_EQ(Match(Beats({0, 1'000}), {}), Counts(0, 2, 0));
}

TEST_F(BeatMatchTest, SensitivityAndPositivePredictivityArithmetic) {
  const BeatMatchCounts c = Counts(90, 10, 5);
  EXPECT_EQ(c.reference_beats(), 100);
  EXPECT_DOUBLE_EQ(c.SensitivityPercent(), 90.0);
  EXPECT_DOUBLE_EQ(c.PositivePredictivityPercent(), 100.0 * 90.0 / 95.0);
  EXPECT_DOUBLE_EQ(Counts(0, 7, 0).SensitivityPercent(), 0.0);
  EXPECT_DOUBLE_EQ(Counts(0, 7, 0).PositivePredictivityPercent(), 100.0);
  EXPECT_DOUBLE_EQ(Counts(0, 0, 3).PositivePredictivityPercent(), 0.0);
}

TEST_F(BeatMatchTest, PlusEqualsAddsFieldByField) {
  BeatMatchCounts gross;
  gross += Counts(10, 1, 2);
  gross += Counts(5, 4, 0);
  EXPECT_EQ(gross, Counts(15, 5, 2));
  // Gross Se is from the summed counts, not the mean of per-record Se.
  EXPECT_DOUBLE_EQ(gross.SensitivityPercent(), 75.0);
  BeatMatchCounts self = Counts(1, 2, 3);
  self += self;
  EXPECT_EQ(self, Counts(2, 4, 6));
}

TEST_F(BeatMatchTest, JitteredPerfectDetectionsAllMatch) {
  // Beats every 400 ms; detections moved by up to +-150 ms, the window.
  std::vector<Annotation> reference;
  std::vector<std::int64_t> detections;
  const std::int64_t jitter[] = {0, 150, -150, 73, -99, 149, -1, 12};
  for (int i = 1; i <= 200; ++i) {
    reference.push_back(Ann(i * 400));
    detections.push_back(i * 400 + jitter[i % 8]);
  }
  EXPECT_EQ(Match(reference, detections), Counts(200, 0, 0));
}

TEST_F(BeatMatchTest, OutOfRangeSamplesDoNotMisbehave) {
  const std::vector<Annotation> reference = {Ann(-5), Ann(1'000),
                                             Ann(INT64_MAX)};
  const std::vector<std::int64_t> detections = {INT64_MIN, 1'000, INT64_MAX};
  const BeatMatchCounts c = Match(reference, detections);
  EXPECT_EQ(c.true_positives, 2);  // 1000, and the two clamped maxima
}

}  // namespace
}  // namespace pulse::dsp
