// The segment container: header, codec dispatch and CRC-32C trailer
// (docs/formats/waveform_segment.md, "Layout" and "Reading, in order").
#include <algorithm>
#include <array>
#include <cstring>
#include <string>

#include "crc32c.h"
#include "predictive_rice.h"
#include "pulse/engine/waveform_codec.h"

namespace pulse::engine {
namespace {

using waveform_internal::Crc32c;

constexpr std::array<std::uint8_t, 8> kMagic = {0x89, 'P', 'L', 'W',
                                                'V',  '\r', '\n', 0x1A};
constexpr std::size_t kHeaderBytes = 40;
constexpr std::size_t kTrailerBytes = 4;
static_assert(kHeaderBytes + kTrailerBytes == kSegmentOverheadBytes);

// Header field offsets.
constexpr std::size_t kVersionAt = 8;
constexpr std::size_t kCodecAt = 9;
constexpr std::size_t kChannelsAt = 10;
constexpr std::size_t kFramesAt = 12;
constexpr std::size_t kRateAt = 16;
constexpr std::size_t kLsbAt = 20;
constexpr std::size_t kFirstFrameAt = 24;
constexpr std::size_t kPayloadLengthAt = 32;
constexpr std::size_t kReservedAt = 36;

template <typename T>
void PutLe(std::uint8_t* p, T v) {
  for (std::size_t i = 0; i < sizeof(T); ++i) {
    p[i] = static_cast<std::uint8_t>(v >> (8 * i));
  }
}

template <typename T>
T GetLe(const std::uint8_t* p) {
  T v = 0;
  for (std::size_t i = sizeof(T); i-- > 0;) {
    v = static_cast<T>(v << 8 | p[i]);
  }
  return v;
}

Error Corrupt(const std::string& what) {
  return Error(ErrorCode::kCorruption, "waveform segment: " + what);
}

}  // namespace

Result<std::vector<std::uint8_t>> EncodeSegment(
    std::span<const std::int16_t> interleaved, int channels,
    const SegmentParams& params) {
  if (channels < 1 || channels > kMaxSegmentChannels) {
    return Fail(ErrorCode::kInvalidArgument,
                "waveform segment: channels " + std::to_string(channels) +
                    " outside 1.." + std::to_string(kMaxSegmentChannels));
  }
  if (interleaved.size() % static_cast<std::size_t>(channels) != 0) {
    return Fail(ErrorCode::kInvalidArgument,
                "waveform segment: " + std::to_string(interleaved.size()) +
                    " samples is not a whole number of " +
                    std::to_string(channels) + "-channel frames");
  }
  if (interleaved.size() > static_cast<std::size_t>(kMaxSegmentSamples)) {
    return Fail(ErrorCode::kInvalidArgument,
                "waveform segment: " + std::to_string(interleaved.size()) +
                    " samples exceeds the limit of " +
                    std::to_string(kMaxSegmentSamples));
  }
  if (params.sample_rate_millihertz == 0) {
    return Fail(ErrorCode::kInvalidArgument,
                "waveform segment: sample rate must be > 0");
  }
  if (params.lsb_nanovolts == 0) {
    return Fail(ErrorCode::kInvalidArgument,
                "waveform segment: lsb must be > 0");
  }
  if (params.codec != WaveformCodec::kRaw16 &&
      params.codec != WaveformCodec::kPredictiveRice) {
    return Fail(ErrorCode::kInvalidArgument,
                "waveform segment: unknown codec " +
                    std::to_string(static_cast<int>(params.codec)));
  }
  const auto frames =
      static_cast<std::int64_t>(interleaved.size()) / channels;
  const std::size_t raw_bytes = interleaved.size() * 2;

  std::vector<std::uint8_t> out;
  out.reserve(kHeaderBytes + raw_bytes + kTrailerBytes + 8);
  out.resize(kHeaderBytes);
  WaveformCodec codec = params.codec;
  if (codec == WaveformCodec::kPredictiveRice) {
    const bool fits = waveform_internal::EncodePredictiveRice(
        interleaved, channels, frames, raw_bytes, &out);
    if (!fits || out.size() - kHeaderBytes >= raw_bytes) {
      codec = WaveformCodec::kRaw16;  // prediction did not pay
      out.resize(kHeaderBytes);
    }
  }
  if (codec == WaveformCodec::kRaw16) {
    out.resize(kHeaderBytes + raw_bytes);
    std::uint8_t* p = out.data() + kHeaderBytes;
    for (const std::int16_t s : interleaved) {
      PutLe(p, static_cast<std::uint16_t>(s));
      p += 2;
    }
  }
  const std::size_t payload_bytes = out.size() - kHeaderBytes;

  std::uint8_t* h = out.data();
  std::copy(kMagic.begin(), kMagic.end(), h);
  h[kVersionAt] = kWaveformFormatVersion;
  h[kCodecAt] = static_cast<std::uint8_t>(codec);
  PutLe(h + kChannelsAt, static_cast<std::uint16_t>(channels));
  PutLe(h + kFramesAt, static_cast<std::uint32_t>(frames));
  PutLe(h + kRateAt, params.sample_rate_millihertz);
  PutLe(h + kLsbAt, params.lsb_nanovolts);
  PutLe(h + kFirstFrameAt, params.first_frame);
  PutLe(h + kPayloadLengthAt, static_cast<std::uint32_t>(payload_bytes));
  PutLe(h + kReservedAt, std::uint32_t{0});

  const std::uint32_t crc = Crc32c(out);
  out.resize(out.size() + kTrailerBytes);
  PutLe(out.data() + out.size() - kTrailerBytes, crc);
  return out;
}

Result<SegmentInfo> ReadSegmentInfo(std::span<const std::uint8_t> bytes) {
  const std::size_t size = bytes.size();
  const std::uint8_t* b = bytes.data();
  if (size < kMagic.size() || !std::equal(kMagic.begin(), kMagic.end(), b)) {
    // An empty or short prefix of the magic is truncation, not garbage.
    if (size < kMagic.size() && std::equal(b, b + size, kMagic.begin())) {
      return Fail(Corrupt("truncated: " + std::to_string(size) + " bytes"));
    }
    return Fail(Corrupt("bad magic"));
  }
  if (size <= kVersionAt) {
    return Fail(Corrupt("truncated: " + std::to_string(size) + " bytes"));
  }
  if (b[kVersionAt] != kWaveformFormatVersion) {
    return Fail(ErrorCode::kUnsupported,
                "waveform segment: format version " +
                    std::to_string(b[kVersionAt]) + "; this build reads " +
                    std::to_string(kWaveformFormatVersion));
  }
  if (size < kSegmentOverheadBytes) {
    return Fail(Corrupt("truncated header: " + std::to_string(size) +
                        " of at least " +
                        std::to_string(kSegmentOverheadBytes) + " bytes"));
  }
  SegmentInfo info;
  info.payload_bytes = GetLe<std::uint32_t>(b + kPayloadLengthAt);
  const std::size_t expected =
      kSegmentOverheadBytes + static_cast<std::size_t>(info.payload_bytes);
  if (size < expected) {
    return Fail(Corrupt("truncated: " + std::to_string(size) + " of " +
                        std::to_string(expected) + " bytes"));
  }
  if (size > expected) {
    return Fail(Corrupt(std::to_string(size - expected) +
                        " trailing bytes after the checksum"));
  }
  const std::uint32_t stored = GetLe<std::uint32_t>(b + size - kTrailerBytes);
  const std::uint32_t computed = Crc32c(bytes.first(size - kTrailerBytes));
  if (stored != computed) {
    return Fail(Corrupt("checksum mismatch (stored " + std::to_string(stored) +
                        ", computed " + std::to_string(computed) + ")"));
  }

  const std::uint8_t codec = b[kCodecAt];
  if (codec == 0) return Fail(Corrupt("codec id 0"));
  if (codec != static_cast<std::uint8_t>(WaveformCodec::kRaw16) &&
      codec != static_cast<std::uint8_t>(WaveformCodec::kPredictiveRice)) {
    return Fail(ErrorCode::kUnsupported, "waveform segment: codec id " +
                                             std::to_string(codec) +
                                             " unknown to this build");
  }
  info.codec = static_cast<WaveformCodec>(codec);
  info.channels = GetLe<std::uint16_t>(b + kChannelsAt);
  info.frames = GetLe<std::uint32_t>(b + kFramesAt);
  info.sample_rate_millihertz = GetLe<std::uint32_t>(b + kRateAt);
  info.lsb_nanovolts = GetLe<std::uint32_t>(b + kLsbAt);
  info.first_frame = GetLe<std::uint64_t>(b + kFirstFrameAt);
  if (info.channels < 1 || info.channels > kMaxSegmentChannels) {
    return Fail(Corrupt("channel count " + std::to_string(info.channels) +
                        " outside 1.." + std::to_string(kMaxSegmentChannels)));
  }
  if (info.frames * info.channels > kMaxSegmentSamples) {
    return Fail(Corrupt(std::to_string(info.frames) + " frames x " +
                        std::to_string(info.channels) +
                        " channels exceeds the limit of " +
                        std::to_string(kMaxSegmentSamples) + " samples"));
  }
  if (info.sample_rate_millihertz == 0) return Fail(Corrupt("sample rate 0"));
  if (info.lsb_nanovolts == 0) return Fail(Corrupt("lsb 0"));
  if (GetLe<std::uint32_t>(b + kReservedAt) != 0) {
    return Fail(Corrupt("reserved field is not zero"));
  }
  return info;
}

Result<DecodedSegment> DecodeSegment(std::span<const std::uint8_t> bytes) {
  Result<SegmentInfo> info = ReadSegmentInfo(bytes);
  if (!info) return Fail(info.error());
  DecodedSegment seg;
  seg.info = *info;
  const auto count =
      static_cast<std::size_t>(info->frames * info->channels);
  const std::span<const std::uint8_t> payload =
      bytes.subspan(kHeaderBytes, info->payload_bytes);
  if (info->codec == WaveformCodec::kRaw16) {
    if (payload.size() != count * 2) {
      return Fail(Corrupt("raw16 payload of " +
                          std::to_string(payload.size()) + " bytes for " +
                          std::to_string(count) + " samples"));
    }
    seg.samples.resize(count);
    for (std::size_t i = 0; i < count; ++i) {
      seg.samples[i] = static_cast<std::int16_t>(
          GetLe<std::uint16_t>(payload.data() + 2 * i));
    }
    return seg;
  }
  seg.samples.resize(count);
  Status status = waveform_internal::DecodePredictiveRice(
      payload, info->channels, info->frames, seg.samples);
  if (!status) return Fail(status.error());
  return seg;
}

}  // namespace pulse::engine
