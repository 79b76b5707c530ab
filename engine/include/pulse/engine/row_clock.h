// The field clocks of one row of a mutable table (DESIGN.md §3 "field
// clocks"; docs/data_model.md §3.3): per field, just enough of its version
// graph for the merge to keep `conflicts` equal to "leaves of the graph
// minus the winner" (live row) or "leaves the tombstones did not see"
// (deleted row), without storing the graph itself.
//
// Per field the merge keeps:
//  - the winner: the greatest (hlc, site) version, with the change and the
//    author that wrote it (the winner is always a leaf: a version built on
//    it would be greater);
//  - the other leaves (versions nobody has built on; on a live row these
//    are exactly the field's conflicts);
//  - `dangling`: versions some applied write named as its base although
//    they may not have arrived yet. A version that arrives while named here
//    is born an inner node. The set may also hold versions that did arrive
//    (a second write on the same base adds it again); that is harmless,
//    since an applied change never arrives twice, but it makes `dangling`
//    depend on arrival order, so it is left out of the canonical form;
//  - `seen_by_tombstone`: versions a tombstone of the row saw.
//
// Stored as one BLOB column `field_clock` of the row itself, so the common
// merge (a new row, or a sequential edit) writes one B-tree record instead
// of one per field. Encoding (all integers unsigned LEB128 varints):
//   format (=1)
//   n_sites, n_sites × 16-byte site UUID (ascending; the versions below
//     name sites by index into this list)
//   n_fields, n_fields × field (ascending column index)
//   field := column, has_winner (0/1),
//            [winner hlc, site index, 16-byte change id, 16-byte author],
//            n_leaves × (hlc, site index)   (ascending (hlc, site)),
//            n_dangling × (hlc, site index) (ascending),
//            n_seen × (hlc, site index)     (ascending)
// The column index is the position in ReplicatedTable::columns (columns are
// only ever appended, so the index is stable across schema versions).
//
// Thread-safety: plain values and pure functions.
#ifndef PULSE_ENGINE_ROW_CLOCK_H_
#define PULSE_ENGINE_ROW_CLOCK_H_

#include <compare>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "pulse/base/result.h"
#include "pulse/engine/uuid.h"

namespace pulse::engine {

// A field version: (packed hlc, site), ordered as change_log.md §1.1 (the
// canonical text of a UUID sorts like its bytes).
struct ClockVersion {
  std::uint64_t hlc = 0;
  Uuid site;
  friend constexpr auto operator<=>(const ClockVersion&,
                                    const ClockVersion&) = default;
};

// The write that produced a field's winning value.
struct ClockWriter {
  ClockVersion version;
  Uuid change_id;
  Uuid author;
  friend constexpr bool operator==(const ClockWriter&,
                                   const ClockWriter&) = default;
};

struct FieldClock {
  std::uint32_t column = 0;
  std::optional<ClockWriter> winner;           // nullopt: no version yet
  std::vector<ClockVersion> leaves;            // other than the winner
  std::vector<ClockVersion> dangling;          // see the file comment
  std::vector<ClockVersion> seen_by_tombstone;
  friend bool operator==(const FieldClock&, const FieldClock&) = default;
};

struct RowClock {
  std::vector<FieldClock> fields;  // ascending column

  // The field's clock, or nullptr.
  const FieldClock* Find(std::uint32_t column) const;
  // The field's clock, added (empty) in order if absent.
  FieldClock& Get(std::uint32_t column);
  friend bool operator==(const RowClock&, const RowClock&) = default;
};

// Set operations on the sorted version lists above.
bool ContainsVersion(const std::vector<ClockVersion>& set,
                     const ClockVersion& v);
// True if `v` was added (absent before).
bool InsertVersion(std::vector<ClockVersion>& set, const ClockVersion& v);
// True if `v` was present.
bool EraseVersion(std::vector<ClockVersion>& set, const ClockVersion& v);

// The encoding above, appended to `out` (cleared first). With
// `include_dangling` false, every field's dangling list is written empty:
// the canonical form, equal on replicas that applied the same changes.
void EncodeRowClock(const RowClock& clock, std::vector<std::uint8_t>& out,
                    bool include_dangling = true);

// kCorruption for anything that is not exactly one well-formed encoding
// (bad format byte, truncation, trailing bytes, a site index out of range,
// lists out of order).
Result<RowClock> DecodeRowClock(std::span<const std::uint8_t> bytes);

}  // namespace pulse::engine

#endif  // PULSE_ENGINE_ROW_CLOCK_H_
