// Tests for the central store's group commit (sqlcipher_central_store.h):
// many threads ingesting at once each get their own answer, every batch is
// applied exactly once and is visible when its answer arrives, a refused
// batch is rolled back alone while the batches grouped with it commit, and
// the same batch id pushed concurrently is applied once.
//
// Grouping is forced where it matters: the first batch's authorizer holds
// the writer (the leader) for a moment while the other threads queue, so
// they all land in the next group together.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "pulse/engine/key_file.h"
#include "pulse/engine/password.h"
#include "pulse/sync_server/sqlcipher_central_store.h"
#include "sync-server/server_fixture.h"
#include "synthetic_changes.h"

namespace pulse::sync_server {
namespace {

namespace fs = std::filesystem;
using engine::ChangeEntry;
using std::chrono::milliseconds;
using testing::AllowAll;

class GroupCommitTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    root_ = testing::FreshTempDir(std::string("group_") + info->name());
    auto store = SqlcipherCentralStore::Create(
        root_ / "central", testing::kStorePassphrase,
        testing::TestStoreOptions());
    ASSERT_TRUE(store) << store.error().ToString();
    store_ = std::move(*store);
    auto site = store_->AddSite(testing::KisumuClinic(), "");
    ASSERT_TRUE(site) << site.error().ToString();
    site_ = *site;
    auto user = store_->AddUser(testing::KisumuTechnician(site_), "");
    ASSERT_TRUE(user) << user.error().ToString();
    user_ = *user;
  }
  void TearDown() override {
    store_.reset();
    fs::remove_all(root_);
  }

  // Batches of new patients of site_, one synthetic clinic per batch.
  std::vector<std::vector<ChangeEntry>> MakeBatches(int batches, int size) {
    std::vector<std::vector<ChangeEntry>> out;
    for (int b = 0; b < batches; ++b) {
      sync_load::SyntheticSite synth(site_, user_, 1000 + b);
      out.push_back(synth.NewPatients(size));
    }
    return out;
  }

  IngestRequest Request(const std::string& batch_id,
                        const std::vector<ChangeEntry>& changes) {
    IngestRequest r;
    r.batch_id = batch_id;
    r.site = site_;
    r.pushed_by = user_;
    r.received_ms = 1;
    r.changes = changes;
    return r;
  }

  // Every patient entry id in site_'s global sequence, with its count.
  std::map<std::string, int> PulledPatientIds() {
    std::map<std::string, int> ids;
    std::int64_t cursor = 0;
    for (;;) {
      auto page = store_->Pull(site_, cursor, 1000);
      EXPECT_TRUE(page) << page.error().ToString();
      if (!page) return ids;
      for (const ChangeEntry& e : page->changes) {
        if (e.table == "patients") ++ids[e.id];
      }
      cursor = page->next_cursor;
      if (!page->more) return ids;
    }
  }

  fs::path root_;
  std::unique_ptr<SqlcipherCentralStore> store_;
  std::string site_, user_;
};

TEST_F(GroupCommitTest, ConcurrentBatchesAreEachAppliedOnceAndVisibleOnReturn) {
  constexpr int kThreads = 12;
  constexpr int kPerThread = 6;
  constexpr int kSize = 10;
  const auto batches = MakeBatches(kThreads * kPerThread, kSize);
  std::vector<std::string> failures(kThreads);
  std::atomic<bool> go{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      while (!go.load()) std::this_thread::yield();
      for (int k = 0; k < kPerThread; ++k) {
        const int b = t * kPerThread + k;
        const auto& changes = batches[static_cast<std::size_t>(b)];
        auto result = store_->IngestBatch(
            Request("batch-" + std::to_string(b), changes), AllowAll);
        if (!result) {
          failures[t] = result.error().ToString();
          return;
        }
        if (result->duplicate || result->accepted != kSize ||
            result->conflicts != 0) {
          failures[t] = "batch " + std::to_string(b) + ": accepted " +
                        std::to_string(result->accepted);
          return;
        }
        // Answered only after the commit: a reader connection sees it.
        auto page = store_->Pull(site_, 0, 10000);
        if (!page) {
          failures[t] = page.error().ToString();
          return;
        }
        bool seen = false;
        for (const ChangeEntry& e : page->changes) {
          seen = seen || e.id == changes.back().id;
        }
        if (!seen) {
          failures[t] = "batch " + std::to_string(b) +
                        " answered before a reader could see it";
          return;
        }
        // Other writes of the group path interleave with the ingests.
        if (Status s = store_->NoteSiteSync(site_, k % 2 == 0, 1000 + b); !s) {
          failures[t] = s.error().ToString();
          return;
        }
      }
    });
  }
  go = true;
  for (auto& t : threads) t.join();
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(failures[t], "") << t;

  const auto ids = PulledPatientIds();
  EXPECT_EQ(ids.size(),
            static_cast<std::size_t>(kThreads * kPerThread * kSize));
  for (const auto& batch : batches) {
    for (const ChangeEntry& e : batch) {
      auto it = ids.find(e.id);
      ASSERT_NE(it, ids.end()) << e.id;
      EXPECT_EQ(it->second, 1) << e.id;
    }
  }
}

