// Crash consistency: a child process writes patients and edits through the
// real local write path into one encrypted replica and is SIGKILLed at a
// random moment, 50 times over the same file. After every kill the database
// opens with its key, passes PRAGMA integrity_check, holds every write the
// child saw committed (and otherwise only writes it had started), and its
// change log matches its rows: every field's value is the one written by
// the newest change-log entry for that field, and stamps increase with the
// log's order across all the restarts.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "support/temp_dir.h"

#include "pulse/engine/clinic_schema.h"
#include "pulse/engine/clock.h"
#include "pulse/engine/local_writer.h"
#include "pulse/engine/migrations.h"

namespace pulse::engine {
namespace {

namespace fs = std::filesystem;

constexpr int kKills = 50;

DatabaseKey Key() {
  static const std::array<std::uint8_t, kDatabaseKeyBytes> key = [] {
    std::array<std::uint8_t, kDatabaseKeyBytes> k{};
    for (std::size_t i = 0; i < k.size(); ++i) k[i] = static_cast<std::uint8_t>(i * 7 + 1);
    return k;
  }();
  return DatabaseKey(key);
}

void Say(int fd, const std::string& line) {
  // One write(2) per line: atomic on a pipe (< PIPE_BUF), and survives the
  // writer being killed right after.
  const std::string text = line + "\n";
  ssize_t ignored = ::write(fd, text.data(), text.size());
  (void)ignored;
}

// The child: writes until killed. "intent <row> <col> <value>" before each
// commit, "ack <row> <col> <value>" after it. Exits 3 on any error.
[[noreturn]] void ChildWriter(const fs::path& path, int fd, unsigned seed) {
  auto db = Database::Open(path, Key(), {});
  if (!db) _exit(3);
  if (!Migrate(*db, schema::ClinicMigrations(), SystemClock())) _exit(3);
  HybridClock clock(HybridClock::Options{&SystemClock(), Hlc()});
  UuidV7Generator ids(SystemClock());
  // The site id is fixed across runs: the same replica restarting.
  const std::string site = "0189a0b0-0000-7000-8000-0000000000aa";
  const std::string author = "0189a0b0-0000-7000-8000-0000000000bb";
  auto writer = LocalWriter::Create(*db, clock, ids, site);
  if (!writer) _exit(3);
  std::mt19937 rng(seed);
  std::vector<std::string> rows;
  for (int n = 0;; ++n) {
    RowWrite write;
    write.table = "patients";
    std::string column;
    std::string value = "v" + std::to_string(seed) + "_" + std::to_string(n);
    if (rows.empty() || rng() % 3 == 0) {
      write.row = ids.Next().ToString();
      column = "mrn";
      rows.push_back(write.row);
      write.fields = {{"site_id", site}, {"mrn", value}};
    } else {
      write.row = rows[rng() % rows.size()];
      column = rng() % 2 == 0 ? "given_name" : "address";
      write.fields = {{column, value}};
    }
    Say(fd, "intent " + write.row + " " + column + " " + value);
    if (!(*writer)->Commit(std::span<const RowWrite>(&write, 1), author)) {
      _exit(3);
    }
    Say(fd, "ack " + write.row + " " + column + " " + value);
  }
}

struct FieldKey {
  std::string row, column;
  auto operator<=>(const FieldKey&) const = default;
};

class CrashTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = pulse::testing::TempRoot() / "crash_test";
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

TEST_F(CrashTest, EveryAcknowledgedWriteSurvivesSigkill) {
  const fs::path path = dir_ / "replica.db";
  const unsigned seed =
      static_cast<unsigned>(::testing::UnitTest::GetInstance()->random_seed());
  std::mt19937 rng(seed);
  // For each field: the last acknowledged value, and values started since.
  std::map<FieldKey, std::string> acked;
  std::map<FieldKey, std::set<std::string>> in_flight;
  int total_acks = 0;

  for (int kill = 0; kill < kKills; ++kill) {
    SCOPED_TRACE("kill " + std::to_string(kill) + ", seed " +
                 std::to_string(seed));
    int fds[2];
    ASSERT_EQ(::pipe(fds), 0);
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      ::close(fds[0]);
      ChildWriter(path, fds[1], seed * 100 + static_cast<unsigned>(kill));
    }
    ::close(fds[1]);
    // Let it run 20–150 ms (opening, migrating on the first run, writing).
    std::this_thread::sleep_for(std::chrono::milliseconds(20 + rng() % 130));
    ASSERT_EQ(::kill(pid, SIGKILL), 0);
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFSIGNALED(status))
        << "the writer stopped by itself (exit " << WEXITSTATUS(status)
        << "): it failed before the kill";

