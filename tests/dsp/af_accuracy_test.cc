// Accuracy floor of the atrial fibrillation detector on the MIT-BIH records
// of ../shared/data/mitdb, through the very code of `ecg-eval af` (QRS
// detector, beat classifier, AF detector, EC57/epicmp scoring from 5 min).
// The floors are the bars of issue 3: gross duration Se >= 90 %, +P >= 85 %,
// and no AF finding on a record without reference AF. Figures and the
// command that reproduces them are in docs/accuracy.md.
#include <cstdio>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "support/test_data.h"

namespace pulse::ecg_eval {
namespace {

constexpr double kDurationSensitivityFloorPercent = 90.0;
constexpr double kDurationPositivePredictivityFloorPercent = 85.0;

nlohmann::json RunAf(std::vector<std::string> args) {
  args.insert(args.begin(), {"af", "--json", "--db",
                             (pulse::testing::DataDir() / "mitdb").string()});
  std::FILE* out = std::tmpfile();
  std::FILE* err = std::tmpfile();
  EXPECT_EQ(RunEcgEval(args, out, err), kExitOk);
  std::string text;
  std::rewind(out);
  char buffer[4096];
  for (std::size_t n; (n = std::fread(buffer, 1, sizeof buffer, out)) > 0;) {
    text.append(buffer, n);
  }
  std::fclose(out);
  std::fclose(err);
  return nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
}

TEST(AfAccuracyTest, MitBihMeetsTheBars) {
  PULSE_REQUIRE_DATA("mitdb");
  const nlohmann::json j = RunAf({});
  ASSERT_FALSE(j.is_discarded());
  const auto& gross = j["gross"];
  ASSERT_TRUE(gross["duration_se_pct"].is_number());
  ASSERT_TRUE(gross["duration_ppv_pct"].is_number());
  EXPECT_GE(gross["duration_se_pct"].get<double>(),
            kDurationSensitivityFloorPercent);
  EXPECT_GE(gross["duration_ppv_pct"].get<double>(),
            kDurationPositivePredictivityFloorPercent);
  EXPECT_TRUE(j["false_finding_records"].empty())
      << "AF found on records without AF: " << j["false_finding_records"];
  for (const auto& r : j["records"]) {
    if (!r["has_reference_af"].get<bool>()) {
      EXPECT_EQ(r["detected_episodes"].get<long>(), 0) << r["record"];
    }
  }
}

}  // namespace
}  // namespace pulse::ecg_eval
