// The clinic replica facade: one directory, one passphrase, one object —
// created all-or-nothing, reopened with its keys, identities and data,
// refusing wrong and damaged keys without opening anything, and readable
// from a second thread beside the writer.
#include "pulse/engine/replica.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "pulse/engine/audit.h"
#include "pulse/engine/clinic_schema.h"
#include "pulse/engine/hash.h"
#include "pulse/engine/key_file.h"
#include "pulse/engine/migrations.h"
#include "support/faulty_file_ops.h"
#include "support/manual_clock.h"
#include "support/temp_dir.h"

namespace pulse::engine {
namespace {

namespace fs = std::filesystem;

using ::pulse::engine::test_support::FaultyFileOps;
using ::pulse::testing::ManualClock;

constexpr std::int64_t kNowMs = 1'763'900'000'000;  // 2025-11-23
constexpr std::string_view kPassphrase = "correct horse battery staple";
constexpr std::string_view kOtherPassphrase = "Tr0ub4dor&3 at the clinic";

const std::vector<std::string> kTwelveLeads = {
    "I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6"};

using Files = std::map<std::string, std::vector<char>>;

class ReplicaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    root_ =
        pulse::testing::TempRoot() / (std::string("replica_") + info->name());
    fs::remove_all(root_);
    fs::create_directories(root_);
    dir_ = root_ / "clinic";
    wall_.SetMs(kNowMs);
    site_ = ids_.Next();
    // Cheap Argon2 for key files and passwords: the suite stays fast.
    options_.kdf = KdfLimits{1, kMinKdfMemLimitBytes};
    options_.users.hash_cost = kTestPasswordHashCost;
    options_.wall_clock = &wall_;
  }
  void TearDown() override { fs::remove_all(root_); }

  std::unique_ptr<ClinicReplica> CreateReplica() {
    auto replica =
        ClinicReplica::Create(dir_, ReplicaSetup{site_, kPassphrase}, options_);
    EXPECT_TRUE(replica.has_value()) << replica.error().ToString();
    return replica ? std::move(*replica) : nullptr;
  }
  std::unique_ptr<ClinicReplica> OpenReplica(
      std::string_view passphrase = kPassphrase) {
    auto replica = ClinicReplica::Open(dir_, passphrase, options_);
    EXPECT_TRUE(replica.has_value()) << replica.error().ToString();
    return replica ? std::move(*replica) : nullptr;
  }

  Principal Staff(Role role = Role::kTechnician) {
    return Principal{ids_.Next(), role, site_};
  }
  static PatientInput PatientA() {
    return PatientInput{"KSM-0042", "Akinyi", "Odhiambo", "1984-03-17",
                        "F",        "",       ""};
  }
  static PatientInput NumberedPatient(int n) {
    PatientInput in{"", "Given", "Family", "1990-01-01", "U", "", ""};
    in.mrn = "KSM-" + std::to_string(1000 + n);
    return in;
  }

  static std::int64_t Count(Database& db, const std::string& sql) {
    auto stmt = db.Prepare(sql);
    EXPECT_TRUE(stmt.has_value()) << stmt.error().ToString();
    if (!stmt) return -1;
    auto row = stmt->Step();
    EXPECT_TRUE(row.has_value() && *row);
    return stmt->ColumnInt64(0).value();
  }
  std::vector<ChainedEvent> Chain(Database& db) {
    return ReadAuditChain(db, site_).value();
  }
  std::vector<AuditEvent> EventsOf(Database& db, AuditAction action) {
    std::vector<AuditEvent> events;
    for (const ChainedEvent& record : Chain(db)) {
      if (record.event.action == action) events.push_back(record.event);
    }
    return events;
  }

