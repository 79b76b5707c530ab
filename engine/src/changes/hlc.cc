// Hybrid logical clock; the rules are in docs/formats/change_log.md §1.
//
// The paper's send and receive rules (Kulkarni et al. 2014, Fig. 4) reduce
// to one max over packed values because physical_ms sits above the counter:
//   Now():       last = max(last + 1, pack(pt, 0))
//   Observe(m):  last = max(last + 1, m + 1, pack(pt, 0))
// "+ 1" on the packed value also implements counter overflow: a counter at
// 0xffff carries into physical_ms (the clock runs 1 ms ahead; §1.3).
#include "pulse/engine/hlc.h"

#include <algorithm>
#include <cassert>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

namespace pulse::engine {
namespace {

constexpr char kHexDigits[] = "0123456789abcdef";

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

std::int64_t ToUnixMs(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             t.time_since_epoch())
      .count();
}

}  // namespace

Result<Hlc> Hlc::FromParts(std::int64_t physical_ms, std::uint16_t counter) {
  if (physical_ms < 0 || physical_ms > kMaxPhysicalMs) {
    return Fail(ErrorCode::kInvalidArgument, "hlc physical_ms " +
                                                 std::to_string(physical_ms) +
                                                 " outside [0, 2^47)");
  }
  return Hlc((static_cast<std::uint64_t>(physical_ms) << kCounterBits) |
             counter);
}

Result<Hlc> Hlc::FromPacked(std::uint64_t packed) {
  if (packed > kMaxPacked) {
    return Fail(ErrorCode::kInvalidArgument,
                "hlc value has its top bit set (physical_ms >= 2^47)");
  }
  return Hlc(packed);
}

Result<Hlc> Hlc::Parse(std::string_view text) {
  if (text.size() != 16) {
    return Fail(ErrorCode::kInvalidArgument,
                "hlc text must be 16 lower-case hex digits, got " +
                    std::to_string(text.size()) + " characters");
  }
  std::uint64_t packed = 0;
  for (char c : text) {
    const int v = HexValue(c);
    if (v < 0) {
      return Fail(ErrorCode::kInvalidArgument,
                  "hlc text must be 16 lower-case hex digits");
    }
    packed = (packed << 4) | static_cast<std::uint64_t>(v);
  }
  return FromPacked(packed);
}

std::string Hlc::ToString() const {
  std::string out(16, '0');
  std::uint64_t v = packed_;
  for (int i = 15; i >= 0; --i) {
    out[static_cast<std::size_t>(i)] = kHexDigits[v & 0xf];
    v >>= 4;
  }
  return out;
}

std::strong_ordering CompareWrites(Hlc a_hlc, std::string_view a_site,
                                   Hlc b_hlc, std::string_view b_site) {
  if (auto c = a_hlc <=> b_hlc; c != 0) return c;
  // string_view compares via char_traits<char>, i.e. as unsigned bytes.
  const int c = a_site.compare(b_site);
  return c < 0 ? std::strong_ordering::less
               : (c > 0 ? std::strong_ordering::greater
                        : std::strong_ordering::equal);
}

DriftVerdict CheckStampDrift(Hlc stamp,
                             std::chrono::system_clock::time_point local_now,
                             const DriftPolicy& policy) {
  const std::int64_t ahead_ms = stamp.physical_ms() - ToUnixMs(local_now);
  if (ahead_ms > policy.refuse.count()) return DriftVerdict::kRefuse;
  if (ahead_ms > policy.warn.count()) return DriftVerdict::kWarn;
  return DriftVerdict::kOk;
}

DriftVerdict CheckClockSkew(std::chrono::system_clock::time_point remote_now,
                            std::chrono::system_clock::time_point local_now,
                            const DriftPolicy& policy) {
  const auto skew =
      std::chrono::abs(std::chrono::duration_cast<std::chrono::milliseconds>(
          remote_now - local_now));
  return skew > policy.warn ? DriftVerdict::kWarn : DriftVerdict::kOk;
}

HybridClock::HybridClock(const Options& options)
    : wall_clock_(options.wall_clock), last_(options.seed.packed()) {
  assert(last_ < kObserveLimit && "use Seed() for stored high-water marks");
}

Hlc HybridClock::Now() {
  std::lock_guard<std::mutex> lock(mu_);
  return Hlc::FromPacked(AdvanceLocked(last_)).value();
}

namespace {

Status CheckObservable(Hlc stamp, std::string_view what) {
  if (stamp.packed() >= HybridClock::kObserveLimit) {
    return Fail(ErrorCode::kOutOfRange,
                std::string(what) + " " + stamp.ToString() +
                    " is beyond the range a clock can follow");
  }
  return OkStatus();
}

}  // namespace

Result<Hlc> HybridClock::Observe(Hlc remote) {
  if (Status s = CheckObservable(remote, "remote clock stamp"); !s) {
    return Fail(s.error());
  }
  std::lock_guard<std::mutex> lock(mu_);
  return Hlc::FromPacked(AdvanceLocked(std::max(last_, remote.packed())))
      .value();
}

Status HybridClock::Seed(Hlc high_water) {
  if (Status s = CheckObservable(high_water, "clock high-water mark"); !s) {
    return s;
  }
  std::lock_guard<std::mutex> lock(mu_);
  last_ = std::max(last_, high_water.packed());
  return OkStatus();
}

Hlc HybridClock::Last() const {
  std::lock_guard<std::mutex> lock(mu_);
  return Hlc::FromPacked(last_).value();
}

std::uint64_t HybridClock::WallPackedLocked() const {
  const std::int64_t ms = std::clamp<std::int64_t>(ToUnixMs(wall_clock_->Now()),
                                                   0, Hlc::kMaxPhysicalMs);
  return static_cast<std::uint64_t>(ms) << Hlc::kCounterBits;
}

// Sets last_ = max(at_least + 1, pack(wall, 0)) and returns it.
std::uint64_t HybridClock::AdvanceLocked(std::uint64_t at_least) {
  if (at_least >= Hlc::kMaxPacked) {
    std::fprintf(stderr,
                 "pulse: hybrid logical clock exhausted (year 6429); a remote "
                 "stamp bypassed the drift check\n");
    std::abort();
  }
  last_ = std::max(at_least + 1, WallPackedLocked());
  return last_;
}

}  // namespace pulse::engine
