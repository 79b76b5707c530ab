// Helpers for measuring a filter's response the way an oscilloscope would:
// how long its start-up transient lasts, and the amplitude of the sinusoid
// left in its output. Shared by the biquad and ECG filter chain tests.
#ifndef PULSE_TESTS_SUPPORT_SINE_RESPONSE_H_
#define PULSE_TESTS_SUPPORT_SINE_RESPONSE_H_

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <span>

#include "pulse/dsp/biquad.h"

namespace pulse::testing {

// Slowest pole radius of the cascade; its transient decays as r^n.
inline double MaxPoleRadius(std::span<const dsp::BiquadCoefficients> sections) {
  double max_radius = 0.0;
  for (const dsp::BiquadCoefficients& c : sections) {
    const double disc = c.a1 * c.a1 - 4.0 * c.a2;
    if (disc < 0.0) {
      max_radius = std::max(max_radius, std::sqrt(c.a2));
    } else {
      const double root = std::sqrt(disc);
      max_radius = std::max({max_radius, std::abs((-c.a1 + root) / 2.0),
                             std::abs((-c.a1 - root) / 2.0)});
    }
  }
  return max_radius;
}

// Frames until the start-up transient is below 1e-9 of its initial size.
inline std::size_t SettlingFrames(
    std::span<const dsp::BiquadCoefficients> sections) {
  return static_cast<std::size_t>(
      std::ceil(std::log(1e-9) / std::log(MaxPoleRadius(sections))));
}

// Least-squares fit of c + a cos(w n) + b sin(w n) to channel `channel` of
// the interleaved `y` (`stride` channels), over frames first_frame ..
// first_frame + num_frames - 1, with n the frame index; returns the
// amplitude sqrt(a² + b²). The constant absorbs what is left of a DC
// transient. `w` is in radians per frame.
inline double FittedAmplitude(std::span<const float> y, std::size_t stride,
                              std::size_t first_frame, std::size_t num_frames,
                              std::size_t channel, double w) {
  double m[3][3] = {};
  double v[3] = {};
  for (std::size_t i = 0; i < num_frames; ++i) {
    const double phase = w * static_cast<double>(first_frame + i);
    const double basis[3] = {1.0, std::cos(phase), std::sin(phase)};
    const double sample = y[(first_frame + i) * stride + channel];
    for (int r = 0; r < 3; ++r) {
      v[r] += basis[r] * sample;
      for (int c = 0; c < 3; ++c) m[r][c] += basis[r] * basis[c];
    }
  }
  // Gaussian elimination; the normal matrix is symmetric positive definite.
  for (int p = 0; p < 3; ++p) {
    for (int r = p + 1; r < 3; ++r) {
      const double f = m[r][p] / m[p][p];
      for (int c = p; c < 3; ++c) m[r][c] -= f * m[p][c];
      v[r] -= f * v[p];
    }
  }
  double x[3];
  for (int r = 2; r >= 0; --r) {
    double s = v[r];
    for (int c = r + 1; c < 3; ++c) s -= m[r][c] * x[c];
    x[r] = s / m[r][r];
  }
  return std::hypot(x[1], x[2]);
}

}  // namespace pulse::testing

#endif  // PULSE_TESTS_SUPPORT_SINE_RESPONSE_H_
