// A replica written by an earlier release (tests/engine/fixtures/) opens,
// upgrades to this build's schema and keeps working: its rows, outbox and
// audit chain survive, and new writes stamp after the old ones.
#include <filesystem>
#include <string>

#include <gtest/gtest.h>

#include "support/temp_dir.h"

#include "pulse/engine/audit.h"
#include "pulse/engine/audit_log.h"
#include "pulse/engine/clinic_schema.h"
#include "pulse/engine/hash.h"
#include "pulse/engine/local_writer.h"
#include "pulse/engine/merge.h"
#include "pulse/engine/migrations.h"
#include "support/manual_clock.h"

#ifndef PULSE_FIXTURE_DIR
#error "PULSE_FIXTURE_DIR must name tests/engine/fixtures"
#endif

namespace pulse::engine {
namespace {

namespace fs = std::filesystem;
using ::pulse::testing::ManualClock;

std::int64_t Count(Database& db, const std::string& sql) {
  auto stmt = db.Prepare(sql);
  EXPECT_TRUE(stmt.has_value()) << stmt.error().ToString();
  EXPECT_TRUE(stmt->Step().value());
  return stmt->ColumnInt64(0).value();
}

TEST(SchemaFixtureTest, Version1ReplicaUpgradesAndKeepsWorking) {
  const fs::path dir = pulse::testing::TempRoot() / "schema_fixture_v1";
  fs::remove_all(dir);
  fs::create_directories(dir);
  const fs::path path = dir / "replica.db";
  fs::copy_file(fs::path(PULSE_FIXTURE_DIR) / "clinic_v1.db", path);

  std::array<std::uint8_t, kDatabaseKeyBytes> key{};
  key.fill(0x5a);
  auto db = Database::Open(path, DatabaseKey(key), {.create_if_missing = false});
  ASSERT_TRUE(db.has_value()) << db.error().ToString();
  ManualClock wall;
  wall.SetMs(1'763'900'000'000 - 86'400'000);  // this PC's clock is behind
  auto report = Migrate(*db, schema::ClinicMigrations(), wall);
  ASSERT_TRUE(report.has_value()) << report.error().ToString();
  EXPECT_EQ(report->from_version, 1);
  EXPECT_EQ(report->to_version,
            static_cast<int>(schema::ClinicMigrations().size()));

  EXPECT_EQ(Count(*db, "SELECT count(*) FROM patients WHERE deleted = 0 AND "
                       "mrn = 'KSM-0001' AND phone = '+254 711 111111'"),
            1);
  EXPECT_EQ(Count(*db, "SELECT count(*) FROM patients WHERE deleted = 1"), 1);
  EXPECT_EQ(Count(*db, "SELECT count(*) FROM change_log"),
            Count(*db, "SELECT count(*) FROM applied_changes"));

  // The audit chain written by v1 still verifies.
  const Uuid site = Uuid::Parse("0189a0b0-0000-7000-8000-000000000001").value();
  const std::vector<ChainedEvent> chain = ReadAuditChain(*db, site).value();
  ASSERT_EQ(chain.size(), 4u);  // two creates, an update, a delete
  EXPECT_TRUE(VerifyChain(site, chain).ok);

  // The upgrade turned v1's version graph into field clocks that say exactly
  // what the merge would have built: replaying every entry the fixture
  // applied (all in its outbox) into a fresh replica of this build gives
  // the same canonical state — rows, field clocks, tombstones, conflicts.
  {
    auto fresh = Database::OpenPlaintext(dir / "replayed.db", {});
    ASSERT_TRUE(fresh.has_value()) << fresh.error().ToString();
    ASSERT_TRUE(Migrate(*fresh, schema::ClinicMigrations(), wall).has_value());
    std::vector<ChangeEntry> entries;
    auto log = db->Prepare("SELECT entry FROM change_log ORDER BY seq");
    while (log->Step().value()) {
      auto entry = DecodeChange(log->ColumnText(0).value());
      ASSERT_TRUE(entry.has_value()) << entry.error().ToString();
      entries.push_back(std::move(*entry));
    }
    ASSERT_GE(entries.size(), 8u);
    Merger merger(*fresh);
    ASSERT_TRUE(merger.ApplyBatch(entries).has_value());
    EXPECT_EQ(CanonicalStateHash(*fresh).value(),
              CanonicalStateHash(*db).value());
    EXPECT_EQ(Count(*db, "SELECT count(*) FROM patients WHERE field_clock IS "
                         "NULL"),
              0);
  }

  // Writing continues, stamped after everything already stored although the
  // wall clock is a day behind.
  auto max_hlc = Count(*db, "SELECT max(hlc) FROM change_log");
  HybridClock clock(HybridClock::Options{&wall, Hlc()});
  UuidV7Generator ids(wall);
  auto writer = LocalWriter::Create(*db, clock, ids, site.ToString());
  ASSERT_TRUE(writer.has_value()) << writer.error().ToString();
  const RowWrite w{"patients", ids.Next().ToString(), Op::kUpsert,
                   {{"site_id", site.ToString()}, {"mrn", std::string("KSM-0003")}}};
  auto written = (*writer)->Commit(std::span<const RowWrite>(&w, 1),
                                   "0189a0b0-0000-7000-8000-000000000003");
  ASSERT_TRUE(written.has_value()) << written.error().ToString();
  EXPECT_GT(static_cast<std::int64_t>((*written)[0].hlc.packed()), max_hlc);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace pulse::engine
