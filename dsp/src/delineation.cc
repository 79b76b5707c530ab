// Delineation. Design notes (the header has the one-paragraph summary):
//
// - Everything is computed on one multi-lead window (a median beat, or one
//   beat cut from the record), by DelineateWindow().
// - Two smoothings: ~10 ms for slopes (QRS), ~20 ms for the slow P and T
//   waves. Moving averages: cheap, linear phase (no shift of fiducials).
// - QRS: the spatial velocity v = sum over leads of |slope| peaks inside
//   the QRS whatever the lead polarities. Its floor (20th percentile over
//   the window) is the slope of the slow waves and noise; onset and offset
//   are where v, walking out from its peak, drops below floor + a fraction
//   of (peak - floor) for a few ms. A window whose velocity peak is not
//   well above its floor (noise only, flat) has no QRS, hence nothing.
// - The QRS points are the same in every lead. LUDB's per-lead marks
//   differ between leads by ~9 ms RMS, but per-lead slope-threshold points
//   (tried: walk out from the lead's steep slopes while above a fraction of
//   its largest; or where the lead leaves its PR level) followed noise more
//   than the annotators and were worse on records 1-50 (docs/accuracy.md).
//   The lead's own point is a wavelet boundary (Martinez et al., IEEE
//   TBME 51(4), 2004: quadratic-spline WT, |WT| falling below a fraction
//   of the first / last significant extremum), and the lead's point is the
//   multi-lead point moved 40 % of the way to it (at most ±20 ms): single
//   beats' WT points are noisy, and the full move was worse (accuracy.md).
//   The median beat's global QRS, though, is the 2nd earliest / 2nd latest of the leads' own points
//   (FindLeadQrs), as IEC 60601-2-25 defines global durations; per beat
//   it stays the multi-lead point (noisier single beats).
// - Pacemaker spikes (LUDB has paced records) are removed first by a
//   running median a few ms wide; they would dominate every slope.
// - T end: Zhang et al. (IEEE TBME 53(12), 2006): after the T peak, the
//   area A(t) = sum over the W samples up to t of (s(j) - s(t)), signed by
//   the T polarity, is largest at the T end. It needs no threshold and no
//   baseline, which makes it robust to noise and to low-amplitude T waves.
//   The T peak is taken against the chord from just after the J point to
//   the end of the search, so that ST elevation or a baseline step (lead
//   off) is not a T wave. Per lead, a T end is held within ±10 ms of the
//   leads' median: unconstrained per-lead ends had SD 32 ms against LUDB's
//   per-lead marks, clamped ones 23 ms (records 1-50). The global end is
//   the latest (median beat) of the leads within 60 ms of that median: a
//   lead with a flat or biphasic T can put its "end" 150 ms off, and a
//   plain latest-lead rule followed it (QT SD 30 -> 17 ms per record).
// - P: in the search window before QRS onset each lead is detrended by the
//   line through its values at the window's ends, and the P peak is the
//   maximum of the sum of squares over leads. A P wave is present only
//   when that peak is large in mV, large against the high-frequency noise,
//   and dominates other peaks of the window (AF's fibrillatory waves do
//   not). Onset and offset per lead come from the area indicator run
//   backward and forward from the lead's P peak. The median beat's P
//   offsets use a wider area window (80 vs 60 ms): its global offset is
//   the latest over leads, and the narrower window ended it ~15 ms before
//   LUDB's latest lead. A per-lead slope threshold (Martinez et al. 2004)
//   and a threshold on the leads' P magnitude were worse (accuracy.md).
// - Per beat, the median beat guides (DelineateBeatsTuned): its P wave
//   must repeat beat by beat (PWaveCoherence), which rejects AF remnants
//   better than any single-window test; the beat's P and T are then looked
//   for near the median's (a beat's T end ±60 ms: fewer gross errors).
#include "pulse/dsp/delineation.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <string>
#include <vector>

#include "delineation_internal.h"

