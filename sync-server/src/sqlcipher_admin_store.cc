// The embedded admin store. Design notes:
// - Reads: one ReaderLease and one read transaction per call (a page is one
//   snapshot of the merged tables). The reader connections are query_only;
//   nothing here writes through them.
// - Writes: under the central store's writer_mutex, through the central
//   replica's repositories, then DrainOutbox() in the same critical section
//   so the clinics pull the write. A crash between the two leaves the
//   entries in the outbox, which the next drain (or Open) moves.
// - Rows the admin writes for a clinic carry that clinic's site_id (a
//   device of site X, a user of site X, the resolution of a conflict on a
//   row of site X): global_log files an entry under the site of its row,
//   and a clinic pulls only its own site's entries. That is why devices and
//   conflict resolutions go through a repository bound to the row's site
//   instead of the replica's own (whose site is the central one).
// - SQL is built from constants and from the replicated-table catalogue
//   (replicated_tables.h), never from stored or client text.
#include "pulse/sync_server/sqlcipher_admin_store.h"

#include "sqlcipher_central_state.h"

#include <chrono>
#include <map>
#include <mutex>
#include <set>
#include <utility>
#include <vector>

#include "pulse/engine/conflicts.h"
#include "pulse/engine/database.h"
#include "pulse/engine/devices.h"
#include "pulse/engine/replica.h"
#include "pulse/engine/replicated_tables.h"
#include "pulse/engine/users.h"
#include "pulse/engine/uuid.h"

namespace pulse::sync_server {
namespace {

using engine::Database;
using engine::FieldValue;
using engine::Statement;
using engine::TransactionMode;
using State = SqlcipherCentralStore::State;

Status Invalid(std::string field, std::string_view why) {
  return Fail(ErrorCode::kInvalidArgument, field + ": " + std::string(why));
}

Status CheckLimit(int limit) {
  if (limit < 1 || limit > kAdminMaxPageSize) {
    return Invalid("limit",
                   "must be within 1.." + std::to_string(kAdminMaxPageSize));
  }
  return OkStatus();
}

Status CheckUuid(std::string_view field, std::string_view text) {
  if (!engine::IsCanonicalUuid(text)) {
    return Invalid(std::string(field), "must be a canonical (lower-case) UUID");
  }
  return OkStatus();
}

Status CheckAfterUuid(std::string_view after) {
  return after.empty() ? OkStatus() : CheckUuid("cursor", after);
}

bool IsConflictId(std::string_view text) {
  if (text.size() != 64) return false;
  for (char c : text) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

// Well-formed UTF-8 (no overlong forms, surrogates or code points past
// U+10FFFF) without control characters (C0, DEL).
bool IsPlainUtf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c == 0x7F) return false;
    std::size_t more = 0;
    unsigned char lo = 0x80, hi = 0xBF;  // range of the second byte
    if (c < 0x80) {
      more = 0;
    } else if (c >= 0xC2 && c <= 0xDF) {
      more = 1;
    } else if (c >= 0xE0 && c <= 0xEF) {
      more = 2;
      if (c == 0xE0) lo = 0xA0;
      if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      more = 3;
      if (c == 0xF0) lo = 0x90;
      if (c == 0xF4) hi = 0x8F;
    } else {
      return false;
    }
    if (i + more >= s.size() && more > 0) return false;
    for (std::size_t k = 1; k <= more; ++k) {
      const auto d = static_cast<unsigned char>(s[i + k]);
      if (k == 1 ? (d < lo || d > hi) : (d & 0xC0) != 0x80) return false;
    }
    i += more + 1;
  }
  return true;
}

engine::Clock& WallOf(const State& state) {
  return state.options.wall_clock != nullptr ? *state.options.wall_clock
                                             : engine::SystemClock();
}

std::string TextOr(const Statement& stmt, int column) {
  if (stmt.IsNull(column)) return {};
  return std::string(stmt.ColumnText(column).value_or(""));
}

std::optional<std::string> OptText(const Statement& stmt, int column) {
  if (stmt.IsNull(column)) return std::nullopt;
  auto text = stmt.ColumnText(column);
  if (!text) return std::nullopt;
  return std::string(*text);
}

std::optional<std::int64_t> OptInt(const Statement& stmt, int column) {
  if (stmt.IsNull(column)) return std::nullopt;
  auto v = stmt.ColumnInt64(column);
  if (!v) return std::nullopt;
  return *v;
}

std::optional<double> OptDouble(const Statement& stmt, int column) {
  if (stmt.IsNull(column)) return std::nullopt;
  auto v = stmt.ColumnDouble(column);
  if (!v) return std::nullopt;
  return *v;
}

