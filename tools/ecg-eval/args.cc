#include "args.h"

#include <charconv>
#include <cmath>
#include <set>
#include <system_error>

namespace pulse::ecg_eval {
namespace {

tl::unexpected<Error> Usage(std::string message) {
  return Fail(ErrorCode::kInvalidArgument, std::move(message));
}

const OptionSpec* FindSpec(std::span<const OptionSpec> specs,
                           std::string_view name) {
  for (const OptionSpec& spec : specs) {
    if (spec.name == name) return &spec;
  }
  return nullptr;
}

// Shortest exact rendering of a bound for messages: 300, 0.5, 1e+06.
std::string Bound(double value) {
  char buffer[32];
  const auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, value);
  return ec == std::errc() ? std::string(buffer, end) : std::string("?");
}

}  // namespace

bool ParsedArgs::Has(std::string_view name) const {
  return values_.find(name) != values_.end();
}

std::optional<std::string> ParsedArgs::Value(std::string_view name) const {
  const auto it = values_.find(name);
  if (it == values_.end()) return std::nullopt;
  return it->second;
}

Result<ParsedArgs> ParseArgs(std::span<const std::string> args,
                             std::span<const OptionSpec> specs) {
  ParsedArgs parsed;
  bool options_ended = false;
  for (std::size_t i = 0; i < args.size(); ++i) {
    std::string_view word = args[i];
    if (options_ended || word.size() < 2 || word[0] != '-') {
      parsed.positionals_.emplace_back(word);  // "-" alone is a positional
      continue;
    }
    if (word == "--") {
      options_ended = true;
      continue;
    }
    if (word == "-h" && FindSpec(specs, "--help") != nullptr) word = "--help";

    std::string_view name = word;
    std::optional<std::string_view> inline_value;
    if (const std::size_t eq = word.find('='); eq != std::string_view::npos) {
      name = word.substr(0, eq);
      inline_value = word.substr(eq + 1);
    }
    const OptionSpec* spec = FindSpec(specs, name);
    if (spec == nullptr) {
      return Usage("unknown option '" + std::string(name) + "'");
    }
    if (parsed.Has(name)) {
      return Usage(std::string(name) + " given twice");
    }
    std::string value;
    if (spec->takes_value) {
      if (inline_value) {
        value = std::string(*inline_value);
      } else if (i + 1 < args.size()) {
        value = args[++i];
      } else {
        return Usage(std::string(name) + " needs a value");
      }
    } else if (inline_value) {
      return Usage(std::string(name) + " takes no value");
    }
    parsed.values_.emplace(std::string(name), std::move(value));
  }
  return parsed;
}

Result<double> ParseNumber(std::string_view option, std::string_view text,
                           double min, double max) {
  double value = 0.0;
  const char* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (text.empty() || ec == std::errc::invalid_argument || ptr != end ||
      !std::isfinite(value)) {
    return Usage(std::string(option) + ": '" + std::string(text) +
                 "' is not a number");
  }
  if (ec == std::errc::result_out_of_range || value < min || value > max) {
    return Usage(std::string(option) + ": " + std::string(text) +
                 " is out of range (" + Bound(min) + " to " + Bound(max) + ")");
  }
  return value;
}

Result<std::int64_t> ParseInteger(std::string_view option,
                                  std::string_view text, std::int64_t min,
                                  std::int64_t max) {
  std::int64_t value = 0;
  const char* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (text.empty() || ec == std::errc::invalid_argument || ptr != end) {
    return Usage(std::string(option) + ": '" + std::string(text) +
                 "' is not a whole number");
  }
  if (ec == std::errc::result_out_of_range || value < min || value > max) {
    return Usage(std::string(option) + ": " + std::string(text) +
                 " is out of range (" + std::to_string(min) + " to " +
                 std::to_string(max) + ")");
  }
  return value;
}

Result<std::vector<std::string>> ParseList(std::string_view option,
                                           std::string_view text) {
  std::vector<std::string> items;
  std::size_t begin = 0;
  while (true) {
    const std::size_t comma = text.find(',', begin);
    const std::string_view item = text.substr(
        begin, comma == std::string_view::npos ? std::string_view::npos
                                               : comma - begin);
    if (item.empty()) {
      return Usage(std::string(option) + ": empty item in '" +
                   std::string(text) + "'");
    }
    items.emplace_back(item);
    if (comma == std::string_view::npos) break;
    begin = comma + 1;
  }
  return items;
}

Result<std::vector<std::string>> ParseRecordNames(std::string_view option,
                                                  std::string_view text) {
  auto items = ParseList(option, text);
  if (!items) return items;
  std::vector<std::string> names;
  std::set<std::string, std::less<>> seen;
  const auto add = [&](std::string name) -> Status {
    if (!seen.insert(name).second) {
      return Fail(ErrorCode::kInvalidArgument,
                  std::string(option) + ": " + name + " listed twice");
    }
    names.push_back(std::move(name));
    return OkStatus();
  };
  for (const std::string& item : *items) {
    const std::size_t dash = item.find('-');
    if (dash == std::string::npos || dash == 0) {
      if (Status s = add(item); !s) return Fail(s.error());
      continue;
    }
    auto lo = ParseInteger(option, item.substr(0, dash), 0, 1'000'000);
    auto hi = ParseInteger(option, item.substr(dash + 1), 0, 1'000'000);
    if (!lo || !hi || *lo > *hi) {
      return Fail(ErrorCode::kInvalidArgument,
                  std::string(option) + ": '" + item +
                      "' is not a range FIRST-LAST of record numbers");
    }
    for (std::int64_t n = *lo; n <= *hi; ++n) {
      if (Status s = add(std::to_string(n)); !s) return Fail(s.error());
    }
  }
  return names;
}

}  // namespace pulse::ecg_eval
