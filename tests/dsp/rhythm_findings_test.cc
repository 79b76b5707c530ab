// Rhythm findings on hand-built beat sequences (each kind and the edges of
// its definition) and on synthetic ECGs whose PVCs and AF spans are known.
#include "pulse/dsp/rhythm_findings.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <tuple>
#include <vector>

#include "pulse/dsp/ecg_synth.h"

namespace pulse::dsp {
namespace {

constexpr double kRateHz = 500.0;
constexpr std::int64_t kLength = 3600 * 500;  // one hour of frames

using Kind = RhythmFindingKind;

// Beats built one by one: Add(class, ms after the previous beat).
class BeatSequence {
 public:
  BeatSequence& Add(char cls, double after_ms) {
    t_ms_ += after_ms;
    const auto sample =
        static_cast<std::int64_t>(std::llround(t_ms_ * kRateHz / 1000.0));
    beats_.push_back({sample, ClassOf(cls), 0.9f});
    return *this;
  }
  // One beat per character of `pattern` ('N', 'V', 'U'), every rr_ms.
  BeatSequence& Pattern(const std::string& pattern, double rr_ms) {
    for (char c : pattern) Add(c, rr_ms);
    return *this;
  }
  const std::vector<ClassifiedBeat>& beats() const { return beats_; }
  std::int64_t sample(std::size_t k) const { return beats_[k].sample; }

