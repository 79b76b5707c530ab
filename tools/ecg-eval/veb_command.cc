// `ecg-eval veb`: ventricular ectopic beat (VEB) classification accuracy,
// EC57 as WFDB's bxb scores it, over every annotated record of a folder.
//
// The pipeline is the product's: QrsDetector exactly as `ecg-eval qrs` runs
// it (DetectionRunner), then pulse::dsp::ClassifyBeats on the whole record
// in millivolts; the labelled beats are matched to the .atr with bxb's rules
// and tallied into bxb's VEB confusion matrix (ScoreVentricularBeats).
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
#include "pulse/dsp/beat_classifier.h"
#include "pulse/dsp/veb_scoring.h"
#include "pulse/dsp/wfdb_file.h"
#include "record_eval.h"

namespace pulse::ecg_eval {
namespace {

namespace fs = std::filesystem;
using dsp::VebCounts;

constexpr std::string_view kCommand = "veb";

constexpr std::string_view kHelp =
    R"(Usage: ecg-eval veb [--db DIR] [--records 101,106,...] [--from SECONDS]
                    [--window-ms MS] [--json]

Runs the QRS detector (as 'ecg-eval qrs' does) and then the beat classifier
over every record of DIR that has a header (.hea) and reference annotations
(.atr), and scores ventricular ectopic beats (VEBs) the way ANSI/AAMI EC57
and WFDB's bxb do. Beats are matched with bxb's rules (150 ms window, VF
episodes left out); reference V, r and E beats are VEBs. The classifier's
labels read as bxb test labels: ventricular = v, normal = n, unknown = q.

  VEB Se = Vv / (Vv + Vn + Vq + Vo)   Vo: a VEB the detector missed
  VEB +P = Vv / (Vv + Nv + Ov)        Ov: v on no beat (or a flutter wave)

A v on a fusion (F) or unclassifiable/paced (Q) reference beat counts
neither way. Prints per record and gross (summed counts): reference VEBs,
TP (Vv), FN, FP, Se, +P, the breakdown Vn Vq Vo Nv Ov Fv, and the time the
classifier took.

Options:
  --db DIR             record folder (default: $PULSE_DATA_DIR/mitdb, else
                       ../shared/data/mitdb)
  --records LIST       comma-separated record names (default: all in DIR)
  --from SECONDS       start of scoring (default 300, EC57's 5 minutes;
                       0 scores the whole record)
  --window-ms MS       match window, 0 to 1000 (default 150)
  --json               print the results as JSON instead of a table
  -h, --help           show this help

Exit status: 0 success, 1 data error, 2 usage error.
)";

constexpr OptionSpec kOptions[] = {
    {"--help", false},      {"--db", true},    {"--records", true},
    {"--from", true},       {"--window-ms", true}, {"--json", false},
};

struct Settings {
  fs::path db;
  std::vector<std::string> records;
  double from_seconds = 300.0;
  double window_ms = 150.0;
  bool json = false;
};

struct RecordScore {
  std::string name;
  double duration_seconds = 0.0;
  std::int64_t beats = 0;
  std::int64_t ventricular = 0;  // beats labelled ventricular (whole record)
  std::int64_t unknown = 0;
  VebCounts counts;
  double classifier_seconds = 0.0;
};

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
  settings.json = args.Has("--json");
  return settings;
}

Result<RecordScore> ScoreRecord(const Settings& settings,
                                const std::string& name,
                                DetectionRunner* runner) {
  const fs::path path = settings.db / name;
  auto record = dsp::wfdb::ReadRecord(path);
  if (!record) return Fail(record.error());
  auto reference = dsp::wfdb::ReadAnnotationFile(path, "atr");
  if (!reference) return Fail(reference.error());

  RecordScore score;
  score.name = name;
  const double rate = record->header.sampling_frequency_hz;
  const std::int64_t frames = record->num_frames();
  score.duration_seconds = static_cast<double>(frames) / rate;

  auto detection = runner->Run(*record, name, 0, frames);
  if (!detection) return Fail(detection.error());
  auto mv = dsp::wfdb::ToMillivolts(*record);
  if (!mv) return Fail(mv.error().WithContext("record " + name));

  dsp::BeatClassifierConfig config;
  config.sample_rate_hz = rate;
  config.num_leads = record->num_signals();
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  auto beats = dsp::ClassifyBeats(*mv, detection->beats, config);
  score.classifier_seconds =
      std::chrono::duration<double>(Clock::now() - start).count();
  if (!beats) {
    return Fail(ErrorCode::kUnsupported,
                "record " + name + ": beat classifier: " +
                    beats.error().message());
  }
  score.beats = static_cast<std::int64_t>(beats->size());
  for (const dsp::ClassifiedBeat& b : *beats) {
    if (b.beat_class == dsp::BeatClass::kVentricular) ++score.ventricular;
    if (b.beat_class == dsp::BeatClass::kUnknown) ++score.unknown;
  }

  dsp::BeatMatchOptions options;
  options.sample_rate_hz = rate;
  options.match_window_seconds = settings.window_ms / 1000.0;
  options.score_from_sample = SecondsToFrames(settings.from_seconds, rate);
  options.score_to_sample = frames;  // bxb's default end: the record length
  score.counts = dsp::ScoreVentricularBeats(*reference, *beats, options);
  return score;
}

