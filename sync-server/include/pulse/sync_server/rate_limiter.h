// FailureRateLimiter: a sliding-window count of recent failures per key
// (login attempts per username and per client address, DESIGN.md §6).
// A key with `max_failures` failures inside the last `window` is blocked
// until the oldest of them leaves the window.
//
// Per-instance, in memory, and allowed to be lost at any moment
// (DESIGN.md §12): a restart or a second instance only loosens the limit,
// it never locks anyone out wrongly. Memory is bounded: at most
// `max_keys` keys are tracked; past that, keys whose failures have all
// expired are dropped and, if still full, the key least recently failed.
//
// Times come from the caller (the service's Clock), so tests drive them.
//
// Thread-safety: all methods are safe from any thread (one mutex).
#ifndef PULSE_SYNC_SERVER_RATE_LIMITER_H_
#define PULSE_SYNC_SERVER_RATE_LIMITER_H_

#include <chrono>
#include <cstddef>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace pulse::sync_server {

class FailureRateLimiter {
 public:
  using TimePoint = std::chrono::system_clock::time_point;

  struct Options {
    int max_failures = 5;                          // REQUIRES: >= 1
    std::chrono::milliseconds window{std::chrono::minutes(5)};
    std::size_t max_keys = 100000;
  };

  explicit FailureRateLimiter(const Options& options) : options_(options) {}

  // nullopt if `key` may try now; otherwise how long until it may (> 0).
  std::optional<std::chrono::milliseconds> RetryAfter(std::string_view key,
                                                      TimePoint now);
  void RecordFailure(std::string_view key, TimePoint now);
  // Forgets `key`'s failures (after a successful login).
  void Clear(std::string_view key);

  std::size_t tracked_keys_for_test() const;

 private:
  // REQUIRES: mu_ held.
  void PruneLocked(std::deque<TimePoint>& times, TimePoint now) const;
  void EvictLocked(TimePoint now);

  const Options options_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, std::deque<TimePoint>> failures_;
};

}  // namespace pulse::sync_server

#endif  // PULSE_SYNC_SERVER_RATE_LIMITER_H_
