// Tests for BuildMedianBeats (median_beat.h): on a noiseless synthetic ECG
// the median equals every beat; jittered fiducials are re-aligned; the
// dominant class is chosen; the window shrinks at fast rates; an outlier
// beat does not move the median; bad input is refused with the field
// named and non-finite samples never reach the output.
#include "pulse/dsp/median_beat.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include "pulse/dsp/ecg_synth.h"
#include "support/synth_ecg.h"

namespace pulse::dsp {
namespace {

using ::pulse::testing::Synthesize;
using ::pulse::testing::TrueBeats;

EcgSynthConfig Clean() {
  EcgSynthConfig config;
  config.noise_uv = 0.0;
  config.heart_rate_bpm = 60.0;  // RR = 500 frames exactly
  return config;
}

TEST(MedianBeatTest, NoiselessMedianEqualsEachBeat) {
  const SynthEcg ecg = Synthesize(Clean());
  const auto beats = TrueBeats(ecg);
  auto m = BuildMedianBeats(ecg.interleaved_mv, kSynthNumLeads,
                            ecg.sample_rate_hz, beats);
  ASSERT_TRUE(m) << m.error().ToString();
  EXPECT_EQ(m->num_leads, kSynthNumLeads);
  EXPECT_EQ(m->beat_class, BeatClass::kNormal);
  EXPECT_GE(m->beats_used, 7);
  EXPECT_EQ(m->samples_mv.size(),
            static_cast<std::size_t>(kSynthNumLeads * m->length_frames));
  // A beat in the middle of the record, sample by sample, every lead.
  const std::int64_t r = ecg.beats[4].r_sample;
  for (int l = 0; l < kSynthNumLeads; ++l) {
    const auto lead = m->lead(l);
    for (std::int64_t i = 0; i < m->length_frames; ++i) {
      const std::int64_t frame = r - m->fiducial_index + i;
      ASSERT_NEAR(lead[static_cast<std::size_t>(i)],
                  ecg.at(frame, static_cast<SynthLead>(l)), 1e-4)
          << "lead " << l << " index " << i;
    }
  }
}

TEST(MedianBeatTest, JitteredFiducialsAreRealigned) {
  const SynthEcg ecg = Synthesize(Clean());
  auto beats = TrueBeats(ecg);
  // Detector-like jitter of up to ±8 ms (4 frames at 500 Hz).
  const int shifts[] = {3, -4, 2, 0, -2, 4, -3, 1, -1, 2};
  for (std::size_t b = 0; b < beats.size(); ++b) {
    beats[b].sample += shifts[b % 10];
  }
  auto m = BuildMedianBeats(ecg.interleaved_mv, kSynthNumLeads,
                            ecg.sample_rate_hz, beats);
  ASSERT_TRUE(m) << m.error().ToString();
  // Aligned: the median lead II has the beats' sharp R peak, not a smear.
  const auto lead_ii = m->lead(static_cast<int>(SynthLead::kII));
  float peak = 0.0f;
  for (float v : lead_ii) peak = std::max(peak, v);
  float true_peak = 0.0f;
  const std::int64_t r = ecg.beats[4].r_sample;
  for (std::int64_t f = r - 20; f <= r + 20; ++f) {
    true_peak = std::max(true_peak, ecg.at(f, SynthLead::kII));
  }
  EXPECT_NEAR(peak, true_peak, 0.01f * true_peak);
}

TEST(MedianBeatTest, OutlierBeatDoesNotMoveTheMedian) {
  SynthEcg ecg = Synthesize(Clean());
  const auto beats = TrueBeats(ecg);
  // A 5 mV artefact over beat 3's QRS in every lead.
  const std::int64_t r = ecg.beats[3].r_sample;
  for (std::int64_t f = r - 5; f <= r + 5; ++f) {
    for (int l = 0; l < kSynthNumLeads; ++l) {
      ecg.interleaved_mv[static_cast<std::size_t>(f * kSynthNumLeads + l)] +=
          5.0f;
    }
  }
  auto m = BuildMedianBeats(ecg.interleaved_mv, kSynthNumLeads,
                            ecg.sample_rate_hz, beats);
  ASSERT_TRUE(m);
  const auto lead_ii = m->lead(static_cast<int>(SynthLead::kII));
  const std::int64_t clean_r = ecg.beats[5].r_sample;
  EXPECT_NEAR(lead_ii[static_cast<std::size_t>(m->fiducial_index)],
              ecg.at(clean_r, SynthLead::kII), 1e-3);
}

TEST(MedianBeatTest, ChoosesNormalBeatsOverPvcs) {
  EcgSynthConfig config = Clean();
  config.pvc_beat_indices = {2, 5};
  const SynthEcg ecg = Synthesize(config);
  const auto beats = TrueBeats(ecg);
  auto m = BuildMedianBeats(ecg.interleaved_mv, kSynthNumLeads,
                            ecg.sample_rate_hz, beats);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->beat_class, BeatClass::kNormal);
  int normal_inside = 0;
  for (const ClassifiedBeat& b : beats) {
    if (b.beat_class == BeatClass::kNormal) ++normal_inside;
  }
  EXPECT_LE(m->beats_used, normal_inside);
  EXPECT_GE(m->beats_used, normal_inside - 2);  // edges may not fit
}

TEST(MedianBeatTest, VentricularOnlyRecordGetsAVentricularMedian) {
  const SynthEcg ecg = Synthesize(Clean());
  auto beats = TrueBeats(ecg);
  for (ClassifiedBeat& b : beats) b.beat_class = BeatClass::kVentricular;
  MedianBeatOptions options;
  options.min_beats = 3;
  auto m = BuildMedianBeats(ecg.interleaved_mv, kSynthNumLeads,
                            ecg.sample_rate_hz, beats, options);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->beat_class, BeatClass::kVentricular);
}

