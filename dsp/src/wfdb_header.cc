// WFDB header (.hea) parsing: the record line and one line per signal.
//
// Follows WFDB's readheader() (lib/signal.c) for field order and defaults,
// but is stricter where WFDB silently reads garbage as 0 (strtol/strtod):
// every numeric field must be a whole, in-range number, and a bad one is an
// error naming its line and field. A header is small and trusted by nothing
// downstream, so strictness here is what keeps bad values out of the DSP.
#include <charconv>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "pulse/dsp/wfdb.h"

namespace pulse::dsp::wfdb {
namespace {

// Limits past which a header is taken to be corrupt rather than ambitious:
// they keep later size arithmetic (frames x signals x bytes) far from int64
// overflow. 1e12 frames is 31 years at 1 kHz.
constexpr int kMaxSignals = 4096;
constexpr std::int64_t kMaxFrames = 1'000'000'000'000;
constexpr double kMaxSamplingFrequencyHz = 1e6;
constexpr double kDefaultGainAduPerUnit = 200.0;       // WFDB_DEFGAIN
constexpr double kDefaultSamplingFrequencyHz = 250.0;  // WFDB_DEFFREQ

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\r'; }

std::string_view Trim(std::string_view s) {
  while (!s.empty() && IsSpace(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsSpace(s.back())) s.remove_suffix(1);
  return s;
}

// Splits off the next whitespace-separated token of `*rest`; empty when the
// line is exhausted.
std::string_view NextToken(std::string_view* rest) {
  std::string_view s = *rest;
  while (!s.empty() && IsSpace(s.front())) s.remove_prefix(1);
  std::size_t end = 0;
  while (end < s.size() && !IsSpace(s[end])) ++end;
  *rest = s.substr(end);
  return s.substr(0, end);
}

// Shown in messages; long or binary tokens are cut so that an error message
// stays one readable line.
std::string Quote(std::string_view token) {
  std::string out = "'";
  for (char c : token.substr(0, 40)) {
    out += (c >= 0x20 && c < 0x7F) ? c : '?';
  }
  if (token.size() > 40) out += "...";
  out += "'";
  return out;
}

// Where a field sits, for error messages: "line 2 (signal 0), format".
struct FieldRef {
  std::string where;
  const char* field;
  std::string Describe() const { return where + ", " + field; }
};

Error Corrupt(const FieldRef& ref, const std::string& what) {
  return Error(ErrorCode::kCorruption, ref.Describe() + ": " + what);
}

// Whole-token integer; WFDB (strtol) accepts a leading '+', so do we.
Result<std::int64_t> ParseInt(std::string_view token, const FieldRef& ref) {
  std::string_view digits = token;
  if (!digits.empty() && digits.front() == '+') digits.remove_prefix(1);
  std::int64_t value = 0;
  const char* end = digits.data() + digits.size();
  auto [ptr, ec] = std::from_chars(digits.data(), end, value);
  if (digits.empty() || ec == std::errc::invalid_argument || ptr != end) {
    return Fail(Corrupt(ref, Quote(token) + " is not an integer"));
  }
  if (ec == std::errc::result_out_of_range) {
    return Fail(Corrupt(ref, Quote(token) + " is out of range"));
  }
  return value;
}

Result<int> ParseIntIn(std::string_view token, const FieldRef& ref,
                       std::int64_t min, std::int64_t max) {
  auto value = ParseInt(token, ref);
  if (!value) return Fail(value.error());
  if (*value < min || *value > max) {
    return Fail(Corrupt(ref, Quote(token) + " is outside " +
                                 std::to_string(min) + ".." +
                                 std::to_string(max)));
  }
  return static_cast<int>(*value);
}

Result<double> ParseFiniteDouble(std::string_view token, const FieldRef& ref) {
  std::string_view digits = token;
  if (!digits.empty() && digits.front() == '+') digits.remove_prefix(1);
  double value = 0;
  const char* end = digits.data() + digits.size();
  auto [ptr, ec] = std::from_chars(digits.data(), end, value);
  if (digits.empty() || ec != std::errc() || ptr != end ||
      !std::isfinite(value)) {
    return Fail(Corrupt(ref, Quote(token) + " is not a finite number"));
  }
  return value;
}

// "360", "360/360", "250/1(0)": frame frequency, optional counter frequency
// and base counter value. Only the frame frequency is kept.
Status ParseFrequencyField(std::string_view token, const FieldRef& ref,
                           RecordHeader* header) {
  std::string_view freq = token.substr(0, token.find('/'));
  auto hz = ParseFiniteDouble(freq, ref);
  if (!hz) return Fail(hz.error());
  if (*hz <= 0 || *hz > kMaxSamplingFrequencyHz) {
    return Fail(Corrupt(ref, Quote(token) + " Hz is outside (0, 1e6]"));
  }
  header->sampling_frequency_hz = *hz;
  if (freq.size() == token.size()) return OkStatus();
  std::string_view counter = token.substr(freq.size() + 1);
  const std::size_t paren = counter.find('(');
  auto counter_hz = ParseFiniteDouble(counter.substr(0, paren), ref);
  if (!counter_hz) return Fail(counter_hz.error());
  if (paren != std::string_view::npos) {
    std::string_view base = counter.substr(paren + 1);
    if (base.empty() || base.back() != ')') {
      return Fail(Corrupt(ref, Quote(token) + " lacks ')'"));
    }
    auto base_value = ParseFiniteDouble(base.substr(0, base.size() - 1), ref);
    if (!base_value) return Fail(base_value.error());
  }
  return OkStatus();
}

Status ParseRecordLine(std::string_view line, const std::string& where,
                       RecordHeader* header, int* num_signals) {
  std::string_view rest = line;
  const std::string_view name = NextToken(&rest);
  if (name.find('/') != std::string_view::npos) {
    return Fail(ErrorCode::kUnsupported, where + ": multi-segment record " +
                                             Quote(name) + " is not supported");
  }
  header->record_name = std::string(name);

  const std::string_view nsig = NextToken(&rest);
  if (nsig.empty()) {
    return Fail(ErrorCode::kCorruption,
                where +
                    ": record line lacks the number of signals "
                    "(old-style headers are not supported)");
  }
  auto signals = ParseIntIn(nsig, {where, "number of signals"}, 0, kMaxSignals);
  if (!signals) return Fail(signals.error());
  *num_signals = *signals;

  if (std::string_view freq = NextToken(&rest); !freq.empty()) {
    if (auto s =
            ParseFrequencyField(freq, {where, "sampling frequency"}, header);
        !s) {
      return s;
    }
  } else {
    header->sampling_frequency_hz = kDefaultSamplingFrequencyHz;
  }

  if (std::string_view frames = NextToken(&rest); !frames.empty()) {
    const FieldRef ref{where, "number of samples per signal"};
    auto value = ParseInt(frames, ref);
    if (!value) return Fail(value.error());
    if (*value < 0 || *value > kMaxFrames) {
      return Fail(Corrupt(ref, Quote(frames) + " is outside 0..1e12"));
    }
    header->num_frames = *value;
  }
  // Base time and date (rest of the line) are not used by this reader.
  return OkStatus();
}

// "212", "212x2", "16+512", "212:1": format with optional samples per frame
// ('x'), skew (':') and byte offset ('+') suffixes, in any order.
Status ParseFormatField(std::string_view token, const FieldRef& ref,
                        SignalSpec* spec) {
  std::size_t end = token.find_first_of("x:+");
  auto format = ParseIntIn(token.substr(0, end), ref, 0, 100000);
  if (!format) return Fail(format.error());
  spec->format = *format;
  while (end != std::string_view::npos) {
    const char tag = token[end];
    const std::size_t next = token.find_first_of("x:+", end + 1);
    const std::string_view value = token.substr(
        end + 1, next == std::string_view::npos ? next : next - end - 1);
    if (tag == 'x') {
      auto spf = ParseIntIn(value, ref, 1, 1'000'000);
      if (!spf) return Fail(spf.error());
      spec->samples_per_frame = *spf;
    } else if (tag == ':') {
      auto skew = ParseIntIn(value, ref, 0, std::numeric_limits<int>::max());
      if (!skew) return Fail(skew.error());
      spec->skew = *skew;
    } else {
      auto offset = ParseInt(value, ref);
      if (!offset) return Fail(offset.error());
      if (*offset < 0) {
        return Fail(Corrupt(ref, "negative byte offset " + Quote(value)));
      }
      spec->byte_offset = *offset;
    }
    end = next;
  }
  return OkStatus();
}

// "200", "1716(6)/mV", "200/uV", "0": gain, optional baseline, optional
// units. Returns whether a baseline was given.
Result<bool> ParseGainField(std::string_view token, const FieldRef& ref,
                            SignalSpec* spec) {
  const std::size_t gain_end = token.find_first_of("(/");
  auto gain = ParseFiniteDouble(token.substr(0, gain_end), ref);
  if (!gain) return Fail(gain.error());
  // WFDB treats 0 as "uncalibrated" and applications then assume the
  // default gain; doing it here keeps MillivoltsPerAdu total.
  spec->gain_adu_per_unit = *gain == 0 ? kDefaultGainAduPerUnit : *gain;
  bool has_baseline = false;
  std::string_view rest = gain_end == std::string_view::npos
                              ? std::string_view()
                              : token.substr(gain_end);
  if (!rest.empty() && rest.front() == '(') {
    const std::size_t close = rest.find(')');
    if (close == std::string_view::npos) {
      return Fail(Corrupt(ref, Quote(token) + " lacks ')' after the baseline"));
    }
    auto baseline = ParseIntIn(rest.substr(1, close - 1), ref,
                               std::numeric_limits<int>::min(),
                               std::numeric_limits<int>::max());
    if (!baseline) return Fail(baseline.error());
    spec->baseline_adu = *baseline;
    has_baseline = true;
    rest.remove_prefix(close + 1);
  }
  if (!rest.empty()) {
    if (rest.front() != '/') {
      return Fail(
          Corrupt(ref, "unexpected " + Quote(rest) + " in " + Quote(token)));
    }
    rest.remove_prefix(1);
    if (!rest.empty()) spec->units = std::string(rest);
  }
  return has_baseline;
}

// Default ADC resolution by format, as in WFDB's readheader().
int DefaultAdcResolutionBits(int format) {
  switch (format) {
    case 80:
      return 8;
    case 160:
      return 16;
    case 310:
    case 311:
      return 10;
    default:
      return 12;
  }
}

Status ParseSignalLine(std::string_view line, const std::string& where,
                       SignalSpec* spec) {
  std::string_view rest = line;
  spec->file_name = std::string(NextToken(&rest));

  const std::string_view format = NextToken(&rest);
  if (format.empty()) {
    return Fail(ErrorCode::kCorruption, where + ": missing format field");
  }
  if (auto s = ParseFormatField(format, {where, "format"}, spec); !s) return s;

  bool has_baseline = false;
  if (std::string_view gain = NextToken(&rest); !gain.empty()) {
    auto parsed = ParseGainField(gain, {where, "gain"}, spec);
    if (!parsed) return Fail(parsed.error());
    has_baseline = *parsed;
  }

  spec->adc_resolution_bits = DefaultAdcResolutionBits(spec->format);
  if (std::string_view res = NextToken(&rest); !res.empty()) {
    auto bits = ParseIntIn(res, {where, "ADC resolution"}, 0, 32);
    if (!bits) return Fail(bits.error());
    spec->adc_resolution_bits = *bits;
  }

  constexpr std::int64_t kIntMin = std::numeric_limits<int>::min();
  constexpr std::int64_t kIntMax = std::numeric_limits<int>::max();
  spec->adc_zero = 0;
  if (std::string_view zero = NextToken(&rest); !zero.empty()) {
    auto value = ParseIntIn(zero, {where, "ADC zero"}, kIntMin, kIntMax);
    if (!value) return Fail(value.error());
    spec->adc_zero = *value;
  }
  if (!has_baseline) spec->baseline_adu = spec->adc_zero;

  spec->initial_value = spec->adc_zero;
  if (std::string_view init = NextToken(&rest); !init.empty()) {
    auto value = ParseIntIn(init, {where, "initial value"}, kIntMin, kIntMax);
    if (!value) return Fail(value.error());
    spec->initial_value = *value;
  }

  if (std::string_view sum = NextToken(&rest); !sum.empty()) {
    auto value = ParseIntIn(sum, {where, "checksum"}, kIntMin, kIntMax);
    if (!value) return Fail(value.error());
    spec->checksum = *value;
    spec->has_checksum = true;
  }

  if (std::string_view block = NextToken(&rest); !block.empty()) {
    auto value = ParseIntIn(block, {where, "block size"}, 0, kIntMax);
    if (!value) return Fail(value.error());
    spec->block_size = *value;
  }

  spec->description = std::string(Trim(rest));
  return OkStatus();
}

}  // namespace

Result<double> MillivoltsPerAdu(const SignalSpec& spec) {
  double mv_per_unit = 0;
  if (spec.units == "mV") {
    mv_per_unit = 1.0;
  } else if (spec.units == "uV") {
    mv_per_unit = 1e-3;
  } else if (spec.units == "V") {
    mv_per_unit = 1e3;
  } else {
    return Fail(ErrorCode::kUnsupported, "signal " + Quote(spec.description) +
                                             ": units " + Quote(spec.units) +
                                             " are not a voltage (mV, uV, V)");
  }
  if (spec.gain_adu_per_unit == 0 || !std::isfinite(spec.gain_adu_per_unit)) {
    return Fail(ErrorCode::kInvalidArgument,
                "signal " + Quote(spec.description) + ": gain is zero");
  }
  return mv_per_unit / spec.gain_adu_per_unit;
}

Result<RecordHeader> ParseHeader(std::string_view text) {
  RecordHeader header;
  int num_signals = -1;  // -1 until the record line is seen
  int line_number = 0;
  while (!text.empty()) {
    const std::size_t eol = text.find('\n');
    std::string_view line = text.substr(0, eol);
    text = eol == std::string_view::npos ? std::string_view()
                                         : text.substr(eol + 1);
    ++line_number;
    const std::string where = "line " + std::to_string(line_number);
    std::string_view content = Trim(line);
    if (content.empty()) continue;
    if (content.front() == '#') {
      // Keep the comment verbatim (minus '#' and the CR of CR LF headers):
      // LUDB stores "<age>: 51" style fields there.
      std::string_view comment = line.substr(line.find('#') + 1);
      while (!comment.empty() && (comment.back() == '\r')) {
        comment.remove_suffix(1);
      }
      header.comments.emplace_back(comment);
      continue;
    }
    if (content.find('\0') != std::string_view::npos) {
      return Fail(ErrorCode::kCorruption, where + ": contains a NUL byte");
    }
    if (num_signals < 0) {
      if (auto s = ParseRecordLine(content, where, &header, &num_signals); !s) {
        return Fail(s.error());
      }
      continue;
    }
    if (static_cast<int>(header.signals.size()) >= num_signals) {
      return Fail(ErrorCode::kCorruption, where + ": unexpected text " +
                                              Quote(content) + " after the " +
                                              std::to_string(num_signals) +
                                              " signal line(s)");
    }
    const int index = static_cast<int>(header.signals.size());
    SignalSpec spec;
    if (auto s = ParseSignalLine(
            content, where + " (signal " + std::to_string(index) + ")", &spec);
        !s) {
      return Fail(s.error());
    }
    if (index > 0) {
      // WFDB groups consecutive signals of one file; one file has one format.
      const SignalSpec& previous = header.signals.back();
      if (previous.file_name == spec.file_name &&
          previous.format != spec.format) {
        return Fail(ErrorCode::kCorruption,
                    where + ": signals " + std::to_string(index - 1) + " and " +
                        std::to_string(index) + " share " +
                        Quote(spec.file_name) + " but have formats " +
                        std::to_string(previous.format) + " and " +
                        std::to_string(spec.format));
      }
    }
    header.signals.push_back(std::move(spec));
  }
  if (num_signals < 0) {
    return Fail(ErrorCode::kCorruption,
                "empty header: no record line (expected \"<name> <signals> "
                "[<Hz> [<samples>]]\")");
  }
  if (static_cast<int>(header.signals.size()) != num_signals) {
    return Fail(ErrorCode::kCorruption,
                "record line declares " + std::to_string(num_signals) +
                    " signal(s) but the header has " +
                    std::to_string(header.signals.size()) + " signal line(s)");
  }
  return header;
}

}  // namespace pulse::dsp::wfdb
