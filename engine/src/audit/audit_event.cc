// Audit events and their canonical JSON (docs/formats/audit_chain.md §1, §2,
// §5), and the JSON form of chained records (§3).
//
// Parsing goes through nlohmann-json's SAX interface, as for change entries
// (engine/src/changes/change.cc, whose reasons apply): the DOM parser would
// hide duplicate keys and round integers beyond int64 into doubles. Events
// are flat, so the handler here admits one object of scalars (plus the one
// nested "event" object of a chained record) and nothing else. Writing is by
// hand: every string value is from a restricted ASCII set (validated before
// writing), so the canonical form needs no escaping.
#include <array>
#include <charconv>
#include <cstring>
#include <exception>
#include <limits>
#include <nlohmann/json.hpp>
#include <utility>
#include <vector>

#include "pulse/engine/audit.h"
#include "pulse/engine/change.h"

namespace pulse::engine {
namespace {

using Json = nlohmann::json;

constexpr std::array<std::string_view, 15> kActionNames = {
    "",          "login",     "login_failed", "logout",
    "view",      "create",    "update",       "delete",
    "export",    "print",     "sync_push",    "sync_pull",
    "permission_denied", "key_change", "conflict_resolved"};
constexpr std::array<std::string_view, 5> kRoleNames = {
    "", "admin", "clinician", "technician", "auditor"};
constexpr std::array<std::string_view, 4> kOutcomeNames = {"", "ok", "denied",
                                                           "error"};

template <std::size_t N>
std::string_view NameOf(const std::array<std::string_view, N>& names,
                        std::uint8_t code) {
  if (code == 0 || code >= N) return "unknown";
  return names[code];
}

template <typename E, std::size_t N>
std::optional<E> CodeOf(const std::array<std::string_view, N>& names,
                        std::string_view name) {
  for (std::size_t i = 1; i < N; ++i) {
    if (names[i] == name) return static_cast<E>(i);
  }
  return std::nullopt;
}

// The event keys in canonical (byte) order, "v" included.
constexpr std::array<std::string_view, 14> kEventKeys = {
    "action",  "actor",   "hlc",  "id",   "object_id", "object_type",
    "outcome", "patient", "role", "seq",  "site",      "source",
    "time_ms", "v"};

bool IsEventKey(std::string_view key) {
  for (std::string_view k : kEventKeys) {
    if (k == key) return true;
  }
  return false;
}

// A key or value from the input, safe to put in an error message.
std::string Printable(std::string_view text) {
  std::string out;
  for (char c : text.substr(0, 64)) {
    const auto u = static_cast<unsigned char>(c);
    out += (u >= 0x20 && u < 0x7f) ? c : '?';
  }
  if (text.size() > 64) out += "...";
  return out;
}

// Dotted quad, each part 0-255 without leading zeros (one spelling).
bool IsIpv4(std::string_view s) {
  int parts = 0;
  std::size_t i = 0;
  while (true) {
    std::size_t start = i;
    int value = 0;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9' && i - start < 3) {
      value = value * 10 + (s[i] - '0');
      ++i;
    }
    const std::size_t len = i - start;
    if (len == 0 || value > 255 || (len > 1 && s[start] == '0')) return false;
    ++parts;
    if (i == s.size()) break;
    if (s[i] != '.' || parts == 4) return false;
    ++i;
  }
  return parts == 4;
}

// IPv6 text in lower case (RFC 5952 style, an embedded IPv4 tail allowed):
// only the character set and length are checked, which is what keeps free
// text out; the sync server writes these from parsed socket addresses.
bool IsIpv6(std::string_view s) {
  if (s.size() < 2 || s.size() > 45) return false;
  if (s.find(':') == std::string_view::npos) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || c == ':' ||
          c == '.')) {
      return false;
    }
  }
  return true;
}

bool IsSource(std::string_view s) {
  if (s.size() > kMaxAuditSourceBytes) return false;
  if (s.starts_with("device:")) return IsCanonicalUuid(s.substr(7));
  if (s.starts_with("ip:")) {
    const std::string_view addr = s.substr(3);
    return IsIpv4(addr) || IsIpv6(addr);
  }
  return false;
}

// ---------------------------------------------------------------- writing

void WriteInt(std::int64_t v, std::string* out) {
  std::array<char, 32> buf;
  const auto r = std::to_chars(buf.data(), buf.data() + buf.size(), v);
  out->append(buf.data(), r.ptr);
}

