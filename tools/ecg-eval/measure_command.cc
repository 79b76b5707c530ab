// `ecg-eval measure`: the product's whole 12-lead analysis (dsp/analysis.h)
// on a record — what a clinician would read on the report — and, with
// --db, over every record of a folder, setting each record's rhythm
// statement beside the one its header gives (LUDB's "#Rhythm:" line).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include "args.h"
#include "commands.h"
#include "format.h"
#include "pulse/dsp/analysis.h"
#include "pulse/dsp/leads.h"
#include "pulse/dsp/wfdb_file.h"
#include "record_eval.h"

namespace pulse::ecg_eval {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::ordered_json;

constexpr std::string_view kCommand = "measure";

constexpr std::string_view kHelp =
    R"(Usage: ecg-eval measure [RECORD] [--from SECONDS] [--seconds N] [--json]
       ecg-eval measure --db DIR [--json]

Runs the whole 12-lead analysis that the product stores with every ECG
(signal quality per lead, beats and their class, median beats, global
measurements, rhythm findings) on one WFDB record and prints it, with the
algorithm version and how long the analysis took on one core.

The record must carry the 12 standard leads, or I, II and V1-V6 (III, aVR,
aVL and aVF are then derived); MIT-BIH's modified leads (MLII, V1) are not
a 12-lead ECG. RECORD defaults to LUDB record 1 ($PULSE_DATA_DIR/ludb/1,
else ../shared/data/ludb/1).

With --db DIR, every record of DIR is analysed and its rhythm statement is
compared with the "#Rhythm:" comment of its header (LUDB's cardiologist
statement): a table per record, a confusion summary and the analysis time
per ECG (mean and maximum).

Options:
  --from SECONDS  start of the analysed span (default 0)
  --seconds N     length analysed (default 10; 0 = to the end)
  --db DIR        analyse every record of DIR instead of one
  --json          print the results as JSON
  -h, --help      show this help

Exit status: 0 success, 1 data error, 2 usage error.
)";

constexpr OptionSpec kOptions[] = {
    {"--help", false}, {"--from", true}, {"--seconds", true},
    {"--db", true},    {"--json", false},
};

struct Settings {
  fs::path record;
  std::optional<fs::path> db;
  double from_seconds = 0.0;
  double seconds = 10.0;  // 0 = to the end
  bool json = false;
};

Result<Settings> ParseSettings(const ParsedArgs& args) {
  Settings s;
  const auto& positionals = args.positionals();
  if (positionals.size() > 1) {
    return Fail(ErrorCode::kInvalidArgument, "one RECORD expected");
  }
  if (auto text = args.Value("--from")) {
    auto from = ParseNumber("--from", *text, 0.0, 1e9);
    if (!from) return Fail(from.error());
    s.from_seconds = *from;
  }
  if (auto text = args.Value("--seconds")) {
    auto seconds = ParseNumber("--seconds", *text, 0.0, 1e9);
    if (!seconds) return Fail(seconds.error());
    if (*seconds > 0.0 && *seconds < 2.0) {
      return Fail(ErrorCode::kInvalidArgument,
                  "--seconds " + *text + ": the analysis needs at least 2 s");
    }
    s.seconds = *seconds;
  }
  if (auto dir = args.Value("--db")) {
    if (!positionals.empty()) {
      return Fail(ErrorCode::kInvalidArgument,
                  "give either RECORD or --db, not both");
    }
    s.db = fs::path(*dir);
  }
  s.json = args.Has("--json");
  if (!positionals.empty()) {
    s.record = positionals[0];
    if (s.record.extension() == ".hea") s.record.replace_extension();
  } else {
    s.record = DefaultDataDir() / "ludb" / "1";
  }
  return s;
}

// One record read, cut to the span and laid out as a 12-lead ECG.
struct TwelveLead {
  std::string name;
  double sample_rate_hz = 0.0;
  dsp::Derived12Lead leads;
  std::string header_rhythm;  // "#Rhythm:" comment, "" when absent
};

std::string HeaderRhythm(const dsp::wfdb::RecordHeader& header) {
  constexpr std::string_view kKey = "Rhythm:";
  for (const std::string& comment : header.comments) {
    const auto at = comment.find(kKey);
    if (at == std::string::npos) continue;
    std::string value = comment.substr(at + kKey.size());
    while (!value.empty() && (value.back() == '.' || value.back() == ' ')) {
      value.pop_back();
    }
    const auto start = value.find_first_not_of(' ');
    return start == std::string::npos ? "" : value.substr(start);
  }
  return "";
}

