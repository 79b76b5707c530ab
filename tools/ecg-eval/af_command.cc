// `ecg-eval af`: atrial fibrillation episode and duration Se/+P, EC57 as
// WFDB's `epicmp -A` scores it, over every annotated record of a folder.
//
// The pipeline is the product's: QrsDetector exactly as `ecg-eval qrs` runs
// it (DetectionRunner), pulse::dsp::ClassifyBeats on the whole record in
// millivolts (or every beat marked normal with --all-normal, to see the AF
// detector cope with ectopic beats on its own), then
// pulse::dsp::DetectAtrialFibrillation with the signal. Its episodes are
// scored against the "(AFIB" rhythm annotations of the .atr
// (pulse::dsp::ScoreAfEpisodes, epicmp's rules).
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "args.h"
#include "commands.h"
#include "format.h"
#include "pulse/dsp/af_detector.h"
#include "pulse/dsp/af_scoring.h"
#include "pulse/dsp/beat_classifier.h"
#include "pulse/dsp/wfdb_file.h"
#include "record_eval.h"

namespace pulse::ecg_eval {
namespace {

namespace fs = std::filesystem;
using dsp::AfEpisodeCounts;
using dsp::RhythmEpisode;

constexpr std::string_view kCommand = "af";

constexpr std::string_view kHelp =
    R"(Usage: ecg-eval af [--db DIR] [--records 101,106,...] [--from SECONDS]
                   [--all-normal] [--episodes] [--windows] [--json]

Runs the QRS detector (as 'ecg-eval qrs' does), the beat classifier and the
atrial fibrillation (AF) detector over every record of DIR that has a header
(.hea) and reference annotations (.atr), and scores the AF episodes found
against the reference rhythm annotations the way ANSI/AAMI EC57 and WFDB's
'epicmp -A' do. A reference AF episode runs from an "(AFIB" rhythm
annotation to the next rhythm change; episodes are clipped to the scoring
span; parts of detected episodes inside reference atrial flutter ("(AFL")
are left out of +P.

