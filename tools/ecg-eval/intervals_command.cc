// `ecg-eval intervals`: global P duration, PR, QRS and QT per record from
// the median-beat pipeline, against the same computed from LUDB's per-lead
// annotations (delineation_eval.h), with IEC 60601-2-25's limits for
// biological ECGs.
#include <chrono>
#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "args.h"
#include "commands.h"
#include "delineation_eval.h"
#include "format.h"

namespace pulse::ecg_eval {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kCommand = "intervals";

constexpr std::string_view kHelp =
    R"(Usage: ecg-eval intervals [--db DIR] [--records LIST] [--json]

Runs the product pipeline over LUDB records: QRS detector, beat classifier,
BuildMedianBeats and DelineateMedianBeats (pulse/dsp/median_beat.h,
delineation.h), and takes the global intervals of the median beat:
P duration = P off - P on, PR = QRS on - P on, QRS = QRS off - QRS on,
QT = T off - QRS on. The reference is the same computed from the per-lead
annotations: for every annotated beat the earliest onset and the latest
offset of each wave over the 12 leads, and the median over the record's
beats. Prints both per record and their difference (ours - reference),
then over the records the mean and SD of the differences against
IEC 60601-2-25's limits for biological ECGs (mean/SD): P 10/15, PR 10/10,
QRS 10/10, QT 25/30 ms. A record without a value on one side (e.g. no P
wave in AF) is counted apart, not in the statistics. Also prints the time
of BuildMedianBeats + DelineateMedianBeats per record.

Options:
  --db DIR             record folder (default: $PULSE_DATA_DIR/ludb, else
                       ../shared/data/ludb)
  --records LIST       records, e.g. 1-50 or 3,7,51-100 (default: all)
  --json               print the results as JSON instead of tables
  -h, --help           show this help

Exit status: 0 success, 1 data error, 2 usage error.
)";

constexpr OptionSpec kOptions[] = {
    {"--help", false}, {"--db", true}, {"--records", true}, {"--json", false},
};

constexpr int kNumIntervals = 4;
constexpr std::string_view kNames[kNumIntervals] = {"P", "PR", "QRS", "QT"};
constexpr std::string_view kKeys[kNumIntervals] = {"p_ms", "pr_ms", "qrs_ms",
                                                   "qt_ms"};
constexpr double kMeanLimitMs[kNumIntervals] = {10.0, 10.0, 10.0, 25.0};
constexpr double kSdLimitMs[kNumIntervals] = {15.0, 10.0, 10.0, 30.0};

struct Settings {
  fs::path db;
  std::vector<std::string> records;
  bool json = false;
};

using Values = std::array<std::optional<double>, kNumIntervals>;

Values AsArray(const GlobalIntervals& g) {
  return {g.p_ms, g.pr_ms, g.qrs_ms, g.qt_ms};
}

struct RecordResult {
  std::string name;
  Values ours, reference;
  double delineation_ms = 0.0;
};

struct Summary {
  int n = 0;
  int reference_only = 0;  // a reference value, none of ours
  int ours_only = 0;
  double mean_ms = 0.0;
  double sd_ms = 0.0;
  bool met = false;
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
  s.json = args.Has("--json");
  return s;
}

Summary Summarise(const std::vector<RecordResult>& results, int k) {
  Summary s;
  double sum = 0.0, sum_sq = 0.0;
  for (const RecordResult& r : results) {
    const auto& a = r.ours[static_cast<std::size_t>(k)];
    const auto& b = r.reference[static_cast<std::size_t>(k)];
    if (a && b) {
      const double d = *a - *b;
      ++s.n;
      sum += d;
      sum_sq += d * d;
    } else if (b) {
      ++s.reference_only;
    } else if (a) {
      ++s.ours_only;
    }
  }
  if (s.n > 0) s.mean_ms = sum / s.n;
  if (s.n > 1) {
    const double var = (sum_sq - sum * sum / s.n) / (s.n - 1);
    s.sd_ms = var > 0.0 ? std::sqrt(var) : 0.0;
  }
  s.met = s.n > 0 && std::fabs(s.mean_ms) <= kMeanLimitMs[k] &&
          s.sd_ms <= kSdLimitMs[k];
  return s;
}

std::string Cell(const std::optional<double>& v) {
  return v ? Format("%6.0f", *v) : std::string("     -");
}

