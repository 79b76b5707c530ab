#include "pulse/sync_server/audit_store_reader.h"

#include <algorithm>
#include <utility>

namespace pulse::sync_server {
namespace {

using engine::ChainBreak;
using engine::ChainedEvent;
using engine::Database;

// A row's record, or why it cannot be one.
Result<ChainedEvent> RecordOf(std::string_view event_text,
                              std::string_view prev_text,
                              std::string_view hash_text) {
  auto event = engine::DecodeAuditEvent(event_text);
  if (!event) return Fail(event.error());
  auto prev = engine::HexDecode(prev_text);
  auto hash = engine::HexDecode(hash_text);
  ChainedEvent record;
  if (!prev || !hash || prev->size() != record.prev_hash.size() ||
      hash->size() != record.hash.size()) {
    return Fail(ErrorCode::kCorruption, "prev_hash or hash: not 64 hex");
  }
  record.event = std::move(*event);
  std::copy(prev->begin(), prev->end(), record.prev_hash.begin());
  std::copy(hash->begin(), hash->end(), record.hash.begin());
  return record;
}

Result<std::string> Text(const engine::Statement& stmt, int column) {
  if (stmt.IsNull(column)) return std::string();
  auto t = stmt.ColumnText(column);
  if (!t) return Fail(t.error());
  return std::string(*t);
}

}  // namespace

Result<StoredChainCheck> VerifyStoredChain(
    Database& db, const engine::Uuid& site,
    const std::optional<engine::ChainHead>& expected) {
  StoredChainCheck out;
  {
    auto count =
        db.Prepare("SELECT count(*) FROM audit_events WHERE site_id = ?");
    if (!count) return Fail(count.error());
    if (Status s = count->BindText(1, site.ToString()); !s) {
      return Fail(s.error());
    }
    auto row = count->Step();
    if (!row) return Fail(row.error());
    out.stored_events = count->ColumnInt64(0).value_or(0);
  }
  engine::ChainVerifier verifier(site);
  if (expected && expected->seq > 0) verifier.ExpectCheckpoint(*expected);
  auto stmt = db.Prepare(
      "SELECT seq, event, prev_hash, hash FROM audit_events WHERE site_id = ? "
      "ORDER BY seq, id");
  if (!stmt) return Fail(stmt.error());
  if (Status s = stmt->BindText(1, site.ToString()); !s) {
    return Fail(s.error());
  }
  std::size_t index = 0;
  for (;; ++index) {
    auto more = stmt->Step();
    if (!more) return Fail(more.error());
    if (!*more) break;
    auto seq = stmt->IsNull(0) ? Result<std::int64_t>(0) : stmt->ColumnInt64(0);
    auto event = Text(*stmt, 1);
    auto prev = Text(*stmt, 2);
    auto hash = Text(*stmt, 3);
    Result<ChainedEvent> record =
        (!seq || !event || !prev || !hash)
            ? Result<ChainedEvent>(
                  Fail(ErrorCode::kCorruption, "unreadable columns"))
            : RecordOf(*event, *prev, *hash);
    if (!record) {
      // A record that does not even decode is judged by the seq its row
      // claims, like the verifier judges a decodable one.
      engine::ChainReport r = verifier.Report();
      if (!r.ok) break;
      const std::int64_t claimed = seq ? *seq : 0;
      r.ok = false;
      r.first_broken_seq = r.head.seq + 1;
      r.reason = claimed == r.head.seq + 1 ? ChainBreak::kAltered
                 : claimed > r.head.seq + 1 ? ChainBreak::kMissing
                                            : ChainBreak::kDuplicated;
      r.broken_index = index;
      r.found_seq = claimed;
      r.detail = "record at seq " + std::to_string(claimed) +
                 " does not decode: " + record.error().message();
      out.report = std::move(r);
      return out;
    }
    if (!verifier.Add(*record)) break;
  }
  out.report = verifier.Finish();
  return out;
}

Result<std::vector<std::string>> StoredAuditSites(Database& db) {
  auto stmt = db.Prepare(
      "SELECT DISTINCT site_id FROM audit_events WHERE site_id IS NOT NULL "
      "ORDER BY site_id");
  if (!stmt) return Fail(stmt.error());
  std::vector<std::string> sites;
  for (;;) {
    auto more = stmt->Step();
    if (!more) return Fail(more.error());
    if (!*more) break;
    auto site = Text(*stmt, 0);
    if (!site) return Fail(site.error());
    sites.push_back(std::move(*site));
  }
  return sites;
}

Result<std::vector<StoredCheckpoint>> ReadStoredCheckpoints(
    Database& db, std::int64_t after_seq, int limit) {
  auto stmt = db.Prepare(
      "SELECT seq, time_ms, global_seq, global_hash, statement, signature, "
      "key_id FROM audit_checkpoints WHERE seq > ? ORDER BY seq LIMIT ?");
  if (!stmt) return Fail(stmt.error());
  if (Status s = stmt->BindInt64(1, after_seq); !s) return Fail(s.error());
  if (Status s = stmt->BindInt64(2, limit > 0 ? limit : -1); !s) {
    return Fail(s.error());
  }
  std::vector<StoredCheckpoint> out;
  for (;;) {
    auto more = stmt->Step();
    if (!more) return Fail(more.error());
    if (!*more) break;
    StoredCheckpoint c;
    auto seq = stmt->ColumnInt64(0);
    auto time = stmt->ColumnInt64(1);
    auto gseq = stmt->ColumnInt64(2);
    auto ghash = Text(*stmt, 3);
    auto statement = Text(*stmt, 4);
    auto signature = Text(*stmt, 5);
    auto key = Text(*stmt, 6);
    if (!seq || !time || !gseq || !ghash || !statement || !signature || !key) {
      return Fail(ErrorCode::kCorruption, "audit_checkpoints: unreadable row");
    }
    c.seq = *seq;
    c.time_ms = *time;
    c.global_seq = *gseq;
    c.global_hash = std::move(*ghash);
    c.statement = std::move(*statement);
    c.signature = std::move(*signature);
    c.key_id = std::move(*key);
    out.push_back(std::move(c));
  }
  return out;
}

Result<std::map<std::string, std::string>> ReadSigningPublicKeys(
    Database& db) {
  auto stmt = db.Prepare("SELECT key_id, public_key FROM audit_signing_keys");
  if (!stmt) return Fail(stmt.error());
  std::map<std::string, std::string> keys;
  for (;;) {
    auto more = stmt->Step();
    if (!more) return Fail(more.error());
    if (!*more) break;
    auto id = Text(*stmt, 0);
    auto pk = Text(*stmt, 1);
    if (!id || !pk) {
      return Fail(ErrorCode::kCorruption, "audit_signing_keys: unreadable row");
    }
    keys.emplace(std::move(*id), std::move(*pk));
  }
  return keys;
}

CheckpointCheck VerifyCheckpointSequence(
    const std::vector<StoredCheckpoint>& checkpoints,
    const std::map<std::string, std::string>& public_keys,
    const std::function<Result<std::string>(std::int64_t)>& global_hash_at) {
  CheckpointCheck out;
  auto broken = [&out](std::int64_t seq, std::string detail) {
    out.ok = false;
    out.broken = seq;
    out.detail = "checkpoint " + std::to_string(seq) + ": " + std::move(detail);
    return out;
  };
  std::string prev = FirstCheckpointPrev();
  std::int64_t expected = 1;
  for (const StoredCheckpoint& c : checkpoints) {
    if (c.seq != expected) {
      return broken(expected, "missing (next stored is " +
                                  std::to_string(c.seq) + ")");
    }
    auto statement = DecodeCheckpointStatement(c.statement);
    if (!statement) return broken(c.seq, statement.error().message());
    if (statement->checkpoint != c.seq || statement->global_seq != c.global_seq ||
        statement->global_hash != c.global_hash ||
        statement->key_id != c.key_id) {
      return broken(c.seq, "row and signed statement disagree");
    }
    auto key = public_keys.find(c.key_id);
    if (key == public_keys.end()) {
      return broken(c.seq, "signed by unknown key " + c.key_id);
    }
    if (Status s =
            VerifyCheckpointSignature(c.statement, c.signature, key->second);
        !s) {
      return broken(c.seq, s.error().message());
    }
    if (statement->prev != prev) {
      return broken(c.seq,
                    "prev does not match the previous checkpoint (one was "
                    "removed or replaced)");
    }
    if (global_hash_at) {
      auto h = global_hash_at(c.global_seq);
      if (!h) return broken(c.seq, "global_log: " + h.error().message());
      if (*h != c.global_hash) {
        return broken(c.seq, "global_log entries up to seq " +
                                 std::to_string(c.global_seq) +
                                 " were altered or removed");
      }
    }
    prev = CheckpointHashHex(c.statement);
    out.newest = std::move(*statement);
    ++out.checked;
    ++expected;
  }
  return out;
}

Result<std::string> GlobalLogHashCursor::HashAt(std::int64_t global_seq) {
  if (global_seq < seq_) {
    return Fail(ErrorCode::kInvalidArgument,
                "global seq went backwards: " + std::to_string(global_seq));
  }
  auto stmt = db_.Prepare(
      "SELECT seq, entry FROM global_log WHERE seq > ? AND seq <= ? "
      "ORDER BY seq");
  if (!stmt) return Fail(stmt.error());
  if (Status s = stmt->BindInt64(1, seq_); !s) return Fail(s.error());
  if (Status s = stmt->BindInt64(2, global_seq); !s) return Fail(s.error());
  for (;;) {
    auto more = stmt->Step();
    if (!more) return Fail(more.error());
    if (!*more) break;
    auto seq = stmt->ColumnInt64(0);
    auto entry = stmt->ColumnText(1);
    if (!seq || !entry) {
      return Fail(ErrorCode::kCorruption, "global_log: unreadable row");
    }
    hash_ = GlobalLogNext(hash_, *seq, *entry);
  }
  seq_ = global_seq;
  return engine::HexEncode(hash_);
}

}  // namespace pulse::sync_server
