// Unit tests of the atrial fibrillation detector on synthetic ECGs
// (ecg_synth.h, ground truth by construction) and of the EC57/epicmp
// episode scorer on hand-made annotation lists.
#include "pulse/dsp/af_detector.h"
#include "pulse/dsp/af_scoring.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "pulse/dsp/ecg_synth.h"

namespace pulse::dsp {
namespace {

constexpr double kRateHz = 500.0;

SynthEcg Synth(EcgSynthConfig config) {
  config.sample_rate_hz = kRateHz;
  auto ecg = SynthesizeEcg(config);
  EXPECT_TRUE(ecg.has_value()) << ecg.error().ToString();
  return ecg ? std::move(*ecg) : SynthEcg{};
}

// The synthetic beats as a classifier would give them; with
// `all_normal`, PVCs are mislabelled as normal (no classifier).
std::vector<ClassifiedBeat> Beats(const SynthEcg& ecg, bool all_normal) {
  std::vector<ClassifiedBeat> beats;
  for (const SynthBeat& b : ecg.beats) {
    const bool v = b.beat_class == SynthBeatClass::kVentricular;
    beats.push_back({b.r_sample,
                     v && !all_normal ? BeatClass::kVentricular
                                      : BeatClass::kNormal,
                     1.0f});
  }
  return beats;
}

AfDetectorConfig Config() {
  AfDetectorConfig config;
  config.sample_rate_hz = kRateHz;
  config.num_leads = kSynthNumLeads;
  return config;
}

std::vector<RhythmEpisode> Detect(const SynthEcg& ecg, bool all_normal,
                                  bool with_signal = true) {
  const std::vector<ClassifiedBeat> beats = Beats(ecg, all_normal);
  auto episodes = DetectAtrialFibrillation(
      beats,
      with_signal ? std::span<const float>(ecg.interleaved_mv)
                  : std::span<const float>(),
      Config());
  EXPECT_TRUE(episodes.has_value()) << episodes.error().ToString();
  return episodes ? *episodes : std::vector<RhythmEpisode>{};
}

// Index of the beat nearest `sample`.
long NearestBeat(const SynthEcg& ecg, std::int64_t sample) {
  long best = 0;
  for (std::size_t i = 0; i < ecg.beats.size(); ++i) {
    if (std::llabs(ecg.beats[i].r_sample - sample) <
        std::llabs(ecg.beats[static_cast<std::size_t>(best)].r_sample - sample)) {
      best = static_cast<long>(i);
    }
  }
  return best;
}

void ExpectValidEpisodes(const std::vector<RhythmEpisode>& episodes) {
  for (const RhythmEpisode& e : episodes) {
    EXPECT_LT(e.onset_sample, e.offset_sample);
    EXPECT_TRUE(std::isfinite(e.confidence));
    EXPECT_GE(e.confidence, 0.0f);
    EXPECT_LE(e.confidence, 1.0f);
  }
}

class AfDetectorTest : public ::testing::TestWithParam<bool> {};

// An AF span inside sinus rhythm is found, its edges within a few beats.
TEST_P(AfDetectorTest, FindsAfSpanWithEdgesWithinFewBeats) {
  EcgSynthConfig config;
  config.duration_s = 180.0;
  config.heart_rate_bpm = 75.0;
  config.hrv_sd_ms = 20.0;
  config.af_spans = {{60.0, 130.0}};
  config.seed = 7;
  const SynthEcg ecg = Synth(config);
  const auto episodes = Detect(ecg, /*all_normal=*/false, GetParam());
  ASSERT_EQ(episodes.size(), 1u);
  ExpectValidEpisodes(episodes);
  constexpr long kFewBeats = 4;
  EXPECT_LE(std::labs(NearestBeat(ecg, episodes[0].onset_sample) -
                      NearestBeat(ecg, ecg.af_spans[0].begin_sample)),
            kFewBeats);
  EXPECT_LE(std::labs(NearestBeat(ecg, episodes[0].offset_sample) -
                      NearestBeat(ecg, ecg.af_spans[0].end_sample)),
            kFewBeats);
}

// Sinus rhythm with heart-rate variability is not AF.
TEST_P(AfDetectorTest, SinusWithHrvGivesNone) {
  EcgSynthConfig config;
  config.duration_s = 300.0;
  config.heart_rate_bpm = 70.0;
  config.hrv_sd_ms = 35.0;
  config.seed = 3;
  EXPECT_TRUE(Detect(Synth(config), false, GetParam()).empty());
}

// Frequent PVCs (premature, compensatory pause) are not AF, whether the
// classifier labels them or misses them all.
TEST_P(AfDetectorTest, SinusWithFrequentPvcsGivesNone) {
  EcgSynthConfig config;
  config.duration_s = 300.0;
  config.heart_rate_bpm = 72.0;
  config.hrv_sd_ms = 15.0;
  config.pvc_probability = 0.2;
  config.seed = 11;
  const SynthEcg ecg = Synth(config);
  EXPECT_TRUE(Detect(ecg, /*all_normal=*/false, GetParam()).empty());
  EXPECT_TRUE(Detect(ecg, /*all_normal=*/true, GetParam()).empty());
}

// Ventricular bigeminy and trigeminy are regular in their own period.
TEST_P(AfDetectorTest, BigeminyAndTrigeminyGiveNone) {
  for (int period : {2, 3}) {
    EcgSynthConfig config;
    config.duration_s = 240.0;
    config.heart_rate_bpm = 70.0;
    config.hrv_sd_ms = 15.0;
    for (int i = 1; i < 400; i += period) config.pvc_beat_indices.push_back(i);
    config.seed = 5;
    const SynthEcg ecg = Synth(config);
    EXPECT_TRUE(Detect(ecg, /*all_normal=*/true, GetParam()).empty())
        << "period " << period;
  }
}

INSTANTIATE_TEST_SUITE_P(WithAndWithoutSignal, AfDetectorTest,
                         ::testing::Bool());

// A 10 s 12-lead ECG in AF throughout (few beats) is still called AF.
TEST(AfDetectorShortTest, TenSecondsOfFastAfIsFound) {
  EcgSynthConfig config;
  config.duration_s = 10.0;
  config.heart_rate_bpm = 110.0;
  config.af_spans = {{0.0, 10.0}};
  config.seed = 2;
  const SynthEcg ecg = Synth(config);
  const auto episodes = Detect(ecg, false);
  ASSERT_EQ(episodes.size(), 1u);
  ExpectValidEpisodes(episodes);
}

// A classifier unsure on a short ECG labels beats "unknown"; beats of the
// dominant QRS shape are still taken as conducted beats.
TEST(AfDetectorShortTest, UnknownBeatsOfTheDominantShapeAreUsed) {
  EcgSynthConfig config;
  config.duration_s = 10.0;
  config.heart_rate_bpm = 100.0;
  config.af_spans = {{0.0, 10.0}};
  config.seed = 9;
  const SynthEcg ecg = Synth(config);
  std::vector<ClassifiedBeat> beats = Beats(ecg, false);
  for (ClassifiedBeat& b : beats) b.beat_class = BeatClass::kUnknown;
  auto episodes = DetectAtrialFibrillation(beats, ecg.interleaved_mv, Config());
  ASSERT_TRUE(episodes.has_value());
  EXPECT_EQ(episodes->size(), 1u);
}

// Irregular runs shorter than the clinical 30 s are not AF episodes in a
// long recording.
TEST(AfDetectorShortTest, AfRunShorterThan30SecondsIsNotAnEpisode) {
  EcgSynthConfig config;
  config.duration_s = 180.0;
  config.heart_rate_bpm = 90.0;
  config.hrv_sd_ms = 20.0;
  config.af_spans = {{80.0, 100.0}};
  config.seed = 13;
  EXPECT_TRUE(Detect(Synth(config), false).empty());
}

// Too few beats to judge: a slow 10 s ECG, even in AF, gives no finding.
TEST(AfDetectorShortTest, TooFewBeatsGiveNone) {
  EcgSynthConfig config;
  config.duration_s = 10.0;
  config.heart_rate_bpm = 35.0;  // ~6 beats, 5 intervals
  config.af_spans = {{0.0, 10.0}};
  const SynthEcg ecg = Synth(config);
  EXPECT_TRUE(Detect(ecg, false).empty());
}

TEST(AfDetectorInputTest, NoBeatsOrFlatSignalGiveNone) {
  const std::vector<float> flat(10 * 500 * 12, 0.0f);
  auto none = DetectAtrialFibrillation({}, flat, Config());
  ASSERT_TRUE(none.has_value());
  EXPECT_TRUE(none->empty());

  // Irregular "beats" on a flat line: no QRS shape at all, no finding.
  std::mt19937 rng(1);
  std::uniform_int_distribution<int> gap(150, 600);
  std::vector<ClassifiedBeat> beats;
  for (std::int64_t s = 100; s < 4900; s += gap(rng)) {
    beats.push_back({s, BeatClass::kNormal, 1.0f});
  }
  auto flat_result = DetectAtrialFibrillation(beats, flat, Config());
  ASSERT_TRUE(flat_result.has_value());
  EXPECT_TRUE(flat_result->empty());
}

// Detections on noise (irregular by nature) are not AF: they share no QRS
// shape.
TEST(AfDetectorInputTest, NoiseWithRandomDetectionsGivesNone) {
  std::mt19937 rng(4);
  std::normal_distribution<float> noise(0.0f, 0.3f);
  const std::size_t frames = 60 * 500;
  std::vector<float> signal(frames * 12);
  for (float& v : signal) v = noise(rng);
  std::uniform_int_distribution<int> gap(200, 500);
  std::vector<ClassifiedBeat> beats;
  for (std::int64_t s = 200; s < static_cast<std::int64_t>(frames) - 200;
       s += gap(rng)) {
    beats.push_back({s, BeatClass::kNormal, 1.0f});
  }
  auto result = DetectAtrialFibrillation(beats, signal, Config());
  ASSERT_TRUE(result.has_value());
  EXPECT_TRUE(result->empty());
}

TEST(AfDetectorInputTest, NonFiniteSamplesNeverGiveNan) {
  EcgSynthConfig config;
  config.duration_s = 60.0;
  config.heart_rate_bpm = 90.0;
  config.af_spans = {{0.0, 60.0}};
  SynthEcg ecg = Synth(config);
  for (std::size_t i = 0; i < ecg.interleaved_mv.size(); i += 97) {
    ecg.interleaved_mv[i] = i % 2 ? NAN : INFINITY;
  }
  const auto episodes = Detect(ecg, false);
  ExpectValidEpisodes(episodes);
  auto scores = ScoreAfWindows(Beats(ecg, false), ecg.interleaved_mv, Config());
  ASSERT_TRUE(scores.has_value());
  for (const AfWindowScore& s : *scores) {
    EXPECT_TRUE(std::isfinite(s.irregularity));
    EXPECT_TRUE(std::isfinite(s.p_coherence));
    EXPECT_TRUE(std::isfinite(s.qrs_coherence));
  }
}

TEST(AfDetectorInputTest, UnsortedAndDuplicateBeatsAreTolerated) {
  EcgSynthConfig config;
  config.duration_s = 120.0;
  config.heart_rate_bpm = 80.0;
  config.af_spans = {{0.0, 120.0}};
  const SynthEcg ecg = Synth(config);
  std::vector<ClassifiedBeat> beats = Beats(ecg, false);
  const auto sorted =
      DetectAtrialFibrillation(beats, ecg.interleaved_mv, Config());
  beats.push_back(beats[5]);
  std::reverse(beats.begin(), beats.end());
  const auto shuffled =
      DetectAtrialFibrillation(beats, ecg.interleaved_mv, Config());
  ASSERT_TRUE(sorted.has_value());
  ASSERT_TRUE(shuffled.has_value());
  ASSERT_EQ(sorted->size(), shuffled->size());
  ASSERT_EQ(sorted->size(), 1u);
  EXPECT_EQ((*sorted)[0].onset_sample, (*shuffled)[0].onset_sample);
}

// Beats outside the signal (negative, far past its end) are ignored by the
// signal measures and do not break the rhythm analysis.
TEST(AfDetectorInputTest, BeatsOutsideTheSignalAreTolerated) {
  EcgSynthConfig config;
  config.duration_s = 60.0;
  config.heart_rate_bpm = 70.0;
  const SynthEcg ecg = Synth(config);
  std::vector<ClassifiedBeat> beats = Beats(ecg, false);
  beats.push_back({-5, BeatClass::kNormal, 1.0f});
  beats.push_back({INT64_MIN / 2, BeatClass::kNormal, 1.0f});
  beats.push_back({INT64_MAX / 2, BeatClass::kNormal, 1.0f});
  auto episodes = DetectAtrialFibrillation(beats, ecg.interleaved_mv, Config());
  ASSERT_TRUE(episodes.has_value());
  EXPECT_TRUE(episodes->empty());
}

TEST(AfDetectorInputTest, BadConfigNamesTheField) {
  AfDetectorConfig config = Config();
  config.sample_rate_hz = 0.0;
  auto r = DetectAtrialFibrillation({}, {}, config);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(r.error().message().find("sample_rate_hz"), std::string::npos);

  config = Config();
  config.irregularity_threshold = NAN;
  r = DetectAtrialFibrillation({}, {}, config);
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message().find("irregularity_threshold"),
            std::string::npos);

