// The clinic sync client (sync_client.h).
//
// STATES AND TRANSITIONS
//
// The loop's phase (SyncState::phase), as the UI sees it:
//
//                 Start()/TriggerNow()/SyncOnce()
//      +------+  --------------------------------->  +---------+
//      | IDLE |                                      | SYNCING |
//      +------+  <---------------------------------  +---------+
//         ^              step succeeded                |     |
//         |                                            |     | the server answered
//         | a later step succeeds        no answer /   |     | and refused: 401/403
//         |                              timeout / 5xx |     | after re-login, 426,
//         |                                            v     v 413, other 4xx, a bad
//      +---------+  <-- retry after backoff --  +---------+   2xx body, a local
//      | OFFLINE |                              |  ERROR  |   database error
//      +---------+  --------------------------> +---------+
//                     (either way: the next step decides)
//
// Both OFFLINE and ERROR are left the same way: by the next step, run
// after the backoff delay (SyncDelay: full jitter over a ceiling that
// doubles per consecutive failure up to backoff_max) or at once by
// TriggerNow() / SyncOnce(). A step that succeeds returns to IDLE and
// resets the failure count; one that fails lands in OFFLINE or ERROR again
// with the count raised. Nothing is ever dropped to leave ERROR: a batch
// the server refused stays assigned and is resent unchanged, so a
// permanent refusal (e.g. a change the server's permission matrix rejects)
// keeps the loop in ERROR — shown to a person — rather than losing data.
// A 426 (upgrade required) also stays in ERROR, retried at the capped
// backoff so that a server that is rolled back is noticed.
//
// ONE STEP (Step(), SyncOnce())
//
//   1. Session. Log in (POST /api/v1/auth/login) when there is no token or
//      the token's absolute expiry has passed. The token lives in memory
//      only. A 401 on any later call drops the token, logs in once more
//      and repeats the call once; a second 401 is the step's error.
//   2. Push, up to max_steps batches:
//        a. If a batch is assigned and unacknowledged (change_log rows with
//           batch_id set and pushed_at_ms NULL), that batch is resent: the
//           SAME id with the SAME rows (a crash or a lost answer since).
//        b. Otherwise up to push_batch_size unbatched rows, in seq order,
//           get a new UUIDv7 batch id in one transaction BEFORE anything is
//           sent, so that after a crash they are resent under that id
//           (never under a new one: the server dedups by batch id).
//        c. POST /api/v1/sync/push. On 200, pushed_at_ms is set on the
//           batch's rows in one transaction. Any other outcome leaves the
//           batch assigned (the next step resends it) and ends the step.
//   3. Pull, up to max_steps pages: GET /api/v1/sync/pull with the stored
//      cursor. Each page is validated whole, then applied in ONE
//      transaction that also raises the HLC high-water mark and stores
//      next_cursor; then the replica's clock observes the page's stamps.
//      A crash before the commit repeats the page; after it, nothing is
//      repeated. Loops while the server says `more`.
//   4. Blobs, up to max_steps requests (DESIGN.md §5: metadata first, so
//      they come after push and pull). A push answer's missing_blobs are
//      written to sync_state ('blob_pending:<id>' = size) in the
//      transaction that marks the batch pushed, so they outlive the
//      process. For each pending blob, read from replica.blob_store():
//        a. HEAD /api/v1/blobs/<id>: 200 means the server has it for this
//           site (done); 404 carries Upload-Offset, the bytes it holds of
//           this site's upload.
//        b. PUT chunks of blob_chunk_bytes from that offset, with
//           "Content-Range: bytes a-b/total" (a blob that fits in one
//           chunk goes whole, without it). 204 + Upload-Offset: continue
//           there; 409 + Upload-Offset: the server holds another amount
//           (a lost answer), continue there; 200/201: done.
//        c. Done: the pending row is deleted.
//      A drop mid-chunk loses that chunk only: the next step's HEAD finds
//      the offset again. A blob missing or damaged locally is skipped
//      (others still go) and reported as the step's error.
//   5. The outcome (last success time or last error) is stored in
//      sync_state for `clinicctl status` and the next process.
//
// CRASH SAFETY. Every database write above is one transaction, and each
// network call sits between two of them, so a process killed anywhere
// leaves one of: rows unbatched (assign again), a batch assigned but not
// acknowledged (resend the same id: the server answers `duplicate` if it
// had applied it), a batch acknowledged (done); a page not applied (pull it
// again from the old cursor) or applied with its cursor (done); a blob
// pending (the next HEAD tells where to resume) or confirmed and its row
// deleted (done; a crash between the two costs one more HEAD).
//
// LOCKING. The replica mutex (Start()'s argument) is held around each
// database section only, never across a network call, so a slow link does
// not freeze the UI. step_mu_ keeps two steps from interleaving.
#include "pulse/engine/sync_client.h"

