// The wall clock, as an interface, so that code which stamps time (UUIDv7
// ids, later the hybrid logical clock) never calls system_clock::now()
// itself and tests can drive time by hand, backwards jumps included
// (STYLE.md "Keep I/O at the edges").
//
// Thread-safety: SystemClock() is safe from any thread. Implementations
// handed to thread-safe users must be thread-safe themselves.
#ifndef PULSE_ENGINE_CLOCK_H_
#define PULSE_ENGINE_CLOCK_H_

#include <chrono>

namespace pulse::engine {

class Clock {
 public:
  virtual ~Clock() = default;
  // The current wall-clock time. May jump in either direction (rural PCs
  // keep bad time, DESIGN.md §4); users that need order must not rely on it
  // being monotonic.
  virtual std::chrono::system_clock::time_point Now() = 0;
};

// The real clock (std::chrono::system_clock). Lives for the whole process.
inline Clock& SystemClock() {
  class Real final : public Clock {
   public:
    std::chrono::system_clock::time_point Now() override {
      return std::chrono::system_clock::now();
    }
  };
  static Real clock;
  return clock;
}

}  // namespace pulse::engine

#endif  // PULSE_ENGINE_CLOCK_H_
