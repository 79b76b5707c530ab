#include "pulse/engine/merge.h"

#include <cstring>
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

std::int64_t PackedHlc(Hlc hlc) { return static_cast<std::int64_t>(hlc.packed()); }

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

}  // namespace

struct Merger::Impl {
  explicit Impl(Database& database) : db(database) {}

  Database& db;
  std::unordered_map<std::string, Statement> cache;

  Result<Statement*> Cached(const std::string& sql) {
    auto it = cache.find(sql);
    if (it == cache.end()) {
      auto stmt = db.Prepare(sql);
      if (!stmt) return Fail(stmt.error());
      it = cache.emplace(sql, std::move(*stmt)).first;
    }
    it->second.Reset();
    return &it->second;
  }

  Result<bool> Apply(const ChangeEntry& e) {
    const ReplicatedTable* table = FindReplicatedTable(e.table);
    if (table == nullptr) {
      return Fail(ErrorCode::kUnsupported,
                  "change " + e.id + ": unknown table '" + e.table + "'");
    }
    auto mark = Cached("INSERT OR IGNORE INTO applied_changes (id) VALUES (?)");
    if (!mark) return Fail(mark.error());
    if (Status s = (*mark)->BindText(1, e.id); !s) return Fail(s.error());
    if (Status s = (*mark)->Run(); !s) return Fail(s.error());
    if (db.ChangedRowCount() == 0) return false;  // applied before

    const std::string t(table->name);
    const std::int64_t hlc = PackedHlc(e.hlc);
    auto existed = EnsureRow(t, e.row, hlc);
    if (!existed) return Fail(existed.error());

    if (e.op == Op::kDelete) {
      if (Status s = ApplyTombstone(*table, e); !s) return Fail(s.error());
      return true;
    }
    if (table->kind == TableKind::kAppendOnly) {
      if (Status s = ApplyAppendOnly(*table, e, *existed); !s) {
        return Fail(s.error());
      }
      return true;
    }
    for (const auto& [column, value] : e.fields) {
      if (!table->HasColumn(column)) continue;  // newer schema: ignored
      if (Status s = ApplyField(t, e, column, value); !s) {
        return Fail(s.error());
      }
    }
    return true;
  }

  // Creates the row if absent and widens its created/updated HLC range.
  // Returns the row's created_hlc before this entry (0 if it was new).
  Result<std::int64_t> EnsureRow(const std::string& t, const std::string& row,
                                 std::int64_t hlc) {
    auto select = Cached("SELECT created_hlc FROM " + t + " WHERE id = ?");
    if (!select) return Fail(select.error());
    if (Status s = (*select)->BindText(1, row); !s) return Fail(s.error());
    auto found = (*select)->Step();
    if (!found) return Fail(found.error());
    std::int64_t created = 0;
    if (*found) {
      created = (*select)->ColumnInt64(0).value();
      (*select)->Reset();
      auto update = Cached("UPDATE " + t +
                           " SET created_hlc = min(created_hlc, ?1), "
                           "updated_hlc = max(updated_hlc, ?1) WHERE id = ?2");
      if (!update) return Fail(update.error());
      if (Status s = (*update)->BindInt64(1, hlc); !s) return Fail(s.error());
      if (Status s = (*update)->BindText(2, row); !s) return Fail(s.error());
      if (Status s = (*update)->Run(); !s) return Fail(s.error());
      return created;
    }
    (*select)->Reset();
    auto insert = Cached("INSERT INTO " + t +
                         " (id, created_hlc, updated_hlc) VALUES (?, ?, ?)");
    if (!insert) return Fail(insert.error());
    if (Status s = (*insert)->BindText(1, row); !s) return Fail(s.error());
    if (Status s = (*insert)->BindInt64(2, hlc); !s) return Fail(s.error());
    if (Status s = (*insert)->BindInt64(3, hlc); !s) return Fail(s.error());
    if (Status s = (*insert)->Run(); !s) return Fail(s.error());
    return std::int64_t{0};
  }

  // An append-only row holds the fields of its earliest entry, so that two
  // entries for one row id (a bug or a replay with other content) still
  // converge.
  Status ApplyAppendOnly(const ReplicatedTable& table, const ChangeEntry& e,
                         std::int64_t created_before) {
    const std::int64_t hlc = PackedHlc(e.hlc);
    if (created_before != 0 && created_before <= hlc) return OkStatus();
    for (const auto& [column, value] : e.fields) {
      if (!table.HasColumn(column)) continue;
      if (Status s = WriteValue(std::string(table.name), e.row, column, value);
          !s) {
        return s;
      }
    }
    return OkStatus();
  }

