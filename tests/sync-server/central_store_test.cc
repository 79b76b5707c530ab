// Tests for the embedded central store (sqlcipher_central_store.h): central
// writes reach the global sequence, pushes are merged atomically and
// idempotently, pulls page through one site's rows, sessions persist.
#include "pulse/sync_server/sqlcipher_central_store.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include "pulse/engine/merge.h"
#include "pulse/engine/replica.h"
#include "sync-server/server_fixture.h"

namespace pulse::sync_server {
namespace {

namespace fs = std::filesystem;
using engine::ChangeEntry;
using testing::AllowAll;
using testing::kStaffPassword;
using testing::kStorePassphrase;

class CentralStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    root_ = testing::FreshTempDir(std::string("central_") + info->name());
    auto store = SqlcipherCentralStore::Create(root_ / "central",
                                               kStorePassphrase, options_);
    ASSERT_TRUE(store) << store.error().ToString();
    store_ = std::move(*store);
    auto site = store_->AddSite(testing::KisumuClinic(), "");
    ASSERT_TRUE(site) << site.error().ToString();
    site_ = *site;
    auto other = store_->AddSite({"Eldoret clinic", "Rift", "Africa/Nairobi"},
                                 "");
    ASSERT_TRUE(other);
    other_site_ = *other;
    auto user = store_->AddUser(testing::KisumuTechnician(site_), "");
    ASSERT_TRUE(user) << user.error().ToString();
    user_id_ = *user;
  }
  void TearDown() override {
    store_.reset();
    clinic_.reset();
    fs::remove_all(root_);
  }

  // A real clinic replica of site_ writing patients: its entries are what a
  // push carries.
  std::vector<ChangeEntry> ClinicWrites(int patients) {
    if (!clinic_) {
      auto clinic = testing::CreateClinicReplica(root_ / "clinic", site_,
                                                 "clinic pw", options_);
      EXPECT_TRUE(clinic) << clinic.error().ToString();
      clinic_ = std::move(*clinic);
    }
    std::vector<ChangeEntry> out;
    for (int i = 0; i < patients; ++i) {
      engine::RowWrite w;
      w.table = "patients";
      w.row = clinic_->ids().Next().ToString();
      w.fields["site_id"] = site_;
      w.fields["mrn"] = "MRN-" + std::to_string(i);
      w.fields["family_name"] = "Otieno";
      auto entries = clinic_->writer().Commit(std::span(&w, 1), user_id_);
      EXPECT_TRUE(entries) << entries.error().ToString();
      out.insert(out.end(), entries->begin(), entries->end());
    }
    return out;
  }

  IngestRequest Batch(std::string batch_id,
                      const std::vector<ChangeEntry>& changes) {
    batch_ids_.push_back(std::move(batch_id));
    IngestRequest r;
    r.batch_id = batch_ids_.back();
    r.site = site_;
    r.pushed_by = user_id_;
    r.received_ms = 1;
    r.changes = changes;
    return r;
  }

  fs::path root_;
  CentralStoreOptions options_ = testing::TestStoreOptions();
  std::unique_ptr<SqlcipherCentralStore> store_;
  std::unique_ptr<engine::ClinicReplica> clinic_;
  std::string site_, other_site_, user_id_;
  std::vector<std::string> batch_ids_;
};

TEST_F(CentralStoreTest, CentralWritesArePulledByTheirSiteOnly) {
  auto page = store_->Pull(site_, 0, 100);
  ASSERT_TRUE(page) << page.error().ToString();
  bool saw_site = false, saw_user = false;
  for (const ChangeEntry& e : page->changes) {
    saw_site = saw_site || (e.table == "sites" && e.row == site_);
    saw_user = saw_user || (e.table == "users" && e.row == user_id_);
    EXPECT_NE(e.row, other_site_);
  }
  EXPECT_TRUE(saw_site);
  EXPECT_TRUE(saw_user);
  EXPECT_FALSE(page->more);
  auto other = store_->Pull(other_site_, 0, 100);
  ASSERT_TRUE(other);
  ASSERT_EQ(other->changes.size(), 1u);  // its sites row, nothing else
  EXPECT_EQ(other->changes[0].row, other_site_);
}

TEST_F(CentralStoreTest, FindsUsersByFoldedNameAndById) {
  auto user = store_->FindUserByName("Amina.K");
  ASSERT_TRUE(user);
  ASSERT_TRUE(user->has_value());
  EXPECT_EQ((*user)->id, user_id_);
  EXPECT_EQ((*user)->role, engine::Role::kTechnician);
  EXPECT_EQ((*user)->site, site_);
  EXPECT_TRUE((*user)->active);
  EXPECT_TRUE(engine::VerifyPassword((*user)->password_hash, kStaffPassword));
  EXPECT_FALSE(store_->FindUserByName("nobody").value().has_value());
  EXPECT_TRUE(store_->FindUserById(user_id_).value().has_value());
}

