// The synthetic ECG (dsp/ecg_synth.h) as dsp tests use it: generated or the
// test fails, and its ground-truth beats as ClassifiedBeats.
#ifndef PULSE_TESTS_SUPPORT_SYNTH_ECG_H_
#define PULSE_TESTS_SUPPORT_SYNTH_ECG_H_

#include <gtest/gtest.h>

#include <utility>
#include <vector>

#include "pulse/dsp/beat.h"
#include "pulse/dsp/ecg_synth.h"

namespace pulse::testing {

// SynthesizeEcg(config); a config it refuses fails the calling test.
inline dsp::SynthEcg Synthesize(const dsp::EcgSynthConfig& config) {
  auto ecg = dsp::SynthesizeEcg(config);
  EXPECT_TRUE(ecg.has_value()) << ecg.error().ToString();
  return std::move(ecg).value();
}

// The generator's beats with their true class and full confidence.
inline std::vector<dsp::ClassifiedBeat> TrueBeats(const dsp::SynthEcg& ecg) {
  std::vector<dsp::ClassifiedBeat> beats;
  for (const dsp::SynthBeat& b : ecg.beats) {
    beats.push_back({b.r_sample,
                     b.beat_class == dsp::SynthBeatClass::kVentricular
                         ? dsp::BeatClass::kVentricular
                         : dsp::BeatClass::kNormal,
                     1.0f});
  }
  return beats;
}

}  // namespace pulse::testing

#endif  // PULSE_TESTS_SUPPORT_SYNTH_ECG_H_
