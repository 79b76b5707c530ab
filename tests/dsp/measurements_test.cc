// Global measurements against ground truth known by construction: synthetic
// ECGs (ecg_synth.h) averaged into a median beat with the generator's exact
// fiducials, and hand-drawn median beats whose amplitudes are set exactly.
#include "pulse/dsp/measurements.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "pulse/dsp/ecg_synth.h"
#include "support/synth_ecg.h"

namespace pulse::dsp {
namespace {

using ::pulse::testing::Synthesize;

constexpr double kRateHz = 500.0;

EcgSynthConfig CleanConfig() {
  EcgSynthConfig c;
  c.sample_rate_hz = kRateHz;
  c.duration_s = 12.0;
  c.noise_uv = 0.0;
  c.af_fwave_uv = 0.0;
  return c;
}

std::vector<ClassifiedBeat> ToClassified(const SynthEcg& ecg) {
  std::vector<ClassifiedBeat> out;
  for (const SynthBeat& b : ecg.beats) {
    out.push_back({b.r_sample,
                   b.beat_class == SynthBeatClass::kNormal
                       ? BeatClass::kNormal
                       : BeatClass::kVentricular,
                   1.0f});
  }
  return out;
}

struct SynthMedian {
  MedianBeatSet set;
  WaveFiducials global;
};

// Average of the noise-free sinus beats aligned on their R sample, with the
// generator's fiducials of the middle beat mapped into the window.
SynthMedian MedianFromSynth(const SynthEcg& ecg) {
  const auto pre = static_cast<std::int64_t>(0.45 * ecg.sample_rate_hz);
  const auto post = static_cast<std::int64_t>(0.65 * ecg.sample_rate_hz);
  SynthMedian m;
  m.set.sample_rate_hz = ecg.sample_rate_hz;
  m.set.num_leads = kNumStandardLeads;
  m.set.length_frames = pre + post + 1;
  m.set.fiducial_index = pre;
  std::vector<double> sum(
      static_cast<std::size_t>(kNumStandardLeads * m.set.length_frames), 0.0);
  std::vector<const SynthBeat*> used;
  for (const SynthBeat& b : ecg.beats) {
    if (b.beat_class != SynthBeatClass::kNormal || b.in_af) continue;
    if (b.r_sample - pre < 0 || b.r_sample + post >= ecg.num_frames()) continue;
    used.push_back(&b);
    for (int lead = 0; lead < kNumStandardLeads; ++lead) {
      for (std::int64_t i = 0; i < m.set.length_frames; ++i) {
        sum[static_cast<std::size_t>(lead * m.set.length_frames + i)] +=
            ecg.at(b.r_sample - pre + i, static_cast<SynthLead>(lead));
      }
    }
  }
  EXPECT_FALSE(used.empty());
  for (double s : sum) {
    m.set.samples_mv.push_back(
        static_cast<float>(s / static_cast<double>(used.size())));
  }
  m.set.beats_used = static_cast<int>(used.size());
  const SynthBeat& mid = *used[used.size() / 2];
  auto map = [&](std::int64_t f) { return f < 0 ? -1 : f - mid.r_sample + pre; };
  m.global = {map(mid.p_on), map(mid.p_off), map(mid.qrs_on),
              map(mid.qrs_off), map(mid.t_off)};
  return m;
}

EcgMeasurements Measure(const SynthEcg& ecg, const MeasurementOptions& o = {}) {
  const SynthMedian m = MedianFromSynth(ecg);
  const std::vector<ClassifiedBeat> beats = ToClassified(ecg);
  auto r = ComputeMeasurements(m.set, m.global, beats, o);
  EXPECT_TRUE(r.has_value()) << r.error().ToString();
  return std::move(r).value();
}

double AngleDiffDeg(double a, double b) {
  double d = std::fmod(a - b, 360.0);
  if (d > 180.0) d -= 360.0;
  if (d < -180.0) d += 360.0;
  return std::abs(d);
}

// Every optional that holds a value holds a finite one.
void ExpectAllFinite(const EcgMeasurements& m) {
  const std::optional<double> values[] = {
      m.heart_rate_bpm,    m.mean_rr_ms,        m.p_duration_ms,
      m.pr_interval_ms,    m.qrs_duration_ms,   m.qt_interval_ms,
      m.p_axis_deg,        m.qrs_axis_deg,      m.t_axis_deg,
      m.r_amplitude_v5_mv, m.r_amplitude_v6_mv, m.s_amplitude_v1_mv,
      m.sokolow_lyon_mv,   m.sdnn_ms,           m.rmssd_ms};
  for (const auto& v : values) {
    if (v) {
      EXPECT_TRUE(std::isfinite(*v));
    }
  }
  for (const auto& v : m.st_level_mv) {
    if (v) {
      EXPECT_TRUE(std::isfinite(*v));
    }
  }
  if (m.qtc_bazett) {
    EXPECT_TRUE(std::isfinite(m.qtc_bazett->qtc_ms));
  }
  if (m.qtc_fridericia) {
    EXPECT_TRUE(std::isfinite(m.qtc_fridericia->qtc_ms));
  }
}

TEST(MeasurementsTest, IntervalsMatchConfiguredTruth) {
  struct Case {
    double hr_bpm, pr_ms, qrs_ms, qt_ms;
  };
  const Case cases[] = {{60, 160, 90, 400},  {75, 200, 110, 380},
                        {50, 240, 140, 460}, {100, 120, 80, 320},
                        {140, 110, 70, 280}};
  const double two_samples_ms = 2000.0 / kRateHz;
  for (const Case& c : cases) {
    EcgSynthConfig config = CleanConfig();
    config.heart_rate_bpm = c.hr_bpm;
    config.pr_ms = c.pr_ms;
    config.qrs_ms = c.qrs_ms;
    config.qt_ms = c.qt_ms;
    const EcgMeasurements m = Measure(Synthesize(config));
    SCOPED_TRACE("HR " + std::to_string(c.hr_bpm));
    ASSERT_TRUE(m.pr_interval_ms && m.qrs_duration_ms && m.qt_interval_ms &&
                m.p_duration_ms);
    EXPECT_NEAR(*m.pr_interval_ms, c.pr_ms, two_samples_ms);
    EXPECT_NEAR(*m.qrs_duration_ms, c.qrs_ms, two_samples_ms);
    EXPECT_NEAR(*m.qt_interval_ms, c.qt_ms, two_samples_ms);
    // The generator's P wave lasts min(110 ms, 0.55 PR).
    EXPECT_NEAR(*m.p_duration_ms, std::min(110.0, 0.55 * c.pr_ms),
                two_samples_ms);
    ExpectAllFinite(m);
  }
}

TEST(MeasurementsTest, HeartRateMatchesConfiguredRate) {
  for (double hr : {35.0, 48.0, 60.0, 72.0, 100.0, 130.0, 170.0}) {
    for (double rate_hz : {250.0, 500.0, 1000.0}) {
      EcgSynthConfig config = CleanConfig();
      config.sample_rate_hz = rate_hz;
      config.duration_s = 20.0;
      config.heart_rate_bpm = hr;
      config.pr_ms = 120.0;
      config.qt_ms = hr > 120 ? 220.0 : 300.0;
      const EcgMeasurements m = Measure(Synthesize(config));
      SCOPED_TRACE(std::to_string(hr) + " bpm at " + std::to_string(rate_hz));
      ASSERT_TRUE(m.heart_rate_bpm && m.mean_rr_ms);
      EXPECT_EQ(m.rate_source, RateSource::kNormalToNormal);
      // Beat times are rounded to the sample; the mean RR drifts by at most
      // one sample over the record.
      EXPECT_NEAR(*m.mean_rr_ms, 60000.0 / hr, 1000.0 / rate_hz);
      EXPECT_NEAR(*m.heart_rate_bpm, 60000.0 / *m.mean_rr_ms, 1e-9);
    }
  }
}

TEST(MeasurementsTest, QtcFormulasAreExactOnMeasuredQtAndRr) {
  for (double hr : {50.0, 75.0, 110.0}) {
    EcgSynthConfig config = CleanConfig();
    config.heart_rate_bpm = hr;
    config.pr_ms = 140.0;
    config.qt_ms = 340.0;
    const EcgMeasurements m = Measure(Synthesize(config));
    ASSERT_TRUE(m.qt_interval_ms && m.mean_rr_ms && m.qtc_bazett &&
                m.qtc_fridericia);
    const double rr_s = *m.mean_rr_ms / 1000.0;
    EXPECT_EQ(m.qtc_bazett->formula, QtcFormula::kBazett);
    EXPECT_EQ(m.qtc_fridericia->formula, QtcFormula::kFridericia);
    EXPECT_DOUBLE_EQ(m.qtc_bazett->qtc_ms, *m.qt_interval_ms / std::sqrt(rr_s));
    EXPECT_DOUBLE_EQ(m.qtc_fridericia->qtc_ms,
                     *m.qt_interval_ms / std::cbrt(rr_s));
    // Below 60/min (RR > 1 s) the corrections shorten QT, above they
    // lengthen it, Bazett more than Fridericia.
    if (hr < 60) {
      EXPECT_LT(m.qtc_bazett->qtc_ms, m.qtc_fridericia->qtc_ms);
      EXPECT_LT(m.qtc_fridericia->qtc_ms, *m.qt_interval_ms);
    }
    if (hr > 60) {
      EXPECT_GT(m.qtc_bazett->qtc_ms, m.qtc_fridericia->qtc_ms);
      EXPECT_GT(m.qtc_fridericia->qtc_ms, *m.qt_interval_ms);
    }
  }
  EXPECT_EQ(QtcFormulaName(QtcFormula::kBazett), "Bazett");
  EXPECT_EQ(QtcFormulaName(QtcFormula::kFridericia), "Fridericia");
  EXPECT_EQ(QtcFormulaExpression(QtcFormula::kBazett), "QT/RR^(1/2)");
  EXPECT_EQ(QtcFormulaExpression(QtcFormula::kFridericia), "QT/RR^(1/3)");
  EXPECT_DOUBLE_EQ(*CorrectQt(QtcFormula::kBazett, 400.0, 1000.0), 400.0);
  EXPECT_DOUBLE_EQ(*CorrectQt(QtcFormula::kFridericia, 400.0, 1000.0), 400.0);
  EXPECT_FALSE(CorrectQt(QtcFormula::kBazett, 400.0, 0.0));
  EXPECT_FALSE(CorrectQt(QtcFormula::kBazett,
                         std::numeric_limits<double>::quiet_NaN(), 800.0));
}

// The generator puts Q, R, S and T along the configured frontal direction
// and P along +60°, so the net-area axes are known. Clean: the hexaxial
// formula must be exact (1° allows for float samples and truncated tails);
// with noise and baseline wander the clinical tolerance of 10° applies.
TEST(MeasurementsTest, FrontalAxesFollowConfiguredAxis) {
  for (double axis : {-90.0, -30.0, 0.0, 60.0, 90.0, 120.0, 150.0, 180.0}) {
    for (bool noisy : {false, true}) {
      EcgSynthConfig config = CleanConfig();
      config.frontal_axis_deg = axis;
      const double tolerance_deg = noisy ? 10.0 : 1.0;
      if (noisy) {
        config.duration_s = 30.0;
        config.noise_uv = 30.0;
        config.baseline_wander_uv = 300.0;
      }
      const EcgMeasurements m = Measure(Synthesize(config));
      SCOPED_TRACE("axis " + std::to_string(axis) + (noisy ? " noisy" : ""));
      ASSERT_TRUE(m.qrs_axis_deg && m.t_axis_deg && m.p_axis_deg);
      EXPECT_LT(AngleDiffDeg(*m.qrs_axis_deg, axis), tolerance_deg)
          << *m.qrs_axis_deg;
      EXPECT_LT(AngleDiffDeg(*m.t_axis_deg, axis), tolerance_deg)
          << *m.t_axis_deg;
      EXPECT_LT(AngleDiffDeg(*m.p_axis_deg, 60.0), tolerance_deg)
          << *m.p_axis_deg;
      EXPECT_GT(*m.qrs_axis_deg, -180.0);
      EXPECT_LE(*m.qrs_axis_deg, 180.0);
    }
  }
}

// NN intervals straight from the generator's beats: both beats sinus and
// neither neighbour a PVC.
std::vector<double> TruthNnMs(const SynthEcg& ecg, std::vector<bool>* contiguous) {
  std::vector<double> nn;
  const auto& b = ecg.beats;
  auto normal = [&](std::size_t k) {
    return b[k].beat_class == SynthBeatClass::kNormal;
  };
  std::size_t last_k = 0;
  for (std::size_t k = 0; k + 1 < b.size(); ++k) {
    if (!normal(k) || !normal(k + 1)) continue;
    if (k > 0 && !normal(k - 1)) continue;
    if (k + 2 < b.size() && !normal(k + 2)) continue;
    if (contiguous) contiguous->push_back(!nn.empty() && last_k + 1 == k);
    nn.push_back(static_cast<double>(b[k + 1].r_sample - b[k].r_sample) *
                 1000.0 / ecg.sample_rate_hz);
    last_k = k;
  }
  return nn;
}

TEST(MeasurementsTest, SdnnAndRmssdMatchNormalToNormalTruth) {
  EcgSynthConfig config = CleanConfig();
  config.duration_s = 120.0;
  config.heart_rate_bpm = 65.0;
  config.hrv_sd_ms = 25.0;
  config.pvc_beat_indices = {10, 25, 26 /* ignored: right after a PVC */, 40,
                             41, 80};
  config.seed = 7;
  const SynthEcg ecg = Synthesize(config);
  std::vector<bool> contiguous;
  const std::vector<double> nn = TruthNnMs(ecg, &contiguous);
  double mean = 0.0;
  for (double v : nn) mean += v;
  mean /= static_cast<double>(nn.size());
  double ss = 0.0, ss_diff = 0.0;
  int pairs = 0;
  for (std::size_t i = 0; i < nn.size(); ++i) {
    ss += (nn[i] - mean) * (nn[i] - mean);
    if (contiguous[i]) {
      ss_diff += (nn[i] - nn[i - 1]) * (nn[i] - nn[i - 1]);
      ++pairs;
    }
  }
  const double sdnn = std::sqrt(ss / static_cast<double>(nn.size() - 1));
  const double rmssd = std::sqrt(ss_diff / pairs);

  const EcgMeasurements m = Measure(ecg);
  ASSERT_TRUE(m.sdnn_ms && m.rmssd_ms);
  // With 25 ms jitter no NN interval trips the 20 % rule, so every truth
  // interval must be used — and only those (the PVC-adjacent ones are out).
  EXPECT_EQ(m.hrv_interval_count, static_cast<int>(nn.size()));
  EXPECT_NEAR(*m.sdnn_ms, sdnn, 1e-9);
  EXPECT_NEAR(*m.rmssd_ms, rmssd, 1e-9);
  // The PVCs really were there and their neighbours were left out.
  int nn_all = 0;
  for (std::size_t k = 0; k + 1 < ecg.beats.size(); ++k) {
    nn_all += ecg.beats[k].beat_class == SynthBeatClass::kNormal &&
              ecg.beats[k + 1].beat_class == SynthBeatClass::kNormal;
  }
  EXPECT_GE(nn_all - m.hrv_interval_count, 8);
  EXPECT_GT(*m.sdnn_ms, 10.0);
}

std::vector<ClassifiedBeat> BeatsFromRrMs(const std::vector<double>& rr_ms,
                                          BeatClass cls = BeatClass::kNormal) {
  std::vector<ClassifiedBeat> beats;
  double t_ms = 500.0;
  beats.push_back({static_cast<std::int64_t>(t_ms * kRateHz / 1000.0), cls, 1.0f});
  for (double rr : rr_ms) {
    t_ms += rr;
    beats.push_back(
        {static_cast<std::int64_t>(std::llround(t_ms * kRateHz / 1000.0)), cls,
         1.0f});
  }
  return beats;
}

MedianBeatSet EmptyMedians() {
  MedianBeatSet m;
  m.sample_rate_hz = kRateHz;
  return m;
}

TEST(MeasurementsTest, TwentyPercentRuleDropsOutlierIntervals) {
  // A missed beat (1600 ms) and an extra one (500 ms) among 1000 ± 20 ms.
  std::vector<double> rr;
  for (int i = 0; i < 20; ++i) rr.push_back(i % 2 ? 980.0 : 1020.0);
  rr[7] = 1600.0;
  rr[14] = 500.0;
  const auto beats = BeatsFromRrMs(rr);
  auto m = ComputeMeasurements(EmptyMedians(), {}, beats);
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->hrv_interval_count, 18);
  ASSERT_TRUE(m->sdnn_ms && m->rmssd_ms);
  // The remaining intervals alternate 1020/980: SD ≈ 20.5, successive
  // differences all 40 ms.
  EXPECT_NEAR(*m->rmssd_ms, 40.0, 1e-9);
  EXPECT_NEAR(*m->sdnn_ms, 20.0, 1.0);
  // The rate still uses every plausible NN interval.
  EXPECT_EQ(m->rate_interval_count, 20);
}

TEST(MeasurementsTest, FirstIntervalOutlierDoesNotPoisonTheRest) {
  std::vector<double> rr(12, 800.0);
  rr[0] = 1500.0;
  auto m = ComputeMeasurements(EmptyMedians(), {}, BeatsFromRrMs(rr));
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->hrv_interval_count, 11);
  ASSERT_TRUE(m->sdnn_ms);
  EXPECT_NEAR(*m->sdnn_ms, 0.0, 1e-9);
}

