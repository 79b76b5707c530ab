#include "range_check.h"

#include <cstdio>

namespace pulse::dsp::internal {

std::string FormatNumber(double value) {
  char buffer[32];
  std::snprintf(buffer, sizeof(buffer), "%.6g", value);
  return buffer;
}

Status CheckRange(std::string_view field, double value, double lo, double hi,
                  std::string_view unit, std::string_view extra) {
  // Written as !(a && b) so that NaN is always outside.
  if (value >= lo && value <= hi) return OkStatus();
  const std::string spaced_unit = unit.empty() ? "" : " " + std::string(unit);
  return Fail(ErrorCode::kInvalidArgument,
              std::string(field) + " = " + FormatNumber(value) + spaced_unit +
                  " is outside [" + FormatNumber(lo) + ", " +
                  FormatNumber(hi) + "]" + spaced_unit + std::string(extra));
}

}  // namespace pulse::dsp::internal
