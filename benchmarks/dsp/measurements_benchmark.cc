// Cost of the two last analysis stages on a 10 s, 12-lead, 500 Hz ECG:
// ComputeMeasurements (median beat of 1 s × 12 leads, ~12 beats) and
// FindRhythms (the same beats, with PVCs), and of FindRhythms on a 30-minute
// Holter-like beat list. Both should cost microseconds against the 2 ms
// budget of the whole analysis (issue 3).
//
// Run: build/benchmarks/measurements_benchmark  (items = beats).
#include <benchmark/benchmark.h>

#include <cstdint>
#include <vector>

#include "pulse/dsp/ecg_synth.h"
#include "pulse/dsp/measurements.h"
#include "pulse/dsp/rhythm_findings.h"

namespace pulse::dsp {
namespace {

struct Fixture {
  MedianBeatSet medians;
  WaveFiducials global;
  std::vector<ClassifiedBeat> beats;
  std::int64_t frames = 0;
};

// A synthetic record; the median is one beat's window copied (its values
// do not change the cost).
Fixture Make(double duration_s) {
  EcgSynthConfig config;
  config.duration_s = duration_s;
  config.hrv_sd_ms = 30.0;
  config.pvc_probability = 0.1;
  Fixture f;
  auto ecg = SynthesizeEcg(config);
  if (!ecg) return f;
  f.frames = ecg->num_frames();
  for (const SynthBeat& b : ecg->beats) {
    f.beats.push_back({b.r_sample,
                       b.beat_class == SynthBeatClass::kNormal
                           ? BeatClass::kNormal
                           : BeatClass::kVentricular,
                       1.0f});
  }
  const std::int64_t pre = 175, length = 500;
  f.medians.sample_rate_hz = config.sample_rate_hz;
  f.medians.num_leads = kNumStandardLeads;
  f.medians.length_frames = length;
  f.medians.fiducial_index = pre;
  const SynthBeat& b = ecg->beats[1];
  for (int lead = 0; lead < kNumStandardLeads; ++lead) {
    for (std::int64_t i = 0; i < length; ++i) {
      f.medians.samples_mv.push_back(
          ecg->at(b.r_sample - pre + i, static_cast<SynthLead>(lead)));
    }
  }
  auto map = [&](std::int64_t s) { return s - b.r_sample + pre; };
  f.global = {map(b.p_on), map(b.p_off), map(b.qrs_on), map(b.qrs_off),
              map(b.t_off)};
  return f;
}

void BM_ComputeMeasurements(benchmark::State& state) {
  const Fixture f = Make(10.0);
  for (auto _ : state) {
    auto m = ComputeMeasurements(f.medians, f.global, f.beats);
    benchmark::DoNotOptimize(m);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) *
                          static_cast<std::int64_t>(f.beats.size()));
}
BENCHMARK(BM_ComputeMeasurements);

void BM_FindRhythms(benchmark::State& state) {
  const Fixture f = Make(static_cast<double>(state.range(0)));
  RhythmContext context;
  context.record_length_frames = f.frames;
  context.normal_beats_have_p_waves = true;
  for (auto _ : state) {
    auto r = FindRhythms(f.beats, {}, context);
    benchmark::DoNotOptimize(r);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) *
                          static_cast<std::int64_t>(f.beats.size()));
}
BENCHMARK(BM_FindRhythms)->Arg(10)->Arg(1800);

}  // namespace
}  // namespace pulse::dsp
