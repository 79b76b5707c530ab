// SyncClient: the clinic side of sync (DESIGN.md §5). It pushes a
// replica's outbox (`change_log`) to the sync server in batches and pulls
// the server's changes into the replica with the shared merge, through a
// SyncTransport (curl_transport.h in the product, a fake in tests).
//
// The unit of work is SyncOnce(): one bounded step (log in if needed, push
// until the outbox is empty, pull until the server has nothing more, then
// upload the blobs the server asked for, each within Options::max_steps
// requests) that returns a Status. Start()/Stop()
// wrap it in a timer loop with capped exponential backoff and full jitter
// on failure. The states, transitions and crash-safety argument are the
// comment block at the top of sync_client.cc.
//
// Guarantees (each a test in tests/engine/sync_client_test.cc):
//  * A batch id is minted once and stored with its changes in the same
//    transaction, before the first send; until the server answers 200 the
//    same id is resent with the same changes, across failures, restarts
//    and crashes. No change is ever sent under two batch ids.
//  * The pull cursor is stored in the transaction that applies the page it
//    ends, so a crash never skips a page (and at worst re-applies one,
//    which the merge ignores).
//  * Metadata before blobs: blobs are uploaded only after the push and
//    pull of the step. The blobs a push answer names are stored as pending
//    in the transaction that marks the batch pushed; each upload starts
//    with a HEAD that tells how much the server holds, so a dropped link
//    or a killed process resends at most one chunk (blob_chunk_bytes).
//  * Nothing is logged; errors carry the server's problem detail (which
//    holds no patient data, sync_protocol.h) and never the password or the
//    token.
//
// Persistent state, in the replica's local tables:
//   change_log.batch_id / pushed_at_ms   the outbox and its batches
//   sync_state 'pull_cursor'             next_cursor of the last page applied
//   sync_state 'hlc_high_water'          raised to every pulled stamp
//   sync_state 'blob_pending:<sha256>'   blobs still to upload (size)
//   sync_state 'last_sync_ok_ms', 'last_sync_error'
//                                        for GetState() after a restart and
//                                        for `clinicctl status`
//
// Thread-safety. SyncOnce() uses the replica's writer connection (its
// merger(), database() and clock()), so — ClinicReplica's writer-thread
// rule — it must run on the thread that owns the replica, or with the
// owner's mutex held by the caller. The loop started by Start(mutex) runs
// SyncOnce on its own thread and takes `mutex` around each database step
// (never across a network call), so the owner must hold the same mutex
// around its own uses of the replica while the loop runs. SyncOnce() and
// the loop never run at once (an internal mutex serialises them).
// GetState(), Start(), Stop() and TriggerNow() are safe from any thread.
// The transport is used by one thread at a time: only inside SyncOnce.
#ifndef PULSE_ENGINE_SYNC_CLIENT_H_
#define PULSE_ENGINE_SYNC_CLIENT_H_

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "pulse/base/result.h"
#include "pulse/engine/clock.h"
#include "pulse/engine/replica.h"
#include "pulse/engine/sync_protocol.h"
#include "pulse/engine/sync_transport.h"

