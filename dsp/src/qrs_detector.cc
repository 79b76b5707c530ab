// Streaming multi-lead QRS detector.
//
// Pipeline (one pass, sample by sample; every stage is causal, so any
// chunking of the input gives the same beats):
//
//   frames ──► boxcar decimation to ~120 Hz                     (per lead)
//          ──► band-pass 5–18 Hz, 2nd-order Butterworth HP + LP  (per lead)
//          ──► slope |bp[n] − bp[n−2]| in mV/s                   (per lead)
//          ──► fusion: Σ_leads weight · min(slope / level, 2)²
//          ──► moving-window integration, 120 ms
//          ──► peaks: rising local maxima, largest within ±200 ms
//          ──► classification QRS / T wave / noise, with searchback
//
// Classification follows Pan & Tompkins, "A real-time QRS detection
// algorithm", IEEE TBME 32(3):230-236, 1985: running signal and noise peak
// levels (their SPKI, NPKI), threshold THR1 = NPKI + 0.25 (SPKI − NPKI),
// T-wave rejection within 360 ms by slope, and a searchback at THR1 / 2 when
// no beat has been found for 1.66 mean RR. Three departures, each measured on
// ../shared/data/mitdb (docs/accuracy.md):
//  * Leads are fused before integration, each normalised by its own typical
//    QRS slope and weighted by its signal-to-noise ratio squared (QRS slope
//    over the largest slope between beats). A lead that goes flat or fills
//    with artefact fades out of the sum; the others carry the beats (the
//    multi-lead idea of Christov, BioMed Eng OnLine 3:28, 2004).
//  * One artefact cannot raise SPKI by more than a bounded step.
//  * A searchback that finds nothing halves SPKI, so that beats which shrink
//    suddenly (a lead lost, a gain change) are found again within a few
//    seconds instead of never.
//
// Decimation: QRS energy lies below ~40 Hz (Thakor, Webster & Tompkins,
// IEEE TBME 31(10), 1984), so the detector works at fs / D with
// D = round(fs / 120 Hz); the boxcar over D samples is the anti-alias filter.
// That keeps the work per input sample to a few operations.
//
// Latency: a peak is confirmed kPeakWindowSeconds after it; a searchback is
// decided at most kMaxSearchbackSeconds after the last beat; the first
// kLearningSeconds are held back to initialise the levels. The largest of
// those bounds the time from a beat to its emission (max_latency_frames()).
#include "pulse/dsp/qrs_detector.h"

#include "pulse/dsp/biquad.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <string>

namespace pulse::dsp {
namespace {

constexpr double kMinSampleRateHz = 80.0;
constexpr double kMaxSampleRateHz = 1000.0;
constexpr int kMaxLeads = 12;

constexpr double kDetectionRateHz = 120.0;
constexpr double kBandLowHz = 5.0;
constexpr double kBandHighHz = 18.0;
constexpr double kIntegrationSeconds = 0.12;
// A QRS peak is the largest integrated value within this distance either
// side; it doubles as the refractory period (Pan & Tompkins: 200 ms).
constexpr double kPeakWindowSeconds = 0.2;
constexpr double kTWaveWindowSeconds = 0.36;
// A peak inside the T-wave window whose slope is below this fraction of the
// previous QRS slope is a T wave (Pan & Tompkins: half the slope; our slope
// feature is squared, hence a quarter).
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
// Lead levels stay above this fraction of the largest lead level, so that a
// lead that has gone flat is not amplified into noise, and above an
// absolute floor far below any QRS slope.
constexpr double kLeadLevelFloor = 0.05;
constexpr double kAbsoluteLevelFloorMvPerS = 0.5;
// Initial noise estimate per lead: this many times its mean |slope| over
// the learning period.
constexpr double kInitialNoiseFactor = 2.0;
// Largest factor by which one peak may pull SPKI above itself.
constexpr double kMaxLevelStep = 3.0;
// SPKI multiplier after a searchback that found nothing.
constexpr double kFailedSearchbackDecay = 0.5;
// Exponential averaging weight of a new peak in SPKI, NPKI and lead levels
// (Pan & Tompkins: 0.125; 0.25 for beats found by searchback).
constexpr double kLevelUpdate = 0.125;
constexpr double kSearchbackLevelUpdate = 0.25;

// One biquad section with its double-precision state, stepped inline in the
// hot loop (BiquadCascade processes float samples through a call per
// sample, which costs this detector a third of its speed).
struct Biquad {
  BiquadCoefficients c;
  double s1 = 0, s2 = 0;

