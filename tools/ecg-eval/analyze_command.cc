// `ecg-eval analyze`: the user-facing job for now. Reads one record, finds
// its beats and summarises them (heart rate, RR intervals, how fast), and
// scores them against reference annotations when a .atr lies beside it.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <system_error>
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

constexpr std::string_view kCommand = "analyze";

constexpr std::string_view kHelp =
    R"(Usage: ecg-eval analyze [RECORD] [--from SECONDS] [--to SECONDS]
                        [--beats N] [--json]

Reads one WFDB record, detects its QRS complexes on all leads and prints a
summary: duration and leads, beats found, mean heart rate, shortest, mean and
longest RR interval, how long detection took and how many times faster than
real time that is, then the first N beats with their time and the RR
interval before each. When reference annotations (RECORD.atr) lie beside the
record, the beats are also scored against them (ANSI/AAMI EC57 beat by beat,
150 ms window, WFDB bxb rules) over the analysed span.

RECORD is the record's path without extension, e.g. ../shared/data/mitdb/101
(default: record 101 of the MIT-BIH folder: $PULSE_DATA_DIR/mitdb/101, else
../shared/data/mitdb/101, else the data folder beside the source tree).

Options:
  --from SECONDS   start of the analysed span (default 0)
  --to SECONDS     end of the analysed span (default: end of the record)
  --beats N        how many beats to list (default 20; 0 = none)
  --json           print the results as JSON
  -h, --help       show this help

Exit status: 0 success, 1 data error, 2 usage error.
)";

constexpr OptionSpec kOptions[] = {
    {"--help", false}, {"--from", true},  {"--to", true},
    {"--beats", true}, {"--json", false},
};

struct Settings {
  fs::path record;
  double from_seconds = 0.0;
  std::optional<double> to_seconds;
  std::int64_t beats_to_list = 20;
  bool json = false;
};

struct RrStats {
  double min_ms = 0.0;
  double mean_ms = 0.0;
  double max_ms = 0.0;
};

struct Analysis {
  const dsp::wfdb::Record* record = nullptr;
  std::int64_t first_frame = 0;
  std::int64_t end_frame = 0;
  DetectionResult detection;
  std::optional<RrStats> rr;  // needs two beats
  bool has_reference = false;
  dsp::BeatMatchCounts counts;
};

bool HeaderExists(const fs::path& record) {
  fs::path header = record;
  header += ".hea";
  std::error_code ec;
  return fs::is_regular_file(header, ec);
}

