// Tests of the WFDB file wrappers on the real reference records
// (../shared/data, read in place) and on damaged copies written to a
// temporary folder: every record decodes to its header's checksums, reading
// is fast, and broken files give errors that name the file and the problem.
#include "pulse/dsp/wfdb_file.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "support/test_data.h"

namespace pulse::dsp::wfdb {
namespace {

namespace fs = std::filesystem;
using ::pulse::testing::DataDir;

const std::vector<std::string>& MitdbRecords() {
  static const std::vector<std::string> kRecords = {
      "101", "106", "108", "109", "112", "114", "115", "116",
      "118", "119", "122", "124", "201", "203", "205", "207",
      "208", "209", "215", "220", "223", "230"};
  return kRecords;
}

std::vector<std::uint8_t> ReadBytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<std::uint8_t>(std::istreambuf_iterator<char>(in), {});
}

void WriteBytes(const fs::path& path, const std::vector<std::uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
}

void WriteText(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
}

bool Contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

class WfdbFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::random_device random;
    temp_ = fs::temp_directory_path() /
            ("pulse_wfdb_file_test_" + std::to_string(random()));
    fs::create_directories(temp_);
  }
  void TearDown() override {
    std::error_code ignored;
    fs::remove_all(temp_, ignored);
  }

  static fs::path Mitdb(const std::string& record) {
    return DataDir() / "mitdb" / record;
  }
  static fs::path Ludb(int record) {
    return DataDir() / "ludb" / std::to_string(record);
  }

  // Expects `result` to fail with `code` and a message containing `parts`.
  template <typename T>
  static void ExpectError(const Result<T>& result, ErrorCode code,
                          const std::vector<std::string>& parts) {
    ASSERT_FALSE(result) << "unexpectedly succeeded";
    EXPECT_EQ(result.error().code(), code) << result.error().ToString();
    for (const std::string& part : parts) {
      EXPECT_TRUE(Contains(result.error().message(), part))
          << "message: " << result.error().message()
          << "\nexpected part: " << part;
    }
  }

  fs::path temp_;
};

TEST_F(WfdbFileTest, EveryMitdbRecordMatchesItsHeaderChecksums) {
  PULSE_REQUIRE_DATA("mitdb");
  for (const std::string& name : MitdbRecords()) {
    auto record = ReadRecord(Mitdb(name));
    ASSERT_TRUE(record) << record.error().ToString();
    ASSERT_EQ(record->num_signals(), 2) << name;
    EXPECT_EQ(record->num_frames(), 650000) << name;
    EXPECT_EQ(record->header.sampling_frequency_hz, 360.0) << name;
    for (int s = 0; s < 2; ++s) {
      const SignalSpec& spec = record->header.signals[s];
      EXPECT_TRUE(spec.has_checksum) << name;  // so ReadRecord verified it
      EXPECT_EQ(spec.format, 212) << name;
      // The header's initial value is the first sample (header(5)).
      EXPECT_EQ(record->at(0, s), spec.initial_value) << name << " " << s;
    }
  }
}

TEST_F(WfdbFileTest, EveryLudbRecordMatchesItsHeaderChecksums) {
  PULSE_REQUIRE_DATA("ludb");
  for (int name = 1; name <= 100; ++name) {
    auto record = ReadRecord(Ludb(name));
    ASSERT_TRUE(record) << record.error().ToString();
    ASSERT_EQ(record->num_signals(), 12) << name;
    EXPECT_EQ(record->num_frames(), 5000) << name;
    EXPECT_EQ(record->header.sampling_frequency_hz, 500.0) << name;
    for (int s = 0; s < 12; ++s) {
      EXPECT_TRUE(record->header.signals[s].has_checksum) << name;
      EXPECT_EQ(record->at(0, s), record->header.signals[s].initial_value)
          << name << " " << s;
    }
  }
}

TEST_F(WfdbFileTest, ThirtyMinuteRecordReadsInAFewMilliseconds) {
  PULSE_REQUIRE_DATA("mitdb");
#if defined(PULSE_WFDB_SANITIZED)
  GTEST_SKIP() << "timing is meaningless under sanitizers";
#endif
  auto best = std::chrono::steady_clock::duration::max();
  for (int i = 0; i < 5; ++i) {
    const auto start = std::chrono::steady_clock::now();
    auto record = ReadRecord(Mitdb("101"));
    const auto elapsed = std::chrono::steady_clock::now() - start;
    ASSERT_TRUE(record);
    best = std::min(best, elapsed);
  }
  const double best_ms =
      std::chrono::duration<double, std::milli>(best).count();
  RecordProperty("read_101_ms", std::to_string(best_ms));
  // Typically 3-5 ms; the bound leaves room for a loaded shared machine.
  EXPECT_LT(best_ms, 50.0);
}

