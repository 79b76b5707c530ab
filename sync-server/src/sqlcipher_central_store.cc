// The embedded central store. Design notes:
// - The store is a clinic replica directory (engine/replica.h) whose site
//   is the central site: the key file, the keyed database, the directory
//   lock, the HLC, the LocalWriter and the user repository all come from
//   ClinicReplica, so the central store merges exactly as clinics do.
//   The central tables (schema/central/) are a second migration sequence
//   in the same database (ledger central_migrations), so that ingest —
//   merge, global_log, push_batches — is one SQLite transaction.
// - Writes: one writer connection behind writer_mutex. Reads that need no
//   audit (sessions, users for login, pull pages) use a small pool of
//   query_only reader connections; WAL lets them read beside the writer.
// - Group commit (RunGrouped): the store's own writes queue as WriteOps; the
//   op at the head of the queue is the leader: it takes a group from the
//   head (at most kMaxGroupOps ops and kMaxGroupChanges changes), opens one
//   IMMEDIATE transaction, runs each op inside its own SAVEPOINT (released
//   on success, rolled back alone on failure), commits once, and then wakes
//   each op of the group with its own status; the next op in the queue
//   becomes the next leader. A WAL commit costs one fsync (~1.5 ms on the
//   build box), so one commit per push capped the server near the disk's
//   fsync rate; a group pays it once for everything that queued meanwhile.
//   Every op is answered only after the commit that holds it, so a 200
//   still means "on disk" (synchronous = FULL). If SQLite aborts the whole
//   transaction (I/O error, disk full), every op applied so far in it fails
//   with that error and the rest are retried in a fresh transaction.
//   Other stores on this database (blob, admin, audit) still take
//   writer_mutex and commit on their own; the leader holds writer_mutex for
//   its whole group, so the two ways of writing never interleave.
// - Central writes (AddSite, AddUser) go through the replica's LocalWriter
//   and so land in its outbox (change_log); DrainOutbox() moves them into
//   global_log and marks them pushed in one transaction. Open() drains
//   too, so a crash between the two steps loses nothing.
#include "pulse/sync_server/sqlcipher_central_store.h"

#include "sqlcipher_central_state.h"

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <utility>
#include <vector>

#include "pulse/engine/database.h"
#include "pulse/engine/merge.h"
#include "pulse/engine/migrations.h"
#include "pulse/engine/replica.h"
#include "pulse/engine/replicated_tables.h"
#include "pulse/engine/users.h"
#include "pulse/engine/uuid.h"

namespace pulse::engine::schema {
std::span<const Migration> CentralMigrations();
}  // namespace pulse::engine::schema

namespace pulse::sync_server {
namespace {

using engine::ChangeEntry;
using engine::Database;
using engine::Statement;
using engine::TransactionMode;

constexpr std::string_view kCentralLedger = "central_migrations";

// Group commit limits (see the file comment). A group stops growing at
// whichever comes first; a single op bigger than kMaxGroupChanges still runs
// (alone). 20 000 changes keep a group's transaction near 0.5 s of merge
// work at the measured rates, bounding how long the last op of a group
// waits for the first.
constexpr std::size_t kMaxGroupOps = 256;
constexpr std::size_t kMaxGroupChanges = 20'000;

// Page cache of the writer connection. The merge wants more than SQLite's
// 2 MB (merge.cc, kMergeCacheKiB: 16 MiB per merging connection); the
// central writer also appends global_log and push_batches, so it gets 64 MiB
// (bounded: the whole server stays far below 1 GiB).
constexpr std::int64_t kWriterCacheKiB = 64 * 1024;

engine::Clock& WallOf(const CentralStoreOptions& options) {
  return options.wall_clock != nullptr ? *options.wall_clock
                                       : engine::SystemClock();
}

engine::ReplicaOptions ReplicaOptionsOf(const CentralStoreOptions& options) {
  engine::ReplicaOptions r;
  r.kdf = options.kdf;
  r.users.hash_cost = options.password_cost;
  r.wall_clock = options.wall_clock;
  return r;
}

std::int64_t NowMs(engine::Clock& clock) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             clock.Now().time_since_epoch())
      .count();
}

Result<std::optional<std::string>> OptionalText(const Statement& stmt,
                                                int column) {
  if (stmt.IsNull(column)) return std::optional<std::string>();
  auto text = stmt.ColumnText(column);
  if (!text) return Fail(text.error());
  return std::optional<std::string>(std::string(*text));
}

