// CentralStore: everything the sync server keeps, behind one interface the
// server owns (DESIGN.md §12): sessions, the users that sign in, the global
// change sequence that pull cursors walk, push-batch idempotency records.
// Handlers reach storage only through it, so a PostgreSQL backend can
// follow without touching them; nothing a second server process would need
// lives only in one process's memory.
//
// The embedded implementation (sqlcipher_central_store.h) is a SQLCipher
// database holding the clinic schema's replicated tables (merged with the
// same Merger as every clinic) plus the central tables of schema/central/.
//
// Thread-safety: every method may be called from any thread concurrently
// (the server's io_context pool); implementations serialise writes
// themselves.
#ifndef PULSE_SYNC_SERVER_CENTRAL_STORE_H_
#define PULSE_SYNC_SERVER_CENTRAL_STORE_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "pulse/base/result.h"
#include "pulse/engine/change.h"
#include "pulse/engine/permissions.h"

namespace pulse::sync_server {

// A user as the login handler needs it (a live row of `users`).
struct StoredUser {
  std::string id;        // canonical UUID
  std::string username;
  engine::Role role = engine::Role::kAuditor;
  std::optional<std::string> site;  // clinic staff only
  std::string password_hash;        // Argon2id (password.h); never logged
  bool active = false;
};

// A bearer-token session. Only the token's hash is stored (BLAKE2b-256 hex
// of the token bytes), so a copy of the database does not sign anyone in.
struct Session {
  std::string token_hash;
  std::string user_id;
  engine::Role role = engine::Role::kAuditor;
  std::optional<std::string> site;
  std::int64_t created_ms = 0;
  std::int64_t last_seen_ms = 0;
  std::int64_t expires_ms = 0;  // absolute expiry
  bool revoked = false;
};

// One push batch to ingest.
struct IngestRequest {
  std::string batch_id;
  std::string site;       // the pushing replica's site
  std::string pushed_by;  // user id of the session
  std::int64_t received_ms = 0;
  std::span<const engine::ChangeEntry> changes;
};

// What the store knows about a pushed entry's row before applying it, for
// the handler's authorisation (the permission matrix and "a clinic writes
// only rows of its own site").
struct RowContext {
  bool exists = false;                   // the row is in the central store
  std::optional<std::string> row_site;   // its site_id (after this entry:
                                         // the entry's site_id field if it
                                         // sets one, else the stored one)
};

// Called for every entry of a batch, in order, inside the ingest
// transaction; a failed Status rolls the whole batch back and is returned
// by IngestBatch unchanged (its message names the entry).
using EntryAuthorizer = std::function<Status(
    std::size_t index, const engine::ChangeEntry& entry, const RowContext&)>;

struct IngestResult {
  std::int64_t accepted = 0;   // entries new to the store
  bool duplicate = false;      // batch id seen before: nothing applied
  std::int64_t conflicts = 0;  // conflicts created by this batch
};

// One page of the global sequence for a site.
struct PullPage {
  std::vector<engine::ChangeEntry> changes;
  std::int64_t next_cursor = 0;
  bool more = false;
};

// The same page with each entry in its canonical encoding (EncodeChange),
// as the pull handler sends it.
struct EncodedPullPage {
  std::vector<std::string> changes;
  std::int64_t next_cursor = 0;
  bool more = false;
};

class CentralStore {
 public:
  virtual ~CentralStore() = default;

  // The live, active user with this username (ASCII case folded), or
  // nullopt.
  virtual Result<std::optional<StoredUser>> FindUserByName(
      std::string_view username) = 0;
  // The user with this id (canonical UUID), live or not — a pushed entry's
  // author is authorised by the role it has now — or nullopt.
  virtual Result<std::optional<StoredUser>> FindUserById(
      std::string_view user_id) = 0;

  virtual Status CreateSession(const Session& session) = 0;
  // The session with this token hash, revoked or not, or nullopt.
  virtual Result<std::optional<Session>> FindSession(
      std::string_view token_hash) = 0;
  // Sets last_seen_ms (idle expiry counts from it).
  virtual Status TouchSession(std::string_view token_hash,
                              std::int64_t now_ms) = 0;
  // Marks the session revoked; kNotFound when there is none.
  virtual Status RevokeSession(std::string_view token_hash) = 0;

  // Applies a batch atomically: if its batch_id was ingested before,
  // returns the first answer with duplicate = true and changes nothing;
  // otherwise authorises every entry (`authorize`), merges them with the
  // shared Merger, appends each new entry to the global sequence and
  // records the batch id and the site's last push time (as NoteSiteSync
  // would, also for a duplicate), all in one transaction.
  virtual Result<IngestResult> IngestBatch(const IngestRequest& request,
                                           const EntryAuthorizer& authorize) = 0;

  // Entries of the global sequence after `cursor` whose row belongs to
  // `site` (rows the site wrote, and rows written centrally for it: its
  // `sites` row, its users, its devices), at most `limit`, in sequence
  // order. REQUIRES: 1 <= limit <= sync::kMaxPullLimit.
  virtual Result<PullPage> Pull(std::string_view site, std::int64_t cursor,
                                int limit) = 0;

  // Pull() with the entries canonically encoded: what the pull handler
  // sends. A store that keeps the encoding overrides this to hand its
  // stored text over without decoding it (a million-change initial sync
  // otherwise decodes and re-encodes every entry on the server). This
  // default encodes Pull()'s entries.
  virtual Result<EncodedPullPage> PullEncoded(std::string_view site,
                                              std::int64_t cursor, int limit) {
    auto page = Pull(site, cursor, limit);
    if (!page) return Fail(page.error());
    EncodedPullPage out;
    out.next_cursor = page->next_cursor;
    out.more = page->more;
    out.changes.reserve(page->changes.size());
    for (const engine::ChangeEntry& entry : page->changes) {
      auto text = engine::EncodeChange(entry);
      if (!text) return Fail(text.error());
      out.changes.push_back(std::move(*text));
    }
    return out;
  }

  // Records when a site last pushed / pulled (admin's site list). Pushes
  // need not call it: IngestBatch records them.
  virtual Status NoteSiteSync(std::string_view site, bool push,
                              std::int64_t now_ms) = 0;
};

}  // namespace pulse::sync_server

#endif  // PULSE_SYNC_SERVER_CENTRAL_STORE_H_
