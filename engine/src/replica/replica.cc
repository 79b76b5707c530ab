#include "pulse/engine/replica.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <array>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <system_error>
#include <utility>

#include "pulse/engine/auth.h"
#include "pulse/engine/clinic_schema.h"
#include "pulse/engine/crypto.h"
#include "pulse/engine/data_key.h"
#include "pulse/engine/hash.h"
#include "pulse/engine/migrations.h"
#include "pulse/engine/sealed_file_blob_store.h"

namespace pulse::engine {
namespace {

namespace fs = std::filesystem;

// Keys of the local `settings` table written by Create().
constexpr std::string_view kSiteIdSetting = "site_id";
constexpr std::string_view kDeviceIdSetting = "device_id";
constexpr std::string_view kBlobKeySetting = "blob_key";

// Author of a write with no signed-in user (as users.cc's SignIn).
const std::string kNoUser = Uuid().ToString();

// An exclusive flock() on <dir>/LOCK, held while the object lives. flock
// locks belong to the open file description, so a second open() of the
// same file — in this process or another — is refused too, and the lock
// follows the file when its directory is renamed (Create() takes it in the
// temporary directory and keeps it across the rename).
class DirLock {
 public:
  static Result<DirLock> Acquire(const fs::path& dir) {
    const fs::path path = dir / kReplicaLockFileName;
    const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
      const int err = errno;
      return Fail(
          err == ENOENT ? ErrorCode::kNotFound : ErrorCode::kIoError,
          path.string() + ": cannot open lock file: " + std::strerror(err));
    }
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      const int err = errno;
      ::close(fd);
      if (err == EWOULDBLOCK) {
        return Fail(ErrorCode::kBusy,
                    dir.string() +
                        ": replica is already open (in this or another "
                        "process)");
      }
      return Fail(ErrorCode::kIoError,
                  path.string() + ": cannot lock: " + std::strerror(err));
    }
    return DirLock(fd);
  }

