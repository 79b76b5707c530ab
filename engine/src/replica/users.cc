#include "pulse/engine/users.h"

#include <utility>

#include "pulse/engine/change.h"

namespace pulse::engine {
namespace {

constexpr std::size_t kMinUsernameChars = 3;
constexpr std::size_t kMaxUsernameChars = 32;
constexpr std::size_t kMaxFullNameBytes = 100;
// Longest typed username the directory looks up; anything longer matches
// no account (usernames are at most kMaxUsernameChars) and is not bound.
constexpr std::size_t kMaxLookupBytes = 256;

Status Invalid(std::string_view field, std::string_view why) {
  return Fail(ErrorCode::kInvalidArgument,
              "user." + std::string(field) + ": " + std::string(why));
}

std::string Trim(std::string_view s) {
  const auto first = s.find_first_not_of(" \t");
  if (first == std::string_view::npos) return {};
  const auto last = s.find_last_not_of(" \t");
  return std::string(s.substr(first, last - first + 1));
}

Status CheckUsername(std::string_view name) {
  if (name.size() < kMinUsernameChars || name.size() > kMaxUsernameChars) {
    return Invalid("username", "must be 3 to 32 characters");
  }
  if (name[0] < 'a' || name[0] > 'z') {
    return Invalid("username", "must start with a lower-case letter");
  }
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-';
    if (!ok) {
      return Invalid("username",
                     "may contain only a-z, 0-9 and the characters . _ -");
    }
  }
  return OkStatus();
}

Status CheckFullName(std::string_view value) {
  if (Trim(value).empty()) return Invalid("full_name", "must not be empty");
  if (value.size() > kMaxFullNameBytes) {
    return Invalid("full_name", "longer than 100 bytes");
  }
  if (!IsValidUtf8(value)) return Invalid("full_name", "not valid UTF-8");
  for (char c : value) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7F) {
      return Invalid("full_name", "contains a control character");
    }
  }
  return OkStatus();
}

bool IsCentral(Role role) {
  return role == Role::kAdmin || role == Role::kAuditor;
}

// Central staff have no site; clinic staff have exactly one.
Status CheckRoleAndSite(std::string_view role_text, bool has_site) {
  auto role = ParseRole(role_text);
  if (!role) {
    return Invalid("role", "must be admin, clinician, technician or auditor");
  }
  if (IsCentral(*role) && has_site) {
    return Invalid("role", "admin and auditor accounts have no site");
  }
  if (!IsCentral(*role) && !has_site) {
    return Invalid("site", "clinician and technician accounts need a site");
  }
  return OkStatus();
}

// A nullable text column: NULL is nullopt; another storage class is a
// damaged row, named by column (never by value).
Result<std::optional<std::string>> OptionalText(const Statement& stmt,
                                                int column,
                                                std::string_view name) {
  if (stmt.IsNull(column)) return std::optional<std::string>();
  auto text = stmt.ColumnText(column);
  if (!text) {
    return Fail(ErrorCode::kCorruption,
                "users." + std::string(name) + ": not text");
  }
  return std::optional<std::string>(std::string(*text));
}

// `active` is 1 for an active account; anything else (0, NULL, a value of
// another type from a damaged row) reads as inactive: fail closed.
bool ReadActive(const Statement& stmt, int column) {
  if (stmt.GetColumnType(column) != ColumnType::kInteger) return false;
  auto value = stmt.ColumnInt64(column);
  return value.has_value() && *value == 1;
}

std::string FoldAsciiLower(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

FieldValue SiteValue(const std::optional<SiteId>& site) {
  if (!site) return nullptr;
  return site->ToString();
}

std::optional<SiteId> ParseSite(const std::optional<std::string>& text) {
  if (!text) return std::nullopt;
  auto site = Uuid::Parse(*text);
  if (!site) return std::nullopt;
  return *site;
}

}  // namespace

Status ValidateUser(const UserInput& in) {
  if (Status s = CheckUsername(in.username); !s) return s;
  if (Status s = CheckFullName(in.full_name); !s) return s;
  return CheckRoleAndSite(in.role, in.site.has_value());
}