namespace pulse::engine {

// Keys of the client's rows in `sync_state`.
inline constexpr std::string_view kPullCursorKey = "pull_cursor";
inline constexpr std::string_view kLastSyncOkKey = "last_sync_ok_ms";
inline constexpr std::string_view kLastSyncErrorKey = "last_sync_error";
// A blob the server asked for and has not confirmed yet: key = this prefix
// + its 64-hex id, value = its size in bytes (0 if unknown locally).
inline constexpr std::string_view kPendingBlobKeyPrefix = "blob_pending:";

// The server's limit on one blob PUT chunk (docs/sync_protocol.md "Blobs").
inline constexpr std::size_t kMaxBlobChunkBytes = std::size_t{8} << 20;

// Where the loop stands (see the state diagram in sync_client.cc). Stable
// numeric values.
enum class SyncPhase {
  kIdle = 0,     // no sync has run yet in this process, or the last succeeded
  kSyncing = 1,  // a SyncOnce() is running
  kOffline = 2,  // the last attempt could not reach the server (kIoError)
  kError = 3,    // the server refused (auth, version, a rejected batch)
};

// "idle", "syncing", "offline", "error".
std::string_view SyncPhaseName(SyncPhase phase);

// What the last SyncOnce() moved.
struct SyncCounts {
  std::int64_t pushed_changes = 0;  // changes in batches the server answered
  std::int64_t accepted = 0;        // of those, new to the server
  std::int64_t push_batches = 0;
  std::int64_t pulled_changes = 0;  // entries received
  std::int64_t applied = 0;         // of those, new to this replica
  std::int64_t pull_pages = 0;
  std::int64_t server_conflicts = 0;
  // Blobs the push answers asked for (recorded as pending, then uploaded).
  std::vector<std::string> missing_blobs;
  std::int64_t uploaded_blobs = 0;    // blobs the server now confirms
  std::int64_t blob_bytes_sent = 0;   // PUT body bytes, resends included
  std::int64_t blob_requests = 0;     // HEAD + PUT requests
};

// A snapshot for the UI's status bar. Holds no patient data and no secret.
struct SyncState {
  SyncPhase phase = SyncPhase::kIdle;
  // True when the last attempt reached the server (any HTTP answer).
  bool online = false;
  // Local changes the server has not acknowledged (batched or not).
  std::int64_t pending_changes = 0;
  // Blobs the server asked for and has not confirmed, and their bytes.
  std::int64_t pending_blobs = 0;
  std::int64_t pending_blob_bytes = 0;
  // Wall-clock time of the last successful SyncOnce(), Unix ms (persisted).
  std::optional<std::int64_t> last_success_ms;
  // The last failure's text ("" after a success).
  std::string last_error;
  ErrorCode last_error_code = ErrorCode::kIoError;  // valid if last_error set
  // The server's and this PC's wall clocks differ by more than the drift
  // policy's warning threshold; skew_ms is server minus local.
  bool clock_skew_warning = false;
  std::int64_t clock_skew_ms = 0;
  // Failures since the last success; drives the backoff.
  int consecutive_failures = 0;
  SyncCounts last_counts;
};

struct SyncClientOptions {
  // The sync account (the server authenticates it; it need not exist in
  // the replica's users table yet).
  std::string username;
  // Called at each login for the password; not stored by the client.
  // Returns an error to abort the login (reported as SyncOnce's error).
  std::function<Result<std::string>()> password;

  // Changes per push batch. REQUIRES: 1..sync::kMaxPushChanges.
  std::size_t push_batch_size = 1000;
  // Changes per pull page. REQUIRES: 1..sync::kMaxPullLimit.
  int pull_limit = sync::kDefaultPullLimit;
  // Requests SyncOnce() makes at most for pushing, again for pulling, and
  // again for blob uploads (HEAD + PUT); what is left waits for the next
  // step. REQUIRES: >= 1.
  int max_steps = 100;
  // Bytes per blob PUT chunk: a dropped link resends at most this much.
  // REQUIRES: 1..kMaxBlobChunkBytes.
  std::size_t blob_chunk_bytes = kMaxBlobChunkBytes;

  // The loop: SyncOnce every `interval` after a success; 0 disables the
  // loop (Start() then does nothing; tests and tools call SyncOnce).
  std::chrono::milliseconds interval{std::chrono::seconds(60)};
  // After the n-th consecutive failure the loop waits a uniformly random
  // time in [0, min(backoff_max, backoff_base * 2^(n-1))] ("full jitter").
  std::chrono::milliseconds backoff_base{std::chrono::seconds(2)};
  std::chrono::milliseconds backoff_max{std::chrono::minutes(10)};

