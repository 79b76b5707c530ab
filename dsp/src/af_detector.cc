// Atrial fibrillation detection; the contract and the method are in
// af_detector.h. Design notes:
//
// - Everything is indexed by "usable" RR intervals: intervals between two
//   kNormal beats, 0.2 .. 3 s long (shorter ones are double detections or
//   artefacts, longer ones pauses or missed beats, both better left out than
//   read as irregularity).
// - The ectopic correction runs before windowing so that a window never sees
//   half of a premature/compensatory pair.
// - Windows are centred so that a step from sinus to AF flips the median
//   statistics when half the window is AF, i.e. at the transition itself;
//   episode edges then fall within a few beats of the true onset/offset.
// - Atrial and QRS segments are averaged down to ~100 Hz (10 ms bins) before
//   anything else: P and f waves lie below 15 Hz, and it keeps a 12-lead
//   Holter record cheap.
#include "pulse/dsp/af_detector.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

namespace pulse::dsp {
namespace {

// Physiological bounds of a usable RR interval.
constexpr double kMinRrSeconds = 0.2;   // 300 /min
constexpr double kMaxRrSeconds = 3.0;   // 20 /min
// Atrial window before the QRS fiducial: from 350 ms (P onset with a long,
// first-degree-block PR) to 90 ms (clear of the onset of a wide QRS).
constexpr double kAtrialBeginSeconds = -0.35;
constexpr double kAtrialEndSeconds = -0.09;
// QRS window around the fiducial: ±50 ms compared, plus 20 ms each side
// for the shift search of the shape test.
constexpr double kQrsBeginSeconds = -0.07;
constexpr double kQrsEndSeconds = 0.07;
constexpr double kBinSeconds = 0.01;
// Ectopic timing rule (Petrėnas et al. 2015 use a similar premature /
// compensatory test): premature below 85 % of the local RR, pause above
// 110 %, the pair summing to 2 RR (full compensatory pause) or 1 RR
// (interpolated beat) within 10 %.
constexpr double kPrematureRatio = 0.85;
constexpr double kPauseRatio = 1.10;
constexpr double kPairTolerance = 0.10;
constexpr int kLocalRrHalfWidth = 4;  // local RR: median of 9 intervals
// A QRS coherence below this means the "beats" do not share one shape:
// detections on noise, not a conducted rhythm.
constexpr double kMinQrsCoherence = 0.3;
constexpr double kTiny = 1e-12;
// A beat is non-premature when the RR before it is at least this share of
// the local median RR: its P window is free of a previous T wave and of a
// premature P wave, and it is not an ectopic beat.
constexpr double kMinPrecedingRrRatio = 0.9;
// QRS shape test: normalised distance sum((x - t)^2) / (sum(x^2) + sum(t^2))
// above which a beat is not the dominant QRS (0 identical, 1 unrelated; a
// beat of 1.5 x the template's amplitude is 0.08, AF beats of LUDB reach
// ~0.28 from amplitude change, typical PVCs > 0.5). The template is the
// per-bin median over the non-premature beats among ±16 neighbours (all of
// them when fewer than 8 are non-premature, as on a 10 s strip), renewed
// every 8 beats; the shift search covers ±2 bins (±20 ms) of fiducial
// jitter.
constexpr double kQrsOutlierDistance = 0.35;
constexpr std::size_t kQrsShiftBins = 2;
constexpr std::size_t kTemplateHalfWidth = 16;
constexpr std::size_t kTemplateStride = 8;
constexpr std::size_t kMinTemplateBeats = 8;

struct Interval {
  std::int64_t onset_sample = 0;
  std::int64_t offset_sample = 0;
  double rr_s = 0.0;
  std::size_t end_beat = 0;  // index into the sorted beats
};

Status Validate(const AfDetectorConfig& c, std::size_t signal_size) {
  auto bad = [](const std::string& field) {
    return Fail(ErrorCode::kInvalidArgument,
                "AfDetectorConfig." + field + " out of range");
  };
  if (!(c.sample_rate_hz >= 50.0 && c.sample_rate_hz <= 10000.0)) {
    return bad("sample_rate_hz");
  }
  if (c.num_leads < 1 || c.num_leads > 16) return bad("num_leads");
  if (c.window_beats < 8 || c.window_beats > 256) return bad("window_beats");
  if (c.min_beats < 4 || c.min_beats > c.window_beats) return bad("min_beats");
  if (!(c.irregularity_threshold >= 0.01 && c.irregularity_threshold <= 1.0)) {
    return bad("irregularity_threshold");
  }
  if (!(c.p_coherence_threshold >= 0.0 && c.p_coherence_threshold <= 1.0)) {
    return bad("p_coherence_threshold");
  }
  if (c.min_episode_beats < 2) return bad("min_episode_beats");
  if (!(c.min_episode_seconds >= 0.0 && c.min_episode_seconds <= 600.0)) {
    return bad("min_episode_seconds");
  }
  if (c.max_gap_beats < 0) return bad("max_gap_beats");
  if (signal_size % static_cast<std::size_t>(c.num_leads) != 0) {
    return Fail(ErrorCode::kInvalidArgument,
                "interleaved_mv: size is not a multiple of num_leads");
  }
  return OkStatus();
}

double Median(std::vector<double>* values) {
  if (values->empty()) return 0.0;
  const std::size_t mid = values->size() / 2;
  std::nth_element(values->begin(), values->begin() + static_cast<long>(mid),
                   values->end());
  return (*values)[mid];
}

std::vector<Interval> UsableIntervals(std::span<const ClassifiedBeat> beats,
                                      double rate_hz) {
  std::vector<Interval> out;
  for (std::size_t i = 1; i < beats.size(); ++i) {
    if (beats[i].beat_class != BeatClass::kNormal ||
        beats[i - 1].beat_class != BeatClass::kNormal) {
      continue;
    }
    const double rr_s = (static_cast<double>(beats[i].sample) -
                         static_cast<double>(beats[i - 1].sample)) /
                        rate_hz;
    if (rr_s < kMinRrSeconds || rr_s > kMaxRrSeconds) continue;
    out.push_back({beats[i - 1].sample, beats[i].sample, rr_s, i});
  }
  return out;
}

// Replaces premature + compensatory pairs by two intervals of their mean and
// interpolated pairs by one interval of their sum, so that ectopic beats the
// classifier missed read as regular rhythm.
void CorrectEctopicPairs(std::vector<Interval>* intervals) {
  std::vector<Interval>& rr = *intervals;
  std::vector<double> scratch;
  std::vector<Interval> out;
  out.reserve(rr.size());
  const auto n = static_cast<long>(rr.size());
  for (long j = 0; j < n; ++j) {
    if (j + 1 >= n) {
      out.push_back(rr[static_cast<std::size_t>(j)]);
      continue;
    }
    scratch.clear();
    for (long k = std::max(0L, j - kLocalRrHalfWidth);
         k <= std::min(n - 1, j + 1 + kLocalRrHalfWidth); ++k) {
      scratch.push_back(rr[static_cast<std::size_t>(k)].rr_s);
    }
    const double local = Median(&scratch);
    const Interval& a = rr[static_cast<std::size_t>(j)];
    const Interval& b = rr[static_cast<std::size_t>(j + 1)];
    const bool adjacent = a.offset_sample == b.onset_sample;
    const double sum = a.rr_s + b.rr_s;
    if (adjacent && a.rr_s < kPrematureRatio * local) {
      if (b.rr_s > kPauseRatio * local &&
          std::abs(sum - 2.0 * local) < kPairTolerance * 2.0 * local) {
        Interval first = a;
        Interval second = b;
        first.rr_s = second.rr_s = sum / 2.0;
        out.push_back(first);
        out.push_back(second);
        ++j;
        continue;
      }
      if (b.rr_s < kPrematureRatio * local &&
          std::abs(sum - local) < kPairTolerance * local) {
        Interval merged = b;
        merged.onset_sample = a.onset_sample;
        merged.rr_s = sum;
        out.push_back(merged);
        ++j;
        continue;
      }
    }
    out.push_back(a);
  }
  rr = std::move(out);
}

// Median |RR(i) - RR(i-k)| / median RR over intervals [begin, end), smallest
// over k = 1..3.
double Irregularity(const std::vector<Interval>& rr, std::size_t begin,
                    std::size_t end, std::vector<double>* scratch) {
  scratch->clear();
  for (std::size_t i = begin; i < end; ++i) scratch->push_back(rr[i].rr_s);
  const double median_rr = Median(scratch);
  if (median_rr <= kTiny) return 0.0;
  double best = 1e9;
  for (std::size_t lag = 1; lag <= 3; ++lag) {
    if (end - begin <= lag + 2) break;
    scratch->clear();
    for (std::size_t i = begin + lag; i < end; ++i) {
      scratch->push_back(std::abs(rr[i].rr_s - rr[i - lag].rr_s));
    }
    best = std::min(best, Median(scratch));
  }
  return best < 1e9 ? best / median_rr : 0.0;
}

// Per-beat segments, averaged into 10 ms bins and linearly detrended per
// lead, laid out lead after lead: bins * num_leads values per beat. A beat
// whose segment leaves the signal has no segment (valid = false).
class Segments {
 public:
  Segments(std::span<const float> signal, int num_leads, double rate_hz,
           double begin_s, double end_s)
      : signal_(signal),
        leads_(static_cast<std::size_t>(num_leads)),
        frames_(static_cast<std::int64_t>(signal.size() / leads_)),
        bin_frames_(std::max<std::int64_t>(
            1, std::llround(kBinSeconds * rate_hz))),
        begin_offset_(std::llround(begin_s * rate_hz)),
        bins_(static_cast<std::size_t>(std::max<std::int64_t>(
            3, std::llround((end_s - begin_s) * rate_hz) / bin_frames_))) {}

