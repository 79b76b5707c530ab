#include "pulse/engine/merge.h"

#include <bit>
#include <cstring>
#include <optional>
#include <unordered_map>
#include <vector>

#include "pulse/engine/hash.h"
#include "pulse/engine/replicated_tables.h"

namespace pulse::engine {
namespace {

// A version as stored: hlc 0 / site "" means "no version".
struct StoredVersion {
  std::int64_t hlc = 0;
  std::string site;
  bool operator==(const StoredVersion&) const = default;
};

std::int64_t PackedHlc(Hlc hlc) {
  return static_cast<std::int64_t>(hlc.packed());
}

Status BindValue(Statement& stmt, int index, const FieldValue& value) {
  struct Binder {
    Statement& stmt;
    int index;
    Status operator()(std::nullptr_t) { return stmt.BindNull(index); }
    Status operator()(std::int64_t v) { return stmt.BindInt64(index, v); }
    Status operator()(double v) { return stmt.BindDouble(index, v); }
    Status operator()(const std::string& v) { return stmt.BindText(index, v); }
    Status operator()(const Blob& v) { return stmt.BindBlob(index, v.bytes); }
  };
  return std::visit(Binder{stmt, index}, value);
}

// Copies column `from` of the current row of `src` into parameter `to` of
// `dst`, keeping its storage class.
Status CopyColumn(const Statement& src, int from, Statement& dst, int to) {
  switch (src.GetColumnType(from)) {
    case ColumnType::kNull:
      return dst.BindNull(to);
    case ColumnType::kInteger:
      return dst.BindInt64(to, src.ColumnInt64(from).value());
    case ColumnType::kFloat:
      return dst.BindDouble(to, src.ColumnDouble(from).value());
    case ColumnType::kText:
      return dst.BindText(to, src.ColumnText(from).value());
    case ColumnType::kBlob:
      return dst.BindBlob(to, src.ColumnBlob(from).value());
  }
  return OkStatus();
}

std::string ConflictId(std::string_view table, std::string_view row,
                       std::string_view column, const StoredVersion& loser) {
  std::string material;
  material.append(table).push_back('\0');
  material.append(row).push_back('\0');
  material.append(column).push_back('\0');
  material.append(std::to_string(loser.hlc)).push_back('\0');
  material.append(loser.site);
  const Blake2b256Digest digest = Blake2b256(material);
  return HexEncode(digest);
}

// Columns of one replicated table as a bit set, for the per-column-set
// statements below. Every table has fewer than 64 writable columns
// (checked when the statements are made).
using ColumnMask = std::uint64_t;
constexpr std::size_t kMaxMaskColumns = 64;

int ColumnIndex(const ReplicatedTable& table, std::string_view column) {
  for (std::size_t i = 0; i < table.columns.size(); ++i) {
    if (table.columns[i] == column) return static_cast<int>(i);
  }
  return -1;
}

// A lazily prepared statement. Use() hands it back reset with no bindings.
class CachedStatement {
 public:
  Result<Statement*> Use(Database& db, const std::string& sql) {
    if (!stmt_) {
      auto stmt = db.Prepare(sql);
      if (!stmt) return Fail(stmt.error());
      stmt_.emplace(std::move(*stmt));
    } else {
      stmt_->Reset();
    }
    return &*stmt_;
  }

