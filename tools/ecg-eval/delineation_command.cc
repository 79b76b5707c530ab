// `ecg-eval delineation`: per-beat, per-lead fiducial accuracy (P on/off,
// QRS on/off, T off) against LUDB's per-lead annotations; the pipeline and
// the scoring rules are in delineation_eval.h.
#include <chrono>
#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "args.h"
#include "commands.h"
#include "delineation_eval.h"
#include "format.h"

namespace pulse::ecg_eval {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kCommand = "delineation";

constexpr std::string_view kHelp =
    R"(Usage: ecg-eval delineation [--db DIR] [--records LIST] [--window-ms MS]
                            [--json]

Runs the product pipeline over LUDB records (12 leads, 500 Hz): the QRS
detector on all leads (as 'ecg-eval qrs' does), the beat classifier, and
the per-beat delineation (pulse/dsp/delineation.h), then compares the
fiducial points of every beat and lead with LUDB's per-lead annotations
(files .i .ii .iii .avr .avl .avf .v1 .. .v6).

Each annotated point (P onset, P offset, QRS onset, QRS offset, T offset)
is matched to the nearest detected point of the same kind in the same lead
within the match window; the error is detected - annotated in ms. An
annotated point without a match is a miss (Se = matched / annotated).
Detected points outside the annotated span of their lead are not scored
(LUDB leaves the first and last beats unannotated); those inside it that
match nothing are listed as 'unmatched' (e.g. P waves found where the
annotators saw none) and do not enter Se or the errors.

Prints per record the matched/annotated count and mean error per fiducial,
then over all records: Se, mean and SD of the error, errors over 40 ms,
unmatched detections, and the bars of issue 3.

Options:
  --db DIR             record folder (default: $PULSE_DATA_DIR/ludb, else
                       ../shared/data/ludb)
  --records LIST       records, e.g. 1-50 or 3,7,51-100 (default: all in
                       DIR with a .hea and a .ii)
  --window-ms MS       match window, 10 to 500 (default 150)
  --json               print the results as JSON instead of tables
  -h, --help           show this help

Exit status: 0 success, 1 data error, 2 usage error.
)";

constexpr OptionSpec kOptions[] = {
    {"--help", false}, {"--db", true}, {"--records", true},
    {"--window-ms", true}, {"--json", false},
};

// Issue 3's bars: |mean| <= 10 ms, SD <= these, Se >= these.
constexpr double kSdBarMs[kNumFiducials] = {15.0, 15.0, 10.0, 12.0, 25.0};
constexpr double kSeBarPct[kNumFiducials] = {95.0, 95.0, 98.0, 98.0, 98.0};
constexpr double kMeanBarMs = 10.0;

struct Settings {
  fs::path db;
  std::vector<std::string> records;
  double window_ms = 150.0;
  bool json = false;
};

struct RecordResult {
  std::string name;
  std::size_t beats = 0;
  bool classifier_used = false;
  DelineationScore score;
};

Result<Settings> ParseSettings(const ParsedArgs& args) {
  Settings s;
  if (!args.positionals().empty()) {
    return Fail(ErrorCode::kInvalidArgument,
                "unexpected argument '" + args.positionals().front() + "'");
  }
  s.db = args.Value("--db") ? fs::path(*args.Value("--db"))
                            : DefaultDataDir() / "ludb";
  if (auto text = args.Value("--records")) {
    auto list = ParseRecordNames("--records", *text);
    if (!list) return Fail(list.error());
    s.records = std::move(*list);
  }
  if (auto text = args.Value("--window-ms")) {
    auto window = ParseNumber("--window-ms", *text, 10.0, 500.0);
    if (!window) return Fail(window.error());
    s.window_ms = *window;
  }
  s.json = args.Has("--json");
  return s;
}

bool Passes(int k, const FiducialStats& s) {
  return std::fabs(s.MeanMs()) <= kMeanBarMs && s.SdMs() <= kSdBarMs[k] &&
         s.SensitivityPercent() >= kSeBarPct[k];
}

