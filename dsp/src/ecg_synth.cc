// SynthesizeEcg: beat timing, then a Gaussian-sum heart dipole, then leads.
//
// Timing. Sinus beats follow RR_k = 60/HR + N(0, hrv_sd) (clamped to
// 0.5..1.5 × the mean). Inside an AF span RR_k is uniform in 0.6..1.4 × the
// mean plus the same jitter (clamped to 0.4..2 ×), which gives a coefficient
// of variation near 0.23, well above sinus. A PVC falls at 0.6 × RR after the
// previous beat; the next beat keeps the sinus schedule (previous beat + RR +
// RR'), i.e. a full compensatory pause.
//
// Waves, as Gaussians in time (centre c, width σ) with a 3-D amplitude:
//   P:   duration d = min(110 ms, 0.55 · PR), σ = d/6, on/off = c ∓ 3σ;
//        P onset = QRS onset − PR.
//   QRS (sinus, width w = QRS): onset = R − 0.45 w, offset = onset + w;
//        Q at onset + 0.20 w (σ = w/12), R at onset + 0.45 w (σ = w/10),
//        S at onset + 0.72 w (σ = w/12); all three along the frontal axis so
//        the net-area axis equals the configured one.
//   T:   σ = QT/9, T offset = QRS onset + QT = c + 2.5σ (where the wave has
//        fallen to 4 % of its peak, near where a tangent method puts it).
//   PVC: w = max(140 ms, 1.6 · QRS), onset = R − 0.4 w, R lobe σ = w/7,
//        S lobe at onset + 0.72 w (σ = w/11), no P, T discordant to the QRS,
//        T offset = onset + QT + (w − QRS).
// The numbers are typical adult values (e.g. Goldberger, Clinical
// Electrocardiography, 9th ed., ch. 3), not fitted to any record.
#include "pulse/dsp/ecg_synth.h"
#include "range_check.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <numbers>
#include <random>
#include <string>

namespace pulse::dsp {
namespace {

using internal::CheckRange;
using internal::FormatNumber;

constexpr double kPi = std::numbers::pi;
constexpr double kSqrt3Over2 = 0.8660254037844386;
constexpr double kPvcCouplingFraction = 0.6;
constexpr double kWanderHz = 0.3;

// Approximate Dower-like rows for V1..V6 from (X left, Y inferior,
// Z posterior), in mV per mV of dipole.
constexpr std::array<std::array<double, 3>, 6> kPrecordialRows = {{
    {-0.515, 0.157, -0.917},
    {0.044, 0.164, -1.387},
    {0.882, 0.098, -1.277},
    {1.213, 0.127, -0.601},
    {1.125, 0.127, -0.086},
    {0.831, 0.076, 0.230},
}};

struct Vec3 {
  double x = 0.0;
  double y = 0.0;
  double z = 0.0;
};

// Frontal direction at `deg` (0 = lead I, +90 = aVF) with magnitude `mv`
// and a posterior component `z_mv`.
Vec3 Frontal(double deg, double mv, double z_mv) {
  const double a = deg * kPi / 180.0;
  return {mv * std::cos(a), mv * std::sin(a), z_mv};
}



Status Validate(const EcgSynthConfig& c) {
  struct Field {
    const char* name;
    double value, lo, hi;
  };
  const Field fields[] = {
      {"sample_rate_hz", c.sample_rate_hz, 100.0, 2000.0},
      {"duration_s", c.duration_s, 1.0, 3600.0},
      {"heart_rate_bpm", c.heart_rate_bpm, 20.0, 250.0},
      {"hrv_sd_ms", c.hrv_sd_ms, 0.0, 200.0},
      {"pr_ms", c.pr_ms, 80.0, 400.0},
      {"qrs_ms", c.qrs_ms, 40.0, 200.0},
      {"qt_ms", c.qt_ms, 200.0, 700.0},
      {"frontal_axis_deg", c.frontal_axis_deg, -180.0, 180.0},
      {"pvc_probability", c.pvc_probability, 0.0, 0.5},
      {"af_fwave_uv", c.af_fwave_uv, 0.0, 500.0},
      {"noise_uv", c.noise_uv, 0.0, 1000.0},
      {"baseline_wander_uv", c.baseline_wander_uv, 0.0, 5000.0},
  };
  for (const Field& f : fields) {
    if (Status s = CheckRange(f.name, f.value, f.lo, f.hi); !s) return s;
  }
  const double rr_ms = 60000.0 / c.heart_rate_bpm;
  if (!(c.pr_ms + c.qt_ms < rr_ms)) {
    return Fail(ErrorCode::kInvalidArgument,
                "pr_ms + qt_ms = " + FormatNumber(c.pr_ms + c.qt_ms) +
                    " ms must be below the mean RR of " + FormatNumber(rr_ms) + " ms");
  }
  for (std::size_t i = 0; i < c.af_spans.size(); ++i) {
    const SynthTimeSpan& s = c.af_spans[i];
    if (!(s.begin_s >= 0.0 && s.begin_s < s.end_s && s.end_s <= c.duration_s)) {
      return Fail(ErrorCode::kInvalidArgument,
                  "af_spans[" + std::to_string(i) + "] = [" + FormatNumber(s.begin_s) +
                      ", " + FormatNumber(s.end_s) +
                      ") s is not a non-empty span within [0, duration_s]");
    }
  }
  for (int index : c.pvc_beat_indices) {
    if (index < 1) {
      return Fail(ErrorCode::kInvalidArgument,
                  "pvc_beat_indices holds " + std::to_string(index) +
                      "; the first PVC can be beat 1");
    }
  }
  return OkStatus();
}

struct Wave {
  double centre_s;
  double sigma_s;
  Vec3 amp_mv;
};

class DipoleTrace {
 public:
  DipoleTrace(std::int64_t frames, double rate_hz)
      : rate_hz_(rate_hz),
        x_(static_cast<std::size_t>(frames)),
        y_(static_cast<std::size_t>(frames)),
        z_(static_cast<std::size_t>(frames)) {}