TEST_F(WfdbFileTest, PhysicalScaleComesFromTheHeaderGain) {
  PULSE_REQUIRE_DATA("ludb");
  auto mit = ReadHeaderFile(Mitdb("101"));
  auto ludb = ReadHeaderFile(Ludb(1));
  ASSERT_TRUE(mit && ludb);
  EXPECT_DOUBLE_EQ(*MillivoltsPerAdu(mit->signals[0]), 1.0 / 200);
  EXPECT_DOUBLE_EQ(*MillivoltsPerAdu(ludb->signals[0]), 1.0 / 1716);
  EXPECT_EQ(mit->signals[0].description, "MLII");
}

TEST_F(WfdbFileTest, ToMillivoltsScalesEachSignalByItsGainAndBaseline) {
  // Format 16, two signals with different gains and baselines.
  WriteText(temp_ / "g.hea",
            "g 2 500 3\ng.dat 16 100(10)/mV 16 0 0 140 0 a\n"
            "g.dat 16 2(-4)/uV 16 0 0 0 0 b\n");
  WriteBytes(temp_ / "g.dat", {110, 0, 0, 0, 20, 0, 4, 0, 10, 0, 252, 255});
  auto record = ReadRecord(temp_ / "g");
  ASSERT_TRUE(record) << record.error().ToString();
  auto mv = ToMillivolts(*record);
  ASSERT_TRUE(mv) << mv.error().ToString();
  // a: (adu - 10) / 100 mV; b: (adu + 4) / 2 uV = (adu + 4) / 2000 mV.
  const std::vector<float> expected = {1.0f, 0.002f, 0.1f, 0.004f, 0.0f, 0.0f};
  ASSERT_EQ(mv->size(), expected.size());
  for (std::size_t i = 0; i < expected.size(); ++i) {
    EXPECT_FLOAT_EQ((*mv)[i], expected[i]) << i;
  }
  auto middle = ToMillivolts(*record, 1, 2);
  ASSERT_TRUE(middle);
  EXPECT_EQ(*middle, std::vector<float>(expected.begin() + 2, expected.begin() + 4));
  EXPECT_EQ(SignalNames(record->header), (std::vector<std::string>{"a", "b"}));
  // Out-of-range frames are clamped, never read past the record.
  EXPECT_TRUE(ToMillivolts(*record, 2, 99)->size() == 2);
  EXPECT_TRUE(ToMillivolts(*record, 7, 3)->empty());
}

TEST_F(WfdbFileTest, ToMillivoltsRefusesNonVoltageUnitsNamingTheSignal) {
  WriteText(temp_ / "p.hea", "p 1 250 2\np.dat 16 10/mmHg 16 0 0 3 0 bp\n");
  WriteBytes(temp_ / "p.dat", {1, 0, 2, 0});
  auto record = ReadRecord(temp_ / "p");
  ASSERT_TRUE(record) << record.error().ToString();
  auto mv = ToMillivolts(*record);
  ASSERT_FALSE(mv);
  EXPECT_EQ(mv.error().code(), ErrorCode::kUnsupported);
  EXPECT_TRUE(Contains(mv.error().message(), "signal 0 (bp)"))
      << mv.error().message();
}

TEST_F(WfdbFileTest, AnnotationFilesReadByAnnotatorName) {
  PULSE_REQUIRE_DATA("ludb");
  auto atr = ReadAnnotationFile(Mitdb("101"), "atr");
  ASSERT_TRUE(atr) << atr.error().ToString();
  EXPECT_EQ(atr->size(), 1874u);
  auto lead = ReadAnnotationFile(Ludb(1), "avf");
  ASSERT_TRUE(lead) << lead.error().ToString();
  EXPECT_FALSE(lead->empty());
}

