// SqlcipherAuditTrail; the design is in the header. Lock order: the
// store's writer_mutex before the trail's Impl::mu. Impl::mu (the append
// queue, checkpoint trigger and counters) is only ever held briefly and
// never while waiting for writer_mutex: a flush leader releases it first.
#include "pulse/sync_server/sqlcipher_audit_trail.h"

#include "sqlcipher_central_state.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <exception>
#include <map>
#include <span>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "pulse/engine/change.h"
#include "pulse/engine/crypto.h"
#include "pulse/engine/database.h"
#include "pulse/engine/hash.h"
#include "pulse/engine/local_writer.h"
#include "pulse/engine/replica.h"
#include "pulse/sync_server/audit_checkpoint.h"
#include "pulse/sync_server/audit_store_reader.h"

namespace pulse::sync_server {
namespace {

using engine::ChainBreak;
using engine::ChainedEvent;
using engine::ChainHead;
using engine::Database;
using engine::FieldValue;
using engine::Statement;
using engine::TransactionMode;

constexpr std::string_view kNilUuid = "00000000-0000-0000-0000-000000000000";
// Rows read per step of the continuity scan (bounds its memory).
constexpr int kScanChunkRows = 4096;
// How often the checkpointer looks at the clock when nothing wakes it.
constexpr std::chrono::seconds kCheckpointPoll{1};

std::int64_t NowMs(engine::Clock& clock) {
  return std::max<std::int64_t>(
      0, std::chrono::duration_cast<std::chrono::milliseconds>(
             clock.Now().time_since_epoch())
             .count());
}

// audit_chain.md §1.1: "ip:" + IPv4 dotted quad or IPv6 text, lower case.
bool IsIpText(std::string_view s) {
  return !s.empty() && s.size() <= 45 &&
         std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
                  c == ':' || c == '.';
         });
}

FieldValue OptText(const std::optional<std::string>& v) {
  if (!v) return nullptr;
  return *v;
}

Result<std::string> Text(const Statement& stmt, int column) {
  if (stmt.IsNull(column)) return std::string();
  auto t = stmt.ColumnText(column);
  if (!t) return Fail(t.error());
  return std::string(*t);
}

Result<engine::Blake2b256Digest> DigestOf(std::string_view hex) {
  auto bytes = engine::HexDecode(hex);
  engine::Blake2b256Digest d{};
  if (!bytes || bytes->size() != d.size()) {
    return Fail(ErrorCode::kCorruption, "hash: not 64 hex digits");
  }
  std::copy(bytes->begin(), bytes->end(), d.begin());
  return d;
}

Result<std::int64_t> ScalarInt(Database& db, std::string_view sql) {
  auto stmt = db.Prepare(sql);
  if (!stmt) return Fail(stmt.error());
  auto row = stmt->Step();
  if (!row) return Fail(row.error());
  if (!*row || stmt->IsNull(0)) return std::int64_t{0};
  return stmt->ColumnInt64(0);
}

constexpr std::string_view kStatusColumns =
    "SELECT site, head_seq, head_hash, checked_ms, events_checked, "
    "broken_seq, broken_reason, broken_found_seq, broken_detail, broken_ms "
    "FROM audit_chain_status ";

Result<ChainStatus> ReadStatusRow(const Statement& stmt) {
  ChainStatus s;
  auto site = Text(stmt, 0);
  auto seq = stmt.ColumnInt64(1);
  auto hash = Text(stmt, 2);
  auto checked = stmt.ColumnInt64(3);
  auto count = stmt.ColumnInt64(4);
  if (!site || !seq || !hash || !checked || !count) {
    return Fail(ErrorCode::kCorruption, "audit_chain_status: unreadable row");
  }
  auto digest = DigestOf(*hash);
  if (!digest) return Fail(digest.error().WithContext("audit_chain_status"));
  s.site = std::move(*site);
  s.head = ChainHead{*seq, *digest};
  s.checked_ms = *checked;
  s.events_checked = *count;
  if (!stmt.IsNull(5)) {
    ChainStatus::Break b;
    b.seq = stmt.ColumnInt64(5).value_or(0);
    auto reason = Text(stmt, 6);
    b.reason = ChainBreak::kAltered;
    if (reason) {
      for (int code = 1; code <= 7; ++code) {
        const auto r = static_cast<ChainBreak>(code);
        if (engine::ChainBreakName(r) == *reason) b.reason = r;
      }
    }
    if (!stmt.IsNull(7)) b.found_seq = stmt.ColumnInt64(7).value_or(0);
    b.detail = Text(stmt, 8).value_or("");
    b.found_ms = stmt.IsNull(9) ? 0 : stmt.ColumnInt64(9).value_or(0);
    s.broken = std::move(b);
  }
  return s;
}