  // The wall clock for client_time_ms, pushed_at_ms and the status times:
  // pass the replica's (ReplicaOptions::wall_clock). Null: SystemClock().
  Clock* wall_clock = nullptr;
  // The loop's wait between steps. Null: a wait that Stop() and
  // TriggerNow() interrupt. Tests record the delays here.
  std::function<void(std::chrono::milliseconds)> sleep;
  // Uniform random 64-bit values for the jitter. Null: a seeded PRNG.
  std::function<std::uint64_t()> random;
};

// The loop's wait after `consecutive_failures` failures (0: `interval`),
// with `random` a uniform 64-bit value (see SyncClientOptions).
std::chrono::milliseconds SyncDelay(const SyncClientOptions& options,
                                    int consecutive_failures,
                                    std::uint64_t random);

class SyncClient {
 public:
  // `replica` and `transport` must outlive the client. kInvalidArgument
  // naming the option for options out of range or an empty username / a
  // missing password provider.
  static Result<std::unique_ptr<SyncClient>> Create(ClinicReplica& replica,
                                                    SyncTransport& transport,
                                                    SyncClientOptions options);

  // Stops the loop if running.
  ~SyncClient();
  SyncClient(const SyncClient&) = delete;
  SyncClient& operator=(const SyncClient&) = delete;

  // One bounded step: login if needed, push, pull (see the file comment
  // and sync_client.cc). Errors:
  //  kPermissionDenied  the server refused the login, or answered 401/403
  //                     again after a fresh login
  //  kUnsupported       426: "server requires protocol version N" /
  //                     "server requires schema version N"
  //  kIoError           no answer (transport) or a 5xx: retry later
  //  kBusy              429 / 503: retry later
  //  kOutOfRange        413
  //  kInvalidArgument   another 4xx (the batch stays assigned and is resent
  //                     unchanged next time)
  //  kCorruption        a 2xx body that does not decode, or a pulled
  //                     change that is invalid or stamped beyond the clock,
  //                     or a pending blob damaged in the local blob store
  //  kNotFound          a pending blob missing from the local blob store
  //                     (the other blobs are still uploaded; it stays
  //                     pending)
  //  the replica's own errors (database)
  // REQUIRES: the caller owns the replica's writer (see thread-safety).
  Status SyncOnce();

  // Runs SyncOnce() on a background thread every options.interval, backing
  // off on failure; no-op when interval is 0 or the loop already runs.
  // `replica_mutex` is the owner's mutex over the replica (see the file
  // comment) and must outlive Stop().
  void Start(std::mutex& replica_mutex);
  // Stops the loop and waits for the running step to finish. Idempotent.
  void Stop();
  // Wakes the loop for an immediate step (the UI's "sync now").
  void TriggerNow();

  // A consistent snapshot (any thread).
  SyncState GetState() const;

 private:
  SyncClient(ClinicReplica& replica, SyncTransport& transport,
             SyncClientOptions options);
  struct Run;
  Status Step(std::mutex* replica_mutex);
  void Loop(std::mutex* replica_mutex);

  ClinicReplica& replica_;
  SyncTransport& transport_;
  SyncClientOptions options_;
  Clock& wall_;

  // Serialises SyncOnce() with the loop's steps; guards the session.
  std::mutex step_mu_;
  std::string token_;  // bearer token; empty when logged out
  std::int64_t token_expires_ms_ = 0;

  mutable std::mutex state_mu_;
  SyncState state_;  // guarded by state_mu_

  std::mutex loop_mu_;
  std::condition_variable loop_cv_;
  bool stop_ = false;     // guarded by loop_mu_
  bool trigger_ = false;  // guarded by loop_mu_
  std::thread loop_;
  std::function<std::uint64_t()> random_;
};

}  // namespace pulse::engine

#endif  // PULSE_ENGINE_SYNC_CLIENT_H_
