// ecg-eval as a user meets it: the real binary, run as a child process, on
// bad command lines and broken record files. Every failure must be one line
// on stderr naming the option or file and the problem, exit status 2 for
// usage errors and 1 for data errors, nothing on stdout, and never a crash.
// Happy paths use small synthetic records written here, so this suite needs
// no reference data.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "tools/run_tool.h"

#ifndef ECG_EVAL_BINARY
#error "ECG_EVAL_BINARY must name the ecg-eval executable"
#endif

namespace pulse::testing {
namespace {

namespace fs = std::filesystem;

constexpr int kDataError = 1;
constexpr int kUsageError = 2;

void WriteBytes(const fs::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
}

// A two-lead, 250 Hz, format-16 record of `seconds` with a 1 mV spike in
// both leads every second at samples 100, 350, 600, ...
void WriteSyntheticRecord(const fs::path& dir, const std::string& name,
                          int seconds) {
  const int rate = 250;
  const int frames = seconds * rate;
  std::string samples;
  int checksum = 0;  // header(5): 16-bit sum of one signal's samples
  for (int f = 0; f < frames; ++f) {
    const int phase = f % rate;
    // Triangle 40 ms wide peaking at 200 adu (1 mV) at phase 100.
    const int distance = std::abs(phase - 100);
    const int adu = distance < 5 ? 200 - distance * 40 : 0;
    checksum = (checksum + adu) & 0xffff;
    for (int lead = 0; lead < 2; ++lead) {
      samples += static_cast<char>(adu & 0xff);
      samples += static_cast<char>((adu >> 8) & 0xff);
    }
  }
  const std::string sum = std::to_string(static_cast<std::int16_t>(checksum));
  WriteBytes(dir / (name + ".hea"),
             name + " 2 250 " + std::to_string(frames) + "\r\n" + name +
                 ".dat 16 200 16 0 0 " + sum + " 0 I\r\n" + name +
                 ".dat 16 200 16 0 0 " + sum + " 0 II\r\n");
  WriteBytes(dir / (name + ".dat"), samples);
}

// MIT-format annotation file with one N beat at each sample in `beats`
// (ascending, gaps below 1024 samples).
void WriteBeatAnnotations(const fs::path& path, const std::vector<int>& beats) {
  std::string bytes;
  int previous = 0;
  for (int beat : beats) {
    const int word = (1 << 10) | (beat - previous);  // code 1 = N
    bytes += static_cast<char>(word & 0xff);
    bytes += static_cast<char>((word >> 8) & 0xff);
    previous = beat;
  }
  bytes += std::string(2, '\0');  // end of file
  WriteBytes(path, bytes);
}

class EcgEvalCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::path(::testing::TempDir()) /
           (std::string("ecg_eval_cli_") + info->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "out");
    fs::create_directories(dir_ / "db");
  }
  void TearDown() override { fs::remove_all(dir_); }

  ToolRun Run(const std::vector<std::string>& args) {
    // Pin the data folder so that no test depends on where it runs.
    return RunTool(ECG_EVAL_BINARY, args, dir_ / "out",
                   {{"PULSE_DATA_DIR", (dir_ / "db").string()}});
  }

  // One error line containing every needle, the given status, no report.
  static void ExpectError(const ToolRun& run, int exit_code,
                          const std::vector<std::string>& needles) {
    ASSERT_TRUE(run.exited) << "killed by signal " << run.signal;
    EXPECT_EQ(run.exit_code, exit_code) << run.err;
    EXPECT_EQ(run.out, "");
    EXPECT_EQ(std::count(run.err.begin(), run.err.end(), '\n'), 1) << run.err;
    EXPECT_EQ(run.err.rfind("ecg-eval", 0), 0u) << run.err;
    for (const std::string& needle : needles) {
      EXPECT_NE(run.err.find(needle), std::string::npos)
          << "'" << needle << "' not in: " << run.err;
    }
  }

  fs::path dir_;
};

TEST_F(EcgEvalCliTest, HelpForTheToolAndEachCommand) {
  for (const std::vector<std::string>& args :
       std::vector<std::vector<std::string>>{{"--help"},
                                             {"-h"},
                                             {"help"},
                                             {"qrs", "--help"},
                                             {"analyze", "-h"},
                                             {"help", "analyze"}}) {
    const ToolRun run = Run(args);
    ASSERT_TRUE(run.exited);
    EXPECT_EQ(run.exit_code, 0) << args[0];
    EXPECT_EQ(run.err, "");
    EXPECT_NE(run.out.find("Usage: ecg-eval"), std::string::npos) << run.out;
  }
  EXPECT_NE(Run({"qrs", "--help"}).out.find("--window-ms"), std::string::npos);
  EXPECT_NE(Run({"analyze", "--help"}).out.find("--beats"), std::string::npos);
}

