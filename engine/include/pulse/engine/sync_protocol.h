// The sync protocol's messages (DESIGN.md §5; docs/sync_protocol.md): plain
// C++ values for the JSON bodies of /api/v1 and their codec. Both sides use
// this one header — the server's handlers and the engine's sync client — so
// the wire format is written down once.
//
// Pure: no sockets, no SQL, no clock. Decoders take the whole body and
// either return a complete value or an error naming the offending field
// ("changes[3].hlc: ...", "batch_id: missing"); they never return a half
// value. Encoders produce compact JSON; change entries inside a body are
// their canonical form (docs/formats/change_log.md §3), so a change's bytes
// are the same in the outbox, on the wire and in the server's log.
//
// Errors of the decoders:
//  kInvalidArgument  malformed JSON, a wrong type, a missing or unknown
//                    field, a value out of range (the handler answers 400)
//  kUnsupported      a protocol_version this build does not speak (426)
//  kOutOfRange       more changes than kMaxPushChanges (413)
//
// Thread-safety: plain values and pure functions.
#ifndef PULSE_ENGINE_SYNC_PROTOCOL_H_
#define PULSE_ENGINE_SYNC_PROTOCOL_H_

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "pulse/base/result.h"
#include "pulse/engine/change.h"

namespace pulse::engine::sync {

// The protocol this build speaks. A request stating another is answered
// 426 with the version the server needs.
inline constexpr int kProtocolVersion = 1;

// Limits (the server answers 413 above them; the client stays below).
inline constexpr std::size_t kMaxPushChanges = 5000;
inline constexpr std::size_t kMaxRequestBodyBytes = 16u << 20;  // 16 MiB
inline constexpr int kDefaultPullLimit = 1000;
inline constexpr int kMaxPullLimit = 10000;

// POST /api/v1/sync/push. Idempotent by batch_id: the client mints the id
// once, stores it with the batch's changes and resends the same id and the
// same changes until the server has answered.
struct PushRequest {
  std::string batch_id;      // UUIDv7, canonical lower case
  std::string site;          // the pushing replica's site (canonical UUID)
  int protocol_version = kProtocolVersion;
  int schema_version = 0;    // the replica's clinic schema version (>= 1)
  std::int64_t client_time_ms = 0;  // the replica's wall clock, Unix ms
  std::vector<ChangeEntry> changes;  // 0 .. kMaxPushChanges, valid entries
};

struct PushResponse {
  std::string batch_id;
  // Entries new to the central store (0 when the batch was seen before).
  std::int64_t accepted = 0;
  // True when the batch id had been accepted before: nothing was applied
  // again and `accepted` repeats the first answer's count.
  bool duplicate = false;
  // Conflicts the batch's entries created on the central store.
  std::int64_t conflicts = 0;
  // SHA-256 (hex) of blobs the batch's rows reference that the server does
  // not hold yet: the client uploads them next.
  std::vector<std::string> missing_blobs;
  std::int64_t server_time_ms = 0;
  // True when the two wall clocks differ by more than the drift policy's
  // warning threshold (hlc.h CheckClockSkew): the UI shows it.
  bool clock_skew_warning = false;
};

// GET /api/v1/sync/pull?cursor=C&limit=L. The cursor is opaque to the
// client: it stores next_cursor and sends it back; 0 means "from the start".
struct PullResponse {
  std::vector<ChangeEntry> changes;  // in global-sequence order
  std::int64_t next_cursor = 0;
  bool more = false;  // pull again at once with next_cursor
  std::int64_t server_time_ms = 0;
};

// POST /api/v1/auth/login.
struct LoginRequest {
  std::string username;
  std::string password;  // never logged, never echoed in an error
};

struct LoginResponse {
  std::string token;               // opaque bearer token (64 hex digits)
  std::string user_id;             // canonical UUID
  std::string role;                // permissions.h RoleName()
  std::optional<std::string> site;  // clinic staff only
  std::int64_t expires_at_ms = 0;   // absolute expiry, Unix ms
  std::int64_t idle_timeout_s = 0;  // the token dies after this long unused
};

// RFC 9457 problem details: every error body.
struct Problem {
  std::string type;   // "https://pulse-ledger.example/problems/<slug>"
  std::string title;  // short, fixed per type
  int status = 500;
  std::string detail;  // this occurrence; never patient data or secrets
  // For 426: the protocol / schema version the server needs.
  std::optional<int> required_protocol_version;
  std::optional<int> required_schema_version;
};

Result<std::string> EncodePushRequest(const PushRequest& request);
Result<PushRequest> DecodePushRequest(std::string_view body);

std::string EncodePushResponse(const PushResponse& response);
Result<PushResponse> DecodePushResponse(std::string_view body);

Result<std::string> EncodePullResponse(const PullResponse& response);
// The same body from entries already in their canonical encoding
// (EncodeChange output, as a server stores them): the texts are copied, not
// re-encoded, so a server answers a pull without decoding what it stored.
// `changes` of `response` is ignored. REQUIRES: every text is canonical
// (the client validates each entry it decodes).
std::string EncodePullResponse(const PullResponse& response,
                               std::span<const std::string> encoded_changes);
Result<PullResponse> DecodePullResponse(std::string_view body);

std::string EncodeLoginRequest(const LoginRequest& request);
Result<LoginRequest> DecodeLoginRequest(std::string_view body);

std::string EncodeLoginResponse(const LoginResponse& response);
Result<LoginResponse> DecodeLoginResponse(std::string_view body);

std::string EncodeProblem(const Problem& problem);
Result<Problem> DecodeProblem(std::string_view body);

}  // namespace pulse::engine::sync

#endif  // PULSE_ENGINE_SYNC_PROTOCOL_H_