 private:
  static BeatClass ClassOf(char c) {
    return c == 'N'   ? BeatClass::kNormal
           : c == 'V' ? BeatClass::kVentricular
                      : BeatClass::kUnknown;
  }
  double t_ms_ = 0.0;
  std::vector<ClassifiedBeat> beats_;
};

RhythmContext SinusContext() {
  RhythmContext c;
  c.sample_rate_hz = kRateHz;
  c.record_length_frames = kLength;
  c.normal_beats_have_p_waves = true;
  return c;
}

std::vector<RhythmFinding> Find(const std::vector<ClassifiedBeat>& beats,
                                const RhythmContext& context = SinusContext(),
                                const std::vector<RhythmEpisode>& af = {}) {
  auto r = FindRhythms(beats, af, context);
  EXPECT_TRUE(r.has_value()) << r.error().ToString();
  if (!r) return {};
  // Properties every result has.
  for (std::size_t i = 0; i < r->size(); ++i) {
    const RhythmFinding& f = (*r)[i];
    EXPECT_LT(f.onset_sample, f.offset_sample);
    EXPECT_GE(f.confidence, 0.0f);
    EXPECT_LE(f.confidence, 1.0f);
    EXPECT_FALSE(f.label.empty());
    if (f.rate_bpm) {
      EXPECT_TRUE(std::isfinite(*f.rate_bpm));
    }
    if (i > 0) {
      const RhythmFinding& p = (*r)[i - 1];
      EXPECT_LE(std::tie(p.onset_sample, p.kind, p.offset_sample),
                std::tie(f.onset_sample, f.kind, f.offset_sample));
    }
  }
  return std::move(r).value();
}

std::vector<RhythmFinding> OfKind(const std::vector<RhythmFinding>& all,
                                  Kind kind) {
  std::vector<RhythmFinding> out;
  for (const RhythmFinding& f : all) {
    if (f.kind == kind) out.push_back(f);
  }
  return out;
}

std::size_t Count(const std::vector<RhythmFinding>& all, Kind kind) {
  return OfKind(all, kind).size();
}

TEST(RhythmFindingsTest, EmptyAndSingleBeatGiveNoFindings) {
  EXPECT_TRUE(Find({}).empty());
  BeatSequence one;
  one.Add('N', 1000);
  EXPECT_TRUE(Find(one.beats()).empty());
  BeatSequence one_v;
  one_v.Add('V', 1000);
  // A lone PVC is still a PVC.
  EXPECT_EQ(Count(Find(one_v.beats()), Kind::kIsolatedPvc), 1u);
}

TEST(RhythmFindingsTest, SinusRhythmSpansItsBeats) {
  BeatSequence s;
  s.Pattern("NNNNNNNNNN", 800.0);  // 75/min
  const auto all = Find(s.beats());
  ASSERT_EQ(all.size(), 1u);
  const RhythmFinding& f = all[0];
  EXPECT_EQ(f.kind, Kind::kSinusRhythm);
  EXPECT_EQ(f.onset_sample, s.sample(0));
  EXPECT_EQ(f.offset_sample, s.sample(9) + 1);
  EXPECT_EQ(f.beat_count, 10);
  ASSERT_TRUE(f.rate_bpm);
  EXPECT_NEAR(*f.rate_bpm, 75.0, 1e-9);
  EXPECT_EQ(f.label, "Sinus rhythm, 75/min");
}

Kind SinusKindAt(double bpm) {
  BeatSequence s;
  s.Pattern("NNNNNNNN", 60000.0 / bpm);
  const auto all = Find(s.beats());
  EXPECT_EQ(all.size(), 1u) << bpm;
  return all.empty() ? Kind::kPause : all[0].kind;
}

TEST(RhythmFindingsTest, BradyAndTachyThresholds) {
  EXPECT_EQ(SinusKindAt(40.0), Kind::kSinusBradycardia);
  EXPECT_EQ(SinusKindAt(59.0), Kind::kSinusBradycardia);
  EXPECT_EQ(SinusKindAt(60.0), Kind::kSinusRhythm);
  EXPECT_EQ(SinusKindAt(100.0), Kind::kSinusRhythm);
  EXPECT_EQ(SinusKindAt(101.0), Kind::kSinusTachycardia);
  EXPECT_EQ(SinusKindAt(150.0), Kind::kSinusTachycardia);
  // Decided on the whole number the label prints.
  EXPECT_EQ(SinusKindAt(59.6), Kind::kSinusRhythm);
  EXPECT_EQ(SinusKindAt(59.4), Kind::kSinusBradycardia);
  EXPECT_EQ(SinusKindAt(100.4), Kind::kSinusRhythm);
  EXPECT_EQ(SinusKindAt(100.6), Kind::kSinusTachycardia);
  BeatSequence s;
  s.Pattern("NNNNNNNN", 60000.0 / 59.6);
  EXPECT_EQ(Find(s.beats())[0].label, "Sinus rhythm, 60/min");
}

TEST(RhythmFindingsTest, ConfidenceIsLowestAtAThreshold) {
  BeatSequence at, far;
  at.Pattern("NNNNNNNN", 60000.0 / 60.5);
  far.Pattern("NNNNNNNN", 60000.0 / 80.0);
  const auto a = Find(at.beats());
  const auto b = Find(far.beats());
  ASSERT_EQ(a.size(), 1u);
  ASSERT_EQ(b.size(), 1u);
  EXPECT_LT(a[0].confidence, b[0].confidence);
  EXPECT_NEAR(b[0].confidence, 0.9f, 1e-6);  // the classifier's confidence
}

TEST(RhythmFindingsTest, NoPWavesNoSinus) {
  BeatSequence s;
  s.Pattern("NNNNNNNN", 800.0);
  RhythmContext c = SinusContext();
  c.normal_beats_have_p_waves = false;
  EXPECT_TRUE(Find(s.beats(), c).empty());
  // Default context claims no P waves either.
  RhythmContext d;
  d.record_length_frames = kLength;
  EXPECT_TRUE(Find(s.beats(), d).empty());
}

TEST(RhythmFindingsTest, PerBeatPWaveFlagsSplitSinus) {
  BeatSequence s;
  s.Pattern("NNNNNNNNNNNN", 800.0);
  const std::vector<std::uint8_t> p = {1, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1, 1};
  RhythmContext c = SinusContext();
  c.normal_beats_have_p_waves = false;  // the per-beat flags win
  c.beat_has_p_wave = p;
  const auto all = Find(s.beats(), c);
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].onset_sample, s.sample(0));
  EXPECT_EQ(all[0].offset_sample, s.sample(4) + 1);
  EXPECT_EQ(all[1].onset_sample, s.sample(7));
  const std::vector<std::uint8_t> wrong_size(5, 1);
  c.beat_has_p_wave = wrong_size;
  auto r = FindRhythms(s.beats(), {}, c);
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message().find("context.beat_has_p_wave"),
            std::string::npos);
}