// The site a change's row belongs to: the site_id the entry sets, else the
// stored row's. `stored` is the stored row's site (nullopt: none or NULL).
std::optional<std::string> EntrySite(const ChangeEntry& entry) {
  auto it = entry.fields.find("site_id");
  if (it == entry.fields.end()) return std::nullopt;
  if (const auto* text = std::get_if<std::string>(&it->second)) return *text;
  return std::nullopt;
}

struct StoredRow {
  bool exists = false;
  std::optional<std::string> site;
};

Result<StoredRow> ReadStoredRow(Database& db, const engine::ReplicatedTable& t,
                                std::string_view row) {
  // The table name is one of ReplicatedTables(): safe in SQL text.
  auto stmt = db.Prepare("SELECT site_id FROM " + std::string(t.name) +
                         " WHERE id = ?");
  if (!stmt) return Fail(stmt.error());
  if (Status s = stmt->BindText(1, row); !s) return Fail(s.error());
  auto found = stmt->Step();
  if (!found) return Fail(found.error());
  StoredRow out;
  if (!*found) return out;
  out.exists = true;
  auto site = OptionalText(*stmt, 0);
  if (!site) return Fail(site.error());
  out.site = std::move(*site);
  return out;
}

Status AppendGlobal(Database& db, const ChangeEntry& entry,
                    const std::optional<std::string>& row_site,
                    std::string_view encoded) {
  auto stmt = db.Prepare(
      "INSERT INTO global_log (entry_id, row_site, tbl, entry) "
      "VALUES (?, ?, ?, ?)");
  if (!stmt) return Fail(stmt.error());
  if (Status s = stmt->BindText(1, entry.id); !s) return s;
  if (Status s = row_site ? stmt->BindText(2, *row_site) : stmt->BindNull(2);
      !s) {
    return s;
  }
  if (Status s = stmt->BindText(3, entry.table); !s) return s;
  if (Status s = stmt->BindText(4, encoded); !s) return s;
  return stmt->Run();
}

Result<StoredUser> ReadUser(const Statement& stmt) {
  // Columns: id, username, role, site_id, password_hash, active.
  StoredUser u;
  auto id = stmt.ColumnText(0);
  auto name = stmt.ColumnText(1);
  auto role_text = stmt.ColumnText(2);
  if (!id || !name || !role_text) {
    return Fail(ErrorCode::kCorruption, "users: a row lacks id, name or role");
  }
  auto role = engine::ParseRole(*role_text);
  if (!role) return Fail(ErrorCode::kCorruption, "users: unknown role");
  u.id = std::string(*id);
  u.username = std::string(*name);
  u.role = *role;
  auto site = OptionalText(stmt, 3);
  if (!site) return Fail(site.error());
  u.site = std::move(*site);
  auto hash = OptionalText(stmt, 4);
  if (!hash) return Fail(hash.error());
  u.password_hash = hash->value_or("");
  auto active = stmt.IsNull(5) ? Result<std::int64_t>(0) : stmt.ColumnInt64(5);
  u.active = active && *active != 0;
  return u;
}

constexpr std::string_view kUserColumns =
    "SELECT id, username, role, site_id, password_hash, active FROM users ";

Result<Session> ReadSession(const Statement& stmt) {
  // Columns: token_hash, user_id, role, site, created_ms, last_seen_ms,
  // expires_ms, revoked.
  Session s;
  auto hash = stmt.ColumnText(0);
  auto user = stmt.ColumnText(1);
  auto role_text = stmt.ColumnText(2);
  if (!hash || !user || !role_text) {
    return Fail(ErrorCode::kCorruption, "sessions: a row lacks a column");
  }
  auto role = engine::ParseRole(*role_text);
  if (!role) return Fail(ErrorCode::kCorruption, "sessions: unknown role");
  s.token_hash = std::string(*hash);
  s.user_id = std::string(*user);
  s.role = *role;
  auto site = OptionalText(stmt, 3);
  if (!site) return Fail(site.error());
  s.site = std::move(*site);
  auto created = stmt.ColumnInt64(4);
  auto seen = stmt.ColumnInt64(5);
  auto expires = stmt.ColumnInt64(6);
  auto revoked = stmt.ColumnInt64(7);
  if (!created || !seen || !expires || !revoked) {
    return Fail(ErrorCode::kCorruption, "sessions: a time is not an integer");
  }
  s.created_ms = *created;
  s.last_seen_ms = *seen;
  s.expires_ms = *expires;
  s.revoked = *revoked != 0;
  return s;
}

