#include "pulse/engine/merge.h"

#include <bit>
#include <cstring>
#include <optional>
#include <unordered_map>
#include <vector>

#include "pulse/engine/hash.h"
#include "pulse/engine/replicated_tables.h"
#include "pulse/engine/row_clock.h"

namespace pulse::engine {
namespace {

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

// Conflict ids (docs/data_model.md §3.3): equal on every replica.
std::string ConflictId(std::string_view table, std::string_view row,
                       std::string_view column, const ClockVersion& loser) {
  std::string material;
  material.append(table).push_back('\0');
  material.append(row).push_back('\0');
  material.append(column).push_back('\0');
  material.append(std::to_string(static_cast<std::int64_t>(loser.hlc)))
      .push_back('\0');
  material.append(loser.site.ToString());
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
  // created_hlc, deleted (and, mutable tables, field_clock) of row ?1.
  CachedStatement select_row;
  // Widens created/updated to the entry's hlc and writes the columns of
  // the mask (and, mutable tables, the field clock ?3): UPDATE t SET
  // created_hlc = min(created_hlc, ?1), updated_hlc = max(updated_hlc, ?1),
  // field_clock = ?3, c = ?4, ... WHERE id = ?2.
  std::unordered_map<ColumnMask, CachedStatement> update_row;
  // INSERT INTO t (id, created_hlc, updated_hlc, [field_clock,] c, ...)
  std::unordered_map<ColumnMask, CachedStatement> insert_row;
  // Append-only tables: INSERT OR IGNORE with the same parameters.
  std::unordered_map<ColumnMask, CachedStatement> insert_if_absent;
  CachedStatement mark_deleted;
  // SELECT <column> FROM t WHERE id = ?: a displaced winner's value.
  std::vector<CachedStatement> select_column;
};

std::string JoinColumns(const ReplicatedTable& table, ColumnMask mask,
                        int first_parameter, std::string_view each,
                        std::string_view separator) {
  std::string out;
  int parameter = first_parameter;
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

// A UUID the change format guarantees canonical (ValidateChange); the merge
// trusts validated entries, so a malformed one is a caller bug, reported.
Result<Uuid> TrustedUuid(std::string_view text, std::string_view what) {
  auto id = Uuid::Parse(text);
  if (!id) {
    return Fail(ErrorCode::kInvalidArgument,
                "merge: " + std::string(what) + " is not a UUID");
  }
  return *id;
}

}  // namespace

// Cost (docs/data_model.md §3.3, "Cost"): apart from the pages a commit
// writes, the merge pays per SQL statement, so every common case takes
// three: mark applied, read the row (its field clocks are a column of it),
// and one INSERT or UPDATE writing the row's values and clocks together.
// Only a write that creates, settles or moves a conflict touches
// `conflicts` (and reads a displaced winner's value back from the row).
struct Merger::Impl {
  explicit Impl(Database& database) : db(database) {
    tables.resize(ReplicatedTables().size());
  }

  struct RowState {
    bool exists = false;
    std::int64_t created = 0;
    bool deleted = false;
    RowClock clock;  // mutable tables
  };

  Database& db;
  std::vector<TableStatements> tables;  // parallel to ReplicatedTables()
  CachedStatement mark_applied;
  CachedStatement insert_conflict;
  CachedStatement delete_conflict;
  CachedStatement conflicts_to_delete_kind;
  CachedStatement insert_tombstone;
  std::vector<FieldWrite> writes;        // reused across entries
  std::vector<std::uint8_t> clock_bytes;  // reused across entries
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

    const bool is_mutable = table->kind == TableKind::kMutable;
    writes.clear();
    if (e.op == Op::kUpsert) {
      for (const auto& [column, value] : e.fields) {
        const int index = ColumnIndex(*table, column);
        if (index < 0) continue;  // newer schema: ignored
        writes.push_back(FieldWrite{index, &column, &value});
      }
    }
    const std::int64_t hlc = static_cast<std::int64_t>(e.hlc.packed());
    // The common append-only case, a row not seen before, in one statement.
    if (!is_mutable && e.op == Op::kUpsert) {
      auto inserted = InsertIfAbsent(*table, e.row, hlc);
      if (!inserted) return Fail(inserted.error());
      if (*inserted) return true;
    }

