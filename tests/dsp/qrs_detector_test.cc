// Behaviour of the streaming QRS detector on signals whose beats are known by
// construction: every beat found, nothing else, at every supported rate; the
// same beats for any chunking; a bounded latency; clean Reset().
#include "pulse/dsp/qrs_detector.h"

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include <gtest/gtest.h>

namespace pulse::dsp {
namespace {

struct SyntheticEcg {
  std::vector<float> interleaved_mv;
  std::vector<std::int64_t> beats;  // frame of each R peak
};

// A crude but physiologically scaled ECG: per beat a P wave (0.15 mV, 100 ms
// before R... 200 ms), a QRS made of Q, R, S Gaussians (R 1.2 mV, ~80 ms
// wide), a T wave (0.3 mV, 300 ms after R), plus baseline wander (0.3 Hz,
// 0.4 mV) and white noise. RR varies ±8 % around 60/heart_rate.
SyntheticEcg MakeEcg(double rate_hz, int leads, double heart_rate_bpm,
                     double seconds, double noise_mv, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> jitter(-0.08, 0.08);
  std::normal_distribution<double> noise(0.0, noise_mv);
  const auto frames = static_cast<std::int64_t>(seconds * rate_hz);
  SyntheticEcg ecg;
  ecg.interleaved_mv.assign(static_cast<std::size_t>(frames * leads), 0.0f);
  const double rr_s = 60.0 / heart_rate_bpm;
  std::vector<double> beat_times;
  for (double t = 0.6; t < seconds - 0.6; t += rr_s * (1.0 + jitter(rng))) {
    beat_times.push_back(t);
    ecg.beats.push_back(std::llround(t * rate_hz));
  }
  auto gauss = [](double t, double centre, double width, double amp) {
    const double z = (t - centre) / width;
    return amp * std::exp(-0.5 * z * z);
  };
  for (std::int64_t i = 0; i < frames; ++i) {
    const double t = static_cast<double>(i) / rate_hz;
    double v = 0.4 * std::sin(2.0 * M_PI * 0.3 * t);
    for (double b : beat_times) {
      if (std::fabs(t - b) > 0.6) continue;
      v += gauss(t, b - 0.16, 0.025, 0.15);   // P
      v += gauss(t, b - 0.025, 0.008, -0.15);  // Q
      v += gauss(t, b, 0.010, 1.2);            // R
      v += gauss(t, b + 0.025, 0.008, -0.3);   // S
      v += gauss(t, b + 0.30, 0.045, 0.3);     // T
    }
    for (int l = 0; l < leads; ++l) {
      // Leads differ in gain and sign, as real leads do.
      const double gain = (l % 2 == 0 ? 1.0 : -0.6) * (1.0 - 0.05 * l);
      ecg.interleaved_mv[static_cast<std::size_t>(i * leads + l)] =
          static_cast<float>(gain * v + noise(rng));
    }
  }
  return ecg;
}

std::vector<QrsDetection> DetectAll(QrsDetector& detector,
                                    const std::vector<float>& samples,
                                    std::size_t chunk_frames) {
  const auto leads = static_cast<std::size_t>(detector.config().num_leads);
  std::vector<QrsDetection> out;
  for (std::size_t i = 0; i < samples.size(); i += chunk_frames * leads) {
    const std::size_t n = std::min(chunk_frames * leads, samples.size() - i);
    detector.Process(std::span<const float>(samples.data() + i, n), &out);
  }
  detector.Finish(&out);
  return out;
}

// Counts beats matched within 50 ms, and unmatched detections.
void ExpectFindsEveryBeat(const SyntheticEcg& ecg,
                          const std::vector<QrsDetection>& found,
                          double rate_hz) {
  const auto tolerance = static_cast<std::int64_t>(0.05 * rate_hz);
  std::size_t j = 0;
  int missed = 0;
  int extra = 0;
  for (std::int64_t beat : ecg.beats) {
    while (j < found.size() && found[j].sample < beat - tolerance) {
      ++extra;
      ++j;
    }
    if (j < found.size() && std::llabs(found[j].sample - beat) <= tolerance) {
      ++j;
    } else {
      ++missed;
      ADD_FAILURE() << "missed the beat at frame " << beat;
    }
  }
  extra += static_cast<int>(found.size() - j);
  EXPECT_EQ(missed, 0) << "of " << ecg.beats.size() << " beats at "
                       << rate_hz << " Hz";
  EXPECT_EQ(extra, 0) << "false detections at " << rate_hz << " Hz";
}

TEST(QrsDetectorTest, RejectsSampleRateOutsideRange) {
  for (double rate : {0.0, 79.9, 1000.1, -360.0, std::nan("")}) {
    auto detector = QrsDetector::Create({rate, 1});
    ASSERT_FALSE(detector.has_value()) << rate;
    EXPECT_EQ(detector.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(detector.error().message().find("sample_rate_hz"),
              std::string::npos);
  }
}

TEST(QrsDetectorTest, RejectsLeadCountOutsideRange) {
  for (int leads : {0, -1, 13}) {
    auto detector = QrsDetector::Create({360.0, leads});
    ASSERT_FALSE(detector.has_value()) << leads;
    EXPECT_NE(detector.error().message().find("num_leads"),
              std::string::npos);
  }
}

TEST(QrsDetectorTest, FindsEveryBeatAtEverySupportedRate) {
  for (double rate : {80.0, 128.0, 250.0, 360.0, 500.0, 1000.0}) {
    const SyntheticEcg ecg = MakeEcg(rate, 2, 72.0, 60.0, 0.02, 7);
    auto detector = QrsDetector::Create({rate, 2}).value();
    ExpectFindsEveryBeat(ecg, DetectAll(detector, ecg.interleaved_mv, 1000),
                         rate);
  }
}

TEST(QrsDetectorTest, FindsEveryBeatFromBradycardiaToTachycardia) {
  for (double bpm : {35.0, 50.0, 100.0, 150.0, 190.0}) {
    const SyntheticEcg ecg = MakeEcg(500.0, 1, bpm, 90.0, 0.02, 11);
    auto detector = QrsDetector::Create({500.0, 1}).value();
    SCOPED_TRACE(bpm);
    ExpectFindsEveryBeat(ecg, DetectAll(detector, ecg.interleaved_mv, 512),
                         500.0);
  }
}

TEST(QrsDetectorTest, SameBeatsForAnyChunking) {
  const std::uint32_t seed =
      static_cast<std::uint32_t>(::testing::UnitTest::GetInstance()->random_seed());
  std::mt19937 rng(seed);
  const SyntheticEcg ecg = MakeEcg(360.0, 3, 80.0, 40.0, 0.05, seed);
  auto reference_detector = QrsDetector::Create({360.0, 3}).value();
  const std::vector<QrsDetection> reference =
      DetectAll(reference_detector, ecg.interleaved_mv, ecg.beats.size() * 1000);
  ASSERT_FALSE(reference.empty());
  std::uniform_int_distribution<std::size_t> chunk(1, 700);
  for (int trial = 0; trial < 20; ++trial) {
    auto detector = QrsDetector::Create({360.0, 3}).value();
    std::vector<QrsDetection> out;
    const std::size_t total_frames = ecg.interleaved_mv.size() / 3;
    for (std::size_t frame = 0; frame < total_frames;) {
      const std::size_t n = std::min(chunk(rng), total_frames - frame);
      detector.Process(
          std::span<const float>(ecg.interleaved_mv.data() + frame * 3, n * 3),
          &out);
      frame += n;
    }
    detector.Finish(&out);
    ASSERT_EQ(out.size(), reference.size()) << "seed " << seed;
    for (std::size_t i = 0; i < out.size(); ++i) {
      ASSERT_EQ(out[i].sample, reference[i].sample) << "seed " << seed;
      ASSERT_EQ(out[i].strength, reference[i].strength) << "seed " << seed;
    }
  }
}

TEST(QrsDetectorTest, EmitsEveryBeatWithinTheStatedLatency) {
  const SyntheticEcg ecg = MakeEcg(500.0, 2, 45.0, 60.0, 0.02, 3);
  auto detector = QrsDetector::Create({500.0, 2}).value();
  const std::int64_t bound = detector.max_latency_frames();
  EXPECT_LE(bound, 5 * 500) << "latency bound should stay a few seconds";
  std::vector<QrsDetection> out;
  const std::int64_t frames =
      static_cast<std::int64_t>(ecg.interleaved_mv.size() / 2);
  for (std::int64_t frame = 0; frame < frames; ++frame) {
    const std::size_t before = out.size();
    detector.Process(std::span<const float>(
                         ecg.interleaved_mv.data() + frame * 2, 2),
                     &out);
    for (std::size_t i = before; i < out.size(); ++i) {
      EXPECT_LE(frame - out[i].sample, bound);
    }
  }
  detector.Finish(&out);
  ExpectFindsEveryBeat(ecg, out, 500.0);
}

TEST(QrsDetectorTest, DetectionsAscendAndCarryStrength) {
  const SyntheticEcg ecg = MakeEcg(250.0, 1, 90.0, 60.0, 0.05, 5);
  auto detector = QrsDetector::Create({250.0, 1}).value();
  const auto out = DetectAll(detector, ecg.interleaved_mv, 100);
  ASSERT_GT(out.size(), 10u);
  for (std::size_t i = 1; i < out.size(); ++i) {
    EXPECT_GT(out[i].sample, out[i - 1].sample);
  }
  for (const QrsDetection& d : out) EXPECT_GE(d.strength, 0.5f);
}

TEST(QrsDetectorTest, FlatLineHasNoBeats) {
  for (float level : {0.0f, 1.5f, -3.0f}) {
    std::vector<float> flat(360 * 30 * 2, level);
    auto detector = QrsDetector::Create({360.0, 2}).value();
    EXPECT_TRUE(DetectAll(detector, flat, 256).empty()) << level;
  }
}

TEST(QrsDetectorTest, ResetGivesTheSameBeatsAsAFreshDetector) {
  const SyntheticEcg first = MakeEcg(360.0, 2, 120.0, 30.0, 0.03, 1);
  const SyntheticEcg second = MakeEcg(360.0, 2, 60.0, 30.0, 0.03, 2);
  auto fresh = QrsDetector::Create({360.0, 2}).value();
  const auto expected = DetectAll(fresh, second.interleaved_mv, 333);
  auto reused = QrsDetector::Create({360.0, 2}).value();
  DetectAll(reused, first.interleaved_mv, 333);
  reused.Reset();
  const auto got = DetectAll(reused, second.interleaved_mv, 333);
  ASSERT_EQ(got.size(), expected.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].sample, expected[i].sample);
  }
}

TEST(QrsDetectorTest, RecoversWhenTheBeatsShrinkSuddenly) {
  // A lead whose gain drops tenfold mid-record (electrode contact, gain
  // switch): after a few seconds every beat must be found again.
  SyntheticEcg ecg = MakeEcg(360.0, 1, 75.0, 120.0, 0.005, 9);
  const std::size_t half = ecg.interleaved_mv.size() / 2;
  for (std::size_t i = half; i < ecg.interleaved_mv.size(); ++i) {
    ecg.interleaved_mv[i] *= 0.1f;
  }
  auto detector = QrsDetector::Create({360.0, 1}).value();
  const auto out = DetectAll(detector, ecg.interleaved_mv, 4096);
  const auto settle = static_cast<std::int64_t>(half + 10 * 360);
  SyntheticEcg tail;
  for (std::int64_t b : ecg.beats)
    if (b >= settle + 36) tail.beats.push_back(b);
  std::vector<QrsDetection> tail_found;
  for (const QrsDetection& d : out)
    if (d.sample >= settle) tail_found.push_back(d);
  ExpectFindsEveryBeat(tail, tail_found, 360.0);
}

TEST(QrsDetectorTest, FindsEveryBeatAgainAfterANoiseBurst) {
  // 8 s of heavy muscle-like noise (1 mV RMS, several times the QRS slope
  // energy) in every lead: within a few seconds after it the detector must
  // have re-adapted and find every beat, with no false detections.
  SyntheticEcg ecg = MakeEcg(500.0, 2, 70.0, 90.0, 0.01, 21);
  std::mt19937 rng(4);
  std::normal_distribution<float> noise(0.0f, 1.0f);
  const std::size_t burst_begin = 30 * 500 * 2;
  const std::size_t burst_end = 38 * 500 * 2;
  for (std::size_t i = burst_begin; i < burst_end; ++i) {
    ecg.interleaved_mv[i] += noise(rng);
  }
  auto detector = QrsDetector::Create({500.0, 2}).value();
  const auto out = DetectAll(detector, ecg.interleaved_mv, 250);
  const std::int64_t settle = 38 * 500 + 5 * 500;
  SyntheticEcg tail;
  for (std::int64_t b : ecg.beats)
    if (b >= settle + 25) tail.beats.push_back(b);
  std::vector<QrsDetection> tail_found;
  for (const QrsDetection& d : out)
    if (d.sample >= settle) tail_found.push_back(d);
  ExpectFindsEveryBeat(tail, tail_found, 500.0);
}

TEST(QrsDetectorTest, LatencyBoundIsAboutThreeSecondsAtEveryRate) {
  for (double rate : {80.0, 360.0, 500.0, 1000.0}) {
    auto detector = QrsDetector::Create({rate, 1}).value();
    const double seconds =
        static_cast<double>(detector.max_latency_frames()) / rate;
    EXPECT_GE(seconds, 3.0) << rate;
    EXPECT_LE(seconds, 3.3) << rate;
  }
}

}  // namespace
}  // namespace pulse::dsp