  // Every file under `dir` with its bytes: what "untouched" compares.
  static Files Snapshot(const fs::path& dir) {
    Files files;
    for (const auto& entry : fs::recursive_directory_iterator(dir)) {
      if (!entry.is_regular_file()) continue;
      std::ifstream in(entry.path(), std::ios::binary);
      files[fs::relative(entry.path(), dir).string()] = std::vector<char>(
          std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    }
    return files;
  }
  // Equal snapshots, or the names that differ (never the bytes: a database
  // dump would drown the failure message).
  static ::testing::AssertionResult Same(const Files& a, const Files& b) {
    std::string diff;
    for (const auto& [name, bytes] : a) {
      auto it = b.find(name);
      if (it == b.end()) {
        diff += " -" + name;
      } else if (it->second != bytes) {
        diff += " ~" + name;
      }
    }
    for (const auto& [name, bytes] : b) {
      if (!a.contains(name)) diff += " +" + name;
    }
    if (diff.empty()) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << "files differ:" << diff;
  }
  // Names in `dir` (not recursive).
  static std::vector<std::string> Entries(const fs::path& dir) {
    std::vector<std::string> names;
    for (const auto& entry : fs::directory_iterator(dir)) {
      names.push_back(entry.path().filename().string());
    }
    std::sort(names.begin(), names.end());
    return names;
  }
  static void WriteBytes(const fs::path& path, const std::vector<char>& bytes) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  }

  fs::path root_;
  fs::path dir_;
  ManualClock wall_;
  UuidV7Generator ids_{wall_};
  Uuid site_;
  ReplicaOptions options_;
};

TEST_F(ReplicaTest, CreateRegisterReopenKeepsThePatientAndTheAuditChain) {
  auto replica = CreateReplica();
  ASSERT_NE(replica, nullptr);
  EXPECT_EQ(replica->site_id(), site_);
  EXPECT_EQ(replica->device_id().version(), 7);
  EXPECT_NE(replica->device_id(), site_);
  EXPECT_TRUE(ClinicReplica::Exists(dir_));
  EXPECT_TRUE(fs::is_regular_file(dir_ / kReplicaKeyFileName));
  EXPECT_TRUE(fs::is_regular_file(dir_ / kReplicaDatabaseFileName));
  EXPECT_TRUE(fs::is_directory(dir_ / kReplicaBlobDirName));
  // Nothing but the replica is left next to it (no temporary directory).
  EXPECT_EQ(Entries(root_), std::vector<std::string>{"clinic"});

  auto status = replica->GetStatus();
  ASSERT_TRUE(status.has_value()) << status.error().ToString();
  EXPECT_EQ(status->schema_version,
            static_cast<int>(schema::ClinicMigrations().size()));
  EXPECT_EQ(status->pending_changes, 0);
  EXPECT_TRUE(status->hlc_high_water.is_zero());

  const Principal nurse = Staff();
  auto id = replica->patients().Register(nurse, PatientA());
  ASSERT_TRUE(id.has_value()) << id.error().ToString();
  auto after = replica->GetStatus().value();
  EXPECT_GT(after.pending_changes, 0);
  EXPECT_FALSE(after.hlc_high_water.is_zero());
  const Uuid device = replica->device_id();
  replica.reset();

  // At rest the database is SQLCipher, not a plain SQLite file.
  {
    std::ifstream in(dir_ / kReplicaDatabaseFileName, std::ios::binary);
    std::string head(16, '\0');
    in.read(head.data(), 16);
    EXPECT_NE(head.substr(0, 15), "SQLite format 3");
  }

  replica = OpenReplica();
  ASSERT_NE(replica, nullptr);
  EXPECT_EQ(replica->site_id(), site_);
  EXPECT_EQ(replica->device_id(), device);
  auto patient = replica->patients().Get(nurse, *id);
  ASSERT_TRUE(patient.has_value()) << patient.error().ToString();
  EXPECT_EQ(patient->fields.mrn, "KSM-0042");
  EXPECT_EQ(patient->site_id, site_.ToString());
  auto reopened = replica->GetStatus().value();
  EXPECT_EQ(reopened.schema_version, after.schema_version);
  EXPECT_GE(reopened.pending_changes, after.pending_changes);
  // The clock continues above everything persisted, whatever the wall says.
  EXPECT_GT(replica->clock().Now(), reopened.hlc_high_water);

  const auto chain = Chain(replica->database());
  ASSERT_GE(chain.size(), 2u);  // create, then the view by Get()
  const ChainReport report = VerifyChain(site_, chain);
  EXPECT_TRUE(report.ok) << report.detail;
  EXPECT_EQ(chain.front().event.action, AuditAction::kCreate);
  EXPECT_EQ(chain.front().event.source, "device:" + device.ToString());
}

