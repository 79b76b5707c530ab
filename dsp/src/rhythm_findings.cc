// FindRhythms: the rules are in the header. Each kind is found by its own
// pass over the beat list (all O(beats + episodes)); the passes share only
// per-beat flags (inside AF, inside a ventricular run of ≥ 3), and the
// result is sorted once at the end.
#include "pulse/dsp/rhythm_findings.h"
#include "range_check.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <tuple>

namespace pulse::dsp {
namespace {

using internal::CheckRange;
using internal::FormatNumber;

constexpr const char* kAfLabel =
    "Suggestive of atrial fibrillation \u2014 requires physician confirmation";


// "%.0f" of a finite value; the labels never print more precision than a
// clinician reads.
std::string Rounded(double value) {
  char buffer[32];
  std::snprintf(buffer, sizeof(buffer), "%.0f", value);
  return buffer;
}


Status ValidateCriteria(const RhythmCriteria& c) {
  if (Status s = CheckRange("context.criteria.bradycardia_below_bpm",
                            c.bradycardia_below_bpm, 30.0, 80.0);
      !s) {
    return s;
  }
  if (Status s = CheckRange("context.criteria.tachycardia_above_bpm",
                            c.tachycardia_above_bpm, 80.0, 150.0);
      !s) {
    return s;
  }
  if (!(c.tachycardia_above_bpm > c.bradycardia_below_bpm)) {
    return Fail(ErrorCode::kInvalidArgument,
                "context.criteria.tachycardia_above_bpm must exceed "
                "bradycardia_below_bpm");
  }
  if (Status s = CheckRange("context.criteria.vt_min_rate_bpm",
                            c.vt_min_rate_bpm, 60.0, 200.0);
      !s) {
    return s;
  }
  if (Status s = CheckRange("context.criteria.pause_threshold_ms",
                            c.pause_threshold_ms, 1000.0, 10000.0);
      !s) {
    return s;
  }
  return CheckRange("context.criteria.bigeminy_min_cycles",
                    static_cast<double>(c.bigeminy_min_cycles), 2.0, 100.0);
}

Status Validate(std::span<const ClassifiedBeat> beats,
                std::span<const RhythmEpisode> episodes,
                const RhythmContext& c) {
  if (Status s = CheckRange("context.sample_rate_hz", c.sample_rate_hz, 50.0,
                            10000.0);
      !s) {
    return s;
  }
  if (c.record_length_frames < 1) {
    return Fail(ErrorCode::kInvalidArgument,
                "context.record_length_frames = " +
                    std::to_string(c.record_length_frames) + " must be >= 1");
  }
  if (Status s = ValidateCriteria(c.criteria); !s) return s;
  if (!c.beat_has_p_wave.empty() && c.beat_has_p_wave.size() != beats.size()) {
    return Fail(ErrorCode::kInvalidArgument,
                "context.beat_has_p_wave has " +
                    std::to_string(c.beat_has_p_wave.size()) +
                    " flags for " + std::to_string(beats.size()) + " beats");
  }
  for (std::size_t i = 0; i < beats.size(); ++i) {
    const std::int64_t s = beats[i].sample;
    if (s < 0 || s >= c.record_length_frames ||
        (i > 0 && s <= beats[i - 1].sample)) {
      return Fail(ErrorCode::kInvalidArgument,
                  "beats[" + std::to_string(i) + "].sample = " +
                      std::to_string(s) +
                      " is outside the record or not after the previous beat");
    }
  }
  for (std::size_t i = 0; i < episodes.size(); ++i) {
    if (episodes[i].offset_sample < episodes[i].onset_sample) {
      return Fail(ErrorCode::kInvalidArgument,
                  "af_episodes[" + std::to_string(i) +
                      "] ends before it begins");
    }
  }
  return OkStatus();
}

float Clamp01(double value) {
  if (!std::isfinite(value)) return 0.0f;
  return static_cast<float>(std::clamp(value, 0.0, 1.0));
}

// Everything the passes need, read-only.
struct Input {
  std::span<const ClassifiedBeat> beats;
  const RhythmContext& context;
  std::vector<bool> in_af;         // per beat
  std::vector<bool> in_long_run;   // per beat: V run of >= 3

