// Time of DetectAtrialFibrillation on the two typical inputs: a 10 s
// 12-lead 500 Hz clinic ECG (bar: the whole analysis in 2 ms, this stage
// ~0.2 ms) and a 30 min 2-lead 360 Hz Holter-like record, both synthetic
// (ecg_synth.h) with an AF span, beats from the generator's ground truth.
//
// Run: build/benchmarks/af_detector_benchmark
#include <benchmark/benchmark.h>

#include <vector>

#include "pulse/dsp/af_detector.h"
#include "pulse/dsp/ecg_synth.h"

namespace pulse::dsp {
namespace {

void BM_DetectAtrialFibrillation(benchmark::State& state, double duration_s,
                                 double rate_hz) {
  EcgSynthConfig synth;
  synth.sample_rate_hz = rate_hz;
  synth.duration_s = duration_s;
  synth.heart_rate_bpm = 90.0;
  synth.hrv_sd_ms = 20.0;
  synth.af_spans = {{duration_s * 0.3, duration_s * 0.8}};
  auto ecg = SynthesizeEcg(synth);
  if (!ecg) {
    state.SkipWithError(ecg.error().ToString().c_str());
    return;
  }
  std::vector<ClassifiedBeat> beats;
  for (const SynthBeat& b : ecg->beats) {
    beats.push_back({b.r_sample, BeatClass::kNormal, 1.0f});
  }
  AfDetectorConfig config;
  config.sample_rate_hz = rate_hz;
  config.num_leads = kSynthNumLeads;
  for (auto _ : state) {
    auto episodes = DetectAtrialFibrillation(beats, ecg->interleaved_mv, config);
    benchmark::DoNotOptimize(episodes);
  }
  state.SetItemsProcessed(state.iterations() *
                          static_cast<std::int64_t>(beats.size()));
}

BENCHMARK_CAPTURE(BM_DetectAtrialFibrillation, ecg_10s_12lead_500hz, 10.0,
                  500.0)
    ->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_DetectAtrialFibrillation, holter_30min_12lead_360hz,
                  1800.0, 360.0)
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace pulse::dsp
