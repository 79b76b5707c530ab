// Users of a replica (DESIGN.md §3, §6; docs/security.md §1, §3): the
// accounts that sign in, their roles and sites, and offline sign-in over
// them.
//
//  - UserRepository: create, edit, (de)activate and re-password accounts,
//    and read them back. Every call is checked against the permission
//    matrix (users: the admin writes, staff read their own site, the
//    auditor reads all), validated (bad values are kInvalidArgument naming
//    the field, and nothing is written), written through LocalWriter with
//    its audit event in the same Commit, and refused attempts are audited
//    as permission_denied. Reads are not audited: a user row is not patient
//    data.
//  - ReplicaUserDirectory: the auth.h UserDirectory over the replica's
//    `users` table, so OfflineAuthenticator can check passwords with no
//    network.
//  - SignIn: OfflineAuthenticator plus the audit trail of every attempt
//    (login / login_failed) and of logout.
//
// Secrets: the clear password is hashed (Argon2id, password.h) and dropped;
// it is never stored, returned, logged or put in an error. Stored hashes
// are never returned by a read and never appear in errors or audit events.
//
// Thread-safety: like the Database they sit on, UserRepository,
// ReplicaUserDirectory and SignIn are used by one thread at a time (the
// engine's worker). An OfflineAuthenticator shared with other threads must
// then be given a directory on its own connection.
#ifndef PULSE_ENGINE_USERS_H_
#define PULSE_ENGINE_USERS_H_

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "pulse/base/result.h"
#include "pulse/engine/audit_log.h"
#include "pulse/engine/auth.h"
#include "pulse/engine/database.h"
#include "pulse/engine/local_writer.h"
#include "pulse/engine/password.h"
#include "pulse/engine/permissions.h"
#include "pulse/engine/uuid.h"

namespace pulse::engine {

// Field rules (checked on every write):
//  username   3–32 characters of [a-z0-9._-], starting with a letter.
//             Lower case only, so that one name cannot exist in two cases
//             (ReplicaUserDirectory folds what is typed to lower case);
//             unique among live users of this replica (kAlreadyExists).
//  full_name  1–100 bytes of UTF-8 after trimming, no control characters
//  role       "admin", "clinician", "technician" or "auditor" (RoleName)
//  site       none for admin and auditor (central staff); required for
//             clinician and technician (docs/security.md §1)
//  password   CheckPasswordPolicy (password.h) for this username
struct UserInput {
  std::string username;
  std::string full_name;
  std::string role;
  std::optional<SiteId> site;
};

// Fields to change; unset ones stay as they are. The username and site of
// an account are fixed once created (audit events and rows refer to the
// user by id; moving staff between sites is a new account).
struct UserChanges {
  std::optional<std::string> full_name;
  std::optional<std::string> role;
  std::optional<bool> active;
};

// A user as reads return it: never the password hash.
struct User {
  std::string id;
  std::optional<std::string> site_id;  // nullopt for central staff
  std::string username;
  std::string full_name;
  std::string role;  // as stored; a newer build may know more roles
  bool active = false;
};

struct UserRepositoryOptions {
  // Cost of new hashes. Tests pass kTestPasswordHashCost.
  PasswordHashCost hash_cost;
  PasswordPolicy policy;
};

class UserRepository {
 public:
  // All references must outlive the repository.
  UserRepository(Database& db, LocalWriter& writer, AuditLog& audit,
                 UuidV7Generator& ids, UserRepositoryOptions options = {});

  // Creates an active account with `password` (hashed here). Returns the
  // new user's id. kPermissionDenied (audited) unless the matrix lets
  // `who` create users at `in.site`; kInvalidArgument naming the field
  // ("user.username", "user.password", ...); kAlreadyExists if a live user
  // has the username; kIoError if Argon2 cannot get its memory.
  Result<std::string> Create(const Principal& who, const UserInput& in,
                             std::string_view password);

  // Changes full name, role or active flag. kNotFound for an unknown or
  // deleted user; kPermissionDenied (audited); kInvalidArgument naming the
  // field — including a role that does not fit the account's site, and an
  // admin demoting or deactivating their own account (which could leave a
  // site with no one able to manage users).
  Status Update(const Principal& who, const std::string& id,
                const UserChanges& changes);