// A lazily prepared statement of the writer connection; Use() hands it
// back reset, with no bindings.
class CachedStatement {
 public:
  Result<Statement*> Use(Database& db, std::string_view sql) {
    if (!stmt_) {
      auto stmt = db.Prepare(sql);
      if (!stmt) return Fail(stmt.error());
      stmt_.emplace(std::move(*stmt));
    } else {
      stmt_->Reset();
    }
    return &*stmt_;
  }

 private:
  std::optional<Statement> stmt_;
};

}  // namespace

// One queued write (see RunGrouped). Lives on its caller's stack; the
// leader touches it only while the caller waits.
struct SqlcipherCentralStore::WriteOp {
  // Runs on the leader's thread, under writer_mutex, inside the group's
  // transaction and a SAVEPOINT of its own. A failed Status rolls back
  // this op's writes only.
  std::function<Status(Writer&, Database&)> apply;
  std::size_t changes = 0;  // its weight against kMaxGroupChanges
  Status status;            // the answer, valid once `done`
  bool done = false;        // guarded by Writer::queue_mutex
  std::condition_variable wake;
};

// The group-commit queue, and the statements the writes prepare once on
// the writer connection (used only under writer_mutex).
struct SqlcipherCentralStore::Writer {
  std::mutex queue_mutex;
  std::deque<WriteOp*> queue;  // head = the running or next leader

  std::map<std::string, CachedStatement, std::less<>> stored_row;  // by table
  CachedStatement append_global;
  CachedStatement seen_batch;
  CachedStatement record_batch;
  CachedStatement count_conflicts;
  CachedStatement create_session;
  CachedStatement touch_session;
  CachedStatement revoke_session;
  CachedStatement site_sync_insert;
  CachedStatement site_sync_push;
  CachedStatement site_sync_pull;
};

namespace {

// `cached`: the writer's statement for table `t` (Writer::stored_row).
Result<StoredRow> ReadStoredRowCached(CachedStatement& cached, Database& db,
                                      const engine::ReplicatedTable& t,
                                      std::string_view row) {
  // The table name is one of ReplicatedTables(): safe in SQL text.
  auto stmt = cached.Use(
      db, "SELECT site_id FROM " + std::string(t.name) + " WHERE id = ?");
  if (!stmt) return Fail(stmt.error());
  if (Status s = (*stmt)->BindText(1, row); !s) return Fail(s.error());
  auto found = (*stmt)->Step();
  if (!found) return Fail(found.error());
  StoredRow out;
  if (!*found) return out;
  out.exists = true;
  auto site = OptionalText(**stmt, 0);
  if (!site) return Fail(site.error());
  out.site = std::move(*site);
  (*stmt)->Reset();
  return out;
}

Result<std::int64_t> CountConflictsCached(CachedStatement& cached,
                                          Database& db) {
  auto stmt = cached.Use(db, "SELECT COUNT(*) FROM conflicts");
  if (!stmt) return Fail(stmt.error());
  auto found = (*stmt)->Step();
  if (!found) return Fail(found.error());
  auto n = (*stmt)->ColumnInt64(0);
  (*stmt)->Reset();
  return n;
}

Status AppendGlobalCached(CachedStatement& cached, Database& db,
                          const ChangeEntry& entry,
                          const std::optional<std::string>& row_site,
                          std::string_view encoded) {
  auto stmt = cached.Use(
      db,
      "INSERT INTO global_log (entry_id, row_site, tbl, entry) "
      "VALUES (?, ?, ?, ?)");
  if (!stmt) return Fail(stmt.error());
  Statement& st = **stmt;
  if (Status s = st.BindText(1, entry.id); !s) return s;
  if (Status s = row_site ? st.BindText(2, *row_site) : st.BindNull(2); !s) {
    return s;
  }
  if (Status s = st.BindText(3, entry.table); !s) return s;
  if (Status s = st.BindText(4, encoded); !s) return s;
  return st.Run();
}

}  // namespace