#include <algorithm>
#include <cctype>
#include <future>
#include <limits>
#include <random>
#include <utility>

#include "pulse/engine/blob_store.h"

namespace pulse::engine {
namespace {

using std::chrono::milliseconds;

// Holds the replica mutex, if any, for one database section.
std::unique_lock<std::mutex> LockReplica(std::mutex* mu) {
  return mu != nullptr ? std::unique_lock<std::mutex>(*mu)
                       : std::unique_lock<std::mutex>();
}

std::int64_t ToMs(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<milliseconds>(t.time_since_epoch()).count();
}

// Overwrites a secret before its memory is freed.
void Wipe(std::string& secret) {
  volatile char* p = secret.data();
  for (std::size_t i = 0; i < secret.size(); ++i) p[i] = 0;
  secret.clear();
}

Result<std::optional<std::int64_t>> ReadStateInt(Database& db,
                                                 std::string_view key) {
  auto stmt = db.Prepare("SELECT value FROM sync_state WHERE key = ?");
  if (!stmt) return Fail(stmt.error());
  if (Status s = stmt->BindText(1, key); !s) return Fail(s.error());
  auto row = stmt->Step();
  if (!row) return Fail(row.error());
  if (!*row) return std::optional<std::int64_t>();
  auto value = stmt->ColumnInt64(0);
  if (!value) {
    return Fail(ErrorCode::kCorruption,
                "sync_state." + std::string(key) + " is not an integer");
  }
  return std::optional<std::int64_t>(*value);
}

Status WriteStateInt(Database& db, std::string_view key, std::int64_t value) {
  auto stmt = db.Prepare(
      "INSERT OR REPLACE INTO sync_state (key, value) VALUES (?, ?)");
  if (!stmt) return Fail(stmt.error());
  Status s = stmt->BindText(1, key);
  if (s) s = stmt->BindInt64(2, value);
  if (s) s = stmt->Run();
  return s;
}

Status WriteStateText(Database& db, std::string_view key,
                      std::string_view value) {
  auto stmt = db.Prepare(
      "INSERT OR REPLACE INTO sync_state (key, value) VALUES (?, ?)");
  if (!stmt) return Fail(stmt.error());
  Status s = stmt->BindText(1, key);
  if (s) s = stmt->BindText(2, value);
  if (s) s = stmt->Run();
  return s;
}

Status DeleteState(Database& db, std::string_view key) {
  auto stmt = db.Prepare("DELETE FROM sync_state WHERE key = ?");
  if (!stmt) return Fail(stmt.error());
  Status s = stmt->BindText(1, key);
  if (s) s = stmt->Run();
  return s;
}

// Blobs the server asked for and has not confirmed: (id, size) in id order.
Result<std::vector<std::pair<std::string, std::int64_t>>> LoadPendingBlobs(
    Database& db) {
  auto stmt = db.Prepare(
      "SELECT key, value FROM sync_state WHERE substr(key, 1, ?) = ? "
      "ORDER BY key");
  if (!stmt) return Fail(stmt.error());
  Status s = stmt->BindInt64(1, static_cast<std::int64_t>(
                                    kPendingBlobKeyPrefix.size()));
  if (s) s = stmt->BindText(2, kPendingBlobKeyPrefix);
  if (!s) return Fail(s.error());
  std::vector<std::pair<std::string, std::int64_t>> pending;
  for (;;) {
    auto row = stmt->Step();
    if (!row) return Fail(row.error());
    if (!*row) break;
    auto key = stmt->ColumnText(0);
    if (!key) return Fail(key.error());
    const std::string id(key->substr(kPendingBlobKeyPrefix.size()));
    if (!IsValidBlobId(id)) {
      return Fail(ErrorCode::kCorruption,
                  "sync_state: a pending blob key is not a blob id");
    }
    std::int64_t size = 0;
    if (!stmt->IsNull(1)) {
      auto value = stmt->ColumnInt64(1);
      if (value) size = *value;
    }
    pending.emplace_back(id, size);
  }
  return pending;
}

Result<std::pair<std::int64_t, std::int64_t>> CountPendingBlobs(Database& db) {
  auto pending = LoadPendingBlobs(db);
  if (!pending) return Fail(pending.error());
  std::int64_t bytes = 0;
  for (const auto& [id, size] : *pending) bytes += size;
  return std::make_pair(static_cast<std::int64_t>(pending->size()), bytes);
}

Result<std::int64_t> CountUnpushed(Database& db) {
  auto stmt =
      db.Prepare("SELECT count(*) FROM change_log WHERE pushed_at_ms IS NULL");
  if (!stmt) return Fail(stmt.error());
  auto row = stmt->Step();
  if (!row) return Fail(row.error());
  return stmt->ColumnInt64(0);
}

struct Batch {
  std::string id;
  std::vector<ChangeEntry> changes;
};

// The oldest batch assigned but not acknowledged, if any.
Result<std::optional<Batch>> LoadAssignedBatch(Database& db) {
  auto find = db.Prepare(
      "SELECT batch_id FROM change_log WHERE batch_id IS NOT NULL AND "
      "pushed_at_ms IS NULL ORDER BY seq LIMIT 1");
  if (!find) return Fail(find.error());
  auto found = find->Step();
  if (!found) return Fail(found.error());
  if (!*found) return std::optional<Batch>();
  auto id = find->ColumnText(0);
  if (!id) return Fail(id.error());
  Batch batch;
  batch.id = std::string(*id);
  find->Reset();

  auto rows = db.Prepare(
      "SELECT seq, entry FROM change_log WHERE batch_id = ? ORDER BY seq");
  if (!rows) return Fail(rows.error());
  if (Status s = rows->BindText(1, batch.id); !s) return Fail(s.error());
  for (;;) {
    auto row = rows->Step();
    if (!row) return Fail(row.error());
    if (!*row) break;
    auto seq = rows->ColumnInt64(0);
    auto text = rows->ColumnText(1);
    if (!seq || !text) {
      return Fail(ErrorCode::kCorruption, "change_log: malformed row");
    }
    auto entry = DecodeChange(*text);
    if (!entry) {
      return Fail(entry.error().WithContext("change_log seq " +
                                            std::to_string(*seq)));
    }
    batch.changes.push_back(std::move(*entry));
  }
  return std::optional<Batch>(std::move(batch));
}

// Assigns up to `limit` unbatched rows, in seq order, to a new batch id in
// one transaction. Returns false when there was nothing to assign.
Result<bool> AssignBatch(Database& db, UuidV7Generator& ids,
                         std::size_t limit) {
  auto txn = db.Begin(TransactionMode::kImmediate);
  if (!txn) return Fail(txn.error());
  auto last = db.Prepare(
      "SELECT max(seq) FROM (SELECT seq FROM change_log WHERE batch_id IS "
      "NULL ORDER BY seq LIMIT ?)");
  if (!last) return Fail(last.error());
  if (Status s = last->BindInt64(1, static_cast<std::int64_t>(limit)); !s) {
    return Fail(s.error());
  }
  auto row = last->Step();
  if (!row) return Fail(row.error());
  if (!*row || last->IsNull(0)) return false;  // rolls back (nothing done)
  auto last_seq = last->ColumnInt64(0);
  if (!last_seq) return Fail(last_seq.error());
  last->Reset();
  auto assign = db.Prepare(
      "UPDATE change_log SET batch_id = ? WHERE batch_id IS NULL AND seq <= ?");
  if (!assign) return Fail(assign.error());
  Status s = assign->BindText(1, ids.Next().ToString());
  if (s) s = assign->BindInt64(2, *last_seq);
  if (s) s = assign->Run();
  if (s) s = txn->Commit();
  if (!s) return Fail(s.error());
  return true;
}

// Acknowledges a batch and records the blobs its answer asked for
// ((id, size) pairs), in one transaction.
Status MarkPushed(
    Database& db, const std::string& batch_id, std::int64_t now_ms,
    const std::vector<std::pair<std::string, std::int64_t>>& missing_blobs) {
  auto txn = db.Begin(TransactionMode::kImmediate);
  if (!txn) return Fail(txn.error());
  auto stmt = db.Prepare(
      "UPDATE change_log SET pushed_at_ms = ? WHERE batch_id = ? AND "
      "pushed_at_ms IS NULL");
  if (!stmt) return Fail(stmt.error());
  Status s = stmt->BindInt64(1, now_ms);
  if (s) s = stmt->BindText(2, batch_id);
  if (s) s = stmt->Run();
  for (const auto& [id, size] : missing_blobs) {
    if (!s) break;
    s = WriteStateInt(db, std::string(kPendingBlobKeyPrefix) + id, size);
  }
  if (s) s = txn->Commit();
  return s;
}

// The Upload-Offset header of a blob answer, or nullopt if absent or not a
// decimal.
std::optional<std::uint64_t> UploadOffset(const HttpResponse& response) {
  const std::string_view text = FindHeader(response.headers, "upload-offset");
  if (text.empty() || text.size() > 19) return std::nullopt;
  std::uint64_t value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    value = value * 10 + static_cast<std::uint64_t>(c - '0');
  }
  return value;
}

// The error for a non-2xx answer: its status, the problem's title and
// detail, and the code the caller acts on (sync_client.h SyncOnce).
Error ProblemError(const HttpResponse& response, std::string_view what) {
  std::string text = std::string(what) + ": HTTP " +
                     std::to_string(response.status);
  sync::Problem problem;
  bool have_problem = false;
  if (auto decoded = sync::DecodeProblem(response.body)) {
    problem = std::move(*decoded);
    have_problem = true;
    if (!problem.title.empty()) text += " " + problem.title;
    if (!problem.detail.empty()) text += ": " + problem.detail;
  }
  const int status = response.status;
  if (status == 426) {
    std::string need = "server requires a different protocol version";
    if (have_problem && problem.required_protocol_version) {
      need = "server requires protocol version " +
             std::to_string(*problem.required_protocol_version);
    } else if (have_problem && problem.required_schema_version) {
      need = "server requires schema version " +
             std::to_string(*problem.required_schema_version);
    }
    return Error(ErrorCode::kUnsupported,
                 need + " (this build speaks protocol " +
                     std::to_string(sync::kProtocolVersion) + "); " + text);
  }
  if (status == 401 || status == 403) {
    return Error(ErrorCode::kPermissionDenied, text);
  }
  if (status == 413) return Error(ErrorCode::kOutOfRange, text);
  if (status == 429 || status == 503) return Error(ErrorCode::kBusy, text);
  if (status >= 500) return Error(ErrorCode::kIoError, text);
  return Error(ErrorCode::kInvalidArgument, text);
}

bool IsSuccess(int status) { return status >= 200 && status < 300; }

}  // namespace