  std::size_t size() const { return bins_ * leads_; }

  // Fills `out` (size()) for the beat at `sample`; false when out of range.
  bool Extract(std::int64_t sample, std::vector<double>* out) const {
    if (sample < 0 || sample > frames_) return false;  // also no overflow
    const std::int64_t first = sample + begin_offset_;
    const std::int64_t last =
        first + static_cast<std::int64_t>(bins_) * bin_frames_;
    if (first < 0 || last > frames_) return false;
    out->assign(size(), 0.0);
    // Frame-major so that the interleaved samples are read in order.
    for (std::size_t b = 0; b < bins_; ++b) {
      const std::int64_t f0 = first + static_cast<std::int64_t>(b) * bin_frames_;
      const float* frame = &signal_[static_cast<std::size_t>(f0) * leads_];
      for (std::int64_t f = 0; f < bin_frames_; ++f, frame += leads_) {
        for (std::size_t lead = 0; lead < leads_; ++lead) {
          const float v = frame[lead];
          (*out)[lead * bins_ + b] +=
              std::isfinite(v) ? static_cast<double>(v) : 0.0;
        }
      }
    }
    const double scale = 1.0 / static_cast<double>(bin_frames_);
    for (std::size_t lead = 0; lead < leads_; ++lead) {
      double* bins = out->data() + lead * bins_;
      for (std::size_t b = 0; b < bins_; ++b) bins[b] *= scale;
      Detrend(bins, bins_);
    }
    return true;
  }

