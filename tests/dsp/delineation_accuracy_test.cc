// Accuracy floors of delineation on LUDB (../shared/data/ludb, 100 records,
// label `data`): the bars of issue 3, computed by the same code as
// `ecg-eval delineation` and `ecg-eval intervals` (delineation_eval.h), so
// that the test and the documented figures cannot drift apart.
//
// Per-lead fiducials (P on, P off, QRS on, QRS off, T off): |mean error|
// <= 10 ms, SD <= 15 / 15 / 10 / 12 / 25 ms, Se >= 95 % for P and 98 % for
// QRS and T. Global intervals of the median beat vs the annotations, within
// IEC 60601-2-25's limits for biological ECGs (mean / SD): P 10/15, PR
// 10/10, QRS 10/10, QT 25/30 ms.
//
// Not every bar is met yet (docs/accuracy.md, "Delineation and intervals on
// LUDB", says which and by how much). Where a bar is open, the test checks
// today's figure as a guard instead — a little above it, so that a change
// that makes delineation worse fails — and prints the bar beside it. A
// guard is never looser than today's figure allows; when delineation
// improves, lower it, and when the bar is reached, delete the guard.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "delineation_eval.h"
#include "support/test_data.h"

namespace pulse::ecg_eval {
namespace {

struct Ludb {
  DelineationScore score{};
  // Per interval (P, PR, QRS, QT): ours - reference, one per record.
  std::vector<double> diffs[4];
  int records = 0;
};

// Runs the pipeline over all 100 records once for every test.
const Ludb& RunAll() {
  static const Ludb ludb = [] {
    Ludb out;
    DetectionRunner runner;
    const auto dir = pulse::testing::DataDir() / "ludb";
    for (const std::string& name : LudbRecordRange(1, 100)) {
      auto run = RunRecord(dir / name, name, &runner);
      EXPECT_TRUE(run) << run.error().ToString();
      if (!run) continue;
      ++out.records;
      const DelineationScore s = ScoreDelineation(*run);
      for (int k = 0; k < kNumFiducials; ++k) {
        out.score[static_cast<std::size_t>(k)] += s[static_cast<std::size_t>(k)];
      }
      const GlobalIntervals a = IntervalsFromMedian(*run);
      const GlobalIntervals r = IntervalsFromAnnotations(*run);
      const std::optional<double> ours[] = {a.p_ms, a.pr_ms, a.qrs_ms, a.qt_ms};
      const std::optional<double> ref[] = {r.p_ms, r.pr_ms, r.qrs_ms, r.qt_ms};
      for (int k = 0; k < 4; ++k) {
        if (ours[k] && ref[k]) out.diffs[k].push_back(*ours[k] - *ref[k]);
      }
    }
    return out;
  }();
  return ludb;
}

class DelineationAccuracyTest : public ::testing::Test {
 protected:
  void SetUp() override { PULSE_REQUIRE_DATA("ludb"); }

  // `guard` == `bar` for a bar that is met; else today's figure, rounded up.
  struct Limit {
    double bar;
    double guard;
  };

  static void ExpectWithin(const char* what, double value, Limit limit) {
    if (limit.guard > limit.bar) {
      std::printf("%s = %.1f ms: bar %.0f ms NOT met yet; guard %.1f ms\n",
                  what, value, limit.bar, limit.guard);
    }
    EXPECT_LE(value, limit.guard) << what << " (bar " << limit.bar << ")";
  }

  static void ExpectFiducial(Fiducial f, Limit sd, double se_bar_pct) {
    const Ludb& ludb = RunAll();
    ASSERT_EQ(ludb.records, 100);
    const FiducialStats& s = ludb.score[static_cast<std::size_t>(f)];
    SCOPED_TRACE(std::string(FiducialName(f)));
    ExpectWithin("|mean error|", std::fabs(s.MeanMs()), {10.0, 10.0});
    ExpectWithin("SD", s.SdMs(), sd);
    EXPECT_GE(s.SensitivityPercent(), se_bar_pct);
  }

  static void ExpectInterval(int k, Limit mean_limit, Limit sd_limit) {
    const Ludb& ludb = RunAll();
    const std::vector<double>& d = ludb.diffs[k];
    ASSERT_GE(d.size(), 50u);  // most records have every wave
    double sum = 0.0, sum_sq = 0.0;
    for (double v : d) {
      sum += v;
      sum_sq += v * v;
    }
    const double n = static_cast<double>(d.size());
    const double mean = sum / n;
    const double sd = std::sqrt(std::max(0.0, (sum_sq - sum * sum / n) / (n - 1)));
    ExpectWithin("|mean difference|", std::fabs(mean), mean_limit);
    ExpectWithin("SD", sd, sd_limit);
  }
};

// Figures of 2026-11-23 (ecg-eval delineation / intervals, all 100):
// P on SD 19.2, P off 18.9, QRS on 12.7, QRS off 12.7 (per-lead wavelet
// points, 4th update), T off 24.4 ms;
// QRS mean -12.0 / SD 15.8 ms (2nd update); P duration -7.3 / 11.4 ms
// meets its bar since the wider P-offset window of the median (3rd).
TEST_F(DelineationAccuracyTest, POnset) {
  ExpectFiducial(Fiducial::kPOn, {15, 20}, 95);
}
TEST_F(DelineationAccuracyTest, POffset) {
  ExpectFiducial(Fiducial::kPOff, {15, 20}, 95);
}
TEST_F(DelineationAccuracyTest, QrsOnset) {
  ExpectFiducial(Fiducial::kQrsOn, {10, 13.0}, 98);
}
TEST_F(DelineationAccuracyTest, QrsOffset) {
  ExpectFiducial(Fiducial::kQrsOff, {12, 13.0}, 98);
}
TEST_F(DelineationAccuracyTest, TOffset) {
  ExpectFiducial(Fiducial::kTOff, {25, 25}, 98);
}

TEST_F(DelineationAccuracyTest, PDuration) {
  ExpectInterval(0, {10, 10}, {15, 15});
}
TEST_F(DelineationAccuracyTest, PrInterval) {
  ExpectInterval(1, {10, 10}, {10, 10});
}
TEST_F(DelineationAccuracyTest, QrsDuration) {
  ExpectInterval(2, {10, 12.5}, {10, 16});
}
TEST_F(DelineationAccuracyTest, QtInterval) {
  ExpectInterval(3, {25, 25}, {30, 30});
}

}  // namespace
}  // namespace pulse::ecg_eval
