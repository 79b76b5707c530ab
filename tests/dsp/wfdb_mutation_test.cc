// Seeded random mutation of WFDB inputs: real and hand-made headers,
// annotation files and signal files are damaged thousands of ways (bit
// flips, byte stores, truncation, insertion, deletion, duplicated slices)
// and fed to the parsers. Nothing may crash or hang, accepted results must
// satisfy the documented invariants, and every error must say where it is.
//
// Built twice: as wfdb_mutation_test and inside wfdb_sanitized_test (ASan +
// UBSan), where an out-of-bounds read or an overflow aborts the run. The
// seed comes from gtest: rerun a failure with --gtest_random_seed=<seed>.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "pulse/dsp/wfdb.h"
#include "pulse/dsp/wfdb_file.h"
#include "support/test_data.h"

namespace pulse::dsp::wfdb {
namespace {

namespace fs = std::filesystem;
using Bytes = std::vector<std::uint8_t>;

constexpr int kIterations = 4000;

Bytes ToBytes(const std::string& text) {
  return Bytes(text.begin(), text.end());
}

Bytes ReadFileOrEmpty(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return Bytes(std::istreambuf_iterator<char>(in), {});
}

bool StartsWith(const std::string& text, const std::string& prefix) {
  return text.rfind(prefix, 0) == 0;
}

class WfdbMutationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    seed_ = static_cast<std::uint32_t>(
        ::testing::UnitTest::GetInstance()->random_seed());
    rng_.seed(seed_);

    header_seeds_ = {
        ToBytes("r 2 360 650000\r\nr.dat 212 200 11 1024 995 -22131 0 MLII\r\n"
                "r.dat 212 200 11 1024 1011 20052 0 V5\r\n# 69 M\r\n"),
        ToBytes("r 3 500/500(0) 5000 10:00:00 01/01/2000\n"
                "r.dat 16x1:0+0 1716(6)/mV 16 0 -120 -32198 0 i\n"
                "r.dat 16 250(-5)/uV 16 0 0 0 0 lead two\n"
                "r.dat 16 0/V\n#<age>: 51\n"),
        ToBytes("r 0\n"),
    };
    annotation_seeds_ = {
        // N at 100, SUB, CHN, NUM, AUX "(AFIB", SKIP 70000, V, end.
        Bytes{0x64, 0x04, 0x03, 0xF4, 0x01, 0xF8, 0x07, 0xF0, 0x05,
              0xFC, '(',  'A',  'F',  'I',  'B',  0x00, 0x00, 0xEC,
              0x01, 0x00, 0x70, 0x11, 0x05, 0x14, 0x00, 0x00},
    };
    const fs::path data = ::pulse::testing::DataDir();
    for (const char* file : {"mitdb/101.hea", "mitdb/207.hea", "ludb/1.hea"}) {
      if (Bytes b = ReadFileOrEmpty(data / file); !b.empty()) {
        header_seeds_.push_back(std::move(b));
      }
    }
    for (const char* file : {"mitdb/101.atr", "mitdb/207.atr", "mitdb/203.atr",
                             "ludb/1.ii", "ludb/50.v1"}) {
      if (Bytes b = ReadFileOrEmpty(data / file); !b.empty()) {
        annotation_seeds_.push_back(std::move(b));
      }
    }
  }

  std::size_t Uniform(std::size_t max_inclusive) {
    return std::uniform_int_distribution<std::size_t>(0, max_inclusive)(rng_);
  }

  std::uint8_t InterestingByte() {
    // Bytes that steer the parsers into their branches: separators, signs,
    // digits, WFDB field punctuation, annotation code bytes (SKIP 0xEC,
    // NUM 0xF0, SUB 0xF4, CHN 0xF8, AUX 0xFC), extremes.
    static constexpr std::uint8_t kBytes[] = {
        0,    0xFF, 0x7F, 0x80, '\n', '\r', ' ',  '\t', '#', '-',
        '+',  '(',  ')',  '/',  'x',  ':',  '.',  'e',  '0', '9',
        0xEC, 0xF0, 0xF4, 0xF8, 0xFC, 0xD8, 0x03, 0x01};
    return kBytes[Uniform(std::size(kBytes) - 1)];
  }

