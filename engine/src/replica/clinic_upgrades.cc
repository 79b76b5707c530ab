// The C++ steps of clinic schema migrations (pulse_embed_migrations
// UPGRADES): data conversions SQL cannot express. Each runs inside its
// migration's transaction, right after the script. Released steps, like
// released scripts, never change.
#include <map>
#include <set>
#include <string>
#include <vector>

#include "pulse/engine/database.h"
#include "pulse/engine/migrations.h"
#include "pulse/engine/replicated_tables.h"
#include "pulse/engine/row_clock.h"
#include "pulse/engine/uuid.h"

namespace pulse::engine::schema {
namespace {

Result<Uuid> StoredUuid(std::string_view text, std::string_view what) {
  auto id = Uuid::Parse(text);
  if (!id) {
    return Fail(ErrorCode::kCorruption,
                "field_versions: " + std::string(what) + " is not a UUID");
  }
  return *id;
}

// One field's version graph as schema v1 stored it.
struct FieldGraph {
  std::map<ClockVersion, ClockWriter> versions;
  std::set<ClockVersion> bases;
  std::set<ClockVersion> seen_by_tombstone;
};

// The field clocks equivalent to `graphs` (row_clock.h): winner = greatest
// version, leaves = versions nobody named as base, dangling = bases not
// among the versions.
RowClock ClockOf(const std::map<std::uint32_t, FieldGraph>& graphs) {
  RowClock clock;
  for (const auto& [column, g] : graphs) {
    FieldClock& f = clock.Get(column);
    if (!g.versions.empty()) f.winner = g.versions.rbegin()->second;
    for (const auto& [v, writer] : g.versions) {
      if (!g.bases.contains(v) && !(f.winner && f.winner->version == v)) {
        f.leaves.push_back(v);  // map order: ascending
      }
    }
    for (const ClockVersion& b : g.bases) {
      if (!g.versions.contains(b)) f.dangling.push_back(b);
    }
    f.seen_by_tombstone.assign(g.seen_by_tombstone.begin(),
                               g.seen_by_tombstone.end());
  }
  return clock;
}

Status ConvertTable(Database& db, const ReplicatedTable& table) {
  auto rows = db.Prepare("SELECT id FROM " + std::string(table.name));
  auto versions = db.Prepare(
      "SELECT col, hlc, site, base_hlc, base_site, change_id, author "
      "FROM field_versions WHERE tbl = ?1 AND row_id = ?2");
  auto seen = db.Prepare(
      "SELECT col, base_hlc, base_site FROM tombstone_bases "
      "WHERE tbl = ?1 AND row_id = ?2");
  auto update = db.Prepare("UPDATE " + std::string(table.name) +
                           " SET field_clock = ?2 WHERE id = ?1");
  if (!rows) return Fail(rows.error());
  if (!versions) return Fail(versions.error());
  if (!seen) return Fail(seen.error());
  if (!update) return Fail(update.error());

  auto column_of = [&](std::string_view name) -> Result<std::uint32_t> {
    for (std::size_t i = 0; i < table.columns.size(); ++i) {
      if (table.columns[i] == name) return static_cast<std::uint32_t>(i);
    }
    return Fail(ErrorCode::kCorruption, "field_versions: unknown column " +
                                            std::string(table.name) + "." +
                                            std::string(name));
  };
  std::vector<std::uint8_t> bytes;
  for (;;) {
    auto more = rows->Step();
    if (!more) return Fail(more.error());
    if (!*more) break;
    const std::string id(rows->ColumnText(0).value());
    std::map<std::uint32_t, FieldGraph> graphs;

    versions->Reset();
    if (Status s = versions->BindText(1, table.name); !s) return s;
    if (Status s = versions->BindText(2, id); !s) return s;
    for (;;) {
      auto v = versions->Step();
      if (!v) return Fail(v.error());
      if (!*v) break;
      auto column = column_of(versions->ColumnText(0).value());
      if (!column) return Fail(column.error());
      auto site = StoredUuid(versions->ColumnText(2).value(), "site");
      auto change = StoredUuid(versions->ColumnText(5).value(), "change_id");
      auto author = StoredUuid(versions->ColumnText(6).value(), "author");
      if (!site) return Fail(site.error());
      if (!change) return Fail(change.error());
      if (!author) return Fail(author.error());
      FieldGraph& g = graphs[*column];
      const ClockVersion version{
          static_cast<std::uint64_t>(versions->ColumnInt64(1).value()), *site};
      g.versions[version] = ClockWriter{version, *change, *author};
      const std::int64_t base_hlc = versions->ColumnInt64(3).value();
      if (base_hlc != 0) {
        auto base_site = StoredUuid(versions->ColumnText(4).value(), "base");
        if (!base_site) return Fail(base_site.error());
        g.bases.insert({static_cast<std::uint64_t>(base_hlc), *base_site});
      }
    }

    seen->Reset();
    if (Status s = seen->BindText(1, table.name); !s) return s;
    if (Status s = seen->BindText(2, id); !s) return s;
    for (;;) {
      auto b = seen->Step();
      if (!b) return Fail(b.error());
      if (!*b) break;
      auto column = column_of(seen->ColumnText(0).value());
      if (!column) return Fail(column.error());
      auto base_site = StoredUuid(seen->ColumnText(2).value(), "base");
      if (!base_site) return Fail(base_site.error());
      graphs[*column].seen_by_tombstone.insert(
          {static_cast<std::uint64_t>(seen->ColumnInt64(1).value()),
           *base_site});
    }

    if (graphs.empty()) continue;  // no clocks: NULL, the empty clock
    EncodeRowClock(ClockOf(graphs), bytes);
    update->Reset();
    Status s = update->BindText(1, id);
    if (s) s = update->BindBlob(2, bytes);
    if (s) s = update->Run();
    if (!s) return s;
  }
  return OkStatus();
}

}  // namespace

// 0002_field_clocks: fills every mutable row's field_clock from the schema
// v1 version graph (field_versions, tombstone_bases). `conflicts` needs no
// change: its definition (leaves − winner, or leaves the tombstones did not
// see) is the same.
// The mutable tables are those of schema v1, named here rather than taken
// from the (growing) registry; their column indices are stable because
// columns are only ever appended.
Status ClinicUpgrade0002(Database& db) {
  for (std::string_view name : {"sites", "users", "devices", "patients",
                                "recordings", "interpretations"}) {
    const ReplicatedTable* table = FindReplicatedTable(name);
    if (table == nullptr) {
      return Fail(ErrorCode::kCorruption, "no registry entry for " +
                                            std::string(name));
    }
    if (Status s = ConvertTable(db, *table); !s) return s;
  }
  return OkStatus();
}

}  // namespace pulse::engine::schema
