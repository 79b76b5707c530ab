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

// Runs `x` through a freshly created cascade; returns the output, or the
// input unchanged if the design fails (cannot happen for validated rates).
std::vector<float> Filter(const Result<std::vector<BiquadCoefficients>>& design,
                          const std::vector<float>& x) {
  std::vector<float> y(x.size());
  if (!design) return x;
  Result<BiquadCascade> cascade = BiquadCascade::Create(*design, 1);
  if (!cascade) return x;
  cascade->ProcessBlock(x, y);
  return y;
}

double Rms(const std::vector<float>& x, std::size_t skip) {
  if (x.size() <= skip) skip = 0;
  double sum = 0.0;
  for (std::size_t i = skip; i < x.size(); ++i) {
    sum += static_cast<double>(x[i]) * x[i];
  }
  const std::size_t n = x.size() - skip;
  return n == 0 ? 0.0 : std::sqrt(sum / static_cast<double>(n));
}

LeadQuality AssessLead(const std::vector<float>& raw,
                       const SignalQualityConfig& c) {
  LeadQuality q;
  const std::size_t n = raw.size();
  const double fs = c.sample_rate_hz;
  for (float v : raw) q.non_finite_samples += std::isfinite(v) ? 0 : 1;
  if (q.non_finite_samples > 0) {
    q.score = 0.0f;
    q.issue = QualityIssue::kNonFinite;
    q.reason = std::to_string(q.non_finite_samples) +
               " non-finite samples (NaN/Inf): lead invalid";
    return q;
  }

  // Clamp to the ADC range; anything at or beyond it is "at the rail".
  std::vector<float> x(n);
  std::size_t rail_run = 0, longest_rail = 0, clipped = 0;
  std::size_t const_run = 1, longest_const = n > 0 ? 1 : 0;
  double sum = 0.0;
  for (std::size_t i = 0; i < n; ++i) {
    x[i] = std::clamp(raw[i], c.adc_min_mv, c.adc_max_mv);
    sum += x[i];
    const bool at_rail = x[i] >= c.adc_max_mv || x[i] <= c.adc_min_mv;
    if (at_rail) {
      ++rail_run;
      if (rail_run == 2) clipped += 2;
      if (rail_run > 2) clipped += 1;
    } else {
      rail_run = 0;
    }
    longest_rail = std::max(longest_rail, rail_run);
    if (i > 0) {
      const_run = x[i] == x[i - 1] ? const_run + 1 : 1;
      longest_const = std::max(longest_const, const_run);
    }
  }
  const double mean = sum / static_cast<double>(n);
  double var = 0.0;
  for (float v : x) var += (v - mean) * (v - mean);
  q.std_mv = std::sqrt(var / static_cast<double>(n));
  q.longest_rail_run_seconds = static_cast<double>(longest_rail) / fs;
  q.longest_constant_run_seconds = static_cast<double>(longest_const) / fs;
  q.clipped_fraction = static_cast<double>(clipped) / static_cast<double>(n);

  if (q.longest_rail_run_seconds >= c.lead_off_min_seconds) {
    q.issue = QualityIssue::kLeadOff;
    q.reason = Format("lead off: %.2f s at the ADC rail",
                      q.longest_rail_run_seconds);
    return q;
  }
  if (q.std_mv < c.flat_line_max_std_mv) {
    q.issue = QualityIssue::kFlatLine;
    q.reason = Format("flat line: standard deviation %.4f mV", q.std_mv);
    return q;
  }
  if (q.longest_constant_run_seconds >= c.lead_off_min_seconds) {
    q.issue = QualityIssue::kLeadOff;
    q.reason = Format("lead off: signal frozen for %.2f s",
                      q.longest_constant_run_seconds);
    return q;
  }

  // Graded checks on the mean-removed, clamped signal.
  for (float& v : x) v = static_cast<float>(v - mean);
  const std::size_t skip = std::min(n / 4, static_cast<std::size_t>(fs));
  const double hf_cut = std::min(kHfCutoffHz, 0.4 * fs);
  const double hf_rms =
      Rms(Filter(DesignButterworthHighPass(fs, hf_cut, 4), x), skip);
  const double qrs_rms =
      Rms(Filter(DesignButterworthLowPass(fs, kQrsHighHz, 2),
                 Filter(DesignButterworthHighPass(fs, kQrsLowHz, 2), x)),
          skip);
  q.hf_noise_ratio = Cap(hf_rms / std::max(qrs_rms, kRmsFloorMv));
  const std::vector<float> low =
      Filter(DesignButterworthLowPass(fs, kWanderCutoffHz, 2), x);
  const std::size_t wskip = n > 2 * static_cast<std::size_t>(fs)
                                ? static_cast<std::size_t>(fs)
                                : n / 4;
  if (wskip < n) {
    const auto [lo, hi] = std::minmax_element(low.begin() + static_cast<std::ptrdiff_t>(wskip), low.end());
    q.wander_pp_mv = Cap(static_cast<double>(*hi) - *lo);
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
      {SubScore(q.hf_noise_ratio, c.hf_noise_max_ratio),
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
  return q;
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
  if (!Positive(c.wander_max_pp_mv)) return bad("wander_max_pp_mv must be > 0");
  const std::size_t leads = static_cast<std::size_t>(c.num_leads);
  if (interleaved_mv.empty() || interleaved_mv.size() % leads != 0) {
    return bad("input must be a non-empty whole number of frames");
  }

  const std::size_t n = interleaved_mv.size() / leads;
  SignalQualityReport report;
  report.overall_score = 1.0f;
  std::vector<float> lead(n);
  for (std::size_t l = 0; l < leads; ++l) {
    for (std::size_t i = 0; i < n; ++i) lead[i] = interleaved_mv[i * leads + l];
    LeadQuality q = AssessLead(lead, c);
    if (q.issue == QualityIssue::kOk) ++report.num_ok_leads;
    if (q.score < report.overall_score ||
        (l == 0 && q.score <= report.overall_score)) {
      report.overall_score = q.score;
      report.overall_issue = q.issue;
    }
    report.leads.push_back(std::move(q));
  }
  return report;
}

}  // namespace pulse::dsp
