// Field clocks (row_clock.h): the encoding round-trips, is canonical (one
// byte string per clock), leaves `dangling` out of the canonical form, and
// decoding refuses damaged bytes without crashing.
#include "pulse/engine/row_clock.h"

#include <random>
#include <vector>

#include <gtest/gtest.h>

namespace pulse::engine {
namespace {

Uuid RandomUuid(std::mt19937_64& rng, int pool) {
  Uuid::Bytes bytes{};
  bytes[0] = static_cast<std::uint8_t>(rng() % static_cast<unsigned>(pool));
  bytes[15] = 7;
  return Uuid(bytes);
}

std::vector<ClockVersion> RandomSet(std::mt19937_64& rng) {
  std::vector<ClockVersion> set;
  const int n = static_cast<int>(rng() % 4);
  for (int i = 0; i < n; ++i) {
    InsertVersion(set, ClockVersion{rng() >> (rng() % 64), RandomUuid(rng, 5)});
  }
  return set;
}

RowClock RandomClock(std::mt19937_64& rng) {
  RowClock clock;
  const int fields = static_cast<int>(rng() % 6);
  for (int i = 0; i < fields; ++i) {
    FieldClock& f = clock.Get(static_cast<std::uint32_t>(rng() % 40));
    if (rng() % 4 != 0) {
      f.winner = ClockWriter{ClockVersion{rng(), RandomUuid(rng, 5)},
                             RandomUuid(rng, 200), RandomUuid(rng, 200)};
    }
    f.leaves = RandomSet(rng);
    f.dangling = RandomSet(rng);
    f.seen_by_tombstone = RandomSet(rng);
  }
  return clock;
}

TEST(RowClockTest, RoundTripsAndIsCanonical) {
  std::mt19937_64 rng(20261123);
  std::vector<std::uint8_t> bytes, again;
  for (int i = 0; i < 2000; ++i) {
    const RowClock clock = RandomClock(rng);
    EncodeRowClock(clock, bytes);
    auto decoded = DecodeRowClock(bytes);
    ASSERT_TRUE(decoded.has_value()) << decoded.error().ToString();
    EXPECT_EQ(*decoded, clock);
    EncodeRowClock(*decoded, again);
    EXPECT_EQ(again, bytes);
  }
}

TEST(RowClockTest, CanonicalFormOmitsOnlyDangling) {
  std::mt19937_64 rng(7);
  std::vector<std::uint8_t> a, b;
  for (int i = 0; i < 500; ++i) {
    RowClock clock = RandomClock(rng);
    RowClock other = clock;
    for (FieldClock& f : other.fields) f.dangling = RandomSet(rng);
    EncodeRowClock(clock, a, /*include_dangling=*/false);
    EncodeRowClock(other, b, /*include_dangling=*/false);
    EXPECT_EQ(a, b);
    // A site named only by a dangling version is not in the canonical
    // site list either (it would make equal states hash differently).
    auto decoded = DecodeRowClock(a);
    ASSERT_TRUE(decoded.has_value());
    for (const FieldClock& f : decoded->fields) EXPECT_TRUE(f.dangling.empty());
  }
}

TEST(RowClockTest, DamagedBytesAreRefusedOrDecodeCanonically) {
  std::mt19937_64 rng(99);
  std::vector<std::uint8_t> bytes, again;
  int refused = 0;
  for (int i = 0; i < 3000; ++i) {
    EncodeRowClock(RandomClock(rng), bytes);
    std::vector<std::uint8_t> damaged = bytes;
    switch (rng() % 3) {
      case 0:
        damaged.resize(rng() % damaged.size());
        break;
      case 1:
        damaged[rng() % damaged.size()] ^=
            static_cast<std::uint8_t>(1u << (rng() % 8));
        break;
      default:
        damaged.push_back(static_cast<std::uint8_t>(rng()));
        break;
    }
    auto decoded = DecodeRowClock(damaged);
    if (!decoded) {
      EXPECT_EQ(decoded.error().code(), ErrorCode::kCorruption);
      ++refused;
      continue;
    }
    // Whatever decodes is a clock whose encoding is exactly those bytes.
    EncodeRowClock(*decoded, again);
    EXPECT_EQ(again, damaged);
  }
  EXPECT_GT(refused, 1500);
}

TEST(RowClockTest, SetOperationsKeepOrder) {
  std::vector<ClockVersion> set;
  const Uuid a = Uuid(Uuid::Bytes{1}), b = Uuid(Uuid::Bytes{2});
  EXPECT_TRUE(InsertVersion(set, {5, b}));
  EXPECT_TRUE(InsertVersion(set, {5, a}));
  EXPECT_TRUE(InsertVersion(set, {3, b}));
  EXPECT_FALSE(InsertVersion(set, {5, a}));
  ASSERT_EQ(set.size(), 3u);
  EXPECT_EQ(set[0], (ClockVersion{3, b}));
  EXPECT_EQ(set[1], (ClockVersion{5, a}));
  EXPECT_TRUE(ContainsVersion(set, {5, b}));
  EXPECT_TRUE(EraseVersion(set, {5, b}));
  EXPECT_FALSE(EraseVersion(set, {5, b}));
  EXPECT_FALSE(ContainsVersion(set, {5, b}));
}

}  // namespace
}  // namespace pulse::engine
