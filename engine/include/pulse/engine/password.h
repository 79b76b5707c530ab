// User passwords (DESIGN.md §6): Argon2id hashes in libsodium's standard
// encoded form, "$argon2id$v=19$m=<KiB>,t=<passes>,p=1$<salt>$<hash>" —
// the `users.password_hash` column, synced to each site so that clinic
// staff can sign in offline — and the policy a new password must meet.
//
// Passwords never appear in errors, logs or return values. Stored hashes
// (offline-crackable) never appear in error messages either.
//
// A stored hash is input from the database and, through sync, from the
// network: its cost parameters are checked against the bounds below before
// any Argon2 work, so a forged row cannot demand unbounded memory or time.
//
// Thread-safety: all functions are reentrant.
#ifndef PULSE_ENGINE_PASSWORD_H_
#define PULSE_ENGINE_PASSWORD_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "pulse/base/result.h"

namespace pulse::engine {

// Argon2id cost of new hashes. Allowed ranges (also enforced on stored
// hashes before verifying them):
//   1 <= ops_limit <= kMaxPasswordOpsLimit
//   kMinPasswordMemLimitBytes <= mem_limit_bytes <= kMaxPasswordMemLimitBytes
// The defaults are libsodium's INTERACTIVE limits (2 passes, 64 MiB): about
// 0.1–0.3 s on a clinic PC, the cost libsodium recommends for online
// logins. Tests use kTestPasswordHashCost.
struct PasswordHashCost {
  std::uint64_t ops_limit = 2;
  std::uint64_t mem_limit_bytes = 64ull << 20;

  friend bool operator==(const PasswordHashCost&,
                         const PasswordHashCost&) = default;
};

inline constexpr std::uint64_t kMaxPasswordOpsLimit = 16;
inline constexpr std::uint64_t kMinPasswordMemLimitBytes = 8192;
inline constexpr std::uint64_t kMaxPasswordMemLimitBytes = 1ull << 30;

// Cheapest cost libsodium accepts: for tests only, never for real users.
inline constexpr PasswordHashCost kTestPasswordHashCost{1, 8192};

// Longest stored-hash text accepted (libsodium crypto_pwhash_STRBYTES - 1).
inline constexpr std::size_t kMaxPasswordHashChars = 127;

// kInvalidArgument naming the field if `cost` is outside the ranges above.
Status ValidatePasswordHashCost(const PasswordHashCost& cost);

// A new encoded Argon2id hash of `password` with a fresh random salt.
// Does not apply the policy (see CheckPasswordPolicy). Returns
// kInvalidArgument for a cost out of range; kIoError if Argon2 cannot get
// its memory.
Result<std::string> HashPassword(std::string_view password,
                                 const PasswordHashCost& cost = {});

// The cost recorded in a stored hash. kCorruption if `stored_hash` is not a
// well-formed Argon2id string (other algorithms included) or its cost is
// outside the ranges above.
Result<PasswordHashCost> InspectPasswordHash(std::string_view stored_hash);

// Checks `password` against `stored_hash` in time independent of where they
// differ. Returns OkStatus() on a match; kCorruption if the stored hash is
// malformed or out of bounds (InspectPasswordHash; checked before any Argon2
// work); kPermissionDenied otherwise (libsodium reports a failed memory
// allocation the same way as a wrong password, so this does too).
Status VerifyPassword(std::string_view stored_hash, std::string_view password);

// True iff `stored_hash` was made with a cost other than `cost`, so it
// should be replaced by HashPassword(password, cost) the next time the
// password is known (after a successful sign-in). kCorruption as in
// InspectPasswordHash; kInvalidArgument for a bad `cost`.
Result<bool> NeedsRehash(std::string_view stored_hash,
                         const PasswordHashCost& cost = {});

// What a new password must satisfy (docs/security.md §3). Follows NIST SP
// 800-63B §5.1.1: a length floor, a generous ceiling, no composition rules.
struct PasswordPolicy {
  // Counted in Unicode code points (UTF-8), not bytes.
  std::size_t min_code_points = 10;
  // Bytes; bounds the work and storage a single password can cause.
  std::size_t max_bytes = 256;
};

// OkStatus() if `password` may be set for `username`. Otherwise
// kInvalidArgument whose message names the rule broken (never the
// password): shorter than min_code_points, longer than max_bytes, not valid
// UTF-8, contains a control character (NUL included), equal to the username
// (ignoring ASCII case), or one character repeated.
Status CheckPasswordPolicy(std::string_view username, std::string_view password,
                           const PasswordPolicy& policy = {});

}  // namespace pulse::engine

#endif  // PULSE_ENGINE_PASSWORD_H_
