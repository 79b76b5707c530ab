// The merge converges: replicas that exchange all changes, in any order,
// with duplicates, drops and re-deliveries, reach identical state, and every
// concurrent edit is a conflict on every replica (docs/data_model.md §3).
//
// The property test runs N replicas (real SQLCipher-format databases opened
// plaintext: encryption is irrelevant to the merge and costs time here) that
// edit offline and gossip random subsets of what they know. The expected
// conflicts come from an independent model of the version graph computed
// from the full set of entries, not from the code under test.
//
// Size: PULSE_MERGE_OPS operations (default 1500) × PULSE_MERGE_SEEDS seeds
// (default 4) × 5 replicas. The `slow` ctest entry runs the bar of issue 4:
// 10 000 operations × 50 seeds.
#include "pulse/engine/merge.h"

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "support/temp_dir.h"
#include "support/manual_clock.h"

#include "pulse/engine/clinic_schema.h"
#include "pulse/engine/clock.h"
#include "pulse/engine/hlc.h"
#include "pulse/engine/migrations.h"
#include "pulse/engine/replicated_tables.h"
#include "pulse/engine/uuid.h"

namespace pulse::engine {
namespace {

namespace fs = std::filesystem;

using ::pulse::testing::ManualClock;

int EnvInt(const char* name, int fallback) {
  const char* text = std::getenv(name);
  return text != nullptr && *text != '\0' ? std::atoi(text) : fallback;
}

Database OpenReplicaDb(const fs::path& path) {
  DatabaseOptions options;
  options.synchronous = Synchronous::kNormal;
  auto db = Database::OpenPlaintext(path, options);
  EXPECT_TRUE(db.has_value()) << db.error().ToString();
  ManualClock clock;
  auto migrated = Migrate(*db, schema::ClinicMigrations(), clock);
  EXPECT_TRUE(migrated.has_value()) << migrated.error().ToString();
  return std::move(db).value();
}

// UUIDv7s (RFC 9562 layout: 48-bit ms, version 7, variant 10) whose random
// bits come from the test's seeded generator, so that a seed reproduces a
// run exactly — site ids decide tie-breaks.
class SeededIds {
 public:
  SeededIds(Clock& wall, std::mt19937_64& rng) : wall_(wall), rng_(rng) {}
  Uuid Next() {
    const auto ms = static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::milliseconds>(
            wall_.Now().time_since_epoch())
            .count());
    std::array<std::uint8_t, 16> b{};
    for (int i = 0; i < 6; ++i) b[i] = static_cast<std::uint8_t>(ms >> (40 - 8 * i));
    const std::uint64_t r1 = rng_(), r2 = rng_();
    for (int i = 6; i < 16; ++i) {
      b[i] = static_cast<std::uint8_t>((i < 8 ? r1 : r2) >> (8 * (i % 8)));
    }
    b[6] = static_cast<std::uint8_t>(0x70 | (b[6] & 0x0f));
    b[8] = static_cast<std::uint8_t>(0x80 | (b[8] & 0x3f));
    static const char* kHex = "0123456789abcdef";
    std::string text;
    for (int i = 0; i < 16; ++i) {
      if (i == 4 || i == 6 || i == 8 || i == 10) text.push_back('-');
      text.push_back(kHex[b[i] >> 4]);
      text.push_back(kHex[b[i] & 15]);
    }
    return Uuid::Parse(text).value();
  }

 private:
  Clock& wall_;
  std::mt19937_64& rng_;
};

struct Replica {
  Replica(const fs::path& path, std::int64_t skew_ms, std::uint64_t seed)
      : db(OpenReplicaDb(path)),
        merger(db),
        rng(seed),
        ids(wall, rng),
        hlc(HybridClock::Options{&wall, Hlc()}) {
    site = ids.Next().ToString();
    author = ids.Next().ToString();
    skew = skew_ms;
  }