TEST(MeasurementsTest, TooFewNormalIntervalsGiveNoHrv) {
  auto m = ComputeMeasurements(EmptyMedians(), {},
                               BeatsFromRrMs({800, 810, 790}));
  ASSERT_TRUE(m.has_value());
  EXPECT_TRUE(m->heart_rate_bpm.has_value());
  EXPECT_FALSE(m->sdnn_ms);
  EXPECT_FALSE(m->rmssd_ms);
  MeasurementOptions o;
  o.min_hrv_intervals = 3;
  m = ComputeMeasurements(EmptyMedians(), {}, BeatsFromRrMs({800, 810, 790}), o);
  ASSERT_TRUE(m.has_value());
  EXPECT_TRUE(m->sdnn_ms.has_value());
}

TEST(MeasurementsTest, RateFallsBackToAllBeatsWithoutNormalPairs) {
  // Ventricular rhythm: no NN interval at all.
  auto beats = BeatsFromRrMs(std::vector<double>(8, 400.0), BeatClass::kVentricular);
  auto m = ComputeMeasurements(EmptyMedians(), {}, beats);
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->rate_source, RateSource::kAllBeats);
  ASSERT_TRUE(m->heart_rate_bpm);
  EXPECT_NEAR(*m->heart_rate_bpm, 150.0, 1e-9);
  EXPECT_FALSE(m->sdnn_ms);
  // Unknown beats never count.
  for (auto& b : beats) b.beat_class = BeatClass::kUnknown;
  m = ComputeMeasurements(EmptyMedians(), {}, beats);
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->rate_source, RateSource::kNone);
  EXPECT_FALSE(m->heart_rate_bpm);
  EXPECT_FALSE(m->mean_rr_ms);
}

