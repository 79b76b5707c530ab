// AnalyzeEcg: the stages of analysis.h glued together, with the rules that
// keep bad signal from turning into findings.
//
// Lead use. Signal quality decides which leads take part: a lead with a
// hard fault (non-finite samples, lead-off, flat line) or a score below
// kMinUsableLeadScore never reaches a detector. The detector, classifier
// and AF detector get a compact copy of the usable leads only; the median
// beats are built from all 12 leads with the unusable ones zeroed, so lead
// indices stay those of kStandardLeadOrder, and every per-lead measurement
// of an unusable lead is withdrawn afterwards.
//
// White noise scores about 0.01 on the high-frequency check (its RMS above
// 40 Hz is ~4.6 times that in 5-15 Hz at 500 Hz); a real ECG with heavy
// muscle noise still scores 0.1-0.3. kMinUsableLeadScore sits between.
#include "pulse/dsp/analysis.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <utility>

#include "pulse/dsp/af_detector.h"
#include "pulse/dsp/beat_classifier.h"
#include "pulse/dsp/leads.h"
#include "pulse/dsp/qrs_detector.h"

namespace pulse::dsp {
namespace {

constexpr int kLeads = kNumStandardLeads;
constexpr double kMinSampleRateHz = 250.0;
constexpr double kMaxSampleRateHz = 1000.0;
constexpr double kMinDurationSeconds = 2.0;
constexpr float kMinUsableLeadScore = 0.1f;

Status ValidateInput(std::span<const float> interleaved_mv,
                     const AnalysisConfig& config) {
  if (!(config.sample_rate_hz >= kMinSampleRateHz &&
        config.sample_rate_hz <= kMaxSampleRateHz)) {
    return Fail(ErrorCode::kInvalidArgument,
                "sample_rate_hz must be in [250, 1000] Hz");
  }
  if (!std::isfinite(config.adc_min_mv) || !std::isfinite(config.adc_max_mv) ||
      !(config.adc_min_mv < config.adc_max_mv)) {
    return Fail(ErrorCode::kInvalidArgument,
                "adc_min_mv and adc_max_mv must be finite, min < max");
  }
  if (interleaved_mv.size() % kLeads != 0) {
    return Fail(ErrorCode::kInvalidArgument,
                "interleaved_mv holds " + std::to_string(interleaved_mv.size()) +
                    " samples, not a whole number of 12-lead frames");
  }
  const double seconds = static_cast<double>(interleaved_mv.size() / kLeads) /
                         config.sample_rate_hz;
  if (seconds < kMinDurationSeconds) {
    return Fail(ErrorCode::kInvalidArgument,
                "interleaved_mv is shorter than 2 s of 12-lead frames");
  }
  return OkStatus();
}

bool IsUsable(const LeadQuality& lead) {
  switch (lead.issue) {
    case QualityIssue::kNonFinite:
    case QualityIssue::kLeadOff:
    case QualityIssue::kFlatLine:
      return false;
    default:
      return lead.score >= kMinUsableLeadScore;
  }
}

// The usable leads of every frame, in order.
std::vector<float> CompactLeads(std::span<const float> interleaved_mv,
                                const std::vector<bool>& used, int num_used) {
  const std::size_t frames = interleaved_mv.size() / kLeads;
  std::vector<float> out;
  out.reserve(frames * static_cast<std::size_t>(num_used));
  for (std::size_t f = 0; f < frames; ++f) {
    for (int lead = 0; lead < kLeads; ++lead) {
      if (used[static_cast<std::size_t>(lead)]) {
        out.push_back(interleaved_mv[f * kLeads + static_cast<std::size_t>(lead)]);
      }
    }
  }
  return out;
}

// All 12 leads, the unusable ones zeroed (they may hold NaN or rail values).
std::vector<float> ZeroUnusedLeads(std::span<const float> interleaved_mv,
                                   const std::vector<bool>& used) {
  std::vector<float> out(interleaved_mv.begin(), interleaved_mv.end());
  for (std::size_t i = 0; i < out.size(); ++i) {
    if (!used[i % kLeads]) out[i] = 0.0f;
  }
  return out;
}

std::vector<std::int64_t> DetectQrs(std::span<const float> compact,
                                    int num_used, double sample_rate_hz) {
  auto detector = QrsDetector::Create(
      QrsDetectorConfig{.sample_rate_hz = sample_rate_hz, .num_leads = num_used});
  std::vector<std::int64_t> samples;
  if (!detector) return samples;  // config validated above; cannot happen
  std::vector<QrsDetection> detections;
  detector->Process(compact, &detections);
  detector->Finish(&detections);
  samples.reserve(detections.size());
  for (const QrsDetection& d : detections) samples.push_back(d.sample);
  return samples;
}

// Per-lead values of a lead that took no part are not measurements.
void WithdrawUnusedLeads(const std::vector<bool>& used, EcgMeasurements* m) {
  for (int lead = 0; lead < kLeads; ++lead) {
    if (!used[static_cast<std::size_t>(lead)]) {
      m->st_level_mv[static_cast<std::size_t>(lead)].reset();
    }
  }
  const auto unused = [&](Lead lead) {
    return !used[static_cast<std::size_t>(LeadIndex(lead))];
  };
  if (unused(Lead::kV5)) m->r_amplitude_v5_mv.reset();
  if (unused(Lead::kV6)) m->r_amplitude_v6_mv.reset();
  if (unused(Lead::kV1)) m->s_amplitude_v1_mv.reset();
  if (unused(Lead::kV1) || unused(Lead::kV5) || unused(Lead::kV6)) {
    m->sokolow_lyon_mv.reset();
  }
  // Frontal axes need both I and aVF (aVF derives from I and II).
  if (unused(Lead::kI) || unused(Lead::kII) || unused(Lead::kAVF)) {
    m->p_axis_deg.reset();
    m->qrs_axis_deg.reset();
    m->t_axis_deg.reset();
  }
}

// Median beats, their delineation and the measurements. When no median
// beat can be built or delineated, the rate and HRV are still measured
// from the beats (ComputeMeasurements accepts an empty median set).
void MeasureMedianBeats(std::span<const float> interleaved_mv,
                        const std::vector<bool>& used, EcgAnalysis* analysis) {
  const bool all_used = std::all_of(used.begin(), used.end(),
                                    [](bool u) { return u; });
  std::vector<float> zeroed;
  if (!all_used) zeroed = ZeroUnusedLeads(interleaved_mv, used);
  const std::span<const float> leads =
      all_used ? interleaved_mv : std::span<const float>(zeroed);
  auto medians = BuildMedianBeats(leads, kLeads, analysis->sample_rate_hz,
                                  analysis->beats);
  if (medians) {
    // With the beats, a P wave counts only when it repeats beat by beat,
    // which keeps AF's fibrillatory remnants out of the median's P wave.
    auto delineation = DelineateMedianBeats(*medians, leads, analysis->beats);
    if (delineation) analysis->delineation = std::move(*delineation);
    analysis->median_beats = std::move(*medians);
  }
  MedianBeatSet no_medians;
  no_medians.sample_rate_hz = analysis->sample_rate_hz;
  const bool delineated = analysis->delineation.has_value();
  auto measurements = ComputeMeasurements(
      delineated ? *analysis->median_beats : no_medians,
      delineated ? analysis->delineation->global : WaveFiducials{},
      analysis->beats);
  if (measurements) {
    WithdrawUnusedLeads(used, &*measurements);
    analysis->measurements = std::move(*measurements);
  }
}

// P waves are known only from a delineated median of normal beats.
bool NormalBeatsHavePWaves(const EcgAnalysis& analysis) {
  return analysis.median_beats.has_value() &&
         analysis.median_beats->beat_class == BeatClass::kNormal &&
         analysis.delineation.has_value() &&
         analysis.delineation->global.has_p();
}

}  // namespace

std::string_view AnalysisStatusName(AnalysisStatus status) {
  switch (status) {
    case AnalysisStatus::kComplete:
      return "complete";
    case AnalysisStatus::kNoUsableLeads:
      return "no usable leads";
    case AnalysisStatus::kTooFewBeats:
      return "too few beats";
  }
  return "unknown";
}

Result<EcgAnalysis> AnalyzeEcg(std::span<const float> interleaved_mv,
                               const AnalysisConfig& config) {
  if (Status valid = ValidateInput(interleaved_mv, config); !valid) {
    return tl::unexpected(valid.error());
  }
  EcgAnalysis analysis;
  analysis.algorithm_version = std::string(kAnalysisAlgorithmVersion);
  analysis.sample_rate_hz = config.sample_rate_hz;
  analysis.num_frames = static_cast<std::int64_t>(interleaved_mv.size() / kLeads);

  auto quality = AssessSignalQuality(
      interleaved_mv, SignalQualityConfig{.sample_rate_hz = config.sample_rate_hz,
                                          .num_leads = kLeads,
                                          .adc_min_mv = config.adc_min_mv,
                                          .adc_max_mv = config.adc_max_mv});
  if (!quality) return tl::unexpected(quality.error());
  analysis.quality = std::move(*quality);

  int num_used = 0;
  analysis.lead_used.resize(kLeads);
  for (int lead = 0; lead < kLeads; ++lead) {
    const bool usable =
        IsUsable(analysis.quality.leads[static_cast<std::size_t>(lead)]);
    analysis.lead_used[static_cast<std::size_t>(lead)] = usable;
    num_used += usable ? 1 : 0;
  }
  if (num_used == 0) {
    analysis.status = AnalysisStatus::kNoUsableLeads;
    analysis.status_reason =
        "no usable lead: every lead is flat, off, saturated, non-finite or "
        "dominated by noise (see quality)";
    return analysis;
  }

  // The detectors see the usable leads only (a copy unless all are).
  std::vector<float> compacted;
  if (num_used < kLeads) {
    compacted = CompactLeads(interleaved_mv, analysis.lead_used, num_used);
  }
  const std::span<const float> compact =
      num_used < kLeads ? std::span<const float>(compacted) : interleaved_mv;
  const std::vector<std::int64_t> qrs =
      DetectQrs(compact, num_used, config.sample_rate_hz);
  if (qrs.size() < 2) {
    analysis.status = AnalysisStatus::kTooFewBeats;
    analysis.status_reason = "fewer than 2 QRS complexes found";
    return analysis;
  }

  auto beats = ClassifyBeats(
      compact, qrs,
      BeatClassifierConfig{.sample_rate_hz = config.sample_rate_hz,
                           .num_leads = num_used});
  if (!beats) return tl::unexpected(beats.error());
  analysis.beats = std::move(*beats);

  auto af = DetectAtrialFibrillation(
      analysis.beats, compact,
      AfDetectorConfig{.sample_rate_hz = config.sample_rate_hz,
                       .num_leads = num_used});
  if (!af) return tl::unexpected(af.error());
  analysis.af_episodes = std::move(*af);

  MeasureMedianBeats(interleaved_mv, analysis.lead_used, &analysis);

  RhythmContext context;
  context.sample_rate_hz = config.sample_rate_hz;
  context.record_length_frames = analysis.num_frames;
  context.normal_beats_have_p_waves = NormalBeatsHavePWaves(analysis);
  auto findings = FindRhythms(analysis.beats, analysis.af_episodes, context);
  if (!findings) return tl::unexpected(findings.error());
  analysis.findings = std::move(*findings);
  return analysis;
}

}  // namespace pulse::dsp