TEST_F(ReplicaTest, WrongPassphraseIsRefusedAndTheDatabaseIsNotOpened) {
  auto replica = CreateReplica();
  ASSERT_NE(replica, nullptr);
  ASSERT_TRUE(replica->patients().Register(Staff(), PatientA()));
  replica.reset();
  const Files before = Snapshot(dir_);

  auto wrong = ClinicReplica::Open(dir_, "not the passphrase", options_);
  ASSERT_FALSE(wrong.has_value());
  EXPECT_EQ(wrong.error().code(), ErrorCode::kPermissionDenied);
  EXPECT_NE(wrong.error().message().find("wrong passphrase"), std::string::npos)
      << wrong.error().message();
  EXPECT_EQ(wrong.error().message().find("not the passphrase"),
            std::string::npos);
  // No connection was made: no WAL or shared-memory file appeared, and not
  // a byte changed.
  EXPECT_TRUE(Same(Snapshot(dir_), before));

  auto empty = ClinicReplica::Open(dir_, "", options_);
  ASSERT_FALSE(empty.has_value());
  EXPECT_TRUE(Same(Snapshot(dir_), before));

  // The failed attempts released the directory.
  EXPECT_NE(OpenReplica(), nullptr);
}

TEST_F(ReplicaTest, DamagedKeyFileIsItsOwnTypedError) {
  ASSERT_NE(CreateReplica(), nullptr);
  const fs::path key_path = dir_ / kReplicaKeyFileName;
  const std::vector<char> good =
      Snapshot(dir_)[std::string(kReplicaKeyFileName)];
  ASSERT_EQ(good.size(), kKeyFileSize);

  std::vector<char> cut(good.begin(), good.begin() + 100);
  WriteBytes(key_path, cut);
  const Files truncated = Snapshot(dir_);
  auto opened = ClinicReplica::Open(dir_, kPassphrase, options_);
  ASSERT_FALSE(opened.has_value());
  EXPECT_EQ(opened.error().code(), ErrorCode::kCorruption)
      << opened.error().ToString();
  EXPECT_TRUE(Same(Snapshot(dir_), truncated));

  for (std::size_t offset :
       {std::size_t{9}, std::size_t{30}, std::size_t{80}, kKeyFileSize - 1}) {
    std::vector<char> flipped = good;
    flipped[offset] = static_cast<char>(flipped[offset] ^ 0x10);
    WriteBytes(key_path, flipped);
    const Files damaged = Snapshot(dir_);
    opened = ClinicReplica::Open(dir_, kPassphrase, options_);
    ASSERT_FALSE(opened.has_value()) << "offset " << offset;
    // Damage, never mistaken for a wrong passphrase (keyfile.md step 5).
    EXPECT_EQ(opened.error().code(), ErrorCode::kCorruption)
        << "offset " << offset << ": " << opened.error().ToString();
    EXPECT_TRUE(Same(Snapshot(dir_), damaged));
  }

  WriteBytes(key_path, good);
  EXPECT_NE(OpenReplica(), nullptr);
}

TEST_F(ReplicaTest, AnotherReplicasKeyFileDoesNotOpenTheDatabase) {
  ASSERT_NE(CreateReplica(), nullptr);
  const fs::path other = root_ / "other";
  ASSERT_TRUE(
      ClinicReplica::Create(other, ReplicaSetup{site_, kPassphrase}, options_));
  fs::copy_file(other / kReplicaKeyFileName, dir_ / kReplicaKeyFileName,
                fs::copy_options::overwrite_existing);
  auto opened = ClinicReplica::Open(dir_, kPassphrase, options_);
  ASSERT_FALSE(opened.has_value());
  EXPECT_EQ(opened.error().code(), ErrorCode::kCorruption)
      << opened.error().ToString();
}