std::string_view FindHeader(const HttpHeaders& headers, std::string_view name) {
  for (const auto& [key, value] : headers) {
    if (key.size() != name.size()) continue;
    bool same = true;
    for (std::size_t i = 0; i < key.size() && same; ++i) {
      same = std::tolower(static_cast<unsigned char>(key[i])) ==
             std::tolower(static_cast<unsigned char>(name[i]));
    }
    if (same) return value;
  }
  return {};
}

std::string_view SyncPhaseName(SyncPhase phase) {
  switch (phase) {
    case SyncPhase::kIdle: return "idle";
    case SyncPhase::kSyncing: return "syncing";
    case SyncPhase::kOffline: return "offline";
    case SyncPhase::kError: return "error";
  }
  return "unknown";
}

milliseconds SyncDelay(const SyncClientOptions& options,
                       int consecutive_failures, std::uint64_t random) {
  if (consecutive_failures <= 0) return options.interval;
  // Ceiling: backoff_base * 2^(n-1), capped (doubling stops at the cap, so
  // it never overflows).
  std::int64_t ceiling = std::max<std::int64_t>(options.backoff_base.count(), 0);
  const std::int64_t cap = std::max<std::int64_t>(options.backoff_max.count(), 0);
  for (int i = 1; i < consecutive_failures && ceiling < cap; ++i) ceiling *= 2;
  ceiling = std::min(ceiling, cap);
  // Full jitter: uniform in [0, ceiling].
  const long double fraction =
      static_cast<long double>(random) /
      (static_cast<long double>(std::numeric_limits<std::uint64_t>::max()) + 1.0L);
  const auto delay = static_cast<std::int64_t>(
      fraction * static_cast<long double>(ceiling + 1));
  return milliseconds(std::min(delay, ceiling));
}