// --- UserRepository ---

UserRepository::UserRepository(Database& db, LocalWriter& writer,
                               AuditLog& audit, UuidV7Generator& ids,
                               UserRepositoryOptions options)
    : db_(db), writer_(writer), audit_(audit), ids_(ids),
      options_(std::move(options)) {}

Result<std::optional<User>> UserRepository::Load(const std::string& id) {
  auto stmt = db_.Prepare(
      "SELECT site_id, username, full_name, role, active FROM users "
      "WHERE id = ? AND deleted = 0");
  if (!stmt) return Fail(stmt.error());
  if (Status s = stmt->BindText(1, id); !s) return Fail(s.error());
  auto found = stmt->Step();
  if (!found) return Fail(found.error());
  if (!*found) return std::optional<User>();
  User user;
  user.id = id;
  auto site = OptionalText(*stmt, 0, "site_id");
  if (!site) return Fail(site.error());
  user.site_id = std::move(*site);
  std::string* texts[] = {&user.username, &user.full_name, &user.role};
  const char* names[] = {"username", "full_name", "role"};
  for (int c = 0; c < 3; ++c) {
    auto text = OptionalText(*stmt, c + 1, names[c]);
    if (!text) return Fail(text.error());
    *texts[c] = text->value_or("");
  }
  user.active = ReadActive(*stmt, 4);
  return std::optional<User>(std::move(user));
}

Result<User> UserRepository::LoadAuthorized(const Principal& who,
                                            const std::string& id,
                                            Action action) {
  auto current = Load(id);
  if (!current) return Fail(current.error());
  if (!current->has_value()) return Fail(ErrorCode::kNotFound, "user not found");
  const Decision decision = Authorize(who, action, Resource::kUsers,
                                      ParseSite((*current)->site_id));
  if (!decision) {
    return Fail(
        AuditDenial(writer_, audit_,
                    {.actor = &who, .object_type = "users", .object_id = id},
                    decision.reason)
            .error());
  }
  return std::move(**current);
}

Result<bool> UserRepository::UsernameTaken(const std::string& username) {
  auto stmt = db_.Prepare(
      "SELECT 1 FROM users WHERE username = ? AND deleted = 0 LIMIT 1");
  if (!stmt) return Fail(stmt.error());
  if (Status s = stmt->BindText(1, username); !s) return Fail(s.error());
  return stmt->Step();
}

Result<std::string> UserRepository::Create(const Principal& who,
                                           const UserInput& in,
                                           std::string_view password) {
  const Decision decision =
      Authorize(who, Action::kCreate, Resource::kUsers, in.site);
  if (!decision) {
    return Fail(AuditDenial(writer_, audit_,
                            {.actor = &who, .object_type = "users"},
                            decision.reason)
                    .error());
  }
  if (Status s = ValidateUser(in); !s) return Fail(s.error());
  if (Status s = CheckPasswordPolicy(in.username, password, options_.policy);
      !s) {
    return Fail(s.error().WithContext("user.password"));
  }
  auto taken = UsernameTaken(in.username);
  if (!taken) return Fail(taken.error());
  if (*taken) {
    return Fail(ErrorCode::kAlreadyExists, "user.username: already taken");
  }
  auto hash = HashPassword(password, options_.hash_cost);
  if (!hash) return Fail(hash.error().WithContext("user.password"));

  RowWrite write;
  write.table = "users";
  write.row = ids_.Next().ToString();
  write.fields = {
      {"site_id", SiteValue(in.site)},
      {"username", in.username},
      {"full_name", in.full_name},
      {"role", in.role},
      {"password_hash", std::move(*hash)},
      {"active", std::int64_t{1}},
  };
  const std::string id = write.row;
  std::vector<RowWrite> writes;
  writes.push_back(std::move(write));
  if (Status s = CommitAudited(writer_, audit_,
                               {&who, AuditAction::kCreate, "users", id},
                               std::move(writes));
      !s) {
    return Fail(s.error());
  }
  return id;
}