TEST_F(WfdbFileTest, RecordWithoutSignalsReadsEmpty) {
  WriteText(temp_ / "n.hea", "n 0 250 100\n");
  auto record = ReadRecord(temp_ / "n");
  ASSERT_TRUE(record) << record.error().ToString();
  EXPECT_EQ(record->num_frames(), 0);
  EXPECT_TRUE(record->samples.empty());
}

TEST_F(WfdbFileTest, UnknownLengthIsTakenFromTheFileInWholeFrames) {
  WriteText(temp_ / "t.hea", "t 2 360\nt.dat 212\nt.dat 212\n");
  WriteBytes(temp_ / "t.dat", std::vector<std::uint8_t>(3001, 0));
  auto record = ReadRecord(temp_ / "t");
  ASSERT_TRUE(record) << record.error().ToString();
  EXPECT_EQ(record->num_frames(), 1000);
  EXPECT_EQ(record->header.num_frames, 1000);
}

TEST_F(WfdbFileTest, OddSampleCountIn212EndsWithATwoByteSample) {
  WriteText(temp_ / "t.hea", "t 1 360 3\nt.dat 212 200 12 0 1 514\n");
  WriteBytes(temp_ / "t.dat", {0x01, 0x20, 0x03, 0xFE, 0x0F});
  auto record = ReadRecord(temp_ / "t");
  ASSERT_TRUE(record) << record.error().ToString();
  EXPECT_EQ(record->samples, (std::vector<std::int16_t>{1, 515, -2}));
}

TEST_F(WfdbFileTest, ByteOffsetSkipsAPrefix) {
  WriteText(temp_ / "t.hea", "t 1 500 2\nt.dat 16+4 200 16 0 5 1\n");
  WriteBytes(temp_ / "t.dat", {9, 9, 9, 9, 5, 0, 0xFC, 0xFF});
  auto record = ReadRecord(temp_ / "t");
  ASSERT_TRUE(record) << record.error().ToString();
  EXPECT_EQ(record->samples, (std::vector<std::int16_t>{5, -4}));
}

// --- Malformed-input catalogue -------------------------------------------

TEST_F(WfdbFileTest, MissingHeaderIsNotFoundNamingTheFile) {
  ExpectError(ReadRecord(temp_ / "absent"), ErrorCode::kNotFound,
              {(temp_ / "absent.hea").string(), "no such file"});
  ExpectError(ReadHeaderFile(temp_ / "absent"), ErrorCode::kNotFound,
              {"absent.hea"});
}

TEST_F(WfdbFileTest, MissingSignalFileIsNotFoundNamingBothFiles) {
  WriteText(temp_ / "t.hea", "t 1 360 10\nt-signals.dat 212\n");
  ExpectError(ReadRecord(temp_ / "t"), ErrorCode::kNotFound,
              {"signal file named in " + (temp_ / "t.hea").string(),
               (temp_ / "t-signals.dat").string(), "no such file"});
}

TEST_F(WfdbFileTest, TruncatedSignalFileNamesExpectedAndPresentFrames) {
  PULSE_REQUIRE_DATA("mitdb");
  fs::copy_file(Mitdb("101").string() + ".hea", temp_ / "101.hea");
  auto bytes = ReadBytes(Mitdb("101").string() + ".dat");
  bytes.resize(3000);  // 2000 samples = 1000 frames of 2 signals
  WriteBytes(temp_ / "101.dat", bytes);
  ExpectError(ReadRecord(temp_ / "101"), ErrorCode::kCorruption,
              {(temp_ / "101.dat").string() +
               ": truncated: 650000 frames expected, 1000 present"});
}

TEST_F(WfdbFileTest, ChecksumMismatchIsCorruptionNamingTheSignal) {
  PULSE_REQUIRE_DATA("mitdb");
  auto bytes = ReadBytes(Mitdb("101").string() + ".dat");
  bytes.resize(3000);
  WriteBytes(temp_ / "101.dat", bytes);
  WriteText(temp_ / "101.hea",
            "101 2 360 1000\r\n"
            "101.dat 212 200 11 1024 995 12345 0 MLII\r\n"
            "101.dat 212 200 11 1024 1011 0 0 V1\r\n");
  ExpectError(ReadRecord(temp_ / "101"), ErrorCode::kCorruption,
              {"101.dat: signal 0 (MLII): checksum mismatch: header says "
               "12345, samples sum to"});
}

