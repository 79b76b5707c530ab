// Change entries and their canonical JSON (docs/formats/change_log.md).
//
// Parsing goes through nlohmann-json's SAX interface rather than json::parse
// because the format needs what the DOM parser hides: duplicate keys
// (json::parse keeps the last one silently), the nesting depth, and the
// lexeme of a number (json::parse turns an integer beyond uint64 into a
// double; we must reject it). Writing is done here by hand, not with
// json::dump, so that every byte of the canonical form is ours: key order,
// string escapes and the int64/double spelling of §3.
#include "pulse/engine/change.h"

#include <array>
#include <charconv>
#include <cmath>
#include <cstring>
#include <exception>
#include <limits>
#include <nlohmann/json.hpp>
#include <utility>

namespace pulse::engine {
namespace {

using Json = nlohmann::json;

// ---------------------------------------------------------------- text ---


// A key from the input, safe to put in an error message.
std::string Printable(std::string_view key) {
  std::string out;
  for (char c : key.substr(0, 64)) {
    const auto u = static_cast<unsigned char>(c);
    out += (u >= 0x20 && u < 0x7f) ? c : '?';
  }
  if (key.size() > 64) out += "...";
  return out;
}

// --------------------------------------------------------------- base64 --

constexpr char kB64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

std::string Base64Encode(const std::vector<std::uint8_t>& in) {
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 3 <= in.size(); i += 3) {
    const std::uint32_t v = (std::uint32_t{in[i]} << 16) |
                            (std::uint32_t{in[i + 1]} << 8) | in[i + 2];
    out += kB64[(v >> 18) & 63];
    out += kB64[(v >> 12) & 63];
    out += kB64[(v >> 6) & 63];
    out += kB64[v & 63];
  }
  const std::size_t rest = in.size() - i;
  if (rest == 1) {
    const std::uint32_t v = std::uint32_t{in[i]} << 16;
    out += kB64[(v >> 18) & 63];
    out += kB64[(v >> 12) & 63];
    out += "==";
  } else if (rest == 2) {
    const std::uint32_t v =
        (std::uint32_t{in[i]} << 16) | (std::uint32_t{in[i + 1]} << 8);
    out += kB64[(v >> 18) & 63];
    out += kB64[(v >> 12) & 63];
    out += kB64[(v >> 6) & 63];
    out += '=';
  }
  return out;
}

int B64Value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

// Strict RFC 4648 §4: padded, standard alphabet, unused bits zero.
Result<std::vector<std::uint8_t>> Base64Decode(std::string_view in) {
  if (in.size() % 4 != 0) {
    return Fail(ErrorCode::kCorruption, "base64 length is not a multiple of 4");
  }
  std::size_t pad = 0;
  if (!in.empty() && in.back() == '=') pad = 1;
  if (in.size() >= 2 && in[in.size() - 2] == '=') pad = 2;
  std::vector<std::uint8_t> out;
  out.reserve(in.size() / 4 * 3);
  for (std::size_t i = 0; i < in.size(); i += 4) {
    const bool last = i + 4 == in.size();
    const std::size_t digits = last ? 4 - pad : 4;
    std::uint32_t v = 0;
    for (std::size_t k = 0; k < 4; ++k) {
      int d = 0;
      if (k < digits) {
        d = B64Value(in[i + k]);
        if (d < 0) {
          return Fail(ErrorCode::kCorruption, "invalid base64 character");
        }
      }
      v = (v << 6) | static_cast<std::uint32_t>(d);
    }
    out.push_back(static_cast<std::uint8_t>(v >> 16));
    if (digits >= 3) out.push_back(static_cast<std::uint8_t>(v >> 8));
    if (digits == 4) out.push_back(static_cast<std::uint8_t>(v));
    if ((digits == 2 && (v & 0xffff) != 0) ||
        (digits == 3 && (v & 0xff) != 0)) {
      return Fail(ErrorCode::kCorruption,
                  "non-canonical base64 (unused bits set)");
    }
  }
  return out;
}

// -------------------------------------------------------------- writing --

void WriteString(std::string_view s, std::string* out) {
  static constexpr char kHex[] = "0123456789abcdef";
  out->push_back('"');
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    switch (c) {
      case '"':
        *out += "\\\"";
        break;
      case '\\':
        *out += "\\\\";
        break;
      case '\b':
        *out += "\\b";
        break;
      case '\t':
        *out += "\\t";
        break;
      case '\n':
        *out += "\\n";
        break;
      case '\f':
        *out += "\\f";
        break;
      case '\r':
        *out += "\\r";
        break;
      default:
        if (u < 0x20) {
          *out += "\\u00";
          out->push_back(kHex[u >> 4]);
          out->push_back(kHex[u & 0xf]);
        } else {
          out->push_back(c);
        }
    }
  }
  out->push_back('"');
}