// REQUIRES: `s` needs no JSON escape (validated character sets only).
void WriteString(std::string_view s, std::string* out) {
  out->push_back('"');
  out->append(s);
  out->push_back('"');
}

void WriteOptional(const std::optional<std::string>& s, std::string* out) {
  if (s) {
    WriteString(*s, out);
  } else {
    *out += "null";
  }
}

// REQUIRES: ValidateAuditEvent(e) succeeded.
void WriteEvent(const AuditEvent& e, std::string* out) {
  // Keys in kEventKeys order.
  *out += "{\"action\":";
  WriteString(AuditActionName(e.action), out);
  *out += ",\"actor\":";
  WriteOptional(e.actor, out);
  *out += ",\"hlc\":";
  WriteString(e.hlc.ToString(), out);
  *out += ",\"id\":";
  WriteString(e.id, out);
  *out += ",\"object_id\":";
  WriteOptional(e.object_id, out);
  *out += ",\"object_type\":";
  WriteString(e.object_type, out);
  *out += ",\"outcome\":";
  WriteString(AuditOutcomeName(e.outcome), out);
  *out += ",\"patient\":";
  WriteOptional(e.patient, out);
  *out += ",\"role\":";
  if (e.role) {
    WriteString(AuditRoleName(*e.role), out);
  } else {
    *out += "null";
  }
  *out += ",\"seq\":";
  WriteInt(e.seq, out);
  *out += ",\"site\":";
  WriteString(e.site, out);
  *out += ",\"source\":";
  WriteString(e.source, out);
  *out += ",\"time_ms\":";
  WriteInt(e.time_ms, out);
  *out += ",\"v\":";
  WriteInt(kAuditFormatVersion, out);
  out->push_back('}');
}

// ---------------------------------------------------------------- parsing

// Builds a DOM of at most `max_depth` nested objects holding scalars,
// refusing duplicate keys, arrays, booleans and integers beyond int64. Error
// messages start with the path of the key being read.
class FlatSax {
 public:
  FlatSax(int max_depth, std::string_view what)
      : max_depth_(max_depth), what_(what) {}

  bool null() { return Put(Json(nullptr)); }
  bool boolean(bool) { return Error("must not be a boolean"); }
  bool number_integer(Json::number_integer_t v) { return Put(Json(v)); }
  bool number_unsigned(Json::number_unsigned_t v) {
    if (v >
        static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
      return Error("integer beyond int64");
    }
    return Put(Json(static_cast<std::int64_t>(v)));
  }
  bool number_float(Json::number_float_t v, const Json::string_t& lexeme) {
    if (lexeme.find_first_of(".eE") == std::string::npos) {
      return Error("integer beyond int64");
    }
    return Put(Json(v));  // rejected by the field's type check
  }
  bool string(Json::string_t& v) { return Put(Json(std::move(v))); }
  bool binary(Json::binary_t&) { return Error("binary value"); }
  bool start_object(std::size_t) {
    if (static_cast<int>(stack_.size()) >= max_depth_) {
      return Error(stack_.empty() ? "unexpected object"
                                  : "must not be an object");
    }
    Json* obj = Place(Json(Json::value_t::object));
    stack_.push_back(obj);
    return true;
  }
  bool key(Json::string_t& k) {
    Json& obj = *stack_.back();
    key_path_.resize(stack_.size());
    key_path_.back() = Printable(k);
    if (obj.contains(k)) return Error("duplicate key");
    element_ = &obj[k];
    return true;
  }
  bool end_object() {
    stack_.pop_back();
    key_path_.resize(stack_.size());
    return true;
  }
  bool start_array(std::size_t) { return Error("must not be an array"); }
  bool end_array() { return false; }
  bool parse_error(std::size_t position, const std::string& last_token,
                   const nlohmann::detail::exception&) {
    std::string where;
    for (const std::string& k : key_path_) {
      if (!where.empty()) where += '.';
      where += k;
    }
    key_path_.clear();
    return Error("JSON syntax error at byte " + std::to_string(position) +
                 " near '" + Printable(last_token) + "'" +
                 (where.empty() ? "" : " (after key \"" + where + "\")"));
  }

  Json& root() { return root_; }
  const std::string& error() const { return error_; }