  Status WriteValue(const std::string& t, const std::string& row,
                    const std::string& column, const FieldValue& value) {
    auto update = Cached("UPDATE " + t + " SET " + column + " = ? WHERE id = ?");
    if (!update) return Fail(update.error());
    if (Status s = BindValue(**update, 1, value); !s) return s;
    if (Status s = (*update)->BindText(2, row); !s) return s;
    return (*update)->Run();
  }

  Status ApplyField(const std::string& t, const ChangeEntry& e,
                    const std::string& column, const FieldValue& value) {
    StoredVersion base;
    if (auto it = e.base.find(column); it != e.base.end()) {
      base = {PackedHlc(it->second.hlc), it->second.site};
    }
    auto insert = Cached(
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
    if (!s) return s;

    auto winner = Winner(t, e.row, column);
    if (!winner) return Fail(winner.error());
    if (*winner == StoredVersion{PackedHlc(e.hlc), e.site}) {
      if (Status w = WriteValue(t, e.row, column, value); !w) return w;
    }
    return RecomputeConflicts(t, e.row, column);
  }

  Result<std::optional<StoredVersion>> WinnerOrNone(const std::string& t,
                                                    std::string_view row,
                                                    std::string_view column) {
    auto select = Cached(
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

  Result<StoredVersion> Winner(const std::string& t, std::string_view row,
                               std::string_view column) {
    auto winner = WinnerOrNone(t, row, column);
    if (!winner) return Fail(winner.error());
    if (!winner->has_value()) {
      return Fail(ErrorCode::kCorruption,
                  "field_versions: no version of " + t + "." +
                      std::string(column));
    }
    return **winner;
  }

  Result<bool> RowDeleted(const std::string& t, std::string_view row) {
    auto select = Cached("SELECT deleted FROM " + t + " WHERE id = ?");
    if (!select) return Fail(select.error());
    if (Status s = (*select)->BindText(1, row); !s) return Fail(s.error());
    auto found = (*select)->Step();
    if (!found) return Fail(found.error());
    const bool deleted = *found && (*select)->ColumnInt64(0).value() != 0;
    (*select)->Reset();
    return deleted;
  }

  // conflicts(field) := leaves − {winner} on a live row, leaves − {versions
  // a tombstone saw} on a deleted one.
  Status RecomputeConflicts(const std::string& t, std::string_view row,
                            std::string_view column) {
    auto deleted = RowDeleted(t, row);
    if (!deleted) return Fail(deleted.error());
    StoredVersion winner;
    if (!*deleted) {
      auto w = Winner(t, row, column);
      if (!w) return Fail(w.error());
      winner = *w;
    }

    auto clear = Cached(
        "DELETE FROM conflicts WHERE tbl = ? AND row_id = ? AND col = ?");
    if (!clear) return Fail(clear.error());
    Status s = (*clear)->BindText(1, t);
    if (s) s = (*clear)->BindText(2, row);
    if (s) s = (*clear)->BindText(3, column);
    if (s) s = (*clear)->Run();
    if (!s) return s;

    auto leaves = Cached(
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
    auto insert = Cached(
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
      if (*deleted ? seen_by_tombstone : leaf == winner) continue;
      ins.Reset();
      s = ins.BindText(1, ConflictId(t, row, column, leaf));
      if (s) s = ins.BindText(2, t);
      if (s) s = ins.BindText(3, row);
      if (s) s = ins.BindText(4, column);
      if (s) s = ins.BindText(5, *deleted ? "delete_vs_update"
                                          : "concurrent_update");
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

  Status ApplyTombstone(const ReplicatedTable& table, const ChangeEntry& e) {
    const std::string t(table.name);
    auto insert = Cached(
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
    auto base = Cached(
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
    auto mark = Cached("UPDATE " + t + " SET deleted = 1 WHERE id = ?");
    if (!mark) return Fail(mark.error());
    if (s = (*mark)->BindText(1, e.row); !s) return s;
    if (s = (*mark)->Run(); !s) return s;
    if (table.kind == TableKind::kAppendOnly) return OkStatus();
    // Every field of the row now has its conflicts judged against what the
    // tombstones saw.
    auto columns = Cached(
        "SELECT DISTINCT col FROM field_versions WHERE tbl = ? AND row_id = ?");
    if (!columns) return Fail(columns.error());
    std::vector<std::string> names;
    {
      Statement& q = **columns;
      s = q.BindText(1, t);
      if (s) s = q.BindText(2, e.row);
      if (!s) return s;
      for (;;) {
        auto more = q.Step();
        if (!more) return Fail(more.error());
        if (!*more) break;
        names.emplace_back(q.ColumnText(0).value());
      }
      q.Reset();
    }
    for (const std::string& column : names) {
      if (Status r = RecomputeConflicts(t, e.row, column); !r) return r;
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
  auto winner = impl_->WinnerOrNone(std::string(table), row, column);
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
    for (int i = 0; i < 8; ++i) bytes[i] = static_cast<std::uint8_t>(n >> (8 * i));
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
