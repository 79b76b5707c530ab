// Patients through the whole local stack: permission matrix, validation,
// the local write path and the audit chain, on an encrypted replica.
#include "pulse/engine/patients.h"

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "support/temp_dir.h"
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

class PatientsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = pulse::testing::TempRoot() /
           (std::string("patients_") + info->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    wall_.SetMs(kNowMs);
    site_ = ids_.Next();
    other_site_ = ids_.Next();
    std::array<std::uint8_t, kDatabaseKeyBytes> key{};
    key.fill(9);
    db_.emplace(Database::Open(dir_ / "replica.db", DatabaseKey(key), {}).value());
    ASSERT_TRUE(Migrate(*db_, schema::ClinicMigrations(), wall_));
    writer_ = LocalWriter::Create(*db_, clock_, ids_, site_.ToString()).value();
    audit_.emplace(*db_, wall_, clock_, ids_, site_, ids_.Next());
    repo_.emplace(*db_, *writer_, *audit_, wall_, ids_, site_);
  }
  void TearDown() override {
    repo_.reset();
    audit_.reset();
    writer_.reset();
    db_.reset();
    fs::remove_all(dir_);
  }

  Principal As(Role role, std::optional<Uuid> site) {
    return Principal{ids_.Next(), role, site};
  }
  static PatientInput Valid() {
    return PatientInput{"KSM-0042", "Akinyi", "Odhiambo", "1984-03-17", "F",
                        "+254 700 000000", "Box 12, Kisumu"};
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
  std::optional<Database> db_;
  std::unique_ptr<LocalWriter> writer_;
  std::optional<AuditLog> audit_;
  std::optional<PatientRepository> repo_;
};

TEST_F(PatientsTest, RegisterThenViewIsStoredAndAudited) {
  const Principal nurse = As(Role::kTechnician, site_);
  const std::string id = repo_->Register(nurse, Valid()).value();
  const Principal doctor = As(Role::kClinician, site_);
  const Patient p = repo_->Get(doctor, id).value();
  EXPECT_EQ(p.fields.family_name, "Odhiambo");
  EXPECT_EQ(p.site_id, site_.ToString());
  // create + view, chained, naming the patient and the actors.
  const auto chain = Chain();
  ASSERT_EQ(chain.size(), 2u);
  EXPECT_EQ(chain[0].event.action, AuditAction::kCreate);
  EXPECT_EQ(chain[0].event.actor, nurse.user_id.ToString());
  EXPECT_EQ(chain[1].event.action, AuditAction::kView);
  EXPECT_EQ(chain[1].event.patient, id);
  EXPECT_TRUE(VerifyChain(site_, chain).ok);
  // The audit events travel like any change: they are in the outbox.
  EXPECT_EQ(Count("SELECT count(*) FROM change_log"), 3);
}

