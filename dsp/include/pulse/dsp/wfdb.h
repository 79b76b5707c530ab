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
  std::vector<std::string> comments;  // '#' lines, without the '#' (and
                                      // CR); the rest is kept verbatim
};

// Parses the text of a `.hea` file. Multi-segment headers ("name/2 ...")
// are kUnsupported; malformed numbers or missing fields are kCorruption
// naming the line and field ("line 2 (signal 0), gain: 'x' is not a finite
// number"). Stricter than WFDB, which reads garbage as 0: every numeric
// field must be a whole number, the signal count 0..4096, the frame count
// 0..1e12 and the frequency in (0, 1e6] Hz; a non-comment line after the
// declared signal lines is an error. Comments ('#' lines) may appear
// anywhere; the record line's base time and date are ignored.
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
  // a packed pair). Non-zero at end of file means a truncated file, except
  // for the case Finish() handles.
  std::size_t pending_bytes() const { return pending_size_; }

  // Call at end of input. Format 212 stores an odd final sample in the
  // first 2 bytes of a pair (WFDB writes no third byte for it); Finish()
  // appends that sample. Returns the bytes still held back afterwards,
  // which can never form a sample: 0 unless the input was truncated.
  std::size_t Finish(std::vector<std::int16_t>* samples);

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

// True for codes that mark a QRS complex, exactly WFDB's isqrs() table
// (lib/ecgmap.h): N L R a V F J A S E j / Q, plus B (25), ? (30, beat not
// classified during learning), ! (31, ventricular flutter wave), e n f r.
bool IsBeat(AnnotationCode code);

// WFDB mnemonic of `code` (annstr() of lib/annot.c): "N", "V", "+", "(",
// ")", ...; codes without a mnemonic below 50 read "[15]", "[42]" etc.;
// values above 49 (never produced by ParseAnnotations) read "[invalid]".
std::string_view Mnemonic(AnnotationCode code);

// Parses a whole MIT-format annotation file. Returns kCorruption naming the
// byte offset for codes out of range (50..58), a truncated SKIP or AUX field,
// a SUB or AUX before any annotation, an annotation time before sample 0, or
// data after the end marker that is not zero padding. Times are cumulative,
// so a file without an end marker is accepted up to its last complete
// annotation only if it ends on a word boundary.
//
// As in WFDB's getann(): SUB, CHN, NUM and AUX words apply to the annotation
// they follow; `channel` and `num` then carry over to later annotations
// until changed, `subtype` and `aux` do not. `aux` ends at its first NUL
// byte (MIT files pad "(N" to "(N\0"). Code 0 with a non-zero interval is a
// kNotQrs annotation, not the end marker.
Result<std::vector<Annotation>> ParseAnnotations(
    std::span<const std::uint8_t> bytes);

}  // namespace pulse::dsp::wfdb

#endif  // PULSE_DSP_WFDB_H_