    std::string text;
    char buffer[4096];
    for (ssize_t n; (n = ::read(fds[0], buffer, sizeof buffer)) > 0;) {
      text.append(buffer, static_cast<std::size_t>(n));
    }
    ::close(fds[0]);
    std::istringstream lines(text);
    for (std::string line; std::getline(lines, line);) {
      std::istringstream words(line);
      std::string kind, row, column, value;
      if (!(words >> kind >> row >> column >> value)) continue;  // torn tail
      const FieldKey key{row, column};
      if (kind == "intent") {
        in_flight[key].insert(value);
      } else {
        acked[key] = value;
        in_flight[key].clear();
        ++total_acks;
      }
    }

    auto db = Database::Open(path, Key(), {.create_if_missing = false});
    if (!db.has_value() && db.error().code() == ErrorCode::kNotFound) {
      continue;  // killed before it created the file
    }
    ASSERT_TRUE(db.has_value()) << db.error().ToString();
    {
      auto check = db->Prepare("PRAGMA integrity_check");
      ASSERT_TRUE(check.has_value());
      ASSERT_TRUE(check->Step().value());
      EXPECT_EQ(check->ColumnText(0).value(), "ok");
    }
    if (acked.empty()) continue;

    // Every acknowledged field holds its acknowledged value, or one the
    // child had started writing after it.
    auto read = db->Prepare(
        "SELECT mrn, given_name, address FROM patients WHERE id = ?");
    ASSERT_TRUE(read.has_value());
    for (const auto& [key, value] : acked) {
      read->Reset();
      ASSERT_TRUE(read->BindText(1, key.row));
      ASSERT_TRUE(read->Step().value()) << "acknowledged row lost: " << key.row;
      const int column = key.column == "mrn" ? 0 : key.column == "given_name" ? 1 : 2;
      const std::string stored(read->ColumnText(column).value());
      const bool newer = in_flight[key].contains(stored);
      EXPECT_TRUE(stored == value || newer)
          << key.row << "." << key.column << " = " << stored
          << ", acknowledged " << value;
      if (newer) {  // that write did commit: it is the new baseline
        acked[key] = stored;
        in_flight[key].clear();
      }
    }

    // The change log matches the rows, and its stamps increase in log order
    // across every restart.
    auto log = db->Prepare("SELECT hlc, entry FROM change_log ORDER BY seq");
    ASSERT_TRUE(log.has_value());
    std::map<FieldKey, std::string> from_log;
    std::int64_t previous_hlc = 0;
    std::int64_t entries = 0;
    while (log->Step().value()) {
      const std::int64_t hlc = log->ColumnInt64(0).value();
      EXPECT_GT(hlc, previous_hlc);
      previous_hlc = hlc;
      auto entry = DecodeChange(log->ColumnText(1).value());
      ASSERT_TRUE(entry.has_value()) << entry.error().ToString();
      for (const auto& [column, value] : entry->fields) {
        if (column == "site_id") continue;
        from_log[{entry->row, column}] = std::get<std::string>(value);
      }
      ++entries;
    }
    auto applied = db->Prepare("SELECT count(*) FROM applied_changes");
    ASSERT_TRUE(applied->Step().value());
    EXPECT_EQ(applied->ColumnInt64(0).value(), entries);
    for (const auto& [key, value] : from_log) {
      read->Reset();
      ASSERT_TRUE(read->BindText(1, key.row));
      ASSERT_TRUE(read->Step().value());
      const int column = key.column == "mrn" ? 0 : key.column == "given_name" ? 1 : 2;
      EXPECT_EQ(read->ColumnText(column).value(), value)
          << key.row << "." << key.column;
    }
  }
  // The kills must have landed mid-work, or this proves nothing.
  EXPECT_GT(total_acks, kKills);
  std::printf("%d kills, %d acknowledged writes, all present\n", kKills,
              total_acks);
}

}  // namespace
}  // namespace pulse::engine
