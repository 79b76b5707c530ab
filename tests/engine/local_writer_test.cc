// The local write path: one transaction updates the row, records the field
// versions, appends the change entry to the outbox and raises the HLC
// high-water mark — or, on any error, does none of it.
#include "pulse/engine/local_writer.h"

#include <chrono>
#include <filesystem>
#include <string>

#include <gtest/gtest.h>

#include "support/temp_dir.h"
#include "support/manual_clock.h"

#include "pulse/engine/clinic_schema.h"
#include "pulse/engine/clock.h"
#include "pulse/engine/migrations.h"

namespace pulse::engine {
namespace {

namespace fs = std::filesystem;

using ::pulse::testing::ManualClock;

constexpr std::int64_t kT0 = 1'700'000'000'000;

class LocalWriterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = pulse::testing::TempRoot() /
           (std::string("local_writer_") + info->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    wall_.SetMs(kT0);
    site_ = ids_.Next().ToString();
    author_ = ids_.Next().ToString();
  }
  void TearDown() override { fs::remove_all(dir_); }

  Database Open() {
    std::array<std::uint8_t, kDatabaseKeyBytes> key{};
    key.fill(3);
    auto db = Database::Open(dir_ / "replica.db", DatabaseKey(key), {});
    EXPECT_TRUE(db.has_value()) << db.error().ToString();
    auto migrated = Migrate(*db, schema::ClinicMigrations(), wall_);
    EXPECT_TRUE(migrated.has_value()) << migrated.error().ToString();
    return std::move(db).value();
  }

  static std::int64_t Count(Database& db, const std::string& sql) {
    auto stmt = db.Prepare(sql);
    EXPECT_TRUE(stmt.has_value()) << stmt.error().ToString();
    EXPECT_TRUE(stmt->Step().value());
    return stmt->ColumnInt64(0).value();
  }