TEST_F(ReplicaTest, CreateOnAnExistingReplicaIsRefusedAndLeavesItUntouched) {
  auto replica = CreateReplica();
  ASSERT_NE(replica, nullptr);
  auto id = replica->patients().Register(Staff(), PatientA());
  ASSERT_TRUE(id.has_value());

  // While open ...
  auto again = ClinicReplica::Create(
      dir_, ReplicaSetup{ids_.Next(), kOtherPassphrase}, options_);
  ASSERT_FALSE(again.has_value());
  EXPECT_EQ(again.error().code(), ErrorCode::kAlreadyExists);

  // ... and closed.
  replica.reset();
  const Files before = Snapshot(dir_);
  again = ClinicReplica::Create(
      dir_, ReplicaSetup{ids_.Next(), kOtherPassphrase}, options_);
  ASSERT_FALSE(again.has_value());
  EXPECT_EQ(again.error().code(), ErrorCode::kAlreadyExists);
  EXPECT_NE(again.error().message().find("already holds a replica"),
            std::string::npos);
  EXPECT_TRUE(Same(Snapshot(dir_), before));
  EXPECT_EQ(Entries(root_), std::vector<std::string>{"clinic"});

  replica = OpenReplica();
  ASSERT_NE(replica, nullptr);
  EXPECT_EQ(replica->site_id(), site_);
  EXPECT_TRUE(replica->patients().Get(Staff(), *id).has_value());
}

TEST_F(ReplicaTest, CreateTakesAnEmptyDirectoryButNoOtherExistingPath) {
  fs::create_directory(dir_);
  ASSERT_NE(CreateReplica(), nullptr);

  const fs::path full = root_ / "full";
  fs::create_directory(full);
  WriteBytes(full / "notes.txt", {'h', 'i'});
  auto refused =
      ClinicReplica::Create(full, ReplicaSetup{site_, kPassphrase}, options_);
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().code(), ErrorCode::kAlreadyExists);
  EXPECT_EQ(Entries(full), std::vector<std::string>{"notes.txt"});

  const fs::path file = root_ / "file";
  WriteBytes(file, {'x'});
  refused =
      ClinicReplica::Create(file, ReplicaSetup{site_, kPassphrase}, options_);
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().code(), ErrorCode::kAlreadyExists);
}

TEST_F(ReplicaTest, BadSetupIsRefusedBeforeAnythingIsCreated) {
  auto nil_site =
      ClinicReplica::Create(dir_, ReplicaSetup{Uuid(), kPassphrase}, options_);
  ASSERT_FALSE(nil_site.has_value());
  EXPECT_EQ(nil_site.error().code(), ErrorCode::kInvalidArgument);
  auto no_passphrase =
      ClinicReplica::Create(dir_, ReplicaSetup{site_, ""}, options_);
  ASSERT_FALSE(no_passphrase.has_value());
  EXPECT_EQ(no_passphrase.error().code(), ErrorCode::kInvalidArgument);
  auto no_parent = ClinicReplica::Create(
      root_ / "missing" / "clinic", ReplicaSetup{site_, kPassphrase}, options_);
  ASSERT_FALSE(no_parent.has_value());
  EXPECT_EQ(no_parent.error().code(), ErrorCode::kNotFound);
  EXPECT_TRUE(Entries(root_).empty());

  auto missing = ClinicReplica::Open(dir_, kPassphrase, options_);
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().code(), ErrorCode::kNotFound);
  EXPECT_FALSE(ClinicReplica::Exists(dir_));
}