TEST(RhythmFindingsTest, AtrialFibrillationFromEpisodesSplitsSinus) {
  BeatSequence s;
  s.Pattern("NNNNNNNNNNNNNNNNNNNN", 800.0);
  const std::vector<RhythmEpisode> af = {
      {s.sample(6) - 100, s.sample(13) + 100, 0.8f}};
  const auto all = Find(s.beats(), SinusContext(), af);
  const auto fib = OfKind(all, Kind::kAtrialFibrillation);
  ASSERT_EQ(fib.size(), 1u);
  EXPECT_EQ(fib[0].onset_sample, af[0].onset_sample);
  EXPECT_EQ(fib[0].offset_sample, af[0].offset_sample);
  EXPECT_EQ(fib[0].beat_count, 8);
  EXPECT_FLOAT_EQ(fib[0].confidence, 0.8f);
  EXPECT_NE(fib[0].label.find("uggestive of atrial fibrillation"),
            std::string::npos);
  EXPECT_NE(fib[0].label.find("requires physician confirmation"),
            std::string::npos);
  const auto sinus = OfKind(all, Kind::kSinusRhythm);
  ASSERT_EQ(sinus.size(), 2u);
  EXPECT_EQ(sinus[0].offset_sample, s.sample(5) + 1);
  EXPECT_EQ(sinus[1].onset_sample, s.sample(14));
  // Order: sinus, AF, sinus.
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[1].kind, Kind::kAtrialFibrillation);
}

TEST(RhythmFindingsTest, AfEpisodesAreClippedAndMerged) {
  BeatSequence s;
  s.Pattern("NNNNNN", 800.0);
  RhythmContext c = SinusContext();
  c.record_length_frames = s.sample(5) + 10;
  const std::vector<RhythmEpisode> af = {{s.sample(3), s.sample(5) + 1000, 0.6f},
                                         {-50, s.sample(1), 0.5f},
                                         {s.sample(0), s.sample(3), 0.7f},
                                         {400, 400, 0.9f}};  // empty: dropped
  const auto fib = OfKind(Find(s.beats(), c, af), Kind::kAtrialFibrillation);
  ASSERT_EQ(fib.size(), 1u);
  EXPECT_EQ(fib[0].onset_sample, 0);
  EXPECT_EQ(fib[0].offset_sample, c.record_length_frames);
  EXPECT_FLOAT_EQ(fib[0].confidence, 0.7f);
  const std::vector<RhythmEpisode> inverted = {{500, 400, 0.9f}};
  auto r = FindRhythms(s.beats(), inverted, c);
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message().find("af_episodes[0]"), std::string::npos);
}

TEST(RhythmFindingsTest, IsolatedPvcsKeepSinusGoing) {
  BeatSequence s;
  s.Pattern("NNNN", 800.0).Add('V', 480.0).Add('N', 1120.0).Pattern("NNNV", 800.0);
  const auto all = Find(s.beats());
  const auto pvcs = OfKind(all, Kind::kIsolatedPvc);
  ASSERT_EQ(pvcs.size(), 2u);
  EXPECT_EQ(pvcs[0].onset_sample, s.sample(4));
  EXPECT_EQ(pvcs[0].offset_sample, s.sample(4) + 1);
  EXPECT_EQ(pvcs[0].beat_count, 1);
  EXPECT_EQ(pvcs[1].onset_sample, s.sample(9));
  const auto sinus = OfKind(all, Kind::kSinusRhythm);
  ASSERT_EQ(sinus.size(), 1u);
  EXPECT_EQ(sinus[0].onset_sample, s.sample(0));
  EXPECT_EQ(sinus[0].offset_sample, s.sample(8) + 1);
  // Rate from N-N intervals only: 75/min, the PVC's intervals left out.
  EXPECT_NEAR(*sinus[0].rate_bpm, 75.0, 1e-9);
}

