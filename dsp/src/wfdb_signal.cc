// WFDB signal file decoding (formats 212 and 16), streaming.
//
// The decoder works in "units": 3 bytes -> 2 samples for format 212, 2 bytes
// -> 1 sample for format 16. Bytes of a unit split across Feed() calls wait
// in pending_; everything else is decoded in one tight loop straight into
// the caller's vector, so that chunked and whole-file decoding give the same
// samples and a 30-minute record decodes in about a millisecond.
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "pulse/dsp/wfdb.h"

namespace pulse::dsp::wfdb {
namespace {

// 12-bit two's complement -> int16 (the 0x800 bit is the sign).
inline std::int16_t SignExtend12(unsigned value) {
  return static_cast<std::int16_t>(static_cast<int>(value ^ 0x800u) - 0x800);
}

// Format 212 (signal(5)): a pair of samples in 3 bytes; the low 8 bits of
// each sample in bytes 0 and 2, their high nibbles in byte 1 (low nibble
// for the first sample, high nibble for the second).
inline void Decode212(const std::uint8_t* in, std::int16_t* out) {
  const unsigned b0 = in[0], b1 = in[1], b2 = in[2];
  out[0] = SignExtend12(b0 | ((b1 & 0x0Fu) << 8));
  out[1] = SignExtend12(b2 | ((b1 & 0xF0u) << 4));
}

inline std::int16_t Decode16(const std::uint8_t* in) {
  return static_cast<std::int16_t>(
      static_cast<std::uint16_t>(in[0] | (in[1] << 8)));
}

}  // namespace

Result<SignalDecoder> SignalDecoder::Create(int format) {
  if (format != 212 && format != 16) {
    return Fail(ErrorCode::kUnsupported,
                "signal format " + std::to_string(format) +
                    " is not supported (only 212 and 16)");
  }
  return SignalDecoder(format);
}

void SignalDecoder::Feed(std::span<const std::uint8_t> bytes,
                         std::vector<std::int16_t>* samples) {
  const std::size_t unit_bytes = format_ == 212 ? 3 : 2;
  const std::size_t unit_samples = format_ == 212 ? 2 : 1;
  std::size_t i = 0;
  if (pending_size_ > 0) {
    while (pending_size_ < unit_bytes && i < bytes.size()) {
      pending_[pending_size_++] = bytes[i++];
    }
    if (pending_size_ < unit_bytes) return;
    if (format_ == 212) {
      std::int16_t pair[2];
      Decode212(pending_, pair);
      samples->insert(samples->end(), pair, pair + 2);
    } else {
      samples->push_back(Decode16(pending_));
    }
    pending_size_ = 0;
  }

  const std::size_t units = (bytes.size() - i) / unit_bytes;
  const std::size_t first = samples->size();
  samples->resize(first + units * unit_samples);
  const std::uint8_t* in = bytes.data() + i;
  std::int16_t* out = samples->data() + first;
  if (format_ == 212) {
    for (std::size_t u = 0; u < units; ++u, in += 3, out += 2) {
      Decode212(in, out);
    }
  } else {
    for (std::size_t u = 0; u < units; ++u, in += 2, ++out) {
      *out = Decode16(in);
    }
  }
  i += units * unit_bytes;

  while (i < bytes.size()) pending_[pending_size_++] = bytes[i++];
}

std::size_t SignalDecoder::Finish(std::vector<std::int16_t>* samples) {
  if (format_ == 212 && pending_size_ == 2) {
    samples->push_back(
        SignExtend12(pending_[0] | ((pending_[1] & 0x0Fu) << 8)));
    pending_size_ = 0;
  }
  return pending_size_;
}

}  // namespace pulse::dsp::wfdb