  double Step(double x) {
    const double y = c.b0 * x + s1;
    s1 = c.b1 * x - c.a1 * y + s2;
    s2 = c.b2 * x - c.a2 * y;
    return y;
  }
  // Sets the state a constant input `x` would have left, so that a record
  // starting far from 0 mV does not begin with a step (and a false beat).
  void SettleAt(double x) {
    const double y = x * (c.b0 + c.b1 + c.b2) / (1.0 + c.a1 + c.a2);
    s2 = c.b2 * x - c.a2 * y;
    s1 = c.b1 * x - c.a1 * y + s2;
  }
};

struct Peak {
  std::int64_t index = 0;        // decimated sample of the integrated peak
  double height = 0;             // integrated value there
  double slope = 0;              // largest fused value in the window before
  std::int64_t slope_index = 0;  // where that is
  std::int64_t fiducial_frame = 0;
};

// Per-lead filter state and statistics.
struct Lead {
  Biquad highpass, lowpass;
  double boxcar = 0;  // sum of the input frames of the current decimation
  double bp1 = 0, bp2 = 0;  // band-passed value one and two samples ago
  // Typical |slope| of a QRS (mV/s) and typical largest |slope| between
  // beats (T waves, noise, artefact); their ratio is the lead's SNR.
  double level = 1, noise = 1;
  double weight = 1;  // share in the fusion; all leads' weights sum to 1
  // Fusion adds min(slope · gain, clip)²: gain = √weight / level and
  // clip = √weight · kLeadClip, i.e. weight · min(slope / level, kLeadClip)².
  double gain = 1, clip = kLeadClip;
  double learning_max = 0, learning_sum = 0;
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
  double slope_scale = 0;  // mV per 2 samples → mV/s
  int integration_len = 1;
  double inv_integration_len = 1;
  int peak_half_window = 1;
  int twave_window = 1;
  int learning_len = 1;
  int max_searchback = 1;
  std::int64_t fiducial_delay_frames = 0;
  Biquad highpass_design, lowpass_design;

  std::vector<Lead> leads;
  int boxcar_fill = 0;
  std::int64_t frames_in = 0;

  // Decimated streams in rings indexed by (decimated sample & mask).
  std::int64_t n = 0;  // decimated samples produced so far
  std::size_t mask = 0;
  std::vector<double> fused;
  std::vector<double> integrated;
  std::vector<float> lead_slope;  // |slope| per lead: ring × num_leads
  double integration_sum = 0;

  // Classification.
  bool learning = true;
  std::vector<Peak> learning_peaks;
  double learning_max = 0;
  double learning_sum = 0;
  double signal_level = 0;  // SPKI
  double noise_level = 0;   // NPKI
  std::int64_t last_qrs = -1;  // decimated index; -1 before the first beat
  std::int64_t last_qrs_slope_index = -1;
  double last_qrs_slope = 0;
  std::vector<Peak> noise_peaks;  // candidates for the next searchback
  std::int64_t searchback_due = 0;  // decimated index of the next searchback
  std::array<double, kRrHistory> rr{};
  int rr_count = 0;
  double rr_mean = 0;  // decimated samples

  double Threshold() const {
    return noise_level + 0.25 * (signal_level - noise_level);
  }

  std::size_t Slot(std::int64_t i) const {
    return static_cast<std::size_t>(i) & mask;
  }

  void Reset() {
    for (Lead& lead : leads) {
      lead = Lead{};
      lead.highpass = highpass_design;
      lead.lowpass = lowpass_design;
      lead.weight = 1.0 / static_cast<double>(leads.size());
    }
    boxcar_fill = 0;
    frames_in = 0;
    n = 0;
    std::fill(fused.begin(), fused.end(), 0.0);
    std::fill(integrated.begin(), integrated.end(), 0.0);
    std::fill(lead_slope.begin(), lead_slope.end(), 0.0f);
    integration_sum = 0;
    learning = true;
    learning_peaks.clear();
    learning_max = learning_sum = 0;
    signal_level = noise_level = 0;
    last_qrs = last_qrs_slope_index = -1;
    last_qrs_slope = 0;
    noise_peaks.clear();
    rr.fill(0);
    rr_count = 0;
    rr_mean = kInitialRrSeconds * rate_hz;
    ScheduleSearchback(0);
  }