namespace pulse::dsp {
namespace detail {
namespace {

using Index = std::int64_t;

Index Frames(double seconds, double fs) {
  return static_cast<Index>(std::lround(seconds * fs));
}

std::size_t U(Index i) { return static_cast<std::size_t>(i); }

// Centred moving average of odd width (shrinking at the edges).
void MovingAverage(const float* x, Index n, Index width, float* out,
                   std::vector<double>* cum) {
  cum->assign(U(n + 1), 0.0);
  for (Index i = 0; i < n; ++i) (*cum)[U(i + 1)] = (*cum)[U(i)] + x[i];
  const Index h = std::max<Index>(0, width / 2);
  for (Index i = 0; i < n; ++i) {
    const Index a = std::max<Index>(0, i - h);
    const Index b = std::min<Index>(n, i + h + 1);
    out[i] = static_cast<float>(((*cum)[U(b)] - (*cum)[U(a)]) /
                                static_cast<double>(b - a));
  }
}

// Running median of odd width (the input passed through at the edges):
// removes pacemaker spikes, a few ms wide, which would otherwise dominate
// every slope (LUDB has paced records).
void RunningMedian(const float* x, Index n, Index width, float* out) {
  const Index h = width / 2;
  float buf[15];
  for (Index i = 0; i < n; ++i) {
    if (h < 1 || h > 7 || i < h || i + h >= n) {
      out[i] = x[i];
      continue;
    }
    const Index m = 2 * h + 1;
    for (Index j = 0; j < m; ++j) {
      const float v = x[i - h + j];
      Index k = j;
      while (k > 0 && buf[k - 1] > v) {
        buf[k] = buf[k - 1];
        --k;
      }
      buf[k] = v;
    }
    out[i] = buf[h];
  }
}

// Value at quantile q (0..1) of `v` (copied). REQUIRES: !v.empty().
template <typename T>
T Quantile(std::vector<T> v, double q) {
  const auto k = static_cast<std::size_t>(
      std::lround(q * static_cast<double>(v.size() - 1)));
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k),
                   v.end());
  return v[k];
}

struct Work {
  int leads = 0;
  Index n = 0;
  double fs = 0.0;
  std::vector<float> y;  // ~10 ms smoothed, lead-major
  std::vector<float> z;  // ~20 ms smoothed, lead-major
  std::vector<float> d;  // slope of y per sample, lead-major
  std::vector<float> v;  // spatial velocity
  const float* Y(int l) const { return y.data() + U(l) * U(n); }
  const float* Z(int l) const { return z.data() + U(l) * U(n); }
  const float* D(int l) const { return d.data() + U(l) * U(n); }
};

Work Prepare(std::span<const float> x, int leads, Index n, double fs,
             const DelineationTuning& t) {
  Work w;
  w.leads = leads;
  w.n = n;
  w.fs = fs;
  const std::size_t total = U(leads) * U(n);
  w.y.resize(total);
  w.z.resize(total);
  w.d.assign(total, 0.0f);
  w.v.assign(U(n), 0.0f);
  std::vector<double> cum;
  const Index w1 = Frames(t.smooth_s, fs) | 1;
  const Index w2 = Frames(t.wave_smooth_s, fs) | 1;
  const Index w0 = Frames(t.despike_s, fs) | 1;
  std::vector<float> clean(U(n));
  for (int l = 0; l < leads; ++l) {
    const std::size_t o = U(l) * U(n);
    RunningMedian(x.data() + o, n, w0, clean.data());
    MovingAverage(clean.data(), n, w1, w.y.data() + o, &cum);
    MovingAverage(clean.data(), n, w2, w.z.data() + o, &cum);
    for (Index i = 1; i + 1 < n; ++i) {
      const float s = 0.5f * (w.y[o + U(i + 1)] - w.y[o + U(i - 1)]);
      w.d[o + U(i)] = s;
      w.v[U(i)] += std::fabs(s);
    }
  }
  return w;
}

struct QrsSpan {
  Index on = -1, off = -1, peak = -1;
};

QrsSpan FindQrs(const Work& w, Index fiducial, const DelineationTuning& t) {
  QrsSpan q;
  if (w.n < 8) return q;
  const Index lo = std::max<Index>(1, fiducial - Frames(t.qrs_peak_search_s, w.fs));
  const Index hi =
      std::min<Index>(w.n - 2, fiducial + Frames(t.qrs_peak_search_s, w.fs));
  if (lo > hi) return q;
  Index pk = lo;
  for (Index i = lo; i <= hi; ++i) {
    if (w.v[U(i)] > w.v[U(pk)]) pk = i;
  }
  const float vpk = w.v[U(pk)];
  const float floor = Quantile(w.v, 0.2);
  if (!(vpk > 1e-6f) || vpk < static_cast<float>(t.min_qrs_to_floor) * floor) {
    return q;
  }
  const Index quiet = std::max<Index>(1, Frames(t.qrs_quiet_s, w.fs));
  const float thr_on =
      floor + static_cast<float>(t.qrs_on_fraction) * (vpk - floor);
  const float thr_off =
      floor + static_cast<float>(t.qrs_off_fraction) * (vpk - floor);
  const Index first = std::max<Index>(1, pk - Frames(t.qrs_max_before_s, w.fs));
  const Index last =
      std::min<Index>(w.n - 2, pk + Frames(t.qrs_max_after_s, w.fs));
  q.on = first;
  for (Index k = pk, run = 0; k >= first; --k) {
    run = w.v[U(k)] < thr_on ? run + 1 : 0;
    if (run >= quiet) {
      q.on = k + quiet - 1;
      break;
    }
  }
  q.off = last;
  for (Index k = pk, run = 0; k <= last; ++k) {
    run = w.v[U(k)] < thr_off ? run + 1 : 0;
    if (run >= quiet) {
      q.off = k - quiet + 1;
      break;
    }
  }
  q.peak = pk;
  if (!(q.on < pk && q.off > pk)) return QrsSpan{};
  return q;
}

// Per-lead QRS boundaries (window indices; -1 for a lead whose QRS slope
// is too small to place them): from the lead's first (last) steep slope
// inside the multi-lead QRS, walk out until the slope stays below a
// fraction of the lead's largest for a few ms, at most qrs_lead_reach_s
// beyond the multi-lead point. Starting from the steep part rather than
// the lead's steepest sample avoids stopping at an R or S peak (slope 0).
struct LeadQrs {
  std::vector<Index> on, off;
};

LeadQrs FindLeadQrs(const Work& w, const QrsSpan& g,
                    const DelineationTuning& t) {
  LeadQrs out;
  out.on.assign(U(w.leads), -1);
  out.off.assign(U(w.leads), -1);
  std::vector<float> peak(U(w.leads), 0.0f);
  float largest = 0.0f;
  for (int l = 0; l < w.leads; ++l) {
    const float* d = w.D(l);
    for (Index i = g.on; i <= g.off; ++i) {
      peak[U(l)] = std::max(peak[U(l)], std::fabs(d[i]));
    }
    largest = std::max(largest, peak[U(l)]);
  }
  if (!(largest > 0.0f)) return out;
  const Index reach = Frames(t.qrs_lead_reach_s, w.fs);
  const Index quiet = std::max<Index>(1, Frames(t.qrs_quiet_s, w.fs));
  const Index first = std::max<Index>(1, g.on - reach);
  const Index last = std::min<Index>(w.n - 2, g.off + reach);
  for (int l = 0; l < w.leads; ++l) {
    const float m = peak[U(l)];
    if (m < static_cast<float>(t.qrs_lead_min_share) * largest) continue;
    const float* d = w.D(l);
    const float steep = static_cast<float>(t.qrs_lead_steep_fraction) * m;
    Index a = g.on, b = g.off;
    while (a < g.off && std::fabs(d[a]) < steep) ++a;
    while (b > g.on && std::fabs(d[b]) < steep) --b;
    const float thr_on = static_cast<float>(t.qrs_lead_on_fraction) * m;
    const float thr_off = static_cast<float>(t.qrs_lead_off_fraction) * m;
    // A lead whose slope does not fall quiet within the reach (ST slope of
    // a wide QRS, noise) has no point of its own.
    Index on = -1;
    for (Index k = a, run = 0; k >= first; --k) {
      run = std::fabs(d[k]) < thr_on ? run + 1 : 0;
      if (run >= quiet) {
        on = k + quiet - 1;
        break;
      }
    }
    Index off = -1;
    for (Index k = b, run = 0; k <= last; ++k) {
      run = std::fabs(d[k]) < thr_off ? run + 1 : 0;
      if (run >= quiet) {
        off = k - quiet + 1;
        break;
      }
    }
    if (on >= 0 && off > on) {
      out.on[U(l)] = on;
      out.off[U(l)] = off;
    }
  }
  return out;
}

// Quadratic-spline wavelet transform at scale 2^scale (Mallat's
// algorithme a trous as Martinez et al. 2004 use it: low-pass
// [1 3 3 1]/8 and high-pass [2 -2], upsampled by 2^j at level j), of one
// lead; positive where the signal rises. Edges replicate the signal.
std::vector<float> SplineWavelet(const float* x, Index n, int scale) {
  scale = std::clamp(scale, 1, 6);  // 2^6 samples: far wider than a QRS
  std::vector<float> a(x, x + n), b(U(n), 0.0f);
  auto at = [&](const std::vector<float>& v, Index i) {
    return v[U(std::clamp<Index>(i, 0, n - 1))];
  };
  for (int j = 0; j + 1 < scale; ++j) {
    const Index s = Index{1} << j;
    for (Index i = 0; i < n; ++i) {
      b[U(i)] = (at(a, i - s) + 3.0f * at(a, i) + 3.0f * at(a, i + s) +
                 at(a, i + 2 * s)) / 8.0f;
    }
    a.swap(b);
  }
  // The low-pass steps each delay by s/2; the centred difference below
  // puts the transform back on the sample grid (to within a sample).
  Index delay2 = 0;  // twice the delay, samples
  for (int j = 0; j + 1 < scale; ++j) delay2 += Index{1} << j;
  const Index d = (delay2 + 1) / 2;
  const Index s = Index{1} << std::max(0, scale - 1);
  for (Index i = 0; i < n; ++i) {
    b[U(i)] = 2.0f * (at(a, i - d + s / 2 + (s == 1 ? 1 : 0)) -
                      at(a, i - d - s / 2));
  }
  return b;
}

// Per-lead QRS boundaries by the wavelet rule (see DelineationTuning).
LeadQrs FindLeadQrsWavelet(std::span<const float> x, const Work& w,
                           const QrsSpan& g, const DelineationTuning& t) {
  LeadQrs out;
  out.on.assign(U(w.leads), -1);
  out.off.assign(U(w.leads), -1);
  const Index reach = Frames(t.qrs_wt_reach_s, w.fs);
  const Index first = std::max<Index>(1, g.on - reach);
  const Index last = std::min<Index>(w.n - 2, g.off + reach);
  const Index w0 = Frames(t.despike_s, w.fs) | 1;
  // The transform over the QRS and a margin only: a boundary farther out
  // than the margin is clamped anyway (gain x margin > max_dev), and the
  // filters' reach (< 32 samples at scale <= 6) is outside the search.
  const Index pad = Frames(t.qrs_wt_max_dev_s / std::max(0.05, t.qrs_wt_gain),
                           w.fs) + 32;
  const Index lo = std::max<Index>(0, first - pad);
  const Index hi = std::min<Index>(w.n, last + pad + 1);
  const Index m_len = hi - lo;
  std::vector<float> clean(U(m_len));
  std::vector<std::vector<float>> wt(U(w.leads));
  std::vector<float> peak(U(w.leads), 0.0f);
  float largest = 0.0f;
  for (int l = 0; l < w.leads; ++l) {
    RunningMedian(x.data() + U(l) * U(w.n) + U(lo), m_len, w0, clean.data());
    wt[U(l)] = SplineWavelet(clean.data(), m_len, t.qrs_wt_scale);
    for (Index i = g.on; i <= g.off; ++i) {
      peak[U(l)] = std::max(peak[U(l)], std::fabs(wt[U(l)][U(i - lo)]));
    }
    largest = std::max(largest, peak[U(l)]);
  }
  if (!(largest > 0.0f)) return out;
  for (int l = 0; l < w.leads; ++l) {
    const float m = peak[U(l)];
    if (m < static_cast<float>(t.qrs_lead_min_share) * largest) continue;
    const std::vector<float>& c = wt[U(l)];
    auto mag = [&](Index i) { return std::fabs(c[U(i - lo)]); };
    const float sig = static_cast<float>(t.qrs_wt_significant) * m;
    auto is_extremum = [&](Index i) {
      return mag(i) >= sig && mag(i) >= mag(i - 1) && mag(i) >= mag(i + 1);
    };
    Index a = -1, b = -1;
    for (Index i = first; i <= last && a < 0; ++i) {
      if (is_extremum(i)) a = i;
    }
    for (Index i = last; i >= first && b < 0; --i) {
      if (is_extremum(i)) b = i;
    }
    if (a < 0 || b <= a) continue;
    const float thr_on = static_cast<float>(t.qrs_wt_xi_on) * mag(a);
    const float thr_off = static_cast<float>(t.qrs_wt_xi_off) * mag(b);
    Index on = lo + 1;  // past the margin: clamped to max_dev anyway
    for (Index k = a - 1; k >= lo + 1; --k) {
      if (mag(k) < thr_on ||
          (t.qrs_wt_stop_at_min && mag(k) <= mag(k - 1))) {
        on = k;
        break;
      }
    }
    Index off = hi - 2;
    for (Index k = b + 1; k + 1 < hi; ++k) {
      if (mag(k) < thr_off ||
          (t.qrs_wt_stop_at_min && mag(k) <= mag(k + 1))) {
        off = k;
        break;
      }
    }
    if (on >= 0 && off > on) {
      out.on[U(l)] = on;
      out.off[U(l)] = off;
    }
  }
  return out;
}

// The k-th earliest (latest when `latest`) of the valid (>= 0) values,
// k = skip clamped to the count, or their median when skip < 0; -1 when
// none.
Index KthExtreme(const std::vector<Index>& v, int skip, bool latest) {
  std::vector<Index> valid;
  for (Index x : v) {
    if (x >= 0) valid.push_back(x);
  }
  if (valid.empty()) return -1;
  std::sort(valid.begin(), valid.end());
  if (latest) std::reverse(valid.begin(), valid.end());
  if (skip < 0) return valid[valid.size() / 2];
  const std::size_t k =
      std::min(valid.size() - 1, static_cast<std::size_t>(skip));
  return valid[k];
}

// Zhang's area indicator, maximised over t in [from, to]: the T (or P)
// end after a peak when `forward`, else a P onset before one. `pol` is the
// wave's sign. Returns -1 when the range is empty.
Index AreaIndicatorArgmax(const float* s, Index n, Index from, Index to,
                          Index width, float pol, bool forward,
                          std::vector<double>* cum) {
  from = std::max<Index>(0, from);
  to = std::min<Index>(n - 1, to);
  if (from > to || width < 1) return -1;
  cum->assign(U(n + 1), 0.0);
  for (Index i = 0; i < n; ++i) (*cum)[U(i + 1)] = (*cum)[U(i)] + s[i];
  Index best = -1;
  double best_a = 0.0;
  for (Index i = from; i <= to; ++i) {
    Index a = forward ? i - width + 1 : i;
    Index b = forward ? i + 1 : i + width;
    a = std::max<Index>(0, a);
    b = std::min<Index>(n, b);
    const double area = ((*cum)[U(b)] - (*cum)[U(a)]) -
                        static_cast<double>(b - a) * s[i];
    const double signed_area = pol * area;
    if (best < 0 || signed_area > best_a) {
      best = i;
      best_a = signed_area;
    }
  }
  return best;
}

void FindT(const Work& w, const QrsSpan& g, const WindowLimits& limits,
           const DelineationTuning& t, WaveFiducials* global,
           std::vector<WaveFiducials>* per_lead) {
  const Index ts = g.off + Frames(t.t_start_after_qrs_s, w.fs);
  const Index te = std::min<Index>(w.n, limits.t_search_end) - 1;
  const Index peak_end =
      std::min<Index>(te, g.off + Frames(t.t_peak_max_after_qrs_s, w.fs));
  if (ts >= peak_end) return;
  const Index width = std::max<Index>(2, Frames(t.t_zhang_window_s, w.fs));
  // The chord starts past the reach of the smoothing into the QRS.
  const Index anchor =
      std::min(ts, g.off + Frames(t.wave_smooth_s, w.fs) / 2 + 1);
  std::vector<double> cum;
  std::vector<Index> ends(U(w.leads), -1);
  std::vector<Index> valid;
  for (int l = 0; l < w.leads; ++l) {
    const float* z = w.Z(l);
    // The T wave stands out from the chord between the J point and the
    // end of the search: ST elevation and a baseline step (lead-off) are
    // not T waves.
    const float j = z[anchor];
    const float slope = (z[te] - j) / static_cast<float>(te - anchor);
    auto above = [&](Index i) {
      return z[i] - (j + slope * static_cast<float>(i - anchor));
    };
    Index pk = ts;
    for (Index i = ts; i <= peak_end; ++i) {
      if (std::fabs(above(i)) > std::fabs(above(pk))) pk = i;
    }
    const float amp = std::fabs(above(pk));
    if (amp < static_cast<float>(t.t_min_amplitude_mv)) continue;
    const float pol = above(pk) >= 0.0f ? 1.0f : -1.0f;
    // Zhang's window grows with the T wave's width, estimated from the
    // time from QRS onset to the T peak (a slow, long-QT T wave needs a
    // wider window or its end is found early).
    const Index lead_width =
        t.t_zhang_scale > 0.0
            ? std::max<Index>(width, static_cast<Index>(std::lround(
                                         t.t_zhang_scale *
                                         static_cast<double>(pk - g.on))))
            : width;
    Index from = pk + 1;
    Index to = te;
    if (limits.t_end_from_qrs_on >= 0 && t.t_guide_reach_s > 0.0) {
      const Index expected = g.on + limits.t_end_from_qrs_on;
      const Index reach = Frames(t.t_guide_reach_s, w.fs);
      from = std::max(from, expected - reach);
      to = std::min(to, expected + reach);
    }
    const Index end =
        AreaIndicatorArgmax(z, w.n, from, to, lead_width, pol, true, &cum);
    if (end < 0) continue;
    ends[U(l)] = end;
    valid.push_back(end);
  }
  if (valid.empty()) return;
  const Index middle = Quantile(valid, t.t_center_quantile);
  // The global T end: a late quantile over the leads whose end lies near
  // the leads' median (a lead whose T wave is flat or biphasic can put its
  // "end" far off, and a late quantile would follow it).
  std::vector<Index> near;
  const Index outlier = Frames(t.t_global_outlier_s, w.fs);
  for (Index e : valid) {
    if (std::abs(e - middle) <= outlier) near.push_back(e);
  }
  global->t_offset = Quantile(near, t.t_global_quantile);
  const Index dev = Frames(t.t_lead_max_dev_s, w.fs);
  for (int l = 0; l < w.leads; ++l) {
    (*per_lead)[U(l)].t_offset =
        ends[U(l)] >= 0 ? std::clamp(ends[U(l)], middle - dev, middle + dev)
                        : middle;
  }
}

void FindP(const Work& w, const QrsSpan& g, Index fiducial,
           const WindowLimits& limits, const DelineationTuning& t,
           WindowDelineation* out) {
  using PGuide = WindowLimits::PGuide;
  if (limits.p_guide == PGuide::kAbsent) return;
  WaveFiducials* global = &out->global;
  std::vector<WaveFiducials>* per_lead = &out->per_lead;
  Index pb = std::max<Index>({0, limits.p_search_begin,
                              g.on - Frames(t.p_search_s, w.fs)});
  if (limits.rr_before_s > 0.0) {
    pb = std::max<Index>(
        pb, fiducial - Frames(t.p_search_rr_fraction * limits.rr_before_s,
                              w.fs));
  }
  const Index pe = g.on - Frames(t.p_end_gap_s, w.fs);
  const Index min_len = Frames(0.06, w.fs);
  if (pe - pb < min_len) return;
  const Index len = g.on - pb + 1;
  const Index anchor_gap = Frames(t.p_anchor_gap_s, w.fs);
  // Detrended leads over [pb, g.on].
  std::vector<float> r(U(w.leads) * U(len));
  std::vector<double> e(U(len), 0.0);
  double noise_sq = 0.0;
  for (int l = 0; l < w.leads; ++l) {
    const float* z = w.Z(l);
    const float* y = w.Y(l);
    // Right anchor a little before QRS onset: the smoothed lead already
    // rises there with the QRS.
    const Index right = std::max<Index>(pb + 1, g.on - anchor_gap);
    const float z0 = z[pb];
    const float slope =
        (z[right] - z0) / static_cast<float>(right - pb);
    for (Index i = 0; i < len; ++i) {
      const float v = z[pb + i] - (z0 + slope * static_cast<float>(i));
      r[U(l) * U(len) + U(i)] = v;
      e[U(i)] += static_cast<double>(v) * v;
      const double hf = y[pb + i] - z[pb + i];
      noise_sq += hf * hf;
    }
  }
  const double noise =
      std::sqrt(noise_sq / static_cast<double>(U(w.leads) * U(len)));
  Index first = Frames(0.02, w.fs);
  Index last = pe - pb;
  double dominance = t.p_min_dominance;
  if (limits.p_guide == PGuide::kAt) {
    const Index expected = g.on + limits.p_peak_from_qrs_on - pb;
    const Index reach = Frames(t.p_guide_reach_s, w.fs);
    first = std::max(first, expected - reach);
    last = std::min(last, expected + reach);
    dominance = t.p_guided_dominance;
    if (first > last) return;
  }
  Index pk = first;
  for (Index i = first; i <= last; ++i) {
    if (e[U(i)] > e[U(pk)]) pk = i;
  }
  const Index guard = Frames(0.06, w.fs);
  double other = 0.0;
  for (Index i = 0; i <= pe - pb; ++i) {
    if (std::abs(i - pk) > guard) other = std::max(other, e[U(i)]);
  }
  float amax = 0.0f;
  for (int l = 0; l < w.leads; ++l) {
    amax = std::max(amax, std::fabs(r[U(l) * U(len) + U(pk)]));
  }
  if (amax < static_cast<float>(t.p_min_amplitude_mv) ||
      amax < static_cast<float>(t.p_min_to_noise * noise) ||
      e[U(pk)] < dominance * other) {
    return;
  }
  const Index half = Frames(t.p_max_half_width_s, w.fs);
  const Index local = Frames(0.03, w.fs);
  const Index width = std::max<Index>(2, Frames(t.p_zhang_window_s, w.fs));
  const Index off_width =
      std::max<Index>(2, Frames(t.p_off_zhang_window_s, w.fs));
  std::vector<double> cum;
  std::vector<Index> ons, offs;
  std::vector<Index> lead_on(U(w.leads), -1), lead_off(U(w.leads), -1);
  for (int l = 0; l < w.leads; ++l) {
    const float* s = r.data() + U(l) * U(len);
    Index lp = std::max<Index>(0, pk - local);
    for (Index i = lp; i <= std::min<Index>(last, pk + local); ++i) {
      if (std::fabs(s[i]) > std::fabs(s[lp])) lp = i;
    }
    if (std::fabs(s[lp]) < static_cast<float>(t.p_lead_min_share) * amax) {
      continue;
    }
    const float pol = s[lp] >= 0.0f ? 1.0f : -1.0f;
    const Index on = AreaIndicatorArgmax(s, len, lp - half, lp - 1, width, pol,
                                         false, &cum);
    const Index off = AreaIndicatorArgmax(s, len, lp + 1,
                                          std::min<Index>(len - 1, lp + half),
                                          off_width, pol, true, &cum);
    if (on < 0 || off < 0 || on >= off) continue;
    lead_on[U(l)] = pb + on;
    lead_off[U(l)] = pb + off;
    ons.push_back(pb + on);
    offs.push_back(pb + off);
  }
  if (ons.empty()) return;
  const Index gon = Quantile(ons, t.p_on_quantile);
  const Index goff =
      std::min(Quantile(offs, t.p_off_quantile), global->qrs_onset);
  if (!(gon < goff)) return;
  global->p_onset = gon;
  global->p_offset = goff;
  out->p_peak = pb + pk;
  const Index mid_on = Quantile(ons, 0.5);
  const Index mid_off = Quantile(offs, 0.5);
  const Index dev = Frames(t.p_lead_max_dev_s, w.fs);
  for (int l = 0; l < w.leads; ++l) {
    WaveFiducials& f = (*per_lead)[U(l)];
    const bool own = lead_on[U(l)] >= 0;
    f.p_onset = own ? std::clamp(lead_on[U(l)], mid_on - dev, mid_on + dev)
                    : mid_on;
    f.p_offset = std::min(
        own ? std::clamp(lead_off[U(l)], mid_off - dev, mid_off + dev)
            : mid_off,
        f.qrs_onset);
    if (!(f.p_onset < f.p_offset)) {
      f.p_onset = gon;
      f.p_offset = std::min(goff, f.qrs_onset);
    }
    if (!(f.p_onset < f.p_offset)) f.p_onset = f.p_offset = -1;
  }
}

std::vector<float> FiniteSamples(std::span<const float> x) {
  std::vector<float> out(x.begin(), x.end());
  for (float& v : out) {
    if (!std::isfinite(v)) v = 0.0f;
  }
  return out;
}

// Drops waves that break the order p_on < p_off <= qrs_on < qrs_off < t_off.
void Sanitize(WaveFiducials* f) {
  if (!f->has_qrs()) {
    *f = WaveFiducials{};
    return;
  }
  if (!f->has_p() || f->p_offset > f->qrs_onset) f->p_onset = f->p_offset = -1;
  if (f->t_offset <= f->qrs_offset) f->t_offset = -1;
}

}  // namespace