 private:
  std::optional<Statement> stmt_;
};

// The statements of one replicated table, prepared on first use. SQL text
// is built only then, never on the hot path.
struct TableStatements {
  // created_hlc, deleted and (mutable tables) whether any conflict of the
  // row is recorded, for the row `id` = ?1.
  CachedStatement select_row;
  // Widens created/updated to the entry's hlc and writes the columns of
  // the mask: UPDATE t SET created_hlc = min(created_hlc, ?1),
  // updated_hlc = max(updated_hlc, ?1), c = ?3, ... WHERE id = ?2.
  std::unordered_map<ColumnMask, CachedStatement> update_row;
  // INSERT INTO t (id, created_hlc, updated_hlc, c, ...) VALUES (?, ?, ?, ...)
  std::unordered_map<ColumnMask, CachedStatement> insert_row;
  CachedStatement mark_deleted;
};

std::string JoinColumns(const ReplicatedTable& table, ColumnMask mask,
                        std::string_view each, std::string_view separator) {
  std::string out;
  int parameter = 3;  // ?1 and ?2 are the row's id and hlc
  for (std::size_t i = 0; i < table.columns.size(); ++i) {
    if ((mask & (ColumnMask{1} << i)) == 0) continue;
    out.append(separator);
    for (const char c : each) {
      if (c == '$') {
        out.append(table.columns[i]);
      } else if (c == '#') {
        out.append("?").append(std::to_string(parameter++));
      } else {
        out.push_back(c);
      }
    }
  }
  return out;
}

// One field of the entry being applied.
struct FieldWrite {
  int column;  // index into the table's columns
  const std::string* name;
  const FieldValue* value;
};

}  // namespace

// Cost (docs/data_model.md §3.3, "Cost"): apart from the pages a commit
// writes, the merge pays per SQL statement, so the common cases take few:
//  - every entry: mark applied (1), read the row's state (1);
//  - new row: one INSERT with every field (+ one field_versions INSERT per
//    field of a mutable table: nothing else to read, the row had no
//    versions, tombstones or conflicts);
//  - existing row of a mutable table: per field the current winner (1) and
//    the version INSERT (1); one UPDATE for the HLC range and every field
//    the entry wins; conflicts recomputed only off the fast path of §3.3.
struct Merger::Impl {
  explicit Impl(Database& database) : db(database) {
    tables.resize(ReplicatedTables().size());
  }

  Database& db;
  std::vector<TableStatements> tables;  // parallel to ReplicatedTables()
  CachedStatement mark_applied;
  CachedStatement insert_version;
  CachedStatement select_winner;
  CachedStatement clear_conflicts;
  CachedStatement select_leaves;
  CachedStatement insert_conflict;
  CachedStatement insert_tombstone;
  CachedStatement insert_tombstone_base;
  CachedStatement select_row_columns;
  std::vector<FieldWrite> writes;        // reused across entries
  std::vector<int> recompute;            // indices into `writes`
  std::vector<std::string> row_columns;  // reused by tombstones
  bool cache_raised = false;

  TableStatements& StatementsOf(const ReplicatedTable& table) {
    return tables[static_cast<std::size_t>(&table - ReplicatedTables().data())];
  }

  Result<bool> Apply(const ChangeEntry& e) {
    const ReplicatedTable* table = FindReplicatedTable(e.table);
    if (table == nullptr) {
      return Fail(ErrorCode::kUnsupported,
                  "change " + e.id + ": unknown table '" + e.table + "'");
    }
    if (table->columns.size() > kMaxMaskColumns) {
      return Fail(ErrorCode::kUnsupported, "table " + std::string(table->name) +
                                               " has too many columns");
    }
    auto mark = mark_applied.Use(
        db, "INSERT OR IGNORE INTO applied_changes (id) VALUES (?)");
    if (!mark) return Fail(mark.error());
    if (Status s = (*mark)->BindText(1, e.id); !s) return Fail(s.error());
    if (Status s = (*mark)->Run(); !s) return Fail(s.error());
    if (db.ChangedRowCount() == 0) return false;  // applied before

    // The row's state before this entry.
    const bool is_mutable = table->kind == TableKind::kMutable;
    TableStatements& ts = StatementsOf(*table);
    auto select = ts.select_row.Use(
        db,
        is_mutable
            ? "SELECT created_hlc, deleted, EXISTS (SELECT 1 FROM conflicts "
              "WHERE tbl = ?2 AND row_id = ?1) FROM " +
                  std::string(table->name) + " WHERE id = ?1"
            : "SELECT created_hlc, deleted, 0 FROM " +
                  std::string(table->name) + " WHERE id = ?1");
    if (!select) return Fail(select.error());
    Statement& q = **select;
    Status s = q.BindText(1, e.row);
    if (s && is_mutable) s = q.BindText(2, table->name);
    if (!s) return Fail(s.error());
    auto found = q.Step();
    if (!found) return Fail(found.error());
    RowState row;
    if (*found) {
      row.exists = true;
      row.created = q.ColumnInt64(0).value();
      row.deleted = q.ColumnInt64(1).value() != 0;
      row.has_conflicts = q.ColumnInt64(2).value() != 0;
    }
    q.Reset();

    writes.clear();
    if (e.op == Op::kUpsert) {
      for (const auto& [column, value] : e.fields) {
        const int index = ColumnIndex(*table, column);
        if (index < 0) continue;  // newer schema: ignored
        writes.push_back(FieldWrite{index, &column, &value});
      }
    }
    const std::int64_t hlc = PackedHlc(e.hlc);

    if (e.op == Op::kDelete) {
      if (Status w = WriteRow(*table, e.row, hlc, row.exists, 0); !w) {
        return Fail(w.error());
      }
      if (Status t = ApplyTombstone(*table, e); !t) return Fail(t.error());
      return true;
    }
    if (!is_mutable) {
      // An append-only row holds the fields of its earliest entry, so that
      // two entries for one row id (a bug or a replay with other content)
      // still converge.
      const bool earliest = !row.exists || row.created > hlc;
      if (Status w = WriteRow(*table, e.row, hlc, row.exists,
                              earliest ? MaskOf(writes) : 0);
          !w) {
        return Fail(w.error());
      }
      return true;
    }
    if (Status m = ApplyMutable(*table, e, row); !m) return Fail(m.error());
    return true;
  }

