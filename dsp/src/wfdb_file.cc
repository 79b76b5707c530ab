// File wrappers over the sans-I/O WFDB parsers (library pulse_wfdb_io).
//
// Each file is read whole with one read call and handed to the parser; the
// signal file is sized first so that a header claiming more frames than the
// file holds fails before anything large is allocated. Errors from the
// parsers get the file's path prepended; std exceptions (bad_alloc,
// filesystem_error) are caught here and become errors, since no exception
// may cross this API.
#include "pulse/dsp/wfdb_file.h"

#include <algorithm>

#include <cstdint>
#include <exception>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace pulse::dsp::wfdb {
namespace {

namespace fs = std::filesystem;

// Far above any real header or annotation file (a 24-hour Holter .atr is a
// few hundred KB), low enough that a wrong path to a huge file fails fast.
constexpr std::uint64_t kMaxHeaderBytes = 1 << 20;
constexpr std::uint64_t kMaxAnnotationBytes = std::uint64_t{256} << 20;
constexpr std::uint64_t kMaxSignalBytes = std::uint64_t{4} << 30;

// Size of a regular file, or kNotFound / kIoError naming it.
Result<std::uint64_t> RegularFileSize(const fs::path& path) {
  std::error_code ec;
  const fs::file_status status = fs::status(path, ec);
  if (ec || !fs::exists(status)) {
    if (!ec || ec == std::errc::no_such_file_or_directory) {
      return Fail(ErrorCode::kNotFound, path.string() + ": no such file");
    }
    return Fail(ErrorCode::kIoError, path.string() + ": " + ec.message());
  }
  if (!fs::is_regular_file(status)) {
    return Fail(ErrorCode::kIoError, path.string() + ": not a regular file");
  }
  const std::uintmax_t size = fs::file_size(path, ec);
  if (ec) {
    return Fail(ErrorCode::kIoError, path.string() + ": " + ec.message());
  }
  return static_cast<std::uint64_t>(size);
}

// Reads `count` bytes starting at `offset`; the caller has checked the size.
Result<std::vector<std::uint8_t>> ReadBytes(const fs::path& path,
                                            std::uint64_t offset,
                                            std::uint64_t count) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return Fail(ErrorCode::kIoError, path.string() + ": cannot open");
  }
  std::vector<std::uint8_t> bytes(static_cast<std::size_t>(count));
  if (offset > 0) in.seekg(static_cast<std::streamoff>(offset));
  in.read(reinterpret_cast<char*>(bytes.data()),
          static_cast<std::streamsize>(count));
  if (static_cast<std::uint64_t>(in.gcount()) != count) {
    return Fail(ErrorCode::kIoError,
                path.string() + ": read " + std::to_string(in.gcount()) +
                    " of " + std::to_string(count) + " bytes (file changed?)");
  }
  return bytes;
}

Result<std::vector<std::uint8_t>> ReadWholeFile(const fs::path& path,
                                                std::uint64_t max_bytes) {
  auto size = RegularFileSize(path);
  if (!size) return Fail(size.error());
  if (*size > max_bytes) {
    return Fail(ErrorCode::kCorruption,
                path.string() + ": " + std::to_string(*size) +
                    " bytes is larger than the " + std::to_string(max_bytes) +
                    "-byte limit for this kind of file");
  }
  return ReadBytes(path, 0, *size);
}

fs::path WithSuffix(const fs::path& record, std::string_view suffix) {
  fs::path path = record;
  path += ".";
  path += std::string(suffix);
  return path;
}

// Signal files are named relative to the header's folder; a header must not
// send the reader elsewhere (absolute paths, "..", stdin "-", null "~").
Status CheckSignalFileName(const std::string& name, const fs::path& header) {
  const fs::path path(name);
  bool escapes =
      name.empty() || path.is_absolute() || name == "-" || name == "~";
  for (const auto& part : path) escapes = escapes || part == "..";
  if (escapes) {
    return Fail(ErrorCode::kUnsupported,
                header.string() + ": signal file name '" + name +
                    "' is not a file beside the header");
  }
  return OkStatus();
}

std::uint64_t BytesForSamples(int format, std::uint64_t samples) {
  // 212: whole pairs take 3 bytes, an odd last sample 2 (see Finish()).
  return format == 212 ? samples / 2 * 3 + samples % 2 * 2 : samples * 2;
}