Status WriteStatusRow(Database& db, const ChainStatus& s) {
  // No UPSERT in SQLite 3.15; the row is whole, so REPLACE is exact.
  auto stmt = db.Prepare(
      "INSERT OR REPLACE INTO audit_chain_status (site, head_seq, head_hash, "
      "checked_ms, events_checked, broken_seq, broken_reason, "
      "broken_found_seq, broken_detail, broken_ms) VALUES "
      "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
  if (!stmt) return Fail(stmt.error());
  Status st = stmt->BindText(1, s.site);
  if (st) st = stmt->BindInt64(2, s.head.seq);
  if (st) st = stmt->BindText(3, engine::HexEncode(s.head.hash));
  if (st) st = stmt->BindInt64(4, s.checked_ms);
  if (st) st = stmt->BindInt64(5, s.events_checked);
  if (st && s.broken) {
    st = stmt->BindInt64(6, s.broken->seq);
    if (st) st = stmt->BindText(7, engine::ChainBreakName(s.broken->reason));
    if (st) {
      st = s.broken->found_seq ? stmt->BindInt64(8, *s.broken->found_seq)
                               : stmt->BindNull(8);
    }
    if (st) st = stmt->BindText(9, s.broken->detail);
    if (st) st = stmt->BindInt64(10, s.broken->found_ms);
  } else if (st) {
    for (int i = 6; i <= 10 && st; ++i) st = stmt->BindNull(i);
  }
  if (!st) return st;
  return stmt->Run();
}

Result<StoredAuditEvent> ReadEventRow(const Statement& stmt) {
  // Columns: id, site_id, seq, time_ms, event, prev_hash, hash.
  StoredAuditEvent e;
  auto id = Text(stmt, 0);
  auto site = Text(stmt, 1);
  auto event = Text(stmt, 4);
  auto prev = Text(stmt, 5);
  auto hash = Text(stmt, 6);
  if (!id || !site || !event || !prev || !hash) {
    return Fail(ErrorCode::kCorruption, "audit_events: unreadable row");
  }
  e.id = std::move(*id);
  e.site = std::move(*site);
  e.seq = stmt.IsNull(2) ? 0 : stmt.ColumnInt64(2).value_or(0);
  e.time_ms = stmt.IsNull(3) ? 0 : stmt.ColumnInt64(3).value_or(0);
  e.event = std::move(*event);
  e.prev_hash = std::move(*prev);
  e.hash = std::move(*hash);
  return e;
}

constexpr std::string_view kEventColumns =
    "SELECT id, site_id, seq, time_ms, event, prev_hash, hash FROM "
    "audit_events ";

struct Pending {
  AuditRecord record;
  Status status;
  bool done = false;
};

// A row read by the continuity scan.
struct ScanRow {
  std::int64_t seq = 0;
  Result<ChainedEvent> record = Fail(ErrorCode::kCorruption, "unread");
};

}  // namespace

struct SqlcipherAuditTrail::Impl {
  Impl(SqlcipherCentralStore::State& s, const SqlcipherAuditTrailOptions& o,
       engine::Clock& c)
      : state(s), options(o), clock(c) {}
  ~Impl() {
    StopCheckpointer();
    WipeBytes(secret_key);
  }

  SqlcipherCentralStore::State& state;
  const SqlcipherAuditTrailOptions options;
  engine::Clock& clock;
  std::string device_source;
  std::string public_key_hex;
  std::string key_id;
  std::vector<std::uint8_t> secret_key;  // never logged or returned

  // The append queue and the checkpoint trigger, under mu.
  mutable std::mutex mu;
  std::condition_variable flushed;
  std::deque<std::shared_ptr<Pending>> queue;
  bool flushing = false;
  std::int64_t last_checkpoint_global_seq = 0;
  std::int64_t last_checkpoint_ms = 0;
  std::int64_t central_since_checkpoint = 0;
  std::int64_t global_seq_seen = 0;
  AuditTrailStats stats;
  std::atomic<bool> checkpointing{false};

  // The checkpointer thread (CheckpointLoop): woken by an append that
  // made a checkpoint due, and at least every kCheckpointPoll so that the
  // interval is honoured when nothing is appended (pushes alone grow the
  // global log without an append). Under mu.
  std::condition_variable checkpoint_wake;
  bool checkpoint_requested = false;
  bool stopping = false;
  std::thread checkpointer;
  void CheckpointLoop();
  void StopCheckpointer();

  // Commits `batch` in one transaction; sets each item's status (an
  // invalid record fails alone). Returns the transaction's error.
  Status Flush(std::vector<std::shared_ptr<Pending>>& batch,
               std::int64_t* global_seq);
  bool CheckpointDueLocked(std::int64_t now_ms) const;
  Status Scan();
  Result<AuditCheckpoint> Checkpoint();
};