// Mean over the beats of the median's class of the correlation between
// each beat and the median beat over the median's P wave (all leads, each
// lead's mean removed). A real P wave repeats at every beat (~1 with
// little noise); AF's fibrillatory waves have no fixed phase to the QRS
// (~0), though a median of a few beats may keep a P-like remnant of them.
double PWaveCoherence(std::span<const float> x, int num_leads,
                      const MedianBeatSet& m, const WaveFiducials& g,
                      std::span<const ClassifiedBeat> beats) {
  const auto L = static_cast<std::size_t>(num_leads);
  const auto frames = static_cast<Index>(x.size() / L);
  const Index from = g.p_onset - m.fiducial_index;
  const Index to = g.p_offset - m.fiducial_index;
  double sum = 0.0;
  int count = 0;
  for (const ClassifiedBeat& b : beats) {
    if (b.beat_class != m.beat_class) continue;
    if (b.sample + from < 0 || b.sample + to >= frames) continue;
    double xy = 0.0, xx = 0.0, yy = 0.0;
    for (std::size_t l = 0; l < L; ++l) {
      const auto med = m.lead(static_cast<int>(l));
      double mean_x = 0.0, mean_y = 0.0;
      const double n = static_cast<double>(to - from + 1);
      for (Index i = from; i <= to; ++i) {
        const float v = x[U(b.sample + i) * L + l];
        mean_x += std::isfinite(v) ? v : 0.0f;
        mean_y += med[U(m.fiducial_index + i)];
      }
      mean_x /= n;
      mean_y /= n;
      for (Index i = from; i <= to; ++i) {
        const float v = x[U(b.sample + i) * L + l];
        const double a = (std::isfinite(v) ? v : 0.0f) - mean_x;
        const double c = med[U(m.fiducial_index + i)] - mean_y;
        xy += a * c;
        xx += a * a;
        yy += c * c;
      }
    }
    if (xx > 0.0 && yy > 0.0) sum += xy / std::sqrt(xx * yy);
    ++count;
  }
  return count > 0 ? sum / count : 0.0;
}

