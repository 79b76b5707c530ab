// Checks every one-call analysis result must pass, whatever the input:
// every number finite, scores in [0, 1], beats inside the record, and every
// reported interval inside the plausible range measurements.h documents.
#ifndef PULSE_TESTS_SUPPORT_ANALYSIS_CHECKS_H_
#define PULSE_TESTS_SUPPORT_ANALYSIS_CHECKS_H_

#include <gtest/gtest.h>

#include <cmath>
#include <optional>

#include "pulse/dsp/analysis.h"

namespace pulse::testing {

inline void ExpectFinite(const std::optional<double>& value, const char* name) {
  if (value.has_value()) {
    EXPECT_TRUE(std::isfinite(*value)) << name;
  }
}

// Every number in the result is finite, and every interval that is
// reported lies in the plausible range measurements.h documents.
inline void ExpectSaneAnalysis(const dsp::EcgAnalysis& a) {
  using namespace ::pulse::dsp;  // NOLINT: the result's many types
  for (const LeadQuality& q : a.quality.leads) {
    EXPECT_TRUE(std::isfinite(q.score));
    EXPECT_GE(q.score, 0.0f);
    EXPECT_LE(q.score, 1.0f);
  }
  for (const ClassifiedBeat& b : a.beats) {
    EXPECT_GE(b.sample, 0);
    EXPECT_LT(b.sample, a.num_frames);
    EXPECT_TRUE(std::isfinite(b.confidence));
  }
  if (a.median_beats.has_value()) {
    for (float v : a.median_beats->samples_mv) ASSERT_TRUE(std::isfinite(v));
  }
  for (const RhythmFinding& f : a.findings) {
    EXPECT_LE(f.onset_sample, f.offset_sample);
    EXPECT_TRUE(std::isfinite(f.confidence));
    ExpectFinite(f.rate_bpm, "finding rate");
    ExpectFinite(f.duration_ms, "finding duration");
  }
  if (!a.measurements.has_value()) return;
  const EcgMeasurements& m = *a.measurements;
  ExpectFinite(m.heart_rate_bpm, "heart_rate_bpm");
  ExpectFinite(m.mean_rr_ms, "mean_rr_ms");
  ExpectFinite(m.p_axis_deg, "p_axis_deg");
  ExpectFinite(m.qrs_axis_deg, "qrs_axis_deg");
  ExpectFinite(m.t_axis_deg, "t_axis_deg");
  ExpectFinite(m.r_amplitude_v5_mv, "r_amplitude_v5_mv");
  ExpectFinite(m.s_amplitude_v1_mv, "s_amplitude_v1_mv");
  ExpectFinite(m.sokolow_lyon_mv, "sokolow_lyon_mv");
  ExpectFinite(m.sdnn_ms, "sdnn_ms");
  ExpectFinite(m.rmssd_ms, "rmssd_ms");
  for (const auto& st : m.st_level_mv) ExpectFinite(st, "st_level_mv");
  const auto in_range = [](const std::optional<double>& v, PlausibleRange r,
                           const char* name) {
    if (v.has_value()) {
      EXPECT_TRUE(r.Contains(*v)) << name << " = " << *v;
    }
  };
  in_range(m.p_duration_ms, kPlausiblePDurationMs, "p_duration_ms");
  in_range(m.pr_interval_ms, kPlausiblePrMs, "pr_interval_ms");
  in_range(m.qrs_duration_ms, kPlausibleQrsMs, "qrs_duration_ms");
  in_range(m.qt_interval_ms, kPlausibleQtMs, "qt_interval_ms");
  if (m.qtc_bazett.has_value()) {
    EXPECT_TRUE(kPlausibleQtcMs.Contains(m.qtc_bazett->qtc_ms));
  }
}

}  // namespace pulse::testing

#endif  // PULSE_TESTS_SUPPORT_ANALYSIS_CHECKS_H_