Status SqlcipherAuditTrail::Impl::Flush(
    std::vector<std::shared_ptr<Pending>>& batch, std::int64_t* global_seq) {
  std::lock_guard lock(state.writer_mutex);
  engine::ClinicReplica& r = *state.replica;
  Database& db = r.database();
  auto txn = db.Begin(TransactionMode::kImmediate);
  if (!txn) return Fail(txn.error());
  // The head is read inside the transaction: a rolled-back batch leaves
  // no gap, and nothing else appends to the central chain meanwhile (the
  // writer mutex is held).
  auto head = r.audit_log().Head();
  if (!head) return Fail(head.error());
  ChainHead h = *head;
  const std::int64_t now = NowMs(clock);
  engine::Hlc newest;
  bool any = false;
  for (auto& p : batch) {
    const AuditRecord& rec = p->record;
    engine::AuditEvent e;
    e.id = r.ids().Next().ToString();
    e.site = state.central_site;
    e.time_ms = now;
    e.hlc = r.clock().Now();
    e.actor = rec.actor;
    if (rec.role) e.role = static_cast<engine::AuditRole>(*rec.role);
    e.action = rec.action;
    e.object_type = rec.object_type;
    e.object_id = rec.object_id;
    e.patient = rec.patient;
    e.outcome = rec.outcome;
    e.source = IsIpText(rec.peer) ? "ip:" + rec.peer : device_source;
    auto chained = engine::ChainNext(r.site_id(), h, std::move(e));
    if (!chained) {
      p->status = Fail(chained.error());
      continue;
    }
    auto canonical = engine::EncodeAuditEvent(chained->event);
    if (!canonical) {
      p->status = Fail(canonical.error());
      continue;
    }
    const engine::AuditEvent& ev = chained->event;
    engine::ChangeEntry ce;
    ce.id = r.ids().Next().ToString();
    ce.hlc = ev.hlc;
    ce.site = state.central_site;
    ce.table = "audit_events";
    ce.row = ev.id;
    ce.author = ev.actor.value_or(std::string(kNilUuid));
    ce.fields = {
        {"site_id", ev.site},
        {"seq", ev.seq},
        {"time_ms", ev.time_ms},
        {"hlc", static_cast<std::int64_t>(ev.hlc.packed())},
        {"actor", OptText(ev.actor)},
        {"role", ev.role ? FieldValue(std::string(
                               engine::AuditRoleName(*ev.role)))
                         : FieldValue(nullptr)},
        {"action", std::string(engine::AuditActionName(ev.action))},
        {"object_type", ev.object_type},
        {"object_id", OptText(ev.object_id)},
        {"patient", OptText(ev.patient)},
        {"outcome", std::string(engine::AuditOutcomeName(ev.outcome))},
        {"source", ev.source},
        {"event", *canonical},
        {"prev_hash", engine::HexEncode(chained->prev_hash)},
        {"hash", engine::HexEncode(chained->hash)},
    };
    if (Status s = engine::ValidateChange(ce); !s) {
      p->status = s;
      continue;
    }
    auto applied = r.merger().Apply(ce);
    if (!applied) return Fail(applied.error());
    h = ChainHead{ev.seq, chained->hash};
    newest = any ? std::max(newest, ev.hlc) : ev.hlc;
    any = true;
    p->status = OkStatus();
  }
  if (any) {
    // A restart must not mint central stamps below what is stored.
    if (Status s = engine::RaiseHlcHighWater(db, newest); !s) return s;
  }
  auto gseq = ScalarInt(db, "SELECT max(seq) FROM global_log");
  if (!gseq) return Fail(gseq.error());
  if (Status s = txn->Commit(); !s) return s;
  *global_seq = *gseq;
  return OkStatus();
}

void SqlcipherAuditTrail::Impl::CheckpointLoop() {
  std::unique_lock lock(mu);
  for (;;) {
    checkpoint_wake.wait_for(lock, kCheckpointPoll, [&] {
      return stopping || checkpoint_requested;
    });
    if (stopping) return;
    checkpoint_requested = false;
    lock.unlock();
    // Pushes add to global_log without passing through Append: read how
    // far it has grown, so the interval covers them too.
    std::optional<std::int64_t> gmax;
    {
      SqlcipherCentralStore::State::ReaderLease lease(state);
      if (auto g = ScalarInt(lease.db(), "SELECT max(seq) FROM global_log")) {
        gmax = *g;
      }
    }
    lock.lock();
    if (gmax) global_seq_seen = std::max(global_seq_seen, *gmax);
    if (!CheckpointDueLocked(NowMs(clock))) continue;
    lock.unlock();
    // A failed checkpoint is retried at the next wake; the events it
    // would cover are durable already.
    if (!checkpointing.exchange(true)) {
      try {
        (void)Checkpoint();
      } catch (...) {  // this thread must not die (std::terminate)
      }
      checkpointing = false;
    }
    lock.lock();
  }
}

void SqlcipherAuditTrail::Impl::StopCheckpointer() {
  {
    std::lock_guard lock(mu);
    stopping = true;
  }
  checkpoint_wake.notify_all();
  if (checkpointer.joinable()) checkpointer.join();
}

bool SqlcipherAuditTrail::Impl::CheckpointDueLocked(std::int64_t now_ms) const {
  const std::int64_t fresh = central_since_checkpoint +
                             std::max<std::int64_t>(
                                 0, global_seq_seen - last_checkpoint_global_seq);
  if (fresh <= 0) return false;
  if (options.checkpoint_every > 0 && fresh >= options.checkpoint_every) {
    return true;
  }
  const std::int64_t interval_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(
          options.checkpoint_interval)
          .count();
  return interval_ms > 0 && now_ms - last_checkpoint_ms >= interval_ms;
}