  episode Se  = reference episodes overlapped by a detection / all
  episode +P  = detected episodes overlapping reference AF / all
  duration Se = overlap / reference AF time
  duration +P = overlap / detected AF time

Prints per record and gross (summed times and counts): reference AF time,
detected AF time, overlap, duration Se and +P, episode counts, and the
records without reference AF that got an AF finding (anywhere in the
record, scoring span or not).

Options:
  --db DIR             record folder (default: $PULSE_DATA_DIR/mitdb, else
                       ../shared/data/mitdb)
  --records LIST       comma-separated record names (default: all in DIR)
  --from SECONDS       start of scoring (default 300, EC57's 5 minutes;
                       0 scores the whole record)
  --all-normal         skip the beat classifier: every beat is "normal", so
                       the AF detector must cope with ectopic beats alone
  --header-rhythm      record-level check for short ECGs without rhythm
                       annotations (e.g. LUDB, 10 s): the reference is the
                       "Rhythm: ..." comment of each .hea (AF when it says
                       atrial fibrillation); every record with a .hea is
                       analysed whole, and records are counted as true/false
                       positives/negatives (Se, specificity, +P)
  --episodes           also list reference and detected episodes
  --windows            also list the detector's per-interval scores
                       (irregularity, P-wave and QRS coherence, verdict)
  --json               print the results as JSON instead of a table
  -h, --help           show this help

Exit status: 0 success, 1 data error, 2 usage error.
)";

constexpr OptionSpec kOptions[] = {
    {"--help", false},       {"--db", true},       {"--records", true},
    {"--from", true},        {"--json", false},    {"--all-normal", false},
    {"--episodes", false},   {"--windows", false},  {"--header-rhythm", false},
};

struct Settings {
  fs::path db;
  std::vector<std::string> records;
  double from_seconds = 300.0;
  bool all_normal = false;
  bool header_rhythm = false;
  bool episodes = false;
  bool windows = false;
  bool json = false;
};

struct RecordScore {
  std::string name;
  double sample_rate_hz = 0.0;
  double duration_seconds = 0.0;
  AfEpisodeCounts counts;
  bool has_reference_af = false;  // anywhere in the record
  std::string header_rhythm;      // --header-rhythm: the .hea's rhythm
  std::vector<RhythmEpisode> reference;
  std::vector<RhythmEpisode> detected;
  std::vector<dsp::AfWindowScore> windows;
  double af_seconds = 0.0;  // wall time in DetectAtrialFibrillation
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
  settings.all_normal = args.Has("--all-normal");
  settings.header_rhythm = args.Has("--header-rhythm");
  settings.episodes = args.Has("--episodes");
  settings.windows = args.Has("--windows");
  settings.json = args.Has("--json");
  return settings;
}

Result<std::vector<dsp::ClassifiedBeat>> Beats(
    const Settings& settings, const std::vector<float>& mv,
    const std::vector<std::int64_t>& qrs, double rate, int leads,
    const std::string& name) {
  if (settings.all_normal) {
    std::vector<dsp::ClassifiedBeat> beats;
    beats.reserve(qrs.size());
    for (std::int64_t s : qrs) {
      beats.push_back({s, dsp::BeatClass::kNormal, 1.0f});
    }
    return beats;
  }
  dsp::BeatClassifierConfig config;
  config.sample_rate_hz = rate;
  config.num_leads = leads;
  auto beats = dsp::ClassifyBeats(mv, qrs, config);
  if (!beats) {
    return Fail(ErrorCode::kUnsupported, "record " + name +
                                             ": beat classifier: " +
                                             beats.error().message());
  }
  return beats;
}

// The text after "Rhythm:" in the header comments, lower case, without the
// final period; empty when absent.
std::string HeaderRhythm(const dsp::wfdb::RecordHeader& header) {
  for (const std::string& comment : header.comments) {
    const auto at = comment.find("Rhythm:");
    if (at == std::string::npos) continue;
    std::string rhythm = comment.substr(at + 7);
    for (char& c : rhythm) {
      c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    const auto first = rhythm.find_first_not_of(" ");
    const auto last = rhythm.find_last_not_of(" .\r");
    return first == std::string::npos ? std::string()
                                      : rhythm.substr(first, last - first + 1);
  }
  return {};
}

Result<RecordScore> ScoreRecord(const Settings& settings,
                                const std::string& name,
                                DetectionRunner* runner) {
  const fs::path path = settings.db / name;
  auto record = dsp::wfdb::ReadRecord(path);
  if (!record) return Fail(record.error());
  std::vector<dsp::wfdb::Annotation> reference;
  if (!settings.header_rhythm) {
    auto read = dsp::wfdb::ReadAnnotationFile(path, "atr");
    if (!read) return Fail(read.error());
    reference = std::move(*read);
  }

  RecordScore score;
  score.name = name;
  const double rate = record->header.sampling_frequency_hz;
  score.sample_rate_hz = rate;
  const std::int64_t frames = record->num_frames();
  score.duration_seconds = static_cast<double>(frames) / rate;

  auto detection = runner->Run(*record, name, 0, frames);
  if (!detection) return Fail(detection.error());
  auto mv = dsp::wfdb::ToMillivolts(*record);
  if (!mv) return Fail(mv.error().WithContext("record " + name));
  auto beats = Beats(settings, *mv, detection->beats, rate,
                     record->num_signals(), name);
  if (!beats) return Fail(beats.error());

  dsp::AfDetectorConfig config;
  config.sample_rate_hz = rate;
  config.num_leads = record->num_signals();
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  auto episodes = dsp::DetectAtrialFibrillation(*beats, *mv, config);
  score.af_seconds =
      std::chrono::duration<double>(Clock::now() - start).count();
  if (!episodes) {
    return Fail(ErrorCode::kUnsupported,
                "record " + name + ": AF detector: " +
                    episodes.error().message());
  }
  score.detected = std::move(*episodes);
  if (settings.windows) {
    auto windows = dsp::ScoreAfWindows(*beats, *mv, config);
    if (windows) score.windows = std::move(*windows);
  }
  if (settings.header_rhythm) {
    score.header_rhythm = HeaderRhythm(record->header);
    score.has_reference_af =
        score.header_rhythm.find("fibrillation") != std::string::npos;
    return score;
  }
  score.reference = dsp::ReferenceRhythmEpisodes(reference, "(AFIB", frames);
  score.has_reference_af = !score.reference.empty();

  dsp::AfScoreOptions options;
  options.score_from_sample = SecondsToFrames(settings.from_seconds, rate);
  options.score_to_sample = frames;
  score.counts = dsp::ScoreAfEpisodes(reference, score.detected, options);
  return score;
}

double Seconds(std::int64_t samples, double rate) {
  return rate > 0.0 ? static_cast<double>(samples) / rate : 0.0;
}

// "-" when the denominator is 0 (nothing to score).
std::string PercentOrDash(double percent, std::int64_t denominator) {
  return denominator > 0 ? Format("%.1f", percent) : std::string("-");
}

std::string CountsRow(std::string_view label, const AfEpisodeCounts& c,
                      double rate) {
  return Format(
      "%-8.*s %9.0f %9.0f %9.0f %7s %7s   %3lld/%-3lld  %3lld/%-3lld\n",
      static_cast<int>(label.size()), label.data(),
      Seconds(c.ref_samples, rate), Seconds(c.test_samples, rate),
      Seconds(c.overlap_se_samples, rate),
      PercentOrDash(c.DurationSensitivityPercent(), c.ref_samples).c_str(),
      PercentOrDash(c.DurationPositivePredictivityPercent(), c.test_samples)
          .c_str(),
      static_cast<long long>(c.ref_detected),
      static_cast<long long>(c.ref_detected + c.ref_missed),
      static_cast<long long>(c.test_true),
      static_cast<long long>(c.test_true + c.test_false));
}

std::vector<std::string> FalseFindingRecords(
    const std::vector<RecordScore>& scores) {
  std::vector<std::string> names;
  for (const RecordScore& s : scores) {
    if (!s.has_reference_af && !s.detected.empty()) names.push_back(s.name);
  }
  return names;
}

std::string EpisodeList(const RecordScore& s) {
  std::string text;
  auto line = [&](const char* kind, const RhythmEpisode& e) {
    text += Format("%-8s %-9s %s - %s  (%.0f s, confidence %.2f)\n",
                   s.name.c_str(), kind,
                   FormatClock(Seconds(e.onset_sample, s.sample_rate_hz))
                       .c_str(),
                   FormatClock(Seconds(e.offset_sample, s.sample_rate_hz))
                       .c_str(),
                   Seconds(e.offset_sample - e.onset_sample, s.sample_rate_hz),
                   static_cast<double>(e.confidence));
  };
  for (const RhythmEpisode& e : s.reference) line("reference", e);
  for (const RhythmEpisode& e : s.detected) line("detected", e);
  return text;
}

// Per-interval scores, tab-separated; ref is 1 when the interval lies in a
// reference AF episode.
std::string WindowList(const std::vector<RecordScore>& scores) {
  std::string text;
  text += "\nrecord\tonset_s\tirregularity\tp_coherence\tqrs_coherence"
          "\tusable\taf\tref\n";
  for (const RecordScore& s : scores) {
    for (const dsp::AfWindowScore& w : s.windows) {
      bool in_ref = false;
      for (const RhythmEpisode& e : s.reference) {
        in_ref = in_ref || (w.onset_sample >= e.onset_sample &&
                            w.offset_sample <= e.offset_sample);
      }
      text += Format("%s\t%.2f\t%.4f\t%.3f\t%.3f\t%.2f\t%d\t%d\n",
                     s.name.c_str(),
                     Seconds(w.onset_sample, s.sample_rate_hz),
                     w.irregularity, w.p_coherence, w.qrs_coherence,
                     w.usable_fraction, w.af ? 1 : 0, in_ref ? 1 : 0);
    }
  }
  return text;
}

std::string TextReport(const Settings& settings,
                       const std::vector<RecordScore>& scores,
                       const AfEpisodeCounts& gross, double rate) {
  std::string text = Format(
      "Atrial fibrillation, EC57 episode/duration comparison (WFDB epicmp "
      "-A rules): %s, %zu record%s\nscored from %s s to the end of each "
      "record; beats: %s\n\n",
      settings.db.string().c_str(), scores.size(),
      scores.size() == 1 ? "" : "s",
      Format("%g", settings.from_seconds).c_str(),
      settings.all_normal ? "QRS detector, all marked normal"
                          : "QRS detector + beat classifier");
  text +=
      "Record    ref AF s  det AF s overlap s  dur Se  dur +P   ref ep   "
      "det ep\n";
  for (const RecordScore& s : scores) {
    text += CountsRow(s.name, s.counts, s.sample_rate_hz);
  }
  text += CountsRow("Gross", gross, rate);
  text += Format("\nEpisode Se %s %%, episode +P %s %%\n",
                 PercentOrDash(gross.EpisodeSensitivityPercent(),
                               gross.ref_detected + gross.ref_missed)
                     .c_str(),
                 PercentOrDash(gross.EpisodePositivePredictivityPercent(),
                               gross.test_true + gross.test_false)
                     .c_str());
  const std::vector<std::string> false_records = FalseFindingRecords(scores);
  std::string list;
  for (const std::string& n : false_records) list += " " + n;
  text += Format("Records without reference AF given an AF finding: %zu%s\n",
                 false_records.size(), list.c_str());
  double af_seconds = 0.0;
  for (const RecordScore& s : scores) af_seconds += s.af_seconds;
  text += Format("AF detector time: %.4f s in all\n", af_seconds);
  if (settings.episodes) {
    text += "\nEpisodes (whole record):\n";
    for (const RecordScore& s : scores) text += EpisodeList(s);
  }
  if (settings.windows) text += WindowList(scores);
  return text;
}

struct RecordConfusion {
  int tp = 0, fn = 0, fp = 0, tn = 0;
};

RecordConfusion Confusion(const std::vector<RecordScore>& scores) {
  RecordConfusion c;
  for (const RecordScore& s : scores) {
    const bool found = !s.detected.empty();
    if (s.has_reference_af) {
      (found ? c.tp : c.fn) += 1;
    } else {
      (found ? c.fp : c.tn) += 1;
    }
  }
  return c;
}

std::string HeaderReport(const Settings& settings,
                         const std::vector<RecordScore>& scores) {
  std::string text = Format(
      "Atrial fibrillation, record level against the header's rhythm: %s, "
      "%zu records, whole records analysed; beats: %s\n\n",
      settings.db.string().c_str(), scores.size(),
      settings.all_normal ? "QRS detector, all marked normal"
                          : "QRS detector + beat classifier");
  text += "Records with reference AF or an AF finding:\n";
  text += "Record   AF found  AF s     header rhythm\n";
  for (const RecordScore& s : scores) {
    if (!s.has_reference_af && s.detected.empty()) continue;
    std::int64_t samples = 0;
    for (const RhythmEpisode& e : s.detected) {
      samples += e.offset_sample - e.onset_sample;
    }
    text += Format("%-8s %-9s %5.1f    %s\n", s.name.c_str(),
                   s.detected.empty() ? "no" : "yes",
                   Seconds(samples, s.sample_rate_hz), s.header_rhythm.c_str());
  }
  const RecordConfusion c = Confusion(scores);
  auto pct = [](int num, int den) {
    return den > 0 ? Format("%.1f", 100.0 * num / den) : std::string("-");
  };
  text += Format(
      "\nTP %d  FN %d  FP %d  TN %d   Se %s %%  Sp %s %%  +P %s %%\n", c.tp,
      c.fn, c.fp, c.tn, pct(c.tp, c.tp + c.fn).c_str(),
      pct(c.tn, c.tn + c.fp).c_str(), pct(c.tp, c.tp + c.fp).c_str());
  return text;
}

std::string HeaderJson(const Settings& settings,
                       const std::vector<RecordScore>& scores) {
  nlohmann::ordered_json j;
  j["db"] = settings.db.string();
  j["beats"] = settings.all_normal ? "all-normal" : "classifier";
  j["rules"] = "record level: any AF episode vs header 'Rhythm:'";
  auto& records = j["records"] = nlohmann::ordered_json::array();
  for (const RecordScore& s : scores) {
    records.push_back({{"record", s.name},
                       {"header_rhythm", s.header_rhythm},
                       {"reference_af", s.has_reference_af},
                       {"af_found", !s.detected.empty()}});
  }
  const RecordConfusion c = Confusion(scores);
  j["tp"] = c.tp;
  j["fn"] = c.fn;
  j["fp"] = c.fp;
  j["tn"] = c.tn;
  return j.dump(2) + "\n";
}

nlohmann::ordered_json PercentJson(double percent, std::int64_t denominator) {
  return denominator > 0 ? nlohmann::ordered_json(percent)
                         : nlohmann::ordered_json(nullptr);
}

nlohmann::ordered_json CountsJson(const AfEpisodeCounts& c, double rate) {
  nlohmann::ordered_json j;
  j["ref_af_seconds"] = Seconds(c.ref_samples, rate);
  j["detected_af_seconds"] = Seconds(c.test_samples, rate);
  j["overlap_seconds"] = Seconds(c.overlap_se_samples, rate);
  j["duration_se_pct"] =
      PercentJson(c.DurationSensitivityPercent(), c.ref_samples);
  j["duration_ppv_pct"] =
      PercentJson(c.DurationPositivePredictivityPercent(), c.test_samples);
  j["ref_episodes"] = c.ref_detected + c.ref_missed;
  j["ref_episodes_detected"] = c.ref_detected;
  j["detected_episodes"] = c.test_true + c.test_false;
  j["detected_episodes_true"] = c.test_true;
  j["episode_se_pct"] = PercentJson(c.EpisodeSensitivityPercent(),
                                    c.ref_detected + c.ref_missed);
  j["episode_ppv_pct"] = PercentJson(c.EpisodePositivePredictivityPercent(),
                                     c.test_true + c.test_false);
  return j;
}

nlohmann::ordered_json EpisodesJson(const std::vector<RhythmEpisode>& list,
                                    double rate) {
  auto j = nlohmann::ordered_json::array();
  for (const RhythmEpisode& e : list) {
    j.push_back({{"onset_seconds", Seconds(e.onset_sample, rate)},
                 {"offset_seconds", Seconds(e.offset_sample, rate)},
                 {"confidence", e.confidence}});
  }
  return j;
}

std::string JsonReport(const Settings& settings,
                       const std::vector<RecordScore>& scores,
                       const AfEpisodeCounts& gross, double rate) {
  nlohmann::ordered_json j;
  j["db"] = settings.db.string();
  j["from_seconds"] = settings.from_seconds;
  j["beats"] = settings.all_normal ? "all-normal" : "classifier";
  j["rules"] = "ANSI/AAMI EC57 AF episode/duration, WFDB epicmp -A";
  auto& records = j["records"] = nlohmann::ordered_json::array();
  for (const RecordScore& s : scores) {
    nlohmann::ordered_json r;
    r["record"] = s.name;
    r["duration_seconds"] = s.duration_seconds;
    r["has_reference_af"] = s.has_reference_af;
    r.update(CountsJson(s.counts, s.sample_rate_hz));
    r["af_detector_seconds"] = s.af_seconds;
    if (settings.episodes) {
      r["reference_episodes"] = EpisodesJson(s.reference, s.sample_rate_hz);
      r["detected_episodes_list"] = EpisodesJson(s.detected, s.sample_rate_hz);
    }
    records.push_back(std::move(r));
  }
  j["gross"] = CountsJson(gross, rate);
  j["false_finding_records"] = FalseFindingRecords(scores);
  return j.dump(2) + "\n";
}

}  // namespace

int RunAfCommand(std::span<const std::string> args, std::FILE* out,
                 std::FILE* err) {
  auto parsed = ParseArgs(args, kOptions);
  if (!parsed) return UsageError(err, kCommand, parsed.error().message());
  if (parsed->Has("--help")) {
    Print(out, kHelp);
    return kExitOk;
  }
  auto settings = ParseSettings(*parsed);
  if (!settings) return UsageError(err, kCommand, settings.error().message());

  // With --header-rhythm every record with a header counts (".hea" beside
  // itself).
  auto selected = SelectRecords(settings->db, settings->records,
                                settings->header_rhythm ? "hea" : "atr");
  if (!selected) return DataError(err, kCommand, selected.error());
  const std::vector<std::string>& names = *selected;

  std::vector<RecordScore> scores;
  AfEpisodeCounts gross;
  DetectionRunner runner;
  double rate = 0.0;
  for (const std::string& name : names) {
    auto score = ScoreRecord(*settings, name, &runner);
    if (!score) return DataError(err, kCommand, score.error());
    if (rate == 0.0) rate = score->sample_rate_hz;
    if (score->sample_rate_hz != rate) {
      return DataError(err, kCommand,
                       Error(ErrorCode::kUnsupported,
                             "record " + name +
                                 ": sample rate differs from the first "
                                 "record's; gross times need one rate"));
    }
    gross += score->counts;
    scores.push_back(std::move(*score));
  }
  if (settings->header_rhythm) {
    Print(out, settings->json ? HeaderJson(*settings, scores)
                              : HeaderReport(*settings, scores));
    if (settings->windows && !settings->json) Print(out, WindowList(scores));
    return kExitOk;
  }
  Print(out, settings->json ? JsonReport(*settings, scores, gross, rate)
                            : TextReport(*settings, scores, gross, rate));
  return kExitOk;
}

}  // namespace pulse::ecg_eval
