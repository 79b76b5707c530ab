// Waveform segments: the lossless codec for multi-channel int16 ECG.
//
// A recording's samples are stored as segments (e.g. 10 s of every channel),
// each an immutable, content-addressed blob (DESIGN.md §3). A segment is
// self-describing (channels, frames, rate, lsb, place in the recording),
// versioned and CRC-32C checked; its byte layout and the codec are written
// down in docs/formats/waveform_segment.md.
//
// The codec (`kPredictiveRice`) predicts each channel with a fixed
// polynomial (Shorten / FLAC) and, optionally, from up to three channels
// stored before it, then codes the residuals with partitioned Rice codes. It
// is lossless for every input: the encoder falls back to raw int16 whenever
// prediction does not pay.
//
// Pure computation: no I/O, no global state. Encode and Decode never throw,
// never read out of bounds, and allocate at most a small multiple of the
// (validated) declared sample count, which is capped at kMaxSegmentSamples.
//
// Thread-safety: free functions, reentrant.
#ifndef PULSE_ENGINE_WAVEFORM_CODEC_H_
#define PULSE_ENGINE_WAVEFORM_CODEC_H_

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "pulse/base/result.h"

namespace pulse::engine {

// Codec ids as stored in byte 9 of a segment. Never renumbered; 0 is never
// valid.
enum class WaveformCodec : std::uint8_t {
  kRaw16 = 1,           // interleaved little-endian int16, uncompressed
  kPredictiveRice = 2,  // prediction + partitioned Rice codes
};

inline constexpr std::uint8_t kWaveformFormatVersion = 1;
inline constexpr int kMaxSegmentChannels = 64;
// N frames x C channels may not exceed this (8 MiB of int16).
inline constexpr std::int64_t kMaxSegmentSamples = std::int64_t{1} << 22;
// Header (40 bytes) + CRC-32C trailer (4 bytes).
inline constexpr std::size_t kSegmentOverheadBytes = 44;

struct SegmentParams {
  // Sampling rate in millihertz (360 Hz = 360000). REQUIRES: > 0.
  std::uint32_t sample_rate_millihertz = 0;
  // Nanovolts per ADC unit (200 adu/mV = 5000). REQUIRES: > 0.
  std::uint32_t lsb_nanovolts = 0;
  // Index of the segment's first frame within its recording.
  std::uint64_t first_frame = 0;
  // kPredictiveRice (default) stores raw int16 instead when that is not
  // larger; kRaw16 always stores raw.
  WaveformCodec codec = WaveformCodec::kPredictiveRice;
};

// What a segment's header says.
struct SegmentInfo {
  WaveformCodec codec = WaveformCodec::kRaw16;  // as stored
  int channels = 0;
  std::int64_t frames = 0;  // samples per channel
  std::uint32_t sample_rate_millihertz = 0;
  std::uint32_t lsb_nanovolts = 0;
  std::uint64_t first_frame = 0;
  std::size_t payload_bytes = 0;
};

struct DecodedSegment {
  SegmentInfo info;
  std::vector<std::int16_t> samples;  // frames * channels, interleaved
};

// Encodes `interleaved` (frame by frame: ch0, ch1, ..., ch0, ...) as one
// segment.
// REQUIRES: 1 <= channels <= kMaxSegmentChannels, interleaved.size() a
// multiple of channels, at most kMaxSegmentSamples samples (zero is
// allowed), params.sample_rate_millihertz > 0, params.lsb_nanovolts > 0, a
// known params.codec. Violations return kInvalidArgument naming the field.
// Returns the segment's bytes; Decode() of them gives `interleaved` back
// exactly.
Result<std::vector<std::uint8_t>> EncodeSegment(
    std::span<const std::int16_t> interleaved, int channels,
    const SegmentParams& params);

// Decodes a segment. Returns kCorruption naming what is wrong (bad magic,
// truncation, checksum mismatch, a field out of range, a malformed payload),
// or kUnsupported for a format version or codec id this build does not know.
Result<DecodedSegment> DecodeSegment(std::span<const std::uint8_t> bytes);

// Validates the header, length and checksum without decoding the payload.
// Same errors as DecodeSegment for those steps; a payload error can still
// surface in DecodeSegment.
Result<SegmentInfo> ReadSegmentInfo(std::span<const std::uint8_t> bytes);

}  // namespace pulse::engine

#endif  // PULSE_ENGINE_WAVEFORM_CODEC_H_