// A column as a change-format value, storage class kept.
FieldValue ReadValue(const Statement& stmt, int column) {
  switch (stmt.GetColumnType(column)) {
    case engine::ColumnType::kInteger:
      return stmt.ColumnInt64(column).value_or(0);
    case engine::ColumnType::kFloat:
      return stmt.ColumnDouble(column).value_or(0.0);
    case engine::ColumnType::kText:
      return std::string(stmt.ColumnText(column).value_or(""));
    case engine::ColumnType::kBlob: {
      auto bytes = stmt.ColumnBlob(column);
      engine::Blob blob;
      if (bytes) blob.bytes.assign(bytes->begin(), bytes->end());
      return blob;
    }
    case engine::ColumnType::kNull:
      break;
  }
  return nullptr;
}

// Binds parameters in order; the first failure wins.
class Binder {
 public:
  explicit Binder(Statement& stmt) : stmt_(stmt) {}
  Binder& Text(std::string_view v) {
    if (status_) status_ = stmt_.BindText(++index_, v);
    return *this;
  }
  Binder& Int(std::int64_t v) {
    if (status_) status_ = stmt_.BindInt64(++index_, v);
    return *this;
  }
  Status status() const { return status_; }

 private:
  Statement& stmt_;
  int index_ = 0;
  Status status_ = OkStatus();
};

// Runs `stmt` and calls `row(stmt)` for each row; stops early when it
// returns false.
template <typename Fn>
Status ForEachRow(Statement& stmt, Fn&& row) {
  for (;;) {
    auto more = stmt.Step();
    if (!more) return Fail(more.error());
    if (!*more) return OkStatus();
    if (!row(stmt)) {
      stmt.Reset();
      return OkStatus();
    }
  }
}

constexpr std::string_view kOpenSql =
    "NOT EXISTS (SELECT 1 FROM conflict_resolutions r WHERE r.conflict_id = "
    "c.id AND r.deleted = 0)";

// True iff `site` is a live row of `sites`.
Result<bool> SiteExists(Database& db, std::string_view site) {
  auto stmt = db.Prepare("SELECT 1 FROM sites WHERE id = ? AND deleted = 0");
  if (!stmt) return Fail(stmt.error());
  if (Status s = stmt->BindText(1, site); !s) return Fail(s.error());
  return stmt->Step();
}

// IANA zone names: "UTC", or Area/Location[/Sub] of [A-Za-z0-9_+-].
bool IsTimezoneName(std::string_view tz) {
  if (tz.empty() || tz.size() > 64) return false;
  if (tz.front() == '/' || tz.back() == '/') return false;
  for (std::size_t i = 0; i < tz.size(); ++i) {
    const char c = tz[i];
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                    (c >= '0' && c <= '9') || c == '_' || c == '+' ||
                    c == '-' || c == '/';
    if (!ok) return false;
    if (c == '/' && tz[i + 1] == '/') return false;
  }
  return true;
}

// --- Patient search ---

// The NOCASE range [lo, hi) holding exactly the strings that start with
// `prefix` (ASCII case folded as NOCASE does). NOCASE compares bytes after
// folding A-Z to a-z, so: fold, then raise the last byte. '@' + 1 would be
// 'A', which folds below '@' + 1's neighbours: the next byte NOCASE can
// see after '@' is '['. hi may end inside a UTF-8 sequence; it is only a
// bound (SQLite compares the bytes).
struct PrefixRange {
  std::string lo;
  std::optional<std::string> hi;  // nullopt: no upper bound
};

PrefixRange RangeOf(std::string_view prefix) {
  PrefixRange r;
  r.lo.assign(prefix);
  for (char& c : r.lo) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  std::string hi = r.lo;
  while (!hi.empty()) {
    auto c = static_cast<unsigned char>(hi.back());
    if (c == 0xFF) {
      hi.pop_back();
      continue;
    }
    hi.back() = static_cast<char>(c == '@' ? '[' : c + 1);
    r.hi = std::move(hi);
    break;
  }
  return r;
}

constexpr std::string_view kSearchFields[] = {"mrn", "family_name",
                                              "given_name"};

// "<field> >= ? COLLATE NOCASE [AND <field> < ? COLLATE NOCASE]"
std::string RangeSql(std::string_view field, const PrefixRange& r) {
  std::string s = std::string(field) + " >= ? COLLATE NOCASE";
  if (r.hi) s += " AND " + std::string(field) + " < ? COLLATE NOCASE";
  return s;
}

void BindRange(Binder& b, const PrefixRange& r) {
  b.Text(r.lo);
  if (r.hi) b.Text(*r.hi);
}

constexpr std::string_view kPatientColumns =
    "id, site_id, mrn, given_name, family_name, birth_date, sex";

AdminPatient ReadPatientSummary(const Statement& stmt) {
  AdminPatient p;
  p.id = TextOr(stmt, 0);
  p.site_id = TextOr(stmt, 1);
  p.mrn = TextOr(stmt, 2);
  p.given_name = TextOr(stmt, 3);
  p.family_name = TextOr(stmt, 4);
  p.birth_date = TextOr(stmt, 5);
  p.sex = TextOr(stmt, 6);
  return p;
}

