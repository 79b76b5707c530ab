// Users, the replica's user directory and offline sign-in through the whole
// local stack: permission matrix, validation, Argon2id hashes, the local
// write path and the audit chain, on an encrypted replica. Argon2 runs at
// kTestPasswordHashCost so the suite stays fast.
#include "pulse/engine/users.h"

#include <unistd.h>

#include <array>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "support/manual_clock.h"

#include "pulse/engine/audit.h"
#include "pulse/engine/clinic_schema.h"
#include "pulse/engine/hash.h"
#include "pulse/engine/migrations.h"

namespace pulse::engine {
namespace {

namespace fs = std::filesystem;

using ::pulse::testing::ManualClock;

constexpr std::int64_t kNowMs = 1'763'900'000'000;  // 2025-11-23
constexpr char kPassword[] = "correct horse battery";

class UsersTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::path(::testing::TempDir()) /
           (std::string("users_") + std::to_string(::getpid()) + "_" +
            info->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    wall_.SetMs(kNowMs);
    site_ = ids_.Next();
    other_site_ = ids_.Next();
    std::array<std::uint8_t, kDatabaseKeyBytes> key{};
    key.fill(7);
    db_.emplace(Database::Open(dir_ / "replica.db", DatabaseKey(key), {}).value());
    ASSERT_TRUE(Migrate(*db_, schema::ClinicMigrations(), wall_));
    writer_ = LocalWriter::Create(*db_, clock_, ids_, site_.ToString()).value();
    audit_.emplace(*db_, wall_, clock_, ids_, site_, ids_.Next());
    UserRepositoryOptions options;
    options.hash_cost = kTestPasswordHashCost;
    repo_.emplace(*db_, *writer_, *audit_, ids_, options);
    directory_.emplace(*db_);
    AuthenticatorOptions auth_options;
    auth_options.clock = &wall_;
    auth_options.hash_cost = kTestPasswordHashCost;
    authenticator_ = OfflineAuthenticator::Create(*directory_, auth_options).value();
    sign_in_.emplace(*authenticator_, *directory_, *writer_, *audit_);
    admin_ = Principal{ids_.Next(), Role::kAdmin, std::nullopt};
  }
  void TearDown() override {
    // Whatever the test did, the site's chain must verify.
    EXPECT_TRUE(VerifyChain(site_, Chain()).ok);
    sign_in_.reset();
    authenticator_.reset();
    directory_.reset();
    repo_.reset();
    audit_.reset();
    writer_.reset();
    db_.reset();
    fs::remove_all(dir_);
  }

  Principal As(Role role, std::optional<Uuid> site) {
    return Principal{ids_.Next(), role, site};
  }
  UserInput Clinician() const {
    return UserInput{"akinyi.o", "Akinyi Odhiambo", "clinician", site_};
  }
  std::string CreateClinician() {
    return repo_->Create(admin_, Clinician(), kPassword).value();
  }
  std::int64_t Count(const std::string& sql) {
    auto stmt = db_->Prepare(sql);
    EXPECT_TRUE(stmt.has_value()) << stmt.error().ToString();
    EXPECT_TRUE(stmt->Step().value());
    return stmt->ColumnInt64(0).value();
  }
  // Everything a replica stores as text that could leak: the outbox
  // entries and the audit events.
  std::string AllLogText() {
    std::string all;
    for (const char* sql : {"SELECT entry FROM change_log",
                            "SELECT event FROM audit_events"}) {
      auto stmt = db_->Prepare(sql);
      while (stmt->Step().value()) {
        all += stmt->ColumnText(0).value();
        all += '\n';
      }
    }
    return all;
  }
  std::vector<ChainedEvent> Chain() {
    return ReadAuditChain(*db_, site_).value();
  }
  AuditEvent LastEvent() {
    auto chain = Chain();
    EXPECT_FALSE(chain.empty());
    return chain.empty() ? AuditEvent{} : chain.back().event;
  }
  // A users row written as the merge would deliver it from elsewhere
  // (another admin's replica): no repository checks.
  std::string WriteRawUser(const std::string& username, const std::string& role,
                           const std::string& password) {
    RowWrite write;
    write.table = "users";
    write.row = ids_.Next().ToString();
    write.fields = {{"site_id", site_.ToString()},
                    {"username", username},
                    {"full_name", std::string("Someone Else")},
                    {"role", role},
                    {"password_hash",
                     HashPassword(password, kTestPasswordHashCost).value()},
                    {"active", std::int64_t{1}}};
    EXPECT_TRUE(writer_->Commit(std::span<const RowWrite>(&write, 1),
                                admin_.user_id.ToString()));
    return write.row;
  }