WindowDelineation DelineateWindow(std::span<const float> lead_major,
                                  int num_leads, std::int64_t length,
                                  std::int64_t fiducial, double fs,
                                  const WindowLimits& limits,
                                  const DelineationTuning& tuning) {
  WindowDelineation out;
  out.per_lead.assign(U(num_leads), WaveFiducials{});
  if (num_leads < 1 || length < 8 || fiducial < 0 || fiducial >= length) {
    return out;
  }
  const Work w = Prepare(lead_major, num_leads, length, fs, tuning);
  const QrsSpan g = FindQrs(w, fiducial, tuning);
  if (g.on < 0) return out;
  out.velocity_qrs_onset = g.on;
  out.global.qrs_onset = g.on;
  out.global.qrs_offset = g.off;
  // One multi-lead QRS per beat in every lead (see the file comment).
  for (WaveFiducials& f : out.per_lead) {
    f.qrs_onset = g.on;
    f.qrs_offset = g.off;
  }
  const bool slope_lead_points =
      tuning.qrs_lead_max_dev_s > 0.0 && !(tuning.qrs_wt_max_dev_s > 0.0);
  if (tuning.qrs_global_per_lead || slope_lead_points) {
    const LeadQrs lq = FindLeadQrs(w, g, tuning);
    if (tuning.qrs_global_per_lead) {
      const Index on = KthExtreme(lq.on, tuning.qrs_global_skip, false);
      const Index off = KthExtreme(lq.off, tuning.qrs_global_skip, true);
      if (on >= 0 && off > on) {
        out.global.qrs_onset = std::min(on, g.on);
        out.global.qrs_offset = std::max(off, g.off);
      }
    }
    // A lead keeps its difference from the leads' median point (the
    // systematic part of LUDB's lead-to-lead spread), limited to ± dev,
    // around the multi-lead point (whose level the lead thresholds do not
    // share).
    const Index dev =
        slope_lead_points ? Frames(tuning.qrs_lead_max_dev_s, fs) : 0;
    const Index mid_on = KthExtreme(lq.on, -1, false);
    const Index mid_off = KthExtreme(lq.off, -1, true);
    for (std::size_t l = 0; dev > 0 && l < out.per_lead.size(); ++l) {
      if (lq.on[l] < 0) continue;
      out.per_lead[l].qrs_onset = g.on + std::clamp(lq.on[l] - mid_on, -dev, dev);
      out.per_lead[l].qrs_offset =
          g.off + std::clamp(lq.off[l] - mid_off, -dev, dev);
    }
  }
  if (tuning.qrs_wt_max_dev_s > 0.0) {
    const LeadQrs lq = FindLeadQrsWavelet(lead_major, w, g, tuning);
    const Index dev = Frames(tuning.qrs_wt_max_dev_s, fs);
    const Index ref_on =
        tuning.qrs_wt_relative ? KthExtreme(lq.on, -1, false) : g.on;
    const Index ref_off =
        tuning.qrs_wt_relative ? KthExtreme(lq.off, -1, true) : g.off;
    for (std::size_t l = 0; dev > 0 && l < out.per_lead.size(); ++l) {
      if (lq.on[l] < 0) continue;
      auto shrink = [&](Index diff) {
        return std::clamp<Index>(
            static_cast<Index>(std::lround(tuning.qrs_wt_gain *
                                           static_cast<double>(diff))),
            -dev, dev);
      };
      out.per_lead[l].qrs_onset = g.on + shrink(lq.on[l] - ref_on);
      out.per_lead[l].qrs_offset = g.off + shrink(lq.off[l] - ref_off);
    }
  }
  FindT(w, g, limits, tuning, &out.global, &out.per_lead);
  FindP(w, g, fiducial, limits, tuning, &out);
  Sanitize(&out.global);
  for (WaveFiducials& f : out.per_lead) Sanitize(&f);
  return out;
}

}  // namespace detail