// Defined here, declared in sqlcipher_central_state.h.
Status SqlcipherCentralStore::State::DrainOutbox() {
    Database& db = replica->database();
    auto txn = db.Begin(TransactionMode::kImmediate);
    if (!txn) return Fail(txn.error());
    auto rows = db.Prepare(
        "SELECT seq, entry FROM change_log WHERE pushed_at_ms IS NULL "
        "ORDER BY seq");
    if (!rows) return Fail(rows.error());
    std::vector<std::pair<std::int64_t, std::string>> pending;
    for (;;) {
      auto more = rows->Step();
      if (!more) return Fail(more.error());
      if (!*more) break;
      auto seq = rows->ColumnInt64(0);
      auto text = rows->ColumnText(1);
      if (!seq || !text) {
        return Fail(ErrorCode::kCorruption, "change_log: unreadable row");
      }
      pending.emplace_back(*seq, std::string(*text));
    }
    const std::int64_t now = NowMs(WallOf(options));
    for (const auto& [seq, text] : pending) {
      auto entry = engine::DecodeChange(text);
      if (!entry) return Fail(entry.error().WithContext("change_log"));
      std::optional<std::string> site = EntrySite(*entry);
      if (!site) {
        const engine::ReplicatedTable* t =
            engine::FindReplicatedTable(entry->table);
        if (t != nullptr) {
          auto stored = ReadStoredRow(db, *t, entry->row);
          if (!stored) return Fail(stored.error());
          site = stored->site;
        }
      }
      if (Status s = AppendGlobal(db, *entry, site, text); !s) return s;
      auto mark = db.Prepare(
          "UPDATE change_log SET pushed_at_ms = ? WHERE seq = ?");
      if (!mark) return Fail(mark.error());
      if (Status s = mark->BindInt64(1, now); !s) return s;
      if (Status s = mark->BindInt64(2, seq); !s) return s;
      if (Status s = mark->Run(); !s) return s;
    }
    return txn->Commit();
}

engine::Principal SqlcipherCentralStore::State::SystemAdmin(
    std::string_view author) const {
    engine::Principal p;
    p.role = engine::Role::kAdmin;
    auto id = engine::Uuid::Parse(author);
    p.user_id = id ? *id : replica->device_id();
    return p;
}

SqlcipherCentralStore::SqlcipherCentralStore(std::unique_ptr<State> state)
    : state_(std::move(state)), writer_(std::make_unique<Writer>()) {}

SqlcipherCentralStore::~SqlcipherCentralStore() {
  // The cached statements borrow the writer connection: finalized first.
  writer_.reset();
  if (state_) {
    // Readers first: they are connections to the replica's file.
    state_->readers.clear();
    state_->replica.reset();
  }
}

Result<std::unique_ptr<SqlcipherCentralStore>> SqlcipherCentralStore::Build(
    std::unique_ptr<engine::ClinicReplica> replica,
    const CentralStoreOptions& options) {
  auto migrated = engine::Migrate(replica->database(),
                                  engine::schema::CentralMigrations(),
                                  WallOf(options), kCentralLedger);
  if (!migrated) return Fail(migrated.error().WithContext("central schema"));
  auto state = std::make_unique<SqlcipherCentralStore::State>();
  state->options = options;
  state->central_site = replica->site_id().ToString();
  const int readers = std::clamp(options.readers, 1, 64);
  for (int i = 0; i < readers; ++i) {
    auto reader = replica->OpenReader();
    if (!reader) return Fail(reader.error());
    state->readers.push_back(std::move(*reader));
  }
  if (Status s = replica->database().Execute(
          "PRAGMA cache_size = -" + std::to_string(kWriterCacheKiB));
      !s) {
    return Fail(s.error());
  }
  state->replica = std::move(replica);
  if (Status s = state->DrainOutbox(); !s) return Fail(s.error());
  return std::unique_ptr<SqlcipherCentralStore>(
      new SqlcipherCentralStore(std::move(state)));
}

Result<std::unique_ptr<SqlcipherCentralStore>> SqlcipherCentralStore::Create(
    const std::filesystem::path& dir, std::string_view passphrase,
    const CentralStoreOptions& options) {
  engine::ReplicaSetup setup;
  setup.site_id = engine::NewUuidV7();
  setup.passphrase = passphrase;
  auto replica =
      engine::ClinicReplica::Create(dir, setup, ReplicaOptionsOf(options));
  if (!replica) return Fail(replica.error());
  return Build(std::move(*replica), options);
}

Result<std::unique_ptr<SqlcipherCentralStore>> SqlcipherCentralStore::Open(
    const std::filesystem::path& dir, std::string_view passphrase,
    const CentralStoreOptions& options) {
  auto replica =
      engine::ClinicReplica::Open(dir, passphrase, ReplicaOptionsOf(options));
  if (!replica) return Fail(replica.error());
  return Build(std::move(*replica), options);
}

const std::string& SqlcipherCentralStore::central_site_id() const {
  return state_->central_site;
}