// A hand-drawn median beat: each lead sits on its own DC offset (the
// isoelectric level, which the measurement must remove), has a triangular
// QRS of a set peak between QRS onset and offset, and a flat ST-T plateau at
// a set level after J. No P wave deflection.
struct DrawnMedian {
  MedianBeatSet set;
  WaveFiducials global{80, 120, 160, 206, 360};  // QRS peak on sample 183
  std::array<double, kNumStandardLeads> offset_mv{};
  std::array<double, kNumStandardLeads> qrs_peak_mv{};
  std::array<double, kNumStandardLeads> st_mv{};

  explicit DrawnMedian(std::int64_t length = 500) {
    set.sample_rate_hz = kRateHz;
    set.num_leads = kNumStandardLeads;
    set.length_frames = length;
    set.fiducial_index = 180;
    for (int l = 0; l < kNumStandardLeads; ++l) {
      const auto k = static_cast<std::size_t>(l);
      offset_mv[k] = 0.3 - 0.05 * l;
      qrs_peak_mv[k] = 1.0;
      st_mv[k] = 0.0;
    }
    qrs_peak_mv[LeadIndex(Lead::kV1)] = -1.2;
    qrs_peak_mv[LeadIndex(Lead::kV5)] = 2.1;
    qrs_peak_mv[LeadIndex(Lead::kV6)] = 1.8;
    st_mv[LeadIndex(Lead::kV2)] = 0.15;
    st_mv[LeadIndex(Lead::kII)] = -0.05;
  }

