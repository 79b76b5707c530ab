// WFDB input: sans-I/O parsers for PhysioNet records (header, signal, annotation).
//
// These functions take bytes or text that the caller has already read and
// never touch the filesystem; `pulse/dsp/wfdb_file.h` wraps them for files.
// Supported: single-segment headers (CR LF tolerated; `gain(baseline)/units`
// syntax), signal formats 212 (12-bit packed pairs) and 16 (little-endian
// int16), and MIT-format annotation files (SKIP, NUM, SUB, CHN, AUX).
// Reference: WFDB Programmer's Guide, "header(5)", "signal(5)", "annot(5)"
// (Moody, PhysioNet).
//
// Every failure is a Result error that names the field or byte offset at
// fault. Nothing here aborts, throws or reads out of bounds on any input.
//
// Thread-safety: free functions are reentrant; a SignalDecoder is a plain
// value that one thread at a time may use.
#ifndef PULSE_DSP_WFDB_H_
#define PULSE_DSP_WFDB_H_

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "pulse/base/result.h"

namespace pulse::dsp::wfdb {

// One signal line of a header.
struct SignalSpec {
  std::string file_name;      // e.g. "101.dat"; all signals of a record
                              // normally share one file
  int format = 0;             // 212 and 16 decode; others parse but are
                              // kUnsupported when read
  int samples_per_frame = 1;  // only 1 decodes
  int skew = 0;
  std::int64_t byte_offset = 0;
  double gain_adu_per_unit = 200.0;  // WFDB default when absent or 0
  int baseline_adu = 0;              // defaults to adc_zero when absent
  std::string units = "mV";          // physical units of `gain`
  int adc_resolution_bits = 12;
  int adc_zero = 0;
  int initial_value = 0;
  int checksum = 0;  // 16-bit sum of all samples, as written in the header
  bool has_checksum = false;
  int block_size = 0;
  std::string description;  // e.g. "MLII", "v1"
};

// Millivolts per ADC unit for `spec`, honouring its units ("mV", "uV", "V").
// Returns kUnsupported for other units (e.g. "mmHg").
Result<double> MillivoltsPerAdu(const SignalSpec& spec);

struct RecordHeader {
  std::string record_name;
  double sampling_frequency_hz = 250.0;  // WFDB default when absent
  std::int64_t num_frames = 0;           // samples per signal; 0 = unknown
  std::vector<SignalSpec> signals;
  std::vector<std::string> comments;  // '#' lines, without the '#'
};

// Parses the text of a `.hea` file. Multi-segment headers ("name/2 ...")
// are kUnsupported; malformed numbers or missing fields are kCorruption
// naming the line and field.
Result<RecordHeader> ParseHeader(std::string_view text);

// Streaming decoder from a signal file's bytes to samples in file order
// (frame by frame, signal by signal). Bytes may arrive in chunks of any size;
// the output is the same as for one chunk.
class SignalDecoder {
 public:
  // REQUIRES: format is 212 or 16 (else kUnsupported).
  static Result<SignalDecoder> Create(int format);

  // Decodes all complete samples in `bytes` (plus bytes held back from
  // earlier calls) and appends them to `samples`. Format 212 values are
  // sign-extended 12-bit; format 16 values are int16.
  void Feed(std::span<const std::uint8_t> bytes,
            std::vector<std::int16_t>* samples);

  // Bytes held back because they do not yet complete a sample (or, for 212,
  // a packed pair). Non-zero at end of file means a truncated file.
  std::size_t pending_bytes() const { return pending_size_; }

 private:
  explicit SignalDecoder(int format) : format_(format) {}
  int format_;
  std::uint8_t pending_[3] = {0, 0, 0};
  std::size_t pending_size_ = 0;
};

// Annotation codes of WFDB's <wfdb/ecgcodes.h>. Values are the on-disk codes
// and never change.
enum class AnnotationCode : std::uint8_t {
  kNotQrs = 0, kNormal = 1, kLbbb = 2, kRbbb = 3, kAberrant = 4, kPvc = 5,
  kFusion = 6, kNodalPremature = 7, kAtrialPremature = 8,
  kSupraventricularPremature = 9, kVentricularEscape = 10,
  kNodalEscape = 11, kPaced = 12, kUnknownBeat = 13, kNoise = 14,
  kArtifact = 16, kStChange = 18, kTChange = 19, kSystole = 20,
  kDiastole = 21, kNote = 22, kMeasurement = 23, kPWave = 24, kBbb = 25,
  kPacemakerSpike = 26, kTWave = 27, kRhythm = 28, kUWave = 29,
  kLearning = 30, kFlutterWave = 31, kVfOnset = 32, kVfOffset = 33,
  kAtrialEscape = 34, kSupraventricularEscape = 35, kLink = 36,
  kNonConductedP = 37, kPacedFusion = 38, kWaveformOnset = 39,
  kWaveformOffset = 40, kROnT = 41,
};

struct Annotation {
  std::int64_t sample = 0;  // sample (frame) index from record start
  AnnotationCode code = AnnotationCode::kNotQrs;
  std::int8_t subtype = 0;
  std::uint8_t channel = 0;
  std::uint8_t num = 0;
  std::string aux;  // e.g. "(AFIB" on rhythm annotations; may be empty
};

// True for codes that mark a QRS complex (WFDB's isqrs(): N L R a V F J A S E
// j / Q e n f r ...).
bool IsBeat(AnnotationCode code);

// WFDB mnemonic of `code`: "N", "V", "+", "(", ")", ... ; "?" if unassigned.
std::string_view Mnemonic(AnnotationCode code);

// Parses a whole MIT-format annotation file. Returns kCorruption naming the
// byte offset for codes out of range, a truncated SKIP or AUX field, or data
// after the end marker that is not padding. Times are cumulative, so a file
// without an end marker is accepted up to its last complete annotation only
// if it ends on a word boundary.
Result<std::vector<Annotation>> ParseAnnotations(
    std::span<const std::uint8_t> bytes);

}  // namespace pulse::dsp::wfdb

#endif  // PULSE_DSP_WFDB_H_
