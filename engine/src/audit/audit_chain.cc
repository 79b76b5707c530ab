// The per-site audit hash chain and its verifier
// (docs/formats/audit_chain.md §3, §4).
#include <algorithm>
#include <cstring>
#include <utility>

#include "pulse/engine/audit.h"

namespace pulse::engine {
namespace {

constexpr std::string_view kGenesisDomain = "pulse-ledger audit v1";

Blake2b256Digest ToDigest(const std::vector<std::uint8_t>& bytes) {
  Blake2b256Digest digest;
  std::memcpy(digest.data(), bytes.data(), digest.size());
  return digest;
}

std::string ShortHex(const Blake2b256Digest& digest) {
  return HexEncode(std::span<const std::uint8_t>(digest.data(), 8)) + "...";
}

}  // namespace

Blake2b256Digest AuditGenesis(const Uuid& site) {
  Blake2bHasher hasher(32);
  hasher.Update(kGenesisDomain);
  hasher.Update(site.bytes());
  return ToDigest(hasher.Final());
}

Result<Blake2b256Digest> AuditChainHash(const Blake2b256Digest& prev,
                                        const AuditEvent& event) {
  auto canonical = EncodeAuditEvent(event);
  if (!canonical) return Fail(canonical.error());
  Blake2bHasher hasher(32);
  hasher.Update(prev);
  hasher.Update(*canonical);
  return ToDigest(hasher.Final());
}

Result<ChainedEvent> ChainNext(const Uuid& site, const ChainHead& head,
                               AuditEvent event) {
  const std::string site_text = site.ToString();
  if (event.site != site_text) {
    return Fail(ErrorCode::kInvalidArgument,
                "site: event of site \"" + event.site.substr(0, 64) +
                    "\" appended to the chain of " + site_text);
  }
  if (head.seq < 0 || head.seq >= kMaxAuditSeq) {
    return Fail(ErrorCode::kOutOfRange,
                "seq: the chain of " + site_text + " cannot grow past seq " +
                    std::to_string(head.seq));
  }
  event.seq = head.seq + 1;
  auto hash = AuditChainHash(head.hash, event);
  if (!hash) return Fail(hash.error());
  return ChainedEvent{std::move(event), head.hash, *hash};
}

// ------------------------------------------------------------ AuditChain --

AuditChain::AuditChain(const Uuid& site, const ChainHead& head)
    : site_(site), site_text_(site.ToString()), head_(head) {}

Result<ChainedEvent> AuditChain::Append(AuditEvent event) {
  std::lock_guard lock(mu_);
  auto record = ChainNext(site_, head_, std::move(event));
  if (record) head_ = ChainHead{record->event.seq, record->hash};
  return record;
}

ChainHead AuditChain::head() const {
  std::lock_guard lock(mu_);
  return head_;
}

void AuditChain::Reset(const ChainHead& head) {
  std::lock_guard lock(mu_);
  head_ = head;
}

// --------------------------------------------------------- verification --

std::string_view ChainBreakName(ChainBreak reason) {
  switch (reason) {
    case ChainBreak::kNone:
      return "none";
    case ChainBreak::kAltered:
      return "altered";
    case ChainBreak::kMissing:
      return "missing";
    case ChainBreak::kReordered:
      return "reordered";
    case ChainBreak::kDuplicated:
      return "duplicated";
    case ChainBreak::kWrongSite:
      return "wrong_site";
    case ChainBreak::kBadGenesis:
      return "bad_genesis";
    case ChainBreak::kTruncated:
      return "truncated";
  }
  return "unknown";
}

ChainVerifier::ChainVerifier(const Uuid& site, const ChainHead& start)
    : site_(site), site_text_(site.ToString()), start_(start) {
  report_.head = start;
}

void ChainVerifier::ExpectCheckpoint(const ChainHead& checkpoint) {
  if (checkpoint.seq <= start_.seq) return;
  checkpoints_[checkpoint.seq] = checkpoint.hash;
}

bool ChainVerifier::Break(ChainBreak reason, const ChainedEvent* record,
                          std::string detail) {
  report_.ok = false;
  report_.reason = reason;
  report_.first_broken_seq = report_.head.seq + 1;
  if (record != nullptr) {
    report_.broken_index = index_;
    report_.found_seq = record->event.seq;
  }
  report_.detail = std::move(detail);
  return false;
}

bool ChainVerifier::Check(const ChainedEvent& record,
                          std::span<const ChainedEvent> lookahead) {
  const AuditEvent& e = record.event;
  const ChainHead& head = report_.head;
  const std::int64_t expected = head.seq + 1;
  const std::string at = "seq " + std::to_string(expected) + ": ";

  // Linked to the head: the record is in its place, so any disagreement in
  // it is an alteration (audit_chain.md §4.1).
  if (record.prev_hash == head.hash) {
    if (e.site != site_text_) {
      return Break(ChainBreak::kAltered, &record,
                   at + "site changed to " + e.site.substr(0, 64));
    }
    if (e.seq != expected) {
      return Break(ChainBreak::kAltered, &record,
                   at + "seq changed to " + std::to_string(e.seq));
    }
    auto hash = AuditChainHash(head.hash, e);
    if (!hash) {
      return Break(ChainBreak::kAltered, &record,
                   at + "invalid event: " + hash.error().message());
    }
    if (*hash != record.hash) {
      return Break(ChainBreak::kAltered, &record,
                   at + "hash does not recompute (stored " +
                       ShortHex(record.hash) + ", computed " +
                       ShortHex(*hash) + ")");
    }
    auto checkpoint = checkpoints_.find(expected);
    if (checkpoint != checkpoints_.end() && checkpoint->second != *hash) {
      return Break(ChainBreak::kAltered, &record,
                   at + "hash " + ShortHex(*hash) + " differs from the " +
                       "checkpoint's " + ShortHex(checkpoint->second));
    }
    report_.head = ChainHead{expected, *hash};
    ++report_.events_checked;
    return true;
  }

  if (e.site != site_text_) {
    return Break(ChainBreak::kWrongSite, &record,
                 at + "found an event of site " + e.site.substr(0, 64) +
                     " (seq " + std::to_string(e.seq) + ")");
  }
  if (e.seq == expected) {
    if (expected == 1) {
      return Break(ChainBreak::kBadGenesis, &record,
                   at + "prev_hash " + ShortHex(record.prev_hash) +
                       " is not the genesis of site " + site_text_);
    }
    return Break(ChainBreak::kAltered, &record,
                 at + "prev_hash " + ShortHex(record.prev_hash) +
                     " is not the hash of seq " + std::to_string(head.seq) +
                     " (" + ShortHex(head.hash) +
                     "): this record's prev_hash or an earlier record was "
                     "rewritten");
  }
  if (e.seq < expected) {
    return Break(ChainBreak::kDuplicated, &record,
                 at + "found seq " + std::to_string(e.seq) +
                     " again, after seq " + std::to_string(head.seq));
  }
  const bool comes_later =
      std::any_of(lookahead.begin(), lookahead.end(),
                  [&](const ChainedEvent& r) {
                    return r.event.seq == expected && r.event.site == site_text_;
                  });
  if (comes_later) {
    return Break(ChainBreak::kReordered, &record,
                 at + "found seq " + std::to_string(e.seq) + " in its place; "
                     "seq " + std::to_string(expected) + " comes later");
  }
  return Break(ChainBreak::kMissing, &record,
               at + "missing; the next record is seq " +
                   std::to_string(e.seq));
}

bool ChainVerifier::Add(const ChainedEvent& record) {
  if (!report_.ok) return false;
  const bool ok = Check(record, {});
  ++index_;
  return ok;
}

bool ChainVerifier::AddBatch(std::span<const ChainedEvent> records) {
  for (std::size_t i = 0; i < records.size(); ++i) {
    if (!report_.ok) return false;
    const bool ok = Check(records[i], records.subspan(i + 1));
    ++index_;
    if (!ok) return false;
  }
  return report_.ok;
}

ChainReport ChainVerifier::Finish() const {
  ChainReport report = report_;
  if (report.ok && !checkpoints_.empty()) {
    const std::int64_t last = checkpoints_.rbegin()->first;
    if (last > report.head.seq) {
      report.ok = false;
      report.reason = ChainBreak::kTruncated;
      report.first_broken_seq = report.head.seq + 1;
      report.detail = "seq " + std::to_string(report.first_broken_seq) +
                      ": the records end at seq " +
                      std::to_string(report.head.seq) +
                      " but the chain is known to reach seq " +
                      std::to_string(last);
    }
  }
  return report;
}

ChainReport VerifyChain(const Uuid& site,
                        std::span<const ChainedEvent> records) {
  ChainVerifier verifier(site);
  verifier.AddBatch(records);
  return verifier.Finish();
}

}  // namespace pulse::engine