Status UserRepository::Update(const Principal& who, const std::string& id,
                              const UserChanges& changes) {
  auto current = LoadAuthorized(who, id, Action::kUpdate);
  if (!current) return Fail(current.error());
  RowWrite write;
  write.table = "users";
  write.row = id;
  if (changes.full_name) {
    if (Status s = CheckFullName(*changes.full_name); !s) return s;
    write.fields["full_name"] = *changes.full_name;
  }
  if (changes.role) {
    if (Status s = CheckRoleAndSite(*changes.role, current->site_id.has_value());
        !s) {
      return s;
    }
    write.fields["role"] = *changes.role;
  }
  if (changes.active) {
    write.fields["active"] = std::int64_t{*changes.active ? 1 : 0};
  }
  if (write.fields.empty()) return OkStatus();
  // An admin who demotes or deactivates their own account may leave no one
  // able to manage users; another admin must do it.
  if (who.user_id.ToString() == id) {
    if (changes.role && *changes.role != current->role) {
      return Invalid("role", "an admin cannot change their own role");
    }
    if (changes.active && !*changes.active) {
      return Invalid("active", "an admin cannot deactivate their own account");
    }
  }
  std::vector<RowWrite> writes;
  writes.push_back(std::move(write));
  return CommitAudited(writer_, audit_,
                       {&who, AuditAction::kUpdate, "users", id},
                       std::move(writes));
}

Status UserRepository::SetPassword(const Principal& who, const std::string& id,
                                   std::string_view password) {
  auto current = LoadAuthorized(who, id, Action::kUpdate);
  if (!current) return Fail(current.error());
  if (Status s = CheckPasswordPolicy(current->username, password,
                                     options_.policy);
      !s) {
    return Fail(s.error().WithContext("user.password"));
  }
  auto hash = HashPassword(password, options_.hash_cost);
  if (!hash) return Fail(hash.error().WithContext("user.password"));
  std::vector<RowWrite> writes;
  writes.push_back(
      RowWrite{"users", id, Op::kUpsert, {{"password_hash", std::move(*hash)}}});
  return CommitAudited(writer_, audit_,
                       {&who, AuditAction::kUpdate, "users", id},
                       std::move(writes));
}

Result<User> UserRepository::Get(const Principal& who, const std::string& id) {
  return LoadAuthorized(who, id, Action::kRead);
}

Result<std::vector<User>> UserRepository::List(
    const Principal& who, const std::optional<SiteId>& site) {
  const Decision decision = Authorize(who, Action::kRead, Resource::kUsers, site);
  if (!decision) {
    return Fail(AuditDenial(writer_, audit_,
                            {.actor = &who, .object_type = "users"},
                            decision.reason)
                    .error());
  }
  std::string sql = "SELECT id FROM users WHERE deleted = 0";
  if (site) sql += " AND site_id = ?1";
  sql += " ORDER BY username, id";
  auto stmt = db_.Prepare(sql);
  if (!stmt) return Fail(stmt.error());
  if (site) {
    if (Status s = stmt->BindText(1, site->ToString()); !s) return Fail(s.error());
  }
  std::vector<std::string> ids;
  for (;;) {
    auto more = stmt->Step();
    if (!more) return Fail(more.error());
    if (!*more) break;
    auto id = stmt->ColumnText(0);
    if (!id) return Fail(id.error());
    ids.emplace_back(*id);
  }
  std::vector<User> users;
  users.reserve(ids.size());
  for (const std::string& id : ids) {
    auto user = Load(id);
    if (!user) return Fail(user.error());
    if (user->has_value()) users.push_back(std::move(**user));
  }
  return users;
}

// --- ReplicaUserDirectory ---

ReplicaUserDirectory::ReplicaUserDirectory(Database& db) : db_(db) {}

