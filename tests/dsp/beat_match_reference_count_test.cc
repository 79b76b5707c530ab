// Acceptance test of the EC57 scorer on real annotations: from the 5-minute
// mark, the reference beats MatchBeats() scores in each MIT-BIH record must
// be exactly the beats WFDB's bxb counted for the gqrs baseline
// (../shared/data/gqrs-baseline-mitdb.tsv, column `ref_beats`). The counts
// exercise VF-episode exclusion (207), flutter waves (207), shutdown noise
// marks (101, 203, 208) and every beat label of the 22 records.
#include <gtest/gtest.h>

#include <cstdint>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "pulse/dsp/beat_match.h"
#include "pulse/dsp/wfdb_file.h"
#include "support/test_data.h"

namespace pulse::dsp {
namespace {

struct BaselineRow {
  std::int64_t ref_beats = 0;
  std::int64_t gqrs_fn = 0;
};

// Parses the baseline table: record -> row. Returns an empty map when the
// file is missing or its header is not the expected one.
std::map<std::string, BaselineRow> ReadBaseline(
    const std::filesystem::path& path) {
  std::map<std::string, BaselineRow> rows;
  std::ifstream in(path);
  std::string line;
  if (!std::getline(in, line) || line.rfind("record\tref_beats\tgqrs_fn", 0)) {
    return rows;
  }
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string record;
    BaselineRow row;
    if (fields >> record >> row.ref_beats >> row.gqrs_fn) rows[record] = row;
  }
  return rows;
}

class BeatMatchReferenceCountTest : public ::testing::Test {
 protected:
  void SetUp() override {
    PULSE_REQUIRE_DATA("mitdb");
    baseline_ = ReadBaseline(testing::DataDir() / "gqrs-baseline-mitdb.tsv");
    ASSERT_EQ(baseline_.size(), 23u) << "22 records and the gross row";
  }

  std::map<std::string, BaselineRow> baseline_;
};

TEST_F(BeatMatchReferenceCountTest, ReferenceBeatsFromFiveMinutesMatchBxb) {
  std::int64_t gross = 0;
  for (const auto& [record, row] : baseline_) {
    if (record == "gross") continue;
    SCOPED_TRACE("record " + record);
    const auto path = testing::DataDir() / "mitdb" / record;
    auto header = wfdb::ReadHeaderFile(path);
    ASSERT_TRUE(header.has_value()) << header.error().ToString();
    auto annotations = wfdb::ReadAnnotationFile(path, "atr");
    ASSERT_TRUE(annotations.has_value()) << annotations.error().ToString();

    BeatMatchOptions options;
    options.sample_rate_hz = header->sampling_frequency_hz;
    options.score_from_sample = static_cast<std::int64_t>(
        300.0 * header->sampling_frequency_hz);  // bxb -f 5:0
    options.score_to_sample = header->num_frames;

    // No detections: every scored beat is a miss.
    const BeatMatchCounts missed = MatchBeats(*annotations, {}, options);
    EXPECT_EQ(missed.false_negatives, row.ref_beats);
    EXPECT_EQ(missed.true_positives, 0);
    EXPECT_EQ(missed.false_positives, 0);

    // Detections exactly at every QRS annotation (VF beats and `!` included):
    // every scored beat is a hit and nothing else is counted.
    std::vector<std::int64_t> perfect;
    for (const wfdb::Annotation& a : *annotations) {
      if (wfdb::IsBeat(a.code)) perfect.push_back(a.sample);
    }
    const BeatMatchCounts hit = MatchBeats(*annotations, perfect, options);
    EXPECT_EQ(hit.true_positives, row.ref_beats);
    EXPECT_EQ(hit.false_negatives, 0);
    EXPECT_EQ(hit.false_positives, 0);
    gross += missed.reference_beats();
  }
  EXPECT_EQ(gross, baseline_.at("gross").ref_beats);
}

}  // namespace
}  // namespace pulse::dsp