  // Adds the Gaussian over ±5σ (beyond that it is below 4e-6 of its peak).
  void Add(const Wave& w) {
    const auto frames = static_cast<std::int64_t>(x_.size());
    const auto lo = std::max<std::int64_t>(
        0, static_cast<std::int64_t>(
               std::floor((w.centre_s - 5.0 * w.sigma_s) * rate_hz_)));
    const auto hi = std::min<std::int64_t>(
        frames - 1, static_cast<std::int64_t>(
                        std::ceil((w.centre_s + 5.0 * w.sigma_s) * rate_hz_)));
    for (std::int64_t i = lo; i <= hi; ++i) {
      const double u =
          (static_cast<double>(i) / rate_hz_ - w.centre_s) / w.sigma_s;
      const double g = std::exp(-0.5 * u * u);
      const auto k = static_cast<std::size_t>(i);
      x_[k] += g * w.amp_mv.x;
      y_[k] += g * w.amp_mv.y;
      z_[k] += g * w.amp_mv.z;
    }
  }

  void AddAt(std::int64_t i, const Vec3& v) {
    const auto k = static_cast<std::size_t>(i);
    x_[k] += v.x;
    y_[k] += v.y;
    z_[k] += v.z;
  }

  Vec3 At(std::int64_t i) const {
    const auto k = static_cast<std::size_t>(i);
    return {x_[k], y_[k], z_[k]};
  }

