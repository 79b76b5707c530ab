// Recordings through the whole local stack: permission matrix, validation,
// the waveform codec, the sealed blob store, the local write path and the
// audit chain, on an encrypted replica.
#include "pulse/engine/recordings.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <numbers>
#include <random>
#include <string>
#include <vector>

#include "pulse/engine/audit.h"
#include "pulse/engine/clinic_schema.h"
#include "pulse/engine/data_key.h"
#include "pulse/engine/file_ops.h"
#include "pulse/engine/hash.h"
#include "pulse/engine/migrations.h"
#include "pulse/engine/patients.h"
#include "pulse/engine/sealed_file_blob_store.h"
#include "support/manual_clock.h"

namespace pulse::engine {
namespace {

namespace fs = std::filesystem;

using ::pulse::testing::ManualClock;

constexpr std::int64_t kNowMs = 1'763'900'000'000;  // 2025-11-23
constexpr auto kBusyTimeout = std::chrono::milliseconds(200);

const std::vector<std::string> kTwelveLeads = {
    "I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6"};

class RecordingsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::path(::testing::TempDir()) /
           (std::string("recordings_") + info->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    wall_.SetMs(kNowMs);
    site_ = ids_.Next();
    other_site_ = ids_.Next();
    key_.fill(9);
    DatabaseOptions options;
    options.busy_timeout = kBusyTimeout;
    db_.emplace(Database::Open(dir_ / "replica.db", DatabaseKey(key_), options)
                    .value());
    ASSERT_TRUE(Migrate(*db_, schema::ClinicMigrations(), wall_));
    writer_ = LocalWriter::Create(*db_, clock_, ids_, site_.ToString()).value();
    audit_.emplace(*db_, wall_, clock_, ids_, site_, ids_.Next());
    std::array<std::uint8_t, DataKey::kSize> raw{};
    raw.fill(7);
    blobs_ = SealedFileBlobStore::Open(
                 dir_ / "blobs", DataKey::FromBytes(raw).value(), RealFileOps())
                 .value();
    patients_.emplace(*db_, *writer_, *audit_, wall_, ids_, site_);
    repo_.emplace(*db_, *writer_, *audit_, *blobs_, wall_, ids_, site_);

    nurse_ = As(Role::kTechnician, site_);
    patient_ = patients_->Register(nurse_, PatientA()).value();
    device_ = AddDevice(site_);
  }
  void TearDown() override {
    repo_.reset();
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
  static PatientInput PatientA() {
    return PatientInput{"KSM-0042", "Akinyi", "Odhiambo", "1984-03-17",
                        "F",        "",       ""};
  }
  // A device row as the admin's sync would deliver it.
  std::string AddDevice(const Uuid& site) {
    RowWrite device{"devices",
                    ids_.Next().ToString(),
                    Op::kUpsert,
                    {{"site_id", site.ToString()},
                     {"serial", std::string("ECG-1")},
                     {"kind", std::string("ecg")}}};
    EXPECT_TRUE(writer_->Commit(std::span<const RowWrite>(&device, 1),
                                ids_.Next().ToString()));
    return device.row;
  }
  // A row of another replica's site, as sync would deliver it.
  std::string AddForeignRow(const std::string& table,
                            std::map<std::string, FieldValue> fields) {
    RowWrite row{table, ids_.Next().ToString(), Op::kUpsert, std::move(fields)};
    EXPECT_TRUE(writer_->Commit(std::span<const RowWrite>(&row, 1),
                                ids_.Next().ToString()));
    return row.row;
  }
  RecordingStart Valid(std::vector<std::string> leads = kTwelveLeads) {
    return RecordingStart{patient_, device_,          kNowMs,
                          500.0,    std::move(leads), 5000};
  }
  std::int64_t Count(const std::string& sql) {
    auto stmt = db_->Prepare(sql);
    EXPECT_TRUE(stmt.has_value()) << stmt.error().ToString();
    EXPECT_TRUE(stmt->Step().value());
    return stmt->ColumnInt64(0).value();
  }
  std::size_t BlobFiles() {
    std::size_t n = 0;
    for (const auto& entry : fs::recursive_directory_iterator(dir_ / "blobs")) {
      if (entry.is_regular_file()) ++n;
    }
    return n;
  }
  // Everything a refused or invalid call must leave as it was.
  struct Snapshot {
    std::int64_t recordings, segments, change_log, audit, blob_rows;
    std::size_t blob_files;
    bool operator==(const Snapshot&) const = default;
  };
  Snapshot Take() {
    return Snapshot{Count("SELECT count(*) FROM recordings"),
                    Count("SELECT count(*) FROM recording_segments"),
                    Count("SELECT count(*) FROM change_log"),
                    Count("SELECT count(*) FROM audit_events"),
                    Count("SELECT count(*) FROM blobs"),
                    BlobFiles()};
  }
  std::vector<ChainedEvent> Chain() {
    return ReadAuditChain(*db_, site_).value();
  }
  // Synthetic ECG-like channels: a slow baseline, a sharp spike every
  // beat, noise, and now and then a full-scale sample, so that the codec's
  // prediction and its raw fallback are both exercised.
  static std::vector<std::int16_t> Signal(std::int64_t frames, int channels,
                                          std::mt19937& rng) {
    std::normal_distribution<double> noise(0.0, 6.0);
    std::vector<std::int16_t> out;
    out.reserve(static_cast<std::size_t>(frames * channels));
    for (std::int64_t f = 0; f < frames; ++f) {
      for (int c = 0; c < channels; ++c) {
        const double t = static_cast<double>(f) / 500.0;
        double v = 80.0 * std::sin(2 * std::numbers::pi * 0.3 * t + c) +
                   ((f % 400) < 12 ? 900.0 * (c % 3 == 1 ? -1 : 1) : 0.0) +
                   noise(rng);
        if (rng() % 997 == 0) v = (rng() % 2) ? 32767 : -32768;
        out.push_back(
            static_cast<std::int16_t>(std::clamp(v, -32768.0, 32767.0)));
      }
    }
    return out;
  }
  // Appends `samples` in the given chunk sizes (frames), in order.
  void AppendAll(const Principal& who, const std::string& id,
                 const std::vector<std::int16_t>& samples, int channels,
                 const std::vector<std::int64_t>& chunks) {
    std::int64_t frame = 0;
    std::int64_t seq = 0;
    for (std::int64_t n : chunks) {
      const auto begin = samples.begin() + frame * channels;
      std::span<const std::int16_t> part(
          &*begin, static_cast<std::size_t>(n * channels));
      auto seg = repo_->AppendSegment(who, id, seq, frame, part, channels);
      ASSERT_TRUE(seg.has_value()) << seg.error().ToString();
      EXPECT_EQ(seg->frame_count, n);
      frame += n;
      ++seq;
    }
  }

  fs::path dir_;
  ManualClock wall_;
  UuidV7Generator ids_{wall_};
  HybridClock clock_{HybridClock::Options{&wall_, Hlc()}};
  Uuid site_, other_site_;
  std::array<std::uint8_t, kDatabaseKeyBytes> key_{};
  std::optional<Database> db_;
  std::unique_ptr<LocalWriter> writer_;
  std::optional<AuditLog> audit_;
  std::unique_ptr<SealedFileBlobStore> blobs_;
  std::optional<PatientRepository> patients_;
  std::optional<RecordingRepository> repo_;
  Principal nurse_;
  std::string patient_, device_;
};

TEST_F(RecordingsTest, SamplesRoundTripThroughRandomChunkings) {
  const std::uint32_t seed = static_cast<std::uint32_t>(
      ::testing::UnitTest::GetInstance()->random_seed());
  std::mt19937 rng(seed);
  const std::vector<std::vector<std::string>> layouts = {
      {"II"},
      {"I", "II", "III"},
      {"V1", "V2", "V3", "V4", "V5", "V6", "I", "II"},
      kTwelveLeads};
  for (const auto& leads : layouts) {
    SCOPED_TRACE("leads=" + std::to_string(leads.size()) +
                 " seed=" + std::to_string(seed));
    const int channels = static_cast<int>(leads.size());
    const std::int64_t frames = 1500 + static_cast<std::int64_t>(rng() % 3000);
    const auto samples = Signal(frames, channels, rng);
    // Random chunk sizes, with a single-frame chunk in the mix.
    std::vector<std::int64_t> chunks;
    for (std::int64_t left = frames; left > 0;) {
      std::int64_t n =
          chunks.size() == 1 ? 1 : 1 + static_cast<std::int64_t>(rng() % 1800);
      n = std::min(n, left);
      chunks.push_back(n);
      left -= n;
    }
    const std::string id = repo_->Start(nurse_, Valid(leads)).value();
    AppendAll(nurse_, id, samples, channels, chunks);
    ASSERT_TRUE(repo_->Complete(nurse_, id, kNowMs + 9'000, "good"));

    EXPECT_EQ(repo_->ReadSamples(nurse_, id).value(), samples);
    const Recording r = repo_->Get(nurse_, id).value();
    EXPECT_EQ(r.status, RecordingStatus::kComplete);
    EXPECT_EQ(r.lead_names, leads);
    EXPECT_EQ(r.operator_id, nurse_.user_id.ToString());
    EXPECT_EQ(r.ended_at_ms, kNowMs + 9'000);
    EXPECT_EQ(r.quality, "good");
    ASSERT_EQ(r.segments.size(), chunks.size());
    EXPECT_EQ(r.segment_count, static_cast<std::int64_t>(chunks.size()));
    std::int64_t frame = 0;
    for (std::size_t i = 0; i < chunks.size(); ++i) {
      EXPECT_EQ(r.segments[i].seq, static_cast<std::int64_t>(i));
      EXPECT_EQ(r.segments[i].first_frame, frame);
      EXPECT_EQ(r.segments[i].frame_count, chunks[i]);
      EXPECT_TRUE(blobs_->Contains(r.segments[i].blob_sha256).value());
      frame += chunks[i];
    }
  }
  // Every stored blob is indexed for upload, with its size.
  auto stmt = db_->Prepare("SELECT sha256, size_bytes, uploaded FROM blobs");
  std::int64_t indexed = 0;
  while (stmt->Step().value()) {
    ++indexed;
    EXPECT_EQ(static_cast<std::uint64_t>(stmt->ColumnInt64(1).value()),
              blobs_->Size(stmt->ColumnText(0).value()).value());
    EXPECT_EQ(stmt->ColumnInt64(2).value(), 0);
  }
  EXPECT_EQ(indexed, Count("SELECT count(DISTINCT blob_sha256) FROM "
                           "recording_segments"));
  EXPECT_EQ(static_cast<std::size_t>(indexed), BlobFiles());
  EXPECT_TRUE(VerifyChain(site_, Chain()).ok);
}

TEST_F(RecordingsTest, StartValidatesEveryFieldAndWritesNothing) {
  struct Case {
    const char* field;
    void (*mutate)(RecordingStart&);
  };
  const Case cases[] = {
      {"patient_id", [](RecordingStart& r) { r.patient_id = "KSM-0042"; }},
      {"patient_id",
       [](RecordingStart& r) {
         for (char& c : r.patient_id) c = static_cast<char>(std::toupper(c));
       }},
      {"device_id", [](RecordingStart& r) { r.device_id = ""; }},
      {"started_at_ms", [](RecordingStart& r) { r.started_at_ms = -1; }},
      {"started_at_ms",
       [](RecordingStart& r) { r.started_at_ms = Hlc::kMaxPhysicalMs + 1; }},
      {"sample_rate_hz", [](RecordingStart& r) { r.sample_rate_hz = 0; }},
      {"sample_rate_hz", [](RecordingStart& r) { r.sample_rate_hz = -500; }},
      {"sample_rate_hz",
       [](RecordingStart& r) { r.sample_rate_hz = std::nan(""); }},
      {"sample_rate_hz",
       [](RecordingStart& r) {
         r.sample_rate_hz = std::numeric_limits<double>::infinity();
       }},
      {"sample_rate_hz",
       [](RecordingStart& r) { r.sample_rate_hz = 500.0004; }},
      {"sample_rate_hz", [](RecordingStart& r) { r.sample_rate_hz = 200'000; }},
      {"lead_names", [](RecordingStart& r) { r.lead_names.clear(); }},
      {"lead_names",
       [](RecordingStart& r) {
         r.lead_names = {"I", "V7"};
       }},
      {"lead_names", [](RecordingStart& r) { r.lead_names = {"avr"}; }},
      {"lead_names",
       [](RecordingStart& r) {
         r.lead_names = {"II", "II"};
       }},
      {"lead_names", [](RecordingStart& r) { r.lead_names = {"I,II"}; }},
      {"lead_names", [](RecordingStart& r) { r.lead_names.push_back("I"); }},
      {"lsb_nv", [](RecordingStart& r) { r.lsb_nv = 0; }},
      {"lsb_nv", [](RecordingStart& r) { r.lsb_nv = 1'000'001; }},
  };
  const Snapshot before = Take();
  for (const Case& c : cases) {
    RecordingStart input = Valid();
    c.mutate(input);
    auto result = repo_->Start(nurse_, input);
    ASSERT_FALSE(result.has_value()) << c.field;
    EXPECT_EQ(result.error().code(), ErrorCode::kInvalidArgument)
        << result.error().ToString();
    EXPECT_NE(
        result.error().message().find(std::string("recording.") + c.field),
        std::string::npos)
        << result.error().message();
    // Errors name fields, never the values (which may be patient data).
    EXPECT_EQ(result.error().message().find("KSM-0042"), std::string::npos);
  }
  EXPECT_EQ(Take(), before);
}

TEST_F(RecordingsTest, StartNeedsALivePatientAndDeviceInReach) {
  const Principal doctor = As(Role::kClinician, site_);
  const std::string removed = patients_->Register(doctor, PatientA()).value();
  ASSERT_TRUE(patients_->Remove(doctor, removed));
  const std::string foreign_patient =
      AddForeignRow("patients", {{"site_id", other_site_.ToString()},
                                 {"mrn", std::string("NKR-1")},
                                 {"family_name", std::string("Kamau")}});
  const std::string foreign_device = AddDevice(other_site_);
  const Snapshot before = Take();

  auto start = [&](const std::string& patient, const std::string& device) {
    RecordingStart input = Valid();
    input.patient_id = patient;
    input.device_id = device;
    return repo_->Start(doctor, input);
  };
  for (const std::string& patient :
       {ids_.Next().ToString(), removed, foreign_patient}) {
    auto result = start(patient, device_);
    ASSERT_FALSE(result.has_value());
    EXPECT_EQ(result.error().code(), ErrorCode::kNotFound);
    EXPECT_NE(result.error().message().find("recording.patient_id"),
              std::string::npos);
  }
  for (const std::string& device : {ids_.Next().ToString(), foreign_device}) {
    auto result = start(patient_, device);
    ASSERT_FALSE(result.has_value());
    EXPECT_EQ(result.error().code(), ErrorCode::kNotFound);
    EXPECT_NE(result.error().message().find("recording.device_id"),
              std::string::npos);
  }
  EXPECT_EQ(Take(), before);
  EXPECT_TRUE(start(patient_, device_).has_value());
}

TEST_F(RecordingsTest, AppendEnforcesOrderAndShapeAndWritesNothingOnError) {
  std::mt19937 rng(7);
  const std::vector<std::string> leads = {"I", "II", "V5"};
  const std::string id = repo_->Start(nurse_, Valid(leads)).value();
  const auto samples = Signal(300, 3, rng);
  std::span<const std::int16_t> first(samples.data(), 100 * 3);
  ASSERT_TRUE(repo_->AppendSegment(nurse_, id, 0, 0, first, 3));
  std::span<const std::int16_t> next(samples.data() + 300, 100 * 3);

  struct Case {
    const char* field;
    std::int64_t seq, first_frame;
    std::span<const std::int16_t> samples;
    int channels;
  };
  const Case cases[] = {
      {"segment.seq", 0, 100, next, 3},          // repeated
      {"segment.seq", 2, 100, next, 3},          // skips one
      {"segment.first_frame", 1, 99, next, 3},   // overlap
      {"segment.first_frame", 1, 101, next, 3},  // gap
      {"segment.channels", 1, 100, next.first(297), 1},
      {"segment.channels", 1, 100, next, 12},
      {"segment.samples", 1, 100, {}, 3},
      {"segment.samples", 1, 100, next.first(299), 3},
  };
  const Snapshot before = Take();
  for (const Case& c : cases) {
    auto result = repo_->AppendSegment(nurse_, id, c.seq, c.first_frame,
                                       c.samples, c.channels);
    ASSERT_FALSE(result.has_value()) << c.field;
    EXPECT_EQ(result.error().code(), ErrorCode::kInvalidArgument)
        << result.error().ToString();
    EXPECT_NE(result.error().message().find(c.field), std::string::npos)
        << result.error().message();
  }
  auto unknown =
      repo_->AppendSegment(nurse_, ids_.Next().ToString(), 1, 100, next, 3);
  ASSERT_FALSE(unknown.has_value());
  EXPECT_EQ(unknown.error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(Take(), before);

  ASSERT_TRUE(repo_->AppendSegment(nurse_, id, 1, 100, next, 3));
  ASSERT_TRUE(repo_->Complete(nurse_, id, kNowMs + 1000, "fair"));
  // Complete is final: no more samples, no second ending.
  const Snapshot done = Take();
  std::span<const std::int16_t> last(samples.data() + 600, 100 * 3);
  auto late = repo_->AppendSegment(nurse_, id, 2, 200, last, 3);
  ASSERT_FALSE(late.has_value());
  EXPECT_EQ(late.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(late.error().message().find("recording.status"), std::string::npos);
  EXPECT_EQ(repo_->MarkFailed(nurse_, id, "cancelled").error().code(),
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(repo_->Complete(nurse_, id, kNowMs + 2000, "good").error().code(),
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(Take(), done);
  EXPECT_EQ(repo_->ReadSamples(nurse_, id).value(),
            std::vector<std::int16_t>(samples.begin(), samples.begin() + 600));
}

TEST_F(RecordingsTest, CompleteAndFailRules) {
  const std::string empty = repo_->Start(nurse_, Valid()).value();
  std::mt19937 rng(3);
  const auto samples = Signal(50, 12, rng);
  struct Case {
    const char* field;
    std::int64_t ended_at_ms;
    const char* quality;
  };
  // A recording with no samples cannot be complete.
  auto none = repo_->Complete(nurse_, empty, kNowMs + 10, "good");
  ASSERT_FALSE(none.has_value());
  EXPECT_NE(none.error().message().find("recording.segment_count"),
            std::string::npos);

  const std::string id = repo_->Start(nurse_, Valid()).value();
  ASSERT_TRUE(repo_->AppendSegment(nurse_, id, 0, 0, samples, 12));
  const Snapshot started = Take();
  const Case cases[] = {
      {"recording.ended_at_ms", kNowMs - 1, "good"},
      {"recording.ended_at_ms", Hlc::kMaxPhysicalMs + 1, "good"},
      {"recording.quality", kNowMs + 10, "Good"},
      {"recording.quality", kNowMs + 10, ""},
      {"recording.quality", kNowMs + 10, "very good"},
  };
  for (const Case& c : cases) {
    auto result = repo_->Complete(nurse_, id, c.ended_at_ms, c.quality);
    ASSERT_FALSE(result.has_value()) << c.field;
    EXPECT_EQ(result.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(result.error().message().find(c.field), std::string::npos)
        << result.error().message();
  }
  auto bad_reason = repo_->MarkFailed(nurse_, id, "lead off!");
  ASSERT_FALSE(bad_reason.has_value());
  EXPECT_NE(bad_reason.error().message().find("recording.reason"),
            std::string::npos);
  EXPECT_EQ(Take(), started);

  // Failing stamps the wall clock, but never before the start (the clock
  // went back 1 h since).
  wall_.AdvanceMs(-3'600'000);
  ASSERT_TRUE(repo_->MarkFailed(nurse_, empty, "device_lost"));
  const Recording failed = repo_->Get(nurse_, empty).value();
  EXPECT_EQ(failed.status, RecordingStatus::kFailed);
  EXPECT_EQ(failed.quality, "device_lost");
  EXPECT_EQ(failed.ended_at_ms, kNowMs);
  EXPECT_EQ(repo_->ReadSamples(nurse_, empty).value().size(), 0u);
  EXPECT_EQ(repo_->MarkFailed(nurse_, empty, "cancelled").error().code(),
            ErrorCode::kInvalidArgument);
  EXPECT_TRUE(VerifyChain(site_, Chain()).ok);
}

TEST_F(RecordingsTest, RolesAreEnforcedAndDenialsAudited) {
  std::mt19937 rng(5);
  const auto samples = Signal(40, 12, rng);
  const std::string id = repo_->Start(nurse_, Valid()).value();
  ASSERT_TRUE(repo_->AppendSegment(nurse_, id, 0, 0, samples, 12));
  const Principal admin = As(Role::kAdmin, std::nullopt);
  const Principal auditor = As(Role::kAuditor, std::nullopt);
  const Principal stranger = As(Role::kClinician, other_site_);
  const auto before_segments = Count("SELECT count(*) FROM recording_segments");

  // Admins read every site but author no clinical data; auditors read no
  // patient rows; other sites' staff reach nothing here.
  EXPECT_EQ(repo_->Start(admin, Valid()).error().code(),
            ErrorCode::kPermissionDenied);
  EXPECT_EQ(repo_->Start(auditor, Valid()).error().code(),
            ErrorCode::kPermissionDenied);
  EXPECT_EQ(repo_->Start(stranger, Valid()).error().code(),
            ErrorCode::kPermissionDenied);
  EXPECT_EQ(
      repo_->AppendSegment(stranger, id, 1, 40, samples, 12).error().code(),
      ErrorCode::kPermissionDenied);
  EXPECT_EQ(repo_->AppendSegment(admin, id, 1, 40, samples, 12).error().code(),
            ErrorCode::kPermissionDenied);
  EXPECT_EQ(repo_->Complete(auditor, id, kNowMs + 1, "good").error().code(),
            ErrorCode::kPermissionDenied);
  EXPECT_EQ(repo_->Get(auditor, id).error().code(),
            ErrorCode::kPermissionDenied);
  EXPECT_EQ(repo_->ReadSamples(stranger, id).error().code(),
            ErrorCode::kPermissionDenied);
  EXPECT_EQ(repo_->Recent(auditor, 10).error().code(),
            ErrorCode::kPermissionDenied);
  EXPECT_EQ(repo_->ForPatient(auditor, patient_, 10).error().code(),
            ErrorCode::kPermissionDenied);
  EXPECT_EQ(Count("SELECT count(*) FROM recordings"), 1);
  EXPECT_EQ(Count("SELECT count(*) FROM recording_segments"), before_segments);
  EXPECT_EQ(Count("SELECT count(*) FROM audit_events WHERE "
                  "action = 'permission_denied' AND outcome = 'denied'"),
            10);
  // A denial on a known recording names its patient for the auditor.
  EXPECT_EQ(Count("SELECT count(*) FROM audit_events WHERE action = "
                  "'permission_denied' AND object_id = '" +
                  id + "' AND patient = '" + patient_ + "'"),
            5);

  // The admin's merged view, and the technician who records.
  EXPECT_EQ(repo_->Get(admin, id)->segment_count, 1);
  EXPECT_EQ(repo_->ReadSamples(admin, id).value(), samples);
  EXPECT_EQ(repo_->Recent(admin, 10)->size(), 1u);
  ASSERT_TRUE(repo_->Complete(nurse_, id, kNowMs + 1, "good"));
  EXPECT_TRUE(VerifyChain(site_, Chain()).ok);
}

TEST_F(RecordingsTest, EveryReadAndWriteIsAuditedWithThePatient) {
  std::mt19937 rng(11);
  const auto samples = Signal(20, 1, rng);
  const std::int64_t events = Count("SELECT count(*) FROM audit_events");
  const std::string id = repo_->Start(nurse_, Valid({"II"})).value();
  const auto seg = repo_->AppendSegment(nurse_, id, 0, 0, samples, 1).value();
  ASSERT_TRUE(repo_->Complete(nurse_, id, kNowMs + 40, "good"));
  ASSERT_TRUE(repo_->Get(nurse_, id));
  ASSERT_TRUE(repo_->ReadSamples(nurse_, id));
  ASSERT_TRUE(repo_->ForPatient(nurse_, patient_, 5));
  ASSERT_TRUE(repo_->Recent(nurse_, 5));

  const auto chain = Chain();
  ASSERT_EQ(chain.size(), static_cast<std::size_t>(events) + 7);
  struct Want {
    AuditAction action;
    const char* object_type;
    std::string object_id;
  };
  const Want want[] = {
      {AuditAction::kCreate, "recordings", id},
      {AuditAction::kCreate, "recording_segments", seg.id},
      {AuditAction::kUpdate, "recordings", id},
      {AuditAction::kView, "recordings", id},
      {AuditAction::kView, "recordings", id},
      {AuditAction::kView, "recordings", id},
      {AuditAction::kView, "recordings", id},
  };
  for (std::size_t i = 0; i < std::size(want); ++i) {
    const AuditEvent& e = chain[static_cast<std::size_t>(events) + i].event;
    EXPECT_EQ(e.action, want[i].action) << i;
    EXPECT_EQ(e.object_type, want[i].object_type) << i;
    EXPECT_EQ(e.object_id, want[i].object_id) << i;
    EXPECT_EQ(e.patient, patient_) << i;
    EXPECT_EQ(e.actor, nurse_.user_id.ToString()) << i;
  }
  EXPECT_TRUE(VerifyChain(site_, chain).ok);
}

// A synced edit may leave a recording's patient_id malformed (the merge
// does not validate values); recording then goes on, and the audit events
// leave the patient out instead of failing the write.
TEST_F(RecordingsTest, AMalformedSyncedPatientIdDoesNotBlockRecording) {
  std::mt19937 rng(12);
  const auto samples = Signal(20, 1, rng);
  const std::string id = repo_->Start(nurse_, Valid({"II"})).value();
  ChangeEntry remote;
  remote.id = ids_.Next().ToString();
  remote.hlc = clock_.Now();
  remote.site = other_site_.ToString();
  remote.table = "recordings";
  remote.row = id;
  remote.author = ids_.Next().ToString();
  remote.fields["patient_id"] = std::string("not-a-uuid");
  ASSERT_TRUE(ValidateChange(remote).has_value());
  ASSERT_TRUE(writer_->merger().ApplyBatch(std::span(&remote, 1)).has_value());

  auto seg = repo_->AppendSegment(nurse_, id, 0, 0, samples, 1);
  ASSERT_TRUE(seg.has_value()) << seg.error().ToString();
  const auto chain = Chain();
  EXPECT_EQ(chain.back().event.object_id, seg->id);
  EXPECT_FALSE(chain.back().event.patient.has_value());
  EXPECT_TRUE(VerifyChain(site_, chain).ok);
}

TEST_F(RecordingsTest, DamagedOrMissingBlobsAreErrorsNamingTheSegment) {
  std::mt19937 rng(13);
  const auto samples = Signal(900, 3, rng);
  const std::string id =
      repo_->Start(nurse_, Valid({"I", "II", "III"})).value();
  AppendAll(nurse_, id, samples, 3, {300, 300, 300});
  ASSERT_TRUE(repo_->Complete(nurse_, id, kNowMs + 1800, "good"));
  const Recording r = repo_->Get(nurse_, id).value();
  const std::int64_t events = Count("SELECT count(*) FROM audit_events");

  // One flipped bit in the sealed file of segment 1.
  const fs::path path = blobs_->PathOf(r.segments[1].blob_sha256);
  std::vector<char> bytes;
  {
    std::ifstream in(path, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  const std::vector<char> original = bytes;
  bytes[bytes.size() / 2] ^= 0x10;
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  }
  auto damaged = repo_->ReadSamples(nurse_, id);
  ASSERT_FALSE(damaged.has_value());
  EXPECT_EQ(damaged.error().code(), ErrorCode::kCorruption);
  EXPECT_EQ(damaged.error().message().rfind("segment 1: ", 0), 0u)
      << damaged.error().message();

  // Segment 0's file copied over segment 1's: a valid blob, the wrong one.
  fs::copy_file(blobs_->PathOf(r.segments[0].blob_sha256), path,
                fs::copy_options::overwrite_existing);
  auto swapped = repo_->ReadSamples(nurse_, id);
  ASSERT_FALSE(swapped.has_value());
  EXPECT_EQ(swapped.error().code(), ErrorCode::kCorruption);
  EXPECT_EQ(swapped.error().message().rfind("segment 1: ", 0), 0u);

  // Gone altogether (e.g. not yet downloaded to this replica).
  fs::remove(path);
  auto missing = repo_->ReadSamples(nurse_, id);
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(missing.error().message().rfind("segment 1: ", 0), 0u);

  // A failed read shows nothing, so it audits nothing; a repaired blob
  // reads back exactly.
  EXPECT_EQ(Count("SELECT count(*) FROM audit_events"), events);
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(original.data(), static_cast<std::streamsize>(original.size()));
  }
  EXPECT_EQ(repo_->ReadSamples(nurse_, id).value(), samples);
}

TEST_F(RecordingsTest, SegmentRowsThatDisagreeWithTheirBlobsAreCorruption) {
  // Rows as a faulty replica might push them: segment 1 claims frames
  // 100.. but names segment 0's blob (whose header says frame 0).
  std::mt19937 rng(17);
  const auto samples = Signal(100, 1, rng);
  const std::string id = repo_->Start(nurse_, Valid({"II"})).value();
  const auto seg0 = repo_->AppendSegment(nurse_, id, 0, 0, samples, 1).value();
  const std::vector<RowWrite> rows = {
      RowWrite{"recording_segments",
               ids_.Next().ToString(),
               Op::kUpsert,
               {{"site_id", site_.ToString()},
                {"recording_id", id},
                {"seq", std::int64_t{1}},
                {"first_frame", std::int64_t{100}},
                {"frame_count", std::int64_t{100}},
                {"blob_sha256", seg0.blob_sha256}}},
      RowWrite{
          "recordings", id, Op::kUpsert, {{"segment_count", std::int64_t{2}}}}};
  ASSERT_TRUE(writer_->Commit(rows, ids_.Next().ToString()));
  auto read = repo_->ReadSamples(nurse_, id);
  ASSERT_FALSE(read.has_value());
  EXPECT_EQ(read.error().code(), ErrorCode::kCorruption);
  EXPECT_EQ(read.error().message().rfind("segment 1: ", 0), 0u)
      << read.error().message();

  // A segment_count ahead of the rows that arrived: not here yet.
  RowWrite ahead{
      "recordings", id, Op::kUpsert, {{"segment_count", std::int64_t{5}}}};
  ASSERT_TRUE(writer_->Commit(std::span<const RowWrite>(&ahead, 1),
                              ids_.Next().ToString()));
  const std::string other = repo_->Start(nurse_, Valid({"II"})).value();
  ASSERT_TRUE(repo_->AppendSegment(nurse_, other, 0, 0, samples, 1));
  RowWrite more{
      "recordings", other, Op::kUpsert, {{"segment_count", std::int64_t{3}}}};
  ASSERT_TRUE(writer_->Commit(std::span<const RowWrite>(&more, 1),
                              ids_.Next().ToString()));
  auto partial = repo_->ReadSamples(nurse_, other);
  ASSERT_FALSE(partial.has_value());
  EXPECT_EQ(partial.error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(partial.error().message().rfind("segment 1: ", 0), 0u)
      << partial.error().message();
}

TEST_F(RecordingsTest, FailedCommitLeavesOnlyAnUnreferencedBlobAndRetryWorks) {
  std::mt19937 rng(19);
  const auto samples = Signal(250, 2, rng);
  const std::string id = repo_->Start(nurse_, Valid({"I", "II"})).value();
  const Snapshot before = Take();
  {
    // Another connection holds the write lock past the busy timeout.
    auto other =
        Database::Open(dir_ / "replica.db", DatabaseKey(key_), {}).value();
    auto lock = other.Begin(TransactionMode::kImmediate).value();
    auto result = repo_->AppendSegment(nurse_, id, 0, 0, samples, 2);
    ASSERT_FALSE(result.has_value());
    EXPECT_EQ(result.error().code(), ErrorCode::kBusy);
    ASSERT_TRUE(lock.Rollback());
  }
  // The blob went first and stays; no row refers to it.
  Snapshot after = Take();
  EXPECT_EQ(after.blob_files, before.blob_files + 1);
  after.blob_files = before.blob_files;
  EXPECT_EQ(after, before);

  // The retry encodes the same bytes to the same blob, and lands.
  const auto seg = repo_->AppendSegment(nurse_, id, 0, 0, samples, 2).value();
  EXPECT_EQ(BlobFiles(), before.blob_files + 1);
  EXPECT_EQ(Count("SELECT count(*) FROM blobs WHERE sha256 = '" +
                  seg.blob_sha256 + "'"),
            1);
  EXPECT_EQ(repo_->ReadSamples(nurse_, id).value(), samples);
}

TEST_F(RecordingsTest, QueriesAreNewestFirstLimitedAndScoped) {
  const Principal doctor = As(Role::kClinician, site_);
  const std::string other_patient = [&] {
    PatientInput p = PatientA();
    p.mrn = "KSM-0043";
    return patients_->Register(doctor, p).value();
  }();
  // Start times out of order, with a tie (broken by id).
  const std::int64_t starts[] = {kNowMs - 5000, kNowMs - 1000, kNowMs - 9000,
                                 kNowMs - 1000, kNowMs - 3000};
  std::vector<std::pair<std::int64_t, std::string>> mine;
  for (std::int64_t start : starts) {
    RecordingStart input = Valid({"II"});
    input.started_at_ms = start;
    mine.emplace_back(start, repo_->Start(doctor, input).value());
  }
  RecordingStart theirs = Valid({"II"});
  theirs.patient_id = other_patient;
  theirs.started_at_ms = kNowMs;
  const std::string newest_other = repo_->Start(doctor, theirs).value();
  // Another site's recording of this patient id, delivered by sync.
  const std::string foreign =
      AddForeignRow("recordings", {{"site_id", other_site_.ToString()},
                                   {"patient_id", patient_},
                                   {"device_id", device_},
                                   {"operator_id", ids_.Next().ToString()},
                                   {"started_at_ms", kNowMs + 1},
                                   {"sample_rate_hz", 500.0},
                                   {"lead_names", std::string("II")},
                                   {"lsb_nv", std::int64_t{5000}},
                                   {"status", std::string("recording")},
                                   {"segment_count", std::int64_t{0}}});

  std::sort(mine.begin(), mine.end(), std::greater<>());
  auto ids_of = [](const std::vector<Recording>& rs) {
    std::vector<std::string> ids;
    for (const Recording& r : rs) ids.push_back(r.id);
    return ids;
  };
  std::vector<std::string> expected;
  for (const auto& [start, id] : mine) expected.push_back(id);

  const std::int64_t views_before = Count(
      "SELECT count(*) FROM audit_events WHERE action = 'view' AND patient = "
      "'" +
      patient_ + "'");
  EXPECT_EQ(ids_of(repo_->ForPatient(doctor, patient_, 200).value()), expected);
  EXPECT_EQ(ids_of(repo_->ForPatient(doctor, patient_, 2).value()),
            std::vector<std::string>(expected.begin(), expected.begin() + 2));
  EXPECT_EQ(Count("SELECT count(*) FROM audit_events WHERE action = 'view' "
                  "AND patient = '" +
                  patient_ + "'"),
            views_before + 5 + 2);

  std::vector<std::string> recent = {newest_other};
  recent.insert(recent.end(), expected.begin(), expected.begin() + 2);
  EXPECT_EQ(ids_of(repo_->Recent(doctor, 3).value()), recent);

  // The admin's merged view includes the other site's row; a clinician's
  // does not.
  const Principal admin = As(Role::kAdmin, std::nullopt);
  EXPECT_EQ(repo_->ForPatient(admin, patient_, 200)->front().id, foreign);
  EXPECT_EQ(repo_->Recent(admin, 1)->front().id, foreign);
  EXPECT_EQ(repo_->ForPatient(doctor, patient_, 200)->size(), 5u);

  EXPECT_EQ(repo_->ForPatient(doctor, ids_.Next().ToString(), 10)->size(), 0u);
  for (int bad : {0, -1, 201}) {
    EXPECT_EQ(repo_->Recent(doctor, bad).error().code(),
              ErrorCode::kInvalidArgument);
  }
  auto malformed = repo_->ForPatient(doctor, "KSM-0042", 10);
  ASSERT_FALSE(malformed.has_value());
  EXPECT_EQ(malformed.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_TRUE(VerifyChain(site_, Chain()).ok);
}

}  // namespace
}  // namespace pulse::engine
