// The one-call analysis end to end: what a clean synthetic ECG gives, and —
// the point of most cases here — what bad input gives: flat, saturated,
// noise-only, lead-off and non-finite signals come back with quality flags
// and no findings, never a crash, a NaN or an absurd interval.
#include "pulse/dsp/analysis.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <random>
#include <vector>

#include "pulse/dsp/ecg_synth.h"
#include "pulse/dsp/leads.h"
#include "support/analysis_checks.h"

namespace pulse::dsp {
namespace {

using ::pulse::testing::ExpectSaneAnalysis;

constexpr double kRateHz = 500.0;
constexpr int kLeads = kNumStandardLeads;

// A clean sinus configuration to start each case from.
EcgSynthConfig SinusConfig(double duration_s, double heart_rate_bpm) {
  EcgSynthConfig config;
  config.duration_s = duration_s;
  config.heart_rate_bpm = heart_rate_bpm;
  config.noise_uv = 10.0;
  return config;
}

// At kRateHz (the tests below that vary the rate set it themselves).
SynthEcg Synthesize(EcgSynthConfig config) {
  config.sample_rate_hz = kRateHz;
  auto ecg = SynthesizeEcg(config);
  EXPECT_TRUE(ecg.has_value()) << ecg.error().ToString();
  return std::move(ecg).value();
}

EcgAnalysis Analyze(const std::vector<float>& samples,
                    const AnalysisConfig& config = {}) {
  auto analysis = AnalyzeEcg(samples, config);
  EXPECT_TRUE(analysis.has_value()) << analysis.error().ToString();
  return analysis.has_value() ? std::move(*analysis) : EcgAnalysis{};
}

bool HasFinding(const EcgAnalysis& a, RhythmFindingKind kind) {
  return std::any_of(a.findings.begin(), a.findings.end(),
                     [&](const RhythmFinding& f) { return f.kind == kind; });
}

// Nothing a clinician would read as a rhythm statement.
void ExpectNoFindings(const EcgAnalysis& a) {
  EXPECT_TRUE(a.findings.empty())
      << a.findings.size() << " findings, first: " << a.findings[0].label;
}

std::vector<float> Constant(double seconds, float value_mv) {
  return std::vector<float>(
      static_cast<std::size_t>(seconds * kRateHz) * kLeads, value_mv);
}

TEST(AnalysisTest, CleanSinusRhythmIsMeasuredAndCalledSinus) {
  EcgSynthConfig config = SinusConfig(10.0, 72.0);
  config.pr_ms = 160.0;
  config.qrs_ms = 90.0;
  config.qt_ms = 380.0;
  config.frontal_axis_deg = 60.0;
  const SynthEcg ecg = Synthesize(config);
  const EcgAnalysis a = Analyze(ecg.interleaved_mv);
  ExpectSaneAnalysis(a);
  EXPECT_EQ(a.algorithm_version, kAnalysisAlgorithmVersion);
  EXPECT_EQ(a.status, AnalysisStatus::kComplete) << a.status_reason;
  EXPECT_EQ(a.quality.num_ok_leads, kLeads);
  EXPECT_TRUE(std::all_of(a.lead_used.begin(), a.lead_used.end(),
                          [](bool used) { return used; }));
  ASSERT_EQ(a.beats.size(), ecg.beats.size());
  for (std::size_t k = 0; k < a.beats.size(); ++k) {
    EXPECT_NEAR(static_cast<double>(a.beats[k].sample),
                static_cast<double>(ecg.beats[k].r_sample), 0.05 * kRateHz);
    EXPECT_NE(a.beats[k].beat_class, BeatClass::kVentricular) << "beat " << k;
  }
  EXPECT_TRUE(a.af_episodes.empty());
  ASSERT_TRUE(a.measurements.has_value());
  ASSERT_TRUE(a.measurements->heart_rate_bpm.has_value());
  EXPECT_NEAR(*a.measurements->heart_rate_bpm, 72.0, 2.0);
  ASSERT_TRUE(a.measurements->qrs_duration_ms.has_value());
  EXPECT_NEAR(*a.measurements->qrs_duration_ms, 90.0, 12.0);
  ASSERT_TRUE(a.measurements->qt_interval_ms.has_value());
  EXPECT_NEAR(*a.measurements->qt_interval_ms, 380.0, 25.0);
  ASSERT_TRUE(a.measurements->pr_interval_ms.has_value());
  EXPECT_NEAR(*a.measurements->pr_interval_ms, 160.0, 15.0);
  ASSERT_TRUE(a.measurements->qrs_axis_deg.has_value());
  EXPECT_NEAR(*a.measurements->qrs_axis_deg, 60.0, 15.0);
  EXPECT_TRUE(HasFinding(a, RhythmFindingKind::kSinusRhythm));
  EXPECT_FALSE(HasFinding(a, RhythmFindingKind::kAtrialFibrillation));
  EXPECT_FALSE(HasFinding(a, RhythmFindingKind::kIsolatedPvc));
}

TEST(AnalysisTest, EverySupportedSampleRateMeasuresTheSameEcg) {
  // The device protocol allows several rates; the same heart must measure
  // the same at each (within a sample or two of the coarsest rate).
  for (double rate_hz : {250.0, 360.0, 500.0, 1000.0}) {
    EcgSynthConfig config = SinusConfig(10.0, 72.0);
    config.sample_rate_hz = rate_hz;
    config.pvc_beat_indices = {4};
    auto ecg = SynthesizeEcg(config);
    ASSERT_TRUE(ecg) << ecg.error().ToString();
    AnalysisConfig analysis_config;
    analysis_config.sample_rate_hz = rate_hz;
    const EcgAnalysis a = Analyze(ecg->interleaved_mv, analysis_config);
    SCOPED_TRACE(rate_hz);
    ExpectSaneAnalysis(a);
    ASSERT_EQ(a.status, AnalysisStatus::kComplete) << a.status_reason;
    EXPECT_EQ(a.beats.size(), ecg->beats.size());
    ASSERT_TRUE(a.measurements.has_value());
    const EcgMeasurements& m = *a.measurements;
    EXPECT_NEAR(m.heart_rate_bpm.value_or(0.0), 72.0, 2.0);
    EXPECT_NEAR(m.pr_interval_ms.value_or(0.0), config.pr_ms, 15.0);
    EXPECT_NEAR(m.qrs_duration_ms.value_or(0.0), config.qrs_ms, 12.0);
    EXPECT_NEAR(m.qt_interval_ms.value_or(0.0), config.qt_ms, 25.0);
    EXPECT_TRUE(HasFinding(a, RhythmFindingKind::kSinusRhythm));
    EXPECT_TRUE(HasFinding(a, RhythmFindingKind::kIsolatedPvc));
  }
}

TEST(AnalysisTest, SameInputGivesTheSameResult) {
  EcgSynthConfig config = SinusConfig(10.0, 80.0);
  config.hrv_sd_ms = 30.0;
  config.pvc_beat_indices = {4};
  config.noise_uv = 30.0;
  config.seed = 7;
  const SynthEcg ecg = Synthesize(config);
  const EcgAnalysis first = Analyze(ecg.interleaved_mv);
  const EcgAnalysis second = Analyze(ecg.interleaved_mv);
  ASSERT_EQ(first.beats.size(), second.beats.size());
  for (std::size_t k = 0; k < first.beats.size(); ++k) {
    EXPECT_EQ(first.beats[k].sample, second.beats[k].sample);
    EXPECT_EQ(first.beats[k].beat_class, second.beats[k].beat_class);
    EXPECT_EQ(first.beats[k].confidence, second.beats[k].confidence);
  }
  EXPECT_EQ(first.findings, second.findings);
  ASSERT_EQ(first.median_beats.has_value(), second.median_beats.has_value());
  if (first.median_beats) {
    EXPECT_EQ(first.median_beats->samples_mv, second.median_beats->samples_mv);
  }
  ASSERT_EQ(first.measurements.has_value(), second.measurements.has_value());
  if (first.measurements) {
    EXPECT_EQ(first.measurements->qt_interval_ms,
              second.measurements->qt_interval_ms);
    EXPECT_EQ(first.measurements->st_level_mv, second.measurements->st_level_mv);
  }
}

TEST(AnalysisTest, PrematureVentricularBeatsBecomeFindings) {
  // Beats 3 and 8: two isolated PVCs, far enough apart for no pattern.
  EcgSynthConfig config = SinusConfig(12.0, 70.0);
  config.pvc_beat_indices = {3, 8};
  const SynthEcg ecg = Synthesize(config);
  const EcgAnalysis a = Analyze(ecg.interleaved_mv);
  ExpectSaneAnalysis(a);
  ASSERT_EQ(a.status, AnalysisStatus::kComplete) << a.status_reason;
  int found = 0;
  for (const SynthBeat& truth : ecg.beats) {
    if (truth.beat_class != SynthBeatClass::kVentricular) continue;
    for (const ClassifiedBeat& b : a.beats) {
      if (static_cast<double>(std::abs(b.sample - truth.r_sample)) <
              0.1 * kRateHz &&
          b.beat_class == BeatClass::kVentricular) {
        ++found;
      }
    }
  }
  EXPECT_EQ(found, 2);
  EXPECT_TRUE(HasFinding(a, RhythmFindingKind::kIsolatedPvc));
  EXPECT_FALSE(HasFinding(a, RhythmFindingKind::kVentricularTachycardia));
  EXPECT_FALSE(HasFinding(a, RhythmFindingKind::kAtrialFibrillation));
}

TEST(AnalysisTest, AtrialFibrillationIsFoundAndNotCalledSinus) {
  EcgSynthConfig config = SinusConfig(60.0, 95.0);
  config.af_spans = {{0.0, 60.0}};
  config.af_fwave_uv = 60.0;
  config.seed = 3;
  const SynthEcg ecg = Synthesize(config);
  const EcgAnalysis a = Analyze(ecg.interleaved_mv);
  ExpectSaneAnalysis(a);
  EXPECT_TRUE(HasFinding(a, RhythmFindingKind::kAtrialFibrillation));
  EXPECT_FALSE(HasFinding(a, RhythmFindingKind::kSinusRhythm));
  EXPECT_FALSE(HasFinding(a, RhythmFindingKind::kSinusTachycardia));
}

TEST(AnalysisTest, FlatInputHasNoUsableLeadsAndNoFindings) {
  for (float level : {0.0f, 1.5f}) {
    const EcgAnalysis a = Analyze(Constant(10.0, level));
    ExpectSaneAnalysis(a);
    EXPECT_EQ(a.status, AnalysisStatus::kNoUsableLeads);
    EXPECT_FALSE(a.status_reason.empty());
    EXPECT_EQ(a.quality.num_ok_leads, 0);
    for (const LeadQuality& q : a.quality.leads) {
      EXPECT_NE(q.issue, QualityIssue::kOk);
    }
    EXPECT_TRUE(a.beats.empty());
    EXPECT_FALSE(a.measurements.has_value());
    ExpectNoFindings(a);
  }
}

TEST(AnalysisTest, SaturatedInputIsFlaggedWithoutFindings) {
  const AnalysisConfig config{.adc_min_mv = -5.0f, .adc_max_mv = 5.0f};
  // Pinned to the rail.
  const EcgAnalysis pinned = Analyze(Constant(10.0, 5.0f), config);
  ExpectSaneAnalysis(pinned);
  EXPECT_EQ(pinned.status, AnalysisStatus::kNoUsableLeads);
  ExpectNoFindings(pinned);
  // A square wave banging between the rails (amplifier overload).
  std::vector<float> square(static_cast<std::size_t>(10 * kRateHz) * kLeads);
  for (std::size_t i = 0; i < square.size(); ++i) {
    square[i] = (i / kLeads / 50) % 2 == 0 ? 5.0f : -5.0f;
  }
  const EcgAnalysis overload = Analyze(square, config);
  ExpectSaneAnalysis(overload);
  for (const LeadQuality& q : overload.quality.leads) {
    EXPECT_NE(q.issue, QualityIssue::kOk);
  }
  ExpectNoFindings(overload);
  EXPECT_FALSE(overload.measurements.has_value());
}

TEST(AnalysisTest, NoiseOnlyInputIsFlaggedWithoutFindings) {
  for (float rms_mv : {0.05f, 0.5f, 3.0f}) {
    std::mt19937_64 rng(42);
    std::normal_distribution<float> noise(0.0f, rms_mv);
    std::vector<float> samples(static_cast<std::size_t>(10 * kRateHz) * kLeads);
    for (float& s : samples) s = noise(rng);
    const EcgAnalysis a = Analyze(samples);
    ExpectSaneAnalysis(a);
    EXPECT_NE(a.quality.overall_issue, QualityIssue::kOk) << rms_mv;
    ExpectNoFindings(a);
    EXPECT_FALSE(a.measurements.has_value()) << rms_mv;
  }
}

TEST(AnalysisTest, LeadOffLeadsAreLeftOutAndTheRestAnalysed) {
  SynthEcg ecg = Synthesize(SinusConfig(10.0, 65.0));
  const AnalysisConfig config{.adc_min_mv = -10.0f, .adc_max_mv = 10.0f};
  // V1..V3 detached: pinned to the positive rail.
  for (std::int64_t f = 0; f < ecg.num_frames(); ++f) {
    for (Lead lead : {Lead::kV1, Lead::kV2, Lead::kV3}) {
      ecg.interleaved_mv[static_cast<std::size_t>(f * kLeads + LeadIndex(lead))] =
          10.0f;
    }
  }
  const EcgAnalysis a = Analyze(ecg.interleaved_mv, config);
  ExpectSaneAnalysis(a);
  ASSERT_EQ(a.status, AnalysisStatus::kComplete) << a.status_reason;
  for (Lead lead : {Lead::kV1, Lead::kV2, Lead::kV3}) {
    const auto index = static_cast<std::size_t>(LeadIndex(lead));
    EXPECT_EQ(a.quality.leads[index].issue, QualityIssue::kLeadOff);
    EXPECT_FALSE(a.lead_used[index]);
    ASSERT_TRUE(a.measurements.has_value());
    EXPECT_FALSE(a.measurements->st_level_mv[index].has_value());
  }
  EXPECT_FALSE(a.measurements->s_amplitude_v1_mv.has_value());
  EXPECT_FALSE(a.measurements->sokolow_lyon_mv.has_value());
  EXPECT_TRUE(a.measurements->st_level_mv[LeadIndex(Lead::kV5)].has_value());
  EXPECT_EQ(a.beats.size(), ecg.beats.size());
  EXPECT_TRUE(HasFinding(a, RhythmFindingKind::kSinusRhythm));
}

TEST(AnalysisTest, NonFiniteSamplesNeverReachTheResult) {
  SynthEcg ecg = Synthesize(SinusConfig(10.0, 75.0));
  for (std::int64_t f = 1000; f < 1010; ++f) {
    ecg.interleaved_mv[static_cast<std::size_t>(f * kLeads + LeadIndex(Lead::kII))] =
        std::numeric_limits<float>::quiet_NaN();
    ecg.interleaved_mv[static_cast<std::size_t>(f * kLeads + LeadIndex(Lead::kV4))] =
        std::numeric_limits<float>::infinity();
  }
  const EcgAnalysis a = Analyze(ecg.interleaved_mv);
  ExpectSaneAnalysis(a);
  EXPECT_EQ(a.quality.leads[LeadIndex(Lead::kII)].issue, QualityIssue::kNonFinite);
  EXPECT_FALSE(a.lead_used[LeadIndex(Lead::kII)]);
  EXPECT_EQ(a.status, AnalysisStatus::kComplete) << a.status_reason;
  EXPECT_EQ(a.beats.size(), ecg.beats.size());
}

TEST(AnalysisTest, RejectsBadConfigAndShapes) {
  const std::vector<float> ten_seconds = Constant(10.0, 0.0f);
  struct Case {
    const char* what;
    std::vector<float> samples;
    AnalysisConfig config;
    const char* names;
  };
  const Case cases[] = {
      {"rate too low", ten_seconds, {.sample_rate_hz = 100.0}, "sample_rate_hz"},
      {"rate NaN", ten_seconds,
       {.sample_rate_hz = std::numeric_limits<double>::quiet_NaN()},
       "sample_rate_hz"},
      {"adc inverted", ten_seconds, {.adc_min_mv = 5.0f, .adc_max_mv = -5.0f},
       "adc_min_mv"},
      {"partial frame", std::vector<float>(12 * 5000 + 5, 0.0f), {},
       "interleaved_mv"},
      {"too short", Constant(1.0, 0.0f), {}, "interleaved_mv"},
      {"empty", {}, {}, "interleaved_mv"},
  };
  for (const Case& c : cases) {
    auto result = AnalyzeEcg(c.samples, c.config);
    ASSERT_FALSE(result.has_value()) << c.what;
    EXPECT_EQ(result.error().code(), ErrorCode::kInvalidArgument) << c.what;
    EXPECT_NE(result.error().message().find(c.names), std::string::npos)
        << c.what << ": " << result.error().message();
  }
}

}  // namespace
}  // namespace pulse::dsp
