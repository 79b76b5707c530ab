// The vocabulary that the analysis stages after QRS detection share: a
// detected beat with its class, and the fiducial points of one beat or of a
// median beat.
//
// Stages and who produces what (see dsp/README.md):
//   QrsDetector      -> beat positions
//   ClassifyBeats    -> ClassifiedBeat (beat_classifier.h)
//   BuildMedianBeats -> MedianBeatSet (median_beat.h), delineated into
//                       WaveFiducials per lead and globally (delineation.h)
//   DetectAtrialFibrillation -> RhythmEpisode (af_detector.h)
//   measurements.h / rhythm_findings.h consume all of these.
//
// Plain values; thread-safe to share read-only.
#ifndef PULSE_DSP_BEAT_H_
#define PULSE_DSP_BEAT_H_

#include <cstdint>
#include <string_view>

namespace pulse::dsp {

// Numeric values are stable (they may be stored with an analysis); never
// renumbered.
enum class BeatClass : std::uint8_t {
  kNormal = 0,       // supraventricular: sinus, atrial, nodal, conducted AF
                     // (also bundle-branch-block beats: AAMI class N)
  kVentricular = 1,  // ventricular ectopic (AAMI class V)
  kUnknown = 2,      // the classifier is not sure (noise, too few beats
                     // to learn from, fusion-like); never counted as N or V
};

// "normal", "ventricular", "unknown".
std::string_view BeatClassName(BeatClass beat_class);

struct ClassifiedBeat {
  std::int64_t sample = 0;  // frame index of the QRS fiducial (as detected)
  BeatClass beat_class = BeatClass::kUnknown;
  float confidence = 0.0f;  // 0 .. 1: how sure the classifier is
};

// Fiducial points as frame indices in whatever time base the producer
// states (the record, or a median-beat window). -1 means "not found / not
// present" (e.g. no P wave before a ventricular beat or during AF).
// When present: p_onset < p_offset <= qrs_onset < qrs_offset < t_offset.
struct WaveFiducials {
  std::int64_t p_onset = -1;
  std::int64_t p_offset = -1;
  std::int64_t qrs_onset = -1;
  std::int64_t qrs_offset = -1;
  std::int64_t t_offset = -1;

  bool has_p() const { return p_onset >= 0 && p_offset > p_onset; }
  bool has_qrs() const { return qrs_onset >= 0 && qrs_offset > qrs_onset; }
  bool has_t() const { return t_offset >= 0; }

  friend bool operator==(const WaveFiducials&, const WaveFiducials&) = default;
};

// A stretch of one rhythm (e.g. an atrial fibrillation episode) as frame
// indices [onset_sample, offset_sample) of the analysed record.
struct RhythmEpisode {
  std::int64_t onset_sample = 0;
  std::int64_t offset_sample = 0;
  float confidence = 0.0f;  // 0 .. 1
};

}  // namespace pulse::dsp

#endif  // PULSE_DSP_BEAT_H_
