// Text helpers for ecg-eval's human-readable output. Not used in hot paths.
#ifndef PULSE_TOOLS_ECG_EVAL_FORMAT_H_
#define PULSE_TOOLS_ECG_EVAL_FORMAT_H_

#include <cstdint>
#include <string>

namespace pulse::ecg_eval {

// printf into a std::string.
std::string Format(const char* format, ...)
    __attribute__((format(printf, 1, 2)));

// "m:ss.mmm", or "h:mm:ss.mmm" from one hour, for a time in seconds >= 0.
std::string FormatClock(double seconds);

// A rate rounded to a whole number with thin groups: 146 000. "-" when the
// value is not finite (e.g. a rate over zero measured time).
std::string FormatGrouped(double value);

}  // namespace pulse::ecg_eval

#endif  // PULSE_TOOLS_ECG_EVAL_FORMAT_H_
