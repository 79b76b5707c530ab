// Global 12-lead measurements: rate, RR variability, the intervals of the
// median beat (P duration, PR, QRS, QT, QTc), frontal axes, ST levels,
// voltages — what the measurement block of a resting-ECG report shows.
//
// Method, in one paragraph. Intervals come from the global fiducials of the
// median beat (earliest onset / latest offset across leads, delineation.h):
// P duration = P offset - P onset, PR = QRS onset - P onset, QRS = QRS
// offset - QRS onset, QT = T end - QRS onset (IEC 60601-2-25 §201.12.4.2;
// AHA/ACCF/HRS recommendations, Rautaharju et al., Circulation 2009;
// 119:e241). QTc is given both ways, each carrying its formula: Bazett
// (1920) QT / RR^(1/2) and Fridericia (1920) QT / RR^(1/3), RR in seconds,
// from the mean normal-to-normal RR. Amplitudes are taken relative to the
// isoelectric level, the mean of the median beat over the PR segment (from
// P offset, or from 20 ms before QRS onset if that is later or there is no
// P wave, up to the sample before QRS onset). A frontal axis is the
// direction of the net-area vector of the wave in leads I and aVF over the
// wave's window (P: P onset..P offset, QRS: QRS onset..QRS offset, T: QRS
// offset..T end, inclusive). Under Einthoven's triangle aVF = (√3/2)·Ey while
// I = Ex, so axis = atan2(2/√3 · area_aVF, area_I), the exact hexaxial
// angle; degrees in (-180, 180], 0 = lead I, +90 = aVF (so -30 is left axis
// deviation's boundary and +90..180 right axis deviation). ST level is the
// median-beat sample at J + 60 ms minus the isoelectric level, per lead, J
// being the global QRS offset. J + 60 ms is used at every heart rate (some
// carts move to J + 40 ms above 100/min; a fixed point keeps serial ECGs
// comparable, and MeasurementOptions::st_offset_ms lets a caller choose
// 40). When J + offset falls at or after T end, or outside the window, the
// ST level is absent. RV5 is the largest positive deflection in V5 within
// the QRS, SV1 the magnitude of the most negative deflection in V1 within
// the QRS (both ≥ 0 mV), Sokolow–Lyon = SV1 + max(RV5, RV6) (Sokolow & Lyon,
// Am Heart J 1949). SDNN and RMSSD (Task Force of the ESC/NASPE,
// Circulation 1996; 93:1043) use normal-to-normal intervals only: both beats
// kNormal, neither neighbouring beat ventricular or unknown (the intervals
// next to an ectopic are disturbed by it), RR within 300..2000 ms, and within
// 20 % of the last accepted interval (the first compared with the median of
// the candidates) — the usual "20 % rule" that drops missed or extra beats.
// SDNN is the sample standard deviation (N - 1); RMSSD uses only pairs of
// accepted intervals that share a beat.
//
// Rate: HR = 60000 / mean RR, mean RR over normal-to-normal intervals
// (both beats kNormal, RR 200..3000 ms; the 20 % rule is not applied so that
// an irregular rhythm such as AF keeps its true mean). With no such interval
// (e.g. all beats ventricular) the mean RR is taken over consecutive beats
// of any class but unknown, with the same range; rate_source says which.
//
// Absent rather than absurd: a value is std::nullopt when its inputs are
// missing (no P wave → no P duration, PR or P axis; fewer than
// min_hrv_intervals accepted intervals → no SDNN / RMSSD) and also when it
// falls outside the plausible adult/paediatric range below (kPlausible*),
// which catches a delineation failure instead of printing it. Nothing is
// ever NaN or Inf.
//
// Thread-safety: pure functions; no shared state.
#ifndef PULSE_DSP_MEASUREMENTS_H_
#define PULSE_DSP_MEASUREMENTS_H_

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include "pulse/base/result.h"
#include "pulse/dsp/beat.h"
#include "pulse/dsp/leads.h"
#include "pulse/dsp/median_beat.h"