Result<TwelveLead> LoadTwelveLead(const fs::path& path,
                                  const Settings& settings) {
  auto record = dsp::wfdb::ReadRecord(path);
  if (!record) return Fail(record.error());
  const dsp::wfdb::RecordHeader& header = record->header;
  const double rate = header.sampling_frequency_hz;
  const std::int64_t frames = record->num_frames();
  const std::int64_t first = SecondsToFrames(settings.from_seconds, rate);
  if (first >= frames) {
    return Fail(ErrorCode::kInvalidArgument,
                path.string() + ": --from is not before the end of the record");
  }
  const std::int64_t end =
      settings.seconds > 0.0
          ? std::min(frames, first + SecondsToFrames(settings.seconds, rate))
          : frames;

  auto mv = dsp::wfdb::ToMillivolts(*record, first, end);
  if (!mv) return Fail(mv.error().WithContext(path.string()));
  auto leads = dsp::Derive12Lead(*mv, dsp::wfdb::SignalNames(header));
  if (!leads) {
    return Fail(ErrorCode::kInvalidArgument,
                path.string() + " is not a 12-lead ECG: " +
                    leads.error().message());
  }
  return TwelveLead{path.filename().string(), rate, std::move(*leads),
                    HeaderRhythm(header)};
}

struct Timed {
  dsp::EcgAnalysis analysis;
  double seconds = 0.0;
};

Result<Timed> Analyze(const TwelveLead& ecg) {
  dsp::AnalysisConfig config;
  config.sample_rate_hz = ecg.sample_rate_hz;
  const auto start = std::chrono::steady_clock::now();
  auto analysis = dsp::AnalyzeEcg(ecg.leads.samples_mv, config);
  const std::chrono::duration<double> took =
      std::chrono::steady_clock::now() - start;
  if (!analysis) return Fail(analysis.error().WithContext(ecg.name));
  return Timed{std::move(*analysis), took.count()};
}

// The rhythm statement a report would lead with: AF when AF findings cover
// most of the ECG, else the sinus finding covering most of it, else none.
std::string RhythmStatement(const dsp::EcgAnalysis& a) {
  std::map<dsp::RhythmFindingKind, std::int64_t> covered;
  for (const auto& f : a.findings) {
    covered[f.kind] += f.offset_sample - f.onset_sample;
  }
  const auto span = [&](dsp::RhythmFindingKind kind) {
    const auto it = covered.find(kind);
    return it == covered.end() ? 0 : it->second;
  };
  if (2 * span(dsp::RhythmFindingKind::kAtrialFibrillation) >= a.num_frames) {
    return "Atrial fibrillation";
  }
  const std::pair<dsp::RhythmFindingKind, const char*> sinus[] = {
      {dsp::RhythmFindingKind::kSinusRhythm, "Sinus rhythm"},
      {dsp::RhythmFindingKind::kSinusBradycardia, "Sinus bradycardia"},
      {dsp::RhythmFindingKind::kSinusTachycardia, "Sinus tachycardia"},
  };
  const char* best = nullptr;
  std::int64_t best_span = 0;
  for (const auto& [kind, name] : sinus) {
    if (span(kind) > best_span) {
      best = name;
      best_span = span(kind);
    }
  }
  return best != nullptr ? best : "none";
}

std::string Optional(const std::optional<double>& v, const char* format) {
  return v.has_value() ? Format(format, *v) : std::string("-");
}

Json OptionalJson(const std::optional<double>& v) {
  return v.has_value() ? Json(*v) : Json(nullptr);
}

struct BeatCounts {
  int normal = 0, ventricular = 0, unknown = 0;
};

BeatCounts CountBeats(const dsp::EcgAnalysis& a) {
  BeatCounts c;
  for (const auto& b : a.beats) {
    switch (b.beat_class) {
      case dsp::BeatClass::kNormal: ++c.normal; break;
      case dsp::BeatClass::kVentricular: ++c.ventricular; break;
      case dsp::BeatClass::kUnknown: ++c.unknown; break;
    }
  }
  return c;
}