    auto row = ReadRow(*table, e.row);
    if (!row) return Fail(row.error());

    if (e.op == Op::kDelete) {
      if (Status t = ApplyTombstone(*table, e, *row); !t) return Fail(t.error());
      return true;
    }
    if (!is_mutable) {
      // An append-only row holds the fields of its earliest entry, so that
      // two entries for one row id (a bug or a replay with other content)
      // still converge.
      const bool earliest = !row->exists || row->created > hlc;
      if (Status w = WriteRow(*table, e.row, hlc, row->exists,
                              earliest ? MaskOf(writes) : 0, nullptr);
          !w) {
        return Fail(w.error());
      }
      return true;
    }
    if (Status m = ApplyMutable(*table, e, *row); !m) return Fail(m.error());
    return true;
  }

  Result<RowState> ReadRow(const ReplicatedTable& table, const std::string& id) {
    const bool is_mutable = table.kind == TableKind::kMutable;
    auto select = StatementsOf(table).select_row.Use(
        db, "SELECT created_hlc, deleted" +
                std::string(is_mutable ? ", field_clock" : "") + " FROM " +
                std::string(table.name) + " WHERE id = ?1");
    if (!select) return Fail(select.error());
    Statement& q = **select;
    if (Status s = q.BindText(1, id); !s) return Fail(s.error());
    auto found = q.Step();
    if (!found) return Fail(found.error());
    RowState row;
    if (*found) {
      row.exists = true;
      row.created = q.ColumnInt64(0).value();
      row.deleted = q.ColumnInt64(1).value() != 0;
      if (is_mutable && q.GetColumnType(2) != ColumnType::kNull) {
        auto clock = DecodeRowClock(q.ColumnBlob(2).value());
        if (!clock) {
          return Fail(clock.error().WithContext(std::string(table.name) +
                                                " row " + id));
        }
        row.clock = std::move(*clock);
      }
    }
    q.Reset();
    return row;
  }

  // INSERT OR IGNORE of a new append-only row with every field: true if
  // the row was absent.
  Result<bool> InsertIfAbsent(const ReplicatedTable& table,
                              const std::string& row, std::int64_t hlc) {
    const ColumnMask mask = MaskOf(writes);
    CachedStatement& slot = StatementsOf(table).insert_if_absent[mask];
    auto st = slot.Use(db, "INSERT OR IGNORE INTO " + std::string(table.name) +
                               " (id, created_hlc, updated_hlc" +
                               JoinColumns(table, mask, 3, "$", ", ") +
                               ") VALUES (?2, ?1, ?1" +
                               JoinColumns(table, mask, 3, "#", ", ") + ")");
    if (!st) return Fail(st.error());
    Statement& stmt = **st;
    Status s = stmt.BindInt64(1, hlc);
    if (s) s = stmt.BindText(2, row);
    for (const FieldWrite& f : writes) {
      if (!s) break;
      const int rank = std::popcount(mask & ((ColumnMask{1} << f.column) - 1));
      s = BindValue(stmt, 3 + rank, *f.value);
    }
    if (s) s = stmt.Run();
    if (!s) return Fail(s.error());
    return db.ChangedRowCount() == 1;
  }

  static ColumnMask MaskOf(const std::vector<FieldWrite>& fields) {
    ColumnMask mask = 0;
    for (const FieldWrite& f : fields) mask |= ColumnMask{1} << f.column;
    return mask;
  }

