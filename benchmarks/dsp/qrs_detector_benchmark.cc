// Throughput of the QRS detector on one core, in input frames per second
// and as a multiple of real time, over MIT-BIH record 101 (2 leads, 360 Hz)
// and over a 12-lead 500 Hz signal made from LUDB record 1 repeated.
// Ranges over the chunk size fed to Process(), since a recording pipeline
// feeds small chunks and an offline re-analysis feeds whole records.
//
// Run: build/benchmarks/qrs_detector_benchmark
// Needs ../shared/data (or PULSE_DATA_DIR); skips with a message otherwise.
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include "pulse/dsp/qrs_detector.h"
#include "pulse/dsp/wfdb_file.h"

namespace pulse::dsp {
namespace {

std::filesystem::path DataDir() {
  const char* env = std::getenv("PULSE_DATA_DIR");
  return env != nullptr && *env != '\0' ? env : PULSE_DATA_DIR;
}

struct Signal {
  double rate_hz = 0;
  int leads = 0;
  std::vector<float> mv;  // interleaved
  std::string error;
};

Signal LoadMillivolts(const std::string& relative, int repeat) {
  Signal signal;
  auto record = wfdb::ReadRecord(DataDir() / relative);
  if (!record) {
    signal.error = record.error().ToString();
    return signal;
  }
  signal.rate_hz = record->header.sampling_frequency_hz;
  signal.leads = record->num_signals();
  for (int r = 0; r < repeat; ++r) {
    for (std::size_t i = 0; i < record->samples.size(); ++i) {
      const auto& spec =
          record->header.signals[i % static_cast<std::size_t>(signal.leads)];
      signal.mv.push_back(
          static_cast<float>((record->samples[i] - spec.baseline_adu) *
                             wfdb::MillivoltsPerAdu(spec).value()));
    }
  }
  return signal;
}

void RunDetector(benchmark::State& state, const Signal& signal) {
  if (!signal.error.empty()) {
    state.SkipWithError(signal.error.c_str());
    return;
  }
  const auto chunk = static_cast<std::size_t>(state.range(0)) *
                     static_cast<std::size_t>(signal.leads);
  std::vector<QrsDetection> beats;
  beats.reserve(1 << 16);
  for (auto _ : state) {
    auto detector = QrsDetector::Create({signal.rate_hz, signal.leads}).value();
    beats.clear();
    for (std::size_t i = 0; i < signal.mv.size(); i += chunk) {
      const std::size_t n = std::min(chunk, signal.mv.size() - i);
      detector.Process(std::span<const float>(signal.mv.data() + i, n), &beats);
    }
    detector.Finish(&beats);
    benchmark::DoNotOptimize(beats.data());
  }
  const auto frames =
      static_cast<std::int64_t>(signal.mv.size()) / signal.leads;
  state.SetItemsProcessed(state.iterations() * frames);
  state.counters["x_real_time"] = benchmark::Counter(
      static_cast<double>(frames) / signal.rate_hz *
          static_cast<double>(state.iterations()),
      benchmark::Counter::kIsRate);
  state.counters["beats"] = static_cast<double>(beats.size());
}

void BM_QrsDetectorMitdb101(benchmark::State& state) {
  static const Signal signal = LoadMillivolts("mitdb/101", 1);
  RunDetector(state, signal);
}
BENCHMARK(BM_QrsDetectorMitdb101)->Arg(1)->Arg(36)->Arg(360)->Arg(4096)
    ->Arg(1 << 20)->Unit(benchmark::kMillisecond);

void BM_QrsDetectorLudb12Lead(benchmark::State& state) {
  static const Signal signal = LoadMillivolts("ludb/1", 60);  // 10 minutes
  RunDetector(state, signal);
}
BENCHMARK(BM_QrsDetectorLudb12Lead)->Arg(50)->Arg(4096)
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace pulse::dsp
