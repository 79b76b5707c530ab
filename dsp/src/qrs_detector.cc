// Streaming multi-lead QRS detector.
//
// Pipeline (one pass, sample by sample; every stage is causal, so any
// chunking of the input gives the same beats):
//
//   frames ──► boxcar decimation to ~180 Hz (per lead)
//          ──► band-pass 5–18 Hz (2nd-order Butterworth HP + LP, per lead)
//          ──► slope: bp[n] − bp[n−2], in mV/s
//          ──► fusion: sum over leads of slope² ("spatial velocity")
//          ──► moving-window integration, 120 ms
//          ──► peaks: local maxima that are the largest within ±200 ms
//          ──► adaptive classification QRS / noise with searchback
//
// The classification follows Pan & Tompkins, "A real-time QRS detection
// algorithm", IEEE TBME 32(3), 1985: running signal and noise peak levels
// (SPKI, NPKI), threshold THR1 = NPKI + 0.25 (SPKI − NPKI), T-wave rejection
// within 360 ms by slope, and a searchback at THR1/2 when no beat has been
// found for 1.66 mean RR. Fusing leads before integration follows the
// "spatial velocity" idea of multi-lead detectors (e.g. Christov 2004): a
// beat that is small in one lead is usually large in another.
//
// Decimation: QRS energy lies below ~40 Hz (Thakor et al. 1984), so the
// detector works at fs / D with D = round(fs / 180 Hz); a boxcar over D
// samples is the anti-alias filter. This keeps the cost per input sample at
// a few operations, which is what makes ≥ 100 000 × real time possible.
//
// Latency: a peak is confirmed kPeakWindowSeconds after it; a searchback is
// decided at most kMaxSearchbackSeconds after the last beat; the first
// kLearningSeconds are buffered to initialise the levels. The larger of those
// (plus filter delay) bounds the time from a beat to its emission.
#include "pulse/dsp/qrs_detector.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <string>

namespace pulse::dsp {
namespace {

constexpr double kMinSampleRateHz = 80.0;
constexpr double kMaxSampleRateHz = 1000.0;
constexpr int kMaxLeads = 12;

constexpr double kDetectionRateHz = 180.0;
constexpr double kBandLowHz = 5.0;
constexpr double kBandHighHz = 18.0;
constexpr double kIntegrationSeconds = 0.12;
// A QRS peak is the largest integrated value within this distance either
// side; it doubles as the refractory period (Pan & Tompkins: 200 ms).
constexpr double kPeakWindowSeconds = 0.2;
constexpr double kTWaveWindowSeconds = 0.36;
// A peak inside the T-wave window whose slope is below this fraction of the
// previous QRS slope is a T wave (Pan & Tompkins: half the slope; our slope
// feature is squared).
constexpr double kTWaveSlopeRatio = 0.25;
constexpr double kLearningSeconds = 2.0;
constexpr double kSearchbackRrFactor = 1.66;
constexpr double kMaxSearchbackSeconds = 3.0;
constexpr double kInitialRrSeconds = 0.8;
constexpr int kRrHistory = 8;
// Delay from the steepest QRS slope, as the band-pass and slope stages see
// it, to the annotated R peak; measured on ../shared/data/mitdb (mean offset
// of matched beats, docs/accuracy.md).
constexpr double kFiducialDelaySeconds = 0.030;
// A lead's normalised slope is clipped here so that an artefact in one lead
// cannot outweigh a clean beat in the others.
constexpr double kLeadClip = 2.0;
constexpr double kInitialNoiseFactor = 2.0;
constexpr double kMaxLevelStep = 3.0;
constexpr double kFailedSearchbackDecay = 0.5;
// Lead levels stay above this fraction of the largest lead level, so a
// lead that has gone flat is not amplified into noise.
constexpr double kLeadLevelFloor = 0.05;
constexpr double kAbsoluteLevelFloorMvPerS = 0.5;

// Direct-form-II-transposed biquad with double state.
struct Biquad {
  double b0 = 1, b1 = 0, b2 = 0, a1 = 0, a2 = 0;
  double s1 = 0, s2 = 0;