Result<std::string> SqlcipherCentralStore::AddSite(const NewSite& site,
                                                   std::string_view author) {
  if (site.name.empty() || site.name.size() > 200) {
    return Fail(ErrorCode::kInvalidArgument, "site.name: 1 to 200 bytes");
  }
  std::lock_guard lock(state_->writer_mutex);
  engine::ClinicReplica& r = *state_->replica;
  const std::string id = r.ids().Next().ToString();
  engine::RowWrite write;
  write.table = "sites";
  write.row = id;
  // A site's own row belongs to the site, so that its clinic pulls it.
  write.fields["site_id"] = id;
  write.fields["name"] = site.name;
  write.fields["region"] = site.region;
  write.fields["timezone"] = site.timezone;
  const std::string who = state_->SystemAdmin(author).user_id.ToString();
  auto committed = r.writer().Commit(std::span(&write, 1), who);
  if (!committed) return Fail(committed.error());
  if (Status s = state_->DrainOutbox(); !s) return Fail(s.error());
  return id;
}

Result<std::string> SqlcipherCentralStore::AddUser(const NewUser& user,
                                                   std::string_view author) {
  std::lock_guard lock(state_->writer_mutex);
  engine::ClinicReplica& r = *state_->replica;
  engine::UserInput in;
  in.username = user.username;
  in.full_name = user.full_name;
  in.role = std::string(engine::RoleName(user.role));
  if (user.site) {
    auto site = engine::Uuid::Parse(*user.site);
    if (!site) {
      return Fail(ErrorCode::kInvalidArgument, "user.site: not a UUID");
    }
    in.site = *site;
  }
  auto id = r.users().Create(state_->SystemAdmin(author), in, user.password);
  if (!id) return Fail(id.error());
  if (Status s = state_->DrainOutbox(); !s) return Fail(s.error());
  return *id;
}

Result<std::string> SqlcipherCentralStore::StateHash() {
  std::lock_guard lock(state_->writer_mutex);
  return engine::CanonicalStateHash(state_->replica->database());
}

Result<std::optional<StoredUser>> SqlcipherCentralStore::FindUserByName(
    std::string_view username) {
  State::ReaderLease lease(*state_);
  auto stmt = lease.db().Prepare(std::string(kUserColumns) +
                                 "WHERE deleted = 0 AND lower(username) = "
                                 "lower(?) LIMIT 2");
  if (!stmt) return Fail(stmt.error());
  if (Status s = stmt->BindText(1, username); !s) return Fail(s.error());
  std::optional<StoredUser> found;
  for (int n = 0;; ++n) {
    auto row = stmt->Step();
    if (!row) return Fail(row.error());
    if (!*row) break;
    // A name held by two live rows after a merge signs in nobody (as the
    // clinic's ReplicaUserDirectory does).
    if (n == 1) return std::optional<StoredUser>();
    auto user = ReadUser(*stmt);
    if (!user) return Fail(user.error());
    found = std::move(*user);
  }
  return found;
}

Result<std::optional<StoredUser>> SqlcipherCentralStore::FindUserById(
    std::string_view user_id) {
  State::ReaderLease lease(*state_);
  auto stmt = lease.db().Prepare(std::string(kUserColumns) + "WHERE id = ?");
  if (!stmt) return Fail(stmt.error());
  if (Status s = stmt->BindText(1, user_id); !s) return Fail(s.error());
  auto row = stmt->Step();
  if (!row) return Fail(row.error());
  if (!*row) return std::optional<StoredUser>();
  auto user = ReadUser(*stmt);
  if (!user) return Fail(user.error());
  return std::optional<StoredUser>(std::move(*user));
}

