#include "pulse/engine/auth.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <utility>

#include "pulse/engine/crypto.h"
#include "pulse/engine/hash.h"

namespace pulse::engine {
namespace {

using TimePoint = std::chrono::system_clock::time_point;

std::string LockoutKey(std::string_view username) {
  std::string key(username);
  for (char& c : key) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return key;
}

// `d` rounded up to whole seconds, never negative.
std::chrono::seconds CeilSeconds(std::chrono::system_clock::duration d) {
  if (d <= d.zero()) return std::chrono::seconds(0);
  return std::chrono::ceil<std::chrono::seconds>(d);
}

LoginOutcome Failed(LoginResult result, LoginFailureReason reason,
                    std::optional<UserId> user_id) {
  LoginOutcome outcome;
  outcome.result = result;
  outcome.reason = reason;
  outcome.user_id = std::move(user_id);
  return outcome;
}

}  // namespace

std::string_view LoginFailureReasonName(LoginFailureReason reason) {
  switch (reason) {
    case LoginFailureReason::kNone:
      return "none";
    case LoginFailureReason::kUnknownUser:
      return "unknown_user";
    case LoginFailureReason::kWrongPassword:
      return "wrong_password";
    case LoginFailureReason::kInactiveUser:
      return "inactive_user";
    case LoginFailureReason::kLockedOut:
      return "locked_out";
    case LoginFailureReason::kBadStoredHash:
      return "bad_stored_hash";
  }
  return "unknown";
}

std::string_view LoginResultName(LoginResult result) {
  switch (result) {
    case LoginResult::kSuccess:
      return "success";
    case LoginResult::kInvalidCredentials:
      return "invalid_credentials";
    case LoginResult::kAccountDisabled:
      return "account_disabled";
    case LoginResult::kLockedOut:
      return "locked_out";
  }
  return "unknown";
}

Result<std::unique_ptr<OfflineAuthenticator>> OfflineAuthenticator::Create(
    UserDirectory& directory, const AuthenticatorOptions& options) {
  auto bad = [](std::string what) {
    return Fail(ErrorCode::kInvalidArgument,
                "authenticator options: " + std::move(what));
  };
  if (options.max_failures < 1) return bad("max_failures must be >= 1");
  if (options.initial_lockout <= std::chrono::seconds(0)) {
    return bad("initial_lockout must be positive");
  }
  if (options.max_lockout < options.initial_lockout) {
    return bad("max_lockout must be >= initial_lockout");
  }
  if (options.reset_after <= std::chrono::seconds(0)) {
    return bad("reset_after must be positive");
  }
  if (options.max_tracked_usernames < 1) {
    return bad("max_tracked_usernames must be >= 1");
  }
  // The dummy hash is of a random secret nobody knows, so no password ever
  // matches it; only its cost matters.
  std::array<std::uint8_t, 32> secret{};
  RandomBytes(secret);
  Result<std::string> dummy =
      HashPassword(HexEncode(secret), options.hash_cost);
  if (!dummy) return Fail(dummy.error().WithContext("authenticator"));
  return std::unique_ptr<OfflineAuthenticator>(
      new OfflineAuthenticator(directory, options, std::move(*dummy)));
}

OfflineAuthenticator::OfflineAuthenticator(UserDirectory& directory,
                                           const AuthenticatorOptions& options,
                                           std::string dummy_hash)
    : directory_(directory),
      options_(options),
      clock_(options.clock != nullptr ? *options.clock : SystemClock()),
      dummy_hash_(std::move(dummy_hash)) {}

Result<LoginOutcome> OfflineAuthenticator::Authenticate(
    std::string_view username, std::string_view password) {
  const std::string key = LockoutKey(username);
  std::chrono::seconds locked_for{0};
  {
    std::lock_guard<std::mutex> lock(mu_);
    locked_for = LockRemaining(key, clock_.Now());
  }

  Result<std::optional<UserRecord>> found =
      directory_.FindUserByUsername(username);
  if (!found) return Fail(found.error().WithContext("sign-in lookup"));
  const std::optional<UserRecord>& user = *found;
  std::optional<UserId> user_id;
  if (user) user_id = user->user_id;

  if (locked_for > std::chrono::seconds(0)) {
    LoginOutcome outcome = Failed(LoginResult::kLockedOut,
                                  LoginFailureReason::kLockedOut, user_id);
    outcome.retry_after = locked_for;
    return outcome;
  }

  if (!user) {
    // Same work as a known user with a wrong password.
    (void)VerifyPassword(dummy_hash_, password);
    RecordFailure(key);
    return Failed(LoginResult::kInvalidCredentials,
                  LoginFailureReason::kUnknownUser, std::nullopt);
  }

  Status verified = VerifyPassword(user->password_hash, password);
  if (!verified) {
    LoginFailureReason reason = LoginFailureReason::kWrongPassword;
    if (verified.error().code() == ErrorCode::kCorruption) {
      // Rejected before any Argon2 work: spend it anyway.
      (void)VerifyPassword(dummy_hash_, password);
      reason = LoginFailureReason::kBadStoredHash;
    }
    RecordFailure(key);
    return Failed(LoginResult::kInvalidCredentials, reason, user_id);
  }

  if (!user->active) {
    // The password was right, so this is not guessing: not counted.
    return Failed(LoginResult::kAccountDisabled,
                  LoginFailureReason::kInactiveUser, user_id);
  }

  RecordSuccess(key);
  LoginOutcome outcome;
  outcome.result = LoginResult::kSuccess;
  outcome.user_id = user_id;
  outcome.principal = Principal{user->user_id, user->role, user->site};
  Result<bool> rehash = NeedsRehash(user->password_hash, options_.hash_cost);
  outcome.needs_rehash = rehash.has_value() && *rehash;
  return outcome;
}

int OfflineAuthenticator::FailureCount(std::string_view username) {
  std::lock_guard<std::mutex> lock(mu_);
  const std::string key = LockoutKey(username);
  LockRemaining(key, clock_.Now());  // forgets stale state
  auto it = tracked_.find(key);
  return it == tracked_.end() ? 0 : it->second.failures;
}

std::chrono::seconds OfflineAuthenticator::LockRemaining(const std::string& key,
                                                         TimePoint now) {
  auto it = tracked_.find(key);
  if (it == tracked_.end()) return std::chrono::seconds(0);
  Tracked& t = it->second;
  if (now < t.last_failure) {
    // The wall clock went backwards (DESIGN.md §4). Restart the current
    // lockout from now rather than locking until the old future instant.
    const auto length =
        std::max(t.locked_until - t.last_failure, TimePoint::duration::zero());
    t.last_failure = now;
    t.locked_until = now + length;
  }
  if (now >= t.locked_until && now - t.last_failure >= options_.reset_after) {
    tracked_.erase(it);
    return std::chrono::seconds(0);
  }
  return CeilSeconds(t.locked_until - now);
}

void OfflineAuthenticator::RecordFailure(const std::string& key) {
  std::lock_guard<std::mutex> lock(mu_);
  const TimePoint now = clock_.Now();
  LockRemaining(key, now);  // forgets stale state
  auto it = tracked_.find(key);
  if (it == tracked_.end()) {
    MakeRoom(now);
    it = tracked_.emplace(key, Tracked{}).first;
  }
  Tracked& t = it->second;
  ++t.failures;
  t.last_failure = now;
  if (t.failures >= options_.max_failures) {
    // initial × 2^(extra failures), capped; the exponent cap keeps the
    // arithmetic far from overflow.
    const int doublings = std::min(t.failures - options_.max_failures, 20);
    const auto lockout = std::min<std::chrono::seconds>(
        options_.initial_lockout * (1LL << doublings), options_.max_lockout);
    t.locked_until = now + lockout;
  }
}

void OfflineAuthenticator::RecordSuccess(const std::string& key) {
  std::lock_guard<std::mutex> lock(mu_);
  tracked_.erase(key);
}

void OfflineAuthenticator::MakeRoom(TimePoint now) {
  if (tracked_.size() < options_.max_tracked_usernames) return;
  std::erase_if(tracked_, [now](const auto& entry) {
    return entry.second.locked_until <= now;
  });
  while (tracked_.size() >= options_.max_tracked_usernames) {
    auto oldest = std::min_element(
        tracked_.begin(), tracked_.end(), [](const auto& a, const auto& b) {
          return a.second.last_failure < b.second.last_failure;
        });
    tracked_.erase(oldest);
  }
}

}  // namespace pulse::engine
