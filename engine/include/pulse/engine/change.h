// Change entries: one write to one row of one replicated table, the unit the
// change log stores, sync ships and the merge applies (DESIGN.md §4).
//
// The format — fields, value types, the canonical JSON encoding, limits and
// the forward-compatibility rule — is docs/formats/change_log.md §2–§5. This
// header is its C++ form: a plain ChangeEntry value, ValidateChange() for the
// format's rules, and EncodeChange()/DecodeChange() between entries and
// canonical bytes. Pure: no SQL, no I/O. Whether a table or column exists and
// has the right type is the merge's business (it knows the schema).
//
// Thread-safety: plain values and pure functions.
#ifndef PULSE_ENGINE_CHANGE_H_
#define PULSE_ENGINE_CHANGE_H_

#include <compare>
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "pulse/base/result.h"
#include "pulse/engine/hlc.h"

namespace pulse::engine {

// Numeric values are stable (change_log.md §2.2): never renumber or reuse.
enum class Op : std::uint8_t { kUpsert = 1, kDelete = 2 };

// "upsert" / "delete".
std::string_view OpName(Op op);

struct Blob {
  std::vector<std::uint8_t> bytes;
  bool operator==(const Blob&) const = default;
};

// One column value. Alternative order matches ValueType; append only.
using FieldValue =
    std::variant<std::nullptr_t, std::int64_t, double, std::string, Blob>;

// Numeric values are stable (change_log.md §2.2): never renumber or reuse.
enum class ValueType : std::uint8_t {
  kNull = 0,
  kInt64 = 1,
  kDouble = 2,
  kText = 3,
  kBlob = 4,
};

inline ValueType TypeOf(const FieldValue& value) {
  return static_cast<ValueType>(value.index());
}

// The version of a field value: who wrote it when. Writes are totally ordered
// by (hlc, site) (change_log.md §1.1).
struct Version {
  Hlc hlc;
  std::string site;  // canonical lower-case UUID of the writing replica

  bool operator==(const Version&) const = default;
  friend std::strong_ordering operator<=>(const Version& a, const Version& b) {
    return CompareWrites(a.hlc, a.site, b.hlc, b.site);
  }
};

struct ChangeEntry {
  std::string id;     // UUIDv7, canonical lower case
  Hlc hlc;            // of this write; non-zero
  std::string site;   // UUID of the writing replica (the tie-break)
  std::string table;  // [a-z][a-z0-9_]{0,62}
  std::string row;    // UUID of the row
  Op op = Op::kUpsert;
  std::map<std::string, FieldValue> fields;  // column -> new value
  std::map<std::string, Version> base;       // column -> version replaced
  std::string author;                        // UUID of the user who wrote it
  // Top-level keys this build does not know, each mapped to its value as
  // canonical JSON text; kept so that re-encoding preserves the bytes
  // (change_log.md §4). Empty for entries this build creates.
  std::map<std::string, std::string> extensions;

  // The entry's own version (hlc, site).
  Version version() const { return Version{hlc, site}; }

  bool operator==(const ChangeEntry&) const = default;
};

// Limits of change_log.md §2.
inline constexpr std::size_t kMaxTextBytes = 65536;
inline constexpr std::size_t kMaxBlobBytes = 65536;
inline constexpr std::size_t kMaxFields = 256;
inline constexpr std::size_t kMaxEncodedBytes = 1 << 20;
inline constexpr int kMaxJsonDepth = 16;
inline constexpr std::int64_t kFormatVersion = 1;

// Checks every rule of the format except the encoded-size limit. Returns
// an error with code `code` whose message starts with the field's path
// ("hlc", "fields.status", "base.status.site", "extensions.x").
Status ValidateChange(const ChangeEntry& entry,
                      ErrorCode code = ErrorCode::kInvalidArgument);

// The canonical JSON bytes of `entry` (change_log.md §3): the same entry
// always gives the same bytes. kInvalidArgument (field named) if the entry
// breaks a rule of the format or encodes to more than kMaxEncodedBytes.
Result<std::string> EncodeChange(const ChangeEntry& entry);

// Parses one entry from JSON in any key order and spacing. Returns
// kCorruption naming the field for malformed or invalid input (including
// input over kMaxEncodedBytes, duplicate keys, integers beyond int64), and
// kUnsupported for a newer format version, op or value type. Unknown
// top-level keys land in `extensions`.
// Post: on success EncodeChange(*result) succeeds and is canonical.
Result<ChangeEntry> DecodeChange(std::string_view json);

// Canonical re-encoding of an encoded entry: DecodeChange then EncodeChange.
Result<std::string> CanonicalizeChange(std::string_view json);

// Canonical lower-case UUID text check ("8-4-4-4-12", hex 0-9a-f only).
// When `require_v7`, also version 7 and RFC 9562 variant (10xx).
bool IsCanonicalUuid(std::string_view text, bool require_v7 = false);

// Identifier rule for table and column names: [a-z][a-z0-9_]{0,62}.
bool IsIdentifier(std::string_view name);

// True if `s` is well-formed UTF-8 (RFC 3629: no overlongs, no surrogates,
// nothing above U+10FFFF) — the rule for every text value of a change.
bool IsValidUtf8(std::string_view s);

}  // namespace pulse::engine

#endif  // PULSE_ENGINE_CHANGE_H_
