// Median beats: one representative beat per lead, built from the beats of
// the dominant class and aligned on their QRS fiducial, the way interpretive
// electrocardiographs measure intervals and amplitudes (IEC 60601-2-25 §201.12.4).
//
// Thread-safety: pure functions; no shared state.
#ifndef PULSE_DSP_MEDIAN_BEAT_H_
#define PULSE_DSP_MEDIAN_BEAT_H_

#include <cstdint>
#include <span>
#include <vector>

#include "pulse/base/result.h"
#include "pulse/dsp/beat.h"

namespace pulse::dsp {

struct MedianBeatSet {
  double sample_rate_hz = 0.0;
  int num_leads = 0;
  std::int64_t length_frames = 0;   // samples per lead in the window
  std::int64_t fiducial_index = 0;  // where the aligned QRS fiducial lies
                                    // within the window (0-based)
  // Lead-major: samples_mv[lead * length_frames + i], millivolts, baseline
  // (PR segment level) not removed unless the producer says so.
  std::vector<float> samples_mv;
  BeatClass beat_class = BeatClass::kNormal;  // the class averaged
  int beats_used = 0;

  std::span<const float> lead(int index) const {
    return std::span<const float>(samples_mv)
        .subspan(static_cast<std::size_t>(index * length_frames),
                 static_cast<std::size_t>(length_frames));
  }
};

// How BuildMedianBeats() cuts, aligns and averages beats.
struct MedianBeatOptions {
  // Window around the QRS fiducial. 350 ms before reaches the onset of a P
  // wave with a PR of up to ~300 ms; 650 ms after reaches the end of a T
  // wave with a QT of up to ~700 ms. The part after the fiducial is cut
  // shorter at fast rates (see BuildMedianBeats) so that the next beat's
  // QRS does not enter the window.
  double window_before_ms = 350.0;  // 100 .. 1000
  double window_after_ms = 650.0;   // 200 .. 1500
  // Fewest beats of one class to build a median from.
  int min_beats = 1;  // 1 .. 1000
  // Each beat is re-aligned on the median template by cross-correlation of
  // the QRS slopes within +- this many ms of its detected fiducial
  // (detector jitter is ~10 ms SD).
  double align_search_ms = 20.0;  // 0 .. 60
};

// Builds one median beat per lead from `beats` in `interleaved_mv` (frames
// of num_leads samples, mV). The class averaged is kNormal when at least
// options.min_beats beats are kNormal, else the most frequent of
// kVentricular and kUnknown (ties: ventricular). Beats whose window does
// not fit in the record are skipped. The beats are aligned on their QRS by
// cross-correlation of a multi-lead slope signal with that of the first
// estimate, then the median is taken sample by sample per lead. With a
// median RR of the chosen beats (to the beat after each), the window is
// cut to keep the neighbouring beats out: the part after the fiducial to
// min(window_after_ms, max(0.6 RR, RR - 220 ms, 200 ms)), the part before
// to min(window_before_ms, max(0.45 RR, 150 ms)). Non-finite samples are read as 0. No baseline is removed.
// Returns kInvalidArgument naming the field for num_leads outside 1..12,
// a size that is not a multiple of num_leads, sample_rate_hz outside
// 80..2000, options out of range, or beat samples that are not ascending;
// kOutOfRange when fewer than options.min_beats usable beats of
// any class remain (or none at all).
Result<MedianBeatSet> BuildMedianBeats(std::span<const float> interleaved_mv,
                                       int num_leads, double sample_rate_hz,
                                       std::span<const ClassifiedBeat> beats,
                                       const MedianBeatOptions& options = {});

}  // namespace pulse::dsp

#endif  // PULSE_DSP_MEDIAN_BEAT_H_