namespace {

Status CheckMedians(const MedianBeatSet& m) {
  if (!(m.sample_rate_hz >= 80.0 && m.sample_rate_hz <= 2000.0)) {
    return Fail(ErrorCode::kInvalidArgument,
                "medians.sample_rate_hz: " + std::to_string(m.sample_rate_hz) +
                    " outside 80 .. 2000");
  }
  if (m.num_leads < 1 || m.num_leads > 12) {
    return Fail(ErrorCode::kInvalidArgument,
                "medians.num_leads: " + std::to_string(m.num_leads) +
                    " outside 1 .. 12");
  }
  if (m.length_frames < 1 ||
      m.samples_mv.size() !=
          static_cast<std::size_t>(m.num_leads) *
              static_cast<std::size_t>(m.length_frames)) {
    return Fail(ErrorCode::kInvalidArgument,
                "medians.samples_mv: size " +
                    std::to_string(m.samples_mv.size()) +
                    " is not num_leads * length_frames");
  }
  if (m.fiducial_index < 0 || m.fiducial_index >= m.length_frames) {
    return Fail(ErrorCode::kInvalidArgument,
                "medians.fiducial_index: " + std::to_string(m.fiducial_index) +
                    " outside the window");
  }
  return OkStatus();
}

std::vector<float> FiniteCopy(std::span<const float> x) {
  std::vector<float> out(x.begin(), x.end());
  for (float& v : out) {
    if (!std::isfinite(v)) v = 0.0f;
  }
  return out;
}

}  // namespace