  std::int64_t MaxLatencyFrames() const {
    const int decimated = std::max(
        {learning_len, max_searchback, peak_half_window + integration_len});
    return static_cast<std::int64_t>(decimated + 4) * decimation +
           fiducial_delay_frames;
  }

  // --- Signal path -------------------------------------------------------

  // Consumes `frames` whole frames; the hot loop of the detector. Each
  // lead's boxcar sums its samples in frame order whatever the chunking, so
  // the result is bit-identical for any split of the input.
  void ProcessFrames(const float* p, std::size_t frames,
                     std::vector<QrsDetection>* out) {
    const std::size_t num_leads = leads.size();
    frames_in += static_cast<std::int64_t>(frames);
    while (frames > 0) {
      const std::size_t take = std::min<std::size_t>(
          frames, static_cast<std::size_t>(decimation - boxcar_fill));
      for (std::size_t l = 0; l < num_leads; ++l) {
        double sum = leads[l].boxcar;
        const float* q = p + l;
        for (std::size_t f = 0; f < take; ++f, q += num_leads) sum += *q;
        leads[l].boxcar = sum;
      }
      p += take * num_leads;
      frames -= take;
      boxcar_fill += static_cast<int>(take);
      if (boxcar_fill == decimation) {
        boxcar_fill = 0;
        PushDecimated(FuseLeads(), out);
      }
    }
  }

  // Filters the decimated sample of every lead and returns their fusion.
  double FuseLeads() {
    const double inv_d = 1.0 / decimation;
    float* slopes = &lead_slope[Slot(n) * leads.size()];
    double fused_now = 0;
    if (n == 0) [[unlikely]] {
      for (Lead& lead : leads) lead.highpass.SettleAt(lead.boxcar * inv_d);
    }
    std::size_t l = 0;
    for (Lead& lead : leads) {
      const double bp = lead.lowpass.Step(lead.highpass.Step(lead.boxcar * inv_d));
      lead.boxcar = 0;
      const double slope = std::fabs(bp - lead.bp2) * slope_scale;
      lead.bp2 = lead.bp1;
      lead.bp1 = bp;
      slopes[l++] = static_cast<float>(slope);
      const double r = std::min(slope * lead.gain, lead.clip);
      fused_now += r * r;
    }
    if (learning) {
      // Levels are unknown until learning ends: use raw slope² meanwhile and
      // re-normalise the ring then (RenormaliseLearning).
      fused_now = 0;
      for (std::size_t i = 0; i < leads.size(); ++i) {
        const double slope = slopes[i];
        leads[i].learning_max = std::max(leads[i].learning_max, slope);
        leads[i].learning_sum += slope;
        fused_now += slope * slope;
      }
    }
    return fused_now;
  }

  void PushDecimated(double fused_now, std::vector<QrsDetection>* out) {
    const std::size_t k = Slot(n);
    integration_sum += fused_now - fused[Slot(n - integration_len)];
    fused[k] = fused_now;
    // Rounding may leave the running sum a hair below zero on silence.
    if (integration_sum < 0) integration_sum = 0;
    const double m = integration_sum * inv_integration_len;
    integrated[k] = m;
    if (learning) {
      learning_max = std::max(learning_max, m);
      learning_sum += m;
    }
    // The sample `peak_half_window` ago is a peak when it rose above its
    // predecessor and nothing within ± the window exceeds it. Local maxima
    // are rare, so the window is scanned only for them.
    const std::int64_t c = n - peak_half_window;
    if (c >= 1) {
      const double mc = integrated[Slot(c)];
      if (mc > 0 && mc > integrated[Slot(c - 1)] &&
          mc >= integrated[Slot(c + 1)] && IsWindowMaximum(c, mc)) {
        OnPeak(MakePeak(c, mc), out);
      }
    }
    ++n;
    if (learning) {
      if (n >= learning_len) EndLearning(out);
    } else if (n >= searchback_due) {
      Searchback(out);
    }
  }