TEST(MedianBeatTest, WindowShrinksAtFastRates) {
  EcgSynthConfig config = Clean();
  config.heart_rate_bpm = 150.0;  // RR 400 ms
  config.qt_ms = 260.0;
  config.pr_ms = 120.0;
  const SynthEcg ecg = Synthesize(config);
  auto m = BuildMedianBeats(ecg.interleaved_mv, kSynthNumLeads,
                            ecg.sample_rate_hz, TrueBeats(ecg));
  ASSERT_TRUE(m);
  const double after_ms = static_cast<double>(m->length_frames - 1 -
                                              m->fiducial_index) *
                          1000.0 / ecg.sample_rate_hz;
  // max(0.6 RR, RR - 220 ms) = 240 ms: the next QRS (at 400 ms) stays out.
  EXPECT_NEAR(after_ms, 240.0, 2.0);
}

TEST(MedianBeatTest, TooFewBeatsIsOutOfRange) {
  const SynthEcg ecg = Synthesize(Clean());
  auto m = BuildMedianBeats(ecg.interleaved_mv, kSynthNumLeads,
                            ecg.sample_rate_hz, {});
  ASSERT_FALSE(m);
  EXPECT_EQ(m.error().code(), ErrorCode::kOutOfRange);
  MedianBeatOptions options;
  options.min_beats = 100;
  m = BuildMedianBeats(ecg.interleaved_mv, kSynthNumLeads, ecg.sample_rate_hz,
                       TrueBeats(ecg), options);
  ASSERT_FALSE(m);
  EXPECT_EQ(m.error().code(), ErrorCode::kOutOfRange);
}

TEST(MedianBeatTest, BadArgumentsNameTheField) {
  const std::vector<float> x(12 * 2000, 0.0f);
  const ClassifiedBeat ok[] = {{600, BeatClass::kNormal, 1.0f},
                               {1200, BeatClass::kNormal, 1.0f}};
  struct Bad {
    int leads;
    double fs;
    MedianBeatOptions options;
    std::string field;
  };
  MedianBeatOptions before;
  before.window_before_ms = 50.0;
  MedianBeatOptions after;
  after.window_after_ms = 5000.0;
  MedianBeatOptions min_beats;
  min_beats.min_beats = 0;
  MedianBeatOptions align;
  align.align_search_ms = -1.0;
  const Bad cases[] = {
      {0, 500.0, {}, "num_leads"},
      {13, 500.0, {}, "num_leads"},
      {12, 50.0, {}, "sample_rate_hz"},
      {12, std::numeric_limits<double>::quiet_NaN(), {}, "sample_rate_hz"},
      {12, 500.0, before, "window_before_ms"},
      {12, 500.0, after, "window_after_ms"},
      {12, 500.0, min_beats, "min_beats"},
      {12, 500.0, align, "align_search_ms"},
  };
  for (const Bad& c : cases) {
    auto m = BuildMedianBeats(x, c.leads, c.fs, ok, c.options);
    ASSERT_FALSE(m) << c.field;
    EXPECT_EQ(m.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(m.error().message().find(c.field), std::string::npos)
        << m.error().message();
  }
  auto m = BuildMedianBeats(std::vector<float>(25, 0.0f), 12, 500.0, ok);
  ASSERT_FALSE(m);
  EXPECT_NE(m.error().message().find("interleaved_mv"), std::string::npos);
  const ClassifiedBeat descending[] = {{1200, BeatClass::kNormal, 1.0f},
                                       {600, BeatClass::kNormal, 1.0f}};
  m = BuildMedianBeats(x, 12, 500.0, descending);
  ASSERT_FALSE(m);
  EXPECT_NE(m.error().message().find("beats"), std::string::npos);
}

TEST(MedianBeatTest, NonFiniteSamplesNeverReachTheMedian) {
  SynthEcg ecg = Synthesize(Clean());
  for (std::size_t i = 0; i < ecg.interleaved_mv.size(); i += 31) {
    ecg.interleaved_mv[i] = std::numeric_limits<float>::quiet_NaN();
  }
  auto m = BuildMedianBeats(ecg.interleaved_mv, kSynthNumLeads,
                            ecg.sample_rate_hz, TrueBeats(ecg));
  ASSERT_TRUE(m);
  for (float v : m->samples_mv) ASSERT_TRUE(std::isfinite(v));
}

}  // namespace
}  // namespace pulse::dsp
