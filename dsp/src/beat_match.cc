// EC57 beat-by-beat scoring, after WFDB's bxb (app/bxb.c, G. Moody; the
// 27 April 2020 revision shipped with WFDB 10.7). See beat_match.h for the
// rules; this file keeps bxb's structure so the two can be compared line by
// line in a review:
//
//   bxb            here
//   getref()       ReferenceCursor::Advance()
//   gettest()      DetectionCursor::Advance()
//   amap()/isqrs() ClassifyReference()
//   rpann()        ReferenceCursor::UnmatchedDetectionLabel()
//   tpann()        always O: detections carry no shutdown marks
//   pair()         Scorer::Pair()
//   main() loop    MatchBeats()
//
// bxb keeps only the labels of its confusion matrix; for Se and +P all that
// matters is whether each side of a pair is a scored beat (N S V F Q), a
// pseudo-beat (O or X, i.e. "nothing here"), or nothing to count at all
// (bxb's 0 before the first annotation and `*` at the end or inside VF).
#include "pulse/dsp/beat_match.h"

#include <algorithm>
#include <cmath>

namespace pulse::dsp {
namespace {

using wfdb::Annotation;
using wfdb::AnnotationCode;

// What one side of a bxb pair counts as.
enum class Label {
  kNone,    // bxb's 0 (before the first annotation) or `*`: never counted
  kBeat,    // an AAMI beat class: N, S, V, F or Q
  kNoBeat,  // bxb's O or X pseudo-beat: the other side was unmatched
};

// Stands for bxb's huge_time (end of a list). Inputs are clamped to
// [-kTimeLimit, kTimeLimit] so that every difference below fits in int64.
constexpr std::int64_t kTimeLimit = std::int64_t{1} << 60;
constexpr std::int64_t kEndOfList = std::int64_t{1} << 61;

std::int64_t ClampTime(std::int64_t sample) {
  return std::clamp(sample, -kTimeLimit, kTimeLimit);
}

// bxb's getref() reads past everything for which isqrs() (wfdb::IsBeat(),
// WFDB ecgmap.h) is false, then labels the beat with amap(). amap() gives an
// AAMI class to every isqrs() code except the ventricular flutter wave `!`,
// which falls to its default O. (amap's N/S split only matters with bxb's
// SVEB reports; both count alike here.)
struct ReferenceClass {
  bool is_qrs = false;
  Label label = Label::kNone;
};

ReferenceClass ClassifyReference(AnnotationCode code) {
  if (!wfdb::IsBeat(code)) return {false, Label::kNone};
  return {true,
          code == AnnotationCode::kFlutterWave ? Label::kNoBeat : Label::kBeat};
}

// A VF episode as bxb remembers it: onset and offset sample, -1 = unset.
struct Episode {
  std::int64_t onset = -1;
  std::int64_t offset = -1;
};

// The reference list seen through bxb's getref(): a current beat (T, A) and
// the next one (T', A'), skipping non-beats and whole VF episodes.
class ReferenceCursor {
 public:
  explicit ReferenceCursor(std::span<const Annotation> annotations)
      : annotations_(annotations) {}

  std::int64_t time() const { return time_; }
  Label label() const { return label_; }
  std::int64_t next_time() const { return next_time_; }
  // Index of the current beat in the annotation list; -1 when none.
  std::int64_t index() const { return current_index_; }

  // bxb getref(): the next beat becomes current; reads the one after.
  void Advance() {
    time_ = next_time_;
    label_ = next_label_;
    current_index_ = next_index_;
    next_index_ = -1;
    while (index_ < annotations_.size()) {
      const Annotation& annotation = annotations_[index_++];
      const ReferenceClass cls = ClassifyReference(annotation.code);
      if (cls.is_qrs) {
        next_time_ = ClampTime(annotation.sample);
        next_label_ = cls.label;
        next_index_ = static_cast<std::int64_t>(index_) - 1;
        return;
      }
      if (annotation.code == AnnotationCode::kVfOnset) {
        // bxb remembers the current and the previous episode only; an
        // episode that never ends keeps the previous offset (so, as in bxb,
        // it excludes detections only when it is the first episode).
        previous_episode_ = episode_;
        episode_.onset = ClampTime(annotation.sample);
        bool ended = false;
        while (index_ < annotations_.size()) {
          const Annotation& inside = annotations_[index_++];
          if (inside.code == AnnotationCode::kVfOffset) {
            episode_.offset = ClampTime(inside.sample);
            ended = true;
            break;
          }
        }
        if (!ended) break;  // end of list inside VF
      }
      // Everything else, shutdown marks included, is skipped: shutdown only
      // turns bxb's O labels into X, which count the same (see header).
    }
    next_time_ = kEndOfList;
    next_label_ = Label::kNone;
  }