void WriteInt(std::int64_t v, std::string* out) {
  std::array<char, 32> buf;
  const auto r = std::to_chars(buf.data(), buf.data() + buf.size(), v);
  out->append(buf.data(), r.ptr);
}

// REQUIRES: std::isfinite(v).
void WriteDouble(double v, std::string* out) {
  std::array<char, 64> buf;
  const auto r = std::to_chars(buf.data(), buf.data() + buf.size(), v);
  const std::string_view text(buf.data(),
                              static_cast<std::size_t>(r.ptr - buf.data()));
  out->append(text);
  if (text.find_first_of(".e") == std::string_view::npos) *out += ".0";
}

// Canonical form of a parsed JSON value (extensions). The DOM holds only
// what the parser below admits: int64, finite doubles, valid UTF-8.
void WriteJson(const Json& j, std::string* out) {
  switch (j.type()) {
    case Json::value_t::null:
      *out += "null";
      break;
    case Json::value_t::boolean:
      *out += j.get<bool>() ? "true" : "false";
      break;
    case Json::value_t::number_integer:
      WriteInt(j.get<std::int64_t>(), out);
      break;
    case Json::value_t::number_unsigned:
      WriteInt(static_cast<std::int64_t>(j.get<std::uint64_t>()), out);
      break;
    case Json::value_t::number_float:
      WriteDouble(j.get<double>(), out);
      break;
    case Json::value_t::string:
      WriteString(j.get_ref<const std::string&>(), out);
      break;
    case Json::value_t::array: {
      out->push_back('[');
      bool first = true;
      for (const Json& e : j) {
        if (!first) out->push_back(',');
        first = false;
        WriteJson(e, out);
      }
      out->push_back(']');
      break;
    }
    case Json::value_t::object: {
      // nlohmann's object is a std::map<std::string, ...>: sorted by bytes.
      out->push_back('{');
      bool first = true;
      for (const auto& [key, value] : j.items()) {
        if (!first) out->push_back(',');
        first = false;
        WriteString(key, out);
        out->push_back(':');
        WriteJson(value, out);
      }
      out->push_back('}');
      break;
    }
    case Json::value_t::binary:
    case Json::value_t::discarded:
      *out += "null";
      break;  // never parsed
  }
}

void WriteFieldValue(const FieldValue& value, std::string* out) {
  switch (TypeOf(value)) {
    case ValueType::kNull:
      *out += "null";
      break;
    case ValueType::kInt64:
      WriteInt(std::get<std::int64_t>(value), out);
      break;
    case ValueType::kDouble:
      WriteDouble(std::get<double>(value), out);
      break;
    case ValueType::kText:
      WriteString(std::get<std::string>(value), out);
      break;
    case ValueType::kBlob:
      *out += "{\"b64\":\"";
      *out += Base64Encode(std::get<Blob>(value).bytes);
      *out += "\"}";
      break;
  }
}

// -------------------------------------------------------------- parsing --

// Builds a Json DOM, refusing what the format forbids (see file comment).
class StrictSax {
 public:
  explicit StrictSax(int max_depth) : max_depth_(max_depth) {}

