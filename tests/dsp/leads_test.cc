// Tests for leads.h: name parsing, Einthoven/Goldberger derivation (exact to
// the bit against the documented formulas), bit-identical pass-through, the
// carried-limb-lead check, and errors that name the missing lead.
#include "pulse/dsp/leads.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

namespace pulse::dsp {
namespace {

std::vector<float> RandomFrames(int channels, int frames, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-3.0f, 3.0f);
  std::vector<float> v(static_cast<std::size_t>(channels * frames));
  for (float& x : v) x = dist(rng);
  return v;
}

float At(const Derived12Lead& d, std::int64_t frame, Lead lead) {
  return d.samples_mv[static_cast<std::size_t>(frame * kNumStandardLeads +
                                               LeadIndex(lead))];
}

TEST(LeadsTest, ParsesWfdbSpellings) {
  EXPECT_EQ(ParseLeadName("aVR"), Lead::kAVR);
  EXPECT_EQ(ParseLeadName("AVR"), Lead::kAVR);
  EXPECT_EQ(ParseLeadName("avf"), Lead::kAVF);
  EXPECT_EQ(ParseLeadName(" ii "), Lead::kII);
  EXPECT_EQ(ParseLeadName("v6"), Lead::kV6);
  EXPECT_EQ(ParseLeadName("I"), Lead::kI);
  EXPECT_EQ(ParseLeadName("III"), Lead::kIII);
  EXPECT_FALSE(ParseLeadName("MLII"));
  EXPECT_FALSE(ParseLeadName("ML2"));
  EXPECT_FALSE(ParseLeadName("V7"));
  EXPECT_FALSE(ParseLeadName(""));
  EXPECT_FALSE(ParseLeadName("IIII"));
  for (Lead lead : kStandardLeadOrder) {
    EXPECT_EQ(ParseLeadName(LeadName(lead)), lead);
  }
}

TEST(LeadsTest, DerivedLeadsSatisfyEinthovenExactly) {
  // I, II, V1..V6 in a shuffled order plus an unrelated channel.
  const std::vector<std::string> names = {"v3", "II", "ECG", "V1", "i",
                                          "V2", "V4", "V5",  "V6"};
  const int ch = static_cast<int>(names.size());
  const std::vector<float> in = RandomFrames(ch, 500, 7);
  Result<Derived12Lead> d = Derive12Lead(in, names);
  ASSERT_TRUE(d) << d.error().ToString();
  EXPECT_TRUE(d->limb_leads_derived);
  ASSERT_EQ(d->num_frames, 500);
  for (std::int64_t f = 0; f < d->num_frames; ++f) {
    const float i = in[static_cast<std::size_t>(f * ch + 4)];
    const float ii = in[static_cast<std::size_t>(f * ch + 1)];
    EXPECT_EQ(At(*d, f, Lead::kI), i);
    EXPECT_EQ(At(*d, f, Lead::kII), ii);
    EXPECT_EQ(At(*d, f, Lead::kIII), ii - i);  // Einthoven: I + III = II
    EXPECT_EQ(At(*d, f, Lead::kAVR), -(i + ii) * 0.5f);
    EXPECT_EQ(At(*d, f, Lead::kAVL), i - ii * 0.5f);
    EXPECT_EQ(At(*d, f, Lead::kAVF), ii - i * 0.5f);
    // Goldberger: aVR + aVL + aVF = 0 (up to float rounding).
    EXPECT_NEAR(At(*d, f, Lead::kAVR) + At(*d, f, Lead::kAVL) +
                    At(*d, f, Lead::kAVF),
                0.0f, 1e-5f);
    EXPECT_EQ(At(*d, f, Lead::kV1), in[static_cast<std::size_t>(f * ch + 3)]);
    EXPECT_EQ(At(*d, f, Lead::kV3), in[static_cast<std::size_t>(f * ch + 0)]);
  }
}

TEST(LeadsTest, PassThroughIsBitIdentical) {
  std::vector<std::string> names;
  for (Lead lead : kStandardLeadOrder) names.emplace_back(LeadName(lead));
  std::vector<float> in = RandomFrames(12, 300, 11);
  in[5] = std::nanf("");  // NaN payloads must survive too
  Result<Derived12Lead> d = Derive12Lead(in, names);
  ASSERT_TRUE(d) << d.error().ToString();
  EXPECT_FALSE(d->limb_leads_derived);
  ASSERT_EQ(d->samples_mv.size(), in.size());
  EXPECT_EQ(std::memcmp(d->samples_mv.data(), in.data(),
                        in.size() * sizeof(float)),
            0);
}

TEST(LeadsTest, PassThroughReordersByName) {
  std::vector<std::string> names;
  for (auto it = kStandardLeadOrder.rbegin(); it != kStandardLeadOrder.rend();
       ++it) {
    names.emplace_back(LeadName(*it));
  }
  const std::vector<float> in = RandomFrames(12, 10, 3);
  Result<Derived12Lead> d = Derive12Lead(in, names);
  ASSERT_TRUE(d);
  for (int f = 0; f < 10; ++f) {
    for (int k = 0; k < 12; ++k) {
      EXPECT_EQ(d->samples_mv[static_cast<std::size_t>(f * 12 + k)],
                in[static_cast<std::size_t>(f * 12 + 11 - k)]);
    }
  }
}

TEST(LeadsTest, CheckReportsLargestLimbDeviation) {
  std::vector<std::string> names;
  for (Lead lead : kStandardLeadOrder) names.emplace_back(LeadName(lead));
  const int frames = 50;
  std::vector<float> in = RandomFrames(12, frames, 5);
  for (int f = 0; f < frames; ++f) {
    float* fr = in.data() + f * 12;
    fr[2] = fr[1] - fr[0];
    fr[3] = -(fr[0] + fr[1]) * 0.5f;
    fr[4] = fr[0] - fr[1] * 0.5f;
    fr[5] = fr[1] - fr[0] * 0.5f;
  }
  Result<Derived12Lead> consistent =
      Derive12Lead(in, names, {.check_carried_limb_leads = true});
  ASSERT_TRUE(consistent);
  EXPECT_EQ(consistent->max_limb_deviation_mv, 0.0f);

  in[17 * 12 + LeadIndex(Lead::kAVL)] += 0.25f;
  Result<Derived12Lead> off =
      Derive12Lead(in, names, {.check_carried_limb_leads = true});
  ASSERT_TRUE(off);
  EXPECT_NEAR(off->max_limb_deviation_mv, 0.25f, 1e-6f);
  EXPECT_EQ(off->max_deviation_lead, Lead::kAVL);
}

TEST(LeadsTest, MissingLeadIsNamed) {
  const std::vector<std::string> names = {"I", "II", "V1", "V2", "V4",
                                          "V5", "V6"};
  const std::vector<float> in = RandomFrames(7, 4, 1);
  Result<Derived12Lead> d = Derive12Lead(in, names);
  ASSERT_FALSE(d);
  EXPECT_EQ(d.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(d.error().message().find("missing lead V3"), std::string::npos)
      << d.error().message();
}

TEST(LeadsTest, MlIiIsNotLeadII) {
  const std::vector<std::string> names = {"I", "MLII", "V1", "V2", "V3",
                                          "V4", "V5", "V6"};
  const std::vector<float> in = RandomFrames(8, 4, 1);
  Result<Derived12Lead> d = Derive12Lead(in, names);
  ASSERT_FALSE(d);
  EXPECT_NE(d.error().message().find("missing lead II"), std::string::npos)
      << d.error().message();
}

TEST(LeadsTest, RejectsDuplicatesAndPartialFrames) {
  const std::vector<std::string> dup = {"I", "II", "V1", "V2", "V3",
                                        "V4", "V5", "V6", "v2"};
  Result<Derived12Lead> d = Derive12Lead(RandomFrames(9, 2, 1), dup);
  ASSERT_FALSE(d);
  EXPECT_NE(d.error().message().find("duplicate lead V2"), std::string::npos)
      << d.error().message();

  const std::vector<std::string> names = {"I", "II", "V1", "V2", "V3",
                                          "V4", "V5", "V6"};
  std::vector<float> partial(8 * 3 + 1, 0.0f);
  Result<Derived12Lead> p = Derive12Lead(partial, names);
  ASSERT_FALSE(p);
  EXPECT_EQ(p.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_FALSE(Derive12Lead(partial, std::span<const std::string>()));
}

}  // namespace
}  // namespace pulse::dsp
