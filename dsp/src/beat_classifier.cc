// Beat classifier: design.
//
// Why clusters and not a trained model: ventricular beats differ from the
// patient's own normal beat far more consistently than they resemble any
// population template (de Chazal's inter-patient features reach VEB +P of
// only ~40-80 % without local adaptation; patient-adaptive clustering as in
// OSEA reaches > 90 %). So the classifier learns the patient's beat shapes
// from the recording itself and only then decides which shapes are
// ventricular.
//
// Steps (all on the whole input; ClassifyBeats is a batch call):
//  1. Leads: per lead, the median QRS peak-to-peak over up to 64 beats; the
//     `max_leads_used` largest are used, each scaled to unit amplitude so
//     that a small lead that shows a PVC clearly counts as much as a big one.
//  2. Alignment: detectors mark beats of different shapes at different
//     points; each beat is re-centred on the centroid of its squared slope
//     within ±80 ms, which is stable within one morphology.
//  3. Features per beat: the window (decimated by boxcar averaging to
//     ~180 Hz, mean removed per lead), RR before and after.
//  4. Clustering in record order with running-average templates (weight
//     1/min(n, 16)) so that slow morphology drift is followed. Per cluster:
//     the QRS "energy width" of its template (TemplateWidthMs), measured on
//     the average because single noisy beats look wide.
//  5. Normal beat and rhythm: the dominant cluster (DominantCluster); the
//     normal width is the median over it and its close variants; the
//     normal RR at each beat is an exponential average (weight 1/8) of RR
//     intervals between two beats of near-normal clusters, seeded with the
//     median RR of the record. Timing per cluster is the median of its
//     beats' RR ratios, so one odd interval does not decide.
//  6. Decisions per cluster: ClassifyCluster(), ClassifyFewBeats() and
//     AdoptSecondRhythmVariants(). Every beat takes its cluster's verdict.
//
// Cost: per beat, the shift search against each live template (at most
// max_clusters x 5 shifts x leads x ~45 samples), so a 10 s 12-lead ECG
// takes well under 0.1 ms and a 30-minute Holter record tens of ms.
#include "pulse/dsp/beat_classifier.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <utility>
#include <vector>

namespace pulse::dsp {
namespace {

constexpr double kInternalRateHz = 180.0;
constexpr int kShiftSearch = 2;          // decimated samples each way
constexpr double kAlignHalfMs = 80.0;    // centroid search half-window
constexpr double kWidthHalfMs = 100.0;   // energy-width half-window
constexpr double kAmplitudeHalfMs = 60.0;
constexpr int kTemplateMaxWeight = 16;
// The dominant cluster needs this many beats before anything is called.
constexpr int kMinClusterBeats = 3;
// Clusters this close to the normal template give normal RR intervals.
constexpr double kNormalRrDistance = 0.2;
// RR before + RR after a premature beat, in normal RRs, below which the
// "beat" did not reset the rhythm: an extra detection (noise) rather than
// an ectopic beat, whose pause makes the sum ~2 (full compensation).
constexpr double kArtifactPauseSum = 1.3;
// Share of normal beats coming early (RR before < v_max_prematurity x the
// normal RR) above which the rhythm counts as irregular. Sinus rhythm with
// ordinary variability stays far below it (a few %); AF is near 40 %.
constexpr double kIrregularShare = 0.2;
// A beat alone in its cluster must come this early (RR before / normal RR).
constexpr double kFewBeatsPrematurity = 0.8;
// See ClassifyCluster(): a normally timed cluster this large relative to the
// dominant one is a second conduction pattern.
constexpr double kSecondRhythmShare = 0.25;
// A premature beat narrower than this (relative to normal) and only mildly
// different in shape is supraventricular (an atrial premature beat with a
// slightly changed QRS), not a PVC: ventricular activation that bypasses the
// conduction system is slower, hence wider, not narrower.
constexpr double kNarrowWidthRatio = 0.9;
// A "QRS" less than half as wide as the normal one is a spike, not a beat.
constexpr double kMinWidthRatio = 0.5;

struct Geometry {
  int decimation = 1;           // input frames per internal sample
  int before = 0;               // internal samples before the centre
  int length = 0;               // internal samples per lead
  int margin = kShiftSearch;    // extra samples each side for shifting
  std::int64_t align_half = 0;  // input frames
  std::int64_t amplitude_half = 0;
};

struct Cluster {
  std::vector<float> templ;  // leads x length
  int count = 0;
};

struct BeatFeatures {
  std::vector<float> window;  // leads x (length + 2 margin)
  int cluster = -1;
};

Status Validate(const BeatClassifierConfig& c) {
  auto bad = [](const std::string& field) {
    return Fail(ErrorCode::kInvalidArgument,
                "BeatClassifierConfig." + field + " out of range");
  };
  if (!(c.sample_rate_hz >= 80.0 && c.sample_rate_hz <= 1000.0)) {
    return bad("sample_rate_hz (80 .. 1000)");
  }
  if (c.num_leads < 1 || c.num_leads > 12) return bad("num_leads (1 .. 12)");
  if (c.max_leads_used < 1 || c.max_leads_used > 12) {
    return bad("max_leads_used (1 .. 12)");
  }
  if (!(c.window_before_ms >= 40.0 && c.window_before_ms <= 300.0)) {
    return bad("window_before_ms (40 .. 300)");
  }
  if (!(c.window_after_ms >= 60.0 && c.window_after_ms <= 400.0)) {
    return bad("window_after_ms (60 .. 400)");
  }
  if (!(c.cluster_distance >= 0.01 && c.cluster_distance <= 1.0)) {
    return bad("cluster_distance (0.01 .. 1)");
  }
  if (c.max_clusters < 2 || c.max_clusters > 64) {
    return bad("max_clusters (2 .. 64)");
  }
  if (!(c.v_min_distance >= 0.05 && c.v_min_distance <= 2.0)) {
    return bad("v_min_distance (0.05 .. 2)");
  }
  if (!(c.v_min_width_ratio >= 1.0 && c.v_min_width_ratio <= 3.0)) {
    return bad("v_min_width_ratio (1 .. 3)");
  }
  if (!(c.v_max_prematurity >= 0.3 && c.v_max_prematurity <= 1.0)) {
    return bad("v_max_prematurity (0.3 .. 1)");
  }
  if (!(c.v_wide_distance >= 0.05 && c.v_wide_distance <= 2.0)) {
    return bad("v_wide_distance (0.05 .. 2)");
  }
  if (!(c.v_shape_distance >= 0.05 && c.v_shape_distance <= 2.0)) {
    return bad("v_shape_distance (0.05 .. 2)");
  }
  if (!(c.v_wide_ratio >= 1.0 && c.v_wide_ratio <= 3.0)) {
    return bad("v_wide_ratio (1 .. 3)");
  }
  return OkStatus();
}

// The signal seen through the chosen leads, with bounds and NaN guards.
class LeadView {
 public:
  LeadView(std::span<const float> mv, int num_leads)
      : mv_(mv),
        num_leads_(num_leads),
        frames_(static_cast<std::int64_t>(mv.size()) / num_leads) {}