std::string TextReport(const TwelveLead& ecg, const Timed& t) {
  const dsp::EcgAnalysis& a = t.analysis;
  std::string text = Format("Record       %s (%s)\n", ecg.name.c_str(),
                            a.algorithm_version.c_str());
  text += Format("Signal       12 leads%s, %g Hz, %.1f s\n",
                 ecg.leads.limb_leads_derived ? " (III, aVR, aVL, aVF derived)"
                                              : "",
                 a.sample_rate_hz,
                 static_cast<double>(a.num_frames) / a.sample_rate_hz);
  text += Format("Status       %s%s%s\n",
                 std::string(dsp::AnalysisStatusName(a.status)).c_str(),
                 a.status_reason.empty() ? "" : ": ",
                 a.status_reason.c_str());
  text += Format("Analysis     %.3f ms on one core\n", t.seconds * 1000.0);
  text += "\nSignal quality:\n";
  for (int lead = 0; lead < dsp::kNumStandardLeads; ++lead) {
    const auto& q = a.quality.leads[static_cast<std::size_t>(lead)];
    text += Format(
        "  %-4s %.2f  %s%s\n",
        std::string(dsp::LeadName(static_cast<dsp::Lead>(lead))).c_str(),
        q.score, q.reason.c_str(),
        a.lead_used[static_cast<std::size_t>(lead)] ? "" : "  (not used)");
  }
  const BeatCounts beats = CountBeats(a);
  text += Format("\nBeats        %zu: %d normal, %d ventricular, %d unknown\n",
                 a.beats.size(), beats.normal, beats.ventricular,
                 beats.unknown);
  if (a.median_beats) {
    text += Format("Median beat  of %d %s beats\n", a.median_beats->beats_used,
                   std::string(dsp::BeatClassName(a.median_beats->beat_class))
                       .c_str());
  }
  if (a.measurements) {
    const dsp::EcgMeasurements& m = *a.measurements;
    text += "\nMeasurements:\n";
    text += "  HR " + Optional(m.heart_rate_bpm, "%.0f /min") + ", RR " +
            Optional(m.mean_rr_ms, "%.0f ms") + "\n";
    text += "  P " + Optional(m.p_duration_ms, "%.0f ms") + ", PR " +
            Optional(m.pr_interval_ms, "%.0f ms") + ", QRS " +
            Optional(m.qrs_duration_ms, "%.0f ms") + ", QT " +
            Optional(m.qt_interval_ms, "%.0f ms") + "\n";
    const auto qtc = [](const std::optional<dsp::CorrectedQt>& q) {
      return q ? Format("%.0f ms", q->qtc_ms) : std::string("-");
    };
    text += "  QTc " + qtc(m.qtc_bazett) + " (Bazett, QT/RR^(1/2)), " +
            qtc(m.qtc_fridericia) + " (Fridericia, QT/RR^(1/3))\n";
    text += "  Axes P " + Optional(m.p_axis_deg, "%.0f") + ", QRS " +
            Optional(m.qrs_axis_deg, "%.0f") + ", T " +
            Optional(m.t_axis_deg, "%.0f") + " degrees\n";
    text += "  RV5 " + Optional(m.r_amplitude_v5_mv, "%.2f mV") + ", SV1 " +
            Optional(m.s_amplitude_v1_mv, "%.2f mV") + ", Sokolow-Lyon " +
            Optional(m.sokolow_lyon_mv, "%.2f mV") + "\n";
    text += "  SDNN " + Optional(m.sdnn_ms, "%.0f ms") + ", RMSSD " +
            Optional(m.rmssd_ms, "%.0f ms") + "\n";
    text += Format("  ST at J+%.0f ms (mV):", m.st_offset_ms);
    for (int lead = 0; lead < dsp::kNumStandardLeads; ++lead) {
      text += " " +
              std::string(dsp::LeadName(static_cast<dsp::Lead>(lead))) + " " +
              Optional(m.st_level_mv[static_cast<std::size_t>(lead)], "%+.2f");
    }
    text += "\n";
  }
  text += "\nFindings:\n";
  if (a.findings.empty()) text += "  none\n";
  for (const auto& f : a.findings) {
    text += Format("  %s - %s  %s (%d beats, confidence %.2f)\n",
                   FormatClock(static_cast<double>(f.onset_sample) /
                               a.sample_rate_hz)
                       .c_str(),
                   FormatClock(static_cast<double>(f.offset_sample) /
                               a.sample_rate_hz)
                       .c_str(),
                   f.label.c_str(), f.beat_count,
                   static_cast<double>(f.confidence));
  }
  if (!ecg.header_rhythm.empty()) {
    text += "\nHeader rhythm: " + ecg.header_rhythm +
            "; ours: " + RhythmStatement(a) + "\n";
  }
  return text;
}

