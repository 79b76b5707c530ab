// Second-order IIR sections ("biquads"): coefficient design at run time and a
// streaming cascade over interleaved multi-channel samples.
//
// Design follows R. Bristow-Johnson, "Cookbook formulae for audio EQ biquad
// filter coefficients" (the Audio EQ Cookbook, W3C Note
// https://www.w3.org/TR/audio-eq-cookbook/): each section is the bilinear
// transform of an analog second-order prototype, prewarped so that the
// digital response at the design frequency equals the analog one. The same
// warping maps an analog Butterworth of order N onto N/2 sections sharing
// one prewarped cutoff with the pole-pair Q values of ButterworthSectionQ(),
// so a designed cascade is exactly -3.01 dB at its cutoff at any sample rate.
// The notch uses the bilinear design that places the -3 dB edges exactly
// (S. J. Orfanidis, "Introduction to Signal Processing", 1996, §11.3:
// beta = tan(bandwidth / 2)); it is the cookbook notch with alpha = beta.
//
// BiquadCascade runs Direct Form II transposed with double-precision
// coefficients and state; samples in and out are float (millivolts in this
// code base). Double state is a requirement, not a luxury: a 0.05 Hz
// high-pass at 1000 Hz has poles 2e-4 from z = 1, and float state leaves
// tens of microvolts of error on a millivolt-scale ECG (tested in
// biquad_test.cc).
//
// After Create(), Process(), ProcessBlock() and Reset() never allocate, throw
// or fail.
//
// Thread-safety: the free functions are pure. A BiquadCascade is a plain
// value; one thread at a time may use a given object.
#ifndef PULSE_DSP_BIQUAD_H_
#define PULSE_DSP_BIQUAD_H_

#include <complex>
#include <cstddef>
#include <span>
#include <vector>

#include "pulse/base/result.h"

namespace pulse::dsp {

// One section, normalized so that a0 = 1:
//   H(z) = (b0 + b1 z^-1 + b2 z^-2) / (1 + a1 z^-1 + a2 z^-2).
// The defaults are the identity.
struct BiquadCoefficients {
  double b0 = 1.0;
  double b1 = 0.0;
  double b2 = 0.0;
  double a1 = 0.0;
  double a2 = 0.0;
};

// Butterworth orders accepted by the DesignButterworth* functions: even, so
// that every section is a complex pole pair.
inline constexpr int kMinButterworthOrder = 2;
inline constexpr int kMaxButterworthOrder = 8;

// Most channels a BiquadCascade accepts; far above any ECG lead count, low
// enough that a bad value cannot ask for gigabytes of state.
inline constexpr int kMaxCascadeChannels = 64;

// Returns the cookbook low-pass section with corner frequency `cutoff_hz`
// and quality factor `q`: unity gain at DC, a zero at Nyquist and
// |H(cutoff_hz)| = q exactly (q = 1/sqrt(2): a 2nd-order Butterworth,
// -3.01 dB at the cutoff).
// Fails with kInvalidArgument unless sample_rate_hz > 0,
// 0 < cutoff_hz < sample_rate_hz / 2 and q > 0 (all finite).
Result<BiquadCoefficients> DesignLowPass(double sample_rate_hz,
                                         double cutoff_hz, double q);

// As DesignLowPass(), for the cookbook HPF: unity gain at Nyquist, zero at
// DC.
Result<BiquadCoefficients> DesignHighPass(double sample_rate_hz,
                                          double cutoff_hz, double q);

// Returns a notch with a zero pair on the unit circle at `center_hz` (so
// infinite attenuation there) and -3 dB edges exactly `bandwidth_hz` apart.
// Unity gain at DC and Nyquist.
// Fails with kInvalidArgument unless sample_rate_hz > 0,
// 0 < center_hz < sample_rate_hz / 2 and
// 0 < bandwidth_hz < sample_rate_hz / 2 (all finite).
Result<BiquadCoefficients> DesignNotch(double sample_rate_hz,
                                       double center_hz, double bandwidth_hz);

// Returns the Q of section `section` (0-based, lowest Q first) of an
// order-`order` Butterworth: 1 / (2 cos((2k + 1) pi / (2N))). E.g. order 2:
// 0.7071; order 4: 0.5412, 1.3066.
// REQUIRES: order even in [kMinButterworthOrder, kMaxButterworthOrder],
//           0 <= section < order / 2.
double ButterworthSectionQ(int order, int section);

// Returns the order/2 sections of a Butterworth low-pass (-3.01 dB at
// `cutoff_hz`). Fails with kInvalidArgument for the reasons DesignLowPass()
// does, or unless `order` is even in [kMinButterworthOrder,
// kMaxButterworthOrder].
Result<std::vector<BiquadCoefficients>> DesignButterworthLowPass(
    double sample_rate_hz, double cutoff_hz, int order);

// As DesignButterworthLowPass(), for a high-pass.
Result<std::vector<BiquadCoefficients>> DesignButterworthHighPass(
    double sample_rate_hz, double cutoff_hz, int order);

// True when both poles of `section` lie strictly inside the unit circle
// (|a2| < 1 and |a1| < 1 + a2), i.e. the section is BIBO stable.
bool IsStable(const BiquadCoefficients& section);

// Returns H(e^{j 2 pi f / fs}) of one section, or of a cascade (the product
// of its sections; the empty cascade is 1). Frequencies in Hz.
// REQUIRES: sample_rate_hz > 0.
std::complex<double> FrequencyResponse(const BiquadCoefficients& section,
                                       double sample_rate_hz,
                                       double frequency_hz);
std::complex<double> FrequencyResponse(
    std::span<const BiquadCoefficients> sections, double sample_rate_hz,
    double frequency_hz);

// Returns 20 log10 |H(f)| of a cascade, in dB; -infinity at an exact zero.
// REQUIRES: sample_rate_hz > 0.
double MagnitudeDb(std::span<const BiquadCoefficients> sections,
                   double sample_rate_hz, double frequency_hz);

// A fixed cascade of sections applied independently to each of
// `num_channels` interleaved channels.
class BiquadCascade {
 public:
  // Returns a cascade of `sections` (applied in order) with zeroed state.
  // Fails with kInvalidArgument unless 1 <= num_channels <=
  // kMaxCascadeChannels, `sections` is non-empty and every coefficient is
  // finite and every section IsStable().
  static Result<BiquadCascade> Create(
      std::span<const BiquadCoefficients> sections, int num_channels);