Status SqlcipherAuditTrail::Impl::Scan() {
  std::lock_guard lock(state.writer_mutex);
  Database& db = state.replica->database();
  auto txn = db.Begin(TransactionMode::kImmediate);
  if (!txn) return Fail(txn.error());
  auto watermark = ScalarInt(db, "SELECT last_rowid FROM audit_scan WHERE id = 1");
  if (!watermark) return Fail(watermark.error());
  const std::int64_t now = NowMs(clock);
  std::map<std::string, ChainStatus> statuses;  // sites touched
  std::uint64_t new_breaks = 0;
  std::int64_t last = *watermark;
  for (;;) {
    auto stmt = db.Prepare(
        "SELECT rowid, site_id, seq, event, prev_hash, hash FROM audit_events "
        "WHERE rowid > ? ORDER BY rowid LIMIT ?");
    if (!stmt) return Fail(stmt.error());
    if (Status s = stmt->BindInt64(1, last); !s) return s;
    if (Status s = stmt->BindInt64(2, kScanChunkRows); !s) return s;
    std::map<std::string, std::vector<ScanRow>> by_site;
    int rows = 0;
    for (;;) {
      auto more = stmt->Step();
      if (!more) return Fail(more.error());
      if (!*more) break;
      ++rows;
      last = stmt->ColumnInt64(0).value_or(last);
      auto site = Text(*stmt, 1);
      if (!site || !engine::IsCanonicalUuid(*site)) continue;  // no chain
      ScanRow row;
      row.seq = stmt->IsNull(2) ? 0 : stmt->ColumnInt64(2).value_or(0);
      auto event = Text(*stmt, 3);
      auto prev = Text(*stmt, 4);
      auto hash = Text(*stmt, 5);
      if (!event || !prev || !hash) {
        row.record = Fail(ErrorCode::kCorruption, "unreadable columns");
      } else {
        auto decoded = engine::DecodeAuditEvent(*event);
        auto p = DigestOf(*prev);
        auto hh = DigestOf(*hash);
        if (!decoded) {
          row.record = Fail(decoded.error());
        } else if (!p || !hh) {
          row.record = Fail(ErrorCode::kCorruption, "prev_hash or hash");
        } else {
          row.record = ChainedEvent{std::move(*decoded), *p, *hh};
        }
      }
      by_site[*site].push_back(std::move(row));
    }
    for (auto& [site, site_rows] : by_site) {
      auto it = statuses.find(site);
      if (it == statuses.end()) {
        auto read = db.Prepare(std::string(kStatusColumns) + "WHERE site = ?");
        if (!read) return Fail(read.error());
        if (Status s = read->BindText(1, site); !s) return s;
        auto found = read->Step();
        if (!found) return Fail(found.error());
        ChainStatus st;
        if (*found) {
          auto row = ReadStatusRow(*read);
          if (!row) return Fail(row.error());
          st = std::move(*row);
        } else {
          st.site = site;
          st.head = engine::GenesisHead(*engine::Uuid::Parse(site));
        }
        it = statuses.emplace(site, std::move(st)).first;
      }
      ChainStatus& st = it->second;
      st.checked_ms = now;
      if (st.broken) continue;  // sticky: the auditor sees the first break
      // Pushes arrive in chain order; sort within the chunk by seq so a
      // batch's own order cannot matter.
      std::stable_sort(site_rows.begin(), site_rows.end(),
                       [](const ScanRow& a, const ScanRow& b) {
                         return a.seq < b.seq;
                       });
      std::vector<ChainedEvent> records;
      const ScanRow* undecodable = nullptr;
      for (const ScanRow& row : site_rows) {
        if (!row.record) {
          undecodable = &row;
          break;
        }
        records.push_back(*row.record);
      }
      engine::ChainVerifier verifier(*engine::Uuid::Parse(site), st.head);
      verifier.AddBatch(records);
      engine::ChainReport report = verifier.Report();
      if (report.ok && undecodable != nullptr) {
        report.ok = false;
        report.first_broken_seq = report.head.seq + 1;
        report.reason = undecodable->seq == report.head.seq + 1
                            ? ChainBreak::kAltered
                        : undecodable->seq > report.head.seq + 1
                            ? ChainBreak::kMissing
                            : ChainBreak::kDuplicated;
        report.found_seq = undecodable->seq;
        report.detail = "record at seq " + std::to_string(undecodable->seq) +
                        " does not decode: " +
                        undecodable->record.error().message();
      }
      st.events_checked += report.events_checked;
      st.head = report.head;
      if (!report.ok) {
        ChainStatus::Break b;
        b.seq = report.first_broken_seq;
        b.reason = report.reason;
        b.found_seq = report.found_seq;
        b.detail = report.detail;
        b.found_ms = now;
        st.broken = std::move(b);
        ++new_breaks;
      }
    }
    if (rows < kScanChunkRows) break;
  }
  for (const auto& [site, st] : statuses) {
    if (Status s = WriteStatusRow(db, st); !s) return s;
  }
  if (last != *watermark) {
    auto mark = db.Prepare(
        "INSERT OR REPLACE INTO audit_scan (id, last_rowid) VALUES (1, ?)");
    if (!mark) return Fail(mark.error());
    if (Status s = mark->BindInt64(1, last); !s) return s;
    if (Status s = mark->Run(); !s) return s;
  }
  if (Status s = txn->Commit(); !s) return s;
  if (new_breaks > 0) {
    std::lock_guard l(mu);
    stats.chain_breaks_found += new_breaks;
    stats.sites_broken += static_cast<std::int64_t>(new_breaks);
  }
  return OkStatus();
}

