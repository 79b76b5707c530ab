// Server metrics in the Prometheus text exposition format (version 0.0.4),
// served by GET /metrics: requests by route, method and status, a request
// latency histogram by route, changes ingested, conflicts created and
// authentication failures by kind.
//
// Route labels are route templates, never raw paths (a 404 is counted
// under "(unmatched)"), so that label cardinality stays bounded whatever
// clients send.
//
// Per-instance, in memory: lost on restart, which Prometheus counters
// tolerate (DESIGN.md §12).
//
// Thread-safety: all methods are safe from any thread (one mutex).
#ifndef PULSE_SYNC_SERVER_METRICS_H_
#define PULSE_SYNC_SERVER_METRICS_H_

#include <array>
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <tuple>

namespace pulse::sync_server {

class Metrics {
 public:
  // Upper bounds (seconds) of the latency histogram buckets; +Inf is added.
  static constexpr std::array<double, 11> kLatencyBucketsS = {
      0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0};

  void RecordRequest(std::string_view route, std::string_view method,
                     int status, std::chrono::nanoseconds latency);
  void AddChangesIngested(std::int64_t n);
  void AddConflicts(std::int64_t n);
  // `kind`: "bad_credentials", "rate_limited", "invalid_token", ...
  void AddAuthFailure(std::string_view kind);

  // The whole exposition text.
  std::string Render() const;

 private:
  struct Histogram {
    std::array<std::uint64_t, kLatencyBucketsS.size()> buckets{};
    std::uint64_t count = 0;
    double sum_s = 0;
  };

  mutable std::mutex mu_;
  // (route, method, status) -> count
  std::map<std::tuple<std::string, std::string, int>, std::uint64_t>
      requests_;
  std::map<std::string, Histogram> latency_;  // by route
  std::uint64_t changes_ingested_ = 0;
  std::uint64_t conflicts_ = 0;
  std::map<std::string, std::uint64_t> auth_failures_;  // by kind
};

}  // namespace pulse::sync_server

#endif  // PULSE_SYNC_SERVER_METRICS_H_