TEST(RhythmFindingsTest, TwoConsecutiveVIsACoupletThreeIsARun) {
  BeatSequence two;
  two.Pattern("NNNVVNNN", 500.0);
  auto all = Find(two.beats());
  EXPECT_EQ(Count(all, Kind::kVentricularCouplet), 1u);
  EXPECT_EQ(Count(all, Kind::kIsolatedPvc), 0u);
  EXPECT_EQ(Count(all, Kind::kVentricularTachycardia), 0u);
  const auto couplet = OfKind(all, Kind::kVentricularCouplet)[0];
  EXPECT_EQ(couplet.onset_sample, two.sample(3));
  EXPECT_EQ(couplet.offset_sample, two.sample(4) + 1);
  EXPECT_EQ(couplet.beat_count, 2);
  // A couplet does not end the sinus rhythm.
  EXPECT_EQ(Count(all, Kind::kSinusRhythm) + Count(all, Kind::kSinusTachycardia),
            1u);

  BeatSequence three;
  three.Pattern("NNNVVVNNN", 500.0);
  all = Find(three.beats());
  EXPECT_EQ(Count(all, Kind::kVentricularCouplet), 0u);
  const auto vt = OfKind(all, Kind::kVentricularTachycardia);
  ASSERT_EQ(vt.size(), 1u);
  EXPECT_EQ(vt[0].beat_count, 3);
  EXPECT_EQ(vt[0].onset_sample, three.sample(3));
  EXPECT_EQ(vt[0].offset_sample, three.sample(5) + 1);
  EXPECT_NEAR(*vt[0].rate_bpm, 120.0, 1e-9);
  // A run of >= 3 ends the sinus stretch: sinus before and after.
  EXPECT_EQ(Count(all, Kind::kSinusTachycardia), 2u);
}

TEST(RhythmFindingsTest, VtNeedsAtLeast100PerMinute) {
  for (double bpm : {99.0, 101.0}) {
    BeatSequence s;
    s.Pattern("NNNNN", 800.0).Pattern("VVVVV", 60000.0 / bpm).Pattern("NNNN", 800.0);
    const auto all = Find(s.beats());
    SCOPED_TRACE(bpm);
    if (bpm >= 100.0) {
      ASSERT_EQ(Count(all, Kind::kVentricularTachycardia), 1u);
      EXPECT_EQ(Count(all, Kind::kSlowVentricularRun), 0u);
      EXPECT_EQ(OfKind(all, Kind::kVentricularTachycardia)[0].beat_count, 5);
    } else {
      EXPECT_EQ(Count(all, Kind::kVentricularTachycardia), 0u);
      ASSERT_EQ(Count(all, Kind::kSlowVentricularRun), 1u);
      const auto run = OfKind(all, Kind::kSlowVentricularRun)[0];
      EXPECT_NEAR(*run.rate_bpm, 99.0, 0.2);
    }
  }
}