  double Step(double x) {
    const double y = b0 * x + s1;
    s1 = b1 * x - a1 * y + s2;
    s2 = b2 * x - a2 * y;
    return y;
  }
  void Clear() { s1 = s2 = 0; }
  // Sets the state a constant input `x` would have left, so that a record
  // starting far from 0 mV does not begin with a step (and a false beat).
  void SettleAt(double x) {
    const double y = x * (b0 + b1 + b2) / (1.0 + a1 + a2);
    s2 = b2 * x - a2 * y;
    s1 = b1 * x - a1 * y + s2;
  }
};

// RBJ Audio EQ Cookbook low/high-pass, Q = 1/sqrt(2) (Butterworth).
Biquad DesignButterworth(bool highpass, double cutoff_hz, double rate_hz) {
  const double w0 = 2.0 * M_PI * cutoff_hz / rate_hz;
  const double alpha = std::sin(w0) / (2.0 * M_SQRT1_2);
  const double cosw = std::cos(w0);
  const double a0 = 1.0 + alpha;
  Biquad q;
  if (highpass) {
    q.b0 = (1.0 + cosw) / 2.0 / a0;
    q.b1 = -(1.0 + cosw) / a0;
  } else {
    q.b0 = (1.0 - cosw) / 2.0 / a0;
    q.b1 = (1.0 - cosw) / a0;
  }
  q.b2 = q.b0;
  q.a1 = -2.0 * cosw / a0;
  q.a2 = (1.0 - alpha) / a0;
  return q;
}

// Sliding-window maximum over the last `width` values (monotone deque in a
// fixed ring; amortised O(1), no allocation after construction).
class SlidingMax {
 public:
  void Init(int width) {
    width_ = width;
    index_.assign(static_cast<std::size_t>(width + 1), 0);
    value_.assign(static_cast<std::size_t>(width + 1), 0.0);
    Clear();
  }
  void Clear() { head_ = tail_ = size_ = 0; }
  void Push(std::int64_t i, double v) {
    while (size_ > 0 && value_[Back()] <= v) {
      tail_ = Back();
      --size_;
    }
    index_[tail_] = i;
    value_[tail_] = v;
    tail_ = Next(tail_);
    ++size_;
    while (index_[head_] <= i - width_) {
      head_ = Next(head_);
      --size_;
    }
  }
  double Max() const { return value_[head_]; }

 private:
  std::size_t Next(std::size_t k) const {
    return k + 1 == index_.size() ? 0 : k + 1;
  }
  std::size_t Back() const {
    return tail_ == 0 ? index_.size() - 1 : tail_ - 1;
  }
  int width_ = 1;
  std::vector<std::int64_t> index_;
  std::vector<double> value_;
  std::size_t head_ = 0, tail_ = 0, size_ = 0;
};

struct Peak {
  std::int64_t index = 0;  // decimated sample index of the integrated peak
  double height = 0;       // integrated value at the peak
  double slope = 0;        // largest fused slope² in the integration window
  std::int64_t slope_index = 0;  // where that slope is
  std::int64_t fiducial_frame = 0;
};

std::size_t RoundUpPow2(std::size_t n) {
  std::size_t p = 1;
  while (p < n) p <<= 1;
  return p;
}

}  // namespace

struct QrsDetector::State {
  QrsDetectorConfig config;
  int decimation = 1;
  double rate_hz = 0;  // after decimation
  int integration_len = 1;
  int peak_half_window = 1;
  int twave_window = 1;
  int learning_len = 1;
  int max_searchback = 1;
  int refractory = 1;
  std::int64_t fiducial_delay_frames = 0;