 private:
  double rate_hz_;
  std::vector<double> x_, y_, z_;
};

struct PlannedBeat {
  double r_s;
  bool pvc;
  bool in_af;
};

bool InAnySpan(const std::vector<SynthTimeSpan>& spans, double t) {
  return std::any_of(spans.begin(), spans.end(), [t](const SynthTimeSpan& s) {
    return t >= s.begin_s && t < s.end_s;
  });
}

}  // namespace

Result<SynthEcg> SynthesizeEcg(const EcgSynthConfig& config) {
  if (Status s = Validate(config); !s) return tl::unexpected(s.error());

  const double fs = config.sample_rate_hz;
  const double rr_s = 60.0 / config.heart_rate_bpm;
  const double pr_s = config.pr_ms / 1000.0;
  const double qrs_s = config.qrs_ms / 1000.0;
  const double qt_s = config.qt_ms / 1000.0;
  const double hrv_s = config.hrv_sd_ms / 1000.0;
  const double pvc_w = std::max(0.140, 1.6 * qrs_s);
  const auto frames =
      static_cast<std::int64_t>(std::floor(config.duration_s * fs));

  std::mt19937_64 rng(config.seed);
  std::normal_distribution<double> unit_normal(0.0, 1.0);
  std::uniform_real_distribution<double> unit_uniform(0.0, 1.0);

  // --- Beat times. Every draw happens for every beat, so that changing one
  // option perturbs the others' random streams as little as possible.
  std::vector<PlannedBeat> planned;
  {
    const double first_r = 0.2 + pr_s + 0.45 * qrs_s;
    double last_r = first_r;
    double carry_s = 0.0;  // rest of the RR interval a PVC cut short
    bool prev_pvc = false;
    for (int k = 0;; ++k) {
      const double jitter = unit_normal(rng) * hrv_s;
      const double af_u = unit_uniform(rng);
      const double pvc_u = unit_uniform(rng);
      double r_s = first_r;
      bool pvc = false;
      if (k > 0) {
        double rr = rr_s + jitter;
        if (InAnySpan(config.af_spans, last_r + rr_s)) {
          rr = std::clamp(rr_s * (0.6 + 0.8 * af_u) + jitter, 0.4 * rr_s,
                          2.0 * rr_s);
        } else {
          rr = std::clamp(rr, 0.5 * rr_s, 1.5 * rr_s);
        }
        const bool listed = std::find(config.pvc_beat_indices.begin(),
                                      config.pvc_beat_indices.end(),
                                      k) != config.pvc_beat_indices.end();
        pvc = listed || (!prev_pvc && pvc_u < config.pvc_probability);
        if (pvc) {
          r_s = last_r + kPvcCouplingFraction * rr;
          carry_s = (1.0 - kPvcCouplingFraction) * rr;
        } else {
          r_s = last_r + carry_s + rr;
          carry_s = 0.0;
        }
      }
      // The beat must lie wholly inside the record.
      const double end_s = pvc ? r_s - 0.4 * pvc_w + qt_s + (pvc_w - qrs_s)
                               : r_s - 0.45 * qrs_s + qt_s;
      if (end_s + 0.05 >= config.duration_s) break;
      planned.push_back({r_s, pvc, InAnySpan(config.af_spans, r_s)});
      last_r = r_s;
      prev_pvc = pvc;
    }
  }

  // --- Heart dipole.
  DipoleTrace dipole(frames, fs);
  SynthEcg out;
  out.sample_rate_hz = fs;
  const double axis = config.frontal_axis_deg;
  auto to_sample = [fs](double t) {
    return static_cast<std::int64_t>(std::llround(t * fs));
  };
  for (const PlannedBeat& b : planned) {
    SynthBeat truth;
    truth.r_sample = to_sample(b.r_s);
    truth.in_af = b.in_af;
    if (b.pvc) {
      truth.beat_class = SynthBeatClass::kVentricular;
      const double on = b.r_s - 0.4 * pvc_w;
      const double t_off = on + qt_s + (pvc_w - qrs_s);
      const double t_sigma = 1.1 * qt_s / 9.0;
      // An ectopic focus depolarises the ventricles along an abnormal
      // direction (here left-superior and anterior, as from a right
      // ventricular outflow or inferior LV focus) with a larger, slower vector.
      dipole.Add({b.r_s, pvc_w / 7.0, Frontal(axis - 120.0, 1.6, -0.6)});
      dipole.Add(
          {on + 0.72 * pvc_w, pvc_w / 11.0, Frontal(axis - 120.0, -0.4, 0.2)});
      dipole.Add(
          {t_off - 2.5 * t_sigma, t_sigma, Frontal(axis - 120.0, -0.45, 0.25)});
      truth.qrs_on = to_sample(on);
      truth.qrs_off = to_sample(on + pvc_w);
      truth.t_off = to_sample(t_off);
    } else {
      const double on = b.r_s - 0.45 * qrs_s;
      if (!b.in_af) {
        const double p_dur = std::min(0.110, 0.55 * pr_s);
        const double p_on = on - pr_s;
        dipole.Add(
            {p_on + 0.5 * p_dur, p_dur / 6.0, Frontal(60.0, 0.15, -0.05)});
        truth.p_on = to_sample(p_on);
        truth.p_off = to_sample(p_on + p_dur);
      }
      dipole.Add(
          {on + 0.20 * qrs_s, qrs_s / 12.0, Frontal(axis, -0.10, -0.15)});
      dipole.Add({b.r_s, qrs_s / 10.0, Frontal(axis, 1.10, 0.35)});
      dipole.Add({on + 0.72 * qrs_s, qrs_s / 12.0, Frontal(axis, -0.25, 0.50)});
      const double t_sigma = qt_s / 9.0;
      const double t_off = on + qt_s;
      dipole.Add({t_off - 2.5 * t_sigma, t_sigma, Frontal(axis, 0.30, -0.10)});
      truth.qrs_on = to_sample(on);
      truth.qrs_off = to_sample(on + qrs_s);
      truth.t_off = to_sample(t_off);
    }
    out.beats.push_back(truth);
  }

  // --- Fibrillatory waves: two incommensurate sines in the 4-8 Hz band with
  // a slow amplitude modulation, along a mostly anterior atrial vector (so
  // they are largest in V1, as clinically).
  for (const SynthTimeSpan& span : config.af_spans) {
    const double phase1 = 2.0 * kPi * unit_uniform(rng);
    const double phase2 = 2.0 * kPi * unit_uniform(rng);
    const double amp_mv = config.af_fwave_uv / 1000.0;
    const Vec3 dir{0.25, 0.35, -0.90};
    const std::int64_t lo = std::max<std::int64_t>(0, to_sample(span.begin_s));
    const std::int64_t hi =
        std::min<std::int64_t>(frames, to_sample(span.end_s));
    for (std::int64_t i = lo; i < hi; ++i) {
      const double t = static_cast<double>(i) / fs;
      const double f = amp_mv * (1.0 + 0.3 * std::sin(2.0 * kPi * 0.4 * t)) *
                       (0.6 * std::sin(2.0 * kPi * 5.3 * t + phase1) +
                        0.4 * std::sin(2.0 * kPi * 6.9 * t + phase2));
      dipole.AddAt(i, {f * dir.x, f * dir.y, f * dir.z});
    }
    out.af_spans.push_back({lo, hi});
  }

  // --- Leads. I, II and V1..V6 are independent "measured" leads, each with
  // its own noise and wander; the other four limb leads follow from I and II.
  constexpr int kIndependent = 8;
  std::array<double, kIndependent> wander_amp{};
  std::array<double, kIndependent> wander_hz{};
  std::array<double, kIndependent> wander_phase{};
  for (int j = 0; j < kIndependent; ++j) {
    wander_amp[static_cast<std::size_t>(j)] =
        config.baseline_wander_uv / 1000.0 * (0.6 + 0.4 * unit_uniform(rng));
    wander_hz[static_cast<std::size_t>(j)] =
        kWanderHz * (0.9 + 0.2 * unit_uniform(rng));
    wander_phase[static_cast<std::size_t>(j)] = 2.0 * kPi * unit_uniform(rng);
  }
  const double noise_mv = config.noise_uv / 1000.0;
  out.interleaved_mv.assign(static_cast<std::size_t>(frames * kSynthNumLeads),
                            0.0f);
  for (std::int64_t i = 0; i < frames; ++i) {
    const double t = static_cast<double>(i) / fs;
    const Vec3 v = dipole.At(i);
    std::array<double, kIndependent> lead{};
    lead[0] = v.x;
    lead[1] = 0.5 * v.x + kSqrt3Over2 * v.y;
    for (std::size_t j = 0; j < kPrecordialRows.size(); ++j) {
      const auto& row = kPrecordialRows[j];
      lead[2 + j] = row[0] * v.x + row[1] * v.y + row[2] * v.z;
    }
    for (std::size_t j = 0; j < lead.size(); ++j) {
      lead[j] += wander_amp[j] *
                     std::sin(2.0 * kPi * wander_hz[j] * t + wander_phase[j]) +
                 noise_mv * unit_normal(rng);
    }
    float* frame = out.interleaved_mv.data() +
                   static_cast<std::size_t>(i) * kSynthNumLeads;
    const auto lead_i = static_cast<float>(lead[0]);
    const auto lead_ii = static_cast<float>(lead[1]);
    frame[static_cast<int>(SynthLead::kI)] = lead_i;
    frame[static_cast<int>(SynthLead::kII)] = lead_ii;
    frame[static_cast<int>(SynthLead::kIII)] = lead_ii - lead_i;
    frame[static_cast<int>(SynthLead::kAvr)] = -(lead_i + lead_ii) * 0.5f;
    frame[static_cast<int>(SynthLead::kAvl)] = lead_i - 0.5f * lead_ii;
    frame[static_cast<int>(SynthLead::kAvf)] = lead_ii - 0.5f * lead_i;
    for (int j = 0; j < 6; ++j) {
      frame[static_cast<int>(SynthLead::kV1) + j] =
          static_cast<float>(lead[static_cast<std::size_t>(2 + j)]);
    }
  }
  return out;
}

}  // namespace pulse::dsp
