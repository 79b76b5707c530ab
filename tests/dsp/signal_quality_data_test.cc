// Lead handling and signal quality on the real LUDB records of
// ../shared/data/ludb (100 clinical 12-lead ECGs, 10 s at 500 Hz): every
// record maps onto the 12 standard leads, and the quality check calls most
// leads of these diagnostic-grade recordings "ok" — a floor, so that a
// threshold change that starts flagging good clinical ECGs fails here.
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "pulse/dsp/leads.h"
#include "pulse/dsp/signal_quality.h"
#include "pulse/dsp/wfdb_file.h"
#include "support/test_data.h"

namespace pulse::dsp {
namespace {

// At the time of writing 1 143 of 1 200 leads were "ok"; the others were
// high-frequency noise just over the threshold.
constexpr double kOkLeadFloorPercent = 90.0;

TEST(SignalQualityDataTest, MostLudbLeadsAreOkAndEveryRecordMapsTo12Leads) {
  PULSE_REQUIRE_DATA("ludb");
  int records = 0, leads = 0, ok = 0;
  for (int number = 1; number <= 200; ++number) {
    const auto path =
        ::pulse::testing::DataDir() / "ludb" / std::to_string(number);
    if (!std::filesystem::exists(path.string() + ".hea")) continue;
    SCOPED_TRACE("ludb/" + std::to_string(number));
    auto data = wfdb::ReadRecord(path);
    ASSERT_TRUE(data.has_value()) << data.error().ToString();
    const int channels = data->num_signals();
    std::vector<std::string> names;
    std::vector<float> scale;
    for (const auto& spec : data->header.signals) {
      names.push_back(spec.description);
      scale.push_back(static_cast<float>(wfdb::MillivoltsPerAdu(spec).value()));
    }
    std::vector<float> mv(data->samples.size());
    for (std::size_t i = 0; i < mv.size(); ++i) {
      const std::size_t c = i % static_cast<std::size_t>(channels);
      mv[i] = static_cast<float>(data->samples[i] -
                                 data->header.signals[c].baseline_adu) *
              scale[c];
    }
    auto twelve = Derive12Lead(mv, names);
    ASSERT_TRUE(twelve.has_value()) << twelve.error().ToString();
    ASSERT_EQ(twelve->samples_mv.size(),
              static_cast<std::size_t>(twelve->num_frames) * kNumStandardLeads);

    SignalQualityConfig config;
    config.sample_rate_hz = data->header.sampling_frequency_hz;
    config.num_leads = kNumStandardLeads;
    auto report = AssessSignalQuality(twelve->samples_mv, config);
    ASSERT_TRUE(report.has_value()) << report.error().ToString();
    ASSERT_EQ(report->leads.size(), static_cast<std::size_t>(kNumStandardLeads));
    for (const LeadQuality& lead : report->leads) {
      EXPECT_TRUE(std::isfinite(lead.score));
      EXPECT_GE(lead.score, 0.0f);
      EXPECT_LE(lead.score, 1.0f);
      ++leads;
      if (lead.issue == QualityIssue::kOk) ++ok;
    }
    ++records;
  }
  ASSERT_GE(records, 100);
  const double ok_percent = 100.0 * ok / leads;
  std::printf("LUDB: %d records, %d of %d leads ok (%.1f %%)\n", records, ok,
              leads, ok_percent);
  EXPECT_GE(ok_percent, kOkLeadFloorPercent);
}

}  // namespace
}  // namespace pulse::dsp
