// Streaming multi-lead QRS detector.
//
// Feed interleaved frames (one sample per lead, millivolts) in chunks of any
// size; beats come out as sample indices counted from the first frame fed
// after Create() or Reset(). The output is identical for any chunking of the
// same input (a tested property). Detections are final when emitted, in
// ascending order, and are emitted at most `max_latency_frames()` frames
// after the frame they mark: about 3.1 s at every rate (a beat is usually
// out about 0.3 s after it; the bound is set by the searchback for missed beats
// and by the first 2 s, which are held back to learn signal levels).
//
// Accuracy on MIT-BIH (EC57): Se 99.79 %, +P 99.76 % — docs/accuracy.md.
//
// Design and references: see the comment at the top of qrs_detector.cc.
//
// After Create(), Process() and Finish() never throw or fail, and allocate
// only when the caller's output vector grows.
//
// Thread-safety: a detector is a plain value; one thread at a time.
#ifndef PULSE_DSP_QRS_DETECTOR_H_
#define PULSE_DSP_QRS_DETECTOR_H_

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "pulse/base/result.h"

namespace pulse::dsp {

struct QrsDetectorConfig {
  double sample_rate_hz = 500.0;  // 80 .. 1000
  int num_leads = 1;              // 1 .. 12, interleaved in Process() input
};

struct QrsDetection {
  std::int64_t sample = 0;  // frame index of the QRS fiducial (R peak area)
  // Integrated height over the detection threshold in force when the beat
  // was accepted: ≥ 1 for a direct detection, 0.5..1 for a beat recovered by
  // searchback. A rough confidence; larger is surer.
  float strength = 0.0f;
};

class QrsDetector {
 public:
  // Validates `config`; kInvalidArgument names the field out of range.
  static Result<QrsDetector> Create(const QrsDetectorConfig& config);

  QrsDetector(QrsDetector&&) noexcept;
  QrsDetector& operator=(QrsDetector&&) noexcept;
  ~QrsDetector();

  // Consumes frames of `num_leads` samples each, in millivolts, and appends
  // every beat that became final to `detections`.
  // REQUIRES: interleaved_mv.size() is a multiple of num_leads.
  void Process(std::span<const float> interleaved_mv,
               std::vector<QrsDetection>* detections);

  // Declares the end of the input: appends beats still pending.
  void Finish(std::vector<QrsDetection>* detections);

  // Upper bound on frames between a beat's fiducial and its emission.
  std::int64_t max_latency_frames() const;

  // Back to the state right after Create().
  void Reset();

  const QrsDetectorConfig& config() const;

 private:
  struct State;
  explicit QrsDetector(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace pulse::dsp

#endif  // PULSE_DSP_QRS_DETECTOR_H_