  void Draw() {
    set.samples_mv.assign(
        static_cast<std::size_t>(kNumStandardLeads * set.length_frames), 0.0f);
    const double mid = 0.5 * static_cast<double>(global.qrs_onset +
                                                 global.qrs_offset);
    const double half = mid - static_cast<double>(global.qrs_onset);
    for (int l = 0; l < kNumStandardLeads; ++l) {
      const auto k = static_cast<std::size_t>(l);
      for (std::int64_t i = 0; i < set.length_frames; ++i) {
        double v = offset_mv[k];
        if (i >= global.qrs_onset && i <= global.qrs_offset) {
          v += qrs_peak_mv[k] *
               (1.0 - std::abs(static_cast<double>(i) - mid) / half);
        } else if (i > global.qrs_offset && i < 300) {
          v += st_mv[k];
        }
        set.samples_mv[static_cast<std::size_t>(l * set.length_frames + i)] =
            static_cast<float>(v);
      }
    }
  }
  float& at(Lead lead, std::int64_t i) {
    return set.samples_mv[static_cast<std::size_t>(LeadIndex(lead) *
                                                   set.length_frames + i)];
  }
};

EcgMeasurements MeasureDrawn(const DrawnMedian& d,
                             const MeasurementOptions& o = {}) {
  auto r = ComputeMeasurements(d.set, d.global, {}, o);
  EXPECT_TRUE(r.has_value()) << r.error().ToString();
  return std::move(r).value();
}