  bool null() { return Put(Json(nullptr)); }
  bool boolean(bool v) { return Put(Json(v)); }
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
    if (!std::isfinite(v)) return Error("number out of double range");
    return Put(Json(v));
  }
  bool string(Json::string_t& v) { return Put(Json(std::move(v))); }
  bool binary(Json::binary_t&) { return Error("binary value"); }
  bool start_object(std::size_t) { return Open(Json::value_t::object); }
  bool key(Json::string_t& k) {
    Json& obj = *stack_.back();
    if (obj.contains(k)) {
      return Error("duplicate key \"" + Printable(k) + "\"");
    }
    element_ = &obj[k];
    return true;
  }
  bool end_object() {
    stack_.pop_back();
    return true;
  }
  bool start_array(std::size_t) { return Open(Json::value_t::array); }
  bool end_array() {
    stack_.pop_back();
    return true;
  }
  bool parse_error(std::size_t position, const std::string& last_token,
                   const nlohmann::detail::exception&) {
    return Error("JSON syntax error at byte " + std::to_string(position) +
                 " near '" + Printable(last_token) + "'");
  }

  Json& root() { return root_; }
  const std::string& error() const { return error_; }

 private:
  bool Error(std::string message) {
    if (error_.empty()) error_ = std::move(message);
    return false;
  }
  Json* Place(Json value) {
    if (stack_.empty()) {
      root_ = std::move(value);
      return &root_;
    }
    Json& parent = *stack_.back();
    if (parent.is_array()) {
      parent.push_back(std::move(value));
      return &parent.back();
    }
    *element_ = std::move(value);
    return element_;
  }
  bool Put(Json value) {
    Place(std::move(value));
    return true;
  }
  bool Open(Json::value_t type) {
    if (static_cast<int>(stack_.size()) >= max_depth_) {
      return Error("JSON nested deeper than " + std::to_string(max_depth_));
    }
    stack_.push_back(Place(Json(type)));
    return true;
  }

  const int max_depth_;
  Json root_;
  std::vector<Json*> stack_;
  Json* element_ = nullptr;
  std::string error_;
};

Result<Json> ParseStrict(std::string_view text, int max_depth) {
  StrictSax sax(max_depth);
  bool ok = false;
  try {
    ok = Json::sax_parse(text.begin(), text.end(), &sax);
  } catch (const std::exception& e) {
    return Fail(ErrorCode::kCorruption, std::string("JSON: ") + e.what());
  }
  if (!ok) {
    return Fail(ErrorCode::kCorruption,
                sax.error().empty() ? "malformed JSON" : sax.error());
  }
  return std::move(sax.root());
}

// ------------------------------------------------------------ validation --

constexpr std::array<std::string_view, 10> kKnownKeys = {
    "author", "base", "fields", "hlc", "id", "op", "row", "site", "table", "v"};

bool IsKnownKey(std::string_view key) {
  for (std::string_view k : kKnownKeys) {
    if (k == key) return true;
  }
  return false;
}

Status CheckUuid(std::string_view path, std::string_view value, bool require_v7,
                 ErrorCode code) {
  if (!IsCanonicalUuid(value, require_v7)) {
    return Fail(code, std::string(path) +
                          (require_v7 ? ": not a canonical lower-case UUIDv7"
                                      : ": not a canonical lower-case UUID"));
  }
  return OkStatus();
}