Result<AuditCheckpoint> SqlcipherAuditTrail::Impl::Checkpoint() {
  // Central events counted so far are covered by this checkpoint; ones
  // appended while it is made may be too, and are counted again towards
  // the next (early rather than late).
  std::int64_t covered = 0;
  {
    std::lock_guard l(mu);
    covered = central_since_checkpoint;
  }
  if (Status s = Scan(); !s) return Fail(s.error());
  std::lock_guard lock(state.writer_mutex);
  Database& db = state.replica->database();
  auto txn = db.Begin(TransactionMode::kImmediate);
  if (!txn) return Fail(txn.error());
  CheckpointStatement st;
  st.checkpoint = 1;
  st.prev = FirstCheckpointPrev();
  std::int64_t start_seq = 0;
  engine::Blake2b256Digest start_hash = GlobalLogGenesis();
  {
    auto last = db.Prepare(
        "SELECT seq, global_seq, global_hash, statement FROM "
        "audit_checkpoints ORDER BY seq DESC LIMIT 1");
    if (!last) return Fail(last.error());
    auto found = last->Step();
    if (!found) return Fail(found.error());
    if (*found) {
      auto seq = last->ColumnInt64(0);
      auto gseq = last->ColumnInt64(1);
      auto ghash = Text(*last, 2);
      auto statement = Text(*last, 3);
      if (!seq || !gseq || !ghash || !statement) {
        return Fail(ErrorCode::kCorruption, "audit_checkpoints: unreadable");
      }
      auto digest = DigestOf(*ghash);
      if (!digest) return Fail(digest.error());
      st.checkpoint = *seq + 1;
      st.prev = CheckpointHashHex(*statement);
      start_seq = *gseq;
      start_hash = *digest;
    }
  }
  auto gmax = ScalarInt(db, "SELECT max(seq) FROM global_log");
  if (!gmax) return Fail(gmax.error());
  GlobalLogHashCursor cursor(db, start_seq, start_hash);
  auto ghash = cursor.HashAt(std::max(*gmax, start_seq));
  if (!ghash) return Fail(ghash.error());
  st.global_seq = std::max(*gmax, start_seq);
  st.global_hash = *ghash;
  st.time_ms = NowMs(clock);
  st.central_site = state.central_site;
  st.key_id = key_id;
  {
    auto rows = db.Prepare(std::string(kStatusColumns) + "ORDER BY site");
    if (!rows) return Fail(rows.error());
    for (;;) {
      auto more = rows->Step();
      if (!more) return Fail(more.error());
      if (!*more) break;
      auto s = ReadStatusRow(*rows);
      if (!s) return Fail(s.error());
      CheckpointSiteHead h;
      h.site = s->site;
      h.seq = s->head.seq;
      h.hash = engine::HexEncode(s->head.hash);
      if (s->broken) h.broken_seq = s->broken->seq;
      st.sites.push_back(std::move(h));
    }
  }
  auto statement = EncodeCheckpointStatement(st);
  if (!statement) return Fail(statement.error());
  auto signature = SignCheckpoint(*statement, secret_key);
  if (!signature) return Fail(signature.error());
  auto insert = db.Prepare(
      "INSERT INTO audit_checkpoints (seq, time_ms, global_seq, global_hash, "
      "statement, signature, key_id) VALUES (?, ?, ?, ?, ?, ?, ?)");
  if (!insert) return Fail(insert.error());
  Status s = insert->BindInt64(1, st.checkpoint);
  if (s) s = insert->BindInt64(2, st.time_ms);
  if (s) s = insert->BindInt64(3, st.global_seq);
  if (s) s = insert->BindText(4, st.global_hash);
  if (s) s = insert->BindText(5, *statement);
  if (s) s = insert->BindText(6, *signature);
  if (s) s = insert->BindText(7, key_id);
  if (s) s = insert->Run();
  if (s) s = txn->Commit();
  if (!s) return Fail(s.error());
  AuditCheckpoint out;
  out.seq = st.checkpoint;
  out.time_ms = st.time_ms;
  out.global_seq = st.global_seq;
  out.global_hash = st.global_hash;
  out.statement = std::move(*statement);
  out.signature = std::move(*signature);
  out.key_id = key_id;
  {
    std::lock_guard l(mu);
    last_checkpoint_global_seq = st.global_seq;
    last_checkpoint_ms = st.time_ms;
    central_since_checkpoint -= covered;
    ++stats.checkpoints_made;
  }
  return out;
}