Result<Settings> ParseSettings(const ParsedArgs& args) {
  Settings settings;
  const auto& positionals = args.positionals();
  if (positionals.size() > 1) {
    return Fail(ErrorCode::kInvalidArgument, "one RECORD expected, got '" +
                                                 positionals[0] + "' and '" +
                                                 positionals[1] + "'");
  }
  if (auto text = args.Value("--from")) {
    auto from = ParseNumber("--from", *text, 0.0, 1e9);
    if (!from) return Fail(from.error());
    settings.from_seconds = *from;
  }
  if (auto text = args.Value("--to")) {
    auto to = ParseNumber("--to", *text, 0.0, 1e9);
    if (!to) return Fail(to.error());
    if (*to <= settings.from_seconds) {
      return Fail(ErrorCode::kInvalidArgument,
                  "--to " + *text + " must be after --from " +
                      Format("%g", settings.from_seconds));
    }
    settings.to_seconds = *to;
  }
  if (auto text = args.Value("--beats")) {
    auto beats = ParseInteger("--beats", *text, 0, 1'000'000'000);
    if (!beats) return Fail(beats.error());
    settings.beats_to_list = *beats;
  }
  settings.json = args.Has("--json");
  if (!positionals.empty()) {
    fs::path record = positionals[0];
    // Accept the header's own name too: "101.hea" means record "101".
    if (record.extension() == ".hea") record.replace_extension();
    settings.record = record;
  } else {
    settings.record = DefaultDataDir() / "mitdb" / "101";
  }
  return settings;
}

std::optional<RrStats> ComputeRr(const std::vector<std::int64_t>& beats,
                                 double rate_hz) {
  if (beats.size() < 2) return std::nullopt;
  std::int64_t min_frames = std::numeric_limits<std::int64_t>::max();
  std::int64_t max_frames = 0;
  for (std::size_t i = 1; i < beats.size(); ++i) {
    const std::int64_t rr = beats[i] - beats[i - 1];
    min_frames = std::min(min_frames, rr);
    max_frames = std::max(max_frames, rr);
  }
  const double ms_per_frame = 1000.0 / rate_hz;
  RrStats stats;
  stats.min_ms = static_cast<double>(min_frames) * ms_per_frame;
  stats.max_ms = static_cast<double>(max_frames) * ms_per_frame;
  // The mean of consecutive RRs telescopes to (last - first) / count.
  stats.mean_ms = static_cast<double>(beats.back() - beats.front()) /
                  static_cast<double>(beats.size() - 1) * ms_per_frame;
  return stats;
}

std::string LeadNames(const dsp::wfdb::RecordHeader& header) {
  std::string names;
  for (std::size_t s = 0; s < header.signals.size(); ++s) {
    if (s > 0) names += ", ";
    const std::string& d = header.signals[s].description;
    names += d.empty() ? "signal " + std::to_string(s) : d;
  }
  return names;
}

double RealTimeFactor(double record_seconds, double wall_seconds) {
  return wall_seconds > 0.0 ? record_seconds / wall_seconds
                            : std::numeric_limits<double>::infinity();
}

std::string TextReport(const Settings& settings, const Analysis& a) {
  const dsp::wfdb::RecordHeader& h = a.record->header;
  const double rate = h.sampling_frequency_hz;
  const double duration = static_cast<double>(a.record->num_frames()) / rate;
  const double from = static_cast<double>(a.first_frame) / rate;
  const double to = static_cast<double>(a.end_frame) / rate;
  const auto& beats = a.detection.beats;

  std::string text = Format("Record       %s\n", settings.record.c_str());
  text +=
      Format("Signal       %d lead%s (%s), %g Hz, %s (%lld frames)\n",
             a.record->num_signals(), a.record->num_signals() == 1 ? "" : "s",
             LeadNames(h).c_str(), rate, FormatClock(duration).c_str(),
             static_cast<long long>(a.record->num_frames()));
  text += Format("Analysed     %s to %s (%.1f s)\n", FormatClock(from).c_str(),
                 FormatClock(to).c_str(), to - from);
  text += Format("Beats found  %zu\n", beats.size());
  if (a.rr) {
    text += Format("Heart rate   %.1f bpm (mean)\n", 60000.0 / a.rr->mean_ms);
    text += Format("RR interval  min %.0f ms, mean %.0f ms, max %.0f ms\n",
                   a.rr->min_ms, a.rr->mean_ms, a.rr->max_ms);
  } else {
    text += "Heart rate   - (fewer than two beats)\n";
    text += "RR interval  -\n";
  }
  text += Format(
      "Detection    %.2f ms for %.1f s of ECG: %s x real time\n",
      a.detection.detector_seconds * 1000.0, to - from,
      FormatGrouped(RealTimeFactor(to - from, a.detection.detector_seconds))
          .c_str());

  const auto listed = static_cast<std::size_t>(std::min<std::int64_t>(
      settings.beats_to_list, static_cast<std::int64_t>(beats.size())));
  if (listed > 0) {
    text += Format("\nFirst %zu beat%s:\n      #        time     RR ms\n",
                   listed, listed == 1 ? "" : "s");
    for (std::size_t i = 0; i < listed; ++i) {
      const std::string rr =
          i == 0 ? "-"
                 : Format("%.0f", static_cast<double>(beats[i] - beats[i - 1]) *
                                      1000.0 / rate);
      text += Format("%7zu  %10s  %8s\n", i + 1,
                     FormatClock(static_cast<double>(beats[i]) / rate).c_str(),
                     rr.c_str());
    }
  }

  if (a.has_reference) {
    const dsp::BeatMatchCounts& c = a.counts;
    text += Format(
        "\nAccuracy vs %s.atr (EC57 beat by beat, 150 ms window, over the "
        "analysed span):\n"
        "  reference beats %lld: TP %lld, FN %lld, FP %lld; "
        "Se %.2f %%, +P %.2f %%\n",
        settings.record.filename().c_str(),
        static_cast<long long>(c.reference_beats()),
        static_cast<long long>(c.true_positives),
        static_cast<long long>(c.false_negatives),
        static_cast<long long>(c.false_positives), c.SensitivityPercent(),
        c.PositivePredictivityPercent());
  } else {
    text += Format(
        "\nNo reference annotations (%s.atr): accuracy not "
        "scored.\n",
        settings.record.filename().c_str());
  }
  return text;
}

std::string JsonReport(const Settings& settings, const Analysis& a) {
  const dsp::wfdb::RecordHeader& h = a.record->header;
  const double rate = h.sampling_frequency_hz;
  const double from = static_cast<double>(a.first_frame) / rate;
  const double to = static_cast<double>(a.end_frame) / rate;
  const auto& beats = a.detection.beats;
  nlohmann::ordered_json j;
  j["record"] = settings.record.string();
  j["sample_rate_hz"] = rate;
  j["num_frames"] = a.record->num_frames();
  auto& leads = j["leads"] = nlohmann::ordered_json::array();
  for (const auto& spec : h.signals) leads.push_back(spec.description);
  j["duration_seconds"] = static_cast<double>(a.record->num_frames()) / rate;
  j["from_seconds"] = from;
  j["to_seconds"] = to;
  j["beats_found"] = beats.size();
  if (a.rr) {
    j["mean_heart_rate_bpm"] = 60000.0 / a.rr->mean_ms;
    j["rr_ms"] = {
        {"min", a.rr->min_ms}, {"mean", a.rr->mean_ms}, {"max", a.rr->max_ms}};
  } else {
    j["mean_heart_rate_bpm"] = nullptr;
    j["rr_ms"] = nullptr;
  }
  const double factor = RealTimeFactor(to - from, a.detection.detector_seconds);
  j["detection"] = {
      {"seconds", a.detection.detector_seconds},
      {"x_realtime", std::isfinite(factor) ? nlohmann::ordered_json(factor)
                                           : nlohmann::ordered_json(nullptr)}};
  auto& list = j["beats"] = nlohmann::ordered_json::array();
  const auto listed = static_cast<std::size_t>(std::min<std::int64_t>(
      settings.beats_to_list, static_cast<std::int64_t>(beats.size())));
  for (std::size_t i = 0; i < listed; ++i) {
    nlohmann::ordered_json beat;
    beat["sample"] = beats[i];
    beat["time_seconds"] = static_cast<double>(beats[i]) / rate;
    if (i == 0) {
      beat["rr_ms"] = nullptr;
    } else {
      beat["rr_ms"] =
          static_cast<double>(beats[i] - beats[i - 1]) * 1000.0 / rate;
    }
    list.push_back(std::move(beat));
  }
  if (a.has_reference) {
    const dsp::BeatMatchCounts& c = a.counts;
    j["accuracy"] = {{"ref_beats", c.reference_beats()},
                     {"tp", c.true_positives},
                     {"fn", c.false_negatives},
                     {"fp", c.false_positives},
                     {"se_pct", c.SensitivityPercent()},
                     {"ppv_pct", c.PositivePredictivityPercent()}};
  } else {
    j["accuracy"] = nullptr;
  }
  return j.dump(2) + "\n";
}

}  // namespace

