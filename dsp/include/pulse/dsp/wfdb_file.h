// WFDB records from files: thin wrappers over the sans-I/O parsers of
// `pulse/dsp/wfdb.h`. Lives in the separate `pulse_wfdb_io` library so that
// `pulse_dsp` itself does no I/O.
//
// A record is named by its path without extension, e.g.
// "../shared/data/mitdb/101"; its header is "<record>.hea" and its signal file
// is named in the header, relative to the header's folder.
//
// Every error message names the file and the problem (missing, truncated,
// unknown format, malformed field). Thread-safety: reentrant.
#ifndef PULSE_DSP_WFDB_FILE_H_
#define PULSE_DSP_WFDB_FILE_H_

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "pulse/base/result.h"
#include "pulse/dsp/wfdb.h"

namespace pulse::dsp::wfdb {

// A whole record in memory: samples interleaved frame by frame, in ADC units.
struct Record {
  RecordHeader header;
  std::vector<std::int16_t> samples;  // num_frames() * num_signals()

  int num_signals() const { return static_cast<int>(header.signals.size()); }
  std::int64_t num_frames() const {
    return header.signals.empty()
               ? 0
               : static_cast<std::int64_t>(samples.size()) /
                     num_signals();
  }
  std::int16_t at(std::int64_t frame, int signal) const {
    return samples[static_cast<std::size_t>(frame * num_signals() + signal)];
  }
};

// Reads and parses "<record>.hea".
Result<RecordHeader> ReadHeaderFile(const std::filesystem::path& record);

// Reads the header and the signal file(s). Requires every signal in one file
// with one format, one sample per frame and no skew (kUnsupported
// otherwise), the file named plainly beside the header (no absolute path,
// no "..", kUnsupported), and present (kNotFound naming both files). A
// signal file shorter than the header's frame count is kCorruption
// ("101.dat: truncated: 650000 frames expected, 649000 present"); bytes
// past it are ignored. A frame count of 0 (unknown) takes every whole frame
// in the file, and `header.num_frames` of the result is then that count.
// Header checksums, when present and the frame count is known, are
// verified (kCorruption naming the signal). The whole file is read at once:
// a 30-minute MIT-BIH record takes a few milliseconds.
Result<Record> ReadRecord(const std::filesystem::path& record);

// The samples of frames [first_frame, end_frame) of `record` in millivolts
// ((adu - baseline) * MillivoltsPerAdu), interleaved like Record::samples;
// end_frame -1 means the end of the record, and both are clamped to it.
// Fails with kUnsupported naming the signal whose units are not a voltage.
Result<std::vector<float>> ToMillivolts(const Record& record,
                                        std::int64_t first_frame = 0,
                                        std::int64_t end_frame = -1);

// Each signal's description ("MLII", "v1", "i", ...), in signal order.
std::vector<std::string> SignalNames(const RecordHeader& header);

// Reads "<record>.<annotator>", e.g. annotator "atr" or "ii".
Result<std::vector<Annotation>> ReadAnnotationFile(
    const std::filesystem::path& record, std::string_view annotator);

}  // namespace pulse::dsp::wfdb

#endif  // PULSE_DSP_WFDB_FILE_H_
