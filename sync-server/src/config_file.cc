#include "pulse/sync_server/config_file.h"

#include <algorithm>
#include <fstream>
#include <sstream>

namespace pulse::sync_server {
namespace {

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' ||
                        s.front() == '\r')) {
    s.remove_prefix(1);
  }
  while (!s.empty() &&
         (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

bool IsSecretKey(std::string_view key) {
  for (std::string_view word : {"passphrase", "password", "token", "secret"}) {
    if (key.find(word) != std::string_view::npos &&
        !(key.size() > 5 && key.substr(key.size() - 5) == "-file")) {
      return true;
    }
  }
  return false;
}

}  // namespace

Result<ConfigMap> ParseConfigText(std::string_view text,
                                  std::string_view source) {
  ConfigMap out;
  int line_no = 0;
  while (!text.empty()) {
    ++line_no;
    const std::size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view()
                                        : text.substr(nl + 1);
    line = Trim(line);
    if (line.empty() || line.front() == '#') continue;
    const std::string where =
        std::string(source) + ":" + std::to_string(line_no);
    const std::size_t eq = line.find('=');
    if (eq == std::string_view::npos) {
      return Fail(ErrorCode::kInvalidArgument,
                  where + ": expected 'key = value'");
    }
    const std::string_view key = Trim(line.substr(0, eq));
    const std::string_view value = Trim(line.substr(eq + 1));
    const bool key_ok =
        !key.empty() && std::all_of(key.begin(), key.end(), [](char c) {
          return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
        });
    if (!key_ok) {
      return Fail(ErrorCode::kInvalidArgument,
                  where + ": key must be lower-case letters, digits and '-'");
    }
    if (IsSecretKey(key)) {
      return Fail(ErrorCode::kInvalidArgument,
                  where + ": '" + std::string(key) +
                      "': secrets do not belong in the config file; use the "
                      "environment or a *-file option");
    }
    if (!out.emplace(std::string(key), std::string(value)).second) {
      return Fail(ErrorCode::kInvalidArgument,
                  where + ": '" + std::string(key) + "' given twice");
    }
  }
  return out;
}

Result<ConfigMap> ReadConfigFile(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    return Fail(ErrorCode::kNotFound, path.string() + ": no such file");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return Fail(ErrorCode::kIoError, path.string() + ": cannot open");
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return Fail(ErrorCode::kIoError, path.string() + ": read failed");
  return ParseConfigText(text.str(), path.string());
}

}  // namespace pulse::sync_server