int RunAnalyzeCommand(std::span<const std::string> args, std::FILE* out,
                      std::FILE* err) {
  auto parsed = ParseArgs(args, kOptions);
  if (!parsed) return UsageError(err, kCommand, parsed.error().message());
  if (parsed->Has("--help")) {
    Print(out, kHelp);
    return kExitOk;
  }
  auto settings = ParseSettings(*parsed);
  if (!settings) return UsageError(err, kCommand, settings.error().message());
  if (parsed->positionals().empty() && !HeaderExists(settings->record)) {
    return DataError(
        err, kCommand,
        Error(ErrorCode::kNotFound,
              "no RECORD given and the default record " +
                  settings->record.string() +
                  " was not found (set PULSE_DATA_DIR or name a record)"));
  }

  auto record = dsp::wfdb::ReadRecord(settings->record);
  if (!record) return DataError(err, kCommand, record.error());
  const double rate = record->header.sampling_frequency_hz;
  const std::int64_t frames = record->num_frames();
  const double duration = static_cast<double>(frames) / rate;

  Analysis analysis;
  analysis.record = &*record;
  analysis.first_frame = SecondsToFrames(settings->from_seconds, rate);
  if (analysis.first_frame >= frames) {
    return UsageError(
        err, kCommand,
        Format("--from %g s is not before the end of %s "
               "(%.3f s)",
               settings->from_seconds, settings->record.c_str(), duration));
  }
  analysis.end_frame =
      settings->to_seconds
          ? std::min(frames, SecondsToFrames(*settings->to_seconds, rate))
          : frames;

  // A .atr beside the record is scored; one that is there but unreadable
  // is a data error rather than silently skipped.
  fs::path atr = settings->record;
  atr += ".atr";
  std::error_code ec;
  std::vector<dsp::wfdb::Annotation> reference;
  if (fs::exists(atr, ec)) {
    auto annotations = dsp::wfdb::ReadAnnotationFile(settings->record, "atr");
    if (!annotations) return DataError(err, kCommand, annotations.error());
    reference = std::move(*annotations);
    analysis.has_reference = true;
  }

  DetectionRunner runner;
  auto detection = runner.Run(*record, settings->record.filename().string(),
                              analysis.first_frame, analysis.end_frame);
  if (!detection) return DataError(err, kCommand, detection.error());
  analysis.detection = std::move(*detection);
  analysis.rr = ComputeRr(analysis.detection.beats, rate);

  if (analysis.has_reference) {
    dsp::BeatMatchOptions options;
    options.sample_rate_hz = rate;
    options.score_from_sample = analysis.first_frame;
    options.score_to_sample = analysis.end_frame;
    analysis.counts =
        dsp::MatchBeats(reference, analysis.detection.beats, options);
  }

  Print(out, settings->json ? JsonReport(*settings, analysis)
                            : TextReport(*settings, analysis));
  return kExitOk;
}

}  // namespace pulse::ecg_eval
