// The embedded central store. Design notes:
// - The store is a clinic replica directory (engine/replica.h) whose site
//   is the central site: the key file, the keyed database, the directory
//   lock, the HLC, the LocalWriter and the user repository all come from
//   ClinicReplica, so the central store merges exactly as clinics do.
//   The central tables (schema/central/) are a second migration sequence
//   in the same database (ledger central_migrations), so that ingest —
//   merge, global_log, push_batches — is one SQLite transaction.
// - Writes: one writer connection behind writer_mutex_. Reads that need no
//   audit (sessions, users for login, pull pages) use a small pool of
//   query_only reader connections; WAL lets them read beside the writer.
// - Central writes (AddSite, AddUser) go through the replica's LocalWriter
//   and so land in its outbox (change_log); DrainOutbox() moves them into
//   global_log and marks them pushed in one transaction. Open() drains
//   too, so a crash between the two steps loses nothing.
#include "pulse/sync_server/sqlcipher_central_store.h"

#include "sqlcipher_central_state.h"

#include <condition_variable>
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

Result<std::int64_t> CountConflicts(Database& db) {
  auto stmt = db.Prepare("SELECT COUNT(*) FROM conflicts");
  if (!stmt) return Fail(stmt.error());
  auto found = stmt->Step();
  if (!found) return Fail(found.error());
  return stmt->ColumnInt64(0);
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
    : state_(std::move(state)) {}

SqlcipherCentralStore::~SqlcipherCentralStore() {
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
  std::lock_guard lock(state_->writer_mutex);
  auto stmt = state_->replica->database().Prepare(
      "INSERT INTO sessions (token_hash, user_id, role, site, created_ms, "
      "last_seen_ms, expires_ms, revoked) VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
  if (!stmt) return Fail(stmt.error());
  if (Status s = stmt->BindText(1, session.token_hash); !s) return s;
  if (Status s = stmt->BindText(2, session.user_id); !s) return s;
  if (Status s = stmt->BindText(3, engine::RoleName(session.role)); !s) {
    return s;
  }
  if (Status s = session.site ? stmt->BindText(4, *session.site)
                              : stmt->BindNull(4);
      !s) {
    return s;
  }
  if (Status s = stmt->BindInt64(5, session.created_ms); !s) return s;
  if (Status s = stmt->BindInt64(6, session.last_seen_ms); !s) return s;
  if (Status s = stmt->BindInt64(7, session.expires_ms); !s) return s;
  if (Status s = stmt->BindInt64(8, session.revoked ? 1 : 0); !s) return s;
  return stmt->Run();
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
  std::lock_guard lock(state_->writer_mutex);
  auto stmt = state_->replica->database().Prepare(
      "UPDATE sessions SET last_seen_ms = ? WHERE token_hash = ? AND "
      "last_seen_ms < ?");
  if (!stmt) return Fail(stmt.error());
  if (Status s = stmt->BindInt64(1, now_ms); !s) return s;
  if (Status s = stmt->BindText(2, token_hash); !s) return s;
  if (Status s = stmt->BindInt64(3, now_ms); !s) return s;
  return stmt->Run();
}

Status SqlcipherCentralStore::RevokeSession(std::string_view token_hash) {
  std::lock_guard lock(state_->writer_mutex);
  Database& db = state_->replica->database();
  auto stmt = db.Prepare("UPDATE sessions SET revoked = 1 WHERE token_hash = ?");
  if (!stmt) return Fail(stmt.error());
  if (Status s = stmt->BindText(1, token_hash); !s) return s;
  if (Status s = stmt->Run(); !s) return s;
  if (db.ChangedRowCount() == 0) {
    return Fail(ErrorCode::kNotFound, "session: no such session");
  }
  return OkStatus();
}

Result<IngestResult> SqlcipherCentralStore::IngestBatch(
    const IngestRequest& request, const EntryAuthorizer& authorize) {
  std::lock_guard lock(state_->writer_mutex);
  engine::ClinicReplica& r = *state_->replica;
  Database& db = r.database();
  auto txn = db.Begin(TransactionMode::kImmediate);
  if (!txn) return Fail(txn.error());

  {
    auto seen = db.Prepare(
        "SELECT accepted, conflicts FROM push_batches WHERE batch_id = ?");
    if (!seen) return Fail(seen.error());
    if (Status s = seen->BindText(1, request.batch_id); !s) return Fail(s.error());
    auto was_seen = seen->Step();
    if (!was_seen) return Fail(was_seen.error());
    if (*was_seen) {
      IngestResult again;
      again.duplicate = true;
      again.accepted = seen->ColumnInt64(0).value_or(0);
      again.conflicts = seen->ColumnInt64(1).value_or(0);
      return again;
    }
  }

  auto before = CountConflicts(db);
  if (!before) return Fail(before.error());
  IngestResult result;
  engine::Hlc newest;
  for (std::size_t i = 0; i < request.changes.size(); ++i) {
    const ChangeEntry& entry = request.changes[i];
    const std::string at = "changes[" + std::to_string(i) + "]";
    const engine::ReplicatedTable* t = engine::FindReplicatedTable(entry.table);
    if (t == nullptr) {
      return Fail(ErrorCode::kInvalidArgument,
                  at + ".table: not a replicated table");
    }
    auto stored = ReadStoredRow(db, *t, entry.row);
    if (!stored) return Fail(stored.error());
    const std::optional<std::string> entry_site = EntrySite(entry);
    if (stored->exists && entry_site && entry_site != stored->site) {
      return Fail(ErrorCode::kPermissionDenied,
                  at + ": would move a row to another site");
    }
    RowContext context;
    context.exists = stored->exists;
    context.row_site = stored->exists ? stored->site : entry_site;
    if (Status s = authorize(i, entry, context); !s) return Fail(s.error());
    if (auto observed = r.clock().Observe(entry.hlc); !observed) {
      return Fail(ErrorCode::kInvalidArgument,
                  at + ".hlc: " + observed.error().message());
    }
    newest = std::max(newest, entry.hlc);
    auto applied = r.merger().Apply(entry);
    if (!applied) return Fail(applied.error().WithContext(at));
    if (!*applied) continue;
    auto encoded = engine::EncodeChange(entry);
    if (!encoded) return Fail(encoded.error().WithContext(at));
    if (Status s = AppendGlobal(db, entry, context.row_site, *encoded); !s) {
      return Fail(s.error());
    }
    ++result.accepted;
  }
  // A restart must not mint central stamps below what it has stored.
  if (Status s = engine::RaiseHlcHighWater(db, newest); !s) {
    return Fail(s.error());
  }
  auto after = CountConflicts(db);
  if (!after) return Fail(after.error());
  result.conflicts = *after - *before;

  auto record = db.Prepare(
      "INSERT INTO push_batches (batch_id, site, pushed_by, received_ms, "
      "accepted, conflicts) VALUES (?, ?, ?, ?, ?, ?)");
  if (!record) return Fail(record.error());
  if (Status s = record->BindText(1, request.batch_id); !s) return Fail(s.error());
  if (Status s = record->BindText(2, request.site); !s) return Fail(s.error());
  if (Status s = record->BindText(3, request.pushed_by); !s) {
    return Fail(s.error());
  }
  if (Status s = record->BindInt64(4, request.received_ms); !s) {
    return Fail(s.error());
  }
  if (Status s = record->BindInt64(5, result.accepted); !s) {
    return Fail(s.error());
  }
  if (Status s = record->BindInt64(6, result.conflicts); !s) {
    return Fail(s.error());
  }
  if (Status s = record->Run(); !s) return Fail(s.error());
  if (Status s = txn->Commit(); !s) return Fail(s.error());
  return result;
}

Result<PullPage> SqlcipherCentralStore::Pull(std::string_view site,
                                             std::int64_t cursor, int limit) {
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
  PullPage page;
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
    auto entry = engine::DecodeChange(*text);
    if (!entry) return Fail(entry.error().WithContext("global_log"));
    page.changes.push_back(std::move(*entry));
    page.next_cursor = *seq;
  }
  return page;
}

Status SqlcipherCentralStore::NoteSiteSync(std::string_view site, bool push,
                                           std::int64_t now_ms) {
  std::lock_guard lock(state_->writer_mutex);
  Database& db = state_->replica->database();
  // No UPSERT in SQLite 3.15: insert the row if missing, then update it.
  auto insert = db.Prepare("INSERT OR IGNORE INTO site_sync (site) VALUES (?)");
  if (!insert) return Fail(insert.error());
  if (Status s = insert->BindText(1, site); !s) return s;
  if (Status s = insert->Run(); !s) return s;
  auto update = db.Prepare(push ? "UPDATE site_sync SET last_push_ms = ? "
                                  "WHERE site = ?"
                                : "UPDATE site_sync SET last_pull_ms = ? "
                                  "WHERE site = ?");
  if (!update) return Fail(update.error());
  if (Status s = update->BindInt64(1, now_ms); !s) return s;
  if (Status s = update->BindText(2, site); !s) return s;
  return update->Run();
}

}  // namespace pulse::sync_server