  std::int64_t Sample(std::size_t k) const { return beats[k].sample; }
  BeatClass Class(std::size_t k) const { return beats[k].beat_class; }
  double RrMs(std::size_t a, std::size_t b) const {
    return static_cast<double>(Sample(b) - Sample(a)) * 1000.0 /
           context.sample_rate_hz;
  }
  bool HasP(std::size_t k) const {
    if (!context.beat_has_p_wave.empty()) return context.beat_has_p_wave[k] != 0;
    return context.normal_beats_have_p_waves;
  }
  bool IsSinus(std::size_t k) const {
    return Class(k) == BeatClass::kNormal && HasP(k) && !in_af[k];
  }
  // Mean classifier confidence over beats [first, last].
  double MeanConfidence(std::size_t first, std::size_t last) const {
    double sum = 0.0;
    for (std::size_t k = first; k <= last; ++k) {
      sum += static_cast<double>(beats[k].confidence);
    }
    return sum / static_cast<double>(last - first + 1);
  }
  int BeatsIn(std::int64_t onset, std::int64_t offset) const {
    const auto lo = std::lower_bound(
        beats.begin(), beats.end(), onset,
        [](const ClassifiedBeat& b, std::int64_t s) { return b.sample < s; });
    const auto hi = std::lower_bound(
        beats.begin(), beats.end(), offset,
        [](const ClassifiedBeat& b, std::int64_t s) { return b.sample < s; });
    return static_cast<int>(hi - lo);
  }
};

// Clipped to the record, empties dropped, sorted, overlaps merged (the
// merged episode keeps the larger confidence).
std::vector<RhythmEpisode> NormalizeEpisodes(
    std::span<const RhythmEpisode> episodes, std::int64_t length) {
  std::vector<RhythmEpisode> clipped;
  for (RhythmEpisode e : episodes) {
    e.onset_sample = std::clamp<std::int64_t>(e.onset_sample, 0, length);
    e.offset_sample = std::clamp<std::int64_t>(e.offset_sample, 0, length);
    if (e.offset_sample > e.onset_sample) clipped.push_back(e);
  }
  std::sort(clipped.begin(), clipped.end(),
            [](const RhythmEpisode& a, const RhythmEpisode& b) {
              return std::tie(a.onset_sample, a.offset_sample) <
                     std::tie(b.onset_sample, b.offset_sample);
            });
  std::vector<RhythmEpisode> merged;
  for (const RhythmEpisode& e : clipped) {
    if (!merged.empty() && e.onset_sample <= merged.back().offset_sample) {
      RhythmEpisode& m = merged.back();
      m.offset_sample = std::max(m.offset_sample, e.offset_sample);
      m.confidence = std::max(m.confidence, e.confidence);
    } else {
      merged.push_back(e);
    }
  }
  return merged;
}

std::vector<bool> MarkInAf(std::span<const ClassifiedBeat> beats,
                           const std::vector<RhythmEpisode>& episodes) {
  std::vector<bool> in_af(beats.size(), false);
  std::size_t e = 0;
  for (std::size_t k = 0; k < beats.size(); ++k) {
    while (e < episodes.size() && episodes[e].offset_sample <= beats[k].sample) {
      ++e;
    }
    in_af[k] = e < episodes.size() && episodes[e].onset_sample <= beats[k].sample;
  }
  return in_af;
}

void AddAf(const Input& in, const std::vector<RhythmEpisode>& episodes,
           std::vector<RhythmFinding>& out) {
  for (const RhythmEpisode& e : episodes) {
    RhythmFinding f;
    f.kind = RhythmFindingKind::kAtrialFibrillation;
    f.onset_sample = e.onset_sample;
    f.offset_sample = e.offset_sample;
    f.beat_count = in.BeatsIn(e.onset_sample, e.offset_sample);
    f.confidence = Clamp01(static_cast<double>(e.confidence));
    f.label = kAfLabel;
    out.push_back(std::move(f));
  }
}

RhythmFinding BeatSpan(const Input& in, RhythmFindingKind kind,
                       std::size_t first, std::size_t last) {
  RhythmFinding f;
  f.kind = kind;
  f.onset_sample = in.Sample(first);
  f.offset_sample = in.Sample(last) + 1;
  f.beat_count = in.BeatsIn(f.onset_sample, f.offset_sample);
  f.confidence = Clamp01(in.MeanConfidence(first, last));
  return f;
}

// Runs of consecutive V beats [first, last].
void AddVentricularRun(const Input& in, std::size_t first, std::size_t last,
                       std::vector<RhythmFinding>& out) {
  const std::size_t n = last - first + 1;
  if (n == 1) {
    RhythmFinding f = BeatSpan(in, RhythmFindingKind::kIsolatedPvc, first, last);
    f.label = "Premature ventricular complex";
    out.push_back(std::move(f));
    return;
  }
  if (n == 2) {
    RhythmFinding f =
        BeatSpan(in, RhythmFindingKind::kVentricularCouplet, first, last);
    f.label = "Ventricular couplet";
    out.push_back(std::move(f));
    return;
  }
  // Samples are strictly ascending, so the mean RR is > 0.
  const double rate =
      60000.0 * static_cast<double>(n - 1) / in.RrMs(first, last);
  const bool vt = std::round(rate) >= in.context.criteria.vt_min_rate_bpm;
  RhythmFinding f = BeatSpan(
      in,
      vt ? RhythmFindingKind::kVentricularTachycardia
         : RhythmFindingKind::kSlowVentricularRun,
      first, last);
  f.rate_bpm = rate;
  const std::string detail =
      std::to_string(n) + " beats at " + Rounded(rate) + "/min";
  f.label = vt ? "Ventricular tachycardia, " + detail
               : "Slow ventricular run (idioventricular), " + detail;
  out.push_back(std::move(f));
}

// Finds the V runs, emits their findings, and returns the per-beat "inside a
// run of >= 3" flags that break sinus stretches.
std::vector<bool> AddVentricular(const Input& in,
                                 std::vector<RhythmFinding>& out) {
  std::vector<bool> in_long_run(in.beats.size(), false);
  std::size_t k = 0;
  while (k < in.beats.size()) {
    if (in.Class(k) != BeatClass::kVentricular) {
      ++k;
      continue;
    }
    std::size_t last = k;
    while (last + 1 < in.beats.size() &&
           in.Class(last + 1) == BeatClass::kVentricular) {
      ++last;
    }
    AddVentricularRun(in, k, last, out);
    if (last - k + 1 >= 3) {
      std::fill(in_long_run.begin() + static_cast<std::ptrdiff_t>(k),
                in_long_run.begin() + static_cast<std::ptrdiff_t>(last + 1),
                true);
    }
    k = last + 1;
  }
  return in_long_run;
}

// A bigeminal cycle starts at k: beat k normal, beat k+1 a single PVC.
bool BigeminalCycleAt(const Input& in, std::size_t k) {
  const std::size_t n = in.beats.size();
  return k + 1 < n && in.Class(k) == BeatClass::kNormal &&
         in.Class(k + 1) == BeatClass::kVentricular &&
         (k + 2 >= n || in.Class(k + 2) != BeatClass::kVentricular);
}

void AddBigeminy(const Input& in, std::vector<RhythmFinding>& out) {
  std::size_t k = 0;
  while (k < in.beats.size()) {
    if (!BigeminalCycleAt(in, k)) {
      ++k;
      continue;
    }
    std::size_t cycles = 1;
    while (BigeminalCycleAt(in, k + 2 * cycles)) ++cycles;
    if (cycles >= static_cast<std::size_t>(in.context.criteria.bigeminy_min_cycles)) {
      RhythmFinding f = BeatSpan(in, RhythmFindingKind::kVentricularBigeminy,
                                 k, k + 2 * cycles - 1);
      f.label = "Ventricular bigeminy, " + std::to_string(cycles) + " cycles";
      out.push_back(std::move(f));
    }
    k += 2 * cycles;
  }
}

void AddPauses(const Input& in, std::vector<RhythmFinding>& out) {
  for (std::size_t k = 0; k + 1 < in.beats.size(); ++k) {
    const double rr_ms = in.RrMs(k, k + 1);
    if (!(rr_ms > in.context.criteria.pause_threshold_ms)) continue;
    RhythmFinding f;
    f.kind = RhythmFindingKind::kPause;
    f.onset_sample = in.Sample(k);
    f.offset_sample = in.Sample(k + 1);
    f.beat_count = 2;
    f.confidence = Clamp01(in.MeanConfidence(k, k + 1));
    f.duration_ms = rr_ms;
    char buffer[48];
    std::snprintf(buffer, sizeof(buffer), "Pause of %.2f s", rr_ms / 1000.0);
    f.label = buffer;
    out.push_back(std::move(f));
  }
}

// 0.5 at a threshold, rising to 1 at 5/min beyond it.
double RateMargin(double distance_bpm) {
  return std::clamp(0.5 + 0.1 * distance_bpm, 0.5, 1.0);
}

// `sinus`: indices of the sinus beats of one stretch, ascending.
void AddSinusStretch(const Input& in, const std::vector<std::size_t>& sinus,
                     std::vector<RhythmFinding>& out) {
  double sum_rr = 0.0;
  int intervals = 0;
  double confidence = 0.0;
  for (std::size_t i = 0; i < sinus.size(); ++i) {
    confidence += static_cast<double>(in.beats[sinus[i]].confidence);
    if (i == 0 || sinus[i] != sinus[i - 1] + 1) continue;
    const double rr = in.RrMs(sinus[i - 1], sinus[i]);
    if (rr > in.context.criteria.pause_threshold_ms) continue;
    sum_rr += rr;
    ++intervals;
  }
  if (intervals == 0) return;
  const double exact_rate = 60000.0 * static_cast<double>(intervals) / sum_rr;
  // Decided on the whole number printed, so that label and kind agree.
  const double rate = std::round(exact_rate);
  const RhythmCriteria& c = in.context.criteria;
  RhythmFinding f;
  double margin = 0.0;
  if (rate < c.bradycardia_below_bpm) {
    f.kind = RhythmFindingKind::kSinusBradycardia;
    f.label = "Sinus bradycardia, " + Rounded(rate) + "/min";
    margin = c.bradycardia_below_bpm - rate;
  } else if (rate > c.tachycardia_above_bpm) {
    f.kind = RhythmFindingKind::kSinusTachycardia;
    f.label = "Sinus tachycardia, " + Rounded(rate) + "/min";
    margin = rate - c.tachycardia_above_bpm;
  } else {
    f.kind = RhythmFindingKind::kSinusRhythm;
    f.label = "Sinus rhythm, " + Rounded(rate) + "/min";
    margin = std::min(rate - c.bradycardia_below_bpm,
                      c.tachycardia_above_bpm - rate);
  }
  f.onset_sample = in.Sample(sinus.front());
  f.offset_sample = in.Sample(sinus.back()) + 1;
  f.beat_count = in.BeatsIn(f.onset_sample, f.offset_sample);
  f.rate_bpm = exact_rate;
  f.confidence = Clamp01(confidence / static_cast<double>(sinus.size()) *
                         RateMargin(margin));
  out.push_back(std::move(f));
}

void AddSinus(const Input& in, std::vector<RhythmFinding>& out) {
  std::vector<std::size_t> stretch;
  for (std::size_t k = 0; k < in.beats.size(); ++k) {
    if (in.IsSinus(k)) {
      stretch.push_back(k);
      continue;
    }
    // Isolated PVCs and couplets outside AF leave the sinus rhythm going.
    const bool passes = in.Class(k) == BeatClass::kVentricular &&
                        !in.in_long_run[k] && !in.in_af[k];
    if (passes) continue;
    if (!stretch.empty()) AddSinusStretch(in, stretch, out);
    stretch.clear();
  }
  if (!stretch.empty()) AddSinusStretch(in, stretch, out);
}

}  // namespace

std::string_view RhythmFindingKindName(RhythmFindingKind kind) {
  switch (kind) {
    case RhythmFindingKind::kSinusRhythm:
      return "sinus_rhythm";
    case RhythmFindingKind::kSinusBradycardia:
      return "sinus_bradycardia";
    case RhythmFindingKind::kSinusTachycardia:
      return "sinus_tachycardia";
    case RhythmFindingKind::kAtrialFibrillation:
      return "atrial_fibrillation";
    case RhythmFindingKind::kIsolatedPvc:
      return "isolated_pvc";
    case RhythmFindingKind::kVentricularCouplet:
      return "ventricular_couplet";
    case RhythmFindingKind::kVentricularBigeminy:
      return "ventricular_bigeminy";
    case RhythmFindingKind::kVentricularTachycardia:
      return "ventricular_tachycardia";
    case RhythmFindingKind::kSlowVentricularRun:
      return "slow_ventricular_run";
    case RhythmFindingKind::kPause:
      return "pause";
  }
  return "unknown";
}

Result<std::vector<RhythmFinding>> FindRhythms(
    std::span<const ClassifiedBeat> beats,
    std::span<const RhythmEpisode> af_episodes, const RhythmContext& context) {
  if (Status s = Validate(beats, af_episodes, context); !s) {
    return tl::unexpected(s.error());
  }
  const std::vector<RhythmEpisode> episodes =
      NormalizeEpisodes(af_episodes, context.record_length_frames);
  Input in{beats, context, MarkInAf(beats, episodes), {}};
  std::vector<RhythmFinding> out;
  AddAf(in, episodes, out);
  in.in_long_run = AddVentricular(in, out);
  AddBigeminy(in, out);
  AddPauses(in, out);
  AddSinus(in, out);
  std::stable_sort(out.begin(), out.end(),
                   [](const RhythmFinding& a, const RhythmFinding& b) {
                     return std::tie(a.onset_sample, a.kind, a.offset_sample) <
                            std::tie(b.onset_sample, b.kind, b.offset_sample);
                   });
  return out;
}

}  // namespace pulse::dsp
