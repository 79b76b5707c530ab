#include "pulse/dsp/leads.h"

#include <cmath>
#include <cstddef>
#include <utility>

namespace pulse::dsp {
namespace {

constexpr std::array<std::string_view, kNumStandardLeads> kNames = {
    "I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6"};

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    auto lower = [](char c) {
      return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
    };
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

std::string_view Trim(std::string_view s) {
  auto blank = [](char c) {
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
  };
  while (!s.empty() && blank(s.front())) s.remove_prefix(1);
  while (!s.empty() && blank(s.back())) s.remove_suffix(1);
  return s;
}

// The limb-lead derivations, written once so that derivation and check agree
// to the bit.
float DeriveIII(float i, float ii) { return ii - i; }
float DeriveAVR(float i, float ii) { return -(i + ii) * 0.5f; }
float DeriveAVL(float i, float ii) { return i - ii * 0.5f; }
float DeriveAVF(float i, float ii) { return ii - i * 0.5f; }

}  // namespace

std::string_view LeadName(Lead lead) {
  return kNames[static_cast<std::size_t>(LeadIndex(lead))];
}

std::optional<Lead> ParseLeadName(std::string_view name) {
  name = Trim(name);
  for (int k = 0; k < kNumStandardLeads; ++k) {
    if (EqualsIgnoreCase(name, kNames[static_cast<std::size_t>(k)])) {
      return static_cast<Lead>(k);
    }
  }
  return std::nullopt;
}

Result<Derived12Lead> Derive12Lead(std::span<const float> interleaved_mv,
                                   std::span<const std::string> channel_names,
                                   const Derive12LeadOptions& options) {
  const std::size_t num_channels = channel_names.size();
  if (num_channels == 0) {
    return Fail(ErrorCode::kInvalidArgument, "Derive12Lead: no channels");
  }
  if (interleaved_mv.size() % num_channels != 0) {
    return Fail(ErrorCode::kInvalidArgument,
                "Derive12Lead: " + std::to_string(interleaved_mv.size()) +
                    " samples is not a whole number of " +
                    std::to_string(num_channels) + "-channel frames");
  }

  // channel_of[lead] = input channel, or -1.
  std::array<int, kNumStandardLeads> channel_of;
  channel_of.fill(-1);
  std::string present;
  for (std::size_t c = 0; c < num_channels; ++c) {
    const std::optional<Lead> lead = ParseLeadName(channel_names[c]);
    if (!lead) continue;
    int& slot = channel_of[static_cast<std::size_t>(LeadIndex(*lead))];
    if (slot >= 0) {
      return Fail(ErrorCode::kInvalidArgument,
                  "Derive12Lead: duplicate lead " + std::string(LeadName(*lead)) +
                      ": channels " + std::to_string(slot) + " and " +
                      std::to_string(c));
    }
    slot = static_cast<int>(c);
    present += (present.empty() ? "" : ", ") + std::string(LeadName(*lead));
  }

  bool all_present = true;
  for (int slot : channel_of) all_present = all_present && slot >= 0;
  if (!all_present) {
    for (Lead lead : {Lead::kI, Lead::kII, Lead::kV1, Lead::kV2, Lead::kV3,
                      Lead::kV4, Lead::kV5, Lead::kV6}) {
      if (channel_of[static_cast<std::size_t>(LeadIndex(lead))] < 0) {
        return Fail(ErrorCode::kInvalidArgument,
                    "Derive12Lead: missing lead " +
                        std::string(LeadName(lead)) + " (leads present: " +
                        (present.empty() ? std::string("none") : present) +
                        ")");
      }
    }
  }

  Derived12Lead out;
  out.num_frames =
      static_cast<std::int64_t>(interleaved_mv.size() / num_channels);
  out.limb_leads_derived = !all_present;
  out.samples_mv.resize(static_cast<std::size_t>(out.num_frames) *
                        kNumStandardLeads);
  const auto ch = [&](Lead lead) {
    return static_cast<std::size_t>(
        channel_of[static_cast<std::size_t>(LeadIndex(lead))]);
  };
  const auto idx = [](Lead lead) {
    return static_cast<std::size_t>(LeadIndex(lead));
  };
  for (std::int64_t f = 0; f < out.num_frames; ++f) {
    const float* in =
        interleaved_mv.data() + static_cast<std::size_t>(f) * num_channels;
    float* o = out.samples_mv.data() +
               static_cast<std::size_t>(f) * kNumStandardLeads;
    if (all_present) {
      for (Lead lead : kStandardLeadOrder) o[idx(lead)] = in[ch(lead)];
      if (options.check_carried_limb_leads) {
        const float i = in[ch(Lead::kI)];
        const float ii = in[ch(Lead::kII)];
        const std::array<std::pair<Lead, float>, 4> derived = {{
            {Lead::kIII, DeriveIII(i, ii)},
            {Lead::kAVR, DeriveAVR(i, ii)},
            {Lead::kAVL, DeriveAVL(i, ii)},
            {Lead::kAVF, DeriveAVF(i, ii)},
        }};
        for (const auto& [lead, value] : derived) {
          const float dev = std::fabs(in[ch(lead)] - value);
          if (std::isfinite(dev) && dev > out.max_limb_deviation_mv) {
            out.max_limb_deviation_mv = dev;
            out.max_deviation_lead = lead;
          }
        }
      }
    } else {
      const float i = in[ch(Lead::kI)];
      const float ii = in[ch(Lead::kII)];
      o[idx(Lead::kI)] = i;
      o[idx(Lead::kII)] = ii;
      o[idx(Lead::kIII)] = DeriveIII(i, ii);
      o[idx(Lead::kAVR)] = DeriveAVR(i, ii);
      o[idx(Lead::kAVL)] = DeriveAVL(i, ii);
      o[idx(Lead::kAVF)] = DeriveAVF(i, ii);
      for (Lead lead : {Lead::kV1, Lead::kV2, Lead::kV3, Lead::kV4, Lead::kV5,
                        Lead::kV6}) {
        o[idx(lead)] = in[ch(lead)];
      }
    }
  }
  return out;
}

}  // namespace pulse::dsp
