// Validation of configuration fields, shared by the dsp units so that every
// bad field reads the same way: "<field> = <value> [unit] is outside
// [lo, hi] [unit]". Internal to pulse_dsp (not a public header).
#ifndef PULSE_DSP_SRC_RANGE_CHECK_H_
#define PULSE_DSP_SRC_RANGE_CHECK_H_

#include <string>
#include <string_view>

#include "pulse/base/result.h"

namespace pulse::dsp::internal {

// "%.6g" of `value`, for error messages.
std::string FormatNumber(double value);

// kInvalidArgument naming `field`, its value and the range unless
// lo <= value <= hi. NaN is always outside. `unit`, when not empty, follows
// the value and the range; `extra` is appended as is (e.g. a reason).
Status CheckRange(std::string_view field, double value, double lo, double hi,
                  std::string_view unit = "", std::string_view extra = "");

}  // namespace pulse::dsp::internal

#endif  // PULSE_DSP_SRC_RANGE_CHECK_H_