// The fault injector of STYLE.md: fail the Nth filesystem call of Create()
// (once, or from then on as if the process had died there — but Create()
// runs its clean-up, which a real crash would not), for every N until
// Create() succeeds. After every failure nothing is left at the target or
// next to it.
TEST_F(ReplicaTest, AFailureDuringCreateLeavesNothingBehind) {
  for (auto mode : {FaultyFileOps::Mode::kCrash, FaultyFileOps::Mode::kOnce}) {
    bool created = false;
    int failures = 0;
    for (int n = 1; n < 200 && !created; ++n) {
      fs::remove_all(dir_);
      FaultyFileOps faulty(n, mode);
      ReplicaOptions options = options_;
      options.file_ops = &faulty;
      auto replica = ClinicReplica::Create(
          dir_, ReplicaSetup{site_, kPassphrase}, options);
      if (replica.has_value()) {
        created = true;
        replica->reset();
        break;
      }
      ++failures;
      EXPECT_TRUE(faulty.failed())
          << "n=" << n << ": " << replica.error().ToString();
      EXPECT_FALSE(fs::exists(dir_)) << "n=" << n;
      EXPECT_TRUE(Entries(root_).empty())
          << "n=" << n << ": " << Entries(root_).front();
    }
    ASSERT_TRUE(created);
    EXPECT_GE(failures, 5);  // key file, directories, rename, syncs
    auto replica = OpenReplica();
    ASSERT_NE(replica, nullptr);
    EXPECT_EQ(replica->site_id(), site_);
  }
}

TEST_F(ReplicaTest, AnUnwritableParentLeavesNothingBehind) {
  const fs::path parent = root_ / "locked";
  fs::create_directory(parent);
  fs::permissions(parent, fs::perms::owner_read | fs::perms::owner_exec);
  const bool enforced = ::geteuid() != 0;  // root writes anyway
  auto replica = ClinicReplica::Create(
      parent / "clinic", ReplicaSetup{site_, kPassphrase}, options_);
  if (enforced) {
    ASSERT_FALSE(replica.has_value());
    EXPECT_EQ(replica.error().code(), ErrorCode::kIoError);
    EXPECT_TRUE(Entries(parent).empty());
  }
  replica = {};
  fs::permissions(parent, fs::perms::owner_all);

  // A parent that is a file: nothing can be made at all.
  WriteBytes(root_ / "plain", {'x'});
  auto under_file = ClinicReplica::Create(
      root_ / "plain" / "clinic", ReplicaSetup{site_, kPassphrase}, options_);
  ASSERT_FALSE(under_file.has_value());
  EXPECT_EQ(under_file.error().code(), ErrorCode::kNotFound);
}

TEST_F(ReplicaTest, ChangePassphraseIsAuditedAndOnlyTheNewOneOpens) {
  auto replica = CreateReplica();
  ASSERT_NE(replica, nullptr);
  const Principal clinician = Staff(Role::kClinician);

  auto empty = replica->ChangePassphrase(kPassphrase, "", &clinician);
  ASSERT_FALSE(empty.has_value());
  EXPECT_EQ(empty.error().code(), ErrorCode::kInvalidArgument);

  auto wrong = replica->ChangePassphrase("guess", kOtherPassphrase, &clinician);
  ASSERT_FALSE(wrong.has_value());
  EXPECT_EQ(wrong.error().code(), ErrorCode::kPermissionDenied);

  auto changed =
      replica->ChangePassphrase(kPassphrase, kOtherPassphrase, &clinician);
  ASSERT_TRUE(changed.has_value()) << changed.error().ToString();

  const auto events = EventsOf(replica->database(), AuditAction::kKeyChange);
  ASSERT_EQ(events.size(), 2u);  // the empty one was never attempted
  EXPECT_EQ(events[0].outcome, AuditOutcome::kDenied);
  EXPECT_EQ(events[1].outcome, AuditOutcome::kOk);
  for (const AuditEvent& event : events) {
    EXPECT_EQ(event.object_type, "key_file");
    EXPECT_EQ(event.actor, clinician.user_id.ToString());
    EXPECT_EQ(event.role, AuditRole::kClinician);
  }
  replica.reset();

  auto old = ClinicReplica::Open(dir_, kPassphrase, options_);
  ASSERT_FALSE(old.has_value());
  EXPECT_EQ(old.error().code(), ErrorCode::kPermissionDenied);
  replica = OpenReplica(kOtherPassphrase);
  ASSERT_NE(replica, nullptr);
  const ChainReport report = VerifyChain(site_, Chain(replica->database()));
  EXPECT_TRUE(report.ok) << report.detail;
  EXPECT_EQ(report.events_checked, 2);
}