Result<std::optional<UserRecord>> ReplicaUserDirectory::FindUserByUsername(
    std::string_view username) {
  // Text that no stored username can equal is not looked up (and bytes
  // that are not UTF-8 may not be bound).
  if (username.empty() || username.size() > kMaxLookupBytes ||
      !IsValidUtf8(username)) {
    return std::optional<UserRecord>();
  }
  auto stmt = db_.Prepare(
      "SELECT id, site_id, role, active, password_hash FROM users "
      "WHERE username = ? AND deleted = 0 ORDER BY id LIMIT 2");
  if (!stmt) return Fail(stmt.error());
  if (Status s = stmt->BindText(1, FoldAsciiLower(username)); !s) {
    return Fail(s.error());
  }
  auto found = stmt->Step();
  if (!found) return Fail(found.error());
  if (!*found) return std::optional<UserRecord>();

  UserRecord record;
  auto id_text = OptionalText(*stmt, 0, "id");
  if (!id_text) return Fail(id_text.error());
  auto id = Uuid::Parse(id_text->value_or(""));
  if (!id) return Fail(ErrorCode::kCorruption, "users.id: not a UUID");
  record.user_id = *id;
  auto site_text = OptionalText(*stmt, 1, "site_id");
  if (!site_text) return Fail(site_text.error());
  if (site_text->has_value()) {
    auto site = Uuid::Parse(**site_text);
    if (!site) return Fail(ErrorCode::kCorruption, "users.site_id: not a UUID");
    record.site = *site;
  }
  auto role_text = OptionalText(*stmt, 2, "role");
  if (!role_text) return Fail(role_text.error());
  auto role = ParseRole(role_text->value_or(""));
  if (!role) return Fail(ErrorCode::kCorruption, "users.role: unknown role");
  record.role = *role;
  record.active = ReadActive(*stmt, 3);
  // A NULL or non-text hash is kept empty: VerifyPassword then refuses it
  // as malformed (reason bad_stored_hash), after the same Argon2 work.
  if (!stmt->IsNull(4)) {
    auto hash = stmt->ColumnText(4);
    if (hash) record.password_hash = std::string(*hash);
  }

  auto second = stmt->Step();
  if (!second) return Fail(second.error());
  if (*second) return std::optional<UserRecord>();  // ambiguous: see header
  return std::optional<UserRecord>(std::move(record));
}

// --- SignIn ---

SignIn::SignIn(OfflineAuthenticator& authenticator, UserDirectory& directory,
               LocalWriter& writer, AuditLog& audit)
    : authenticator_(authenticator), directory_(directory), writer_(writer),
      audit_(audit) {}

Status SignIn::Audit(const Principal* actor, AuditAction action,
                     AuditOutcome outcome) {
  std::optional<std::string> object;
  if (actor != nullptr) object = actor->user_id.ToString();
  return CommitAudited(
      writer_, audit_,
      AuditFact{actor, action, "users", object, std::nullopt, outcome}, {});
}

Result<SignInResult> SignIn::Login(std::string_view username,
                                   std::string_view password) {
  auto outcome = authenticator_.Authenticate(username, password);
  if (!outcome) {
    // The attempt still happened: record it if the store lets us. The
    // lookup's error is the one worth returning.
    (void)Audit(nullptr, AuditAction::kLoginFailed, AuditOutcome::kError);
    return Fail(outcome.error());
  }
  SignInResult result;
  result.result = outcome->result;
  result.retry_after = outcome->retry_after;
  if (outcome->ok()) {
    // No session without its audit record.
    if (Status s = Audit(&*outcome->principal, AuditAction::kLogin,
                         AuditOutcome::kOk);
        !s) {
      return Fail(s.error());
    }
    result.principal = outcome->principal;
    return result;
  }
  // A known account is the actor of its failed attempt; the event needs
  // its role too, which the outcome does not carry.
  std::optional<Principal> actor;
  if (outcome->user_id) {
    auto record = directory_.FindUserByUsername(username);
    if (record && record->has_value() &&
        (*record)->user_id == *outcome->user_id) {
      actor = Principal{(*record)->user_id, (*record)->role, (*record)->site};
    }
  }
  if (Status s = Audit(actor ? &*actor : nullptr, AuditAction::kLoginFailed,
                       AuditOutcome::kDenied);
      !s) {
    return Fail(s.error());
  }
  return result;
}

Status SignIn::Logout(const Principal& who) {
  return Audit(&who, AuditAction::kLogout, AuditOutcome::kOk);
}

}  // namespace pulse::engine
