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

}  // namespace pulse::dsp

#endif  // PULSE_DSP_MEDIAN_BEAT_H_