 private:
  bool Error(const std::string& message) {
    if (!error_.empty()) return false;
    std::string path;
    for (const std::string& k : key_path_) {
      if (!path.empty()) path += '.';
      path += k;
    }
    error_ = (path.empty() ? what_ : path) + ": " + message;
    return false;
  }
  Json* Place(Json value) {
    if (stack_.empty()) {
      root_ = std::move(value);
      return &root_;
    }
    *element_ = std::move(value);
    return element_;
  }
  bool Put(Json value) {
    if (stack_.empty()) return Error("not a JSON object");
    Place(std::move(value));
    return true;
  }

  const int max_depth_;
  const std::string what_;  // names the whole input in errors
  Json root_;
  std::vector<Json*> stack_;
  std::vector<std::string> key_path_;
  Json* element_ = nullptr;
  std::string error_;
};

Result<Json> ParseFlat(std::string_view text, int max_depth,
                       std::string_view what) {
  FlatSax sax(max_depth, what);
  bool ok = false;
  try {
    ok = Json::sax_parse(text.begin(), text.end(), &sax);
  } catch (const std::exception& e) {
    return Fail(ErrorCode::kCorruption,
                std::string(what) + ": JSON: " + e.what());
  }
  if (!ok) {
    return Fail(ErrorCode::kCorruption,
                sax.error().empty() ? std::string(what) + ": malformed JSON"
                                    : sax.error());
  }
  if (!sax.root().is_object()) {
    return Fail(ErrorCode::kCorruption,
                std::string(what) + ": not a JSON object");
  }
  return std::move(sax.root());
}

// Decoding helpers: `prefix` is "" or "event.".
class Reader {
 public:
  Reader(const Json& obj, std::string prefix)
      : obj_(obj), prefix_(std::move(prefix)) {}

  std::string Path(std::string_view key) const {
    return prefix_ + std::string(key);
  }
  tl::unexpected<Error> Corrupt(std::string_view key,
                                const std::string& why) const {
    return Fail(ErrorCode::kCorruption, Path(key) + ": " + why);
  }

  Result<const Json*> Get(std::string_view key) const {
    auto it = obj_.find(key);
    if (it == obj_.end()) return Corrupt(key, "missing");
    return &*it;
  }
  Result<std::string> String(std::string_view key) const {
    auto j = Get(key);
    if (!j) return Fail(j.error());
    if (!(*j)->is_string()) return Corrupt(key, "must be a string");
    return (*j)->get<std::string>();
  }
  Result<std::optional<std::string>> NullableString(
      std::string_view key) const {
    auto j = Get(key);
    if (!j) return Fail(j.error());
    if ((*j)->is_null()) return std::optional<std::string>();
    if (!(*j)->is_string()) return Corrupt(key, "must be a string or null");
    return std::optional<std::string>((*j)->get<std::string>());
  }
  Result<std::int64_t> Int(std::string_view key) const {
    auto j = Get(key);
    if (!j) return Fail(j.error());
    if (!(*j)->is_number_integer()) return Corrupt(key, "must be an integer");
    return (*j)->get<std::int64_t>();
  }

 private:
  const Json& obj_;
  std::string prefix_;
};