std::uint64_t SamplesInBytes(int format, std::uint64_t bytes) {
  return format == 212 ? bytes / 3 * 2 + (bytes % 3 >= 2 ? 1 : 0) : bytes / 2;
}

Result<Record> ReadRecordUnchecked(const fs::path& record) {
  const fs::path header_path = WithSuffix(record, "hea");
  auto header = ReadHeaderFile(record);
  if (!header) return Fail(header.error());
  Record result;
  result.header = std::move(*header);
  const RecordHeader& h = result.header;
  if (h.signals.empty()) return result;

  const SignalSpec& first = h.signals.front();
  for (std::size_t s = 0; s < h.signals.size(); ++s) {
    const SignalSpec& spec = h.signals[s];
    const std::string which =
        header_path.string() + ": signal " + std::to_string(s);
    if (spec.file_name != first.file_name) {
      return Fail(ErrorCode::kUnsupported,
                  which + ": signals in more than one file ('" +
                      first.file_name + "', '" + spec.file_name +
                      "') are not supported");
    }
    if (spec.samples_per_frame != 1 || spec.skew != 0) {
      return Fail(ErrorCode::kUnsupported,
                  which +
                      ": multi-frequency or skewed signals "
                      "(samples per frame " +
                      std::to_string(spec.samples_per_frame) + ", skew " +
                      std::to_string(spec.skew) + ") are not supported");
    }
    if (spec.byte_offset != first.byte_offset) {
      return Fail(ErrorCode::kUnsupported,
                  which +
                      ": signals of one file with different byte "
                      "offsets are not supported");
    }
  }
  auto decoder = SignalDecoder::Create(first.format);
  if (!decoder) {
    return Fail(
        decoder.error().WithContext(header_path.string() + ": signal 0"));
  }
  if (auto s = CheckSignalFileName(first.file_name, header_path); !s) {
    return Fail(s.error());
  }

  const fs::path dat_path = record.parent_path() / first.file_name;
  auto size = RegularFileSize(dat_path);
  if (!size) {
    return Fail(size.error().WithContext("signal file named in " +
                                         header_path.string()));
  }
  const auto offset = static_cast<std::uint64_t>(first.byte_offset);
  const std::uint64_t available = *size > offset ? *size - offset : 0;
  const auto num_signals = static_cast<std::uint64_t>(h.signals.size());
  const int format = first.format;

  // ParseHeader bounds frames (1e12) and signals (4096): no overflow here.
  const bool frames_known = h.num_frames > 0;
  std::uint64_t frames = static_cast<std::uint64_t>(h.num_frames);
  if (frames_known) {
    const std::uint64_t needed = BytesForSamples(format, frames * num_signals);
    if (available < needed) {
      return Fail(
          ErrorCode::kCorruption,
          dat_path.string() + ": truncated: " + std::to_string(frames) +
              " frames expected, " +
              std::to_string(SamplesInBytes(format, available) / num_signals) +
              " present");
    }
  } else {
    // Length unknown (0 in the header): the file decides, whole frames only.
    frames = SamplesInBytes(format, available) / num_signals;
  }
  const std::uint64_t total_samples = frames * num_signals;
  const std::uint64_t read_bytes = BytesForSamples(format, total_samples);
  if (read_bytes > kMaxSignalBytes) {
    return Fail(ErrorCode::kUnsupported,
                dat_path.string() + ": " + std::to_string(read_bytes) +
                    " bytes of samples exceed the in-memory limit");
  }
  auto bytes = ReadBytes(dat_path, offset, read_bytes);
  if (!bytes) return Fail(bytes.error());

  result.samples.reserve(static_cast<std::size_t>(total_samples) + 1);
  decoder->Feed(*bytes, &result.samples);
  decoder->Finish(&result.samples);
  // A 212 file with an odd sample count may carry one pad sample.
  result.samples.resize(static_cast<std::size_t>(total_samples));
  result.header.num_frames = static_cast<std::int64_t>(frames);

  if (frames_known) {
    // Header checksums are 16-bit sums over the whole signal (header(5)).
    std::vector<std::uint16_t> sums(h.signals.size(), 0);
    const std::size_t n = h.signals.size();
    const std::int16_t* p = result.samples.data();
    for (std::uint64_t f = 0; f < frames; ++f, p += n) {
      for (std::size_t s = 0; s < n; ++s) {
        sums[s] = static_cast<std::uint16_t>(sums[s] + p[s]);
      }
    }
    for (std::size_t s = 0; s < n; ++s) {
      const SignalSpec& spec = h.signals[s];
      if (!spec.has_checksum) continue;
      const auto expected = static_cast<std::uint16_t>(spec.checksum);
      if (sums[s] != expected) {
        return Fail(ErrorCode::kCorruption,
                    dat_path.string() + ": signal " + std::to_string(s) + " (" +
                        spec.description +
                        "): checksum mismatch: header says " +
                        std::to_string(static_cast<std::int16_t>(expected)) +
                        ", samples sum to " +
                        std::to_string(static_cast<std::int16_t>(sums[s])) +
                        " (mod 2^16)");
      }
    }
  }
  return result;
}

}  // namespace