  bool IsWindowMaximum(std::int64_t c, double mc) const {
    for (std::int64_t i = std::max<std::int64_t>(0, c - peak_half_window);
         i <= c + peak_half_window; ++i) {
      if (integrated[Slot(i)] > mc) return false;
    }
    return true;
  }

  Peak MakePeak(std::int64_t c, double height) const {
    Peak p;
    p.index = c;
    p.height = height;
    p.slope = -1;
    for (std::int64_t i = std::max<std::int64_t>(0, c - integration_len + 1);
         i <= c; ++i) {
      const double v = fused[Slot(i)];
      if (v > p.slope) {
        p.slope = v;
        p.slope_index = i;
      }
    }
    // Decimated sample i covers frames [i·D, i·D + D); its centre, less the
    // delay of the band-pass and slope stages, is the fiducial.
    p.fiducial_frame = std::max<std::int64_t>(
        0, p.slope_index * decimation + decimation / 2 - fiducial_delay_frames);
    return p;
  }

  // --- Lead statistics ---------------------------------------------------

  double LeadMax(std::size_t l, std::int64_t from, std::int64_t to) const {
    from = std::max({from, std::int64_t{0},
                     n - static_cast<std::int64_t>(mask)});
    to = std::min(to, n - 1);
    double peak = 0;
    for (std::int64_t i = from; i <= to; ++i) {
      peak = std::max<double>(peak, lead_slope[Slot(i) * leads.size() + l]);
    }
    return peak;
  }

  void UpdateLeadWeights() {
    double top = 0;
    for (const Lead& lead : leads) top = std::max(top, lead.level);
    const double floor =
        std::max(kAbsoluteLevelFloorMvPerS, kLeadLevelFloor * top);
    double total = 0;
    for (Lead& lead : leads) {
      lead.level = std::max(lead.level, floor);
      const double snr = lead.level / std::max(lead.noise, 1e-6);
      lead.weight = snr * snr;
      total += lead.weight;
    }
    for (Lead& lead : leads) {
      lead.weight /= total;
      const double root = std::sqrt(lead.weight);
      lead.gain = root / lead.level;
      lead.clip = root * kLeadClip;
    }
  }

  // Folds the beat whose steepest fused slope is at `centre` into every
  // lead's QRS level, and the interval since the previous beat into its
  // noise level.
  void UpdateLeadLevels(std::int64_t centre) {
    const int half = std::max(1, integration_len / 2);
    const bool have_interval = last_qrs_slope_index >= 0 &&
                               centre - last_qrs_slope_index > 4 * half;
    for (std::size_t l = 0; l < leads.size(); ++l) {
      Lead& lead = leads[l];
      lead.level += kLevelUpdate *
                    (LeadMax(l, centre - half, centre + half) - lead.level);
      if (have_interval) {
        lead.noise += kLevelUpdate *
                      (LeadMax(l, last_qrs_slope_index + 2 * half,
                               centre - 2 * half) -
                       lead.noise);
      }
    }
    UpdateLeadWeights();
    last_qrs_slope_index = centre;
  }

  // --- Learning ------------------------------------------------------------

  void OnPeak(const Peak& p, std::vector<QrsDetection>* out) {
    if (learning) {
      learning_peaks.push_back(p);
    } else {
      Classify(p, out);
    }
  }

  void EndLearning(std::vector<QrsDetection>* out) {
    learning = false;
    const double samples = static_cast<double>(std::max<std::int64_t>(1, n));
    for (Lead& lead : leads) {
      lead.level = 0.5 * lead.learning_max;
      lead.noise = kInitialNoiseFactor * lead.learning_sum / samples;
    }
    UpdateLeadWeights();
    RenormaliseLearning();
    // Pan & Tompkins' initialisation: a third of the largest and half the
    // mean integrated value of the learning period.
    signal_level = learning_max / 3.0;
    noise_level = 0.5 * learning_sum / samples;
    ScheduleSearchback(0);
    for (const Peak& p : learning_peaks) Classify(p, out);
    learning_peaks.clear();
  }