TEST_F(EcgEvalCliTest, MissingOrUnknownCommandIsUsageError) {
  ExpectError(Run({}), kUsageError, {"missing command"});
  ExpectError(Run({"frobnicate"}), kUsageError,
              {"unknown command 'frobnicate'"});
  ExpectError(Run({"--verbose"}), kUsageError, {"unknown option '--verbose'"});
  ExpectError(Run({"help", "frobnicate"}), kUsageError,
              {"unknown command 'frobnicate'"});
}

TEST_F(EcgEvalCliTest, UnknownOptionIsUsageError) {
  ExpectError(Run({"qrs", "--frob"}), kUsageError,
              {"ecg-eval qrs:", "unknown option '--frob'"});
  ExpectError(Run({"analyze", "--json=yes"}), kUsageError,
              {"--json takes no value"});
  ExpectError(Run({"qrs", "extra"}), kUsageError,
              {"unexpected argument 'extra'"});
  ExpectError(Run({"analyze", "a", "b"}), kUsageError, {"one RECORD expected"});
  ExpectError(Run({"qrs", "--json", "--json"}), kUsageError,
              {"--json given twice"});
}

TEST_F(EcgEvalCliTest, BadNumbersAreUsageErrorsNamingTheOption) {
  ExpectError(Run({"qrs", "--from", "abc"}), kUsageError,
              {"--from: 'abc' is not a number"});
  ExpectError(Run({"qrs", "--from=-5"}), kUsageError,
              {"--from: -5 is out of range"});
  ExpectError(Run({"qrs", "--from", "nan"}), kUsageError,
              {"--from: 'nan' is not a number"});
  ExpectError(Run({"qrs", "--from", "3e999"}), kUsageError, {"--from"});
  ExpectError(Run({"qrs", "--window-ms", "5000"}), kUsageError,
              {"--window-ms: 5000 is out of range (0 to 1000)"});
  ExpectError(Run({"qrs", "--window-ms", "150ms"}), kUsageError,
              {"--window-ms: '150ms' is not a number"});
  ExpectError(Run({"qrs", "--from"}), kUsageError, {"--from needs a value"});
  ExpectError(Run({"qrs", "--records", "101,,106"}), kUsageError,
              {"--records: empty item"});
  ExpectError(Run({"qrs", "--records", "101,101"}), kUsageError,
              {"--records: 101 listed twice"});
  ExpectError(Run({"analyze", "--beats", "1.5"}), kUsageError,
              {"--beats: '1.5' is not a whole number"});
  ExpectError(Run({"analyze", "--beats", "-1"}), kUsageError,
              {"--beats: -1 is out of range"});
  ExpectError(Run({"analyze", "--from", "20", "--to", "10"}), kUsageError,
              {"--to 10 must be after --from 20"});
  ExpectError(Run({"qrs", "--decimate", "1.5"}), kUsageError,
              {"--decimate: '1.5' is not a whole number"});
  ExpectError(Run({"qrs", "--decimate", "0"}), kUsageError,
              {"--decimate: 0 is out of range"});
  ExpectError(Run({"qrs", "--annotator", "../atr"}), kUsageError,
              {"--annotator: '../atr' is not a plain annotator name"});
}

TEST_F(EcgEvalCliTest, MissingRecordIsDataErrorNamingTheFile) {
  const std::string missing = (dir_ / "db" / "999").string();
  ExpectError(Run({"analyze", missing}), kDataError,
              {missing + ".hea", "no such file"});
  ExpectError(Run({"qrs", "--db", (dir_ / "db").string(), "--records", "999"}),
              kDataError, {missing + ".hea", "no such file"});
  // No RECORD and no default record in the data folder.
  ExpectError(Run({"analyze"}), kDataError,
              {"default record", (dir_ / "db" / "mitdb" / "101").string()});
}

TEST_F(EcgEvalCliTest, MissingOrEmptyFolderIsDataError) {
  const std::string nowhere = (dir_ / "nowhere").string();
  ExpectError(Run({"qrs", "--db", nowhere}), kDataError,
              {nowhere, "no such folder"});
  ExpectError(Run({"qrs", "--db", (dir_ / "db").string()}), kDataError,
              {"no annotated records"});
  // Default folder: $PULSE_DATA_DIR/mitdb, here missing.
  ExpectError(Run({"qrs"}), kDataError, {"mitdb", "no such folder"});
}