TEST_F(GroupCommitTest, RefusedBatchesRollBackAloneInsideAGroup) {
  constexpr int kBatches = 12;
  auto batches = MakeBatches(kBatches, 5);
  // Batches 3 and 7 are refused by the authorizer at their last entry (after
  // four entries were merged); batch 9 names a table that does not exist.
  batches[9][2].table = "no_such_table";
  auto authorize = [](const std::string& tag) {
    return [tag](std::size_t i, const ChangeEntry&,
                 const RowContext&) -> Status {
      if (tag == "hold" && i == 0) {
        std::this_thread::sleep_for(milliseconds(400));
      }
      if (tag == "refuse" && i == 4) {
        return Fail(ErrorCode::kPermissionDenied, "changes[4]: refused");
      }
      return OkStatus();
    };
  };
  std::vector<Result<IngestResult>> results(
      kBatches, Fail(ErrorCode::kNotFound, "not run"));
  std::vector<std::thread> threads;
  // Batch 0 leads a group alone and holds the writer; the rest queue and
  // form the next group together.
  threads.emplace_back([&] {
    results[0] = store_->IngestBatch(Request("b0", batches[0]),
                                     authorize("hold"));
  });
  std::this_thread::sleep_for(milliseconds(100));
  for (int b = 1; b < kBatches; ++b) {
    threads.emplace_back([&, b] {
      const bool refused = b == 3 || b == 7;
      results[b] = store_->IngestBatch(
          Request("b" + std::to_string(b), batches[b]),
          authorize(refused ? "refuse" : "allow"));
    });
  }
  for (auto& t : threads) t.join();

  for (int b = 0; b < kBatches; ++b) {
    if (b == 3 || b == 7) {
      ASSERT_FALSE(results[b]) << b;
      EXPECT_EQ(results[b].error().code(), ErrorCode::kPermissionDenied);
      EXPECT_EQ(results[b].error().message(), "changes[4]: refused");
    } else if (b == 9) {
      ASSERT_FALSE(results[b]);
      EXPECT_EQ(results[b].error().code(), ErrorCode::kInvalidArgument);
    } else {
      ASSERT_TRUE(results[b]) << b << ": " << results[b].error().ToString();
      EXPECT_EQ(results[b]->accepted, 5) << b;
      EXPECT_FALSE(results[b]->duplicate) << b;
    }
  }
  const auto ids = PulledPatientIds();
  EXPECT_EQ(ids.size(), static_cast<std::size_t>((kBatches - 3) * 5));
  for (int b : {3, 7, 9}) {
    for (const ChangeEntry& e : batches[b]) {
      EXPECT_FALSE(ids.contains(e.id)) << "refused batch " << b << " leaked";
    }
  }
  // A refused batch is not remembered: the same id, fixed, goes through.
  batches[9][2].table = "patients";
  auto retry = store_->IngestBatch(Request("b9", batches[9]), AllowAll);
  ASSERT_TRUE(retry) << retry.error().ToString();
  EXPECT_FALSE(retry->duplicate);
  EXPECT_EQ(retry->accepted, 5);
}

TEST_F(GroupCommitTest, SameBatchPushedConcurrentlyIsAppliedOnce) {
  const auto batches = MakeBatches(2, 20);
  constexpr int kCopies = 8;
  std::vector<Result<IngestResult>> results(
      kCopies, Fail(ErrorCode::kNotFound, "not run"));
  std::vector<std::thread> threads;
  // A holder batch makes the copies queue into one group.
  threads.emplace_back([&] {
    auto r = store_->IngestBatch(
        Request("holder", batches[0]),
        [](std::size_t i, const ChangeEntry&, const RowContext&) -> Status {
          if (i == 0) std::this_thread::sleep_for(milliseconds(300));
          return OkStatus();
        });
    EXPECT_TRUE(r);
  });
  std::this_thread::sleep_for(milliseconds(100));
  for (int c = 0; c < kCopies; ++c) {
    threads.emplace_back([&, c] {
      results[c] = store_->IngestBatch(Request("same", batches[1]), AllowAll);
    });
  }
  for (auto& t : threads) t.join();
  int fresh = 0;
  for (int c = 0; c < kCopies; ++c) {
    ASSERT_TRUE(results[c]) << results[c].error().ToString();
    EXPECT_EQ(results[c]->accepted, 20) << c;  // duplicates echo the first
    if (!results[c]->duplicate) ++fresh;
  }
  EXPECT_EQ(fresh, 1);
  // And once more, later, on its own.
  auto again = store_->IngestBatch(Request("same", batches[1]), AllowAll);
  ASSERT_TRUE(again);
  EXPECT_TRUE(again->duplicate);
  const auto ids = PulledPatientIds();
  EXPECT_EQ(ids.size(), 40u);
  for (const auto& [id, n] : ids) EXPECT_EQ(n, 1) << id;
}

}  // namespace
}  // namespace pulse::sync_server