 private:
  static void Detrend(double* x, std::size_t n) {
    const double mean_t = static_cast<double>(n - 1) / 2.0;
    double mean_x = 0.0;
    for (std::size_t i = 0; i < n; ++i) mean_x += x[i];
    mean_x /= static_cast<double>(n);
    double sxy = 0.0;
    double sxx = 0.0;
    for (std::size_t i = 0; i < n; ++i) {
      const double t = static_cast<double>(i) - mean_t;
      sxy += t * (x[i] - mean_x);
      sxx += t * t;
    }
    const double slope = sxx > 0.0 ? sxy / sxx : 0.0;
    for (std::size_t i = 0; i < n; ++i) {
      x[i] -= mean_x + slope * (static_cast<double>(i) - mean_t);
    }
  }

  std::span<const float> signal_;
  std::size_t leads_;
  std::int64_t frames_;
  std::int64_t bin_frames_;
  std::int64_t begin_offset_;
  std::size_t bins_;
};

// Per beat: its segment (when available) and the energy of each lead's part
// of it, flat: beat i's segment is data[i * size ..], its energies
// energy[i * leads ..].
struct SegmentTable {
  std::size_t leads = 1;
  std::size_t size = 0;  // values per segment (bins * leads)
  std::vector<double> data;
  std::vector<double> energy;
  std::vector<bool> valid;