TEST_F(WfdbFileTest, UnknownFormatIsUnsupportedNamingTheFormat) {
  WriteText(temp_ / "t.hea", "t 1 360 10\nt.dat 310 200\n");
  WriteBytes(temp_ / "t.dat", std::vector<std::uint8_t>(64, 0));
  ExpectError(ReadRecord(temp_ / "t"), ErrorCode::kUnsupported,
              {(temp_ / "t.hea").string() + ": signal 0: signal format 310 "
                                            "is not supported"});
}

TEST_F(WfdbFileTest, SignalsInSeveralFilesAreUnsupported) {
  WriteText(temp_ / "t.hea", "t 2 360 10\na.dat 16\nb.dat 16\n");
  ExpectError(ReadRecord(temp_ / "t"), ErrorCode::kUnsupported,
              {"t.hea: signal 1: signals in more than one file"});
}

TEST_F(WfdbFileTest, MultiFrequencySignalsAreUnsupported) {
  WriteText(temp_ / "t.hea", "t 1 360 10\nt.dat 16x2\n");
  ExpectError(ReadRecord(temp_ / "t"), ErrorCode::kUnsupported,
              {"samples per frame 2"});
}

TEST_F(WfdbFileTest, SignalFileOutsideTheRecordFolderIsRefused) {
  for (const char* name : {"../t.dat", "/etc/passwd", "-", "sub/../../x"}) {
    WriteText(temp_ / "t.hea", std::string("t 1 360 10\n") + name + " 16\n");
    ExpectError(ReadRecord(temp_ / "t"), ErrorCode::kUnsupported,
                {"signal file name '" + std::string(name) +
                 "' is not a file beside the header"});
  }
}

TEST_F(WfdbFileTest, MalformedHeaderErrorNamesFileLineAndField) {
  WriteText(temp_ / "t.hea", "t 1 360 10\r\nt.dat 212 abc\r\n");
  ExpectError(ReadRecord(temp_ / "t"), ErrorCode::kCorruption,
              {(temp_ / "t.hea").string() +
               ": line 2 (signal 0), gain: 'abc' is not a finite number"});
}

TEST_F(WfdbFileTest, EmptyHeaderFileIsCorruptionNamingTheFile) {
  WriteText(temp_ / "t.hea", "");
  ExpectError(ReadHeaderFile(temp_ / "t"), ErrorCode::kCorruption,
              {(temp_ / "t.hea").string() + ": empty header"});
}

TEST_F(WfdbFileTest, DirectoryInPlaceOfAFileIsAnIoError) {
  fs::create_directories(temp_ / "d.hea");
  ExpectError(ReadHeaderFile(temp_ / "d"), ErrorCode::kIoError,
              {"d.hea: not a regular file"});
}

TEST_F(WfdbFileTest, DamagedAnnotationFileNamesFileAndOffset) {
  PULSE_REQUIRE_DATA("mitdb");
  auto bytes = ReadBytes(Mitdb("101").string() + ".atr");
  bytes.resize(101);  // odd: ends inside a word, with no end marker
  WriteBytes(temp_ / "101.atr", bytes);
  ExpectError(ReadAnnotationFile(temp_ / "101", "atr"), ErrorCode::kCorruption,
              {(temp_ / "101.atr").string() + ": byte offset "});
  // Garbage: every word an unassigned code.
  WriteBytes(temp_ / "g.atr", {0x00, 0xD8, 0x00, 0xD8});
  ExpectError(ReadAnnotationFile(temp_ / "g", "atr"), ErrorCode::kCorruption,
              {"g.atr: byte offset 0: annotation code 54 is out of range"});
}

TEST_F(WfdbFileTest, MissingAnnotationFileIsNotFound) {
  ExpectError(ReadAnnotationFile(temp_ / "t", "qrs"), ErrorCode::kNotFound,
              {(temp_ / "t.qrs").string()});
}

TEST_F(WfdbFileTest, AnnotatorNameWithASlashIsInvalid) {
  ExpectError(ReadAnnotationFile(temp_ / "t", "../x"),
              ErrorCode::kInvalidArgument, {"bad annotator name '../x'"});
  ExpectError(ReadAnnotationFile(temp_ / "t", ""), ErrorCode::kInvalidArgument,
              {"bad annotator name"});
}

}  // namespace
}  // namespace pulse::dsp::wfdb
