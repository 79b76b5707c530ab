// UUIDv7: layout (version and variant bits, timestamp), strict ordering of
// ids minted in one millisecond and across a backwards clock jump (fake
// clock), canonical text round trip, and malformed text rejected.
#include "pulse/engine/uuid.h"

#include <gtest/gtest.h>

#include <chrono>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace pulse::engine {
namespace {

using std::chrono::milliseconds;
using std::chrono::system_clock;

class FakeClock : public Clock {
 public:
  explicit FakeClock(milliseconds unix_time) : now_(unix_time) {}
  system_clock::time_point Now() override {
    return system_clock::time_point(now_);
  }
  void Set(milliseconds unix_time) { now_ = unix_time; }

 private:
  milliseconds now_;
};

// 2024-05-01T00:00:00Z.
constexpr milliseconds kT0{1714521600000};

TEST(UuidTest, V7HasVersionVariantAndClockTimestamp) {
  FakeClock clock(kT0);
  UuidV7Generator generator(clock);
  const Uuid id = generator.Next();
  EXPECT_EQ(id.version(), 7);
  EXPECT_TRUE(id.HasRfcVariant());
  EXPECT_EQ(id.UnixTime(), kT0);
  EXPECT_FALSE(id.IsNil());
  // Timestamp is the first 48 bits, big-endian: 0x018f31737000 = kT0.
  EXPECT_EQ(id.ToString().substr(0, 13), "018f3173-7000");
}

TEST(UuidTest, IdsInTheSameMillisecondStrictlyIncrease) {
  FakeClock clock(kT0);
  UuidV7Generator generator(clock);
  Uuid previous = generator.Next();
  for (int i = 0; i < 100000; ++i) {
    const Uuid next = generator.Next();
    ASSERT_LT(previous, next) << "at " << i;
    ASSERT_LT(previous.ToString(), next.ToString()) << "text order at " << i;
    ASSERT_EQ(next.UnixTime(), kT0);
    ASSERT_EQ(next.version(), 7);
    ASSERT_TRUE(next.HasRfcVariant());
    previous = next;
  }
}

TEST(UuidTest, OrderSurvivesABackwardsClockJump) {
  FakeClock clock(kT0);
  UuidV7Generator generator(clock);
  std::vector<Uuid> ids;
  for (int i = 0; i < 100; ++i) ids.push_back(generator.Next());
  clock.Set(kT0 + milliseconds(5));
  for (int i = 0; i < 100; ++i) ids.push_back(generator.Next());
  clock.Set(kT0 - std::chrono::hours(1));  // NTP fixes a fast clock
  for (int i = 0; i < 100; ++i) ids.push_back(generator.Next());
  // The timestamp stalls at the latest one seen until the clock catches up.
  EXPECT_EQ(ids.back().UnixTime(), kT0 + milliseconds(5));
  clock.Set(kT0 + milliseconds(6));
  for (int i = 0; i < 100; ++i) ids.push_back(generator.Next());
  EXPECT_EQ(ids.back().UnixTime(), kT0 + milliseconds(6));
  for (std::size_t i = 1; i < ids.size(); ++i) {
    ASSERT_LT(ids[i - 1], ids[i]) << "at " << i;
  }
}

TEST(UuidTest, ClockBeforeTheEpochCountsAsZero) {
  // (The 48-bit upper end, year 10889, lies beyond what system_clock's
  // nanosecond time_point can hold, year 2262, so it cannot be reached.)
  FakeClock clock(milliseconds(-5));
  UuidV7Generator generator(clock);
  const Uuid first = generator.Next();
  EXPECT_EQ(first.UnixTime(), milliseconds(0));
  EXPECT_LT(first, generator.Next());
}

TEST(UuidTest, GeneratorsDoNotRepeatIdsAcrossThreads) {
  FakeClock clock(kT0);  // read concurrently, never written
  UuidV7Generator generator(clock);
  constexpr int kThreads = 4;
  constexpr int kPerThread = 5000;
  std::vector<std::vector<Uuid>> minted(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        minted[t].push_back(generator.Next());
      }
    });
  }
  for (auto& thread : threads) thread.join();
  std::set<Uuid> all;
  for (const auto& ids : minted) {
    for (std::size_t i = 1; i < ids.size(); ++i) {
      ASSERT_LT(ids[i - 1], ids[i]);  // each thread sees increasing ids
    }
    all.insert(ids.begin(), ids.end());
  }
  EXPECT_EQ(all.size(), std::size_t{kThreads * kPerThread});
}

