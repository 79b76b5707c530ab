// Cost of the median-beat stage on a 10 s, 12-lead, 500 Hz ECG (synthetic,
// 75/min, 20 uV noise, 12 beats), one core:
//   BM_MedianBeats           BuildMedianBeats alone
//   BM_MedianDelineation     DelineateMedianBeats (with the beats, as the
//                            analysis calls it)
//   BM_MedianStage           both: the ~0.5 ms budget of issue 3's 2 ms
//   BM_PerBeatDelineation    DelineateBeats (evaluation only; it builds and
//                            delineates a median too)
//
// Run: build/benchmarks/delineation_benchmark (real_time per iteration).
#include <benchmark/benchmark.h>

#include <vector>

#include "pulse/dsp/delineation.h"
#include "pulse/dsp/ecg_synth.h"
#include "pulse/dsp/median_beat.h"

namespace pulse::dsp {
namespace {

struct Input {
  SynthEcg ecg;
  std::vector<ClassifiedBeat> beats;
};

const Input& TenSeconds() {
  static const Input input = [] {
    EcgSynthConfig config;
    config.heart_rate_bpm = 75.0;
    config.noise_uv = 20.0;
    config.baseline_wander_uv = 100.0;
    Input in;
    in.ecg = SynthesizeEcg(config).value();
    for (const SynthBeat& b : in.ecg.beats) {
      in.beats.push_back({b.r_sample, BeatClass::kNormal, 1.0f});
    }
    return in;
  }();
  return input;
}

void BM_MedianBeats(benchmark::State& state) {
  const Input& in = TenSeconds();
  for (auto _ : state) {
    auto m = BuildMedianBeats(in.ecg.interleaved_mv, kSynthNumLeads,
                              in.ecg.sample_rate_hz, in.beats);
    benchmark::DoNotOptimize(m);
  }
}
BENCHMARK(BM_MedianBeats)->Unit(benchmark::kMicrosecond);

void BM_MedianDelineation(benchmark::State& state) {
  const Input& in = TenSeconds();
  const MedianBeatSet m = BuildMedianBeats(in.ecg.interleaved_mv,
                                           kSynthNumLeads,
                                           in.ecg.sample_rate_hz, in.beats)
                              .value();
  for (auto _ : state) {
    auto d = DelineateMedianBeats(m, in.ecg.interleaved_mv, in.beats);
    benchmark::DoNotOptimize(d);
  }
}
BENCHMARK(BM_MedianDelineation)->Unit(benchmark::kMicrosecond);

void BM_MedianStage(benchmark::State& state) {
  const Input& in = TenSeconds();
  for (auto _ : state) {
    auto m = BuildMedianBeats(in.ecg.interleaved_mv, kSynthNumLeads,
                              in.ecg.sample_rate_hz, in.beats);
    auto d = DelineateMedianBeats(*m, in.ecg.interleaved_mv, in.beats);
    benchmark::DoNotOptimize(d);
  }
}
BENCHMARK(BM_MedianStage)->Unit(benchmark::kMicrosecond);

void BM_PerBeatDelineation(benchmark::State& state) {
  const Input& in = TenSeconds();
  for (auto _ : state) {
    auto d = DelineateBeats(in.ecg.interleaved_mv, kSynthNumLeads,
                            in.ecg.sample_rate_hz, in.beats);
    benchmark::DoNotOptimize(d);
  }
}
BENCHMARK(BM_PerBeatDelineation)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace pulse::dsp
