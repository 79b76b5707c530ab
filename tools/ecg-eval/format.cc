#include "format.h"

#include <cmath>
#include <cstdarg>
#include <cstdio>

namespace pulse::ecg_eval {

std::string Format(const char* format, ...) {
  va_list args;
  va_start(args, format);
  va_list copy;
  va_copy(copy, args);
  const int size = std::vsnprintf(nullptr, 0, format, copy);
  va_end(copy);
  std::string text;
  if (size > 0) {
    text.resize(static_cast<std::size_t>(size) + 1);
    std::vsnprintf(text.data(), text.size(), format, args);
    text.resize(static_cast<std::size_t>(size));
  }
  va_end(args);
  return text;
}

std::string FormatClock(double seconds) {
  if (!(seconds >= 0.0)) seconds = 0.0;
  const long long total_ms = std::llround(seconds * 1000.0);
  const long long ms = total_ms % 1000;
  const long long total_s = total_ms / 1000;
  const long long total_min = total_s / 60;
  if (total_min >= 60) {
    return Format("%lld:%02lld:%02lld.%03lld", total_min / 60, total_min % 60,
                  total_s % 60, ms);
  }
  return Format("%lld:%02lld.%03lld", total_min, total_s % 60, ms);
}

std::string FormatGrouped(double value) {
  if (!std::isfinite(value) || std::fabs(value) >= 9.0e18) return "-";
  const long long whole = std::llround(value);
  std::string digits = std::to_string(whole < 0 ? -whole : whole);
  std::string out;
  const std::size_t n = digits.size();
  for (std::size_t i = 0; i < n; ++i) {
    if (i > 0 && (n - i) % 3 == 0) out += ' ';
    out += digits[i];
  }
  return whole < 0 ? "-" + out : out;
}

}  // namespace pulse::ecg_eval