Result<AuditEvent> EventFromJson(const Json& obj, const std::string& prefix) {
  Reader r(obj, prefix);
  // The version first: a newer format is kUnsupported whatever its shape.
  auto v = r.Int("v");
  if (!v) return Fail(v.error());
  if (*v > kAuditFormatVersion) {
    return Fail(ErrorCode::kUnsupported,
                r.Path("v") + ": format version " + std::to_string(*v) +
                    " is newer than this build's " +
                    std::to_string(kAuditFormatVersion));
  }
  if (*v != kAuditFormatVersion) {
    return r.Corrupt("v", "invalid format version " + std::to_string(*v));
  }
  for (const auto& [key, unused] : obj.items()) {
    if (!IsEventKey(key)) return r.Corrupt(Printable(key), "unknown key");
  }

  AuditEvent e;
  auto id = r.String("id");
  if (!id) return Fail(id.error());
  e.id = std::move(*id);
  auto site = r.String("site");
  if (!site) return Fail(site.error());
  e.site = std::move(*site);
  auto seq = r.Int("seq");
  if (!seq) return Fail(seq.error());
  e.seq = *seq;
  auto time_ms = r.Int("time_ms");
  if (!time_ms) return Fail(time_ms.error());
  e.time_ms = *time_ms;
  auto hlc_text = r.String("hlc");
  if (!hlc_text) return Fail(hlc_text.error());
  auto hlc = Hlc::Parse(*hlc_text);
  if (!hlc) return r.Corrupt("hlc", hlc.error().message());
  e.hlc = *hlc;
  auto actor = r.NullableString("actor");
  if (!actor) return Fail(actor.error());
  e.actor = std::move(*actor);
  auto role = r.NullableString("role");
  if (!role) return Fail(role.error());
  if (*role) {
    e.role = ParseAuditRole(**role);
    if (!e.role) {
      return Fail(ErrorCode::kUnsupported,
                  r.Path("role") + ": unknown role \"" + Printable(**role) +
                      "\"");
    }
  }
  auto action = r.String("action");
  if (!action) return Fail(action.error());
  auto action_code = ParseAuditAction(*action);
  if (!action_code) {
    return Fail(ErrorCode::kUnsupported, r.Path("action") +
                                             ": unknown action \"" +
                                             Printable(*action) + "\"");
  }
  e.action = *action_code;
  auto object_type = r.String("object_type");
  if (!object_type) return Fail(object_type.error());
  e.object_type = std::move(*object_type);
  auto object_id = r.NullableString("object_id");
  if (!object_id) return Fail(object_id.error());
  e.object_id = std::move(*object_id);
  auto patient = r.NullableString("patient");
  if (!patient) return Fail(patient.error());
  e.patient = std::move(*patient);
  auto outcome = r.String("outcome");
  if (!outcome) return Fail(outcome.error());
  auto outcome_code = ParseAuditOutcome(*outcome);
  if (!outcome_code) {
    return Fail(ErrorCode::kUnsupported, r.Path("outcome") +
                                             ": unknown outcome \"" +
                                             Printable(*outcome) + "\"");
  }
  e.outcome = *outcome_code;
  auto source = r.String("source");
  if (!source) return Fail(source.error());
  e.source = std::move(*source);

  if (auto st = ValidateAuditEvent(e, ErrorCode::kCorruption); !st) {
    return Fail(st.error().code(), prefix + st.error().message());
  }
  return e;
}

Result<Blake2b256Digest> DigestFromHex(const Reader& r, std::string_view key) {
  auto text = r.String(key);
  if (!text) return Fail(text.error());
  if (text->size() != 64) return r.Corrupt(key, "must be 64 hex digits");
  for (char c : *text) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
      return r.Corrupt(key, "must be lower-case hex");
    }
  }
  auto bytes = HexDecode(*text);
  if (!bytes) return r.Corrupt(key, bytes.error().message());
  Blake2b256Digest digest;
  std::memcpy(digest.data(), bytes->data(), digest.size());
  return digest;
}

}  // namespace

std::string_view AuditActionName(AuditAction action) {
  return NameOf(kActionNames, static_cast<std::uint8_t>(action));
}
std::string_view AuditRoleName(AuditRole role) {
  return NameOf(kRoleNames, static_cast<std::uint8_t>(role));
}
std::string_view AuditOutcomeName(AuditOutcome outcome) {
  return NameOf(kOutcomeNames, static_cast<std::uint8_t>(outcome));
}
std::optional<AuditAction> ParseAuditAction(std::string_view name) {
  return CodeOf<AuditAction>(kActionNames, name);
}
std::optional<AuditRole> ParseAuditRole(std::string_view name) {
  return CodeOf<AuditRole>(kRoleNames, name);
}
std::optional<AuditOutcome> ParseAuditOutcome(std::string_view name) {
  return CodeOf<AuditOutcome>(kOutcomeNames, name);
}

