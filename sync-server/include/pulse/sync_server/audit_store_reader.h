// Reading and verifying the audit tables of an open database — a central
// store (audit_events of every site, global_log, audit_checkpoints,
// audit_signing_keys) or a clinic replica (its own audit_events) — shared
// by SqlcipherAuditTrail and tools/audit-verify, so the server and the
// independent verifier judge a stored chain with the same code.
//
// Everything here only reads: the caller may pass a query_only connection.
//
// Thread-safety: functions use the given connection only (one thread at a
// time, as Database requires).
#ifndef PULSE_SYNC_SERVER_AUDIT_STORE_READER_H_
#define PULSE_SYNC_SERVER_AUDIT_STORE_READER_H_

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "pulse/base/result.h"
#include "pulse/engine/audit.h"
#include "pulse/engine/database.h"
#include "pulse/engine/uuid.h"
#include "pulse/sync_server/audit_checkpoint.h"

namespace pulse::sync_server {

// One stored row of audit_events in chained-record form. A row whose event
// text or hashes do not decode is reported as an alteration at its seq.
struct StoredChainCheck {
  engine::ChainReport report;  // Finish()ed
  std::int64_t stored_events = 0;
};

// Verifies `site`'s chain as stored in `db`'s audit_events, in seq order
// from genesis; when `expected` is set (a signed checkpoint's head), the
// record at its seq must carry its hash and the chain must reach it.
Result<StoredChainCheck> VerifyStoredChain(
    engine::Database& db, const engine::Uuid& site,
    const std::optional<engine::ChainHead>& expected);

// The distinct site ids of audit_events, sorted.
Result<std::vector<std::string>> StoredAuditSites(engine::Database& db);

// A checkpoint row of audit_checkpoints.
struct StoredCheckpoint {
  std::int64_t seq = 0;
  std::int64_t time_ms = 0;
  std::int64_t global_seq = 0;
  std::string global_hash;
  std::string statement;
  std::string signature;
  std::string key_id;
};
// Checkpoints with seq > after_seq, oldest first, at most `limit` (<= 0:
// all).
Result<std::vector<StoredCheckpoint>> ReadStoredCheckpoints(
    engine::Database& db, std::int64_t after_seq, int limit);
// key_id -> public key (64 hex) of audit_signing_keys.
Result<std::map<std::string, std::string>> ReadSigningPublicKeys(
    engine::Database& db);

// The outcome of checking a sequence of checkpoints.
struct CheckpointCheck {
  bool ok = true;
  std::int64_t checked = 0;            // checkpoints verified intact
  std::optional<std::int64_t> broken;  // the first bad checkpoint's seq
  std::string detail;                  // why (empty when ok)
  // The newest intact statement, decoded (its site heads are what chains
  // are checked against).
  std::optional<CheckpointStatement> newest;
};

// Checks `checkpoints` (oldest first, from checkpoint 1): seqs gapless,
// each statement canonical and matching its row, signed by the key its
// key_id names in `public_keys` (id -> 64 hex public key), each `prev`
// the hash of the previous statement. When `global_hash_at` is given it
// returns the running global_log hash (hex) at a global seq, and each
// checkpoint's global_hash must equal it.
CheckpointCheck VerifyCheckpointSequence(
    const std::vector<StoredCheckpoint>& checkpoints,
    const std::map<std::string, std::string>& public_keys,
    const std::function<Result<std::string>(std::int64_t global_seq)>&
        global_hash_at);

// Computes the running global_log hash incrementally (seq ascending).
// Returns the hash after every entry with seq <= global_seq. Calls must
// come with non-decreasing global_seq.
class GlobalLogHashCursor {
 public:
  explicit GlobalLogHashCursor(engine::Database& db) : db_(db) {}
  // Resuming after `seq`, whose running hash is `hash` (a checkpoint's).
  GlobalLogHashCursor(engine::Database& db, std::int64_t seq,
                      const engine::Blake2b256Digest& hash)
      : db_(db), seq_(seq), hash_(hash) {}
  Result<std::string> HashAt(std::int64_t global_seq);

 private:
  engine::Database& db_;
  std::int64_t seq_ = 0;
  engine::Blake2b256Digest hash_ = GlobalLogGenesis();
};

}  // namespace pulse::sync_server

#endif  // PULSE_SYNC_SERVER_AUDIT_STORE_READER_H_