  std::int64_t frames() const { return frames_; }

  // Sample of `lead` at `frame`, clamped to the record; 0 when not finite.
  float at(std::int64_t frame, int lead) const {
    frame = std::clamp<std::int64_t>(frame, 0, frames_ - 1);
    const float v = mv_[static_cast<std::size_t>(frame * num_leads_ + lead)];
    return std::isfinite(v) ? v : 0.0f;
  }

 private:
  std::span<const float> mv_;
  int num_leads_;
  std::int64_t frames_;
};

Geometry MakeGeometry(const BeatClassifierConfig& c) {
  Geometry g;
  const double rate = c.sample_rate_hz;
  g.decimation = std::max(1, static_cast<int>(std::lround(rate /
                                                          kInternalRateHz)));
  const double internal_rate = rate / g.decimation;
  g.before = std::max(
      1, static_cast<int>(std::lround(c.window_before_ms * internal_rate /
                                      1000.0)));
  const int after = std::max(
      1, static_cast<int>(std::lround(c.window_after_ms * internal_rate /
                                      1000.0)));
  g.length = g.before + after;
  g.align_half = std::max<std::int64_t>(
      1, std::lround(kAlignHalfMs * rate / 1000.0));
  g.amplitude_half = std::max<std::int64_t>(
      1, std::lround(kAmplitudeHalfMs * rate / 1000.0));
  return g;
}

double Median(std::vector<double> values) {
  if (values.empty()) return 0.0;
  const auto mid = values.begin() + static_cast<std::ptrdiff_t>(values.size() / 2);
  std::nth_element(values.begin(), mid, values.end());
  return *mid;
}

struct LeadChoice {
  std::vector<int> leads;
  std::vector<float> gains;  // 1 / QRS amplitude
};

// Step 1: the leads with the largest median QRS peak-to-peak.
LeadChoice ChooseLeads(const LeadView& view, int num_leads,
                       std::span<const std::int64_t> beats, const Geometry& g,
                       int max_leads) {
  const std::size_t n = beats.size();
  const std::size_t step = std::max<std::size_t>(1, n / 64);
  std::vector<std::pair<double, int>> amplitude;
  for (int lead = 0; lead < num_leads; ++lead) {
    std::vector<double> p2p;
    for (std::size_t i = 0; i < n; i += step) {
      float lo = view.at(beats[i], lead);
      float hi = lo;
      for (std::int64_t f = beats[i] - g.amplitude_half;
           f <= beats[i] + g.amplitude_half; ++f) {
        const float v = view.at(f, lead);
        lo = std::min(lo, v);
        hi = std::max(hi, v);
      }
      p2p.push_back(static_cast<double>(hi) - static_cast<double>(lo));
    }
    amplitude.emplace_back(Median(std::move(p2p)), lead);
  }
  std::stable_sort(amplitude.begin(), amplitude.end(),
                   [](const auto& a, const auto& b) { return a.first > b.first; });
  LeadChoice choice;
  // Leads far smaller than the best one add more noise than shape.
  const double best = amplitude.empty() ? 0.0 : amplitude.front().first;
  for (const auto& [amp, lead] : amplitude) {
    if (static_cast<int>(choice.leads.size()) >= max_leads) break;
    if (!(amp > 1e-4) || amp < 0.1 * best) break;  // below 0.1 µV: flat
    choice.leads.push_back(lead);
    choice.gains.push_back(static_cast<float>(1.0 / amp));
  }
  return choice;
}

// Squared slope at `frame` summed over the chosen (scaled) leads.
double SlopeEnergy(const LeadView& view, const LeadChoice& leads,
                   std::int64_t frame) {
  double e = 0.0;
  for (std::size_t k = 0; k < leads.leads.size(); ++k) {
    const double d = (static_cast<double>(view.at(frame + 1, leads.leads[k])) -
                      static_cast<double>(view.at(frame - 1, leads.leads[k]))) *
                     leads.gains[k];
    e += d * d;
  }
  return e;
}

// Step 2: the centroid of slope energy around `beat`.
std::int64_t AlignedCentre(const LeadView& view, const LeadChoice& leads,
                           std::int64_t beat, const Geometry& g) {
  double sum = 0.0;
  double weighted = 0.0;
  for (std::int64_t f = -g.align_half; f <= g.align_half; ++f) {
    const double e = SlopeEnergy(view, leads, beat + f);
    sum += e;
    weighted += e * static_cast<double>(f);
  }
  if (!(sum > 0.0)) return beat;
  return beat + std::lround(weighted / sum);
}

// Step 3: the decimated, mean-removed window with shift margins.
std::vector<float> ExtractWindow(const LeadView& view, const LeadChoice& leads,
                                 std::int64_t centre, const Geometry& g) {
  const int span = g.length + 2 * g.margin;
  std::vector<float> out(leads.leads.size() * static_cast<std::size_t>(span));
  const std::int64_t first =
      centre - static_cast<std::int64_t>(g.before + g.margin) * g.decimation;
  for (std::size_t k = 0; k < leads.leads.size(); ++k) {
    float* lead_out = out.data() + k * static_cast<std::size_t>(span);
    double mean = 0.0;
    for (int i = 0; i < span; ++i) {
      double acc = 0.0;
      for (int j = 0; j < g.decimation; ++j) {
        acc += view.at(first + static_cast<std::int64_t>(i) * g.decimation + j,
                       leads.leads[k]);
      }
      const double v = acc / g.decimation * leads.gains[k];
      lead_out[i] = static_cast<float>(v);
      mean += v;
    }
    mean /= span;
    for (int i = 0; i < span; ++i) {
      lead_out[i] = static_cast<float>(lead_out[i] - mean);
    }
  }
  return out;
}

// Normalised distance of a beat window (with margins) at `shift` to a
// template: sum((x - t)^2) / (sum(x^2) + sum(t^2)), 0 .. 2.
double Distance(std::span<const float> window, std::span<const float> templ,
                std::size_t num_leads, const Geometry& g, int shift) {
  const auto span = static_cast<std::size_t>(g.length + 2 * g.margin);
  const auto length = static_cast<std::size_t>(g.length);
  double diff = 0.0;
  double norm = 0.0;
  for (std::size_t k = 0; k < num_leads; ++k) {
    const float* x = window.data() + k * span +
                     static_cast<std::size_t>(g.margin + shift);
    const float* t = templ.data() + k * length;
    for (std::size_t i = 0; i < length; ++i) {
      const double d = static_cast<double>(x[i]) - t[i];
      diff += d * d;
      norm += static_cast<double>(x[i]) * x[i] + static_cast<double>(t[i]) * t[i];
    }
  }
  return norm > 0.0 ? diff / norm : 2.0;
}

struct Match {
  double distance = 2.0;
  int shift = 0;
};

Match BestShift(std::span<const float> window, std::span<const float> templ,
                std::size_t num_leads, const Geometry& g) {
  Match best;
  for (int s = -g.margin; s <= g.margin; ++s) {
    const double d = Distance(window, templ, num_leads, g, s);
    if (d < best.distance) best = {d, s};
  }
  return best;
}

// The centred part of a window (no margins) at `shift`.
std::vector<float> Centred(std::span<const float> window, std::size_t num_leads,
                           const Geometry& g, int shift) {
  const auto span = static_cast<std::size_t>(g.length + 2 * g.margin);
  const auto length = static_cast<std::size_t>(g.length);
  std::vector<float> out(num_leads * length);
  for (std::size_t k = 0; k < num_leads; ++k) {
    std::copy_n(window.data() + k * span +
                    static_cast<std::size_t>(g.margin + shift),
                length, out.data() + k * length);
  }
  return out;
}

// Step 4: online clustering in record order.
std::vector<Cluster> ClusterBeats(std::vector<BeatFeatures>* beats,
                                  std::size_t num_leads, const Geometry& g,
                                  const BeatClassifierConfig& config) {
  std::vector<Cluster> clusters;
  std::vector<int> live;  // ids of clusters still matched against
  std::vector<std::size_t> last_use;
  for (std::size_t i = 0; i < beats->size(); ++i) {
    BeatFeatures& beat = (*beats)[i];
    int best_id = -1;
    Match best;
    for (int id : live) {
      const Match m = BestShift(beat.window, clusters[static_cast<std::size_t>(id)].templ,
                                num_leads, g);
      if (m.distance < best.distance) {
        best = m;
        best_id = id;
      }
    }
    if (best_id >= 0 && best.distance < config.cluster_distance) {
      Cluster& c = clusters[static_cast<std::size_t>(best_id)];
      const std::vector<float> x = Centred(beat.window, num_leads, g, best.shift);
      ++c.count;
      const float w =
          1.0f / static_cast<float>(std::min(c.count, kTemplateMaxWeight));
      for (std::size_t j = 0; j < x.size(); ++j) {
        c.templ[j] += w * (x[j] - c.templ[j]);
      }
      beat.cluster = best_id;
      last_use[static_cast<std::size_t>(best_id)] = i;
      continue;
    }
    Cluster fresh;
    fresh.templ = Centred(beat.window, num_leads, g, 0);
    fresh.count = 1;
    const int id = static_cast<int>(clusters.size());
    clusters.push_back(std::move(fresh));
    last_use.push_back(i);
    beat.cluster = id;
    if (static_cast<int>(live.size()) >= config.max_clusters) {
      // Retire the smallest, least recently used live template.
      auto victim = std::min_element(
          live.begin(), live.end(), [&](int a, int b) {
            const auto& ca = clusters[static_cast<std::size_t>(a)];
            const auto& cb = clusters[static_cast<std::size_t>(b)];
            if (ca.count != cb.count) return ca.count < cb.count;
            return last_use[static_cast<std::size_t>(a)] <
                   last_use[static_cast<std::size_t>(b)];
          });
      *victim = id;
    } else {
      live.push_back(id);
    }
  }
  return clusters;
}

// The dominant (normal) cluster: the largest; among clusters nearly as large
// (bigeminy, intermittent bundle-branch block) the narrowest.
int DominantCluster(const std::vector<Cluster>& clusters,
                    const std::vector<double>& widths_ms) {
  int largest = 0;
  for (const Cluster& c : clusters) largest = std::max(largest, c.count);
  int best = -1;
  for (std::size_t id = 0; id < clusters.size(); ++id) {
    const Cluster& c = clusters[id];
    if (static_cast<double>(c.count) < 0.6 * largest) continue;
    if (best < 0 ||
        widths_ms[id] < widths_ms[static_cast<std::size_t>(best)]) {
      best = static_cast<int>(id);
    }
  }
  return best;
}

struct Timing {
  double prematurity = 1.0;    // RR before / normal RR
  double compensation = 1.0;   // RR after / normal RR
  bool has_before = false;
  bool has_after = false;
};

// The normal RR to start from: the median over near-normal beats of half
// the interval from the beat before to the beat after. Across an ectopic
// beat with a compensatory pause that half-span is the normal RR too, so
// the seed holds even in bigeminy, where no two normal beats are adjacent
// (the median of all RRs would be the short coupling interval there).
// Falls back to the median RR when no normal beat has two neighbours.
double SeedNormalRr(std::span<const std::int64_t> samples,
                    const std::vector<BeatFeatures>& beats,
                    const std::vector<bool>& normal_like) {
  std::vector<double> half_spans;
  std::vector<double> rr;
  for (std::size_t i = 1; i < samples.size(); ++i) {
    rr.push_back(static_cast<double>(samples[i] - samples[i - 1]));
    if (i + 1 < samples.size() &&
        normal_like[static_cast<std::size_t>(beats[i].cluster)]) {
      half_spans.push_back(
          0.5 * static_cast<double>(samples[i + 1] - samples[i - 1]));
    }
  }
  return half_spans.empty() ? Median(std::move(rr))
                            : Median(std::move(half_spans));
}

// Step 5: timing of each beat against the running normal RR.
std::vector<Timing> BeatTiming(std::span<const std::int64_t> samples,
                               const std::vector<BeatFeatures>& beats,
                               const std::vector<bool>& normal_like) {
  const std::size_t n = samples.size();
  std::vector<Timing> timing(n);
  double normal_rr = SeedNormalRr(samples, beats, normal_like);
  if (!(normal_rr > 0.0)) return timing;
  for (std::size_t i = 0; i < n; ++i) {
    Timing& t = timing[i];
    if (i > 0) {
      t.has_before = true;
      t.prematurity =
          static_cast<double>(samples[i] - samples[i - 1]) / normal_rr;
    }
    if (i + 1 < n) {
      t.has_after = true;
      t.compensation =
          static_cast<double>(samples[i + 1] - samples[i]) / normal_rr;
    }
    if (i > 0 &&
        normal_like[static_cast<std::size_t>(beats[i].cluster)] &&
        normal_like[static_cast<std::size_t>(beats[i - 1].cluster)]) {
      const auto interval = static_cast<double>(samples[i] - samples[i - 1]);
      // Ignore outliers (missed beats, pauses) in the running average.
      if (interval > 0.5 * normal_rr && interval < 1.8 * normal_rr) {
        normal_rr += (interval - normal_rr) / 8.0;
      }
    }
  }
  return timing;
}

// Distance between two cluster templates, best over the shift search.
double TemplateDistance(const Cluster& a, const Cluster& b,
                        std::size_t num_leads, const Geometry& g) {
  const auto span = static_cast<std::size_t>(g.length + 2 * g.margin);
  const auto length = static_cast<std::size_t>(g.length);
  std::vector<float> padded(span * num_leads, 0.0f);
  for (std::size_t k = 0; k < num_leads; ++k) {
    std::copy_n(a.templ.data() + k * length, length,
                padded.data() + k * span + static_cast<std::size_t>(g.margin));
  }
  return BestShift(padded, b.templ, num_leads, g).distance;
}

// QRS "energy width" of a template in ms: the time between 10 % and 90 %
// of its cumulative squared slope (all leads) within ±kWidthHalfMs of the
// centre, interpolated between samples. Measured on the averaged template
// rather than on single beats, so that noise (which spreads slope energy
// and widens single noisy beats) is averaged out first.
double TemplateWidthMs(const Cluster& c, std::size_t num_leads,
                       const Geometry& g, double internal_rate_hz) {
  const int half = std::max(
      1, static_cast<int>(std::lround(kWidthHalfMs * internal_rate_hz / 1000.0)));
  const int lo = std::max(1, g.before - half);
  const int hi = std::min(g.length - 2, g.before + half);
  std::vector<double> cumulative;
  double total = 0.0;
  for (int i = lo; i <= hi; ++i) {
    double e = 0.0;
    for (std::size_t k = 0; k < num_leads; ++k) {
      const float* t = c.templ.data() + k * static_cast<std::size_t>(g.length);
      const double d = static_cast<double>(t[i + 1]) - t[i - 1];
      e += d * d;
    }
    total += e;
    cumulative.push_back(total);
  }
  if (!(total > 0.0)) return 0.0;
  auto crossing = [&](double level) {
    double previous = 0.0;
    for (std::size_t i = 0; i < cumulative.size(); ++i) {
      if (cumulative[i] >= level) {
        const double step = cumulative[i] - previous;
        const double frac = step > 0.0 ? (level - previous) / step : 0.0;
        return static_cast<double>(i) - 1.0 + frac;
      }
      previous = cumulative[i];
    }
    return static_cast<double>(cumulative.size());
  };
  return (crossing(0.9 * total) - crossing(0.1 * total)) * 1000.0 /
         internal_rate_hz;
}

// The normal QRS width: the beat-weighted median width of the clusters
// within `variant_distance` of the normal template (the dominant one and its
// variants). One template alone can be a few ms off, and a ratio against an
// unusually narrow one makes normal beats look wide.
double NormalWidthMs(const std::vector<Cluster>& clusters,
                     const std::vector<double>& widths_ms,
                     const std::vector<double>& distance,
                     double variant_distance) {
  std::vector<std::pair<double, int>> family;
  int total = 0;
  for (std::size_t id = 0; id < clusters.size(); ++id) {
    if (distance[id] < variant_distance) {
      family.emplace_back(widths_ms[id], clusters[id].count);
      total += clusters[id].count;
    }
  }
  std::sort(family.begin(), family.end());
  int seen = 0;
  for (const auto& [width, count] : family) {
    seen += count;
    if (2 * seen >= total) return width;
  }
  return 0.0;
}

// True when the normal beats themselves often come early: an irregular
// rhythm (atrial fibrillation), in which timing is weak evidence.
bool IsIrregular(const std::vector<BeatFeatures>& beats,
                 const std::vector<Timing>& timing, int dominant,
                 const BeatClassifierConfig& config) {
  int timed = 0;
  int early = 0;
  for (std::size_t i = 0; i < beats.size(); ++i) {
    if (beats[i].cluster != dominant || !timing[i].has_before) continue;
    ++timed;
    if (timing[i].prematurity < config.v_max_prematurity) ++early;
  }
  return timed > 0 && early > kIrregularShare * timed;
}

// Median timing of a cluster's beats.
struct ClusterTiming {
  double prematurity = 1.0;   // median RR before / normal RR
  double pause_sum = 2.0;     // median (RR before + RR after) / normal RR
};

double MedianOf(std::vector<double>* values, double fallback) {
  if (values->empty()) return fallback;
  return Median(std::move(*values));
}

std::vector<ClusterTiming> SummariseTiming(
    const std::vector<BeatFeatures>& beats, const std::vector<Timing>& timing,
    std::size_t num_clusters) {
  std::vector<std::vector<double>> pre(num_clusters);
  std::vector<std::vector<double>> sum(num_clusters);
  for (std::size_t i = 0; i < beats.size(); ++i) {
    const auto id = static_cast<std::size_t>(beats[i].cluster);
    if (timing[i].has_before) pre[id].push_back(timing[i].prematurity);
    if (timing[i].has_before && timing[i].has_after) {
      sum[id].push_back(timing[i].prematurity + timing[i].compensation);
    }
  }
  std::vector<ClusterTiming> out(num_clusters);
  for (std::size_t id = 0; id < num_clusters; ++id) {
    out[id].prematurity = MedianOf(&pre[id], 1.0);
    out[id].pause_sum = MedianOf(&sum[id], 2.0);
  }
  return out;
}

struct Verdict {
  BeatClass beat_class = BeatClass::kUnknown;
  float confidence = 0.0f;
};

// A beat with too few others of its shape to average (its width is then
// as noisy as the beat): ventricular only when clearly premature, followed by
// a pause, and different in shape.
Verdict ClassifyFewBeats(double distance, double width_ratio,
                         const ClusterTiming& timing, bool irregular,
                         const BeatClassifierConfig& config) {
  if (timing.prematurity < kFewBeatsPrematurity &&
      timing.pause_sum >= kArtifactPauseSum &&
      distance >= (irregular ? config.v_wide_distance
                             : config.v_min_distance) &&
      (width_ratio >= kNarrowWidthRatio ||
       distance >= config.v_wide_distance)) {
    return {BeatClass::kVentricular, 0.6f};
  }
  if (distance < 1.5 * config.cluster_distance) {
    return {BeatClass::kNormal, 0.5f};
  }
  return {BeatClass::kUnknown, 0.0f};
}

// The rules for a cluster other than the dominant one (with at least
// kMinClusterBeats beats; fewer: ClassifyFewBeats). A normally timed
// cluster of kSecondRhythmShare of the normal one's size or more is a second
// conduction pattern (intermittent bundle-branch block or pre-excitation),
// never ventricular. Otherwise width and timing
// against the normal beat decide, shape distance gates:
//  * much wider (v_wide_ratio) and not identical in shape: ventricular, at
//    any timing (interpolated and escape beats, runs);
//  * close to normal (distance < 1.5 x cluster_distance): a variant of the
//    normal beat (respiration, electrode motion);
//  * far narrower than normal (< kMinWidthRatio), or premature without a
//    pause (RR before + after < kArtifactPauseSum normal RRs) while not
//    wider: spikes and extra detections in noise, not beats;
//  * premature and clearly different (v_min_distance), unless narrower
//    than normal and only moderately different (< v_wide_distance): the
//    classic PVC (de Chazal's pre-RR feature);
//  * somewhat wider (v_min_width_ratio) and very different
//    (v_wide_distance), or entirely different (v_shape_distance,
//    uncorrelated or inverted): ventricular;
//  * anything else is unknown: a different shape with normal width and
//    timing is more often aberrancy, noise or a lead change than a PVC.
Verdict ClassifyCluster(double distance, double width_ratio,
                        const ClusterTiming& timing, double share_of_normal,
                        int count, bool irregular,
                        const BeatClassifierConfig& config) {
  const bool premature = timing.prematurity < config.v_max_prematurity;
  const bool paused = timing.pause_sum >= kArtifactPauseSum;
  if (count < kMinClusterBeats) {
    return ClassifyFewBeats(distance, width_ratio, timing, irregular, config);
  }
  if (!premature && share_of_normal >= kSecondRhythmShare) {
    return {distance < 1.5 * config.cluster_distance ? BeatClass::kNormal
                                                     : BeatClass::kUnknown,
            0.5f};
  }
  if (width_ratio >= config.v_wide_ratio &&
      distance >= config.cluster_distance) {
    return {BeatClass::kVentricular, premature ? 0.9f : 0.75f};
  }
  if (distance < 1.5 * config.cluster_distance) {
    return {BeatClass::kNormal,
            static_cast<float>(std::clamp(1.0 - distance, 0.5, 1.0))};
  }
  const bool wide = width_ratio >= config.v_min_width_ratio;
  if (width_ratio < kMinWidthRatio || (premature && !paused && !wide)) {
    return {BeatClass::kUnknown, 0.0f};
  }
  // In an irregular rhythm (atrial fibrillation) prematurity is common and
  // says little: the shape must then be as different as for a beat with no
  // timing evidence.
  const double premature_distance =
      irregular ? config.v_wide_distance : config.v_min_distance;
  if (premature && distance >= premature_distance &&
      (width_ratio >= kNarrowWidthRatio ||
       distance >= config.v_wide_distance)) {
    return {BeatClass::kVentricular, wide ? 0.85f : 0.7f};
  }
  if (wide && distance >= config.v_wide_distance) {
    return {BeatClass::kVentricular, 0.7f};
  }
  if (distance >= config.v_shape_distance) {
    return {BeatClass::kVentricular, 0.6f};
  }
  return {BeatClass::kUnknown, 0.0f};
}

// A cluster close in shape to a second conduction pattern (see
// ClassifyCluster; one that is not itself a variant of the dominant beat)
// is a variant of it, not a new kind of beat: its width
// ratio against the dominant beat says nothing about it. It takes that
// pattern's verdict.
void AdoptSecondRhythmVariants(const std::vector<Cluster>& clusters,
                               const std::vector<ClusterTiming>& timing,
                               int dominant, std::size_t num_leads,
                               const Geometry& g,
                               const BeatClassifierConfig& config,
                               std::vector<Verdict>* verdicts) {
  const Cluster& normal = clusters[static_cast<std::size_t>(dominant)];
  std::vector<std::size_t> patterns;
  for (std::size_t id = 0; id < clusters.size(); ++id) {
    if (static_cast<int>(id) != dominant &&
        clusters[id].count >= kMinClusterBeats &&
        timing[id].prematurity >= config.v_max_prematurity &&
        clusters[id].count >= kSecondRhythmShare * normal.count &&
        TemplateDistance(clusters[id], normal, num_leads, g) >=
            1.5 * config.cluster_distance) {
      patterns.push_back(id);
    }
  }
  if (patterns.empty()) return;
  for (std::size_t id = 0; id < clusters.size(); ++id) {
    // Premature beats are judged on their own even when they look like
    // the pattern (fusion-like patterns resemble PVCs).
    if (static_cast<int>(id) == dominant ||
        timing[id].prematurity < config.v_max_prematurity ||
        std::find(patterns.begin(), patterns.end(), id) != patterns.end()) {
      continue;
    }
    for (const std::size_t pattern : patterns) {
      if (TemplateDistance(clusters[id], clusters[pattern], num_leads, g) <
          1.5 * config.cluster_distance) {
        (*verdicts)[id] = (*verdicts)[pattern];
        break;
      }
    }
  }
}

}  // namespace

Result<std::vector<ClassifiedBeat>> ClassifyBeats(
    std::span<const float> interleaved_mv,
    std::span<const std::int64_t> qrs_samples,
    const BeatClassifierConfig& config) {
  if (auto status = Validate(config); !status) return Fail(status.error());
  const auto leads_in = static_cast<std::size_t>(config.num_leads);
  if (interleaved_mv.size() % leads_in != 0) {
    return Fail(ErrorCode::kInvalidArgument,
                "interleaved_mv: size is not a multiple of num_leads");
  }
  const std::int64_t frames =
      static_cast<std::int64_t>(interleaved_mv.size() / leads_in);
  for (std::size_t i = 0; i < qrs_samples.size(); ++i) {
    if (qrs_samples[i] < 0 || qrs_samples[i] >= frames) {
      return Fail(ErrorCode::kInvalidArgument,
                  "qrs_samples[" + std::to_string(i) + "]: outside the input");
    }
    if (i > 0 && qrs_samples[i] < qrs_samples[i - 1]) {
      return Fail(ErrorCode::kInvalidArgument,
                  "qrs_samples[" + std::to_string(i) + "]: not ascending");
    }
  }
  // A repeated sample is one beat reported twice: classify it once.
  if (std::adjacent_find(qrs_samples.begin(), qrs_samples.end()) !=
      qrs_samples.end()) {
    std::vector<std::int64_t> unique(qrs_samples.begin(), qrs_samples.end());
    unique.erase(std::unique(unique.begin(), unique.end()), unique.end());
    auto classified = ClassifyBeats(interleaved_mv, unique, config);
    if (!classified) return classified;
    std::vector<ClassifiedBeat> expanded;
    expanded.reserve(qrs_samples.size());
    std::size_t u = 0;
    for (const std::int64_t sample : qrs_samples) {
      while ((*classified)[u].sample != sample) ++u;
      expanded.push_back((*classified)[u]);
    }
    return expanded;
  }
  std::vector<ClassifiedBeat> out(qrs_samples.size());
  for (std::size_t i = 0; i < out.size(); ++i) {
    out[i].sample = qrs_samples[i];
    out[i].beat_class = BeatClass::kUnknown;
    out[i].confidence = 0.0f;
  }
  if (qrs_samples.empty()) return out;

  const Geometry g = MakeGeometry(config);
  const LeadView view(interleaved_mv, config.num_leads);
  const LeadChoice leads = ChooseLeads(view, config.num_leads, qrs_samples, g,
                                       config.max_leads_used);
  if (leads.leads.empty()) return out;  // flat: nothing to judge
  const std::size_t num_used = leads.leads.size();

  std::vector<BeatFeatures> beats(qrs_samples.size());
  for (std::size_t i = 0; i < beats.size(); ++i) {
    const std::int64_t centre = AlignedCentre(view, leads, qrs_samples[i], g);
    beats[i].window = ExtractWindow(view, leads, centre, g);
  }
  const std::vector<Cluster> clusters =
      ClusterBeats(&beats, num_used, g, config);
  const double internal_rate_hz = config.sample_rate_hz / g.decimation;
  std::vector<double> widths_ms(clusters.size());
  for (std::size_t id = 0; id < clusters.size(); ++id) {
    widths_ms[id] = TemplateWidthMs(clusters[id], num_used, g, internal_rate_hz);
  }
  const int dominant = DominantCluster(clusters, widths_ms);
  const Cluster& normal = clusters[static_cast<std::size_t>(dominant)];

  // Shape distance of every cluster to the normal template.
  std::vector<double> distance(clusters.size(), 0.0);
  std::vector<bool> normal_rr(clusters.size(), false);
  for (std::size_t id = 0; id < clusters.size(); ++id) {
    if (static_cast<int>(id) != dominant) {
      distance[id] = TemplateDistance(clusters[id], normal, num_used, g);
    }
    normal_rr[id] = distance[id] < kNormalRrDistance;
  }
  const std::vector<Timing> timing = BeatTiming(qrs_samples, beats, normal_rr);
  const double normal_width_ms = std::max(
      1.0, NormalWidthMs(clusters, widths_ms, distance,
                         1.5 * config.cluster_distance));

  // Too few beats of one shape to call anything normal: leave all unknown.
  if (normal.count < kMinClusterBeats) {
    return out;
  }
  const std::vector<ClusterTiming> cluster_timing =
      SummariseTiming(beats, timing, clusters.size());
  const bool irregular = IsIrregular(beats, timing, dominant, config);
  std::vector<Verdict> verdicts(clusters.size());
  for (std::size_t id = 0; id < clusters.size(); ++id) {
    verdicts[id] = static_cast<int>(id) == dominant
                       ? Verdict{BeatClass::kNormal, 1.0f}
                       : ClassifyCluster(
                             distance[id], widths_ms[id] / normal_width_ms,
                             cluster_timing[id],
                             static_cast<double>(clusters[id].count) /
                                 normal.count,
                             clusters[id].count, irregular, config);
  }
  AdoptSecondRhythmVariants(clusters, cluster_timing, dominant, num_used, g,
                            config, &verdicts);
  for (std::size_t i = 0; i < beats.size(); ++i) {
    const Verdict& v = verdicts[static_cast<std::size_t>(beats[i].cluster)];
    out[i].beat_class = v.beat_class;
    out[i].confidence = v.confidence;
  }
  return out;
}

}  // namespace pulse::dsp
