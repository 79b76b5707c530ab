// Subcommand dispatch and the tool's top-level help.
#include "commands.h"

#include <string>

namespace pulse::ecg_eval {
namespace {

constexpr std::string_view kToolHelp = R"(Usage: ecg-eval <command> [options]

Evaluates Pulse Ledger's QRS detector on annotated WFDB records.

Commands:
  qrs       beat-by-beat accuracy (ANSI/AAMI EC57, WFDB bxb rules) and speed
            over every annotated record of a folder
  analyze   beats, heart rate and RR intervals of one record, with accuracy
            when reference annotations (.atr) lie beside it
  measure   the product's whole 12-lead analysis (quality, beats,
            measurements, rhythm findings) of a record or a folder
  veb       ventricular ectopic beat classification Se/+P (EC57, bxb rules)
            over every annotated record of a folder
  af        atrial fibrillation episode and duration Se/+P (EC57, epicmp
            rules) over every annotated record of a folder
  delineation  P/QRS/T onset and offset errors and Se per beat and lead
            against LUDB's per-lead annotations
  intervals global P, PR, QRS, QT of the median beat per LUDB record vs
            the annotations (IEC 60601-2-25 limits)

Run 'ecg-eval <command> --help' for the options of a command.

Exit status: 0 success, 1 data error (missing, unreadable or malformed
record files), 2 usage error (unknown command or option, bad value).
)";

}  // namespace

void Print(std::FILE* out, std::string_view text) {
  std::fwrite(text.data(), 1, text.size(), out);
}

int UsageError(std::FILE* err, std::string_view command,
               std::string_view message) {
  const std::string name =
      command.empty() ? "ecg-eval" : "ecg-eval " + std::string(command);
  Print(err,
        name + ": " + std::string(message) + " (see '" + name + " --help')\n");
  return kExitUsageError;
}

int DataError(std::FILE* err, std::string_view command, const Error& error) {
  Print(err,
        "ecg-eval " + std::string(command) + ": " + error.ToString() + "\n");
  return kExitDataError;
}

int RunEcgEval(std::span<const std::string> args, std::FILE* out,
               std::FILE* err) {
  if (args.empty()) {
    return UsageError(err, "", "missing command (qrs or analyze)");
  }
  const std::string& command = args.front();
  const auto rest = args.subspan(1);
  if (command == "--help" || command == "-h" || command == "help") {
    if (command == "help" && !rest.empty()) {
      // `ecg-eval help qrs` is `ecg-eval qrs --help`.
      const std::string words[] = {rest.front(), "--help"};
      return RunEcgEval(words, out, err);
    }
    Print(out, kToolHelp);
    return kExitOk;
  }
  if (command == "qrs") return RunQrsCommand(rest, out, err);
  if (command == "analyze") return RunAnalyzeCommand(rest, out, err);
  if (command == "measure") return RunMeasureCommand(rest, out, err);
  if (command == "veb") return RunVebCommand(rest, out, err);
  if (command == "af") return RunAfCommand(rest, out, err);
  if (command == "delineation") return RunDelineationCommand(rest, out, err);
  if (command == "intervals") return RunIntervalsCommand(rest, out, err);
  if (!command.empty() && command[0] == '-') {
    return UsageError(err, "", "unknown option '" + command + "'");
  }
  return UsageError(
      err, "",
      "unknown command '" + command + "' (commands: qrs, analyze, measure, veb, af, delineation, intervals)");
}

}  // namespace pulse::ecg_eval