// What one step accumulates.
struct SyncClient::Run {
  std::mutex* replica_mutex = nullptr;
  SyncCounts counts;
  bool transport_failed = false;
  std::optional<std::int64_t> skew_ms;
  bool skew_warning = false;
};

SyncClient::SyncClient(ClinicReplica& replica, SyncTransport& transport,
                       SyncClientOptions options)
    : replica_(replica),
      transport_(transport),
      options_(std::move(options)),
      wall_(options_.wall_clock != nullptr ? *options_.wall_clock
                                           : SystemClock()) {
  if (options_.random) {
    random_ = options_.random;
  } else {
    auto engine = std::make_shared<std::mt19937_64>(std::random_device{}());
    random_ = [engine] { return (*engine)(); };
  }
}

SyncClient::~SyncClient() { Stop(); }

Result<std::unique_ptr<SyncClient>> SyncClient::Create(
    ClinicReplica& replica, SyncTransport& transport,
    SyncClientOptions options) {
  if (options.username.empty()) {
    return Fail(ErrorCode::kInvalidArgument, "sync.username: empty");
  }
  if (!options.password) {
    return Fail(ErrorCode::kInvalidArgument,
                "sync.password: no password provider");
  }
  if (options.push_batch_size < 1 ||
      options.push_batch_size > sync::kMaxPushChanges) {
    return Fail(ErrorCode::kInvalidArgument,
                "sync.push_batch_size: must be 1.." +
                    std::to_string(sync::kMaxPushChanges));
  }
  if (options.pull_limit < 1 || options.pull_limit > sync::kMaxPullLimit) {
    return Fail(ErrorCode::kInvalidArgument,
                "sync.pull_limit: must be 1.." +
                    std::to_string(sync::kMaxPullLimit));
  }
  if (options.max_steps < 1) {
    return Fail(ErrorCode::kInvalidArgument, "sync.max_steps: must be >= 1");
  }
  if (options.blob_chunk_bytes < 1 ||
      options.blob_chunk_bytes > kMaxBlobChunkBytes) {
    return Fail(ErrorCode::kInvalidArgument,
                "sync.blob_chunk_bytes: must be 1.." +
                    std::to_string(kMaxBlobChunkBytes));
  }
  if (options.interval.count() < 0 || options.backoff_base.count() < 0 ||
      options.backoff_max < options.backoff_base) {
    return Fail(ErrorCode::kInvalidArgument,
                "sync.interval/backoff: must be >= 0 with backoff_max >= "
                "backoff_base");
  }
  std::unique_ptr<SyncClient> client(
      new SyncClient(replica, transport, std::move(options)));
  // The persisted outcome of earlier runs, for GetState().
  Database& db = replica.database();
  auto ok_ms = ReadStateInt(db, kLastSyncOkKey);
  if (!ok_ms) return Fail(ok_ms.error());
  auto pending = CountUnpushed(db);
  if (!pending) return Fail(pending.error());
  auto blobs = CountPendingBlobs(db);
  if (!blobs) return Fail(blobs.error());
  std::string last_error;
  {
    auto stmt = db.Prepare("SELECT value FROM sync_state WHERE key = ?");
    if (!stmt) return Fail(stmt.error());
    if (Status s = stmt->BindText(1, kLastSyncErrorKey); !s) {
      return Fail(s.error());
    }
    auto row = stmt->Step();
    if (!row) return Fail(row.error());
    if (*row) {
      if (auto text = stmt->ColumnText(0)) last_error = std::string(*text);
    }
  }
  client->state_.last_success_ms = *ok_ms;
  client->state_.pending_changes = *pending;
  client->state_.pending_blobs = blobs->first;
  client->state_.pending_blob_bytes = blobs->second;
  client->state_.last_error = std::move(last_error);
  return client;
}

