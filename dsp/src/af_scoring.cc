#include "pulse/dsp/af_scoring.h"

#include <algorithm>
#include <string>

namespace pulse::dsp {
namespace {

double Percent(std::int64_t num, std::int64_t den) {
  return den > 0 ? 100.0 * static_cast<double>(num) / static_cast<double>(den)
                 : 100.0;
}

std::int64_t Overlap(const RhythmEpisode& a,
                     std::span<const RhythmEpisode> others) {
  std::int64_t total = 0;
  for (const RhythmEpisode& b : others) {
    const std::int64_t lo = std::max(a.onset_sample, b.onset_sample);
    const std::int64_t hi = std::min(a.offset_sample, b.offset_sample);
    if (hi > lo) total += hi - lo;
  }
  return total;
}

// Clips `e` to the span; false when nothing of it is left.
bool Clip(const AfScoreOptions& o, RhythmEpisode* e) {
  e->onset_sample = std::max(e->onset_sample, o.score_from_sample);
  e->offset_sample = std::min(e->offset_sample, o.score_to_sample);
  return e->offset_sample > e->onset_sample;
}

}  // namespace

double AfEpisodeCounts::EpisodeSensitivityPercent() const {
  return Percent(ref_detected, ref_detected + ref_missed);
}
double AfEpisodeCounts::EpisodePositivePredictivityPercent() const {
  return Percent(test_true, test_true + test_false);
}
double AfEpisodeCounts::DurationSensitivityPercent() const {
  return Percent(overlap_se_samples, ref_samples);
}
double AfEpisodeCounts::DurationPositivePredictivityPercent() const {
  return Percent(overlap_pp_samples, test_samples);
}

AfEpisodeCounts& AfEpisodeCounts::operator+=(const AfEpisodeCounts& o) {
  ref_detected += o.ref_detected;
  ref_missed += o.ref_missed;
  test_true += o.test_true;
  test_false += o.test_false;
  ref_samples += o.ref_samples;
  test_samples += o.test_samples;
  overlap_se_samples += o.overlap_se_samples;
  overlap_pp_samples += o.overlap_pp_samples;
  return *this;
}

std::vector<RhythmEpisode> ReferenceRhythmEpisodes(
    std::span<const wfdb::Annotation> annotations,
    std::string_view rhythm_prefix, std::int64_t record_end_sample) {
  std::vector<const wfdb::Annotation*> rhythm;
  for (const wfdb::Annotation& a : annotations) {
    if (a.code == wfdb::AnnotationCode::kRhythm) rhythm.push_back(&a);
  }
  std::stable_sort(rhythm.begin(), rhythm.end(),
                   [](const wfdb::Annotation* a, const wfdb::Annotation* b) {
                     return a->sample < b->sample;
                   });
  std::vector<RhythmEpisode> episodes;
  bool open = false;
  for (const wfdb::Annotation* a : rhythm) {
    const bool is_type = std::string_view(a->aux).starts_with(rhythm_prefix);
    if (!open && is_type) {
      episodes.push_back({a->sample, a->sample, 1.0f});
      open = true;
    } else if (open && !is_type) {
      episodes.back().offset_sample = a->sample;
      open = false;
    }
  }
  if (open) {
    const std::int64_t last = rhythm.empty() ? 0 : rhythm.back()->sample;
    episodes.back().offset_sample = std::max(record_end_sample, last);
  }
  return episodes;
}

AfEpisodeCounts ScoreAfEpisodes(std::span<const wfdb::Annotation> reference,
                                std::span<const RhythmEpisode> detected,
                                const AfScoreOptions& options) {
  const std::int64_t end = options.score_to_sample;
  const std::vector<RhythmEpisode> ref_af =
      ReferenceRhythmEpisodes(reference, "(AFIB", end);
  const std::vector<RhythmEpisode> ref_afl =
      ReferenceRhythmEpisodes(reference, "(AFL", end);
  AfEpisodeCounts c;
  for (RhythmEpisode e : ref_af) {
    if (!Clip(options, &e)) continue;
    c.ref_samples += e.offset_sample - e.onset_sample;
    const std::int64_t overlap = Overlap(e, detected);
    c.overlap_se_samples += overlap;
    (overlap > 0 ? c.ref_detected : c.ref_missed) += 1;
  }
  for (RhythmEpisode e : detected) {
    if (!Clip(options, &e)) continue;
    const std::int64_t excluded = Overlap(e, ref_afl);
    const std::int64_t duration = e.offset_sample - e.onset_sample - excluded;
    if (duration <= 0) continue;  // wholly inside reference flutter
    c.test_samples += duration;
    const std::int64_t overlap = Overlap(e, ref_af);
    c.overlap_pp_samples += overlap;
    (overlap > 0 ? c.test_true : c.test_false) += 1;
  }
  return c;
}

}  // namespace pulse::dsp
