// Tests of ParseHeader and MillivoltsPerAdu: WFDB's field syntax and
// defaults (header(5), lib/signal.c readheader()), the real MIT-BIH and LUDB
// headers, and a catalogue of malformed headers, each of which must fail
// with an error naming its line and field.
#include <gtest/gtest.h>

#include <fstream>
#include <iterator>
#include <string>

#include "pulse/dsp/wfdb.h"
#include "support/test_data.h"

namespace pulse::dsp::wfdb {
namespace {

class WfdbHeaderTest : public ::testing::Test {
 protected:
  static RecordHeader ParseOk(const std::string& text) {
    auto header = ParseHeader(text);
    EXPECT_TRUE(header) << header.error().ToString();
    return header ? *header : RecordHeader{};
  }
  static void ExpectError(const std::string& text, ErrorCode code,
                          const std::string& message_part) {
    auto header = ParseHeader(text);
    ASSERT_FALSE(header) << "accepted: " << text;
    EXPECT_EQ(header.error().code(), code) << header.error().ToString();
    EXPECT_NE(header.error().message().find(message_part), std::string::npos)
        << "message: " << header.error().message()
        << "\nexpected part: " << message_part;
  }
  static std::string ReadReal(const std::string& db, const std::string& file) {
    std::ifstream in(::pulse::testing::DataDir() / db / file, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
};

TEST_F(WfdbHeaderTest, AbsentFieldsTakeWfdbDefaults) {
  const RecordHeader h = ParseOk("rec 1\nrec.dat 16\n");
  EXPECT_EQ(h.record_name, "rec");
  EXPECT_EQ(h.sampling_frequency_hz, 250.0);
  EXPECT_EQ(h.num_frames, 0);
  ASSERT_EQ(h.signals.size(), 1u);
  const SignalSpec& s = h.signals[0];
  EXPECT_EQ(s.file_name, "rec.dat");
  EXPECT_EQ(s.format, 16);
  EXPECT_EQ(s.samples_per_frame, 1);
  EXPECT_EQ(s.gain_adu_per_unit, 200.0);
  EXPECT_EQ(s.units, "mV");
  EXPECT_EQ(s.adc_resolution_bits, 12);
  EXPECT_EQ(s.adc_zero, 0);
  EXPECT_EQ(s.baseline_adu, 0);
  EXPECT_EQ(s.initial_value, 0);
  EXPECT_FALSE(s.has_checksum);
  EXPECT_EQ(s.description, "");
}

TEST_F(WfdbHeaderTest, ZeroGainMeansTheDefaultGain) {
  EXPECT_EQ(ParseOk("r 1\nr.dat 212 0\n").signals[0].gain_adu_per_unit, 200.0);
}

TEST_F(WfdbHeaderTest, BaselineAndInitialValueDefaultToAdcZero) {
  const SignalSpec s = ParseOk("r 1 360 10\nr.dat 212 100 12 512\n").signals[0];
  EXPECT_EQ(s.adc_zero, 512);
  EXPECT_EQ(s.baseline_adu, 512);
  EXPECT_EQ(s.initial_value, 512);
}

TEST_F(WfdbHeaderTest, GainFieldCarriesBaselineAndUnits) {
  const RecordHeader h = ParseOk(
      "r 3 500 10\n"
      "r.dat 16 1716(6)/mV 16 0\n"
      "r.dat 16 250(-5)/uV\n"
      "r.dat 16 2.5/V\n");
  EXPECT_EQ(h.signals[0].gain_adu_per_unit, 1716.0);
  EXPECT_EQ(h.signals[0].baseline_adu, 6);
  EXPECT_EQ(h.signals[0].units, "mV");
  EXPECT_EQ(h.signals[1].baseline_adu, -5);
  EXPECT_EQ(h.signals[1].units, "uV");
  EXPECT_EQ(h.signals[2].gain_adu_per_unit, 2.5);
  EXPECT_EQ(h.signals[2].baseline_adu, 0);
  EXPECT_EQ(h.signals[2].units, "V");
  EXPECT_DOUBLE_EQ(*MillivoltsPerAdu(h.signals[0]), 1.0 / 1716);
  EXPECT_DOUBLE_EQ(*MillivoltsPerAdu(h.signals[1]), 1e-3 / 250);
  EXPECT_DOUBLE_EQ(*MillivoltsPerAdu(h.signals[2]), 1e3 / 2.5);
}

TEST_F(WfdbHeaderTest, NonVoltageUnitsAreUnsupportedForMillivolts) {
  const SignalSpec s =
      ParseOk("r 1\nr.dat 16 100/mmHg 12 0 0 0 0 ABP\n").signals[0];
  auto mv = MillivoltsPerAdu(s);
  ASSERT_FALSE(mv);
  EXPECT_EQ(mv.error().code(), ErrorCode::kUnsupported);
  EXPECT_NE(mv.error().message().find("mmHg"), std::string::npos);
}

TEST_F(WfdbHeaderTest, FormatSuffixesGiveFrameSkewAndOffset) {
  const SignalSpec s = ParseOk("r 1\nr.dat 212x2:1+512\n").signals[0];
  EXPECT_EQ(s.format, 212);
  EXPECT_EQ(s.samples_per_frame, 2);
  EXPECT_EQ(s.skew, 1);
  EXPECT_EQ(s.byte_offset, 512);
}

TEST_F(WfdbHeaderTest, RecordLineMayCarryCounterFrequencyAndBaseTime) {
  const RecordHeader h =
      ParseOk("r 1 360/180(2) 1000 10:00:00 01/02/2000\nr.dat 16\n");
  EXPECT_EQ(h.sampling_frequency_hz, 360.0);
  EXPECT_EQ(h.num_frames, 1000);
}

TEST_F(WfdbHeaderTest, DescriptionIsTheRestOfTheLine) {
  const SignalSpec s =
      ParseOk("r 1\nr.dat 16 200 12 0 0 0 0 ECG lead II  \n").signals[0];
  EXPECT_EQ(s.description, "ECG lead II");
  EXPECT_TRUE(s.has_checksum);
  EXPECT_EQ(s.block_size, 0);
}

TEST_F(WfdbHeaderTest, CommentsAndBlankLinesMayComeAnywhere) {
  const RecordHeader h =
      ParseOk("#wfdb 10.7\n\n r 1 \n# between\nr.dat 16\n\t\n#<age>: 51\n");
  EXPECT_EQ(h.signals.size(), 1u);
  ASSERT_EQ(h.comments.size(), 3u);
  EXPECT_EQ(h.comments[0], "wfdb 10.7");
  EXPECT_EQ(h.comments[1], " between");
  EXPECT_EQ(h.comments[2], "<age>: 51");
}

TEST_F(WfdbHeaderTest, RecordWithoutSignalsIsValid) {
  const RecordHeader h = ParseOk("annotations-only 0 128 1000\n");
  EXPECT_TRUE(h.signals.empty());
  EXPECT_EQ(h.sampling_frequency_hz, 128.0);
}

TEST_F(WfdbHeaderTest, MitdbHeaderWithCrLfParses) {
  PULSE_REQUIRE_DATA("mitdb");
  const std::string text = ReadReal("mitdb", "207.hea");
  ASSERT_NE(text.find("\r\n"), std::string::npos) << "expected CR LF lines";
  const RecordHeader h = ParseOk(text);
  EXPECT_EQ(h.record_name, "207");
  EXPECT_EQ(h.sampling_frequency_hz, 360.0);
  EXPECT_EQ(h.num_frames, 650000);
  ASSERT_EQ(h.signals.size(), 2u);
  const SignalSpec& s = h.signals[0];
  EXPECT_EQ(s.file_name, "207.dat");
  EXPECT_EQ(s.format, 212);
  EXPECT_EQ(s.gain_adu_per_unit, 200.0);
  EXPECT_EQ(s.adc_resolution_bits, 11);
  EXPECT_EQ(s.adc_zero, 1024);
  EXPECT_EQ(s.baseline_adu, 1024);  // no "(baseline)": adc zero
  EXPECT_EQ(s.initial_value, 981);
  EXPECT_EQ(s.checksum, 11594);
  EXPECT_EQ(s.description, "MLII");  // no trailing CR
  EXPECT_EQ(h.signals[1].description, "V1");
  EXPECT_EQ(h.signals[1].checksum, -9539);
  ASSERT_FALSE(h.comments.empty());
  EXPECT_EQ(h.comments[0], " 89 F 859 694 x1");
}

TEST_F(WfdbHeaderTest, LudbHeaderGivesPerLeadGainAndBaseline) {
  PULSE_REQUIRE_DATA("ludb");
  const RecordHeader h = ParseOk(ReadReal("ludb", "1.hea"));
  EXPECT_EQ(h.sampling_frequency_hz, 500.0);
  EXPECT_EQ(h.num_frames, 5000);
  ASSERT_EQ(h.signals.size(), 12u);
  const char* leads[] = {"i",  "ii", "iii", "avr", "avl", "avf",
                         "v1", "v2", "v3",  "v4",  "v5",  "v6"};
  for (int i = 0; i < 12; ++i) {
    EXPECT_EQ(h.signals[i].description, leads[i]);
    EXPECT_EQ(h.signals[i].format, 16);
    EXPECT_EQ(h.signals[i].units, "mV");
  }
  EXPECT_EQ(h.signals[0].gain_adu_per_unit, 1716.0);
  EXPECT_EQ(h.signals[0].baseline_adu, 6);
  EXPECT_EQ(h.signals[2].baseline_adu, -5);
  EXPECT_EQ(h.signals[0].initial_value, -120);
  EXPECT_EQ(h.signals[0].checksum, -32198);
  ASSERT_GE(h.comments.size(), 4u);
  EXPECT_EQ(h.comments[0], "<age>: 51");
  EXPECT_EQ(h.comments[1], "<sex>: F");
  EXPECT_EQ(h.comments[3], "Rhythm: Sinus bradycardia.");
}

TEST_F(WfdbHeaderTest, EveryReferenceHeaderParses) {
  PULSE_REQUIRE_DATA("ludb");
  for (int record = 1; record <= 100; ++record) {
    const RecordHeader h =
        ParseOk(ReadReal("ludb", std::to_string(record) + ".hea"));
    EXPECT_EQ(h.signals.size(), 12u) << record;
  }
}

// --- Malformed-input catalogue -------------------------------------------

TEST_F(WfdbHeaderTest, EmptyHeaderIsCorruption) {
  ExpectError("", ErrorCode::kCorruption, "empty header");
  ExpectError("# only a comment\r\n\r\n", ErrorCode::kCorruption,
              "empty header");
}

TEST_F(WfdbHeaderTest, MultiSegmentRecordIsUnsupported) {
  ExpectError("r/2 1 360 100\nseg1 50\nseg2 50\n", ErrorCode::kUnsupported,
              "line 1: multi-segment record 'r/2'");
}

TEST_F(WfdbHeaderTest, MalformedRecordLineFieldsAreNamed) {
  const ErrorCode kC = ErrorCode::kCorruption;
  ExpectError("r\n", kC, "line 1: record line lacks the number of signals");
  ExpectError("r two\n", kC, "line 1, number of signals: 'two' is not an");
  ExpectError("r -1\n", kC, "line 1, number of signals: '-1' is outside");
  ExpectError("r 100000\n", kC, "line 1, number of signals: '100000' is out");
  ExpectError("r 0 abc\n", kC, "line 1, sampling frequency: 'abc' is not a");
  ExpectError("r 0 -360\n", kC, "line 1, sampling frequency: '-360' Hz is");
  ExpectError("r 0 0\n", kC, "line 1, sampling frequency: '0' Hz is outside");
  ExpectError("r 0 1e9\n", kC, "line 1, sampling frequency: '1e9' Hz is");
  ExpectError("r 0 nan\n", kC, "line 1, sampling frequency: 'nan' is not a");
  ExpectError("r 0 inf\n", kC, "line 1, sampling frequency: 'inf' is not a");
  ExpectError("r 0 360/x\n", kC, "line 1, sampling frequency: 'x' is not");
  ExpectError("r 0 360 -5\n", kC,
              "line 1, number of samples per signal: '-5' is outside");
  ExpectError("r 0 360 2000000000000\n", kC,
              "number of samples per signal: '2000000000000' is outside");
  ExpectError("r 0 360 99999999999999999999\n", kC,
              "number of samples per signal: '99999999999999999999' is out "
              "of range");
  ExpectError("r 0 360 1e3\n", kC,
              "number of samples per signal: '1e3' is not an integer");
}

TEST_F(WfdbHeaderTest, MalformedSignalFieldsAreNamed) {
  const ErrorCode kC = ErrorCode::kCorruption;
  const std::string r = "r 1 360 10\n";
  ExpectError(r + "r.dat\n", kC, "line 2 (signal 0): missing format field");
  ExpectError(r + "r.dat abc\n", kC,
              "line 2 (signal 0), format: 'abc' is not an integer");
  ExpectError(r + "r.dat 212x0\n", kC, "line 2 (signal 0), format: '0' is");
  ExpectError(r + "r.dat 212:\n", kC, "line 2 (signal 0), format: '' is not");
  ExpectError(r + "r.dat 212+-4\n", kC, "negative byte offset '-4'");
  ExpectError(r + "r.dat 212 2x0\n", kC,
              "line 2 (signal 0), gain: '2x0' is not a finite number");
  ExpectError(r + "r.dat 212 200(abc)/mV\n", kC,
              "line 2 (signal 0), gain: 'abc' is not an integer");
  ExpectError(r + "r.dat 212 200(5\n", kC, "gain: '200(5' lacks ')'");
  ExpectError(r + "r.dat 212 200(5)mV\n", kC, "gain: unexpected 'mV'");
  ExpectError(r + "r.dat 212 200 99\n", kC,
              "line 2 (signal 0), ADC resolution: '99' is outside 0..32");
  ExpectError(r + "r.dat 212 200 12 1.5\n", kC,
              "line 2 (signal 0), ADC zero: '1.5' is not an integer");
  ExpectError(r + "r.dat 212 200 12 0 x\n", kC,
              "line 2 (signal 0), initial value: 'x' is not an integer");
  ExpectError(r + "r.dat 212 200 12 0 0 9999999999\n", kC,
              "line 2 (signal 0), checksum: '9999999999' is outside");
  ExpectError(r + "r.dat 212 200 12 0 0 0 -1\n", kC,
              "line 2 (signal 0), block size: '-1' is outside");
}

TEST_F(WfdbHeaderTest, SignalCountMustMatchTheRecordLine) {
  ExpectError("r 2 360 10\nr.dat 212\n", ErrorCode::kCorruption,
              "record line declares 2 signal(s) but the header has 1");
  ExpectError("r 1 360 10\nr.dat 212\nr.dat 212\n", ErrorCode::kCorruption,
              "line 3: unexpected text 'r.dat 212' after the 1 signal line");
}

TEST_F(WfdbHeaderTest, SignalsSharingAFileMustShareAFormat) {
  ExpectError("r 2\nr.dat 212\nr.dat 16\n", ErrorCode::kCorruption,
              "line 3: signals 0 and 1 share 'r.dat' but have formats 212 "
              "and 16");
}

TEST_F(WfdbHeaderTest, NulByteIsCorruption) {
  ExpectError(std::string("r 1\nr.d\0t 16\n", 13), ErrorCode::kCorruption,
              "line 2: contains a NUL byte");
}

}  // namespace
}  // namespace pulse::dsp::wfdb
