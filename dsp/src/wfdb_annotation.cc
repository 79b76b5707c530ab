// MIT-format annotation files (annot(5)), and the code tables of WFDB's
// lib/ecgmap.h (isqrs) and lib/annot.c (annstr).
//
// The file is a stream of 16-bit little-endian words: the top 6 bits are a
// code, the low 10 bits an interval or a value. Codes 1..49 are annotations
// (time += interval); 59..63 are pseudo-annotations that modify the time
// (SKIP) or the annotation just read (NUM, SUB, CHN, AUX); word 0 ends the
// file. The parser walks the words once with bounds checks before every
// read, so that no input can make it read past the span.
#include <algorithm>
#include <array>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <vector>

#include "pulse/dsp/wfdb.h"

namespace pulse::dsp::wfdb {
namespace {

constexpr unsigned kMaxAnnotationCode = 49;  // ACMAX
constexpr unsigned kSkip = 59;
constexpr unsigned kNum = 60;
constexpr unsigned kSub = 61;
constexpr unsigned kChn = 62;
constexpr unsigned kAux = 63;

// WFDB isqrs(), lib/ecgmap.h, indexed by code 0..49.
constexpr std::array<bool, kMaxAnnotationCode + 1> kIsQrs = {
    0, 1, 1, 1, 1, 1, 1, 1, 1, 1,  // 0 - 9
    1, 1, 1, 1, 0, 0, 0, 0, 0, 0,  // 10 - 19
    0, 0, 0, 0, 0, 1, 0, 0, 0, 0,  // 20 - 29
    1, 1, 0, 0, 1, 1, 0, 0, 1, 0,  // 30 - 39
    0, 1, 0, 0, 0, 0, 0, 0, 0, 0,  // 40 - 49
};

// WFDB annstr(), lib/annot.c, indexed by code 0..49.
constexpr std::array<std::string_view, kMaxAnnotationCode + 1> kMnemonic = {
    " ", "N", "L",    "R",    "a",    "V",    "F",    "J",    "A",    "S",
    "E", "j", "/",    "Q",    "~",    "[15]", "|",    "[17]", "s",    "T",
    "*", "D", "\"",   "=",    "p",    "B",    "^",    "t",    "+",    "u",
    "?", "!", "[",    "]",    "e",    "n",    "@",    "x",    "f",    "(",
    ")", "r", "[42]", "[43]", "[44]", "[45]", "[46]", "[47]", "[48]", "[49]",
};

inline unsigned Word(std::span<const std::uint8_t> bytes, std::size_t at) {
  return static_cast<unsigned>(bytes[at]) |
         (static_cast<unsigned>(bytes[at + 1]) << 8);
}

Error CorruptAt(std::size_t offset, const std::string& what) {
  return Error(ErrorCode::kCorruption,
               "byte offset " + std::to_string(offset) + ": " + what);
}

}  // namespace

bool IsBeat(AnnotationCode code) {
  const auto value = static_cast<unsigned>(code);
  return value <= kMaxAnnotationCode && kIsQrs[value];
}

std::string_view Mnemonic(AnnotationCode code) {
  const auto value = static_cast<unsigned>(code);
  return value <= kMaxAnnotationCode ? kMnemonic[value] : "[invalid]";
}

Result<std::vector<Annotation>> ParseAnnotations(
    std::span<const std::uint8_t> bytes) {
  std::vector<Annotation> annotations;
  // Most words of a real file are beats; the cap keeps a hostile size from
  // reserving gigabytes up front.
  annotations.reserve(std::min<std::size_t>(bytes.size() / 2, 1 << 16));
  std::int64_t time = 0;
  // CHN and NUM carry over to later annotations (WFDB reuses one struct).
  std::uint8_t channel = 0;
  std::uint8_t num = 0;

  std::size_t at = 0;
  while (at + 2 <= bytes.size()) {
    const std::size_t word_at = at;
    const unsigned word = Word(bytes, at);
    at += 2;
    const unsigned code = word >> 10;
    const unsigned data = word & 0x3FFu;
    if (word == 0) {
      for (std::size_t i = at; i < bytes.size(); ++i) {
        if (bytes[i] != 0) {
          return Fail(CorruptAt(i,
                                "data after the end-of-file marker at "
                                "byte offset " +
                                    std::to_string(word_at)));
        }
      }
      return annotations;
    }
    if (code <= kMaxAnnotationCode) {
      time += data;
      if (time < 0) {
        return Fail(CorruptAt(word_at, "annotation time " +
                                           std::to_string(time) +
                                           " is before the record start"));
      }
      Annotation& annotation = annotations.emplace_back();
      annotation.sample = time;
      annotation.code = static_cast<AnnotationCode>(code);
      annotation.channel = channel;
      annotation.num = num;
      continue;
    }
    switch (code) {
      case kSkip: {
        if (at + 4 > bytes.size()) {
          return Fail(CorruptAt(word_at,
                                "truncated SKIP: 4 bytes of "
                                "interval expected, " +
                                    std::to_string(bytes.size() - at) +
                                    " present"));
        }
        // A 32-bit signed interval as two words, high word first.
        const std::uint32_t high = Word(bytes, at);
        const std::uint32_t low = Word(bytes, at + 2);
        at += 4;
        time += static_cast<std::int32_t>((high << 16) | low);
        break;
      }
      case kNum:
      case kChn: {
        const auto value = static_cast<std::uint8_t>(data & 0xFFu);
        (code == kNum ? num : channel) = value;
        if (!annotations.empty()) {
          (code == kNum ? annotations.back().num : annotations.back().channel) =
              value;
        }
        break;
      }
      case kSub:
        if (annotations.empty()) {
          return Fail(CorruptAt(word_at, "SUB before the first annotation"));
        }
        annotations.back().subtype =
            static_cast<std::int8_t>(static_cast<std::uint8_t>(data & 0xFFu));
        break;
      case kAux: {
        if (annotations.empty()) {
          return Fail(CorruptAt(word_at, "AUX before the first annotation"));
        }
        // Length in the low 8 bits, as WFDB reads it; data padded to even.
        const std::size_t length = data & 0xFFu;
        const std::size_t padded = (length + 1) & ~std::size_t{1};
        if (at + padded > bytes.size()) {
          return Fail(CorruptAt(
              word_at, "truncated AUX: " + std::to_string(padded) +
                           " bytes expected, " +
                           std::to_string(bytes.size() - at) + " present"));
        }
        std::size_t text_length = 0;
        while (text_length < length && bytes[at + text_length] != 0) {
          ++text_length;
        }
        annotations.back().aux.assign(
            reinterpret_cast<const char*>(bytes.data() + at), text_length);
        at += padded;
        break;
      }
      default:
        return Fail(CorruptAt(word_at, "annotation code " +
                                           std::to_string(code) +
                                           " is out of range (0..49, 59..63)"));
    }
  }
  if (at != bytes.size()) {
    return Fail(CorruptAt(at,
                          "odd trailing byte without an end-of-file "
                          "marker"));
  }
  return annotations;
}

}  // namespace pulse::dsp::wfdb
