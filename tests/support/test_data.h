// Where tests find the reference records of ../shared/data.
//
// The records are read in place, never copied into the repository. A test
// that needs them calls PULSE_REQUIRE_DATA(); when the folder is absent the
// test is skipped with a message, except under CI=true, where a missing folder
// is a failure (CI must never pass by skipping the accuracy checks).
#ifndef PULSE_TESTS_SUPPORT_TEST_DATA_H_
#define PULSE_TESTS_SUPPORT_TEST_DATA_H_

#include <cstdlib>
#include <filesystem>
#include <string>

#include <gtest/gtest.h>

namespace pulse::testing {

// $PULSE_DATA_DIR (ctest sets it to ../shared/data), else "../shared/data".
inline std::filesystem::path DataDir() {
  const char* env = std::getenv("PULSE_DATA_DIR");
  return env != nullptr && *env != '\0' ? std::filesystem::path(env)
                                        : std::filesystem::path("../shared/data");
}

inline bool RunningInCi() {
  const char* ci = std::getenv("CI");
  return ci != nullptr && std::string(ci) == "true";
}

}  // namespace pulse::testing

// Skips (or, under CI=true, fails) the current test when `subdir` of the
// data folder is missing, e.g. PULSE_REQUIRE_DATA("mitdb").
#define PULSE_REQUIRE_DATA(subdir)                                          \
  do {                                                                      \
    const auto pulse_data_path_ = ::pulse::testing::DataDir() / (subdir);   \
    if (!std::filesystem::is_directory(pulse_data_path_)) {                 \
      if (::pulse::testing::RunningInCi()) {                                \
        FAIL() << "reference data folder missing under CI: "                \
               << pulse_data_path_;                                         \
      }                                                                     \
      GTEST_SKIP() << "reference data folder not found: " << pulse_data_path_ \
                   << " (set PULSE_DATA_DIR)";                              \
    }                                                                       \
  } while (0)

#endif  // PULSE_TESTS_SUPPORT_TEST_DATA_H_