// The page of rows [0, limit) and whether one more was found.
template <typename T>
std::optional<std::string> TrimPage(std::vector<T>& rows, int limit) {
  if (rows.size() <= static_cast<std::size_t>(limit)) return std::nullopt;
  rows.resize(static_cast<std::size_t>(limit));
  return rows.back().id;
}

}  // namespace

SqlcipherAdminStore::SqlcipherAdminStore(SqlcipherCentralStore& central,
                                         AdminStoreOptions options)
    : central_(central), options_(options) {}

// --- Sites ---

namespace {

constexpr std::string_view kSiteSelect =
    "SELECT s.id, s.name, s.region, s.timezone, y.last_push_ms, "
    "y.last_pull_ms FROM sites s LEFT JOIN site_sync y ON y.site = s.id "
    "WHERE s.deleted = 0 ";

AdminSite ReadSite(const Statement& stmt) {
  AdminSite s;
  s.id = TextOr(stmt, 0);
  s.name = TextOr(stmt, 1);
  s.region = TextOr(stmt, 2);
  s.timezone = TextOr(stmt, 3);
  s.last_push_ms = OptInt(stmt, 4);
  s.last_pull_ms = OptInt(stmt, 5);
  return s;
}

// Open conflicts per row site, for the sites in `sites`.
Status FillOpenConflicts(Database& db, std::vector<AdminSite>& sites) {
  if (sites.empty()) return OkStatus();
  auto stmt = db.Prepare("SELECT row_site, COUNT(*) FROM (SELECT " +
                         engine::ConflictRowSiteSql() +
                         " AS row_site FROM conflicts c WHERE " +
                         std::string(kOpenSql) +
                         ") WHERE row_site IS NOT NULL GROUP BY row_site");
  if (!stmt) return Fail(stmt.error());
  std::map<std::string, std::int64_t, std::less<>> counts;
  if (Status s = ForEachRow(*stmt, [&](const Statement& row) {
        counts[TextOr(row, 0)] = row.ColumnInt64(1).value_or(0);
        return true;
      });
      !s) {
    return s;
  }
  for (AdminSite& site : sites) {
    auto it = counts.find(site.id);
    site.open_conflicts = it == counts.end() ? 0 : it->second;
  }
  return OkStatus();
}

}  // namespace

Result<AdminSitePage> SqlcipherAdminStore::ListSites(std::string_view after,
                                                     int limit) {
  if (Status s = CheckLimit(limit); !s) return Fail(s.error());
  if (Status s = CheckAfterUuid(after); !s) return Fail(s.error());
  State::ReaderLease lease(central_.state());
  Database& db = lease.db();
  auto txn = db.Begin(TransactionMode::kDeferred);
  if (!txn) return Fail(txn.error());
  auto stmt = db.Prepare(std::string(kSiteSelect) +
                         "AND s.id > ? ORDER BY s.id LIMIT ?");
  if (!stmt) return Fail(stmt.error());
  Binder b(*stmt);
  if (Status s = b.Text(after).Int(limit + 1).status(); !s) {
    return Fail(s.error());
  }
  AdminSitePage page;
  if (Status s = ForEachRow(*stmt, [&](const Statement& row) {
        page.sites.push_back(ReadSite(row));
        return true;
      });
      !s) {
    return Fail(s.error());
  }
  page.next_after = TrimPage(page.sites, limit);
  if (Status s = FillOpenConflicts(db, page.sites); !s) return Fail(s.error());
  return page;
}

Result<AdminSite> SqlcipherAdminStore::GetSite(std::string_view id) {
  if (Status s = CheckUuid("site", id); !s) return Fail(s.error());
  State::ReaderLease lease(central_.state());
  Database& db = lease.db();
  auto txn = db.Begin(TransactionMode::kDeferred);
  if (!txn) return Fail(txn.error());
  auto stmt = db.Prepare(std::string(kSiteSelect) + "AND s.id = ?");
  if (!stmt) return Fail(stmt.error());
  if (Status s = stmt->BindText(1, id); !s) return Fail(s.error());
  auto found = stmt->Step();
  if (!found) return Fail(found.error());
  if (!*found) return Fail(ErrorCode::kNotFound, "site not found");
  std::vector<AdminSite> one{ReadSite(*stmt)};
  stmt->Reset();
  if (Status s = FillOpenConflicts(db, one); !s) return Fail(s.error());
  return std::move(one.front());
}

