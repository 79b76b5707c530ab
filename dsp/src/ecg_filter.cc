// EcgFilterChain: validation and design; the processing is BiquadCascade's.
#include "pulse/dsp/ecg_filter.h"
#include "range_check.h"

#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

namespace pulse::dsp {
namespace {

using internal::CheckRange;
using internal::FormatNumber;



Status CheckOrder(const char* field, int order) {
  if (order != 2 && order != 4) {
    return Fail(ErrorCode::kInvalidArgument,
                std::string(field) + " = " + std::to_string(order) +
                    " must be 2 or 4");
  }
  return OkStatus();
}

Status Validate(const EcgFilterConfig& c) {
  if (Status s = CheckRange("sample_rate_hz", c.sample_rate_hz,
                            kMinEcgSampleRateHz, kMaxEcgSampleRateHz, "Hz");
      !s) {
    return s;
  }
  if (c.num_channels < 1 || c.num_channels > kMaxEcgChannels) {
    return Fail(ErrorCode::kInvalidArgument,
                "num_channels = " + std::to_string(c.num_channels) +
                    " is outside [1, " + std::to_string(kMaxEcgChannels) + "]");
  }
  if (Status s = CheckRange("highpass_cutoff_hz", c.highpass_cutoff_hz,
                            kMinHighpassCutoffHz, kMaxHighpassCutoffHz, "Hz");
      !s) {
    return s;
  }
  if (Status s = CheckOrder("highpass_order", c.highpass_order); !s) return s;
  if (c.mains_hz != 0.0 && c.mains_hz != 50.0 && c.mains_hz != 60.0) {
    return Fail(ErrorCode::kInvalidArgument,
                "mains_hz = " + FormatNumber(c.mains_hz) +
                    " Hz must be 50, 60 or 0 (no notch)");
  }
  if (Status s = CheckRange("notch_bandwidth_hz", c.notch_bandwidth_hz,
                            kMinNotchBandwidthHz, kMaxNotchBandwidthHz, "Hz");
      !s) {
    return s;
  }
  if (c.lowpass_cutoff_hz != 0.0) {
    const double max_lowpass_hz =
        kMaxLowpassCutoffPerSampleRate * c.sample_rate_hz;
    if (Status s = CheckRange(
            "lowpass_cutoff_hz", c.lowpass_cutoff_hz, kMinLowpassCutoffHz,
            max_lowpass_hz, "Hz",
            " (the upper bound is 0.45 * sample_rate_hz, sample_rate_hz = " +
                FormatNumber(c.sample_rate_hz) + " Hz; 0 = no low-pass)");
        !s) {
      return s;
    }
  }
  if (Status s = CheckOrder("lowpass_order", c.lowpass_order); !s) return s;
  return OkStatus();
}

// Validate() has established every precondition of the designs below, so a
// failure here is a programming error; it is still passed on rather than
// dereferenced blindly.
Status Append(Result<std::vector<BiquadCoefficients>> designed,
              std::vector<BiquadCoefficients>* sections) {
  if (!designed) return Fail(designed.error());
  sections->insert(sections->end(), designed->begin(), designed->end());
  return OkStatus();
}

}  // namespace

Result<EcgFilterChain> EcgFilterChain::Create(const EcgFilterConfig& config) {
  if (Status s = Validate(config); !s) return Fail(s.error());
  const double fs = config.sample_rate_hz;

  // High-pass first: the later sections then never see the (possibly large)
  // electrode offset.
  std::vector<BiquadCoefficients> sections;
  if (Status s = Append(DesignButterworthHighPass(fs, config.highpass_cutoff_hz,
                                                  config.highpass_order),
                        &sections);
      !s) {
    return Fail(s.error());
  }

  const bool notch_active = config.mains_hz > 0.0 && config.mains_hz < fs / 2.0;
  if (notch_active) {
    Result<BiquadCoefficients> notch =
        DesignNotch(fs, config.mains_hz, config.notch_bandwidth_hz);
    if (!notch) return Fail(notch.error());
    sections.push_back(*notch);
  }

  if (config.lowpass_cutoff_hz > 0.0) {
    if (Status s = Append(DesignButterworthLowPass(
                              fs, config.lowpass_cutoff_hz,
                              config.lowpass_order),
                          &sections);
        !s) {
      return Fail(s.error());
    }
  }

  Result<BiquadCascade> cascade =
      BiquadCascade::Create(sections, config.num_channels);
  if (!cascade) return Fail(cascade.error());
  return EcgFilterChain(config, std::move(*cascade), notch_active);
}

}  // namespace pulse::dsp
