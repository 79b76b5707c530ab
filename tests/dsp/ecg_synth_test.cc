// Behaviour of the synthetic 12-lead generator: determinism, Einthoven's and
// Goldberger's identities, rate and HRV as configured, agreement with the
// real QRS detector, PVC and AF ground truth, and the frontal QRS axis.
#include "pulse/dsp/ecg_synth.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <numbers>
#include <numeric>
#include <span>
#include <vector>

#include "pulse/dsp/qrs_detector.h"
#include "support/synth_ecg.h"

namespace pulse::dsp {
namespace {

using ::pulse::testing::Synthesize;

// RR intervals in seconds between consecutive beats in [first, last).
std::vector<double> RrSeconds(const SynthEcg& ecg, std::size_t first,
                              std::size_t last) {
  std::vector<double> rr;
  for (std::size_t k = first + 1; k < last; ++k) {
    rr.push_back(
        static_cast<double>(ecg.beats[k].r_sample - ecg.beats[k - 1].r_sample) /
        ecg.sample_rate_hz);
  }
  return rr;
}

double Mean(const std::vector<double>& v) {
  return std::accumulate(v.begin(), v.end(), 0.0) /
         static_cast<double>(v.size());
}

double Sd(const std::vector<double>& v) {
  const double m = Mean(v);
  double ss = 0.0;
  for (double x : v) ss += (x - m) * (x - m);
  return std::sqrt(ss / static_cast<double>(v.size() - 1));
}

std::vector<float> Lead(const SynthEcg& ecg, SynthLead lead) {
  std::vector<float> out;
  for (std::int64_t i = 0; i < ecg.num_frames(); ++i) {
    out.push_back(ecg.at(i, lead));
  }
  return out;
}

TEST(EcgSynthTest, RejectsFieldsOutOfRange) {
  struct Case {
    EcgSynthConfig config;
    const char* field;
  };
  std::vector<Case> cases;
  EcgSynthConfig config;
  config.sample_rate_hz = 50.0;
  cases.push_back({config, "sample_rate_hz"});
  config = EcgSynthConfig();
  config.heart_rate_bpm = std::nan("");
  cases.push_back({config, "heart_rate_bpm"});
  config = EcgSynthConfig();
  config.qrs_ms = 300.0;
  cases.push_back({config, "qrs_ms"});
  config = EcgSynthConfig();
  config.heart_rate_bpm = 150.0;  // RR 400 ms < PR 160 + QT 380
  cases.push_back({config, "pr_ms + qt_ms"});
  config = EcgSynthConfig();
  config.af_spans = {{5.0, 20.0}};  // past duration_s = 10
  cases.push_back({config, "af_spans[0]"});
  for (const Case& c : cases) {
    auto ecg = SynthesizeEcg(c.config);
    ASSERT_FALSE(ecg.has_value()) << c.field;
    EXPECT_EQ(ecg.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(ecg.error().message().find(c.field), std::string::npos)
        << ecg.error().message();
  }
}

TEST(EcgSynthTest, SameSeedGivesSameRecordAndOtherSeedDoesNot) {
  EcgSynthConfig config;
  config.duration_s = 20.0;
  config.hrv_sd_ms = 30.0;
  config.pvc_probability = 0.1;
  config.af_spans = {{8.0, 14.0}};
  config.noise_uv = 20.0;
  config.baseline_wander_uv = 300.0;
  config.seed = 42;
  const SynthEcg a = Synthesize(config);
  const SynthEcg b = Synthesize(config);
  EXPECT_EQ(a.interleaved_mv, b.interleaved_mv);
  ASSERT_EQ(a.beats.size(), b.beats.size());
  for (std::size_t k = 0; k < a.beats.size(); ++k) {
    EXPECT_EQ(a.beats[k].r_sample, b.beats[k].r_sample);
    EXPECT_EQ(a.beats[k].beat_class, b.beats[k].beat_class);
  }
  config.seed = 43;
  EXPECT_NE(Synthesize(config).interleaved_mv, a.interleaved_mv);
}

TEST(EcgSynthTest, LimbLeadsSatisfyEinthovenAndGoldberger) {
  EcgSynthConfig config;
  config.duration_s = 15.0;
  config.noise_uv = 50.0;
  config.baseline_wander_uv = 500.0;
  config.pvc_beat_indices = {4};
  config.af_spans = {{9.0, 13.0}};
  const SynthEcg ecg = Synthesize(config);
  ASSERT_EQ(ecg.num_frames(), 7500);
  for (std::int64_t i = 0; i < ecg.num_frames(); ++i) {
    const float lead_i = ecg.at(i, SynthLead::kI);
    const float lead_ii = ecg.at(i, SynthLead::kII);
    ASSERT_NEAR(ecg.at(i, SynthLead::kIII), lead_ii - lead_i, 1e-6f) << i;
    ASSERT_NEAR(ecg.at(i, SynthLead::kAvr), -(lead_i + lead_ii) / 2, 1e-6f);
    ASSERT_NEAR(ecg.at(i, SynthLead::kAvl), lead_i - lead_ii / 2, 1e-6f);
    ASSERT_NEAR(ecg.at(i, SynthLead::kAvf), lead_ii - lead_i / 2, 1e-6f);
  }
}

TEST(EcgSynthTest, HeartRateFromGroundTruthMatchesConfig) {
  for (double bpm : {45.0, 60.0, 75.0, 120.0}) {
    SCOPED_TRACE(bpm);
    EcgSynthConfig config;
    config.duration_s = 60.0;
    config.heart_rate_bpm = bpm;
    config.qt_ms = 300.0;
    const SynthEcg ecg = Synthesize(config);
    ASSERT_GT(ecg.beats.size(), 30u);
    const double measured = 60.0 / Mean(RrSeconds(ecg, 0, ecg.beats.size()));
    EXPECT_NEAR(measured, bpm, 1.0);
  }
}

TEST(EcgSynthTest, RrStandardDeviationMatchesHrvRequest) {
  for (double hrv_ms : {20.0, 50.0}) {
    SCOPED_TRACE(hrv_ms);
    EcgSynthConfig config;
    config.duration_s = 300.0;
    config.heart_rate_bpm = 60.0;
    config.hrv_sd_ms = hrv_ms;
    config.seed = 7;
    const SynthEcg ecg = Synthesize(config);
    const double sd_ms = 1000.0 * Sd(RrSeconds(ecg, 0, ecg.beats.size()));
    EXPECT_NEAR(sd_ms, hrv_ms, 0.3 * hrv_ms);
  }
}

TEST(EcgSynthTest, QrsDetectorOnLeadIiFindsEveryBeatAndNothingElse) {
  struct Case {
    double bpm, pr_ms, qrs_ms, qt_ms;
  };
  for (const Case& c :
       {Case{60.0, 160.0, 90.0, 400.0}, Case{100.0, 150.0, 90.0, 340.0},
        Case{150.0, 120.0, 80.0, 250.0}}) {
    SCOPED_TRACE(c.bpm);
    EcgSynthConfig config;
    config.duration_s = 60.0;
    config.heart_rate_bpm = c.bpm;
    config.pr_ms = c.pr_ms;
    config.qrs_ms = c.qrs_ms;
    config.qt_ms = c.qt_ms;
    config.noise_uv = 20.0;
    config.seed = 3;
    const SynthEcg ecg = Synthesize(config);
    const std::vector<float> lead_ii = Lead(ecg, SynthLead::kII);
    auto detector = QrsDetector::Create({ecg.sample_rate_hz, 1}).value();
    std::vector<QrsDetection> found;
    detector.Process(lead_ii, &found);
    detector.Finish(&found);

    const auto tolerance = static_cast<std::int64_t>(0.05 * ecg.sample_rate_hz);
    std::size_t j = 0;
    int missed = 0;
    int extra = 0;
    for (const SynthBeat& beat : ecg.beats) {
      while (j < found.size() && found[j].sample < beat.r_sample - tolerance) {
        ++extra;
        ++j;
      }
      if (j < found.size() &&
          std::llabs(found[j].sample - beat.r_sample) <= tolerance) {
        ++j;
      } else {
        ++missed;
      }
    }
    extra += static_cast<int>(found.size() - j);
    EXPECT_EQ(missed, 0) << "of " << ecg.beats.size();
    EXPECT_EQ(extra, 0);
  }
}

TEST(EcgSynthTest, PvcsHaveNoPWaveAWiderQrsAndACompensatoryPause) {
  EcgSynthConfig config;
  config.duration_s = 30.0;
  config.heart_rate_bpm = 60.0;
  config.pvc_beat_indices = {5, 12, 20};
  const SynthEcg ecg = Synthesize(config);
  ASSERT_GT(ecg.beats.size(), 21u);
  const std::int64_t rr = 500;  // frames at 60 bpm, 500 Hz
  std::int64_t normal_qrs = 0;
  for (std::size_t k = 0; k < ecg.beats.size(); ++k) {
    const SynthBeat& b = ecg.beats[k];
    if (b.beat_class == SynthBeatClass::kNormal) {
      EXPECT_GE(b.p_on, 0) << k;
      EXPECT_LT(b.p_off, b.qrs_on) << k;
      normal_qrs = b.qrs_off - b.qrs_on;
    }
  }
  for (std::size_t k : {5u, 12u, 20u}) {
    const SynthBeat& b = ecg.beats[k];
    EXPECT_EQ(b.beat_class, SynthBeatClass::kVentricular) << k;
    EXPECT_EQ(b.p_on, -1) << k;
    EXPECT_EQ(b.p_off, -1) << k;
    EXPECT_GT(b.qrs_off - b.qrs_on, normal_qrs + 20) << k;  // > 40 ms wider
    const std::int64_t before = b.r_sample - ecg.beats[k - 1].r_sample;
    const std::int64_t after = ecg.beats[k + 1].r_sample - b.r_sample;
    EXPECT_LT(before, rr * 8 / 10) << k;  // premature
    EXPECT_NEAR(static_cast<double>(before + after), 2.0 * rr, 2.0) << k;
  }
  std::size_t pvcs = 0;
  for (const SynthBeat& b : ecg.beats) {
    pvcs += b.beat_class == SynthBeatClass::kVentricular;
  }
  EXPECT_EQ(pvcs, 3u);
}

TEST(EcgSynthTest, RandomPvcsNeverComeInPairs) {
  EcgSynthConfig config;
  config.duration_s = 120.0;
  config.pvc_probability = 0.4;
  config.seed = 11;
  const SynthEcg ecg = Synthesize(config);
  int pvcs = 0;
  for (std::size_t k = 1; k < ecg.beats.size(); ++k) {
    if (ecg.beats[k].beat_class != SynthBeatClass::kVentricular) continue;
    ++pvcs;
    EXPECT_EQ(ecg.beats[k - 1].beat_class, SynthBeatClass::kNormal) << k;
  }
  EXPECT_GT(pvcs, 20);
}

TEST(EcgSynthTest, AfSpansAreIrregularAndHaveNoPWaves) {
  EcgSynthConfig config;
  config.duration_s = 120.0;
  config.heart_rate_bpm = 80.0;
  config.hrv_sd_ms = 20.0;
  config.af_spans = {{40.0, 90.0}};
  const SynthEcg ecg = Synthesize(config);
  ASSERT_EQ(ecg.af_spans.size(), 1u);
  EXPECT_EQ(ecg.af_spans[0].begin_sample, 20000);
  EXPECT_EQ(ecg.af_spans[0].end_sample, 45000);

  std::vector<double> sinus_rr, af_rr;
  for (std::size_t k = 1; k < ecg.beats.size(); ++k) {
    const SynthBeat& prev = ecg.beats[k - 1];
    const SynthBeat& b = ecg.beats[k];
    const double rr = static_cast<double>(b.r_sample - prev.r_sample);
    EXPECT_EQ(b.in_af, b.r_sample >= 20000 && b.r_sample < 45000) << k;
    if (b.in_af) {
      EXPECT_EQ(b.p_on, -1) << k;
      if (prev.in_af) af_rr.push_back(rr);
    } else {
      EXPECT_GE(b.p_on, 0) << k;
      if (!prev.in_af) sinus_rr.push_back(rr);
    }
  }
  ASSERT_GT(af_rr.size(), 40u);
  const double cv_af = Sd(af_rr) / Mean(af_rr);
  const double cv_sinus = Sd(sinus_rr) / Mean(sinus_rr);
  EXPECT_GT(cv_af, 0.15);
  EXPECT_LT(cv_sinus, 0.05);
  EXPECT_GT(cv_af, 3.0 * cv_sinus);
}

TEST(EcgSynthTest, FrontalQrsAxisFromIAndAvfMatchesConfig) {
  for (double axis : {-30.0, 0.0, 60.0, 90.0}) {
    SCOPED_TRACE(axis);
    EcgSynthConfig config;
    config.duration_s = 20.0;
    config.frontal_axis_deg = axis;
    config.noise_uv = 10.0;
    const SynthEcg ecg = Synthesize(config);
    double area_i = 0.0;
    double area_avf = 0.0;
    for (const SynthBeat& b : ecg.beats) {
      for (std::int64_t i = b.qrs_on; i <= b.qrs_off; ++i) {
        area_i += ecg.at(i, SynthLead::kI);
        area_avf += ecg.at(i, SynthLead::kAvf);
      }
    }
    // aVF's lead vector is (0, √3/2) in units where lead I's is (1, 0).
    const double measured =
        std::atan2(area_avf * 2.0 / std::sqrt(3.0), area_i) * 180.0 /
        std::numbers::pi;
    EXPECT_NEAR(measured, axis, 15.0);
  }
}

}  // namespace
}  // namespace pulse::dsp
