#include "pulse/dsp/signal_quality.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdio>
#include <vector>

#include "pulse/dsp/biquad.h"

namespace pulse::dsp {
namespace {

constexpr double kHfCutoffHz = 40.0;
constexpr double kQrsLowHz = 5.0;
constexpr double kQrsHighHz = 15.0;
constexpr double kWanderCutoffHz = 0.5;
// Keeps ratios finite when the QRS band is empty: 1 uV.
constexpr double kRmsFloorMv = 1e-3;
// Metrics are capped so that a score can never be computed from Inf.
constexpr double kMetricCap = 1e6;

double Cap(double m) { return std::isfinite(m) ? std::min(m, kMetricCap) : kMetricCap; }

float SubScore(double metric, double threshold) {
  const double r = Cap(metric) / threshold;
  return static_cast<float>(1.0 / (1.0 + r * r));
}

std::string Format(const char* fmt, double a) {
  char buf[128];
  std::snprintf(buf, sizeof buf, fmt, a);
  return buf;
}

// First pass over one lead: the hard faults (non-finite, lead-off, flat)
// and the run and level metrics; sets `mean` to the mean of the lead
// clamped to the ADC range. Returns true when the lead has a hard fault
// (q is then final).
bool ScanLead(std::span<const float> interleaved, std::size_t leads,
              std::size_t lead, const SignalQualityConfig& c, LeadQuality& q,
              double& mean) {
  const std::size_t n = interleaved.size() / leads;
  const double fs = c.sample_rate_hz;
  const auto at = [&](std::size_t i) { return interleaved[i * leads + lead]; };
  // One pass for everything: this runs over every sample of every lead.
  // Clamped to the ADC range, anything at or beyond it is "at the rail".
  std::size_t rail_run = 0, longest_rail = 0, clipped = 0;
  std::size_t const_run = 1, longest_const = n > 0 ? 1 : 0;
  double sum = 0.0;
  double sum_squares = 0.0;
  float previous = 0.0f;
  for (std::size_t i = 0; i < n; ++i) {
    const float raw = at(i);
    if (!std::isfinite(raw)) {
      ++q.non_finite_samples;
      continue;
    }
    const float v = std::clamp(raw, c.adc_min_mv, c.adc_max_mv);
    sum += v;
    sum_squares += static_cast<double>(v) * v;
    const bool at_rail = v >= c.adc_max_mv || v <= c.adc_min_mv;
    if (at_rail) {
      ++rail_run;
      if (rail_run == 2) clipped += 2;
      if (rail_run > 2) clipped += 1;
    } else {
      rail_run = 0;
    }
    longest_rail = std::max(longest_rail, rail_run);
    if (i > 0) {
      const_run = v == previous ? const_run + 1 : 1;
      longest_const = std::max(longest_const, const_run);
    }
    previous = v;
  }
  if (q.non_finite_samples > 0) {
    q.score = 0.0f;
    q.issue = QualityIssue::kNonFinite;
    q.reason = std::to_string(q.non_finite_samples) +
               " non-finite samples (NaN/Inf): lead invalid";
    return true;
  }
  mean = sum / static_cast<double>(n);
  // E[x^2] - mean^2 in double is exact enough for millivolt signals of any
  // length an ECG has; the max() guards the rounding below zero.
  const double var =
      std::max(0.0, sum_squares - sum * mean);
  q.std_mv = std::sqrt(var / static_cast<double>(n));
  q.longest_rail_run_seconds = static_cast<double>(longest_rail) / fs;
  q.longest_constant_run_seconds = static_cast<double>(longest_const) / fs;
  q.clipped_fraction = static_cast<double>(clipped) / static_cast<double>(n);

  if (q.longest_rail_run_seconds >= c.lead_off_min_seconds) {
    q.issue = QualityIssue::kLeadOff;
    q.reason = Format("lead off: %.2f s at the ADC rail",
                      q.longest_rail_run_seconds);
    return true;
  }
  if (q.std_mv < c.flat_line_max_std_mv) {
    q.issue = QualityIssue::kFlatLine;
    q.reason = Format("flat line: standard deviation %.4f mV", q.std_mv);
    return true;
  }
  if (q.longest_constant_run_seconds >= c.lead_off_min_seconds) {
    q.issue = QualityIssue::kLeadOff;
    q.reason = Format("lead off: signal frozen for %.2f s",
                      q.longest_constant_run_seconds);
    return true;
  }
  return false;
}

// What the graded checks read from the filtered leads.
struct FilterMetrics {
  double hf_sum_squares = 0.0;   // above 40 Hz, frames [skip, n)
  double qrs_sum_squares = 0.0;  // 5-15 Hz, frames [skip, n)
  float low_min = 0.0f;          // below 0.5 Hz, frames [wander_skip, n)
  float low_max = 0.0f;
};

BiquadCascade MakeCascade(const Result<std::vector<BiquadCoefficients>>& design,
                          std::size_t leads) {
  // The designs cannot fail for validated rates; an identity section keeps
  // the code total.
  static const BiquadCoefficients kIdentity{};
  return BiquadCascade::Create(
             design ? std::span<const BiquadCoefficients>(*design)
                    : std::span<const BiquadCoefficients>(&kIdentity, 1),
             static_cast<int>(leads))
      .value();
}

// Filters all leads at once, in chunks, and accumulates FilterMetrics per
// lead. One multi-channel cascade instead of one per lead lets the CPU
// overlap the channels' recursions (biquad.h), and chunks keep the buffers
// small (whole-record buffers cost more in page faults than in filtering);
// per channel the arithmetic, and so every metric, is the same as filtering
// each lead whole. Leads marked `faulted` are fed zeros.
std::vector<FilterMetrics> FilterLeads(std::span<const float> interleaved,
                                       std::size_t leads,
                                       const std::vector<double>& means,
                                       const std::vector<bool>& faulted,
                                       const SignalQualityConfig& c,
                                       std::size_t skip,
                                       std::size_t wander_skip) {
  const double fs = c.sample_rate_hz;
  BiquadCascade high = MakeCascade(
      DesignButterworthHighPass(fs, std::min(kHfCutoffHz, 0.4 * fs), 4), leads);
  BiquadCascade qrs_high =
      MakeCascade(DesignButterworthHighPass(fs, kQrsLowHz, 2), leads);
  BiquadCascade qrs_low =
      MakeCascade(DesignButterworthLowPass(fs, kQrsHighHz, 2), leads);
  BiquadCascade low =
      MakeCascade(DesignButterworthLowPass(fs, kWanderCutoffHz, 2), leads);

  constexpr std::size_t kChunkFrames = 256;
  const std::size_t n = interleaved.size() / leads;
  std::vector<float> in(kChunkFrames * leads), out(kChunkFrames * leads),
      band(kChunkFrames * leads);
  std::vector<FilterMetrics> metrics(leads);
  for (std::size_t first = 0; first < n; first += kChunkFrames) {
    const std::size_t frames = std::min(kChunkFrames, n - first);
    const std::size_t size = frames * leads;
    for (std::size_t i = 0; i < frames; ++i) {
      for (std::size_t l = 0; l < leads; ++l) {
        const float v = std::clamp(interleaved[(first + i) * leads + l],
                                   c.adc_min_mv, c.adc_max_mv);
        in[i * leads + l] = faulted[l] ? 0.0f : static_cast<float>(v - means[l]);
      }
    }
    const auto chunk = [&](std::vector<float>& v) {
      return std::span<float>(v.data(), size);
    };
    const auto accumulate = [&](std::span<const float> y, std::size_t from,
                                auto&& add) {
      for (std::size_t i = 0; i < frames; ++i) {
        if (first + i < from) continue;
        for (std::size_t l = 0; l < leads; ++l) add(metrics[l], y[i * leads + l]);
      }
    };
    high.ProcessBlock(chunk(in), chunk(out));
    accumulate(chunk(out), skip, [](FilterMetrics& m, float y) {
      m.hf_sum_squares += static_cast<double>(y) * y;
    });
    qrs_high.ProcessBlock(chunk(in), chunk(band));
    qrs_low.ProcessBlock(chunk(band), chunk(out));
    accumulate(chunk(out), skip, [](FilterMetrics& m, float y) {
      m.qrs_sum_squares += static_cast<double>(y) * y;
    });
    low.ProcessBlock(chunk(in), chunk(out));
    for (std::size_t i = 0; i < frames; ++i) {
      if (first + i < wander_skip) continue;
      for (std::size_t l = 0; l < leads; ++l) {
        const float y = out[i * leads + l];
        FilterMetrics& m = metrics[l];
        const bool first_seen = first + i == wander_skip;
        m.low_min = first_seen ? y : std::min(m.low_min, y);
        m.low_max = first_seen ? y : std::max(m.low_max, y);
      }
    }
  }
  return metrics;
}

// Grades one lead that has no hard fault: noise, wander and clipping; the
// worst decides the lead's score and issue.
void GradeLead(const FilterMetrics& f, std::size_t rms_frames,
               bool has_wander, const SignalQualityConfig& c, LeadQuality& q) {
  const double frames = static_cast<double>(std::max<std::size_t>(rms_frames, 1));
  const double hf_rms = std::sqrt(f.hf_sum_squares / frames);
  const double qrs_rms = std::sqrt(f.qrs_sum_squares / frames);
  q.hf_noise_ratio = Cap(hf_rms / std::max(qrs_rms, kRmsFloorMv));
  q.hf_noise_rms_mv = Cap(hf_rms);
  const bool hf_above_floor = q.hf_noise_rms_mv >= c.hf_noise_floor_mv;
  if (has_wander) {
    q.wander_pp_mv = Cap(static_cast<double>(f.low_max) - f.low_min);
  }

  struct Graded {
    float score;
    QualityIssue issue;
    std::string reason;
  };
  const Graded graded[] = {
      {SubScore(q.clipped_fraction, c.saturation_max_fraction),
       QualityIssue::kSaturation,
       Format("clipped: %.2f%% of samples at the ADC range",
              100.0 * q.clipped_fraction)},
      {hf_above_floor ? SubScore(q.hf_noise_ratio, c.hf_noise_max_ratio)
                      : 1.0f,
       QualityIssue::kHighFrequencyNoise,
       Format("high-frequency noise: RMS above 40 Hz is %.2f x the QRS band",
              q.hf_noise_ratio)},
      {SubScore(q.wander_pp_mv, c.wander_max_pp_mv),
       QualityIssue::kBaselineWander,
       Format("baseline wander: %.2f mV peak-to-peak below 0.5 Hz",
              q.wander_pp_mv)},
  };
  const Graded* worst = &graded[0];
  for (const Graded& g : graded) {
    if (g.score < worst->score) worst = &g;
  }
  q.score = worst->score;
  if (worst->score < 0.5f) {
    q.issue = worst->issue;
    q.reason = worst->reason;
  } else {
    q.issue = QualityIssue::kOk;
    q.reason = "ok";
  }
}

bool Positive(double v) { return std::isfinite(v) && v > 0.0; }

}  // namespace

std::string_view QualityIssueName(QualityIssue issue) {
  switch (issue) {
    case QualityIssue::kOk: return "ok";
    case QualityIssue::kNonFinite: return "non-finite samples";
    case QualityIssue::kLeadOff: return "lead off";
    case QualityIssue::kFlatLine: return "flat line";
    case QualityIssue::kSaturation: return "saturation";
    case QualityIssue::kHighFrequencyNoise: return "high-frequency noise";
    case QualityIssue::kBaselineWander: return "baseline wander";
  }
  return "unknown";
}

Result<SignalQualityReport> AssessSignalQuality(
    std::span<const float> interleaved_mv, const SignalQualityConfig& c) {
  const auto bad = [](const char* what) {
    return Fail(ErrorCode::kInvalidArgument,
                std::string("AssessSignalQuality: ") + what);
  };
  if (!(c.sample_rate_hz >= 100.0 && c.sample_rate_hz <= 2000.0)) {
    return bad("sample_rate_hz must be in [100, 2000]");
  }
  if (c.num_leads < 1 || c.num_leads > kMaxCascadeChannels) {
    return bad("num_leads must be in [1, 64]");
  }
  if (!std::isfinite(c.adc_min_mv) || !std::isfinite(c.adc_max_mv) ||
      !(c.adc_min_mv < c.adc_max_mv)) {
    return bad("adc_min_mv < adc_max_mv, both finite, required");
  }
  if (!Positive(c.flat_line_max_std_mv)) return bad("flat_line_max_std_mv must be > 0");
  if (!Positive(c.lead_off_min_seconds)) return bad("lead_off_min_seconds must be > 0");
  if (!Positive(c.saturation_max_fraction)) return bad("saturation_max_fraction must be > 0");
  if (!Positive(c.hf_noise_max_ratio)) return bad("hf_noise_max_ratio must be > 0");
  if (!(std::isfinite(c.hf_noise_floor_mv) && c.hf_noise_floor_mv >= 0.0)) {
    return bad("hf_noise_floor_mv must be >= 0");
  }
  if (!Positive(c.wander_max_pp_mv)) return bad("wander_max_pp_mv must be > 0");
  const std::size_t leads = static_cast<std::size_t>(c.num_leads);
  if (interleaved_mv.empty() || interleaved_mv.size() % leads != 0) {
    return bad("input must be a non-empty whole number of frames");
  }

  const std::size_t n = interleaved_mv.size() / leads;
  SignalQualityReport report;
  report.overall_score = 1.0f;
  report.leads.resize(leads);
  std::vector<double> means(leads, 0.0);
  std::vector<bool> faulted(leads);
  for (std::size_t l = 0; l < leads; ++l) {
    faulted[l] = ScanLead(interleaved_mv, leads, l, c, report.leads[l], means[l]);
  }
  // Filter start-up transients are left out: a quarter of a short record,
  // else the first second.
  const double fs = c.sample_rate_hz;
  const std::size_t skip = std::min(n / 4, static_cast<std::size_t>(fs));
  const std::size_t wander_skip = n > 2 * static_cast<std::size_t>(fs)
                                      ? static_cast<std::size_t>(fs)
                                      : n / 4;
  const std::vector<FilterMetrics> filtered =
      FilterLeads(interleaved_mv, leads, means, faulted, c, skip, wander_skip);
  for (std::size_t l = 0; l < leads; ++l) {
    LeadQuality& q = report.leads[l];
    if (!faulted[l]) {
      GradeLead(filtered[l], n - skip, wander_skip < n, c, q);
    }
    if (q.issue == QualityIssue::kOk) ++report.num_ok_leads;
    if (q.score < report.overall_score ||
        (l == 0 && q.score <= report.overall_score)) {
      report.overall_score = q.score;
      report.overall_issue = q.issue;
    }
  }
  return report;
}

}  // namespace pulse::dsp