  // Recomputes the fusion, its integration and the learning peaks over the
  // whole learning period (still in the ring) with the lead levels just set,
  // so that later peaks compare with them on one scale.
  void RenormaliseLearning() {
    const std::int64_t first =
        std::max<std::int64_t>(0, n - static_cast<std::int64_t>(mask));
    double sum = 0;
    learning_max = learning_sum = 0;
    for (std::int64_t i = first; i < n; ++i) {
      const std::size_t k = Slot(i);
      double f = 0;
      for (std::size_t l = 0; l < leads.size(); ++l) {
        const double r = std::min(
            lead_slope[k * leads.size() + l] * leads[l].gain, leads[l].clip);
        f += r * r;
      }
      fused[k] = f;
      sum += f;
      if (i - integration_len >= first) sum -= fused[Slot(i - integration_len)];
      integrated[k] = std::max(0.0, sum) * inv_integration_len;
      learning_max = std::max(learning_max, integrated[k]);
      learning_sum += integrated[k];
    }
    integration_sum = std::max(0.0, sum);
    for (Peak& p : learning_peaks) p = MakePeak(p.index, integrated[Slot(p.index)]);
  }

  // --- Decisions -----------------------------------------------------------

  // Two maxima of the integrated signal more than a peak window apart can
  // share their steepest slope (a notched or slurred complex): that is the
  // complex already reported, not a new beat.
  bool SameComplexAsLastBeat(const Peak& p) const {
    return last_qrs_slope_index >= 0 && p.slope_index <= last_qrs_slope_index;
  }

  void Classify(const Peak& p, std::vector<QrsDetection>* out) {
    if (SameComplexAsLastBeat(p)) return;
    const double threshold = Threshold();
    if (p.height > threshold) {
      const bool in_twave_window =
          last_qrs >= 0 && p.index - last_qrs < twave_window;
      if (in_twave_window && p.slope < kTWaveSlopeRatio * last_qrs_slope) {
        noise_level += kLevelUpdate * (p.height - noise_level);
        return;
      }
      const double capped = std::min(p.height, kMaxLevelStep * signal_level);
      signal_level += kLevelUpdate * (capped - signal_level);
      AcceptBeat(p, p.height / threshold, out);
      return;
    }
    noise_level += kLevelUpdate * (p.height - noise_level);
    noise_peaks.push_back(p);
  }

  void AcceptBeat(const Peak& p, double strength,
                  std::vector<QrsDetection>* out) {
    UpdateLeadLevels(p.slope_index);
    if (last_qrs >= 0) {
      rr[static_cast<std::size_t>(rr_count % kRrHistory)] =
          static_cast<double>(p.index - last_qrs);
      ++rr_count;
      const int used = std::min(rr_count, kRrHistory);
      double sum = 0;
      for (int i = 0; i < used; ++i) sum += rr[static_cast<std::size_t>(i)];
      rr_mean = sum / used;
    }
    last_qrs = p.index;
    last_qrs_slope = p.slope;
    ScheduleSearchback(p.index);
    out->push_back(QrsDetection{p.fiducial_frame, static_cast<float>(strength)});
  }

  // The next searchback is due 1.66 mean RR after `anchor`, and never more
  // than kMaxSearchbackSeconds after it (the latency bound).
  void ScheduleSearchback(std::int64_t anchor) {
    const double wait = std::min(kSearchbackRrFactor * rr_mean,
                                 static_cast<double>(max_searchback));
    searchback_due = anchor + static_cast<std::int64_t>(std::ceil(wait));
  }

