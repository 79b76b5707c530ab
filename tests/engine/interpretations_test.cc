// Interpretations through the whole local stack: the draft → confirmed →
// amended states, the permission matrix (a technician cannot confirm),
// validation, the local write path and the audit chain with patient ids, on
// an encrypted replica.
#include "pulse/engine/interpretations.h"

#include <unistd.h>

#include <array>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "support/manual_clock.h"

#include "pulse/engine/audit.h"
#include "pulse/engine/clinic_schema.h"
#include "pulse/engine/hash.h"
#include "pulse/engine/migrations.h"

namespace pulse::engine {
namespace {

namespace fs = std::filesystem;

using ::pulse::testing::ManualClock;

constexpr std::int64_t kNowMs = 1'763'900'000'000;  // 2025-11-23

class InterpretationsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::path(::testing::TempDir()) /
           (std::string("interpretations_") + std::to_string(::getpid()) + "_" +
            info->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    wall_.SetMs(kNowMs);
    site_ = ids_.Next();
    other_site_ = ids_.Next();
    std::array<std::uint8_t, kDatabaseKeyBytes> key{};
    key.fill(3);
    db_.emplace(Database::Open(dir_ / "replica.db", DatabaseKey(key), {}).value());
    ASSERT_TRUE(Migrate(*db_, schema::ClinicMigrations(), wall_));
    writer_ = LocalWriter::Create(*db_, clock_, ids_, site_.ToString()).value();
    audit_.emplace(*db_, wall_, clock_, ids_, site_, ids_.Next());
    repo_.emplace(*db_, *writer_, *audit_, wall_, ids_);
    doctor_ = As(Role::kClinician, site_);
    patient_ = ids_.Next().ToString();
    recording_ = WriteRecording(site_, patient_);
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
  // A completed recording, written as the recording pipeline would.
  std::string WriteRecording(const Uuid& site, const std::string& patient) {
    RowWrite write;
    write.table = "recordings";
    write.row = ids_.Next().ToString();
    write.fields = {{"site_id", site.ToString()},
                    {"patient_id", patient},
                    {"status", std::string("complete")}};
    EXPECT_TRUE(writer_->Commit(std::span<const RowWrite>(&write, 1),
                                doctor_.user_id.ToString()));
    return write.row;
  }
  std::int64_t Count(const std::string& sql) {
    auto stmt = db_->Prepare(sql);
    EXPECT_TRUE(stmt.has_value()) << stmt.error().ToString();
    EXPECT_TRUE(stmt->Step().value());
    return stmt->ColumnInt64(0).value();
  }
  struct Counts {
    std::int64_t rows, changes, events;
    bool operator==(const Counts&) const = default;
  };
  Counts Snapshot() {
    return {Count("SELECT count(*) FROM interpretations"),
            Count("SELECT count(*) FROM change_log"),
            Count("SELECT count(*) FROM audit_events")};
  }
  std::vector<ChainedEvent> Chain() {
    return ReadAuditChain(*db_, site_).value();
  }
  Interpretation Only(const Principal& who) {
    auto rows = repo_->ForRecording(who, recording_).value();
    EXPECT_EQ(rows.size(), 1u);
    return rows.empty() ? Interpretation{} : rows[0];
  }

  fs::path dir_;
  ManualClock wall_;
  UuidV7Generator ids_{wall_};
  HybridClock clock_{HybridClock::Options{&wall_, Hlc()}};
  Uuid site_, other_site_;
  Principal doctor_;
  std::string patient_, recording_;
  std::optional<Database> db_;
  std::unique_ptr<LocalWriter> writer_;
  std::optional<AuditLog> audit_;
  std::optional<InterpretationRepository> repo_;
};

TEST_F(InterpretationsTest, DraftEditConfirmAmend) {
  const std::string id =
      repo_->Draft(doctor_, recording_, "Sinus rhythm, 72 bpm.").value();
  Interpretation row = Only(doctor_);
  EXPECT_EQ(row.id, id);
  EXPECT_EQ(row.status, "draft");
  EXPECT_EQ(row.author_id, doctor_.user_id.ToString());
  EXPECT_EQ(row.site_id, site_.ToString());
  EXPECT_EQ(row.confirmed_by, std::nullopt);

  ASSERT_TRUE(repo_->Edit(doctor_, id, "Sinus rhythm.\n\tNormal axis."));
  wall_.AdvanceMs(60'000);
  const Principal senior = As(Role::kClinician, site_);
  ASSERT_TRUE(repo_->Confirm(senior, id));
  row = Only(doctor_);
  EXPECT_EQ(row.statement, "Sinus rhythm.\n\tNormal axis.");
  EXPECT_EQ(row.status, "confirmed");
  EXPECT_EQ(row.confirmed_by, senior.user_id.ToString());
  EXPECT_EQ(row.confirmed_at_ms, kNowMs + 60'000);

  // A confirmed statement is amended, never edited or confirmed again.
  const Counts before = Snapshot();
  auto edit = repo_->Edit(doctor_, id, "Changed quietly");
  ASSERT_FALSE(edit.has_value());
  EXPECT_EQ(edit.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(edit.error().message().find("interpretation.status"),
            std::string::npos);
  EXPECT_EQ(repo_->Confirm(doctor_, id).error().code(),
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(Snapshot(), before);

  wall_.AdvanceMs(60'000);
  ASSERT_TRUE(repo_->Amend(doctor_, id, "Sinus rhythm. Borderline QTc."));
  row = Only(doctor_);
  EXPECT_EQ(row.status, "amended");
  EXPECT_EQ(row.statement, "Sinus rhythm. Borderline QTc.");
  EXPECT_EQ(row.confirmed_by, doctor_.user_id.ToString());
  EXPECT_EQ(row.confirmed_at_ms, kNowMs + 120'000);
  ASSERT_TRUE(repo_->Amend(senior, id, "Sinus rhythm. QTc 470 ms."));
  EXPECT_EQ(Only(doctor_).status, "amended");

  // A draft cannot be amended.
  const std::string second = repo_->Draft(doctor_, recording_, "Second").value();
  EXPECT_EQ(repo_->Amend(doctor_, second, "x").error().code(),
            ErrorCode::kInvalidArgument);

  // Every event names the patient.
  for (const ChainedEvent& record : Chain()) {
    EXPECT_EQ(record.event.patient, patient_)
        << AuditActionName(record.event.action);
  }
  EXPECT_EQ(Count("SELECT count(*) FROM audit_events WHERE action = 'view' "
                  "AND object_type = 'recordings'"),
            4);  // the four ForRecording reads above
}

TEST_F(InterpretationsTest, BadStatementsAreTypedErrorsAndNothingIsWritten) {
  const std::string id = repo_->Draft(doctor_, recording_, "Draft").value();
  const Counts before = Snapshot();
  const std::string bad[] = {
      "",
      std::string(kMaxStatementBytes + 1, 'a'),
      "Sinus \xff rhythm",
      "Sinus\x01rhythm",
      "Sinus\rrhythm",
      "Sinus\x7frhythm",
      "Sinus\xc2\x85rhythm",  // U+0085, a C1 control
      " \n\t ",
  };
  for (const std::string& statement : bad) {
    for (int call = 0; call < 2; ++call) {
      Status result = OkStatus();
      if (call == 0) {
        auto drafted = repo_->Draft(doctor_, recording_, statement);
        if (!drafted) result = Fail(drafted.error());
      } else {
        result = repo_->Edit(doctor_, id, statement);
      }
      ASSERT_FALSE(result.has_value()) << statement.size();
      EXPECT_EQ(result.error().code(), ErrorCode::kInvalidArgument);
      EXPECT_NE(result.error().message().find("interpretation.statement"),
                std::string::npos)
          << result.error().message();
    }
  }
  EXPECT_EQ(Snapshot(), before);
  // The limits themselves are fine: 4000 bytes, non-Latin text, tabs.
  EXPECT_TRUE(repo_->Edit(doctor_, id, std::string(kMaxStatementBytes, 'a')));
  EXPECT_TRUE(repo_->Edit(doctor_, id, "Ритм синусовый\tЧСС 72"));
}

TEST_F(InterpretationsTest, TechnicianCannotConfirmAndTheRefusalIsAudited) {
  const std::string id = repo_->Draft(doctor_, recording_, "AF").value();
  const Principal nurse = As(Role::kTechnician, site_);

  auto refused = repo_->Confirm(nurse, id);
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().code(), ErrorCode::kPermissionDenied);
  const AuditEvent denial = Chain().back().event;
  EXPECT_EQ(denial.action, AuditAction::kPermissionDenied);
  EXPECT_EQ(denial.outcome, AuditOutcome::kDenied);
  EXPECT_EQ(denial.actor, nurse.user_id.ToString());
  EXPECT_EQ(denial.role, AuditRole::kTechnician);
  EXPECT_EQ(denial.object_type, "interpretations");
  EXPECT_EQ(denial.object_id, id);
  EXPECT_EQ(denial.patient, patient_);
  EXPECT_EQ(Only(doctor_).status, "draft");

  // Technicians read but do not draft, edit or amend.
  EXPECT_EQ(Only(nurse).statement, "AF");
  EXPECT_EQ(repo_->Draft(nurse, recording_, "AF?").error().code(),
            ErrorCode::kPermissionDenied);
  EXPECT_EQ(repo_->Edit(nurse, id, "AF?").error().code(),
            ErrorCode::kPermissionDenied);
  // Another site's clinician, the admin (reads only) and the auditor (no
  // patient rows at all).
  const Principal stranger = As(Role::kClinician, other_site_);
  const Principal admin = As(Role::kAdmin, std::nullopt);
  const Principal auditor = As(Role::kAuditor, std::nullopt);
  EXPECT_EQ(repo_->Confirm(stranger, id).error().code(),
            ErrorCode::kPermissionDenied);
  EXPECT_EQ(repo_->Confirm(admin, id).error().code(),
            ErrorCode::kPermissionDenied);
  EXPECT_EQ(Only(admin).status, "draft");
  auto peek = repo_->ForRecording(auditor, recording_);
  ASSERT_FALSE(peek.has_value());
  EXPECT_EQ(peek.error().code(), ErrorCode::kPermissionDenied);
  EXPECT_EQ(Count("SELECT count(*) FROM audit_events WHERE "
                  "action = 'permission_denied' AND patient = '" +
                  patient_ + "'"),
            6);
  EXPECT_EQ(Count("SELECT count(*) FROM interpretations"), 1);
}

TEST_F(InterpretationsTest, UnknownOrDeletedRowsAreNotFound) {
  const Counts before = Snapshot();
  EXPECT_EQ(repo_->Draft(doctor_, ids_.Next().ToString(), "x").error().code(),
            ErrorCode::kNotFound);
  EXPECT_EQ(repo_->Confirm(doctor_, ids_.Next().ToString()).error().code(),
            ErrorCode::kNotFound);
  EXPECT_EQ(repo_->ForRecording(doctor_, "not-a-uuid").error().code(),
            ErrorCode::kNotFound);
  EXPECT_EQ(Snapshot(), before);

  const std::string id = repo_->Draft(doctor_, recording_, "Draft").value();
  RowWrite remove{"interpretations", id, Op::kDelete, {}};
  ASSERT_TRUE(writer_->Commit(std::span<const RowWrite>(&remove, 1),
                              doctor_.user_id.ToString()));
  EXPECT_EQ(repo_->Edit(doctor_, id, "Again").error().code(),
            ErrorCode::kNotFound);
  EXPECT_TRUE(repo_->ForRecording(doctor_, recording_).value().empty());
  // A recording of another site is not this site's clinician's to read.
  const std::string foreign = WriteRecording(other_site_, ids_.Next().ToString());
  EXPECT_EQ(repo_->ForRecording(doctor_, foreign).error().code(),
            ErrorCode::kPermissionDenied);
}

}  // namespace
}  // namespace pulse::engine