namespace detail {

DelineationTuning MedianTuning(DelineationTuning t) {
  t.p_min_dominance = t.median_p_min_dominance;
  t.t_global_quantile = t.median_t_global_quantile;
  t.p_on_quantile = t.median_p_on_quantile;
  t.p_off_quantile = t.median_p_off_quantile;
  t.p_off_zhang_window_s = t.median_p_off_zhang_window_s;
  t.qrs_global_per_lead = t.median_qrs_global_per_lead;
  return t;
}

}  // namespace detail

Result<MedianDelineation> DelineateMedianBeats(const MedianBeatSet& medians) {
  return detail::DelineateMedianBeatsTuned(medians, detail::MedianTuning());
}

Result<MedianDelineation> DelineateMedianBeats(
    const MedianBeatSet& medians, std::span<const float> interleaved_mv,
    std::span<const ClassifiedBeat> beats) {
  if (medians.num_leads >= 1 &&
      interleaved_mv.size() % static_cast<std::size_t>(medians.num_leads) !=
          0) {
    return Fail(ErrorCode::kInvalidArgument,
                "interleaved_mv: size " + std::to_string(interleaved_mv.size()) +
                    " is not a multiple of medians.num_leads");
  }
  return detail::DelineateMedianBeatsWithBeatsTuned(
      medians, interleaved_mv, beats, detail::DelineationTuning{});
}

