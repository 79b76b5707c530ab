// A clinic one schema version behind keeps syncing; one older than that is
// told, with 426, which version it needs (issue 5 "Versions"). The clinic
// is the released schema-1 fixture replica (tests/engine/fixtures/), pushed
// as it stands and after its update has migrated it to schema 2, to the
// real SQLCipher central store through SyncService.
#include <gtest/gtest.h>

#include <array>
#include <filesystem>
#include <string>
#include <vector>

#include "pulse/engine/clinic_schema.h"
#include "pulse/engine/database.h"
#include "pulse/engine/migrations.h"
#include "pulse/engine/password.h"
#include "pulse/engine/sync_protocol.h"
#include "pulse/engine/uuid.h"
#include "pulse/sync_server/service.h"
#include "pulse/sync_server/sqlcipher_central_store.h"
#include "support/manual_clock.h"
#include "sync-server/server_fixture.h"

#ifndef PULSE_FIXTURE_DIR
#error "PULSE_FIXTURE_DIR must name tests/engine/fixtures"
#endif

namespace pulse::sync_server {
namespace {

namespace fs = std::filesystem;
namespace sync = engine::sync;

// The fixture's site and the clinician who wrote its rows (README.md there).
constexpr std::string_view kFixtureSite = "0189a0b0-0000-7000-8000-000000000001";
constexpr std::string_view kFixtureClinician =
    "0189a0b0-0000-7000-8000-000000000003";
constexpr std::string_view kPassword = "Fixture-Clinician-2026";

class SchemaVersionsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = testing::FreshTempDir("schema_versions");
    auto store = SqlcipherCentralStore::Create(root_ / "central", "pass",
                                               testing::TestStoreOptions());
    ASSERT_TRUE(store) << store.error().ToString();
    store_ = std::move(*store);
    SeedFixtureClinician();
    auto service = SyncService::Create(testing::TestServiceOptions(*store_));
    ASSERT_TRUE(service) << service.error().ToString();
    service_ = std::move(*service);
    token_ = Login();
  }
  void TearDown() override {
    service_.reset();
    store_.reset();
    fs::remove_all(root_);
  }

  // The fixture's clinician, with the id its entries carry, as the central
  // store would have held it when the fixture was written: a users row
  // authored centrally and ingested like any change.
  void SeedFixtureClinician() {
    auto hash = engine::HashPassword(kPassword, engine::kTestPasswordHashCost);
    ASSERT_TRUE(hash);
    engine::ChangeEntry user;
    user.id = engine::NewUuidV7().ToString();
    user.hlc = engine::Hlc::FromParts(1'763'000'000'000, 0).value();
    user.site = store_->central_site_id();
    user.table = "users";
    user.row = std::string(kFixtureClinician);
    user.fields = {{"username", std::string("fixture.clinician")},
                   {"full_name", std::string("Fixture Clinician")},
                   {"role", std::string("clinician")},
                   {"site_id", std::string(kFixtureSite)},
                   {"password_hash", *hash},
                   {"active", std::int64_t{1}}};
    user.author = std::string(kFixtureClinician);
    IngestRequest seed;
    seed.batch_id = engine::NewUuidV7().ToString();
    seed.site = store_->central_site_id();
    seed.pushed_by = std::string(kFixtureClinician);
    seed.changes = std::span(&user, 1);
    auto ingested = store_->IngestBatch(
        seed, [](std::size_t, const engine::ChangeEntry&, const RowContext&) {
          return OkStatus();
        });
    ASSERT_TRUE(ingested) << ingested.error().ToString();
  }

  std::string Login() {
    return testing::LoginAs(*service_, "fixture.clinician", kPassword);
  }

  // A copy of the released schema-1 replica, migrated to `version`.
  std::unique_ptr<engine::Database> Fixture(int version) {
    const fs::path path = root_ / ("clinic_v" + std::to_string(version) + ".db");
    fs::copy_file(fs::path(PULSE_FIXTURE_DIR) / "clinic_v1.db", path);
    std::array<std::uint8_t, engine::kDatabaseKeyBytes> key{};
    key.fill(0x5a);
    auto db = engine::Database::Open(path, engine::DatabaseKey(key),
                                     {.create_if_missing = false});
    EXPECT_TRUE(db) << db.error().ToString();
    if (!db) return nullptr;
    pulse::testing::ManualClock wall;
    wall.SetMs(1'763'900'000'000);
    auto migrations = engine::schema::ClinicMigrations().first(
        static_cast<std::size_t>(version));
    auto migrated = engine::Migrate(*db, migrations, wall);
    EXPECT_TRUE(migrated) << migrated.error().ToString();
    EXPECT_EQ(engine::SchemaVersion(*db).value(), version);
    return std::make_unique<engine::Database>(std::move(*db));
  }

