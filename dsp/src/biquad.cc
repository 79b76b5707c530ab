// Biquad design and the DF-II-transposed cascade; see biquad.h for the
// references.
#include "pulse/dsp/biquad.h"

#include <cassert>
#include <cmath>
#include <cstdio>
#include <numbers>
#include <string>
#include <utility>

namespace pulse::dsp {
namespace {

// A value for an error message, 6 significant digits ("0.05", "1000").
std::string Num(double value) {
  char buffer[32];
  std::snprintf(buffer, sizeof(buffer), "%.6g", value);
  return buffer;
}

// Written as !(a && b) so that NaN fails every check.
Status CheckRateAndFrequency(double sample_rate_hz, double frequency_hz,
                             const char* frequency_name) {
  if (!(std::isfinite(sample_rate_hz) && sample_rate_hz > 0.0)) {
    return Fail(ErrorCode::kInvalidArgument,
                "sample_rate_hz = " + Num(sample_rate_hz) +
                    " must be finite and > 0 Hz");
  }
  const double nyquist_hz = sample_rate_hz / 2.0;
  if (!(frequency_hz > 0.0 && frequency_hz < nyquist_hz)) {
    return Fail(ErrorCode::kInvalidArgument,
                std::string(frequency_name) + " = " + Num(frequency_hz) +
                    " Hz must be in (0, " + Num(nyquist_hz) +
                    ") Hz, below Nyquist at sample_rate_hz = " +
                    Num(sample_rate_hz));
  }
  return OkStatus();
}

Status CheckQ(double q) {
  if (!(std::isfinite(q) && q > 0.0)) {
    return Fail(ErrorCode::kInvalidArgument,
                "q = " + Num(q) + " must be finite and > 0");
  }
  return OkStatus();
}

Status CheckOrder(int order) {
  if (order < kMinButterworthOrder || order > kMaxButterworthOrder ||
      order % 2 != 0) {
    return Fail(ErrorCode::kInvalidArgument,
                "order = " + std::to_string(order) + " must be even in [" +
                    std::to_string(kMinButterworthOrder) + ", " +
                    std::to_string(kMaxButterworthOrder) + "]");
  }
  return OkStatus();
}

// Cookbook intermediates: w0 = 2 pi f0 / fs is the digital design frequency;
// using it directly in the s-to-z mapping is the bilinear transform
// prewarped at f0.
struct Warped {
  double cos_w0;
  double alpha;  // sin(w0) / (2 Q)
};

Warped Warp(double sample_rate_hz, double frequency_hz, double q) {
  const double w0 = 2.0 * std::numbers::pi * frequency_hz / sample_rate_hz;
  return {std::cos(w0), std::sin(w0) / (2.0 * q)};
}

// 1 - cos(w0) computed as 2 sin^2(w0 / 2): at 0.05 Hz / 1000 Hz the direct
// difference would lose half of the significant digits.
double OneMinusCos(double sample_rate_hz, double frequency_hz) {
  const double half_w0 = std::numbers::pi * frequency_hz / sample_rate_hz;
  const double s = std::sin(half_w0);
  return 2.0 * s * s;
}

BiquadCoefficients Normalize(double b0, double b1, double b2, double a0,
                             double a1, double a2) {
  return {b0 / a0, b1 / a0, b2 / a0, a1 / a0, a2 / a0};
}

bool IsFinite(const BiquadCoefficients& c) {
  return std::isfinite(c.b0) && std::isfinite(c.b1) && std::isfinite(c.b2) &&
         std::isfinite(c.a1) && std::isfinite(c.a2);
}

}  // namespace

Result<BiquadCoefficients> DesignLowPass(double sample_rate_hz,
                                         double cutoff_hz, double q) {
  if (Status s = CheckRateAndFrequency(sample_rate_hz, cutoff_hz, "cutoff_hz");
      !s) {
    return Fail(s.error());
  }
  if (Status s = CheckQ(q); !s) return Fail(s.error());
  const auto [cos_w0, alpha] = Warp(sample_rate_hz, cutoff_hz, q);
  const double one_minus_cos = OneMinusCos(sample_rate_hz, cutoff_hz);
  return Normalize(one_minus_cos / 2.0, one_minus_cos, one_minus_cos / 2.0,
                   1.0 + alpha, -2.0 * cos_w0, 1.0 - alpha);
}

Result<BiquadCoefficients> DesignHighPass(double sample_rate_hz,
                                          double cutoff_hz, double q) {
  if (Status s = CheckRateAndFrequency(sample_rate_hz, cutoff_hz, "cutoff_hz");
      !s) {
    return Fail(s.error());
  }
  if (Status s = CheckQ(q); !s) return Fail(s.error());
  const auto [cos_w0, alpha] = Warp(sample_rate_hz, cutoff_hz, q);
  const double one_plus_cos = 1.0 + cos_w0;
  return Normalize(one_plus_cos / 2.0, -one_plus_cos, one_plus_cos / 2.0,
                   1.0 + alpha, -2.0 * cos_w0, 1.0 - alpha);
}

Result<BiquadCoefficients> DesignNotch(double sample_rate_hz,
                                       double center_hz, double bandwidth_hz) {
  if (Status s = CheckRateAndFrequency(sample_rate_hz, center_hz, "center_hz");
      !s) {
    return Fail(s.error());
  }
  if (Status s =
          CheckRateAndFrequency(sample_rate_hz, bandwidth_hz, "bandwidth_hz");
      !s) {
    return Fail(s.error());
  }
  const double cos_w0 =
      std::cos(2.0 * std::numbers::pi * center_hz / sample_rate_hz);
  // Orfanidis §11.3: with beta = tan(delta_w / 2) the digital -3 dB width is
  // exactly delta_w, with no further warping correction.
  const double beta = std::tan(std::numbers::pi * bandwidth_hz /
                               sample_rate_hz);
  return Normalize(1.0, -2.0 * cos_w0, 1.0, 1.0 + beta, -2.0 * cos_w0,
                   1.0 - beta);
}

double ButterworthSectionQ(int order, int section) {
  assert(CheckOrder(order).has_value());
  assert(section >= 0 && section < order / 2);
  // Analog Butterworth poles sit at angles (2k + 1) pi / (2N) from the
  // negative real axis; a pole pair at angle theta has Q = 1 / (2 cos theta).
  const double theta =
      static_cast<double>(2 * section + 1) * std::numbers::pi /
      static_cast<double>(2 * order);
  return 1.0 / (2.0 * std::cos(theta));
}

namespace {

using SectionDesign = Result<BiquadCoefficients> (*)(double, double, double);

// An order-N Butterworth filter as N/2 sections of `design` sharing one
// cutoff, with the section Q values of ButterworthSectionQ().
Result<std::vector<BiquadCoefficients>> DesignButterworth(
    SectionDesign design, double sample_rate_hz, double cutoff_hz, int order) {
  if (Status s = CheckOrder(order); !s) return Fail(s.error());
  std::vector<BiquadCoefficients> sections;
  for (int k = 0; k < order / 2; ++k) {
    Result<BiquadCoefficients> section =
        design(sample_rate_hz, cutoff_hz, ButterworthSectionQ(order, k));
    if (!section) return Fail(section.error());
    sections.push_back(*section);
  }
  return sections;
}

}  // namespace

Result<std::vector<BiquadCoefficients>> DesignButterworthLowPass(
    double sample_rate_hz, double cutoff_hz, int order) {
  return DesignButterworth(&DesignLowPass, sample_rate_hz, cutoff_hz, order);
}

Result<std::vector<BiquadCoefficients>> DesignButterworthHighPass(
    double sample_rate_hz, double cutoff_hz, int order) {
  return DesignButterworth(&DesignHighPass, sample_rate_hz, cutoff_hz, order);
}

bool IsStable(const BiquadCoefficients& section) {
  // The stability triangle of z^2 + a1 z + a2.
  return std::abs(section.a2) < 1.0 &&
         std::abs(section.a1) < 1.0 + section.a2;
}

std::complex<double> FrequencyResponse(const BiquadCoefficients& section,
                                       double sample_rate_hz,
                                       double frequency_hz) {
  assert(sample_rate_hz > 0.0);
  const double w = 2.0 * std::numbers::pi * frequency_hz / sample_rate_hz;
  const std::complex<double> z1 = std::polar(1.0, -w);  // z^-1
  const std::complex<double> z2 = std::polar(1.0, -2.0 * w);
  return (section.b0 + section.b1 * z1 + section.b2 * z2) /
         (1.0 + section.a1 * z1 + section.a2 * z2);
}

std::complex<double> FrequencyResponse(
    std::span<const BiquadCoefficients> sections, double sample_rate_hz,
    double frequency_hz) {
  std::complex<double> h = 1.0;
  for (const BiquadCoefficients& section : sections) {
    h *= FrequencyResponse(section, sample_rate_hz, frequency_hz);
  }
  return h;
}

double MagnitudeDb(std::span<const BiquadCoefficients> sections,
                   double sample_rate_hz, double frequency_hz) {
  return 20.0 * std::log10(std::abs(
                    FrequencyResponse(sections, sample_rate_hz, frequency_hz)));
}

Result<BiquadCascade> BiquadCascade::Create(
    std::span<const BiquadCoefficients> sections, int num_channels) {
  if (num_channels < 1 || num_channels > kMaxCascadeChannels) {
    return Fail(ErrorCode::kInvalidArgument,
                "num_channels = " + std::to_string(num_channels) +
                    " must be in [1, " + std::to_string(kMaxCascadeChannels) +
                    "]");
  }
  if (sections.empty()) {
    return Fail(ErrorCode::kInvalidArgument,
                "sections: a cascade needs at least one section");
  }
  for (std::size_t i = 0; i < sections.size(); ++i) {
    if (!IsFinite(sections[i]) || !IsStable(sections[i])) {
      return Fail(ErrorCode::kInvalidArgument,
                  "sections[" + std::to_string(i) +
                      "] must have finite coefficients and both poles inside "
                      "the unit circle");
    }
  }
  return BiquadCascade(
      std::vector<BiquadCoefficients>(sections.begin(), sections.end()),
      num_channels);
}

BiquadCascade::BiquadCascade(std::vector<BiquadCoefficients> sections,
                             int num_channels)
    : sections_(std::move(sections)),
      num_channels_(num_channels),
      state_(static_cast<std::size_t>(num_channels) * sections_.size() * 2,
             0.0) {}

void BiquadCascade::ProcessBlock(std::span<const float> in,
                                 std::span<float> out) {
  assert(in.size() == out.size());
  assert(in.size() % static_cast<std::size_t>(num_channels_) == 0);
  const std::size_t channels = static_cast<std::size_t>(num_channels_);
  const std::size_t num_frames = in.size() / channels;
  // Frame by frame, section by section, and innermost over channels: the
  // channels' recursions are independent, so the compiler can vectorise
  // that loop and the CPU overlap its multiply-add chains. Per channel the
  // arithmetic is Step()'s. In-place is safe: each element is read into
  // `x` before it is written.
  double x[kMaxCascadeChannels];
  const float* input = in.data();
  float* output = out.data();
  for (std::size_t frame = 0; frame < num_frames; ++frame) {
    for (std::size_t ch = 0; ch < channels; ++ch) x[ch] = input[ch];
    double* z1 = state_.data();
    for (const BiquadCoefficients& c : sections_) {
      double* z2 = z1 + channels;
      for (std::size_t ch = 0; ch < channels; ++ch) {
        const double y = c.b0 * x[ch] + z1[ch];
        z1[ch] = c.b1 * x[ch] - c.a1 * y + z2[ch];
        z2[ch] = c.b2 * x[ch] - c.a2 * y;
        x[ch] = y;
      }
      z1 = z2 + channels;
    }
    for (std::size_t ch = 0; ch < channels; ++ch) {
      output[ch] = static_cast<float>(x[ch]);
    }
    input += channels;
    output += channels;
  }
}

void BiquadCascade::Reset() {
  for (double& s : state_) s = 0.0;
}

}  // namespace pulse::dsp