  // Per lead.
  std::vector<double> boxcar;
  std::vector<Biquad> highpass, lowpass;
  std::vector<std::array<double, 2>> past_bp;  // bp[n-1], bp[n-2]
  // Typical |slope| of a QRS in each lead (mV/s): the fusion divides by it
  // so that every lead counts alike whatever its amplitude.
  std::vector<double> lead_level;
  // Typical largest |slope| between beats in each lead (mV/s): T waves,
  // noise, artefact. level / noise is the lead's signal-to-noise ratio.
  std::vector<double> lead_noise;
  // Share of each lead in the fusion, from its signal-to-noise ratio; sums
  // to 1.
  std::vector<double> lead_weight;
  std::vector<double> learning_lead_max;
  std::vector<double> learning_lead_sum;
  std::int64_t last_qrs_slope_index = -1;
  int boxcar_fill = 0;
  std::int64_t frames_in = 0;

  // Decimated streams, in rings indexed by decimated sample n & mask.
  std::int64_t n = 0;  // decimated samples produced so far
  std::size_t mask = 0;
  std::vector<double> fused;       // normalised slope² summed over leads
  std::vector<float> lead_slope;   // |slope| per lead, ring × num_leads
  std::vector<double> integrated;  // moving average of `fused`
  double integration_sum = 0;
  SlidingMax window_max;

  // Classification.
  bool learning = true;
  std::vector<Peak> learning_peaks;
  double learning_max = 0;
  double learning_sum = 0;
  double signal_level = 0;  // SPKI
  double noise_level = 0;   // NPKI
  std::int64_t last_qrs = -1;  // decimated index, -1 before the first beat
  double last_qrs_slope = 0;
  std::int64_t searchback_from = 0;
  std::vector<Peak> noise_peaks;  // since `searchback_from`, for searchback
  std::array<double, kRrHistory> rr{};
  int rr_count = 0;
  double rr_mean = 0;  // decimated samples

  double Threshold() const {
    return noise_level + 0.25 * (signal_level - noise_level);
  }

  void ResetStreams() {
    std::fill(boxcar.begin(), boxcar.end(), 0.0);
    for (auto& q : highpass) q.Clear();
    for (auto& q : lowpass) q.Clear();
    for (auto& p : past_bp) p = {0.0, 0.0};
    std::fill(lead_level.begin(), lead_level.end(), 1.0);
    std::fill(learning_lead_max.begin(), learning_lead_max.end(), 0.0);
    std::fill(learning_lead_sum.begin(), learning_lead_sum.end(), 0.0);
    std::fill(lead_noise.begin(), lead_noise.end(), 1.0);
    std::fill(lead_weight.begin(), lead_weight.end(), 1.0 / config.num_leads);
    last_qrs_slope_index = -1;
    std::fill(lead_slope.begin(), lead_slope.end(), 0.0f);
    boxcar_fill = 0;
    frames_in = 0;
    n = 0;
    std::fill(fused.begin(), fused.end(), 0.0);
    std::fill(integrated.begin(), integrated.end(), 0.0);
    integration_sum = 0;
    window_max.Clear();
    learning = true;
    learning_peaks.clear();
    learning_max = learning_sum = 0;
    signal_level = noise_level = 0;
    last_qrs = -1;
    last_qrs_slope = 0;
    searchback_from = 0;
    noise_peaks.clear();
    rr.fill(0);
    rr_count = 0;
    rr_mean = kInitialRrSeconds * rate_hz;
  }

  std::int64_t MaxLatencyFrames() const {
    const int decimated = std::max(
        {learning_len, max_searchback, peak_half_window + integration_len});
    return static_cast<std::int64_t>(decimated + 4) * decimation;
  }

