#include "pulse/engine/patients.h"

#include <chrono>
#include <cstdio>

#include "row_reading.h"

namespace pulse::engine {
namespace {

constexpr std::size_t kMaxNameBytes = 100;
constexpr std::size_t kMaxAddressBytes = 500;

Status Invalid(std::string_view field, std::string_view why) {
  return Fail(ErrorCode::kInvalidArgument,
              "patient." + std::string(field) + ": " + std::string(why));
}

std::string Trim(std::string_view s) {
  const auto first = s.find_first_not_of(" \t");
  if (first == std::string_view::npos) return {};
  const auto last = s.find_last_not_of(" \t");
  return std::string(s.substr(first, last - first + 1));
}

Status CheckText(std::string_view field, std::string_view value,
                 std::size_t max_bytes, bool required, bool allow_newline) {
  if (required && Trim(value).empty()) return Invalid(field, "must not be empty");
  if (value.size() > max_bytes) {
    return Invalid(field, "longer than " + std::to_string(max_bytes) + " bytes");
  }
  if (!IsValidUtf8(value)) return Invalid(field, "not valid UTF-8");
  for (char c : value) {
    const auto u = static_cast<unsigned char>(c);
    if ((u < 0x20 && !(allow_newline && c == '\n')) || u == 0x7F) {
      return Invalid(field, "contains a control character");
    }
  }
  return OkStatus();
}

Status CheckCharset(std::string_view field, std::string_view value,
                    std::size_t max_chars, std::string_view allowed,
                    bool required) {
  if (value.empty()) {
    return required ? Invalid(field, "must not be empty") : OkStatus();
  }
  if (value.size() > max_chars) {
    return Invalid(field, "longer than " + std::to_string(max_chars) +
                              " characters");
  }
  for (char c : value) {
    const bool alnum = (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') ||
                       (c >= 'a' && c <= 'z');
    const bool ok = allowed.find(c) != std::string_view::npos ||
                    (alnum && allowed.find("alnum") != std::string_view::npos);
    if (!ok) return Invalid(field, "contains a character that is not allowed");
  }
  return OkStatus();
}

Status CheckBirthDate(std::string_view value, Clock& wall) {
  int y = 0, m = 0, d = 0;
  char tail = 0;
  if (value.size() != 10 ||
      std::sscanf(std::string(value).c_str(), "%4d-%2d-%2d%c", &y, &m, &d,
                  &tail) != 3 ||
      value[4] != '-' || value[7] != '-') {
    return Invalid("birth_date", "must be YYYY-MM-DD");
  }
  using namespace std::chrono;
  const year_month_day date{year{y}, month{static_cast<unsigned>(m)},
                            day{static_cast<unsigned>(d)}};
  if (!date.ok()) return Invalid("birth_date", "is not a calendar date");
  if (date < year_month_day{year{1900}, January, day{1}}) {
    return Invalid("birth_date", "is before 1900");
  }
  const auto today = year_month_day{floor<days>(wall.Now())};
  if (date > today) return Invalid("birth_date", "is in the future");
  return OkStatus();
}

constexpr std::string_view kColumns[] = {"mrn",        "given_name", "family_name",
                                         "birth_date", "sex",        "phone",
                                         "address"};

std::string* FieldOf(PatientInput& in, std::string_view column) {
  if (column == "mrn") return &in.mrn;
  if (column == "given_name") return &in.given_name;
  if (column == "family_name") return &in.family_name;
  if (column == "birth_date") return &in.birth_date;
  if (column == "sex") return &in.sex;
  if (column == "phone") return &in.phone;
  return &in.address;
}

}  // namespace

Status ValidatePatient(const PatientInput& in, Clock& wall) {
  if (Status s = CheckCharset("mrn", in.mrn, 32, "alnum-/.", true); !s) return s;
  if (Status s = CheckText("given_name", in.given_name, kMaxNameBytes, true, false); !s) return s;
  if (Status s = CheckText("family_name", in.family_name, kMaxNameBytes, true, false); !s) return s;
  if (Status s = CheckBirthDate(in.birth_date, wall); !s) return s;
  if (in.sex != "F" && in.sex != "M" && in.sex != "X" && in.sex != "U") {
    return Invalid("sex", "must be F, M, X or U");
  }
  if (Status s = CheckCharset("phone", in.phone, 32, "0123456789 +()-", false); !s) return s;
  return CheckText("address", in.address, kMaxAddressBytes, false, true);
}

PatientRepository::PatientRepository(Database& db, LocalWriter& writer,
                                     AuditLog& audit, Clock& wall,
                                     UuidV7Generator& ids, Uuid site)
    : db_(db), writer_(writer), audit_(audit), wall_(wall), ids_(ids),
      site_(site) {}

Result<std::optional<Patient>> PatientRepository::Load(const std::string& id) {
  auto stmt = db_.Prepare(
      "SELECT site_id, mrn, given_name, family_name, birth_date, sex, phone, "
      "address FROM patients WHERE id = ? AND deleted = 0");
  if (!stmt) return Fail(stmt.error());
  if (Status s = stmt->BindText(1, id); !s) return Fail(s.error());
  auto found = stmt->Step();
  if (!found) return Fail(found.error());
  if (!*found) return std::optional<Patient>();
  Patient p;
  p.id = id;
  // Rows also arrive through sync: a NULL or non-text value (a damaged or
  // foreign row) reads as "" rather than throwing across the engine API.
  auto text = [&](int column) {
    return internal::TextOrNone(*stmt, column).value_or(std::string());
  };
  p.site_id = text(0);
  for (int c = 0; c < 7; ++c) *FieldOf(p.fields, kColumns[c]) = text(c + 1);
  return std::optional<Patient>(std::move(p));
}

Result<Patient> PatientRepository::LoadAuthorized(const Principal& who,
                                                  const std::string& id,
                                                  Action action) {
  auto current = Load(id);
  if (!current) return Fail(current.error());
  if (!current->has_value()) {
    return Fail(ErrorCode::kNotFound, "patient not found");
  }
  auto row_site = Uuid::Parse((*current)->site_id);
  const Decision decision =
      Authorize(who, action, Resource::kPatients,
                row_site ? std::optional<SiteId>(*row_site) : std::nullopt);
  if (!decision) {
    return Fail(AuditDenial(writer_, audit_,
                            {.actor = &who,
                             .object_type = "patients",
                             .object_id = id,
                             .patient = id},
                            decision.reason)
                    .error());
  }
  return std::move(**current);
}

Result<std::string> PatientRepository::Register(const Principal& who,
                                                const PatientInput& in) {
  const Decision decision =
      Authorize(who, Action::kCreate, Resource::kPatients, site_);
  if (!decision) {
    return Fail(AuditDenial(writer_, audit_,
                            {.actor = &who, .object_type = "patients"},
                            decision.reason)
                    .error());
  }
  if (Status s = ValidatePatient(in, wall_); !s) return Fail(s.error());
  RowWrite write;
  write.table = "patients";
  write.row = ids_.Next().ToString();
  write.fields["site_id"] = site_.ToString();
  PatientInput copy = in;
  for (std::string_view column : kColumns) {
    write.fields[std::string(column)] = *FieldOf(copy, column);
  }
  const std::string id = write.row;
  std::vector<RowWrite> writes;
  writes.push_back(std::move(write));
  if (Status s = CommitAudited(writer_, audit_,
                               {&who, AuditAction::kCreate, "patients", id, id},
                               std::move(writes));
      !s) {
    return Fail(s.error());
  }
  return id;
}

Status PatientRepository::Update(const Principal& who, const std::string& id,
                                 const PatientChanges& changes) {
  auto current = LoadAuthorized(who, id, Action::kUpdate);
  if (!current) return Fail(current.error());
  PatientInput merged = current->fields;
  const std::optional<std::string>* requested[] = {
      &changes.mrn,        &changes.given_name, &changes.family_name,
      &changes.birth_date, &changes.sex,        &changes.phone,
      &changes.address};
  RowWrite write;
  write.table = "patients";
  write.row = id;
  for (std::size_t c = 0; c < 7; ++c) {
    if (!requested[c]->has_value()) continue;
    *FieldOf(merged, kColumns[c]) = **requested[c];
    write.fields[std::string(kColumns[c])] = **requested[c];
  }
  if (write.fields.empty()) return OkStatus();
  if (Status s = ValidatePatient(merged, wall_); !s) return s;
  std::vector<RowWrite> writes;
  writes.push_back(std::move(write));
  return CommitAudited(writer_, audit_,
                       {&who, AuditAction::kUpdate, "patients", id, id},
                       std::move(writes));
}

Status PatientRepository::Remove(const Principal& who, const std::string& id) {
  auto current = LoadAuthorized(who, id, Action::kDelete);
  if (!current) return Fail(current.error());
  std::vector<RowWrite> writes;
  writes.push_back(RowWrite{"patients", id, Op::kDelete, {}});
  return CommitAudited(writer_, audit_,
                       {&who, AuditAction::kDelete, "patients", id, id},
                       std::move(writes));
}

Result<Patient> PatientRepository::Get(const Principal& who,
                                       const std::string& id) {
  auto current = LoadAuthorized(who, id, Action::kRead);
  if (!current) return Fail(current.error());
  if (Status s = CommitAudited(
          writer_, audit_, {&who, AuditAction::kView, "patients", id, id}, {});
      !s) {
    return Fail(s.error());
  }
  return current;
}

Result<std::vector<Patient>> PatientRepository::Search(
    const Principal& who, const PatientQuery& query) {
  if (query.limit < 1 || query.limit > 200) {
    return Fail(ErrorCode::kInvalidArgument,
                "PatientQuery.limit must be within 1..200");
  }
  // Reading at any site is a wider grant than reading at one's own: ask for
  // the widest the caller has.
  const bool any_site =
      PermissionScope(who.role, Resource::kPatients, Action::kRead) ==
      Scope::kAnySite;
  const Decision decision = Authorize(
      who, Action::kRead, Resource::kPatients,
      any_site ? std::optional<SiteId>() : std::optional<SiteId>(site_));
  if (!decision) {
    return Fail(AuditDenial(writer_, audit_,
                            {.actor = &who, .object_type = "patients"},
                            decision.reason)
                    .error());
  }
  std::string sql =
      "SELECT id FROM patients WHERE deleted = 0 "
      "AND (?1 = '' OR mrn = ?1 OR family_name LIKE ?2 ESCAPE '\\' OR "
      "given_name LIKE ?2 ESCAPE '\\') AND (?3 = '' OR birth_date = ?3)";
  if (!any_site) sql += " AND site_id = ?4";
  sql += " ORDER BY family_name, given_name, id LIMIT ?5";
  auto stmt = db_.Prepare(sql);
  if (!stmt) return Fail(stmt.error());
  std::string pattern;
  for (char c : query.text) {
    if (c == '%' || c == '_' || c == '\\') pattern.push_back('\\');
    pattern.push_back(c);
  }
  pattern.push_back('%');
  Status s = stmt->BindText(1, query.text);
  if (s) s = stmt->BindText(2, pattern);
  if (s) s = stmt->BindText(3, query.birth_date);
  if (s && !any_site) s = stmt->BindText(4, site_.ToString());
  if (s) s = stmt->BindInt64(5, query.limit);
  if (!s) return Fail(s.error());
  std::vector<std::string> ids;
  for (;;) {
    auto more = stmt->Step();
    if (!more) return Fail(more.error());
    if (!*more) break;
    auto id = internal::TextOrNone(*stmt, 0);
    if (id) ids.push_back(std::move(*id));
  }
  std::vector<Patient> found;
  for (const std::string& id : ids) {
    auto patient = Load(id);
    if (!patient) return Fail(patient.error());
    if (!patient->has_value()) continue;
    // Each patient shown is a patient seen: audited one by one.
    if (Status w =
            CommitAudited(writer_, audit_,
                          {&who, AuditAction::kView, "patients", id, id}, {});
        !w) {
      return Fail(w.error());
    }
    found.push_back(std::move(**patient));
  }
  return found;
}

}  // namespace pulse::engine