TEST(UuidTest, SeparateGeneratorsInOneMillisecondDiffer) {
  // Two clinics minting at the same instant: the random counter seed and
  // tail keep them apart.
  FakeClock clock(kT0);
  UuidV7Generator a(clock), b(clock);
  EXPECT_NE(a.Next(), b.Next());
}

TEST(UuidTest, NewUuidV7UsesTheSystemClock) {
  const auto before = std::chrono::duration_cast<milliseconds>(
      system_clock::now().time_since_epoch());
  const Uuid id = NewUuidV7();
  const Uuid later = NewUuidV7();
  EXPECT_EQ(id.version(), 7);
  EXPECT_LT(id, later);
  EXPECT_GE(id.UnixTime(), before);
  EXPECT_LE(id.UnixTime(), before + std::chrono::minutes(1));
}

TEST(UuidTest, TextRoundTrips) {
  FakeClock clock(kT0);
  UuidV7Generator generator(clock);
  for (int i = 0; i < 1000; ++i) {
    const Uuid id = generator.Next();
    const std::string text = id.ToString();
    ASSERT_EQ(text.size(), 36u);
    auto parsed = Uuid::Parse(text);
    ASSERT_TRUE(parsed) << parsed.error().ToString();
    ASSERT_EQ(*parsed, id);
  }
}

TEST(UuidTest, ParseAcceptsUpperCaseAndOtherVersions) {
  auto id = Uuid::Parse("017F22E2-79B0-7CC3-98C4-DC0C0C07398F");
  ASSERT_TRUE(id) << id.error().ToString();
  EXPECT_EQ(id->ToString(), "017f22e2-79b0-7cc3-98c4-dc0c0c07398f");
  EXPECT_EQ(id->version(), 7);
  // RFC 9562 Appendix A.6 example UUIDv7 timestamp: 0x017F22E279B0.
  EXPECT_EQ(id->UnixTime(), milliseconds(0x017F22E279B0));
  auto v4 = Uuid::Parse("919108f7-52d1-4320-9bac-f847db4148a8");
  ASSERT_TRUE(v4);
  EXPECT_EQ(v4->version(), 4);
  auto nil = Uuid::Parse("00000000-0000-0000-0000-000000000000");
  ASSERT_TRUE(nil);
  EXPECT_TRUE(nil->IsNil());
}

TEST(UuidTest, MalformedTextIsRejected) {
  const std::vector<std::string> bad = {
      "",
      "017f22e2-79b0-7cc3-98c4-dc0c0c07398",    // short
      "017f22e2-79b0-7cc3-98c4-dc0c0c07398f0",  // long
      "{017f22e2-79b0-7cc3-98c4-dc0c0c07398f}",
      "urn:uuid:017f22e2-79b0-7cc3-98c4-dc0c0c07398f",
      "017f22e279b07cc398c4dc0c0c07398f",      // no hyphens
      "017f22e2-79b07-cc3-98c4-dc0c0c07398f",  // misplaced hyphen
      "017f22e2_79b0_7cc3_98c4_dc0c0c07398f",
      "017f22e2-79b0-7cc3-98c4-dc0c0c07398g",  // non-hex
      "017f22e2-79b0-7cc3-98c4-dc0c0c0739 f",
      "017f22e2-79b0-+cc3-98c4-dc0c0c07398f",
      std::string("017f22e2-79b0-7cc3-98c4-dc0c0c07398\0", 36),
  };
  for (const std::string& text : bad) {
    auto parsed = Uuid::Parse(text);
    EXPECT_FALSE(parsed) << "accepted: " << text;
    if (!parsed) {
      EXPECT_EQ(parsed.error().code(), ErrorCode::kInvalidArgument);
    }
  }
}

TEST(UuidTest, ByteOrderIsTimeOrderAcrossMilliseconds) {
  FakeClock clock(kT0);
  UuidV7Generator generator(clock);
  const Uuid early = generator.Next();
  clock.Set(kT0 + milliseconds(1));
  const Uuid late = generator.Next();
  EXPECT_LT(early, late);
  EXPECT_EQ(late.UnixTime() - early.UnixTime(), milliseconds(1));
}

}  // namespace
}  // namespace pulse::engine