  struct RowState {
    bool exists = false;
    std::int64_t created = 0;
    bool deleted = false;
    bool has_conflicts = false;
  };

  static ColumnMask MaskOf(const std::vector<FieldWrite>& fields) {
    ColumnMask mask = 0;
    for (const FieldWrite& f : fields) mask |= ColumnMask{1} << f.column;
    return mask;
  }

  // Creates the row (with the `mask` fields of `writes`) or widens its
  // created/updated HLC range (and writes the `mask` fields), in one
  // statement.
  Status WriteRow(const ReplicatedTable& table, const std::string& row,
                  std::int64_t hlc, bool exists, ColumnMask mask) {
    TableStatements& ts = StatementsOf(table);
    Statement* stmt = nullptr;
    if (exists) {
      CachedStatement& slot = ts.update_row[mask];
      auto st = slot.Use(db, "UPDATE " + std::string(table.name) +
                                 " SET created_hlc = min(created_hlc, ?1), "
                                 "updated_hlc = max(updated_hlc, ?1)" +
                                 JoinColumns(table, mask, "$ = #", ", ") +
                                 " WHERE id = ?2");
      if (!st) return Fail(st.error());
      stmt = *st;
      Status s = stmt->BindInt64(1, hlc);
      if (s) s = stmt->BindText(2, row);
      if (!s) return s;
    } else {
      CachedStatement& slot = ts.insert_row[mask];
      auto st = slot.Use(db, "INSERT INTO " + std::string(table.name) +
                                 " (id, created_hlc, updated_hlc" +
                                 JoinColumns(table, mask, "$", ", ") +
                                 ") VALUES (?1, ?2, ?2" +
                                 JoinColumns(table, mask, "#", ", ") + ")");
      if (!st) return Fail(st.error());
      stmt = *st;
      Status s = stmt->BindText(1, row);
      if (s) s = stmt->BindInt64(2, hlc);
      if (!s) return s;
    }
    // Parameters of the columns follow in column order, i.e. the order of
    // the bits; `writes` is in field-name order, so bind by rank.
    for (const FieldWrite& f : writes) {
      if ((mask & (ColumnMask{1} << f.column)) == 0) continue;
      const int rank = std::popcount(mask & ((ColumnMask{1} << f.column) - 1));
      if (Status s = BindValue(*stmt, 3 + rank, *f.value); !s) return s;
    }
    return stmt->Run();
  }

