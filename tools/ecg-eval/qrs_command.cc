// `ecg-eval qrs`: QRS detection accuracy (EC57 beat-by-beat, WFDB bxb
// rules) and speed over every annotated record of a folder.
//
// The detector always runs over the whole record (it may learn during the
// first minutes); --from only sets where scoring starts, as bxb's -f does.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "args.h"
#include "commands.h"
#include "format.h"
#include "pulse/dsp/beat_match.h"
#include "pulse/dsp/wfdb_file.h"
#include "record_eval.h"

namespace pulse::ecg_eval {
namespace {

namespace fs = std::filesystem;
using dsp::BeatMatchCounts;
using dsp::BeatMismatch;

constexpr std::string_view kCommand = "qrs";

constexpr std::string_view kHelp =
    R"(Usage: ecg-eval qrs [--db DIR] [--records 101,106,...] [--from SECONDS]
                    [--window-ms MS] [--annotator NAME] [--annotated-span]
                    [--decimate N] [--json] [--mismatches]

Runs the QRS detector over every record of DIR that has a header (.hea) and
reference annotations (.atr), feeding all its leads in millivolts, and scores
the detections beat by beat against the .atr the way ANSI/AAMI EC57 and WFDB's
bxb do: a detection within the match window of a reference beat is a true
positive, reference beats nobody matched are false negatives, detections that
matched nothing are false positives; ventricular flutter/fibrillation
episodes are left out. Prints, per record and gross (summed counts), the
reference beats, TP, FN, FP, sensitivity Se = TP/(TP+FN) and positive
predictivity +P = TP/(TP+FP), then the speed in record-seconds analysed per
wall-clock second, for the detector alone and end to end (reading included).

Options:
  --db DIR             record folder (default: $PULSE_DATA_DIR/mitdb, else
                       ../shared/data/mitdb)
  --records LIST       comma-separated record names (default: all in DIR)
  --from SECONDS       start of scoring (default 300, EC57's 5 minutes;
                       0 scores the whole record)
  --window-ms MS       match window, 0 to 1000 (default 150)
  --annotator NAME     reference annotation file extension (default atr;
                       e.g. ii for LUDB's lead II annotations)
  --annotated-span     score only from the first to the last reference
                       annotation (± the window), for databases such as LUDB
                       whose annotations cover part of each record
  --decimate N         run the detector on the record averaged over groups
                       of N frames (sample rate / N, at least 80 Hz), and
                       score its beats on the original time base: accuracy
                       at lower sample rates on the same annotations
  --json               print the results as JSON instead of a table
  --mismatches         also list every FN and FP (sample and time)
  -h, --help           show this help

Exit status: 0 success, 1 data error, 2 usage error.
)";

constexpr OptionSpec kOptions[] = {
    {"--help", false},       {"--db", true},        {"--records", true},
    {"--from", true},        {"--window-ms", true}, {"--json", false},
    {"--mismatches", false}, {"--annotator", true},
    {"--annotated-span", false}, {"--decimate", true},
};

struct Settings {
  fs::path db;
  std::vector<std::string> records;  // empty = every annotated record
  double from_seconds = 300.0;
  double window_ms = 150.0;
  std::string annotator = "atr";
  bool annotated_span = false;
  int decimate = 1;
  bool json = false;
  bool mismatches = false;
};

struct RecordScore {
  std::string name;
  double sample_rate_hz = 0.0;
  double duration_seconds = 0.0;
  std::int64_t detections = 0;
  BeatMatchCounts counts;
  std::vector<BeatMismatch> mismatches;
  double detector_seconds = 0.0;
  double total_seconds = 0.0;  // read + convert + detect + score
};

struct Totals {
  BeatMatchCounts counts;
  double record_seconds = 0.0;
  double detector_seconds = 0.0;
  double total_seconds = 0.0;
};

// Rate in record-seconds per wall-second; infinity when nothing measurable.
double RealTimeFactor(double record_seconds, double wall_seconds) {
  return wall_seconds > 0.0 ? record_seconds / wall_seconds
                            : std::numeric_limits<double>::infinity();
}

// Usage errors only (exit 2); the folder is checked later.
Result<Settings> ParseSettings(const ParsedArgs& args) {
  Settings settings;
  if (!args.positionals().empty()) {
    return Fail(ErrorCode::kInvalidArgument,
                "unexpected argument '" + args.positionals().front() + "'");
  }
  settings.db = args.Value("--db") ? fs::path(*args.Value("--db"))
                                   : DefaultDataDir() / "mitdb";
  if (auto text = args.Value("--records")) {
    auto list = ParseRecordNames("--records", *text);
    if (!list) return Fail(list.error());
    settings.records = std::move(*list);
  }
  if (auto text = args.Value("--from")) {
    auto from = ParseNumber("--from", *text, 0.0, 1e9);
    if (!from) return Fail(from.error());
    settings.from_seconds = *from;
  }
  if (auto text = args.Value("--window-ms")) {
    auto window = ParseNumber("--window-ms", *text, 0.0, 1000.0);
    if (!window) return Fail(window.error());
    settings.window_ms = *window;
  }
  if (auto text = args.Value("--annotator")) {
    const bool plain = !text->empty() && text->size() <= 16 &&
        text->find_first_not_of("abcdefghijklmnopqrstuvwxyz"
                                "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") ==
            std::string::npos;
    if (!plain) {
      return Fail(ErrorCode::kInvalidArgument,
                  "--annotator: '" + *text +
                      "' is not a plain annotator name (letters, digits, _)");
    }
    settings.annotator = *text;
  }
  settings.annotated_span = args.Has("--annotated-span");
  if (auto text = args.Value("--decimate")) {
    auto factor = ParseNumber("--decimate", *text, 1.0, 16.0);
    if (!factor) return Fail(factor.error());
    if (*factor != std::floor(*factor)) {
      return Fail(ErrorCode::kInvalidArgument,
                  "--decimate: '" + *text + "' is not a whole number");
    }
    settings.decimate = static_cast<int>(*factor);
  }
  settings.json = args.Has("--json");
  settings.mismatches = args.Has("--mismatches");
  return settings;
}

// `record` averaged over groups of `factor` frames (a boxcar, rounded to the
// nearest ADC unit), at sample rate / factor. A trailing partial group is
// dropped.
dsp::wfdb::Record Decimate(const dsp::wfdb::Record& record, int factor) {
  dsp::wfdb::Record out;
  out.header = record.header;
  out.header.sampling_frequency_hz /= factor;
  const auto signals = static_cast<std::size_t>(record.num_signals());
  const auto frames = static_cast<std::size_t>(record.num_frames() / factor);
  out.header.num_frames = static_cast<std::int64_t>(frames);
  out.samples.resize(frames * signals);
  for (std::size_t f = 0; f < frames; ++f) {
    for (std::size_t s = 0; s < signals; ++s) {
      long sum = 0;
      for (std::size_t k = 0; k < static_cast<std::size_t>(factor); ++k) {
        sum += record.samples[(f * static_cast<std::size_t>(factor) + k) *
                                  signals + s];
      }
      out.samples[f * signals + s] = static_cast<std::int16_t>(
          std::lround(static_cast<double>(sum) / factor));
    }
  }
  return out;
}

Result<RecordScore> ScoreRecord(const Settings& settings,
                                const std::string& name,
                                DetectionRunner* runner) {
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  const fs::path path = settings.db / name;
  auto record = dsp::wfdb::ReadRecord(path);
  if (!record) return Fail(record.error());
  auto reference = dsp::wfdb::ReadAnnotationFile(path, settings.annotator);
  if (!reference) return Fail(reference.error());

  RecordScore score;
  score.name = name;
  score.sample_rate_hz = record->header.sampling_frequency_hz;
  const std::int64_t frames = record->num_frames();
  score.duration_seconds = static_cast<double>(frames) / score.sample_rate_hz;

  Result<DetectionResult> detection;
  if (settings.decimate > 1) {
    const dsp::wfdb::Record coarse = Decimate(*record, settings.decimate);
    if (coarse.header.sampling_frequency_hz < 80.0) {
      return Fail(ErrorCode::kInvalidArgument,
                  name + ": --decimate " + std::to_string(settings.decimate) +
                      " leaves " +
                      Format("%g", coarse.header.sampling_frequency_hz) +
                      " Hz, below the detector's 80 Hz");
    }
    detection = runner->Run(coarse, name, 0, coarse.num_frames());
    if (detection) {
      // Back to the original time base: the centre of each group.
      for (std::int64_t& beat : detection->beats) {
        beat = beat * settings.decimate + settings.decimate / 2;
      }
    }
  } else {
    detection = runner->Run(*record, name, 0, frames);
  }
  if (!detection) return Fail(detection.error());
  score.detections = static_cast<std::int64_t>(detection->beats.size());
  score.detector_seconds = detection->detector_seconds;

  dsp::BeatMatchOptions options;
  options.sample_rate_hz = score.sample_rate_hz;
  options.match_window_seconds = settings.window_ms / 1000.0;
  options.score_from_sample =
      SecondsToFrames(settings.from_seconds, score.sample_rate_hz);
  options.score_to_sample = frames;  // bxb's default end: the record length
  if (settings.annotated_span && !reference->empty()) {
    const std::int64_t window =
        SecondsToFrames(options.match_window_seconds, score.sample_rate_hz);
    options.score_from_sample = std::max(
        options.score_from_sample, reference->front().sample - window);
    options.score_to_sample =
        std::min(frames, reference->back().sample + window + 1);
  }
  score.counts =
      dsp::MatchBeats(*reference, detection->beats, options,
                      settings.mismatches ? &score.mismatches : nullptr);
  score.total_seconds =
      std::chrono::duration<double>(Clock::now() - start).count();
  return score;
}

std::string CountsRow(std::string_view label, const BeatMatchCounts& c) {
  return Format("%-8.*s %9lld %8lld %7lld %7lld %8.2f %8.2f\n",
                static_cast<int>(label.size()), label.data(),
                static_cast<long long>(c.reference_beats()),
                static_cast<long long>(c.true_positives),
                static_cast<long long>(c.false_negatives),
                static_cast<long long>(c.false_positives),
                c.SensitivityPercent(), c.PositivePredictivityPercent());
}

std::string TextReport(const Settings& settings,
                       const std::vector<RecordScore>& scores,
                       const Totals& totals) {
  std::string text = Format(
      "QRS detection, EC57 beat-by-beat (WFDB bxb rules): %s, %zu record%s\n"
      "reference %s; scored from %s s to the end of each record%s%s, match "
      "window %s ms\n\n",
      settings.db.string().c_str(), scores.size(),
      scores.size() == 1 ? "" : "s", settings.annotator.c_str(),
      Format("%g", settings.from_seconds).c_str(),
      settings.annotated_span ? " (within the annotated span)" : "",
      settings.decimate > 1
          ? Format(", detector at 1/%d of the sample rate", settings.decimate)
                .c_str()
          : "",
      Format("%g", settings.window_ms).c_str());
  text += "Record   Ref beats       TP      FN      FP     Se %     +P %\n";
  for (const RecordScore& s : scores) text += CountsRow(s.name, s.counts);
  text += CountsRow("Gross", totals.counts);

  const double detect_rate =
      RealTimeFactor(totals.record_seconds, totals.detector_seconds);
  const double total_rate =
      RealTimeFactor(totals.record_seconds, totals.total_seconds);
  text += Format(
      "\nSpeed over %.0f s of ECG (%.2f h):\n"
      "  detection   %9.4f s  %12s x real time (detector only)\n"
      "  end to end  %9.4f s  %12s x real time (read, convert, detect, "
      "score)\n",
      totals.record_seconds, totals.record_seconds / 3600.0,
      totals.detector_seconds, FormatGrouped(detect_rate).c_str(),
      totals.total_seconds, FormatGrouped(total_rate).c_str());

  if (settings.mismatches) {
    text += "\nMismatches (FN: reference beat missed, FP: false detection):\n";
    for (const RecordScore& s : scores) {
      for (const BeatMismatch& m : s.mismatches) {
        text += Format(
            "%-8s %s %10lld  %s\n", s.name.c_str(),
            m.is_false_positive ? "FP" : "FN", static_cast<long long>(m.sample),
            FormatClock(static_cast<double>(m.sample) / s.sample_rate_hz)
                .c_str());
      }
    }
  }
  return text;
}

nlohmann::ordered_json CountsJson(const BeatMatchCounts& c) {
  nlohmann::ordered_json j;
  j["ref_beats"] = c.reference_beats();
  j["tp"] = c.true_positives;
  j["fn"] = c.false_negatives;
  j["fp"] = c.false_positives;
  j["se_pct"] = c.SensitivityPercent();
  j["ppv_pct"] = c.PositivePredictivityPercent();
  return j;
}

// JSON has no infinity: an unmeasurable rate is null.
nlohmann::ordered_json RateJson(double rate) {
  return std::isfinite(rate) ? nlohmann::ordered_json(rate)
                             : nlohmann::ordered_json(nullptr);
}

std::string JsonReport(const Settings& settings,
                       const std::vector<RecordScore>& scores,
                       const Totals& totals) {
  nlohmann::ordered_json j;
  j["db"] = settings.db.string();
  j["from_seconds"] = settings.from_seconds;
  j["window_ms"] = settings.window_ms;
  j["annotator"] = settings.annotator;
  j["annotated_span"] = settings.annotated_span;
  j["decimate"] = settings.decimate;
  j["rules"] = "ANSI/AAMI EC57 beat-by-beat, WFDB bxb";
  auto& records = j["records"] = nlohmann::ordered_json::array();
  for (const RecordScore& s : scores) {
    nlohmann::ordered_json r;
    r["record"] = s.name;
    r["duration_seconds"] = s.duration_seconds;
    r["detections"] = s.detections;
    r.update(CountsJson(s.counts));
    r["detector_seconds"] = s.detector_seconds;
    r["total_seconds"] = s.total_seconds;
    if (settings.mismatches) {
      auto& list = r["mismatches"] = nlohmann::ordered_json::array();
      for (const BeatMismatch& m : s.mismatches) {
        list.push_back({{"kind", m.is_false_positive ? "FP" : "FN"},
                        {"sample", m.sample},
                        {"time_seconds",
                         static_cast<double>(m.sample) / s.sample_rate_hz}});
      }
    }
    records.push_back(std::move(r));
  }
  j["gross"] = CountsJson(totals.counts);
  j["speed"] = {
      {"record_seconds", totals.record_seconds},
      {"detector_seconds", totals.detector_seconds},
      {"detection_x_realtime",
       RateJson(
           RealTimeFactor(totals.record_seconds, totals.detector_seconds))},
      {"end_to_end_seconds", totals.total_seconds},
      {"end_to_end_x_realtime",
       RateJson(RealTimeFactor(totals.record_seconds, totals.total_seconds))},
  };
  return j.dump(2) + "\n";
}

}  // namespace

int RunQrsCommand(std::span<const std::string> args, std::FILE* out,
                  std::FILE* err) {
  auto parsed = ParseArgs(args, kOptions);
  if (!parsed) return UsageError(err, kCommand, parsed.error().message());
  if (parsed->Has("--help")) {
    Print(out, kHelp);
    return kExitOk;
  }
  auto settings = ParseSettings(*parsed);
  if (!settings) return UsageError(err, kCommand, settings.error().message());

  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  auto selected =
      SelectRecords(settings->db, settings->records, settings->annotator);
  if (!selected) return DataError(err, kCommand, selected.error());
  const std::vector<std::string>& names = *selected;

  std::vector<RecordScore> scores;
  scores.reserve(names.size());
  Totals totals;
  DetectionRunner runner;
  for (const std::string& name : names) {
    auto score = ScoreRecord(*settings, name, &runner);
    if (!score) return DataError(err, kCommand, score.error());
    totals.counts += score->counts;
    totals.record_seconds += score->duration_seconds;
    totals.detector_seconds += score->detector_seconds;
    scores.push_back(std::move(*score));
  }
  totals.total_seconds =
      std::chrono::duration<double>(Clock::now() - start).count();

  Print(out, settings->json ? JsonReport(*settings, scores, totals)
                            : TextReport(*settings, scores, totals));
  return kExitOk;
}

}  // namespace pulse::ecg_eval