std::string TextReport(const Settings& settings,
                       const std::vector<RecordResult>& results) {
  std::string text = Format(
      "Global intervals, median beat vs LUDB annotations (earliest onset / "
      "latest offset over leads, median over beats): %s, %zu record%s\n"
      "per interval: ours, reference, difference (ms)\n\n",
      settings.db.string().c_str(), results.size(),
      results.size() == 1 ? "" : "s");
  text += "Record";
  for (std::string_view n : kNames) {
    text += Format(" | %-20s", std::string(n).c_str());
  }
  text += "\n";
  double total_ms = 0.0;
  for (const RecordResult& r : results) {
    text += Format("%-6s", r.name.c_str());
    for (int k = 0; k < kNumIntervals; ++k) {
      const auto& a = r.ours[static_cast<std::size_t>(k)];
      const auto& b = r.reference[static_cast<std::size_t>(k)];
      text += " | " + Cell(a) + Cell(b) +
              (a && b ? Format("%7.0f ", *a - *b) : std::string("      - "));
    }
    text += "\n";
    total_ms += r.delineation_ms;
  }
  text +=
      "\nInterval  records  mean diff ms  SD ms  limit (mean/SD)  ref only  "
      "ours only\n";
  for (int k = 0; k < kNumIntervals; ++k) {
    const Summary s = Summarise(results, k);
    text += Format("%-8s %8d %13.2f %6.2f %8g/%-8g %9d %10d  %s\n",
                   std::string(kNames[k]).c_str(), s.n, s.mean_ms, s.sd_ms,
                   kMeanLimitMs[k], kSdLimitMs[k], s.reference_only,
                   s.ours_only, s.met ? "met" : "NOT met");
  }
  if (!results.empty()) {
    text += Format(
        "\nBuildMedianBeats + DelineateMedianBeats: %.3f ms per record on "
        "average\n",
        total_ms / static_cast<double>(results.size()));
  }
  return text;
}

nlohmann::ordered_json ValueJson(const std::optional<double>& v) {
  return v ? nlohmann::ordered_json(*v) : nlohmann::ordered_json(nullptr);
}

std::string JsonReport(const Settings& settings,
                       const std::vector<RecordResult>& results) {
  nlohmann::ordered_json j;
  j["db"] = settings.db.string();
  auto& records = j["records"] = nlohmann::ordered_json::array();
  for (const RecordResult& r : results) {
    nlohmann::ordered_json rec;
    rec["record"] = r.name;
    for (int k = 0; k < kNumIntervals; ++k) {
      rec[std::string(kKeys[k])] = {
          {"ours", ValueJson(r.ours[static_cast<std::size_t>(k)])},
          {"reference", ValueJson(r.reference[static_cast<std::size_t>(k)])}};
    }
    rec["median_delineation_ms"] = r.delineation_ms;
    records.push_back(std::move(rec));
  }
  auto& summary = j["summary"];
  for (int k = 0; k < kNumIntervals; ++k) {
    const Summary s = Summarise(results, k);
    summary[std::string(kKeys[k])] = {
        {"records", s.n},           {"mean_diff_ms", s.mean_ms},
        {"sd_diff_ms", s.sd_ms},    {"limit_mean_ms", kMeanLimitMs[k]},
        {"limit_sd_ms", kSdLimitMs[k]}, {"reference_only", s.reference_only},
        {"ours_only", s.ours_only}, {"limit_met", s.met}};
  }
  return j.dump(2) + "\n";
}

}  // namespace

int RunIntervalsCommand(std::span<const std::string> args, std::FILE* out,
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
  DetectionRunner runner;
  for (const std::string& name : *names) {
    auto run = RunRecord(settings->db / name, name, &runner);
    if (!run) return DataError(err, kCommand, run.error());
    RecordResult r;
    r.name = name;
    r.ours = AsArray(IntervalsFromMedian(*run));
    r.reference = AsArray(IntervalsFromAnnotations(*run));
    r.delineation_ms = run->delineation_seconds * 1000.0;
    results.push_back(std::move(r));
  }
  Print(out, settings->json ? JsonReport(*settings, results)
                            : TextReport(*settings, results));
  return kExitOk;
}

}  // namespace pulse::ecg_eval
