#include "pulse/sync_server/request_log.h"

#include <cmath>
#include <cstdio>
#include <ctime>
#include <mutex>

#include <nlohmann/json.hpp>

namespace pulse::sync_server {
namespace {

using Json = nlohmann::ordered_json;

std::string Dump(const Json& j) {
  // Invalid UTF-8 (a hostile method or peer string) is replaced, never
  // thrown: a log line must not take a request down.
  return j.dump(-1, ' ', false, Json::error_handler_t::replace);
}

}  // namespace

std::string FormatUtcMs(std::chrono::system_clock::time_point time) {
  using namespace std::chrono;
  const auto ms = duration_cast<milliseconds>(time.time_since_epoch()).count();
  std::int64_t secs = ms / 1000;
  std::int64_t frac = ms % 1000;
  if (frac < 0) {
    frac += 1000;
    --secs;
  }
  const std::time_t t = static_cast<std::time_t>(secs);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[96];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
                tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                tm.tm_min, tm.tm_sec, static_cast<int>(frac));
  return buf;
}

LogSink StderrLogSink() {
  static std::mutex mu;
  return [](std::string_view line) {
    std::lock_guard lock(mu);
    std::fwrite(line.data(), 1, line.size(), stderr);
    std::fputc('\n', stderr);
    std::fflush(stderr);
  };
}

std::string FormatAccessLine(std::chrono::system_clock::time_point time,
                             const AccessRecord& r) {
  Json j;
  j["time"] = FormatUtcMs(time);
  j["level"] = r.status >= 500 ? "error" : r.status >= 400 ? "warn" : "info";
  j["msg"] = "request";
  j["method"] = r.method;
  j["route"] = r.route;
  j["status"] = r.status;
  j["latency_ms"] = std::round(r.latency_ms * 1000.0) / 1000.0;
  j["peer"] = r.peer;
  if (!r.user_id.empty()) j["user_id"] = r.user_id;
  j["request_id"] = r.request_id;
  return Dump(j);
}

std::string FormatEventLine(
    std::chrono::system_clock::time_point time, std::string_view level,
    std::string_view msg, std::string_view request_id,
    const std::vector<std::pair<std::string, std::string>>& fields) {
  Json j;
  j["time"] = FormatUtcMs(time);
  j["level"] = level;
  j["msg"] = msg;
  if (!request_id.empty()) j["request_id"] = request_id;
  for (const auto& [k, v] : fields) j[k] = v;
  return Dump(j);
}

}  // namespace pulse::sync_server