  // Per field (docs/data_model.md §3.2–§3.3): record the version; the value
  // goes to the row if the version is now the field's greatest; conflicts
  // are recomputed unless the fast path proves they cannot change.
  Status ApplyMutable(const ReplicatedTable& table, const ChangeEntry& e,
                      const RowState& row) {
    const std::string_view t = table.name;
    const StoredVersion incoming{PackedHlc(e.hlc), e.site};
    recompute.clear();
    winners.clear();
    ColumnMask wins = 0;
    for (std::size_t i = 0; i < writes.size(); ++i) {
      const FieldWrite& f = writes[i];
      StoredVersion base;
      if (auto it = e.base.find(*f.name); it != e.base.end()) {
        base = {PackedHlc(it->second.hlc), it->second.site};
      }
      // A row that did not exist has no versions, tombstones or conflicts
      // (every applied entry creates its row first), so no winner to read.
      std::optional<StoredVersion> winner;
      if (row.exists) {
        auto w = WinnerOrNone(t, e.row, *f.name);
        if (!w) return Fail(w.error());
        winner = std::move(*w);
      }
      if (Status s = InsertVersion(t, e, *f.name, base, *f.value); !s) {
        return s;
      }
      // The greatest version after the insert. If the version was already
      // stored (same hlc and site), winner == incoming and the value is
      // written, as before this change.
      const bool incoming_wins =
          !winner.has_value() || !Less(incoming, *winner);
      if (incoming_wins) wins |= ColumnMask{1} << f.column;
      // Fast path (§3.3): on a live row whose fields have no conflicts, the
      // field's only leaf is its winner w (conflicts = leaves − {w} is
      // empty). If the incoming v is based on w, w stops being a leaf; v is
      // a leaf, since a version based on v would have a greater hlc than v
      // (ValidateChange: base hlc < entry hlc), hence than w, the greatest.
      // So the leaves are {v}, v is the winner, and the conflicts stay
      // empty. The same holds when the field had no version at all.
      const bool fast =
          !row.deleted && !row.has_conflicts &&
          (!winner.has_value() || (base == *winner && Less(*winner, incoming)));
      if (!fast) {
        recompute.push_back(static_cast<int>(i));
        winners.push_back(incoming_wins ? incoming : *winner);
      }
    }
    if (Status s = WriteRow(table, e.row, incoming.hlc, row.exists, wins); !s) {
      return s;
    }
    for (std::size_t k = 0; k < recompute.size(); ++k) {
      const FieldWrite& f = writes[static_cast<std::size_t>(recompute[k])];
      if (Status s =
              RecomputeConflicts(t, e.row, *f.name, row.deleted, winners[k]);
          !s) {
        return s;
      }
    }
    return OkStatus();
  }

  // (hlc, site) order of versions (change_log.md §1.1).
  static bool Less(const StoredVersion& a, const StoredVersion& b) {
    if (a.hlc != b.hlc) return a.hlc < b.hlc;
    return a.site < b.site;
  }

  std::vector<StoredVersion> winners;  // parallel to `recompute`