  DirLock(DirLock&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  DirLock& operator=(DirLock&&) = delete;
  DirLock(const DirLock&) = delete;
  DirLock& operator=(const DirLock&) = delete;
  ~DirLock() {
    if (fd_ >= 0) ::close(fd_);
  }

 private:
  explicit DirLock(int fd) : fd_(fd) {}
  int fd_;
};

FileOps& FileOpsOf(const ReplicaOptions& options) {
  return options.file_ops != nullptr ? *options.file_ops : RealFileOps();
}

Clock& WallOf(const ReplicaOptions& options) {
  return options.wall_clock != nullptr ? *options.wall_clock : SystemClock();
}

Status PutSetting(Database& db, std::string_view key, std::string_view text,
                  std::span<const std::uint8_t> blob) {
  auto stmt = db.Prepare("INSERT INTO settings (key, value) VALUES (?, ?)");
  if (!stmt) return Fail(stmt.error());
  if (Status s = stmt->BindText(1, key); !s) return s;
  if (Status s =
          blob.empty() ? stmt->BindText(2, text) : stmt->BindBlob(2, blob);
      !s) {
    return s;
  }
  return stmt->Run();
}

// The row of `settings` named `key`, positioned on its value (column 0).
Result<Statement> FindSetting(Database& db, std::string_view key) {
  auto stmt = db.Prepare("SELECT value FROM settings WHERE key = ?");
  if (!stmt) return Fail(stmt.error());
  if (Status s = stmt->BindText(1, key); !s) return Fail(s.error());
  auto found = stmt->Step();
  if (!found) return Fail(found.error());
  if (!*found) {
    return Fail(ErrorCode::kCorruption, db.path().string() + ": settings." +
                                            std::string(key) + " is missing");
  }
  return std::move(*stmt);
}

Result<Uuid> ReadUuidSetting(Database& db, std::string_view key) {
  auto row = FindSetting(db, key);
  if (!row) return Fail(row.error());
  auto text = row->ColumnText(0);
  auto id = text ? Uuid::Parse(*text) : Result<Uuid>(Uuid());
  if (!id || id->IsNil()) {
    return Fail(ErrorCode::kCorruption, db.path().string() + ": settings." +
                                            std::string(key) +
                                            " is not a UUID");
  }
  return *id;
}

// The blob key goes straight from SQLite's row buffer into locked memory;
// no copy of it is made here. Errors never show the value.
Result<DataKey> ReadBlobKey(Database& db) {
  auto row = FindSetting(db, kBlobKeySetting);
  if (!row) return Fail(row.error());
  auto bytes = row->GetColumnType(0) == ColumnType::kBlob
                   ? row->ColumnBlob(0)
                   : Result<std::span<const std::uint8_t>>(
                         std::span<const std::uint8_t>());
  if (!bytes || bytes->size() != DataKey::kSize) {
    return Fail(ErrorCode::kCorruption,
                db.path().string() + ": settings.blob_key is not a " +
                    std::to_string(DataKey::kSize) + "-byte key");
  }
  return DataKey::FromBytes(std::span<const std::uint8_t, DataKey::kSize>(
      bytes->data(), DataKey::kSize));
}

// Everything of GetStatus() but the outbox count, which each caller reads its
// own way.
Result<ReplicaStatus> ReadStatusParts(Database& db) {
  ReplicaStatus status;
  auto version = SchemaVersion(db);
  if (!version) return Fail(version.error());
  status.schema_version = *version;
  auto high_water = ReadHlcHighWater(db);
  if (!high_water) return Fail(high_water.error());
  status.hlc_high_water = *high_water;
  return status;
}

// Builds a complete replica in the empty directory `dir`: key file,
// migrated database with its settings, blob directory, all durable.
// Returns the data key.
Result<DataKey> BuildReplicaFiles(const fs::path& dir,
                                  const ReplicaSetup& setup,
                                  const ReplicaOptions& options) {
  FileOps& ops = FileOpsOf(options);
  Clock& wall = WallOf(options);
  KeyFileOptions key_options;
  key_options.kdf = options.kdf;
  key_options.file_ops = &ops;
  auto key =
      CreateKeyFile(dir / kReplicaKeyFileName, setup.passphrase, key_options);
  if (!key) return Fail(key.error());
  {
    DatabaseOptions db_options = options.database;
    db_options.create_if_missing = true;
    auto db = Database::Open(dir / kReplicaDatabaseFileName, key->bytes(),
                             db_options);
    if (!db) return Fail(db.error());
    auto migrated = Migrate(*db, schema::ClinicMigrations(), wall);
    if (!migrated) return Fail(migrated.error());
    auto blob_key = DataKey::Generate();
    if (!blob_key) return Fail(blob_key.error());
    UuidV7Generator ids(wall);
    const std::string device = ids.Next().ToString();
    auto txn = db->Begin(TransactionMode::kImmediate);
    if (!txn) return Fail(txn.error());
    if (Status s =
            PutSetting(*db, kSiteIdSetting, setup.site_id.ToString(), {});
        !s) {
      return Fail(s.error());
    }
    if (Status s = PutSetting(*db, kDeviceIdSetting, device, {}); !s) {
      return Fail(s.error());
    }
    if (Status s = PutSetting(*db, kBlobKeySetting, {}, blob_key->bytes());
        !s) {
      return Fail(s.error());
    }
    if (Status s = txn->Commit(); !s) return Fail(s.error());
  }  // closed: the WAL is checkpointed into replica.db and removed
  if (Status s = ops.CreateDirectory(dir / kReplicaBlobDirName); !s) {
    return Fail(s.error());
  }
  if (Status s = ops.SyncDirectory(dir); !s) return Fail(s.error());
  return std::move(*key);
}

// Removes what a failed Create() left: the temporary directory before the
// rename, the new replica after it (putting back the empty directory it
// replaced). Uses std::filesystem, not FileOps: the clean-up must not be
// subject to the faults being injected.
class CreateCleanup {
 public:
  explicit CreateCleanup(fs::path path) : path_(std::move(path)) {}
  CreateCleanup(const CreateCleanup&) = delete;
  CreateCleanup& operator=(const CreateCleanup&) = delete;
  ~CreateCleanup() {
    if (!armed_) return;
    std::error_code ec;
    fs::remove_all(path_, ec);
    if (restore_empty_dir_) fs::create_directory(path_, ec);
  }
  void Retarget(fs::path path, bool restore_empty_dir) {
    path_ = std::move(path);
    restore_empty_dir_ = restore_empty_dir;
  }
  void Disarm() { armed_ = false; }

 private:
  fs::path path_;
  bool restore_empty_dir_ = false;
  bool armed_ = true;
};

}  // namespace

// Member order is teardown order, reversed: everything that borrows the
// connection goes before it, and the directory lock is released last, once
// the database is closed.
struct ClinicReplica::State {
  State(DirLock lock_in, fs::path dir_in, const ReplicaOptions& options_in,
        DataKey data_key_in)
      : lock(std::move(lock_in)),
        dir(std::move(dir_in)),
        options(options_in),
        wall(WallOf(options_in)),
        file_ops(FileOpsOf(options_in)),
        data_key(std::move(data_key_in)),
        clock(HybridClock::Options{&wall, Hlc()}),
        ids(wall) {}

