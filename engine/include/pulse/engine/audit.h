// Audit events and the per-site audit hash chain (DESIGN.md §6).
//
// The format — event fields, the stable enum codes and names, the canonical
// JSON bytes, the chain rule, the genesis value and what "verified" means —
// is docs/formats/audit_chain.md. This header is its C++ form:
//   - AuditEvent, a plain value, with EncodeAuditEvent()/DecodeAuditEvent()
//     between events and canonical bytes;
//   - ChainedEvent (event + prev_hash + hash) and its JSON record form;
//   - ChainNext(), the pure append step, and AuditChain, a thread-safe
//     appender around it;
//   - ChainVerifier, an incremental verifier (fed record by record or batch
//     by batch, resumable from a known head, with checkpoints), and
//     VerifyChain() over a whole span.
// Pure: no SQL, no I/O. Storage (clinic `audit_events`, central store) and
// the server's signed checkpoints build on this.
//
// Thread-safety: values and free functions are pure. AuditChain is safe to
// use from any thread (one mutex). A ChainVerifier is not thread-safe; use
// one per chain being checked.
#ifndef PULSE_ENGINE_AUDIT_H_
#define PULSE_ENGINE_AUDIT_H_

#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "pulse/base/result.h"
#include "pulse/engine/hash.h"
#include "pulse/engine/hlc.h"
#include "pulse/engine/uuid.h"

namespace pulse::engine {

// Numeric values are stable (audit_chain.md §1.2): never renumber or reuse.
enum class AuditAction : std::uint8_t {
  kLogin = 1,
  kLoginFailed = 2,
  kLogout = 3,
  kView = 4,
  kCreate = 5,
  kUpdate = 6,
  kDelete = 7,
  kExport = 8,
  kPrint = 9,
  kSyncPush = 10,
  kSyncPull = 11,
  kPermissionDenied = 12,
  kKeyChange = 13,
  kConflictResolved = 14,
};
inline constexpr int kMaxAuditActionCode = 14;

// Numeric values are stable: never renumber or reuse.
enum class AuditRole : std::uint8_t {
  kAdmin = 1,
  kClinician = 2,
  kTechnician = 3,
  kAuditor = 4,
};

// Numeric values are stable: never renumber or reuse.
enum class AuditOutcome : std::uint8_t { kOk = 1, kDenied = 2, kError = 3 };

// The stable text names ("login_failed", "clinician", "denied"); "unknown"
// for a value outside the enum.
std::string_view AuditActionName(AuditAction action);
std::string_view AuditRoleName(AuditRole role);
std::string_view AuditOutcomeName(AuditOutcome outcome);

// The inverse of the *Name functions; nullopt for an unknown name.
std::optional<AuditAction> ParseAuditAction(std::string_view name);
std::optional<AuditRole> ParseAuditRole(std::string_view name);
std::optional<AuditOutcome> ParseAuditOutcome(std::string_view name);

// One audited action. Ids are canonical lower-case UUID text, as in
// ChangeEntry. Fields are in audit_chain.md §1.1 order. No field holds
// patient data beyond the patient's id (§1.1): every text is a UUID, an
// identifier, an enum name or a source address.
struct AuditEvent {
  std::string id;          // UUIDv7 of the event
  std::string site;        // UUID of the site whose chain holds it
  std::int64_t seq = 0;    // 1.. gapless per site; set by the chain
  std::int64_t time_ms = 0;  // wall clock, ms since the Unix epoch
  Hlc hlc;                   // the replica's HLC at the event; non-zero
  std::optional<std::string> actor;  // user UUID; nullopt = no known user
  std::optional<AuditRole> role;     // present exactly when actor is
  AuditAction action = AuditAction::kView;
  std::string object_type;              // identifier [a-z][a-z0-9_]{0,62}
  std::optional<std::string> object_id;  // UUID of the object
  std::optional<std::string> patient;    // UUID of the patient concerned
  AuditOutcome outcome = AuditOutcome::kOk;
  std::string source;  // "device:<uuid>" or "ip:<address>" (§1.1)