Status CheckValue(const std::string& path, const FieldValue& value,
                  ErrorCode code) {
  switch (TypeOf(value)) {
    case ValueType::kNull:
    case ValueType::kInt64:
      return OkStatus();
    case ValueType::kDouble:
      if (!std::isfinite(std::get<double>(value))) {
        return Fail(code, path + ": double is not finite");
      }
      return OkStatus();
    case ValueType::kText: {
      const std::string& s = std::get<std::string>(value);
      if (s.size() > kMaxTextBytes) {
        return Fail(code, path + ": text longer than " +
                              std::to_string(kMaxTextBytes) + " bytes");
      }
      if (!IsValidUtf8(s)) return Fail(code, path + ": text is not UTF-8");
      if (s.find('\0') != std::string::npos) {
        return Fail(code, path + ": text contains U+0000");
      }
      return OkStatus();
    }
    case ValueType::kBlob:
      if (std::get<Blob>(value).bytes.size() > kMaxBlobBytes) {
        return Fail(code, path + ": blob longer than " +
                              std::to_string(kMaxBlobBytes) + " bytes");
      }
      return OkStatus();
  }
  return Fail(code, path + ": unknown value type");
}

Status CheckExtension(const std::string& key, const std::string& value,
                      ErrorCode code) {
  const std::string path = "extensions." + Printable(key);
  if (key.empty() || !IsValidUtf8(key)) {
    return Fail(code, path + ": key is empty or not UTF-8");
  }
  if (IsKnownKey(key)) return Fail(code, path + ": shadows a known key");
  auto parsed = ParseStrict(value, kMaxJsonDepth - 1);
  if (!parsed) return Fail(code, path + ": " + parsed.error().message());
  std::string canonical;
  WriteJson(*parsed, &canonical);
  if (canonical != value) {
    return Fail(code, path + ": value is not canonical JSON");
  }
  return OkStatus();
}

// -------------------------------------------------------------- decoding --

Result<std::string> GetString(const Json& obj, std::string_view key,
                              const std::string& path) {
  auto it = obj.find(key);
  if (it == obj.end()) return Fail(ErrorCode::kCorruption, path + ": missing");
  if (!it->is_string()) {
    return Fail(ErrorCode::kCorruption, path + ": must be a string");
  }
  return it->get<std::string>();
}

Result<Hlc> GetHlc(const Json& obj, std::string_view key,
                   const std::string& path) {
  auto text = GetString(obj, key, path);
  if (!text) return Fail(text.error());
  auto hlc = Hlc::Parse(*text);
  if (!hlc)
    return Fail(ErrorCode::kCorruption, path + ": " + hlc.error().message());
  return *hlc;
}

Result<FieldValue> DecodeValue(const Json& j, const std::string& path) {
  switch (j.type()) {
    case Json::value_t::null:
      return FieldValue(nullptr);
    case Json::value_t::number_integer:
      return FieldValue(j.get<std::int64_t>());
    case Json::value_t::number_float:
      return FieldValue(j.get<double>());
    case Json::value_t::string:
      return FieldValue(j.get<std::string>());
    case Json::value_t::object: {
      auto it = j.find("b64");
      if (it == j.end() || j.size() != 1) {
        return Fail(ErrorCode::kUnsupported,
                    path +
                        ": unknown value type (object without exactly "
                        "the key \"b64\")");
      }
      if (!it->is_string()) {
        return Fail(ErrorCode::kCorruption, path + ": b64 must be a string");
      }
      const auto& text = it->get_ref<const std::string&>();
      if (text.size() > (kMaxBlobBytes + 2) / 3 * 4) {
        return Fail(ErrorCode::kCorruption, path + ": blob longer than " +
                                                std::to_string(kMaxBlobBytes) +
                                                " bytes");
      }
      auto bytes = Base64Decode(text);
      if (!bytes) {
        return Fail(ErrorCode::kCorruption,
                    path + ": " + bytes.error().message());
      }
      return FieldValue(Blob{std::move(*bytes)});
    }
    default:
      return Fail(ErrorCode::kCorruption,
                  path + ": must be null, a number, a string or {\"b64\":…}");
  }
}