SyncState SyncClient::GetState() const {
  std::lock_guard<std::mutex> lock(state_mu_);
  return state_;
}

Status SyncClient::SyncOnce() { return Step(nullptr); }

Status SyncClient::Step(std::mutex* replica_mutex) {
  std::lock_guard<std::mutex> step_lock(step_mu_);
  {
    std::lock_guard<std::mutex> lock(state_mu_);
    state_.phase = SyncPhase::kSyncing;
  }
  Run run;
  run.replica_mutex = replica_mutex;
  Database& db = replica_.database();

  // --- The session and the HTTP calls, with one re-login on 401 ---
  auto login = [&]() -> Status {
    auto password = options_.password();
    if (!password) return Fail(password.error().WithContext("sync login"));
    sync::LoginRequest request{options_.username, std::move(*password)};
    HttpRequest http{"POST", "/api/v1/auth/login",
                     {{"Content-Type", "application/json"},
                      {"Accept", "application/json"}},
                     sync::EncodeLoginRequest(request)};
    Wipe(request.password);
    auto response = transport_.Send(http);
    Wipe(http.body);
    if (!response) {
      run.transport_failed = true;
      return Fail(response.error().WithContext("sync login"));
    }
    if (!IsSuccess(response->status)) {
      Error e = ProblemError(*response, "sync login as '" +
                                            options_.username + "'");
      return Fail(e);
    }
    auto decoded = sync::DecodeLoginResponse(response->body);
    if (!decoded) {
      return Fail(ErrorCode::kCorruption,
                  "sync login: malformed answer: " + decoded.error().message());
    }
    token_ = std::move(decoded->token);
    token_expires_ms_ = decoded->expires_at_ms;
    return OkStatus();
  };
  auto ensure_session = [&]() -> Status {
    if (!token_.empty() &&
        (token_expires_ms_ <= 0 || ToMs(wall_.Now()) < token_expires_ms_)) {
      return OkStatus();
    }
    Wipe(token_);
    return login();
  };
  // Sends an authenticated request; a 401 drops the token, logs in again
  // and repeats the request once. Returns 2xx responses and `also_ok`
  // (0: none); anything else is the mapped error.
  auto call = [&](HttpRequest request, std::string_view what,
                  int also_ok = 0) -> Result<HttpResponse> {
    for (int attempt = 0;; ++attempt) {
      if (Status s = ensure_session(); !s) return Fail(s.error());
      HttpRequest authed = request;
      authed.headers.emplace_back("Authorization", "Bearer " + token_);
      authed.headers.emplace_back("Accept", "application/json");
      auto response = transport_.Send(authed);
      Wipe(authed.headers[authed.headers.size() - 2].second);
      if (!response) {
        run.transport_failed = true;
        return Fail(response.error().WithContext(what));
      }
      if (response->status == 401 && attempt == 0) {
        Wipe(token_);  // expired or revoked: one fresh login
        continue;
      }
      if (!IsSuccess(response->status) && response->status != also_ok) {
        return Fail(ProblemError(*response, what));
      }
      return std::move(*response);
    }
  };
  auto note_server_time = [&](std::int64_t server_ms, bool server_warns) {
    if (server_ms <= 0) return;
    const auto local = wall_.Now();
    const auto remote =
        std::chrono::system_clock::time_point(milliseconds(server_ms));
    run.skew_ms = server_ms - ToMs(local);
    run.skew_warning = server_warns ||
                       CheckClockSkew(remote, local) != DriftVerdict::kOk;
  };

  Status result = [&]() -> Status {
    auto status = [&] {
      auto lock = LockReplica(run.replica_mutex);
      return replica_.GetStatus();
    }();
    if (!status) return Fail(status.error());
    const int schema_version = status->schema_version;
    if (Status s = ensure_session(); !s) return s;

    // --- Push ---
    for (int step = 0; step < options_.max_steps; ++step) {
      std::optional<Batch> batch;
      {
        auto lock = LockReplica(run.replica_mutex);
        auto assigned = LoadAssignedBatch(db);
        if (!assigned) return Fail(assigned.error());
        if (!*assigned) {
          auto made = AssignBatch(db, replica_.ids(), options_.push_batch_size);
          if (!made) return Fail(made.error().WithContext("sync push"));
          if (!*made) break;  // the outbox is empty
          assigned = LoadAssignedBatch(db);
          if (!assigned) return Fail(assigned.error());
          if (!*assigned) break;
        }
        batch = std::move(**assigned);
      }
      sync::PushRequest request;
      request.batch_id = batch->id;
      request.site = replica_.site_id().ToString();
      request.schema_version = schema_version;
      request.client_time_ms = ToMs(wall_.Now());
      request.changes = std::move(batch->changes);
      auto body = sync::EncodePushRequest(request);
      if (!body) return Fail(body.error().WithContext("sync push"));
      auto response = call(HttpRequest{"POST", "/api/v1/sync/push",
                                       {{"Content-Type", "application/json"}},
                                       std::move(*body)},
                           "sync push");
      if (!response) return Fail(response.error());
      auto decoded = sync::DecodePushResponse(response->body);
      if (!decoded) {
        return Fail(ErrorCode::kCorruption,
                    "sync push: malformed answer: " + decoded.error().message());
      }
      if (decoded->batch_id != batch->id) {
        return Fail(ErrorCode::kCorruption,
                    "sync push: the answer is for batch " + decoded->batch_id +
                        ", not " + batch->id);
      }
      std::vector<std::pair<std::string, std::int64_t>> missing;
      for (const std::string& hash : decoded->missing_blobs) {
        if (!IsValidBlobId(hash)) {
          return Fail(ErrorCode::kCorruption,
                      "sync push: missing_blobs holds a malformed blob id");
        }
        // The size only feeds the UI's pending byte count; a blob absent
        // here is reported when its upload is tried.
        auto size = replica_.blob_store().Size(hash);
        missing.emplace_back(hash,
                             size ? static_cast<std::int64_t>(*size) : 0);
      }
      {
        auto lock = LockReplica(run.replica_mutex);
        if (Status s = MarkPushed(db, batch->id, ToMs(wall_.Now()), missing);
            !s) {
          return Fail(s.error().WithContext("sync push"));
        }
      }
      run.counts.push_batches += 1;
      run.counts.pushed_changes +=
          static_cast<std::int64_t>(request.changes.size());
      run.counts.accepted += decoded->accepted;
      run.counts.server_conflicts += decoded->conflicts;
      for (std::string& hash : decoded->missing_blobs) {
        run.counts.missing_blobs.push_back(std::move(hash));
      }
      note_server_time(decoded->server_time_ms, decoded->clock_skew_warning);
    }

    // --- Pull ---
    std::int64_t cursor = 0;
    {
      auto lock = LockReplica(run.replica_mutex);
      auto stored = ReadStateInt(db, kPullCursorKey);
      if (!stored) return Fail(stored.error());
      cursor = stored->value_or(0);
    }
    // One page fetched, decoded and validated, not yet applied.
    struct FetchedPage {
      sync::PullResponse decoded;
      Hlc page_max;
    };
    auto fetch = [&](std::int64_t from) -> Result<FetchedPage> {
      const std::string target =
          "/api/v1/sync/pull?cursor=" + std::to_string(from) +
          "&limit=" + std::to_string(options_.pull_limit) +
          "&protocol_version=" + std::to_string(sync::kProtocolVersion) +
          "&schema_version=" + std::to_string(schema_version);
      auto response = call(HttpRequest{"GET", target, {}, {}}, "sync pull");
      if (!response) return Fail(response.error());
      auto decoded = sync::DecodePullResponse(response->body);
      if (!decoded) {
        return Fail(ErrorCode::kCorruption,
                    "sync pull: malformed answer: " + decoded.error().message());
      }
      if (decoded->next_cursor < from) {
        return Fail(ErrorCode::kCorruption,
                    "sync pull: next_cursor " +
                        std::to_string(decoded->next_cursor) +
                        " is behind the cursor sent, " + std::to_string(from));
      }
      // Validate the whole page before touching the database.
      FetchedPage out;
      for (std::size_t i = 0; i < decoded->changes.size(); ++i) {
        const ChangeEntry& entry = decoded->changes[i];
        const std::string where = "sync pull: changes[" + std::to_string(i) + "]";
        if (Status s = ValidateChange(entry, ErrorCode::kCorruption); !s) {
          return Fail(s.error().WithContext(where));
        }
        if (entry.hlc.packed() >= HybridClock::kObserveLimit) {
          return Fail(ErrorCode::kCorruption,
                      where + ": hlc is beyond the clock's range");
        }
        out.page_max = std::max(out.page_max, entry.hlc);
      }
      out.decoded = std::move(*decoded);
      return out;
    };
    Result<FetchedPage> fetched = fetch(cursor);
    for (int page = 0; page < options_.max_steps; ++page) {
      if (!fetched) return Fail(fetched.error());
      FetchedPage current = std::move(*fetched);
      const sync::PullResponse& decoded = current.decoded;
      const Hlc page_max = current.page_max;
      // One page of look-ahead: the next page travels and is decoded while
      // this one is applied. Only the cursor committed below counts, so a
      // page fetched but never applied (error, kill) is simply fetched
      // again. The future's destructor waits for the fetch on every return.
      std::future<Result<FetchedPage>> ahead;
      if (decoded.more && page + 1 < options_.max_steps) {
        ahead = std::async(std::launch::async, fetch, decoded.next_cursor);
      }
      {
        auto lock = LockReplica(run.replica_mutex);
        auto txn = db.Begin(TransactionMode::kImmediate);
        if (!txn) return Fail(txn.error());
        for (const ChangeEntry& entry : decoded.changes) {
          auto applied = replica_.merger().Apply(entry);
          if (!applied) {
            return Fail(applied.error().WithContext("sync pull: applying " +
                                                    entry.id));
          }
          if (*applied) run.counts.applied += 1;
        }
        // change_log.md §1.5: every stamp stored is <= the persisted
        // high-water mark, in the same transaction.
        if (Status s = RaiseHlcHighWater(db, page_max); !s) {
          return Fail(s.error());
        }
        if (Status s = WriteStateInt(db, kPullCursorKey, decoded.next_cursor);
            !s) {
          return Fail(s.error());
        }
        if (Status s = txn->Commit(); !s) return Fail(s.error());
        // The high-water mark is committed, so the clock may move past it.
        if (!page_max.is_zero()) {
          if (auto observed = replica_.clock().Observe(page_max); !observed) {
            return Fail(observed.error().WithContext("sync pull"));
          }
        }
      }
      run.counts.pull_pages += 1;
      run.counts.pulled_changes +=
          static_cast<std::int64_t>(decoded.changes.size());
      note_server_time(decoded.server_time_ms, false);
      cursor = decoded.next_cursor;
      if (!ahead.valid()) break;
      fetched = ahead.get();
    }

    // --- Blobs ---
    std::vector<std::pair<std::string, std::int64_t>> pending;
    {
      auto lock = LockReplica(run.replica_mutex);
      auto loaded = LoadPendingBlobs(db);
      if (!loaded) return Fail(loaded.error());
      pending = std::move(*loaded);
    }
    int budget = options_.max_steps;
    std::optional<Error> local_error;  // a blob we cannot read here
    for (const auto& entry : pending) {
      const std::string& id = entry.first;
      if (budget <= 0) break;
      // The blob store is thread-safe: no replica lock while reading.
      auto bytes = replica_.blob_store().Get(id);
      if (!bytes) {
        if (!local_error) {
          local_error = bytes.error().WithContext("sync blob " + id);
        }
        continue;
      }
      const std::string target = "/api/v1/blobs/" + id;
      const std::uint64_t size = bytes->size();
      --budget;
      ++run.counts.blob_requests;
      auto head = call(HttpRequest{"HEAD", target, {}, {}}, "sync blob status",
                       404);
      if (!head) return Fail(head.error());
      bool done = head->status == 200;
      std::uint64_t offset = UploadOffset(*head).value_or(0);
      const std::string_view held_total =
          FindHeader(head->headers, "upload-length");
      if (offset > size ||
          (!held_total.empty() && held_total != std::to_string(size))) {
        offset = 0;  // not an upload of these bytes: start afresh
      }
      while (!done && budget > 0) {
        const std::uint64_t end =
            std::min<std::uint64_t>(size, offset + options_.blob_chunk_bytes);
        HttpRequest put{"PUT", target,
                        {{"Content-Type", "application/octet-stream"}},
                        std::string(reinterpret_cast<const char*>(
                                        bytes->data() + offset),
                                    end - offset)};
        if (!(offset == 0 && end == size)) {
          put.headers.emplace_back(
              "Content-Range", "bytes " + std::to_string(offset) + "-" +
                                   std::to_string(end - 1) + "/" +
                                   std::to_string(size));
        }
        --budget;
        ++run.counts.blob_requests;
        run.counts.blob_bytes_sent += static_cast<std::int64_t>(end - offset);
        auto answer = call(std::move(put), "sync blob upload", 409);
        if (!answer) return Fail(answer.error());
        if (answer->status == 200 || answer->status == 201) {
          done = true;
          break;
        }
        auto next = UploadOffset(*answer);
        if (!next || *next > size) {
          return Fail(ErrorCode::kCorruption,
                      "sync blob upload: HTTP " +
                          std::to_string(answer->status) +
                          " without a usable Upload-Offset");
        }
        offset = *next;
      }
      if (!done) break;  // out of budget: the next step resumes
      run.counts.uploaded_blobs += 1;
      auto lock = LockReplica(run.replica_mutex);
      if (Status s = DeleteState(db, std::string(kPendingBlobKeyPrefix) + id);
          !s) {
        return Fail(s.error().WithContext("sync blobs"));
      }
    }
    if (local_error) return Fail(*local_error);
    return OkStatus();
  }();

  // --- Record the outcome ---
  const std::int64_t now_ms = ToMs(wall_.Now());
  std::optional<std::int64_t> pending;
  std::optional<std::pair<std::int64_t, std::int64_t>> blobs;
  {
    auto lock = LockReplica(run.replica_mutex);
    Status stored = [&]() -> Status {
      auto txn = db.Begin(TransactionMode::kImmediate);
      if (!txn) return Fail(txn.error());
      if (result) {
        if (Status s = WriteStateInt(db, kLastSyncOkKey, now_ms); !s) return s;
        if (Status s = DeleteState(db, kLastSyncErrorKey); !s) return s;
      } else {
        if (Status s = WriteStateText(db, kLastSyncErrorKey,
                                      result.error().ToString());
            !s) {
          return s;
        }
      }
      return txn->Commit();
    }();
    if (result && !stored) result = Fail(stored.error());
    if (auto count = CountUnpushed(db)) pending = *count;
    if (auto count = CountPendingBlobs(db)) blobs = *count;
  }

  std::lock_guard<std::mutex> lock(state_mu_);
  state_.last_counts = std::move(run.counts);
  if (pending) state_.pending_changes = *pending;
  if (blobs) {
    state_.pending_blobs = blobs->first;
    state_.pending_blob_bytes = blobs->second;
  }
  if (run.skew_ms) {
    state_.clock_skew_ms = *run.skew_ms;
    state_.clock_skew_warning = run.skew_warning;
  }
  if (result) {
    state_.phase = SyncPhase::kIdle;
    state_.online = true;
    state_.last_success_ms = now_ms;
    state_.last_error.clear();
    state_.consecutive_failures = 0;
  } else {
    const bool offline = run.transport_failed;
    state_.phase = offline ? SyncPhase::kOffline : SyncPhase::kError;
    state_.online = !offline;
    state_.last_error = result.error().ToString();
    state_.last_error_code = result.error().code();
    state_.consecutive_failures += 1;
  }
  return result;
}