  fs::path dir_;
  ManualClock wall_;
  UuidV7Generator ids_{wall_};
  std::string site_;
  std::string author_;
};

TEST_F(LocalWriterTest, WriteUpdatesRowVersionsAndOutboxTogether) {
  Database db = Open();
  HybridClock clock(HybridClock::Options{&wall_, Hlc()});
  auto writer = LocalWriter::Create(db, clock, ids_, site_).value();
  const std::string row = ids_.Next().ToString();
  const RowWrite create{"patients", row, Op::kUpsert,
                        {{"site_id", site_}, {"given_name", std::string("Wanjiru")}}};
  auto first = writer->Commit(std::span<const RowWrite>(&create, 1), author_);
  ASSERT_TRUE(first.has_value()) << first.error().ToString();
  ASSERT_EQ(first->size(), 1u);
  EXPECT_TRUE((*first)[0].base.empty());

  const RowWrite edit{"patients", row, Op::kUpsert,
                      {{"given_name", std::string("Wanjiru N.")}}};
  auto second = writer->Commit(std::span<const RowWrite>(&edit, 1), author_);
  ASSERT_TRUE(second.has_value()) << second.error().ToString();
  // The edit names the version it replaced.
  ASSERT_TRUE((*second)[0].base.contains("given_name"));
  EXPECT_EQ((*second)[0].base.at("given_name"), (*first)[0].version());
  EXPECT_GT((*second)[0].hlc, (*first)[0].hlc);

  EXPECT_EQ(Count(db, "SELECT count(*) FROM patients WHERE given_name = "
                      "'Wanjiru N.'"),
            1);
  // The field clocks (in the row) name each field's latest version.
  EXPECT_EQ(writer->merger().CurrentVersion("patients", row, "given_name")
                .value(),
            (*second)[0].version());
  EXPECT_EQ(writer->merger().CurrentVersion("patients", row, "site_id").value(),
            (*first)[0].version());
  EXPECT_EQ(Count(db, "SELECT count(*) FROM patients WHERE field_clock IS "
                      "NOT NULL"),
            1);
  EXPECT_EQ(writer->PendingChanges().value(), 2);
  // The outbox holds the canonical bytes of exactly the returned entries.
  auto log = db.Prepare("SELECT entry FROM change_log ORDER BY seq");
  ASSERT_TRUE(log->Step().value());
  EXPECT_EQ(DecodeChange(log->ColumnText(0).value()).value(), (*first)[0]);
  ASSERT_TRUE(log->Step().value());
  EXPECT_EQ(DecodeChange(log->ColumnText(0).value()).value(), (*second)[0]);
}

TEST_F(LocalWriterTest, AFailingWriteLeavesNothingBehind) {
  Database db = Open();
  HybridClock clock(HybridClock::Options{&wall_, Hlc()});
  auto writer = LocalWriter::Create(db, clock, ids_, site_).value();
  const std::string row = ids_.Next().ToString();
  const RowWrite writes[] = {
      {"patients", row, Op::kUpsert, {{"given_name", std::string("Ok")}}},
      {"patients", row, Op::kUpsert, {{"favourite_colour", std::string("x")}}},
  };
  auto result = writer->Commit(writes, author_);
  ASSERT_FALSE(result.has_value());
  EXPECT_EQ(result.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(result.error().message().find("favourite_colour"),
            std::string::npos);
  for (const char* table : {"patients", "conflicts", "change_log",
                            "applied_changes", "sync_state"}) {
    EXPECT_EQ(Count(db, std::string("SELECT count(*) FROM ") + table), 0)
        << table;
  }
}

TEST_F(LocalWriterTest, RejectsBadWritesWithTypedErrors) {
  Database db = Open();
  HybridClock clock(HybridClock::Options{&wall_, Hlc()});
  auto writer = LocalWriter::Create(db, clock, ids_, site_).value();
  const std::string row = ids_.Next().ToString();
  const RowWrite bad[] = {
      {"spaceships", row, Op::kUpsert, {{"name", std::string("x")}}},
      {"patients", "not-a-uuid", Op::kUpsert, {{"mrn", std::string("1")}}},
      {"patients", row, Op::kUpsert, {}},
      {"patients", row, Op::kDelete, {{"mrn", std::string("1")}}},
      {"patients", row, Op::kUpsert, {{"address", std::string(70000, 'a')}}},
  };
  for (const RowWrite& write : bad) {
    auto result = writer->Commit(std::span<const RowWrite>(&write, 1), author_);
    ASSERT_FALSE(result.has_value()) << write.table;
    EXPECT_EQ(result.error().code(), ErrorCode::kInvalidArgument)
        << result.error().ToString();
  }
  EXPECT_EQ(Count(db, "SELECT count(*) FROM change_log"), 0);
}

TEST_F(LocalWriterTest, AppendOnlyRowsAreWrittenOnce) {
  Database db = Open();
  HybridClock clock(HybridClock::Options{&wall_, Hlc()});
  auto writer = LocalWriter::Create(db, clock, ids_, site_).value();
  const RowWrite measurement{"measurements", ids_.Next().ToString(),
                             Op::kUpsert,
                             {{"name", std::string("qrs_ms")}, {"value", 96.0}}};
  ASSERT_TRUE(writer->Commit(std::span<const RowWrite>(&measurement, 1),
                             author_));
  auto again =
      writer->Commit(std::span<const RowWrite>(&measurement, 1), author_);
  ASSERT_FALSE(again.has_value());
  EXPECT_NE(again.error().message().find("append-only"), std::string::npos);
}

TEST_F(LocalWriterTest, StampsKeepIncreasingAcrossRestartsWhateverTheWallClock) {
  Hlc last;
  {
    Database db = Open();
    HybridClock clock(HybridClock::Options{&wall_, Hlc()});
    auto writer = LocalWriter::Create(db, clock, ids_, site_).value();
    const RowWrite w{"patients", ids_.Next().ToString(), Op::kUpsert,
                     {{"mrn", std::string("A-1")}}};
    last = writer->Commit(std::span<const RowWrite>(&w, 1), author_)
               .value()[0]
               .hlc;
  }
  // The PC's clock is reset to a day earlier before the next start.
  wall_.SetMs(kT0 - 86'400'000);
  Database db = Open();
  HybridClock clock(HybridClock::Options{&wall_, Hlc()});
  auto writer = LocalWriter::Create(db, clock, ids_, site_).value();
  const RowWrite w{"patients", ids_.Next().ToString(), Op::kUpsert,
                   {{"mrn", std::string("A-2")}}};
  const Hlc next =
      writer->Commit(std::span<const RowWrite>(&w, 1), author_).value()[0].hlc;
  EXPECT_GT(next, last);
}

}  // namespace
}  // namespace pulse::engine
