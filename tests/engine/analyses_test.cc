// Analyses through the whole local stack: a completed recording (patients,
// recordings, sealed blob store), then analysis runs stored and read back
// through the permission matrix, validation, one Commit per run and the
// audit chain, on an encrypted replica.
#include "pulse/engine/analyses.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <limits>
#include <string>
#include <vector>

#include "pulse/engine/audit.h"
#include "pulse/engine/clinic_schema.h"
#include "pulse/engine/data_key.h"
#include "pulse/engine/file_ops.h"
#include "pulse/engine/hash.h"
#include "pulse/engine/migrations.h"
#include "pulse/engine/patients.h"
#include "pulse/engine/recordings.h"
#include "pulse/engine/sealed_file_blob_store.h"
#include "support/manual_clock.h"

namespace pulse::engine {
namespace {

namespace fs = std::filesystem;

using ::pulse::testing::ManualClock;

constexpr std::int64_t kNowMs = 1'763'900'000'000;  // 2025-11-23
// The test recording: 3 leads, 500 Hz, 2 500 frames = 5 000 ms.
constexpr std::int64_t kFrames = 2500;
constexpr std::int64_t kDurationMs = 5000;

class AnalysesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::path(::testing::TempDir()) /
           (std::string("analyses_") + info->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    wall_.SetMs(kNowMs);
    site_ = ids_.Next();
    other_site_ = ids_.Next();
    std::array<std::uint8_t, kDatabaseKeyBytes> key{};
    key.fill(9);
    db_.emplace(
        Database::Open(dir_ / "replica.db", DatabaseKey(key), {}).value());
    ASSERT_TRUE(Migrate(*db_, schema::ClinicMigrations(), wall_));
    writer_ = LocalWriter::Create(*db_, clock_, ids_, site_.ToString()).value();
    audit_.emplace(*db_, wall_, clock_, ids_, site_, ids_.Next());
    std::array<std::uint8_t, DataKey::kSize> raw{};
    raw.fill(7);
    blobs_ = SealedFileBlobStore::Open(
                 dir_ / "blobs", DataKey::FromBytes(raw).value(), RealFileOps())
                 .value();
    patients_.emplace(*db_, *writer_, *audit_, wall_, ids_, site_);
    recordings_.emplace(*db_, *writer_, *audit_, *blobs_, wall_, ids_, site_);
    repo_.emplace(*db_, *writer_, *audit_, ids_);

    nurse_ = As(Role::kTechnician, site_);
    patient_ =
        patients_
            ->Register(nurse_, PatientInput{"KSM-0042", "Akinyi", "Odhiambo",
                                            "1984-03-17", "F", "", ""})
            .value();
    RowWrite device{
        "devices",
        ids_.Next().ToString(),
        Op::kUpsert,
        {{"site_id", site_.ToString()}, {"kind", std::string("ecg")}}};
    ASSERT_TRUE(writer_->Commit(std::span<const RowWrite>(&device, 1),
                                ids_.Next().ToString()));
    device_ = device.row;
    recording_ = Record(/*complete=*/true);
  }
  void TearDown() override {
    repo_.reset();
    recordings_.reset();
    patients_.reset();
    blobs_.reset();
    audit_.reset();
    writer_.reset();
    db_.reset();
    fs::remove_all(dir_);
  }

