// Tests for the hybrid logical clock (docs/formats/change_log.md §1).
#include "pulse/engine/hlc.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <thread>
#include <vector>

namespace pulse::engine {
namespace {

using std::chrono::hours;
using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::system_clock;

// A wall clock driven by hand; thread-safe.
class FakeClock final : public Clock {
 public:
  explicit FakeClock(std::int64_t ms) : ms_(ms) {}
  system_clock::time_point Now() override {
    return system_clock::time_point(milliseconds(ms_.load()));
  }
  void Set(std::int64_t ms) { ms_.store(ms); }
  void Advance(std::int64_t ms) { ms_.fetch_add(ms); }

 private:
  std::atomic<std::int64_t> ms_;
};

constexpr std::int64_t kT0 = 1'700'000'000'000;  // 2023-11-14, ms

Hlc Make(std::int64_t ms, std::uint16_t counter) {
  return Hlc::FromParts(ms, counter).value();
}

class HlcTest : public ::testing::Test {
 protected:
  FakeClock wall_{kT0};
  HybridClock clock_{HybridClock::Options{&wall_, Hlc()}};
};

TEST_F(HlcTest, PackingOrdersPhysicalAboveCounter) {
  const Hlc a = Make(kT0, 0xffff);
  const Hlc b = Make(kT0 + 1, 0);
  EXPECT_LT(a, b);
  EXPECT_LT(a.packed(), b.packed());
  EXPECT_EQ(a.physical_ms(), kT0);
  EXPECT_EQ(a.counter(), 0xffff);
  EXPECT_EQ(b.packed(), (static_cast<std::uint64_t>(kT0 + 1) << 16));
  EXPECT_TRUE(Hlc().is_zero());
}

TEST_F(HlcTest, FollowsTheWallClockWhenItBehaves) {
  EXPECT_EQ(clock_.Now(), Make(kT0, 0));
  EXPECT_EQ(clock_.Now(), Make(kT0, 1));
  wall_.Advance(5);
  EXPECT_EQ(clock_.Now(), Make(kT0 + 5, 0));
}

TEST_F(HlcTest, StaysMonotonicWhenTheWallClockJumpsBackHours) {
  const Hlc before = clock_.Now();
  wall_.Set(kT0 - 3 * 3600 * 1000);
  Hlc prev = before;
  for (int i = 0; i < 1000; ++i) {
    const Hlc h = clock_.Now();
    ASSERT_GT(h, prev);
    EXPECT_EQ(h.physical_ms(), kT0);  // holds l, counts up
    prev = h;
  }
  // Once the wall clock passes l again, it follows the wall clock.
  wall_.Set(kT0 + 10);
  EXPECT_EQ(clock_.Now(), Make(kT0 + 10, 0));
}

TEST_F(HlcTest, StallingWallClockCountsUp) {
  Hlc prev = clock_.Now();
  for (int i = 0; i < 100; ++i) {
    const Hlc h = clock_.Now();
    ASSERT_EQ(h.physical_ms(), kT0);
    ASSERT_EQ(h.counter(), prev.counter() + 1);
    prev = h;
  }
}

TEST_F(HlcTest, CounterOverflowCarriesIntoPhysical) {
  ASSERT_TRUE(clock_.Seed(Make(kT0, 0xfffe)));
  EXPECT_EQ(clock_.Now(), Make(kT0, 0xffff));
  EXPECT_EQ(clock_.Now(), Make(kT0 + 1, 0));  // 1 ms ahead of the wall
  EXPECT_EQ(clock_.Now(), Make(kT0 + 1, 1));
  wall_.Advance(2);
  EXPECT_EQ(clock_.Now(), Make(kT0 + 2, 0));
}

TEST_F(HlcTest, FullMillisecondOfEventsStaysUnique) {
  Hlc prev;
  for (int i = 0; i < 3 * 65536; ++i) {
    const Hlc h = clock_.Now();
    ASSERT_GT(h, prev);
    prev = h;
  }
  EXPECT_EQ(prev.physical_ms(), kT0 + 2);
}

TEST_F(HlcTest, ObserveRemoteAheadAdoptsItsPhysicalTime) {
  clock_.Now();
  const Hlc remote = Make(kT0 + 60'000, 7);
  const Hlc got = clock_.Observe(remote).value();
  EXPECT_EQ(got, Make(kT0 + 60'000, 8));
  EXPECT_GT(clock_.Now(), remote);
  EXPECT_EQ(clock_.Now(), Make(kT0 + 60'000, 10));
}

TEST_F(HlcTest, ObserveRemoteBehindKeepsOurs) {
  clock_.Now();
  clock_.Now();  // (kT0, 1)
  const Hlc got = clock_.Observe(Make(kT0 - 5'000, 40)).value();
  EXPECT_EQ(got, Make(kT0, 2));
}

TEST_F(HlcTest, ObserveSamePhysicalTakesLargerCounter) {
  clock_.Now();  // (kT0, 0)
  EXPECT_EQ(clock_.Observe(Make(kT0, 9)).value(), Make(kT0, 10));
  EXPECT_EQ(clock_.Observe(Make(kT0, 3)).value(), Make(kT0, 11));
}

TEST_F(HlcTest, ObserveWhenWallClockIsAheadOfBoth) {
  clock_.Now();
  wall_.Advance(1000);
  EXPECT_EQ(clock_.Observe(Make(kT0 + 10, 5)).value(), Make(kT0 + 1000, 0));
}

TEST_F(HlcTest, ObserveAtCounterLimitCarries) {
  EXPECT_EQ(clock_.Observe(Make(kT0 + 50, 0xffff)).value(), Make(kT0 + 51, 0));
}

TEST_F(HlcTest, RestartFromPersistedSeedNeverGoesBackwards) {
  // A replica ran ahead (it observed a remote clock), persisted its
  // high-water mark, and restarts on a machine whose clock went back a day.
  const Hlc high_water = clock_.Observe(Make(kT0 + 30'000, 3)).value();
  wall_.Set(kT0 - 24 * 3600 * 1000);
  HybridClock restarted(HybridClock::Options{&wall_, high_water});
  EXPECT_EQ(restarted.Last(), high_water);
  const Hlc first = restarted.Now();
  EXPECT_GT(first, high_water);
  EXPECT_EQ(first, Make(kT0 + 30'000, 5));
}

TEST_F(HlcTest, SeedOnlyRaises) {
  ASSERT_TRUE(clock_.Seed(Make(kT0 + 100, 0)));
  ASSERT_TRUE(clock_.Seed(Make(kT0 - 100, 0)));
  EXPECT_EQ(clock_.Last(), Make(kT0 + 100, 0));
  EXPECT_EQ(clock_.Now(), Make(kT0 + 100, 1));
}

TEST_F(HlcTest, StampsAtTheEndOfTimeAreRefusedNotFatal) {
  // A corrupt or hostile stamp (year 6429) must be an error for the caller
  // to report, not a crash, and must leave the clock as it was.
  const Hlc before = clock_.Now();
  const Hlc hostile = Hlc::FromPacked(Hlc::kMaxPacked).value();
  const Hlc at_limit = Hlc::FromPacked(HybridClock::kObserveLimit).value();
  for (const Hlc stamp : {hostile, at_limit}) {
    auto observed = clock_.Observe(stamp);
    ASSERT_FALSE(observed.has_value());
    EXPECT_EQ(observed.error().code(), ErrorCode::kOutOfRange);
    EXPECT_FALSE(clock_.Seed(stamp).has_value());
    EXPECT_EQ(clock_.Last(), before);
  }
  const Hlc below = Hlc::FromPacked(HybridClock::kObserveLimit - 1).value();
  EXPECT_GT(clock_.Observe(below).value(), below);
  EXPECT_GT(clock_.Now(), below);  // and the clock still runs
}

TEST_F(HlcTest, WallClockBeforeEpochIsClamped) {
  wall_.Set(-5000);
  EXPECT_EQ(clock_.Now(), Make(0, 1));  // 0 itself is never issued
  EXPECT_EQ(clock_.Now(), Make(0, 2));
}

TEST_F(HlcTest, RacingThreadsGetUniqueIncreasingValues) {
  constexpr int kThreads = 4;
  constexpr int kPerThread = 20000;
  std::vector<std::vector<Hlc>> got(kThreads);
  std::vector<std::thread> threads;
  std::atomic<bool> go{false};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      while (!go.load()) {
      }
      got[t].reserve(kPerThread);
      for (int i = 0; i < kPerThread; ++i) {
        got[t].push_back(clock_.Now());
        if (t == 0 && i % 97 == 0) wall_.Advance(1);
        if (t == 1 && i % 1000 == 0) wall_.Advance(-3600 * 1000);  // jumps
        if (t == 2 && i % 500 == 0) {
          got[t].push_back(clock_.Observe(Make(kT0 + i, 3)).value());
        }
      }
    });
  }
  go.store(true);
  for (auto& th : threads) th.join();
  std::vector<std::uint64_t> all;
  for (const auto& v : got) {
    for (std::size_t i = 1; i < v.size(); ++i) {
      ASSERT_LT(v[i - 1], v[i]) << "not increasing within a thread at " << i;
    }
    for (const Hlc h : v) all.push_back(h.packed());
  }
  std::sort(all.begin(), all.end());
  EXPECT_EQ(std::adjacent_find(all.begin(), all.end()), all.end())
      << "two threads got the same value";
}

TEST(HlcTextTest, RoundTripsAndIsFixedWidth) {
  const Hlc h = Make(0x1896f3a2b, 3);
  EXPECT_EQ(h.ToString(), "0001896f3a2b0003");
  EXPECT_EQ(Hlc().ToString(), "0000000000000000");
  EXPECT_EQ(Hlc::Parse("0001896f3a2b0003").value(), h);
  const Hlc max = Hlc::FromPacked(Hlc::kMaxPacked).value();
  EXPECT_EQ(max.ToString(), "7fffffffffffffff");
  EXPECT_EQ(Hlc::Parse(max.ToString()).value(), max);
  // String order is clock order.
  EXPECT_LT(Make(9, 0xffff).ToString(), Make(10, 0).ToString());
}

TEST(HlcTextTest, MalformedTextIsRejected) {
  for (const char* bad :
       {"", "0001896f3a2b000", "0001896f3a2b00033", "0001896F3A2B0003",
        "0x01896f3a2b0003", " 001896f3a2b0003", "0001896f3a2b000g",
        "8000000000000000", "ffffffffffffffff", "-001896f3a2b0003"}) {
    auto r = Hlc::Parse(bad);
    ASSERT_FALSE(r.has_value()) << bad;
    EXPECT_EQ(r.error().code(), ErrorCode::kInvalidArgument) << bad;
  }
}

TEST(HlcTextTest, RangeChecks) {
  EXPECT_FALSE(Hlc::FromParts(-1, 0).has_value());
  EXPECT_FALSE(Hlc::FromParts(Hlc::kMaxPhysicalMs + 1, 0).has_value());
  EXPECT_TRUE(Hlc::FromParts(Hlc::kMaxPhysicalMs, 0xffff).has_value());
  EXPECT_FALSE(Hlc::FromPacked(Hlc::kMaxPacked + 1).has_value());
}

TEST(CompareWritesTest, SiteBreaksTies) {
  const Hlc h = Make(kT0, 0);
  EXPECT_EQ(CompareWrites(h, "a", h, "b"), std::strong_ordering::less);
  EXPECT_EQ(CompareWrites(h, "b", h, "b"), std::strong_ordering::equal);
  EXPECT_EQ(CompareWrites(Make(kT0, 1), "a", h, "b"),
            std::strong_ordering::greater);
}

TEST(DriftTest, StampThresholds) {
  const auto now = system_clock::time_point(milliseconds(kT0));
  const DriftPolicy p;  // warn 5 min, refuse 1 h
  auto at = [](std::int64_t ms) { return Make(ms, 0); };
  EXPECT_EQ(CheckStampDrift(at(kT0), now, p), DriftVerdict::kOk);
  EXPECT_EQ(CheckStampDrift(at(kT0 - 30LL * 24 * 3600 * 1000), now, p),
            DriftVerdict::kOk);  // old offline entries are normal
  EXPECT_EQ(CheckStampDrift(at(kT0 + 5 * 60'000), now, p), DriftVerdict::kOk);
  EXPECT_EQ(CheckStampDrift(at(kT0 + 5 * 60'000 + 1), now, p),
            DriftVerdict::kWarn);
  EXPECT_EQ(CheckStampDrift(at(kT0 + 3600'000), now, p), DriftVerdict::kWarn);
  EXPECT_EQ(CheckStampDrift(at(kT0 + 3600'000 + 1), now, p),
            DriftVerdict::kRefuse);
  const DriftPolicy strict{milliseconds(10), milliseconds(100)};
  EXPECT_EQ(CheckStampDrift(at(kT0 + 50), now, strict), DriftVerdict::kWarn);
  EXPECT_EQ(CheckStampDrift(at(kT0 + 101), now, strict), DriftVerdict::kRefuse);
}

TEST(DriftTest, ClockSkewWarnsBothWaysNeverRefuses) {
  const auto now = system_clock::time_point(milliseconds(kT0));
  EXPECT_EQ(CheckClockSkew(now + minutes(4), now), DriftVerdict::kOk);
  EXPECT_EQ(CheckClockSkew(now - minutes(4), now), DriftVerdict::kOk);
  EXPECT_EQ(CheckClockSkew(now + minutes(6), now), DriftVerdict::kWarn);
  EXPECT_EQ(CheckClockSkew(now - minutes(6), now), DriftVerdict::kWarn);
  EXPECT_EQ(CheckClockSkew(now + hours(48), now), DriftVerdict::kWarn);
}

}  // namespace
}  // namespace pulse::engine
