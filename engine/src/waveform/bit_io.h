// Least-significant-bit-first bit packing for the codec-2 payload
// (docs/formats/waveform_segment.md, "Bit stream"): stream bit i is bit
// (i mod 8) of byte i/8, and a w-bit field is written low bit first.
//
// BitReader never reads outside its span: past the end it supplies zero
// bits and remembers that it did, so a truncated stream is reported once,
// by the caller, instead of being checked on every field. Every decoding
// loop is bounded by validated counts, so reading zeros cannot spin.
//
// Thread-safety: plain values, one thread at a time.
#ifndef PULSE_ENGINE_SRC_WAVEFORM_BIT_IO_H_
#define PULSE_ENGINE_SRC_WAVEFORM_BIT_IO_H_

#include <algorithm>
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

namespace pulse::engine::waveform_internal {

class BitWriter {
 public:
  // Writes after the current end of `out`, giving up (overflowed()) once
  // more than `max_bytes` would be written: the caller then stores the
  // samples raw instead, so there is no point in finishing.
  BitWriter(std::vector<std::uint8_t>* out, std::size_t max_bytes)
      : out_(out), pos_(out->size()),
        limit_(out->size() + max_bytes) {
    Grow();
  }

  // Appends the low `bits` bits of `value`. REQUIRES: bits <= 56 and no
  // higher bit of `value` set.
  void Put(std::uint64_t value, int bits) {
    assert(bits >= 0 && bits <= 56);
    assert(bits == 56 || (value >> bits) == 0);
    acc_ |= value << pending_;
    pending_ += bits;  // <= 63
    if (pos_ + 8 > out_->size()) [[unlikely]] Grow();
    std::uint8_t* p = out_->data() + pos_;
    for (int i = 0; i < 8; ++i) p[i] = static_cast<std::uint8_t>(acc_ >> (8 * i));
    pos_ += static_cast<std::size_t>(pending_ >> 3);
    acc_ >>= pending_ & ~7;  // <= 56
    pending_ &= 7;
    if (pos_ > limit_) {
      overflowed_ = true;
      pos_ = limit_;  // keep writing into the slack; the result is dropped
    }
  }

  bool overflowed() const { return overflowed_; }

  // Pads with zero bits to a byte boundary and trims `out` to the bytes
  // written. Returns false when the stream overflowed max_bytes.
  bool Finish() {
    if (pending_ > 0) Put(0, 8 - pending_);
    out_->resize(pos_);
    return !overflowed_;
  }

 private:
  // Doubles the buffer (zero-filling only what is added), never past the
  // limit plus 8 bytes of slack for the 8-byte stores in Put().
  void Grow() {
    const std::size_t want =
        std::max<std::size_t>(out_->size() * 2, pos_ + 4096);
    out_->resize(std::min(want, limit_ + 8));
  }

  std::vector<std::uint8_t>* out_;
  std::size_t pos_;    // next byte to store
  std::size_t limit_;
  std::uint64_t acc_ = 0;
  int pending_ = 0;  // bits in acc_, always < 8 between calls
  bool overflowed_ = false;
};

class BitReader {
 public:
  explicit BitReader(std::span<const std::uint8_t> bytes)
      : data_(bytes.data()), size_(bytes.size()) {}

  // Ensures at least 56 bits are buffered (zeros past the end).
  void Refill() {
    if (available_ > 56) return;
    if (size_ - pos_ >= 8) {
      std::uint64_t word = 0;
      for (int i = 7; i >= 0; --i) word = word << 8 | data_[pos_ + i];
      buffer_ |= word << available_;
      pos_ += static_cast<std::size_t>((63 - available_) >> 3);
      available_ |= 56;
      return;
    }
    while (available_ <= 56) {
      if (pos_ < size_) {
        buffer_ |= std::uint64_t{data_[pos_++]} << available_;
      } else {
        ++virtual_bytes_;
      }
      available_ += 8;
    }
  }

  // The buffered bits; valid for the next `available()` bits.
  std::uint64_t Peek() const { return buffer_; }
  int available() const { return available_; }

  // REQUIRES: bits <= available(), bits < 64.
  void Skip(int bits) {
    assert(bits <= available_ && bits < 64);
    buffer_ >>= bits;
    available_ -= bits;
  }

  // Reads a field of `bits` <= 32 bits.
  std::uint32_t Read(int bits) {
    assert(bits <= 32);
    Refill();
    const std::uint32_t v = static_cast<std::uint32_t>(
        buffer_ & ((std::uint64_t{1} << bits) - 1));
    Skip(bits);
    return v;
  }

  // Bits consumed so far, counting any zeros read past the end.
  std::uint64_t consumed_bits() const {
    return (std::uint64_t{pos_} + virtual_bytes_) * 8 -
           static_cast<std::uint64_t>(available_);
  }
  std::uint64_t total_bits() const { return std::uint64_t{size_} * 8; }
  bool overrun() const { return consumed_bits() > total_bits(); }

 private:
  const std::uint8_t* data_;
  std::size_t size_;
  std::size_t pos_ = 0;  // next byte to load
  std::uint64_t virtual_bytes_ = 0;
  std::uint64_t buffer_ = 0;
  int available_ = 0;
};

}  // namespace pulse::engine::waveform_internal

#endif  // PULSE_ENGINE_SRC_WAVEFORM_BIT_IO_H_