Status ValidateAuditEvent(const AuditEvent& e, ErrorCode code) {
  auto uuid = [&](std::string_view field, std::string_view value,
                  bool v7) -> Status {
    if (!IsCanonicalUuid(value, v7)) {
      return Fail(code, std::string(field) +
                            (v7 ? ": not a canonical lower-case UUIDv7"
                                : ": not a canonical lower-case UUID"));
    }
    return OkStatus();
  };
  if (auto st = uuid("id", e.id, true); !st) return st;
  if (auto st = uuid("site", e.site, false); !st) return st;
  if (e.seq < 1 || e.seq > kMaxAuditSeq) {
    return Fail(code, "seq: " + std::to_string(e.seq) +
                          " outside 1.." + std::to_string(kMaxAuditSeq));
  }
  if (e.time_ms < 0 || e.time_ms > kMaxAuditTimeMs) {
    return Fail(code, "time_ms: " + std::to_string(e.time_ms) +
                          " outside 0.." + std::to_string(kMaxAuditTimeMs));
  }
  if (e.hlc.is_zero()) return Fail(code, "hlc: zero is not an event's clock");
  if (e.actor) {
    if (auto st = uuid("actor", *e.actor, false); !st) return st;
  }
  if (e.role.has_value() != e.actor.has_value()) {
    return Fail(code, e.actor ? "role: missing for an actor"
                              : "role: given without an actor");
  }
  if (e.role && AuditRoleName(*e.role) == "unknown") {
    return Fail(code, "role: unknown value " +
                          std::to_string(static_cast<int>(*e.role)));
  }
  if (AuditActionName(e.action) == "unknown") {
    return Fail(code, "action: unknown value " +
                          std::to_string(static_cast<int>(e.action)));
  }
  if (!IsIdentifier(e.object_type)) {
    return Fail(code, "object_type: \"" + Printable(e.object_type) +
                          "\" is not an identifier [a-z][a-z0-9_]{0,62}");
  }
  if (e.object_id) {
    if (auto st = uuid("object_id", *e.object_id, false); !st) return st;
  }
  if (e.patient) {
    if (auto st = uuid("patient", *e.patient, false); !st) return st;
  }
  if (AuditOutcomeName(e.outcome) == "unknown") {
    return Fail(code, "outcome: unknown value " +
                          std::to_string(static_cast<int>(e.outcome)));
  }
  if (!IsSource(e.source)) {
    return Fail(code, "source: \"" + Printable(e.source) +
                          "\" is not device:<uuid> or ip:<address>");
  }
  return OkStatus();
}

Result<std::string> EncodeAuditEvent(const AuditEvent& event) {
  if (auto st = ValidateAuditEvent(event, ErrorCode::kInvalidArgument); !st) {
    return Fail(st.error());
  }
  std::string out;
  out.reserve(512);
  WriteEvent(event, &out);
  return out;
}

Result<AuditEvent> DecodeAuditEvent(std::string_view json) {
  if (json.size() > kMaxAuditEventBytes) {
    return Fail(ErrorCode::kCorruption,
                "audit event: " + std::to_string(json.size()) +
                    " bytes, more than " +
                    std::to_string(kMaxAuditEventBytes));
  }
  auto root = ParseFlat(json, 1, "audit event");
  if (!root) return Fail(root.error());
  return EventFromJson(*root, "");
}

Result<std::string> EncodeChainedEvent(const ChainedEvent& record) {
  auto event = EncodeAuditEvent(record.event);
  if (!event) {
    return Fail(event.error().code(), "event." + event.error().message());
  }
  std::string out = "{\"event\":";
  out += *event;
  out += ",\"hash\":\"";
  out += HexEncode(record.hash);
  out += "\",\"prev_hash\":\"";
  out += HexEncode(record.prev_hash);
  out += "\"}";
  return out;
}

Result<ChainedEvent> DecodeChainedEvent(std::string_view json) {
  if (json.size() > kMaxAuditEventBytes + 256) {
    return Fail(ErrorCode::kCorruption,
                "audit record: " + std::to_string(json.size()) +
                    " bytes, more than " +
                    std::to_string(kMaxAuditEventBytes + 256));
  }
  auto root = ParseFlat(json, 2, "audit record");
  if (!root) return Fail(root.error());
  Reader r(*root, "");
  for (const auto& [key, unused] : root->items()) {
    if (key != "event" && key != "hash" && key != "prev_hash") {
      return r.Corrupt(Printable(key), "unknown key");
    }
  }
  auto event_json = r.Get("event");
  if (!event_json) return Fail(event_json.error());
  if (!(*event_json)->is_object()) return r.Corrupt("event", "must be an object");
  ChainedEvent record;
  auto event = EventFromJson(**event_json, "event.");
  if (!event) return Fail(event.error());
  record.event = std::move(*event);
  auto prev = DigestFromHex(r, "prev_hash");
  if (!prev) return Fail(prev.error());
  record.prev_hash = *prev;
  auto hash = DigestFromHex(r, "hash");
  if (!hash) return Fail(hash.error());
  record.hash = *hash;
  return record;
}

}  // namespace pulse::engine
