// The merge: applies change entries (docs/formats/change_log.md) to a
// replica's database, the same way on every clinic and on the server, so
// that replicas which have applied the same set of entries — in any order,
// with duplicates — hold identical state (docs/data_model.md §3).
//
//  - An entry already applied (same id) is skipped.
//  - Mutable tables: every field write updates the field's clock (the
//    row's field_clock column, row_clock.h); the greatest (hlc, site)
//    version is the row's value.
//  - Append-only tables: the row holds the fields of its earliest entry.
//  - Tombstones set `deleted` for good and win over concurrent updates.
//  - Conflicts: per field, every leaf of the version graph (a version no
//    later write was based on) other than the winner — or, on a deleted
//    row, every leaf the tombstones did not see — is a conflict. The
//    conflicts table is kept equal to that incrementally (see
//    docs/data_model.md §3.3), so it too depends only on the set of
//    entries applied.
//
// Entries are trusted to be valid (ValidateChange); the caller (sync client
// or server) validates and authorises them first. Columns this build does
// not know (a newer schema) are ignored; an unknown table is kUnsupported.
//
// Thread-safety: a Merger belongs to one connection and one thread.
#ifndef PULSE_ENGINE_MERGE_H_
#define PULSE_ENGINE_MERGE_H_

#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "pulse/base/result.h"
#include "pulse/engine/change.h"
#include "pulse/engine/database.h"

namespace pulse::engine {

class Merger {
 public:
  // `db` must outlive the Merger and be migrated to the clinic schema.
  explicit Merger(Database& db);
  ~Merger();
  Merger(const Merger&) = delete;
  Merger& operator=(const Merger&) = delete;

  // Applies one entry. REQUIRES: a write transaction is open on the
  // database (local writes apply their entry in the transaction that also
  // appends it to the outbox). Returns true if applied, false if it had
  // been applied before. The first call raises the connection's page cache
  // to at least 16 MiB (never lowers it): merging misses SQLite's default
  // 2 MB once the replica holds tens of thousands of rows.
  Result<bool> Apply(const ChangeEntry& entry);

  // Applies `entries` in one IMMEDIATE transaction: all or nothing.
  // Returns how many were new.
  Result<std::size_t> ApplyBatch(std::span<const ChangeEntry> entries);

  // The current (winning) version of a field, or nullopt when the field has
  // never been written: the `base` a local write of it must carry.
  Result<std::optional<Version>> CurrentVersion(std::string_view table,
                                                std::string_view row,
                                                std::string_view column);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// BLAKE2b-256 (hex) over every replicated table's rows (by id, every
// column, the field clocks in canonical form), tombstones and conflicts,
// each value with its storage class: equal on two replicas exactly when
// their merged state is.
Result<std::string> CanonicalStateHash(Database& db);

// CanonicalStateHash restricted to one site: the replicated rows whose
// site_id is `site_id`, and the tombstones and conflicts about those rows.
// A clinic holds only its own site's rows, so it converges with the central
// store exactly when its whole-database hash equals the central store's
// hash for its site. Equal to CanonicalStateHash on a database that holds
// only rows of `site_id`.
Result<std::string> CanonicalSiteStateHash(Database& db,
                                           std::string_view site_id);

}  // namespace pulse::engine

#endif  // PULSE_ENGINE_MERGE_H_
