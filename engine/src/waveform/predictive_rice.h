// Codec 2 of the waveform segment format, `predictive_rice`: the payload
// only (the header, limits and checksum are segment.cc's). The bit stream
// is specified in docs/formats/waveform_segment.md, "Codec 2".
//
// Thread-safety: pure functions.
#ifndef PULSE_ENGINE_SRC_WAVEFORM_PREDICTIVE_RICE_H_
#define PULSE_ENGINE_SRC_WAVEFORM_PREDICTIVE_RICE_H_

#include <cstdint>
#include <span>
#include <vector>

#include "pulse/base/result.h"

namespace pulse::engine::waveform_internal {

// Appends the codec-2 payload for `interleaved` (frames * channels samples)
// to `out`. Returns false (and leaves `out` with unspecified trailing bytes)
// when the payload would exceed `max_bytes`.
// REQUIRES: 1 <= channels <= 64, sizes already validated.
bool EncodePredictiveRice(std::span<const std::int16_t> interleaved,
                          int channels, std::int64_t frames,
                          std::size_t max_bytes,
                          std::vector<std::uint8_t>* out);

// Decodes a codec-2 payload into `out` (frames * channels samples,
// interleaved). Returns kCorruption naming the channel and the fault.
// REQUIRES: out.size() == frames * channels, 1 <= channels <= 64.
Status DecodePredictiveRice(std::span<const std::uint8_t> payload,
                            int channels, std::int64_t frames,
                            std::span<std::int16_t> out);

}  // namespace pulse::engine::waveform_internal

#endif  // PULSE_ENGINE_SRC_WAVEFORM_PREDICTIVE_RICE_H_