  // bxb rpann(t): how an unmatched detection at `sample` counts. Inside one
  // of the two remembered VF episodes it is not counted at all.
  Label UnmatchedDetectionLabel(std::int64_t sample) const {
    const bool in_episode =
        episode_.onset != -1 && episode_.onset <= sample &&
        (sample <= episode_.offset || episode_.offset == -1);
    const bool in_previous = previous_episode_.onset != -1 &&
                             previous_episode_.onset <= sample &&
                             sample <= previous_episode_.offset;
    return in_episode || in_previous ? Label::kNone : Label::kNoBeat;
  }

 private:
  std::span<const Annotation> annotations_;
  std::size_t index_ = 0;
  // bxb starts every time at 0 with type 0 (a "beat" that is never counted).
  std::int64_t time_ = 0;
  Label label_ = Label::kNone;
  std::int64_t next_time_ = 0;
  Label next_label_ = Label::kNone;
  std::int64_t current_index_ = -1;
  std::int64_t next_index_ = -1;
  Episode episode_;
  Episode previous_episode_;
};

// The detections seen through bxb's gettest(): (t, a) and (t', a').
class DetectionCursor {
 public:
  explicit DetectionCursor(std::span<const std::int64_t> detections)
      : detections_(detections) {}

  std::int64_t time() const { return time_; }
  Label label() const { return label_; }
  std::int64_t next_time() const { return next_time_; }
  std::int64_t index() const { return current_index_; }

  void Advance() {
    time_ = next_time_;
    label_ = next_label_;
    current_index_ = next_index_;
    next_index_ = -1;
    if (index_ < detections_.size()) {
      next_index_ = static_cast<std::int64_t>(index_);
      next_time_ = ClampTime(detections_[index_++]);
      next_label_ = Label::kBeat;
    } else {
      next_time_ = kEndOfList;
      next_label_ = Label::kNone;
    }
  }

 private:
  std::span<const std::int64_t> detections_;
  std::size_t index_ = 0;
  std::int64_t time_ = 0;
  Label label_ = Label::kNone;
  std::int64_t next_time_ = 0;
  Label next_label_ = Label::kNone;
  std::int64_t current_index_ = -1;
  std::int64_t next_index_ = -1;
};

// bxb pair(): tallies one (reference, detection) pair.
class Scorer {
 public:
  Scorer(std::vector<BeatMismatch>* mismatches, std::vector<BeatPair>* pairs)
      : mismatches_(mismatches), pairs_(pairs) {}

  // `reference_index` / `detection_index`: positions in the input lists of
  // the two sides, -1 for a pseudo-beat (reported only through `pairs`).
  void Pair(Label reference, std::int64_t reference_sample,
            std::int64_t reference_index, Label detection,
            std::int64_t detection_sample, std::int64_t detection_index) {
    if (reference == Label::kBeat && detection == Label::kBeat) {
      ++counts_.true_positives;
      AddPair(reference_index, detection_index);
    } else if (reference == Label::kBeat && detection == Label::kNoBeat) {
      ++counts_.false_negatives;
      if (mismatches_ != nullptr) {
        mismatches_->push_back({reference_sample, false});
      }
      AddPair(reference_index, -1);
    } else if (reference == Label::kNoBeat && detection == Label::kBeat) {
      ++counts_.false_positives;
      if (mismatches_ != nullptr) {
        mismatches_->push_back({detection_sample, true});
      }
      AddPair(reference_index, detection_index);
    }
  }

  const BeatMatchCounts& counts() const { return counts_; }

 private:
  void AddPair(std::int64_t reference_index, std::int64_t detection_index) {
    if (pairs_ != nullptr) pairs_->push_back({reference_index, detection_index});
  }