  // Feeds one frame of `num_leads` samples.
  void PushFrame(const float* frame, std::vector<QrsDetection>* out) {
    const int leads = config.num_leads;
    for (int l = 0; l < leads; ++l) boxcar[l] += frame[l];
    ++frames_in;
    if (++boxcar_fill < decimation) return;
    boxcar_fill = 0;
    double fused_now = 0;
    const double inv_d = 1.0 / decimation;
    float* slopes = &lead_slope[(static_cast<std::size_t>(n) & mask) * leads];
    for (int l = 0; l < leads; ++l) {
      const double x = boxcar[l] * inv_d;
      boxcar[l] = 0;
      if (n == 0) highpass[l].SettleAt(x);
      const double bp = lowpass[l].Step(highpass[l].Step(x));
      const double slope = std::fabs(bp - past_bp[l][1]) * (rate_hz * 0.5);
      past_bp[l][1] = past_bp[l][0];
      past_bp[l][0] = bp;
      slopes[l] = static_cast<float>(slope);
      if (learning) {
        learning_lead_max[l] = std::max(learning_lead_max[l], slope);
        learning_lead_sum[l] += slope;
        fused_now += slope * slope;
      } else {
        const double r = std::min(slope / lead_level[l], kLeadClip);
        fused_now += lead_weight[l] * r * r;
      }
    }
    PushDecimated(fused_now, out);
  }

  void PushDecimated(double fused_now, std::vector<QrsDetection>* out) {
    const std::size_t k = static_cast<std::size_t>(n) & mask;
    integration_sum += fused_now -
        fused[static_cast<std::size_t>(n - integration_len) & mask];
    fused[k] = fused_now;
    // Guard against drift of the running sum from rounding.
    if (integration_sum < 0) integration_sum = 0;
    const double m = integration_sum / integration_len;
    integrated[k] = m;
    window_max.Push(n, m);
    if (learning) {
      learning_max = std::max(learning_max, m);
      learning_sum += m;
    }
    // The sample `peak_half_window` ago is a peak when it rose above its
    // predecessor and nothing in the ±window exceeds it.
    const std::int64_t c = n - peak_half_window;
    if (c >= 1) {
      const double mc = integrated[static_cast<std::size_t>(c) & mask];
      const double before = integrated[static_cast<std::size_t>(c - 1) & mask];
      if (mc > before && mc >= window_max.Max() && mc > 0) {
        OnPeak(MakePeak(c, mc), out);
      }
    }
    ++n;
    if (learning && n >= learning_len) EndLearning(out);
    if (!learning) MaybeSearchback(out);
  }

  Peak MakePeak(std::int64_t c, double height) const {
    Peak p;
    p.index = c;
    p.height = height;
    std::int64_t best = c;
    double best_slope = -1;
    for (std::int64_t i = c - integration_len + 1; i <= c; ++i) {
      if (i < 0) continue;
      const double v = fused[static_cast<std::size_t>(i) & mask];
      if (v > best_slope) {
        best_slope = v;
        best = i;
      }
    }
    p.slope = best_slope;
    p.slope_index = best;
    // Decimated sample i covers frames [i·D, i·D + D); its centre, less the
    // delay of the band-pass and slope stages, is the fiducial.
    const std::int64_t frame = best * decimation + decimation / 2 -
                               fiducial_delay_frames;
    p.fiducial_frame = std::max<std::int64_t>(0, frame);
    return p;
  }

  void OnPeak(const Peak& p, std::vector<QrsDetection>* out) {
    if (learning) {
      learning_peaks.push_back(p);
      return;
    }
    Classify(p, out);
  }

  void EndLearning(std::vector<QrsDetection>* out) {
    learning = false;
    for (int l = 0; l < config.num_leads; ++l) {
      lead_level[l] = 0.5 * learning_lead_max[l];
      lead_noise[l] = kInitialNoiseFactor * learning_lead_sum[l] /
                      static_cast<double>(std::max<std::int64_t>(1, n));
    }
    FloorLeadLevels();
    UpdateLeadWeights();
    // The learning peaks were measured on the raw fusion; re-measure them on
    // the normalised one so that later peaks compare alike.
    RenormaliseLearning();
    signal_level = learning_max / 3.0;
    noise_level = 0.5 * learning_sum / static_cast<double>(std::max<std::int64_t>(1, n));
    searchback_from = 0;
    for (const Peak& p : learning_peaks) Classify(p, out);
    learning_peaks.clear();
  }

