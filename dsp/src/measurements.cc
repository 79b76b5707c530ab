// ComputeMeasurements: the method and its references are in the header.
// Two independent halves: the rate/HRV half works on beat times only, the
// wave half on the median beat and its global fiducials; either can be
// absent without the other.
#include "pulse/dsp/measurements.h"
#include "range_check.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numbers>
#include <string>
#include <vector>

namespace pulse::dsp {
namespace {

using internal::CheckRange;
using internal::FormatNumber;

// Below this net area (mV·ms) in both I and aVF a wave has no direction
// worth printing (a P wave of 0.05 mV over 60 ms has ~2 mV·ms).
constexpr double kMinAxisAreaMvMs = 0.1;
constexpr double kTwoOverSqrt3 = 1.1547005383792515;



Status Validate(const MedianBeatSet& m, std::span<const ClassifiedBeat> beats,
                const MeasurementOptions& o) {
  if (Status s = CheckRange("medians.sample_rate_hz", m.sample_rate_hz, 50.0,
                            10000.0);
      !s) {
    return s;
  }
  if (m.num_leads != 0 && m.num_leads != kNumStandardLeads) {
    return Fail(ErrorCode::kInvalidArgument,
                "medians.num_leads = " + std::to_string(m.num_leads) +
                    " must be 0 or 12");
  }
  if (m.length_frames < 0 ||
      (m.num_leads == 0) != (m.length_frames == 0)) {
    return Fail(ErrorCode::kInvalidArgument,
                "medians.length_frames = " + std::to_string(m.length_frames) +
                    " does not fit num_leads = " + std::to_string(m.num_leads));
  }
  if (static_cast<std::int64_t>(m.samples_mv.size()) !=
      m.num_leads * m.length_frames) {
    return Fail(ErrorCode::kInvalidArgument,
                "medians.samples_mv has " +
                    std::to_string(m.samples_mv.size()) + " samples, not " +
                    std::to_string(m.num_leads * m.length_frames));
  }
  if (m.length_frames > 0 &&
      (m.fiducial_index < 0 || m.fiducial_index >= m.length_frames)) {
    return Fail(ErrorCode::kInvalidArgument,
                "medians.fiducial_index = " + std::to_string(m.fiducial_index) +
                    " is outside the window");
  }
  for (std::size_t i = 1; i < beats.size(); ++i) {
    if (beats[i].sample <= beats[i - 1].sample) {
      return Fail(ErrorCode::kInvalidArgument,
                  "beats[" + std::to_string(i) + "].sample = " +
                      std::to_string(beats[i].sample) +
                      " is not after the previous beat");
    }
  }
  if (Status s = CheckRange("options.st_offset_ms", o.st_offset_ms, 20.0, 120.0);
      !s) {
    return s;
  }
  if (Status s = CheckRange("options.isoelectric_window_ms",
                            o.isoelectric_window_ms, 2.0, 80.0);
      !s) {
    return s;
  }
  if (Status s = CheckRange("options.min_hrv_intervals",
                            static_cast<double>(o.min_hrv_intervals), 2.0,
                            100000.0);
      !s) {
    return s;
  }
  return CheckRange("options.hrv_max_change_fraction",
                    o.hrv_max_change_fraction, 0.05, 1.0);
}

std::optional<double> IfPlausible(double value, PlausibleRange range) {
  if (!std::isfinite(value) || !range.Contains(value)) return std::nullopt;
  return value;
}

// ---------------------------------------------------------------- rate, HRV

struct Interval {
  std::size_t first_beat;  // the interval runs first_beat -> first_beat + 1
  double rr_ms;
};

double RrMs(std::span<const ClassifiedBeat> beats, std::size_t k,
            double rate_hz) {
  return static_cast<double>(beats[k + 1].sample - beats[k].sample) * 1000.0 /
         rate_hz;
}

bool IsNormal(std::span<const ClassifiedBeat> beats, std::size_t k) {
  return beats[k].beat_class == BeatClass::kNormal;
}

void MeasureRate(std::span<const ClassifiedBeat> beats, double rate_hz,
                 EcgMeasurements& out) {
  double nn_sum = 0.0, any_sum = 0.0;
  int nn_count = 0, any_count = 0;
  for (std::size_t k = 0; k + 1 < beats.size(); ++k) {
    const double rr = RrMs(beats, k, rate_hz);
    if (!kPlausibleRateRrMs.Contains(rr)) continue;
    if (IsNormal(beats, k) && IsNormal(beats, k + 1)) {
      nn_sum += rr;
      ++nn_count;
    }
    if (beats[k].beat_class != BeatClass::kUnknown &&
        beats[k + 1].beat_class != BeatClass::kUnknown) {
      any_sum += rr;
      ++any_count;
    }
  }
  double mean_rr = 0.0;
  if (nn_count > 0) {
    out.rate_source = RateSource::kNormalToNormal;
    out.rate_interval_count = nn_count;
    mean_rr = nn_sum / static_cast<double>(nn_count);
  } else if (any_count > 0) {
    out.rate_source = RateSource::kAllBeats;
    out.rate_interval_count = any_count;
    mean_rr = any_sum / static_cast<double>(any_count);
  } else {
    return;
  }
  out.mean_rr_ms = mean_rr;
  out.heart_rate_bpm = 60000.0 / mean_rr;  // mean_rr >= 200 ms
}

// NN intervals fit for HRV before the 20 % rule: both beats normal, neither
// neighbour ventricular or unknown, RR in the Task Force range.
std::vector<Interval> HrvCandidates(std::span<const ClassifiedBeat> beats,
                                    double rate_hz) {
  std::vector<Interval> out;
  for (std::size_t k = 0; k + 1 < beats.size(); ++k) {
    if (!IsNormal(beats, k) || !IsNormal(beats, k + 1)) continue;
    if (k > 0 && !IsNormal(beats, k - 1)) continue;
    if (k + 2 < beats.size() && !IsNormal(beats, k + 2)) continue;
    const double rr = RrMs(beats, k, rate_hz);
    if (kPlausibleHrvRrMs.Contains(rr)) out.push_back({k, rr});
  }
  return out;
}

double MedianRr(const std::vector<Interval>& intervals) {
  std::vector<double> rr;
  rr.reserve(intervals.size());
  for (const Interval& i : intervals) rr.push_back(i.rr_ms);
  const auto mid = rr.begin() + static_cast<std::ptrdiff_t>(rr.size() / 2);
  std::nth_element(rr.begin(), mid, rr.end());
  return *mid;
}

void MeasureHrv(std::span<const ClassifiedBeat> beats, double rate_hz,
                const MeasurementOptions& options, EcgMeasurements& out) {
  const std::vector<Interval> candidates = HrvCandidates(beats, rate_hz);
  if (candidates.empty()) return;
  // The 20 % rule against the last accepted interval; the median of the
  // candidates stands in for it at the start so that a first outlier cannot
  // make every later interval look like one.
  double reference = MedianRr(candidates);
  std::vector<Interval> accepted;
  for (const Interval& c : candidates) {
    if (std::abs(c.rr_ms - reference) <=
        options.hrv_max_change_fraction * reference) {
      accepted.push_back(c);
      reference = c.rr_ms;
    }
  }
  out.hrv_interval_count = static_cast<int>(accepted.size());
  const auto n = accepted.size();
  if (n < static_cast<std::size_t>(options.min_hrv_intervals)) return;

  double sum = 0.0;
  for (const Interval& a : accepted) sum += a.rr_ms;
  const double mean = sum / static_cast<double>(n);
  double ss = 0.0;
  for (const Interval& a : accepted) ss += (a.rr_ms - mean) * (a.rr_ms - mean);
  out.sdnn_ms = std::sqrt(ss / static_cast<double>(n - 1));

  double ss_diff = 0.0;
  std::size_t pairs = 0;
  for (std::size_t i = 1; i < n; ++i) {
    if (accepted[i].first_beat != accepted[i - 1].first_beat + 1) continue;
    const double d = accepted[i].rr_ms - accepted[i - 1].rr_ms;
    ss_diff += d * d;
    ++pairs;
  }
  if (pairs + 1 >= static_cast<std::size_t>(options.min_hrv_intervals)) {
    out.rmssd_ms = std::sqrt(ss_diff / static_cast<double>(pairs));
  }
}

// ------------------------------------------------------------ median beat

// The global fiducials, each wave kept only if it is inside the window and
// in the documented order.
struct Waves {
  bool qrs = false;
  bool p = false;
  bool t = false;
};

Waves UsableWaves(const WaveFiducials& g, std::int64_t length) {
  Waves w;
  w.qrs = g.has_qrs() && g.qrs_onset >= 1 && g.qrs_offset < length;
  w.p = w.qrs && g.has_p() && g.p_offset <= g.qrs_onset;
  w.t = w.qrs && g.has_t() && g.t_offset > g.qrs_offset && g.t_offset < length;
  return w;
}

class MedianReader {
 public:
  MedianReader(const MedianBeatSet& m, const WaveFiducials& g, Waves waves,
               const MeasurementOptions& o)
      : m_(m), g_(g) {
    // Isoelectric window [iso_begin_, qrs_onset): the PR segment.
    const auto window = static_cast<std::int64_t>(
        std::llround(o.isoelectric_window_ms * m.sample_rate_hz / 1000.0));
    iso_begin_ = g.qrs_onset - std::max<std::int64_t>(1, window);
    if (waves.p) iso_begin_ = std::max(iso_begin_, g.p_offset);
    if (iso_begin_ >= g.qrs_onset) iso_begin_ = g.qrs_onset - 1;
    iso_begin_ = std::max<std::int64_t>(0, iso_begin_);
  }