  bool operator==(const AuditEvent&) const = default;
};

// Limits of audit_chain.md §1.
inline constexpr std::int64_t kMaxAuditSeq = (std::int64_t{1} << 53) - 1;
inline constexpr std::int64_t kMaxAuditTimeMs = Hlc::kMaxPhysicalMs;
inline constexpr std::size_t kMaxAuditEventBytes = 4096;
inline constexpr std::size_t kMaxAuditSourceBytes = 128;
inline constexpr std::int64_t kAuditFormatVersion = 1;

// Checks every rule of §1 (a seq of 0, "not yet chained", is an error: an
// event is validated once it has its place). Returns an error with `code`
// whose message starts with the field ("seq: ...", "role: ...").
Status ValidateAuditEvent(const AuditEvent& event,
                          ErrorCode code = ErrorCode::kInvalidArgument);

// The canonical JSON bytes of `event` (§2). kInvalidArgument naming the
// field if the event breaks a rule.
Result<std::string> EncodeAuditEvent(const AuditEvent& event);

// Parses one event from JSON in any key order and spacing. kCorruption
// naming the field for malformed or invalid input (duplicate, missing or
// unknown keys, wrong types, values outside their rules, input over
// kMaxAuditEventBytes); kUnsupported for a newer `v` or an unknown action,
// role or outcome name.
// Post: on success EncodeAuditEvent(*result) succeeds.
Result<AuditEvent> DecodeAuditEvent(std::string_view json);

// --- the chain (audit_chain.md §3) ---

// The genesis hash of `site`'s chain: BLAKE2b-256("pulse-ledger audit v1" ‖
// the 16 bytes of `site`).
Blake2b256Digest AuditGenesis(const Uuid& site);

// The last record of a chain: its seq and hash. (0, AuditGenesis(site)) for
// an empty chain.
struct ChainHead {
  std::int64_t seq = 0;
  Blake2b256Digest hash{};
  bool operator==(const ChainHead&) const = default;
};

inline ChainHead GenesisHead(const Uuid& site) {
  return ChainHead{0, AuditGenesis(site)};
}

// An event in its place in the chain.
struct ChainedEvent {
  AuditEvent event;
  Blake2b256Digest prev_hash{};  // hash of seq - 1 (genesis for seq 1)
  Blake2b256Digest hash{};       // BLAKE2b-256(prev_hash ‖ canonical event)
  bool operator==(const ChainedEvent&) const = default;
};

// BLAKE2b-256(prev ‖ canonical(event)); kInvalidArgument (field named) if
// the event is invalid.
Result<Blake2b256Digest> AuditChainHash(const Blake2b256Digest& prev,
                                        const AuditEvent& event);

// The pure append step: `event` with seq = head.seq + 1, chained after
// `head`. `event.seq` is ignored (overwritten). Returns kInvalidArgument if
// event.site is not `site` or the event is otherwise invalid (field named),
// kOutOfRange if the chain is at kMaxAuditSeq.
// REQUIRES: `head` is the head of `site`'s chain (e.g. read from the store
// in the transaction that will insert the result).
Result<ChainedEvent> ChainNext(const Uuid& site, const ChainHead& head,
                               AuditEvent event);

// JSON record form of §3: {"event":{…},"hash":"…","prev_hash":"…"}.
// EncodeChainedEvent fails like EncodeAuditEvent; it does not check that
// `hash` recomputes (that is the verifier's job, so that broken records can
// be exported as they are). DecodeChainedEvent: kCorruption / kUnsupported
// as DecodeAuditEvent, field paths prefixed "event.".
Result<std::string> EncodeChainedEvent(const ChainedEvent& record);
Result<ChainedEvent> DecodeChainedEvent(std::string_view json);

// Appends events to one site's chain in memory: assigns seq and prev_hash
// and returns the chained record. Thread-safe: concurrent Append() calls
// are serialised, each gets the next seq, and the records they return
// form one valid chain in seq order.
//
// Appending advances the head whether or not the caller manages to store
// the record; a caller whose store rolls back must Reset() to the head it
// did persist, or the next record would leave a gap. Stores that append
// inside a transaction should prefer ChainNext() with the head they read in
// that transaction.
class AuditChain {
 public:
  // A chain for `site` continuing after `head` (GenesisHead(site) for a new
  // site, otherwise the stored head).
  AuditChain(const Uuid& site, const ChainHead& head);
  explicit AuditChain(const Uuid& site) : AuditChain(site, GenesisHead(site)) {}

