// The embedded central store: a clinic replica directory (engine/
// replica.h: key file sealed under the store passphrase, SQLCipher
// database, LOCK — one server process per store) whose site is the
// central site. Schema = the clinic migrations (replicated tables and merge
// bookkeeping, merged with the shared Merger) + the central migrations of
// schema/central/ (sessions, global_log, push batches, site sync times) in
// their own ledger, central_migrations, in the same database so that an
// ingest is one transaction.
//
// Central writes (sites, users made by an admin) go through a LocalWriter
// on the central database with the central site id, and are moved from its
// outbox into global_log in the same step, so clinics pull them like any
// other change.
//
// Thread-safety: all CentralStore methods are safe from any thread; writes
// are serialised on one writer connection (mutex), reads use a pool of
// reader connections (WAL).
//
// Group commit. The store's own writes (IngestBatch, sessions,
// NoteSiteSync) queue; the caller at the head of the queue becomes the
// leader and applies the waiting writes in one transaction, each inside its
// own SAVEPOINT so that a refused batch is rolled back alone, then commits
// once (one WAL fsync for the group) and hands every waiter its own answer.
// No caller is answered before the commit that holds its write.
//
// Durability: the writer runs WAL with synchronous = FULL (database.h):
// every commit fsyncs the WAL before any caller in its group is answered,
// so a push answered 200 survives a power cut.
#ifndef PULSE_SYNC_SERVER_SQLCIPHER_CENTRAL_STORE_H_
#define PULSE_SYNC_SERVER_SQLCIPHER_CENTRAL_STORE_H_

#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "pulse/base/result.h"
#include "pulse/engine/clock.h"
#include "pulse/engine/key_file.h"
#include "pulse/engine/password.h"
#include "pulse/sync_server/central_store.h"

namespace pulse::engine {
class ClinicReplica;
class Database;
}  // namespace pulse::engine

namespace pulse::sync_server {

struct CentralStoreOptions {
  // Argon2id cost of the key file written by Create (tests lower it).
  engine::KdfLimits kdf;
  // Cost of password hashes AddUser writes (tests lower it).
  engine::PasswordHashCost password_cost;
  // Reader connections for pulls and session lookups.
  int readers = 4;
  // false: every write commits on its own (one fsync each), as before group
  // commit; for measuring what grouping buys (docs/performance.md).
  bool group_commit = true;
  // Null: SystemClock(). Must outlive the store and be thread-safe.
  engine::Clock* wall_clock = nullptr;
};

struct NewSite {
  std::string name;
  std::string region;
  std::string timezone;  // IANA name, e.g. "Africa/Nairobi"
};

struct NewUser {
  std::string username;
  std::string full_name;
  engine::Role role = engine::Role::kTechnician;
  std::optional<std::string> site;  // required for clinic staff
  std::string_view password;        // hashed with Argon2id; not kept
};

class SqlcipherCentralStore final : public CentralStore {
 public:
  // Makes a new store at `dir` (must not exist or be empty): random data
  // key sealed under `passphrase`, database migrated, a new central site id.
  // kAlreadyExists when `dir` holds a store.
  static Result<std::unique_ptr<SqlcipherCentralStore>> Create(
      const std::filesystem::path& dir, std::string_view passphrase,
      const CentralStoreOptions& options = {});
  // Opens (and migrates) the store at `dir`. kNotFound: no store there;
  // kPermissionDenied: wrong passphrase; kBusy: another process holds it.
  static Result<std::unique_ptr<SqlcipherCentralStore>> Open(
      const std::filesystem::path& dir, std::string_view passphrase,
      const CentralStoreOptions& options = {});
  ~SqlcipherCentralStore() override;

  // The central replica's own site id (the tie-break of central writes).
  const std::string& central_site_id() const;

  // Admin writes (the admin CLI and, later, the admin API). Return the new
  // row's id. kInvalidArgument naming the field; kAlreadyExists for a
  // username held by a live user.
  Result<std::string> AddSite(const NewSite& site, std::string_view author);
  Result<std::string> AddUser(const NewUser& user, std::string_view author);

  // Canonical state hash of the replicated tables (merge.h), for tests and
  // the e2e convergence check.
  Result<std::string> StateHash();

  // CentralStore:
  Result<std::optional<StoredUser>> FindUserByName(
      std::string_view username) override;
  Result<std::optional<StoredUser>> FindUserById(
      std::string_view user_id) override;
  Status CreateSession(const Session& session) override;
  Result<std::optional<Session>> FindSession(
      std::string_view token_hash) override;
  Status TouchSession(std::string_view token_hash,
                      std::int64_t now_ms) override;
  Status RevokeSession(std::string_view token_hash) override;
  Result<IngestResult> IngestBatch(const IngestRequest& request,
                                   const EntryAuthorizer& authorize) override;
  Result<PullPage> Pull(std::string_view site, std::int64_t cursor,
                        int limit) override;
  Result<EncodedPullPage> PullEncoded(std::string_view site,
                                      std::int64_t cursor,
                                      int limit) override;
  Status NoteSiteSync(std::string_view site, bool push,
                      std::int64_t now_ms) override;

  // The shared writer and reader pool, for the other stores on the same
  // database in this library (src/sqlcipher_central_state.h).
  struct State;
  State& state() { return *state_; }

 private:
  // The group-commit queue and the writer's cached statements (defined in
  // sqlcipher_central_store.cc).
  struct Writer;
  struct WriteOp;

  explicit SqlcipherCentralStore(std::unique_ptr<State> state);
  // Queues `op`, applies it in a group (see the file comment) and returns
  // its own status once the group is committed or refused.
  Status RunGrouped(WriteOp& op);
  // The leader's part: applies `group` (the queue's head) under
  // writer_mutex and sets each op's status.
  void ApplyGroup(std::span<WriteOp* const> group);
  // Upserts site_sync's last push or pull time; inside a write op.
  static Status RecordSiteSync(Writer& w, engine::Database& db,
                               std::string_view site, bool push,
                               std::int64_t now_ms);
  // Migrates the central schema on an open replica and builds the store.
  static Result<std::unique_ptr<SqlcipherCentralStore>> Build(
      std::unique_ptr<engine::ClinicReplica> replica,
      const CentralStoreOptions& options);
  std::unique_ptr<State> state_;
  std::unique_ptr<Writer> writer_;
};

}  // namespace pulse::sync_server

#endif  // PULSE_SYNC_SERVER_SQLCIPHER_CENTRAL_STORE_H_
