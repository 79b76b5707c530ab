// Password hashes and policy (pulse/engine/password.h) and offline sign-in
// (pulse/engine/auth.h). Argon2 runs at kTestPasswordHashCost (8 KiB, one
// pass) except where timing is the point.
#include "pulse/engine/password.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "pulse/engine/auth.h"

namespace pulse::engine {
namespace {

using std::chrono::seconds;

constexpr std::string_view kPassword = "correct horse battery";

// --- Hashing ---

class PasswordHashTest : public ::testing::Test {
 protected:
  std::string Hash(std::string_view password,
                   PasswordHashCost cost = kTestPasswordHashCost) {
    Result<std::string> hash = HashPassword(password, cost);
    EXPECT_TRUE(hash) << hash.error().ToString();
    return hash.value_or("");
  }
};

TEST_F(PasswordHashTest, HashThenVerifyRoundTrips) {
  const std::string hash = Hash(kPassword);
  EXPECT_EQ(hash.rfind("$argon2id$v=19$m=8,t=1,p=1$", 0), 0u) << hash;
  EXPECT_LE(hash.size(), kMaxPasswordHashChars);
  EXPECT_EQ(hash.find(kPassword), std::string::npos);
  Status ok = VerifyPassword(hash, kPassword);
  EXPECT_TRUE(ok) << ok.error().ToString();
  // A fresh salt every time.
  EXPECT_NE(Hash(kPassword), hash);
  Result<PasswordHashCost> cost = InspectPasswordHash(hash);
  ASSERT_TRUE(cost) << cost.error().ToString();
  EXPECT_EQ(*cost, kTestPasswordHashCost);
}

TEST_F(PasswordHashTest, WrongPasswordIsPermissionDenied) {
  const std::string hash = Hash(kPassword);
  for (std::string_view wrong :
       {std::string_view("correct horse battery "), std::string_view(""),
        std::string_view("Correct horse battery"),
        std::string_view("correct horse battery\0x", 23)}) {
    Status status = VerifyPassword(hash, wrong);
    ASSERT_FALSE(status);
    EXPECT_EQ(status.error().code(), ErrorCode::kPermissionDenied);
    EXPECT_EQ(status.error().message().find("horse"), std::string::npos);
  }
}

TEST_F(PasswordHashTest, EmbeddedNulAndLongPasswordsHashWhole) {
  const std::string with_nul("abc\0def", 7);
  const std::string hash = Hash(with_nul);
  EXPECT_TRUE(VerifyPassword(hash, with_nul));
  EXPECT_FALSE(VerifyPassword(hash, "abc"));
  const std::string long_password(5000, 'p');
  EXPECT_TRUE(VerifyPassword(Hash(long_password), long_password));
}

TEST_F(PasswordHashTest, MalformedStoredHashIsCorruptionNotACrash) {
  const std::string good = Hash(kPassword);
  const std::string tail = good.substr(good.find("p=1$") + 4);
  std::string flipped_salt = good;
  flipped_salt[good.find("p=1$") + 5] = '!';
  const std::vector<std::string> bad = {
      "",
      "garbage",
      "$argon2id$",
      "$argon2i$v=19$m=8,t=1,p=1$" + tail,  // not Argon2id
      "$2b$12$abcdefghijklmnopqrstuuABCDEFGHIJKLMNOPQRSTUVWXYZ01234",
      "$argon2id$v=16$m=8,t=1,p=1$" + tail,        // old version
      "$argon2id$v=19$m=8,t=1,p=2$" + tail,        // lanes
      "$argon2id$v=19$m=08,t=1,p=1$" + tail,       // leading zero
      "$argon2id$v=19$m=4194304,t=1,p=1$" + tail,  // 4 GiB: over the cap
      "$argon2id$v=19$m=8,t=17,p=1$" + tail,       // too many passes
      "$argon2id$v=19$m=8,t=0,p=1$" + tail,
      "$argon2id$v=19$m=4,t=1,p=1$" + tail,  // under libsodium's floor
      "$argon2id$v=19$m=99999999999,t=1,p=1$" + tail,
      good.substr(0, good.size() - 10),       // truncated digest
      good.substr(0, good.find("p=1$") + 4),  // no salt, no digest
      flipped_salt,
      good + std::string(200, 'A'),  // too long
      std::string(good).replace(0, 1, "\0", 1),
  };
  for (const std::string& stored : bad) {
    Status verified = VerifyPassword(stored, kPassword);
    ASSERT_FALSE(verified) << stored;
    EXPECT_EQ(verified.error().code(), ErrorCode::kCorruption) << stored;
    Result<bool> rehash = NeedsRehash(stored, kTestPasswordHashCost);
    ASSERT_FALSE(rehash) << stored;
    EXPECT_EQ(rehash.error().code(), ErrorCode::kCorruption) << stored;
    // The stored hash is secret-ish too: it is never echoed.
    if (stored.size() > 20) {
      EXPECT_EQ(verified.error().message().find(tail), std::string::npos);
    }
  }
}

TEST_F(PasswordHashTest, NeedsRehashAfterCostChange) {
  const std::string hash = Hash(kPassword);
  EXPECT_FALSE(NeedsRehash(hash, kTestPasswordHashCost).value());
  EXPECT_TRUE(NeedsRehash(hash, PasswordHashCost{2, 8192}).value());
  EXPECT_TRUE(NeedsRehash(hash, PasswordHashCost{1, 16384}).value());
  const std::string stronger = Hash(kPassword, PasswordHashCost{2, 16384});
  EXPECT_FALSE(NeedsRehash(stronger, PasswordHashCost{2, 16384}).value());
  EXPECT_TRUE(NeedsRehash(stronger, kTestPasswordHashCost).value());
  EXPECT_TRUE(VerifyPassword(stronger, kPassword));
}

TEST_F(PasswordHashTest, CostOutOfRangeIsInvalidArgument) {
  for (PasswordHashCost cost :
       {PasswordHashCost{0, 8192}, PasswordHashCost{17, 8192},
        PasswordHashCost{1, 4096}, PasswordHashCost{1, (1ull << 30) + 1}}) {
    Result<std::string> hash = HashPassword(kPassword, cost);
    ASSERT_FALSE(hash);
    EXPECT_EQ(hash.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_FALSE(NeedsRehash(Hash(kPassword), cost));
  }
}

TEST_F(PasswordHashTest, DefaultsAreLibsodiumInteractive) {
  const PasswordHashCost defaults;
  EXPECT_EQ(defaults.ops_limit, 2u);
  EXPECT_EQ(defaults.mem_limit_bytes, 64u << 20);
  EXPECT_TRUE(ValidatePasswordHashCost(defaults));
}

// --- Policy ---

TEST(PasswordPolicyTest, AcceptsAReasonablePassword) {
  EXPECT_TRUE(CheckPasswordPolicy("amina", "lantern-river-42"));
  // Ten code points of multi-byte text are ten characters, not 20 bytes.
  EXPECT_TRUE(CheckPasswordPolicy("amina", "ñandú-ñoño"));
  EXPECT_TRUE(CheckPasswordPolicy("amina", "0123456789"));
}

TEST(PasswordPolicyTest, RefusesEachRuleWithoutEchoingThePassword) {
  struct Case {
    std::string password;
    std::string rule;
  };
  const std::vector<Case> cases = {
      {"short-pw1", "shorter than 10 characters"},
      {"ñandú-ñoñ", "shorter than 10 characters"},
      {"AminaAmina", "equals the username"},
      {"aaaaaaaaaaaa", "one character repeated"},
      {"ééééééééééé", "one character repeated"},
      {"tab\there-and-more", "control character"},
      {std::string("nul\0inside-it", 13), "control character"},
      {"bad\xC3(utf8-here", "not valid UTF-8"},
      {"overlong\xC0\xAF-slash", "not valid UTF-8"},
      {std::string(257, 'k') + "x", "longer than 256 bytes"},
  };
  for (const Case& c : cases) {
    Status status = CheckPasswordPolicy("aminaamina", c.password);
    ASSERT_FALSE(status) << c.rule;
    EXPECT_EQ(status.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(status.error().message().find(c.rule), std::string::npos)
        << status.error().message();
    EXPECT_EQ(status.error().message().find(c.password), std::string::npos);
  }
}

TEST(PasswordPolicyTest, LimitsAreConfigurable) {
  PasswordPolicy policy;
  policy.min_code_points = 4;
  policy.max_bytes = 8;
  EXPECT_TRUE(CheckPasswordPolicy("u", "abcd", policy));
  EXPECT_FALSE(CheckPasswordPolicy("u", "abc", policy));
  EXPECT_FALSE(CheckPasswordPolicy("u", "abcdefghi", policy));
}

// --- Offline sign-in ---

class FakeClock : public Clock {
 public:
  std::chrono::system_clock::time_point Now() override { return now; }
  void Advance(std::chrono::system_clock::duration d) { now += d; }
  std::chrono::system_clock::time_point now{std::chrono::hours(24 * 20000)};
};

class FakeDirectory : public UserDirectory {
 public:
  Result<std::optional<UserRecord>> FindUserByUsername(
      std::string_view username) override {
    ++lookups;
    if (fail) return Fail(ErrorCode::kIoError, "users table unreadable");
    auto it = users.find(std::string(username));
    if (it == users.end()) return std::optional<UserRecord>();
    return std::optional<UserRecord>(it->second);
  }
  std::map<std::string, UserRecord> users;
  bool fail = false;
  int lookups = 0;
};

Uuid MakeId(std::uint8_t last) {
  Uuid::Bytes bytes{};
  bytes[6] = 0x70;
  bytes[8] = 0x80;
  bytes[15] = last;
  return Uuid(bytes);
}

class AuthenticatorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    options_.clock = &clock_;
    options_.hash_cost = kTestPasswordHashCost;
    options_.max_failures = 3;
    options_.initial_lockout = seconds(30);
    options_.max_lockout = seconds(120);
    AddUser("amina", 1, Role::kClinician, true);
    AddUser("tomas", 2, Role::kTechnician, false);
    Recreate();
  }

  void AddUser(const std::string& name, std::uint8_t id, Role role, bool active,
               PasswordHashCost cost = kTestPasswordHashCost) {
    UserRecord user;
    user.user_id = MakeId(id);
    user.role = role;
    user.site = MakeId(200);
    user.active = active;
    user.password_hash = HashPassword(kPassword, cost).value();
    directory_.users[name] = user;
  }

  void Recreate() {
    auto created = OfflineAuthenticator::Create(directory_, options_);
    ASSERT_TRUE(created) << created.error().ToString();
    auth_ = std::move(*created);
  }

  LoginOutcome Login(std::string_view user, std::string_view password) {
    Result<LoginOutcome> outcome = auth_->Authenticate(user, password);
    EXPECT_TRUE(outcome) << outcome.error().ToString();
    return outcome.value_or(LoginOutcome{});
  }

  FakeClock clock_;
  FakeDirectory directory_;
  AuthenticatorOptions options_;
  std::unique_ptr<OfflineAuthenticator> auth_;
};

TEST_F(AuthenticatorTest, CorrectPasswordSignsIn) {
  const LoginOutcome outcome = Login("amina", kPassword);
  ASSERT_TRUE(outcome.ok());
  EXPECT_EQ(outcome.reason, LoginFailureReason::kNone);
  EXPECT_EQ(outcome.AuditAction(), "login");
  ASSERT_TRUE(outcome.principal.has_value());
  EXPECT_EQ(outcome.principal->user_id, MakeId(1));
  EXPECT_EQ(outcome.principal->role, Role::kClinician);
  EXPECT_EQ(outcome.principal->site, MakeId(200));
  EXPECT_EQ(outcome.user_id, MakeId(1));
  EXPECT_FALSE(outcome.needs_rehash);
}

TEST_F(AuthenticatorTest, UnknownUserAndWrongPasswordLookTheSame) {
  const LoginOutcome unknown = Login("nobody", kPassword);
  const LoginOutcome wrong = Login("amina", "not the password");
  EXPECT_EQ(unknown.result, LoginResult::kInvalidCredentials);
  EXPECT_EQ(wrong.result, unknown.result);
  EXPECT_EQ(wrong.retry_after, unknown.retry_after);
  EXPECT_FALSE(unknown.principal);
  EXPECT_FALSE(wrong.principal);
  EXPECT_EQ(unknown.AuditAction(), "login_failed");
  EXPECT_EQ(wrong.AuditAction(), "login_failed");
  // Only the audit detail tells them apart.
  EXPECT_EQ(LoginFailureReasonName(unknown.reason), "unknown_user");
  EXPECT_EQ(LoginFailureReasonName(wrong.reason), "wrong_password");
  EXPECT_FALSE(unknown.user_id);
  EXPECT_EQ(wrong.user_id, MakeId(1));
}

// An unknown name costs one Argon2id verification, like a wrong password.
// Without the dummy hash it would return in microseconds; the bound is loose
// so that a busy machine cannot make it flaky.
TEST_F(AuthenticatorTest, UnknownUserTakesAsLongAsWrongPassword) {
  const PasswordHashCost measurable{1, 4u << 20};  // 4 MiB: a few ms
  options_.hash_cost = measurable;
  AddUser("slow", 9, Role::kClinician, true, measurable);
  options_.max_failures = 1000;
  Recreate();
  auto median_ms = [&](std::string_view user) {
    std::vector<double> times;
    for (int i = 0; i < 7; ++i) {
      const auto start = std::chrono::steady_clock::now();
      Login(user, "wrong password");
      times.push_back(std::chrono::duration<double, std::milli>(
                          std::chrono::steady_clock::now() - start)
                          .count());
    }
    std::sort(times.begin(), times.end());
    return times[times.size() / 2];
  };
  const double wrong = median_ms("slow");
  const double unknown = median_ms("nobody");
  EXPECT_GT(unknown, 0.3 * wrong) << unknown << " ms vs " << wrong << " ms";
  EXPECT_GT(wrong, 0.3 * unknown) << wrong << " ms vs " << unknown << " ms";
}

TEST_F(AuthenticatorTest, InactiveUserIsRefused) {
  const LoginOutcome right = Login("tomas", kPassword);
  EXPECT_EQ(right.result, LoginResult::kAccountDisabled);
  EXPECT_EQ(right.reason, LoginFailureReason::kInactiveUser);
  EXPECT_FALSE(right.principal);
  EXPECT_EQ(right.AuditAction(), "login_failed");
  EXPECT_EQ(auth_->FailureCount("tomas"), 0);
  // Without the password, inactive looks like any wrong password.
  const LoginOutcome wrong = Login("tomas", "guess");
  EXPECT_EQ(wrong.result, LoginResult::kInvalidCredentials);
  EXPECT_EQ(wrong.reason, LoginFailureReason::kWrongPassword);
}

TEST_F(AuthenticatorTest, LocksOutAfterNFailuresAndReleasesAfterBackoff) {
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(Login("amina", "guess").result, LoginResult::kInvalidCredentials);
  }
  EXPECT_EQ(auth_->FailureCount("amina"), 3);
  // Even the right password is refused while locked, without Argon2 work.
  LoginOutcome locked = Login("amina", kPassword);
  EXPECT_EQ(locked.result, LoginResult::kLockedOut);
  EXPECT_EQ(locked.reason, LoginFailureReason::kLockedOut);
  EXPECT_EQ(locked.retry_after, seconds(30));
  EXPECT_EQ(locked.user_id, MakeId(1));
  EXPECT_EQ(auth_->FailureCount("amina"), 3);  // locked attempts don't count
  clock_.Advance(seconds(29));
  locked = Login("amina", kPassword);
  EXPECT_EQ(locked.result, LoginResult::kLockedOut);
  EXPECT_EQ(locked.retry_after, seconds(1));
  clock_.Advance(seconds(1));
  EXPECT_TRUE(Login("amina", kPassword).ok());
  EXPECT_EQ(auth_->FailureCount("amina"), 0);
}

TEST_F(AuthenticatorTest, BackoffDoublesUpToTheCap) {
  for (int i = 0; i < 3; ++i) Login("amina", "guess");
  const seconds expected[] = {seconds(60), seconds(120), seconds(120)};
  seconds previous(30);
  for (seconds lockout : expected) {
    clock_.Advance(previous);
    EXPECT_EQ(Login("amina", "guess").result, LoginResult::kInvalidCredentials);
    EXPECT_EQ(Login("amina", kPassword).retry_after, lockout);
    previous = lockout;
  }
}

TEST_F(AuthenticatorTest, SuccessResetsTheCounter) {
  Login("amina", "guess");
  Login("amina", "guess");
  EXPECT_EQ(auth_->FailureCount("amina"), 2);
  EXPECT_TRUE(Login("amina", kPassword).ok());
  EXPECT_EQ(auth_->FailureCount("amina"), 0);
  Login("amina", "guess");
  Login("amina", "guess");
  EXPECT_TRUE(Login("amina", kPassword).ok());
}

TEST_F(AuthenticatorTest, FailuresAreForgottenAfterResetAfter) {
  Login("amina", "guess");
  Login("amina", "guess");
  clock_.Advance(options_.reset_after);
  EXPECT_EQ(auth_->FailureCount("amina"), 0);
  Login("amina", "guess");
  Login("amina", "guess");
  EXPECT_TRUE(Login("amina", kPassword).ok());
}

TEST_F(AuthenticatorTest, UnknownNamesAndCaseVariantsLockLikeRealOnes) {
  for (int i = 0; i < 3; ++i) Login("nobody", "guess");
  EXPECT_EQ(Login("nobody", "guess").result, LoginResult::kLockedOut);
  Login("AMINA", "guess");
  Login("Amina", "guess");
  Login("amina", "guess");
  EXPECT_EQ(Login("amina", kPassword).result, LoginResult::kLockedOut);
}

TEST_F(AuthenticatorTest, ClockJumpingBackDoesNotExtendTheLock) {
  for (int i = 0; i < 3; ++i) Login("amina", "guess");
  clock_.Advance(-std::chrono::hours(24 * 365));
  EXPECT_EQ(Login("amina", kPassword).retry_after, seconds(30));
  clock_.Advance(seconds(30));
  EXPECT_TRUE(Login("amina", kPassword).ok());
}

TEST_F(AuthenticatorTest, MalformedStoredHashFailsClosedWithItsOwnReason) {
  directory_.users["amina"].password_hash = "$argon2id$broken";
  const LoginOutcome outcome = Login("amina", kPassword);
  EXPECT_EQ(outcome.result, LoginResult::kInvalidCredentials);
  EXPECT_EQ(outcome.reason, LoginFailureReason::kBadStoredHash);
  EXPECT_EQ(outcome.user_id, MakeId(1));
}

TEST_F(AuthenticatorTest, DirectoryErrorIsPassedOnAndNotCounted) {
  directory_.fail = true;
  Result<LoginOutcome> outcome = auth_->Authenticate("amina", kPassword);
  ASSERT_FALSE(outcome);
  EXPECT_EQ(outcome.error().code(), ErrorCode::kIoError);
  EXPECT_EQ(outcome.error().message().find(kPassword), std::string::npos);
  EXPECT_EQ(auth_->FailureCount("amina"), 0);
}

TEST_F(AuthenticatorTest, OldCostHashAsksForRehash) {
  AddUser("old", 5, Role::kAdmin, true, PasswordHashCost{2, 8192});
  const LoginOutcome outcome = Login("old", kPassword);
  ASSERT_TRUE(outcome.ok());
  EXPECT_TRUE(outcome.needs_rehash);
  EXPECT_EQ(outcome.principal->role, Role::kAdmin);
}

TEST_F(AuthenticatorTest, TrackedNamesAreBounded) {
  options_.max_tracked_usernames = 2;
  Recreate();
  Login("a", "x");
  Login("b", "x");
  Login("c", "x");  // evicts the oldest unlocked name
  EXPECT_EQ(auth_->FailureCount("a"), 0);
  EXPECT_EQ(auth_->FailureCount("c"), 1);
}

TEST_F(AuthenticatorTest, BadOptionsAreRefused) {
  for (auto mutate : std::vector<void (*)(AuthenticatorOptions&)>{
           [](AuthenticatorOptions& o) { o.max_failures = 0; },
           [](AuthenticatorOptions& o) { o.initial_lockout = seconds(0); },
           [](AuthenticatorOptions& o) { o.max_lockout = seconds(1); },
           [](AuthenticatorOptions& o) { o.reset_after = seconds(0); },
           [](AuthenticatorOptions& o) { o.max_tracked_usernames = 0; },
           [](AuthenticatorOptions& o) { o.hash_cost.ops_limit = 0; }}) {
    AuthenticatorOptions options = options_;
    mutate(options);
    auto created = OfflineAuthenticator::Create(directory_, options);
    ASSERT_FALSE(created);
    EXPECT_EQ(created.error().code(), ErrorCode::kInvalidArgument);
  }
}

}  // namespace
}  // namespace pulse::engine