std::string CountsRow(std::string_view label, const VebCounts& c) {
  const auto& m = c.matrix;
  return Format(
      "%-8.*s %7lld %7lld %6lld %6lld %8.2f %8.2f  %5lld %5lld %5lld %5lld "
      "%5lld %5lld\n",
      static_cast<int>(label.size()), label.data(),
      static_cast<long long>(c.reference_vebs()),
      static_cast<long long>(c.true_positives()),
      static_cast<long long>(c.false_negatives()),
      static_cast<long long>(c.false_positives()), c.SensitivityPercent(),
      c.PositivePredictivityPercent(),
      static_cast<long long>(m[VebCounts::kRefV][VebCounts::kTestN]),
      static_cast<long long>(m[VebCounts::kRefV][VebCounts::kTestQ]),
      static_cast<long long>(m[VebCounts::kRefV][VebCounts::kTestO]),
      static_cast<long long>(m[VebCounts::kRefN][VebCounts::kTestV]),
      static_cast<long long>(m[VebCounts::kRefO][VebCounts::kTestV]),
      static_cast<long long>(m[VebCounts::kRefF][VebCounts::kTestV]));
}

std::string TextReport(const Settings& settings,
                       const std::vector<RecordScore>& scores,
                       const VebCounts& gross, double record_seconds,
                       double classifier_seconds) {
  std::string text = Format(
      "Ventricular ectopic beats, EC57 (WFDB bxb rules): %s, %zu record%s\n"
      "scored from %s s to the end of each record, match window %s ms\n\n",
      settings.db.string().c_str(), scores.size(),
      scores.size() == 1 ? "" : "s",
      Format("%g", settings.from_seconds).c_str(),
      Format("%g", settings.window_ms).c_str());
  text +=
      "Record   Ref VEB  TP (Vv)     FN     FP     Se %     +P %     Vn    "
      "Vq    Vo    Nv    Ov    Fv\n";
  for (const RecordScore& s : scores) text += CountsRow(s.name, s.counts);
  text += CountsRow("Gross", gross);
  text += Format(
      "\nClassifier time over %.0f s of ECG: %.4f s (%s x real time)\n",
      record_seconds, classifier_seconds,
      FormatGrouped(classifier_seconds > 0.0 ? record_seconds /
                                                   classifier_seconds
                                             : 0.0)
          .c_str());
  return text;
}

nlohmann::ordered_json CountsJson(const VebCounts& c) {
  const auto& m = c.matrix;
  nlohmann::ordered_json j;
  j["ref_vebs"] = c.reference_vebs();
  j["tp"] = c.true_positives();
  j["fn"] = c.false_negatives();
  j["fp"] = c.false_positives();
  j["se_pct"] = c.SensitivityPercent();
  j["ppv_pct"] = c.PositivePredictivityPercent();
  const char* rows[] = {"N", "V", "F", "Q", "O"};
  const char* cols[] = {"n", "v", "q", "o"};
  nlohmann::ordered_json matrix;
  for (int r = 0; r < 5; ++r) {
    for (int col = 0; col < 4; ++col) {
      if (r == VebCounts::kRefO && col == VebCounts::kTestO) continue;
      matrix[std::string(rows[r]) + cols[col]] = m[r][col];
    }
  }
  j["matrix"] = std::move(matrix);
  return j;
}

std::string JsonReport(const Settings& settings,
                       const std::vector<RecordScore>& scores,
                       const VebCounts& gross, double record_seconds,
                       double classifier_seconds) {
  nlohmann::ordered_json j;
  j["db"] = settings.db.string();
  j["from_seconds"] = settings.from_seconds;
  j["window_ms"] = settings.window_ms;
  j["rules"] = "ANSI/AAMI EC57 VEB, WFDB bxb";
  auto& records = j["records"] = nlohmann::ordered_json::array();
  for (const RecordScore& s : scores) {
    nlohmann::ordered_json r;
    r["record"] = s.name;
    r["duration_seconds"] = s.duration_seconds;
    r["beats"] = s.beats;
    r["labelled_ventricular"] = s.ventricular;
    r["labelled_unknown"] = s.unknown;
    r.update(CountsJson(s.counts));
    r["classifier_seconds"] = s.classifier_seconds;
    records.push_back(std::move(r));
  }
  j["gross"] = CountsJson(gross);
  j["record_seconds"] = record_seconds;
  j["classifier_seconds"] = classifier_seconds;
  return j.dump(2) + "\n";
}

}  // namespace

int RunVebCommand(std::span<const std::string> args, std::FILE* out,
                  std::FILE* err) {
  auto parsed = ParseArgs(args, kOptions);
  if (!parsed) return UsageError(err, kCommand, parsed.error().message());
  if (parsed->Has("--help")) {
    Print(out, kHelp);
    return kExitOk;
  }
  auto settings = ParseSettings(*parsed);
  if (!settings) return UsageError(err, kCommand, settings.error().message());

  auto selected = SelectRecords(settings->db, settings->records, "atr");
  if (!selected) return DataError(err, kCommand, selected.error());
  const std::vector<std::string>& names = *selected;

  std::vector<RecordScore> scores;
  scores.reserve(names.size());
  VebCounts gross;
  double record_seconds = 0.0;
  double classifier_seconds = 0.0;
  DetectionRunner runner;
  for (const std::string& name : names) {
    auto score = ScoreRecord(*settings, name, &runner);
    if (!score) return DataError(err, kCommand, score.error());
    gross += score->counts;
    record_seconds += score->duration_seconds;
    classifier_seconds += score->classifier_seconds;
    scores.push_back(std::move(*score));
  }
  Print(out, settings->json ? JsonReport(*settings, scores, gross,
                                         record_seconds, classifier_seconds)
                            : TextReport(*settings, scores, gross,
                                         record_seconds, classifier_seconds));
  return kExitOk;
}

}  // namespace pulse::ecg_eval
