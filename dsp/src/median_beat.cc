// Median beats. Design notes:
//
// - Class: the median of the normal beats is what intervals are measured
//   on; only when there are too few of them does another class stand in
//   (a ventricular rhythm), so that a record still gets a median beat.
// - Alignment: the detector's fiducial jitters by ~10 ms SD (docs/
//   accuracy.md), which would smear the QRS onset and offset of the median
//   by as much. Each beat is shifted to best match (cross-correlation) the
//   mean multi-lead slope magnitude |dx/dt| of all the chosen beats over
//   ±60 ms around the fiducial; the slope magnitude does not depend on the
//   polarity of a lead, nor on baseline offset.
// - Median, not mean: one beat with an artefact does not move it; with two
//   beats it is their mean (the two middle values).
// - Cost: L leads × N window samples × B beats. The per-sample median sorts
//   all columns at once with a sorting network (Batcher's odd-even merge
//   sort, Knuth TAOCP vol. 3 §5.3.4): branch-free min/max over contiguous
//   columns, which vectorises; an insertion sort per sample branches on
//   noise and was 5-10 times slower.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "pulse/dsp/median_beat.h"

namespace pulse::dsp {
namespace {

constexpr double kAlignHalfWidthS = 0.060;
// At fast rates the after-fiducial window is cut to max(0.6 RR, RR - 220
// ms) so that the next P wave and QRS stay out of it (a T wave ends before
// ~0.5 RR at any rate in Bazett's range).
constexpr double kAfterFractionOfRr = 0.6;
constexpr double kAfterMarginS = 0.220;
constexpr double kMinAfterS = 0.200;
// ... and the before-fiducial part to max(0.45 RR, 150 ms), so that the
// previous beat's T wave does not pass for a P wave (at 120/min, RR 500
// ms, the T wave of the beat before ends ~250 ms before the fiducial).
constexpr double kBeforeFractionOfRr = 0.45;
constexpr double kMinBeforeS = 0.150;

Status CheckRange(const char* field, double value, double lo, double hi) {
  if (!(value >= lo && value <= hi)) {
    return Fail(ErrorCode::kInvalidArgument,
                std::string(field) + ": " + std::to_string(value) +
                    " outside " + std::to_string(lo) + " .. " +
                    std::to_string(hi));
  }
  return OkStatus();
}

Status Validate(std::span<const float> x, int num_leads, double fs,
                std::span<const ClassifiedBeat> beats,
                const MedianBeatOptions& o) {
  if (num_leads < 1 || num_leads > 12) {
    return Fail(ErrorCode::kInvalidArgument,
                "num_leads: " + std::to_string(num_leads) + " outside 1 .. 12");
  }
  if (x.size() % static_cast<std::size_t>(num_leads) != 0) {
    return Fail(ErrorCode::kInvalidArgument,
                "interleaved_mv: size " + std::to_string(x.size()) +
                    " is not a multiple of num_leads");
  }
  for (const Status& s :
       {CheckRange("sample_rate_hz", fs, 80.0, 2000.0),
        CheckRange("window_before_ms", o.window_before_ms, 100.0, 1000.0),
        CheckRange("window_after_ms", o.window_after_ms, 200.0, 1500.0),
        CheckRange("min_beats", o.min_beats, 1.0, 1000.0),
        CheckRange("align_search_ms", o.align_search_ms, 0.0, 60.0)}) {
    if (!s) return s;
  }
  for (std::size_t i = 1; i < beats.size(); ++i) {
    if (beats[i].sample < beats[i - 1].sample) {
      return Fail(ErrorCode::kInvalidArgument,
                  "beats: sample of beat " + std::to_string(i) +
                      " is before that of the beat before it");
    }
  }
  return OkStatus();
}

float Finite(float v) { return std::isfinite(v) ? v : 0.0f; }

// The class to average: normal when there are enough normal beats.
BeatClass ChooseClass(std::span<const ClassifiedBeat> beats, int min_beats) {
  int counts[3] = {0, 0, 0};
  for (const ClassifiedBeat& b : beats) {
    const int c = static_cast<int>(b.beat_class);
    if (c >= 0 && c < 3) ++counts[c];
  }
  if (counts[0] >= min_beats) return BeatClass::kNormal;
  return counts[1] >= counts[2] ? BeatClass::kVentricular : BeatClass::kUnknown;
}

double MedianOf(std::vector<double> v) {
  if (v.empty()) return 0.0;
  const std::size_t mid = v.size() / 2;
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(mid),
                   v.end());
  return v[mid];
}

// Multi-lead slope magnitude of frames [from, from + n) (all in range).
void SlopeMagnitude(std::span<const float> x, int num_leads, std::int64_t from,
                    std::int64_t n, std::vector<float>* out) {
  out->assign(static_cast<std::size_t>(n), 0.0f);
  const auto L = static_cast<std::size_t>(num_leads);
  for (std::int64_t i = 0; i < n; ++i) {
    const auto a = static_cast<std::size_t>(from + i - 1) * L;
    const auto b = static_cast<std::size_t>(from + i + 1) * L;
    float sum = 0.0f;
    for (std::size_t l = 0; l < L; ++l) {
      sum += std::fabs(Finite(x[b + l]) - Finite(x[a + l]));
    }
    (*out)[static_cast<std::size_t>(i)] = sum;
  }
}

// Shifts (frames) that best align each beat's slope magnitude with their
// mean. REQUIRES: every beat's ±(half + search + 1) frames are in range.
std::vector<std::int64_t> AlignmentShifts(std::span<const float> x,
                                          int num_leads,
                                          const std::vector<std::int64_t>& at,
                                          std::int64_t half,
                                          std::int64_t search) {
  const std::int64_t n = 2 * (half + search) + 1;
  std::vector<std::vector<float>> slopes(at.size());
  std::vector<double> mean(static_cast<std::size_t>(2 * half + 1), 0.0);
  for (std::size_t b = 0; b < at.size(); ++b) {
    SlopeMagnitude(x, num_leads, at[b] - half - search, n, &slopes[b]);
    for (std::int64_t k = 0; k <= 2 * half; ++k) {
      mean[static_cast<std::size_t>(k)] +=
          slopes[b][static_cast<std::size_t>(k + search)];
    }
  }
  std::vector<std::int64_t> shifts(at.size(), 0);
  if (search == 0 || at.size() < 2) return shifts;
  for (std::size_t b = 0; b < at.size(); ++b) {
    double best = -1.0;
    for (std::int64_t s = -search; s <= search; ++s) {
      double dot = 0.0;
      for (std::int64_t k = 0; k <= 2 * half; ++k) {
        dot += mean[static_cast<std::size_t>(k)] *
               slopes[b][static_cast<std::size_t>(k + search + s)];
      }
      // Ties keep the smallest |shift| (s = 0 is tried in order).
      if (dot > best * (1.0 + 1e-9) ||
          (dot >= best && std::abs(s) < std::abs(shifts[b]))) {
        best = dot;
        shifts[b] = s;
      }
    }
  }
  return shifts;
}

// Comparators (i, j), i < j, of Batcher's odd-even merge sort for n
// elements (the network for the next power of two, without the comparators
// that touch the padding, which would hold +inf and never move).
std::vector<std::pair<std::uint32_t, std::uint32_t>> SortingNetwork(
    std::size_t n) {
  std::vector<std::pair<std::uint32_t, std::uint32_t>> out;
  std::size_t size = 1;
  while (size < n) size <<= 1;
  for (std::size_t p = 1; p < size; p <<= 1) {
    for (std::size_t k = p; k >= 1; k >>= 1) {
      for (std::size_t j = k % p; j + k < size; j += 2 * k) {
        for (std::size_t i = 0; i < std::min(k, size - j - k); ++i) {
          if ((i + j) / (2 * p) != (i + j + k) / (2 * p)) continue;
          if (i + j + k < n) {
            out.emplace_back(static_cast<std::uint32_t>(i + j),
                             static_cast<std::uint32_t>(i + j + k));
          }
        }
      }
    }
  }
  return out;
}

// Sorts every column of `rows` (num_rows rows of num_cols values) in place
// with the comparator network, branch-free, a block of columns at a time so
// that the block stays in L1; the inner loops vectorise.
void SortColumns(
    const std::vector<std::pair<std::uint32_t, std::uint32_t>>& network,
    std::size_t num_rows, std::size_t num_cols, std::vector<float>* rows) {
  constexpr std::size_t kBlock = 256;
  float* data = rows->data();
  for (std::size_t c0 = 0; c0 < num_cols; c0 += kBlock) {
    const std::size_t width = std::min(kBlock, num_cols - c0);
    for (const auto& [p, q] : network) {
      float* a = data + p * num_cols + c0;
      float* b = data + q * num_cols + c0;
      for (std::size_t c = 0; c < width; ++c) {
        const float lo = std::min(a[c], b[c]);
        const float hi = std::max(a[c], b[c]);
        a[c] = lo;
        b[c] = hi;
      }
    }
  }
  (void)num_rows;
}

}  // namespace