TEST(MeasurementsTest, StLevelIsTakenAtJPlus60AgainstThePrSegment) {
  DrawnMedian d;
  d.Draw();
  const EcgMeasurements m = MeasureDrawn(d);
  EXPECT_EQ(m.st_offset_ms, 60.0);
  for (int l = 0; l < kNumStandardLeads; ++l) {
    const auto k = static_cast<std::size_t>(l);
    ASSERT_TRUE(m.st_level_mv[k]) << l;
    EXPECT_NEAR(*m.st_level_mv[k], d.st_mv[k], 1e-5) << l;
  }
  // The point is J + 60 ms exactly: a step 1 sample later is not seen, one
  // at that sample is.
  const std::int64_t j60 = d.global.qrs_offset + 30;
  d.Draw();
  for (std::int64_t i = j60 + 1; i < 300; ++i) d.at(Lead::kV3, i) += 1.0f;
  EXPECT_NEAR(*MeasureDrawn(d).st_level_mv[LeadIndex(Lead::kV3)],
              d.st_mv[LeadIndex(Lead::kV3)], 1e-5);
  d.at(Lead::kV3, j60) += 1.0f;
  EXPECT_NEAR(*MeasureDrawn(d).st_level_mv[LeadIndex(Lead::kV3)], 1.0, 1e-5);
}