namespace pulse::dsp {

// A closed range [min, max] of plausible values; outside it a measurement is
// reported absent.
struct PlausibleRange {
  double min = 0.0;
  double max = 0.0;
  constexpr bool Contains(double value) const {
    return value >= min && value <= max;  // false for NaN
  }
};

// Plausible ranges (ms) for humans from neonates to adults, wide enough for
// marked pathology (first-degree AV block, long QT, wide QRS) and narrow
// enough to reject a failed delineation (Rautaharju et al. 2009; Macfarlane
// & Lawrie, Comprehensive Electrocardiology, 2nd ed., ch. 11).
inline constexpr PlausibleRange kPlausiblePDurationMs{30.0, 250.0};
inline constexpr PlausibleRange kPlausiblePrMs{60.0, 600.0};
inline constexpr PlausibleRange kPlausibleQrsMs{30.0, 250.0};
inline constexpr PlausibleRange kPlausibleQtMs{180.0, 750.0};
inline constexpr PlausibleRange kPlausibleQtcMs{200.0, 800.0};
// Intervals counted for the rate (HR 20 .. 300 /min).
inline constexpr PlausibleRange kPlausibleRateRrMs{200.0, 3000.0};
// Intervals counted for SDNN / RMSSD (the Task Force's normal range).
inline constexpr PlausibleRange kPlausibleHrvRrMs{300.0, 2000.0};

// Stable values (stored with an analysis); never renumbered.
enum class QtcFormula : std::uint8_t {
  kBazett = 0,      // QT / RR^(1/2)
  kFridericia = 1,  // QT / RR^(1/3)
};

// "Bazett", "Fridericia".
std::string_view QtcFormulaName(QtcFormula formula);
// "QT/RR^(1/2)", "QT/RR^(1/3)" (RR in seconds).
std::string_view QtcFormulaExpression(QtcFormula formula);

// Returns QT corrected to 60/min by `formula`, in ms, or nullopt when
// qt_ms or rr_ms is not finite and positive. No plausibility check.
std::optional<double> CorrectQt(QtcFormula formula, double qt_ms,
                                double rr_ms);

struct CorrectedQt {
  QtcFormula formula = QtcFormula::kBazett;
  double qtc_ms = 0.0;
};

// Where mean RR and HR came from. Stable values.
enum class RateSource : std::uint8_t {
  kNone = 0,            // no usable interval: HR and mean RR absent
  kNormalToNormal = 1,  // intervals between consecutive kNormal beats
  kAllBeats = 2,        // no NN interval; consecutive beats of any known class
};

struct MeasurementOptions {
  // ST measuring point after J (the global QRS offset), ms; 20 .. 120.
  double st_offset_ms = 60.0;
  // Longest stretch before QRS onset averaged as the isoelectric level, ms
  // (cut at P offset when there is a P wave); 2 .. 80.
  double isoelectric_window_ms = 20.0;
  // Fewest accepted NN intervals for SDNN; RMSSD needs one fewer pairs of
  // accepted intervals that share a beat. 2 .. 100000.
  int min_hrv_intervals = 5;
  // Largest change from the last accepted NN interval still accepted for
  // SDNN / RMSSD, as a fraction; 0.05 .. 1.
  double hrv_max_change_fraction = 0.20;
};

struct EcgMeasurements {
  // Which beats the median beat averaged (copied from the MedianBeatSet).
  BeatClass median_beat_class = BeatClass::kNormal;
  int median_beats_used = 0;

  // Rate.
  std::optional<double> heart_rate_bpm;
  std::optional<double> mean_rr_ms;
  RateSource rate_source = RateSource::kNone;
  int rate_interval_count = 0;

  // Intervals of the median beat.
  std::optional<double> p_duration_ms;
  std::optional<double> pr_interval_ms;
  std::optional<double> qrs_duration_ms;
  std::optional<double> qt_interval_ms;
  std::optional<CorrectedQt> qtc_bazett;      // formula == kBazett
  std::optional<CorrectedQt> qtc_fridericia;  // formula == kFridericia

  // Frontal axes, degrees in (-180, 180].
  std::optional<double> p_axis_deg;
  std::optional<double> qrs_axis_deg;
  std::optional<double> t_axis_deg;

  // ST level per lead (kStandardLeadOrder), mV relative to the isoelectric
  // level, measured st_offset_ms after J.
  double st_offset_ms = 60.0;
  std::array<std::optional<double>, kNumStandardLeads> st_level_mv{};

  // Voltages, mV, all ≥ 0.
  std::optional<double> r_amplitude_v5_mv;
  std::optional<double> r_amplitude_v6_mv;
  std::optional<double> s_amplitude_v1_mv;
  std::optional<double> sokolow_lyon_mv;  // SV1 + max(RV5, RV6)

  // Heart-rate variability over accepted NN intervals.
  std::optional<double> sdnn_ms;
  std::optional<double> rmssd_ms;
  int hrv_interval_count = 0;  // accepted NN intervals
};

// Computes the measurements of one ECG.
//
// `medians`: the median beats, 12 leads in kStandardLeadOrder, or an empty
// set (num_leads == 0, length_frames == 0) when none could be built — then
// only rate and HRV are measured. Its sample_rate_hz is also the rate of the
// record that `beats` index. `global`: the global fiducials of the median
// beat as indices into the median window; a wave whose fiducials are -1,
// outside the window or out of order (see WaveFiducials) is treated as
// absent. `beats`: all classified beats of the record, ascending by sample.
//
// Returns kInvalidArgument naming the field when medians.sample_rate_hz is
// not in 50 .. 10000, num_leads is neither 0 nor 12, samples_mv.size() is
// not num_leads × length_frames, fiducial_index lies outside the window,
// beats are not strictly ascending, or an option is out of its range.
// Non-finite median samples make the measurements that touch them absent.
Result<EcgMeasurements> ComputeMeasurements(
    const MedianBeatSet& medians, const WaveFiducials& global,
    std::span<const ClassifiedBeat> beats,
    const MeasurementOptions& options = {});

}  // namespace pulse::dsp

#endif  // PULSE_DSP_MEASUREMENTS_H_
