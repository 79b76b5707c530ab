// SqlcipherAuditTrail: the AuditTrail (audit_trail.h) of the embedded
// central store, on the same database and writer connection
// (SqlcipherCentralStore::state()).
//
// Server events. The central store is a replica directory of the central
// site, so the server's events form the central site's chain in the same
// audit_events table as the clinics' pushed events. They are applied with
// the shared Merger in the server's own transaction — not through the
// LocalWriter outbox — and so never enter global_log: they belong to the
// central site, and no clinic pulls them (a clinic pulls only rows of its
// own site), so copying one row per request into the pull sequence would
// only grow it. Their change entries are authored by the event's actor
// (the nil UUID when none).
//
// Group commit. Append() queues its event and waits; whichever caller
// finds no flush running becomes the leader and commits every queued event
// (up to max_batch) in ONE transaction — one chain-head read, one fsync —
// then wakes the others. At thousands of audited requests per second the
// cost per event is two small inserts, not a transaction. Append() returns
// only once its own event is durable; if the transaction fails, every
// event in it gets the error (nothing of it is stored, no seq is skipped:
// the head is read inside the transaction). AppendAll() queues all its
// events at once and waits once, so the `view` events of a page of 50
// patients share one transaction.
//
// Continuity. CheckContinuity() reads the audit_events rows inserted since
// its watermark (rowid order: rows are never deleted), groups them by
// site, and runs an incremental ChainVerifier from each site's stored head
// (audit_chain_status); the watermark, heads and breaks are written in one
// transaction.
//
// Checkpoints. An Ed25519 key pair is generated at the first Open() and
// kept in audit_signing_keys inside the encrypted database; the secret key
// is held in memory only while the trail lives and is never logged or
// returned. A checkpoint (audit_checkpoint.h) is made on demand, and by
// the trail's own checkpointer thread once `checkpoint_every` new entries
// (global_log rows + central events) have accumulated (an Append() that
// makes it due wakes the thread) or `checkpoint_interval` has passed with
// at least one (the thread looks every second, appends or not). No
// request waits for a periodic checkpoint.
//
// Thread-safety: all methods are safe from any thread. REQUIRES: the store
// outlives the trail.
#ifndef PULSE_SYNC_SERVER_SQLCIPHER_AUDIT_TRAIL_H_
#define PULSE_SYNC_SERVER_SQLCIPHER_AUDIT_TRAIL_H_

#include <chrono>
#include <memory>

#include "pulse/base/result.h"
#include "pulse/engine/clock.h"
#include "pulse/sync_server/audit_trail.h"
#include "pulse/sync_server/sqlcipher_central_store.h"

namespace pulse::sync_server {

struct SqlcipherAuditTrailOptions {
  // Event times and checkpoint times. Null: the store's wall clock.
  engine::Clock* clock = nullptr;
  // Events per group-commit transaction, 1..10000.
  int max_batch = 512;
  // New entries (global_log rows + central events) that trigger a
  // checkpoint; 0: never by count.
  std::int64_t checkpoint_every = 10'000;
  // Time after which the checkpointer makes a checkpoint if anything is
  // new; 0: never by time.
  std::chrono::seconds checkpoint_interval{std::chrono::minutes(10)};
};

class SqlcipherAuditTrail final : public AuditTrail {
 public:
  // Loads the signing key (generating and storing one the first time) and
  // the newest checkpoint. kInvalidArgument for options out of range.
  static Result<std::unique_ptr<SqlcipherAuditTrail>> Open(
      SqlcipherCentralStore& store,
      const SqlcipherAuditTrailOptions& options = {});
  ~SqlcipherAuditTrail() override;

  Status Append(const AuditRecord& record) override;
  Status AppendAll(std::span<const AuditRecord> records) override;
  Status CheckContinuity() override;
  Result<std::vector<ChainStatus>> ChainStatuses() override;
  Result<std::optional<ChainStatus>> SiteChainStatus(
      std::string_view site) override;
  Result<AuditEventPage> QueryEvents(const AuditEventQuery& query) override;
  Result<SiteVerification> VerifySite(std::string_view site) override;
  Result<std::vector<AuditCheckpoint>> Checkpoints(std::int64_t after_seq,
                                                   int limit) override;
  Result<AuditCheckpoint> MakeCheckpoint() override;
  std::string PublicKeyHex() const override;
  std::string KeyId() const override;
  AuditTrailStats Stats() const override;
  Result<std::vector<StoredAuditEvent>> ChainRecords(
      std::string_view site, std::int64_t after_seq, int limit) override;

 private:
  struct Impl;
  explicit SqlcipherAuditTrail(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace pulse::sync_server

#endif  // PULSE_SYNC_SERVER_SQLCIPHER_AUDIT_TRAIL_H_