  static std::vector<engine::ChangeEntry> Outbox(engine::Database& db) {
    std::vector<engine::ChangeEntry> out;
    auto rows = db.Prepare("SELECT entry FROM change_log ORDER BY seq");
    EXPECT_TRUE(rows);
    while (rows->Step().value()) {
      auto entry = engine::DecodeChange(rows->ColumnText(0).value());
      EXPECT_TRUE(entry) << entry.error().ToString();
      if (entry) out.push_back(std::move(*entry));
    }
    return out;
  }

  Response Push(const std::vector<engine::ChangeEntry>& changes,
                int schema_version) {
    sync::PushRequest push;
    push.batch_id = engine::NewUuidV7().ToString();
    push.site = std::string(kFixtureSite);
    push.schema_version = schema_version;
    push.client_time_ms = 1'763'900'000'000;
    push.changes = changes;
    return testing::CallService(*service_, "POST", "/api/v1/sync/push",
                                sync::EncodePushRequest(push).value(), token_);
  }

  Response Pull(int schema_version) {
    return testing::CallService(
        *service_, "GET",
        "/api/v1/sync/pull?cursor=0&limit=1000&protocol_version=1&"
        "schema_version=" +
            std::to_string(schema_version),
        "", token_);
  }

  fs::path root_;
  std::unique_ptr<SqlcipherCentralStore> store_;
  std::unique_ptr<SyncService> service_;
  std::string token_;
};

TEST_F(SchemaVersionsTest, TheCurrentAndPreviousSchemaSyncOlderGets426) {
  static_assert(kOldestClinicSchemaVersion == kSupportedClinicSchemaVersion - 1);
  ASSERT_FALSE(token_.empty());
  const std::string before = store_->StateHash().value();

  // Schema 1, two versions behind: refused, told what it needs, nothing
  // stored.
  auto v1 = Fixture(1);
  ASSERT_NE(v1, nullptr);
  const auto v1_entries = Outbox(*v1);
  ASSERT_GE(v1_entries.size(), 8u);
  for (const Response& refused : {Push(v1_entries, 1), Pull(1)}) {
    EXPECT_EQ(refused.status, 426) << refused.body;
    auto problem = sync::DecodeProblem(refused.body);
    ASSERT_TRUE(problem) << refused.body;
    EXPECT_EQ(problem->required_schema_version, kOldestClinicSchemaVersion);
    EXPECT_NE(problem->detail.find("too old"), std::string::npos);
  }
  EXPECT_EQ(store_->StateHash().value(), before);

  // The same replica after its update migrated it to schema 2 (one behind
  // this server): its outbox is accepted whole and pulled back.
  auto v2 = Fixture(2);
  ASSERT_NE(v2, nullptr);
  const auto v2_entries = Outbox(*v2);
  ASSERT_EQ(v2_entries.size(), v1_entries.size());
  Response pushed = Push(v2_entries, 2);
  ASSERT_EQ(pushed.status, 200) << pushed.body;
  auto answer = sync::DecodePushResponse(pushed.body);
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->accepted, static_cast<std::int64_t>(v2_entries.size()));
  EXPECT_NE(store_->StateHash().value(), before);

  Response pulled = Pull(2);
  ASSERT_EQ(pulled.status, 200) << pulled.body;
  auto page = sync::DecodePullResponse(pulled.body);
  ASSERT_TRUE(page);
  std::size_t echoed = 0;
  for (const engine::ChangeEntry& pushed_entry : v2_entries) {
    for (const engine::ChangeEntry& e : page->changes) {
      if (e == pushed_entry) {
        ++echoed;
        break;
      }
    }
  }
  EXPECT_EQ(echoed, v2_entries.size());

  // A clinic newer than the server: the server must be upgraded first.
  Response newer = Push(v2_entries, kSupportedClinicSchemaVersion + 1);
  EXPECT_EQ(newer.status, 426);
  EXPECT_EQ(sync::DecodeProblem(newer.body)->required_schema_version,
            kSupportedClinicSchemaVersion);
}

}  // namespace
}  // namespace pulse::sync_server
