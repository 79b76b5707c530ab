// Reports through the whole local stack: append-only rows, print vs export
// permissions, validation and the audit chain with patient ids, on an
// encrypted replica.
#include "pulse/engine/reports.h"

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
const std::string kPdf(64, 'a');

class ReportsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::path(::testing::TempDir()) /
           (std::string("reports_") + std::to_string(::getpid()) + "_" +
            info->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    wall_.SetMs(kNowMs);
    site_ = ids_.Next();
    other_site_ = ids_.Next();
    std::array<std::uint8_t, kDatabaseKeyBytes> key{};
    key.fill(4);
    db_.emplace(Database::Open(dir_ / "replica.db", DatabaseKey(key), {}).value());
    ASSERT_TRUE(Migrate(*db_, schema::ClinicMigrations(), wall_));
    writer_ = LocalWriter::Create(*db_, clock_, ids_, site_.ToString()).value();
    audit_.emplace(*db_, wall_, clock_, ids_, site_, ids_.Next());
    repo_.emplace(*db_, *writer_, *audit_, ids_);
    doctor_ = As(Role::kClinician, site_);
    patient_ = ids_.Next().ToString();
    RowWrite write;
    write.table = "recordings";
    write.row = ids_.Next().ToString();
    write.fields = {{"site_id", site_.ToString()},
                    {"patient_id", patient_},
                    {"status", std::string("complete")}};
    ASSERT_TRUE(writer_->Commit(std::span<const RowWrite>(&write, 1),
                                doctor_.user_id.ToString()));
    recording_ = write.row;
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
  std::int64_t Count(const std::string& sql) {
    auto stmt = db_->Prepare(sql);
    EXPECT_TRUE(stmt.has_value()) << stmt.error().ToString();
    EXPECT_TRUE(stmt->Step().value());
    return stmt->ColumnInt64(0).value();
  }
  std::vector<ChainedEvent> Chain() {
    return ReadAuditChain(*db_, site_).value();
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
  std::optional<ReportRepository> repo_;
};

TEST_F(ReportsTest, RecordAndListAreAuditedWithThePatient) {
  const std::string printed =
      repo_->Record(doctor_, recording_, kPdf, kNowMs, ReportUse::kPrint)
          .value();
  const std::string pdf2 = std::string(63, '0') + "f";
  const std::string exported =
      repo_->Record(doctor_, recording_, pdf2, kNowMs + 5, ReportUse::kExport)
          .value();
  const auto reports = repo_->ForRecording(doctor_, recording_).value();
  ASSERT_EQ(reports.size(), 2u);
  EXPECT_EQ(reports[0].id, printed);
  EXPECT_EQ(reports[0].pdf_sha256, kPdf);
  EXPECT_EQ(reports[0].generated_by, doctor_.user_id.ToString());
  EXPECT_EQ(reports[0].generated_at_ms, kNowMs);
  EXPECT_EQ(reports[0].recording_id, recording_);
  EXPECT_EQ(reports[0].site_id, site_.ToString());
  EXPECT_EQ(reports[1].id, exported);

  const auto chain = Chain();
  ASSERT_EQ(chain.size(), 3u);
  EXPECT_EQ(chain[0].event.action, AuditAction::kPrint);
  EXPECT_EQ(chain[0].event.object_id, printed);
  EXPECT_EQ(chain[1].event.action, AuditAction::kExport);
  EXPECT_EQ(chain[2].event.action, AuditAction::kView);
  EXPECT_EQ(chain[2].event.object_id, recording_);
  for (const ChainedEvent& record : chain) {
    EXPECT_EQ(record.event.patient, patient_);
  }
  // Append-only: the rows replicate as they are and nobody rewrites them.
  RowWrite rewrite{"reports", printed, Op::kUpsert,
                   {{"pdf_sha256", std::string(64, 'b')}}};
  EXPECT_FALSE(writer_->Commit(std::span<const RowWrite>(&rewrite, 1),
                               doctor_.user_id.ToString()));
}

TEST_F(ReportsTest, BadValuesAreTypedErrorsAndNothingIsWritten) {
  struct Case {
    const char* field;
    std::string sha;
    std::int64_t at_ms;
  };
  const Case cases[] = {
      {"pdf_sha256", std::string(63, 'a'), kNowMs},
      {"pdf_sha256", std::string(65, 'a'), kNowMs},
      {"pdf_sha256", std::string(64, 'A'), kNowMs},
      {"pdf_sha256", std::string(63, 'a') + "g", kNowMs},
      {"pdf_sha256", "", kNowMs},
      {"generated_at_ms", kPdf, 0},
      {"generated_at_ms", kPdf, -1},
      {"generated_at_ms", kPdf, Hlc::kMaxPhysicalMs + 1},
  };
  for (const Case& c : cases) {
    auto result =
        repo_->Record(doctor_, recording_, c.sha, c.at_ms, ReportUse::kPrint);
    ASSERT_FALSE(result.has_value()) << c.field;
    EXPECT_EQ(result.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(result.error().message().find(std::string("report.") + c.field),
              std::string::npos)
        << result.error().message();
  }
  auto unknown = repo_->Record(doctor_, ids_.Next().ToString(), kPdf, kNowMs,
                               ReportUse::kPrint);
  EXPECT_EQ(unknown.error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(Count("SELECT count(*) FROM reports"), 0);
  EXPECT_EQ(Count("SELECT count(*) FROM audit_events"), 0);
  EXPECT_EQ(Count("SELECT count(*) FROM change_log"), 1);  // the recording
}

TEST_F(ReportsTest, PrintAndExportFollowTheMatrix) {
  const Principal nurse = As(Role::kTechnician, site_);
  const Principal admin = As(Role::kAdmin, std::nullopt);
  const Principal auditor = As(Role::kAuditor, std::nullopt);
  const Principal stranger = As(Role::kClinician, other_site_);

  // Technicians print but do not export.
  EXPECT_TRUE(repo_->Record(nurse, recording_, kPdf, kNowMs, ReportUse::kPrint));
  auto exported =
      repo_->Record(nurse, recording_, kPdf, kNowMs, ReportUse::kExport);
  ASSERT_FALSE(exported.has_value());
  EXPECT_EQ(exported.error().code(), ErrorCode::kPermissionDenied);
  const AuditEvent denial = Chain().back().event;
  EXPECT_EQ(denial.action, AuditAction::kPermissionDenied);
  EXPECT_EQ(denial.object_type, "reports");
  EXPECT_EQ(denial.patient, patient_);
  // The admin reads reports but creates none (no clinical writes); the
  // auditor reads no patient rows; other sites' staff neither.
  EXPECT_EQ(repo_->Record(admin, recording_, kPdf, kNowMs, ReportUse::kPrint)
                .error()
                .code(),
            ErrorCode::kPermissionDenied);
  EXPECT_EQ(repo_->ForRecording(admin, recording_).value().size(), 1u);
  EXPECT_EQ(repo_->ForRecording(auditor, recording_).error().code(),
            ErrorCode::kPermissionDenied);
  EXPECT_EQ(repo_->Record(stranger, recording_, kPdf, kNowMs,
                          ReportUse::kPrint)
                .error()
                .code(),
            ErrorCode::kPermissionDenied);
  EXPECT_EQ(Count("SELECT count(*) FROM reports"), 1);
  EXPECT_EQ(Count("SELECT count(*) FROM audit_events WHERE "
                  "action = 'permission_denied'"),
            4);
}

}  // namespace
}  // namespace pulse::engine
