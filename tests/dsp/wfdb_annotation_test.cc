// Tests of ParseAnnotations, IsBeat and Mnemonic: the MIT annotation format
// word by word (built here byte-exact), its malformed variants, and facts of
// the real MIT-BIH and LUDB annotation files.
#include <gtest/gtest.h>

#include <cstdint>
#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <vector>

#include "pulse/dsp/wfdb.h"
#include "support/test_data.h"

namespace pulse::dsp::wfdb {
namespace {

using Code = AnnotationCode;

// Writes MIT-format annotation words, as WFDB's putann() would.
class AnnotationBytes {
 public:
  AnnotationBytes& Word(unsigned code, unsigned data) {
    const unsigned word = (code << 10) | (data & 0x3FF);
    bytes_.push_back(static_cast<std::uint8_t>(word & 0xFF));
    bytes_.push_back(static_cast<std::uint8_t>(word >> 8));
    return *this;
  }
  AnnotationBytes& Beat(Code code, unsigned interval) {
    return Word(static_cast<unsigned>(code), interval);
  }
  AnnotationBytes& Skip(std::int32_t interval) {
    const auto value = static_cast<std::uint32_t>(interval);
    Word(59, 0);
    // High 16-bit word first, each word little-endian.
    for (unsigned half : {value >> 16, value & 0xFFFFu}) {
      bytes_.push_back(static_cast<std::uint8_t>(half & 0xFF));
      bytes_.push_back(static_cast<std::uint8_t>(half >> 8));
    }
    return *this;
  }
  AnnotationBytes& Aux(const std::string& text) {
    Word(63, static_cast<unsigned>(text.size()));
    bytes_.insert(bytes_.end(), text.begin(), text.end());
    if (text.size() % 2 == 1) bytes_.push_back(0);
    return *this;
  }
  AnnotationBytes& End() { return Word(0, 0); }
  AnnotationBytes& Raw(std::vector<std::uint8_t> raw) {
    bytes_.insert(bytes_.end(), raw.begin(), raw.end());
    return *this;
  }
  const std::vector<std::uint8_t>& bytes() const { return bytes_; }