  Bytes Mutate(Bytes bytes) {
    const std::size_t operations = 1 + Uniform(3);
    for (std::size_t i = 0; i < operations; ++i) {
      const std::size_t at = bytes.empty() ? 0 : Uniform(bytes.size() - 1);
      switch (Uniform(6)) {
        case 0:  // flip a bit
          if (!bytes.empty())
            bytes[at] ^= static_cast<std::uint8_t>(1u << Uniform(7));
          break;
        case 1:  // store a random byte
          if (!bytes.empty())
            bytes[at] = static_cast<std::uint8_t>(Uniform(255));
          break;
        case 2:  // store an interesting byte
          if (!bytes.empty()) bytes[at] = InterestingByte();
          break;
        case 3:  // truncate
          bytes.resize(Uniform(bytes.size()));
          break;
        case 4: {  // insert 1..8 bytes
          const std::size_t n = 1 + Uniform(7);
          for (std::size_t k = 0; k < n; ++k) {
            bytes.insert(bytes.begin() + static_cast<std::ptrdiff_t>(
                                             std::min(at, bytes.size())),
                         Uniform(1) ? InterestingByte()
                                    : static_cast<std::uint8_t>(Uniform(255)));
          }
          break;
        }
        case 5: {  // delete a range
          const std::size_t n = std::min(1 + Uniform(15), bytes.size() - at);
          bytes.erase(bytes.begin() + static_cast<std::ptrdiff_t>(at),
                      bytes.begin() + static_cast<std::ptrdiff_t>(at + n));
          break;
        }
        default: {  // duplicate a slice elsewhere
          if (bytes.empty()) break;
          const std::size_t n = std::min(1 + Uniform(31), bytes.size() - at);
          const Bytes slice(
              bytes.begin() + static_cast<std::ptrdiff_t>(at),
              bytes.begin() + static_cast<std::ptrdiff_t>(at + n));
          const std::size_t to = Uniform(bytes.size());
          bytes.insert(bytes.begin() + static_cast<std::ptrdiff_t>(to),
                       slice.begin(), slice.end());
          break;
        }
      }
    }
    return bytes;
  }

  const Bytes& Pick(const std::vector<Bytes>& seeds) {
    return seeds[Uniform(seeds.size() - 1)];
  }

  std::uint32_t seed_ = 0;
  std::mt19937 rng_;
  std::vector<Bytes> header_seeds_;
  std::vector<Bytes> annotation_seeds_;
};

TEST_F(WfdbMutationTest, MutatedHeadersParseOrNameTheirLine) {
  SCOPED_TRACE("seed " + std::to_string(seed_));
  int accepted = 0;
  for (int i = 0; i < kIterations; ++i) {
    const Bytes input = Mutate(Pick(header_seeds_));
    const std::string text(input.begin(), input.end());
    auto header = ParseHeader(text);
    if (!header) {
      const std::string& m = header.error().message();
      ASSERT_TRUE(StartsWith(m, "line ") || StartsWith(m, "empty header") ||
                  StartsWith(m, "record line declares"))
          << "iteration " << i << ": " << m;
      continue;
    }
    ++accepted;
    ASSERT_GT(header->sampling_frequency_hz, 0.0);
    ASSERT_LE(header->sampling_frequency_hz, 1e6);
    ASSERT_GE(header->num_frames, 0);
    ASSERT_LE(header->num_frames, 1'000'000'000'000);
    ASSERT_LE(header->signals.size(), 4096u);
    for (const SignalSpec& s : header->signals) {
      ASSERT_TRUE(std::isfinite(s.gain_adu_per_unit));
      ASSERT_NE(s.gain_adu_per_unit, 0.0);
      ASSERT_GE(s.samples_per_frame, 1);
      ASSERT_GE(s.byte_offset, 0);
      (void)MillivoltsPerAdu(s);
    }
  }
  RecordProperty("accepted", accepted);
}