TEST(MeasurementsTest, StOffsetOptionMovesTheMeasuringPoint) {
  DrawnMedian d;
  d.Draw();
  const std::int64_t j40 = d.global.qrs_offset + 20;
  d.at(Lead::kV4, j40) += 0.5f;
  MeasurementOptions o;
  o.st_offset_ms = 40.0;
  const EcgMeasurements m = MeasureDrawn(d, o);
  EXPECT_EQ(m.st_offset_ms, 40.0);
  EXPECT_NEAR(*m.st_level_mv[LeadIndex(Lead::kV4)], 0.5, 1e-5);
  EXPECT_NEAR(*MeasureDrawn(d).st_level_mv[LeadIndex(Lead::kV4)], 0.0, 1e-5);
}

TEST(MeasurementsTest, StIsAbsentPastTEndOrWindowEnd) {
  DrawnMedian d;
  d.global.t_offset = d.global.qrs_offset + 30;  // J + 60 ms == T end
  d.Draw();
  EcgMeasurements m = MeasureDrawn(d);
  for (const auto& st : m.st_level_mv) EXPECT_FALSE(st);
  DrawnMedian short_window(230);
  short_window.global.t_offset = -1;
  short_window.Draw();
  m = MeasureDrawn(short_window);
  for (const auto& st : m.st_level_mv) EXPECT_FALSE(st);
  EXPECT_TRUE(m.qrs_duration_ms);
  EXPECT_FALSE(m.qt_interval_ms);
  EXPECT_FALSE(m.t_axis_deg);
}