  void Classify(const Peak& p, std::vector<QrsDetection>* out) {
    if (p.height > Threshold()) {
      const bool in_twave_window =
          last_qrs >= 0 && p.index - last_qrs < twave_window;
      if (in_twave_window && p.slope < kTWaveSlopeRatio * last_qrs_slope) {
        noise_level = 0.125 * p.height + 0.875 * noise_level;
        return;
      }
      // An artefact can be many times taller than any QRS; limiting its pull
      // on the signal level keeps the beats after it detectable.
      const double strength = p.height / Threshold();
      const double capped = std::min(p.height, kMaxLevelStep * signal_level);
      signal_level = 0.125 * capped + 0.875 * signal_level;
      AcceptBeat(p, strength, out);
      return;
    }
    noise_level = 0.125 * p.height + 0.875 * noise_level;
    noise_peaks.push_back(p);
  }

  void FloorLeadLevels() {
    double top = 0;
    for (double v : lead_level) top = std::max(top, v);
    const double floor = std::max(kAbsoluteLevelFloorMvPerS,
                                  kLeadLevelFloor * top);
    for (double& v : lead_level) v = std::max(v, floor);
  }

  // Recomputes `fused`, `integrated` and the learning peaks with the lead
  // levels just set. The ring still holds the whole learning period.
  void RenormaliseLearning() {
    const int leads = config.num_leads;
    const std::int64_t first = std::max<std::int64_t>(0, n - static_cast<std::int64_t>(mask));
    double sum = 0;
    double max_m = 0, total_m = 0;
    for (std::int64_t i = first; i < n; ++i) {
      const std::size_t k = static_cast<std::size_t>(i) & mask;
      double f = 0;
      for (int l = 0; l < leads; ++l) {
        const double r = std::min(lead_slope[k * leads + l] / lead_level[l], kLeadClip);
        f += lead_weight[l] * r * r;
      }
      fused[k] = f;
      sum += f;
      if (i - integration_len >= first) sum -= fused[static_cast<std::size_t>(i - integration_len) & mask];
      integrated[k] = std::max(0.0, sum) / integration_len;
      max_m = std::max(max_m, integrated[k]);
      total_m += integrated[k];
    }
    integration_sum = std::max(0.0, sum);
    // The sliding maximum still holds raw-scale values; refill it.
    window_max.Clear();
    for (std::int64_t i = std::max(first, n - 2 * peak_half_window - 1); i < n; ++i)
      window_max.Push(i, integrated[static_cast<std::size_t>(i) & mask]);
    learning_max = max_m;
    learning_sum = total_m;
    for (Peak& p : learning_peaks) p = MakePeak(p.index, integrated[static_cast<std::size_t>(p.index) & mask]);
  }

  double LeadMax(int l, std::int64_t from, std::int64_t to) const {
    const int leads = config.num_leads;
    from = std::max({from, std::int64_t{0}, n - static_cast<std::int64_t>(mask)});
    to = std::min(to, n - 1);
    double peak = 0;
    for (std::int64_t i = from; i <= to; ++i)
      peak = std::max<double>(peak, lead_slope[(static_cast<std::size_t>(i) & mask) * leads + l]);
    return peak;
  }

  void UpdateLeadWeights() {
    double total = 0;
    for (int l = 0; l < config.num_leads; ++l) {
      const double snr = lead_level[l] / std::max(lead_noise[l], 1e-6);
      lead_weight[l] = snr * snr;
      total += lead_weight[l];
    }
    for (double& w : lead_weight) w /= total;
  }

