// Signed checkpoints of the central audit log (DESIGN.md §6;
// docs/security.md "Audit"): the statement format, the running hash over
// the global log, and Ed25519 signing and verification. Shared by the
// server (which makes checkpoints) and tools/audit-verify (which checks
// them), so that both read the same bytes the same way.
//
// A checkpoint statement is canonical JSON (keys sorted by bytes, no
// whitespace, every string from a restricted character set so nothing is
// ever escaped):
//
//   {"central_site":"<uuid>","checkpoint":N,"global_hash":"<64 hex>",
//    "global_seq":M,"key_id":"<16 hex>","prev":"<64 hex>",
//    "sites":[{"broken_seq":null|K,"hash":"<64 hex>","seq":S,
//              "site":"<uuid>"},...],
//    "time_ms":T,"type":"pulse-ledger audit checkpoint","v":1}
//
//   - checkpoint: 1, 2, ... gapless; prev = BLAKE2b-256 of the previous
//     checkpoint's statement bytes (64 zeros for checkpoint 1), so removing
//     or replacing one checkpoint breaks the next;
//   - global_seq / global_hash: the last global_log seq covered and the
//     running hash G over global_log rows in seq order:
//       G_0 = BLAKE2b-256("pulse-ledger global log v1")
//       G_i = BLAKE2b-256(G_{i-1} ‖ seq_i as 8 bytes big-endian ‖ entry_i)
//     where entry_i is the stored canonical change entry text;
//   - sites: every site's audit chain head as the server verified it (its
//     continuity check), sorted by site; broken_seq is the first broken
//     seq when the server found the chain broken (the head is then the
//     last intact record), else null;
//   - the signature is Ed25519 (libsodium crypto_sign_detached) over the
//     statement bytes exactly; key_id = the first 16 hex digits of
//     BLAKE2b-256(public key).
//
// Thread-safety: pure functions (InitCrypto must have succeeded).
#ifndef PULSE_SYNC_SERVER_AUDIT_CHECKPOINT_H_
#define PULSE_SYNC_SERVER_AUDIT_CHECKPOINT_H_

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "pulse/base/result.h"
#include "pulse/engine/hash.h"

namespace pulse::sync_server {

inline constexpr std::string_view kCheckpointType =
    "pulse-ledger audit checkpoint";
inline constexpr std::int64_t kCheckpointFormatVersion = 1;
inline constexpr std::size_t kSigningPublicKeyBytes = 32;
inline constexpr std::size_t kSigningSecretKeyBytes = 64;
inline constexpr std::size_t kSignatureBytes = 64;

// One site's chain head in a checkpoint.
struct CheckpointSiteHead {
  std::string site;          // canonical UUID
  std::int64_t seq = 0;      // last verified seq (0: empty chain)
  std::string hash;          // its hash, 64 hex (genesis when seq = 0)
  std::optional<std::int64_t> broken_seq;  // first broken seq, if any
  bool operator==(const CheckpointSiteHead&) const = default;
};

struct CheckpointStatement {
  std::int64_t checkpoint = 0;  // 1..
  std::int64_t time_ms = 0;     // server wall clock, ms since the epoch
  std::string central_site;     // canonical UUID
  std::int64_t global_seq = 0;  // last global_log seq covered (0: none)
  std::string global_hash;      // 64 hex
  std::string prev;             // 64 hex
  std::string key_id;           // 16 hex
  std::vector<CheckpointSiteHead> sites;  // sorted by site, unique
  bool operator==(const CheckpointStatement&) const = default;
};

// The canonical bytes. kInvalidArgument naming the field when a value
// breaks its rule (a non-UUID site, non-hex hash, unsorted sites...).
Result<std::string> EncodeCheckpointStatement(const CheckpointStatement& s);
// Parses and checks a statement; kCorruption naming the field, and also
// when the input is not exactly its canonical encoding (so the signed
// bytes and the parsed values cannot disagree). kUnsupported for a newer
// "v".
Result<CheckpointStatement> DecodeCheckpointStatement(std::string_view text);

// BLAKE2b-256 of the statement bytes, hex: the next checkpoint's `prev`.
std::string CheckpointHashHex(std::string_view statement);
// The `prev` of checkpoint 1: 64 zeros.
std::string FirstCheckpointPrev();

// The running hash over global_log (see the file comment).
engine::Blake2b256Digest GlobalLogGenesis();
engine::Blake2b256Digest GlobalLogNext(const engine::Blake2b256Digest& prev,
                                       std::int64_t seq,
                                       std::string_view entry);

// A new Ed25519 key pair: (public key, secret key). The caller wipes the
// secret key's bytes when done (WipeBytes).
struct SigningKeyPair {
  std::vector<std::uint8_t> public_key;  // kSigningPublicKeyBytes
  std::vector<std::uint8_t> secret_key;  // kSigningSecretKeyBytes
};
Result<SigningKeyPair> GenerateSigningKey();
// Overwrites `bytes` with zeros in a way the compiler keeps.
void WipeBytes(std::span<std::uint8_t> bytes);

// First 16 hex digits of BLAKE2b-256(public_key).
std::string SigningKeyId(std::span<const std::uint8_t> public_key);

// Ed25519 detached signature of `statement`, hex. kInvalidArgument for a
// secret key of the wrong size.
Result<std::string> SignCheckpoint(std::string_view statement,
                                   std::span<const std::uint8_t> secret_key);
// OK when `signature_hex` is a valid signature of `statement` by the key
// `public_key_hex`; kCorruption "signature does not verify" otherwise (or
// naming the malformed hex).
Status VerifyCheckpointSignature(std::string_view statement,
                                 std::string_view signature_hex,
                                 std::string_view public_key_hex);

}  // namespace pulse::sync_server

#endif  // PULSE_SYNC_SERVER_AUDIT_CHECKPOINT_H_