Result<std::string> SqlcipherAdminStore::CreateSite(
    const engine::Principal& who, const AdminSiteInput& site) {
  if (site.name.empty() || site.name.size() > 200 || !IsPlainUtf8(site.name)) {
    return Fail(Invalid("site.name", "1 to 200 bytes of text, no control "
                                     "characters")
                    .error());
  }
  if (site.region.size() > 100 || !IsPlainUtf8(site.region)) {
    return Fail(Invalid("site.region", "up to 100 bytes of text, no control "
                                       "characters")
                    .error());
  }
  if (!IsTimezoneName(site.timezone)) {
    return Fail(Invalid("site.timezone",
                        "an IANA time zone name such as Africa/Nairobi")
                    .error());
  }
  const engine::Decision allowed = engine::Authorize(
      who, engine::Action::kCreate, engine::Resource::kSites, std::nullopt);
  if (!allowed) return Fail(ErrorCode::kPermissionDenied, allowed.reason);
  return central_.AddSite({site.name, site.region, site.timezone},
                          who.user_id.ToString());
}

// --- Patients ---

Result<AdminPatientPage> SqlcipherAdminStore::SearchPatients(
    const PatientSearchQuery& query) {
  if (Status s = CheckLimit(query.limit); !s) return Fail(s.error());
  if (Status s = CheckAfterUuid(query.after); !s) return Fail(s.error());
  if (query.site) {
    if (Status s = CheckUuid("site", *query.site); !s) return Fail(s.error());
  }
  if (query.text.size() > kAdminMaxSearchBytes || !IsPlainUtf8(query.text)) {
    return Fail(Invalid("q", "up to " + std::to_string(kAdminMaxSearchBytes) +
                                 " bytes of text, no control characters")
                    .error());
  }
  State::ReaderLease lease(central_.state());
  Database& db = lease.db();
  auto txn = db.Begin(TransactionMode::kDeferred);
  if (!txn) return Fail(txn.error());
  // The plans are fixed with INDEXED BY (schema/central/0002): without
  // statistics SQLite would take `site_id = ?` for the more selective
  // term and read a whole site's rows.
  const std::string site_sql = query.site ? " AND site_id = ?" : "";
  const std::optional<PrefixRange> range =
      query.text.empty() ? std::nullopt
                         : std::optional<PrefixRange>(RangeOf(query.text));
  std::vector<std::string> page_ids;
  auto collect_ids = [&](Statement& stmt) {
    return ForEachRow(stmt, [&](const Statement& row) {
      page_ids.push_back(TextOr(row, 0));
      return true;
    });
  };

  // Walks the id order in a covering index, testing each entry.
  auto walk = [&]() -> Status {
    std::string sql = "SELECT id FROM patients INDEXED BY ";
    sql += query.site ? "patients_admin_walk_by_site WHERE site_id = ? AND "
                      : "patients_admin_walk WHERE ";
    sql += "id > ? AND deleted = 0";
    if (range) {
      sql += " AND (";
      for (std::size_t i = 0; i < std::size(kSearchFields); ++i) {
        if (i > 0) sql += " OR ";
        sql += "(" + RangeSql(kSearchFields[i], *range) + ")";
      }
      sql += ")";
    }
    sql += " ORDER BY id LIMIT ?";
    auto stmt = db.Prepare(sql);
    if (!stmt) return Fail(stmt.error());
    Binder b(*stmt);
    if (query.site) b.Text(*query.site);
    b.Text(query.after);
    if (range) {
      for (std::size_t i = 0; i < std::size(kSearchFields); ++i) {
        BindRange(b, *range);
      }
    }
    b.Int(query.limit + 1);
    if (Status s = b.status(); !s) return s;
    return collect_ids(*stmt);
  };

  // One SELECT per searchable field: a range of its NOCASE index, which
  // holds deleted, site_id and id too, so no table row is read.
  auto arm = [&](std::string_view field) {
    return "SELECT id FROM patients INDEXED BY patients_admin_by_" +
           std::string(field == "family_name"  ? "family"
                       : field == "given_name" ? "given"
                                               : "mrn") +
           " WHERE " + RangeSql(field, *range) + " AND deleted = 0" +
           site_sql + " AND id > ?";
  };
  auto bind_arm = [&](Binder& b) {
    BindRange(b, *range);
    if (query.site) b.Text(*query.site);
    b.Text(query.after);
  };

  // With a site, walking the site's covering index costs at most the
  // site's own patients (a clinic's few thousand), while a short prefix's
  // index ranges span every site: always walk.
  bool dense = !range || query.site.has_value();
  if (!dense) {
    // Probe: how many matches (capped) follow the cursor?
    std::int64_t matches = 0;
    for (std::string_view field : kSearchFields) {
      auto probe =
          db.Prepare("SELECT COUNT(*) FROM (" + arm(field) + " LIMIT ?)");
      if (!probe) return Fail(probe.error());
      Binder b(*probe);
      bind_arm(b);
      b.Int(options_.dense_probe_limit);
      if (Status s = b.status(); !s) return Fail(s.error());
      auto row = probe->Step();
      if (!row) return Fail(row.error());
      matches += *row ? probe->ColumnInt64(0).value_or(0) : 0;
      probe->Reset();
      if (matches > options_.dense_probe_limit) break;
    }
    dense = matches > options_.dense_probe_limit;
  }
  if (dense) {
    // Many matches (or no text): about one entry in (eligible / matches)
    // qualifies, so a page tests about (limit + 1) * eligible / matches
    // index entries, matches being more than a third of the probe limit.
    if (Status s = walk(); !s) return Fail(s.error());
  } else {
    // Few matches: the union of the three index ranges (at most the probe
    // limit of ids), sorted.
    auto ids = db.Prepare(arm(kSearchFields[0]) + " UNION " +
                          arm(kSearchFields[1]) + " UNION " +
                          arm(kSearchFields[2]) + " ORDER BY id LIMIT ?");
    if (!ids) return Fail(ids.error());
    Binder b(*ids);
    for (std::size_t i = 0; i < std::size(kSearchFields); ++i) bind_arm(b);
    b.Int(query.limit + 1);
    if (Status s = b.status(); !s) return Fail(s.error());
    if (Status s = collect_ids(*ids); !s) return Fail(s.error());
  }

  // The page's rows by primary key (same snapshot).
  AdminPatientPage page;
  auto fetch = db.Prepare("SELECT " + std::string(kPatientColumns) +
                          " FROM patients WHERE id = ?");
  if (!fetch) return Fail(fetch.error());
  for (const std::string& id : page_ids) {
    if (Status s = fetch->BindText(1, id); !s) return Fail(s.error());
    if (Status s = ForEachRow(*fetch,
                              [&](const Statement& row) {
                                page.patients.push_back(
                                    ReadPatientSummary(row));
                                return true;
                              });
        !s) {
      return Fail(s.error());
    }
    fetch->Reset();
  }
  page.next_after = TrimPage(page.patients, query.limit);
  return page;
}

