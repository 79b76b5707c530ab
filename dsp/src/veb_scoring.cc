#include "pulse/dsp/veb_scoring.h"

#include <vector>

namespace pulse::dsp {

double VebCounts::SensitivityPercent() const {
  const std::int64_t d = reference_vebs();
  return d > 0 ? 100.0 * static_cast<double>(true_positives()) /
                     static_cast<double>(d)
               : 100.0;
}

double VebCounts::PositivePredictivityPercent() const {
  const std::int64_t d = true_positives() + false_positives();
  return d > 0 ? 100.0 * static_cast<double>(true_positives()) /
                     static_cast<double>(d)
               : 100.0;
}

VebCounts& VebCounts::operator+=(const VebCounts& other) {
  for (int r = 0; r < 5; ++r) {
    for (int c = 0; c < 4; ++c) matrix[r][c] += other.matrix[r][c];
  }
  return *this;
}

namespace {

// bxb's amap() without its SVEB split (fflag <= 3).
VebCounts::Ref ReferenceClass(wfdb::AnnotationCode code) {
  using wfdb::AnnotationCode;
  switch (code) {
    case AnnotationCode::kPvc:
    case AnnotationCode::kROnT:
    case AnnotationCode::kVentricularEscape:
      return VebCounts::kRefV;
    case AnnotationCode::kFusion:
      return VebCounts::kRefF;
    case AnnotationCode::kUnknownBeat:
    case AnnotationCode::kPaced:
    case AnnotationCode::kPacedFusion:
    case AnnotationCode::kLearning:
      return VebCounts::kRefQ;
    case AnnotationCode::kFlutterWave:
      return VebCounts::kRefO;
    default:
      return VebCounts::kRefN;
  }
}

VebCounts::Test TestLabel(BeatClass beat_class) {
  switch (beat_class) {
    case BeatClass::kNormal:
      return VebCounts::kTestN;
    case BeatClass::kVentricular:
      return VebCounts::kTestV;
    case BeatClass::kUnknown:
      return VebCounts::kTestQ;
  }
  return VebCounts::kTestQ;
}

}  // namespace

VebCounts ScoreVentricularBeats(std::span<const wfdb::Annotation> reference,
                                std::span<const ClassifiedBeat> beats,
                                const BeatMatchOptions& options) {
  std::vector<std::int64_t> samples;
  samples.reserve(beats.size());
  for (const ClassifiedBeat& b : beats) samples.push_back(b.sample);
  std::vector<BeatPair> pairs;
  MatchBeats(reference, samples, options, nullptr, &pairs);
  VebCounts counts;
  for (const BeatPair& p : pairs) {
    const VebCounts::Ref ref =
        p.reference_index >= 0
            ? ReferenceClass(
                  reference[static_cast<std::size_t>(p.reference_index)].code)
            : VebCounts::kRefO;
    const VebCounts::Test test =
        p.detection_index >= 0
            ? TestLabel(beats[static_cast<std::size_t>(p.detection_index)]
                            .beat_class)
            : VebCounts::kTestO;
    ++counts.matrix[ref][test];
  }
  return counts;
}

}  // namespace pulse::dsp