SqlcipherAuditTrail::SqlcipherAuditTrail(std::unique_ptr<Impl> impl)
    : impl_(std::move(impl)) {}

SqlcipherAuditTrail::~SqlcipherAuditTrail() = default;

Result<std::unique_ptr<SqlcipherAuditTrail>> SqlcipherAuditTrail::Open(
    SqlcipherCentralStore& store, const SqlcipherAuditTrailOptions& options) {
  if (options.max_batch < 1 || options.max_batch > 10000) {
    return Fail(ErrorCode::kInvalidArgument, "max_batch: must be 1..10000");
  }
  if (options.checkpoint_every < 0 || options.checkpoint_interval.count() < 0) {
    return Fail(ErrorCode::kInvalidArgument,
                "checkpoint_every, checkpoint_interval: must be >= 0");
  }
  if (Status s = engine::InitCrypto(); !s) return Fail(s.error());
  SqlcipherCentralStore::State& state = store.state();
  engine::Clock& clock =
      options.clock != nullptr
          ? *options.clock
          : (state.options.wall_clock != nullptr ? *state.options.wall_clock
                                                 : engine::SystemClock());
  auto impl = std::make_unique<Impl>(state, options, clock);
  impl->device_source = "device:" + state.replica->device_id().ToString();
  std::lock_guard lock(state.writer_mutex);
  Database& db = state.replica->database();
  {
    auto key = db.Prepare(
        "SELECT key_id, public_key, secret_key FROM audit_signing_keys "
        "ORDER BY created_ms DESC, key_id LIMIT 1");
    if (!key) return Fail(key.error());
    auto found = key->Step();
    if (!found) return Fail(found.error());
    if (*found) {
      auto id = Text(*key, 0);
      auto pk = Text(*key, 1);
      auto sk = key->ColumnBlob(2);
      if (!id || !pk || !sk || sk->size() != kSigningSecretKeyBytes) {
        return Fail(ErrorCode::kCorruption,
                    "audit_signing_keys: unreadable key");
      }
      impl->key_id = std::move(*id);
      impl->public_key_hex = std::move(*pk);
      impl->secret_key.assign(sk->begin(), sk->end());
    } else {
      auto pair = GenerateSigningKey();
      if (!pair) return Fail(pair.error());
      impl->key_id = SigningKeyId(pair->public_key);
      impl->public_key_hex = engine::HexEncode(pair->public_key);
      impl->secret_key = pair->secret_key;
      WipeBytes(pair->secret_key);
      auto insert = db.Prepare(
          "INSERT INTO audit_signing_keys (key_id, public_key, secret_key, "
          "created_ms) VALUES (?, ?, ?, ?)");
      if (!insert) return Fail(insert.error());
      Status s = insert->BindText(1, impl->key_id);
      if (s) s = insert->BindText(2, impl->public_key_hex);
      if (s) s = insert->BindBlob(3, impl->secret_key);
      if (s) s = insert->BindInt64(4, NowMs(clock));
      if (s) s = insert->Run();
      if (!s) return Fail(s.error());
    }
  }
  {
    auto last = db.Prepare(
        "SELECT global_seq, time_ms FROM audit_checkpoints ORDER BY seq DESC "
        "LIMIT 1");
    if (!last) return Fail(last.error());
    auto found = last->Step();
    if (!found) return Fail(found.error());
    if (*found) {
      impl->last_checkpoint_global_seq = last->ColumnInt64(0).value_or(0);
      impl->last_checkpoint_ms = last->ColumnInt64(1).value_or(0);
    } else {
      impl->last_checkpoint_ms = NowMs(clock);
    }
  }
  auto gmax = ScalarInt(db, "SELECT max(seq) FROM global_log");
  if (!gmax) return Fail(gmax.error());
  impl->global_seq_seen = *gmax;
  auto broken = ScalarInt(
      db, "SELECT count(*) FROM audit_chain_status WHERE broken_seq IS NOT NULL");
  if (!broken) return Fail(broken.error());
  impl->stats.sites_broken = *broken;
  Impl* m = impl.get();
  m->checkpointer = std::thread([m] { m->CheckpointLoop(); });
  return std::unique_ptr<SqlcipherAuditTrail>(
      new SqlcipherAuditTrail(std::move(impl)));
}

Status SqlcipherAuditTrail::Append(const AuditRecord& record) {
  return AppendAll(std::span<const AuditRecord>(&record, 1));
}