Result<AdminPatient> SqlcipherAdminStore::GetPatient(std::string_view id) {
  if (Status s = CheckUuid("patient", id); !s) return Fail(s.error());
  State::ReaderLease lease(central_.state());
  Database& db = lease.db();
  auto txn = db.Begin(TransactionMode::kDeferred);
  if (!txn) return Fail(txn.error());
  auto stmt = db.Prepare(
      "SELECT " + std::string(kPatientColumns) +
      ", phone, address, (SELECT COUNT(*) FROM recordings r WHERE "
      "r.patient_id = p.id AND r.deleted = 0) FROM patients p WHERE id = ? "
      "AND deleted = 0");
  if (!stmt) return Fail(stmt.error());
  if (Status s = stmt->BindText(1, id); !s) return Fail(s.error());
  auto found = stmt->Step();
  if (!found) return Fail(found.error());
  if (!*found) return Fail(ErrorCode::kNotFound, "patient not found");
  AdminPatient p = ReadPatientSummary(*stmt);
  p.phone = TextOr(*stmt, 7);
  p.address = TextOr(*stmt, 8);
  p.recording_count = stmt->ColumnInt64(9).value_or(0);
  return p;
}

// --- Recordings ---

Result<AdminRecordingPage> SqlcipherAdminStore::ListRecordings(
    const RecordingListQuery& query) {
  if (Status s = CheckLimit(query.limit); !s) return Fail(s.error());
  if (Status s = CheckAfterUuid(query.after); !s) return Fail(s.error());
  if (query.site) {
    if (Status s = CheckUuid("site", *query.site); !s) return Fail(s.error());
  }
  if (query.patient) {
    if (Status s = CheckUuid("patient", *query.patient); !s) {
      return Fail(s.error());
    }
  }
  State::ReaderLease lease(central_.state());
  Database& db = lease.db();
  auto txn = db.Begin(TransactionMode::kDeferred);
  if (!txn) return Fail(txn.error());
  std::string sql =
      "SELECT id, site_id, patient_id, device_id, operator_id, "
      "started_at_ms, ended_at_ms, sample_rate_hz, lead_names, status, "
      "quality, segment_count FROM recordings WHERE deleted = 0 AND id > ?";
  if (query.patient) sql += " AND patient_id = ?";
  if (query.site) sql += " AND site_id = ?";
  sql += " ORDER BY id LIMIT ?";
  auto stmt = db.Prepare(sql);
  if (!stmt) return Fail(stmt.error());
  Binder b(*stmt);
  b.Text(query.after);
  if (query.patient) b.Text(*query.patient);
  if (query.site) b.Text(*query.site);
  b.Int(query.limit + 1);
  if (Status s = b.status(); !s) return Fail(s.error());
  AdminRecordingPage page;
  if (Status s = ForEachRow(*stmt, [&](const Statement& row) {
        AdminRecording r;
        r.id = TextOr(row, 0);
        r.site_id = TextOr(row, 1);
        r.patient_id = OptText(row, 2);
        r.device_id = OptText(row, 3);
        r.operator_id = OptText(row, 4);
        r.started_at_ms = OptInt(row, 5);
        r.ended_at_ms = OptInt(row, 6);
        r.sample_rate_hz = OptDouble(row, 7);
        r.lead_names = OptText(row, 8);
        r.status = OptText(row, 9);
        r.quality = OptText(row, 10);
        r.segment_count = OptInt(row, 11);
        page.recordings.push_back(std::move(r));
        return true;
      });
      !s) {
    return Fail(s.error());
  }
  page.next_after = TrimPage(page.recordings, query.limit);
  return page;
}

