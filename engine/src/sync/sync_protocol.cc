// The /api/v1 bodies (docs/sync_protocol.md). Encoders write the JSON text
// directly so that change entries go out as their canonical bytes without
// a second serialisation; decoders parse with nlohmann-json and check every
// field, so that a handler never sees a half-valid request.
#include "pulse/engine/sync_protocol.h"

#include <initializer_list>
#include <optional>
#include <limits>
#include <utility>

#include <nlohmann/json.hpp>

namespace pulse::engine::sync {
namespace {

using Json = nlohmann::json;

std::string Quote(std::string_view s) {
  // dump() escapes as JSON requires; invalid UTF-8 is replaced rather than
  // thrown on (a username typed in a legacy encoding must not crash).
  return Json(std::string(s)).dump(-1, ' ', false,
                                   Json::error_handler_t::replace);
}

void AppendKey(std::string* out, std::string_view key, bool* first) {
  if (!*first) out->push_back(',');
  *first = false;
  out->append(Quote(key));
  out->push_back(':');
}

void AppendString(std::string* out, std::string_view key,
                  std::string_view value, bool* first) {
  AppendKey(out, key, first);
  out->append(Quote(value));
}

void AppendInt(std::string* out, std::string_view key, std::int64_t value,
               bool* first) {
  AppendKey(out, key, first);
  out->append(std::to_string(value));
}

void AppendBool(std::string* out, std::string_view key, bool value,
                bool* first) {
  AppendKey(out, key, first);
  out->append(value ? "true" : "false");
}

Status AppendChanges(std::string* out,
                                  const std::vector<ChangeEntry>& changes,
                                  bool* first) {
  AppendKey(out, "changes", first);
  out->push_back('[');
  for (std::size_t i = 0; i < changes.size(); ++i) {
    auto bytes = EncodeChange(changes[i]);
    if (!bytes) {
      return Fail(bytes.error().code(), "changes[" + std::to_string(i) +
                                          "]." + bytes.error().message());
    }
    if (i > 0) out->push_back(',');
    out->append(*bytes);
  }
  out->push_back(']');
  return OkStatus();
}

// --- Decoding ---

Result<Json> ParseObject(std::string_view body) {
  Json root = Json::parse(body.begin(), body.end(), nullptr,
                          /*allow_exceptions=*/false);
  if (root.is_discarded()) {
    return Fail(ErrorCode::kInvalidArgument, "body: malformed JSON");
  }
  if (!root.is_object()) {
    return Fail(ErrorCode::kInvalidArgument, "body: not a JSON object");
  }
  return root;
}

// --- The changes array without a DOM ---
//
// A push or pull body is one small object around an array of up to 10 000
// change entries. Parsing it into a DOM, dumping each entry back to text
// and parsing that strictly (DecodeChange) handled every entry three
// times; a server ingesting tens of thousands of entries a second and a
// clinic pulling a million spent more time there than in the merge. So the
// body is first split structurally: the text of each element of the
// top-level "changes" array, and the rest of the object. Each element then
// goes to DecodeChange once (strict: it validates everything inside), and
// the rest to ParseObject. The scanner enforces the grammar of the two
// outer levels (members, commas, brackets, trailing bytes); anything it
// does not recognise falls back to the DOM path, whose errors are the
// reference. Splitting never accepts a body that the DOM path refuses,
// because every byte ends up in a piece that a strict parser reads.
class OuterScanner {
 public:
  explicit OuterScanner(std::string_view text) : text_(text) {}