  const double* segment(std::size_t i) const { return &data[i * size]; }
};

// Segments of the normal beats (and the unknown ones when asked).
SegmentTable BuildSegments(const Segments& cutter, std::size_t leads,
                           std::span<const ClassifiedBeat> beats,
                           bool include_unknown = false) {
  SegmentTable table;
  table.leads = leads;
  table.size = cutter.size();
  table.data.assign(beats.size() * table.size, 0.0);
  table.energy.assign(beats.size() * leads, 0.0);
  table.valid.assign(beats.size(), false);
  std::vector<double> scratch;
  const std::size_t bins = table.size / leads;
  for (std::size_t i = 0; i < beats.size(); ++i) {
    const BeatClass c = beats[i].beat_class;
    if (c != BeatClass::kNormal &&
        !(include_unknown && c == BeatClass::kUnknown)) {
      continue;
    }
    if (!cutter.Extract(beats[i].sample, &scratch)) continue;
    for (std::size_t lead = 0; lead < leads; ++lead) {
      double e = 0.0;
      for (std::size_t b = 0; b < bins; ++b) {
        const double v = scratch[lead * bins + b];
        e += v * v;
      }
      table.energy[i * leads + lead] = e;
    }
    std::copy(scratch.begin(), scratch.end(),
              table.data.begin() + static_cast<long>(i * table.size));
    table.valid[i] = true;
  }
  return table;
}

// Prefix sums over beats of the segments, lead energies and counts of the
// valid beats selected by a mask, so that any window's sums cost O(size).
class SegmentSums {
 public:
  SegmentSums(const SegmentTable& table, const std::vector<bool>& mask)
      : leads_(table.leads), size_(table.size) {
    const std::size_t n = table.valid.size();
    sum_.assign((n + 1) * size_, 0.0);
    energy_.assign((n + 1) * leads_, 0.0);
    count_.assign(n + 1, 0);
    for (std::size_t i = 0; i < n; ++i) {
      const bool use = table.valid[i] && mask[i];
      for (std::size_t k = 0; k < size_; ++k) {
        sum_[(i + 1) * size_ + k] =
            sum_[i * size_ + k] + (use ? table.data[i * size_ + k] : 0.0);
      }
      for (std::size_t l = 0; l < leads_; ++l) {
        energy_[(i + 1) * leads_ + l] =
            energy_[i * leads_ + l] +
            (use ? table.energy[i * leads_ + l] : 0.0);
      }
      count_[i + 1] = count_[i] + (use ? 1 : 0);
    }
  }

  // Coherence of the selected segments of beats [first, last], per lead:
  // (n·E(mean) / mean E − 1) / (n − 1), ≈ 1 for identical segments and ≈ 0
  // for unrelated ones; the largest over the leads (a P wave seen in one
  // lead is a P wave). −1 with fewer than 3 segments or no energy.
  double Coherence(std::size_t first, std::size_t last) const {
    const std::size_t end = std::min(last + 1, count_.size() - 1);
    if (first >= end) return -1.0;
    const std::size_t n = count_[end] - count_[first];
    if (n < 3) return -1.0;
    const std::size_t bins = size_ / leads_;
    const double nd = static_cast<double>(n);
    double sum_energy = 0.0;
    double energy = 0.0;
    for (std::size_t lead = 0; lead < leads_; ++lead) {
      energy += energy_[end * leads_ + lead] - energy_[first * leads_ + lead];
      for (std::size_t b = 0; b < bins; ++b) {
        const std::size_t k = lead * bins + b;
        const double v = sum_[end * size_ + k] - sum_[first * size_ + k];
        sum_energy += v * v;
      }
    }
    if (!(energy > kTiny)) return -1.0;
    // n·E(mean) / mean E = sum_energy / energy.
    const double best = (sum_energy / energy - 1.0) / (nd - 1.0);
    return std::clamp(best, -1.0, 1.0);
  }

