#include "pulse/sync_server/metrics.h"

#include <cstdio>

namespace pulse::sync_server {
namespace {

// Label values here are route templates, methods and fixed kinds; escape
// anyway so that a future caller cannot break the format.
std::string Escape(std::string_view v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string FormatDouble(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}

}  // namespace

void Metrics::RecordRequest(std::string_view route, std::string_view method,
                            int status, std::chrono::nanoseconds latency) {
  const double s = std::chrono::duration<double>(latency).count();
  std::lock_guard lock(mu_);
  ++requests_[{std::string(route), std::string(method), status}];
  Histogram& h = latency_[std::string(route)];
  for (std::size_t i = 0; i < kLatencyBucketsS.size(); ++i) {
    if (s <= kLatencyBucketsS[i]) ++h.buckets[i];
  }
  ++h.count;
  h.sum_s += s;
}

void Metrics::AddChangesIngested(std::int64_t n) {
  if (n <= 0) return;
  std::lock_guard lock(mu_);
  changes_ingested_ += static_cast<std::uint64_t>(n);
}

void Metrics::AddConflicts(std::int64_t n) {
  if (n <= 0) return;
  std::lock_guard lock(mu_);
  conflicts_ += static_cast<std::uint64_t>(n);
}

void Metrics::AddAuthFailure(std::string_view kind) {
  std::lock_guard lock(mu_);
  ++auth_failures_[std::string(kind)];
}

std::string Metrics::Render() const {
  std::lock_guard lock(mu_);
  std::string out;
  out +=
      "# HELP pulse_http_requests_total HTTP requests by route template, "
      "method and status.\n"
      "# TYPE pulse_http_requests_total counter\n";
  for (const auto& [key, n] : requests_) {
    const auto& [route, method, status] = key;
    out += "pulse_http_requests_total{route=\"" + Escape(route) +
           "\",method=\"" + Escape(method) + "\",status=\"" +
           std::to_string(status) + "\"} " + std::to_string(n) + "\n";
  }
  out +=
      "# HELP pulse_http_request_duration_seconds Time from a parsed request "
      "to its response, by route template.\n"
      "# TYPE pulse_http_request_duration_seconds histogram\n";
  for (const auto& [route, h] : latency_) {
    const std::string r = Escape(route);
    // Buckets are cumulative by construction (each observation counted in
    // every bucket whose bound it does not exceed).
    for (std::size_t i = 0; i < kLatencyBucketsS.size(); ++i) {
      out += "pulse_http_request_duration_seconds_bucket{route=\"" + r +
             "\",le=\"" + FormatDouble(kLatencyBucketsS[i]) + "\"} " +
             std::to_string(h.buckets[i]) + "\n";
    }
    out += "pulse_http_request_duration_seconds_bucket{route=\"" + r +
           "\",le=\"+Inf\"} " + std::to_string(h.count) + "\n";
    out += "pulse_http_request_duration_seconds_sum{route=\"" + r + "\"} " +
           FormatDouble(h.sum_s) + "\n";
    out += "pulse_http_request_duration_seconds_count{route=\"" + r +
           "\"} " + std::to_string(h.count) + "\n";
  }
  out +=
      "# HELP pulse_sync_changes_ingested_total Pushed change entries new to "
      "the central store.\n"
      "# TYPE pulse_sync_changes_ingested_total counter\n"
      "pulse_sync_changes_ingested_total " +
      std::to_string(changes_ingested_) + "\n";
  out +=
      "# HELP pulse_sync_conflicts_total Conflicts created by pushed "
      "batches.\n"
      "# TYPE pulse_sync_conflicts_total counter\n"
      "pulse_sync_conflicts_total " +
      std::to_string(conflicts_) + "\n";
  out +=
      "# HELP pulse_auth_failures_total Refused logins and bearer tokens, by "
      "kind.\n"
      "# TYPE pulse_auth_failures_total counter\n";
  for (const auto& [kind, n] : auth_failures_) {
    out += "pulse_auth_failures_total{kind=\"" + Escape(kind) + "\"} " +
           std::to_string(n) + "\n";
  }
  return out;
}

}  // namespace pulse::sync_server
