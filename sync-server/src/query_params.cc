#include "pulse/sync_server/query_params.h"

#include <algorithm>
#include <cctype>
#include <charconv>

namespace pulse::sync_server {
namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::optional<std::string> PercentDecode(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  for (std::size_t i = 0; i < in.size(); ++i) {
    const char c = in[i];
    if (c == '+') {
      out.push_back(' ');
    } else if (c == '%') {
      if (in.size() - i < 3) return std::nullopt;
      const int hi = HexValue(in[i + 1]);
      const int lo = HexValue(in[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else {
      out.push_back(c);
    }
  }
  return out;
}

std::string Quoted(std::string_view name) {
  const bool plain =
      !name.empty() && name.size() <= 32 &&
      std::all_of(name.begin(), name.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
      });
  return plain ? "query parameter '" + std::string(name) + "'"
               : std::string("query parameter");
}

}  // namespace

Result<QueryParams> ParseQueryParams(
    std::string_view query, std::initializer_list<std::string_view> allowed) {
  QueryParams params;
  while (!query.empty()) {
    const std::size_t amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view()
                                          : query.substr(amp + 1);
    if (pair.empty()) continue;
    const std::size_t eq = pair.find('=');
    auto name = PercentDecode(pair.substr(0, eq));
    if (!name) {
      return Fail(ErrorCode::kInvalidArgument,
                  "query parameter name: bad %-escape");
    }
    if (std::find(allowed.begin(), allowed.end(), *name) == allowed.end()) {
      return Fail(ErrorCode::kInvalidArgument, "unknown " + Quoted(*name));
    }
    auto value = PercentDecode(eq == std::string_view::npos
                                   ? std::string_view()
                                   : pair.substr(eq + 1));
    if (!value) {
      return Fail(ErrorCode::kInvalidArgument,
                  *name + ": bad %-escape in the value");
    }
    if (!params.emplace(*name, std::move(*value)).second) {
      return Fail(ErrorCode::kInvalidArgument, *name + ": given more than once");
    }
  }
  return params;
}

Result<std::optional<std::int64_t>> IntParam(const QueryParams& params,
                                             std::string_view name,
                                             std::int64_t min,
                                             std::int64_t max) {
  auto it = params.find(name);
  if (it == params.end()) return std::optional<std::int64_t>();
  const std::string& text = it->second;
  std::int64_t v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() ||
      v < min || v > max) {
    return Fail(ErrorCode::kInvalidArgument,
                std::string(name) + ": not an integer in [" +
                    std::to_string(min) + ", " + std::to_string(max) + "]");
  }
  return std::optional<std::int64_t>(v);
}

}  // namespace pulse::sync_server