TEST_F(EcgEvalCliTest, MalformedHeaderIsDataErrorNamingTheHeader) {
  const fs::path db = dir_ / "db";
  WriteBytes(db / "bad.hea", "bad 2 360 lots-of-frames\r\n");
  WriteBeatAnnotations(db / "bad.atr", {100});
  ExpectError(Run({"analyze", (db / "bad").string()}), kDataError,
              {(db / "bad.hea").string()});
  ExpectError(Run({"qrs", "--db", db.string()}), kDataError,
              {(db / "bad.hea").string()});
}

TEST_F(EcgEvalCliTest, TruncatedOrMissingSignalFileIsDataError) {
  const fs::path db = dir_ / "db";
  WriteSyntheticRecord(db, "rec", 10);
  const std::string dat = (db / "rec.dat").string();
  fs::resize_file(db / "rec.dat", 1000);
  ExpectError(Run({"analyze", (db / "rec").string()}), kDataError,
              {dat, "truncated"});
  fs::remove(db / "rec.dat");
  ExpectError(Run({"analyze", (db / "rec").string()}), kDataError,
              {dat, "no such file"});
}

TEST_F(EcgEvalCliTest, CorruptAnnotationFileIsDataError) {
  const fs::path db = dir_ / "db";
  WriteSyntheticRecord(db, "rec", 10);
  WriteBytes(db / "rec.atr", std::string("\x05\xe4\x01", 3));  // code 57
  ExpectError(Run({"analyze", (db / "rec").string()}), kDataError,
              {(db / "rec.atr").string()});
  ExpectError(Run({"qrs", "--db", db.string()}), kDataError,
              {(db / "rec.atr").string()});
}

TEST_F(EcgEvalCliTest, FromPastTheEndOfTheRecordIsUsageError) {
  WriteSyntheticRecord(dir_ / "db", "rec", 10);
  ExpectError(Run({"analyze", (dir_ / "db" / "rec").string(), "--from", "10"}),
              kUsageError, {"--from 10 s is not before the end"});
}

TEST_F(EcgEvalCliTest, AnalyzeSummarisesARecordWithoutAnnotations) {
  WriteSyntheticRecord(dir_ / "db", "rec", 20);
  const ToolRun run =
      Run({"analyze", (dir_ / "db" / "rec.hea").string(), "--beats", "2"});
  ASSERT_TRUE(run.exited);
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(run.err, "");
  for (const char* line :
       {"2 leads (I, II), 250 Hz, 0:20.000 (5000 frames)", "Beats found",
        "Heart rate", "RR interval", "x real time",
        "No reference annotations (rec.atr)"}) {
    EXPECT_NE(run.out.find(line), std::string::npos)
        << "'" << line << "' not in:\n"
        << run.out;
  }
}

TEST_F(EcgEvalCliTest, QrsAndAnalyzeScoreAgainstAnnotations) {
  const fs::path db = dir_ / "db";
  WriteSyntheticRecord(db, "rec", 20);
  std::vector<int> beats;
  for (int s = 0; s < 20; ++s) beats.push_back(100 + 250 * s);
  WriteBeatAnnotations(db / "rec.atr", beats);

  const ToolRun analyze = Run({"analyze", (db / "rec").string(), "--json"});
  ASSERT_EQ(analyze.exit_code, 0) << analyze.err;
  EXPECT_NE(analyze.out.find("\"ref_beats\": 20"), std::string::npos)
      << analyze.out;

  // From 5 s: beats at 5.4 s, 6.4 s, ... 19.4 s are scored.
  const ToolRun qrs =
      Run({"qrs", "--db", db.string(), "--from", "5", "--json"});
  ASSERT_EQ(qrs.exit_code, 0) << qrs.err;
  EXPECT_NE(qrs.out.find("\"record\": \"rec\""), std::string::npos) << qrs.out;
  EXPECT_NE(qrs.out.find("\"ref_beats\": 15"), std::string::npos) << qrs.out;

  const ToolRun table = Run({"qrs", "--db", db.string(), "--mismatches"});
  ASSERT_EQ(table.exit_code, 0) << table.err;
  for (const char* text : {"Record   Ref beats", "\nrec ", "\nGross ",
                           "x real time (detector only)", "Mismatches"}) {
    EXPECT_NE(table.out.find(text), std::string::npos)
        << "'" << text << "' not in:\n"
        << table.out;
  }
}

}  // namespace
}  // namespace pulse::testing
