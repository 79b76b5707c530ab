// Beat classification: normal (supraventricular) vs ventricular ectopic, or
// "unknown" when unsure, for every detected QRS complex of a recording.
// (How such labels are scored against MIT-BIH: veb_scoring.h.)
//
// Algorithm (one paragraph; the design comment in beat_classifier.cc has the
// details and the reasons). The few leads with the largest QRS amplitude
// (at most `max_leads_used`) are scaled to equal QRS amplitude. Each beat
// is re-aligned on the centroid of its QRS slope energy and cut to a window
// of `window_before_ms` .. `window_after_ms`, averaged down to ~180 Hz.
// Beats are clustered patient-adaptively in record order, as in Hamilton's
// OSEA beat classifier (EP Limited, 2002) and Lagerholm et al. (IEEE TBME
// 47(7), 2000): a beat joins the nearest running-average template (shift
// search of ±2 decimated samples) when its normalised distance is below
// `cluster_distance`, else it starts a new one. The largest cluster (among
// nearly-as-large ones, the narrowest) is the patient's normal beat. Every
// other cluster is judged on three features against it — template shape
// distance, QRS width ratio (energy width of the templates) and timing (RR
// before and after vs the running normal-to-normal RR: prematurity and
// pause, the RR features of de Chazal et al., IEEE TBME 51(7), 2004, and
// Llamedo & Martínez, IEEE TBME 58(3), 2011): ventricular when much wider,
// or premature and clearly different (very different when the rhythm is
// irregular, as in atrial fibrillation, where early beats are common), or
// wider and very different, or entirely different; normal when close to
// the normal template; unknown
// otherwise (different but neither wide nor premature: aberrancy, noise), as
// are extra detections in noise (premature without a pause), a large second
// pattern with normal timing (intermittent bundle-branch block,
// pre-excitation), and every beat when the dominant cluster has fewer than
// 3 beats or the signal has no QRS energy (flat).
//
// Thread-safety: pure functions; no shared state.
#ifndef PULSE_DSP_BEAT_CLASSIFIER_H_
#define PULSE_DSP_BEAT_CLASSIFIER_H_

#include <cstdint>
#include <span>
#include <vector>

#include "pulse/base/result.h"
#include "pulse/dsp/beat.h"

namespace pulse::dsp {

struct BeatClassifierConfig {
  double sample_rate_hz = 500.0;  // 80 .. 1000
  int num_leads = 1;              // 1 .. 12, interleaved input
  // Leads used for morphology: the ones with the largest QRS amplitude.
  int max_leads_used = 3;  // 1 .. 12
  // Beat window around the aligned QRS centre. A wide PVC QRS lasts up to
  // ~200 ms; the window keeps all of it and the start of the (discordant)
  // ST-T segment, which tells ventricular beats apart too.
  double window_before_ms = 100.0;  // 40 .. 300
  double window_after_ms = 150.0;   // 60 .. 400
  // Normalised distance sum((x - t)^2) / (sum(x^2) + sum(t^2)) below which a
  // beat joins a template: 0 identical, 1 uncorrelated, 2 inverted; a beat
  // of 1.5 times the template's amplitude is 0.08.
  double cluster_distance = 0.15;  // 0.01 .. 1
  int max_clusters = 16;           // 2 .. 64 live templates
  // A cluster other than the dominant one is ventricular when its template
  // is at least v_min_distance from the normal template and its beats are
  // premature (median RR before < v_max_prematurity x the normal RR; in an
  // irregular rhythm, > 20 % of normal beats early, v_wide_distance) ...
  double v_min_distance = 0.2;     // 0.05 .. 2
  double v_max_prematurity = 0.9;  // 0.3 .. 1
  // ... or at least v_wide_distance away and wider than the normal QRS by
  // v_min_width_ratio, or at least v_shape_distance away (uncorrelated).
  double v_wide_distance = 0.5;     // 0.05 .. 2
  double v_min_width_ratio = 1.15;  // 1 .. 3
  double v_shape_distance = 1.0;    // 0.05 .. 2
  // A cluster whose QRS is this much wider than the normal QRS (energy
  // width of the templates) is ventricular at any timing, once its shape
  // differs at all (cluster_distance).
  double v_wide_ratio = 1.3;  // 1 .. 3
};

// Classifies every beat of `qrs_samples` (ascending frame indices, e.g. from
// QrsDetector) in `interleaved_mv` (frames of num_leads samples, mV).
// Returns one ClassifiedBeat per input beat, same order and sample; never
// NaN (non-finite input samples are read as 0). A sample listed twice is
// one beat, classified once and reported twice. Returns kInvalidArgument
// naming the field for a config out of range, an input whose size is not a
// multiple of num_leads, or beats that descend or lie outside the input.
Result<std::vector<ClassifiedBeat>> ClassifyBeats(
    std::span<const float> interleaved_mv,
    std::span<const std::int64_t> qrs_samples,
    const BeatClassifierConfig& config);

}  // namespace pulse::dsp

#endif  // PULSE_DSP_BEAT_CLASSIFIER_H_
