// Tests of SignalDecoder: bit layouts of formats 212 and 16 on hand-made
// bytes, the odd final 212 sample, unsupported formats, and the streaming
// property (any chunking of the bytes gives the samples of one big chunk),
// on random bytes and on a real MIT-BIH signal file. Random cases draw from
// gtest's seed: rerun a failure with --gtest_random_seed=<printed seed>.
#include <gtest/gtest.h>

#include <cstdint>
#include <fstream>
#include <iterator>
#include <random>
#include <span>
#include <vector>

#include "pulse/dsp/wfdb.h"
#include "support/test_data.h"

namespace pulse::dsp::wfdb {
namespace {

using Bytes = std::vector<std::uint8_t>;
using Samples = std::vector<std::int16_t>;

class SignalDecoderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    seed_ = static_cast<std::uint32_t>(
        ::testing::UnitTest::GetInstance()->random_seed());
    rng_.seed(seed_);
  }

  static Samples DecodeWhole(int format, const Bytes& bytes) {
    auto decoder = SignalDecoder::Create(format);
    EXPECT_TRUE(decoder);
    Samples out;
    decoder->Feed(bytes, &out);
    decoder->Finish(&out);
    return out;
  }

  // Feeds `bytes` in random chunks of 0..max_chunk bytes.
  Samples DecodeChunked(int format, const Bytes& bytes, std::size_t max_chunk) {
    auto decoder = SignalDecoder::Create(format);
    EXPECT_TRUE(decoder);
    Samples out;
    std::uniform_int_distribution<std::size_t> size(0, max_chunk);
    std::size_t at = 0;
    while (at < bytes.size()) {
      const std::size_t n = std::min(size(rng_), bytes.size() - at);
      decoder->Feed(std::span(bytes).subspan(at, n), &out);
      at += n;
    }
    decoder->Finish(&out);
    return out;
  }

  std::uint32_t seed_ = 0;
  std::mt19937 rng_;
};

TEST_F(SignalDecoderTest, Format212UnpacksTwelveBitPairs) {
  // s0 = b0 | (b1 & 0x0F) << 8, s1 = b2 | (b1 & 0xF0) << 4, 12-bit signed.
  EXPECT_EQ(DecodeWhole(212, {0x01, 0x20, 0x03}), (Samples{1, 515}));
  EXPECT_EQ(DecodeWhole(212, {0xFF, 0x77, 0xFF}), (Samples{2047, 2047}));
  EXPECT_EQ(DecodeWhole(212, {0x00, 0x88, 0x00}), (Samples{-2048, -2048}));
  EXPECT_EQ(DecodeWhole(212, {0xFF, 0xFF, 0xFF}), (Samples{-1, -1}));
  EXPECT_EQ(DecodeWhole(212, {0xE3, 0x33, 0xE1}), (Samples{995, 993}));
}

TEST_F(SignalDecoderTest, Format16IsLittleEndianInt16) {
  EXPECT_EQ(DecodeWhole(16, {0x34, 0x12, 0xFF, 0xFF, 0x00, 0x80, 0xFF, 0x7F}),
            (Samples{0x1234, -1, -32768, 32767}));
}

TEST_F(SignalDecoderTest, IncompleteUnitsArePendingUntilCompleted) {
  auto decoder = SignalDecoder::Create(212);
  ASSERT_TRUE(decoder);
  Samples out;
  decoder->Feed(Bytes{0x01}, &out);
  EXPECT_TRUE(out.empty());
  EXPECT_EQ(decoder->pending_bytes(), 1u);
  decoder->Feed(Bytes{0x20}, &out);
  EXPECT_EQ(decoder->pending_bytes(), 2u);
  decoder->Feed(Bytes{0x03, 0xFF}, &out);
  EXPECT_EQ(out, (Samples{1, 515}));
  EXPECT_EQ(decoder->pending_bytes(), 1u);
}

TEST_F(SignalDecoderTest, FinishEmitsAnOddFinal212Sample) {
  auto decoder = SignalDecoder::Create(212);
  ASSERT_TRUE(decoder);
  Samples out;
  decoder->Feed(Bytes{0x01, 0x20, 0x03, 0xFF, 0x0F}, &out);
  EXPECT_EQ(decoder->Finish(&out), 0u);
  EXPECT_EQ(out, (Samples{1, 515, -1}));
}

TEST_F(SignalDecoderTest, FinishReportsBytesThatFormNoSample) {
  auto d212 = SignalDecoder::Create(212);
  auto d16 = SignalDecoder::Create(16);
  ASSERT_TRUE(d212 && d16);
  Samples out;
  d212->Feed(Bytes{0x01}, &out);
  d16->Feed(Bytes{0x01, 0x02, 0x03}, &out);
  EXPECT_EQ(d212->Finish(&out), 1u);
  EXPECT_EQ(d16->Finish(&out), 1u);
  EXPECT_EQ(out, (Samples{0x0201}));
}

TEST_F(SignalDecoderTest, UnknownFormatsAreUnsupported) {
  for (int format : {0, 8, 24, 80, 310, 311, -1}) {
    auto decoder = SignalDecoder::Create(format);
    ASSERT_FALSE(decoder) << format;
    EXPECT_EQ(decoder.error().code(), ErrorCode::kUnsupported);
    EXPECT_NE(decoder.error().message().find("signal format " +
                                             std::to_string(format)),
              std::string::npos)
        << decoder.error().message();
  }
}

TEST_F(SignalDecoderTest, AnyChunkingGivesTheSameSamples) {
  SCOPED_TRACE("seed " + std::to_string(seed_));
  std::uniform_int_distribution<int> byte(0, 255);
  for (int format : {212, 16}) {
    for (std::size_t length : {0, 1, 2, 3, 4, 5, 6, 7, 1000, 10007}) {
      Bytes bytes(length);
      for (auto& b : bytes) b = static_cast<std::uint8_t>(byte(rng_));
      const Samples whole = DecodeWhole(format, bytes);
      for (std::size_t max_chunk : {1, 2, 3, 4, 7, 64, 4096}) {
        ASSERT_EQ(DecodeChunked(format, bytes, max_chunk), whole)
            << "format " << format << ", " << length
            << " bytes, chunks <= " << max_chunk;
      }
    }
  }
}

TEST_F(SignalDecoderTest, ChunkedRealSignalFileMatchesWholeDecode) {
  PULSE_REQUIRE_DATA("mitdb");
  SCOPED_TRACE("seed " + std::to_string(seed_));
  std::ifstream in(::pulse::testing::DataDir() / "mitdb" / "101.dat",
                   std::ios::binary);
  Bytes bytes(std::istreambuf_iterator<char>(in), {});
  bytes.resize(std::min<std::size_t>(bytes.size(), 300000));
  const Samples whole = DecodeWhole(212, bytes);
  ASSERT_EQ(whole.size(), bytes.size() / 3 * 2);
  for (std::size_t max_chunk : {1, 5, 1000, 65536}) {
    EXPECT_EQ(DecodeChunked(212, bytes, max_chunk), whole) << max_chunk;
  }
}

}  // namespace
}  // namespace pulse::dsp::wfdb