 private:
  std::size_t leads_;
  std::size_t size_;
  std::vector<double> sum_;
  std::vector<double> energy_;
  std::vector<std::size_t> count_;
};

// Beats whose P wave can be judged: the RR before them is at least
// kMinPrecedingRrRatio of the local median RR (all beats, ±8 intervals), so
// that the atrial window holds neither the T wave of a close previous beat
// nor a premature (ectopic) P wave.
std::vector<bool> NonPrematureBeats(std::span<const ClassifiedBeat> beats) {
  const std::size_t n = beats.size();
  std::vector<bool> ok(n, false);
  std::vector<double> local;
  for (std::size_t i = 1; i < n; ++i) {
    local.clear();
    const std::size_t lo = i > 8 ? i - 8 : 1;
    const std::size_t hi = std::min(n - 1, i + 8);
    for (std::size_t k = lo; k <= hi; ++k) {
      local.push_back(static_cast<double>(beats[k].sample) -
                      static_cast<double>(beats[k - 1].sample));
    }
    const double median = Median(&local);
    const double rr = static_cast<double>(beats[i].sample) -
                      static_cast<double>(beats[i - 1].sample);
    ok[i] = rr >= kMinPrecedingRrRatio * median;
  }
  return ok;
}

// True when the central part of QRS segment `x` matches `templ` within
// kQrsOutlierDistance at some shift of up to ±kQrsShiftBins bins: the QRS
// detector's fiducial jitters by ~10 ms, a bin, from beat to beat.
bool SameShape(const SegmentTable& qrs, const double* x,
               const std::vector<double>& templ) {
  const std::size_t bins = qrs.size / qrs.leads;
  const auto shift_max = static_cast<long>(kQrsShiftBins);
  double best = 1e9;
  for (long shift = -shift_max; shift <= shift_max; ++shift) {
    double diff = 0.0;
    double norm = 0.0;
    for (std::size_t lead = 0; lead < qrs.leads; ++lead) {
      const double* xl = x + lead * bins;
      const double* tl = templ.data() + lead * bins;
      for (std::size_t b = kQrsShiftBins; b + kQrsShiftBins < bins; ++b) {
        const double t = tl[static_cast<long>(b) + shift];
        diff += (xl[b] - t) * (xl[b] - t);
        norm += xl[b] * xl[b] + t * t;
      }
    }
    if (norm > kTiny) best = std::min(best, diff / norm);
  }
  return best <= kQrsOutlierDistance;
}

// Reviews the classes of the non-ventricular beats by QRS shape against the
// local dominant QRS: the per-bin median of the QRS segments of the
// neighbouring non-premature beats, renewed every kTemplateStride beats.
// Ectopic beats are premature, so the template stays the conducted QRS even
// when half the beats are ectopic (bigeminy, couplets). A "normal" beat of another
// shape becomes kUnknown: an ectopic beat the classifier missed, an aberrant
// beat or a detection on an artefact, whose RR intervals and P window would
// otherwise read as irregular rhythm without P waves. An "unknown" beat of
// the dominant shape becomes kNormal: classifiers say "unknown" when they
// have too few beats to learn from (a 10 s ECG), and a beat shaped like the
// dominant one is conducted from the atria. kVentricular beats stay.
void MarkQrsOutliers(const SegmentTable& qrs,
                     const std::vector<bool>& non_premature,
                     std::vector<ClassifiedBeat>* beats) {
  const std::size_t n = beats->size();
  std::vector<bool> outlier(n, false);
  std::vector<double> column;
  std::vector<double> templ(qrs.size, 0.0);
  for (std::size_t block = 0; block < n; block += kTemplateStride) {
    const std::size_t centre = block + kTemplateStride / 2;
    const std::size_t lo =
        centre > kTemplateHalfWidth ? centre - kTemplateHalfWidth : 0;
    const std::size_t hi = std::min(n - 1, centre + kTemplateHalfWidth);
    // Too few non-premature beats (a 10 s strip): all beats make the
    // template.
    std::size_t eligible = 0;
    for (std::size_t j = lo; j <= hi; ++j) {
      eligible += qrs.valid[j] && non_premature[j] ? 1 : 0;
    }
    const bool all = eligible < kMinTemplateBeats;
    for (std::size_t k = 0; k < qrs.size; ++k) {
      column.clear();
      for (std::size_t j = lo; j <= hi; ++j) {
        if (qrs.valid[j] && (all || non_premature[j])) {
          column.push_back(qrs.segment(j)[k]);
        }
      }
      templ[k] = Median(&column);
    }
    for (std::size_t i = block; i < std::min(n, block + kTemplateStride); ++i) {
      if (qrs.valid[i]) outlier[i] = !SameShape(qrs, qrs.segment(i), templ);
    }
  }
  for (std::size_t i = 0; i < n; ++i) {
    if (!qrs.valid[i]) continue;
    (*beats)[i].beat_class =
        outlier[i] ? BeatClass::kUnknown : BeatClass::kNormal;
  }
}

std::vector<ClassifiedBeat> SortedBeats(std::span<const ClassifiedBeat> beats) {
  std::vector<ClassifiedBeat> sorted(beats.begin(), beats.end());
  std::stable_sort(sorted.begin(), sorted.end(),
                   [](const ClassifiedBeat& a, const ClassifiedBeat& b) {
                     return a.sample < b.sample;
                   });
  // A duplicate sample is the same QRS twice: keep one.
  sorted.erase(std::unique(sorted.begin(), sorted.end(),
                           [](const ClassifiedBeat& a, const ClassifiedBeat& b) {
                             return a.sample == b.sample;
                           }),
               sorted.end());
  return sorted;
}

}  // namespace

Result<std::vector<AfWindowScore>> ScoreAfWindows(
    std::span<const ClassifiedBeat> beats_in,
    std::span<const float> interleaved_mv, const AfDetectorConfig& config) {
  if (auto ok = Validate(config, interleaved_mv.size()); !ok) {
    return Fail(ok.error());
  }
  std::vector<ClassifiedBeat> beats = SortedBeats(beats_in);
  const bool has_signal = !interleaved_mv.empty();
  const auto leads = static_cast<std::size_t>(config.num_leads);
  SegmentTable qrs_table;
  if (has_signal) {
    qrs_table = BuildSegments(Segments(interleaved_mv, config.num_leads,
                                       config.sample_rate_hz, kQrsBeginSeconds,
                                       kQrsEndSeconds),
                              leads, beats, /*include_unknown=*/true);
    MarkQrsOutliers(qrs_table, NonPrematureBeats(beats), &beats);
  }
  std::vector<Interval> rr = UsableIntervals(beats, config.sample_rate_hz);
  CorrectEctopicPairs(&rr);
  std::vector<AfWindowScore> scores;
  if (rr.size() < static_cast<std::size_t>(config.min_beats)) return scores;

  // Window sums over the beats left normal: QRS segments of all of them,
  // atrial segments of the non-premature ones.
  std::optional<SegmentSums> atrial;
  std::optional<SegmentSums> qrs;
  if (has_signal) {
    atrial.emplace(
        BuildSegments(Segments(interleaved_mv, config.num_leads,
                               config.sample_rate_hz, kAtrialBeginSeconds,
                               kAtrialEndSeconds),
                      leads, beats),
        NonPrematureBeats(beats));
    std::vector<bool> still_normal(beats.size());
    for (std::size_t i = 0; i < beats.size(); ++i) {
      still_normal[i] = beats[i].beat_class == BeatClass::kNormal;
    }
    qrs.emplace(qrs_table, still_normal);
  }

  const std::size_t n = rr.size();
  const std::size_t w = std::min(n, static_cast<std::size_t>(config.window_beats));
  scores.reserve(n);
  std::vector<double> scratch;
  for (std::size_t m = 0; m < n; ++m) {
    // Centred window of w intervals, cut (not shifted) at the record's ends
    // so that the rhythm near an end is judged on its own beats; a record
    // shorter than a window is one window.
    const std::size_t begin = w == n ? 0 : (m >= w / 2 ? m - w / 2 : 0);
    const std::size_t end = w == n ? n : std::min(n, m + w / 2);
    AfWindowScore s;
    s.onset_sample = rr[m].onset_sample;
    s.offset_sample = rr[m].offset_sample;
    s.irregularity = Irregularity(rr, begin, end, &scratch);
    const std::size_t spanned = rr[end - 1].end_beat - rr[begin].end_beat + 1;
    s.usable_fraction =
        static_cast<double>(end - begin) / static_cast<double>(spanned);
    if (has_signal) {
      // The P-wave window is half as long: a mix of beats with and without
      // P waves reads as "P present" from about a third of them on, so a
      // long window would move episode edges by several beats.
      const std::size_t half = std::max<std::size_t>(w / 4, 6);
      s.p_coherence = atrial->Coherence(rr[m >= half ? m - half : 0].end_beat,
                                        rr[std::min(n - 1, m + half)].end_beat);
      s.qrs_coherence =
          qrs->Coherence(rr[begin].end_beat, rr[end - 1].end_beat);
    }
    const bool irregular = s.irregularity >= config.irregularity_threshold;
    const bool no_p = !has_signal || s.p_coherence < config.p_coherence_threshold;
    const bool real_beats = !has_signal || s.qrs_coherence >= kMinQrsCoherence;
    s.af = irregular && no_p && real_beats;
    scores.push_back(s);
  }
  return scores;
}

Result<std::vector<RhythmEpisode>> DetectAtrialFibrillation(
    std::span<const ClassifiedBeat> beats,
    std::span<const float> interleaved_mv, const AfDetectorConfig& config) {
  auto scored = ScoreAfWindows(beats, interleaved_mv, config);
  if (!scored) return Fail(scored.error());
  const std::vector<AfWindowScore>& s = *scored;

  // Runs of AF intervals, gaps of up to max_gap_beats bridged.
  struct Run {
    std::size_t first = 0;
    std::size_t last = 0;
  };
  std::vector<Run> runs;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (!s[i].af) continue;
    if (!runs.empty() &&
        i - runs.back().last <= static_cast<std::size_t>(config.max_gap_beats) + 1) {
      runs.back().last = i;
    } else {
      runs.push_back({i, i});
    }
  }

