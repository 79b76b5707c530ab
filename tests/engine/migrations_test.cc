// Schema migrations: applied in order, each in its own transaction,
// recorded; an older database upgrades keeping its rows; a newer one is
// refused naming both versions; an edited script is caught. The two fixture
// scripts in migrations_fixture/ are embedded by the same CMake function
// (pulse_embed_migrations) that embeds the real schema.
#include "pulse/engine/migrations.h"

#include <array>
#include <chrono>
#include <filesystem>
#include <string>

#include <gtest/gtest.h>

#include "support/temp_dir.h"

#include "pulse/engine/database.h"

namespace pulse::engine {
namespace schema {
std::span<const Migration> FixtureMigrations();
}  // namespace schema
namespace {

namespace fs = std::filesystem;

class FixedClock final : public Clock {
 public:
  std::chrono::system_clock::time_point Now() override {
    return std::chrono::system_clock::time_point(
        std::chrono::milliseconds(1'700'000'000'000));
  }
};

class MigrationsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = pulse::testing::TempRoot() /
           (std::string("migrations_") + info->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  Database OpenDb() {
    std::array<std::uint8_t, kDatabaseKeyBytes> key{};
    key.fill(7);
    auto db = Database::Open(dir_ / "replica.db", DatabaseKey(key), {});
    EXPECT_TRUE(db.has_value()) << db.error().ToString();
    return std::move(db).value();
  }

  static std::int64_t Count(Database& db, const std::string& sql) {
    auto stmt = db.Prepare(sql);
    EXPECT_TRUE(stmt.has_value()) << stmt.error().ToString();
    auto row = stmt->Step();
    EXPECT_TRUE(row.has_value() && *row);
    return stmt->ColumnInt64(0).value();
  }

  fs::path dir_;
  FixedClock clock_;
};

TEST_F(MigrationsTest, EmbeddedScriptsArriveInOrder) {
  const auto migrations = schema::FixtureMigrations();
  ASSERT_EQ(migrations.size(), 2u);
  EXPECT_EQ(migrations[0].version, 1);
  EXPECT_EQ(migrations[0].name, "create_notes");
  EXPECT_NE(migrations[0].sql.find("CREATE TABLE notes"), std::string::npos);
  EXPECT_EQ(migrations[1].version, 2);
  EXPECT_EQ(migrations[1].name, "add_author");
  EXPECT_TRUE(ValidateMigrations(migrations).has_value());
}

TEST_F(MigrationsTest, EmptyDatabaseGetsEveryMigrationRecorded) {
  Database db = OpenDb();
  EXPECT_EQ(SchemaVersion(db).value(), 0);
  auto report = Migrate(db, schema::FixtureMigrations(), clock_);
  ASSERT_TRUE(report.has_value()) << report.error().ToString();
  EXPECT_EQ(report->from_version, 0);
  EXPECT_EQ(report->to_version, 2);
  EXPECT_EQ(report->applied, (std::vector<int>{1, 2}));
  EXPECT_EQ(SchemaVersion(db).value(), 2);
  EXPECT_EQ(Count(db, "SELECT count(*) FROM schema_migrations "
                      "WHERE applied_at_ms = 1700000000000 AND "
                      "length(sql_sha256) = 64"),
            2);
  // The schema is really there: the v2 column takes a value.
  ASSERT_TRUE(
      db.Execute("INSERT INTO notes (body, author) VALUES ('x', 'y')"));
}

TEST_F(MigrationsTest, ReopeningAppliesNothing) {
  {
    Database db = OpenDb();
    ASSERT_TRUE(Migrate(db, schema::FixtureMigrations(), clock_));
  }
  Database db = OpenDb();
  auto report = Migrate(db, schema::FixtureMigrations(), clock_);
  ASSERT_TRUE(report.has_value()) << report.error().ToString();
  EXPECT_EQ(report->from_version, 2);
  EXPECT_TRUE(report->applied.empty());
}

TEST_F(MigrationsTest, OlderReplicaUpgradesKeepingItsRows) {
  const auto all = schema::FixtureMigrations();
  {
    Database db = OpenDb();
    ASSERT_TRUE(Migrate(db, all.first(1), clock_));  // a version-1 build
    ASSERT_TRUE(db.Execute("INSERT INTO notes (body) VALUES ('kept')"));
  }
  Database db = OpenDb();
  auto report = Migrate(db, all, clock_);
  ASSERT_TRUE(report.has_value()) << report.error().ToString();
  EXPECT_EQ(report->from_version, 1);
  EXPECT_EQ(report->applied, (std::vector<int>{2}));
  EXPECT_EQ(Count(db, "SELECT count(*) FROM notes WHERE body = 'kept' AND "
                      "author = 'unknown'"),
            1);
}

TEST_F(MigrationsTest, NewerReplicaIsRefusedNamingBothVersions) {
  {
    Database db = OpenDb();
    ASSERT_TRUE(Migrate(db, schema::FixtureMigrations(), clock_));
  }
  Database db = OpenDb();
  auto report = Migrate(db, schema::FixtureMigrations().first(1), clock_);
  ASSERT_FALSE(report.has_value());
  EXPECT_EQ(report.error().code(), ErrorCode::kUnsupported);
  EXPECT_NE(report.error().message().find("version 2 is newer"),
            std::string::npos)
      << report.error().message();
  EXPECT_NE(report.error().message().find("up to 1"), std::string::npos);
  EXPECT_EQ(SchemaVersion(db).value(), 2);  // untouched
}

TEST_F(MigrationsTest, EditedScriptIsCaught) {
  {
    Database db = OpenDb();
    ASSERT_TRUE(Migrate(db, schema::FixtureMigrations(), clock_));
  }
  const auto real = schema::FixtureMigrations();
  const Migration edited[] = {
      real[0],
      {2, "add_author", "ALTER TABLE notes ADD COLUMN author TEXT;"}};
  Database db = OpenDb();
  auto report = Migrate(db, edited, clock_);
  ASSERT_FALSE(report.has_value());
  EXPECT_EQ(report.error().code(), ErrorCode::kCorruption);
  EXPECT_NE(report.error().message().find("0002_add_author"),
            std::string::npos)
      << report.error().message();
}

TEST_F(MigrationsTest, FailingScriptRollsBackAloneAndNamesItself) {
  const Migration migrations[] = {
      {1, "good", "CREATE TABLE a (x INTEGER);"},
      {2, "bad",
       "CREATE TABLE b (y INTEGER); INSERT INTO no_such_table VALUES (1);"},
  };
  Database db = OpenDb();
  auto report = Migrate(db, migrations, clock_);
  ASSERT_FALSE(report.has_value());
  EXPECT_NE(report.error().message().find("migration 0002_bad"),
            std::string::npos)
      << report.error().message();
  EXPECT_EQ(SchemaVersion(db).value(), 1);
  EXPECT_EQ(Count(db, "SELECT count(*) FROM sqlite_master WHERE name = 'b'"),
            0);
  EXPECT_EQ(Count(db, "SELECT count(*) FROM sqlite_master WHERE name = 'a'"),
            1);
}

// An upgrade step runs after its script in the same transaction: it sees
// the script's tables, and if it fails the script is rolled back with it.
Status FillFromA(Database& db) {
  return db.Execute("INSERT INTO b (y) SELECT x * 10 FROM a");
}
Status FailingStep(Database& db) {
  if (Status s = db.Execute("INSERT INTO b (y) VALUES (1)"); !s) return s;
  return Fail(ErrorCode::kCorruption, "conversion found a bad row");
}

TEST_F(MigrationsTest, UpgradeStepRunsInTheMigrationsTransaction) {
  const Migration good[] = {
      {1, "a", "CREATE TABLE a (x INTEGER); INSERT INTO a VALUES (4);"},
      {2, "b", "CREATE TABLE b (y INTEGER);", &FillFromA},
  };
  Database db = OpenDb();
  ASSERT_TRUE(Migrate(db, good, clock_).has_value());
  EXPECT_EQ(Count(db, "SELECT y FROM b"), 40);

  const fs::path other = dir_ / "other.db";
  std::array<std::uint8_t, kDatabaseKeyBytes> key{};
  auto second = Database::Open(other, DatabaseKey(key), {});
  ASSERT_TRUE(second.has_value());
  const Migration failing[] = {
      {1, "a", "CREATE TABLE a (x INTEGER);"},
      {2, "b", "CREATE TABLE b (y INTEGER);", &FailingStep},
  };
  auto report = Migrate(*second, failing, clock_);
  ASSERT_FALSE(report.has_value());
  EXPECT_EQ(report.error().code(), ErrorCode::kCorruption);
  EXPECT_NE(report.error().message().find("0002_b (upgrade)"),
            std::string::npos)
      << report.error().message();
  EXPECT_EQ(SchemaVersion(*second).value(), 1);
  EXPECT_EQ(Count(*second,
                  "SELECT count(*) FROM sqlite_master WHERE name = 'b'"),
            0);
}

TEST_F(MigrationsTest, MalformedListsAreRejectedBeforeTouchingTheDatabase) {
  const Migration gap[] = {{1, "a", "CREATE TABLE a (x);"},
                           {3, "c", "CREATE TABLE c (x);"}};
  const Migration bad_name[] = {{1, "Create-A", "CREATE TABLE a (x);"}};
  const Migration empty_sql[] = {{1, "a", "  \n"}};
  Database db = OpenDb();
  for (auto list : {std::span<const Migration>(gap),
                    std::span<const Migration>(bad_name),
                    std::span<const Migration>(empty_sql)}) {
    auto report = Migrate(db, list, clock_);
    ASSERT_FALSE(report.has_value());
    EXPECT_EQ(report.error().code(), ErrorCode::kInvalidArgument);
  }
  EXPECT_EQ(SchemaVersion(db).value(), 0);
}

}  // namespace
}  // namespace pulse::engine
