// The one path for local writes to replicated tables (DESIGN.md §4): in one
// IMMEDIATE transaction it reads the base version of every field written,
// stamps the write with the replica's hybrid logical clock, applies the
// change entry with the shared merge (exactly as a remote replica will),
// appends the entry to the change_log outbox and raises the persisted HLC
// high-water mark. Either all of that happens or none of it does.
//
// Repositories (patients, recordings, ...) validate and authorise, then call
// Commit(); nothing else writes a replicated table.
//
// Thread-safety: one LocalWriter per connection, used by one thread at a
// time. The HybridClock may be shared (it is thread-safe).
#ifndef PULSE_ENGINE_LOCAL_WRITER_H_
#define PULSE_ENGINE_LOCAL_WRITER_H_

#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "pulse/base/result.h"
#include "pulse/engine/change.h"
#include "pulse/engine/database.h"
#include "pulse/engine/hlc.h"
#include "pulse/engine/merge.h"
#include "pulse/engine/uuid.h"

namespace pulse::engine {

// The HLC high-water mark LocalWriter persists in `sync_state`
// (change_log.md §1.5): the zero clock when none has been written yet;
// kCorruption when the stored value is not a clock.
Result<Hlc> ReadHlcHighWater(Database& db);

// Raises the persisted high-water mark to `stamp` if it is below it (never
// lowers it). Every path that stores a stamp — local writes, pulled pages —
// calls it in the transaction that stores the stamp (change_log.md §1.5).
Status RaiseHlcHighWater(Database& db, Hlc stamp);

// One row write: an upsert of `fields`, or a tombstone (op kDelete, no
// fields).
struct RowWrite {
  std::string table;
  std::string row;  // canonical UUID
  Op op = Op::kUpsert;
  std::map<std::string, FieldValue> fields;
};

class LocalWriter {
 public:
  // `db` is a migrated clinic replica; `site_id` the replica's site (the
  // tie-break of every version it writes). Seeds `clock` from the
  // high-water mark persisted in `db`, so stamps keep increasing across
  // restarts whatever the wall clock says. All references must outlive the
  // writer.
  static Result<std::unique_ptr<LocalWriter>> Create(Database& db,
                                                     HybridClock& clock,
                                                     UuidV7Generator& ids,
                                                     std::string site_id);
  ~LocalWriter();

  // Writes `writes` atomically, authored by `author` (user UUID), and
  // returns the change entries appended to the outbox, in order.
  // kInvalidArgument — nothing written — for an unknown table or column, a
  // value the change format refuses, a tombstone with fields, or a second
  // write of an existing append-only row.
  Result<std::vector<ChangeEntry>> Commit(std::span<const RowWrite> writes,
                                          std::string_view author);

  // Local changes not yet assigned to a push batch.
  Result<std::int64_t> PendingChanges();

  // The merge on this writer's connection (for CurrentVersion queries).
  Merger& merger() { return merger_; }

 private:
  LocalWriter(Database& db, HybridClock& clock, UuidV7Generator& ids,
              std::string site_id);
  Result<ChangeEntry> WriteOne(const RowWrite& write, std::string_view author);

  Database& db_;
  HybridClock& clock_;
  UuidV7Generator& ids_;
  std::string site_id_;
  Merger merger_;
};

}  // namespace pulse::engine

#endif  // PULSE_ENGINE_LOCAL_WRITER_H_
