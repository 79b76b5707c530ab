#include "pulse/engine/local_writer.h"

#include <utility>

#include "pulse/engine/replicated_tables.h"

namespace pulse::engine {
namespace {

constexpr std::string_view kHighWaterKey = "hlc_high_water";

}  // namespace

Result<Hlc> ReadHlcHighWater(Database& db) {
  auto stmt = db.Prepare("SELECT value FROM sync_state WHERE key = ?");
  if (!stmt) return Fail(stmt.error());
  if (Status s = stmt->BindText(1, kHighWaterKey); !s) return Fail(s.error());
  auto found = stmt->Step();
  if (!found) return Fail(found.error());
  if (!*found) return Hlc();
  auto packed = stmt->ColumnInt64(0);
  if (!packed || *packed < 0) {
    return Fail(ErrorCode::kCorruption,
                "sync_state.hlc_high_water is not a clock value");
  }
  return Hlc::FromPacked(static_cast<std::uint64_t>(*packed));
}

Status RaiseHlcHighWater(Database& db, Hlc stamp) {
  // One statement: max(stored, stamp), inserting the row when missing.
  auto raise = db.Prepare(
      "INSERT OR REPLACE INTO sync_state (key, value) SELECT ?1, max(?2, "
      "coalesce((SELECT value FROM sync_state WHERE key = ?1), 0))");
  if (!raise) return Fail(raise.error());
  if (Status s = raise->BindText(1, kHighWaterKey); !s) return s;
  if (Status s = raise->BindInt64(2, static_cast<std::int64_t>(stamp.packed()));
      !s) {
    return s;
  }
  return raise->Run();
}

LocalWriter::LocalWriter(Database& db, HybridClock& clock, UuidV7Generator& ids,
                         std::string site_id)
    : db_(db), clock_(clock), ids_(ids), site_id_(std::move(site_id)),
      merger_(db) {}

LocalWriter::~LocalWriter() = default;

Result<std::unique_ptr<LocalWriter>> LocalWriter::Create(
    Database& db, HybridClock& clock, UuidV7Generator& ids,
    std::string site_id) {
  if (!IsCanonicalUuid(site_id)) {
    return Fail(ErrorCode::kInvalidArgument,
                "LocalWriter: site id is not a canonical UUID");
  }
  auto high_water = ReadHlcHighWater(db);
  if (!high_water) return Fail(high_water.error());
  if (Status s = clock.Seed(*high_water); !s) return Fail(s.error());
  return std::unique_ptr<LocalWriter>(
      new LocalWriter(db, clock, ids, std::move(site_id)));
}

Result<ChangeEntry> LocalWriter::WriteOne(const RowWrite& write,
                                          std::string_view author) {
  const ReplicatedTable* table = FindReplicatedTable(write.table);
  if (table == nullptr) {
    return Fail(ErrorCode::kInvalidArgument,
                "unknown table '" + write.table + "'");
  }
  for (const auto& [column, value] : write.fields) {
    if (!table->HasColumn(column)) {
      return Fail(ErrorCode::kInvalidArgument,
                  write.table + ": unknown column '" + column + "'");
    }
  }
  ChangeEntry e;
  e.id = ids_.Next().ToString();
  e.site = site_id_;
  e.table = write.table;
  e.row = write.row;
  e.op = write.op;
  e.author = std::string(author);
  e.fields = write.fields;

  if (table->kind == TableKind::kAppendOnly && write.op == Op::kUpsert) {
    auto exists = db_.Prepare("SELECT 1 FROM " + write.table + " WHERE id = ?");
    if (!exists) return Fail(exists.error());
    if (Status s = exists->BindText(1, write.row); !s) return Fail(s.error());
    auto found = exists->Step();
    if (!found) return Fail(found.error());
    if (*found) {
      return Fail(ErrorCode::kInvalidArgument,
                  write.table + " is append-only: row already written");
    }
  } else {
    // The base of every field written (a tombstone records what it saw of
    // every field), so the merge can tell a successor from a concurrent
    // write.
    std::vector<std::string_view> columns;
    if (write.op == Op::kDelete) {
      columns.assign(table->columns.begin(), table->columns.end());
    } else {
      for (const auto& [column, value] : write.fields) columns.push_back(column);
    }
    for (std::string_view column : columns) {
      auto current = merger_.CurrentVersion(write.table, write.row, column);
      if (!current) return Fail(current.error());
      if (current->has_value()) e.base[std::string(column)] = **current;
    }
  }
  e.hlc = clock_.Now();
  if (Status s = ValidateChange(e); !s) return Fail(s.error());
  auto encoded = EncodeChange(e);
  if (!encoded) return Fail(encoded.error());

  auto applied = merger_.Apply(e);
  if (!applied) return Fail(applied.error());
  auto append = db_.Prepare(
      "INSERT INTO change_log (id, hlc, entry) VALUES (?, ?, ?)");
  if (!append) return Fail(append.error());
  Status s = append->BindText(1, e.id);
  if (s) s = append->BindInt64(2, static_cast<std::int64_t>(e.hlc.packed()));
  if (s) s = append->BindText(3, *encoded);
  if (s) s = append->Run();
  if (!s) return Fail(s.error());
  return e;
}

Result<std::vector<ChangeEntry>> LocalWriter::Commit(
    std::span<const RowWrite> writes, std::string_view author) {
  auto txn = db_.Begin(TransactionMode::kImmediate);
  if (!txn) return Fail(txn.error());
  std::vector<ChangeEntry> entries;
  entries.reserve(writes.size());
  for (const RowWrite& write : writes) {
    auto entry = WriteOne(write, author);
    if (!entry) return Fail(entry.error());  // rolls back everything
    entries.push_back(std::move(*entry));
  }
  if (!entries.empty()) {
    if (Status s = RaiseHlcHighWater(db_, entries.back().hlc); !s) {
      return Fail(s.error());
    }
  }
  if (Status s = txn->Commit(); !s) return Fail(s.error());
  return entries;
}

Result<std::int64_t> LocalWriter::PendingChanges() {
  auto stmt =
      db_.Prepare("SELECT count(*) FROM change_log WHERE batch_id IS NULL");
  if (!stmt) return Fail(stmt.error());
  auto row = stmt->Step();
  if (!row) return Fail(row.error());
  return stmt->ColumnInt64(0);
}

}  // namespace pulse::engine