  DirLock lock;
  const fs::path dir;
  const ReplicaOptions options;
  Clock& wall;
  FileOps& file_ops;
  const DataKey data_key;  // kept (locked memory) for OpenReader()
  Uuid site;
  Uuid device;
  std::optional<Database> db;
  HybridClock clock;
  UuidV7Generator ids;
  std::unique_ptr<LocalWriter> writer;
  std::optional<AuditLog> audit;
  std::unique_ptr<SealedFileBlobStore> blobs;
  std::optional<PatientRepository> patients;
  std::optional<RecordingRepository> recordings;
  std::optional<AnalysisRepository> analyses;
  std::optional<UserRepository> users;
  std::optional<DeviceRepository> devices;
  std::optional<InterpretationRepository> interpretations;
  std::optional<ReportRepository> reports;
  std::optional<ConflictRepository> conflicts;
  std::optional<ReplicaUserDirectory> directory;
  std::unique_ptr<OfflineAuthenticator> authenticator;
  std::optional<SignIn> sign_in;
};

ClinicReplica::ClinicReplica(std::unique_ptr<State> state)
    : state_(std::move(state)) {}

ClinicReplica::~ClinicReplica() = default;

bool ClinicReplica::Exists(const fs::path& dir) {
  std::error_code ec;
  return fs::exists(dir / kReplicaKeyFileName, ec);
}

Result<std::unique_ptr<ClinicReplica>> ClinicReplica::Create(
    const fs::path& dir, const ReplicaSetup& setup,
    const ReplicaOptions& options) {
  if (setup.site_id.IsNil()) {
    return Fail(ErrorCode::kInvalidArgument, "replica.site_id: nil UUID");
  }
  if (setup.passphrase.empty()) {
    return Fail(ErrorCode::kInvalidArgument, "replica.passphrase: empty");
  }
  // "a/b/" names the directory b too.
  const fs::path target = dir.has_filename() ? dir : dir.parent_path();
  if (!target.has_filename()) {
    return Fail(ErrorCode::kInvalidArgument,
                "replica.dir: '" + dir.string() + "' names no directory");
  }
  const fs::path parent =
      target.has_parent_path() ? target.parent_path() : fs::path(".");

  std::error_code ec;
  if (!fs::is_directory(parent, ec)) {
    return Fail(
        ErrorCode::kNotFound,
        parent.string() + ": no such directory (parent of the replica)");
  }
  bool replace_empty_dir = false;
  const fs::file_status status = fs::symlink_status(target, ec);
  if (fs::exists(status)) {
    if (Exists(target)) {
      return Fail(ErrorCode::kAlreadyExists,
                  target.string() + ": already holds a replica");
    }
    if (!fs::is_directory(status)) {
      return Fail(ErrorCode::kAlreadyExists,
                  target.string() + ": exists and is not a directory");
    }
    if (!fs::is_empty(target, ec) || ec) {
      return Fail(ErrorCode::kAlreadyExists,
                  target.string() + ": exists and is not empty");
    }
    replace_empty_dir = true;
  } else if (ec && ec != std::errc::no_such_file_or_directory) {
    return Fail(ErrorCode::kIoError,
                target.string() + ": cannot stat: " + ec.message());
  }

  // Build next to the target, so that the final rename stays on one
  // filesystem and is atomic: a replica directory is either complete or
  // absent.
  std::array<std::uint8_t, 8> nonce{};
  RandomBytes(nonce);
  const fs::path temp = parent / ("." + target.filename().string() +
                                  ".creating-" + HexEncode(nonce));
  FileOps& ops = FileOpsOf(options);
  if (Status s = ops.CreateDirectory(temp); !s) return Fail(s.error());
  CreateCleanup cleanup(temp);

  auto lock = DirLock::Acquire(temp);
  if (!lock) return Fail(lock.error());
  auto key = BuildReplicaFiles(temp, setup, options);
  if (!key) return Fail(key.error());

  const auto mode = replace_empty_dir ? FileOps::RenameMode::kReplace
                                      : FileOps::RenameMode::kNoReplace;
  if (Status s = ops.Rename(temp, target, mode); !s) {
    // rename(2) refuses to replace a directory that is no longer empty
    // (ENOTEMPTY): someone filled it meanwhile. Say so in the same terms.
    if (s.error().code() == ErrorCode::kAlreadyExists ||
        (fs::exists(target, ec) && !fs::is_empty(target, ec))) {
      return Fail(ErrorCode::kAlreadyExists,
                  target.string() + ": created by someone else meanwhile");
    }
    return Fail(s.error());
  }
  cleanup.Retarget(target, replace_empty_dir);
  if (Status s = ops.SyncDirectory(parent); !s) return Fail(s.error());

  auto state = std::make_unique<State>(std::move(*lock), target, options,
                                       std::move(*key));
  auto replica = Build(std::move(state));
  if (!replica) return Fail(replica.error());
  cleanup.Disarm();
  return replica;
}