  AuditChain(const AuditChain&) = delete;
  AuditChain& operator=(const AuditChain&) = delete;

  // Chains `event` (see ChainNext) and advances the head. On error the head
  // is unchanged.
  Result<ChainedEvent> Append(AuditEvent event);

  ChainHead head() const;
  // Moves the head, e.g. back to the last persisted record.
  void Reset(const ChainHead& head);

  const Uuid& site() const { return site_; }
  const std::string& site_text() const { return site_text_; }

 private:
  const Uuid site_;
  const std::string site_text_;
  mutable std::mutex mu_;
  ChainHead head_;  // guarded by mu_
};

// --- verification (audit_chain.md §4) ---

// Stable numeric values: never renumber or reuse.
enum class ChainBreak : std::uint8_t {
  kNone = 0,
  kAltered = 1,
  kMissing = 2,
  kReordered = 3,
  kDuplicated = 4,
  kWrongSite = 5,
  kBadGenesis = 6,
  kTruncated = 7,
};

// "none", "altered", "missing", "reordered", "duplicated", "wrong_site",
// "bad_genesis", "truncated".
std::string_view ChainBreakName(ChainBreak reason);

struct ChainReport {
  bool ok = true;
  // Records verified intact (since the verifier's start), before the break.
  std::int64_t events_checked = 0;
  // The head after the last intact record (the start head if none).
  ChainHead head;
  // When !ok: the seq at which the chain breaks, head.seq + 1; every seq
  // before it is intact. 0 when ok.
  std::int64_t first_broken_seq = 0;
  ChainBreak reason = ChainBreak::kNone;
  // When !ok and a record is at fault (not kTruncated): its index in the
  // input (counting every record passed to the verifier) and the seq it
  // claims.
  std::optional<std::size_t> broken_index;
  std::optional<std::int64_t> found_seq;
  std::string detail;  // one line for people; empty when ok
};

// Checks records of one site's chain in order, from a known head, stopping
// at the first broken one. Feed records one by one (Add) or in batches
// (AddBatch: can tell kReordered from kMissing within the batch), then
// read Report() / Finish().
//
// Continuity across batches: keep one verifier per site, or construct a new
// one from the head of the last verified batch (ChainReport::head).
class ChainVerifier {
 public:
  // Verifies from `start` (GenesisHead(site) unless resuming).
  ChainVerifier(const Uuid& site, const ChainHead& start);
  explicit ChainVerifier(const Uuid& site)
      : ChainVerifier(site, GenesisHead(site)) {}

  // A head known from elsewhere (a signed checkpoint, the server's stored
  // head): the record at checkpoint.seq must have checkpoint.hash (else
  // kAltered there), and Finish() reports kTruncated if the input stopped
  // before the largest checkpoint's seq. Checkpoints at or below the start
  // head are not checked.
  void ExpectCheckpoint(const ChainHead& checkpoint);

  // Verifies the next record. Returns false once the chain is broken (this
  // record or an earlier one); later records are then ignored.
  bool Add(const ChainedEvent& record);
  // Verifies a batch in order; with the batch in view, a forward jump whose
  // missing seq comes later in the batch is kReordered.
  bool AddBatch(std::span<const ChainedEvent> records);

  // The state so far; truncation is not judged (more may come).
  const ChainReport& Report() const { return report_; }
  // The final report: Report(), or kTruncated if the records ended before
  // a checkpoint.
  ChainReport Finish() const;

 private:
  bool Check(const ChainedEvent& record,
             std::span<const ChainedEvent> lookahead);
  bool Break(ChainBreak reason, const ChainedEvent* record, std::string detail);

  const Uuid site_;
  const std::string site_text_;
  const ChainHead start_;
  std::map<std::int64_t, Blake2b256Digest> checkpoints_;
  std::size_t index_ = 0;  // records passed so far
  ChainReport report_;
};

// Verifies `records` as a whole chain of `site` from genesis.
ChainReport VerifyChain(const Uuid& site,
                        std::span<const ChainedEvent> records);

}  // namespace pulse::engine

#endif  // PULSE_ENGINE_AUDIT_H_
