// Devices through the whole local stack: permission matrix, validation,
// the local write path and the audit chain, on an encrypted replica.
#include "pulse/engine/devices.h"

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

class DevicesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::path(::testing::TempDir()) /
           (std::string("devices_") + std::to_string(::getpid()) + "_" +
            info->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    wall_.SetMs(kNowMs);
    site_ = ids_.Next();
    other_site_ = ids_.Next();
    std::array<std::uint8_t, kDatabaseKeyBytes> key{};
    key.fill(5);
    db_.emplace(Database::Open(dir_ / "replica.db", DatabaseKey(key), {}).value());
    ASSERT_TRUE(Migrate(*db_, schema::ClinicMigrations(), wall_));
    writer_ = LocalWriter::Create(*db_, clock_, ids_, site_.ToString()).value();
    audit_.emplace(*db_, wall_, clock_, ids_, site_, ids_.Next());
    repo_.emplace(*db_, *writer_, *audit_, ids_, site_);
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
  static DeviceInput Valid() {
    return DeviceInput{"ECG-0042_a.1", "ecg", "Pulse ECG-12", "1.4.2"};
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
  std::optional<DeviceRepository> repo_;
};

TEST_F(DevicesTest, RegisterGetAndListAtTheReplicasSite) {
  const Principal nurse = As(Role::kTechnician, site_);
  const std::string id = repo_->Register(nurse, Valid()).value();
  DeviceInput cpap{"CP-7", "cpap", "AirFlow 10", ""};
  ASSERT_TRUE(repo_->Register(nurse, cpap));

  const Device device = repo_->Get(nurse, id).value();
  EXPECT_EQ(device.site_id, site_.ToString());
  EXPECT_EQ(device.fields.serial, "ECG-0042_a.1");
  EXPECT_EQ(device.fields.kind, "ecg");
  EXPECT_EQ(device.fields.model, "Pulse ECG-12");
  EXPECT_EQ(device.fields.firmware, "1.4.2");
  const auto listed = repo_->List(nurse, site_).value();
  ASSERT_EQ(listed.size(), 2u);
  EXPECT_EQ(listed[0].fields.kind, "cpap");  // by kind, then serial
  EXPECT_EQ(listed[1].id, id);

  const auto chain = Chain();
  ASSERT_EQ(chain.size(), 2u);  // two registrations; reads are not audited
  EXPECT_EQ(chain[0].event.action, AuditAction::kCreate);
  EXPECT_EQ(chain[0].event.object_type, "devices");
  EXPECT_EQ(chain[0].event.object_id, id);
  EXPECT_EQ(chain[0].event.actor, nurse.user_id.ToString());
}

TEST_F(DevicesTest, BadValuesAreTypedErrorsAndNothingIsWritten) {
  const Principal nurse = As(Role::kTechnician, site_);
  struct Case {
    const char* field;
    void (*mutate)(DeviceInput&);
  };
  const Case cases[] = {
      {"serial", [](DeviceInput& d) { d.serial = ""; }},
      {"serial", [](DeviceInput& d) { d.serial = std::string(65, 'A'); }},
      {"serial", [](DeviceInput& d) { d.serial = "ECG 42"; }},
      {"serial", [](DeviceInput& d) { d.serial = "ECG/42"; }},
      {"serial", [](DeviceInput& d) { d.serial = "ECG\xc3\xa9"; }},
      {"kind", [](DeviceInput& d) { d.kind = "ECG"; }},
      {"kind", [](DeviceInput& d) { d.kind = "ventilator"; }},
      {"kind", [](DeviceInput& d) { d.kind = ""; }},
      {"model", [](DeviceInput& d) { d.model = " "; }},
      {"model", [](DeviceInput& d) { d.model = std::string(101, 'm'); }},
      {"model", [](DeviceInput& d) { d.model = "Pulse\x07"; }},
      {"firmware", [](DeviceInput& d) { d.firmware = std::string(65, '1'); }},
      {"firmware", [](DeviceInput& d) { d.firmware = "1.\xff"; }},
  };
  for (const Case& c : cases) {
    DeviceInput input = Valid();
    c.mutate(input);
    auto result = repo_->Register(nurse, input);
    ASSERT_FALSE(result.has_value()) << c.field;
    EXPECT_EQ(result.error().code(), ErrorCode::kInvalidArgument) << c.field;
    EXPECT_NE(result.error().message().find(std::string("device.") + c.field),
              std::string::npos)
        << result.error().message();
  }
  // Boundaries that are fine.
  DeviceInput longest = Valid();
  longest.serial = std::string(64, 'Z');
  longest.firmware = "";
  EXPECT_TRUE(repo_->Register(nurse, longest));
  const auto changes = Count("SELECT count(*) FROM change_log");
  const auto events = Count("SELECT count(*) FROM audit_events");
  EXPECT_EQ(Count("SELECT count(*) FROM devices"), 1);

  // A second device with the same serial is refused.
  auto twin = repo_->Register(nurse, longest);
  ASSERT_FALSE(twin.has_value());
  EXPECT_EQ(twin.error().code(), ErrorCode::kAlreadyExists);
  EXPECT_EQ(Count("SELECT count(*) FROM devices"), 1);
  EXPECT_EQ(Count("SELECT count(*) FROM change_log"), changes);
  EXPECT_EQ(Count("SELECT count(*) FROM audit_events"), events);
}

TEST_F(DevicesTest, StaffRegisterTheAdminEditsAndDenialsAreAudited) {
  const Principal nurse = As(Role::kTechnician, site_);
  const Principal doctor = As(Role::kClinician, site_);
  const Principal admin = As(Role::kAdmin, std::nullopt);
  const Principal auditor = As(Role::kAuditor, std::nullopt);
  const Principal stranger = As(Role::kTechnician, other_site_);
  const std::string id = repo_->Register(doctor, Valid()).value();

  DeviceChanges firmware;
  firmware.firmware = "1.5.0";
  EXPECT_EQ(repo_->Update(nurse, id, firmware).error().code(),
            ErrorCode::kPermissionDenied);
  EXPECT_EQ(repo_->Update(doctor, id, firmware).error().code(),
            ErrorCode::kPermissionDenied);
  EXPECT_EQ(repo_->Get(auditor, id).error().code(),
            ErrorCode::kPermissionDenied);
  EXPECT_EQ(repo_->List(stranger, site_).error().code(),
            ErrorCode::kPermissionDenied);
  EXPECT_EQ(repo_->Register(stranger, Valid()).error().code(),
            ErrorCode::kPermissionDenied);
  EXPECT_EQ(Count("SELECT count(*) FROM audit_events WHERE "
                  "action = 'permission_denied' AND object_type = 'devices'"),
            5);
  EXPECT_EQ(repo_->Get(admin, id)->fields.firmware, "1.4.2");

  ASSERT_TRUE(repo_->Update(admin, id, firmware));
  EXPECT_EQ(repo_->Get(nurse, id)->fields.firmware, "1.5.0");
  DeviceChanges bad;
  bad.kind = "toaster";
  EXPECT_EQ(repo_->Update(admin, id, bad).error().code(),
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(repo_->Get(nurse, id)->fields.kind, "ecg");
  EXPECT_EQ(repo_->Update(admin, ids_.Next().ToString(), firmware)
                .error()
                .code(),
            ErrorCode::kNotFound);
  // The admin may rename the serial, but not onto another device's.
  DeviceInput other = Valid();
  other.serial = "ECG-0043";
  ASSERT_TRUE(repo_->Register(nurse, other));
  DeviceChanges clash;
  clash.serial = "ECG-0043";
  EXPECT_EQ(repo_->Update(admin, id, clash).error().code(),
            ErrorCode::kAlreadyExists);
  DeviceChanges same;
  same.serial = "ECG-0042_a.1";  // its own serial is not a clash
  EXPECT_TRUE(repo_->Update(admin, id, same));
}

}  // namespace
}  // namespace pulse::engine