Result<MedianDelineation> detail::DelineateMedianBeatsWithBeatsTuned(
    const MedianBeatSet& medians, std::span<const float> interleaved_mv,
    std::span<const ClassifiedBeat> beats, const DelineationTuning& tuning) {
  DelineationTuning t = MedianTuning(tuning);
  t.p_min_dominance = tuning.p_min_dominance;
  auto d = DelineateMedianBeatsTuned(medians, t);
  if (!d || !d->global.has_p()) return d;
  if (PWaveCoherence(interleaved_mv, medians.num_leads, medians, d->global,
                     beats) < t.p_min_coherence) {
    d->global.p_onset = d->global.p_offset = -1;
    for (WaveFiducials& f : d->per_lead) f.p_onset = f.p_offset = -1;
  }
  return d;
}

Result<MedianDelineation> detail::DelineateMedianBeatsTuned(
    const MedianBeatSet& medians, const DelineationTuning& tuning) {
  if (Status s = CheckMedians(medians); !s) return Fail(s.error());
  const std::vector<float> x = FiniteCopy(medians.samples_mv);
  detail::WindowLimits limits;
  limits.p_search_begin = 0;
  limits.t_search_end = medians.length_frames;
  detail::WindowDelineation d = detail::DelineateWindow(
      x, medians.num_leads, medians.length_frames, medians.fiducial_index,
      medians.sample_rate_hz, limits, tuning);
  MedianDelineation out;
  out.per_lead = std::move(d.per_lead);
  out.global = d.global;
  return out;
}

