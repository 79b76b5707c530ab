#include "pulse/engine/uuid.h"

#include <algorithm>
#include <ostream>

#include "pulse/engine/crypto.h"

namespace pulse::engine {
namespace {

constexpr std::int64_t kMaxUnixMs = (std::int64_t{1} << 48) - 1;
constexpr int kCounterBits = 42;
constexpr std::uint64_t kCounterMax = (std::uint64_t{1} << kCounterBits) - 1;
// Positions of the hyphens in the canonical text.
constexpr std::array<std::size_t, 4> kHyphens = {8, 13, 18, 23};
constexpr std::size_t kTextSize = 36;

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::uint64_t RandomU64() {
  std::array<std::uint8_t, 8> bytes;
  RandomBytes(bytes);
  std::uint64_t value = 0;
  for (std::uint8_t b : bytes) value = value << 8 | b;
  return value;
}

// A fresh counter for a new millisecond: 41 random bits, top (42nd) bit
// clear, so at least 2^41 increments fit before overflow (RFC 9562 §6.2,
// "counter rollover guards").
std::uint64_t SeedCounter() { return RandomU64() >> (64 - (kCounterBits - 1)); }

}  // namespace

Result<Uuid> Uuid::Parse(std::string_view text) {
  if (text.size() != kTextSize) {
    return Fail(ErrorCode::kInvalidArgument,
                "a UUID is 36 characters, got " + std::to_string(text.size()));
  }
  Bytes bytes{};
  std::size_t nibble = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const bool hyphen_here =
        std::find(kHyphens.begin(), kHyphens.end(), i) != kHyphens.end();
    if (hyphen_here) {
      if (text[i] != '-') {
        return Fail(ErrorCode::kInvalidArgument,
                    "UUID: expected '-' at offset " + std::to_string(i));
      }
      continue;
    }
    const int value = HexValue(text[i]);
    if (value < 0) {
      return Fail(ErrorCode::kInvalidArgument,
                  "UUID: not a hex digit at offset " + std::to_string(i));
    }
    bytes[nibble / 2] = static_cast<std::uint8_t>(
        bytes[nibble / 2] | (nibble % 2 == 0 ? value << 4 : value));
    ++nibble;
  }
  return Uuid(bytes);
}

std::string Uuid::ToString() const {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string text;
  text.reserve(kTextSize);
  for (std::size_t i = 0; i < kSize; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) text.push_back('-');
    text.push_back(kDigits[bytes_[i] >> 4]);
    text.push_back(kDigits[bytes_[i] & 0x0F]);
  }
  return text;
}

std::chrono::milliseconds Uuid::UnixTime() const {
  std::int64_t ms = 0;
  for (std::size_t i = 0; i < 6; ++i) ms = ms << 8 | bytes_[i];
  return std::chrono::milliseconds(ms);
}

std::ostream& operator<<(std::ostream& out, const Uuid& id) {
  return out << id.ToString();
}

UuidV7Generator::UuidV7Generator(Clock& clock) : clock_(clock) {}

Uuid UuidV7Generator::Next() {
  const std::int64_t now_ms = std::clamp<std::int64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(
          clock_.Now().time_since_epoch())
          .count(),
      0, kMaxUnixMs);

  std::int64_t ms;
  std::uint64_t counter;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (now_ms > last_ms_) {
      last_ms_ = now_ms;
      counter_ = SeedCounter();
    } else if (counter_ < kCounterMax) {
      // Same millisecond, or the clock went backwards: keep the last
      // timestamp and count on, so order never breaks.
      ++counter_;
    } else {
      // 2^41 ids in one millisecond cannot happen in practice; if it does,
      // borrow the next millisecond (RFC 9562 §6.2) rather than wrap.
      last_ms_ = std::min(last_ms_ + 1, kMaxUnixMs);
      counter_ = SeedCounter();
    }
    ms = last_ms_;
    counter = counter_;
  }

  std::array<std::uint8_t, 4> tail;
  RandomBytes(tail);
  Uuid::Bytes b;
  for (int i = 0; i < 6; ++i) {
    b[i] = static_cast<std::uint8_t>(ms >> (8 * (5 - i)));
  }
  // rand_a: counter bits 41..30 under version 7.
  b[6] = static_cast<std::uint8_t>(0x70 | ((counter >> 38) & 0x0F));
  b[7] = static_cast<std::uint8_t>(counter >> 30);
  // rand_b: variant 0b10, counter bits 29..0, then 32 fresh random bits.
  b[8] = static_cast<std::uint8_t>(0x80 | ((counter >> 24) & 0x3F));
  b[9] = static_cast<std::uint8_t>(counter >> 16);
  b[10] = static_cast<std::uint8_t>(counter >> 8);
  b[11] = static_cast<std::uint8_t>(counter);
  std::copy(tail.begin(), tail.end(), b.begin() + 12);
  return Uuid(b);
}

Uuid NewUuidV7() {
  static UuidV7Generator generator(SystemClock());
  return generator.Next();
}

}  // namespace pulse::engine
