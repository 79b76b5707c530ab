// Waveform segment codec: encode/decode speed on real records, and the
// compression ratios reported in docs/formats/waveform_segment.md.
//
//   build/benchmarks/waveform_codec_benchmark            # ratios + speeds
//   build/benchmarks/waveform_codec_benchmark --benchmark_filter=Ratio
//
// Ratio = coded bytes (header and checksum included) / raw int16 bytes, with
// records cut into 10 s segments as the recording pipeline does.
// "Twelve-lead 10 min" concatenates 60 distinct LUDB records (1..60, 10 s
// each, 12 leads at 500 Hz) as the 60 segments of one recording.
#include <benchmark/benchmark.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "pulse/dsp/wfdb_file.h"
#include "pulse/engine/waveform_codec.h"

namespace {

using pulse::engine::DecodeSegment;
using pulse::engine::EncodeSegment;
using pulse::engine::SegmentParams;

const std::filesystem::path kData = PULSE_DATA_DIR;

// One record cut into 10 s segments.
struct Corpus {
  int channels = 0;
  SegmentParams params;
  std::vector<std::vector<std::int16_t>> segments;
  std::size_t raw_bytes = 0;
};

void AddRecord(const std::filesystem::path& record, Corpus* corpus) {
  auto rec = pulse::dsp::wfdb::ReadRecord(record);
  if (!rec) {
    std::fprintf(stderr, "%s\n", rec.error().ToString().c_str());
    return;
  }
  const int c = rec->num_signals();
  const double rate = rec->header.sampling_frequency_hz;
  corpus->channels = c;
  corpus->params.sample_rate_millihertz =
      static_cast<std::uint32_t>(std::lround(rate * 1000));
  corpus->params.lsb_nanovolts = static_cast<std::uint32_t>(
      std::lround(1e6 / rec->header.signals[0].gain_adu_per_unit));
  const auto seg = static_cast<std::int64_t>(std::lround(rate * 10));
  for (std::int64_t f = 0; f < rec->num_frames(); f += seg) {
    const std::int64_t n = std::min(seg, rec->num_frames() - f);
    const auto* first = rec->samples.data() + f * c;
    corpus->segments.emplace_back(first, first + n * c);
    corpus->raw_bytes += static_cast<std::size_t>(n * c) * 2;
  }
}

const Corpus& Mitdb() {
  static const Corpus corpus = [] {
    Corpus c;
    for (const auto& e : std::filesystem::directory_iterator(kData / "mitdb")) {
      if (e.path().extension() == ".hea") {
        AddRecord(e.path().parent_path() / e.path().stem(), &c);
      }
    }
    return c;
  }();
  return corpus;
}

const Corpus& Ludb60() {
  static const Corpus corpus = [] {
    Corpus c;
    for (int r = 1; r <= 60; ++r) AddRecord(kData / "ludb" / std::to_string(r), &c);
    return c;
  }();
  return corpus;
}

std::size_t CodedBytes(const Corpus& corpus) {
  std::size_t total = 0;
  for (const auto& s : corpus.segments) {
    total += EncodeSegment(s, corpus.channels, corpus.params)->size();
  }
  return total;
}

void ReportRatio(benchmark::State& state, const Corpus& corpus,
                 const char* name) {
  if (corpus.segments.empty()) {
    state.SkipWithError("reference data missing");
    return;
  }
  std::size_t coded = 0;
  for (auto _ : state) {
    coded = CodedBytes(corpus);
    benchmark::DoNotOptimize(coded);
  }
  const double ratio =
      static_cast<double>(coded) / static_cast<double>(corpus.raw_bytes);
  state.counters["ratio_pct"] = 100 * ratio;
  state.counters["bits_per_sample"] = 16 * ratio;
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() *
                                                    corpus.raw_bytes));
  std::printf("%s: %zu segments, raw %zu bytes, coded %zu bytes = %.2f %% "
              "(%.2f bits/sample)\n",
              name, corpus.segments.size(), corpus.raw_bytes, coded,
              100 * ratio, 16 * ratio);
}

void BM_RatioMitdb(benchmark::State& state) {
  ReportRatio(state, Mitdb(), "mitdb (22 x 30 min, 2 leads, 360 Hz)");
}
BENCHMARK(BM_RatioMitdb)->Unit(benchmark::kMillisecond)->Iterations(1);

void BM_RatioTwelveLead10Min(benchmark::State& state) {
  ReportRatio(state, Ludb60(),
              "12-lead 500 Hz 10 min (LUDB 1..60 concatenated)");
}
BENCHMARK(BM_RatioTwelveLead10Min)->Unit(benchmark::kMillisecond)->Iterations(1);

// Speeds in bytes of raw int16 per second, over every segment of the corpus.
void Encode(benchmark::State& state, const Corpus& corpus) {
  if (corpus.segments.empty()) {
    state.SkipWithError("reference data missing");
    return;
  }
  for (auto _ : state) {
    for (const auto& s : corpus.segments) {
      auto enc = EncodeSegment(s, corpus.channels, corpus.params);
      benchmark::DoNotOptimize(enc);
    }
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() *
                                                    corpus.raw_bytes));
}

void Decode(benchmark::State& state, const Corpus& corpus) {
  if (corpus.segments.empty()) {
    state.SkipWithError("reference data missing");
    return;
  }
  std::vector<std::vector<std::uint8_t>> coded;
  for (const auto& s : corpus.segments) {
    coded.push_back(*EncodeSegment(s, corpus.channels, corpus.params));
  }
  for (auto _ : state) {
    for (const auto& b : coded) {
      auto dec = DecodeSegment(b);
      benchmark::DoNotOptimize(dec);
    }
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() *
                                                    corpus.raw_bytes));
}

void BM_EncodeMitdb(benchmark::State& state) { Encode(state, Mitdb()); }
void BM_DecodeMitdb(benchmark::State& state) { Decode(state, Mitdb()); }
void BM_EncodeTwelveLead(benchmark::State& state) { Encode(state, Ludb60()); }
void BM_DecodeTwelveLead(benchmark::State& state) { Decode(state, Ludb60()); }
BENCHMARK(BM_EncodeMitdb)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_DecodeMitdb)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_EncodeTwelveLead)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_DecodeTwelveLead)->Unit(benchmark::kMillisecond);

}  // namespace