  // Creates the row (with the `mask` fields of `writes`) or widens its
  // created/updated HLC range (and writes the `mask` fields), in one
  // statement; for a mutable table also stores `clock`.
  Status WriteRow(const ReplicatedTable& table, const std::string& row,
                  std::int64_t hlc, bool exists, ColumnMask mask,
                  const RowClock* clock) {
    const bool is_mutable = table.kind == TableKind::kMutable;
    const int first = is_mutable ? 4 : 3;  // first column parameter
    TableStatements& ts = StatementsOf(table);
    Statement* stmt = nullptr;
    if (exists) {
      CachedStatement& slot = ts.update_row[mask];
      auto st = slot.Use(
          db, "UPDATE " + std::string(table.name) +
                  " SET created_hlc = min(created_hlc, ?1), "
                  "updated_hlc = max(updated_hlc, ?1)" +
                  (is_mutable ? ", field_clock = ?3" : "") +
                  JoinColumns(table, mask, first, "$ = #", ", ") +
                  " WHERE id = ?2");
      if (!st) return Fail(st.error());
      stmt = *st;
      Status s = stmt->BindInt64(1, hlc);
      if (s) s = stmt->BindText(2, row);
      if (!s) return s;
    } else {
      CachedStatement& slot = ts.insert_row[mask];
      auto st = slot.Use(
          db, "INSERT INTO " + std::string(table.name) +
                  " (id, created_hlc, updated_hlc" +
                  (is_mutable ? ", field_clock" : "") +
                  JoinColumns(table, mask, first, "$", ", ") +
                  ") VALUES (?2, ?1, ?1" + (is_mutable ? ", ?3" : "") +
                  JoinColumns(table, mask, first, "#", ", ") + ")");
      if (!st) return Fail(st.error());
      stmt = *st;
      Status s = stmt->BindInt64(1, hlc);
      if (s) s = stmt->BindText(2, row);
      if (!s) return s;
    }
    if (is_mutable) {
      EncodeRowClock(*clock, clock_bytes);
      if (Status s = stmt->BindBlob(3, clock_bytes); !s) return s;
    }
    // Parameters of the columns follow in column order, i.e. the order of
    // the bits; `writes` is in field-name order, so bind by rank.
    for (const FieldWrite& f : writes) {
      if ((mask & (ColumnMask{1} << f.column)) == 0) continue;
      const int rank = std::popcount(mask & ((ColumnMask{1} << f.column) - 1));
      if (Status s = BindValue(*stmt, first + rank, *f.value); !s) return s;
    }
    return stmt->Run();
  }