// --- Conflicts ---

Result<AdminConflictPage> SqlcipherAdminStore::ListConflicts(
    const ConflictListQuery& query) {
  if (Status s = CheckLimit(query.limit); !s) return Fail(s.error());
  if (!query.after.empty() && !IsConflictId(query.after)) {
    return Fail(Invalid("cursor", "must be a conflict id (64 hex digits)")
                    .error());
  }
  if (query.site) {
    if (Status s = CheckUuid("site", *query.site); !s) return Fail(s.error());
  }
  State::ReaderLease lease(central_.state());
  Database& db = lease.db();
  auto txn = db.Begin(TransactionMode::kDeferred);
  if (!txn) return Fail(txn.error());
  std::string sql =
      "SELECT id, tbl, row_id, col, kind, loser_hlc, loser_site, "
      "loser_author, loser_value, row_site FROM (SELECT c.*, " +
      engine::ConflictRowSiteSql() + " AS row_site FROM conflicts c WHERE c.id > ? AND " +
      (query.state == ConflictState::kOpen ? "" : "NOT ") +
      std::string(kOpenSql) + ")";
  if (query.site) sql += " WHERE row_site = ?";
  sql += " ORDER BY id LIMIT ?";
  auto stmt = db.Prepare(sql);
  if (!stmt) return Fail(stmt.error());
  Binder b(*stmt);
  b.Text(query.after);
  if (query.site) b.Text(*query.site);
  b.Int(query.limit + 1);
  if (Status s = b.status(); !s) return Fail(s.error());
  AdminConflictPage page;
  if (Status s = ForEachRow(*stmt, [&](const Statement& row) {
        AdminConflict c;
        c.id = TextOr(row, 0);
        c.table = TextOr(row, 1);
        c.row = TextOr(row, 2);
        c.column = TextOr(row, 3);
        c.kind = TextOr(row, 4);
        const std::int64_t packed = row.ColumnInt64(5).value_or(0);
        c.loser_hlc = static_cast<std::uint64_t>(packed < 0 ? 0 : packed);
        c.loser_site = TextOr(row, 6);
        c.loser_author = TextOr(row, 7);
        c.loser_value = ReadValue(row, 8);
        c.row_site = OptText(row, 9);
        page.conflicts.push_back(std::move(c));
        return true;
      });
      !s) {
    return Fail(s.error());
  }
  page.next_after = TrimPage(page.conflicts, query.limit);

  auto resolution = db.Prepare(
      "SELECT decision, resolver_id, resolved_at_ms FROM "
      "conflict_resolutions WHERE conflict_id = ? AND deleted = 0 "
      "ORDER BY resolved_at_ms, id LIMIT 1");
  if (!resolution) return Fail(resolution.error());
  for (AdminConflict& c : page.conflicts) {
    const engine::ReplicatedTable* table = engine::FindReplicatedTable(c.table);
    if (table != nullptr && table->HasColumn(c.column)) {
      // The column name is the catalogue's, checked just above.
      std::string column;
      for (std::string_view known : table->columns) {
        if (known == c.column) column = std::string(known);
      }
      auto current = db.Prepare("SELECT deleted, " + column + " FROM " +
                                std::string(table->name) + " WHERE id = ?");
      if (!current) return Fail(current.error());
      if (Status s = current->BindText(1, c.row); !s) return Fail(s.error());
      auto found = current->Step();
      if (!found) return Fail(found.error());
      if (*found) {
        c.row_deleted = current->ColumnInt64(0).value_or(0) != 0;
        c.current_value = ReadValue(*current, 1);
      }
    }
    if (c.table == "users" && c.column == "password_hash") {
      c.redacted = true;
      c.loser_value = nullptr;
      c.current_value = nullptr;
    }
    auto patient = engine::PatientOfRow(db, c.table, c.row);
    if (!patient) return Fail(patient.error());
    c.patient_id = std::move(*patient);
    if (Status s = resolution->BindText(1, c.id); !s) return Fail(s.error());
    auto found = resolution->Step();
    if (!found) return Fail(found.error());
    if (*found) {
      c.resolution = AdminConflictResolution{TextOr(*resolution, 0),
                                             TextOr(*resolution, 1),
                                             OptInt(*resolution, 2)};
    }
    resolution->Reset();
  }
  return page;
}

