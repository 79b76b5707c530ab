// Codec 2, `predictive_rice` (docs/formats/waveform_segment.md).
//
// Encoder, per channel: (1) pick the fixed polynomial order 0-4 with the
// least sum |e| (the order-k fixed residual is the k-th difference, FLAC
// format spec, "SUBFRAME_FIXED"); (2) for orders 1-3, greedily pick up to
// three earlier channels whose residuals predict this one's by least
// squares (the 12-lead case: III, aVR, aVL, aVF are linear in I and II at any
// per-lead gain); keep whichever model has the least sum |r|; (3) choose the
// Rice partition size and per-partition parameter (Rice 1979; FLAC's
// partitioned Rice coding, Coalson) and write.
//
// Decoder: follows the stream; every field is range-checked before use, the
// reader supplies zeros past the end (see bit_io.h) and truncation is
// reported per channel, and every rebuilt sample is checked against int16.
#include "predictive_rice.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdlib>
#include <string>

#include "bit_io.h"

namespace pulse::engine::waveform_internal {
namespace {

constexpr int kMaxOrder = 4;
constexpr int kMaxRefs = 3;
constexpr int kMaxRiceParameter = 24;
constexpr std::uint32_t kZeroPartition = 31;
constexpr int kEscapeZeros = 32;
constexpr int kMinPartitionExponent = 4;  // encoder's choices: 16 .. 1024
constexpr int kMaxPartitionExponent = 10;
constexpr double kMaxRefCoefficient = 4.0;
constexpr double kMinEnergyGain = 0.95;  // each reference must cut >= 5 %

struct ChannelModel {
  int order = 0;
  int num_refs = 0;
  int shift = 0;
  std::array<int, kMaxRefs> ref{};
  std::array<std::int32_t, kMaxRefs> coef{};
};

// Fixed polynomial prediction of p[0] from p[-s], p[-2s], ... (p points at
// sample t of one channel in an interleaved buffer with stride s).
template <int K>
inline std::int64_t PredictFixed(const std::int16_t* p, std::ptrdiff_t s) {
  if constexpr (K == 0) {
    return 0;
  } else if constexpr (K == 1) {
    return p[-s];
  } else if constexpr (K == 2) {
    return 2 * std::int64_t{p[-s]} - p[-2 * s];
  } else if constexpr (K == 3) {
    return 3 * (std::int64_t{p[-s]} - p[-2 * s]) + p[-3 * s];
  } else {
    return 4 * (std::int64_t{p[-s]} + p[-3 * s]) - 6 * std::int64_t{p[-2 * s]} -
           p[-4 * s];
  }
}

inline std::int64_t PredictFixed(int order, const std::int16_t* p,
                                 std::ptrdiff_t s) {
  switch (order) {
    case 0: return PredictFixed<0>(p, s);
    case 1: return PredictFixed<1>(p, s);
    case 2: return PredictFixed<2>(p, s);
    case 3: return PredictFixed<3>(p, s);
    default: return PredictFixed<4>(p, s);
  }
}

// Order-k fixed residual of the channel whose sample t is at p, with the
// warm-up ramp m = min(k, t).
inline std::int64_t FixedResidual(int order, std::int64_t t,
                                  const std::int16_t* p, std::ptrdiff_t s) {
  const int m = t < order ? static_cast<int>(t) : order;
  return p[0] - PredictFixed(m, p, s);
}

inline std::uint32_t ZigZag(std::int32_t r) {
  return (static_cast<std::uint32_t>(r) << 1) ^
         static_cast<std::uint32_t>(r >> 31);
}

inline std::int32_t UnZigZag(std::uint32_t u) {
  return static_cast<std::int32_t>(u >> 1) ^
         -static_cast<std::int32_t>(u & 1u);
}

// The inter-channel term ((sum a_i e_i + h) >> s) at time t.
inline std::int64_t RefPrediction(const ChannelModel& m, std::int64_t t,
                                  const std::int16_t* frame,
                                  std::ptrdiff_t stride) {
  std::int64_t sum = 0;
  for (int i = 0; i < m.num_refs; ++i) {
    sum += std::int64_t{m.coef[i]} *
           FixedResidual(m.order, t, frame + m.ref[i], stride);
  }
  const std::int64_t half = m.shift > 0 ? std::int64_t{1} << (m.shift - 1) : 0;
  return (sum + half) >> m.shift;  // arithmetic shift (C++20)
}

// --- Encoder -------------------------------------------------------------

// Fills r[] with channel c's residuals under `model`; returns sum |r|.
template <int K>
std::uint64_t ComputeResidualsK(std::span<const std::int16_t> x, int channels,
                                std::int64_t frames, int c,
                                const ChannelModel& m, std::int32_t* r) {
  const std::ptrdiff_t s = channels;
  std::uint64_t l1 = 0;
  const std::int64_t half = m.shift > 0 ? std::int64_t{1} << (m.shift - 1) : 0;
  for (std::int64_t t = 0; t < frames; ++t) {
    const std::int16_t* frame = x.data() + t * channels;
    std::int64_t v;
    if (t < K) [[unlikely]] {
      v = FixedResidual(K, t, frame + c, s);
      if (m.num_refs > 0) v -= RefPrediction(m, t, frame, s);
    } else {
      v = frame[c] - PredictFixed<K>(frame + c, s);
      if (m.num_refs > 0) {
        std::int64_t sum = 0;
        for (int i = 0; i < m.num_refs; ++i) {
          const std::int16_t* p = frame + m.ref[i];
          sum += std::int64_t{m.coef[i]} * (p[0] - PredictFixed<K>(p, s));
        }
        v -= (sum + half) >> m.shift;
      }
    }
    // |v| < 2^23 by the coefficient bound (|a| <= 4, <= 3 refs, |e| <= 2^19).
    r[t] = static_cast<std::int32_t>(v);
    l1 += static_cast<std::uint64_t>(v < 0 ? -v : v);
  }
  return l1;
}

std::uint64_t ComputeResiduals(std::span<const std::int16_t> x, int channels,
                               std::int64_t frames, int c,
                               const ChannelModel& model,
                               std::vector<std::int32_t>* r) {
  std::int32_t* out = r->data();
  switch (model.order) {
    case 0: return ComputeResidualsK<0>(x, channels, frames, c, model, out);
    case 1: return ComputeResidualsK<1>(x, channels, frames, c, model, out);
    case 2: return ComputeResidualsK<2>(x, channels, frames, c, model, out);
    case 3: return ComputeResidualsK<3>(x, channels, frames, c, model, out);
    default: return ComputeResidualsK<4>(x, channels, frames, c, model, out);
  }
}

// Solves A a = b (n <= 3) by Gaussian elimination with partial pivoting.
// Returns false when A is (numerically) singular.
bool SolveSmall(int n, std::array<std::array<double, kMaxRefs>, kMaxRefs> a,
                std::array<double, kMaxRefs> b,
                std::array<double, kMaxRefs>* x) {
  double scale = 0;
  for (int i = 0; i < n; ++i) scale = std::max(scale, std::abs(a[i][i]));
  if (scale <= 0) return false;
  for (int col = 0; col < n; ++col) {
    int pivot = col;
    for (int row = col + 1; row < n; ++row) {
      if (std::abs(a[row][col]) > std::abs(a[pivot][col])) pivot = row;
    }
    if (std::abs(a[pivot][col]) <= 1e-9 * scale) return false;
    std::swap(a[pivot], a[col]);
    std::swap(b[pivot], b[col]);
    for (int row = col + 1; row < n; ++row) {
      const double f = a[row][col] / a[col][col];
      for (int k = col; k < n; ++k) a[row][k] -= f * a[col][k];
      b[row] -= f * b[col];
    }
  }
  for (int row = n - 1; row >= 0; --row) {
    double v = b[row];
    for (int k = row + 1; k < n; ++k) v -= a[row][k] * (*x)[k];
    (*x)[row] = v / a[row][row];
  }
  return true;
}

// Covariances of the order-k fixed residuals of every channel pair, k = 1..3,
// and sum |e| per channel for k = 0..4, in one pass. Lower triangle only.
struct Statistics {
  int channels = 0;
  std::array<std::vector<std::uint64_t>, kMaxOrder + 1> l1;
  std::array<std::vector<std::int64_t>, kMaxRefs + 1> gram;  // [1..3] used