Result<ChangeEntry> DecodeFromJson(const Json& root) {
  if (!root.is_object()) {
    return Fail(ErrorCode::kCorruption, "change entry: not a JSON object");
  }
  // The version first: a newer format is kUnsupported whatever its shape.
  auto v = root.find("v");
  if (v == root.end()) return Fail(ErrorCode::kCorruption, "v: missing");
  if (!v->is_number_integer()) {
    return Fail(ErrorCode::kCorruption, "v: must be an integer");
  }
  const auto version = v->get<std::int64_t>();
  if (version > kFormatVersion) {
    return Fail(ErrorCode::kUnsupported, "v: format version " +
                                             std::to_string(version) +
                                             " is newer than this build's " +
                                             std::to_string(kFormatVersion));
  }
  if (version != kFormatVersion) {
    return Fail(ErrorCode::kCorruption,
                "v: invalid format version " + std::to_string(version));
  }

  ChangeEntry e;
  auto id = GetString(root, "id", "id");
  if (!id) return Fail(id.error());
  e.id = std::move(*id);
  auto hlc = GetHlc(root, "hlc", "hlc");
  if (!hlc) return Fail(hlc.error());
  e.hlc = *hlc;
  auto site = GetString(root, "site", "site");
  if (!site) return Fail(site.error());
  e.site = std::move(*site);
  auto table = GetString(root, "table", "table");
  if (!table) return Fail(table.error());
  e.table = std::move(*table);
  auto row = GetString(root, "row", "row");
  if (!row) return Fail(row.error());
  e.row = std::move(*row);
  auto author = GetString(root, "author", "author");
  if (!author) return Fail(author.error());
  e.author = std::move(*author);

  auto op = GetString(root, "op", "op");
  if (!op) return Fail(op.error());
  if (*op == "upsert") {
    e.op = Op::kUpsert;
  } else if (*op == "delete") {
    e.op = Op::kDelete;
  } else {
    return Fail(ErrorCode::kUnsupported,
                "op: unknown op \"" + Printable(*op) + "\"");
  }

  auto fields = root.find("fields");
  if (fields == root.end())
    return Fail(ErrorCode::kCorruption, "fields: missing");
  if (!fields->is_object()) {
    return Fail(ErrorCode::kCorruption, "fields: must be an object");
  }
  if (fields->size() > kMaxFields) {
    return Fail(ErrorCode::kCorruption,
                "fields: more than " + std::to_string(kMaxFields) + " columns");
  }
  for (const auto& [col, value] : fields->items()) {
    const std::string path = "fields." + Printable(col);
    auto decoded = DecodeValue(value, path);
    if (!decoded) return Fail(decoded.error());
    e.fields.emplace(col, std::move(*decoded));
  }

  auto base = root.find("base");
  if (base == root.end()) return Fail(ErrorCode::kCorruption, "base: missing");
  if (!base->is_object()) {
    return Fail(ErrorCode::kCorruption, "base: must be an object");
  }
  if (base->size() > kMaxFields) {
    return Fail(ErrorCode::kCorruption,
                "base: more than " + std::to_string(kMaxFields) + " columns");
  }
  for (const auto& [col, value] : base->items()) {
    const std::string path = "base." + Printable(col);
    if (!value.is_object()) {
      return Fail(ErrorCode::kCorruption,
                  path + ": must be an object {\"hlc\",\"site\"}");
    }
    for (const auto& [k, unused] : value.items()) {
      if (k != "hlc" && k != "site") {
        return Fail(ErrorCode::kCorruption,
                    path + ": unexpected key \"" + Printable(k) + "\"");
      }
    }
    Version ver;
    auto vh = GetHlc(value, "hlc", path + ".hlc");
    if (!vh) return Fail(vh.error());
    ver.hlc = *vh;
    auto vs = GetString(value, "site", path + ".site");
    if (!vs) return Fail(vs.error());
    ver.site = std::move(*vs);
    e.base.emplace(col, std::move(ver));
  }

  for (const auto& [key, value] : root.items()) {
    if (IsKnownKey(key)) continue;
    std::string canonical;
    WriteJson(value, &canonical);
    e.extensions.emplace(key, std::move(canonical));
  }

  if (auto st = ValidateChange(e, ErrorCode::kCorruption); !st) {
    return Fail(st.error());
  }
  return e;
}

}  // namespace