void SyncClient::Start(std::mutex& replica_mutex) {
  if (options_.interval.count() == 0) return;
  std::lock_guard<std::mutex> lock(loop_mu_);
  if (loop_.joinable()) return;
  stop_ = false;
  trigger_ = false;
  loop_ = std::thread([this, mu = &replica_mutex] { Loop(mu); });
}

void SyncClient::Stop() {
  std::thread thread;
  {
    std::lock_guard<std::mutex> lock(loop_mu_);
    stop_ = true;
    thread = std::move(loop_);
  }
  loop_cv_.notify_all();
  if (thread.joinable()) thread.join();
}

void SyncClient::TriggerNow() {
  {
    std::lock_guard<std::mutex> lock(loop_mu_);
    trigger_ = true;
  }
  loop_cv_.notify_all();
}

void SyncClient::Loop(std::mutex* replica_mutex) {
  for (;;) {
    {
      std::lock_guard<std::mutex> lock(loop_mu_);
      if (stop_) return;
      trigger_ = false;
    }
    (void)Step(replica_mutex);  // the outcome is in state_
    int failures = 0;
    {
      std::lock_guard<std::mutex> lock(state_mu_);
      failures = state_.consecutive_failures;
    }
    const milliseconds delay = SyncDelay(options_, failures, random_());
    if (options_.sleep) {
      options_.sleep(delay);
    } else {
      std::unique_lock<std::mutex> lock(loop_mu_);
      loop_cv_.wait_for(lock, delay, [this] { return stop_ || trigger_; });
    }
  }
}

}  // namespace pulse::engine
