#include "pulse/sync_server/audit_checkpoint.h"

#include <sodium.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "pulse/engine/change.h"
#include "pulse/engine/crypto.h"

namespace pulse::sync_server {
namespace {

constexpr std::string_view kGlobalGenesisLabel = "pulse-ledger global log v1";

bool IsLowerHex(std::string_view s, std::size_t size) {
  return s.size() == size && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

Status CheckStatement(const CheckpointStatement& s, ErrorCode code) {
  auto bad = [code](std::string what) { return Fail(code, std::move(what)); };
  if (s.checkpoint < 1) return bad("checkpoint: must be >= 1");
  if (s.time_ms < 0) return bad("time_ms: must be >= 0");
  if (!engine::IsCanonicalUuid(s.central_site)) {
    return bad("central_site: not a canonical UUID");
  }
  if (s.global_seq < 0) return bad("global_seq: must be >= 0");
  if (!IsLowerHex(s.global_hash, 64)) return bad("global_hash: not 64 hex");
  if (!IsLowerHex(s.prev, 64)) return bad("prev: not 64 hex");
  if (!IsLowerHex(s.key_id, 16)) return bad("key_id: not 16 hex");
  for (std::size_t i = 0; i < s.sites.size(); ++i) {
    const CheckpointSiteHead& h = s.sites[i];
    const std::string at = "sites[" + std::to_string(i) + "].";
    if (!engine::IsCanonicalUuid(h.site)) return bad(at + "site: not a UUID");
    if (i > 0 && !(s.sites[i - 1].site < h.site)) {
      return bad(at + "site: not sorted or repeated");
    }
    if (h.seq < 0) return bad(at + "seq: must be >= 0");
    if (!IsLowerHex(h.hash, 64)) return bad(at + "hash: not 64 hex");
    if (h.broken_seq && *h.broken_seq < 1) {
      return bad(at + "broken_seq: must be >= 1");
    }
  }
  return OkStatus();
}

std::string Quoted(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 2);
  out += '"';
  out += s;
  out += '"';
  return out;
}

}  // namespace

Result<std::string> EncodeCheckpointStatement(const CheckpointStatement& s) {
  if (Status ok = CheckStatement(s, ErrorCode::kInvalidArgument); !ok) {
    return Fail(ok.error());
  }
  // Keys in byte order; no value needs escaping (checked above).
  std::string out = "{\"central_site\":" + Quoted(s.central_site) +
                    ",\"checkpoint\":" + std::to_string(s.checkpoint) +
                    ",\"global_hash\":" + Quoted(s.global_hash) +
                    ",\"global_seq\":" + std::to_string(s.global_seq) +
                    ",\"key_id\":" + Quoted(s.key_id) +
                    ",\"prev\":" + Quoted(s.prev) + ",\"sites\":[";
  for (std::size_t i = 0; i < s.sites.size(); ++i) {
    const CheckpointSiteHead& h = s.sites[i];
    if (i > 0) out += ',';
    out += "{\"broken_seq\":";
    out += h.broken_seq ? std::to_string(*h.broken_seq) : "null";
    out += ",\"hash\":" + Quoted(h.hash) + ",\"seq\":" + std::to_string(h.seq) +
           ",\"site\":" + Quoted(h.site) + "}";
  }
  out += "],\"time_ms\":" + std::to_string(s.time_ms) +
         ",\"type\":" + Quoted(kCheckpointType) +
         ",\"v\":" + std::to_string(kCheckpointFormatVersion) + "}";
  return out;
}

Result<CheckpointStatement> DecodeCheckpointStatement(std::string_view text) {
  using nlohmann::json;
  auto corrupt = [](std::string what) {
    return Fail(ErrorCode::kCorruption, "checkpoint statement: " + what);
  };
  json root = json::parse(text.begin(), text.end(), nullptr, false);
  if (root.is_discarded() || !root.is_object()) {
    return corrupt("not a JSON object");
  }
  auto int_of = [&](const json& obj, const char* key,
                    std::int64_t* out) -> bool {
    auto it = obj.find(key);
    if (it == obj.end() || !it->is_number_integer()) return false;
    *out = it->get<std::int64_t>();
    return true;
  };
  auto str_of = [&](const json& obj, const char* key, std::string* out) {
    auto it = obj.find(key);
    if (it == obj.end() || !it->is_string()) return false;
    *out = it->get<std::string>();
    return true;
  };
  std::int64_t v = 0;
  if (!int_of(root, "v", &v)) return corrupt("v: missing or not an integer");
  if (v > kCheckpointFormatVersion) {
    return Fail(ErrorCode::kUnsupported,
                "checkpoint statement: v " + std::to_string(v) +
                    " is newer than this build reads");
  }
  std::string type;
  if (!str_of(root, "type", &type) || type != kCheckpointType) {
    return corrupt("type: not a Pulse Ledger audit checkpoint");
  }
  CheckpointStatement s;
  if (!int_of(root, "checkpoint", &s.checkpoint)) return corrupt("checkpoint");
  if (!int_of(root, "time_ms", &s.time_ms)) return corrupt("time_ms");
  if (!int_of(root, "global_seq", &s.global_seq)) return corrupt("global_seq");
  if (!str_of(root, "central_site", &s.central_site)) {
    return corrupt("central_site");
  }
  if (!str_of(root, "global_hash", &s.global_hash)) {
    return corrupt("global_hash");
  }
  if (!str_of(root, "prev", &s.prev)) return corrupt("prev");
  if (!str_of(root, "key_id", &s.key_id)) return corrupt("key_id");
  auto sites = root.find("sites");
  if (sites == root.end() || !sites->is_array()) return corrupt("sites");
  for (const json& item : *sites) {
    if (!item.is_object()) return corrupt("sites: an item is not an object");
    CheckpointSiteHead h;
    if (!str_of(item, "site", &h.site) || !str_of(item, "hash", &h.hash) ||
        !int_of(item, "seq", &h.seq)) {
      return corrupt("sites: an item lacks site, hash or seq");
    }
    auto broken = item.find("broken_seq");
    if (broken == item.end()) return corrupt("sites: broken_seq missing");
    if (!broken->is_null()) {
      if (!broken->is_number_integer()) return corrupt("sites: broken_seq");
      h.broken_seq = broken->get<std::int64_t>();
    }
    s.sites.push_back(std::move(h));
  }
  if (Status ok = CheckStatement(s, ErrorCode::kCorruption); !ok) {
    return Fail(ok.error().WithContext("checkpoint statement"));
  }
  // Only the canonical spelling is a statement: the bytes that were signed
  // must be the bytes these values encode to.
  auto canonical = EncodeCheckpointStatement(s);
  if (!canonical || *canonical != text) {
    return corrupt("not in canonical form");
  }
  return s;
}

std::string CheckpointHashHex(std::string_view statement) {
  return engine::HexEncode(engine::Blake2b256(statement));
}

std::string FirstCheckpointPrev() { return std::string(64, '0'); }

engine::Blake2b256Digest GlobalLogGenesis() {
  return engine::Blake2b256(kGlobalGenesisLabel);
}

engine::Blake2b256Digest GlobalLogNext(const engine::Blake2b256Digest& prev,
                                       std::int64_t seq,
                                       std::string_view entry) {
  engine::Blake2bHasher hasher;
  hasher.Update(prev);
  std::array<std::uint8_t, 8> be{};
  const auto useq = static_cast<std::uint64_t>(seq);
  for (int i = 0; i < 8; ++i) {
    be[static_cast<std::size_t>(i)] =
        static_cast<std::uint8_t>(useq >> (56 - 8 * i));
  }
  hasher.Update(be);
  hasher.Update(entry);
  const std::vector<std::uint8_t> out = hasher.Final();
  engine::Blake2b256Digest digest{};
  std::copy_n(out.begin(), digest.size(), digest.begin());
  return digest;
}

Result<SigningKeyPair> GenerateSigningKey() {
  if (Status s = engine::InitCrypto(); !s) return Fail(s.error());
  SigningKeyPair pair;
  pair.public_key.resize(crypto_sign_PUBLICKEYBYTES);
  pair.secret_key.resize(crypto_sign_SECRETKEYBYTES);
  static_assert(crypto_sign_PUBLICKEYBYTES == kSigningPublicKeyBytes);
  static_assert(crypto_sign_SECRETKEYBYTES == kSigningSecretKeyBytes);
  static_assert(crypto_sign_BYTES == kSignatureBytes);
  if (crypto_sign_keypair(pair.public_key.data(), pair.secret_key.data()) !=
      0) {
    return Fail(ErrorCode::kIoError, "signing key: generation failed");
  }
  return pair;
}

void WipeBytes(std::span<std::uint8_t> bytes) {
  sodium_memzero(bytes.data(), bytes.size());
}

std::string SigningKeyId(std::span<const std::uint8_t> public_key) {
  return engine::HexEncode(engine::Blake2b256(public_key)).substr(0, 16);
}

Result<std::string> SignCheckpoint(std::string_view statement,
                                   std::span<const std::uint8_t> secret_key) {
  if (secret_key.size() != kSigningSecretKeyBytes) {
    return Fail(ErrorCode::kInvalidArgument, "signing key: wrong size");
  }
  if (Status s = engine::InitCrypto(); !s) return Fail(s.error());
  std::array<std::uint8_t, kSignatureBytes> sig{};
  crypto_sign_detached(
      sig.data(), nullptr,
      reinterpret_cast<const unsigned char*>(statement.data()),
      statement.size(), secret_key.data());
  return engine::HexEncode(sig);
}

Status VerifyCheckpointSignature(std::string_view statement,
                                 std::string_view signature_hex,
                                 std::string_view public_key_hex) {
  if (Status s = engine::InitCrypto(); !s) return s;
  auto sig = engine::HexDecode(signature_hex);
  if (!sig || sig->size() != kSignatureBytes) {
    return Fail(ErrorCode::kCorruption, "signature: not 128 hex digits");
  }
  auto pk = engine::HexDecode(public_key_hex);
  if (!pk || pk->size() != kSigningPublicKeyBytes) {
    return Fail(ErrorCode::kCorruption, "public key: not 64 hex digits");
  }
  if (crypto_sign_verify_detached(
          sig->data(),
          reinterpret_cast<const unsigned char*>(statement.data()),
          statement.size(), pk->data()) != 0) {
    return Fail(ErrorCode::kCorruption, "signature does not verify");
  }
  return OkStatus();
}

}  // namespace pulse::sync_server