  std::size_t pos() const { return pos_; }
  bool AtEnd() {
    SkipSpace();
    return pos_ == text_.size();
  }
  bool Consume(char c) {
    SkipSpace();
    if (pos_ < text_.size() && text_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  bool Peek(char c) {
    SkipSpace();
    return pos_ < text_.size() && text_[pos_] == c;
  }
  // A string starting at pos(); its raw text between the quotes.
  std::optional<std::string_view> String() {
    SkipSpace();
    if (pos_ >= text_.size() || text_[pos_] != '"') return std::nullopt;
    const std::size_t start = ++pos_;
    while (pos_ < text_.size()) {
      const char c = text_[pos_++];
      if (c == '\\') {
        ++pos_;
      } else if (c == '"') {
        return text_.substr(start, pos_ - 1 - start);
      }
    }
    return std::nullopt;
  }
  // Skips one value of any kind; false when it is cut or unbalanced.
  bool SkipValue() {
    SkipSpace();
    if (pos_ >= text_.size()) return false;
    const char first = text_[pos_];
    if (first == '"') return String().has_value();
    if (first == '{' || first == '[') {
      int depth = 0;
      while (pos_ < text_.size()) {
        const char c = text_[pos_];
        if (c == '"') {
          if (!String()) return false;
          continue;
        }
        ++pos_;
        if (c == '{' || c == '[') {
          ++depth;
        } else if ((c == '}' || c == ']') && --depth == 0) {
          return true;
        }
      }
      return false;
    }
    const std::size_t start = pos_;
    while (pos_ < text_.size() &&
           std::string_view(",}] \t\r\n").find(text_[pos_]) ==
               std::string_view::npos) {
      ++pos_;
    }
    return pos_ > start;
  }

 private:
  void SkipSpace() {
    while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\t' ||
                                   text_[pos_] == '\r' || text_[pos_] == '\n')) {
      ++pos_;
    }
  }