  fs::path dir_;
  ManualClock wall_;
  UuidV7Generator ids_{wall_};
  HybridClock clock_{HybridClock::Options{&wall_, Hlc()}};
  Uuid site_, other_site_;
  Principal admin_;
  std::optional<Database> db_;
  std::unique_ptr<LocalWriter> writer_;
  std::optional<AuditLog> audit_;
  std::optional<UserRepository> repo_;
  std::optional<ReplicaUserDirectory> directory_;
  std::unique_ptr<OfflineAuthenticator> authenticator_;
  std::optional<SignIn> sign_in_;
};

TEST_F(UsersTest, CreateStoresAHashNeverThePassword) {
  const std::string id = CreateClinician();
  const User user = repo_->Get(admin_, id).value();
  EXPECT_EQ(user.username, "akinyi.o");
  EXPECT_EQ(user.full_name, "Akinyi Odhiambo");
  EXPECT_EQ(user.role, "clinician");
  EXPECT_EQ(user.site_id, site_.ToString());
  EXPECT_TRUE(user.active);

  auto stmt = db_->Prepare("SELECT password_hash FROM users WHERE id = ?");
  ASSERT_TRUE(stmt->BindText(1, id));
  ASSERT_TRUE(stmt->Step().value());
  const std::string hash(stmt->ColumnText(0).value());
  EXPECT_EQ(hash.rfind("$argon2id$", 0), 0u);
  EXPECT_TRUE(VerifyPassword(hash, kPassword));
  EXPECT_EQ(AllLogText().find(kPassword), std::string::npos);

  const AuditEvent event = LastEvent();
  EXPECT_EQ(event.action, AuditAction::kCreate);
  EXPECT_EQ(event.actor, admin_.user_id.ToString());
  EXPECT_EQ(event.object_type, "users");
  EXPECT_EQ(event.object_id, id);
  EXPECT_EQ(event.patient, std::nullopt);
}

TEST_F(UsersTest, BadValuesAreTypedErrorsAndNothingIsWritten) {
  struct Case {
    const char* field;
    UserInput input;
    std::string password;
  };
  const UserInput ok = Clinician();
  auto with = [&](auto mutate) {
    UserInput in = ok;
    mutate(in);
    return in;
  };
  const Case cases[] = {
      {"username", with([](UserInput& u) { u.username = "ak"; }), kPassword},
      {"username", with([](UserInput& u) { u.username = std::string(33, 'a'); }), kPassword},
      {"username", with([](UserInput& u) { u.username = "Akinyi"; }), kPassword},
      {"username", with([](UserInput& u) { u.username = "9akinyi"; }), kPassword},
      {"username", with([](UserInput& u) { u.username = "aki nyi"; }), kPassword},
      {"username", with([](UserInput& u) { u.username = "akinyi@x"; }), kPassword},
      {"full_name", with([](UserInput& u) { u.full_name = "  "; }), kPassword},
      {"full_name", with([](UserInput& u) { u.full_name = std::string(101, 'a'); }), kPassword},
      {"full_name", with([](UserInput& u) { u.full_name = "Aki\nnyi"; }), kPassword},
      {"full_name", with([](UserInput& u) { u.full_name = "Aki\xff"; }), kPassword},
      {"role", with([](UserInput& u) { u.role = "nurse"; }), kPassword},
      {"role", with([](UserInput& u) { u.role = "Clinician"; }), kPassword},
      {"role", with([](UserInput& u) { u.role = "auditor"; }), kPassword},  // has a site
      {"site", with([](UserInput& u) { u.site.reset(); }), kPassword},
      {"password", ok, "tiny1"},
      {"password", ok, "akinyi.o"},
      {"password", ok, "AKINYI.O"},
      {"password", ok, "zzzzzzzzzzzzzz"},
      {"password", ok, std::string("tab\tinside password")},
      {"password", ok, std::string(257, 'x') + "y"},
  };
  for (const Case& c : cases) {
    auto result = repo_->Create(admin_, c.input, c.password);
    ASSERT_FALSE(result.has_value()) << c.field;
    EXPECT_EQ(result.error().code(), ErrorCode::kInvalidArgument) << c.field;
    const std::string& message = result.error().message();
    EXPECT_NE(message.find(std::string("user.") + c.field), std::string::npos)
        << message;
    EXPECT_EQ(message.find(c.password), std::string::npos) << message;
  }
  EXPECT_EQ(Count("SELECT count(*) FROM users"), 0);
  EXPECT_EQ(Count("SELECT count(*) FROM change_log"), 0);
  EXPECT_EQ(Count("SELECT count(*) FROM audit_events"), 0);
}

TEST_F(UsersTest, UsernamesAreUniqueAmongLiveUsers) {
  CreateClinician();
  const auto before = Count("SELECT count(*) FROM change_log");
  UserInput again = Clinician();
  again.full_name = "Another Akinyi";
  auto result = repo_->Create(admin_, again, kPassword);
  ASSERT_FALSE(result.has_value());
  EXPECT_EQ(result.error().code(), ErrorCode::kAlreadyExists);
  EXPECT_EQ(Count("SELECT count(*) FROM users"), 1);
  EXPECT_EQ(Count("SELECT count(*) FROM change_log"), before);
}

TEST_F(UsersTest, OnlyTheAdminWritesUsersAndDenialsAreAudited) {
  const std::string id = CreateClinician();
  const Principal doctor = As(Role::kClinician, site_);
  const Principal nurse = As(Role::kTechnician, site_);
  const Principal auditor = As(Role::kAuditor, std::nullopt);
  const Principal stranger = As(Role::kClinician, other_site_);

  UserInput tech{"baraka.t", "Baraka T", "technician", site_};
  EXPECT_EQ(repo_->Create(doctor, tech, kPassword).error().code(),
            ErrorCode::kPermissionDenied);
  UserChanges promote;
  promote.role = "admin";
  EXPECT_EQ(repo_->Update(nurse, id, promote).error().code(),
            ErrorCode::kPermissionDenied);
  EXPECT_EQ(repo_->SetPassword(auditor, id, "another long password")
                .error()
                .code(),
            ErrorCode::kPermissionDenied);
  EXPECT_EQ(repo_->Get(stranger, id).error().code(),
            ErrorCode::kPermissionDenied);
  EXPECT_EQ(repo_->List(doctor, std::nullopt).error().code(),
            ErrorCode::kPermissionDenied);  // cross-site read
  EXPECT_EQ(Count("SELECT count(*) FROM audit_events WHERE "
                  "action = 'permission_denied' AND outcome = 'denied'"),
            5);
  EXPECT_EQ(Count("SELECT count(*) FROM users"), 1);
  EXPECT_EQ(repo_->Get(doctor, id)->role, "clinician");

  // Reads: own site for clinic staff, everything for the auditor.
  EXPECT_EQ(repo_->List(nurse, site_).value().size(), 1u);
  EXPECT_EQ(repo_->List(auditor, std::nullopt).value().size(), 1u);
  EXPECT_EQ(repo_->List(admin_, other_site_).value().size(), 0u);
}

TEST_F(UsersTest, UpdateAndSetPassword) {
  const std::string id = CreateClinician();
  UserChanges changes;
  changes.full_name = "Akinyi A. Odhiambo";
  changes.role = "technician";
  ASSERT_TRUE(repo_->Update(admin_, id, changes));
  User user = repo_->Get(admin_, id).value();
  EXPECT_EQ(user.full_name, "Akinyi A. Odhiambo");
  EXPECT_EQ(user.role, "technician");

  const auto before = Count("SELECT count(*) FROM change_log");
  UserChanges central;
  central.role = "admin";  // an admin has no site; this account has one
  auto refused = repo_->Update(admin_, id, central);
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(refused.error().message().find("user.role"), std::string::npos);
  auto weak = repo_->SetPassword(admin_, id, "akinyi.o");
  ASSERT_FALSE(weak.has_value());
  EXPECT_NE(weak.error().message().find("user.password"), std::string::npos);
  EXPECT_EQ(repo_->SetPassword(admin_, ids_.Next().ToString(),
                               "a brand new passphrase")
                .error()
                .code(),
            ErrorCode::kNotFound);
  EXPECT_EQ(Count("SELECT count(*) FROM change_log"), before);

  ASSERT_TRUE(repo_->SetPassword(admin_, id, "a brand new passphrase"));
  EXPECT_FALSE(sign_in_->Login("akinyi.o", kPassword)->ok());
  EXPECT_TRUE(sign_in_->Login("akinyi.o", "a brand new passphrase")->ok());
  EXPECT_EQ(AllLogText().find("a brand new passphrase"), std::string::npos);
}

TEST_F(UsersTest, AnAdminCannotDemoteOrDeactivateThemself) {
  // The admin's own account, as it would be synced from the centre.
  const std::string id = repo_->Create(
      admin_, UserInput{"root.admin", "Root Admin", "admin", std::nullopt},
      kPassword).value();
  const Principal self{Uuid::Parse(id).value(), Role::kAdmin, std::nullopt};
  UserChanges off;
  off.active = false;
  EXPECT_EQ(repo_->Update(self, id, off).error().code(),
            ErrorCode::kInvalidArgument);
  UserChanges demote;
  demote.role = "auditor";
  EXPECT_EQ(repo_->Update(self, id, demote).error().code(),
            ErrorCode::kInvalidArgument);
  ASSERT_TRUE(repo_->Update(admin_, id, off));  // another admin may
  EXPECT_FALSE(repo_->Get(admin_, id)->active);
}

TEST_F(UsersTest, SignInIsAuditedForEveryOutcomeWithoutSecrets) {
  const std::string id = CreateClinician();

  // Success; the name is matched with ASCII case folded.
  auto ok = sign_in_->Login("Akinyi.O", kPassword).value();
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok.principal->user_id.ToString(), id);
  EXPECT_EQ(ok.principal->role, Role::kClinician);
  EXPECT_EQ(ok.principal->site, site_);
  AuditEvent event = LastEvent();
  EXPECT_EQ(event.action, AuditAction::kLogin);
  EXPECT_EQ(event.outcome, AuditOutcome::kOk);
  EXPECT_EQ(event.actor, id);
  EXPECT_EQ(event.role, AuditRole::kClinician);
  EXPECT_EQ(event.object_id, id);

