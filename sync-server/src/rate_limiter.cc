#include "pulse/sync_server/rate_limiter.h"

#include <algorithm>

namespace pulse::sync_server {

void FailureRateLimiter::PruneLocked(std::deque<TimePoint>& times,
                                     TimePoint now) const {
  // A clock that jumped backwards leaves "future" failures in place; they
  // expire once the clock passes them plus the window.
  while (!times.empty() && times.front() + options_.window <= now) {
    times.pop_front();
  }
}

std::optional<std::chrono::milliseconds> FailureRateLimiter::RetryAfter(
    std::string_view key, TimePoint now) {
  std::lock_guard lock(mu_);
  auto it = failures_.find(std::string(key));
  if (it == failures_.end()) return std::nullopt;
  PruneLocked(it->second, now);
  if (it->second.empty()) {
    failures_.erase(it);
    return std::nullopt;
  }
  const auto& times = it->second;
  if (static_cast<int>(times.size()) < options_.max_failures) {
    return std::nullopt;
  }
  // Blocked until enough failures expire to leave max_failures - 1.
  const TimePoint free_at =
      times[times.size() - static_cast<std::size_t>(options_.max_failures)] +
      options_.window;
  auto wait =
      std::chrono::duration_cast<std::chrono::milliseconds>(free_at - now);
  return std::max(wait, std::chrono::milliseconds(1));
}

void FailureRateLimiter::RecordFailure(std::string_view key, TimePoint now) {
  std::lock_guard lock(mu_);
  if (failures_.size() >= options_.max_keys &&
      !failures_.contains(std::string(key))) {
    EvictLocked(now);
  }
  auto& times = failures_[std::string(key)];
  PruneLocked(times, now);
  times.push_back(now);
  // Only the newest max_failures matter for the decision.
  while (static_cast<int>(times.size()) > options_.max_failures) {
    times.pop_front();
  }
}

void FailureRateLimiter::Clear(std::string_view key) {
  std::lock_guard lock(mu_);
  failures_.erase(std::string(key));
}

void FailureRateLimiter::EvictLocked(TimePoint now) {
  for (auto it = failures_.begin(); it != failures_.end();) {
    PruneLocked(it->second, now);
    it = it->second.empty() ? failures_.erase(it) : std::next(it);
  }
  if (failures_.size() < options_.max_keys) return;
  auto oldest = std::min_element(
      failures_.begin(), failures_.end(), [](const auto& a, const auto& b) {
        return a.second.back() < b.second.back();
      });
  failures_.erase(oldest);
}

std::size_t FailureRateLimiter::tracked_keys_for_test() const {
  std::lock_guard lock(mu_);
  return failures_.size();
}

}  // namespace pulse::sync_server