Json JsonReport(const TwelveLead& ecg, const Timed& t) {
  const dsp::EcgAnalysis& a = t.analysis;
  Json j;
  j["record"] = ecg.name;
  j["algorithm_version"] = a.algorithm_version;
  j["sample_rate_hz"] = a.sample_rate_hz;
  j["num_frames"] = a.num_frames;
  j["status"] = dsp::AnalysisStatusName(a.status);
  j["status_reason"] = a.status_reason;
  j["analysis_ms"] = t.seconds * 1000.0;
  Json& quality = j["quality"] = Json::array();
  for (int lead = 0; lead < dsp::kNumStandardLeads; ++lead) {
    const auto& q = a.quality.leads[static_cast<std::size_t>(lead)];
    quality.push_back(
        {{"lead", dsp::LeadName(static_cast<dsp::Lead>(lead))},
         {"score", q.score},
         {"issue", dsp::QualityIssueName(q.issue)},
         {"reason", q.reason},
         {"used", static_cast<bool>(a.lead_used[static_cast<std::size_t>(lead)])}});
  }
  Json& beats = j["beats"] = Json::array();
  for (const auto& b : a.beats) {
    beats.push_back({{"sample", b.sample},
                     {"class", dsp::BeatClassName(b.beat_class)},
                     {"confidence", b.confidence}});
  }
  if (a.measurements) {
    const dsp::EcgMeasurements& m = *a.measurements;
    Json st = Json::array();
    for (const auto& v : m.st_level_mv) st.push_back(OptionalJson(v));
    const auto qtc = [](const std::optional<dsp::CorrectedQt>& q) {
      return q ? Json(q->qtc_ms) : Json(nullptr);
    };
    j["measurements"] = {
        {"heart_rate_bpm", OptionalJson(m.heart_rate_bpm)},
        {"mean_rr_ms", OptionalJson(m.mean_rr_ms)},
        {"p_duration_ms", OptionalJson(m.p_duration_ms)},
        {"pr_interval_ms", OptionalJson(m.pr_interval_ms)},
        {"qrs_duration_ms", OptionalJson(m.qrs_duration_ms)},
        {"qt_interval_ms", OptionalJson(m.qt_interval_ms)},
        {"qtc_bazett_ms", qtc(m.qtc_bazett)},
        {"qtc_fridericia_ms", qtc(m.qtc_fridericia)},
        {"p_axis_deg", OptionalJson(m.p_axis_deg)},
        {"qrs_axis_deg", OptionalJson(m.qrs_axis_deg)},
        {"t_axis_deg", OptionalJson(m.t_axis_deg)},
        {"st_offset_ms", m.st_offset_ms},
        {"st_level_mv", st},
        {"r_amplitude_v5_mv", OptionalJson(m.r_amplitude_v5_mv)},
        {"s_amplitude_v1_mv", OptionalJson(m.s_amplitude_v1_mv)},
        {"sokolow_lyon_mv", OptionalJson(m.sokolow_lyon_mv)},
        {"sdnn_ms", OptionalJson(m.sdnn_ms)},
        {"rmssd_ms", OptionalJson(m.rmssd_ms)}};
  } else {
    j["measurements"] = nullptr;
  }
  Json& findings = j["findings"] = Json::array();
  for (const auto& f : a.findings) {
    findings.push_back({{"kind", dsp::RhythmFindingKindName(f.kind)},
                        {"onset_sample", f.onset_sample},
                        {"offset_sample", f.offset_sample},
                        {"beat_count", f.beat_count},
                        {"confidence", f.confidence},
                        {"label", f.label}});
  }
  j["rhythm_statement"] = RhythmStatement(a);
  j["header_rhythm"] = ecg.header_rhythm;
  return j;
}