  const std::vector<float> ragged(13, 0.0f);
  r = DetectAtrialFibrillation({}, ragged, Config());
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), ErrorCode::kInvalidArgument);
}

// --- epicmp scoring --------------------------------------------------------

wfdb::Annotation Rhythm(std::int64_t sample, const char* aux) {
  wfdb::Annotation a;
  a.sample = sample;
  a.code = wfdb::AnnotationCode::kRhythm;
  a.aux = aux;
  return a;
}

TEST(AfScoringTest, EpisodesRunToTheNextRhythmChange) {
  const std::vector<wfdb::Annotation> ref = {
      Rhythm(0, "(N"), Rhythm(100, "(AFIB"), Rhythm(150, "(AFIB"),
      Rhythm(200, "(N"), Rhythm(300, "(AFIB")};
  const auto episodes = ReferenceRhythmEpisodes(ref, "(AFIB", 1000);
  ASSERT_EQ(episodes.size(), 2u);
  EXPECT_EQ(episodes[0].onset_sample, 100);
  EXPECT_EQ(episodes[0].offset_sample, 200);
  EXPECT_EQ(episodes[1].onset_sample, 300);
  EXPECT_EQ(episodes[1].offset_sample, 1000);  // open: to the record end
}

TEST(AfScoringTest, CountsDurationsAndFlutterExclusion) {
  const std::vector<wfdb::Annotation> ref = {
      Rhythm(0, "(N"), Rhythm(100, "(AFIB"), Rhythm(200, "(N"),
      Rhythm(400, "(AFL"), Rhythm(500, "(N"), Rhythm(700, "(AFIB"),
      Rhythm(800, "(N")};
  // One detection overlapping the first episode by 50, one in flutter only
  // (ignored for +P), one false.
  const std::vector<RhythmEpisode> test = {
      {150, 250, 1.0f}, {420, 480, 1.0f}, {900, 950, 1.0f}};
  AfScoreOptions options;
  options.score_from_sample = 0;
  options.score_to_sample = 1000;
  const AfEpisodeCounts c = ScoreAfEpisodes(ref, test, options);
  EXPECT_EQ(c.ref_detected, 1);
  EXPECT_EQ(c.ref_missed, 1);
  EXPECT_EQ(c.test_true, 1);
  EXPECT_EQ(c.test_false, 1);
  EXPECT_EQ(c.ref_samples, 200);
  EXPECT_EQ(c.test_samples, 150);  // 100 + 50; the flutter one is excluded
  EXPECT_EQ(c.overlap_se_samples, 50);
  EXPECT_EQ(c.overlap_pp_samples, 50);
  EXPECT_DOUBLE_EQ(c.DurationSensitivityPercent(), 25.0);

  // Scoring from 160: the first reference episode is clipped to 40 samples.
  options.score_from_sample = 160;
  const AfEpisodeCounts late = ScoreAfEpisodes(ref, test, options);
  EXPECT_EQ(late.ref_samples, 40 + 100);
  EXPECT_EQ(late.overlap_se_samples, 40);
}

}  // namespace
}  // namespace pulse::dsp
