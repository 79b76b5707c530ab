// The ECG pre-filter chain: baseline-wander high-pass, mains notch and
// low-pass, designed at run time for the record's sample rate and applied to
// interleaved leads in chunks of any size.
//
// The chain is one BiquadCascade (biquad.h) of, in order:
//   1. a Butterworth high-pass (order 2 or 4) at highpass_cutoff_hz. Baseline
//      wander from respiration and electrode motion lies below ~0.5 Hz
//      (breathing at 9-30 breaths/min is 0.15-0.5 Hz), while the slowest
//      cardiac content, the heart rate itself, is >= 0.67 Hz at 40 bpm.
//      The AHA/ACCF/HRS recommendations (Kligfield et al. 2007, Circulation
//      115:1306-1324) ask for a 0.05 Hz cutoff when a causal,
//      non-linear-phase filter such as this one precedes ST-segment
//      measurement; 0.5 Hz (the default) is monitoring quality and distorts
//      the ST segment.
//   2. a notch at mains_hz (50 or 60 Hz power-line interference) with
//      notch_bandwidth_hz between its -3 dB edges. When mains_hz is at or
//      above Nyquist (sample_rate_hz / 2, e.g. 50 Hz at 80 or 100 Hz) the
//      notch is omitted, not refused: mains is a property of the clinic,
//      the rate is a property of the record, and a recorder sampling that
//      slowly has already removed everything above Nyquist with its
//      anti-aliasing filter. (Aliased mains, e.g. 50 Hz folded to 30 Hz at
//      80 Hz, is not notched: cutting 30 Hz would take QRS energy with it.)
//      notch_active() tells which case applies.
//   3. a Butterworth low-pass (order 2 or 4) at lowpass_cutoff_hz, or none
//      when it is 0. Most QRS energy lies below 40 Hz (the monitoring
//      default); the AHA's diagnostic bandwidth for adults reaches 150 Hz.
//
// Passband gain is 1 (0 dB). The filters are causal IIR, so the output lags
// the input by a frequency-dependent group delay (about 10 ms in the QRS band
// with the defaults); detectors that report sample indices on the
// filtered signal inherit it.
//
// After Create(), Process(), ProcessBlock() and Reset() never allocate, throw
// or fail, and the output is bit-identical for any chunking of the same input.
//
// Thread-safety: an EcgFilterChain is a plain value; one thread at a time may
// use a given object.
#ifndef PULSE_DSP_ECG_FILTER_H_
#define PULSE_DSP_ECG_FILTER_H_

#include <complex>
#include <span>
#include <utility>

#include "pulse/base/result.h"
#include "pulse/dsp/biquad.h"

namespace pulse::dsp {

// Ranges accepted by EcgFilterChain::Create(); every bound is inclusive.
inline constexpr double kMinEcgSampleRateHz = 80.0;
inline constexpr double kMaxEcgSampleRateHz = 1000.0;
inline constexpr int kMaxEcgChannels = 16;  // 15-lead records (PTB) fit
inline constexpr double kMinHighpassCutoffHz = 0.05;
inline constexpr double kMaxHighpassCutoffHz = 1.0;
inline constexpr double kMinNotchBandwidthHz = 0.5;
inline constexpr double kMaxNotchBandwidthHz = 10.0;
// Below ~10 Hz a low-pass flattens the QRS complex itself.
inline constexpr double kMinLowpassCutoffHz = 10.0;
// The low-pass cutoff may reach this fraction of sample_rate_hz: close to
// Nyquist the bilinear warping leaves no room for a transition band.
inline constexpr double kMaxLowpassCutoffPerSampleRate = 0.45;

struct EcgFilterConfig {
  double sample_rate_hz = 500.0;   // [80, 1000] Hz
  int num_channels = 1;            // [1, kMaxEcgChannels], interleaved
  double highpass_cutoff_hz = 0.5;  // -3 dB point, [0.05, 1] Hz
  int highpass_order = 2;          // 2 or 4
  double mains_hz = 50.0;          // 50, 60, or 0 = no notch
  double notch_bandwidth_hz = 2.0;  // between -3 dB edges, [0.5, 10] Hz
  // -3 dB point, [10, 0.45 * sample_rate_hz] Hz, or 0 = no low-pass. The
  // default is too high for sample rates below 88.9 Hz.
  double lowpass_cutoff_hz = 40.0;
  int lowpass_order = 4;  // 2 or 4
};

class EcgFilterChain {
 public:
  // Designs the chain for `config`. Fails with kInvalidArgument, naming the
  // field, its value and the allowed range, when a field is outside the
  // range documented in EcgFilterConfig (NaN is always outside).
  static Result<EcgFilterChain> Create(const EcgFilterConfig& config);

  // Filters one sample (millivolts) of `channel`; returns millivolts.
  // Bit-identical to the same sample going through ProcessBlock().
  // REQUIRES: 0 <= channel < config().num_channels; `sample_mv` finite.
  float Process(int channel, float sample_mv) {
    return cascade_.Process(channel, sample_mv);
  }

  // Filters interleaved frames (config().num_channels samples each,
  // millivolts) from `in_mv` into `out_mv`; in-place (same buffer) allowed.
  // REQUIRES: in_mv.size() == out_mv.size(), a multiple of num_channels;
  //           samples finite; the buffers identical or disjoint.
  void ProcessBlock(std::span<const float> in_mv, std::span<float> out_mv) {
    cascade_.ProcessBlock(in_mv, out_mv);
  }

  // Back to the state right after Create().
  void Reset() { cascade_.Reset(); }

  const EcgFilterConfig& config() const { return config_; }

  // False when mains_hz is 0 or at/above Nyquist, so no notch was placed.
  bool notch_active() const { return notch_active_; }

  // The designed sections, in processing order (high-pass, notch, low-pass).
  std::span<const BiquadCoefficients> sections() const {
    return cascade_.sections();
  }

  // Returns the chain's complex response at `frequency_hz` (Hz).
  std::complex<double> Response(double frequency_hz) const {
    return FrequencyResponse(sections(), config_.sample_rate_hz, frequency_hz);
  }

 private:
  EcgFilterChain(const EcgFilterConfig& config, BiquadCascade cascade,
                 bool notch_active)
      : config_(config),
        cascade_(std::move(cascade)),
        notch_active_(notch_active) {}

  EcgFilterConfig config_;
  BiquadCascade cascade_;
  bool notch_active_;
};

}  // namespace pulse::dsp

#endif  // PULSE_DSP_ECG_FILTER_H_