TEST_F(CentralStoreTest, IngestIsAtomicIdempotentAndPaged) {
  const auto changes = ClinicWrites(25);
  auto first = store_->IngestBatch(
      Batch("0189a0b0-0000-7000-8000-000000000b01", changes), AllowAll);
  ASSERT_TRUE(first) << first.error().ToString();
  EXPECT_EQ(first->accepted, 25);
  EXPECT_FALSE(first->duplicate);
  auto again = store_->IngestBatch(
      Batch("0189a0b0-0000-7000-8000-000000000b01", changes), AllowAll);
  ASSERT_TRUE(again);
  EXPECT_TRUE(again->duplicate);
  EXPECT_EQ(again->accepted, 25);
  // The same entries under a new batch id: merged as no-ops.
  auto renamed = store_->IngestBatch(
      Batch("0189a0b0-0000-7000-8000-000000000b02", changes), AllowAll);
  ASSERT_TRUE(renamed);
  EXPECT_EQ(renamed->accepted, 0);

  // Pages of 10 walk every entry once, in order.
  std::vector<std::string> pulled;
  std::int64_t cursor = 0;
  for (int round = 0; round < 10; ++round) {
    auto page = store_->Pull(site_, cursor, 10);
    ASSERT_TRUE(page);
    for (const ChangeEntry& e : page->changes) pulled.push_back(e.id);
    cursor = page->next_cursor;
    if (!page->more) break;
  }
  int patients = 0;
  for (const ChangeEntry& e : changes) {
    patients += std::count(pulled.begin(), pulled.end(), e.id) == 1 ? 1 : 0;
  }
  EXPECT_EQ(patients, 25);
  EXPECT_EQ(std::set<std::string>(pulled.begin(), pulled.end()).size(),
            pulled.size());
}

// The pull handler sends PullEncoded's texts as they are stored: they must
// be exactly the canonical encoding of what Pull decodes, page for page.
TEST_F(CentralStoreTest, PullEncodedIsTheCanonicalTextOfPull) {
  const auto changes = ClinicWrites(23);
  ASSERT_TRUE(store_->IngestBatch(
      Batch("0189a0b0-0000-7000-8000-000000000b03", changes), AllowAll));
  std::int64_t cursor = 0;
  std::size_t seen = 0;
  for (int round = 0; round < 10; ++round) {
    auto decoded = store_->Pull(site_, cursor, 7);
    auto encoded = store_->PullEncoded(site_, cursor, 7);
    ASSERT_TRUE(decoded && encoded);
    EXPECT_EQ(encoded->next_cursor, decoded->next_cursor);
    EXPECT_EQ(encoded->more, decoded->more);
    ASSERT_EQ(encoded->changes.size(), decoded->changes.size());
    for (std::size_t i = 0; i < decoded->changes.size(); ++i) {
      EXPECT_EQ(encoded->changes[i],
                engine::EncodeChange(decoded->changes[i]).value());
    }
    seen += decoded->changes.size();
    cursor = decoded->next_cursor;
    if (!decoded->more) break;
  }
  EXPECT_GE(seen, changes.size());
}

TEST_F(CentralStoreTest, ARefusedEntryRollsBackTheWholeBatch) {
  const auto changes = ClinicWrites(5);
  const std::string hash_before = store_->StateHash().value();
  auto refused = store_->IngestBatch(
      Batch("0189a0b0-0000-7000-8000-000000000b03", changes),
      [](std::size_t index, const ChangeEntry&, const RowContext& context) {
        EXPECT_FALSE(context.exists);
        if (index == 3) {
          return Status(Fail(ErrorCode::kPermissionDenied, "changes[3]: no"));
        }
        return OkStatus();
      });
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code(), ErrorCode::kPermissionDenied);
  EXPECT_EQ(store_->StateHash().value(), hash_before);
  // Not recorded as seen: the same id is accepted once allowed.
  auto later = store_->IngestBatch(
      Batch("0189a0b0-0000-7000-8000-000000000b03", changes), AllowAll);
  ASSERT_TRUE(later) << later.error().ToString();
  EXPECT_EQ(later->accepted, 5);
}

TEST_F(CentralStoreTest, AnEntryMovingARowToAnotherSiteIsRefused) {
  auto changes = ClinicWrites(1);
  ASSERT_TRUE(store_->IngestBatch(
      Batch("0189a0b0-0000-7000-8000-000000000b04", changes), AllowAll));
  ChangeEntry moved = changes[0];
  moved.id = "0189a0b0-0000-7000-8000-0000000000c1";
  moved.hlc = engine::Hlc::FromParts(moved.hlc.physical_ms() + 1, 0).value();
  moved.fields = {{"site_id", other_site_}};
  auto refused = store_->IngestBatch(
      Batch("0189a0b0-0000-7000-8000-000000000b05", {moved}), AllowAll);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code(), ErrorCode::kPermissionDenied);
}