  // Per field (docs/data_model.md §3.3), with v the incoming version and b
  // its base: v is a leaf unless a write already named it as its base
  // (`dangling`); b stops being a leaf (its conflict, if any, is settled),
  // or is remembered as dangling if it is not a leaf here; the greater of v
  // and the old winner w wins. Conflicts = leaves − {w} on a live row, so
  // a losing leaf v becomes one, and so does a displaced w that is still a
  // leaf (v was not based on it), with the value the row held.
  Status ApplyMutable(const ReplicatedTable& table, const ChangeEntry& e,
                      RowState& row) {
    auto site = TrustedUuid(e.site, "site");
    if (!site) return Fail(site.error());
    auto change_id = TrustedUuid(e.id, "id");
    if (!change_id) return Fail(change_id.error());
    auto author = TrustedUuid(e.author, "author");
    if (!author) return Fail(author.error());
    const ClockVersion v{e.hlc.packed(), *site};
    const ClockWriter writer{v, *change_id, *author};
    const std::string_view kind =
        row.deleted ? "delete_vs_update" : "concurrent_update";

    ColumnMask wins = 0;
    for (const FieldWrite& f : writes) {
      FieldClock& fc = row.clock.Get(static_cast<std::uint32_t>(f.column));
      // The same version twice (two entries with one (hlc, site): refused
      // by validation upstream) changes nothing.
      if ((fc.winner && fc.winner->version == v) ||
          ContainsVersion(fc.leaves, v)) {
        continue;
      }
      const bool born_inner = EraseVersion(fc.dangling, v);
      bool winner_built_on = false;
      if (auto it = e.base.find(*f.name); it != e.base.end()) {
        auto base_site = TrustedUuid(it->second.site, "base site");
        if (!base_site) return Fail(base_site.error());
        const ClockVersion b{it->second.hlc.packed(), *base_site};
        if (fc.winner && fc.winner->version == b) {
          winner_built_on = true;
          // On a deleted row an unseen winner was a conflict; no longer.
          if (row.deleted && !ContainsVersion(fc.seen_by_tombstone, b)) {
            if (Status s = DeleteConflict(table, e.row, *f.name, b); !s) {
              return s;
            }
          }
        } else if (EraseVersion(fc.leaves, b)) {
          if (!row.deleted || !ContainsVersion(fc.seen_by_tombstone, b)) {
            if (Status s = DeleteConflict(table, e.row, *f.name, b); !s) {
              return s;
            }
          }
        } else {
          InsertVersion(fc.dangling, b);
        }
      }
      if (!fc.winner || fc.winner->version < v) {
        // v wins. (v cannot be born inner: a version built on v would be
        // greater than v, hence than w, the greatest.)
        if (fc.winner && !winner_built_on) {
          // w stays a leaf: a conflict on a live row (on a deleted one its
          // status does not change).
          InsertVersion(fc.leaves, fc.winner->version);
          if (!row.deleted) {
            if (Status s = InsertConflictFromRow(table, e.row, f.column,
                                                 *fc.winner, kind);
                !s) {
              return s;
            }
          }
        }
        fc.winner = writer;
        wins |= ColumnMask{1} << f.column;
        // On a deleted row every leaf no tombstone saw is a conflict, the
        // winner included.
        if (row.deleted && !ContainsVersion(fc.seen_by_tombstone, v)) {
          if (Status s = InsertConflict(table.name, e.row, *f.name, v, e.id,
                                        e.author, kind, f.value, nullptr, 0);
              !s) {
            return s;
          }
        }
      } else if (!born_inner) {
        InsertVersion(fc.leaves, v);
        if (!row.deleted || !ContainsVersion(fc.seen_by_tombstone, v)) {
          if (Status s = InsertConflict(table.name, e.row, *f.name, v, e.id,
                                        e.author, kind, f.value, nullptr, 0);
              !s) {
            return s;
          }
        }
      }
    }
    return WriteRow(table, e.row, static_cast<std::int64_t>(e.hlc.packed()),
                    row.exists, wins, &row.clock);
  }

  Status DeleteConflict(const ReplicatedTable& table, std::string_view row,
                        std::string_view column, const ClockVersion& loser) {
    auto del = delete_conflict.Use(db, "DELETE FROM conflicts WHERE id = ?");
    if (!del) return Fail(del.error());
    if (Status s = (*del)->BindText(1, ConflictId(table.name, row, column,
                                                  loser));
        !s) {
      return s;
    }
    return (*del)->Run();
  }