bool IsValidUtf8(std::string_view s) {
  std::size_t i = 0;
  const std::size_t n = s.size();
  while (i < n) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    std::size_t len = 0;
    unsigned lo = 0x80, hi = 0xbf;  // bounds of the second byte
    if (c >= 0xc2 && c <= 0xdf) {
      len = 2;
    } else if (c >= 0xe0 && c <= 0xef) {
      len = 3;
      if (c == 0xe0) lo = 0xa0;
      if (c == 0xed) hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
      len = 4;
      if (c == 0xf0) lo = 0x90;
      if (c == 0xf4) hi = 0x8f;
    } else {
      return false;
    }
    if (n - i < len) return false;
    const auto c1 = static_cast<unsigned char>(s[i + 1]);
    if (c1 < lo || c1 > hi) return false;
    for (std::size_t k = 2; k < len; ++k) {
      const auto ck = static_cast<unsigned char>(s[i + k]);
      if (ck < 0x80 || ck > 0xbf) return false;
    }
    i += len;
  }
  return true;
}

std::string_view OpName(Op op) {
  switch (op) {
    case Op::kUpsert:
      return "upsert";
    case Op::kDelete:
      return "delete";
  }
  return "unknown";
}

bool IsCanonicalUuid(std::string_view t, bool require_v7) {
  if (t.size() != 36) return false;
  for (std::size_t i = 0; i < t.size(); ++i) {
    const char c = t[i];
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (c != '-') return false;
    } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
      return false;
    }
  }
  if (require_v7) {
    if (t[14] != '7') return false;
    const char variant = t[19];
    if (variant != '8' && variant != '9' && variant != 'a' && variant != 'b') {
      return false;
    }
  }
  return true;
}

bool IsIdentifier(std::string_view name) {
  if (name.empty() || name.size() > 63) return false;
  if (name[0] < 'a' || name[0] > 'z') return false;
  for (char c : name) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) {
      return false;
    }
  }
  return true;
}

Status ValidateChange(const ChangeEntry& e, ErrorCode code) {
  if (auto st = CheckUuid("id", e.id, true, code); !st) return st;
  if (e.hlc.is_zero()) return Fail(code, "hlc: zero is not a write's clock");
  if (auto st = CheckUuid("site", e.site, false, code); !st) return st;
  if (!IsIdentifier(e.table)) {
    return Fail(code, "table: \"" + Printable(e.table) +
                          "\" is not an identifier [a-z][a-z0-9_]{0,62}");
  }
  if (auto st = CheckUuid("row", e.row, false, code); !st) return st;
  if (auto st = CheckUuid("author", e.author, false, code); !st) return st;
  if (e.op != Op::kUpsert && e.op != Op::kDelete) {
    return Fail(code,
                "op: unknown value " + std::to_string(static_cast<int>(e.op)));
  }

  if (e.fields.size() > kMaxFields) {
    return Fail(code,
                "fields: more than " + std::to_string(kMaxFields) + " columns");
  }
  if (e.op == Op::kUpsert && e.fields.empty()) {
    return Fail(code, "fields: an upsert writes at least one column");
  }
  if (e.op == Op::kDelete && !e.fields.empty()) {
    return Fail(code, "fields: a delete writes no columns");
  }
  for (const auto& [col, value] : e.fields) {
    const std::string path = "fields." + Printable(col);
    if (!IsIdentifier(col)) {
      return Fail(code, path + ": not an identifier [a-z][a-z0-9_]{0,62}");
    }
    if (auto st = CheckValue(path, value, code); !st) return st;
  }

  if (e.base.size() > kMaxFields) {
    return Fail(code,
                "base: more than " + std::to_string(kMaxFields) + " columns");
  }
  for (const auto& [col, ver] : e.base) {
    const std::string path = "base." + Printable(col);
    if (!IsIdentifier(col)) {
      return Fail(code, path + ": not an identifier [a-z][a-z0-9_]{0,62}");
    }
    if (e.op == Op::kUpsert && !e.fields.contains(col)) {
      return Fail(code, path + ": column not written by this upsert");
    }
    if (ver.hlc.is_zero()) return Fail(code, path + ".hlc: zero");
    if (ver.hlc >= e.hlc) {
      return Fail(code, path + ".hlc: not before the entry's hlc");
    }
    if (auto st = CheckUuid(path + ".site", ver.site, false, code); !st) {
      return st;
    }
  }

  for (const auto& [key, value] : e.extensions) {
    if (auto st = CheckExtension(key, value, code); !st) return st;
  }
  return OkStatus();
}

