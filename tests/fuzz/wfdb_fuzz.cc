// libFuzzer target for the sans-I/O WFDB parsers (pulse/dsp/wfdb.h).
//
// Every input goes through all three parsers, so real .hea, .atr and .dat
// files all make useful seeds without a selector byte. Besides crashes
// (ASan/UBSan), the target traps when a documented invariant breaks:
// accepted headers within their bounds, accepted annotations at sample >= 0
// with codes 0..49, errors that name where they are, and the signal
// decoder giving the same samples for whole and chunked input.
//
// Built only with clang and -DPULSE_FUZZ=ON (see tests/CMakeLists.txt):
//   CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DPULSE_FUZZ=ON
//   cmake --build build-fuzz --target wfdb_fuzz
//   mkdir -p /tmp/wfdb-corpus    # new inputs go here, not into the repo
//   build-fuzz/tests/wfdb_fuzz -max_total_time=120 -max_len=8192 \
//       /tmp/wfdb-corpus ../shared/data/mitdb ../shared/data/ludb
// A crash leaves crash-<sha1> in the working folder; replay it with
// `build-fuzz/tests/wfdb_fuzz crash-<sha1>`.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "pulse/dsp/wfdb.h"

namespace {

using namespace pulse::dsp::wfdb;  // NOLINT: a fuzz harness, not an API

void Check(bool condition) {
  if (!condition) __builtin_trap();
}

bool StartsWith(const std::string& text, std::string_view prefix) {
  return text.rfind(prefix, 0) == 0;
}

void FuzzHeader(std::span<const std::uint8_t> bytes) {
  auto header = ParseHeader(std::string_view(
      reinterpret_cast<const char*>(bytes.data()), bytes.size()));
  if (!header) {
    const std::string& m = header.error().message();
    Check(StartsWith(m, "line ") || StartsWith(m, "empty header") ||
          StartsWith(m, "record line declares"));
    return;
  }
  Check(header->sampling_frequency_hz > 0 &&
        header->sampling_frequency_hz <= 1e6);
  Check(header->num_frames >= 0);
  Check(header->signals.size() <= 4096);
  for (const SignalSpec& spec : header->signals) {
    Check(spec.gain_adu_per_unit != 0);
    Check(spec.samples_per_frame >= 1 && spec.byte_offset >= 0);
    (void)MillivoltsPerAdu(spec);
  }
}

void FuzzAnnotations(std::span<const std::uint8_t> bytes) {
  auto annotations = ParseAnnotations(bytes);
  if (!annotations) {
    Check(StartsWith(annotations.error().message(), "byte offset "));
    return;
  }
  Check(annotations->size() <= bytes.size() / 2);
  for (const Annotation& a : *annotations) {
    Check(a.sample >= 0);
    Check(static_cast<unsigned>(a.code) <= 49);
    Check(!Mnemonic(a.code).empty());
    (void)IsBeat(a.code);
  }
}

void FuzzDecoder(std::span<const std::uint8_t> bytes, int format) {
  auto whole = SignalDecoder::Create(format);
  auto chunked = SignalDecoder::Create(format);
  Check(whole.has_value() && chunked.has_value());
  std::vector<std::int16_t> a, b;
  whole->Feed(bytes, &a);
  // Chunk sizes 1..8 taken from the input itself, so the fuzzer explores
  // them (never 0: the loop must make progress).
  std::size_t at = 0;
  for (std::size_t i = 0; at < bytes.size(); ++i) {
    const std::size_t n = std::min<std::size_t>(1 + bytes[i % bytes.size()] % 8,
                                                bytes.size() - at);
    chunked->Feed(bytes.subspan(at, n), &b);
    at += n;
  }
  Check(whole->Finish(&a) == chunked->Finish(&b));
  Check(a == b);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  const std::span<const std::uint8_t> bytes(data, size);
  FuzzHeader(bytes);
  FuzzAnnotations(bytes);
  FuzzDecoder(bytes, 212);
  FuzzDecoder(bytes, 16);
  return 0;
}