  // Replaces the password (the admin's reset; users changing their own
  // password is not in the matrix yet). Errors as Update, and
  // kInvalidArgument "user.password: <rule>" for a password the policy
  // refuses.
  Status SetPassword(const Principal& who, const std::string& id,
                     std::string_view password);

  // kNotFound for an unknown or deleted user; kPermissionDenied (audited).
  Result<User> Get(const Principal& who, const std::string& id);

  // Live users of `site` (nullopt: every user, a cross-site read only
  // any-site roles may do), ordered by username then id.
  // kPermissionDenied (audited).
  Result<std::vector<User>> List(const Principal& who,
                                 const std::optional<SiteId>& site);

 private:
  Result<std::optional<User>> Load(const std::string& id);
  Result<User> LoadAuthorized(const Principal& who, const std::string& id,
                              Action action);
  Result<bool> UsernameTaken(const std::string& username);

  Database& db_;
  LocalWriter& writer_;
  AuditLog& audit_;
  UuidV7Generator& ids_;
  UserRepositoryOptions options_;
};

// The rules above for UserInput (not the password, not uniqueness), for
// callers that validate before asking (UI forms). kInvalidArgument naming
// the field.
Status ValidateUser(const UserInput& in);

// The auth.h directory over the replica's `users` table.
//
// Lookup: what was typed is folded to ASCII lower case (usernames are
// stored lower case), then matched exactly among rows not deleted. Rows
// reach a clinic through sync, so two live rows may share a username (two
// admins created the same name offline on different replicas). Such a
// name is ambiguous and signs in nobody: it is answered as unknown
// (nullopt) — the same answer and the same Argon2 work as a name that does
// not exist, so nothing leaks — until an admin removes or renames one of
// the accounts. Picking one of them could sign a person in with another
// person's role.
//
// A matching row whose id, role or site cannot be read (a newer build's
// role, a damaged row) is kCorruption naming the column, never the
// username or hash.
class ReplicaUserDirectory final : public UserDirectory {
 public:
  // REQUIRES: `db` (a migrated clinic replica) outlives the directory.
  explicit ReplicaUserDirectory(Database& db);

  Result<std::optional<UserRecord>> FindUserByUsername(
      std::string_view username) override;

 private:
  Database& db_;
};

// What the login screen may show after an attempt.
struct SignInResult {
  LoginResult result = LoginResult::kInvalidCredentials;
  std::optional<Principal> principal;  // set on success
  std::chrono::seconds retry_after{0};  // for kLockedOut
  bool ok() const { return result == LoginResult::kSuccess; }
};

// Sign-in with its audit trail (DESIGN.md §6): every attempt appends one
// chained audit event — `login` (outcome ok) on success, `login_failed`
// (outcome denied) otherwise, and `login_failed` (outcome error) when the
// lookup itself failed. The actor is the account's user id (with its role)
// whenever the name matched an account, and absent for unknown names; the
// object is the account (users, its id). The typed username, the password
// and the failure reason never enter the event (the reason would tell
// unknown names from wrong passwords to anyone reading the log export).
class SignIn {
 public:
  // `directory` is the one `authenticator` reads (used again to find the
  // role of a known account after a failure). All references must outlive
  // this object.
  SignIn(OfflineAuthenticator& authenticator, UserDirectory& directory,
         LocalWriter& writer, AuditLog& audit);

  // Checks the password and audits the attempt. Returns the result for the
  // login prompt; an error only if the directory or the audit write
  // failed (a lookup failure is still audited if the store allows).
  Result<SignInResult> Login(std::string_view username,
                             std::string_view password);

  // Audits `who` signing out.
  Status Logout(const Principal& who);

 private:
  Status Audit(const Principal* actor, AuditAction action,
               AuditOutcome outcome);

  OfflineAuthenticator& authenticator_;
  UserDirectory& directory_;
  LocalWriter& writer_;
  AuditLog& audit_;
};

}  // namespace pulse::engine

#endif  // PULSE_ENGINE_USERS_H_