  BeatMatchCounts counts_;
  std::vector<BeatMismatch>* mismatches_;
  std::vector<BeatPair>* pairs_;
};

// WFDB strtim() turns seconds into samples by rounding half up.
std::int64_t SecondsToSamples(double seconds, double rate_hz) {
  const double samples = std::floor(seconds * rate_hz + 0.5);
  if (!(samples >= 0.0)) return 0;  // also catches NaN
  return samples >= static_cast<double>(kTimeLimit)
             ? kTimeLimit
             : static_cast<std::int64_t>(samples);
}

std::int64_t Distance(std::int64_t a, std::int64_t b) {
  return a >= b ? a - b : b - a;
}

}  // namespace

double BeatMatchCounts::SensitivityPercent() const {
  const std::int64_t beats = true_positives + false_negatives;
  if (beats <= 0) return 100.0;
  return 100.0 * static_cast<double>(true_positives) /
         static_cast<double>(beats);
}

double BeatMatchCounts::PositivePredictivityPercent() const {
  const std::int64_t detected = true_positives + false_positives;
  if (detected <= 0) return 100.0;
  return 100.0 * static_cast<double>(true_positives) /
         static_cast<double>(detected);
}

BeatMatchCounts& BeatMatchCounts::operator+=(const BeatMatchCounts& other) {
  true_positives += other.true_positives;
  false_negatives += other.false_negatives;
  false_positives += other.false_positives;
  return *this;
}

BeatMatchCounts MatchBeats(std::span<const wfdb::Annotation> reference,
                           std::span<const std::int64_t> detections,
                           const BeatMatchOptions& options,
                           std::vector<BeatMismatch>* mismatches,
                           std::vector<BeatPair>* pairs) {
  const std::int64_t window =
      SecondsToSamples(options.match_window_seconds, options.sample_rate_hz);
  const std::int64_t start =
      std::clamp<std::int64_t>(options.score_from_sample, 0, kTimeLimit);
  // Last scored sample, inclusive as bxb's end_time is.
  const bool has_end = options.score_to_sample >= 0;
  const std::int64_t end =
      has_end ? ClampTime(options.score_to_sample) - 1 : kEndOfList;

  ReferenceCursor ref(reference);
  DetectionCursor det(detections);
  Scorer scorer(mismatches, pairs);

  // The current reference beat becomes the first at or after the start.
  do {
    ref.Advance();
  } while (ref.time() < start);
  // The current detection becomes the last one before the start (or bxb's
  // never-counted 0 when there is none); the next one is the first after.
  do {
    det.Advance();
  } while (det.next_time() < start);

  // A detection just before the start may match the first scored beat.
  {
    const std::int64_t lead = ref.time() - det.time();  // >= 0 here
    if (lead < Distance(ref.time(), det.next_time()) && lead <= window) {
      scorer.Pair(ref.label(), ref.time(), ref.index(), det.label(),
                  det.time(), det.index());
      ref.Advance();
      det.Advance();
    } else {
      det.Advance();
      // A first detection within one window of the start that the next
      // detection beats for the first reference beat is dropped unscored.
      if (det.time() - start <= window &&
          Distance(ref.time(), det.next_time()) <
              Distance(ref.time(), det.time())) {
        det.Advance();
      }
    }
  }

  // Each turn pairs or discards exactly one annotation (or one of each).
  while ((has_end && (ref.time() <= end || det.time() <= end)) ||
         (!has_end && (ref.time() != kEndOfList || det.time() != kEndOfList))) {
    const std::int64_t ref_time = ref.time();
    const std::int64_t det_time = det.time();
    const std::int64_t ref_next = ref.next_time();
    const std::int64_t det_next = det.next_time();
    if (det_time < ref_time) {
      // bxb case 1: the detection comes first. It takes the beat when within
      // the window, unless the next detection is closer to the beat and the
      // next beat has no better partner in that next detection.
      if (ref_time - det_time <= window &&
          (ref_time - det_time < Distance(ref_time, det_next) ||
           Distance(ref_next, det_next) < Distance(ref_time, det_next))) {
        scorer.Pair(ref.label(), ref_time, ref.index(), det.label(),
                    det_time, det.index());
        ref.Advance();
        det.Advance();
      } else {
        // bxb case 2: a detection with no beat (FP, or nothing inside VF).
        scorer.Pair(ref.UnmatchedDetectionLabel(det_time), det_time, -1,
                    det.label(), det_time, det.index());
        det.Advance();
      }
    } else {
      // bxb case 3, the mirror image: the beat comes first (or both at once).
      if (det_time - ref_time <= window &&
          (det_time - ref_time < Distance(det_time, ref_next) ||
           Distance(det_next, ref_next) < Distance(det_time, ref_next))) {
        scorer.Pair(ref.label(), ref_time, ref.index(), det.label(),
                    det_time, det.index());
        det.Advance();
        ref.Advance();
      } else {
        // bxb case 4: a beat nobody detected (FN).
        scorer.Pair(ref.label(), ref_time, ref.index(), Label::kNoBeat,
                    ref_time, -1);
        ref.Advance();
      }
    }
  }
  return scorer.counts();
}

}  // namespace pulse::dsp