TEST(RhythmFindingsTest, UnknownBeatsBreakRunsAndMakeNoFindings) {
  BeatSequence a;
  a.Pattern("NNVVUVNN", 500.0);
  auto all = Find(a.beats());
  EXPECT_EQ(Count(all, Kind::kVentricularCouplet), 1u);
  EXPECT_EQ(Count(all, Kind::kIsolatedPvc), 1u);
  EXPECT_EQ(Count(all, Kind::kVentricularTachycardia), 0u);

  BeatSequence b;
  b.Pattern("NVVUVVN", 500.0);
  all = Find(b.beats());
  EXPECT_EQ(Count(all, Kind::kVentricularCouplet), 2u);
  EXPECT_EQ(Count(all, Kind::kVentricularTachycardia), 0u);

  BeatSequence only_unknown;
  only_unknown.Pattern("UUUUUUUUUU", 300.0);
  EXPECT_TRUE(Find(only_unknown.beats()).empty());

  // An unknown beat also breaks a sinus stretch.
  BeatSequence c;
  c.Pattern("NNNNUNNNN", 800.0);
  EXPECT_EQ(Count(Find(c.beats()), Kind::kSinusRhythm), 2u);
}

TEST(RhythmFindingsTest, PauseIsStrictlyOverTwoSeconds) {
  BeatSequence short_gap, long_gap;
  short_gap.Pattern("NNN", 1000.0).Add('N', 1990.0).Pattern("NN", 1000.0);
  long_gap.Pattern("NNN", 1000.0).Add('N', 2010.0).Pattern("NN", 1000.0);
  EXPECT_EQ(Count(Find(short_gap.beats()), Kind::kPause), 0u);
  const auto all = Find(long_gap.beats());
  const auto pauses = OfKind(all, Kind::kPause);
  ASSERT_EQ(pauses.size(), 1u);
  EXPECT_EQ(pauses[0].onset_sample, long_gap.sample(2));
  EXPECT_EQ(pauses[0].offset_sample, long_gap.sample(3));
  EXPECT_EQ(pauses[0].beat_count, 2);
  ASSERT_TRUE(pauses[0].duration_ms);
  EXPECT_NEAR(*pauses[0].duration_ms, 2010.0, 1e-9);
  EXPECT_EQ(pauses[0].label, "Pause of 2.01 s");
  // The pause interval is left out of the sinus rate (60/min, not brady).
  const auto sinus = OfKind(all, Kind::kSinusRhythm);
  ASSERT_EQ(sinus.size(), 1u);
  EXPECT_NEAR(*sinus[0].rate_bpm, 60.0, 1e-9);
  // Exactly 2.000 s is not a pause.
  BeatSequence exact;
  exact.Pattern("NN", 1000.0).Add('N', 2000.0);
  EXPECT_EQ(Count(Find(exact.beats()), Kind::kPause), 0u);
}

TEST(RhythmFindingsTest, PauseIsBoundedByAnyDetectedBeats) {
  BeatSequence s;
  s.Pattern("NN", 1000.0).Add('V', 2500.0).Add('U', 3000.0);
  const auto pauses = OfKind(Find(s.beats()), Kind::kPause);
  EXPECT_EQ(pauses.size(), 2u);
}

TEST(RhythmFindingsTest, BigeminyNeedsThreeCycles) {
  struct Case {
    std::string pattern;
    std::size_t bigeminy;
    std::size_t first_beat;  // of the first bigeminy finding
    std::size_t last_beat;
  };
  const Case cases[] = {
      {"NVNVN", 0, 0, 0},          // 2 cycles
      {"NVNVNV", 1, 0, 5},         // 3 cycles
      {"NNVNVNVNVN", 1, 1, 8},     // 4 cycles, after a plain N
      {"NVNVNNVNVNV", 1, 5, 10},   // 2 cycles, N N, then 3 cycles
      {"NVVNVNVN", 0, 0, 0},       // couplet first: 2 cycles after it
      {"NVNVUVNVNV", 0, 0, 0},     // an unknown beat breaks the chain
      {"NVNVNVVNVNVNV", 1, 7, 12},  // a couplet ends the first chain
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.pattern);
    BeatSequence s;
    s.Pattern(c.pattern, 700.0);
    const auto all = Find(s.beats());
    const auto big = OfKind(all, Kind::kVentricularBigeminy);
    ASSERT_EQ(big.size(), c.bigeminy);
    if (c.bigeminy == 0) continue;
    EXPECT_EQ(big[0].onset_sample, s.sample(c.first_beat));
    EXPECT_EQ(big[0].offset_sample, s.sample(c.last_beat) + 1);
    EXPECT_EQ(big[0].beat_count,
              static_cast<int>(c.last_beat - c.first_beat + 1));
  }
  // The PVCs of a bigeminy are still counted one by one.
  BeatSequence s;
  s.Pattern("NVNVNVNV", 700.0);
  EXPECT_EQ(Count(Find(s.beats()), Kind::kIsolatedPvc), 4u);
}