TEST(MeasurementsTest, VoltagesAndSokolowLyon) {
  DrawnMedian d;
  d.Draw();
  EcgMeasurements m = MeasureDrawn(d);
  ASSERT_TRUE(m.r_amplitude_v5_mv && m.r_amplitude_v6_mv &&
              m.s_amplitude_v1_mv && m.sokolow_lyon_mv);
  EXPECT_NEAR(*m.r_amplitude_v5_mv, 2.1, 1e-5);
  EXPECT_NEAR(*m.r_amplitude_v6_mv, 1.8, 1e-5);
  EXPECT_NEAR(*m.s_amplitude_v1_mv, 1.2, 1e-5);
  EXPECT_NEAR(*m.sokolow_lyon_mv, 1.2 + 2.1, 1e-5);
  // RV6 taller than RV5: Sokolow–Lyon takes the larger.
  d.qrs_peak_mv[LeadIndex(Lead::kV6)] = 2.6;
  d.Draw();
  m = MeasureDrawn(d);
  EXPECT_NEAR(*m.sokolow_lyon_mv, 1.2 + 2.6, 1e-5);
  // An all-negative V5 has no R wave: 0, never negative.
  d.qrs_peak_mv[LeadIndex(Lead::kV5)] = -0.7;
  d.Draw();
  EXPECT_NEAR(*MeasureDrawn(d).r_amplitude_v5_mv, 0.0, 1e-9);
}

TEST(MeasurementsTest, NoPWaveMeansNoPDurationPrOrPAxis) {
  EcgSynthConfig config = CleanConfig();
  config.af_spans = {{0.0, config.duration_s}};
  config.heart_rate_bpm = 80.0;
  const SynthEcg ecg = Synthesize(config);
  // The median of AF beats: no P wave, fiducials -1.
  SynthEcg as_sinus = ecg;
  for (SynthBeat& b : as_sinus.beats) b.in_af = false;
  const SynthMedian med = MedianFromSynth(as_sinus);
  EXPECT_FALSE(med.global.has_p());
  auto m = ComputeMeasurements(med.set, med.global, ToClassified(ecg));
  ASSERT_TRUE(m.has_value());
  EXPECT_FALSE(m->p_duration_ms);
  EXPECT_FALSE(m->pr_interval_ms);
  EXPECT_FALSE(m->p_axis_deg);
  EXPECT_TRUE(m->qrs_duration_ms);
  EXPECT_TRUE(m->qt_interval_ms);
  EXPECT_TRUE(m->qrs_axis_deg);
  // Irregular AF intervals still give the rate.
  EXPECT_TRUE(m->heart_rate_bpm);
  ExpectAllFinite(*m);
}

TEST(MeasurementsTest, AbsurdIntervalsAreAbsentNotReported) {
  DrawnMedian d(1000);
  d.global = {150, 200, 600, 645, 900};  // PR 900 ms, QT 600 ms
  d.Draw();
  EcgMeasurements m = MeasureDrawn(d);
  EXPECT_FALSE(m.pr_interval_ms);
  EXPECT_TRUE(m.p_duration_ms);  // 100 ms: a plausible P wave
  EXPECT_TRUE(m.qt_interval_ms);
  d.global = {500, 560, 600, 645, 625};  // T end inside the QRS: out of order
  m = MeasureDrawn(d);
  EXPECT_FALSE(m.qt_interval_ms);
  EXPECT_FALSE(m.t_axis_deg);
  d.global = {500, 560, 600, 645, 650};  // QT 100 ms
  m = MeasureDrawn(d);
  EXPECT_FALSE(m.qt_interval_ms);
  EXPECT_FALSE(m.qtc_bazett);
  EXPECT_FALSE(m.qtc_fridericia);
  d.global = {500, 560, 600, 602, 900};  // QRS 4 ms
  m = MeasureDrawn(d);
  EXPECT_FALSE(m.qrs_duration_ms);
  d.global = {500, 620, 600, 645, 900};  // P ends after QRS onset
  m = MeasureDrawn(d);
  EXPECT_FALSE(m.p_duration_ms);
  EXPECT_FALSE(m.pr_interval_ms);
  EXPECT_TRUE(m.qrs_duration_ms);
  d.global = {500, 560, 600, 1000, 1200};  // QRS offset outside the window
  m = MeasureDrawn(d);
  EXPECT_FALSE(m.qrs_duration_ms);
  EXPECT_FALSE(m.qrs_axis_deg);
  for (const auto& st : m.st_level_mv) EXPECT_FALSE(st);
  ExpectAllFinite(m);
}

TEST(MeasurementsTest, FlatMedianHasNoAxis) {
  DrawnMedian d;
  d.qrs_peak_mv.fill(0.0);
  d.st_mv.fill(0.0);
  d.Draw();
  const EcgMeasurements m = MeasureDrawn(d);
  EXPECT_FALSE(m.qrs_axis_deg);
  EXPECT_FALSE(m.t_axis_deg);
  EXPECT_FALSE(m.p_axis_deg);
  ExpectAllFinite(m);
}