  // Filters one sample of `channel` and returns the output, advancing that
  // channel's state only. Bit-identical to the same sample going through
  // ProcessBlock().
  // REQUIRES: 0 <= channel < num_channels(); `sample` finite (a non-finite
  //           sample poisons that channel's state until Reset()).
  float Process(int channel, float sample) {
    return static_cast<float>(Step(channel, sample));
  }

  // Filters whole interleaved frames (num_channels() samples each) from `in`
  // into `out`. The output does not depend on how a signal is split into
  // blocks. `in` and `out` may be the same buffer (in-place), but must not
  // otherwise overlap.
  // REQUIRES: in.size() == out.size(), a multiple of num_channels();
  //           samples finite.
  void ProcessBlock(std::span<const float> in, std::span<float> out);

  // Zeroes every channel's state: the object behaves as just created.
  void Reset();

  int num_channels() const { return num_channels_; }
  int num_sections() const { return static_cast<int>(sections_.size()); }
  std::span<const BiquadCoefficients> sections() const { return sections_; }

 private:
  BiquadCascade(std::vector<BiquadCoefficients> sections, int num_channels);

  // State layout: section-major, then delay element, then channel —
  // state_[(2 * section + k) * num_channels_ + channel] — so that
  // ProcessBlock's inner loop runs over adjacent channels (vectorisable).
  // Runs one sample of `channel` through every section; inline and the same
  // arithmetic, in the same order, as ProcessBlock's, so that both round
  // identically.
  double Step(int channel, double x) {
    const std::size_t stride = static_cast<std::size_t>(num_channels_);
    double* z = state_.data() + static_cast<std::size_t>(channel);
    for (const BiquadCoefficients& c : sections_) {
      const double y = c.b0 * x + z[0];
      z[0] = c.b1 * x - c.a1 * y + z[stride];
      z[stride] = c.b2 * x - c.a2 * y;
      x = y;
      z += 2 * stride;
    }
    return x;
  }

  std::vector<BiquadCoefficients> sections_;
  int num_channels_ = 0;
  std::vector<double> state_;  // sections_.size() * 2 * num_channels_
};

}  // namespace pulse::dsp

#endif  // PULSE_DSP_BIQUAD_H_