TEST(RhythmFindingsTest, OrderedByOnsetThenKind) {
  // Bigeminy and sinus both start at the first beat; sinus (0) comes first.
  BeatSequence s;
  s.Pattern("NNNVNVNVNNN", 800.0);
  const auto all = Find(s.beats());
  ASSERT_GE(all.size(), 3u);
  EXPECT_EQ(all[0].kind, Kind::kSinusRhythm);
  EXPECT_EQ(all[1].kind, Kind::kVentricularBigeminy);
  EXPECT_EQ(all[0].onset_sample, s.sample(0));
  EXPECT_EQ(all[1].onset_sample, s.sample(2));
  // Deterministic.
  EXPECT_EQ(Find(s.beats()), all);
}

TEST(RhythmFindingsTest, NonFiniteClassifierConfidenceStaysInRange) {
  BeatSequence s;
  s.Pattern("NNNVNNN", 800.0);
  std::vector<ClassifiedBeat> beats = s.beats();
  beats[3].confidence = std::numeric_limits<float>::quiet_NaN();
  beats[1].confidence = 7.0f;
  const auto all = Find(beats);  // the helper checks 0 <= confidence <= 1
  EXPECT_EQ(Count(all, Kind::kIsolatedPvc), 1u);
}

TEST(RhythmFindingsTest, InvalidContextNamesTheField) {
  BeatSequence s;
  s.Pattern("NNN", 800.0);
  struct Case {
    std::string field;
    RhythmContext context;
    std::vector<ClassifiedBeat> beats;
  };
  std::vector<Case> cases;
  auto add = [&](std::string field, auto mutate) {
    Case c{std::move(field), SinusContext(), s.beats()};
    mutate(c);
    cases.push_back(std::move(c));
  };
  const double nan = std::numeric_limits<double>::quiet_NaN();
  add("context.sample_rate_hz", [](Case& c) { c.context.sample_rate_hz = 0; });
  add("context.sample_rate_hz", [&](Case& c) { c.context.sample_rate_hz = nan; });
  add("context.record_length_frames",
      [](Case& c) { c.context.record_length_frames = 0; });
  add("context.criteria.bradycardia_below_bpm",
      [](Case& c) { c.context.criteria.bradycardia_below_bpm = 10; });
  add("context.criteria.tachycardia_above_bpm",
      [&](Case& c) { c.context.criteria.tachycardia_above_bpm = nan; });
  add("context.criteria.tachycardia_above_bpm", [](Case& c) {
    c.context.criteria.bradycardia_below_bpm = 80;
    c.context.criteria.tachycardia_above_bpm = 80;
  });
  add("context.criteria.vt_min_rate_bpm",
      [](Case& c) { c.context.criteria.vt_min_rate_bpm = 300; });
  add("context.criteria.pause_threshold_ms",
      [](Case& c) { c.context.criteria.pause_threshold_ms = 100; });
  add("context.criteria.bigeminy_min_cycles",
      [](Case& c) { c.context.criteria.bigeminy_min_cycles = 1; });
  add("beats[2].sample", [](Case& c) { c.beats[2].sample = c.beats[1].sample; });
  add("beats[0].sample", [](Case& c) { c.beats[0].sample = -1; });
  add("beats[2].sample",
      [](Case& c) { c.context.record_length_frames = c.beats[2].sample; });
  for (const Case& c : cases) {
    auto r = FindRhythms(c.beats, {}, c.context);
    ASSERT_FALSE(r.has_value()) << c.field;
    EXPECT_EQ(r.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(r.error().message().find(c.field), std::string::npos)
        << r.error().message();
  }
}

TEST(RhythmFindingsTest, KindNamesAreStable) {
  EXPECT_EQ(static_cast<int>(Kind::kSinusRhythm), 0);
  EXPECT_EQ(static_cast<int>(Kind::kPause), 9);
  EXPECT_EQ(RhythmFindingKindName(Kind::kSinusBradycardia), "sinus_bradycardia");
  EXPECT_EQ(RhythmFindingKindName(Kind::kAtrialFibrillation),
            "atrial_fibrillation");
  EXPECT_EQ(RhythmFindingKindName(Kind::kVentricularTachycardia),
            "ventricular_tachycardia");
  EXPECT_EQ(RhythmFindingKindName(Kind::kSlowVentricularRun),
            "slow_ventricular_run");
}

// End to end with the generator's ground truth: every PVC found at its
// sample, the AF span reported as given, sinus outside it at the set rate.
TEST(RhythmFindingsTest, SyntheticRecordWithPvcsAndAf) {
  EcgSynthConfig config;
  config.sample_rate_hz = kRateHz;
  config.duration_s = 60.0;
  config.heart_rate_bpm = 72.0;
  config.pvc_beat_indices = {5, 12, 20};
  config.af_spans = {{30.0, 45.0}};
  auto ecg = SynthesizeEcg(config);
  ASSERT_TRUE(ecg.has_value()) << ecg.error().ToString();
  std::vector<ClassifiedBeat> beats;
  std::vector<std::int64_t> pvc_samples;
  for (const SynthBeat& b : ecg->beats) {
    const bool v = b.beat_class == SynthBeatClass::kVentricular;
    beats.push_back({b.r_sample, v ? BeatClass::kVentricular : BeatClass::kNormal,
                     1.0f});
    if (v) pvc_samples.push_back(b.r_sample);
  }
  std::vector<RhythmEpisode> af;
  for (const SynthSampleSpan& span : ecg->af_spans) {
    af.push_back({span.begin_sample, span.end_sample, 0.9f});
  }
  RhythmContext c = SinusContext();
  c.record_length_frames = ecg->num_frames();
  const auto all = Find(beats, c, af);

  const auto pvcs = OfKind(all, Kind::kIsolatedPvc);
  ASSERT_EQ(pvcs.size(), pvc_samples.size());
  for (std::size_t i = 0; i < pvcs.size(); ++i) {
    EXPECT_EQ(pvcs[i].onset_sample, pvc_samples[i]);
  }
  const auto fib = OfKind(all, Kind::kAtrialFibrillation);
  ASSERT_EQ(fib.size(), 1u);
  EXPECT_EQ(fib[0].onset_sample, ecg->af_spans[0].begin_sample);
  EXPECT_EQ(fib[0].offset_sample, ecg->af_spans[0].end_sample);
  const auto sinus = OfKind(all, Kind::kSinusRhythm);
  ASSERT_EQ(sinus.size(), 2u);
  for (const RhythmFinding& f : sinus) {
    EXPECT_NEAR(*f.rate_bpm, 72.0, 0.5);
    EXPECT_TRUE(f.offset_sample <= fib[0].onset_sample ||
                f.onset_sample >= fib[0].offset_sample);
  }
  EXPECT_EQ(Count(all, Kind::kSinusBradycardia) +
                Count(all, Kind::kSinusTachycardia) +
                Count(all, Kind::kVentricularTachycardia) +
                Count(all, Kind::kPause),
            0u);
}

}  // namespace
}  // namespace pulse::dsp