Result<MedianBeatSet> BuildMedianBeats(std::span<const float> interleaved_mv,
                                       int num_leads, double sample_rate_hz,
                                       std::span<const ClassifiedBeat> beats,
                                       const MedianBeatOptions& options) {
  if (Status s = Validate(interleaved_mv, num_leads, sample_rate_hz, beats,
                          options);
      !s) {
    return Fail(s.error());
  }
  const double fs = sample_rate_hz;
  const std::int64_t frames =
      static_cast<std::int64_t>(interleaved_mv.size()) / num_leads;
  const BeatClass chosen = ChooseClass(beats, options.min_beats);

  std::vector<std::int64_t> at;
  std::vector<double> rr_s;
  for (std::size_t i = 0; i < beats.size(); ++i) {
    if (beats[i].beat_class != chosen) continue;
    at.push_back(beats[i].sample);
    if (i + 1 < beats.size() && beats[i + 1].sample > beats[i].sample) {
      rr_s.push_back(static_cast<double>(beats[i + 1].sample -
                                         beats[i].sample) / fs);
    }
  }
  double after_s = options.window_after_ms / 1000.0;
  double before_s = options.window_before_ms / 1000.0;
  if (!rr_s.empty()) {
    const double rr = MedianOf(rr_s);
    const double cut =
        std::max({kAfterFractionOfRr * rr, rr - kAfterMarginS, kMinAfterS});
    after_s = std::min(after_s, cut);
    before_s = std::min(before_s, std::max(kBeforeFractionOfRr * rr,
                                           kMinBeforeS));
  }
  const auto before =
      static_cast<std::int64_t>(std::lround(before_s * fs));
  const auto after = static_cast<std::int64_t>(std::lround(after_s * fs));
  const auto search = static_cast<std::int64_t>(
      std::lround(options.align_search_ms / 1000.0 * fs));
  const auto half =
      std::max<std::int64_t>(1, std::lround(kAlignHalfWidthS * fs));
  const std::int64_t margin = std::max(before, half) + search + 1;
  const std::int64_t margin_after = std::max(after, half) + search + 2;

  std::vector<std::int64_t> usable;
  for (std::int64_t s : at) {
    if (s - margin >= 0 && s + margin_after <= frames) usable.push_back(s);
  }
  if (usable.empty() ||
      static_cast<int>(usable.size()) < options.min_beats) {
    return Fail(ErrorCode::kOutOfRange,
                "too few beats for a median beat: " +
                    std::to_string(usable.size()) + " usable of class " +
                    std::string(BeatClassName(chosen)) + ", " +
                    std::to_string(options.min_beats) + " required");
  }
  const std::vector<std::int64_t> shifts =
      AlignmentShifts(interleaved_mv, num_leads, usable, half, search);

  MedianBeatSet set;
  set.sample_rate_hz = fs;
  set.num_leads = num_leads;
  set.length_frames = before + after + 1;
  set.fiducial_index = before;
  set.beat_class = chosen;
  set.beats_used = static_cast<int>(usable.size());
  set.samples_mv.resize(static_cast<std::size_t>(num_leads) *
                        static_cast<std::size_t>(set.length_frames));
  const std::size_t B = usable.size();
  const auto L = static_cast<std::size_t>(num_leads);
  const auto n = static_cast<std::size_t>(set.length_frames);
  const std::size_t C = L * n;  // columns: one per lead and window sample
  // Gather every beat's window once, reading the record in order:
  // rows[beat * C + lead * n + i].
  std::vector<float> rows(B * C);
  for (std::size_t b = 0; b < B; ++b) {
    const auto first = static_cast<std::size_t>(usable[b] + shifts[b] - before);
    float* row = rows.data() + b * C;
    for (std::size_t i = 0; i < n; ++i) {
      const float* frame = interleaved_mv.data() + (first + i) * L;
      for (std::size_t l = 0; l < L; ++l) row[l * n + i] = Finite(frame[l]);
    }
  }
  SortColumns(SortingNetwork(B), B, C, &rows);
  const float* mid = rows.data() + (B / 2) * C;
  const float* below = rows.data() + ((B - 1) / 2) * C;
  for (std::size_t c = 0; c < C; ++c) {
    set.samples_mv[c] = 0.5f * (mid[c] + below[c]);
  }
  return set;
}

}  // namespace pulse::dsp
