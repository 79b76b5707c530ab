#include "delineation_eval.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <string_view>


#include "args.h"
#include "pulse/dsp/beat_classifier.h"
#include "pulse/dsp/leads.h"
#include "pulse/dsp/wfdb_file.h"

namespace pulse::ecg_eval {
namespace {

namespace fs = std::filesystem;
using dsp::wfdb::AnnotationCode;

constexpr std::array<std::string_view, 12> kAnnotators = {
    "i", "ii", "iii", "avr", "avl", "avf", "v1", "v2", "v3", "v4", "v5", "v6"};

LeadAnnotations ParseLead(const std::vector<dsp::wfdb::Annotation>& a) {
  LeadAnnotations out;
  for (std::size_t i = 0; i < a.size(); ++i) {
    std::vector<AnnotatedWave>* list = nullptr;
    if (a[i].code == AnnotationCode::kPWave) {
      list = &out.p;
    } else if (a[i].code == AnnotationCode::kTWave) {
      list = &out.t;
    } else if (dsp::wfdb::IsBeat(a[i].code)) {
      list = &out.qrs;
    }
    if (list == nullptr) continue;
    AnnotatedWave w;
    w.peak = a[i].sample;
    if (i > 0 && a[i - 1].code == AnnotationCode::kWaveformOnset) {
      w.onset = a[i - 1].sample;
    }
    if (i + 1 < a.size() && a[i + 1].code == AnnotationCode::kWaveformOffset) {
      w.offset = a[i + 1].sample;
    }
    list->push_back(w);
  }
  return out;
}

std::int64_t Get(const dsp::WaveFiducials& f, Fiducial k) {
  switch (k) {
    case Fiducial::kPOn: return f.p_onset;
    case Fiducial::kPOff: return f.p_offset;
    case Fiducial::kQrsOn: return f.qrs_onset;
    case Fiducial::kQrsOff: return f.qrs_offset;
    case Fiducial::kTOff: return f.t_offset;
  }
  return -1;
}

// The annotated points of kind `k` in one lead, ascending.
std::vector<std::int64_t> AnnotatedPoints(const LeadAnnotations& a,
                                          Fiducial k) {
  std::vector<std::int64_t> out;
  auto take = [&out](const std::vector<AnnotatedWave>& waves, bool onset) {
    for (const AnnotatedWave& w : waves) {
      const std::int64_t v = onset ? w.onset : w.offset;
      if (v >= 0) out.push_back(v);
    }
  };
  switch (k) {
    case Fiducial::kPOn: take(a.p, true); break;
    case Fiducial::kPOff: take(a.p, false); break;
    case Fiducial::kQrsOn: take(a.qrs, true); break;
    case Fiducial::kQrsOff: take(a.qrs, false); break;
    case Fiducial::kTOff: take(a.t, false); break;
  }
  std::sort(out.begin(), out.end());
  return out;
}

// Span of all annotations of a lead, frames.
std::pair<std::int64_t, std::int64_t> AnnotatedSpan(const LeadAnnotations& a) {
  std::int64_t lo = INT64_MAX, hi = -1;
  for (const auto* list : {&a.p, &a.qrs, &a.t}) {
    for (const AnnotatedWave& w : *list) {
      for (std::int64_t v : {w.onset, w.peak, w.offset}) {
        if (v < 0) continue;
        lo = std::min(lo, v);
        hi = std::max(hi, v);
      }
    }
  }
  return {lo, hi};
}

// The earliest (latest) value once the `skip` most extreme are left out;
// -1 when there are none.
std::int64_t Earliest(std::vector<std::int64_t> v, int skip) {
  if (v.empty()) return -1;
  std::sort(v.begin(), v.end());
  const auto k = std::min(v.size() - 1, static_cast<std::size_t>(skip));
  return v[k];
}

std::int64_t Latest(std::vector<std::int64_t> v, int skip) {
  if (v.empty()) return -1;
  std::sort(v.begin(), v.end(), std::greater<>());
  const auto k = std::min(v.size() - 1, static_cast<std::size_t>(skip));
  return v[k];
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

}  // namespace

std::string_view FiducialName(Fiducial f) {
  constexpr std::string_view kNames[] = {"P on", "P off", "QRS on", "QRS off",
                                         "T off"};
  return kNames[static_cast<int>(f)];
}

std::string_view FiducialKey(Fiducial f) {
  constexpr std::string_view kKeys[] = {"p_on", "p_off", "qrs_on", "qrs_off",
                                        "t_off"};
  return kKeys[static_cast<int>(f)];
}

Result<std::array<LeadAnnotations, 12>> ReadLudbAnnotations(
    const fs::path& record) {
  std::array<LeadAnnotations, 12> out;
  for (std::size_t l = 0; l < kAnnotators.size(); ++l) {
    auto a = dsp::wfdb::ReadAnnotationFile(record, kAnnotators[l]);
    if (!a) return Fail(a.error());
    out[l] = ParseLead(*a);
  }
  return out;
}

Result<RecordRun> RunRecord(const fs::path& record_path,
                            const std::string& name, DetectionRunner* runner,
                            const BeatDelineator& delineator,
                            const MedianDelineator& median_delineator) {
  auto record = dsp::wfdb::ReadRecord(record_path);
  if (!record) return Fail(record.error());
  auto annotations = ReadLudbAnnotations(record_path);
  if (!annotations) return Fail(annotations.error());
  auto mv = dsp::wfdb::ToMillivolts(*record);
  if (!mv) return Fail(mv.error().WithContext("record " + name));
  auto leads = dsp::Derive12Lead(*mv, dsp::wfdb::SignalNames(record->header));
  if (!leads) return Fail(leads.error().WithContext("record " + name));

  RecordRun run;
  run.name = name;
  run.sample_rate_hz = record->header.sampling_frequency_hz;
  run.num_frames = record->num_frames();
  run.annotations = std::move(*annotations);
  auto detection = runner->Run(*record, name, 0, run.num_frames);
  if (!detection) return Fail(detection.error());

  dsp::BeatClassifierConfig config;
  config.sample_rate_hz = run.sample_rate_hz;
  config.num_leads = dsp::kNumStandardLeads;
  auto classified =
      dsp::ClassifyBeats(leads->samples_mv, detection->beats, config);
  if (classified) {
    run.beats = std::move(*classified);
    run.classifier_used = true;
  } else {
    for (std::int64_t s : detection->beats) {
      run.beats.push_back({s, dsp::BeatClass::kNormal, 1.0f});
    }
  }
  auto per_beat =
      delineator ? delineator(leads->samples_mv, dsp::kNumStandardLeads,
                              run.sample_rate_hz, run.beats)
                 : dsp::DelineateBeats(leads->samples_mv,
                                       dsp::kNumStandardLeads,
                                       run.sample_rate_hz, run.beats);
  if (!per_beat) return Fail(per_beat.error().WithContext("record " + name));
  run.per_beat = std::move(*per_beat);

  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  auto medians = dsp::BuildMedianBeats(leads->samples_mv,
                                       dsp::kNumStandardLeads,
                                       run.sample_rate_hz, run.beats);
  if (medians) {
    auto d = median_delineator ? median_delineator(*medians,
                                                   leads->samples_mv, run.beats)
                               : dsp::DelineateMedianBeats(
                                     *medians, leads->samples_mv, run.beats);
    if (d) run.median_delineation = std::move(*d);
    run.medians = std::move(*medians);
  }
  run.delineation_seconds =
      std::chrono::duration<double>(Clock::now() - start).count();
  return run;
}

double FiducialStats::SensitivityPercent() const {
  return annotated > 0 ? 100.0 * static_cast<double>(matched) /
                             static_cast<double>(annotated)
                       : 100.0;
}

double FiducialStats::MeanMs() const {
  return matched > 0 ? sum_ms / static_cast<double>(matched) : 0.0;
}

double FiducialStats::SdMs() const {
  if (matched < 2) return 0.0;
  const double n = static_cast<double>(matched);
  const double var = (sum_sq_ms - sum_ms * sum_ms / n) / (n - 1.0);
  return var > 0.0 ? std::sqrt(var) : 0.0;
}

FiducialStats& FiducialStats::operator+=(const FiducialStats& o) {
  annotated += o.annotated;
  matched += o.matched;
  unmatched_detections += o.unmatched_detections;
  sum_ms += o.sum_ms;
  sum_sq_ms += o.sum_sq_ms;
  gross_errors += o.gross_errors;
  return *this;
}

DelineationScore ScoreDelineation(const RecordRun& run,
                                  double match_window_ms) {
  DelineationScore score;
  const double ms_per_frame = 1000.0 / run.sample_rate_hz;
  const auto window = static_cast<std::int64_t>(
      std::lround(match_window_ms / ms_per_frame));
  for (std::size_t l = 0; l < run.annotations.size(); ++l) {
    const auto [span_lo, span_hi] = AnnotatedSpan(run.annotations[l]);
    if (span_hi < 0) continue;
    for (int k = 0; k < kNumFiducials; ++k) {
      const auto kind = static_cast<Fiducial>(k);
      std::vector<std::int64_t> detected;
      for (const dsp::BeatDelineation& b : run.per_beat) {
        if (l >= b.per_lead.size()) continue;
        const std::int64_t v = Get(b.per_lead[l], kind);
        if (v >= 0) detected.push_back(v);
      }
      std::sort(detected.begin(), detected.end());
      const std::vector<std::int64_t> ref =
          AnnotatedPoints(run.annotations[l], kind);
      std::vector<bool> used(detected.size(), false);
      FiducialStats& s = score[static_cast<std::size_t>(k)];
      for (std::int64_t a : ref) {
        ++s.annotated;
        auto it = std::lower_bound(detected.begin(), detected.end(), a);
        std::ptrdiff_t best = -1;
        std::int64_t best_d = window + 1;
        for (auto c : {it - 1, it}) {
          if (c < detected.begin() || c >= detected.end()) continue;
          const std::int64_t d = std::abs(*c - a);
          if (d < best_d) {
            best_d = d;
            best = c - detected.begin();
          }
        }
        if (best < 0) continue;
        const double err =
            static_cast<double>(detected[static_cast<std::size_t>(best)] - a) *
            ms_per_frame;
        used[static_cast<std::size_t>(best)] = true;
        ++s.matched;
        s.sum_ms += err;
        s.sum_sq_ms += err * err;
        if (std::fabs(err) > kGrossErrorMs) ++s.gross_errors;
      }
      for (std::size_t i = 0; i < detected.size(); ++i) {
        if (!used[i] && detected[i] >= span_lo - window &&
            detected[i] <= span_hi + window) {
          ++s.unmatched_detections;
        }
      }
    }
  }
  return score;
}

GlobalIntervals IntervalsFromMedian(const RecordRun& run) {
  GlobalIntervals out;
  if (!run.median_delineation) return out;
  const dsp::WaveFiducials& g = run.median_delineation->global;
  const double ms = 1000.0 / run.sample_rate_hz;
  if (!g.has_qrs()) return out;
  out.qrs_ms = static_cast<double>(g.qrs_offset - g.qrs_onset) * ms;
  if (g.has_p()) {
    out.p_ms = static_cast<double>(g.p_offset - g.p_onset) * ms;
    out.pr_ms = static_cast<double>(g.qrs_onset - g.p_onset) * ms;
  }
  if (g.has_t()) out.qt_ms = static_cast<double>(g.t_offset - g.qrs_onset) * ms;
  return out;
}

GlobalIntervals IntervalsFromAnnotations(const RecordRun& run,
                                         int outlier_leads) {
  // Beats: QRS peaks of all leads, clustered within 100 ms.
  const double fs = run.sample_rate_hz;
  const auto near = static_cast<std::int64_t>(std::lround(0.1 * fs));
  std::vector<std::int64_t> peaks;
  for (const LeadAnnotations& a : run.annotations) {
    for (const AnnotatedWave& w : a.qrs) peaks.push_back(w.peak);
  }
  std::sort(peaks.begin(), peaks.end());
  std::vector<std::int64_t> beats;  // cluster centres (first peak)
  for (std::int64_t p : peaks) {
    if (beats.empty() || p - beats.back() > near) beats.push_back(p);
  }
  std::vector<double> p_ms, pr_ms, qrs_ms, qt_ms;
  const double ms = 1000.0 / fs;
  for (std::size_t b = 0; b < beats.size(); ++b) {
    const std::int64_t r = beats[b];
    const std::int64_t prev = b > 0 ? beats[b - 1] : INT64_MIN / 2;
    const std::int64_t next =
        b + 1 < beats.size() ? beats[b + 1] : INT64_MAX / 2;
    std::vector<std::int64_t> q_ons, q_offs, p_ons, p_offs, t_offs;
    for (const LeadAnnotations& a : run.annotations) {
      for (const AnnotatedWave& w : a.qrs) {
        if (std::abs(w.peak - r) > near) continue;
        if (w.onset >= 0) q_ons.push_back(w.onset);
        if (w.offset >= 0) q_offs.push_back(w.offset);
      }
      for (const AnnotatedWave& w : a.p) {
        if (w.peak <= prev + near || w.peak >= r) continue;
        if (w.onset >= 0) p_ons.push_back(w.onset);
        if (w.offset >= 0) p_offs.push_back(w.offset);
      }
      for (const AnnotatedWave& w : a.t) {
        if (w.peak <= r || w.peak >= next - near) continue;
        if (w.offset >= 0) t_offs.push_back(w.offset);
      }
    }
    const std::int64_t q_on = Earliest(q_ons, outlier_leads);
    const std::int64_t q_off = Latest(q_offs, outlier_leads);
    const std::int64_t p_on = Earliest(p_ons, outlier_leads);
    const std::int64_t p_off = Latest(p_offs, outlier_leads);
    const std::int64_t t_off = Latest(t_offs, outlier_leads);
    if (q_off < 0 || q_on < 0) continue;
    qrs_ms.push_back(static_cast<double>(q_off - q_on) * ms);
    if (p_off >= 0 && p_on >= 0) {
      p_ms.push_back(static_cast<double>(p_off - p_on) * ms);
      pr_ms.push_back(static_cast<double>(q_on - p_on) * ms);
    }
    if (t_off >= 0) qt_ms.push_back(static_cast<double>(t_off - q_on) * ms);
  }
  GlobalIntervals out;
  if (!p_ms.empty()) out.p_ms = Median(p_ms);
  if (!pr_ms.empty()) out.pr_ms = Median(pr_ms);
  if (!qrs_ms.empty()) out.qrs_ms = Median(qrs_ms);
  if (!qt_ms.empty()) out.qt_ms = Median(qt_ms);
  return out;
}

std::vector<std::string> LudbRecordRange(int first, int last) {
  std::vector<std::string> out;
  for (int i = first; i <= last; ++i) out.push_back(std::to_string(i));
  return out;
}

}  // namespace pulse::ecg_eval