  void UpdateLeadLevels(std::int64_t centre) {
    const int half = std::max(1, integration_len / 2);
    for (int l = 0; l < config.num_leads; ++l) {
      lead_level[l] = 0.875 * lead_level[l] +
                      0.125 * LeadMax(l, centre - half, centre + half);
      if (last_qrs_slope_index >= 0 && centre - last_qrs_slope_index > 4 * half) {
        lead_noise[l] = 0.875 * lead_noise[l] +
                        0.125 * LeadMax(l, last_qrs_slope_index + 2 * half,
                                        centre - 2 * half);
      }
    }
    FloorLeadLevels();
    UpdateLeadWeights();
    last_qrs_slope_index = centre;
  }

  void AcceptBeat(const Peak& p, double strength,
                  std::vector<QrsDetection>* out) {
    UpdateLeadLevels(p.slope_index);
    if (last_qrs >= 0) {
      const double interval = static_cast<double>(p.index - last_qrs);
      rr[static_cast<std::size_t>(rr_count % kRrHistory)] = interval;
      ++rr_count;
      const int used = std::min(rr_count, kRrHistory);
      double sum = 0;
      for (int i = 0; i < used; ++i) sum += rr[static_cast<std::size_t>(i)];
      rr_mean = sum / used;
    }
    last_qrs = p.index;
    last_qrs_slope = p.slope;
    searchback_from = p.index;
    noise_peaks.clear();
    out->push_back(QrsDetection{p.fiducial_frame, static_cast<float>(strength)});
  }