  void Searchback(std::vector<QrsDetection>* out) {
    const Peak* best = nullptr;
    const double threshold = Threshold();
    for (const Peak& p : noise_peaks) {
      if (last_qrs >= 0 && p.index - last_qrs < peak_half_window) continue;
      if (SameComplexAsLastBeat(p)) continue;
      if (p.height > 0.5 * threshold &&
          (best == nullptr || p.height > best->height)) {
        best = &p;
      }
    }
    if (best == nullptr) {
      // Nothing even at half threshold: the beats may have shrunk (a lead
      // dropped out, a gain changed). Lower the expectation so that the
      // detector re-adapts within a few beats instead of never.
      signal_level =
          std::max(noise_level, kFailedSearchbackDecay * signal_level);
      noise_peaks.clear();
      ScheduleSearchback(n);
      return;
    }
    const Peak found = *best;
    signal_level += kSearchbackLevelUpdate * (found.height - signal_level);
    // Peaks after the recovered beat stay candidates for the next round.
    std::erase_if(noise_peaks,
                  [&](const Peak& p) { return p.index <= found.index; });
    AcceptBeat(found, found.height / threshold, out);
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
                    std::to_string(config.num_leads) + ": must be within 1..12");
  }
  auto s = std::make_unique<State>();
  s->config = config;
  s->decimation = std::max(
      1, static_cast<int>(std::lround(config.sample_rate_hz / kDetectionRateHz)));
  s->rate_hz = config.sample_rate_hz / s->decimation;
  s->slope_scale = 0.5 * s->rate_hz;
  auto samples = [&](double seconds) {
    return std::max(1, static_cast<int>(std::lround(seconds * s->rate_hz)));
  };
  s->integration_len = samples(kIntegrationSeconds);
  s->inv_integration_len = 1.0 / s->integration_len;
  s->peak_half_window = samples(kPeakWindowSeconds);
  s->twave_window = samples(kTWaveWindowSeconds);
  s->learning_len = samples(kLearningSeconds);
  s->max_searchback = samples(kMaxSearchbackSeconds);
  s->fiducial_delay_frames =
      std::lround(kFiducialDelaySeconds * config.sample_rate_hz);
  // Second-order Butterworth sections (Q = 1/√2). The band edges are far
  // inside the valid range at every supported rate, so design cannot fail.
  s->highpass_design.c =
      DesignHighPass(s->rate_hz, kBandLowHz, M_SQRT1_2).value();
  s->lowpass_design.c =
      DesignLowPass(s->rate_hz, kBandHighHz, M_SQRT1_2).value();

  const auto num_leads = static_cast<std::size_t>(config.num_leads);
  s->leads.resize(num_leads);
  // The ring must hold the whole learning period (RenormaliseLearning) and
  // the peak window plus an integration window behind it (MakePeak).
  const std::size_t ring = RoundUpPow2(static_cast<std::size_t>(
      std::max(2 * (s->peak_half_window + s->integration_len) + 8,
               s->learning_len + 2)));
  s->mask = ring - 1;
  s->fused.assign(ring, 0.0);
  s->integrated.assign(ring, 0.0);
  s->lead_slope.assign(ring * num_leads, 0.0f);
  // Peaks are at least a peak window apart, so these bound the candidates
  // held between two decisions; reserving them keeps Process allocation-free.
  s->noise_peaks.reserve(
      static_cast<std::size_t>(2 * s->max_searchback / s->peak_half_window + 4));
  s->learning_peaks.reserve(
      static_cast<std::size_t>(s->learning_len / s->peak_half_window + 4));
  s->Reset();
  return QrsDetector(std::move(s));
}

QrsDetector::QrsDetector(std::unique_ptr<State> state)
    : state_(std::move(state)) {}
QrsDetector::QrsDetector(QrsDetector&&) noexcept = default;
QrsDetector& QrsDetector::operator=(QrsDetector&&) noexcept = default;
QrsDetector::~QrsDetector() = default;

void QrsDetector::Process(std::span<const float> interleaved_mv,
                          std::vector<QrsDetection>* detections) {
  state_->ProcessFrames(interleaved_mv.data(),
                        interleaved_mv.size() / state_->leads.size(),
                        detections);
}

void QrsDetector::Finish(std::vector<QrsDetection>* detections) {
  State& s = *state_;
  // Continue as if the signal were held at its last value (zero slope) long
  // enough for every pending decision, then drop anything that would lie
  // past the real input.
  const std::int64_t real_frames = s.frames_in;
  const std::size_t first_new = detections->size();
  const std::int64_t extra = s.MaxLatencyFrames() / s.decimation + 1;
  for (std::int64_t i = 0; i < extra; ++i) s.PushDecimated(0.0, detections);
  if (s.learning) s.EndLearning(detections);
  const auto past_end = std::remove_if(
      detections->begin() + static_cast<std::ptrdiff_t>(first_new),
      detections->end(),
      [&](const QrsDetection& d) { return d.sample >= real_frames; });
  detections->erase(past_end, detections->end());
}

std::int64_t QrsDetector::max_latency_frames() const {
  return state_->MaxLatencyFrames();
}

void QrsDetector::Reset() { state_->Reset(); }

const QrsDetectorConfig& QrsDetector::config() const { return state_->config; }

}  // namespace pulse::dsp
