// Throughput of EcgFilterChain (samples per second on one core) for the two
// typical record shapes: MIT-BIH-like 360 Hz x 2 leads and 12-lead 500 Hz,
// over block sizes from per-frame streaming (1) to whole-buffer (4096).
// Chains use the defaults: high-pass 0.5 Hz order 2, 50 Hz notch, low-pass
// 40 Hz order 4 (4 biquad sections).
//
// Run: build/benchmarks/filter_benchmark  (items_per_second = samples/s).
#include <benchmark/benchmark.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <numbers>
#include <random>
#include <vector>

#include "pulse/dsp/ecg_filter.h"

namespace pulse::dsp {
namespace {

void BM_EcgFilterChain(benchmark::State& state, double sample_rate_hz,
                       int num_channels) {
  EcgFilterConfig config;
  config.sample_rate_hz = sample_rate_hz;
  config.num_channels = num_channels;
  Result<EcgFilterChain> chain = EcgFilterChain::Create(config);
  if (!chain) {
    state.SkipWithError(chain.error().ToString().c_str());
    return;
  }
  const std::size_t frames = static_cast<std::size_t>(state.range(0));
  const std::size_t samples = frames * static_cast<std::size_t>(num_channels);

  // ECG-like input (1 Hz tone + offset + noise) so that no state decays to
  // subnormal numbers, which would measure the FPU's slow path instead.
  std::mt19937 rng(42);
  std::normal_distribution<float> noise(0.0f, 0.05f);
  std::vector<float> input(samples);
  for (std::size_t i = 0; i < samples; ++i) {
    const double t_s = static_cast<double>(i / static_cast<std::size_t>(
                                                   num_channels)) /
                       sample_rate_hz;
    input[i] = static_cast<float>(
                   1.0 + std::sin(2.0 * std::numbers::pi * t_s)) +
               noise(rng);
  }
  std::vector<float> output(samples);

  for (auto _ : state) {
    chain->ProcessBlock(input, output);
    benchmark::DoNotOptimize(output.data());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) *
                          static_cast<std::int64_t>(samples));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) *
                          static_cast<std::int64_t>(samples * sizeof(float)));
}

// Per-sample API, one frame at a time, for callers that stream sample by
// sample (e.g. a serial-port reader).
void BM_EcgFilterChainPerSample(benchmark::State& state,
                                double sample_rate_hz, int num_channels) {
  EcgFilterConfig config;
  config.sample_rate_hz = sample_rate_hz;
  config.num_channels = num_channels;
  Result<EcgFilterChain> chain = EcgFilterChain::Create(config);
  if (!chain) {
    state.SkipWithError(chain.error().ToString().c_str());
    return;
  }
  const std::size_t frames = static_cast<std::size_t>(state.range(0));
  std::vector<float> input(frames * static_cast<std::size_t>(num_channels));
  std::mt19937 rng(42);
  std::normal_distribution<float> noise(1.0f, 0.5f);
  for (float& s : input) s = noise(rng);

  for (auto _ : state) {
    std::size_t i = 0;
    for (std::size_t frame = 0; frame < frames; ++frame) {
      for (int channel = 0; channel < num_channels; ++channel, ++i) {
        benchmark::DoNotOptimize(chain->Process(channel, input[i]));
      }
    }
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) *
                          static_cast<std::int64_t>(input.size()));
}

BENCHMARK_CAPTURE(BM_EcgFilterChain, 360Hz_2ch, 360.0, 2)
    ->RangeMultiplier(16)
    ->Range(1, 4096);
BENCHMARK_CAPTURE(BM_EcgFilterChain, 500Hz_12ch, 500.0, 12)
    ->RangeMultiplier(16)
    ->Range(1, 4096);
BENCHMARK_CAPTURE(BM_EcgFilterChainPerSample, 360Hz_2ch, 360.0, 2)
    ->Arg(4096);
BENCHMARK_CAPTURE(BM_EcgFilterChainPerSample, 500Hz_12ch, 500.0, 12)
    ->Arg(4096);

}  // namespace
}  // namespace pulse::dsp
