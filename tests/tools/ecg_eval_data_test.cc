// ecg-eval end to end on the MIT-BIH records of ../shared/data: `qrs --json`
// must cover all 22 records and score exactly the reference beats WFDB's bxb
// counted for the gqrs baseline (gqrs-baseline-mitdb.tsv, `ref_beats`), and
// `analyze` must run on its default record. Accuracy figures themselves
// belong to the detector's tests; here the tool's plumbing is checked.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "support/test_data.h"
#include "tools/run_tool.h"

#ifndef ECG_EVAL_BINARY
#error "ECG_EVAL_BINARY must name the ecg-eval executable"
#endif

namespace pulse::testing {
namespace {

namespace fs = std::filesystem;

class EcgEvalDataTest : public ::testing::Test {
 protected:
  void SetUp() override {
    PULSE_REQUIRE_DATA("mitdb");
    scratch_ = fs::path(::testing::TempDir()) / "ecg_eval_data_test";
    fs::create_directories(scratch_);
  }
  void TearDown() override { fs::remove_all(scratch_); }

  fs::path scratch_;
};

TEST_F(EcgEvalDataTest, QrsJsonCoversEveryRecordWithBxbReferenceCounts) {
  std::map<std::string, std::int64_t> expected;
  std::ifstream tsv(DataDir() / "gqrs-baseline-mitdb.tsv");
  std::string line;
  std::getline(tsv, line);  // header
  while (std::getline(tsv, line)) {
    std::istringstream fields(line);
    std::string record;
    std::int64_t ref_beats = 0;
    if (fields >> record >> ref_beats) expected[record] = ref_beats;
  }
  ASSERT_EQ(expected.size(), 23u);

  const ToolRun run = RunTool(
      ECG_EVAL_BINARY,
      {"qrs", "--db", (DataDir() / "mitdb").string(), "--json"}, scratch_);
  ASSERT_TRUE(run.exited) << "signal " << run.signal;
  ASSERT_EQ(run.exit_code, 0) << run.err;
  const auto report = nlohmann::json::parse(run.out);
  ASSERT_EQ(report["records"].size(), 22u);
  for (const auto& record : report["records"]) {
    const std::string name = record["record"].get<std::string>();
    SCOPED_TRACE(name);
    ASSERT_TRUE(expected.count(name));
    EXPECT_EQ(record["ref_beats"].get<std::int64_t>(), expected[name]);
    EXPECT_EQ(
        record["tp"].get<std::int64_t>() + record["fn"].get<std::int64_t>(),
        expected[name]);
  }
  EXPECT_EQ(report["gross"]["ref_beats"].get<std::int64_t>(),
            expected["gross"]);
  EXPECT_GT(report["speed"]["record_seconds"].get<double>(), 22 * 1800.0);
}

TEST_F(EcgEvalDataTest, AnalyzeRunsOnItsDefaultRecord) {
  const ToolRun run =
      RunTool(ECG_EVAL_BINARY, {"analyze", "--beats", "5"}, scratch_,
              {{"PULSE_DATA_DIR", DataDir().string()}});
  ASSERT_TRUE(run.exited) << "signal " << run.signal;
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_NE(run.out.find("mitdb/101"), std::string::npos) << run.out;
  EXPECT_NE(run.out.find("2 leads (MLII, V1), 360 Hz, 30:05.556"),
            std::string::npos)
      << run.out;
  EXPECT_NE(run.out.find("Accuracy vs 101.atr"), std::string::npos);
}

}  // namespace
}  // namespace pulse::testing
