#include "pulse/engine/audit_log.h"

#include <algorithm>
#include <chrono>
#include <string>
#include <utility>

#include "pulse/engine/hash.h"

namespace pulse::engine {
namespace {

FieldValue Text(const std::optional<std::string>& value) {
  if (!value) return nullptr;
  return *value;
}

// The author of change entries made when no user is known (a failed
// sign-in with an unknown name): the nil UUID, which no account has.
std::string AuthorOf(const AuditFact& fact) {
  return fact.actor != nullptr ? fact.actor->user_id.ToString()
                               : Uuid().ToString();
}

}  // namespace

AuditLog::AuditLog(Database& db, Clock& wall, HybridClock& clock,
                   UuidV7Generator& ids, Uuid site, Uuid device)
    : db_(db), wall_(wall), clock_(clock), ids_(ids), site_(site),
      source_("device:" + device.ToString()) {}

Result<ChainHead> AuditLog::Head() {
  auto stmt = db_.Prepare(
      "SELECT seq, hash FROM audit_events WHERE site_id = ? "
      "ORDER BY seq DESC LIMIT 1");
  if (!stmt) return Fail(stmt.error());
  if (Status s = stmt->BindText(1, site_.ToString()); !s) return Fail(s.error());
  auto found = stmt->Step();
  if (!found) return Fail(found.error());
  if (!*found) return GenesisHead(site_);
  auto seq = stmt->ColumnInt64(0);
  auto hash_text = stmt->ColumnText(1);
  if (!seq || !hash_text) {
    return Fail(ErrorCode::kCorruption, "audit_events: malformed chain head");
  }
  auto bytes = HexDecode(*hash_text);
  if (!bytes || bytes->size() != 32) {
    return Fail(ErrorCode::kCorruption, "audit_events: malformed head hash");
  }
  ChainHead head;
  head.seq = *seq;
  std::copy(bytes->begin(), bytes->end(), head.hash.begin());
  return head;
}

Result<RowWrite> AuditLog::Next(const AuditFact& fact) {
  auto head = Head();
  if (!head) return Fail(head.error());
  AuditEvent event;
  event.id = ids_.Next().ToString();
  event.site = site_.ToString();
  event.time_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      wall_.Now().time_since_epoch())
                      .count();
  if (event.time_ms < 0) event.time_ms = 0;
  event.hlc = clock_.Now();
  if (fact.actor != nullptr) {
    event.actor = fact.actor->user_id.ToString();
    event.role = static_cast<AuditRole>(fact.actor->role);
  }
  event.action = fact.action;
  event.object_type = std::string(fact.object_type);
  event.object_id = fact.object_id;
  event.patient = fact.patient;
  event.outcome = fact.outcome;
  event.source = source_;
  auto chained = ChainNext(site_, *head, std::move(event));
  if (!chained) return Fail(chained.error());
  auto canonical = EncodeAuditEvent(chained->event);
  if (!canonical) return Fail(canonical.error());
  const AuditEvent& e = chained->event;
  RowWrite write;
  write.table = "audit_events";
  write.row = e.id;
  write.fields = {
      {"site_id", e.site},
      {"seq", e.seq},
      {"time_ms", e.time_ms},
      {"hlc", static_cast<std::int64_t>(e.hlc.packed())},
      {"actor", Text(e.actor)},
      {"role", e.role ? FieldValue(std::string(AuditRoleName(*e.role)))
                      : FieldValue(nullptr)},
      {"action", std::string(AuditActionName(e.action))},
      {"object_type", e.object_type},
      {"object_id", Text(e.object_id)},
      {"patient", Text(e.patient)},
      {"outcome", std::string(AuditOutcomeName(e.outcome))},
      {"source", e.source},
      {"event", *canonical},
      {"prev_hash", HexEncode(chained->prev_hash)},
      {"hash", HexEncode(chained->hash)},
  };
  return write;
}

Status CommitAudited(LocalWriter& writer, AuditLog& audit,
                     const AuditFact& fact, std::vector<RowWrite> writes) {
  auto event = audit.Next(fact);
  if (!event) return Fail(event.error());
  writes.push_back(std::move(*event));
  auto committed = writer.Commit(writes, AuthorOf(fact));
  if (!committed) return Fail(committed.error());
  return OkStatus();
}

Status AuditDenial(LocalWriter& writer, AuditLog& audit, AuditFact fact,
                   std::string_view reason) {
  fact.action = AuditAction::kPermissionDenied;
  fact.outcome = AuditOutcome::kDenied;
  if (Status s = CommitAudited(writer, audit, fact, {}); !s) return s;
  return Fail(ErrorCode::kPermissionDenied, std::string(reason));
}

Result<std::vector<ChainedEvent>> ReadAuditChain(Database& db,
                                                 const Uuid& site) {
  auto stmt = db.Prepare(
      "SELECT seq, event, prev_hash, hash FROM audit_events WHERE site_id = ? "
      "ORDER BY seq");
  if (!stmt) return Fail(stmt.error());
  if (Status s = stmt->BindText(1, site.ToString()); !s) return Fail(s.error());
  std::vector<ChainedEvent> chain;
  for (;;) {
    auto more = stmt->Step();
    if (!more) return Fail(more.error());
    if (!*more) break;
    const std::string where =
        "audit_events seq " + std::to_string(stmt->ColumnInt64(0).value_or(-1));
    auto event_text = stmt->ColumnText(1);
    auto prev_text = stmt->ColumnText(2);
    auto hash_text = stmt->ColumnText(3);
    if (!event_text || !prev_text || !hash_text) {
      return Fail(ErrorCode::kCorruption, where + ": malformed row");
    }
    auto event = DecodeAuditEvent(*event_text);
    if (!event) return Fail(event.error().WithContext(where));
    auto prev = HexDecode(*prev_text);
    auto hash = HexDecode(*hash_text);
    ChainedEvent record;
    if (!prev || !hash || prev->size() != record.prev_hash.size() ||
        hash->size() != record.hash.size()) {
      return Fail(ErrorCode::kCorruption, where + ": malformed hash");
    }
    record.event = std::move(*event);
    std::copy(prev->begin(), prev->end(), record.prev_hash.begin());
    std::copy(hash->begin(), hash->end(), record.hash.begin());
    chain.push_back(std::move(record));
  }
  return chain;
}

}  // namespace pulse::engine
