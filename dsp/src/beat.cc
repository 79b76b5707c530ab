#include "pulse/dsp/beat.h"

namespace pulse::dsp {

std::string_view BeatClassName(BeatClass beat_class) {
  switch (beat_class) {
    case BeatClass::kNormal:
      return "normal";
    case BeatClass::kVentricular:
      return "ventricular";
    case BeatClass::kUnknown:
      return "unknown";
  }
  return "unknown";
}

}  // namespace pulse::dsp
