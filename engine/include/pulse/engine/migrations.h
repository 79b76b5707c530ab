// Schema migrations: numbered SQL scripts applied in order, each in its own
// transaction, recorded in the database so that a replica upgrades on open
// and a replica written by a newer build is refused.
//
// The scripts live in `schema/<store>/NNNN_description.sql` (append-only:
// never edited after they land) and are compiled into the binary by the
// CMake function pulse_embed_migrations() (cmake/PulseEmbedSql.cmake), which
// generates a function returning them as a span of Migration. Numbers run
// 1, 2, 3, ... without gaps.
//
// Each applied migration is recorded in `schema_migrations` with its name
// and the SHA-256 of its SQL text. Migrate() compares those with the
// build's scripts, so a script edited after a database applied it is caught
// (kCorruption naming the script) instead of leaving replicas that claim the
// same version with different schemas.
//
// Thread-safety: functions take the connection they use; the usual rule of
// one thread per connection applies. Two processes migrating one file at
// once are serialised by the IMMEDIATE transaction of each step.
#ifndef PULSE_ENGINE_MIGRATIONS_H_
#define PULSE_ENGINE_MIGRATIONS_H_

#include <span>
#include <string_view>
#include <vector>

#include "pulse/base/result.h"
#include "pulse/engine/clock.h"
#include "pulse/engine/database.h"

namespace pulse::engine {

struct Migration {
  int version = 0;         // 1, 2, 3, ...: the NNNN of the file name
  std::string_view name;   // the description part, e.g. "initial"
  std::string_view sql;    // the script, run with Database::Execute()
  // Optional C++ step run after `sql` in the same transaction, for data
  // conversions SQL cannot express (pulse_embed_migrations UPGRADES). Not
  // covered by the recorded SHA-256: like the script, it must never change
  // once released.
  Status (*upgrade)(Database& db) = nullptr;
};

struct MigrationReport {
  int from_version = 0;       // schema version found on open (0 = empty)
  int to_version = 0;         // schema version after Migrate()
  std::vector<int> applied;   // versions applied by this call, in order
};

// The table recording applied migrations. A database may hold more than
// one independent sequence, each with its own ledger: the central store
// carries the clinic schema (ledger schema_migrations, the replicated
// tables shared with clinics) and its own central schema
// (central_migrations). A ledger name is [a-z][a-z0-9_]{0,62}
// (kInvalidArgument otherwise).
inline constexpr std::string_view kDefaultMigrationLedger = "schema_migrations";

// Checks that `migrations` are numbered 1..N in order, with non-empty names
// of [a-z0-9_] and non-empty SQL. kInvalidArgument naming the first fault.
Status ValidateMigrations(std::span<const Migration> migrations);

// The highest migration version recorded in `db`; 0 for a database that has
// never been migrated (no schema_migrations table).
Result<int> SchemaVersion(Database& db,
                          std::string_view ledger = kDefaultMigrationLedger);

// Brings `db` up to the last of `migrations`:
//  - kInvalidArgument if ValidateMigrations() fails;
//  - kUnsupported "database schema version N is newer than this build
//    (which knows versions up to M)" when the file was written by a newer
//    build — nothing is changed;
//  - kCorruption naming the script when an already applied migration's
//    name or SQL differ from this build's;
//  - otherwise applies each pending migration in its own IMMEDIATE
//    transaction together with its schema_migrations row, stamped with
//    `clock`. A failing script rolls back alone (earlier steps stay) and its
//    error names the script.
// REQUIRES: no transaction open on `db`.
Result<MigrationReport> Migrate(Database& db,
                                std::span<const Migration> migrations,
                                Clock& clock,
                                std::string_view ledger =
                                    kDefaultMigrationLedger);

}  // namespace pulse::engine

#endif  // PULSE_ENGINE_MIGRATIONS_H_
