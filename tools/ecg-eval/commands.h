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