  // Mean over the PR segment; may be non-finite if the samples are.
  double Baseline(Lead lead) const {
    const auto x = m_.lead(LeadIndex(lead));
    double sum = 0.0;
    for (std::int64_t i = iso_begin_; i < g_.qrs_onset; ++i) {
      sum += static_cast<double>(x[static_cast<std::size_t>(i)]);
    }
    return sum / static_cast<double>(g_.qrs_onset - iso_begin_);
  }

  // Baseline-corrected net area over [begin, end], mV·ms.
  double NetAreaMvMs(Lead lead, std::int64_t begin, std::int64_t end) const {
    const auto x = m_.lead(LeadIndex(lead));
    const double base = Baseline(lead);
    double sum = 0.0;
    for (std::int64_t i = begin; i <= end; ++i) {
      sum += static_cast<double>(x[static_cast<std::size_t>(i)]) - base;
    }
    return sum * 1000.0 / m_.sample_rate_hz;
  }

  std::optional<double> AxisDeg(std::int64_t begin, std::int64_t end) const {
    const double area_i = NetAreaMvMs(Lead::kI, begin, end);
    const double area_y = kTwoOverSqrt3 * NetAreaMvMs(Lead::kAVF, begin, end);
    if (!std::isfinite(area_i) || !std::isfinite(area_y)) return std::nullopt;
    if (std::hypot(area_i, area_y) < kMinAxisAreaMvMs) return std::nullopt;
    double deg = std::atan2(area_y, area_i) * 180.0 / std::numbers::pi;
    if (deg <= -180.0) deg += 360.0;  // (-180, 180]
    return deg;
  }