TEST_F(WfdbMutationTest, MutatedAnnotationFilesParseOrNameTheirOffset) {
  SCOPED_TRACE("seed " + std::to_string(seed_));
  int accepted = 0;
  for (int i = 0; i < kIterations; ++i) {
    const Bytes input = Mutate(Pick(annotation_seeds_));
    auto annotations = ParseAnnotations(input);
    if (!annotations) {
      ASSERT_TRUE(StartsWith(annotations.error().message(), "byte offset "))
          << "iteration " << i << ": " << annotations.error().message();
      ASSERT_EQ(annotations.error().code(), ErrorCode::kCorruption);
      continue;
    }
    ++accepted;
    ASSERT_LE(annotations->size(), input.size() / 2);
    for (const Annotation& a : *annotations) {
      ASSERT_GE(a.sample, 0);
      ASSERT_LE(static_cast<unsigned>(a.code), 49u);
      ASSERT_LE(a.aux.size(), 255u);
      (void)IsBeat(a.code);
      (void)Mnemonic(a.code);
    }
  }
  RecordProperty("accepted", accepted);
}

TEST_F(WfdbMutationTest, RandomSignalBytesDecodeAlikeInAnyChunking) {
  SCOPED_TRACE("seed " + std::to_string(seed_));
  for (int i = 0; i < kIterations / 4; ++i) {
    Bytes bytes(Uniform(600));
    for (auto& b : bytes) b = static_cast<std::uint8_t>(Uniform(255));
    const int format = Uniform(1) ? 212 : 16;
    auto whole = SignalDecoder::Create(format);
    auto chunked = SignalDecoder::Create(format);
    ASSERT_TRUE(whole && chunked);
    std::vector<std::int16_t> a, b;
    whole->Feed(bytes, &a);
    for (std::size_t at = 0; at < bytes.size();) {
      const std::size_t n = std::min(Uniform(9), bytes.size() - at);
      chunked->Feed(std::span(bytes).subspan(at, n), &b);
      at += n;
    }
    ASSERT_EQ(whole->pending_bytes(), chunked->pending_bytes());
    ASSERT_EQ(whole->Finish(&a), chunked->Finish(&b));
    ASSERT_EQ(a, b) << "iteration " << i;
    ASSERT_EQ(a.size(), format == 212 ? bytes.size() / 3 * 2 +
                                            (bytes.size() % 3 == 2 ? 1 : 0)
                                      : bytes.size() / 2);
  }
}

TEST_F(WfdbMutationTest, MutatedRecordFilesReadOrNameTheirFile) {
  SCOPED_TRACE("seed " + std::to_string(seed_));
  std::random_device random;
  const fs::path dir = fs::temp_directory_path() /
                       ("pulse_wfdb_mutation_" + std::to_string(random()));
  fs::create_directories(dir);
  const Bytes header_seed = ToBytes(
      "t 2 360 1000\nt.dat 212 200 11 1024 0 0 0 MLII\n"
      "t.dat 212 200 11 1024 0 0 0 V1\n");
  for (int i = 0; i < kIterations / 20; ++i) {
    const Bytes header = Mutate(header_seed);
    Bytes dat(Uniform(4000), 0);
    for (auto& b : dat) b = static_cast<std::uint8_t>(Uniform(255));
    {
      std::ofstream(dir / "t.hea", std::ios::binary)
          .write(reinterpret_cast<const char*>(header.data()),
                 static_cast<std::streamsize>(header.size()));
      std::ofstream(dir / "t.dat", std::ios::binary)
          .write(reinterpret_cast<const char*>(dat.data()),
                 static_cast<std::streamsize>(dat.size()));
    }
    auto record = ReadRecord(dir / "t");
    if (!record) {
      ASSERT_NE(record.error().message().find(dir.string()), std::string::npos)
          << "iteration " << i << ": " << record.error().message();
      continue;
    }
    ASSERT_EQ(record->samples.size(),
              static_cast<std::size_t>(record->num_frames()) *
                  record->header.signals.size());
  }
  std::error_code ignored;
  fs::remove_all(dir, ignored);
}

}  // namespace
}  // namespace pulse::dsp::wfdb