  // Wrong password: the account is the actor.
  auto wrong = sign_in_->Login("akinyi.o", "not the password").value();
  EXPECT_EQ(wrong.result, LoginResult::kInvalidCredentials);
  EXPECT_FALSE(wrong.principal.has_value());
  event = LastEvent();
  EXPECT_EQ(event.action, AuditAction::kLoginFailed);
  EXPECT_EQ(event.outcome, AuditOutcome::kDenied);
  EXPECT_EQ(event.actor, id);
  EXPECT_EQ(event.role, AuditRole::kClinician);

  // Unknown name: same answer, no actor, no object.
  auto unknown = sign_in_->Login("mallory", "whatever password").value();
  EXPECT_EQ(unknown.result, LoginResult::kInvalidCredentials);
  event = LastEvent();
  EXPECT_EQ(event.action, AuditAction::kLoginFailed);
  EXPECT_EQ(event.actor, std::nullopt);
  EXPECT_EQ(event.role, std::nullopt);
  EXPECT_EQ(event.object_id, std::nullopt);

  // Inactive: refused, and said so only with the right password.
  UserChanges off;
  off.active = false;
  ASSERT_TRUE(repo_->Update(admin_, id, off));
  auto disabled = sign_in_->Login("akinyi.o", kPassword).value();
  EXPECT_EQ(disabled.result, LoginResult::kAccountDisabled);
  EXPECT_FALSE(disabled.principal.has_value());
  event = LastEvent();
  EXPECT_EQ(event.action, AuditAction::kLoginFailed);
  EXPECT_EQ(event.actor, id);