  Principal As(Role role, std::optional<Uuid> site) {
    return Principal{ids_.Next(), role, site};
  }
  // A recording of leads I, II, V5 holding kFrames frames.
  std::string Record(bool complete) {
    const std::string id =
        recordings_
            ->Start(
                nurse_,
                RecordingStart{
                    patient_, device_, kNowMs, 500.0, {"I", "II", "V5"}, 5000})
            .value();
    std::vector<std::int16_t> samples(static_cast<std::size_t>(kFrames * 3));
    for (std::size_t i = 0; i < samples.size(); ++i) {
      samples[i] = static_cast<std::int16_t>((i * 37) % 400);
    }
    EXPECT_TRUE(recordings_->AppendSegment(nurse_, id, 0, 0, samples, 3));
    if (complete) {
      EXPECT_TRUE(recordings_->Complete(nurse_, id, kNowMs + 5000, "good"));
    }
    return id;
  }
  AnalysisInput Valid() const {
    AnalysisInput in;
    in.recording_id = recording_;
    in.algorithm_version = "pulse-dsp-1.4.0";
    in.analysed_at_ms = kNowMs + 6000;
    in.measurements = {{"heart_rate", std::nullopt, 72.5, "bpm"},
                       {"qrs_duration", std::nullopt, 96, "ms"},
                       {"r_amplitude", "V5", 1850.0, "uV"},
                       {"r_amplitude", "II", 1200.0, "uV"},
                       {"rr_ratio", std::nullopt, 0.98, "1"}};
    in.findings = {
        {"sinus_rhythm", "Sinus rhythm", 0, kDurationMs, 1, 0.97},
        {"pvc", "Premature ventricular complex", 1200, 1300, 2, 0.8}};
    return in;
  }
  std::int64_t Count(const std::string& sql) {
    auto stmt = db_->Prepare(sql);
    EXPECT_TRUE(stmt.has_value()) << stmt.error().ToString();
    EXPECT_TRUE(stmt->Step().value());
    return stmt->ColumnInt64(0).value();
  }
  struct Snapshot {
    std::int64_t analyses, measurements, findings, change_log, audit;
    bool operator==(const Snapshot&) const = default;
  };
  Snapshot Take() {
    return Snapshot{Count("SELECT count(*) FROM analyses"),
                    Count("SELECT count(*) FROM measurements"),
                    Count("SELECT count(*) FROM findings"),
                    Count("SELECT count(*) FROM change_log"),
                    Count("SELECT count(*) FROM audit_events")};
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
  std::unique_ptr<SealedFileBlobStore> blobs_;
  std::optional<PatientRepository> patients_;
  std::optional<RecordingRepository> recordings_;
  std::optional<AnalysisRepository> repo_;
  Principal nurse_;
  std::string patient_, device_, recording_;
};

TEST_F(AnalysesTest, StoredRunReadsBackWholeFromOneAuditedCommit) {
  const Snapshot before = Take();
  const AnalysisInput in = Valid();
  const std::string id = repo_->Store(nurse_, in).value();
  // One row per result, one audit event, each a change entry: all in one
  // Commit (one HLC high-water raise, so consecutive change_log seqs).
  const Snapshot after = Take();
  EXPECT_EQ(after.analyses, before.analyses + 1);
  EXPECT_EQ(after.measurements, before.measurements + 5);
  EXPECT_EQ(after.findings, before.findings + 2);
  EXPECT_EQ(after.audit, before.audit + 1);
  EXPECT_EQ(after.change_log, before.change_log + 1 + 5 + 2 + 1);
  EXPECT_EQ(Count("SELECT count(*) FROM measurements WHERE analysis_id = '" +
                  id + "' AND recording_id = '" + recording_ +
                  "' AND site_id = '" + site_.ToString() + "'"),
            5);

  const Principal doctor = As(Role::kClinician, site_);
  const Analysis a = repo_->ForRecording(doctor, recording_).value();
  EXPECT_EQ(a.id, id);
  EXPECT_EQ(a.recording_id, recording_);
  EXPECT_EQ(a.site_id, site_.ToString());
  EXPECT_EQ(a.algorithm_version, in.algorithm_version);
  EXPECT_EQ(a.analysed_at_ms, in.analysed_at_ms);
  EXPECT_EQ(a.measurements, in.measurements);
  EXPECT_EQ(a.findings, in.findings);

  const auto chain = Chain();
  ASSERT_GE(chain.size(), 2u);
  const AuditEvent& created = chain[chain.size() - 2].event;
  const AuditEvent& viewed = chain.back().event;
  EXPECT_EQ(created.action, AuditAction::kCreate);
  EXPECT_EQ(created.object_type, "analyses");
  EXPECT_EQ(created.object_id, id);
  EXPECT_EQ(created.patient, patient_);
  EXPECT_EQ(viewed.action, AuditAction::kView);
  EXPECT_EQ(viewed.object_id, id);
  EXPECT_EQ(viewed.patient, patient_);
  EXPECT_EQ(viewed.actor, doctor.user_id.ToString());
  EXPECT_TRUE(VerifyChain(site_, chain).ok);
}

TEST_F(AnalysesTest, LatestStoredRunWinsWhateverItsWallClockSays) {
  AnalysisInput first = Valid();
  const std::string a = repo_->Store(nurse_, first).value();
  // A re-run on a PC whose clock went back a day: stored later, so latest.
  AnalysisInput rerun = Valid();
  rerun.algorithm_version = "pulse-dsp-1.5.0";
  rerun.analysed_at_ms = kNowMs - 86'400'000;
  rerun.measurements.resize(1);
  rerun.findings.clear();
  const std::string b = repo_->Store(nurse_, rerun).value();
  ASSERT_NE(a, b);
  // Another recording's run is not mixed in.
  const std::string other = Record(/*complete=*/true);
  AnalysisInput elsewhere = Valid();
  elsewhere.recording_id = other;
  ASSERT_TRUE(repo_->Store(nurse_, elsewhere));

  const Analysis latest = repo_->ForRecording(nurse_, recording_).value();
  EXPECT_EQ(latest.id, b);
  EXPECT_EQ(latest.algorithm_version, "pulse-dsp-1.5.0");
  EXPECT_EQ(latest.measurements, rerun.measurements);
  EXPECT_TRUE(latest.findings.empty());
  EXPECT_EQ(repo_->ForRecording(nurse_, other)->measurements.size(), 5u);
}

TEST_F(AnalysesTest, BadValuesAreTypedErrorsAndNothingIsWritten) {
  struct Case {
    const char* field;
    void (*mutate)(AnalysisInput&);
  };
  const Case cases[] = {
      {"recording_id", [](AnalysisInput& a) { a.recording_id = "rec-1"; }},
      {"algorithm_version", [](AnalysisInput& a) { a.algorithm_version = ""; }},
      {"algorithm_version",
       [](AnalysisInput& a) { a.algorithm_version = "dsp 1.4"; }},
      {"algorithm_version",
       [](AnalysisInput& a) { a.algorithm_version = std::string(65, 'v'); }},
      {"analysed_at_ms", [](AnalysisInput& a) { a.analysed_at_ms = -1; }},
      {"measurements[0].name",
       [](AnalysisInput& a) { a.measurements[0].name = "Heart rate"; }},
      {"measurements[1].name",
       [](AnalysisInput& a) { a.measurements[1].name = ""; }},
      {"measurements[2].lead",
       [](AnalysisInput& a) {
         a.measurements[2].lead = "V1";
       }},  // not recorded
      {"measurements[2].lead",
       [](AnalysisInput& a) { a.measurements[2].lead = "v5"; }},
      {"measurements[0].value",
       [](AnalysisInput& a) {
         a.measurements[0].value = std::numeric_limits<double>::quiet_NaN();
       }},
      {"measurements[1].value",
       [](AnalysisInput& a) {
         a.measurements[1].value = -std::numeric_limits<double>::infinity();
       }},
      {"measurements[0].unit",
       [](AnalysisInput& a) { a.measurements[0].unit = ""; }},
      {"measurements[0].unit",
       [](AnalysisInput& a) { a.measurements[0].unit = "beats/min "; }},
      {"measurements[0].unit",
       [](AnalysisInput& a) { a.measurements[0].unit = "\xc2\xb5V"; }},
      {"measurements[3].name",  // same name and lead twice
       [](AnalysisInput& a) { a.measurements[3].lead = "V5"; }},
      {"measurements[5].name",
       [](AnalysisInput& a) { a.measurements.push_back(a.measurements[0]); }},
      {"analysis.measurements: more than",
       [](AnalysisInput& a) {
         a.measurements.clear();
         for (int i = 0; i < 1001; ++i) {
           a.measurements.push_back(
               {"m" + std::to_string(i), std::nullopt, 1.0, "ms"});
         }
       }},
      {"findings[0].code", [](AnalysisInput& a) { a.findings[0].code = "AF"; }},
      {"findings[0].label", [](AnalysisInput& a) { a.findings[0].label = ""; }},
      {"findings[0].label",
       [](AnalysisInput& a) { a.findings[0].label = "Sinus\nrhythm"; }},
      {"findings[0].label",
       [](AnalysisInput& a) { a.findings[0].label = "Sinus \xff"; }},
      {"findings[0].label",
       [](AnalysisInput& a) { a.findings[0].label = std::string(201, 'x'); }},
      {"findings[1].onset_ms",
       [](AnalysisInput& a) { a.findings[1].onset_ms = -1; }},
      {"findings[1].offset_ms",
       [](AnalysisInput& a) { a.findings[1].offset_ms = 1199; }},
      {"findings[0].offset_ms",
       [](AnalysisInput& a) { a.findings[0].offset_ms = kDurationMs + 1; }},
      {"findings[1].count", [](AnalysisInput& a) { a.findings[1].count = 0; }},
      {"findings[1].confidence",
       [](AnalysisInput& a) { a.findings[1].confidence = 1.01; }},
      {"findings[1].confidence",
       [](AnalysisInput& a) { a.findings[1].confidence = -0.01; }},
      {"findings[1].confidence",
       [](AnalysisInput& a) {
         a.findings[1].confidence = std::numeric_limits<double>::quiet_NaN();
       }},
  };
  const Snapshot before = Take();
  for (const Case& c : cases) {
    AnalysisInput input = Valid();
    c.mutate(input);
    auto result = repo_->Store(nurse_, input);
    ASSERT_FALSE(result.has_value()) << c.field;
    EXPECT_EQ(result.error().code(), ErrorCode::kInvalidArgument)
        << result.error().ToString();
    const std::string field = c.field;
    const std::string want =
        field.rfind("analysis.", 0) == 0 ? field : "analysis." + field;
    EXPECT_NE(result.error().message().find(want), std::string::npos)
        << result.error().message() << " (wanted " << want << ")";
  }
  EXPECT_EQ(Take(), before);
  // The edges themselves are accepted.
  AnalysisInput edges = Valid();
  edges.findings[0].onset_ms = kDurationMs;
  edges.findings[0].confidence = 0.0;
  edges.findings[1].confidence = 1.0;
  edges.measurements[0].value = -0.0;
  EXPECT_TRUE(repo_->Store(nurse_, edges).has_value());
}

TEST_F(AnalysesTest, OnlyCompleteRecordingsWithinReachAreAnalysed) {
  const std::string growing = Record(/*complete=*/false);
  const std::string failed = Record(/*complete=*/false);
  ASSERT_TRUE(recordings_->MarkFailed(nurse_, failed, "lead_off"));
  const Snapshot before = Take();
  for (const std::string& id : {growing, failed}) {
    AnalysisInput input = Valid();
    input.recording_id = id;
    auto result = repo_->Store(nurse_, input);
    ASSERT_FALSE(result.has_value());
    EXPECT_EQ(result.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(result.error().message().find("analysis.recording_id"),
              std::string::npos);
  }
  AnalysisInput unknown = Valid();
  unknown.recording_id = ids_.Next().ToString();
  EXPECT_EQ(repo_->Store(nurse_, unknown).error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(repo_->ForRecording(nurse_, unknown.recording_id).error().code(),
            ErrorCode::kNotFound);
  EXPECT_EQ(repo_->ForRecording(nurse_, "rec-1").error().code(),
            ErrorCode::kInvalidArgument);
  // No analysis yet: nothing to show, nothing audited.
  EXPECT_EQ(repo_->ForRecording(nurse_, recording_).error().code(),
            ErrorCode::kNotFound);
  EXPECT_EQ(Take(), before);
}

TEST_F(AnalysesTest, RolesAreEnforcedAndDenialsAudited) {
  const Principal admin = As(Role::kAdmin, std::nullopt);
  const Principal auditor = As(Role::kAuditor, std::nullopt);
  const Principal stranger = As(Role::kClinician, other_site_);
  const Principal doctor = As(Role::kClinician, site_);
  const std::int64_t denials_before = Count(
      "SELECT count(*) FROM audit_events WHERE action = 'permission_denied'");

  // Nobody but the site's recording staff authors results; the admin reads
  // them, the auditor does not.
  for (const Principal* who : {&admin, &auditor, &stranger}) {
    EXPECT_EQ(repo_->Store(*who, Valid()).error().code(),
              ErrorCode::kPermissionDenied);
  }
  EXPECT_EQ(Count("SELECT count(*) FROM analyses"), 0);
  EXPECT_EQ(Count("SELECT count(*) FROM measurements"), 0);
  EXPECT_EQ(Count("SELECT count(*) FROM findings"), 0);
  const std::string id = repo_->Store(doctor, Valid()).value();
  for (const Principal* who : {&auditor, &stranger}) {
    EXPECT_EQ(repo_->ForRecording(*who, recording_).error().code(),
              ErrorCode::kPermissionDenied);
  }
  EXPECT_EQ(repo_->ForRecording(admin, recording_)->id, id);
  EXPECT_EQ(repo_->ForRecording(nurse_, recording_)->id, id);

  EXPECT_EQ(Count("SELECT count(*) FROM audit_events WHERE action = "
                  "'permission_denied' AND outcome = 'denied' AND "
                  "object_type = 'analyses' AND patient = '" +
                  patient_ + "'"),
            denials_before + 5);
  EXPECT_TRUE(VerifyChain(site_, Chain()).ok);
}

}  // namespace
}  // namespace pulse::engine
