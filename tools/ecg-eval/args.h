// Command-line parsing for ecg-eval: options after a subcommand, and the
// numbers they carry.
//
// Accepted forms: `--name value`, `--name=value`, `--flag`, `-h` for
// `--help`, positionals anywhere, and `--` to end the options. Every failure
// is ErrorCode::kInvalidArgument with a message naming the option and the
// problem ("--from: 'abc' is not a number"), which ecg-eval turns into exit
// status 2; other error codes are data errors (exit 1).
//
// Plain values; thread-compatible.
#ifndef PULSE_TOOLS_ECG_EVAL_ARGS_H_
#define PULSE_TOOLS_ECG_EVAL_ARGS_H_

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "pulse/base/result.h"

namespace pulse::ecg_eval {

struct OptionSpec {
  std::string_view name;  // with the dashes, e.g. "--from"
  bool takes_value = false;
};

class ParsedArgs {
 public:
  // True when `name` was given (a flag, or an option with its value).
  bool Has(std::string_view name) const;
  // The value of `name`, when given.
  std::optional<std::string> Value(std::string_view name) const;
  const std::vector<std::string>& positionals() const { return positionals_; }

 private:
  friend Result<ParsedArgs> ParseArgs(std::span<const std::string> args,
                                      std::span<const OptionSpec> specs);
  std::map<std::string, std::string, std::less<>> values_;
  std::vector<std::string> positionals_;
};

// Parses `args` (the words after the subcommand) against `specs`. `-h` is
// read as `--help` when "--help" is among the specs. An option given twice,
// an unknown option and a missing value are errors.
Result<ParsedArgs> ParseArgs(std::span<const std::string> args,
                             std::span<const OptionSpec> specs);

// Parses a decimal number (e.g. "300", "1.5", "2e3") for `option`.
// REQUIRES: min <= max. Fails unless the whole text is one finite number in
// [min, max].
Result<double> ParseNumber(std::string_view option, std::string_view text,
                           double min, double max);

// Parses a whole non-negative decimal integer in [min, max] for `option`.
Result<std::int64_t> ParseInteger(std::string_view option,
                                  std::string_view text, std::int64_t min,
                                  std::int64_t max);

// Splits "101,106,108" into names; empty items are an error naming `option`.
Result<std::vector<std::string>> ParseList(std::string_view option,
                                           std::string_view text);

// Parses a --records value: comma-separated record names or ranges of
// record numbers ("1-50,77" is 1, 2, .., 50, 77); kInvalidArgument naming
// `option` for an empty item, a bad range ("--records: '9-3' is not a range
// FIRST-LAST of record numbers") or a name listed twice ("--records: 101
// listed twice").
Result<std::vector<std::string>> ParseRecordNames(std::string_view option,
                                                  std::string_view text);

}  // namespace pulse::ecg_eval

#endif  // PULSE_TOOLS_ECG_EVAL_ARGS_H_