namespace detail {

Result<std::vector<BeatDelineation>> DelineateBeatsTuned(
    std::span<const float> interleaved_mv, int num_leads,
    double sample_rate_hz, std::span<const ClassifiedBeat> beats,
    const MedianBeatOptions& options, const DelineationTuning& tuning) {
  // Validation is BuildMedianBeats's; an error other than "too few beats"
  // is a bad argument.
  auto medians = BuildMedianBeats(interleaved_mv, num_leads, sample_rate_hz,
                                  beats, options);
  if (!medians && medians.error().code() == ErrorCode::kInvalidArgument) {
    return Fail(medians.error());
  }
  const double fs = sample_rate_hz;
  const auto L = static_cast<std::size_t>(num_leads);
  // The median beat tells whether beats of its class have a P wave (AF:
  // the fibrillatory waves average out) and where to look for it.
  WindowLimits::PGuide guide = WindowLimits::PGuide::kNone;
  Index p_peak_from_qrs_on = 0;
  Index t_end_from_qrs_on = -1;
  BeatClass median_class = BeatClass::kNormal;
  if (medians) {
    WindowLimits ml;
    ml.t_search_end = medians->length_frames;
    const std::vector<float> mx = FiniteSamples(medians->samples_mv);
    const WindowDelineation md = DelineateWindow(
        mx, num_leads, medians->length_frames, medians->fiducial_index, fs, ml,
        tuning);
    median_class = medians->beat_class;
    if (md.global.has_qrs()) {
      const bool coherent =
          md.global.has_p() &&
          PWaveCoherence(interleaved_mv, num_leads, *medians, md.global,
                         beats) >= tuning.p_min_coherence;
      guide = coherent ? WindowLimits::PGuide::kAt
                       : WindowLimits::PGuide::kAbsent;
      p_peak_from_qrs_on = md.p_peak - md.velocity_qrs_onset;
      if (md.global.has_t()) {
        // The median of the leads' T ends, as each beat's per-lead points
        // are centred on it.
        std::vector<Index> ends;
        for (const WaveFiducials& f : md.per_lead) {
          if (f.has_t()) ends.push_back(f.t_offset);
        }
        if (!ends.empty()) {
          t_end_from_qrs_on = Quantile(ends, 0.5) - md.velocity_qrs_onset;
        }
      }
    }
  }
  const auto frames = static_cast<Index>(interleaved_mv.size() / L);
  const Index before = Frames(options.window_before_ms / 1000.0, fs);
  std::vector<BeatDelineation> out;
  out.reserve(beats.size());
  std::vector<float> window;
  for (std::size_t b = 0; b < beats.size(); ++b) {
    const Index s = beats[b].sample;
    BeatDelineation bd;
    bd.sample = s;
    bd.beat_class = beats[b].beat_class;
    bd.per_lead.assign(L, WaveFiducials{});
    double after_s = options.window_after_ms / 1000.0;
    if (b + 1 < beats.size() && beats[b + 1].sample > s) {
      const double rr = static_cast<double>(beats[b + 1].sample - s) / fs;
      after_s = std::min(after_s, std::max({0.6 * rr, rr - 0.22, 0.2}));
    }
    const Index start = std::max<Index>(0, s - before);
    const Index end = std::min<Index>(frames, s + Frames(after_s, fs) + 1);
    if (s < 0 || s >= frames || end - start < 8) {
      out.push_back(std::move(bd));
      continue;
    }
    const Index n = end - start;
    window.resize(L * U(n));
    for (std::size_t l = 0; l < L; ++l) {
      for (Index i = 0; i < n; ++i) {
        const float v = interleaved_mv[U(start + i) * L + l];
        window[l * U(n) + U(i)] = std::isfinite(v) ? v : 0.0f;
      }
    }
    WindowLimits limits;
    limits.t_search_end = n;
    if (beats[b].beat_class == median_class) {
      limits.p_guide = guide;
      limits.p_peak_from_qrs_on = p_peak_from_qrs_on;
      limits.t_end_from_qrs_on = t_end_from_qrs_on;
    } else if (beats[b].beat_class == BeatClass::kVentricular) {
      limits.p_guide = WindowLimits::PGuide::kAbsent;
    }
    if (b > 0 && beats[b - 1].sample < s) {
      limits.rr_before_s = static_cast<double>(s - beats[b - 1].sample) / fs;
    }
    WindowDelineation d =
        DelineateWindow(window, num_leads, n, s - start, fs, limits, tuning);
    auto shift = [start](WaveFiducials f) {
      for (std::int64_t* p : {&f.p_onset, &f.p_offset, &f.qrs_onset,
                              &f.qrs_offset, &f.t_offset}) {
        if (*p >= 0) *p += start;
      }
      return f;
    };
    bd.global = shift(d.global);
    for (std::size_t l = 0; l < L; ++l) bd.per_lead[l] = shift(d.per_lead[l]);
    out.push_back(std::move(bd));
  }
  return out;
}

}  // namespace detail

Result<std::vector<BeatDelineation>> DelineateBeats(
    std::span<const float> interleaved_mv, int num_leads,
    double sample_rate_hz, std::span<const ClassifiedBeat> beats,
    const MedianBeatOptions& options) {
  return detail::DelineateBeatsTuned(interleaved_mv, num_leads, sample_rate_hz,
                                     beats, options,
                                     detail::DelineationTuning{});
}

}  // namespace pulse::dsp
