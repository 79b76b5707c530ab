// Tests for delineation.h on synthetic 12-lead ECGs with known fiducials
// (ecg_synth.h): per-beat and median-beat points near the truth over a
// range of rates and intervals, no P wave on PVCs and in AF, and nothing
// (never garbage) on flat, noise-only, lead-off or non-finite input.
//
// Tolerances. The synthetic truth places an onset/offset a fixed number of
// Gaussian widths from the wave's centre (QRS ~2.4 sigma, P 3 sigma, T end
// 2.5 sigma), where the wave is a few per cent of its peak: a point that is
// itself a convention. The tolerances are those a cardiologist would accept
// as the same point on paper at 25 mm/s (one small square = 40 ms): 12 ms
// for the QRS, 20 ms for P, 30 ms for the T end (the least sharp point).
#include "pulse/dsp/delineation.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include "pulse/dsp/ecg_synth.h"
#include "pulse/dsp/median_beat.h"
#include "support/synth_ecg.h"

namespace pulse::dsp {
namespace {

using ::pulse::testing::Synthesize;
using ::pulse::testing::TrueBeats;

constexpr double kQrsTolMs = 12.0;
constexpr double kPTolMs = 20.0;
constexpr double kTTolMs = 30.0;

double Ms(std::int64_t frames, double fs) {
  return static_cast<double>(frames) * 1000.0 / fs;
}

void ExpectOrdered(const WaveFiducials& f) {
  if (f.has_p()) {
    EXPECT_LT(f.p_onset, f.p_offset);
    EXPECT_LE(f.p_offset, f.qrs_onset);
  }
  if (f.has_qrs()) {
    EXPECT_LT(f.qrs_onset, f.qrs_offset);
  }
  if (f.has_t()) {
    EXPECT_LT(f.qrs_offset, f.t_offset);
  }
}

struct Case {
  double hr_bpm, pr_ms, qrs_ms, qt_ms, axis_deg;
};

class DelineationSynthTest : public ::testing::TestWithParam<Case> {};

TEST_P(DelineationSynthTest, PerBeatFiducialsNearTruth) {
  const Case c = GetParam();
  EcgSynthConfig config;
  config.heart_rate_bpm = c.hr_bpm;
  config.pr_ms = c.pr_ms;
  config.qrs_ms = c.qrs_ms;
  config.qt_ms = c.qt_ms;
  config.frontal_axis_deg = c.axis_deg;
  config.noise_uv = 15.0;
  config.baseline_wander_uv = 100.0;
  const SynthEcg ecg = Synthesize(config);
  const double fs = ecg.sample_rate_hz;
  auto result = DelineateBeats(ecg.interleaved_mv, kSynthNumLeads, fs,
                               TrueBeats(ecg));
  ASSERT_TRUE(result) << result.error().ToString();
  ASSERT_EQ(result->size(), ecg.beats.size());
  // The first and last beats may lack room for their P or T search.
  for (std::size_t b = 1; b + 1 < ecg.beats.size(); ++b) {
    const SynthBeat& truth = ecg.beats[b];
    const WaveFiducials& g = (*result)[b].global;
    SCOPED_TRACE(::testing::Message() << "beat " << b);
    ASSERT_TRUE(g.has_qrs());
    ASSERT_TRUE(g.has_p());
    ASSERT_TRUE(g.has_t());
    EXPECT_NEAR(Ms(g.qrs_onset - truth.qrs_on, fs), 0.0, kQrsTolMs);
    EXPECT_NEAR(Ms(g.qrs_offset - truth.qrs_off, fs), 0.0, kQrsTolMs);
    EXPECT_NEAR(Ms(g.p_onset - truth.p_on, fs), 0.0, kPTolMs);
    EXPECT_NEAR(Ms(g.p_offset - truth.p_off, fs), 0.0, kPTolMs);
    EXPECT_NEAR(Ms(g.t_offset - truth.t_off, fs), 0.0, kTTolMs);
    ExpectOrdered(g);
    for (const WaveFiducials& f : (*result)[b].per_lead) ExpectOrdered(f);
  }
}

TEST_P(DelineationSynthTest, MedianBeatIntervalsNearTruth) {
  const Case c = GetParam();
  EcgSynthConfig config;
  config.heart_rate_bpm = c.hr_bpm;
  config.pr_ms = c.pr_ms;
  config.qrs_ms = c.qrs_ms;
  config.qt_ms = c.qt_ms;
  config.frontal_axis_deg = c.axis_deg;
  config.noise_uv = 15.0;
  const SynthEcg ecg = Synthesize(config);
  const double fs = ecg.sample_rate_hz;
  auto medians =
      BuildMedianBeats(ecg.interleaved_mv, kSynthNumLeads, fs, TrueBeats(ecg));
  ASSERT_TRUE(medians) << medians.error().ToString();
  auto d = DelineateMedianBeats(*medians);
  ASSERT_TRUE(d) << d.error().ToString();
  const WaveFiducials& g = d->global;
  ASSERT_TRUE(g.has_p() && g.has_qrs() && g.has_t());
  ExpectOrdered(g);
  EXPECT_EQ(d->per_lead.size(), static_cast<std::size_t>(kSynthNumLeads));
  // Intervals as measurements.h takes them from the global points.
  EXPECT_NEAR(Ms(g.qrs_offset - g.qrs_onset, fs), c.qrs_ms, 2 * kQrsTolMs);
  EXPECT_NEAR(Ms(g.qrs_onset - g.p_onset, fs), c.pr_ms, kQrsTolMs + kPTolMs);
  EXPECT_NEAR(Ms(g.t_offset - g.qrs_onset, fs), c.qt_ms, kQrsTolMs + kTTolMs);
}

INSTANTIATE_TEST_SUITE_P(
    RatesAndIntervals, DelineationSynthTest,
    ::testing::Values(Case{60, 160, 90, 400, 60}, Case{75, 200, 80, 380, 0},
                      Case{100, 140, 100, 340, 90},
                      Case{50, 180, 120, 440, -30},
                      Case{120, 130, 80, 300, 45}));

TEST(DelineationTest, NoPWaveOnPvcs) {
  EcgSynthConfig config;
  config.heart_rate_bpm = 70;
  config.pvc_beat_indices = {3, 7};
  const SynthEcg ecg = Synthesize(config);
  auto result = DelineateBeats(ecg.interleaved_mv, kSynthNumLeads,
                               ecg.sample_rate_hz, TrueBeats(ecg));
  ASSERT_TRUE(result) << result.error().ToString();
  int pvcs = 0;
  for (std::size_t b = 0; b < ecg.beats.size(); ++b) {
    if (ecg.beats[b].beat_class != SynthBeatClass::kVentricular) continue;
    ++pvcs;
    EXPECT_FALSE((*result)[b].global.has_p()) << "beat " << b;
    EXPECT_TRUE((*result)[b].global.has_qrs()) << "beat " << b;
    for (const WaveFiducials& f : (*result)[b].per_lead) {
      EXPECT_FALSE(f.has_p());
    }
  }
  EXPECT_EQ(pvcs, 2);
}

TEST(DelineationTest, NoPWaveInAtrialFibrillation) {
  EcgSynthConfig config;
  config.heart_rate_bpm = 90;
  config.af_spans = {{0.0, 10.0}};
  config.af_fwave_uv = 80.0;
  const SynthEcg ecg = Synthesize(config);
  auto result = DelineateBeats(ecg.interleaved_mv, kSynthNumLeads,
                               ecg.sample_rate_hz, TrueBeats(ecg));
  ASSERT_TRUE(result) << result.error().ToString();
  for (std::size_t b = 0; b < ecg.beats.size(); ++b) {
    EXPECT_FALSE((*result)[b].global.has_p()) << "beat " << b;
    EXPECT_TRUE((*result)[b].global.has_qrs()) << "beat " << b;
  }
  auto medians = BuildMedianBeats(ecg.interleaved_mv, kSynthNumLeads,
                                  ecg.sample_rate_hz, TrueBeats(ecg));
  ASSERT_TRUE(medians);
  auto d = DelineateMedianBeats(*medians, ecg.interleaved_mv, TrueBeats(ecg));
  ASSERT_TRUE(d);
  EXPECT_FALSE(d->global.has_p());
  EXPECT_TRUE(d->global.has_qrs());
  for (const WaveFiducials& f : d->per_lead) EXPECT_FALSE(f.has_p());
}

TEST(DelineationTest, SinusMedianKeepsItsPWaveWithTheBeats) {
  EcgSynthConfig config;
  config.heart_rate_bpm = 90;
  config.noise_uv = 20.0;
  const SynthEcg ecg = Synthesize(config);
  auto medians = BuildMedianBeats(ecg.interleaved_mv, kSynthNumLeads,
                                  ecg.sample_rate_hz, TrueBeats(ecg));
  ASSERT_TRUE(medians);
  auto d = DelineateMedianBeats(*medians, ecg.interleaved_mv, TrueBeats(ecg));
  ASSERT_TRUE(d);
  EXPECT_TRUE(d->global.has_p());
}

// A median beat set of `leads` x `n` samples with fiducial in the middle.
MedianBeatSet MakeSet(std::vector<float> samples, int leads) {
  MedianBeatSet m;
  m.sample_rate_hz = 500.0;
  m.num_leads = leads;
  m.length_frames = static_cast<std::int64_t>(samples.size()) / leads;
  m.fiducial_index = m.length_frames / 3;
  m.samples_mv = std::move(samples);
  return m;
}

void ExpectNothing(const MedianDelineation& d) {
  EXPECT_EQ(d.global, WaveFiducials{});
  for (const WaveFiducials& f : d.per_lead) EXPECT_EQ(f, WaveFiducials{});
}

TEST(DelineationTest, FlatMedianHasNoFiducials) {
  for (float level : {0.0f, 3.5f, -32.768f}) {
    auto d = DelineateMedianBeats(MakeSet(std::vector<float>(12 * 500, level), 12));
    ASSERT_TRUE(d) << d.error().ToString();
    ExpectNothing(*d);
  }
}

TEST(DelineationTest, NoiseOnlyMedianHasNoFiducials) {
  std::mt19937 rng(7);
  std::normal_distribution<float> noise(0.0f, 0.05f);
  std::vector<float> x(12 * 500);
  for (float& v : x) v = noise(rng);
  auto d = DelineateMedianBeats(MakeSet(x, 12));
  ASSERT_TRUE(d) << d.error().ToString();
  ExpectNothing(*d);
}

TEST(DelineationTest, LeadOffStepGivesNoFiducials) {
  // Every lead jumps to the rail once (an electrode coming off), no ECG.
  std::vector<float> x(12 * 500, 0.0f);
  for (int l = 0; l < 12; ++l) {
    for (int i = 250; i < 500; ++i) x[static_cast<std::size_t>(l * 500 + i)] = 30.0f;
  }
  auto d = DelineateBeats(std::vector<float>(), 12, 500.0, {});
  ASSERT_TRUE(d);
  EXPECT_TRUE(d->empty());
  // Interleave the lead-major step for DelineateBeats with a "beat" on it.
  std::vector<float> inter(x.size());
  for (int l = 0; l < 12; ++l) {
    for (int i = 0; i < 500; ++i) {
      inter[static_cast<std::size_t>(i * 12 + l)] =
          x[static_cast<std::size_t>(l * 500 + i)];
    }
  }
  const ClassifiedBeat beat{250, BeatClass::kNormal, 1.0f};
  auto per_beat = DelineateBeats(inter, 12, 500.0, std::span(&beat, 1));
  ASSERT_TRUE(per_beat) << per_beat.error().ToString();
  ASSERT_EQ(per_beat->size(), 1u);
  const WaveFiducials& g = (*per_beat)[0].global;
  // A step is one edge, not a QRS with a P and T around it.
  EXPECT_FALSE(g.has_p());
  EXPECT_FALSE(g.has_t());
}

TEST(DelineationTest, NonFiniteSamplesAreSafe) {
  EcgSynthConfig config;
  const SynthEcg ecg = Synthesize(config);
  std::vector<float> x = ecg.interleaved_mv;
  for (std::size_t i = 0; i < x.size(); i += 97) {
    x[i] = (i % 2 == 0) ? std::numeric_limits<float>::quiet_NaN()
                        : std::numeric_limits<float>::infinity();
  }
  auto result =
      DelineateBeats(x, kSynthNumLeads, ecg.sample_rate_hz, TrueBeats(ecg));
  ASSERT_TRUE(result) << result.error().ToString();
  for (const BeatDelineation& b : *result) {
    ExpectOrdered(b.global);
    EXPECT_GE(b.global.qrs_onset, -1);
  }
  auto medians =
      BuildMedianBeats(x, kSynthNumLeads, ecg.sample_rate_hz, TrueBeats(ecg));
  ASSERT_TRUE(medians);
  for (float v : medians->samples_mv) ASSERT_TRUE(std::isfinite(v));
  auto d = DelineateMedianBeats(*medians);
  ASSERT_TRUE(d);
  ExpectOrdered(d->global);
}

TEST(DelineationTest, RejectsMalformedMedianSet) {
  MedianBeatSet m = MakeSet(std::vector<float>(12 * 100, 0.0f), 12);
  m.sample_rate_hz = 0.0;
  auto d = DelineateMedianBeats(m);
  ASSERT_FALSE(d);
  EXPECT_EQ(d.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(d.error().message().find("sample_rate_hz"), std::string::npos);

  m = MakeSet(std::vector<float>(12 * 100, 0.0f), 12);
  m.samples_mv.pop_back();
  d = DelineateMedianBeats(m);
  ASSERT_FALSE(d);
  EXPECT_NE(d.error().message().find("samples_mv"), std::string::npos);

  m = MakeSet(std::vector<float>(12 * 100, 0.0f), 12);
  m.fiducial_index = 100;
  d = DelineateMedianBeats(m);
  ASSERT_FALSE(d);
  EXPECT_NE(d.error().message().find("fiducial_index"), std::string::npos);
}

TEST(DelineationTest, DelineateBeatsRejectsBadArguments) {
  const std::vector<float> x(12 * 1000, 0.0f);
  const ClassifiedBeat beats[] = {{500, BeatClass::kNormal, 1.0f},
                                  {100, BeatClass::kNormal, 1.0f}};
  auto r = DelineateBeats(x, 12, 500.0, beats);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), ErrorCode::kInvalidArgument);
  r = DelineateBeats(x, 13, 500.0, {});
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("num_leads"), std::string::npos);
  r = DelineateBeats(x, 12, 10.0, {});
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("sample_rate_hz"), std::string::npos);
}

}  // namespace
}  // namespace pulse::dsp
