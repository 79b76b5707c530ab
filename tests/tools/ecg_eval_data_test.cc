// ecg-eval end to end on the MIT-BIH records of ../shared/data: `qrs --json`
// must cover all 22 records and score exactly the reference beats WFDB's bxb
// counted for the gqrs baseline (gqrs-baseline-mitdb.tsv, `ref_beats`), and
// `analyze` must run on its default record, and `measure` must give the
// whole analysis of a 12-lead record and refuse a 2-lead one by name. Accuracy figures themselves
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

TEST_F(EcgEvalDataTest, MeasureGivesTheWholeAnalysisOfA12LeadRecord) {
  PULSE_REQUIRE_DATA("ludb");
  const ToolRun run =
      RunTool(ECG_EVAL_BINARY, {"measure", "--json"}, scratch_,
              {{"PULSE_DATA_DIR", DataDir().string()}});
  ASSERT_TRUE(run.exited) << "signal " << run.signal;
  ASSERT_EQ(run.exit_code, 0) << run.err;
  const auto report = nlohmann::json::parse(run.out);
  EXPECT_EQ(report["record"], "1");  // the default: LUDB record 1
  EXPECT_EQ(report["status"], "complete");
  EXPECT_FALSE(report["algorithm_version"].get<std::string>().empty());
  EXPECT_EQ(report["quality"].size(), 12u);
  EXPECT_GE(report["beats"].size(), 5u);
  EXPECT_TRUE(report["measurements"]["qt_interval_ms"].is_number());
  EXPECT_TRUE(report["measurements"]["qtc_bazett_ms"].is_number());
  EXPECT_TRUE(report["measurements"]["qtc_fridericia_ms"].is_number());
  EXPECT_EQ(report["measurements"]["st_level_mv"].size(), 12u);
  ASSERT_FALSE(report["findings"].empty());
  // LUDB 1's cardiologist: "Sinus bradycardia".
  EXPECT_EQ(report["header_rhythm"], "Sinus bradycardia");
}

TEST_F(EcgEvalDataTest, MeasureRefusesARecordWithout12Leads) {
  const ToolRun run = RunTool(
      ECG_EVAL_BINARY, {"measure", (DataDir() / "mitdb" / "101").string()},
      scratch_);
  ASSERT_TRUE(run.exited) << "signal " << run.signal;
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_NE(run.err.find("is not a 12-lead ECG"), std::string::npos)
      << run.err;
  EXPECT_NE(run.err.find("missing lead I"), std::string::npos) << run.err;
  EXPECT_TRUE(run.out.empty()) << run.out;
}

}  // namespace
}  // namespace pulse::testing