  ASSERT_TRUE(sign_in_->Logout(*ok.principal));
  event = LastEvent();
  EXPECT_EQ(event.action, AuditAction::kLogout);
  EXPECT_EQ(event.actor, id);

  EXPECT_EQ(Count("SELECT count(*) FROM audit_events WHERE action = 'login'"), 1);
  EXPECT_EQ(Count("SELECT count(*) FROM audit_events WHERE "
                  "action = 'login_failed'"),
            3);
  const std::string logs = AllLogText();
  for (const char* secret : {kPassword, "not the password", "whatever password",
                             "mallory", "Akinyi.O"}) {
    EXPECT_EQ(logs.find(secret), std::string::npos) << secret;
  }
}

TEST_F(UsersTest, LockedOutAttemptsAreAuditedToo) {
  CreateClinician();
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(sign_in_->Login("akinyi.o", "wrong password!")->result,
              LoginResult::kInvalidCredentials);
  }
  auto locked = sign_in_->Login("akinyi.o", kPassword).value();
  EXPECT_EQ(locked.result, LoginResult::kLockedOut);
  EXPECT_GT(locked.retry_after.count(), 0);
  EXPECT_EQ(Count("SELECT count(*) FROM audit_events WHERE "
                  "action = 'login_failed'"),
            6);
  wall_.AdvanceMs(31'000);
  EXPECT_TRUE(sign_in_->Login("akinyi.o", kPassword)->ok());
}

