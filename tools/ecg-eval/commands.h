// ecg-eval's subcommands. Each takes the words after its name, writes its
// report to `out` and at most one error line to `err`, and returns the
// process exit status:
//
//   0  success
//   1  data error: a record, header, signal or annotation file is missing,
//      unreadable or malformed (the line names the file and the problem)
//   2  usage error: unknown command or option, missing or malformed value,
//      value out of range (the line names the option)
//
// Nothing here throws to the caller for bad input; main() still catches
// std::exception (e.g. bad_alloc) as a last resort.
#ifndef PULSE_TOOLS_ECG_EVAL_COMMANDS_H_
#define PULSE_TOOLS_ECG_EVAL_COMMANDS_H_

#include <cstdio>
#include <span>
#include <string>
#include <string_view>

#include "pulse/base/result.h"

namespace pulse::ecg_eval {

inline constexpr int kExitOk = 0;
inline constexpr int kExitDataError = 1;
inline constexpr int kExitUsageError = 2;

// The whole tool: `args` are the words after the program name.
int RunEcgEval(std::span<const std::string> args, std::FILE* out,
               std::FILE* err);

// `ecg-eval qrs ...`: detection accuracy and speed over a record folder.
int RunQrsCommand(std::span<const std::string> args, std::FILE* out,
                  std::FILE* err);

// `ecg-eval analyze ...`: beats, heart rate and RR of one record.
int RunAnalyzeCommand(std::span<const std::string> args, std::FILE* out,
                      std::FILE* err);

// `ecg-eval measure ...`: the whole 12-lead analysis of a record, or of
// every record of a folder against its header's rhythm statement.
int RunMeasureCommand(std::span<const std::string> args, std::FILE* out,
                      std::FILE* err);

// `ecg-eval veb ...`: ventricular ectopic beat Se/+P (EC57) over a folder.
int RunVebCommand(std::span<const std::string> args, std::FILE* out,
                  std::FILE* err);

// `ecg-eval af ...`: AF episode and duration Se/+P (EC57, epicmp) over a
// folder.
int RunAfCommand(std::span<const std::string> args, std::FILE* out,
                 std::FILE* err);

// `ecg-eval delineation ...`: per-beat, per-lead P/QRS/T fiducial errors
// and Se against LUDB's per-lead annotations.
int RunDelineationCommand(std::span<const std::string> args, std::FILE* out,
                          std::FILE* err);

// `ecg-eval intervals ...`: global P, PR, QRS, QT of the median beat per
// record vs the same from LUDB's annotations (IEC 60601-2-25 limits).
int RunIntervalsCommand(std::span<const std::string> args, std::FILE* out,
                        std::FILE* err);

// Writes "ecg-eval <command>: <message> (see 'ecg-eval <command> --help')"
// and returns kExitUsageError.
int UsageError(std::FILE* err, std::string_view command,
               std::string_view message);

// Writes "ecg-eval <command>: <error>" and returns kExitDataError.
int DataError(std::FILE* err, std::string_view command, const Error& error);

// Writes `text` to `out` as is.
void Print(std::FILE* out, std::string_view text);

}  // namespace pulse::ecg_eval

#endif  // PULSE_TOOLS_ECG_EVAL_COMMANDS_H_