  Database db;
  Merger merger;
  ManualClock wall;
  std::mt19937_64 rng;
  SeededIds ids;
  HybridClock hlc;
  std::string site;
  std::string author;
  std::int64_t skew = 0;
  std::vector<ChangeEntry> known;  // every entry applied here
  std::set<std::string> known_ids;
  std::vector<std::string> patient_rows;
};

// Everything a replica writes goes through here: base versions from the
// merger, an HLC from the replica's clock, then the same Apply as remote
// entries.
void LocalWrite(Replica& r, const std::string& table, const std::string& row,
                Op op, std::map<std::string, FieldValue> fields) {
  ChangeEntry e;
  e.id = r.ids.Next().ToString();
  e.site = r.site;
  e.table = table;
  e.row = row;
  e.op = op;
  e.author = r.author;
  std::vector<std::string> base_columns;
  if (op == Op::kUpsert) {
    for (const auto& [column, value] : fields) base_columns.push_back(column);
  } else {
    const ReplicatedTable* t = FindReplicatedTable(table);
    for (std::string_view column : t->columns) {
      base_columns.emplace_back(column);
    }
  }
  for (const std::string& column : base_columns) {
    auto current = r.merger.CurrentVersion(table, row, column);
    ASSERT_TRUE(current.has_value()) << current.error().ToString();
    if (current->has_value()) e.base[column] = **current;
  }
  e.fields = std::move(fields);
  e.hlc = r.hlc.Now();
  ASSERT_TRUE(ValidateChange(e).has_value()) << ValidateChange(e).error().ToString();
  auto applied = r.merger.ApplyBatch(std::span<const ChangeEntry>(&e, 1));
  ASSERT_TRUE(applied.has_value()) << applied.error().ToString();
  r.known_ids.insert(e.id);
  r.known.push_back(std::move(e));
}

void Deliver(Replica& to, std::vector<ChangeEntry> entries) {
  for (const ChangeEntry& e : entries) {
    ASSERT_TRUE(to.hlc.Observe(e.hlc).has_value());
  }
  auto applied = to.merger.ApplyBatch(entries);
  ASSERT_TRUE(applied.has_value()) << applied.error().ToString();
  for (ChangeEntry& e : entries) {
    if (to.known_ids.insert(e.id).second) {
      if (e.table == "patients" && e.op == Op::kUpsert &&
          e.fields.contains("mrn")) {
        to.patient_rows.push_back(e.row);
      }
      to.known.push_back(std::move(e));
    }
  }
}

std::string RandomName(std::mt19937_64& rng) {
  static const char* kNames[] = {"Achieng", "Baraka",  "Chebet", "Dalia",
                                 "Eshe",    "Faraji",  "Gathoni", "Hamisi",
                                 "Imani",   "Jabari",  "Kamau",  "Lulu"};
  return kNames[rng() % 12];
}

void RandomOperation(Replica& r, std::vector<Replica*>&) {
  std::mt19937_64& rng = r.rng;
  r.wall.AdvanceMs(static_cast<std::int64_t>(rng() % 2000));
  const unsigned dice = static_cast<unsigned>(rng() % 100);
  if (dice < 15 || r.patient_rows.empty()) {
    const std::string row = r.ids.Next().ToString();
    LocalWrite(r, "patients", row, Op::kUpsert,
               {{"site_id", r.site},
                {"mrn", "MRN-" + std::to_string(rng() % 100000)},
                {"given_name", RandomName(rng)},
                {"family_name", RandomName(rng)},
                {"birth_date", std::string("1980-01-01")}});
    r.patient_rows.push_back(row);
    return;
  }
  const std::string& row = r.patient_rows[rng() % r.patient_rows.size()];
  if (dice < 18) {
    LocalWrite(r, "patients", row, Op::kDelete, {});
  } else if (dice < 30) {
    LocalWrite(r, "measurements", r.ids.Next().ToString(), Op::kUpsert,
               {{"site_id", r.site},
                {"recording_id", row},
                {"name", std::string("heart_rate_bpm")},
                {"value", static_cast<double>(40 + rng() % 120)},
                {"unit", std::string("bpm")}});
  } else {
    static const char* kColumns[] = {"given_name", "family_name", "phone",
                                     "address"};
    const std::string column = kColumns[rng() % 4];
    FieldValue value = RandomName(rng);
    if (rng() % 10 == 0) value = nullptr;
    LocalWrite(r, "patients", row, Op::kUpsert, {{column, value}});
  }
}

// A value as text for comparing the model with the table: storage class and
// value.
std::string Render(const FieldValue& value) {
  if (std::holds_alternative<std::nullptr_t>(value)) return "null";
  if (const auto* i = std::get_if<std::int64_t>(&value)) {
    return "int:" + std::to_string(*i);
  }
  if (const auto* d = std::get_if<double>(&value)) {
    return "real:" + std::to_string(*d);
  }
  if (const auto* t = std::get_if<std::string>(&value)) return "text:" + *t;
  return "blob";
}

std::string RenderColumn(const Statement& row, int column) {
  switch (row.GetColumnType(column)) {
    case ColumnType::kNull:
      return "null";
    case ColumnType::kInteger:
      return "int:" + std::to_string(row.ColumnInt64(column).value());
    case ColumnType::kFloat:
      return "real:" + std::to_string(row.ColumnDouble(column).value());
    case ColumnType::kText:
      return "text:" + std::string(row.ColumnText(column).value());
    case ColumnType::kBlob:
      return "blob";
  }
  return "?";
}

// Independent model of the conflicts the full set of entries implies: each
// as row/column/loser version/kind/loser change/author/value.
std::set<std::string> ExpectedConflicts(
    const std::vector<ChangeEntry>& all) {
  struct Key {
    std::string row, col;
    auto operator<=>(const Key&) const = default;
  };
  std::map<Key, std::vector<const ChangeEntry*>> versions;
  std::map<std::string, std::set<std::pair<Key, Version>>> unused;
  std::map<std::string, std::vector<const ChangeEntry*>> tombstones;
  for (const ChangeEntry& e : all) {
    if (e.table != "patients") continue;
    if (e.op == Op::kDelete) {
      tombstones[e.row].push_back(&e);
      continue;
    }
    for (const auto& [col, value] : e.fields) versions[{e.row, col}].push_back(&e);
  }
  std::set<std::string> conflicts;
  for (const auto& [key, writers] : versions) {
    std::set<Version> bases;
    for (const ChangeEntry* w : writers) {
      if (auto it = w->base.find(key.col); it != w->base.end()) {
        bases.insert(it->second);
      }
    }
    std::vector<Version> leaves;
    std::map<Version, const ChangeEntry*> writer_of;
    for (const ChangeEntry* w : writers) {
      if (!bases.contains(w->version())) leaves.push_back(w->version());
      writer_of[w->version()] = w;
    }
    const auto deleters = tombstones.find(key.row);
    std::set<Version> seen;
    if (deleters != tombstones.end()) {
      for (const ChangeEntry* d : deleters->second) {
        if (auto it = d->base.find(key.col); it != d->base.end()) {
          seen.insert(it->second);
        }
      }
    }
    const Version winner = *std::max_element(leaves.begin(), leaves.end());
    for (const Version& leaf : leaves) {
      const bool conflict = deleters != tombstones.end()
                                ? !seen.contains(leaf)
                                : !(leaf == winner);
      if (conflict) {
        const ChangeEntry& w = *writer_of.at(leaf);
        conflicts.insert(
            key.row + "/" + key.col + "/" + std::to_string(leaf.hlc.packed()) +
            "/" + leaf.site + "/" +
            (deleters != tombstones.end() ? "delete_vs_update"
                                          : "concurrent_update") +
            "/" + w.id + "/" + w.author + "/" + Render(w.fields.at(key.col)));
      }
    }
  }
  return conflicts;
}

std::set<std::string> ActualConflicts(Database& db) {
  std::set<std::string> conflicts;
  auto stmt = db.Prepare(
      "SELECT row_id, col, loser_hlc, loser_site, kind, loser_change_id, "
      "loser_author, loser_value FROM conflicts WHERE tbl = 'patients'");
  EXPECT_TRUE(stmt.has_value());
  while (stmt->Step().value()) {
    conflicts.insert(std::string(stmt->ColumnText(0).value()) + "/" +
                     std::string(stmt->ColumnText(1).value()) + "/" +
                     std::to_string(stmt->ColumnInt64(2).value()) + "/" +
                     std::string(stmt->ColumnText(3).value()) + "/" +
                     std::string(stmt->ColumnText(4).value()) + "/" +
                     std::string(stmt->ColumnText(5).value()) + "/" +
                     std::string(stmt->ColumnText(6).value()) + "/" +
                     RenderColumn(*stmt, 7));
  }
  return conflicts;
}

class MergeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = pulse::testing::TempRoot() /
           (std::string("merge_") + info->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  fs::path dir_;
};

TEST_F(MergeTest, ConcurrentEditsOfOneFieldConvergeAndBecomeAConflict) {
  Replica a(dir_ / "a.db", 0, 1);
  Replica b(dir_ / "b.db", 0, 2);
  a.wall.SetMs(1'700'000'000'000);
  b.wall.SetMs(1'700'000'000'000);
  const std::string row = a.ids.Next().ToString();
  LocalWrite(a, "patients", row, Op::kUpsert,
             {{"site_id", a.site}, {"given_name", std::string("Amina")}});
  Deliver(b, a.known);
  a.wall.AdvanceMs(10);
  b.wall.AdvanceMs(20);
  LocalWrite(a, "patients", row, Op::kUpsert,
             {{"given_name", std::string("Aminah")}});
  LocalWrite(b, "patients", row, Op::kUpsert,
             {{"given_name", std::string("Amina W.")}});
  Deliver(b, a.known);
  Deliver(a, b.known);
  EXPECT_EQ(CanonicalStateHash(a.db).value(), CanonicalStateHash(b.db).value());
  // b wrote later (hlc greater): its value stands, a's is the conflict.
  auto stmt = a.db.Prepare("SELECT given_name FROM patients WHERE id = ?");
  ASSERT_TRUE(stmt->BindText(1, row));
  ASSERT_TRUE(stmt->Step().value());
  EXPECT_EQ(stmt->ColumnText(0).value(), "Amina W.");
  EXPECT_EQ(ActualConflicts(a.db).size(), 1u);
  EXPECT_EQ(ActualConflicts(b.db), ActualConflicts(a.db));
}

TEST_F(MergeTest, SequentialEditsAreNoConflict) {
  Replica a(dir_ / "a.db", 0, 1);
  Replica b(dir_ / "b.db", 0, 2);
  const std::string row = a.ids.Next().ToString();
  LocalWrite(a, "patients", row, Op::kUpsert,
             {{"site_id", a.site}, {"phone", std::string("0700")}});
  Deliver(b, a.known);
  LocalWrite(b, "patients", row, Op::kUpsert, {{"phone", std::string("0711")}});
  Deliver(a, b.known);
  LocalWrite(a, "patients", row, Op::kUpsert, {{"phone", std::string("0722")}});
  Deliver(b, a.known);
  EXPECT_TRUE(ActualConflicts(a.db).empty());
  EXPECT_EQ(CanonicalStateHash(a.db).value(), CanonicalStateHash(b.db).value());
}

TEST_F(MergeTest, DeleteWinsOverAConcurrentUpdateWhichIsKept) {
  Replica a(dir_ / "a.db", 0, 1);
  Replica b(dir_ / "b.db", 0, 2);
  const std::string row = a.ids.Next().ToString();
  LocalWrite(a, "patients", row, Op::kUpsert,
             {{"site_id", a.site}, {"address", std::string("Kisumu")}});
  Deliver(b, a.known);
  b.wall.AdvanceMs(5000);  // the update is even later than the delete
  LocalWrite(a, "patients", row, Op::kDelete, {});
  LocalWrite(b, "patients", row, Op::kUpsert,
             {{"address", std::string("Nakuru")}});
  Deliver(a, b.known);
  Deliver(b, a.known);
  for (Replica* r : {&a, &b}) {
    auto stmt = r->db.Prepare("SELECT deleted FROM patients WHERE id = ?");
    ASSERT_TRUE(stmt->BindText(1, row));
    ASSERT_TRUE(stmt->Step().value());
    EXPECT_EQ(stmt->ColumnInt64(0).value(), 1);
    auto kinds = r->db.Prepare("SELECT kind, loser_value FROM conflicts");
    ASSERT_TRUE(kinds->Step().value());
    EXPECT_EQ(kinds->ColumnText(0).value(), "delete_vs_update");
    EXPECT_EQ(kinds->ColumnText(1).value(), "Nakuru");
  }
  EXPECT_EQ(CanonicalStateHash(a.db).value(), CanonicalStateHash(b.db).value());
}

TEST_F(MergeTest, ApplyingAnEntryTwiceIsANoOp) {
  Replica a(dir_ / "a.db", 0, 1);
  const std::string row = a.ids.Next().ToString();
  LocalWrite(a, "patients", row, Op::kUpsert,
             {{"site_id", a.site}, {"mrn", std::string("M1")}});
  const std::string before = CanonicalStateHash(a.db).value();
  auto again = a.merger.ApplyBatch(a.known);
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(*again, 0u);
  EXPECT_EQ(CanonicalStateHash(a.db).value(), before);
}

TEST_F(MergeTest, UnknownTableIsRefusedAndNothingIsWritten) {
  Replica a(dir_ / "a.db", 0, 1);
  const std::string before = CanonicalStateHash(a.db).value();
  ChangeEntry e;
  e.id = a.ids.Next().ToString();
  e.hlc = a.hlc.Now();
  e.site = a.site;
  e.table = "spaceships";
  e.row = a.ids.Next().ToString();
  e.fields["name"] = std::string("x");
  e.author = a.author;
  auto applied = a.merger.ApplyBatch(std::span<const ChangeEntry>(&e, 1));
  ASSERT_FALSE(applied.has_value());
  EXPECT_EQ(applied.error().code(), ErrorCode::kUnsupported);
  EXPECT_EQ(CanonicalStateHash(a.db).value(), before);
}

// The per-site hash (CanonicalSiteStateHash) is the whole-database hash
// of what a clinic holds: on the central replica, which merges every site,
// site a's hash equals the whole hash of a replica that only ever saw
// site a's entries — rows, tombstones and conflicts alike.
TEST_F(MergeTest, SiteHashEqualsTheWholeHashOfAReplicaOfThatSiteAlone) {
  Replica a(dir_ / "a.db", 0, 11);
  Replica a2(dir_ / "a2.db", 0, 12);  // a second PC of site a
  a2.site = a.site;
  Replica b(dir_ / "b.db", 0, 13);
  Replica central(dir_ / "central.db", 0, 14);
  Replica only_a(dir_ / "only_a.db", 0, 15);
  for (Replica* r : {&a, &a2, &b}) r->wall.SetMs(1'700'000'000'000);
  a2.wall.AdvanceMs(7);  // distinct stamps: see the same-site test below

  for (Replica* r : {&a, &b}) {
    LocalWrite(*r, "sites", r->site, Op::kUpsert,
               {{"site_id", r->site}, {"name", std::string("Clinic")}});
    for (int i = 0; i < 3; ++i) {
      const std::string row = r->ids.Next().ToString();
      LocalWrite(*r, "patients", row, Op::kUpsert,
                 {{"site_id", r->site},
                  {"mrn", "M" + std::to_string(i)},
                  {"given_name", std::string("Amina")}});
      r->patient_rows.push_back(row);
    }
  }
  // Per site: a concurrent edit (a conflict), a delete (a tombstone) and an
  // append-only row.
  Deliver(a2, a.known);
  for (auto [one, two] : {std::pair{&a, &a2}, std::pair{&b, &b}}) {
    one->wall.AdvanceMs(10);
    two->wall.AdvanceMs(20);
    const std::string& row = one->patient_rows[0];
    LocalWrite(*one, "patients", row, Op::kUpsert,
               {{"given_name", std::string("Aminah")}});
    if (two != one) {
      LocalWrite(*two, "patients", row, Op::kUpsert,
                 {{"given_name", std::string("Amina W.")}});
    }
    LocalWrite(*two, "patients", two->patient_rows[1], Op::kDelete, {});
    LocalWrite(*one, "measurements", one->ids.Next().ToString(), Op::kUpsert,
               {{"site_id", one->site},
                {"recording_id", row},
                {"name", std::string("heart_rate_bpm")},
                {"value", 61.0},
                {"unit", std::string("bpm")}});
  }
  // b's conflict comes from a replica of another site editing b's row.
  Deliver(a, b.known);
  a.wall.AdvanceMs(1);
  LocalWrite(a, "patients", b.patient_rows[2], Op::kUpsert,
             {{"phone", std::string("0700")}});
  b.wall.AdvanceMs(2);
  LocalWrite(b, "patients", b.patient_rows[2], Op::kUpsert,
             {{"phone", std::string("0711")}});

  for (Replica* r : {&a, &a2, &b}) Deliver(central, r->known);
  std::set<std::string> b_rows;
  for (const ChangeEntry& e : b.known) {
    auto it = e.fields.find("site_id");
    if (it != e.fields.end() && it->second == FieldValue(b.site)) {
      b_rows.insert(e.row);
    }
  }
  std::vector<ChangeEntry> site_a_entries;
  for (Replica* r : {&a, &a2}) {
    for (const ChangeEntry& e : r->known) {
      if (!b_rows.contains(e.row)) site_a_entries.push_back(e);
    }
  }
  Deliver(only_a, site_a_entries);
  ASSERT_FALSE(ActualConflicts(only_a.db).empty());
  ASSERT_GT(ActualConflicts(central.db).size(), ActualConflicts(only_a.db).size());

  const std::string only_a_hash = CanonicalStateHash(only_a.db).value();
  EXPECT_EQ(CanonicalSiteStateHash(only_a.db, a.site).value(), only_a_hash);
  EXPECT_EQ(CanonicalSiteStateHash(central.db, a.site).value(), only_a_hash);
  EXPECT_NE(CanonicalStateHash(central.db).value(), only_a_hash);
  EXPECT_NE(CanonicalSiteStateHash(central.db, b.site).value(), only_a_hash);
  // A site with no rows hashes like an empty database.
  Replica empty(dir_ / "empty.db", 0, 16);
  EXPECT_EQ(CanonicalSiteStateHash(central.db, empty.site).value(),
            CanonicalStateHash(empty.db).value());
}

// Two PCs of one clinic are two replicas with one site id (entries carry
// the site, not the device, as their tie-break). Writes on the two PCs with
// the same HLC — the same millisecond, or both PCs' clocks behind a pulled
// high-water mark, which makes both stamp (that mark + 1) — get the same
// (hlc, site) version; the merge must still converge.
// DISABLED: it does not today. Merger::Impl::ApplyMutable skips a field
// write whose version equals the winner's ("the same version twice ...
// changes nothing"), so each replica keeps the value it applied first and
// the replicas diverge for good. The tie-break needs a per-replica
// component (device id or entry id); reported to the engine owner.
TEST_F(MergeTest, DISABLED_TwoReplicasOfOneSiteWithEqualStampsConverge) {
  Replica a(dir_ / "a.db", 0, 21);
  Replica a2(dir_ / "a2.db", 0, 22);
  a2.site = a.site;
  a.wall.SetMs(1'700'000'000'000);
  a2.wall.SetMs(1'700'000'000'000);
  const std::string row = a.ids.Next().ToString();
  LocalWrite(a, "patients", row, Op::kUpsert,
             {{"site_id", a.site}, {"given_name", std::string("Amina")}});
  Deliver(a2, a.known);
  a.wall.AdvanceMs(50);
  a2.wall.AdvanceMs(50);
  LocalWrite(a, "patients", row, Op::kUpsert,
             {{"given_name", std::string("Aminah")}});
  LocalWrite(a2, "patients", row, Op::kUpsert,
             {{"given_name", std::string("Amina W.")}});
  ASSERT_EQ(a.known.back().version(), a2.known.back().version());
  Deliver(a, a2.known);
  Deliver(a2, a.known);
  EXPECT_EQ(CanonicalStateHash(a.db).value(), CanonicalStateHash(a2.db).value());
}

TEST_F(MergeTest, RandomReplicasConverge) {
  const int operations = EnvInt("PULSE_MERGE_OPS", 1500);
  const int seeds = EnvInt("PULSE_MERGE_SEEDS", 4);
  const int base_seed = ::testing::UnitTest::GetInstance()->random_seed();
  constexpr int kReplicas = 5;
  int total_conflicts = 0;
  for (int s = 0; s < seeds; ++s) {
    const std::uint64_t seed = static_cast<std::uint64_t>(base_seed) * 1000 +
                               static_cast<std::uint64_t>(s);
    SCOPED_TRACE("seed " + std::to_string(seed) +
                 " (rerun: --gtest_random_seed=" + std::to_string(base_seed) +
                 ")");
    const fs::path dir = dir_ / std::to_string(s);
    fs::create_directories(dir);
    std::mt19937_64 rng(seed);
    std::vector<std::unique_ptr<Replica>> replicas;
    std::vector<Replica*> all;
    for (int i = 0; i < kReplicas; ++i) {
      // Rural clocks: up to ±10 minutes off, one of them a day behind.
      const std::int64_t skew =
          i == 3 ? -86'400'000 : static_cast<std::int64_t>(rng() % 1'200'000) -
                                     600'000;
      replicas.push_back(std::make_unique<Replica>(
          dir / ("r" + std::to_string(i) + ".db"), skew, seed * 31 + i));
      replicas.back()->wall.SetMs(1'700'000'000'000 + skew);
      all.push_back(replicas.back().get());
    }
    for (int op = 0; op < operations; ++op) {
      Replica& r = *all[rng() % kReplicas];
      if (rng() % 10 < 8) {
        RandomOperation(r, all);
        if (::testing::Test::HasFatalFailure()) return;
        continue;
      }
      // Gossip: up to 120 entries drawn at random (with repeats: duplicates)
      // from what the sender knows, most from its recent writes; the rest
      // is dropped this time and may come later.
      Replica& to = *all[rng() % kReplicas];
      if (&to == &r || r.known.empty()) continue;
      std::vector<ChangeEntry> batch;
      const std::size_t n = r.known.size();
      const std::size_t draws = 1 + rng() % 120;
      for (std::size_t k = 0; k < draws; ++k) {
        const std::size_t recent = std::min<std::size_t>(n, 200);
        const std::size_t i =
            rng() % 4 == 0 ? rng() % n : n - 1 - rng() % recent;
        batch.push_back(r.known[i]);
      }
      Deliver(to, std::move(batch));
      if (::testing::Test::HasFatalFailure()) return;
    }
    // Final anti-entropy: everyone receives everything, in its own order.
    std::map<std::string, ChangeEntry> union_of_all;
    for (Replica* r : all) {
      for (const ChangeEntry& e : r->known) union_of_all.emplace(e.id, e);
    }
    std::vector<ChangeEntry> everything;
    for (auto& [id, e] : union_of_all) everything.push_back(e);
    for (Replica* r : all) {
      std::vector<ChangeEntry> order = everything;
      std::shuffle(order.begin(), order.end(), rng);
      Deliver(*r, std::move(order));
      if (::testing::Test::HasFatalFailure()) return;
    }
    const std::string reference = CanonicalStateHash(all[0]->db).value();
    const std::set<std::string> expected = ExpectedConflicts(everything);
    for (Replica* r : all) {
      EXPECT_EQ(CanonicalStateHash(r->db).value(), reference);
      EXPECT_EQ(ActualConflicts(r->db), expected);
    }
    total_conflicts += static_cast<int>(expected.size());
  }
  // The workload must actually produce concurrency, or the test proves
  // nothing about conflicts.
  EXPECT_GT(total_conflicts, 0);
  std::printf("%d seeds x %d operations x %d replicas: converged, %d "
              "conflicts as the model predicts\n",
              seeds, operations, kReplicas, total_conflicts);
}

}  // namespace
}  // namespace pulse::engine