Status SqlcipherAuditTrail::AppendAll(std::span<const AuditRecord> records) {
  if (records.empty()) return OkStatus();
  Impl& m = *impl_;
  std::vector<std::shared_ptr<Pending>> mine;
  mine.reserve(records.size());
  for (const AuditRecord& r : records) {
    auto pending = std::make_shared<Pending>();
    pending->record = r;
    mine.push_back(std::move(pending));
  }
  std::unique_lock lock(m.mu);
  m.queue.insert(m.queue.end(), mine.begin(), mine.end());
  auto all_done = [&] {
    return std::all_of(mine.begin(), mine.end(),
                       [](const auto& p) { return p->done; });
  };
  while (!all_done()) {
    if (m.flushing) {
      m.flushed.wait(lock);
      continue;
    }
    // Leader: commit whatever is queued (these events and the neighbours').
    m.flushing = true;
    std::vector<std::shared_ptr<Pending>> batch;
    while (!m.queue.empty() &&
           batch.size() < static_cast<std::size_t>(m.options.max_batch)) {
      batch.push_back(std::move(m.queue.front()));
      m.queue.pop_front();
    }
    lock.unlock();
    std::int64_t global_seq = 0;
    Status s = OkStatus();
    try {
      s = m.Flush(batch, &global_seq);
    } catch (const std::exception& e) {
      s = Fail(ErrorCode::kIoError, std::string("audit flush: ") + e.what());
    }
    lock.lock();
    std::int64_t ok = 0;
    for (auto& p : batch) {
      if (!s && p->status) p->status = s;
      if (p->status) {
        ++ok;
      } else {
        ++m.stats.append_failures;
      }
      p->done = true;
    }
    if (s) {
      ++m.stats.commits;
      m.stats.events_appended += static_cast<std::uint64_t>(ok);
      m.central_since_checkpoint += ok;
      m.global_seq_seen = std::max(m.global_seq_seen, global_seq);
    }
    m.flushing = false;
    m.flushed.notify_all();
  }
  Status result = OkStatus();
  for (const auto& p : mine) {
    if (!p->status) {
      result = p->status;
      break;
    }
  }
  // The checkpoint is the checkpointer thread's work, never the request's:
  // signing and the continuity scan would add their time to this answer.
  if (result && m.CheckpointDueLocked(NowMs(m.clock))) {
    m.checkpoint_requested = true;
    m.checkpoint_wake.notify_one();
  }
  return result;
}

Status SqlcipherAuditTrail::CheckContinuity() { return impl_->Scan(); }

Result<std::vector<ChainStatus>> SqlcipherAuditTrail::ChainStatuses() {
  SqlcipherCentralStore::State::ReaderLease lease(impl_->state);
  auto stmt = lease.db().Prepare(std::string(kStatusColumns) + "ORDER BY site");
  if (!stmt) return Fail(stmt.error());
  std::vector<ChainStatus> out;
  for (;;) {
    auto more = stmt->Step();
    if (!more) return Fail(more.error());
    if (!*more) break;
    auto s = ReadStatusRow(*stmt);
    if (!s) return Fail(s.error());
    out.push_back(std::move(*s));
  }
  return out;
}

Result<std::optional<ChainStatus>> SqlcipherAuditTrail::SiteChainStatus(
    std::string_view site) {
  SqlcipherCentralStore::State::ReaderLease lease(impl_->state);
  auto stmt = lease.db().Prepare(std::string(kStatusColumns) + "WHERE site = ?");
  if (!stmt) return Fail(stmt.error());
  if (Status s = stmt->BindText(1, site); !s) return Fail(s.error());
  auto found = stmt->Step();
  if (!found) return Fail(found.error());
  if (!*found) return std::optional<ChainStatus>();
  auto s = ReadStatusRow(*stmt);
  if (!s) return Fail(s.error());
  return std::optional<ChainStatus>(std::move(*s));
}

Result<AuditEventPage> SqlcipherAuditTrail::QueryEvents(
    const AuditEventQuery& q) {
  if (q.limit < 1 || q.limit > kMaxAuditPageLimit) {
    return Fail(ErrorCode::kInvalidArgument, "limit: must be 1..1000");
  }
  std::string sql = std::string(kEventColumns) + "WHERE 1 = 1";
  // Filters are bound, never spliced: values are client input.
  if (q.site) sql += " AND site_id = ?";
  if (q.actor) sql += " AND actor = ?";
  if (q.patient) sql += " AND patient = ?";
  if (q.action) sql += " AND action = ?";
  if (q.from_ms) sql += " AND time_ms >= ?";
  if (q.to_ms) sql += " AND time_ms < ?";
  if (q.before) sql += " AND (time_ms < ? OR (time_ms = ? AND id < ?))";
  sql += " ORDER BY time_ms DESC, id DESC LIMIT ?";
  SqlcipherCentralStore::State::ReaderLease lease(impl_->state);
  auto stmt = lease.db().Prepare(sql);
  if (!stmt) return Fail(stmt.error());
  int i = 0;
  Status s = OkStatus();
  if (s && q.site) s = stmt->BindText(++i, *q.site);
  if (s && q.actor) s = stmt->BindText(++i, *q.actor);
  if (s && q.patient) s = stmt->BindText(++i, *q.patient);
  if (s && q.action) s = stmt->BindText(++i, engine::AuditActionName(*q.action));
  if (s && q.from_ms) s = stmt->BindInt64(++i, *q.from_ms);
  if (s && q.to_ms) s = stmt->BindInt64(++i, *q.to_ms);
  if (s && q.before) {
    s = stmt->BindInt64(++i, q.before->time_ms);
    if (s) s = stmt->BindInt64(++i, q.before->time_ms);
    if (s) s = stmt->BindText(++i, q.before->id);
  }
  if (s) s = stmt->BindInt64(++i, std::int64_t{q.limit} + 1);
  if (!s) return Fail(s.error());
  AuditEventPage page;
  for (;;) {
    auto more = stmt->Step();
    if (!more) return Fail(more.error());
    if (!*more) break;
    if (static_cast<int>(page.events.size()) == q.limit) {
      page.more = true;
      break;
    }
    auto e = ReadEventRow(*stmt);
    if (!e) return Fail(e.error());
    page.events.push_back(std::move(*e));
  }
  return page;
}