Result<std::unique_ptr<ClinicReplica>> ClinicReplica::Open(
    const fs::path& dir, std::string_view passphrase,
    const ReplicaOptions& options) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    return Fail(ErrorCode::kNotFound,
                dir.string() + ": no replica here (no such directory)");
  }
  if (!Exists(dir)) {
    return Fail(ErrorCode::kNotFound, dir.string() + ": no replica here (no " +
                                          std::string(kReplicaKeyFileName) +
                                          ")");
  }
  auto lock = DirLock::Acquire(dir);
  if (!lock) return Fail(lock.error());
  // The key file decides first: a wrong passphrase or a damaged key file
  // never reaches the database.
  KeyFileOptions key_options;
  key_options.file_ops = &FileOpsOf(options);
  auto key = UnlockKeyFile(dir / kReplicaKeyFileName, passphrase, key_options);
  if (!key) return Fail(key.error());
  return Build(
      std::make_unique<State>(std::move(*lock), dir, options, std::move(*key)));
}

Result<std::unique_ptr<ClinicReplica>> ClinicReplica::Build(
    std::unique_ptr<State> state) {
  State& s = *state;
  DatabaseOptions db_options = s.options.database;
  db_options.create_if_missing = false;
  auto db = Database::Open(s.dir / kReplicaDatabaseFileName, s.data_key.bytes(),
                           db_options);
  if (!db) return Fail(db.error());
  s.db.emplace(std::move(*db));
  auto migrated = Migrate(*s.db, schema::ClinicMigrations(), s.wall);
  if (!migrated) {
    return Fail(migrated.error().WithContext(s.db->path().string()));
  }

  auto site = ReadUuidSetting(*s.db, kSiteIdSetting);
  if (!site) return Fail(site.error());
  auto device = ReadUuidSetting(*s.db, kDeviceIdSetting);
  if (!device) return Fail(device.error());
  auto blob_key = ReadBlobKey(*s.db);
  if (!blob_key) return Fail(blob_key.error());
  s.site = *site;
  s.device = *device;

  auto writer = LocalWriter::Create(*s.db, s.clock, s.ids, s.site.ToString());
  if (!writer) return Fail(writer.error());
  s.writer = std::move(*writer);
  s.audit.emplace(*s.db, s.wall, s.clock, s.ids, s.site, s.device);

  auto blobs = SealedFileBlobStore::Open(s.dir / kReplicaBlobDirName,
                                         std::move(*blob_key), s.file_ops);
  if (!blobs) return Fail(blobs.error());
  s.blobs = std::move(*blobs);
  // Temp files of Put()s a crash interrupted. Safe now: the directory lock
  // keeps other writers out and this one has not started. Housekeeping
  // only — a failure here must not lock a clinic out of its data, so it is
  // ignored (the next Open() tries again).
  (void)s.blobs->RemoveStaleTempFiles();

  s.patients.emplace(*s.db, *s.writer, *s.audit, s.wall, s.ids, s.site);
  s.recordings.emplace(*s.db, *s.writer, *s.audit, *s.blobs, s.wall, s.ids,
                       s.site);
  s.analyses.emplace(*s.db, *s.writer, *s.audit, s.ids);
  s.users.emplace(*s.db, *s.writer, *s.audit, s.ids, s.options.users);
  s.devices.emplace(*s.db, *s.writer, *s.audit, s.ids, s.site);
  s.interpretations.emplace(*s.db, *s.writer, *s.audit, s.wall, s.ids);
  s.reports.emplace(*s.db, *s.writer, *s.audit, s.ids);
  s.conflicts.emplace(*s.db, *s.writer, *s.audit, s.wall, s.ids, s.site);

  s.directory.emplace(*s.db);
  AuthenticatorOptions auth_options;
  auth_options.clock = &s.wall;
  auth_options.hash_cost = s.options.users.hash_cost;
  auto authenticator = OfflineAuthenticator::Create(*s.directory, auth_options);
  if (!authenticator) return Fail(authenticator.error());
  s.authenticator = std::move(*authenticator);
  s.sign_in.emplace(*s.authenticator, *s.directory, *s.writer, *s.audit);

  return std::unique_ptr<ClinicReplica>(new ClinicReplica(std::move(state)));
}