  void MaybeSearchback(std::vector<QrsDetection>* out) {
    const std::int64_t anchor = std::max<std::int64_t>(searchback_from, 0);
    const double wait = std::min(kSearchbackRrFactor * rr_mean,
                                 static_cast<double>(max_searchback));
    if (static_cast<double>(n - anchor) < wait) return;
    const Peak* best = nullptr;
    const double threshold = 0.5 * Threshold();
    for (const Peak& p : noise_peaks) {
      if (last_qrs >= 0 && p.index - last_qrs < refractory) continue;
      if (p.height > threshold && (best == nullptr || p.height > best->height))
        best = &p;
    }
    if (best != nullptr) {
      const Peak found = *best;
      const double strength = found.height / Threshold();
      signal_level = 0.25 * found.height + 0.75 * signal_level;
      // Peaks after the recovered beat stay candidates for the next round.
      std::vector<Peak> later;
      for (const Peak& p : noise_peaks)
        if (p.index > found.index) later.push_back(p);
      AcceptBeat(found, strength, out);
      noise_peaks = std::move(later);
    } else {
      // Nothing even at half threshold: the beats may have shrunk (a lead
      // dropped out, gain changed). Lower the expectation so that the
      // detector re-adapts within a few beats instead of never.
      signal_level = std::max(noise_level,
                              kFailedSearchbackDecay * signal_level);
      searchback_from = n;
      noise_peaks.clear();
    }
  }
};

Result<QrsDetector> QrsDetector::Create(const QrsDetectorConfig& config) {
  if (!(config.sample_rate_hz >= kMinSampleRateHz &&
        config.sample_rate_hz <= kMaxSampleRateHz)) {
    return Fail(ErrorCode::kInvalidArgument,
                "QrsDetectorConfig.sample_rate_hz = " +
                    std::to_string(config.sample_rate_hz) +
                    ": must be within 80..1000 Hz");
  }
  if (config.num_leads < 1 || config.num_leads > kMaxLeads) {
    return Fail(ErrorCode::kInvalidArgument,
                "QrsDetectorConfig.num_leads = " +
                    std::to_string(config.num_leads) +
                    ": must be within 1..12");
  }
  auto s = std::make_unique<State>();
  s->config = config;
  s->decimation = std::max(
      1, static_cast<int>(std::lround(config.sample_rate_hz /
                                      kDetectionRateHz)));
  s->rate_hz = config.sample_rate_hz / s->decimation;
  auto samples = [&](double seconds) {
    return std::max(1, static_cast<int>(std::lround(seconds * s->rate_hz)));
  };
  s->integration_len = samples(kIntegrationSeconds);
  s->peak_half_window = samples(kPeakWindowSeconds);
  s->refractory = samples(kPeakWindowSeconds);
  s->twave_window = samples(kTWaveWindowSeconds);
  s->learning_len = samples(kLearningSeconds);
  s->max_searchback = samples(kMaxSearchbackSeconds);
  s->fiducial_delay_frames =
      std::lround(kFiducialDelaySeconds * config.sample_rate_hz);

  const auto leads = static_cast<std::size_t>(config.num_leads);
  s->boxcar.assign(leads, 0.0);
  s->highpass.assign(leads, DesignButterworth(true, kBandLowHz, s->rate_hz));
  s->lowpass.assign(leads, DesignButterworth(false, kBandHighHz, s->rate_hz));
  s->past_bp.assign(leads, {0.0, 0.0});
  s->lead_level.assign(leads, 1.0);
  s->learning_lead_max.assign(leads, 0.0);
  s->learning_lead_sum.assign(leads, 0.0);
  s->lead_noise.assign(leads, 1.0);
  s->lead_weight.assign(leads, 1.0 / config.num_leads);
  const std::size_t ring = RoundUpPow2(static_cast<std::size_t>(
      std::max(2 * (s->peak_half_window + s->integration_len) + 8,
               s->learning_len + 2)));
  s->mask = ring - 1;
  s->fused.assign(ring, 0.0);
  s->integrated.assign(ring, 0.0);
  s->lead_slope.assign(ring * leads, 0.0f);
  s->window_max.Init(2 * s->peak_half_window + 1);
  const std::size_t max_peaks = static_cast<std::size_t>(
      s->max_searchback / s->peak_half_window + s->learning_len + 8);
  s->noise_peaks.reserve(max_peaks);
  s->learning_peaks.reserve(max_peaks);
  s->ResetStreams();
  return QrsDetector(std::move(s));
}

QrsDetector::QrsDetector(std::unique_ptr<State> state)
    : state_(std::move(state)) {}
QrsDetector::QrsDetector(QrsDetector&&) noexcept = default;
QrsDetector& QrsDetector::operator=(QrsDetector&&) noexcept = default;
QrsDetector::~QrsDetector() = default;

void QrsDetector::Process(std::span<const float> interleaved_mv,
                          std::vector<QrsDetection>* detections) {
  const std::size_t leads = static_cast<std::size_t>(state_->config.num_leads);
  const float* p = interleaved_mv.data();
  const float* end = p + interleaved_mv.size() / leads * leads;
  for (; p != end; p += leads) state_->PushFrame(p, detections);
}

void QrsDetector::Finish(std::vector<QrsDetection>* detections) {
  State& s = *state_;
  // Continue as if the signal were held at its last value (zero slope) long
  // enough for every pending decision, then drop anything that would lie past
  // the real input.
  const std::int64_t real_frames = s.frames_in;
  const std::size_t first_new = detections->size();
  const std::int64_t extra = s.MaxLatencyFrames() / s.decimation + 1;
  for (std::int64_t i = 0; i < extra; ++i) s.PushDecimated(0.0, detections);
  if (s.learning) s.EndLearning(detections);
  std::size_t kept = first_new;
  for (std::size_t i = first_new; i < detections->size(); ++i) {
    if ((*detections)[i].sample < real_frames) (*detections)[kept++] = (*detections)[i];
  }
  detections->resize(kept);
}

std::int64_t QrsDetector::max_latency_frames() const {
  return state_->MaxLatencyFrames();
}

void QrsDetector::Reset() { state_->ResetStreams(); }

const QrsDetectorConfig& QrsDetector::config() const { return state_->config; }

}  // namespace pulse::dsp
