// Cost of the whole one-call analysis (analysis.h) of a 10 s, 12-lead,
// 500 Hz ECG on one core — the bar is 2 ms, so that re-analysing 10 000
// stored ECGs takes under a minute — and of each stage on the same input,
// so that a regression points at its stage.
//
// Inputs: the 100 LUDB records (real 12-lead, 500 Hz, 10 s), analysed in
// turn, one record per iteration; and a synthetic sinus ECG with PVCs.
// BM_QrsDetectorOnly runs the QRS detector alone over the same records in
// the same process: analysis time / detector time is the figure to compare
// across machines (shared machines are noisy in absolute terms).
//
// Run: build/benchmarks/analysis_benchmark
// Needs ../shared/data (or PULSE_DATA_DIR) for the LUDB cases.
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include "pulse/dsp/af_detector.h"
#include "pulse/dsp/analysis.h"
#include "pulse/dsp/beat_classifier.h"
#include "pulse/dsp/delineation.h"
#include "pulse/dsp/ecg_synth.h"
#include "pulse/dsp/leads.h"
#include "pulse/dsp/qrs_detector.h"
#include "pulse/dsp/signal_quality.h"
#include "pulse/dsp/wfdb_file.h"

namespace pulse::dsp {
namespace {

constexpr int kLeads = kNumStandardLeads;

std::filesystem::path DataDir() {
  const char* env = std::getenv("PULSE_DATA_DIR");
  return env != nullptr && *env != '\0' ? env : PULSE_DATA_DIR;
}

// The LUDB records in standard lead order, millivolts; empty when the data
// folder is missing.
const std::vector<std::vector<float>>& LudbRecords() {
  static const auto* records = [] {
    auto* out = new std::vector<std::vector<float>>;
    for (int id = 1; id <= 100; ++id) {
      auto record = wfdb::ReadRecord(DataDir() / "ludb" / std::to_string(id));
      if (!record) continue;
      auto mv = wfdb::ToMillivolts(*record);
      if (!mv) continue;
      auto leads = Derive12Lead(*mv, wfdb::SignalNames(record->header));
      if (leads) out->push_back(std::move(leads->samples_mv));
    }
    return out;
  }();
  return *records;
}

const std::vector<float>& SyntheticRecord() {
  static const auto* record = [] {
    EcgSynthConfig config;
    config.duration_s = 10.0;
    config.heart_rate_bpm = 75.0;
    config.hrv_sd_ms = 40.0;
    config.pvc_beat_indices = {3, 7};
    config.noise_uv = 20.0;
    return new std::vector<float>(SynthesizeEcg(config).value().interleaved_mv);
  }();
  return *record;
}

bool NeedLudb(benchmark::State& state) {
  if (!LudbRecords().empty()) return true;
  state.SkipWithError("LUDB records not found under PULSE_DATA_DIR");
  return false;
}

void CountEcgs(benchmark::State& state) {
  state.SetItemsProcessed(state.iterations());  // items = ECGs analysed
}

void BM_AnalyzeLudb(benchmark::State& state) {
  if (!NeedLudb(state)) return;
  const auto& records = LudbRecords();
  std::size_t next = 0;
  for (auto _ : state) {
    auto analysis = AnalyzeEcg(records[next], AnalysisConfig{});
    benchmark::DoNotOptimize(analysis);
    next = (next + 1) % records.size();
  }
  CountEcgs(state);
}
BENCHMARK(BM_AnalyzeLudb)->Unit(benchmark::kMicrosecond);

void BM_AnalyzeSynthetic(benchmark::State& state) {
  const auto& record = SyntheticRecord();
  for (auto _ : state) {
    auto analysis = AnalyzeEcg(record, AnalysisConfig{});
    benchmark::DoNotOptimize(analysis);
  }
  CountEcgs(state);
}
BENCHMARK(BM_AnalyzeSynthetic)->Unit(benchmark::kMicrosecond);

// --- the stages alone, on the LUDB records ---

std::vector<std::int64_t> Detect(const std::vector<float>& record) {
  auto detector = QrsDetector::Create({500.0, kLeads}).value();
  std::vector<QrsDetection> found;
  detector.Process(record, &found);
  detector.Finish(&found);
  std::vector<std::int64_t> samples;
  for (const auto& d : found) samples.push_back(d.sample);
  return samples;
}

void BM_QrsDetectorOnly(benchmark::State& state) {
  if (!NeedLudb(state)) return;
  const auto& records = LudbRecords();
  std::size_t next = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(Detect(records[next]));
    next = (next + 1) % records.size();
  }
  CountEcgs(state);
}
BENCHMARK(BM_QrsDetectorOnly)->Unit(benchmark::kMicrosecond);

void BM_SignalQualityOnly(benchmark::State& state) {
  if (!NeedLudb(state)) return;
  const auto& records = LudbRecords();
  std::size_t next = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(AssessSignalQuality(
        records[next], SignalQualityConfig{.sample_rate_hz = 500.0,
                                           .num_leads = kLeads}));
    next = (next + 1) % records.size();
  }
  CountEcgs(state);
}
BENCHMARK(BM_SignalQualityOnly)->Unit(benchmark::kMicrosecond);

// Classification, AF, median beats and delineation on precomputed beats.
void BM_BeatStagesOnly(benchmark::State& state) {
  if (!NeedLudb(state)) return;
  const auto& records = LudbRecords();
  std::vector<std::vector<std::int64_t>> qrs;
  for (const auto& r : records) qrs.push_back(Detect(r));
  std::size_t next = 0;
  for (auto _ : state) {
    auto beats = ClassifyBeats(records[next], qrs[next],
                               {.sample_rate_hz = 500.0, .num_leads = kLeads});
    auto af = DetectAtrialFibrillation(*beats, records[next],
                                       {.sample_rate_hz = 500.0, .num_leads = kLeads});
    auto medians = BuildMedianBeats(records[next], kLeads, 500.0, *beats);
    if (medians) benchmark::DoNotOptimize(DelineateMedianBeats(*medians));
    benchmark::DoNotOptimize(af);
    next = (next + 1) % records.size();
  }
  CountEcgs(state);
}
BENCHMARK(BM_BeatStagesOnly)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace pulse::dsp
