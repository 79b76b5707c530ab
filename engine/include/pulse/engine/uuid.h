// UUIDs (RFC 9562) and the UUIDv7 generator that mints every row id
// (DESIGN.md §3): time-ordered so that ids sort roughly by creation and
// index well, random enough to be minted offline by many clinics without
// coordination.
//
// UUIDv7 layout (big-endian, RFC 9562 §5.7):
//   unix_ts_ms:48 | ver:4 = 7 | rand_a:12 | var:2 = 0b10 | rand_b:62
//
// Monotonicity (RFC 9562 §6.2, "Method 1: fixed bit-length dedicated
// counter"): rand_a and the top 30 bits of rand_b form a 42-bit counter.
// When the clock shows a millisecond later than the last id's, the counter
// is re-seeded with 41 random bits (top bit clear, so at least 2^41
// increments fit before it could roll over); otherwise (same millisecond,
// or the clock went backwards) the generator keeps the last id's timestamp
// and increments the counter. If the counter would overflow, the timestamp
// is advanced by 1 ms instead. The low 32 bits of rand_b are fresh random in
// every id. So the ids of one generator are strictly increasing, as bytes
// and as canonical text, whatever the clock does; after a backwards jump
// the timestamps stall at the last one until the clock catches up.
//
// Thread-safety: Uuid is a plain value. UuidV7Generator::Next() and
// NewUuidV7() are safe to call from any thread.
#ifndef PULSE_ENGINE_UUID_H_
#define PULSE_ENGINE_UUID_H_

#include <array>
#include <chrono>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <iosfwd>
#include <mutex>
#include <string>
#include <string_view>

#include "pulse/base/result.h"
#include "pulse/engine/clock.h"

namespace pulse::engine {

class Uuid {
 public:
  static constexpr std::size_t kSize = 16;
  using Bytes = std::array<std::uint8_t, kSize>;

  // The nil UUID (all zero).
  constexpr Uuid() = default;
  explicit constexpr Uuid(const Bytes& bytes) : bytes_(bytes) {}

  // Parses the canonical 36-character form "xxxxxxxx-xxxx-xxxx-xxxx-
  // xxxxxxxxxxxx" (hex digits of either case). Anything else — braces, a
  // "urn:uuid:" prefix, missing or misplaced hyphens, other lengths,
  // non-hex digits — is kInvalidArgument. Any version and variant parse;
  // callers that need a UUIDv7 check version().
  static Result<Uuid> Parse(std::string_view text);

  // The canonical form in lower case (RFC 9562 §4).
  std::string ToString() const;

  const Bytes& bytes() const { return bytes_; }
  // The version field (bits 48..51): 7 for ids minted here.
  int version() const { return bytes_[6] >> 4; }
  // True iff the variant field is 0b10, the RFC 9562 variant.
  bool HasRfcVariant() const { return (bytes_[8] & 0xC0) == 0x80; }
  bool IsNil() const { return *this == Uuid(); }
  // The 48-bit timestamp of a UUIDv7: milliseconds since the Unix epoch.
  // Meaningless for other versions.
  std::chrono::milliseconds UnixTime() const;

  // Byte order, which for UUIDv7 is time order (and the order of the
  // canonical text, since hex preserves it).
  friend constexpr auto operator<=>(const Uuid&, const Uuid&) = default;

 private:
  Bytes bytes_{};
};

// Writes ToString(); ids are not secret, and this makes test failures
// readable.
std::ostream& operator<<(std::ostream& out, const Uuid& id);

class UuidV7Generator {
 public:
  // REQUIRES: `clock` outlives the generator.
  explicit UuidV7Generator(Clock& clock);
  UuidV7Generator(const UuidV7Generator&) = delete;
  UuidV7Generator& operator=(const UuidV7Generator&) = delete;

  // A new UUIDv7, strictly greater than every id this generator returned
  // before (see the file comment). Clock readings before 1970 count as 0;
  // readings past the 48-bit range (year 10889) are clamped to its end.
  Uuid Next();

 private:
  std::mutex mu_;
  Clock& clock_;
  std::int64_t last_ms_ = -1;  // timestamp of the last id; -1 before any
  std::uint64_t counter_ = 0;  // 42-bit counter of the last id
};

// A new UUIDv7 from one process-wide generator on SystemClock(), so ids
// minted anywhere in the process are strictly increasing.
Uuid NewUuidV7();

}  // namespace pulse::engine

template <>
struct std::hash<pulse::engine::Uuid> {
  std::size_t operator()(const pulse::engine::Uuid& id) const noexcept {
    // The low 8 bytes are random in a UUIDv7; good enough for a hash table.
    std::size_t h = 0;
    for (std::size_t i = 8; i < pulse::engine::Uuid::kSize; ++i) {
      h = (h << 8) | id.bytes()[i];
    }
    return h;
  }
};

#endif  // PULSE_ENGINE_UUID_H_