  // Largest (sign +1) or most negative (sign -1) baseline-corrected
  // deflection within the QRS, as a magnitude ≥ 0.
  std::optional<double> QrsExtremeMv(Lead lead, double sign) const {
    const auto x = m_.lead(LeadIndex(lead));
    const double base = Baseline(lead);
    double extreme = 0.0;
    for (std::int64_t i = g_.qrs_onset; i <= g_.qrs_offset; ++i) {
      const double v =
          sign * (static_cast<double>(x[static_cast<std::size_t>(i)]) - base);
      if (!std::isfinite(v)) return std::nullopt;
      extreme = std::max(extreme, v);
    }
    return extreme;
  }

  std::optional<double> StLevelMv(Lead lead, std::int64_t at) const {
    const auto x = m_.lead(LeadIndex(lead));
    const double v =
        static_cast<double>(x[static_cast<std::size_t>(at)]) - Baseline(lead);
    if (!std::isfinite(v)) return std::nullopt;
    return v;
  }

 private:
  const MedianBeatSet& m_;
  const WaveFiducials& g_;
  std::int64_t iso_begin_ = 0;
};

void MeasureIntervals(const WaveFiducials& g, Waves w, double rate_hz,
                      EcgMeasurements& out) {
  const double ms_per_sample = 1000.0 / rate_hz;
  auto ms = [ms_per_sample](std::int64_t a, std::int64_t b) {
    return static_cast<double>(b - a) * ms_per_sample;
  };
  if (w.qrs) {
    out.qrs_duration_ms =
        IfPlausible(ms(g.qrs_onset, g.qrs_offset), kPlausibleQrsMs);
  }
  if (w.p) {
    out.p_duration_ms =
        IfPlausible(ms(g.p_onset, g.p_offset), kPlausiblePDurationMs);
    out.pr_interval_ms = IfPlausible(ms(g.p_onset, g.qrs_onset), kPlausiblePrMs);
  }
  if (w.t) {
    out.qt_interval_ms = IfPlausible(ms(g.qrs_onset, g.t_offset), kPlausibleQtMs);
  }
  if (out.qt_interval_ms && out.mean_rr_ms) {
    auto correct = [&](QtcFormula f) -> std::optional<CorrectedQt> {
      const auto qtc = CorrectQt(f, *out.qt_interval_ms, *out.mean_rr_ms);
      if (!qtc || !kPlausibleQtcMs.Contains(*qtc)) return std::nullopt;
      return CorrectedQt{f, *qtc};
    };
    out.qtc_bazett = correct(QtcFormula::kBazett);
    out.qtc_fridericia = correct(QtcFormula::kFridericia);
  }
}

void MeasureMedian(const MedianBeatSet& m, const WaveFiducials& g,
                   const MeasurementOptions& o, EcgMeasurements& out) {
  const Waves w = UsableWaves(g, m.length_frames);
  MeasureIntervals(g, w, m.sample_rate_hz, out);
  if (!w.qrs) return;
  const MedianReader reader(m, g, w, o);

  if (w.p) out.p_axis_deg = reader.AxisDeg(g.p_onset, g.p_offset);
  out.qrs_axis_deg = reader.AxisDeg(g.qrs_onset, g.qrs_offset);
  if (w.t) out.t_axis_deg = reader.AxisDeg(g.qrs_offset, g.t_offset);

  const std::int64_t st_at =
      g.qrs_offset + static_cast<std::int64_t>(std::llround(
                         o.st_offset_ms * m.sample_rate_hz / 1000.0));
  const bool st_inside =
      st_at < m.length_frames && (!w.t || st_at < g.t_offset);
  if (st_inside) {
    for (Lead lead : kStandardLeadOrder) {
      out.st_level_mv[static_cast<std::size_t>(LeadIndex(lead))] =
          reader.StLevelMv(lead, st_at);
    }
  }

  out.r_amplitude_v5_mv = reader.QrsExtremeMv(Lead::kV5, +1.0);
  out.r_amplitude_v6_mv = reader.QrsExtremeMv(Lead::kV6, +1.0);
  out.s_amplitude_v1_mv = reader.QrsExtremeMv(Lead::kV1, -1.0);
  if (out.s_amplitude_v1_mv && out.r_amplitude_v5_mv && out.r_amplitude_v6_mv) {
    out.sokolow_lyon_mv = *out.s_amplitude_v1_mv +
                          std::max(*out.r_amplitude_v5_mv,
                                   *out.r_amplitude_v6_mv);
  }
}

}  // namespace

std::string_view QtcFormulaName(QtcFormula formula) {
  switch (formula) {
    case QtcFormula::kBazett:
      return "Bazett";
    case QtcFormula::kFridericia:
      return "Fridericia";
  }
  return "unknown";
}

std::string_view QtcFormulaExpression(QtcFormula formula) {
  switch (formula) {
    case QtcFormula::kBazett:
      return "QT/RR^(1/2)";
    case QtcFormula::kFridericia:
      return "QT/RR^(1/3)";
  }
  return "";
}

std::optional<double> CorrectQt(QtcFormula formula, double qt_ms,
                                double rr_ms) {
  if (!std::isfinite(qt_ms) || !std::isfinite(rr_ms) || qt_ms <= 0.0 ||
      rr_ms <= 0.0) {
    return std::nullopt;
  }
  const double rr_s = rr_ms / 1000.0;
  const double qtc = formula == QtcFormula::kBazett ? qt_ms / std::sqrt(rr_s)
                                                    : qt_ms / std::cbrt(rr_s);
  if (!std::isfinite(qtc)) return std::nullopt;
  return qtc;
}

Result<EcgMeasurements> ComputeMeasurements(
    const MedianBeatSet& medians, const WaveFiducials& global,
    std::span<const ClassifiedBeat> beats, const MeasurementOptions& options) {
  if (Status s = Validate(medians, beats, options); !s) {
    return tl::unexpected(s.error());
  }
  EcgMeasurements out;
  out.median_beat_class = medians.beat_class;
  out.median_beats_used = medians.beats_used;
  out.st_offset_ms = options.st_offset_ms;
  MeasureRate(beats, medians.sample_rate_hz, out);
  MeasureHrv(beats, medians.sample_rate_hz, options, out);
  if (medians.num_leads == kNumStandardLeads) {
    MeasureMedian(medians, global, options, out);
  }
  return out;
}

}  // namespace pulse::dsp
