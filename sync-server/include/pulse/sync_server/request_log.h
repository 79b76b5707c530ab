// Structured logs: one JSON object per line. The server writes one access
// line per request —
//
//   {"time":"2025-01-02T03:04:05.678Z","level":"info","msg":"request",
//    "method":"POST","route":"/api/v1/sync/push","status":200,
//    "latency_ms":3.25,"peer":"127.0.0.1","user_id":"…","request_id":"…"}
//
// — and event lines ("level":"error","msg":"store error", ...) that share
// the request id. Routes are templates, never raw targets (no query
// strings). Nothing here ever receives a body, a token, a password or
// patient data; callers pass only the fields below.
//
// Thread-safety: the Format functions are pure; StderrLogSink() returns a
// sink safe from any thread (each line is one write under a mutex).
#ifndef PULSE_SYNC_SERVER_REQUEST_LOG_H_
#define PULSE_SYNC_SERVER_REQUEST_LOG_H_

#include <chrono>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace pulse::sync_server {

// Receives one complete line without its trailing newline.
using LogSink = std::function<void(std::string_view line)>;

// Writes each line plus '\n' to stderr.
LogSink StderrLogSink();

struct AccessRecord {
  std::string_view method;
  std::string_view route;  // template, "(unmatched)" for 404s
  int status = 0;
  double latency_ms = 0;
  std::string_view peer;
  std::string_view user_id;  // "" when unauthenticated (field omitted)
  std::string_view request_id;
};

// Level from the status: info below 400, warn for 4xx, error for 5xx.
std::string FormatAccessLine(std::chrono::system_clock::time_point time,
                             const AccessRecord& record);

// {"time":…,"level":level,"msg":msg,"request_id":…, fields…}. request_id
// is omitted when empty. Field values are strings.
std::string FormatEventLine(
    std::chrono::system_clock::time_point time, std::string_view level,
    std::string_view msg, std::string_view request_id,
    const std::vector<std::pair<std::string, std::string>>& fields = {});

// "2025-01-02T03:04:05.678Z" (UTC, milliseconds).
std::string FormatUtcMs(std::chrono::system_clock::time_point time);

}  // namespace pulse::sync_server

#endif  // PULSE_SYNC_SERVER_REQUEST_LOG_H_