Result<RecordHeader> ReadHeaderFile(const std::filesystem::path& record) {
  const fs::path path = WithSuffix(record, "hea");
  try {
    auto bytes = ReadWholeFile(path, kMaxHeaderBytes);
    if (!bytes) return Fail(bytes.error());
    auto header = ParseHeader(std::string_view(
        reinterpret_cast<const char*>(bytes->data()), bytes->size()));
    if (!header) return Fail(header.error().WithContext(path.string()));
    return header;
  } catch (const std::exception& e) {
    return Fail(ErrorCode::kIoError, path.string() + ": " + e.what());
  }
}

Result<Record> ReadRecord(const std::filesystem::path& record) {
  try {
    return ReadRecordUnchecked(record);
  } catch (const std::exception& e) {
    return Fail(ErrorCode::kIoError, record.string() + ": " + e.what());
  }
}

Result<std::vector<Annotation>> ReadAnnotationFile(
    const std::filesystem::path& record, std::string_view annotator) {
  if (annotator.empty() ||
      annotator.find_first_of("/\\") != std::string_view::npos) {
    return Fail(ErrorCode::kInvalidArgument, record.string() +
                                                 ": bad annotator name '" +
                                                 std::string(annotator) + "'");
  }
  const fs::path path = WithSuffix(record, annotator);
  try {
    auto bytes = ReadWholeFile(path, kMaxAnnotationBytes);
    if (!bytes) return Fail(bytes.error());
    auto annotations = ParseAnnotations(*bytes);
    if (!annotations) {
      return Fail(annotations.error().WithContext(path.string()));
    }
    return annotations;
  } catch (const std::exception& e) {
    return Fail(ErrorCode::kIoError, path.string() + ": " + e.what());
  }
}

Result<std::vector<float>> ToMillivolts(const Record& record,
                                        std::int64_t first_frame,
                                        std::int64_t end_frame) {
  const int n = record.num_signals();
  const std::int64_t frames = record.num_frames();
  if (end_frame < 0 || end_frame > frames) end_frame = frames;
  first_frame = std::clamp<std::int64_t>(first_frame, 0, end_frame);
  std::vector<double> scale(static_cast<std::size_t>(n));
  for (int s = 0; s < n; ++s) {
    const SignalSpec& spec = record.header.signals[static_cast<std::size_t>(s)];
    auto mv_per_adu = MillivoltsPerAdu(spec);
    if (!mv_per_adu) {
      return Fail(mv_per_adu.error().WithContext(
          "signal " + std::to_string(s) + " (" + spec.description + ")"));
    }
    scale[static_cast<std::size_t>(s)] = *mv_per_adu;
  }
  std::vector<float> mv(static_cast<std::size_t>((end_frame - first_frame) * n));
  const std::size_t offset = static_cast<std::size_t>(first_frame * n);
  for (std::size_t i = 0; i < mv.size(); ++i) {
    const std::size_t s = i % static_cast<std::size_t>(n);
    const int baseline = record.header.signals[s].baseline_adu;
    mv[i] = static_cast<float>((record.samples[offset + i] - baseline) * scale[s]);
  }
  return mv;
}

std::vector<std::string> SignalNames(const RecordHeader& header) {
  std::vector<std::string> names;
  for (const SignalSpec& spec : header.signals) names.push_back(spec.description);
  return names;
}

}  // namespace pulse::dsp::wfdb
