// A wall clock that tests set and advance by hand (engine/clock.h), so that
// time-dependent behaviour — backwards jumps included — is reproducible.
#ifndef PULSE_TESTS_SUPPORT_MANUAL_CLOCK_H_
#define PULSE_TESTS_SUPPORT_MANUAL_CLOCK_H_

#include <atomic>
#include <chrono>
#include <cstdint>

#include "pulse/engine/clock.h"

namespace pulse::testing {

// Safe to read from other threads while the test sets it (a background
// thread of the code under test may look at the time).
class ManualClock final : public engine::Clock {
 public:
  std::chrono::system_clock::time_point Now() override {
    return std::chrono::system_clock::time_point(
        std::chrono::milliseconds(ms_.load()));
  }
  // Milliseconds since the Unix epoch; negative values are before 1970.
  void SetMs(std::int64_t ms) { ms_.store(ms); }
  void AdvanceMs(std::int64_t ms) { ms_.fetch_add(ms); }

 private:
  std::atomic<std::int64_t> ms_{0};
};

}  // namespace pulse::testing

#endif  // PULSE_TESTS_SUPPORT_MANUAL_CLOCK_H_