  // The loser's value comes from `value`, or else column `from` of the
  // current row of `source`.
  Status InsertConflict(std::string_view t, std::string_view row,
                        std::string_view column, const ClockVersion& loser,
                        std::string_view change_id, std::string_view author,
                        std::string_view kind, const FieldValue* value,
                        const Statement* source, int from) {
    auto insert = insert_conflict.Use(
        db,
        "INSERT INTO conflicts (id, tbl, row_id, col, kind, loser_hlc, "
        "loser_site, loser_change_id, loser_author, loser_value) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
    if (!insert) return Fail(insert.error());
    Statement& ins = **insert;
    Status s = ins.BindText(1, ConflictId(t, row, column, loser));
    if (s) s = ins.BindText(2, t);
    if (s) s = ins.BindText(3, row);
    if (s) s = ins.BindText(4, column);
    if (s) s = ins.BindText(5, kind);
    if (s) s = ins.BindInt64(6, static_cast<std::int64_t>(loser.hlc));
    if (s) s = ins.BindText(7, loser.site.ToString());
    if (s) s = ins.BindText(8, change_id);
    if (s) s = ins.BindText(9, author);
    if (s) {
      s = value != nullptr ? BindValue(ins, 10, *value)
                           : CopyColumn(*source, from, ins, 10);
    }
    if (s) s = ins.Run();
    return s;
  }

  // A conflict for the field's current winner `w`, whose value is the one
  // the row holds now (read before the row is rewritten).
  Status InsertConflictFromRow(const ReplicatedTable& table,
                               const std::string& row, int column,
                               const ClockWriter& w, std::string_view kind) {
    TableStatements& ts = StatementsOf(table);
    if (ts.select_column.empty()) ts.select_column.resize(table.columns.size());
    const auto c = static_cast<std::size_t>(column);
    auto select = ts.select_column[c].Use(
        db, "SELECT " + std::string(table.columns[c]) + " FROM " +
                std::string(table.name) + " WHERE id = ?");
    if (!select) return Fail(select.error());
    Statement& q = **select;
    if (Status s = q.BindText(1, row); !s) return s;
    auto found = q.Step();
    if (!found) return Fail(found.error());
    if (!*found) {
      return Fail(ErrorCode::kCorruption,
                  "merge: " + std::string(table.name) + " row " + row +
                      " has field clocks but no row");
    }
    Status s = InsertConflict(table.name, row, table.columns[c], w.version,
                              w.change_id.ToString(), w.author.ToString(),
                              kind, nullptr, &q, 0);
    q.Reset();
    return s;
  }

  // A tombstone sets `deleted` for good. On a mutable row the conflicts
  // become "leaves the tombstones did not see": existing ones change kind,
  // leaves it saw are settled, and a winner it did not see (an update the
  // deleting site never saw) becomes a delete_vs_update conflict.
  Status ApplyTombstone(const ReplicatedTable& table, const ChangeEntry& e,
                        RowState& row) {
    const std::string_view t = table.name;
    const std::int64_t hlc = static_cast<std::int64_t>(e.hlc.packed());
    auto insert = insert_tombstone.Use(
        db,
        "INSERT OR IGNORE INTO tombstones (change_id, tbl, row_id, hlc, site, "
        "author) VALUES (?, ?, ?, ?, ?, ?)");
    if (!insert) return Fail(insert.error());
    Statement& ins = **insert;
    Status s = ins.BindText(1, e.id);
    if (s) s = ins.BindText(2, t);
    if (s) s = ins.BindText(3, e.row);
    if (s) s = ins.BindInt64(4, hlc);
    if (s) s = ins.BindText(5, e.site);
    if (s) s = ins.BindText(6, e.author);
    if (s) s = ins.Run();
    if (!s) return s;

    if (table.kind == TableKind::kMutable) {
      const bool was_deleted = row.deleted;
      if (!was_deleted) {
        auto rekind = conflicts_to_delete_kind.Use(
            db,
            "UPDATE conflicts SET kind = 'delete_vs_update' WHERE tbl = ? AND "
            "row_id = ?");
        if (!rekind) return Fail(rekind.error());
        s = (*rekind)->BindText(1, t);
        if (s) s = (*rekind)->BindText(2, e.row);
        if (s) s = (*rekind)->Run();
        if (!s) return s;
      }
      for (const auto& [column, version] : e.base) {
        const int index = ColumnIndex(table, column);
        if (index < 0) continue;  // newer schema: ignored
        auto base_site = TrustedUuid(version.site, "base site");
        if (!base_site) return Fail(base_site.error());
        const ClockVersion seen{version.hlc.packed(), *base_site};
        FieldClock& fc = row.clock.Get(static_cast<std::uint32_t>(index));
        if (!InsertVersion(fc.seen_by_tombstone, seen)) continue;
        const bool is_winner = fc.winner && fc.winner->version == seen;
        // A leaf this tombstone saw is no conflict (the winner of a live
        // row never was one).
        if ((is_winner && was_deleted) || ContainsVersion(fc.leaves, seen)) {
          if (s = DeleteConflict(table, e.row, column, seen); !s) return s;
        }
      }
      if (!was_deleted && row.exists) {
        for (const FieldClock& fc : row.clock.fields) {
          if (!fc.winner ||
              ContainsVersion(fc.seen_by_tombstone, fc.winner->version)) {
            continue;
          }
          if (s = InsertConflictFromRow(table, e.row,
                                        static_cast<int>(fc.column), *fc.winner,
                                        "delete_vs_update");
              !s) {
            return s;
          }
        }
      }
    }
    if (s = WriteRow(table, e.row, hlc, row.exists, 0, &row.clock); !s) {
      return s;
    }
    auto mark = StatementsOf(table).mark_deleted.Use(
        db, "UPDATE " + std::string(t) + " SET deleted = 1 WHERE id = ?");
    if (!mark) return Fail(mark.error());
    if (s = (*mark)->BindText(1, e.row); !s) return s;
    return (*mark)->Run();
  }
};

Merger::Merger(Database& db) : impl_(std::make_unique<Impl>(db)) {}
Merger::~Merger() = default;

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

Result<bool> Merger::Apply(const ChangeEntry& entry) {
  // Callers that batch entries in their own transaction (a pull page, an
  // ingest group) need the merge cache as much as ApplyBatch does.
  if (!impl_->cache_raised) {
    if (Status s = RaiseCacheSize(impl_->db); !s) {
      return Fail(s.error().WithContext("merge"));
    }
    impl_->cache_raised = true;
  }
  auto applied = impl_->Apply(entry);
  if (!applied) return Fail(applied.error().WithContext("merge"));
  return applied;
}

Result<std::size_t> Merger::ApplyBatch(std::span<const ChangeEntry> entries) {
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
  const ReplicatedTable* t = FindReplicatedTable(table);
  if (t == nullptr || t->kind != TableKind::kMutable) {
    return std::optional<Version>();
  }
  const int index = ColumnIndex(*t, column);
  if (index < 0) return std::optional<Version>();
  auto state = impl_->ReadRow(*t, std::string(row));
  if (!state) return Fail(state.error());
  const FieldClock* fc = state->clock.Find(static_cast<std::uint32_t>(index));
  if (fc == nullptr || !fc->winner) return std::optional<Version>();
  auto hlc = Hlc::FromPacked(fc->winner->version.hlc);
  if (!hlc) return Fail(hlc.error());
  return std::optional<Version>(
      Version{*hlc, fc->winner->version.site.ToString()});
}

namespace {

void PutLength(Blake2bHasher& hasher, std::uint64_t n) {
  std::uint8_t bytes[8];
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<std::uint8_t>(n >> (8 * i));
  hasher.Update(std::span<const std::uint8_t>(bytes, 8));
}

void HashValue(Blake2bHasher& hasher, const Statement& row, int column) {
  switch (row.GetColumnType(column)) {
    case ColumnType::kNull:
      hasher.Update("n");
      break;
    case ColumnType::kInteger: {
      hasher.Update("i");
      PutLength(hasher,
                static_cast<std::uint64_t>(row.ColumnInt64(column).value()));
      break;
    }
    case ColumnType::kFloat: {
      hasher.Update("r");
      const double v = row.ColumnDouble(column).value();
      std::uint64_t bits;
      std::memcpy(&bits, &v, sizeof bits);
      PutLength(hasher, bits);
      break;
    }
    case ColumnType::kText: {
      const std::string_view text = row.ColumnText(column).value();
      hasher.Update("t");
      PutLength(hasher, text.size());
      hasher.Update(text);
      break;
    }
    case ColumnType::kBlob: {
      const auto blob = row.ColumnBlob(column).value();
      hasher.Update("b");
      PutLength(hasher, blob.size());
      hasher.Update(blob);
      break;
    }
  }
}

// Hashes every row of `sql`; the column `clock_column` (if >= 0) holds
// field clocks and is hashed in their canonical form.
// `site`, when set, is bound to the query's parameter ?1.
Status HashQuery(Database& db, Blake2bHasher& hasher, std::string_view label,
                 const std::string& sql, int clock_column = -1,
                 std::optional<std::string_view> site = std::nullopt) {
  auto stmt = db.Prepare(sql);
  if (!stmt) return Fail(stmt.error());
  if (site) {
    if (Status s = stmt->BindText(1, *site); !s) return s;
  }
  hasher.Update(label);
  std::vector<std::uint8_t> canonical;
  for (;;) {
    auto more = stmt->Step();
    if (!more) return Fail(more.error());
    if (!*more) break;
    hasher.Update("(");
    for (int c = 0; c < stmt->ColumnCount(); ++c) {
      if (c == clock_column) {
        // NULL (a row upgraded from schema v1 with no versions) is the
        // empty clock.
        RowClock clock;
        if (stmt->GetColumnType(c) != ColumnType::kNull) {
          auto decoded = DecodeRowClock(stmt->ColumnBlob(c).value());
          if (!decoded) return Fail(decoded.error());
          clock = std::move(*decoded);
        }
        EncodeRowClock(clock, canonical, /*include_dangling=*/false);
        hasher.Update("c");
        PutLength(hasher, canonical.size());
        hasher.Update(canonical);
      } else {
        HashValue(hasher, *stmt, c);
      }
    }
    hasher.Update(")");
  }
  return OkStatus();
}

// The state hash of every row (`site` unset) or of the rows of one site:
// the same bytes in the same order, only filtered, so that the two agree on
// a database holding that site's rows alone.
Result<std::string> StateHash(Database& db,
                              std::optional<std::string_view> site) {
  Blake2bHasher hasher(32);
  // A bookkeeping row (tombstone, conflict) belongs to the site of the row
  // it is about.
  std::string row_of_site;
  for (const ReplicatedTable& table : ReplicatedTables()) {
    std::string sql = "SELECT id, created_hlc, updated_hlc, deleted";
    for (std::string_view column : table.columns) {
      sql.append(", ").append(column);
    }
    int clock_column = -1;
    if (table.kind == TableKind::kMutable) {
      clock_column = 4 + static_cast<int>(table.columns.size());
      sql.append(", field_clock");
    }
    sql.append(" FROM ").append(table.name);
    if (site) sql.append(" WHERE site_id = ?1");
    sql.append(" ORDER BY id");
    if (Status s = HashQuery(db, hasher, table.name, sql, clock_column, site);
        !s) {
      return Fail(s.error());
    }
    // Table names come from ReplicatedTables(): safe in SQL text.
    row_of_site.append(row_of_site.empty() ? "" : " OR ")
        .append("(tbl = '")
        .append(table.name)
        .append("' AND row_id IN (SELECT id FROM ")
        .append(table.name)
        .append(" WHERE site_id = ?1))");
  }
  const std::string where = site ? " WHERE " + row_of_site : "";
  const std::pair<std::string_view, std::string> bookkeeping[] = {
      {"tombstones", "SELECT * FROM tombstones" + where + " ORDER BY change_id"},
      {"conflicts", "SELECT * FROM conflicts" + where + " ORDER BY id"},
  };
  for (const auto& [label, sql] : bookkeeping) {
    if (Status s = HashQuery(db, hasher, label, sql, -1, site); !s) {
      return Fail(s.error());
    }
  }
  return HexEncode(hasher.Final());
}

}  // namespace

Result<std::string> CanonicalStateHash(Database& db) {
  return StateHash(db, std::nullopt);
}

Result<std::string> CanonicalSiteStateHash(Database& db,
                                           std::string_view site_id) {
  return StateHash(db, site_id);
}

}  // namespace pulse::engine
