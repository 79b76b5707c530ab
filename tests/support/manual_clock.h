// A wall clock that tests set and advance by hand (engine/clock.h), so that
// time-dependent behaviour — backwards jumps included — is reproducible.
#ifndef PULSE_TESTS_SUPPORT_MANUAL_CLOCK_H_
#define PULSE_TESTS_SUPPORT_MANUAL_CLOCK_H_

#include <chrono>
#include <cstdint>

#include "pulse/engine/clock.h"

namespace pulse::testing {

class ManualClock final : public engine::Clock {
 public:
  std::chrono::system_clock::time_point Now() override { return now_; }
  // Milliseconds since the Unix epoch; negative values are before 1970.
  void SetMs(std::int64_t ms) {
    now_ = std::chrono::system_clock::time_point(std::chrono::milliseconds(ms));
  }
  void AdvanceMs(std::int64_t ms) { now_ += std::chrono::milliseconds(ms); }

 private:
  std::chrono::system_clock::time_point now_{};
};

}  // namespace pulse::testing

#endif  // PULSE_TESTS_SUPPORT_MANUAL_CLOCK_H_