  std::string_view text_;
  std::size_t pos_ = 0;
};

struct SplitBody {
  std::string rest;                       // the object without "changes"
  std::vector<std::string_view> changes;  // each element's text
};

std::optional<SplitBody> SplitChanges(std::string_view body) {
  OuterScanner scan(body);
  if (!scan.Consume('{')) return std::nullopt;
  SplitBody out;
  out.rest = "{";
  bool found = false;
  bool first_member = true;
  if (!scan.Consume('}')) {
    for (;;) {
      scan.Peek('"');
      const std::size_t member_start = scan.pos();
      auto key = scan.String();
      if (!key || !scan.Consume(':')) return std::nullopt;
      if (*key == "changes") {
        if (found || !scan.Consume('[')) return std::nullopt;
        found = true;
        if (!scan.Consume(']')) {
          for (;;) {
            scan.Peek('{');
            const std::size_t start = scan.pos();
            if (!scan.SkipValue()) return std::nullopt;
            out.changes.push_back(body.substr(start, scan.pos() - start));
            if (scan.Consume(']')) break;
            if (!scan.Consume(',')) return std::nullopt;
          }
        }
      } else {
        if (!scan.SkipValue()) return std::nullopt;
        if (!first_member) out.rest.push_back(',');
        first_member = false;
        out.rest.append(body.substr(member_start, scan.pos() - member_start));
      }
      if (scan.Consume('}')) break;
      if (!scan.Consume(',')) return std::nullopt;
    }
  }
  if (!found || !scan.AtEnd()) return std::nullopt;
  out.rest.push_back('}');
  return out;
}

// A parsed body: its object, and the "changes" elements' text when the
// split worked (else the DOM's "changes" member is used).
struct ParsedBody {
  Json root;
  std::optional<std::vector<std::string_view>> changes;
};

Result<ParsedBody> ParseBodyWithChanges(std::string_view body) {
  if (auto split = SplitChanges(body)) {
    auto root = ParseObject(split->rest);
    if (root && !root->contains("changes")) {
      return ParsedBody{std::move(*root), std::move(split->changes)};
    }
  }
  auto root = ParseObject(body);
  if (!root) return Fail(root.error());
  return ParsedBody{std::move(*root), std::nullopt};
}

Status CheckKnownKeys(const Json& obj,
                      std::initializer_list<std::string_view> known) {
  for (const auto& [key, value] : obj.items()) {
    bool found = false;
    for (std::string_view k : known) found = found || key == k;
    if (!found) {
      std::string shown = key.size() > 64 ? key.substr(0, 64) + "..." : key;
      return Fail(ErrorCode::kInvalidArgument,
                  "body: unknown field " + Quote(shown));
    }
  }
  return OkStatus();
}

Result<std::string> GetString(const Json& obj, std::string_view key,
                              bool required = true) {
  auto it = obj.find(key);
  if (it == obj.end()) {
    if (!required) return std::string();
    return Fail(ErrorCode::kInvalidArgument, std::string(key) + ": missing");
  }
  if (!it->is_string()) {
    return Fail(ErrorCode::kInvalidArgument,
                std::string(key) + ": not a string");
  }
  return it->get<std::string>();
}

Result<std::int64_t> GetInt(const Json& obj, std::string_view key,
                            std::int64_t min, std::int64_t max,
                            bool required = true) {
  auto it = obj.find(key);
  if (it == obj.end()) {
    if (!required) return min;
    return Fail(ErrorCode::kInvalidArgument, std::string(key) + ": missing");
  }
  std::int64_t v = 0;
  if (it->is_number_integer()) {
    v = it->get<std::int64_t>();
  } else if (it->is_number_unsigned()) {
    const auto u = it->get<std::uint64_t>();
    if (u > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
      return Fail(ErrorCode::kInvalidArgument,
                  std::string(key) + ": out of range");
    }
    v = static_cast<std::int64_t>(u);
  } else {
    return Fail(ErrorCode::kInvalidArgument,
                std::string(key) + ": not an integer");
  }
  if (v < min || v > max) {
    return Fail(ErrorCode::kInvalidArgument,
                std::string(key) + ": " + std::to_string(v) + " outside " +
                    std::to_string(min) + " .. " + std::to_string(max));
  }
  return v;
}

Result<bool> GetBool(const Json& obj, std::string_view key) {
  auto it = obj.find(key);
  if (it == obj.end()) {
    return Fail(ErrorCode::kInvalidArgument, std::string(key) + ": missing");
  }
  if (!it->is_boolean()) {
    return Fail(ErrorCode::kInvalidArgument,
                std::string(key) + ": not a boolean");
  }
  return it->get<bool>();
}

constexpr std::int64_t kMaxInt = std::numeric_limits<std::int64_t>::max();

Status CheckUuidField(std::string_view key, const std::string& value) {
  if (!IsCanonicalUuid(value)) {
    return Fail(ErrorCode::kInvalidArgument,
                std::string(key) + ": not a canonical lower-case UUID");
  }
  return OkStatus();
}

Status CheckChangeCount(std::size_t count, std::size_t max_count) {
  if (count > max_count) {
    return Fail(ErrorCode::kOutOfRange,
                "changes: " + std::to_string(count) +
                    " entries, more than the limit of " +
                    std::to_string(max_count));
  }
  return OkStatus();
}

// Element `i` of a body's "changes" array, from its JSON text ("" when it
// is not an object).
Result<ChangeEntry> DecodeWireEntry(std::string_view text, std::size_t i) {
  const std::string path = "changes[" + std::to_string(i) + "]";
  if (text.empty() || text.front() != '{') {
    return Fail(ErrorCode::kInvalidArgument, path + ": not an object");
  }
  auto entry = DecodeChange(text);
  if (!entry) {
    // DecodeChange says kCorruption (bytes at rest); on the wire a bad
    // entry is the sender's mistake. Newer formats stay kUnsupported.
    const ErrorCode code = entry.error().code() == ErrorCode::kUnsupported
                               ? ErrorCode::kUnsupported
                               : ErrorCode::kInvalidArgument;
    return Fail(code, path + "." + entry.error().message());
  }
  return entry;
}

Result<std::vector<ChangeEntry>> GetChanges(const Json& obj,
                                            std::size_t max_count) {
  auto it = obj.find("changes");
  if (it == obj.end()) {
    return Fail(ErrorCode::kInvalidArgument, "changes: missing");
  }
  if (!it->is_array()) {
    return Fail(ErrorCode::kInvalidArgument, "changes: not an array");
  }
  if (Status s = CheckChangeCount(it->size(), max_count); !s) {
    return Fail(s.error());
  }
  std::vector<ChangeEntry> out;
  out.reserve(it->size());
  std::size_t i = 0;
  for (const Json& element : *it) {
    auto entry =
        DecodeWireEntry(element.is_object() ? element.dump() : std::string(), i++);
    if (!entry) return Fail(entry.error());
    out.push_back(std::move(*entry));
  }
  return out;
}

Result<std::vector<ChangeEntry>> GetChanges(const ParsedBody& parsed,
                                            std::size_t max_count) {
  if (!parsed.changes) return GetChanges(parsed.root, max_count);
  const std::vector<std::string_view>& elements = *parsed.changes;
  if (Status s = CheckChangeCount(elements.size(), max_count); !s) {
    return Fail(s.error());
  }
  std::vector<ChangeEntry> out;
  out.reserve(elements.size());
  for (std::size_t i = 0; i < elements.size(); ++i) {
    auto entry = DecodeWireEntry(elements[i], i);
    if (!entry) return Fail(entry.error());
    out.push_back(std::move(*entry));
  }
  return out;
}

Status CheckProtocolVersion(std::int64_t v) {
  if (v != kProtocolVersion) {
    return Fail(ErrorCode::kUnsupported,
                "protocol_version: " + std::to_string(v) +
                    " is not spoken here (this build speaks " +
                    std::to_string(kProtocolVersion) + ")");
  }
  return OkStatus();
}

}  // namespace

Result<std::string> EncodePushRequest(const PushRequest& r) {
  std::string out = "{";
  bool first = true;
  AppendString(&out, "batch_id", r.batch_id, &first);
  if (auto s = AppendChanges(&out, r.changes, &first); !s) {
    return Fail(s.error());
  }
  AppendInt(&out, "client_time_ms", r.client_time_ms, &first);
  AppendInt(&out, "protocol_version", r.protocol_version, &first);
  AppendInt(&out, "schema_version", r.schema_version, &first);
  AppendString(&out, "site", r.site, &first);
  out.push_back('}');
  return out;
}

Result<PushRequest> DecodePushRequest(std::string_view body) {
  auto parsed = ParseBodyWithChanges(body);
  if (!parsed) return Fail(parsed.error());
  const Json* root = &parsed->root;
  if (Status s = CheckKnownKeys(*root, {"batch_id", "site", "protocol_version",
                                        "schema_version", "client_time_ms",
                                        "changes"});
      !s) {
    return Fail(s.error());
  }
  PushRequest r;
  // The protocol version first: a newer client's body may not parse as ours.
  auto protocol = GetInt(*root, "protocol_version", 0, kMaxInt);
  if (!protocol) return Fail(protocol.error());
  if (Status s = CheckProtocolVersion(*protocol); !s) return Fail(s.error());
  r.protocol_version = static_cast<int>(*protocol);
  auto batch = GetString(*root, "batch_id");
  if (!batch) return Fail(batch.error());
  if (!IsCanonicalUuid(*batch, /*require_v7=*/true)) {
    return Fail(ErrorCode::kInvalidArgument,
                "batch_id: not a canonical lower-case UUIDv7");
  }
  r.batch_id = std::move(*batch);
  auto site = GetString(*root, "site");
  if (!site) return Fail(site.error());
  if (Status s = CheckUuidField("site", *site); !s) return Fail(s.error());
  r.site = std::move(*site);
  auto schema = GetInt(*root, "schema_version", 1, 1 << 20);
  if (!schema) return Fail(schema.error());
  r.schema_version = static_cast<int>(*schema);
  auto time = GetInt(*root, "client_time_ms", 0, kMaxInt);
  if (!time) return Fail(time.error());
  r.client_time_ms = *time;
  auto changes = GetChanges(*parsed, kMaxPushChanges);
  if (!changes) return Fail(changes.error());
  r.changes = std::move(*changes);
  return r;
}

std::string EncodePushResponse(const PushResponse& r) {
  Json j;
  j["batch_id"] = r.batch_id;
  j["accepted"] = r.accepted;
  j["duplicate"] = r.duplicate;
  j["conflicts"] = r.conflicts;
  j["missing_blobs"] = r.missing_blobs;
  j["server_time_ms"] = r.server_time_ms;
  j["clock_skew_warning"] = r.clock_skew_warning;
  return j.dump();
}

Result<PushResponse> DecodePushResponse(std::string_view body) {
  auto root = ParseObject(body);
  if (!root) return Fail(root.error());
  PushResponse r;
  auto batch = GetString(*root, "batch_id");
  if (!batch) return Fail(batch.error());
  r.batch_id = std::move(*batch);
  auto accepted = GetInt(*root, "accepted", 0, kMaxInt);
  if (!accepted) return Fail(accepted.error());
  r.accepted = *accepted;
  auto duplicate = GetBool(*root, "duplicate");
  if (!duplicate) return Fail(duplicate.error());
  r.duplicate = *duplicate;
  auto conflicts = GetInt(*root, "conflicts", 0, kMaxInt);
  if (!conflicts) return Fail(conflicts.error());
  r.conflicts = *conflicts;
  auto time = GetInt(*root, "server_time_ms", 0, kMaxInt);
  if (!time) return Fail(time.error());
  r.server_time_ms = *time;
  auto skew = GetBool(*root, "clock_skew_warning");
  if (!skew) return Fail(skew.error());
  r.clock_skew_warning = *skew;
  auto it = root->find("missing_blobs");
  if (it == root->end() || !it->is_array()) {
    return Fail(ErrorCode::kInvalidArgument,
                "missing_blobs: missing or not an array");
  }
  for (const Json& h : *it) {
    if (!h.is_string()) {
      return Fail(ErrorCode::kInvalidArgument,
                  "missing_blobs: an element is not a string");
    }
    r.missing_blobs.push_back(h.get<std::string>());
  }
  return r;
}

Result<std::string> EncodePullResponse(const PullResponse& r) {
  std::string out = "{";
  bool first = true;
  if (auto s = AppendChanges(&out, r.changes, &first); !s) {
    return Fail(s.error());
  }
  AppendBool(&out, "more", r.more, &first);
  AppendInt(&out, "next_cursor", r.next_cursor, &first);
  AppendInt(&out, "server_time_ms", r.server_time_ms, &first);
  out.push_back('}');
  return out;
}

std::string EncodePullResponse(const PullResponse& r,
                               std::span<const std::string> encoded_changes) {
  std::size_t bytes = 96;
  for (const std::string& e : encoded_changes) bytes += e.size() + 1;
  std::string out;
  out.reserve(bytes);
  out = "{";
  bool first = true;
  AppendKey(&out, "changes", &first);
  out.push_back('[');
  for (std::size_t i = 0; i < encoded_changes.size(); ++i) {
    if (i > 0) out.push_back(',');
    out.append(encoded_changes[i]);
  }
  out.push_back(']');
  AppendBool(&out, "more", r.more, &first);
  AppendInt(&out, "next_cursor", r.next_cursor, &first);
  AppendInt(&out, "server_time_ms", r.server_time_ms, &first);
  out.push_back('}');
  return out;
}

Result<PullResponse> DecodePullResponse(std::string_view body) {
  auto parsed = ParseBodyWithChanges(body);
  if (!parsed) return Fail(parsed.error());
  const Json* root = &parsed->root;
  PullResponse r;
  auto more = GetBool(*root, "more");
  if (!more) return Fail(more.error());
  r.more = *more;
  auto cursor = GetInt(*root, "next_cursor", 0, kMaxInt);
  if (!cursor) return Fail(cursor.error());
  r.next_cursor = *cursor;
  auto time = GetInt(*root, "server_time_ms", 0, kMaxInt);
  if (!time) return Fail(time.error());
  r.server_time_ms = *time;
  auto changes = GetChanges(*parsed, static_cast<std::size_t>(kMaxPullLimit));
  if (!changes) return Fail(changes.error());
  r.changes = std::move(*changes);
  return r;
}

std::string EncodeLoginRequest(const LoginRequest& r) {
  std::string out = "{";
  bool first = true;
  AppendString(&out, "password", r.password, &first);
  AppendString(&out, "username", r.username, &first);
  out.push_back('}');
  return out;
}

Result<LoginRequest> DecodeLoginRequest(std::string_view body) {
  auto root = ParseObject(body);
  if (!root) return Fail(root.error());
  if (Status s = CheckKnownKeys(*root, {"username", "password"}); !s) {
    return Fail(s.error());
  }
  LoginRequest r;
  auto user = GetString(*root, "username");
  if (!user) return Fail(user.error());
  if (user->empty() || user->size() > 64) {
    return Fail(ErrorCode::kInvalidArgument, "username: 1 to 64 bytes");
  }
  r.username = std::move(*user);
  // The password's value is never part of a message.
  auto password = GetString(*root, "password");
  if (!password) return Fail(password.error());
  if (password->empty() || password->size() > 1024) {
    return Fail(ErrorCode::kInvalidArgument, "password: 1 to 1024 bytes");
  }
  r.password = std::move(*password);
  return r;
}

std::string EncodeLoginResponse(const LoginResponse& r) {
  Json j;
  j["token"] = r.token;
  j["user_id"] = r.user_id;
  j["role"] = r.role;
  j["site"] = r.site ? Json(*r.site) : Json(nullptr);
  j["expires_at_ms"] = r.expires_at_ms;
  j["idle_timeout_s"] = r.idle_timeout_s;
  return j.dump();
}

Result<LoginResponse> DecodeLoginResponse(std::string_view body) {
  auto root = ParseObject(body);
  if (!root) return Fail(root.error());
  LoginResponse r;
  auto token = GetString(*root, "token");
  if (!token) return Fail(token.error());
  r.token = std::move(*token);
  auto user = GetString(*root, "user_id");
  if (!user) return Fail(user.error());
  r.user_id = std::move(*user);
  auto role = GetString(*root, "role");
  if (!role) return Fail(role.error());
  r.role = std::move(*role);
  if (auto it = root->find("site"); it != root->end() && it->is_string()) {
    r.site = it->get<std::string>();
  }
  auto expires = GetInt(*root, "expires_at_ms", 0, kMaxInt);
  if (!expires) return Fail(expires.error());
  r.expires_at_ms = *expires;
  auto idle = GetInt(*root, "idle_timeout_s", 0, kMaxInt);
  if (!idle) return Fail(idle.error());
  r.idle_timeout_s = *idle;
  return r;
}

std::string EncodeProblem(const Problem& p) {
  Json j;
  j["type"] = p.type;
  j["title"] = p.title;
  j["status"] = p.status;
  j["detail"] = p.detail;
  if (p.required_protocol_version) {
    j["required_protocol_version"] = *p.required_protocol_version;
  }
  if (p.required_schema_version) {
    j["required_schema_version"] = *p.required_schema_version;
  }
  return j.dump(-1, ' ', false, Json::error_handler_t::replace);
}

Result<Problem> DecodeProblem(std::string_view body) {
  auto root = ParseObject(body);
  if (!root) return Fail(root.error());
  Problem p;
  auto type = GetString(*root, "type", /*required=*/false);
  if (!type) return Fail(type.error());
  p.type = std::move(*type);
  auto title = GetString(*root, "title");
  if (!title) return Fail(title.error());
  p.title = std::move(*title);
  auto status = GetInt(*root, "status", 100, 599);
  if (!status) return Fail(status.error());
  p.status = static_cast<int>(*status);
  auto detail = GetString(*root, "detail", /*required=*/false);
  if (!detail) return Fail(detail.error());
  p.detail = std::move(*detail);
  if (auto it = root->find("required_protocol_version");
      it != root->end() && it->is_number_integer()) {
    p.required_protocol_version = it->get<int>();
  }
  if (auto it = root->find("required_schema_version");
      it != root->end() && it->is_number_integer()) {
    p.required_schema_version = it->get<int>();
  }
  return p;
}

}  // namespace pulse::engine::sync