Result<std::vector<StoredAuditEvent>> SqlcipherAuditTrail::ChainRecords(
    std::string_view site, std::int64_t after_seq, int limit) {
  if (limit < 1 || limit > kMaxAuditPageLimit) {
    return Fail(ErrorCode::kInvalidArgument, "limit: must be 1..1000");
  }
  SqlcipherCentralStore::State::ReaderLease lease(impl_->state);
  auto stmt = lease.db().Prepare(std::string(kEventColumns) +
                                 "WHERE site_id = ? AND seq > ? ORDER BY seq, "
                                 "id LIMIT ?");
  if (!stmt) return Fail(stmt.error());
  Status s = stmt->BindText(1, site);
  if (s) s = stmt->BindInt64(2, after_seq);
  if (s) s = stmt->BindInt64(3, limit);
  if (!s) return Fail(s.error());
  std::vector<StoredAuditEvent> out;
  for (;;) {
    auto more = stmt->Step();
    if (!more) return Fail(more.error());
    if (!*more) break;
    auto e = ReadEventRow(*stmt);
    if (!e) return Fail(e.error());
    out.push_back(std::move(*e));
  }
  return out;
}

Result<SiteVerification> SqlcipherAuditTrail::VerifySite(
    std::string_view site) {
  auto uuid = engine::Uuid::Parse(site);
  if (!uuid || uuid->ToString() != site) {
    return Fail(ErrorCode::kInvalidArgument, "site: not a canonical UUID");
  }
  auto recorded = SiteChainStatus(site);
  if (!recorded) return Fail(recorded.error());
  SqlcipherCentralStore::State::ReaderLease lease(impl_->state);
  SiteVerification out;
  out.site = std::string(site);
  out.recorded = std::move(*recorded);
  std::optional<ChainHead> expected;
  {
    auto last = lease.db().Prepare(
        "SELECT seq, statement FROM audit_checkpoints ORDER BY seq DESC "
        "LIMIT 1");
    if (!last) return Fail(last.error());
    auto found = last->Step();
    if (!found) return Fail(found.error());
    if (*found) {
      auto text = Text(*last, 1);
      if (!text) return Fail(text.error());
      auto statement = DecodeCheckpointStatement(*text);
      if (!statement) return Fail(statement.error());
      for (const CheckpointSiteHead& h : statement->sites) {
        if (h.site != site || h.seq == 0) continue;
        auto digest = DigestOf(h.hash);
        if (!digest) return Fail(digest.error());
        expected = ChainHead{h.seq, *digest};
        out.checkpoint = statement->checkpoint;
      }
    }
  }
  auto check = VerifyStoredChain(lease.db(), *uuid, expected);
  if (!check) return Fail(check.error());
  if (check->stored_events == 0 && !out.recorded) {
    return Fail(ErrorCode::kNotFound, "site: no audit events");
  }
  out.report = std::move(check->report);
  out.stored_events = check->stored_events;
  return out;
}

Result<std::vector<AuditCheckpoint>> SqlcipherAuditTrail::Checkpoints(
    std::int64_t after_seq, int limit) {
  if (limit < 1 || limit > kMaxAuditPageLimit) {
    return Fail(ErrorCode::kInvalidArgument, "limit: must be 1..1000");
  }
  SqlcipherCentralStore::State::ReaderLease lease(impl_->state);
  auto rows = ReadStoredCheckpoints(lease.db(), after_seq, limit);
  if (!rows) return Fail(rows.error());
  std::vector<AuditCheckpoint> out;
  out.reserve(rows->size());
  for (StoredCheckpoint& c : *rows) {
    AuditCheckpoint a;
    a.seq = c.seq;
    a.time_ms = c.time_ms;
    a.global_seq = c.global_seq;
    a.global_hash = std::move(c.global_hash);
    a.statement = std::move(c.statement);
    a.signature = std::move(c.signature);
    a.key_id = std::move(c.key_id);
    out.push_back(std::move(a));
  }
  return out;
}

Result<AuditCheckpoint> SqlcipherAuditTrail::MakeCheckpoint() {
  return impl_->Checkpoint();
}

std::string SqlcipherAuditTrail::PublicKeyHex() const {
  return impl_->public_key_hex;
}

std::string SqlcipherAuditTrail::KeyId() const { return impl_->key_id; }

AuditTrailStats SqlcipherAuditTrail::Stats() const {
  std::lock_guard lock(impl_->mu);
  return impl_->stats;
}

}  // namespace pulse::sync_server