  std::int64_t G(int k, int a, int b) const {
    if (a < b) std::swap(a, b);
    return gram[k][static_cast<std::size_t>(a * channels + b)];
  }
};

Statistics Gather(std::span<const std::int16_t> x, int channels,
                  std::int64_t frames) {
  Statistics st;
  st.channels = channels;
  const auto nc = static_cast<std::size_t>(channels);
  for (auto& v : st.l1) v.assign(nc, 0);
  const bool want_gram = channels > 1;
  if (want_gram) {
    for (int k = 1; k <= kMaxRefs; ++k) st.gram[k].assign(nc * nc, 0);
  }
  // pk[c]: k-th difference of channel c at t-1 (zero history before t = 0).
  // Plain scalars, not small arrays: copying a just-written array stalls on
  // store forwarding.
  std::vector<std::int64_t> p0(nc), p1(nc), p2(nc), p3(nc);
  std::array<std::vector<std::int64_t>, kMaxRefs + 1> e;  // [1..3] used
  for (int k = 1; k <= kMaxRefs; ++k) e[k].assign(nc, 0);
  std::array<std::uint64_t*, kMaxOrder + 1> l1;
  for (int k = 0; k <= kMaxOrder; ++k) l1[k] = st.l1[k].data();
  const auto abs64 = [](std::int64_t v) {
    return static_cast<std::uint64_t>(v < 0 ? -v : v);
  };
  for (std::int64_t t = 0; t < frames; ++t) {
    const std::int16_t* frame = x.data() + t * channels;
    for (std::size_t c = 0; c < nc; ++c) {
      std::int64_t d0 = frame[c];
      std::int64_t d1 = d0 - p0[c];
      std::int64_t d2 = d1 - p1[c];
      std::int64_t d3 = d2 - p2[c];
      std::int64_t d4 = d3 - p3[c];
      p0[c] = d0;
      p1[c] = d1;
      p2[c] = d2;
      p3[c] = d3;
      if (t < kMaxOrder) [[unlikely]] {  // warm-up ramp: order min(k, t)
        if (t == 0) d1 = d0;
        if (t <= 1) d2 = d1;
        if (t <= 2) d3 = d2;
        d4 = d3;
      }
      e[1][c] = d1;
      e[2][c] = d2;
      e[3][c] = d3;
      l1[0][c] += abs64(d0);
      l1[1][c] += abs64(d1);
      l1[2][c] += abs64(d2);
      l1[3][c] += abs64(d3);
      l1[4][c] += abs64(d4);
    }
    if (!want_gram) continue;
    for (int k = 1; k <= kMaxRefs; ++k) {
      std::int64_t* g = st.gram[k].data();
      const std::int64_t* ek = e[k].data();
      for (std::size_t a = 0; a < nc; ++a) {
        const std::int64_t ea = ek[a];
        if (ea == 0) continue;
        std::int64_t* row = g + a * nc;
        for (std::size_t b = 0; b <= a; ++b) row[b] += ea * ek[b];
      }
    }
  }
  return st;
}

// Greedy forward selection of up to kMaxRefs earlier channels predicting
// channel c's order-k residual. Returns false when none helps enough.
bool SelectReferences(const Statistics& st, int k, int c, ChannelModel* out) {
  const double gcc = static_cast<double>(st.G(k, c, c));
  if (gcc <= 0) return false;
  std::array<int, kMaxRefs> chosen{};
  std::array<double, kMaxRefs> best_coef{};
  int n = 0;
  double best_energy = gcc;
  while (n < kMaxRefs) {
    int best_j = -1;
    double step_energy = best_energy;
    std::array<double, kMaxRefs> step_coef{};
    for (int j = 0; j < c; ++j) {
      if (std::find(chosen.begin(), chosen.begin() + n, j) !=
          chosen.begin() + n) {
        continue;
      }
      if (st.G(k, j, j) <= 0) continue;
      std::array<int, kMaxRefs> set = chosen;
      set[n] = j;
      const int m = n + 1;
      std::array<std::array<double, kMaxRefs>, kMaxRefs> a{};
      std::array<double, kMaxRefs> b{};
      for (int p = 0; p < m; ++p) {
        for (int q = 0; q < m; ++q) {
          a[p][q] = static_cast<double>(st.G(k, set[p], set[q]));
        }
        b[p] = static_cast<double>(st.G(k, set[p], c));
      }
      std::array<double, kMaxRefs> coef{};
      if (!SolveSmall(m, a, b, &coef)) continue;
      bool bounded = true;
      double explained = 0;
      for (int p = 0; p < m; ++p) {
        bounded = bounded && std::abs(coef[p]) <= kMaxRefCoefficient;
        explained += coef[p] * b[p];
      }
      if (!bounded) continue;
      const double energy = gcc - explained;
      if (energy < step_energy) {
        step_energy = energy;
        best_j = j;
        step_coef = coef;
      }
    }
    if (best_j < 0 || step_energy > kMinEnergyGain * best_energy) break;
    chosen[n++] = best_j;
    best_coef = step_coef;
    best_energy = step_energy;
  }
  if (n == 0) return false;

  double max_abs = 0;
  for (int i = 0; i < n; ++i) max_abs = std::max(max_abs, std::abs(best_coef[i]));
  int shift = 15;
  while (shift > 0 && std::llround(std::ldexp(max_abs, shift)) > 32767) --shift;
  ChannelModel m;
  m.order = k;
  m.shift = shift;
  for (int i = 0; i < n; ++i) {
    const auto q = static_cast<std::int32_t>(
        std::llround(std::ldexp(best_coef[i], shift)));
    if (q == 0) continue;
    m.ref[m.num_refs] = chosen[i];
    m.coef[m.num_refs] = q;
    ++m.num_refs;
  }
  if (m.num_refs == 0) return false;
  *out = m;
  return true;
}

// Estimated Rice bits for a partition of n values summing to `sum` (FLAC's
// estimate: sum >> k overstates sum(u >> k) by at most n).
std::uint64_t EstimateRiceBits(std::uint64_t n, std::uint64_t sum,
                               int* best_k) {
  if (sum == 0) {
    *best_k = -1;
    return 0;
  }
  const int mean_width = static_cast<int>(std::bit_width(sum / n));
  std::uint64_t best = UINT64_MAX;
  for (int k = std::max(0, mean_width - 2);
       k <= std::min(kMaxRiceParameter, mean_width + 1); ++k) {
    const std::uint64_t bits = n * static_cast<std::uint64_t>(k + 1) + (sum >> k);
    if (bits < best) {
      best = bits;
      *best_k = k;
    }
  }
  return best;
}

// Exact bits of the partition `u` at Rice parameters k-1, k, k+1 (escape
// included), in one pass.
std::array<std::uint64_t, 3> ExactRiceBits(std::span<const std::uint32_t> u,
                                           int k) {
  std::array<std::uint64_t, 3> bits{};
  for (const std::uint32_t v : u) {
    for (int i = 0; i < 3; ++i) {
      const int kk = k - 1 + i;
      if (kk < 0 || kk > kMaxRiceParameter) continue;
      const std::uint32_t q = v >> kk;
      bits[i] += q < kEscapeZeros ? q + 1 + static_cast<std::uint32_t>(kk)
                                  : 2 * kEscapeZeros;
    }
  }
  return bits;
}

void WriteChannel(const ChannelModel& model, std::span<const std::int32_t> r,
                  std::vector<std::uint32_t>* u_buffer, BitWriter* w) {
  w->Put(static_cast<std::uint64_t>(model.order), 3);
  w->Put(static_cast<std::uint64_t>(model.num_refs), 2);
  if (model.num_refs > 0) {
    w->Put(static_cast<std::uint64_t>(model.shift), 4);
    for (int i = 0; i < model.num_refs; ++i) {
      w->Put(static_cast<std::uint64_t>(model.ref[i]), 6);
      w->Put(static_cast<std::uint16_t>(model.coef[i]), 16);
    }
  }
  const std::size_t n = r.size();
  std::vector<std::uint32_t>& u = *u_buffer;
  for (std::size_t t = 0; t < n; ++t) u[t] = ZigZag(r[t]);

  // Partition size: the estimate for each candidate, from 16-value sums.
  constexpr std::size_t kBase = std::size_t{1} << kMinPartitionExponent;
  std::vector<std::uint64_t> base_sums((n + kBase - 1) / kBase, 0);
  for (std::size_t t = 0; t < n; ++t) base_sums[t / kBase] += u[t];
  int best_p = kMinPartitionExponent;
  std::uint64_t best_bits = UINT64_MAX;
  for (int p = kMinPartitionExponent; p <= kMaxPartitionExponent; ++p) {
    const std::size_t len = std::size_t{1} << p;
    const std::size_t per = len / kBase;
    std::uint64_t bits = 0;
    for (std::size_t start = 0; start < n; start += len) {
      const std::size_t count = std::min(len, n - start);
      std::uint64_t sum = 0;
      const std::size_t b0 = start / kBase;
      for (std::size_t b = b0; b < std::min(b0 + per, base_sums.size()); ++b) {
        sum += base_sums[b];
      }
      int k = 0;
      bits += 5 + EstimateRiceBits(count, sum, &k);
    }
    if (bits < best_bits) {
      best_bits = bits;
      best_p = p;
    }
    if (len >= n) break;  // larger partitions are all one partition
  }
  w->Put(static_cast<std::uint64_t>(best_p), 4);

  const std::size_t len = std::size_t{1} << best_p;
  for (std::size_t start = 0; start < n; start += len) {
    const std::span<const std::uint32_t> part(u.data() + start,
                                              std::min(len, n - start));
    std::uint64_t sum = 0;
    for (const std::uint32_t v : part) sum += v;
    int k_est = 0;
    EstimateRiceBits(part.size(), sum, &k_est);
    if (k_est < 0) {
      w->Put(kZeroPartition, 5);
      continue;
    }
    const std::array<std::uint64_t, 3> bits = ExactRiceBits(part, k_est);
    int k = k_est;
    for (const int cand : {k_est - 1, k_est + 1}) {
      if (cand < 0 || cand > kMaxRiceParameter) continue;
      if (bits[cand - k_est + 1] < bits[k - k_est + 1]) k = cand;
    }
    w->Put(static_cast<std::uint64_t>(k), 5);
    const std::uint32_t mask = (std::uint32_t{1} << k) - 1;
    for (const std::uint32_t v : part) {
      const std::uint32_t q = v >> k;
      if (q < static_cast<std::uint32_t>(kEscapeZeros)) {
        w->Put((std::uint64_t{v & mask} << (q + 1)) | (std::uint64_t{1} << q),
               static_cast<int>(q) + 1 + k);
      } else {
        w->Put(0, kEscapeZeros);
        w->Put(v, 32);
      }
    }
  }
}

// --- Decoder -------------------------------------------------------------

Error ChannelError(int c, const std::string& what) {
  return Error(ErrorCode::kCorruption,
               "waveform payload: channel " + std::to_string(c) + ": " + what);
}

// Rebuilds channel c (no references) from residuals, order K.
template <int K>
bool RebuildFixed(std::span<const std::int32_t> r, int channels, int c,
                  std::span<std::int16_t> out, std::int64_t* bad_t) {
  const std::ptrdiff_t s = channels;
  const auto n = static_cast<std::int64_t>(r.size());
  std::int16_t* base = out.data() + c;
  for (std::int64_t t = 0; t < n; ++t) {
    std::int16_t* p = base + t * channels;
    const std::int64_t pred = t < K ? PredictFixed(static_cast<int>(t), p, s)
                                    : PredictFixed<K>(p, s);
    const std::int64_t v = pred + r[static_cast<std::size_t>(t)];
    if (v < INT16_MIN || v > INT16_MAX) {
      *bad_t = t;
      return false;
    }
    *p = static_cast<std::int16_t>(v);
  }
  return true;
}

bool RebuildWithRefs(const ChannelModel& m, std::span<const std::int32_t> r,
                     int channels, int c, std::span<std::int16_t> out,
                     std::int64_t* bad_t) {
  const std::ptrdiff_t s = channels;
  const auto n = static_cast<std::int64_t>(r.size());
  for (std::int64_t t = 0; t < n; ++t) {
    std::int16_t* frame = out.data() + t * channels;
    const int order = t < m.order ? static_cast<int>(t) : m.order;
    const std::int64_t v = PredictFixed(order, frame + c, s) +
                           RefPrediction(m, t, frame, s) +
                           r[static_cast<std::size_t>(t)];
    if (v < INT16_MIN || v > INT16_MAX) {
      *bad_t = t;
      return false;
    }
    frame[c] = static_cast<std::int16_t>(v);
  }
  return true;
}

}  // namespace

bool EncodePredictiveRice(std::span<const std::int16_t> interleaved,
                          int channels, std::int64_t frames,
                          std::size_t max_bytes,
                          std::vector<std::uint8_t>* out) {
  const Statistics st = Gather(interleaved, channels, frames);
  const auto n = static_cast<std::size_t>(frames);
  std::vector<std::int32_t> best(n), trial(n);
  std::vector<std::uint32_t> u(n);
  BitWriter w(out, max_bytes);
  for (int c = 0; c < channels; ++c) {
    ChannelModel model;
    std::uint64_t best_l1 = UINT64_MAX;
    for (int k = 0; k <= kMaxOrder; ++k) {
      if (st.l1[k][c] < best_l1) {
        best_l1 = st.l1[k][c];
        model.order = k;
      }
    }
    ComputeResiduals(interleaved, channels, frames, c, model, &best);
    for (int k = 1; k <= kMaxRefs && c > 0; ++k) {
      ChannelModel cand;
      if (!SelectReferences(st, k, c, &cand)) continue;
      const std::uint64_t l1 =
          ComputeResiduals(interleaved, channels, frames, c, cand, &trial);
      if (l1 < best_l1) {
        best_l1 = l1;
        model = cand;
        best.swap(trial);
      }
    }
    WriteChannel(model, best, &u, &w);
    if (w.overflowed()) return false;
  }
  return w.Finish();
}

Status DecodePredictiveRice(std::span<const std::uint8_t> payload,
                            int channels, std::int64_t frames,
                            std::span<std::int16_t> out) {
  BitReader reader(payload);
  const auto n = static_cast<std::size_t>(frames);
  std::vector<std::int32_t> r(n);
  for (int c = 0; c < channels; ++c) {
    ChannelModel m;
    m.order = static_cast<int>(reader.Read(3));
    if (m.order > kMaxOrder) {
      return Fail(ChannelError(
          c, "invalid predictor order " + std::to_string(m.order)));
    }
    m.num_refs = static_cast<int>(reader.Read(2));
    if (m.num_refs > c) {
      return Fail(ChannelError(c, std::to_string(m.num_refs) +
                                      " references to earlier channels"));
    }
    if (m.num_refs > 0) {
      m.shift = static_cast<int>(reader.Read(4));
      for (int i = 0; i < m.num_refs; ++i) {
        m.ref[i] = static_cast<int>(reader.Read(6));
        m.coef[i] = static_cast<std::int16_t>(reader.Read(16));
        if (m.ref[i] >= c) {
          return Fail(ChannelError(c, "reference to channel " +
                                          std::to_string(m.ref[i]) +
                                          ", not an earlier one"));
        }
        for (int j = 0; j < i; ++j) {
          if (m.ref[j] == m.ref[i]) {
            return Fail(ChannelError(c, "duplicate reference"));
          }
        }
      }
    }
    const int p = static_cast<int>(reader.Read(4));
    const std::size_t len = std::size_t{1} << p;
    for (std::size_t start = 0; start < n; start += len) {
      const std::size_t end = std::min(n, start + len);
      const std::uint32_t param = reader.Read(5);
      if (param == kZeroPartition) {
        std::fill(r.begin() + static_cast<std::ptrdiff_t>(start),
                  r.begin() + static_cast<std::ptrdiff_t>(end), 0);
        continue;
      }
      if (param > kMaxRiceParameter) {
        return Fail(ChannelError(
            c, "invalid Rice parameter " + std::to_string(param)));
      }
      const int k = static_cast<int>(param);
      const std::uint64_t mask = (std::uint64_t{1} << k) - 1;
      for (std::size_t t = start; t < end; ++t) {
        reader.Refill();
        const std::uint64_t bits = reader.Peek();
        const std::uint32_t low = static_cast<std::uint32_t>(bits);
        std::uint32_t v;
        if (low != 0) {
          const int q = std::countr_zero(low);
          reader.Skip(q + 1);
          v = (static_cast<std::uint32_t>(q) << k) |
              static_cast<std::uint32_t>(reader.Peek() & mask);
          reader.Skip(k);
        } else {
          reader.Skip(kEscapeZeros);
          v = reader.Read(32);
        }
        r[t] = UnZigZag(v);
      }
      if (reader.overrun()) break;
    }
    if (reader.overrun()) {
      return Fail(ChannelError(c, "truncated stream"));
    }
    std::int64_t bad_t = 0;
    bool ok = false;
    if (m.num_refs > 0) {
      ok = RebuildWithRefs(m, r, channels, c, out, &bad_t);
    } else {
      switch (m.order) {
        case 0: ok = RebuildFixed<0>(r, channels, c, out, &bad_t); break;
        case 1: ok = RebuildFixed<1>(r, channels, c, out, &bad_t); break;
        case 2: ok = RebuildFixed<2>(r, channels, c, out, &bad_t); break;
        case 3: ok = RebuildFixed<3>(r, channels, c, out, &bad_t); break;
        default: ok = RebuildFixed<4>(r, channels, c, out, &bad_t); break;
      }
    }
    if (!ok) {
      return Fail(ChannelError(c, "sample " + std::to_string(bad_t) +
                                      " outside the int16 range"));
    }
  }
  const std::uint64_t used = reader.consumed_bits();
  const std::uint64_t padded = (used + 7) / 8 * 8;
  if (padded < reader.total_bits()) {
    return Fail(ErrorCode::kCorruption,
                "waveform payload: " +
                    std::to_string((reader.total_bits() - padded) / 8) +
                    " trailing bytes after the last channel");
  }
  if (padded > used && reader.Read(static_cast<int>(padded - used)) != 0) {
    return Fail(ErrorCode::kCorruption,
                "waveform payload: nonzero padding bits");
  }
  return OkStatus();
}

}  // namespace pulse::engine::waveform_internal
