// Hybrid logical clock (Kulkarni et al., "Logical Physical Clocks",
// OPODIS 2014): per-replica timestamps that follow the wall clock when it
// behaves and stay strictly increasing when it does not (backwards jumps,
// stalls, restarts, remote clocks ahead of ours).
//
// Format, update rules, persistence and the drift policy are specified in
// docs/formats/change_log.md §1. In short: an Hlc packs 47 significant bits
// of Unix milliseconds above a 16-bit counter into a uint64 whose integer
// order is clock order; writes are totally ordered by (hlc, site id).
//
// HybridClock does no I/O: the wall clock reaches it through the Clock
// interface (pulse/engine/clock.h) and the persisted high-water mark through
// Options::seed.
//
// Thread-safety: Hlc, DriftPolicy and the Check* functions are plain values
// and pure functions. HybridClock::Now(), Observe(), Seed() and Last() are
// safe to call from any thread (one mutex); values issued across all threads
// are unique and strictly increasing in issue order.
#ifndef PULSE_ENGINE_HLC_H_
#define PULSE_ENGINE_HLC_H_

#include <chrono>
#include <compare>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>

#include "pulse/base/result.h"
#include "pulse/engine/clock.h"

namespace pulse::engine {

class Hlc {
 public:
  static constexpr int kCounterBits = 16;
  // physical_ms is 48 bits wide but its top bit stays 0 so that packed
  // values fit a non-negative int64 (SQLite INTEGER sorts them right).
  static constexpr std::int64_t kMaxPhysicalMs = (std::int64_t{1} << 47) - 1;
  static constexpr std::uint16_t kMaxCounter = 0xffff;
  static constexpr std::uint64_t kMaxPacked = (std::uint64_t{1} << 63) - 1;

  // The zero clock: "never written". Never issued by a HybridClock.
  constexpr Hlc() = default;

  // REQUIRES: 0 <= physical_ms <= kMaxPhysicalMs (kInvalidArgument otherwise).
  static Result<Hlc> FromParts(std::int64_t physical_ms, std::uint16_t counter);
  // REQUIRES: packed <= kMaxPacked (kInvalidArgument otherwise).
  static Result<Hlc> FromPacked(std::uint64_t packed);
  // Parses the text form: exactly 16 lower-case hex digits, first digit
  // 0-7. Anything else is kInvalidArgument naming what was wrong.
  static Result<Hlc> Parse(std::string_view text);

  // Milliseconds since 1970-01-01 UTC (the paper's l).
  constexpr std::int64_t physical_ms() const {
    return static_cast<std::int64_t>(packed_ >> kCounterBits);
  }
  // Orders events sharing physical_ms (the paper's c).
  constexpr std::uint16_t counter() const {
    return static_cast<std::uint16_t>(packed_ & kMaxCounter);
  }
  // The packed value; <= kMaxPacked, so it also fits an int64.
  constexpr std::uint64_t packed() const { return packed_; }
  constexpr bool is_zero() const { return packed_ == 0; }

  // 16 lower-case hex digits of packed(); string order equals clock order.
  std::string ToString() const;

  friend constexpr auto operator<=>(Hlc, Hlc) = default;

 private:
  explicit constexpr Hlc(std::uint64_t packed) : packed_(packed) {}
  std::uint64_t packed_ = 0;
};

// Three-way comparison of two writes in the total order (hlc, site id).
// Site ids are compared as canonical lower-case UUID text (byte order).
std::strong_ordering CompareWrites(Hlc a_hlc, std::string_view a_site,
                                   Hlc b_hlc, std::string_view b_site);

// How far a remote clock may be from ours (change_log.md §1.6).
struct DriftPolicy {
  // Beyond this (either way for clocks, ahead for stamps): tell the clinic.
  std::chrono::milliseconds warn{std::chrono::minutes(5)};
  // A stamp further ahead than this is refused. REQUIRES: refuse >= warn.
  std::chrono::milliseconds refuse{std::chrono::hours(1)};
};

// Stable numeric values.
enum class DriftVerdict { kOk = 0, kWarn = 1, kRefuse = 2 };

// For a change stamped `stamp` arriving when the local wall clock reads
// `local_now`: only the future counts (offline entries are old, normally).
// kRefuse: do not accept or Observe() it; kWarn: accept, tell the sender.
DriftVerdict CheckStampDrift(Hlc stamp,
                             std::chrono::system_clock::time_point local_now,
                             const DriftPolicy& policy = {});

// For the wall clocks exchanged at sync: kWarn when they differ by more
// than policy.warn in either direction; never kRefuse.
DriftVerdict CheckClockSkew(std::chrono::system_clock::time_point remote_now,
                            std::chrono::system_clock::time_point local_now,
                            const DriftPolicy& policy = {});

class HybridClock {
 public:
  struct Options {
    // Not owned; must outlive the HybridClock and be thread-safe.
    Clock* wall_clock = &SystemClock();
    // The persisted high-water mark (change_log.md §1.5): every value
    // issued is greater than it. Zero for a brand-new replica. REQUIRES:
    // below kObserveLimit; a value read from storage goes through Seed(),
    // which checks it.
    Hlc seed;
  };

  HybridClock() : HybridClock(Options{}) {}
  explicit HybridClock(const Options& options);

  HybridClock(const HybridClock&) = delete;
  HybridClock& operator=(const HybridClock&) = delete;

  // Stamps closer than this to the end of the clock's range (a day of
  // milliseconds, in packed units) are refused by Observe() and Seed(), so
  // that no input can drive Now() to exhaustion.
  static constexpr std::uint64_t kObserveLimit =
      Hlc::kMaxPacked - (std::uint64_t{86'400'000} << Hlc::kCounterBits);

  // A stamp for a local event: strictly greater than every value issued,
  // observed or seeded before; (wall clock, 0) when the wall clock is ahead
  // of all of them. Cannot run out: Observe() and Seed() keep the clock a
  // day of milliseconds (2^42 stamps) short of kMaxPacked; passing it anyway
  // would be a bug and aborts.
  Hlc Now();

  // Receives a remote stamp: returns a stamp strictly greater than `remote`
  // and than everything before (the paper's receive rule). Call for every
  // remote entry applied and every remote clock exchanged; on the server,
  // only after CheckStampDrift() said it is not kRefuse. Returns
  // kOutOfRange, leaving the clock unchanged, for a stamp at or beyond
  // kObserveLimit (the year 6429: a corrupt or hostile stamp, never a clock).
  Result<Hlc> Observe(Hlc remote);

  // Raises the clock to at least `high_water` without issuing a value.
  // kOutOfRange, leaving the clock unchanged, at or beyond kObserveLimit (a
  // damaged high-water mark).
  Status Seed(Hlc high_water);

  // The last value issued, observed or seeded (Hlc() if none).
  Hlc Last() const;

 private:
  // REQUIRES: mu_ held.
  std::uint64_t WallPackedLocked() const;
  std::uint64_t AdvanceLocked(std::uint64_t at_least);

  Clock* const wall_clock_;
  mutable std::mutex mu_;
  std::uint64_t last_ = 0;  // guarded by mu_
};

}  // namespace pulse::engine

#endif  // PULSE_ENGINE_HLC_H_