  std::vector<RhythmEpisode> episodes;
  for (const Run& run : runs) {
    // A short record (a 10 s ECG) may be AF throughout with fewer beats
    // than min_episode_beats; it already passed min_beats.
    const bool whole_record = run.first == 0 && run.last + 1 == s.size();
    const double seconds =
        static_cast<double>(s[run.last].offset_sample -
                            s[run.first].onset_sample) /
        config.sample_rate_hz;
    const bool too_short =
        run.last - run.first + 1 <
            static_cast<std::size_t>(config.min_episode_beats) ||
        seconds < config.min_episode_seconds;
    if (!whole_record && too_short) continue;
    double irregular_sum = 0.0;
    std::size_t count = 0;
    for (std::size_t i = run.first; i <= run.last; ++i) {
      if (!s[i].af) continue;
      irregular_sum += s[i].irregularity / config.irregularity_threshold;
      ++count;
    }
    // 0.5 at the threshold, 1 at twice it: how clearly irregular it was.
    const double mean_ratio =
        count > 0 ? irregular_sum / static_cast<double>(count) : 0.0;
    RhythmEpisode e;
    e.onset_sample = s[run.first].onset_sample;
    e.offset_sample = s[run.last].offset_sample;
    e.confidence = static_cast<float>(std::clamp(0.5 * mean_ratio, 0.0, 1.0));
    if (e.offset_sample > e.onset_sample) episodes.push_back(e);
  }
  return episodes;
}

}  // namespace pulse::dsp