TEST(MeasurementsTest, NonFiniteSamplesNeverLeakOut) {
  DrawnMedian d;
  d.Draw();
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  d.at(Lead::kV5, 180) = nan;                       // inside the QRS
  d.at(Lead::kI, d.global.qrs_onset - 2) = inf;     // in the PR segment
  const EcgMeasurements m = MeasureDrawn(d);
  ExpectAllFinite(m);
  EXPECT_FALSE(m.r_amplitude_v5_mv);
  EXPECT_FALSE(m.sokolow_lyon_mv);
  EXPECT_FALSE(m.qrs_axis_deg);
  EXPECT_FALSE(m.st_level_mv[LeadIndex(Lead::kI)]);
  EXPECT_TRUE(m.st_level_mv[LeadIndex(Lead::kII)]);
  EXPECT_TRUE(m.s_amplitude_v1_mv);
}

TEST(MeasurementsTest, EmptyInputGivesAnEmptyResult) {
  auto m = ComputeMeasurements(EmptyMedians(), {}, {});
  ASSERT_TRUE(m.has_value());
  EXPECT_FALSE(m->heart_rate_bpm);
  EXPECT_FALSE(m->qrs_duration_ms);
  EXPECT_FALSE(m->sdnn_ms);
  EXPECT_EQ(m->rate_source, RateSource::kNone);
  // One beat: still no interval.
  const ClassifiedBeat one[] = {{100, BeatClass::kNormal, 1.0f}};
  m = ComputeMeasurements(EmptyMedians(), {}, one);
  ASSERT_TRUE(m.has_value());
  EXPECT_FALSE(m->heart_rate_bpm);
}

TEST(MeasurementsTest, InvalidInputNamesTheField) {
  struct Case {
    std::string field;
    MedianBeatSet medians;
    std::vector<ClassifiedBeat> beats;
    MeasurementOptions options;
  };
  std::vector<Case> cases;
  auto add = [&](std::string field, auto mutate) {
    Case c{std::move(field), EmptyMedians(), {}, {}};
    mutate(c);
    cases.push_back(std::move(c));
  };
  const double nan = std::numeric_limits<double>::quiet_NaN();
  add("medians.sample_rate_hz", [](Case& c) { c.medians.sample_rate_hz = 0.0; });
  add("medians.sample_rate_hz", [&](Case& c) { c.medians.sample_rate_hz = nan; });
  add("medians.num_leads", [](Case& c) { c.medians.num_leads = 2; });
  add("medians.length_frames", [](Case& c) {
    c.medians.num_leads = 12;
    c.medians.length_frames = 0;
  });
  add("medians.samples_mv", [](Case& c) {
    c.medians.num_leads = 12;
    c.medians.length_frames = 10;
    c.medians.samples_mv.assign(100, 0.0f);
  });
  add("medians.fiducial_index", [](Case& c) {
    c.medians.num_leads = 12;
    c.medians.length_frames = 10;
    c.medians.samples_mv.assign(120, 0.0f);
    c.medians.fiducial_index = 10;
  });
  add("beats[1].sample", [](Case& c) {
    c.beats = {{100, BeatClass::kNormal, 1.0f}, {100, BeatClass::kNormal, 1.0f}};
  });
  add("options.st_offset_ms", [](Case& c) { c.options.st_offset_ms = 10.0; });
  add("options.st_offset_ms", [&](Case& c) { c.options.st_offset_ms = nan; });
  add("options.isoelectric_window_ms",
      [](Case& c) { c.options.isoelectric_window_ms = 0.0; });
  add("options.min_hrv_intervals",
      [](Case& c) { c.options.min_hrv_intervals = 1; });
  add("options.hrv_max_change_fraction",
      [](Case& c) { c.options.hrv_max_change_fraction = 2.0; });
  for (const Case& c : cases) {
    auto r = ComputeMeasurements(c.medians, {}, c.beats, c.options);
    ASSERT_FALSE(r.has_value()) << c.field;
    EXPECT_EQ(r.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(r.error().message().find(c.field), std::string::npos)
        << r.error().message();
  }
}

}  // namespace
}  // namespace pulse::dsp