Result<std::string> EncodeChange(const ChangeEntry& e) {
  if (auto st = ValidateChange(e, ErrorCode::kInvalidArgument); !st) {
    return Fail(st.error());
  }
  std::string out;
  out.reserve(256);
  auto write_known = [&](std::string_view key) {
    if (key == "author") {
      WriteString(e.author, &out);
    } else if (key == "base") {
      out.push_back('{');
      bool first = true;
      for (const auto& [col, ver] : e.base) {
        if (!first) out.push_back(',');
        first = false;
        WriteString(col, &out);
        out += ":{\"hlc\":\"";
        out += ver.hlc.ToString();
        out += "\",\"site\":";
        WriteString(ver.site, &out);
        out.push_back('}');
      }
      out.push_back('}');
    } else if (key == "fields") {
      out.push_back('{');
      bool first = true;
      for (const auto& [col, value] : e.fields) {
        if (!first) out.push_back(',');
        first = false;
        WriteString(col, &out);
        out.push_back(':');
        WriteFieldValue(value, &out);
      }
      out.push_back('}');
    } else if (key == "hlc") {
      out.push_back('"');
      out += e.hlc.ToString();
      out.push_back('"');
    } else if (key == "id") {
      WriteString(e.id, &out);
    } else if (key == "op") {
      WriteString(OpName(e.op), &out);
    } else if (key == "row") {
      WriteString(e.row, &out);
    } else if (key == "site") {
      WriteString(e.site, &out);
    } else if (key == "table") {
      WriteString(e.table, &out);
    } else {  // "v"
      WriteInt(kFormatVersion, &out);
    }
  };

  // Merge the two sorted key sequences (known keys, extensions).
  out.push_back('{');
  auto ext = e.extensions.begin();
  bool first = true;
  auto separator = [&] {
    if (!first) out.push_back(',');
    first = false;
  };
  for (std::string_view key : kKnownKeys) {
    for (; ext != e.extensions.end() && std::string_view(ext->first) < key;
         ++ext) {
      separator();
      WriteString(ext->first, &out);
      out.push_back(':');
      out += ext->second;
    }
    separator();
    WriteString(key, &out);
    out.push_back(':');
    write_known(key);
  }
  for (; ext != e.extensions.end(); ++ext) {
    separator();
    WriteString(ext->first, &out);
    out.push_back(':');
    out += ext->second;
  }
  out.push_back('}');

  if (out.size() > kMaxEncodedBytes) {
    return Fail(ErrorCode::kInvalidArgument,
                "change entry: encodes to " + std::to_string(out.size()) +
                    " bytes, more than " + std::to_string(kMaxEncodedBytes));
  }
  return out;
}

Result<ChangeEntry> DecodeChange(std::string_view json) {
  if (json.size() > kMaxEncodedBytes) {
    return Fail(ErrorCode::kCorruption,
                "change entry: " + std::to_string(json.size()) +
                    " bytes, more than " + std::to_string(kMaxEncodedBytes));
  }
  auto root = ParseStrict(json, kMaxJsonDepth);
  if (!root) return Fail(root.error().WithContext("change entry"));
  return DecodeFromJson(*root);
}

Result<std::string> CanonicalizeChange(std::string_view json) {
  auto entry = DecodeChange(json);
  if (!entry) return Fail(entry.error());
  return EncodeChange(*entry);
}

}  // namespace pulse::engine
