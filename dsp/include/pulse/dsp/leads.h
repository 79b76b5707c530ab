// The standard 12-lead ECG: lead names, their canonical order, parsing of
// the channel names found in WFDB headers, and assembly of a 12-lead frame
// layout from whatever named channels a record carries.
//
// Order (kStandardLeadOrder): I, II, III, aVR, aVL, aVF, V1..V6 — the order
// of printed reports and of LUDB / PTB-XL records.
//
// The four limb leads that are not independent follow from I and II
// (Einthoven's law and Goldberger's augmented leads):
//   III = II - I,  aVR = -(I + II) / 2,  aVL = I - II / 2,  aVF = II - I / 2.
//
// Name parsing is deliberately strict: "MLII", "ML2", "V5-mod" and the like
// are NOT lead II / V5. MLII (MIT-BIH) is a modified limb lead recorded with
// torso electrodes (Mason-Likar placement); its morphology and amplitude
// differ from a standard II, and substituting it silently would corrupt
// axis and amplitude measurements. A caller that accepts such a proxy maps
// the name explicitly before calling Derive12Lead().
//
// Thread-safety: pure functions; no shared state.
#ifndef PULSE_DSP_LEADS_H_
#define PULSE_DSP_LEADS_H_

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "pulse/base/result.h"

namespace pulse::dsp {

// Values are the index in kStandardLeadOrder; never renumbered.
enum class Lead {
  kI = 0,
  kII = 1,
  kIII = 2,
  kAVR = 3,
  kAVL = 4,
  kAVF = 5,
  kV1 = 6,
  kV2 = 7,
  kV3 = 8,
  kV4 = 9,
  kV5 = 10,
  kV6 = 11,
};

inline constexpr int kNumStandardLeads = 12;

inline constexpr std::array<Lead, kNumStandardLeads> kStandardLeadOrder = {
    Lead::kI,  Lead::kII, Lead::kIII, Lead::kAVR, Lead::kAVL, Lead::kAVF,
    Lead::kV1, Lead::kV2, Lead::kV3,  Lead::kV4,  Lead::kV5,  Lead::kV6};

// Index of `lead` in kStandardLeadOrder (and in a Derive12Lead() frame).
constexpr int LeadIndex(Lead lead) { return static_cast<int>(lead); }

// Returns the conventional spelling: "I", "II", "III", "aVR", "aVL", "aVF",
// "V1" .. "V6".
std::string_view LeadName(Lead lead);

// Returns the lead named by `name`, or nullopt. Leading/trailing blanks are
// ignored and letters compared case-insensitively, so "avr", "AVR", "aVR"
// and " V1 " are accepted; "MLII", "ML2", "D2", "V7", "" are not (see the
// file comment).
std::optional<Lead> ParseLeadName(std::string_view name);

struct Derive12LeadOptions {
  // When the record carries all six limb leads: also compute III, aVR, aVL
  // and aVF from the carried I and II and report the largest absolute
  // difference (Derived12Lead::max_limb_deviation_mv). The carried samples
  // are passed through unchanged either way.
  bool check_carried_limb_leads = false;
};

struct Derived12Lead {
  // num_frames * kNumStandardLeads samples, frame by frame, leads in
  // kStandardLeadOrder; millivolts (whatever unit the input used).
  std::vector<float> samples_mv;
  std::int64_t num_frames = 0;
  // True when III, aVR, aVL, aVF were computed from I and II; false when
  // all twelve were passed through.
  bool limb_leads_derived = false;
  // Only with check_carried_limb_leads on a pass-through: the largest
  // |carried - derived| over III, aVR, aVL, aVF and all frames, and the lead
  // where it occurred. 0 / kIII otherwise. Non-finite samples are skipped.
  float max_limb_deviation_mv = 0.0f;
  Lead max_deviation_lead = Lead::kIII;
};

// Builds the 12-lead layout from `interleaved_mv`, frames of
// channel_names.size() samples, channel k named channel_names[k].
//
// Channels whose name ParseLeadName() rejects are ignored. If all twelve
// standard leads are present they are copied bit-identically; otherwise
// I, II and V1..V6 are required and III, aVR, aVL, aVF are all derived from
// I and II (any of the four the record does carry are then ignored, so that
// the limb leads are always mutually consistent).
//
// Fails with kInvalidArgument when channel_names is empty, when
// interleaved_mv.size() is not a multiple of channel_names.size(), when
// two channels name the same lead ("duplicate lead V2: channels 3 and 7"),
// or when a required lead is missing ("missing lead V3"; the first missing
// lead in standard order is named, together with the channels present).
Result<Derived12Lead> Derive12Lead(std::span<const float> interleaved_mv,
                                   std::span<const std::string> channel_names,
                                   const Derive12LeadOptions& options = {});

}  // namespace pulse::dsp

#endif  // PULSE_DSP_LEADS_H_