Result<ResolvedConflict> SqlcipherAdminStore::ResolveConflict(
    const engine::Principal& who, std::string_view id,
    std::string_view decision) {
  if (!IsConflictId(id)) {
    return Fail(Invalid("conflict", "must be a conflict id (64 hex digits)")
                    .error());
  }
  State& state = central_.state();
  std::lock_guard lock(state.writer_mutex);
  engine::ClinicReplica& r = *state.replica;
  Database& db = r.database();
  ResolvedConflict out;
  std::optional<std::string> row_site;
  {
    auto stmt = db.Prepare("SELECT tbl, row_id, " + engine::ConflictRowSiteSql() +
                           " FROM conflicts c WHERE id = ?");
    if (!stmt) return Fail(stmt.error());
    if (Status s = stmt->BindText(1, id); !s) return Fail(s.error());
    auto found = stmt->Step();
    if (!found) return Fail(found.error());
    if (!*found) return Fail(ErrorCode::kNotFound, "conflict not found");
    out.table = TextOr(*stmt, 0);
    out.row = TextOr(*stmt, 1);
    row_site = OptText(*stmt, 2);
  }
  auto patient = engine::PatientOfRow(db, out.table, out.row);
  if (!patient) return Fail(patient.error());
  out.patient_id = std::move(*patient);
  // The resolution row belongs to the conflicting row's site, so that the
  // site's clinics pull it (central rows with no site stay central).
  engine::Uuid owner = r.site_id();
  if (row_site) {
    if (auto parsed = engine::Uuid::Parse(*row_site)) owner = *parsed;
  }
  engine::ConflictRepository conflicts(db, r.writer(), r.audit_log(),
                                       WallOf(state), r.ids(), owner);
  if (Status s = conflicts.Resolve(who, id, decision); !s) {
    // The engine names its fields "conflict.*".
    return Fail(s.error());
  }
  if (Status s = state.DrainOutbox(); !s) return Fail(s.error());
  return out;
}

// --- Users ---

namespace {

constexpr std::string_view kUserSelect =
    "SELECT id, username, full_name, role, site_id, active FROM users "
    "WHERE deleted = 0 ";

AdminUser ReadAdminUser(const Statement& stmt) {
  AdminUser u;
  u.id = TextOr(stmt, 0);
  u.username = TextOr(stmt, 1);
  u.full_name = TextOr(stmt, 2);
  u.role = TextOr(stmt, 3);
  u.site_id = OptText(stmt, 4);
  u.active = OptInt(stmt, 5).value_or(0) != 0;
  return u;
}

}  // namespace

Result<AdminUserPage> SqlcipherAdminStore::ListUsers(
    const UserListQuery& query) {
  if (Status s = CheckLimit(query.limit); !s) return Fail(s.error());
  if (Status s = CheckAfterUuid(query.after); !s) return Fail(s.error());
  if (query.site) {
    if (Status s = CheckUuid("site", *query.site); !s) return Fail(s.error());
  }
  State::ReaderLease lease(central_.state());
  Database& db = lease.db();
  std::string sql = std::string(kUserSelect) + "AND id > ?";
  if (query.site) sql += " AND site_id = ?";
  sql += " ORDER BY id LIMIT ?";
  auto stmt = db.Prepare(sql);
  if (!stmt) return Fail(stmt.error());
  Binder b(*stmt);
  b.Text(query.after);
  if (query.site) b.Text(*query.site);
  b.Int(query.limit + 1);
  if (Status s = b.status(); !s) return Fail(s.error());
  AdminUserPage page;
  if (Status s = ForEachRow(*stmt, [&](const Statement& row) {
        page.users.push_back(ReadAdminUser(row));
        return true;
      });
      !s) {
    return Fail(s.error());
  }
  page.next_after = TrimPage(page.users, query.limit);
  return page;
}

Result<AdminUser> SqlcipherAdminStore::GetUser(std::string_view id) {
  if (Status s = CheckUuid("user", id); !s) return Fail(s.error());
  State::ReaderLease lease(central_.state());
  auto stmt = lease.db().Prepare(std::string(kUserSelect) + "AND id = ?");
  if (!stmt) return Fail(stmt.error());
  if (Status s = stmt->BindText(1, id); !s) return Fail(s.error());
  auto found = stmt->Step();
  if (!found) return Fail(found.error());
  if (!*found) return Fail(ErrorCode::kNotFound, "user not found");
  return ReadAdminUser(*stmt);
}

Result<std::string> SqlcipherAdminStore::CreateUser(
    const engine::Principal& who, const AdminUserInput& user) {
  engine::UserInput in;
  in.username = user.username;
  in.full_name = user.full_name;
  in.role = std::string(engine::RoleName(user.role));
  if (user.site) {
    if (Status s = CheckUuid("user.site", *user.site); !s) {
      return Fail(s.error());
    }
    in.site = engine::Uuid::Parse(*user.site).value();
  }
  State& state = central_.state();
  std::lock_guard lock(state.writer_mutex);
  engine::ClinicReplica& r = *state.replica;
  if (user.site) {
    auto exists = SiteExists(r.database(), *user.site);
    if (!exists) return Fail(exists.error());
    if (!*exists) {
      return Fail(Invalid("user.site", "no such site").error());
    }
  }
  // Argon2id runs here, under the writer mutex: user creation is rare, and
  // the repository validates and hashes in one call.
  auto id = r.users().Create(who, in, user.password);
  if (!id) return Fail(id.error());
  if (Status s = state.DrainOutbox(); !s) return Fail(s.error());
  return *id;
}

