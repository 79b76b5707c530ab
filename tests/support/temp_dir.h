// Where a test keeps its scratch files: gtest's TempDir() plus a directory
// per process, so that two runs of the same test binary at once (two build
// directories, parallel ctest from several checkouts) never share files.
#ifndef PULSE_TESTS_SUPPORT_TEMP_DIR_H_
#define PULSE_TESTS_SUPPORT_TEMP_DIR_H_

#include <unistd.h>

#include <filesystem>
#include <string>

#include <gtest/gtest.h>

namespace pulse::testing {

inline std::filesystem::path TempRoot() {
  return std::filesystem::path(::testing::TempDir()) /
         ("pulse-" + std::to_string(::getpid()));
}

}  // namespace pulse::testing

#endif  // PULSE_TESTS_SUPPORT_TEMP_DIR_H_