TEST_F(CentralStoreTest, SessionsAndDataSurviveReopening) {
  Session s;
  s.token_hash = std::string(64, 'a');
  s.user_id = user_id_;
  s.role = engine::Role::kTechnician;
  s.site = site_;
  s.created_ms = 10;
  s.last_seen_ms = 10;
  s.expires_ms = 1000;
  ASSERT_TRUE(store_->CreateSession(s));
  ASSERT_TRUE(store_->TouchSession(s.token_hash, 50));
  ASSERT_TRUE(store_->IngestBatch(
      Batch("0189a0b0-0000-7000-8000-000000000b06", ClinicWrites(3)),
      AllowAll));
  const std::string hash = store_->StateHash().value();
  store_.reset();

  EXPECT_EQ(SqlcipherCentralStore::Open(root_ / "central", "wrong", options_)
                .error()
                .code(),
            ErrorCode::kPermissionDenied);
  auto reopened =
      SqlcipherCentralStore::Open(root_ / "central", kStorePassphrase, options_);
  ASSERT_TRUE(reopened) << reopened.error().ToString();
  store_ = std::move(*reopened);
  EXPECT_EQ(store_->StateHash().value(), hash);
  auto found = store_->FindSession(s.token_hash);
  ASSERT_TRUE(found);
  ASSERT_TRUE(found->has_value());
  EXPECT_EQ((*found)->last_seen_ms, 50);
  EXPECT_FALSE((*found)->revoked);
  ASSERT_TRUE(store_->RevokeSession(s.token_hash));
  EXPECT_TRUE(store_->FindSession(s.token_hash).value()->revoked);
  EXPECT_EQ(store_->RevokeSession(std::string(64, 'b')).error().code(),
            ErrorCode::kNotFound);
}

TEST_F(CentralStoreTest, ClinicAndCentralConvergeThroughPushAndPull) {
  const auto changes = ClinicWrites(4);
  ASSERT_TRUE(store_->IngestBatch(
      Batch("0189a0b0-0000-7000-8000-000000000b07", changes), AllowAll));
  // The clinic pulls everything of its site (its own entries come back as
  // no-ops, the sites row and user are new to it).
  auto page = store_->Pull(site_, 0, 1000);
  ASSERT_TRUE(page);
  ASSERT_TRUE(clinic_->merger().ApplyBatch(page->changes));
  // The clinic now holds every row the centre holds for this site: compare
  // the central rows of this site with the clinic's.
  auto count = [](engine::Database& db, std::string_view sql) {
    auto stmt = db.Prepare(sql);
    EXPECT_TRUE(stmt);
    EXPECT_TRUE(stmt->Step().value());
    return stmt->ColumnInt64(0).value();
  };
  EXPECT_EQ(count(clinic_->database(), "SELECT COUNT(*) FROM patients"), 4);
  EXPECT_EQ(count(clinic_->database(),
                  "SELECT COUNT(*) FROM users WHERE username = 'amina.k'"),
            1);
}

TEST_F(CentralStoreTest, ARestartNeverStampsBelowAnIngestedClock) {
  // A clinic whose clock runs five minutes ahead pushes one entry.
  auto changes = ClinicWrites(1);
  const std::int64_t now_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(
          std::chrono::system_clock::now().time_since_epoch())
          .count();
  changes[0].hlc = engine::Hlc::FromParts(now_ms + 5 * 60 * 1000, 7).value();
  ASSERT_TRUE(store_->IngestBatch(
      Batch("0189a0b0-0000-7000-8000-000000000b08", changes), AllowAll));
  store_.reset();
  auto reopened =
      SqlcipherCentralStore::Open(root_ / "central", kStorePassphrase, options_);
  ASSERT_TRUE(reopened) << reopened.error().ToString();
  store_ = std::move(*reopened);
  // The first central write after the restart is stamped after it, so it
  // wins a later merge against the pushed value as it would have before.
  auto site = store_->AddSite({"Kakamega clinic", "Western", "Africa/Nairobi"},
                              "");
  ASSERT_TRUE(site) << site.error().ToString();
  auto page = store_->Pull(*site, 0, 1000);
  ASSERT_TRUE(page);
  ASSERT_FALSE(page->changes.empty());
  for (const ChangeEntry& e : page->changes) {
    EXPECT_GT(e.hlc, changes[0].hlc) << e.id;
  }
}

}  // namespace
}  // namespace pulse::sync_server
