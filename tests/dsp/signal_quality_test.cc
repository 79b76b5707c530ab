// Tests for signal_quality.h: a clean synthetic ECG scores high with "ok";
// each injected defect (flat line, clipping at the ADC range, 50/100 Hz
// noise, large 0.2 Hz wander, a lead-off step to the rail, non-finite
// samples) gets its own issue and a low score; degenerate input (all zero,
// constant, huge values, NaN/Inf) never yields NaN.
#include "pulse/dsp/signal_quality.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <numbers>
#include <random>
#include <vector>

namespace pulse::dsp {
namespace {

constexpr double kFs = 500.0;
constexpr int kSeconds = 10;

double Gauss(double t, double center, double sigma) {
  const double z = (t - center) / sigma;
  return std::exp(-0.5 * z * z);
}

// ECG-like lead: P, R, S, T Gaussians once per second, plus 10 uV white
// noise from a fixed seed.
std::vector<float> CleanEcg(unsigned seed = 1) {
  std::mt19937 rng(seed);
  std::normal_distribution<double> noise(0.0, 0.01);
  std::vector<float> x(static_cast<std::size_t>(kFs * kSeconds));
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double t = static_cast<double>(i) / kFs;
    const double ph = std::fmod(t, 1.0);
    const double v = 0.15 * Gauss(ph, 0.2, 0.02) + 1.2 * Gauss(ph, 0.4, 0.01) -
                     0.3 * Gauss(ph, 0.43, 0.01) + 0.3 * Gauss(ph, 0.65, 0.04);
    x[i] = static_cast<float>(v + noise(rng));
  }
  return x;
}

LeadQuality AssessOne(const std::vector<float>& x,
                      SignalQualityConfig config = {}) {
  config.sample_rate_hz = kFs;
  config.num_leads = 1;
  Result<SignalQualityReport> r = AssessSignalQuality(x, config);
  EXPECT_TRUE(r) << r.error().ToString();
  if (!r) return {};
  EXPECT_EQ(r->leads.size(), 1u);
  const LeadQuality& q = r->leads[0];
  EXPECT_TRUE(std::isfinite(q.score));
  EXPECT_GE(q.score, 0.0f);
  EXPECT_LE(q.score, 1.0f);
  EXPECT_TRUE(std::isfinite(q.std_mv));
  EXPECT_TRUE(std::isfinite(q.hf_noise_ratio));
  EXPECT_TRUE(std::isfinite(q.wander_pp_mv));
  EXPECT_TRUE(std::isfinite(q.clipped_fraction));
  EXPECT_FALSE(q.reason.empty());
  return q;
}

TEST(SignalQualityTest, CleanEcgIsOk) {
  const LeadQuality q = AssessOne(CleanEcg());
  EXPECT_EQ(q.issue, QualityIssue::kOk) << q.reason;
  EXPECT_GT(q.score, 0.8f) << q.reason;
  EXPECT_EQ(q.reason, "ok");
}

TEST(SignalQualityTest, FlatLine) {
  std::vector<float> x(5000, 0.0f);
  const LeadQuality q = AssessOne(x);
  EXPECT_EQ(q.issue, QualityIssue::kFlatLine) << q.reason;
  EXPECT_EQ(q.score, 0.0f);
  std::vector<float> c(5000, 1.5f);
  EXPECT_EQ(AssessOne(c).issue, QualityIssue::kFlatLine);
}

TEST(SignalQualityTest, ClippingAtTheAdcRange) {
  std::vector<float> x = CleanEcg();
  SignalQualityConfig config;
  config.adc_min_mv = -0.8f;
  config.adc_max_mv = 0.8f;
  for (float& v : x) v = std::clamp(v, config.adc_min_mv, config.adc_max_mv);
  const LeadQuality q = AssessOne(x, config);
  EXPECT_EQ(q.issue, QualityIssue::kSaturation) << q.reason;
  EXPECT_LT(q.score, 0.5f);
  EXPECT_GT(q.clipped_fraction, 0.005);
}

TEST(SignalQualityTest, MainsAndHighFrequencyNoise) {
  for (double f : {50.0, 100.0}) {
    std::vector<float> x = CleanEcg();
    for (std::size_t i = 0; i < x.size(); ++i) {
      x[i] += static_cast<float>(
          0.3 * std::sin(2 * std::numbers::pi * f * static_cast<double>(i) / kFs));
    }
    const LeadQuality q = AssessOne(x);
    EXPECT_EQ(q.issue, QualityIssue::kHighFrequencyNoise) << f << ": " << q.reason;
    EXPECT_LT(q.score, 0.5f) << f;
  }
}

TEST(SignalQualityTest, SmallLeadWithQuietNoiseIsNotNoisy) {
  // A lead nearly perpendicular to the heart's axis: QRS of 30 uV, with the
  // same 10 uV of noise as any lead. The ratio is high, the noise is not.
  std::vector<float> x = CleanEcg();
  for (float& v : x) v *= 0.025f;
  std::mt19937 rng(5);
  std::normal_distribution<double> noise(0.0, 0.01);
  for (float& v : x) v += static_cast<float>(noise(rng));
  const LeadQuality small = AssessOne(x);
  EXPECT_GT(small.hf_noise_ratio, 0.5);
  EXPECT_LT(small.hf_noise_rms_mv, 0.02);
  EXPECT_EQ(small.issue, QualityIssue::kOk) << small.reason;
  // The same lead with noise above the floor is noisy.
  for (float& v : x) v += static_cast<float>(noise(rng) * 4.0);
  const LeadQuality noisy = AssessOne(x);
  EXPECT_GT(noisy.hf_noise_rms_mv, 0.02);
  EXPECT_EQ(noisy.issue, QualityIssue::kHighFrequencyNoise) << noisy.reason;
}

TEST(SignalQualityTest, BaselineWander) {
  std::vector<float> x = CleanEcg();
  for (std::size_t i = 0; i < x.size(); ++i) {
    x[i] += static_cast<float>(
        2.0 * std::sin(2 * std::numbers::pi * 0.2 * static_cast<double>(i) / kFs));
  }
  const LeadQuality q = AssessOne(x);
  EXPECT_EQ(q.issue, QualityIssue::kBaselineWander) << q.reason;
  EXPECT_LT(q.score, 0.5f);
}

TEST(SignalQualityTest, LeadOffStepToTheRail) {
  std::vector<float> x = CleanEcg();
  SignalQualityConfig config;
  for (std::size_t i = x.size() / 2; i < x.size(); ++i) x[i] = config.adc_max_mv;
  const LeadQuality q = AssessOne(x, config);
  EXPECT_EQ(q.issue, QualityIssue::kLeadOff) << q.reason;
  EXPECT_EQ(q.score, 0.0f);
}

TEST(SignalQualityTest, FrozenSegmentIsLeadOff) {
  std::vector<float> x = CleanEcg();
  for (std::size_t i = 2000; i < 3000; ++i) x[i] = 0.37f;
  const LeadQuality q = AssessOne(x);
  EXPECT_EQ(q.issue, QualityIssue::kLeadOff) << q.reason;
}

TEST(SignalQualityTest, NonFiniteSamplesAreFlaggedNeverPropagated) {
  for (float bad : {std::numeric_limits<float>::quiet_NaN(),
                    std::numeric_limits<float>::infinity(),
                    -std::numeric_limits<float>::infinity()}) {
    std::vector<float> x = CleanEcg();
    x[1234] = bad;
    const LeadQuality q = AssessOne(x);
    EXPECT_EQ(q.issue, QualityIssue::kNonFinite) << q.reason;
    EXPECT_EQ(q.non_finite_samples, 1);
    EXPECT_EQ(q.score, 0.0f);
  }
  std::vector<float> all_nan(5000, std::numeric_limits<float>::quiet_NaN());
  EXPECT_EQ(AssessOne(all_nan).issue, QualityIssue::kNonFinite);
}

TEST(SignalQualityTest, HugeValuesStayFinite) {
  std::vector<float> x = CleanEcg();
  for (std::size_t i = 0; i < x.size(); i += 97) {
    x[i] = (i % 2 ? 1 : -1) * std::numeric_limits<float>::max();
  }
  const LeadQuality q = AssessOne(x);
  EXPECT_NE(q.issue, QualityIssue::kOk);
  std::vector<float> huge(5000);
  for (std::size_t i = 0; i < huge.size(); ++i) {
    huge[i] = (i % 2 ? 3e38f : -3e38f);
  }
  const LeadQuality h = AssessOne(huge);
  EXPECT_NE(h.issue, QualityIssue::kOk) << h.reason;
}

TEST(SignalQualityTest, PerLeadResultsAndOverallVerdict) {
  const std::vector<float> clean = CleanEcg();
  const std::size_t n = clean.size();
  std::vector<float> in(n * 3);
  for (std::size_t i = 0; i < n; ++i) {
    in[i * 3 + 0] = clean[i];
    in[i * 3 + 1] = 0.0f;  // flat
    in[i * 3 + 2] = clean[i] * 0.5f;
  }
  SignalQualityConfig config;
  config.sample_rate_hz = kFs;
  config.num_leads = 3;
  Result<SignalQualityReport> r = AssessSignalQuality(in, config);
  ASSERT_TRUE(r) << r.error().ToString();
  ASSERT_EQ(r->leads.size(), 3u);
  EXPECT_EQ(r->leads[0].issue, QualityIssue::kOk);
  EXPECT_EQ(r->leads[1].issue, QualityIssue::kFlatLine);
  EXPECT_EQ(r->leads[2].issue, QualityIssue::kOk);
  EXPECT_EQ(r->num_ok_leads, 2);
  EXPECT_EQ(r->overall_issue, QualityIssue::kFlatLine);
  EXPECT_EQ(r->overall_score, 0.0f);
}

TEST(SignalQualityTest, IsDeterministic) {
  const std::vector<float> x = CleanEcg(9);
  const LeadQuality a = AssessOne(x);
  const LeadQuality b = AssessOne(x);
  EXPECT_EQ(a.score, b.score);
  EXPECT_EQ(a.hf_noise_ratio, b.hf_noise_ratio);
  EXPECT_EQ(a.wander_pp_mv, b.wander_pp_mv);
}

TEST(SignalQualityTest, RejectsBadConfigAndInput) {
  const std::vector<float> x = CleanEcg();
  SignalQualityConfig config;
  config.sample_rate_hz = 50.0;
  EXPECT_FALSE(AssessSignalQuality(x, config));
  config = {};
  config.adc_min_mv = 1.0f;
  config.adc_max_mv = -1.0f;
  EXPECT_FALSE(AssessSignalQuality(x, config));
  config = {};
  config.num_leads = 3;
  EXPECT_FALSE(AssessSignalQuality(std::span<const float>(x.data(), 4), config));
  EXPECT_FALSE(AssessSignalQuality(std::span<const float>(), SignalQualityConfig{}));
  config = {};
  config.hf_noise_max_ratio = std::numeric_limits<double>::quiet_NaN();
  EXPECT_FALSE(AssessSignalQuality(x, config));
  config = {};
  config.hf_noise_floor_mv = -0.01;
  EXPECT_FALSE(AssessSignalQuality(x, config));
}

}  // namespace
}  // namespace pulse::dsp