TEST_F(PatientsTest, BadValuesAreTypedErrorsAndNothingIsWritten) {
  const Principal nurse = As(Role::kTechnician, site_);
  struct Case {
    const char* field;
    void (*mutate)(PatientInput&);
  };
  const Case cases[] = {
      {"birth_date", [](PatientInput& p) { p.birth_date = "2023-02-30"; }},
      {"birth_date", [](PatientInput& p) { p.birth_date = "2031-01-01"; }},
      {"birth_date", [](PatientInput& p) { p.birth_date = "1899-12-31"; }},
      {"birth_date", [](PatientInput& p) { p.birth_date = "17/03/1984"; }},
      {"given_name", [](PatientInput& p) { p.given_name = "   "; }},
      {"family_name", [](PatientInput& p) { p.family_name = std::string(101, 'a'); }},
      {"family_name", [](PatientInput& p) { p.family_name = "Odhi\x01" "ambo"; }},
      {"given_name", [](PatientInput& p) { p.given_name = "Ak\xff"; }},
      {"sex", [](PatientInput& p) { p.sex = "female"; }},
      {"mrn", [](PatientInput& p) { p.mrn = "KSM 0042"; }},
      {"mrn", [](PatientInput& p) { p.mrn = ""; }},
      {"phone", [](PatientInput& p) { p.phone = "call me"; }},
      {"address", [](PatientInput& p) { p.address = std::string(501, 'x'); }},
  };
  for (const Case& c : cases) {
    PatientInput input = Valid();
    c.mutate(input);
    auto result = repo_->Register(nurse, input);
    ASSERT_FALSE(result.has_value()) << c.field;
    EXPECT_EQ(result.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(result.error().message().find(std::string("patient.") + c.field),
              std::string::npos)
        << result.error().message();
  }
  EXPECT_EQ(Count("SELECT count(*) FROM patients"), 0);
  EXPECT_EQ(Count("SELECT count(*) FROM change_log"), 0);
}

TEST_F(PatientsTest, RolesAreEnforcedAndDenialsAudited) {
  const std::string id =
      repo_->Register(As(Role::kTechnician, site_), Valid()).value();
  const Principal auditor = As(Role::kAuditor, std::nullopt);
  const Principal stranger = As(Role::kClinician, other_site_);
  const Principal nurse = As(Role::kTechnician, site_);

  auto seen = repo_->Get(auditor, id);  // auditors read no patient rows
  ASSERT_FALSE(seen.has_value());
  EXPECT_EQ(seen.error().code(), ErrorCode::kPermissionDenied);
  EXPECT_EQ(repo_->Get(stranger, id).error().code(),
            ErrorCode::kPermissionDenied);
  PatientChanges rename;
  rename.given_name = "Eve";
  EXPECT_EQ(repo_->Update(stranger, id, rename).error().code(),
            ErrorCode::kPermissionDenied);
  EXPECT_EQ(repo_->Remove(nurse, id).error().code(),
            ErrorCode::kPermissionDenied);
  // Nothing changed, and every refusal is on the record.
  EXPECT_EQ(repo_->Get(As(Role::kClinician, site_), id)->fields.given_name,
            "Akinyi");
  EXPECT_EQ(Count("SELECT count(*) FROM audit_events WHERE "
                  "action = 'permission_denied' AND outcome = 'denied'"),
            4);
  EXPECT_TRUE(VerifyChain(site_, Chain()).ok);
}

TEST_F(PatientsTest, UpdateRemoveAndSearch) {
  const Principal doctor = As(Role::kClinician, site_);
  const std::string a = repo_->Register(doctor, Valid()).value();
  PatientInput other = Valid();
  other.mrn = "KSM-0043";
  other.family_name = "Otieno";
  other.birth_date = "1990-07-01";
  const std::string b = repo_->Register(doctor, other).value();

  PatientChanges phone;
  phone.phone = "+254 711 111111";
  ASSERT_TRUE(repo_->Update(doctor, a, phone));
  PatientChanges bad;
  bad.birth_date = "1984-13-01";
  EXPECT_EQ(repo_->Update(doctor, a, bad).error().code(),
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(repo_->Get(doctor, a)->fields.phone, "+254 711 111111");

  auto by_mrn = repo_->Search(doctor, {"KSM-0043", "", 50}).value();
  ASSERT_EQ(by_mrn.size(), 1u);
  EXPECT_EQ(by_mrn[0].id, b);
  EXPECT_EQ(repo_->Search(doctor, {"odh", "", 50}).value().size(), 1u);
  EXPECT_EQ(repo_->Search(doctor, {"O", "", 50}).value().size(), 2u);
  EXPECT_EQ(repo_->Search(doctor, {"", "1990-07-01", 50}).value().size(), 1u);
  EXPECT_EQ(repo_->Search(doctor, {"%", "", 50}).value().size(), 0u);

  ASSERT_TRUE(repo_->Remove(doctor, a));
  EXPECT_EQ(repo_->Get(doctor, a).error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(repo_->Search(doctor, {"O", "", 50}).value().size(), 1u);
  EXPECT_TRUE(VerifyChain(site_, Chain()).ok);
}

// A row that arrived through sync is not validated the way a local write
// is: a value of another storage class (here a blob where a name belongs)
// must read as empty, never throw or make the patient unreadable.
TEST_F(PatientsTest, ARowWithAForeignValueStillReads) {
  const Principal doctor = As(Role::kClinician, site_);
  auto id = repo_->Register(doctor, {"KSM-9", "Amani", "Otieno", "1990-02-03",
                                     "F", "", ""});
  ASSERT_TRUE(id.has_value()) << id.error().ToString();
  ChangeEntry remote;
  remote.id = ids_.Next().ToString();
  remote.hlc = clock_.Now();
  remote.site = other_site_.ToString();
  remote.table = "patients";
  remote.row = *id;
  remote.author = ids_.Next().ToString();
  remote.fields["given_name"] = Blob{{0x01, 0x02}};
  ASSERT_TRUE(ValidateChange(remote).has_value());
  ASSERT_TRUE(writer_->merger().ApplyBatch(std::span(&remote, 1)).has_value());

  auto patient = repo_->Get(doctor, *id);
  ASSERT_TRUE(patient.has_value()) << patient.error().ToString();
  EXPECT_EQ(patient->fields.given_name, "");
  EXPECT_EQ(patient->fields.family_name, "Otieno");
  auto found = repo_->Search(doctor, {"Otieno", "", 10});
  ASSERT_TRUE(found.has_value()) << found.error().ToString();
  EXPECT_EQ(found->size(), 1u);
}

}  // namespace
}  // namespace pulse::engine