Status SqlcipherAdminStore::UpdateUser(const engine::Principal& who,
                                       std::string_view id,
                                       const AdminUserChanges& changes) {
  if (Status s = CheckUuid("user", id); !s) return s;
  State& state = central_.state();
  std::lock_guard lock(state.writer_mutex);
  engine::ClinicReplica& r = *state.replica;
  const std::string user_id(id);
  engine::UserChanges c;
  c.full_name = changes.full_name;
  if (changes.role) c.role = std::string(engine::RoleName(*changes.role));
  c.active = changes.active;
  const bool fields = c.full_name || c.role || c.active;
  if (fields) {
    if (Status s = r.users().Update(who, user_id, c); !s) return s;
  }
  if (changes.password) {
    // A failure here leaves the field changes above committed (and
    // drained below); the caller reports the password error.
    Status s = r.users().SetPassword(who, user_id, *changes.password);
    if (!s) {
      if (fields) {
        if (Status d = state.DrainOutbox(); !d) return d;
      }
      return s;
    }
  }
  return state.DrainOutbox();
}

// --- Devices ---

Result<AdminDevicePage> SqlcipherAdminStore::ListDevices(
    const DeviceListQuery& query) {
  if (Status s = CheckLimit(query.limit); !s) return Fail(s.error());
  if (Status s = CheckAfterUuid(query.after); !s) return Fail(s.error());
  if (query.site) {
    if (Status s = CheckUuid("site", *query.site); !s) return Fail(s.error());
  }
  State::ReaderLease lease(central_.state());
  std::string sql =
      "SELECT id, site_id, serial, kind, model, firmware FROM devices "
      "WHERE deleted = 0 AND id > ?";
  if (query.site) sql += " AND site_id = ?";
  sql += " ORDER BY id LIMIT ?";
  auto stmt = lease.db().Prepare(sql);
  if (!stmt) return Fail(stmt.error());
  Binder b(*stmt);
  b.Text(query.after);
  if (query.site) b.Text(*query.site);
  b.Int(query.limit + 1);
  if (Status s = b.status(); !s) return Fail(s.error());
  AdminDevicePage page;
  if (Status s = ForEachRow(*stmt, [&](const Statement& row) {
        AdminDevice d;
        d.id = TextOr(row, 0);
        d.site_id = TextOr(row, 1);
        d.fields.serial = TextOr(row, 2);
        d.fields.kind = TextOr(row, 3);
        d.fields.model = TextOr(row, 4);
        d.fields.firmware = TextOr(row, 5);
        page.devices.push_back(std::move(d));
        return true;
      });
      !s) {
    return Fail(s.error());
  }
  page.next_after = TrimPage(page.devices, query.limit);
  return page;
}

Result<std::string> SqlcipherAdminStore::RegisterDevice(
    const engine::Principal& who, std::string_view site,
    const AdminDeviceInput& in) {
  if (Status s = CheckUuid("device.site", site); !s) return Fail(s.error());
  State& state = central_.state();
  std::lock_guard lock(state.writer_mutex);
  engine::ClinicReplica& r = *state.replica;
  auto exists = SiteExists(r.database(), site);
  if (!exists) return Fail(exists.error());
  if (!*exists) return Fail(Invalid("device.site", "no such site").error());
  // A repository bound to the device's site: the row is that site's, so
  // its clinics pull it (the replica's own devices() is the central site's).
  engine::DeviceRepository devices(r.database(), r.writer(), r.audit_log(),
                                   r.ids(), engine::Uuid::Parse(site).value());
  auto id = devices.Register(
      who, engine::DeviceInput{in.serial, in.kind, in.model, in.firmware});
  if (!id) return Fail(id.error());
  if (Status s = state.DrainOutbox(); !s) return Fail(s.error());
  return *id;
}

Status SqlcipherAdminStore::UpdateDevice(const engine::Principal& who,
                                         std::string_view id,
                                         const AdminDeviceChanges& changes) {
  if (Status s = CheckUuid("device", id); !s) return s;
  State& state = central_.state();
  std::lock_guard lock(state.writer_mutex);
  engine::ClinicReplica& r = *state.replica;
  engine::DeviceChanges c;
  c.serial = changes.serial;
  c.kind = changes.kind;
  c.model = changes.model;
  c.firmware = changes.firmware;
  if (Status s = r.devices().Update(who, std::string(id), c); !s) return s;
  return state.DrainOutbox();
}

}  // namespace pulse::sync_server