TEST_F(ReplicaTest, SegmentsReadBackAfterReopenAndTheBlobKeyIsNeverInClear) {
  auto replica = CreateReplica();
  ASSERT_NE(replica, nullptr);
  const Principal nurse = Staff();
  auto patient = replica->patients().Register(nurse, PatientA());
  ASSERT_TRUE(patient.has_value());
  auto device = replica->devices().Register(
      nurse, DeviceInput{"ECG-1", "ecg", "PL-12", ""});
  ASSERT_TRUE(device.has_value()) << device.error().ToString();
  auto recording = replica->recordings().Start(
      nurse,
      RecordingStart{*patient, *device, kNowMs, 500.0, kTwelveLeads, 5000});
  ASSERT_TRUE(recording.has_value()) << recording.error().ToString();

  constexpr int kChannels = 12;
  constexpr std::int64_t kFrames = 1000;
  std::vector<std::int16_t> samples;
  for (std::int64_t f = 0; f < kFrames; ++f) {
    for (int c = 0; c < kChannels; ++c) {
      samples.push_back(
          static_cast<std::int16_t>((f * 7 + c * 131) % 2000 - 1000));
    }
  }
  auto segment = replica->recordings().AppendSegment(nurse, *recording, 0, 0,
                                                     samples, kChannels);
  ASSERT_TRUE(segment.has_value()) << segment.error().ToString();
  ASSERT_TRUE(
      replica->recordings().Complete(nurse, *recording, kNowMs + 2000, "good"));
  EXPECT_TRUE(replica->blob_store().Contains(segment->blob_sha256).value());

  std::vector<char> blob_key;
  {
    auto stmt = replica->database().Prepare(
        "SELECT value FROM settings WHERE key = 'blob_key'");
    ASSERT_TRUE(stmt->Step().value());
    auto bytes = stmt->ColumnBlob(0).value();
    blob_key.assign(bytes.begin(), bytes.end());
  }
  ASSERT_EQ(blob_key.size(), 32u);
  replica.reset();

  // No file of the replica holds the blob key (or the sample bytes) in
  // clear: it lives only inside the encrypted database.
  for (const auto& [name, bytes] : Snapshot(dir_)) {
    EXPECT_EQ(std::search(bytes.begin(), bytes.end(), blob_key.begin(),
                          blob_key.end()),
              bytes.end())
        << name;
  }

  replica = OpenReplica();
  ASSERT_NE(replica, nullptr);
  auto read = replica->recordings().ReadSamples(nurse, *recording);
  ASSERT_TRUE(read.has_value()) << read.error().ToString();
  EXPECT_EQ(*read, samples);
  EXPECT_EQ(replica->recordings().Get(nurse, *recording)->status,
            RecordingStatus::kComplete);
}

TEST_F(ReplicaTest, OneWriterPerDirectory) {
  auto replica = CreateReplica();
  ASSERT_NE(replica, nullptr);
  auto second = ClinicReplica::Open(dir_, kPassphrase, options_);
  ASSERT_FALSE(second.has_value());
  EXPECT_EQ(second.error().code(), ErrorCode::kBusy);
  replica.reset();
  EXPECT_NE(OpenReplica(), nullptr);
}

