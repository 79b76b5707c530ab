// Offline sign-in (DESIGN.md §1, §6): a clinic PC with no network checks a
// username and password against the Argon2id hashes synced into its
// replica's `users` table. The sync server uses the same authenticator for
// POST /api/v1/auth/login, with its own per-address limit on top.
//
// Guarantees (docs/security.md §3):
// - An unknown username and a wrong password give the same LoginResult, and
//   both run one Argon2id verification (unknown users are checked against a
//   dummy hash made at start-up with the configured cost), so neither the
//   answer nor its timing says whether the account exists. Timing matches
//   as long as stored hashes use the configured cost; NeedsRehash reports
//   the ones that do not.
// - An inactive account is refused — and said to be inactive only to
//   someone who gave its correct password; a wrong password for it is an
//   ordinary kInvalidCredentials.
// - Per-username lockout: after max_failures consecutive failures the name
//   is locked for initial_lockout, doubling with each further failure up to
//   max_lockout. Attempts while locked do no Argon2 work and do not count.
//   Unknown usernames are tracked like real ones (so lockout does not reveal
//   existence). A success clears the count; so does reset_after with no
//   failure. The state lives in this object's memory only: a restart or a
//   second server instance starts from zero (DESIGN.md §12 — per-instance
//   state is an optimisation that may be lost), and at most
//   max_tracked_usernames names are remembered.
// - The outcome carries what the caller needs for the audit event (action
//   "login" or "login_failed", a reason code, the user id when the name
//   is known); it never carries the password, and nothing here logs.
//
// Thread-safety: Authenticate() may be called from many threads at once;
// the Argon2 work runs outside the lock. The UserDirectory and Clock must
// be thread-safe if used so.
#ifndef PULSE_ENGINE_AUTH_H_
#define PULSE_ENGINE_AUTH_H_

#include <chrono>
#include <cstddef>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "pulse/base/result.h"
#include "pulse/engine/clock.h"
#include "pulse/engine/password.h"
#include "pulse/engine/permissions.h"

namespace pulse::engine {

// One row of `users`, as the authenticator needs it.
struct UserRecord {
  UserId user_id;
  Role role = Role::kAuditor;
  std::optional<SiteId> site;  // nullopt for central staff
  bool active = false;
  std::string password_hash;  // encoded Argon2id (password.h)
};

// Where the authenticator finds users. Owned by this module; the clinic
// repository and the server's store implement it.
class UserDirectory {
 public:
  virtual ~UserDirectory() = default;
  // The user named exactly `username` (the directory decides case rules),
  // std::nullopt if there is none, or an error if the lookup itself failed
  // (the database is unreadable): that error is passed to the caller.
  virtual Result<std::optional<UserRecord>> FindUserByUsername(
      std::string_view username) = 0;
};

struct AuthenticatorOptions {
  // Null means SystemClock(). Must outlive the authenticator.
  Clock* clock = nullptr;
  // The cost new hashes are made with: used for the dummy hash and for
  // LoginOutcome::needs_rehash. Tests pass kTestPasswordHashCost.
  PasswordHashCost hash_cost;
  // Consecutive failures before the first lockout. >= 1.
  int max_failures = 5;
  // First lockout; each further failure doubles it, up to max_lockout.
  std::chrono::seconds initial_lockout{30};
  std::chrono::seconds max_lockout{15 * 60};
  // A name with no failure for this long starts again from zero.
  std::chrono::seconds reset_after{60 * 60};
  // Bound on remembered names; beyond it, unlocked then oldest are dropped.
  std::size_t max_tracked_usernames = 10000;
};

// What the person at the keyboard may be told. Stable values.
enum class LoginResult {
  kSuccess = 0,
  kInvalidCredentials = 1,  // unknown user or wrong password: one message
  kAccountDisabled = 2,     // correct password, inactive account
  kLockedOut = 3,           // too many failures; retry after retry_after
};

// Why, for the audit event only (never shown at the login prompt, since it
// tells unknown users from wrong passwords). Stable values.
enum class LoginFailureReason {
  kNone = 0,
  kUnknownUser = 1,
  kWrongPassword = 2,
  kInactiveUser = 3,
  kLockedOut = 4,
  kBadStoredHash = 5,  // the user's stored hash is malformed: fix the row
};

// "unknown_user", "wrong_password", ... ("none" for kNone).
std::string_view LoginFailureReasonName(LoginFailureReason reason);
std::string_view LoginResultName(LoginResult result);

struct LoginOutcome {
  LoginResult result = LoginResult::kInvalidCredentials;
  LoginFailureReason reason = LoginFailureReason::kNone;
  // Set on success: who is now signed in.
  std::optional<Principal> principal;
  // The user id when the name matched a user (success or not), for the
  // audit event's actor; nullopt for unknown names.
  std::optional<UserId> user_id;
  // For kLockedOut: how long until the next attempt is considered.
  std::chrono::seconds retry_after{0};
  // On success: the stored hash has another cost than options.hash_cost;
  // whoever may write `users` (the server) should store
  // HashPassword(password, hash_cost). Clinics leave it to the centre.
  bool needs_rehash = false;

  bool ok() const { return result == LoginResult::kSuccess; }
  // The audit action: "login" on success, "login_failed" otherwise.
  std::string_view AuditAction() const {
    return ok() ? "login" : "login_failed";
  }
};

class OfflineAuthenticator {
 public:
  // Makes the dummy hash (one Argon2id run at options.hash_cost).
  // kInvalidArgument for options out of range; kIoError if Argon2 cannot
  // get its memory. REQUIRES: `directory` outlives the authenticator.
  static Result<std::unique_ptr<OfflineAuthenticator>> Create(
      UserDirectory& directory, const AuthenticatorOptions& options = {});

  OfflineAuthenticator(const OfflineAuthenticator&) = delete;
  OfflineAuthenticator& operator=(const OfflineAuthenticator&) = delete;

  // Checks `password` for `username` (see the file comment). Returns the
  // outcome, or the directory's error if the lookup failed (no attempt is
  // counted then).
  Result<LoginOutcome> Authenticate(std::string_view username,
                                    std::string_view password);

  // Failures currently counted against `username` (for tests and metrics).
  int FailureCount(std::string_view username);

 private:
  struct Tracked {
    int failures = 0;
    std::chrono::system_clock::time_point last_failure;
    std::chrono::system_clock::time_point locked_until;
  };

  OfflineAuthenticator(UserDirectory& directory,
                       const AuthenticatorOptions& options,
                       std::string dummy_hash);

  // Returns how long `key` is still locked (zero if not), forgetting stale
  // state first. REQUIRES: mu_ held.
  std::chrono::seconds LockRemaining(const std::string& key,
                                     std::chrono::system_clock::time_point now);
  void RecordFailure(const std::string& key);
  void RecordSuccess(const std::string& key);
  // Drops unlocked names, then the oldest, until one more fits.
  // REQUIRES: mu_ held.
  void MakeRoom(std::chrono::system_clock::time_point now);

  UserDirectory& directory_;
  AuthenticatorOptions options_;
  Clock& clock_;
  const std::string dummy_hash_;

  std::mutex mu_;
  // Keyed by the username with ASCII letters lower-cased, so that case
  // variants of one name share a counter.
  std::unordered_map<std::string, Tracked> tracked_;
};

}  // namespace pulse::engine

#endif  // PULSE_ENGINE_AUTH_H_
