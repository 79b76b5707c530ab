// Delineation: the onsets and offsets of the P wave, the QRS complex and the
// end of the T wave, on median beats (for measurements) and on every beat of
// a record (for evaluation against per-beat reference annotations).
//
// Algorithm (one paragraph; src/delineation.cc has the details and the
// reasons). All leads of a beat are delineated together, as interpretive
// carts do (IEC 60601-2-25 §201.12.4.2 defines global intervals across
// leads). Pacemaker spikes are removed by a running median, the leads are
// low-pass filtered (moving averages), and a spatial velocity (sum over
// leads of |slope|) is formed. QRS onset and offset are where the spatial
// velocity, walking out from its peak, first stays below a fraction of
// (peak - floor) (the slope-threshold idea of Laguna et al., Comput Biomed
// Res 27, 1994, on all leads at once). The T wave end is found per lead
// with Zhang's area indicator (Zhang et al., "An algorithm for robust and
// efficient location of T-wave ends in electrocardiograms", IEEE TBME
// 53(12), 2006) after the lead's T peak, with a window that grows with the
// T wave's width. The P wave is searched in a window before QRS onset
// (bounded by 0.45 RR) on the leads detrended between the window's ends:
// its peak is the maximum of the sum of squares over leads, and it is
// present only when it stands out in mV, against the high-frequency noise
// and against the other peaks of the window; its onset and offset per lead
// come from the same area indicator run backward and forward.
//
// Per-lead and global points. A lead's QRS points are the multi-lead
// points moved 40 % of the way towards that lead's own wavelet boundary
// (quadratic-spline à trous transform, Martínez et al., IEEE TBME 51(4),
// 2004), at most 20 ms away; leads with a small QRS keep the multi-lead
// points. The T end and the P onset/offset are measured
// per lead and held within ±10 ms of the leads' median (LUDB's annotators
// mark different instants in different leads, but a lead's own estimate
// alone is noisier than that spread; docs/accuracy.md, "Delineation and
// intervals on LUDB"). Global points of a median beat follow carts'
// "earliest onset, latest offset" made robust to one lead: QRS onset and
// offset are the second earliest and second latest of per-lead points
// found by walking each lead's slope out to where it stays quiet (leads
// with a small slope, or that never go quiet within 30 ms, left out); the
// latest T end among the leads within 60 ms of the leads' median; the 15th
// percentile of the leads' P onsets and the 75th of their P offsets.
//
// Per beat (DelineateBeats), the median beat of the beat's class guides
// the search: no P wave unless the median has one that repeats beat by
// beat (AF), none for ventricular beats, the P peak within ±30 ms and the
// T end within ±60 ms of where the median has them (relative to QRS onset).
//
// Thread-safety: pure functions; no shared state.
#ifndef PULSE_DSP_DELINEATION_H_
#define PULSE_DSP_DELINEATION_H_

#include <cstdint>
#include <span>
#include <vector>

#include "pulse/base/result.h"
#include "pulse/dsp/beat.h"
#include "pulse/dsp/median_beat.h"

namespace pulse::dsp {

struct MedianDelineation {
  // One entry per lead of the median beat set; indices into the median
  // window (0 .. length_frames - 1); -1 where absent.
  std::vector<WaveFiducials> per_lead;
  // Across leads (earliest onset, latest offset, robust to one outlier
  // lead); indices into the median window.
  WaveFiducials global;
};

// Delineates the median beats from the median alone. A fiducial that
// cannot be found is -1 (no P wave when none stands out of its search
// window; nothing at all for a flat or noise-only median); present
// fiducials satisfy the ordering of WaveFiducials. Never NaN; non-finite
// samples are read as 0. In AF a median of few beats can keep a P-like
// remnant of the fibrillatory waves: prefer the overload below.
// Returns kInvalidArgument naming the field when medians.sample_rate_hz is
// outside 80..2000, num_leads outside 1..12, fiducial_index outside the
// window, or samples_mv.size() != num_leads * length_frames.
Result<MedianDelineation> DelineateMedianBeats(const MedianBeatSet& medians);

// As above, with the beats the medians were built from (`interleaved_mv`
// and `beats` as given to BuildMedianBeats): a P wave of the median counts
// only when it repeats beat by beat (mean correlation of the beats with the
// median over the P wave >= 0.5). A median of a few AF beats can keep a
// P-like remnant of the fibrillatory waves, which the median alone cannot
// tell from a small P wave; this overload can, and finds more of the small
// real P waves (a weaker test on the median alone suffices). Prefer it.
// Errors as above, and kInvalidArgument when interleaved_mv.size() is not a
// multiple of medians.num_leads.
Result<MedianDelineation> DelineateMedianBeats(
    const MedianBeatSet& medians, std::span<const float> interleaved_mv,
    std::span<const ClassifiedBeat> beats);

// The fiducials of one beat of a record.
struct BeatDelineation {
  std::int64_t sample = 0;  // the beat's QRS fiducial, as given
  BeatClass beat_class = BeatClass::kUnknown;
  WaveFiducials global;                 // record frames
  std::vector<WaveFiducials> per_lead;  // record frames, one per lead
};

// Delineates every beat of `beats` in `interleaved_mv` (frames of num_leads
// samples, mV): each beat's window (MedianBeatOptions' window, cut at the
// next beat as BuildMedianBeats cuts it) is delineated the way
// DelineateMedianBeats does, guided by the median beat (file comment) when
// one can be built. For evaluation against per-beat annotations; costs
// ~2 ms for a 10 s 12-lead ECG, several times the median stage. Beats too close to the record
// edges for a window get what fits (fiducials outside the record are -1).
// Returns one entry per beat in the same order. Errors as for
// BuildMedianBeats() except that too few beats for a median is not an
// error (every beat is then delineated on its own).
Result<std::vector<BeatDelineation>> DelineateBeats(
    std::span<const float> interleaved_mv, int num_leads,
    double sample_rate_hz, std::span<const ClassifiedBeat> beats,
    const MedianBeatOptions& options = {});

}  // namespace pulse::dsp

#endif  // PULSE_DSP_DELINEATION_H_