  Status InsertVersion(std::string_view t, const ChangeEntry& e,
                       std::string_view column, const StoredVersion& base,
                       const FieldValue& value) {
    auto insert = insert_version.Use(
        db,
        "INSERT OR IGNORE INTO field_versions (tbl, row_id, col, hlc, site, "
        "base_hlc, base_site, change_id, author, value) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
    if (!insert) return Fail(insert.error());
    Statement& ins = **insert;
    Status s = ins.BindText(1, t);
    if (s) s = ins.BindText(2, e.row);
    if (s) s = ins.BindText(3, column);
    if (s) s = ins.BindInt64(4, PackedHlc(e.hlc));
    if (s) s = ins.BindText(5, e.site);
    if (s) s = ins.BindInt64(6, base.hlc);
    if (s) s = ins.BindText(7, base.site);
    if (s) s = ins.BindText(8, e.id);
    if (s) s = ins.BindText(9, e.author);
    if (s) s = BindValue(ins, 10, value);
    if (s) s = ins.Run();
    return s;
  }

  Result<std::optional<StoredVersion>> WinnerOrNone(std::string_view t,
                                                    std::string_view row,
                                                    std::string_view column) {
    auto select = select_winner.Use(
        db,
        "SELECT hlc, site FROM field_versions WHERE tbl = ? AND row_id = ? "
        "AND col = ? ORDER BY hlc DESC, site DESC LIMIT 1");
    if (!select) return Fail(select.error());
    Statement& q = **select;
    Status s = q.BindText(1, t);
    if (s) s = q.BindText(2, row);
    if (s) s = q.BindText(3, column);
    if (!s) return Fail(s.error());
    auto found = q.Step();
    if (!found) return Fail(found.error());
    if (!*found) return std::optional<StoredVersion>();
    StoredVersion v{q.ColumnInt64(0).value(),
                    std::string(q.ColumnText(1).value())};
    q.Reset();
    return std::optional<StoredVersion>(std::move(v));
  }

  // conflicts(field) := leaves − {winner} on a live row, leaves − {versions
  // a tombstone saw} on a deleted one. `winner` (the field's greatest
  // version) is ignored on a deleted row.
  Status RecomputeConflicts(std::string_view t, std::string_view row,
                            std::string_view column, bool deleted,
                            const StoredVersion& winner) {
    auto clear = clear_conflicts.Use(
        db, "DELETE FROM conflicts WHERE tbl = ? AND row_id = ? AND col = ?");
    if (!clear) return Fail(clear.error());
    Status s = (*clear)->BindText(1, t);
    if (s) s = (*clear)->BindText(2, row);
    if (s) s = (*clear)->BindText(3, column);
    if (s) s = (*clear)->Run();
    if (!s) return s;

    auto leaves = select_leaves.Use(
        db,
        "SELECT v.hlc, v.site, v.change_id, v.author, v.value, "
        " EXISTS (SELECT 1 FROM tombstone_bases b WHERE b.tbl = v.tbl AND "
        "  b.row_id = v.row_id AND b.col = v.col AND b.base_hlc = v.hlc AND "
        "  b.base_site = v.site) "
        "FROM field_versions v WHERE v.tbl = ?1 AND v.row_id = ?2 AND "
        "v.col = ?3 AND NOT EXISTS (SELECT 1 FROM field_versions c WHERE "
        " c.tbl = v.tbl AND c.row_id = v.row_id AND c.col = v.col AND "
        " c.base_hlc = v.hlc AND c.base_site = v.site)");
    if (!leaves) return Fail(leaves.error());
    Statement& q = **leaves;
    s = q.BindText(1, t);
    if (s) s = q.BindText(2, row);
    if (s) s = q.BindText(3, column);
    if (!s) return s;
    auto insert = insert_conflict.Use(
        db,
        "INSERT INTO conflicts (id, tbl, row_id, col, kind, loser_hlc, "
        "loser_site, loser_change_id, loser_author, loser_value) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
    if (!insert) return Fail(insert.error());
    Statement& ins = **insert;
    for (;;) {
      auto more = q.Step();
      if (!more) return Fail(more.error());
      if (!*more) break;
      StoredVersion leaf{q.ColumnInt64(0).value(),
                         std::string(q.ColumnText(1).value())};
      const bool seen_by_tombstone = q.ColumnInt64(5).value() != 0;
      if (deleted ? seen_by_tombstone : leaf == winner) continue;
      ins.Reset();
      s = ins.BindText(1, ConflictId(t, row, column, leaf));
      if (s) s = ins.BindText(2, t);
      if (s) s = ins.BindText(3, row);
      if (s) s = ins.BindText(4, column);
      if (s)
        s = ins.BindText(5, deleted ? "delete_vs_update" : "concurrent_update");
      if (s) s = ins.BindInt64(6, leaf.hlc);
      if (s) s = ins.BindText(7, leaf.site);
      if (s) s = ins.BindText(8, q.ColumnText(2).value());
      if (s) s = ins.BindText(9, q.ColumnText(3).value());
      if (s) s = CopyColumn(q, 4, ins, 10);
      if (s) s = ins.Run();
      if (!s) return s;
    }
    q.Reset();
    return OkStatus();
  }

  // A tombstone sets `deleted` for good; every field of the row then has
  // its conflicts judged against what the tombstones saw.
  Status ApplyTombstone(const ReplicatedTable& table, const ChangeEntry& e) {
    const std::string_view t = table.name;
    auto insert = insert_tombstone.Use(
        db,
        "INSERT OR IGNORE INTO tombstones (change_id, tbl, row_id, hlc, site, "
        "author) VALUES (?, ?, ?, ?, ?, ?)");
    if (!insert) return Fail(insert.error());
    Statement& ins = **insert;
    Status s = ins.BindText(1, e.id);
    if (s) s = ins.BindText(2, t);
    if (s) s = ins.BindText(3, e.row);
    if (s) s = ins.BindInt64(4, PackedHlc(e.hlc));
    if (s) s = ins.BindText(5, e.site);
    if (s) s = ins.BindText(6, e.author);
    if (s) s = ins.Run();
    if (!s) return s;
    auto base = insert_tombstone_base.Use(
        db,
        "INSERT OR IGNORE INTO tombstone_bases (change_id, tbl, row_id, col, "
        "base_hlc, base_site) VALUES (?, ?, ?, ?, ?, ?)");
    if (!base) return Fail(base.error());
    for (const auto& [column, version] : e.base) {
      Statement& b = **base;
      b.Reset();
      s = b.BindText(1, e.id);
      if (s) s = b.BindText(2, t);
      if (s) s = b.BindText(3, e.row);
      if (s) s = b.BindText(4, column);
      if (s) s = b.BindInt64(5, PackedHlc(version.hlc));
      if (s) s = b.BindText(6, version.site);
      if (s) s = b.Run();
      if (!s) return s;
    }
    auto mark = StatementsOf(table).mark_deleted.Use(
        db, "UPDATE " + std::string(t) + " SET deleted = 1 WHERE id = ?");
    if (!mark) return Fail(mark.error());
    if (s = (*mark)->BindText(1, e.row); !s) return s;
    if (s = (*mark)->Run(); !s) return s;
    if (table.kind == TableKind::kAppendOnly) return OkStatus();
    auto columns = select_row_columns.Use(
        db,
        "SELECT DISTINCT col FROM field_versions WHERE tbl = ? AND row_id = ?");
    if (!columns) return Fail(columns.error());
    row_columns.clear();
    {
      Statement& q = **columns;
      s = q.BindText(1, t);
      if (s) s = q.BindText(2, e.row);
      if (!s) return s;
      for (;;) {
        auto more = q.Step();
        if (!more) return Fail(more.error());
        if (!*more) break;
        row_columns.emplace_back(q.ColumnText(0).value());
      }
      q.Reset();
    }
    for (const std::string& column : row_columns) {
      if (Status r = RecomputeConflicts(t, e.row, column, true, {}); !r) {
        return r;
      }
    }
    return OkStatus();
  }
};

Merger::Merger(Database& db) : impl_(std::make_unique<Impl>(db)) {}
Merger::~Merger() = default;

Result<bool> Merger::Apply(const ChangeEntry& entry) {
  auto applied = impl_->Apply(entry);
  if (!applied) return Fail(applied.error().WithContext("merge"));
  return applied;
}

// Page cache for merging: SQLite's default (2 MB) is smaller than the
// pages one batch of 1 000 mixed changes touches once the replica holds a
// few tens of thousands of rows, and every miss is a pread and, keyed, a
// page decryption. 16 MiB per merging connection; never lowered, since the
// caller may have chosen more. (docs/data_model.md §3.3, "Cost".)
constexpr std::int64_t kMergeCacheKiB = 16 * 1024;

Status RaiseCacheSize(Database& db) {
  auto current = db.Prepare("PRAGMA cache_size");
  if (!current) return Fail(current.error());
  auto row = current->Step();
  if (!row) return Fail(row.error());
  if (*row) {
    const std::int64_t value = current->ColumnInt64(0).value();
    // Negative: KiB; positive: pages (4 KiB, database.h).
    const std::int64_t kib = value < 0 ? -value : value * 4;
    if (kib >= kMergeCacheKiB) return OkStatus();
  }
  return db.Execute("PRAGMA cache_size = -" + std::to_string(kMergeCacheKiB));
}

Result<std::size_t> Merger::ApplyBatch(std::span<const ChangeEntry> entries) {
  if (!impl_->cache_raised) {
    if (Status s = RaiseCacheSize(impl_->db); !s) return Fail(s.error());
    impl_->cache_raised = true;
  }
  auto txn = impl_->db.Begin(TransactionMode::kImmediate);
  if (!txn) return Fail(txn.error());
  std::size_t fresh = 0;
  for (const ChangeEntry& entry : entries) {
    auto applied = Apply(entry);
    if (!applied) return Fail(applied.error());
    if (*applied) ++fresh;
  }
  if (Status s = txn->Commit(); !s) return Fail(s.error());
  return fresh;
}

Result<std::optional<Version>> Merger::CurrentVersion(std::string_view table,
                                                      std::string_view row,
                                                      std::string_view column) {
  auto winner = impl_->WinnerOrNone(table, row, column);
  if (!winner) return Fail(winner.error());
  if (!winner->has_value()) return std::optional<Version>();
  auto hlc = Hlc::FromPacked(static_cast<std::uint64_t>((*winner)->hlc));
  if (!hlc) return Fail(hlc.error());
  return std::optional<Version>(Version{*hlc, (*winner)->site});
}

namespace {

void HashValue(Blake2bHasher& hasher, const Statement& row, int column) {
  auto put_length = [&](std::size_t n) {
    std::uint8_t bytes[8];
    for (int i = 0; i < 8; ++i)
      bytes[i] = static_cast<std::uint8_t>(n >> (8 * i));
    hasher.Update(std::span<const std::uint8_t>(bytes, 8));
  };
  switch (row.GetColumnType(column)) {
    case ColumnType::kNull:
      hasher.Update("n");
      break;
    case ColumnType::kInteger: {
      hasher.Update("i");
      put_length(static_cast<std::size_t>(row.ColumnInt64(column).value()));
      break;
    }
    case ColumnType::kFloat: {
      hasher.Update("r");
      const double v = row.ColumnDouble(column).value();
      std::uint64_t bits;
      std::memcpy(&bits, &v, sizeof bits);
      put_length(bits);
      break;
    }
    case ColumnType::kText: {
      const std::string_view text = row.ColumnText(column).value();
      hasher.Update("t");
      put_length(text.size());
      hasher.Update(text);
      break;
    }
    case ColumnType::kBlob: {
      const auto blob = row.ColumnBlob(column).value();
      hasher.Update("b");
      put_length(blob.size());
      hasher.Update(blob);
      break;
    }
  }
}

Status HashQuery(Database& db, Blake2bHasher& hasher, std::string_view label,
                 const std::string& sql) {
  auto stmt = db.Prepare(sql);
  if (!stmt) return Fail(stmt.error());
  hasher.Update(label);
  for (;;) {
    auto more = stmt->Step();
    if (!more) return Fail(more.error());
    if (!*more) break;
    hasher.Update("(");
    for (int c = 0; c < stmt->ColumnCount(); ++c) HashValue(hasher, *stmt, c);
    hasher.Update(")");
  }
  return OkStatus();
}

}  // namespace

Result<std::string> CanonicalStateHash(Database& db) {
  Blake2bHasher hasher(32);
  for (const ReplicatedTable& table : ReplicatedTables()) {
    std::string sql = "SELECT id, created_hlc, updated_hlc, deleted";
    for (std::string_view column : table.columns) {
      sql.append(", ").append(column);
    }
    sql.append(" FROM ").append(table.name).append(" ORDER BY id");
    if (Status s = HashQuery(db, hasher, table.name, sql); !s) {
      return Fail(s.error());
    }
  }
  const std::pair<std::string_view, std::string> bookkeeping[] = {
      {"field_versions",
       "SELECT * FROM field_versions ORDER BY tbl, row_id, col, hlc, site"},
      {"tombstones", "SELECT * FROM tombstones ORDER BY change_id"},
      {"tombstone_bases",
       "SELECT * FROM tombstone_bases ORDER BY change_id, col"},
      {"conflicts", "SELECT * FROM conflicts ORDER BY id"},
  };
  for (const auto& [label, sql] : bookkeeping) {
    if (Status s = HashQuery(db, hasher, label, sql); !s) {
      return Fail(s.error());
    }
  }
  return HexEncode(hasher.Final());
}

}  // namespace pulse::engine
