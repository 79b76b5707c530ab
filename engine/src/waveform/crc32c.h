// CRC-32C (Castagnoli), the checksum trailer of a waveform segment
// (docs/formats/waveform_segment.md). Reflected polynomial 0x82F63B78,
// initial value and final xor 0xFFFFFFFF — the iSCSI / ext4 / LevelDB CRC,
// so Crc32c("123456789") == 0xE3069283.
//
// Software slicing-by-8 (Kounavis & Berry 2005): no CPU feature checks, a
// few GB/s, well below the cost of decoding the payload it guards.
//
// Thread-safety: pure function over constant tables.
#ifndef PULSE_ENGINE_SRC_WAVEFORM_CRC32C_H_
#define PULSE_ENGINE_SRC_WAVEFORM_CRC32C_H_

#include <cstdint>
#include <span>

namespace pulse::engine::waveform_internal {

// Returns the CRC-32C of `bytes`.
std::uint32_t Crc32c(std::span<const std::uint8_t> bytes);

}  // namespace pulse::engine::waveform_internal

#endif  // PULSE_ENGINE_SRC_WAVEFORM_CRC32C_H_
