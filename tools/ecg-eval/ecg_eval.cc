// ecg-eval: accuracy and speed of the QRS detector on annotated WFDB
// records. See `ecg-eval --help` and commands.h for the exit statuses.
#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include "commands.h"

int main(int argc, char** argv) {
  try {
    std::vector<std::string> args(argv + 1, argv + argc);
    const int status = pulse::ecg_eval::RunEcgEval(args, stdout, stderr);
    if (std::fflush(stdout) != 0) {
      std::fprintf(stderr, "ecg-eval: cannot write the report to stdout\n");
      return pulse::ecg_eval::kExitDataError;
    }
    return status;
  } catch (const std::exception& e) {
    // Last resort (e.g. out of memory); bad input never gets here.
    std::fprintf(stderr, "ecg-eval: internal error: %s\n", e.what());
    return pulse::ecg_eval::kExitDataError;
  }
}
