#include "record_eval.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <system_error>

#include "pulse/dsp/qrs_detector.h"

#ifndef PULSE_ECG_EVAL_DATA_DIR
#define PULSE_ECG_EVAL_DATA_DIR "../shared/data"
#endif

namespace pulse::ecg_eval {

namespace fs = std::filesystem;

fs::path DefaultDataDir() {
  const char* env = std::getenv("PULSE_DATA_DIR");
  if (env != nullptr && *env != '\0') return fs::path(env);
  std::error_code ec;
  const fs::path beside_cwd = "../shared/data";
  if (fs::is_directory(beside_cwd, ec)) return beside_cwd;
  return fs::path(PULSE_ECG_EVAL_DATA_DIR).lexically_normal();
}

Result<std::vector<std::string>> ListAnnotatedRecords(const fs::path& dir,
                                                      std::string_view annotator) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    return Fail(ErrorCode::kNotFound, dir.string() + ": no such folder");
  }
  std::vector<std::string> names;
  fs::directory_iterator it(dir, ec);
  if (ec) {
    return Fail(ErrorCode::kIoError, dir.string() + ": " + ec.message());
  }
  for (const fs::directory_entry& entry : it) {
    const fs::path& path = entry.path();
    if (path.extension() != ".hea") continue;
    fs::path annotations = path;
    annotations.replace_extension("." + std::string(annotator));
    if (fs::is_regular_file(annotations, ec)) {
      names.push_back(path.stem().string());
    }
  }
  std::sort(names.begin(), names.end(),
            [](const std::string& a, const std::string& b) {
              return a.size() != b.size() ? a.size() < b.size() : a < b;
            });
  return names;
}

Result<std::vector<std::string>> SelectRecords(
    const fs::path& db, std::vector<std::string> requested,
    std::string_view annotator) {
  if (!requested.empty()) return requested;
  auto listed = ListAnnotatedRecords(db, annotator);
  if (!listed) return listed;
  if (listed->empty()) {
    return Fail(ErrorCode::kNotFound,
                db.string() + ": no annotated records (a .hea with a ." +
                    std::string(annotator) + " beside it)");
  }
  return listed;
}

std::int64_t SecondsToFrames(double seconds, double rate_hz) {
  const double frames = std::floor(seconds * rate_hz + 0.5);
  if (!(frames > 0.0)) return 0;
  constexpr double kMaxFrames = 9.0e15;  // far past any record, fits int64
  return static_cast<std::int64_t>(std::min(frames, kMaxFrames));
}

Result<DetectionResult> DetectionRunner::Run(const dsp::wfdb::Record& record,
                                             const std::string& record_name,
                                             std::int64_t first_frame,
                                             std::int64_t end_frame) {
  const int num_signals = record.num_signals();
  const std::int64_t num_frames = record.num_frames();
  first_frame = std::clamp<std::int64_t>(first_frame, 0, num_frames);
  end_frame = std::clamp<std::int64_t>(end_frame, first_frame, num_frames);

  if (num_signals == 0) {
    return Fail(ErrorCode::kUnsupported,
                "record " + record_name + ": no signals to analyse");
  }

  // Per-signal affine map ADC units -> mV, laid out once per chunk position
  // (frame by frame, like the samples) so that the conversion below is one
  // flat multiply-add loop the compiler vectorises for any lead count.
  const auto signals = static_cast<std::size_t>(num_signals);
  const std::size_t chunk_values =
      static_cast<std::size_t>(kChunkFrames) * signals;
  scale_.resize(chunk_values);
  offset_.resize(chunk_values);
  for (std::size_t s = 0; s < signals; ++s) {
    const dsp::wfdb::SignalSpec& spec = record.header.signals[s];
    auto mv_per_adu = dsp::wfdb::MillivoltsPerAdu(spec);
    if (!mv_per_adu) {
      return Fail(mv_per_adu.error().WithContext("record " + record_name));
    }
    const auto scale = static_cast<float>(*mv_per_adu);
    const auto offset = static_cast<float>(-spec.baseline_adu * *mv_per_adu);
    for (std::size_t i = s; i < chunk_values; i += signals) {
      scale_[i] = scale;
      offset_[i] = offset;
    }
  }

  dsp::QrsDetectorConfig config;
  config.sample_rate_hz = record.header.sampling_frequency_hz;
  config.num_leads = num_signals;
  auto detector = dsp::QrsDetector::Create(config);
  if (!detector) {
    // The record, not the caller, is at fault here (e.g. 13 leads).
    return Fail(ErrorCode::kUnsupported,
                "record " + record_name +
                    ": QRS detector: " + detector.error().message());
  }

  DetectionResult result;
  std::vector<dsp::QrsDetection> detections;
  // A generous guess (4 beats/s) so that the detector's appends rarely grow
  // the vector inside the timed region.
  detections.reserve(static_cast<std::size_t>(
      4.0 * static_cast<double>(end_frame - first_frame) /
          std::max(1.0, config.sample_rate_hz) +
      16));
  millivolts_.resize(chunk_values);

  using Clock = std::chrono::steady_clock;
  Clock::duration in_detector{0};
  for (std::int64_t frame = first_frame; frame < end_frame;
       frame += kChunkFrames) {
    const std::size_t values =
        static_cast<std::size_t>(std::min(kChunkFrames, end_frame - frame)) *
        signals;
    const std::int16_t* in =
        record.samples.data() + static_cast<std::size_t>(frame) * signals;
    float* out = millivolts_.data();
    const float* scale = scale_.data();
    const float* offset = offset_.data();
    for (std::size_t i = 0; i < values; ++i) {
      out[i] = static_cast<float>(in[i]) * scale[i] + offset[i];
    }
    const auto start = Clock::now();
    detector->Process(std::span<const float>(millivolts_.data(), values),
                      &detections);
    in_detector += Clock::now() - start;
  }
  const auto start = Clock::now();
  detector->Finish(&detections);
  in_detector += Clock::now() - start;

  result.detector_seconds = std::chrono::duration<double>(in_detector).count();
  result.beats.reserve(detections.size());
  for (const dsp::QrsDetection& d : detections) {
    result.beats.push_back(d.sample + first_frame);
  }
  return result;
}

}  // namespace pulse::ecg_eval