TEST_F(ReplicaTest, AReaderOnAnotherThreadRunsBesideTheWriter) {
  auto replica = CreateReplica();
  ASSERT_NE(replica, nullptr);
  constexpr int kPatients = 30;
  constexpr int kReads = 150;

  // The reader opens its connection, then starts reading once the writer
  // has committed once, so that its reads overlap the writer's commits.
  std::atomic<bool> reader_ready{false};
  std::atomic<bool> writer_started{false};
  std::vector<std::string> writer_errors;
  std::vector<std::string> reader_errors;
  std::int64_t last_seen = 0;
  std::set<std::int64_t> counts_seen;
  int reads = 0;

  std::thread reader_thread([&] {
    // Opened on this thread: OpenReader() is callable from any thread.
    auto reader = replica->OpenReader();
    reader_ready = true;
    if (!reader) {
      reader_errors.push_back(reader.error().ToString());
      return;
    }
    while (!writer_started) std::this_thread::yield();
    for (; reads < kReads; ++reads) {
      auto stmt = reader->db().Prepare("SELECT count(*) FROM patients");
      if (!stmt) {
        reader_errors.push_back(stmt.error().ToString());
        continue;
      }
      auto row = stmt->Step();
      if (!row || !*row) {
        reader_errors.push_back(row ? "no row" : row.error().ToString());
        continue;
      }
      const std::int64_t seen = stmt->ColumnInt64(0).value();
      if (seen < last_seen) reader_errors.push_back("count went backwards");
      last_seen = seen;
      counts_seen.insert(seen);
      auto status = reader->GetStatus();
      if (!status) reader_errors.push_back(status.error().ToString());
    }
  });
  std::thread writer_thread([&] {
    while (!reader_ready) std::this_thread::yield();
    const Principal nurse = Staff();
    for (int i = 0; i < kPatients; ++i) {
      auto id = replica->patients().Register(nurse, NumberedPatient(i));
      if (!id) writer_errors.push_back(id.error().ToString());
      writer_started = true;
    }
  });
  writer_thread.join();
  reader_thread.join();

  EXPECT_TRUE(writer_errors.empty()) << writer_errors.front();
  EXPECT_TRUE(reader_errors.empty()) << reader_errors.front();
  EXPECT_EQ(reads, kReads);
  EXPECT_GE(last_seen, 1);
  EXPECT_LE(last_seen, kPatients);
  // How far the two threads interleaved (timing-dependent, so not asserted).
  RecordProperty("distinct_counts_seen", static_cast<int>(counts_seen.size()));

  auto reader = replica->OpenReader();
  ASSERT_TRUE(reader.has_value()) << reader.error().ToString();
  EXPECT_EQ(Count(reader->db(), "SELECT count(*) FROM patients"), kPatients);
  auto from_reader = reader->GetStatus().value();
  auto from_writer = replica->GetStatus().value();
  EXPECT_EQ(from_reader.pending_changes, from_writer.pending_changes);
  EXPECT_EQ(from_reader.hlc_high_water, from_writer.hlc_high_water);
  EXPECT_EQ(from_reader.schema_version, from_writer.schema_version);
  EXPECT_EQ(reader->site_id(), site_);
  // The reader cannot write, whatever it prepares.
  auto write = reader->db().Execute("DELETE FROM patients");
  ASSERT_FALSE(write.has_value());
  EXPECT_EQ(write.error().code(), ErrorCode::kIoError)
      << write.error().ToString();
  EXPECT_EQ(Count(replica->database(), "SELECT count(*) FROM patients"),
            kPatients);
}

TEST_F(ReplicaTest, OfflineSignInWorksOverTheReplicasUsers) {
  auto replica = CreateReplica();
  ASSERT_NE(replica, nullptr);
  // As the admin's account arrives through sync.
  const Principal admin{ids_.Next(), Role::kAdmin, std::nullopt};
  constexpr std::string_view kPassword = "long enough password";
  auto user = replica->users().Create(
      admin, UserInput{"amina.k", "Amina Kamau", "clinician", site_},
      kPassword);
  ASSERT_TRUE(user.has_value()) << user.error().ToString();
  replica.reset();

  replica = OpenReplica();
  ASSERT_NE(replica, nullptr);
  auto bad = replica->sign_in().Login("amina.k", "wrong password!!");
  ASSERT_TRUE(bad.has_value());
  EXPECT_FALSE(bad->ok());
  auto good = replica->sign_in().Login("Amina.K", kPassword);
  ASSERT_TRUE(good.has_value()) << good.error().ToString();
  ASSERT_TRUE(good->ok());
  EXPECT_EQ(good->principal->user_id.ToString(), *user);
  EXPECT_EQ(good->principal->site, site_);
  ASSERT_TRUE(replica->sign_in().Logout(*good->principal));

  EXPECT_EQ(EventsOf(replica->database(), AuditAction::kLoginFailed).size(),
            1u);
  EXPECT_EQ(EventsOf(replica->database(), AuditAction::kLogin).size(), 1u);
  EXPECT_EQ(EventsOf(replica->database(), AuditAction::kLogout).size(), 1u);
  EXPECT_TRUE(VerifyChain(site_, Chain(replica->database())).ok);
}