TEST_F(UsersTest, DirectorySkipsDeletedRowsAndRefusesAmbiguousNames) {
  const std::string id = CreateClinician();
  // The same name created on another replica, merged in: ambiguous, so it
  // signs in nobody — neither password works, and no actor is named.
  const std::string twin = WriteRawUser("akinyi.o", "technician",
                                        "twin's own password");
  EXPECT_EQ(directory_->FindUserByUsername("akinyi.o").value(), std::nullopt);
  EXPECT_EQ(sign_in_->Login("akinyi.o", kPassword)->result,
            LoginResult::kInvalidCredentials);
  EXPECT_EQ(sign_in_->Login("akinyi.o", "twin's own password")->result,
            LoginResult::kInvalidCredentials);
  EXPECT_EQ(LastEvent().actor, std::nullopt);

  // Removing one of them (a tombstone) settles it.
  RowWrite remove{"users", twin, Op::kDelete, {}};
  ASSERT_TRUE(writer_->Commit(std::span<const RowWrite>(&remove, 1),
                              admin_.user_id.ToString()));
  auto found = directory_->FindUserByUsername("akinyi.o").value();
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(found->user_id.ToString(), id);
  EXPECT_EQ(repo_->List(admin_, site_).value().size(), 1u);
  // A deleted account is unknown.
  RowWrite remove_too{"users", id, Op::kDelete, {}};
  ASSERT_TRUE(writer_->Commit(std::span<const RowWrite>(&remove_too, 1),
                              admin_.user_id.ToString()));
  EXPECT_EQ(directory_->FindUserByUsername("akinyi.o").value(), std::nullopt);
  EXPECT_EQ(repo_->Get(admin_, id).error().code(), ErrorCode::kNotFound);
}

TEST_F(UsersTest, AMalformedRowIsAnErrorAndTheAttemptIsStillAudited) {
  WriteRawUser("newrole.user", "superuser", kPassword);
  auto found = directory_->FindUserByUsername("newrole.user");
  ASSERT_FALSE(found.has_value());
  EXPECT_EQ(found.error().code(), ErrorCode::kCorruption);
  EXPECT_EQ(found.error().message().find("newrole"), std::string::npos);
  auto attempt = sign_in_->Login("newrole.user", kPassword);
  ASSERT_FALSE(attempt.has_value());
  const AuditEvent event = LastEvent();
  EXPECT_EQ(event.action, AuditAction::kLoginFailed);
  EXPECT_EQ(event.outcome, AuditOutcome::kError);
  EXPECT_EQ(event.actor, std::nullopt);
}

}  // namespace
}  // namespace pulse::engine