Status ClinicReplica::ChangePassphrase(std::string_view old_passphrase,
                                       std::string_view new_passphrase,
                                       const Principal* who) {
  if (new_passphrase.empty()) {
    return Fail(ErrorCode::kInvalidArgument, "replica.new_passphrase: empty");
  }
  KeyFileOptions key_options;
  key_options.kdf = state_->options.kdf;
  key_options.file_ops = &state_->file_ops;
  // Serialised with every other key-file writer by the directory lock (other
  // processes) and this object's one-thread contract (this process).
  const Status changed =
      engine::ChangePassphrase(state_->dir / kReplicaKeyFileName,
                               old_passphrase, new_passphrase, key_options);
  AuditOutcome outcome = AuditOutcome::kOk;
  if (!changed) {
    outcome = changed.error().code() == ErrorCode::kPermissionDenied
                  ? AuditOutcome::kDenied
                  : AuditOutcome::kError;
  }
  // After the fact: an event written first would claim a change that a
  // failure could still undo.
  Status audited = [&]() -> Status {
    auto event =
        state_->audit->Next(AuditFact{who, AuditAction::kKeyChange, "key_file",
                                      std::nullopt, std::nullopt, outcome});
    if (!event) return Fail(event.error());
    auto committed = state_->writer->Commit(
        std::span<const RowWrite>(&*event, 1),
        who != nullptr ? who->user_id.ToString() : kNoUser);
    if (!committed) return Fail(committed.error());
    return OkStatus();
  }();
  if (!changed) return changed;  // the attempt's error is the one to report
  if (!audited) {
    return Fail(audited.error().WithContext(
        "passphrase changed, but its audit event was not written"));
  }
  return OkStatus();
}

Result<ReplicaStatus> ClinicReplica::GetStatus() {
  auto status = ReadStatusParts(*state_->db);
  if (!status) return status;
  auto pending = state_->writer->PendingChanges();
  if (!pending) return Fail(pending.error());
  status->pending_changes = *pending;
  return status;
}

Result<ReplicaReader> ClinicReplica::OpenReader() const {
  DatabaseOptions options = state_->options.database;
  options.create_if_missing = false;
  auto db = Database::Open(state_->dir / kReplicaDatabaseFileName,
                           state_->data_key.bytes(), options);
  if (!db) return Fail(db.error());
  // Per connection: every write through this one fails in SQLite itself,
  // whatever the caller prepares.
  if (Status s = db->Execute("PRAGMA query_only = 1"); !s) {
    return Fail(s.error());
  }
  return ReplicaReader(std::move(*db), state_->site, state_->device);
}

Result<ReplicaStatus> ReplicaReader::GetStatus() {
  auto status = ReadStatusParts(db_);
  if (!status) return status;
  // The same count as LocalWriter::PendingChanges(), which needs a writer.
  auto stmt =
      db_.Prepare("SELECT count(*) FROM change_log WHERE batch_id IS NULL");
  if (!stmt) return Fail(stmt.error());
  auto row = stmt->Step();
  if (!row) return Fail(row.error());
  auto pending = stmt->ColumnInt64(0);
  if (!pending) return Fail(pending.error());
  status->pending_changes = *pending;
  return status;
}

const Uuid& ClinicReplica::site_id() const { return state_->site; }
const Uuid& ClinicReplica::device_id() const { return state_->device; }
const fs::path& ClinicReplica::dir() const { return state_->dir; }
PatientRepository& ClinicReplica::patients() { return *state_->patients; }
RecordingRepository& ClinicReplica::recordings() { return *state_->recordings; }
AnalysisRepository& ClinicReplica::analyses() { return *state_->analyses; }
UserRepository& ClinicReplica::users() { return *state_->users; }
DeviceRepository& ClinicReplica::devices() { return *state_->devices; }
InterpretationRepository& ClinicReplica::interpretations() {
  return *state_->interpretations;
}
ReportRepository& ClinicReplica::reports() { return *state_->reports; }
ConflictRepository& ClinicReplica::conflicts() { return *state_->conflicts; }
SignIn& ClinicReplica::sign_in() { return *state_->sign_in; }
LocalWriter& ClinicReplica::writer() { return *state_->writer; }
Merger& ClinicReplica::merger() { return state_->writer->merger(); }
AuditLog& ClinicReplica::audit_log() { return *state_->audit; }
Database& ClinicReplica::database() { return *state_->db; }
HybridClock& ClinicReplica::clock() { return state_->clock; }
UuidV7Generator& ClinicReplica::ids() { return state_->ids; }
BlobStore& ClinicReplica::blob_store() { return *state_->blobs; }

}  // namespace pulse::engine