std::string TextReport(const Settings& settings,
                       const std::vector<RecordResult>& results,
                       const DelineationScore& total) {
  std::string text = Format(
      "Delineation vs LUDB per-lead annotations: %s, %zu record%s, match "
      "window %g ms\nerror = detected - annotated (ms); per record: "
      "matched/annotated mean\n\n",
      settings.db.string().c_str(), results.size(),
      results.size() == 1 ? "" : "s", settings.window_ms);
  text += "Record beats";
  for (int k = 0; k < kNumFiducials; ++k) {
    text += Format(" | %-15s",
                   std::string(FiducialName(static_cast<Fiducial>(k))).c_str());
  }
  text += "\n";
  for (const RecordResult& r : results) {
    text += Format("%-6s %5zu", r.name.c_str(), r.beats);
    for (const FiducialStats& s : r.score) {
      text += Format(" | %3lld/%3lld %7.1f", static_cast<long long>(s.matched),
                     static_cast<long long>(s.annotated), s.MeanMs());
    }
    text += "\n";
  }
  text +=
      "\nFiducial   annotated  matched   Se %   mean ms   SD ms  >40ms  "
      "unmatched   bar (|mean|/SD/Se)   \n";
  for (int k = 0; k < kNumFiducials; ++k) {
    const FiducialStats& s = total[static_cast<std::size_t>(k)];
    text += Format(
        "%-9s %10lld %8lld %6.2f %9.2f %7.2f %6lld %10lld   %g/%g/%g %s\n",
        std::string(FiducialName(static_cast<Fiducial>(k))).c_str(),
        static_cast<long long>(s.annotated), static_cast<long long>(s.matched),
        s.SensitivityPercent(), s.MeanMs(), s.SdMs(),
        static_cast<long long>(s.gross_errors),
        static_cast<long long>(s.unmatched_detections), kMeanBarMs,
        kSdBarMs[k], kSeBarPct[k], Passes(k, s) ? "met" : "NOT met");
  }
  return text;
}

nlohmann::ordered_json StatsJson(const FiducialStats& s) {
  return {{"annotated", s.annotated},
          {"matched", s.matched},
          {"se_pct", s.SensitivityPercent()},
          {"mean_ms", s.MeanMs()},
          {"sd_ms", s.SdMs()},
          {"errors_over_40ms", s.gross_errors},
          {"unmatched_detections", s.unmatched_detections}};
}

std::string JsonReport(const Settings& settings,
                       const std::vector<RecordResult>& results,
                       const DelineationScore& total) {
  nlohmann::ordered_json j;
  j["db"] = settings.db.string();
  j["window_ms"] = settings.window_ms;
  auto& records = j["records"] = nlohmann::ordered_json::array();
  for (const RecordResult& r : results) {
    nlohmann::ordered_json rec;
    rec["record"] = r.name;
    rec["beats"] = r.beats;
    rec["classifier_used"] = r.classifier_used;
    for (int k = 0; k < kNumFiducials; ++k) {
      rec[std::string(FiducialKey(static_cast<Fiducial>(k)))] =
          StatsJson(r.score[static_cast<std::size_t>(k)]);
    }
    records.push_back(std::move(rec));
  }
  auto& gross = j["total"];
  for (int k = 0; k < kNumFiducials; ++k) {
    auto s = StatsJson(total[static_cast<std::size_t>(k)]);
    s["bar_sd_ms"] = kSdBarMs[k];
    s["bar_se_pct"] = kSeBarPct[k];
    s["bar_abs_mean_ms"] = kMeanBarMs;
    s["bar_met"] = Passes(k, total[static_cast<std::size_t>(k)]);
    gross[std::string(FiducialKey(static_cast<Fiducial>(k)))] = std::move(s);
  }
  return j.dump(2) + "\n";
}

}  // namespace

int RunDelineationCommand(std::span<const std::string> args, std::FILE* out,
                          std::FILE* err) {
  auto parsed = ParseArgs(args, kOptions);
  if (!parsed) return UsageError(err, kCommand, parsed.error().message());
  if (parsed->Has("--help")) {
    Print(out, kHelp);
    return kExitOk;
  }
  auto settings = ParseSettings(*parsed);
  if (!settings) return UsageError(err, kCommand, settings.error().message());
  auto names = SelectRecords(settings->db, settings->records, "ii");
  if (!names) return DataError(err, kCommand, names.error());

  std::vector<RecordResult> results;
  DelineationScore total;
  DetectionRunner runner;
  for (const std::string& name : *names) {
    auto run = RunRecord(settings->db / name, name, &runner);
    if (!run) return DataError(err, kCommand, run.error());
    RecordResult r;
    r.name = name;
    r.beats = run->beats.size();
    r.classifier_used = run->classifier_used;
    r.score = ScoreDelineation(*run, settings->window_ms);
    for (int k = 0; k < kNumFiducials; ++k) {
      total[static_cast<std::size_t>(k)] += r.score[static_cast<std::size_t>(k)];
    }
    results.push_back(std::move(r));
  }
  Print(out, settings->json ? JsonReport(*settings, results, total)
                            : TextReport(*settings, results, total));
  return kExitOk;
}

}  // namespace pulse::ecg_eval
