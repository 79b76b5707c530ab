// Tests for biquad.h: the designs against closed forms (bilinear-warped
// Butterworth magnitude, exact notch bandwidth), the cascade's processing
// (measured sinusoid gains equal the analytic response; chunking, per-sample
// and in-place processing are bit-identical; Reset(); channel independence)
// and the reason the state is double.
#include "pulse/dsp/biquad.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <complex>
#include <cstddef>
#include <iostream>
#include <limits>
#include <numbers>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "support/sine_response.h"

namespace pulse::dsp {
namespace {

constexpr double kPi = std::numbers::pi;
constexpr double kSampleRatesHz[] = {80.0, 128.0, 250.0, 360.0, 500.0, 1000.0};

// The test framework's seed (time-based unless --gtest_random_seed=N is
// given), printed so that a failure can be rerun with the same input.
unsigned TestSeed() {
  const int seed = ::testing::UnitTest::GetInstance()->random_seed();
  std::cout << "random_seed = " << seed
            << " (rerun with --gtest_random_seed=" << seed << ")\n";
  return static_cast<unsigned>(seed);
}

double Db(double magnitude) { return 20.0 * std::log10(magnitude); }

using ::pulse::testing::FittedAmplitude;
using ::pulse::testing::MaxPoleRadius;
using ::pulse::testing::SettlingFrames;

// Runs a unit sinusoid at `frequency_hz` through `cascade` (channel 0 of 1)
// with ProcessBlock and returns the steady-state output amplitude.
double MeasuredGain(BiquadCascade& cascade, double sample_rate_hz,
                    double frequency_hz) {
  const double w = 2.0 * kPi * frequency_hz / sample_rate_hz;
  const std::size_t settle = SettlingFrames(cascade.sections());
  const std::size_t window = std::max<std::size_t>(
      2000, static_cast<std::size_t>(8.0 * sample_rate_hz / frequency_hz));
  std::vector<float> signal(settle + window);
  for (std::size_t n = 0; n < signal.size(); ++n) {
    signal[n] = static_cast<float>(std::sin(w * static_cast<double>(n)));
  }
  cascade.Reset();
  cascade.ProcessBlock(signal, signal);
  return FittedAmplitude(signal, 1, settle, signal.size() - settle, 0, w);
}

std::vector<float> RandomSignal(std::mt19937& rng, std::size_t size) {
  std::normal_distribution<float> noise(0.0f, 1.0f);
  std::vector<float> signal(size);
  for (float& s : signal) s = 5.0f + noise(rng);  // electrode-offset-like DC
  return signal;
}

// A cascade of every kind of section, for the processing properties.
std::vector<BiquadCoefficients> MixedSections(double sample_rate_hz) {
  std::vector<BiquadCoefficients> sections =
      *DesignButterworthHighPass(sample_rate_hz, 0.5, 4);
  sections.push_back(*DesignNotch(sample_rate_hz, 0.3 * sample_rate_hz, 2.0));
  const std::vector<BiquadCoefficients> lowpass =
      *DesignButterworthLowPass(sample_rate_hz, 0.35 * sample_rate_hz, 4);
  sections.insert(sections.end(), lowpass.begin(), lowpass.end());
  return sections;
}

class BiquadTest : public ::testing::Test {};

class BiquadRateTest : public ::testing::TestWithParam<double> {};

std::string RateName(const ::testing::TestParamInfo<double>& info) {
  return std::to_string(static_cast<int>(info.param)) + "Hz";
}

INSTANTIATE_TEST_SUITE_P(EcgRates, BiquadRateTest,
                         ::testing::ValuesIn(kSampleRatesHz), RateName);

TEST_F(BiquadTest, ButterworthSectionQsMatchPolePairAngles) {
  EXPECT_NEAR(ButterworthSectionQ(2, 0), 1.0 / std::sqrt(2.0), 1e-15);
  EXPECT_NEAR(ButterworthSectionQ(4, 0), 0.541196100146197, 1e-14);
  EXPECT_NEAR(ButterworthSectionQ(4, 1), 1.306562964876377, 1e-14);
  EXPECT_NEAR(ButterworthSectionQ(6, 0), 0.517638090205041, 1e-14);
  EXPECT_NEAR(ButterworthSectionQ(6, 1), 1.0 / std::sqrt(2.0), 1e-14);
  EXPECT_NEAR(ButterworthSectionQ(6, 2), 1.931851652578137, 1e-14);
}

// A bilinear-transformed Butterworth prewarped at fc has exactly
// |H(f)|^2 = 1 / (1 + (tan(pi f / fs) / tan(pi fc / fs))^(+-2N)).
TEST_P(BiquadRateTest, ButterworthMagnitudeMatchesWarpedAnalogPrototype) {
  const double fs = GetParam();
  for (int order = 2; order <= 8; order += 2) {
    for (double cutoff_hz : {0.05, 0.5, 1.0, 10.0, 0.25 * fs, 0.45 * fs}) {
      SCOPED_TRACE("order " + std::to_string(order) + ", cutoff " +
                   std::to_string(cutoff_hz) + " Hz");
      const auto lowpass = DesignButterworthLowPass(fs, cutoff_hz, order);
      const auto highpass = DesignButterworthHighPass(fs, cutoff_hz, order);
      ASSERT_TRUE(lowpass.has_value());
      ASSERT_TRUE(highpass.has_value());
      EXPECT_EQ(lowpass->size(), static_cast<std::size_t>(order / 2));
      // Tolerances: at cutoff_hz / fs = 5e-5 the denominator 1 + a1 + a2
      // is ~(2 pi f / fs)^2 = 1e-7, so coefficient rounding (1e-16) moves the
      // response by ~1e-9 relative; nothing a patient would notice.
      EXPECT_NEAR(MagnitudeDb(*lowpass, fs, cutoff_hz), Db(std::sqrt(0.5)),
                  1e-6);
      EXPECT_NEAR(MagnitudeDb(*highpass, fs, cutoff_hz), Db(std::sqrt(0.5)),
                  1e-6);
      EXPECT_NEAR(std::abs(FrequencyResponse(*lowpass, fs, 0.0)), 1.0, 1e-7);
      EXPECT_NEAR(std::abs(FrequencyResponse(*highpass, fs, fs / 2.0)), 1.0,
                  1e-7);
      for (double f = fs / 1000.0; f < 0.49 * fs; f *= 1.1) {
        const double ratio =
            std::tan(kPi * f / fs) / std::tan(kPi * cutoff_hz / fs);
        const double lp_db = -10.0 * std::log10(1.0 + std::pow(ratio, 2 * order));
        const double hp_db =
            -10.0 * std::log10(1.0 + std::pow(ratio, -2 * order));
        // Deep in the stop band rounding dominates; the mask only needs
        // agreement down to -150 dB.
        if (lp_db > -150.0) {
          EXPECT_NEAR(MagnitudeDb(*lowpass, fs, f), lp_db, 1e-6) << f << " Hz";
        }
        if (hp_db > -150.0) {
          EXPECT_NEAR(MagnitudeDb(*highpass, fs, f), hp_db, 1e-6)
              << f << " Hz";
        }
      }
    }
  }
}

TEST_P(BiquadRateTest, SingleSectionGainAtCutoffEqualsQ) {
  const double fs = GetParam();
  for (double q : {0.5, 0.7071, 2.0, 10.0}) {
    const auto lowpass = DesignLowPass(fs, 0.2 * fs, q);
    const auto highpass = DesignHighPass(fs, 0.2 * fs, q);
    ASSERT_TRUE(lowpass.has_value());
    ASSERT_TRUE(highpass.has_value());
    EXPECT_NEAR(std::abs(FrequencyResponse(*lowpass, fs, 0.2 * fs)), q, 1e-12);
    EXPECT_NEAR(std::abs(FrequencyResponse(*highpass, fs, 0.2 * fs)), q,
                1e-12);
  }
}

// Returns the frequency in (lo, hi) where |H| crosses 1/sqrt(2), by
// bisection; `rising` tells the direction of the crossing.
double HalfPowerCrossing(const BiquadCoefficients& notch, double fs,
                         double lo, double hi, bool rising) {
  for (int i = 0; i < 200; ++i) {
    const double mid = (lo + hi) / 2.0;
    const bool above = std::abs(FrequencyResponse(notch, fs, mid)) >
                       std::sqrt(0.5);
    if (above == rising) {
      hi = mid;
    } else {
      lo = mid;
    }
  }
  return (lo + hi) / 2.0;
}

TEST_P(BiquadRateTest, NotchIsNullAtCenterWithExactMinus3DbBandwidth) {
  const double fs = GetParam();
  for (double center_hz : {50.0, 60.0, 0.3 * fs}) {
    if (center_hz >= fs / 2.0) continue;
    for (double bandwidth_hz : {0.5, 2.0, 5.0}) {
      SCOPED_TRACE("center " + std::to_string(center_hz) + " Hz, bandwidth " +
                   std::to_string(bandwidth_hz) + " Hz");
      const auto notch = DesignNotch(fs, center_hz, bandwidth_hz);
      ASSERT_TRUE(notch.has_value());
      EXPECT_LT(std::abs(FrequencyResponse(*notch, fs, center_hz)), 1e-9);
      EXPECT_NEAR(std::abs(FrequencyResponse(*notch, fs, 0.0)), 1.0, 1e-12);
      EXPECT_NEAR(std::abs(FrequencyResponse(*notch, fs, fs / 2.0)), 1.0,
                  1e-12);
      const double lower_edge_hz =
          HalfPowerCrossing(*notch, fs, 1e-6, center_hz, /*rising=*/false);
      const double upper_edge_hz = HalfPowerCrossing(
          *notch, fs, center_hz, fs / 2.0 - 1e-6, /*rising=*/true);
      // The edges are symmetric in tan(pi f / fs), not in f: only their
      // distance is the designed quantity.
      EXPECT_NEAR(upper_edge_hz - lower_edge_hz, bandwidth_hz, 1e-6);
    }
  }
}

TEST_F(BiquadTest, DesignsRejectOutOfRangeParametersNamingTheField) {
  struct Case {
    Result<BiquadCoefficients> result;
    const char* field;
  };
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  const Case cases[] = {
      {DesignLowPass(0.0, 10.0, 0.7), "sample_rate_hz"},
      {DesignLowPass(-360.0, 10.0, 0.7), "sample_rate_hz"},
      {DesignLowPass(nan, 10.0, 0.7), "sample_rate_hz"},
      {DesignLowPass(inf, 10.0, 0.7), "sample_rate_hz"},
      {DesignLowPass(360.0, 0.0, 0.7), "cutoff_hz"},
      {DesignLowPass(360.0, -1.0, 0.7), "cutoff_hz"},
      {DesignLowPass(360.0, 180.0, 0.7), "cutoff_hz"},
      {DesignLowPass(360.0, nan, 0.7), "cutoff_hz"},
      {DesignLowPass(360.0, 10.0, 0.0), "q"},
      {DesignLowPass(360.0, 10.0, nan), "q"},
      {DesignHighPass(360.0, 200.0, 0.7), "cutoff_hz"},
      {DesignHighPass(360.0, 0.5, -0.7), "q"},
      {DesignNotch(100.0, 50.0, 2.0), "center_hz"},
      {DesignNotch(360.0, 50.0, 0.0), "bandwidth_hz"},
      {DesignNotch(360.0, 50.0, inf), "bandwidth_hz"},
  };
  for (const Case& c : cases) {
    ASSERT_FALSE(c.result.has_value()) << c.field;
    EXPECT_EQ(c.result.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(c.result.error().message().find(c.field), std::string::npos)
        << c.result.error().message();
  }
  for (int order : {0, 1, 3, 10, -2}) {
    const auto lowpass = DesignButterworthLowPass(360.0, 10.0, order);
    ASSERT_FALSE(lowpass.has_value()) << order;
    EXPECT_EQ(lowpass.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(lowpass.error().message().find("order"), std::string::npos);
    EXPECT_FALSE(DesignButterworthHighPass(360.0, 0.5, order).has_value());
  }
}

TEST_F(BiquadTest, StabilityFollowsTheCoefficientTriangle) {
  EXPECT_TRUE(IsStable(BiquadCoefficients{}));
  EXPECT_TRUE(IsStable({1.0, 0.0, 0.0, -1.9, 0.95}));
  EXPECT_FALSE(IsStable({1.0, 0.0, 0.0, 0.0, 1.0}));   // poles on |z| = 1
  EXPECT_FALSE(IsStable({1.0, 0.0, 0.0, -2.0, 1.0}));  // double pole at 1
  EXPECT_FALSE(IsStable({1.0, 0.0, 0.0, 1.6, 0.5}));   // real pole < -1
  EXPECT_TRUE(IsStable(*DesignHighPass(1000.0, 0.05, 0.5411961)));
}

TEST_F(BiquadTest, CreateRejectsBadChannelCountsAndSections) {
  const std::vector<BiquadCoefficients> good = {BiquadCoefficients{}};
  for (int channels : {0, -1, kMaxCascadeChannels + 1}) {
    const auto cascade = BiquadCascade::Create(good, channels);
    ASSERT_FALSE(cascade.has_value()) << channels;
    EXPECT_EQ(cascade.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(cascade.error().message().find("num_channels"),
              std::string::npos);
  }
  EXPECT_TRUE(BiquadCascade::Create(good, kMaxCascadeChannels).has_value());

  const auto empty = BiquadCascade::Create({}, 1);
  ASSERT_FALSE(empty.has_value());
  EXPECT_EQ(empty.error().code(), ErrorCode::kInvalidArgument);

  const std::vector<BiquadCoefficients> unstable = {
      BiquadCoefficients{}, {1.0, 0.0, 0.0, -2.0, 1.0}};
  const auto rejected = BiquadCascade::Create(unstable, 1);
  ASSERT_FALSE(rejected.has_value());
  EXPECT_NE(rejected.error().message().find("sections[1]"), std::string::npos)
      << rejected.error().message();

  const std::vector<BiquadCoefficients> not_finite = {
      {std::numeric_limits<double>::quiet_NaN(), 0.0, 0.0, 0.0, 0.0}};
  EXPECT_FALSE(BiquadCascade::Create(not_finite, 1).has_value());
}

TEST_F(BiquadTest, EmptyProductResponseIsUnity) {
  EXPECT_EQ(FrequencyResponse(std::span<const BiquadCoefficients>(), 360.0,
                              10.0),
            std::complex<double>(1.0, 0.0));
}

// Masks checked through the real processing code: every measured
// steady-state gain equals the analytic |H(f)| within 1e-5 (absolute, unit
// input), at pass-band, transition, notch and stop-band frequencies.
TEST_P(BiquadRateTest, MeasuredSinusoidGainMatchesAnalyticResponse) {
  const double fs = GetParam();
  const std::vector<BiquadCoefficients> sections = MixedSections(fs);
  auto cascade = BiquadCascade::Create(sections, 1);
  ASSERT_TRUE(cascade.has_value());
  for (double f : {0.1, 0.5, 2.0, 10.0, 0.3 * fs - 1.0, 0.3 * fs,
                   0.35 * fs, 0.45 * fs}) {
    const double analytic = std::abs(FrequencyResponse(sections, fs, f));
    const double measured = MeasuredGain(*cascade, fs, f);
    EXPECT_NEAR(measured, analytic, 1e-5) << f << " Hz at " << fs << " Hz";
  }
}

TEST_P(BiquadRateTest, ChunkingDoesNotChangeTheOutput) {
  const double fs = GetParam();
  const unsigned seed = TestSeed();
  SCOPED_TRACE("random_seed = " + std::to_string(seed));
  std::mt19937 rng(seed);
  constexpr int kChannels = 3;
  const std::vector<float> input = RandomSignal(rng, 4000 * kChannels);

  auto whole = BiquadCascade::Create(MixedSections(fs), kChannels);
  ASSERT_TRUE(whole.has_value());
  std::vector<float> expected(input.size());
  whole->ProcessBlock(input, expected);

  for (int trial = 0; trial < 20; ++trial) {
    auto chunked = BiquadCascade::Create(MixedSections(fs), kChannels);
    ASSERT_TRUE(chunked.has_value());
    std::vector<float> output(input.size());
    std::uniform_int_distribution<std::size_t> frames(0, 300);
    std::size_t begin = 0;
    while (begin < input.size()) {
      const std::size_t size =
          std::min(frames(rng) * kChannels, input.size() - begin);
      chunked->ProcessBlock(std::span(input).subspan(begin, size),
                            std::span(output).subspan(begin, size));
      begin += size;
    }
    ASSERT_EQ(output, expected) << "trial " << trial;
  }
}

TEST_P(BiquadRateTest, PerSampleProcessingEqualsBlockProcessing) {
  const double fs = GetParam();
  const unsigned seed = TestSeed();
  SCOPED_TRACE("random_seed = " + std::to_string(seed));
  std::mt19937 rng(seed);
  constexpr int kChannels = 2;
  const std::vector<float> input = RandomSignal(rng, 3000 * kChannels);

  auto block = BiquadCascade::Create(MixedSections(fs), kChannels);
  auto per_sample = BiquadCascade::Create(MixedSections(fs), kChannels);
  ASSERT_TRUE(block.has_value());
  ASSERT_TRUE(per_sample.has_value());
  std::vector<float> expected(input.size());
  block->ProcessBlock(input, expected);
  std::vector<float> output(input.size());
  for (std::size_t i = 0; i < input.size(); ++i) {
    output[i] = per_sample->Process(static_cast<int>(i % kChannels), input[i]);
  }
  EXPECT_EQ(output, expected);
}

TEST_F(BiquadTest, InPlaceProcessingEqualsOutOfPlace) {
  const unsigned seed = TestSeed();
  SCOPED_TRACE("random_seed = " + std::to_string(seed));
  std::mt19937 rng(seed);
  const std::vector<float> input = RandomSignal(rng, 2000 * 2);
  auto a = BiquadCascade::Create(MixedSections(360.0), 2);
  auto b = BiquadCascade::Create(MixedSections(360.0), 2);
  ASSERT_TRUE(a.has_value());
  ASSERT_TRUE(b.has_value());
  std::vector<float> out_of_place(input.size());
  a->ProcessBlock(input, out_of_place);
  std::vector<float> in_place = input;
  b->ProcessBlock(in_place, in_place);
  EXPECT_EQ(in_place, out_of_place);
}

TEST_F(BiquadTest, ResetRestoresTheInitialState) {
  const unsigned seed = TestSeed();
  SCOPED_TRACE("random_seed = " + std::to_string(seed));
  std::mt19937 rng(seed);
  const std::vector<float> first = RandomSignal(rng, 1500 * 2);
  const std::vector<float> second = RandomSignal(rng, 1500 * 2);
  auto fresh = BiquadCascade::Create(MixedSections(500.0), 2);
  auto reused = BiquadCascade::Create(MixedSections(500.0), 2);
  ASSERT_TRUE(fresh.has_value());
  ASSERT_TRUE(reused.has_value());
  std::vector<float> scratch(first.size());
  reused->ProcessBlock(first, scratch);
  reused->Reset();
  std::vector<float> expected(second.size());
  std::vector<float> output(second.size());
  fresh->ProcessBlock(second, expected);
  reused->ProcessBlock(second, output);
  EXPECT_EQ(output, expected);
}

TEST_F(BiquadTest, ChannelsAreIndependent) {
  const unsigned seed = TestSeed();
  SCOPED_TRACE("random_seed = " + std::to_string(seed));
  std::mt19937 rng(seed);
  constexpr int kChannels = 4;
  constexpr std::size_t kFrames = 2000;
  std::vector<std::vector<float>> lead(kChannels);
  for (auto& l : lead) l = RandomSignal(rng, kFrames);
  lead[2].assign(kFrames, 0.0f);  // a silent channel must stay silent

  std::vector<float> interleaved(kFrames * kChannels);
  for (std::size_t n = 0; n < kFrames; ++n) {
    for (int c = 0; c < kChannels; ++c) interleaved[n * kChannels + c] = lead[c][n];
  }
  auto multi = BiquadCascade::Create(MixedSections(250.0), kChannels);
  ASSERT_TRUE(multi.has_value());
  multi->ProcessBlock(interleaved, interleaved);

  for (int c = 0; c < kChannels; ++c) {
    auto single = BiquadCascade::Create(MixedSections(250.0), 1);
    ASSERT_TRUE(single.has_value());
    std::vector<float> expected(kFrames);
    single->ProcessBlock(lead[c], expected);
    for (std::size_t n = 0; n < kFrames; ++n) {
      ASSERT_EQ(interleaved[n * kChannels + c], expected[n])
          << "channel " << c << " frame " << n;
    }
  }
  for (std::size_t n = 0; n < kFrames; ++n) {
    ASSERT_EQ(interleaved[n * kChannels + 2], 0.0f);
  }
}

// DF-II transposed with float coefficients and state, as a single-precision
// implementation would be written.
struct FloatBiquad {
  float b0, b1, b2, a1, a2;
  float s1 = 0.0f;
  float s2 = 0.0f;
  float Step(float x) {
    const float y = b0 * x + s1;
    s1 = b1 * x - a1 * y + s2;
    s2 = b2 * x - a2 * y;
    return y;
  }
};

// Why BiquadCascade keeps double state: a 0.05 Hz (diagnostic) high-pass at
// 1000 Hz has its poles 2.2e-4 from z = 1. Fed a 5 mV electrode offset plus
// a 1 mV, 10 Hz tone, the double cascade stays within 0.1 uV of a
// long-double reference, while float arithmetic errs by more than 10 uV,
// i.e. several steps of a 5 uV ADC (MIT-BIH: 200 adu/mV).
TEST_F(BiquadTest, DoubleStateKeepsADeepHighPassAccurateWhereFloatFails) {
  constexpr double kFs = 1000.0;
  const auto sections = DesignButterworthHighPass(kFs, 0.05, 2);
  ASSERT_TRUE(sections.has_value());
  const BiquadCoefficients& c = sections->front();
  auto cascade = BiquadCascade::Create(*sections, 1);
  ASSERT_TRUE(cascade.has_value());
  FloatBiquad single{static_cast<float>(c.b0), static_cast<float>(c.b1),
                     static_cast<float>(c.b2), static_cast<float>(c.a1),
                     static_cast<float>(c.a2)};
  long double s1 = 0.0L;
  long double s2 = 0.0L;

  double max_double_error_mv = 0.0;
  double max_float_error_mv = 0.0;
  constexpr int kFrames = 400000;  // 400 s: 20 time constants and more
  for (int n = 0; n < kFrames; ++n) {
    const float x = static_cast<float>(
        5.0 + std::sin(2.0 * kPi * 10.0 * static_cast<double>(n) / kFs));
    const long double reference = c.b0 * static_cast<long double>(x) + s1;
    s1 = c.b1 * static_cast<long double>(x) - c.a1 * reference + s2;
    s2 = c.b2 * static_cast<long double>(x) - c.a2 * reference;
    const float y = cascade->Process(0, x);
    const float y_single = single.Step(x);
    if (n >= kFrames / 2) {
      max_double_error_mv = std::max(
          max_double_error_mv, static_cast<double>(std::abs(y - reference)));
      max_float_error_mv =
          std::max(max_float_error_mv,
                   static_cast<double>(std::abs(y_single - reference)));
    }
  }
  EXPECT_LT(max_double_error_mv, 1e-4);
  EXPECT_GT(max_float_error_mv, 1e-2);
  std::cout << "0.05 Hz high-pass at 1000 Hz, max error: double state "
            << max_double_error_mv * 1000.0 << " uV, float "
            << max_float_error_mv * 1000.0 << " uV\n";
}

}  // namespace
}  // namespace pulse::dsp
