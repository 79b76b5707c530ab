// The replicated tables of the clinic schema (schema/clinic/, DESIGN.md §3)
// as the merge sees them: which tables exist, whether rows are mutable
// (per-field last-writer-wins) or append-only (written once), and which
// columns a change entry may write.
//
// Every replicated table also has the bookkeeping columns id, created_hlc,
// updated_hlc and deleted, which change entries never write directly.
// `site_id` is an ordinary writable column (the row's owning site).
//
// This list and schema/clinic/*.sql must agree; replica_test checks that
// every column named here exists in the migrated database.
//
// Thread-safety: immutable data.
#ifndef PULSE_ENGINE_REPLICATED_TABLES_H_
#define PULSE_ENGINE_REPLICATED_TABLES_H_

#include <span>
#include <string_view>

namespace pulse::engine {

enum class TableKind { kMutable, kAppendOnly };

struct ReplicatedTable {
  std::string_view name;
  TableKind kind;
  std::span<const std::string_view> columns;  // writable, in schema order

  bool HasColumn(std::string_view column) const;
};

// Every replicated table, in a fixed order (the order of the state hash).
std::span<const ReplicatedTable> ReplicatedTables();

// The table called `name`, or nullptr.
const ReplicatedTable* FindReplicatedTable(std::string_view name);

}  // namespace pulse::engine

#endif  // PULSE_ENGINE_REPLICATED_TABLES_H_
