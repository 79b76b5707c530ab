// Conflicts through the whole local stack: concurrent writes from a second
// replica applied with the shared merge make real conflicts; listing,
// resolving, the permission matrix and the audit chain are checked on an
// encrypted replica.
#include "pulse/engine/conflicts.h"

#include <unistd.h>

#include <array>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "support/manual_clock.h"

#include "pulse/engine/audit.h"
#include "pulse/engine/clinic_schema.h"
#include "pulse/engine/hash.h"
#include "pulse/engine/migrations.h"
#include "pulse/engine/password.h"
#include "pulse/engine/replicated_tables.h"

namespace pulse::engine {
namespace {

namespace fs = std::filesystem;

using ::pulse::testing::ManualClock;

constexpr std::int64_t kNowMs = 1'763'900'000'000;  // 2025-11-23

class ConflictsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::path(::testing::TempDir()) /
           (std::string("conflicts_") + std::to_string(::getpid()) + "_" +
            info->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    wall_.SetMs(kNowMs);
    // The other replica's clock runs 10 s ahead: its concurrent writes win.
    remote_wall_.SetMs(kNowMs + 10'000);
    site_ = ids_.Next();
    remote_site_ = ids_.Next();
    std::array<std::uint8_t, kDatabaseKeyBytes> key{};
    key.fill(6);
    db_.emplace(Database::Open(dir_ / "replica.db", DatabaseKey(key), {}).value());
    ASSERT_TRUE(Migrate(*db_, schema::ClinicMigrations(), wall_));
    writer_ = LocalWriter::Create(*db_, clock_, ids_, site_.ToString()).value();
    audit_.emplace(*db_, wall_, clock_, ids_, site_, ids_.Next());
    repo_.emplace(*db_, *writer_, *audit_, wall_, ids_, site_);
    doctor_ = As(Role::kClinician, site_);
    remote_author_ = ids_.Next().ToString();
  }
  void TearDown() override {
    EXPECT_TRUE(VerifyChain(site_, Chain()).ok);
    repo_.reset();
    audit_.reset();
    writer_.reset();
    db_.reset();
    fs::remove_all(dir_);
  }

  Principal As(Role role, std::optional<Uuid> site) {
    return Principal{ids_.Next(), role, site};
  }
  std::string NewPatient(const Uuid& site) {
    RowWrite write;
    write.table = "patients";
    write.row = ids_.Next().ToString();
    write.fields = {{"site_id", site.ToString()},
                    {"mrn", std::string("KSM-0042")},
                    {"given_name", std::string("Akinyi")},
                    {"family_name", std::string("Odhiambo")},
                    {"phone", std::string("+254 700 000000")}};
    EXPECT_TRUE(writer_->Commit(std::span<const RowWrite>(&write, 1),
                                doctor_.user_id.ToString()));
    return write.row;
  }
  void LocalEdit(const std::string& table, const std::string& row,
                 std::map<std::string, FieldValue> fields) {
    RowWrite write{table, row, Op::kUpsert, std::move(fields)};
    auto done = writer_->Commit(std::span<const RowWrite>(&write, 1),
                                doctor_.user_id.ToString());
    ASSERT_TRUE(done.has_value()) << done.error().ToString();
  }
  std::map<std::string, Version> Bases(const std::string& table,
                                       const std::string& row,
                                       const std::vector<std::string>& columns) {
    std::map<std::string, Version> base;
    for (const std::string& column : columns) {
      auto current = writer_->merger().CurrentVersion(table, row, column);
      EXPECT_TRUE(current.has_value());
      if (current.has_value() && current->has_value()) base[column] = **current;
    }
    return base;
  }
  // A change made at the other replica (whose clock is ahead), having seen
  // the versions in `base`, arriving here through sync.
  void Remote(const std::string& table, const std::string& row, Op op,
              std::map<std::string, FieldValue> fields,
              std::map<std::string, Version> base) {
    ChangeEntry e;
    e.id = ids_.Next().ToString();
    e.site = remote_site_.ToString();
    e.table = table;
    e.row = row;
    e.op = op;
    e.fields = std::move(fields);
    e.base = std::move(base);
    e.author = remote_author_;
    remote_wall_.AdvanceMs(1'000);  // stays ahead of what it was sent
    e.hlc = remote_clock_.Now();
    ASSERT_TRUE(ValidateChange(e).has_value())
        << ValidateChange(e).error().ToString();
    ASSERT_TRUE(clock_.Observe(e.hlc).has_value());
    auto applied = writer_->merger().ApplyBatch(std::span<const ChangeEntry>(&e, 1));
    ASSERT_TRUE(applied.has_value()) << applied.error().ToString();
  }
  // Both replicas change `column` of `row` from the same version; the
  // remote write wins, the local value is the conflict's loser.
  void Concurrent(const std::string& table, const std::string& row,
                  const std::string& column, FieldValue local,
                  FieldValue remote) {
    auto base = Bases(table, row, {column});
    LocalEdit(table, row, {{column, std::move(local)}});
    Remote(table, row, Op::kUpsert, {{column, std::move(remote)}}, base);
  }
  FieldValue Current(const std::string& table, const std::string& row,
                     const std::string& column) {
    auto stmt = db_->Prepare("SELECT " + column + " FROM " + table +
                             " WHERE id = ?");
    EXPECT_TRUE(stmt->BindText(1, row));
    EXPECT_TRUE(stmt->Step().value());
    if (stmt->IsNull(0)) return nullptr;
    return std::string(stmt->ColumnText(0).value());
  }
  std::int64_t Count(const std::string& sql) {
    auto stmt = db_->Prepare(sql);
    EXPECT_TRUE(stmt.has_value()) << stmt.error().ToString();
    EXPECT_TRUE(stmt->Step().value());
    return stmt->ColumnInt64(0).value();
  }
  struct Counts {
    std::int64_t resolutions, changes, events;
    bool operator==(const Counts&) const = default;
  };
  Counts Snapshot() {
    return {Count("SELECT count(*) FROM conflict_resolutions"),
            Count("SELECT count(*) FROM change_log"),
            Count("SELECT count(*) FROM audit_events")};
  }
  std::vector<OpenConflict> All(const Principal& who) {
    auto page = repo_->List(who, {});
    EXPECT_TRUE(page.has_value()) << page.error().ToString();
    return page.has_value() ? page->conflicts : std::vector<OpenConflict>{};
  }
  std::vector<ChainedEvent> Chain() {
    return ReadAuditChain(*db_, site_).value();
  }

  fs::path dir_;
  ManualClock wall_, remote_wall_;
  UuidV7Generator ids_{wall_};
  HybridClock clock_{HybridClock::Options{&wall_, Hlc()}};
  HybridClock remote_clock_{HybridClock::Options{&remote_wall_, Hlc()}};
  Uuid site_, remote_site_;
  Principal doctor_;
  std::string remote_author_;
  std::optional<Database> db_;
  std::unique_ptr<LocalWriter> writer_;
  std::optional<AuditLog> audit_;
  std::optional<ConflictRepository> repo_;
};

TEST_F(ConflictsTest, TakeLoserRestoresTheLostValueAndClosesTheConflict) {
  const std::string patient = NewPatient(site_);
  Concurrent("patients", patient, "given_name", std::string("Akinyi L"),
             std::string("Akinyi R"));
  EXPECT_EQ(Current("patients", patient, "given_name"),
            FieldValue(std::string("Akinyi R")));

  auto open = All(doctor_);
  ASSERT_EQ(open.size(), 1u);
  const OpenConflict& c = open[0];
  EXPECT_EQ(c.id.size(), 64u);
  EXPECT_EQ(c.table, "patients");
  EXPECT_EQ(c.row, patient);
  EXPECT_EQ(c.column, "given_name");
  EXPECT_EQ(c.kind, "concurrent_update");
  EXPECT_EQ(c.loser_value, FieldValue(std::string("Akinyi L")));
  EXPECT_EQ(c.loser_author, doctor_.user_id.ToString());
  EXPECT_EQ(c.loser_site, site_.ToString());
  EXPECT_FALSE(c.loser_hlc.is_zero());
  EXPECT_EQ(c.current_value, FieldValue(std::string("Akinyi R")));
  EXPECT_FALSE(c.row_deleted);
  EXPECT_FALSE(c.redacted);
  EXPECT_EQ(c.patient_id, patient);
  // Seeing the conflict is seeing the patient's data.
  AuditEvent event = Chain().back().event;
  EXPECT_EQ(event.action, AuditAction::kView);
  EXPECT_EQ(event.patient, patient);

  ASSERT_TRUE(repo_->Resolve(doctor_, c.id, kTakeLoser));
  EXPECT_EQ(Current("patients", patient, "given_name"),
            FieldValue(std::string("Akinyi L")));
  EXPECT_TRUE(All(doctor_).empty());
  event = Chain().back().event;
  EXPECT_EQ(event.action, AuditAction::kConflictResolved);
  EXPECT_EQ(event.actor, doctor_.user_id.ToString());
  EXPECT_EQ(event.object_type, "patients");
  EXPECT_EQ(event.object_id, patient);
  EXPECT_EQ(event.patient, patient);
  auto stmt = db_->Prepare(
      "SELECT conflict_id, resolver_id, decision, resolved_at_ms, site_id "
      "FROM conflict_resolutions");
  ASSERT_TRUE(stmt->Step().value());
  EXPECT_EQ(stmt->ColumnText(0).value(), c.id);
  EXPECT_EQ(stmt->ColumnText(1).value(), doctor_.user_id.ToString());
  EXPECT_EQ(stmt->ColumnText(2).value(), "take_loser");
  EXPECT_EQ(stmt->ColumnInt64(3).value(), kNowMs);
  EXPECT_EQ(stmt->ColumnText(4).value(), site_.ToString());
  EXPECT_FALSE(stmt->Step().value());

  // Settled once: a second decision is refused, nothing written.
  const Counts before = Snapshot();
  EXPECT_EQ(repo_->Resolve(doctor_, c.id, kKeepCurrent).error().code(),
            ErrorCode::kAlreadyExists);
  EXPECT_EQ(Snapshot(), before);
}

TEST_F(ConflictsTest, KeepCurrentLeavesTheWinner) {
  const std::string patient = NewPatient(site_);
  Concurrent("patients", patient, "phone", std::string("+254 711 111111"),
             std::string("+254 722 222222"));
  auto open = All(doctor_);
  ASSERT_EQ(open.size(), 1u);
  ASSERT_TRUE(repo_->Resolve(doctor_, open[0].id, kKeepCurrent));
  EXPECT_EQ(Current("patients", patient, "phone"),
            FieldValue(std::string("+254 722 222222")));
  EXPECT_TRUE(All(doctor_).empty());
  // The resolution is one replicated row plus its audit event; the field
  // itself was not written.
  EXPECT_EQ(Count("SELECT count(*) FROM change_log WHERE entry LIKE "
                  "'%\"table\":\"patients\"%'"),
            2);  // the registration and the local edit
}

TEST_F(ConflictsTest, ALostUpdateOfADeletedRowCanOnlyBeAcknowledged) {
  const std::string patient = NewPatient(site_);
  const std::vector<std::string> columns(
      FindReplicatedTable("patients")->columns.begin(),
      FindReplicatedTable("patients")->columns.end());
  auto seen = Bases("patients", patient, columns);
  LocalEdit("patients", patient, {{"family_name", std::string("Otieno")}});
  Remote("patients", patient, Op::kDelete, {}, seen);

  auto open = All(doctor_);
  ASSERT_EQ(open.size(), 1u);
  EXPECT_EQ(open[0].kind, "delete_vs_update");
  EXPECT_TRUE(open[0].row_deleted);
  EXPECT_EQ(open[0].loser_value, FieldValue(std::string("Otieno")));

  const Counts before = Snapshot();
  auto refused = repo_->Resolve(doctor_, open[0].id, kTakeLoser);
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(refused.error().message().find("conflict.decision"),
            std::string::npos);
  EXPECT_EQ(Snapshot(), before);
  ASSERT_TRUE(repo_->Resolve(doctor_, open[0].id, kKeepCurrent));
  EXPECT_TRUE(All(doctor_).empty());
}

TEST_F(ConflictsTest, BadInputsAreTypedErrorsAndNothingIsWritten) {
  const std::string patient = NewPatient(site_);
  Concurrent("patients", patient, "given_name", std::string("A"),
             std::string("B"));
  const std::string id = All(doctor_).at(0).id;
  const Counts before = Snapshot();

  struct Case {
    std::string id, decision, field;
    ErrorCode code;
  };
  const Case cases[] = {
      {"", "keep_current", "conflict.id", ErrorCode::kInvalidArgument},
      {id.substr(1), "keep_current", "conflict.id", ErrorCode::kInvalidArgument},
      {std::string(64, 'G'), "keep_current", "conflict.id",
       ErrorCode::kInvalidArgument},
      {id, "", "conflict.decision", ErrorCode::kInvalidArgument},
      {id, "take_winner", "conflict.decision", ErrorCode::kInvalidArgument},
      {id, "KEEP_CURRENT", "conflict.decision", ErrorCode::kInvalidArgument},
      {std::string(64, 'a'), "keep_current", "conflict", ErrorCode::kNotFound},
  };
  for (const Case& c : cases) {
    auto result = repo_->Resolve(doctor_, c.id, c.decision);
    ASSERT_FALSE(result.has_value()) << c.decision;
    EXPECT_EQ(result.error().code(), c.code) << result.error().ToString();
    EXPECT_NE(result.error().message().find(c.field), std::string::npos)
        << result.error().message();
  }
  EXPECT_EQ(repo_->List(doctor_, {"", 0}).error().code(),
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(repo_->List(doctor_, {"", 201}).error().code(),
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(repo_->List(doctor_, {"' OR 1=1 --", 10}).error().code(),
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(Snapshot(), before);
  EXPECT_EQ(All(doctor_).size(), 1u);
}

TEST_F(ConflictsTest, RolesAndSitesAreEnforcedAndDenialsAudited) {
  const std::string ours = NewPatient(site_);
  Concurrent("patients", ours, "given_name", std::string("A"), std::string("B"));
  // A patient of the other site, conflicting too (its rows reach this
  // replica only in odd set-ups, but the admin's merged view has them).
  const std::string theirs = ids_.Next().ToString();
  Remote("patients", theirs, Op::kUpsert,
         {{"site_id", remote_site_.ToString()},
          {"given_name", std::string("Chebet")}},
         {});
  Concurrent("patients", theirs, "given_name", std::string("Chebet L"),
             std::string("Chebet R"));

  const Principal nurse = As(Role::kTechnician, site_);
  const Principal admin = As(Role::kAdmin, std::nullopt);
  const Principal auditor = As(Role::kAuditor, std::nullopt);
  const Principal stranger = As(Role::kClinician, remote_site_);

  EXPECT_EQ(All(admin).size(), 2u);      // every site
  auto mine = All(doctor_);              // own site only
  ASSERT_EQ(mine.size(), 1u);
  EXPECT_EQ(mine[0].row, ours);
  ASSERT_EQ(All(nurse).size(), 1u);      // technicians see them...
  const Counts before = Snapshot();
  auto settle = repo_->Resolve(nurse, mine[0].id, kTakeLoser);  // ...not settle
  ASSERT_FALSE(settle.has_value());
  EXPECT_EQ(settle.error().code(), ErrorCode::kPermissionDenied);
  const AuditEvent denial = Chain().back().event;
  EXPECT_EQ(denial.action, AuditAction::kPermissionDenied);
  EXPECT_EQ(denial.actor, nurse.user_id.ToString());
  EXPECT_EQ(denial.patient, ours);
  EXPECT_EQ(Snapshot().resolutions, before.resolutions);
  EXPECT_EQ(Snapshot().changes, before.changes + 1);  // the denial event only

  // The auditor reads no conflicts (they hold clinical values).
  auto peek = repo_->List(auditor, {});
  ASSERT_FALSE(peek.has_value());
  EXPECT_EQ(peek.error().code(), ErrorCode::kPermissionDenied);
  // A clinician may not settle another site's conflict, nor list this
  // replica's.
  std::string their_conflict;
  for (const OpenConflict& c : All(admin)) {
    if (c.row == theirs) their_conflict = c.id;
  }
  EXPECT_EQ(repo_->Resolve(doctor_, their_conflict, kKeepCurrent)
                .error()
                .code(),
            ErrorCode::kPermissionDenied);
  EXPECT_EQ(repo_->List(stranger, {}).error().code(),
            ErrorCode::kPermissionDenied);
  EXPECT_EQ(Count("SELECT count(*) FROM audit_events WHERE "
                  "action = 'permission_denied'"),
            4);
  // The admin settles anything.
  ASSERT_TRUE(repo_->Resolve(admin, their_conflict, kTakeLoser));
  EXPECT_EQ(Current("patients", theirs, "given_name"),
            FieldValue(std::string("Chebet L")));
  EXPECT_EQ(All(admin).size(), 1u);
}

TEST_F(ConflictsTest, PasswordHashesAreRedacted) {
  const std::string user = ids_.Next().ToString();
  const std::string first = HashPassword("first long password",
                                         kTestPasswordHashCost).value();
  LocalEdit("users", user,
            {{"username", std::string("akinyi.o")},
             {"role", std::string("clinician")},
             {"password_hash", first}});
  const std::string local = HashPassword("local long password",
                                         kTestPasswordHashCost).value();
  const std::string remote = HashPassword("remote long password",
                                          kTestPasswordHashCost).value();
  Concurrent("users", user, "password_hash", local, remote);
  const Principal admin = As(Role::kAdmin, std::nullopt);
  auto open = All(admin);
  ASSERT_EQ(open.size(), 1u);
  EXPECT_TRUE(open[0].redacted);
  EXPECT_EQ(open[0].loser_value, FieldValue(nullptr));
  EXPECT_EQ(open[0].current_value, FieldValue(nullptr));
  EXPECT_EQ(open[0].patient_id, std::nullopt);
  // Settling it still puts the real value back.
  ASSERT_TRUE(repo_->Resolve(admin, open[0].id, kTakeLoser));
  EXPECT_EQ(Current("users", user, "password_hash"), FieldValue(local));
}

TEST_F(ConflictsTest, ReferenceDataConflictsAreTheAdminsToSettle) {
  // A clinic user's role, changed at two replicas at once; the lost value
  // would make the account an admin.
  const std::string user = ids_.Next().ToString();
  LocalEdit("users", user,
            {{"site_id", site_.ToString()},
             {"username", std::string("baraka.t")},
             {"role", std::string("technician")}});
  Concurrent("users", user, "role", std::string("admin"),
             std::string("clinician"));
  auto open = All(doctor_);  // the clinician may see it (own site's users)
  ASSERT_EQ(open.size(), 1u);
  const Counts before = Snapshot();
  auto refused = repo_->Resolve(doctor_, open[0].id, kTakeLoser);
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().code(), ErrorCode::kPermissionDenied);
  EXPECT_EQ(repo_->Resolve(doctor_, open[0].id, kKeepCurrent).error().code(),
            ErrorCode::kPermissionDenied);
  EXPECT_EQ(Snapshot().resolutions, before.resolutions);
  EXPECT_EQ(Current("users", user, "role"), FieldValue(std::string("clinician")));
  const Principal admin = As(Role::kAdmin, std::nullopt);
  ASSERT_TRUE(repo_->Resolve(admin, open[0].id, kKeepCurrent));
  EXPECT_TRUE(All(admin).empty());
}

TEST_F(ConflictsTest, PagesWalkEveryOpenConflictOnce) {
  const std::string patient = NewPatient(site_);
  Concurrent("patients", patient, "given_name", std::string("A1"),
             std::string("B1"));
  Concurrent("patients", patient, "family_name", std::string("A2"),
             std::string("B2"));
  Concurrent("patients", patient, "phone", std::string("1"), std::string("2"));
  const auto events_before = Count("SELECT count(*) FROM audit_events");

  auto first = repo_->List(doctor_, {"", 2}).value();
  ASSERT_EQ(first.conflicts.size(), 2u);
  ASSERT_TRUE(first.next_after.has_value());
  auto second = repo_->List(doctor_, {*first.next_after, 2}).value();
  ASSERT_EQ(second.conflicts.size(), 1u);
  EXPECT_FALSE(second.next_after.has_value());
  EXPECT_LT(first.conflicts[0].id, first.conflicts[1].id);
  EXPECT_LT(first.conflicts[1].id, second.conflicts[0].id);
  // One view per patient row per page.
  EXPECT_EQ(Count("SELECT count(*) FROM audit_events"), events_before + 2);

  ASSERT_TRUE(repo_->Resolve(doctor_, first.conflicts[1].id, kKeepCurrent));
  auto rest = All(doctor_);
  ASSERT_EQ(rest.size(), 2u);
  EXPECT_EQ(rest[0].id, first.conflicts[0].id);
  EXPECT_EQ(rest[1].id, second.conflicts[0].id);
}

}  // namespace
}  // namespace pulse::engine