 private:
  std::vector<std::uint8_t> bytes_;
};

class WfdbAnnotationTest : public ::testing::Test {
 protected:
  static std::vector<Annotation> ParseOk(const AnnotationBytes& b) {
    auto parsed = ParseAnnotations(b.bytes());
    EXPECT_TRUE(parsed) << parsed.error().ToString();
    return parsed ? *parsed : std::vector<Annotation>{};
  }
  static void ExpectCorruption(const AnnotationBytes& b,
                               const std::string& message_part) {
    auto parsed = ParseAnnotations(b.bytes());
    ASSERT_FALSE(parsed) << "parsed " << parsed->size() << " annotations";
    EXPECT_EQ(parsed.error().code(), ErrorCode::kCorruption);
    EXPECT_NE(parsed.error().message().find(message_part), std::string::npos)
        << parsed.error().message();
  }
  static std::vector<Annotation> ReadReal(const std::string& db,
                                          const std::string& file) {
    std::ifstream in(::pulse::testing::DataDir() / db / file, std::ios::binary);
    std::vector<std::uint8_t> bytes(std::istreambuf_iterator<char>(in), {});
    auto parsed = ParseAnnotations(bytes);
    EXPECT_TRUE(parsed) << file << ": " << parsed.error().ToString();
    return parsed ? *parsed : std::vector<Annotation>{};
  }
};

TEST_F(WfdbAnnotationTest, EmptyInputHasNoAnnotations) {
  EXPECT_TRUE(ParseOk(AnnotationBytes()).empty());
  EXPECT_TRUE(ParseOk(AnnotationBytes().End()).empty());
}

TEST_F(WfdbAnnotationTest, IntervalsAccumulateIntoSampleTimes) {
  auto a = ParseOk(AnnotationBytes()
                       .Beat(Code::kNormal, 100)
                       .Beat(Code::kPvc, 1023)
                       .Beat(Code::kNormal, 0)
                       .End());
  ASSERT_EQ(a.size(), 3u);
  EXPECT_EQ(a[0].sample, 100);
  EXPECT_EQ(a[0].code, Code::kNormal);
  EXPECT_EQ(a[1].sample, 1123);
  EXPECT_EQ(a[1].code, Code::kPvc);
  EXPECT_EQ(a[2].sample, 1123);
}

TEST_F(WfdbAnnotationTest, SkipReadsA32BitIntervalHighWordFirst) {
  auto a = ParseOk(AnnotationBytes()
                       .Skip(70000)
                       .Beat(Code::kNormal, 5)
                       .Skip(-60000)
                       .Beat(Code::kNormal, 1)
                       .End());
  ASSERT_EQ(a.size(), 2u);
  EXPECT_EQ(a[0].sample, 70005);
  EXPECT_EQ(a[1].sample, 10006);
}

TEST_F(WfdbAnnotationTest, NumAndChannelCarryOverButSubtypeAndAuxDoNot) {
  auto a = ParseOk(AnnotationBytes()
                       .Beat(Code::kNormal, 10)
                       .Word(61, 3)   // SUB of annotation 0
                       .Word(62, 1)   // CHN of annotation 0 and later
                       .Word(60, 7)   // NUM of annotation 0 and later
                       .Aux("(AFIB")  // odd length: padded
                       .Beat(Code::kNormal, 10)
                       .Beat(Code::kNormal, 10)
                       .Word(62, 0)
                       .Word(61, 0x3FF)  // subtype -1, as putann writes it
                       .End());
  ASSERT_EQ(a.size(), 3u);
  EXPECT_EQ(a[0].subtype, 3);
  EXPECT_EQ(a[0].channel, 1);
  EXPECT_EQ(a[0].num, 7);
  EXPECT_EQ(a[0].aux, "(AFIB");
  EXPECT_EQ(a[1].subtype, 0);
  EXPECT_EQ(a[1].channel, 1);
  EXPECT_EQ(a[1].num, 7);
  EXPECT_EQ(a[1].aux, "");
  EXPECT_EQ(a[2].channel, 0);
  EXPECT_EQ(a[2].subtype, -1);
}

TEST_F(WfdbAnnotationTest, AuxEndsAtItsFirstNul) {
  auto a = ParseOk(AnnotationBytes()
                       .Beat(Code::kRhythm, 1)
                       .Aux(std::string("(N\0", 3))
                       .Beat(Code::kNormal, 1)
                       .End());
  ASSERT_EQ(a.size(), 2u);
  EXPECT_EQ(a[0].aux, "(N");
  EXPECT_EQ(a[1].sample, 2);
}

TEST_F(WfdbAnnotationTest, CodeZeroWithAnIntervalIsANotQrsAnnotation) {
  auto a = ParseOk(AnnotationBytes().Word(0, 4).Beat(Code::kNormal, 1).End());
  ASSERT_EQ(a.size(), 2u);
  EXPECT_EQ(a[0].code, Code::kNotQrs);
  EXPECT_EQ(a[0].sample, 4);
}

TEST_F(WfdbAnnotationTest, ZeroPaddingAfterTheEndMarkerIsAccepted) {
  auto a =
      ParseOk(AnnotationBytes().Beat(Code::kNormal, 1).End().Raw({0, 0, 0}));
  EXPECT_EQ(a.size(), 1u);
}

TEST_F(WfdbAnnotationTest, FileWithoutEndMarkerEndingOnAWordIsAccepted) {
  auto a = ParseOk(AnnotationBytes().Beat(Code::kNormal, 1));
  EXPECT_EQ(a.size(), 1u);
}

// The malformed-input catalogue: each names the byte offset at fault.
TEST_F(WfdbAnnotationTest, DataAfterTheEndMarkerIsCorruption) {
  ExpectCorruption(AnnotationBytes().Beat(Code::kNormal, 1).End().Raw({0, 7}),
                   "byte offset 5: data after the end-of-file marker at byte "
                   "offset 2");
}

TEST_F(WfdbAnnotationTest, OddTrailingByteIsCorruption) {
  ExpectCorruption(AnnotationBytes().Beat(Code::kNormal, 1).Raw({0x12}),
                   "byte offset 2: odd trailing byte");
}

TEST_F(WfdbAnnotationTest, TruncatedSkipIsCorruption) {
  AnnotationBytes b;
  b.Beat(Code::kNormal, 1).Word(59, 0).Raw({1, 0, 0});
  ExpectCorruption(b,
                   "byte offset 2: truncated SKIP: 4 bytes of interval "
                   "expected, 3 present");
}

TEST_F(WfdbAnnotationTest, TruncatedAuxIsCorruption) {
  AnnotationBytes b;
  b.Beat(Code::kNormal, 1).Word(63, 5).Raw({'(', 'N'});
  ExpectCorruption(b,
                   "byte offset 2: truncated AUX: 6 bytes expected, 2 "
                   "present");
}

TEST_F(WfdbAnnotationTest, UnassignedHighCodeIsCorruption) {
  ExpectCorruption(AnnotationBytes().Beat(Code::kNormal, 1).Word(55, 1),
                   "byte offset 2: annotation code 55 is out of range");
}

TEST_F(WfdbAnnotationTest, SubtypeOrAuxBeforeAnyAnnotationIsCorruption) {
  ExpectCorruption(AnnotationBytes().Word(61, 1).Beat(Code::kNormal, 1),
                   "byte offset 0: SUB before the first annotation");
  ExpectCorruption(AnnotationBytes().Aux("(N").Beat(Code::kNormal, 1),
                   "byte offset 0: AUX before the first annotation");
}

TEST_F(WfdbAnnotationTest, TimeBeforeRecordStartIsCorruption) {
  ExpectCorruption(
      AnnotationBytes()
          .Beat(Code::kNormal, 5)
          .Skip(-100)
          .Beat(Code::kNormal, 1),
      "byte offset 8: annotation time -94 is before the record start");
}

TEST_F(WfdbAnnotationTest, IsBeatFollowsWfdbIsqrs) {
  const std::string beats = "NLRaVFJASEj/QenfrB?!";
  for (unsigned code = 0; code < 64; ++code) {
    const auto c = static_cast<Code>(code);
    const std::string mnemonic(Mnemonic(c));
    const bool expected =
        mnemonic.size() == 1 && beats.find(mnemonic) != std::string::npos;
    EXPECT_EQ(IsBeat(c), expected) << code << " '" << mnemonic << "'";
  }
}

TEST_F(WfdbAnnotationTest, MnemonicsAreWfdbAnnstr) {
  EXPECT_EQ(Mnemonic(Code::kNormal), "N");
  EXPECT_EQ(Mnemonic(Code::kPvc), "V");
  EXPECT_EQ(Mnemonic(Code::kRhythm), "+");
  EXPECT_EQ(Mnemonic(Code::kWaveformOnset), "(");
  EXPECT_EQ(Mnemonic(Code::kWaveformOffset), ")");
  EXPECT_EQ(Mnemonic(Code::kVfOnset), "[");
  EXPECT_EQ(Mnemonic(Code::kFlutterWave), "!");
  EXPECT_EQ(Mnemonic(Code::kLearning), "?");
  EXPECT_EQ(Mnemonic(Code::kPWave), "p");
  EXPECT_EQ(Mnemonic(Code::kTWave), "t");
  EXPECT_EQ(Mnemonic(static_cast<Code>(42)), "[42]");
  EXPECT_EQ(Mnemonic(static_cast<Code>(200)), "[invalid]");
}

TEST_F(WfdbAnnotationTest, Mitdb101HasThePublishedBeatCounts) {
  PULSE_REQUIRE_DATA("mitdb");
  const auto a = ReadReal("mitdb", "101.atr");
  std::map<std::string, int> counts;
  int beats = 0;
  for (const Annotation& x : a) {
    ++counts[std::string(Mnemonic(x.code))];
    beats += IsBeat(x.code) ? 1 : 0;
  }
  // MIT-BIH Arrhythmia Database Directory, record 101.
  EXPECT_EQ(beats, 1865);
  EXPECT_EQ(counts["N"], 1860);
  EXPECT_EQ(counts["A"], 3);
  EXPECT_EQ(counts["Q"], 2);
  ASSERT_FALSE(a.empty());
  EXPECT_EQ(a.front().code, Code::kRhythm);
  EXPECT_EQ(a.front().aux, "(N");
  EXPECT_LT(a.back().sample, 650000);
  for (std::size_t i = 1; i < a.size(); ++i) {
    EXPECT_GE(a[i].sample, a[i - 1].sample) << i;
  }
}

TEST_F(WfdbAnnotationTest, Mitdb203MarksAtrialFibrillationInAux) {
  PULSE_REQUIRE_DATA("mitdb");
  std::map<std::string, int> rhythms;
  for (const Annotation& x : ReadReal("mitdb", "203.atr")) {
    if (x.code == Code::kRhythm) ++rhythms[x.aux];
  }
  EXPECT_GT(rhythms["(AFIB"], 0);
  EXPECT_GT(rhythms["(VT"], 0);
  for (const auto& [aux, count] : rhythms) {
    EXPECT_EQ(aux.front(), '(') << aux;  // every rhythm change is named
  }
}

TEST_F(WfdbAnnotationTest, Mitdb207BracketsFlutterEpisodes) {
  PULSE_REQUIRE_DATA("mitdb");
  int open = 0, episodes = 0, flutter_waves = 0;
  for (const Annotation& x : ReadReal("mitdb", "207.atr")) {
    if (x.code == Code::kVfOnset) {
      EXPECT_EQ(open, 0) << "nested '[' at " << x.sample;
      open = 1;
      ++episodes;
    } else if (x.code == Code::kVfOffset) {
      EXPECT_EQ(open, 1) << "']' without '[' at " << x.sample;
      open = 0;
    } else if (x.code == Code::kFlutterWave) {
      EXPECT_EQ(open, 1) << "'!' outside an episode at " << x.sample;
      ++flutter_waves;
    }
  }
  EXPECT_EQ(open, 0);
  EXPECT_EQ(episodes, 6);
  EXPECT_EQ(flutter_waves, 472);
}

TEST_F(WfdbAnnotationTest, LudbWavePeaksAreWrappedInOnsetAndOffset) {
  PULSE_REQUIRE_DATA("ludb");
  for (const char* lead : {"i", "ii", "v1", "v6"}) {
    const auto a = ReadReal("ludb", std::string("1.") + lead);
    ASSERT_EQ(a.size() % 3, 0u) << lead;
    int p = 0, qrs = 0, t = 0;
    for (std::size_t i = 0; i + 2 < a.size(); i += 3) {
      EXPECT_EQ(a[i].code, Code::kWaveformOnset) << lead << " " << i;
      EXPECT_EQ(a[i + 2].code, Code::kWaveformOffset) << lead << " " << i;
      EXPECT_LT(a[i].sample, a[i + 1].sample);
      EXPECT_LT(a[i + 1].sample, a[i + 2].sample);
      p += a[i + 1].code == Code::kPWave;
      qrs += a[i + 1].code == Code::kNormal;
      t += a[i + 1].code == Code::kTWave;
    }
    EXPECT_EQ(p + qrs + t, static_cast<int>(a.size() / 3)) << lead;
    EXPECT_GT(p, 0);
    EXPECT_GT(qrs, 0);
    EXPECT_GT(t, 0);
    EXPECT_LT(a.back().sample, 5000);
  }
}

}  // namespace
}  // namespace pulse::dsp::wfdb