// Header statements that name the same rhythm as ours ("Sinus arrhythmia"
// is sinus rhythm with irregular rate).
std::string NormalisedHeaderRhythm(const std::string& header) {
  if (header == "Sinus arrhythmia") return "Sinus rhythm";
  return header;
}

int RunDatabase(const Settings& settings, std::FILE* out, std::FILE* err) {
  auto names = SelectRecords(*settings.db, {}, "hea");
  if (!names) return DataError(err, kCommand, names.error());
  // header rhythm -> our statement -> records
  std::map<std::string, std::map<std::string, int>> confusion;
  Json records = Json::array();
  std::string table =
      "| record | header rhythm | ours | HR /min | findings | ms |\n"
      "|---|---|---|---|---|---|\n";
  double total_seconds = 0.0, max_seconds = 0.0;
  int agree = 0, analysed = 0;
  for (const std::string& name : *names) {
    auto ecg = LoadTwelveLead(*settings.db / name, settings);
    if (!ecg) return DataError(err, kCommand, ecg.error());
    auto timed = Analyze(*ecg);
    if (!timed) return DataError(err, kCommand, timed.error());
    const std::string ours = RhythmStatement(timed->analysis);
    const std::string theirs = NormalisedHeaderRhythm(ecg->header_rhythm);
    confusion[theirs][ours] += 1;
    agree += ours == theirs ? 1 : 0;
    ++analysed;
    total_seconds += timed->seconds;
    max_seconds = std::max(max_seconds, timed->seconds);
    std::string kinds;
    for (const auto& f : timed->analysis.findings) {
      if (!kinds.empty()) kinds += ", ";
      kinds += dsp::RhythmFindingKindName(f.kind);
    }
    const auto& m = timed->analysis.measurements;
    table += Format("| %s | %s | %s | %s | %s | %.2f |\n", name.c_str(),
                    ecg->header_rhythm.c_str(), ours.c_str(),
                    m ? Optional(m->heart_rate_bpm, "%.0f").c_str() : "-",
                    kinds.c_str(), timed->seconds * 1000.0);
    if (settings.json) records.push_back(JsonReport(*ecg, *timed));
  }
  if (settings.json) {
    Json j;
    j["records"] = std::move(records);
    j["agreement"] = {{"records", analysed}, {"same_rhythm", agree}};
    j["analysis_ms"] = {
        {"mean", analysed > 0 ? total_seconds * 1000.0 / analysed : 0.0},
        {"max", max_seconds * 1000.0}};
    Print(out, j.dump(2) + "\n");
    return kExitOk;
  }
  std::string text = table;
  text += "\n| header rhythm | ours | records |\n|---|---|---|\n";
  for (const auto& [theirs, row] : confusion) {
    for (const auto& [ours, count] : row) {
      text += Format("| %s | %s | %d |\n", theirs.c_str(), ours.c_str(), count);
    }
  }
  text += Format(
      "\nSame rhythm statement: %d of %d records. Analysis time per ECG: "
      "mean %.3f ms, max %.3f ms (wall clock, one core, includes the first "
      "call's warm-up).\n",
      agree, analysed, analysed > 0 ? total_seconds * 1000.0 / analysed : 0.0,
      max_seconds * 1000.0);
  Print(out, text);
  return kExitOk;
}

}  // namespace

int RunMeasureCommand(std::span<const std::string> args, std::FILE* out,
                      std::FILE* err) {
  auto parsed = ParseArgs(args, kOptions);
  if (!parsed) return UsageError(err, kCommand, parsed.error().message());
  if (parsed->Has("--help")) {
    Print(out, kHelp);
    return kExitOk;
  }
  auto settings = ParseSettings(*parsed);
  if (!settings) return UsageError(err, kCommand, settings.error().message());
  if (settings->db) return RunDatabase(*settings, out, err);
  auto ecg = LoadTwelveLead(settings->record, *settings);
  if (!ecg) return DataError(err, kCommand, ecg.error());
  auto timed = Analyze(*ecg);
  if (!timed) return DataError(err, kCommand, timed.error());
  Print(out, settings->json ? JsonReport(*ecg, *timed).dump(2) + "\n"
                            : TextReport(*ecg, *timed));
  return kExitOk;
}

}  // namespace pulse::ecg_eval