// A replica made by an older build (schema v1, by hand as that build did)
// is upgraded on open.
TEST_F(ReplicaTest, AnOlderSchemaIsUpgradedOnOpen) {
  fs::create_directory(dir_);
  KeyFileOptions key_options;
  key_options.kdf = options_.kdf;
  auto key =
      CreateKeyFile(dir_ / kReplicaKeyFileName, kPassphrase, key_options);
  ASSERT_TRUE(key.has_value());
  {
    auto db = Database::Open(dir_ / kReplicaDatabaseFileName, key->bytes(),
                             DatabaseOptions{});
    ASSERT_TRUE(db.has_value());
    ASSERT_TRUE(Migrate(*db, schema::ClinicMigrations().first(1), wall_));
    ASSERT_EQ(SchemaVersion(*db).value(), 1);
    auto blob_key = DataKey::Generate().value();
    auto stmt =
        db->Prepare("INSERT INTO settings (key, value) VALUES (?, ?)").value();
    ASSERT_TRUE(stmt.BindText(1, "site_id"));
    ASSERT_TRUE(stmt.BindText(2, site_.ToString()));
    ASSERT_TRUE(stmt.Run());
    ASSERT_TRUE(stmt.BindText(1, "device_id"));
    ASSERT_TRUE(stmt.BindText(2, ids_.Next().ToString()));
    ASSERT_TRUE(stmt.Run());
    ASSERT_TRUE(stmt.BindText(1, "blob_key"));
    ASSERT_TRUE(stmt.BindBlob(2, blob_key.bytes()));
    ASSERT_TRUE(stmt.Run());
  }
  fs::create_directory(dir_ / kReplicaBlobDirName);

  auto replica = OpenReplica();
  ASSERT_NE(replica, nullptr);
  EXPECT_EQ(replica->GetStatus()->schema_version,
            static_cast<int>(schema::ClinicMigrations().size()));
  EXPECT_TRUE(replica->patients().Register(Staff(), PatientA()).has_value());
}

TEST_F(ReplicaTest, ANewerSchemaOrMissingSettingsAreRefused) {
  auto replica = CreateReplica();
  ASSERT_NE(replica, nullptr);
  ASSERT_TRUE(replica->database().Execute(
      "INSERT INTO schema_migrations (version, name, sql_sha256, "
      "applied_at_ms) VALUES (999, 'from_the_future', '00', 0)"));
  replica.reset();
  auto newer = ClinicReplica::Open(dir_, kPassphrase, options_);
  ASSERT_FALSE(newer.has_value());
  EXPECT_EQ(newer.error().code(), ErrorCode::kUnsupported)
      << newer.error().ToString();

  fs::remove_all(dir_);
  replica = CreateReplica();
  ASSERT_NE(replica, nullptr);
  ASSERT_TRUE(replica->database().Execute(
      "DELETE FROM settings WHERE key = 'blob_key'"));
  replica.reset();
  auto no_key = ClinicReplica::Open(dir_, kPassphrase, options_);
  ASSERT_FALSE(no_key.has_value());
  EXPECT_EQ(no_key.error().code(), ErrorCode::kCorruption);
  EXPECT_NE(no_key.error().message().find("settings.blob_key"),
            std::string::npos);
}

}  // namespace
}  // namespace pulse::engine
