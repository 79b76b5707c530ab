// Time of ClassifyBeats on one core: the stage's share of the 2 ms budget
// for a whole 10 s, 12-lead, 500 Hz analysis (issue 3), on a synthetic
// 10 s 12-lead ECG with two PVCs and on LUDB record 1 (real, 10 s, 12
// leads); and its throughput on a 30-minute MIT-BIH record (2 leads,
// 360 Hz). Beats come from QrsDetector, outside the timed loop.
//
// Run: build/benchmarks/beat_classifier_benchmark
// The LUDB and MIT-BIH cases need ../shared/data (or PULSE_DATA_DIR) and
// skip with a message otherwise.
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include "pulse/dsp/beat_classifier.h"
#include "pulse/dsp/ecg_synth.h"
#include "pulse/dsp/qrs_detector.h"
#include "pulse/dsp/wfdb_file.h"

namespace pulse::dsp {
namespace {

std::filesystem::path DataDir() {
  const char* env = std::getenv("PULSE_DATA_DIR");
  return env != nullptr && *env != '\0' ? env : PULSE_DATA_DIR;
}

struct Input {
  double rate_hz = 0.0;
  int leads = 0;
  std::vector<float> mv;  // interleaved
  std::vector<std::int64_t> beats;
  std::string error;
};

void Detect(Input* input) {
  auto detector = QrsDetector::Create({input->rate_hz, input->leads}).value();
  std::vector<QrsDetection> found;
  detector.Process(input->mv, &found);
  detector.Finish(&found);
  for (const QrsDetection& d : found) input->beats.push_back(d.sample);
}

Input Synthetic() {
  EcgSynthConfig config;
  config.duration_s = 10.0;
  config.pvc_beat_indices = {4, 8};
  Input input;
  input.rate_hz = config.sample_rate_hz;
  input.leads = kSynthNumLeads;
  input.mv = SynthesizeEcg(config).value().interleaved_mv;
  Detect(&input);
  return input;
}

Input FromRecord(const std::string& relative) {
  Input input;
  auto record = wfdb::ReadRecord(DataDir() / relative);
  if (!record) {
    input.error = record.error().ToString();
    return input;
  }
  input.rate_hz = record->header.sampling_frequency_hz;
  input.leads = record->num_signals();
  input.mv.reserve(record->samples.size());
  for (std::size_t i = 0; i < record->samples.size(); ++i) {
    const auto& spec =
        record->header.signals[i % static_cast<std::size_t>(input.leads)];
    input.mv.push_back(
        static_cast<float>((record->samples[i] - spec.baseline_adu) *
                           wfdb::MillivoltsPerAdu(spec).value()));
  }
  Detect(&input);
  return input;
}

void RunClassifier(benchmark::State& state, const Input& input) {
  if (!input.error.empty()) {
    state.SkipWithError(input.error.c_str());
    return;
  }
  BeatClassifierConfig config;
  config.sample_rate_hz = input.rate_hz;
  config.num_leads = input.leads;
  for (auto _ : state) {
    auto beats = ClassifyBeats(input.mv, input.beats, config);
    benchmark::DoNotOptimize(beats);
  }
  state.SetItemsProcessed(state.iterations() *
                          static_cast<std::int64_t>(input.beats.size()));
  state.counters["beats"] = static_cast<double>(input.beats.size());
}

void BM_ClassifySynthetic12Lead10s(benchmark::State& state) {
  static const Input input = Synthetic();
  RunClassifier(state, input);
}
BENCHMARK(BM_ClassifySynthetic12Lead10s)->Unit(benchmark::kMicrosecond);

void BM_ClassifyLudb12Lead10s(benchmark::State& state) {
  static const Input input = FromRecord("ludb/1");
  RunClassifier(state, input);
}
BENCHMARK(BM_ClassifyLudb12Lead10s)->Unit(benchmark::kMicrosecond);

void BM_ClassifyMitdb30min(benchmark::State& state) {
  static const Input input = FromRecord("mitdb/208");
  RunClassifier(state, input);
}
BENCHMARK(BM_ClassifyMitdb30min)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace pulse::dsp