Status SqlcipherCentralStore::CreateSession(const Session& session) {
  WriteOp op;
  op.apply = [&session](Writer& w, Database& db) -> Status {
    auto stmt = w.create_session.Use(
        db,
        "INSERT INTO sessions (token_hash, user_id, role, site, created_ms, "
        "last_seen_ms, expires_ms, revoked) VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
    if (!stmt) return Fail(stmt.error());
    Statement& st = **stmt;
    if (Status s = st.BindText(1, session.token_hash); !s) return s;
    if (Status s = st.BindText(2, session.user_id); !s) return s;
    if (Status s = st.BindText(3, engine::RoleName(session.role)); !s) {
      return s;
    }
    if (Status s = session.site ? st.BindText(4, *session.site)
                                : st.BindNull(4);
        !s) {
      return s;
    }
    if (Status s = st.BindInt64(5, session.created_ms); !s) return s;
    if (Status s = st.BindInt64(6, session.last_seen_ms); !s) return s;
    if (Status s = st.BindInt64(7, session.expires_ms); !s) return s;
    if (Status s = st.BindInt64(8, session.revoked ? 1 : 0); !s) return s;
    return st.Run();
  };
  return RunGrouped(op);
}

Result<std::optional<Session>> SqlcipherCentralStore::FindSession(
    std::string_view token_hash) {
  State::ReaderLease lease(*state_);
  auto stmt = lease.db().Prepare(
      "SELECT token_hash, user_id, role, site, created_ms, last_seen_ms, "
      "expires_ms, revoked FROM sessions WHERE token_hash = ?");
  if (!stmt) return Fail(stmt.error());
  if (Status s = stmt->BindText(1, token_hash); !s) return Fail(s.error());
  auto row = stmt->Step();
  if (!row) return Fail(row.error());
  if (!*row) return std::optional<Session>();
  auto session = ReadSession(*stmt);
  if (!session) return Fail(session.error());
  return std::optional<Session>(std::move(*session));
}

Status SqlcipherCentralStore::TouchSession(std::string_view token_hash,
                                           std::int64_t now_ms) {
  WriteOp op;
  op.apply = [&](Writer& w, Database& db) -> Status {
    auto stmt = w.touch_session.Use(
        db,
        "UPDATE sessions SET last_seen_ms = ? WHERE token_hash = ? AND "
        "last_seen_ms < ?");
    if (!stmt) return Fail(stmt.error());
    Statement& st = **stmt;
    if (Status s = st.BindInt64(1, now_ms); !s) return s;
    if (Status s = st.BindText(2, token_hash); !s) return s;
    if (Status s = st.BindInt64(3, now_ms); !s) return s;
    return st.Run();
  };
  return RunGrouped(op);
}

Status SqlcipherCentralStore::RevokeSession(std::string_view token_hash) {
  WriteOp op;
  op.apply = [&](Writer& w, Database& db) -> Status {
    auto stmt = w.revoke_session.Use(
        db, "UPDATE sessions SET revoked = 1 WHERE token_hash = ?");
    if (!stmt) return Fail(stmt.error());
    if (Status s = (*stmt)->BindText(1, token_hash); !s) return s;
    if (Status s = (*stmt)->Run(); !s) return s;
    if (db.ChangedRowCount() == 0) {
      return Fail(ErrorCode::kNotFound, "session: no such session");
    }
    return OkStatus();
  };
  return RunGrouped(op);
}

Status SqlcipherCentralStore::RunGrouped(WriteOp& op) {
  Writer& w = *writer_;
  std::unique_lock queue_lock(w.queue_mutex);
  w.queue.push_back(&op);
  op.wake.wait(queue_lock,
               [&] { return op.done || w.queue.front() == &op; });
  if (op.done) return op.status;

  // The leader: the head of the queue and whatever queued behind it.
  std::vector<WriteOp*> group;
  std::size_t changes = 0;
  const std::size_t max_ops = state_->options.group_commit ? kMaxGroupOps : 1;
  for (WriteOp* next : w.queue) {
    if (!group.empty() && (group.size() == max_ops ||
                           changes + next->changes > kMaxGroupChanges)) {
      break;
    }
    group.push_back(next);
    changes += next->changes;
  }
  queue_lock.unlock();
  ApplyGroup(group);
  queue_lock.lock();
  for (WriteOp* member : group) {
    w.queue.pop_front();  // the group is the queue's head, in order
    if (member == &op) continue;
    member->done = true;
    // Notified under the lock: the member cannot return (and destroy
    // itself) before this thread lets go of queue_mutex.
    member->wake.notify_one();
  }
  if (!w.queue.empty()) w.queue.front()->wake.notify_one();
  return op.status;
}

void SqlcipherCentralStore::ApplyGroup(std::span<WriteOp* const> group) {
  std::lock_guard lock(state_->writer_mutex);
  Database& db = state_->replica->database();
  std::size_t next = 0;
  while (next < group.size()) {
    auto txn = db.Begin(TransactionMode::kImmediate);
    if (!txn) {
      for (std::size_t i = next; i < group.size(); ++i) {
        group[i]->status = Fail(txn.error());
      }
      return;
    }
    const std::size_t first = next;
    bool aborted = false;
    for (; next < group.size(); ++next) {
      WriteOp& op = *group[next];
      if (Status s = db.Execute("SAVEPOINT grouped_write"); !s) {
        op.status = s;
        aborted = !db.InTransaction();
        if (aborted) break;
        continue;
      }
      op.status = op.apply(*writer_, db);
      if (op.status) {
        op.status = db.Execute("RELEASE grouped_write");
      }
      if (!op.status && db.InTransaction()) {
        // This op alone is undone; the rest of the group stands.
        Status undone = db.Execute("ROLLBACK TO grouped_write");
        if (undone) undone = db.Execute("RELEASE grouped_write");
        if (!undone) op.status = undone;
      }
      if (!db.InTransaction()) {
        aborted = true;
        break;
      }
    }
    if (aborted) {
      // SQLite rolled the whole transaction back (I/O error, disk full):
      // everything this transaction held is gone, so every op in it fails;
      // the ops after it get a fresh transaction.
      const Status lost = group[next]->status
                              ? Status(Fail(ErrorCode::kIoError,
                                            "group transaction aborted"))
                              : group[next]->status;
      for (std::size_t i = first; i <= next; ++i) {
        if (group[i]->status) group[i]->status = lost;
      }
      ++next;
      continue;
    }
    if (Status s = txn->Commit(); !s) {
      for (std::size_t i = first; i < next; ++i) {
        if (group[i]->status) group[i]->status = s;
      }
    }
  }
}

// site_sync: when `site` last pushed or pulled (admin's site list).
Status SqlcipherCentralStore::RecordSiteSync(Writer& w, Database& db,
                                             std::string_view site, bool push,
                                             std::int64_t now_ms) {
  // No UPSERT in SQLite 3.15: insert the row if missing, then update it.
  auto insert = w.site_sync_insert.Use(
      db, "INSERT OR IGNORE INTO site_sync (site) VALUES (?)");
  if (!insert) return Fail(insert.error());
  if (Status s = (*insert)->BindText(1, site); !s) return s;
  if (Status s = (*insert)->Run(); !s) return s;
  auto update =
      push ? w.site_sync_push.Use(
                 db, "UPDATE site_sync SET last_push_ms = ? WHERE site = ?")
           : w.site_sync_pull.Use(
                 db, "UPDATE site_sync SET last_pull_ms = ? WHERE site = ?");
  if (!update) return Fail(update.error());
  if (Status s = (*update)->BindInt64(1, now_ms); !s) return s;
  if (Status s = (*update)->BindText(2, site); !s) return s;
  return (*update)->Run();
}

Result<IngestResult> SqlcipherCentralStore::IngestBatch(
    const IngestRequest& request, const EntryAuthorizer& authorize) {
  IngestResult result;
  WriteOp op;
  op.changes = request.changes.size();
  op.apply = [&](Writer& w, Database& db) -> Status {
    result = IngestResult();
    engine::ClinicReplica& r = *state_->replica;
    {
      auto seen = w.seen_batch.Use(
          db, "SELECT accepted, conflicts FROM push_batches WHERE batch_id = ?");
      if (!seen) return Fail(seen.error());
      Statement& st = **seen;
      if (Status s = st.BindText(1, request.batch_id); !s) return s;
      auto was_seen = st.Step();
      if (!was_seen) return Fail(was_seen.error());
      if (*was_seen) {
        result.duplicate = true;
        result.accepted = st.ColumnInt64(0).value_or(0);
        result.conflicts = st.ColumnInt64(1).value_or(0);
        st.Reset();
        // A resent batch is still the site's contact with the server.
        return RecordSiteSync(w, db, request.site, /*push=*/true,
                              request.received_ms);
      }
    }

    auto before = CountConflictsCached(w.count_conflicts, db);
    if (!before) return Fail(before.error());
    engine::Hlc newest;
    for (std::size_t i = 0; i < request.changes.size(); ++i) {
      const ChangeEntry& entry = request.changes[i];
      const engine::ReplicatedTable* t =
          engine::FindReplicatedTable(entry.table);
      if (t == nullptr) {
        return Fail(ErrorCode::kInvalidArgument,
                    "changes[" + std::to_string(i) +
                        "].table: not a replicated table");
      }
      auto cached = w.stored_row.find(t->name);
      if (cached == w.stored_row.end()) {
        cached = w.stored_row.emplace(std::string(t->name), CachedStatement())
                     .first;
      }
      auto stored = ReadStoredRowCached(cached->second, db, *t, entry.row);
      if (!stored) return Fail(stored.error());
      const std::optional<std::string> entry_site = EntrySite(entry);
      if (stored->exists && entry_site && entry_site != stored->site) {
        return Fail(ErrorCode::kPermissionDenied,
                    "changes[" + std::to_string(i) +
                        "]: would move a row to another site");
      }
      RowContext context;
      context.exists = stored->exists;
      context.row_site = stored->exists ? stored->site : entry_site;
      if (Status s = authorize(i, entry, context); !s) return s;
      if (auto observed = r.clock().Observe(entry.hlc); !observed) {
        return Fail(ErrorCode::kInvalidArgument,
                    "changes[" + std::to_string(i) +
                        "].hlc: " + observed.error().message());
      }
      newest = std::max(newest, entry.hlc);
      auto applied = r.merger().Apply(entry);
      if (!applied) {
        return Fail(applied.error().WithContext(
            "changes[" + std::to_string(i) + "]"));
      }
      if (!*applied) continue;
      auto encoded = engine::EncodeChange(entry);
      if (!encoded) {
        return Fail(encoded.error().WithContext(
            "changes[" + std::to_string(i) + "]"));
      }
      if (Status s =
              AppendGlobalCached(w.append_global, db, entry, context.row_site, *encoded);
          !s) {
        return s;
      }
      ++result.accepted;
    }
    // A restart must not mint central stamps below what it has stored.
    if (Status s = engine::RaiseHlcHighWater(db, newest); !s) return s;
    auto after = CountConflictsCached(w.count_conflicts, db);
    if (!after) return Fail(after.error());
    result.conflicts = *after - *before;

    auto record = w.record_batch.Use(
        db,
        "INSERT INTO push_batches (batch_id, site, pushed_by, received_ms, "
        "accepted, conflicts) VALUES (?, ?, ?, ?, ?, ?)");
    if (!record) return Fail(record.error());
    Statement& st = **record;
    if (Status s = st.BindText(1, request.batch_id); !s) return s;
    if (Status s = st.BindText(2, request.site); !s) return s;
    if (Status s = st.BindText(3, request.pushed_by); !s) return s;
    if (Status s = st.BindInt64(4, request.received_ms); !s) return s;
    if (Status s = st.BindInt64(5, result.accepted); !s) return s;
    if (Status s = st.BindInt64(6, result.conflicts); !s) return s;
    if (Status s = st.Run(); !s) return s;
    // In the same transaction: a push used to wait for a second group
    // commit just for this row.
    return RecordSiteSync(w, db, request.site, /*push=*/true,
                          request.received_ms);
  };
  if (Status s = RunGrouped(op); !s) return Fail(s.error());
  return result;
}

Result<EncodedPullPage> SqlcipherCentralStore::PullEncoded(
    std::string_view site, std::int64_t cursor, int limit) {
  if (limit < 1) {
    return Fail(ErrorCode::kInvalidArgument, "limit: must be at least 1");
  }
  State::ReaderLease lease(*state_);
  auto stmt = lease.db().Prepare(
      "SELECT seq, entry FROM global_log WHERE row_site = ? AND seq > ? "
      "ORDER BY seq LIMIT ?");
  if (!stmt) return Fail(stmt.error());
  if (Status s = stmt->BindText(1, site); !s) return Fail(s.error());
  if (Status s = stmt->BindInt64(2, cursor); !s) return Fail(s.error());
  if (Status s = stmt->BindInt64(3, std::int64_t{limit} + 1); !s) {
    return Fail(s.error());
  }
  EncodedPullPage page;
  page.next_cursor = cursor;
  for (;;) {
    auto row = stmt->Step();
    if (!row) return Fail(row.error());
    if (!*row) break;
    if (static_cast<int>(page.changes.size()) == limit) {
      page.more = true;
      break;
    }
    auto seq = stmt->ColumnInt64(0);
    auto text = stmt->ColumnText(1);
    if (!seq || !text) {
      return Fail(ErrorCode::kCorruption, "global_log: unreadable row");
    }
    // Stored as EncodeChange wrote it (IngestBatch, DrainOutbox), inside
    // SQLCipher's authenticated pages: handed over as is. The client
    // validates every entry it decodes.
    page.changes.emplace_back(*text);
    page.next_cursor = *seq;
  }
  return page;
}

Result<PullPage> SqlcipherCentralStore::Pull(std::string_view site,
                                             std::int64_t cursor, int limit) {
  auto encoded = PullEncoded(site, cursor, limit);
  if (!encoded) return Fail(encoded.error());
  PullPage page;
  page.next_cursor = encoded->next_cursor;
  page.more = encoded->more;
  page.changes.reserve(encoded->changes.size());
  for (const std::string& text : encoded->changes) {
    auto entry = engine::DecodeChange(text);
    if (!entry) return Fail(entry.error().WithContext("global_log"));
    page.changes.push_back(std::move(*entry));
  }
  return page;
}

Status SqlcipherCentralStore::NoteSiteSync(std::string_view site, bool push,
                                           std::int64_t now_ms) {
  WriteOp op;
  op.apply = [&](Writer& w, Database& db) -> Status {
    return RecordSiteSync(w, db, site, push, now_ms);
  };
  return RunGrouped(op);
}

}  // namespace pulse::sync_server
