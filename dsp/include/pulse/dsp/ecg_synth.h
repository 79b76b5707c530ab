// Synthetic 12-lead ECG with ground truth by construction.
//
// A test-signal generator in the spirit of ECGSYN (McSharry, Clifford,
// Tarassenko & Smith, "A dynamical model for generating synthetic
// electrocardiogram signals", IEEE Trans. Biomed. Eng. 50(3), 2003): a point
// goes once round a limit cycle per beat, and each of the P, Q, R, S and T
// events adds a Gaussian bump to the trajectory. Here the bumps are 3-D (a
// heart dipole X left, Y inferior, Z posterior, in mV), and the phase of each
// event is set in time from the R peak rather than as an angle, so that the
// configured PR, QRS and QT intervals hold exactly at every beat (ECGSYN's
// angles scale with RR instead). Integrating ECGSYN's ODE for a fixed cycle
// gives the same Gaussian sum, so the closed form is used.
//
// Projection to the 12 standard leads: the frontal plane is Einthoven-ideal
// (lead I = X, lead II = X/2 + (√3/2)·Y, so a frontal vector at angle a
// projects with the textbook hexaxial geometry), and III, aVR, aVL, aVF are
// derived from the float samples of I and II so that Einthoven's and
// Goldberger's identities hold to float rounding. V1–V6 use rows that
// approximate Dower's inverse transform (Dower et al., J Electrocardiol 1980);
// they give a plausible R-wave progression, not a validated torso model.
//
// Ground truth per beat (R sample, class, P on/off, QRS on/off, T off) is
// exact by construction: a wave's onset/offset is its Gaussian centre ∓ a
// fixed number of widths (documented in ecg_synth.cc). Noise and baseline
// wander are added after, and are the same on derived limb leads as the
// identities imply.
//
// Deterministic: the same config (including seed) gives bit-identical output
// with the same standard library build.
//
// Synthetic data is for unit tests and demos; accuracy claims are made on
// real annotated records (DESIGN.md §8).
//
// Thread-safety: SynthesizeEcg() is a pure function; no shared state.
#ifndef PULSE_DSP_ECG_SYNTH_H_
#define PULSE_DSP_ECG_SYNTH_H_

#include <cstdint>
#include <vector>

#include "pulse/base/result.h"

namespace pulse::dsp {

// Channel order of SynthEcg::interleaved_mv (the standard 12-lead order).
enum class SynthLead : int {
  kI = 0,
  kII = 1,
  kIII = 2,
  kAvr = 3,
  kAvl = 4,
  kAvf = 5,
  kV1 = 6,
  kV2 = 7,
  kV3 = 8,
  kV4 = 9,
  kV5 = 10,
  kV6 = 11,
};
inline constexpr int kSynthNumLeads = 12;

// A span of time in seconds from the start of the record, [begin_s, end_s).
struct SynthTimeSpan {
  double begin_s = 0.0;
  double end_s = 0.0;
};

struct EcgSynthConfig {
  double sample_rate_hz = 500.0;  // 100 .. 2000
  double duration_s = 10.0;       // 1 .. 3600
  double heart_rate_bpm = 70.0;   // 20 .. 250 (mean sinus rate)
  double hrv_sd_ms = 0.0;         // 0 .. 200, SD of Gaussian RR jitter
  // Intervals in ms, held exactly at every sinus beat. PR is P onset to QRS
  // onset, QT is QRS onset to T offset.
  // REQUIRES: pr_ms + qt_ms < 60000 / heart_rate_bpm (else a T wave would run
  // into the next P wave).
  double pr_ms = 160.0;            // 80 .. 400
  double qrs_ms = 90.0;            // 40 .. 200
  double qt_ms = 380.0;            // 200 .. 700
  double frontal_axis_deg = 60.0;  // -180 .. 180, QRS axis (0 = lead I)

  // Ventricular ectopic beats: each beat other than the first, and not right
  // after another PVC, becomes a PVC with this probability (0 .. 0.5); beats
  // whose index (0-based, counting all beats) is listed are PVCs as well.
  // A PVC comes at 60 % of the RR interval, has no P wave, a QRS of
  // max(140 ms, 1.6 × qrs_ms), a discordant T, and a full compensatory pause.
  double pvc_probability = 0.0;
  std::vector<int> pvc_beat_indices;

  // Atrial fibrillation: inside each span RR is irregular (uniform in
  // 0.6 .. 1.4 × the mean RR, plus hrv_sd_ms jitter), beats have no P wave,
  // and fibrillatory waves of af_fwave_uv amplitude (≈ 4–8 Hz) replace
  // atrial activity. Spans must lie within [0, duration_s] with begin < end.
  std::vector<SynthTimeSpan> af_spans;
  double af_fwave_uv = 50.0;  // 0 .. 500

  double noise_uv = 10.0;           // 0 .. 1000, white, RMS, per lead
  double baseline_wander_uv = 0.0;  // 0 .. 5000, amplitude of a ~0.3 Hz sine
  std::uint64_t seed = 1;
};

enum class SynthBeatClass {
  kNormal = 0,       // supraventricular (sinus, or conducted during AF)
  kVentricular = 1,  // PVC
};

// Ground truth for one beat; sample indices count frames from 0. A fiducial
// absent from the beat (P waves of PVCs and AF beats) is -1.
struct SynthBeat {
  std::int64_t r_sample = 0;  // peak of the main QRS lobe
  SynthBeatClass beat_class = SynthBeatClass::kNormal;
  bool in_af = false;  // R falls inside an AF span
  std::int64_t p_on = -1;
  std::int64_t p_off = -1;
  std::int64_t qrs_on = 0;
  std::int64_t qrs_off = 0;
  std::int64_t t_off = 0;
};

// Frame-index span [begin_sample, end_sample).
struct SynthSampleSpan {
  std::int64_t begin_sample = 0;
  std::int64_t end_sample = 0;
};

struct SynthEcg {
  double sample_rate_hz = 0.0;
  // Frames of kSynthNumLeads samples in SynthLead order, millivolts.
  std::vector<float> interleaved_mv;
  std::vector<SynthBeat> beats;           // ascending r_sample; every beat lies
                                          // wholly inside the record
  std::vector<SynthSampleSpan> af_spans;  // the configured spans, in samples

  std::int64_t num_frames() const {
    return static_cast<std::int64_t>(interleaved_mv.size()) / kSynthNumLeads;
  }
  float at(std::int64_t frame, SynthLead lead) const {
    return interleaved_mv[static_cast<std::size_t>(frame * kSynthNumLeads +
                                                   static_cast<int>(lead))];
  }
};

// Generates the record described by `config`.
// Returns kInvalidArgument naming the first field out of its range.
Result<SynthEcg> SynthesizeEcg(const EcgSynthConfig& config);

}  // namespace pulse::dsp

#endif  // PULSE_DSP_ECG_SYNTH_H_
