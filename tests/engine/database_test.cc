// Tests of the SQLCipher wrapper (pulse/engine/database.h): typed round trips,
// transactions, locking between connections, error contents, all-or-nothing
// opening, and that the file on disk really is encrypted (checked with the
// real `sqlcipher` and `sqlite3` command-line tools).
#include "pulse/engine/database.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "support/test_data.h"
#include "tools/run_tool.h"

namespace pulse::engine {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;

#define ASSERT_OK(expr)                      \
  do {                                       \
    const auto& pulse_result_ = (expr);      \
    ASSERT_TRUE(pulse_result_.has_value())   \
        << pulse_result_.error().ToString(); \
  } while (0)

constexpr std::array<std::uint8_t, kDatabaseKeyBytes> MakeKey(
    std::uint8_t seed) {
  std::array<std::uint8_t, kDatabaseKeyBytes> key{};
  for (std::size_t i = 0; i < key.size(); ++i) {
    key[i] = static_cast<std::uint8_t>(seed + 37 * i);
  }
  return key;
}

std::string Hex(std::span<const std::uint8_t> bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (const std::uint8_t b : bytes) {
    out.push_back(kDigits[b >> 4]);
    out.push_back(kDigits[b & 15]);
  }
  return out;
}

std::string ReadBytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in),
                     std::istreambuf_iterator<char>());
}

void WriteBytes(const fs::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
}

// File descriptors of this process open on `path` or its -wal / -shm
// companions: a failed Open must leave none.
int OpenDescriptorsOn(const fs::path& path) {
  const std::string base = fs::weakly_canonical(path).string();
  int count = 0;
  for (const auto& entry : fs::directory_iterator("/proc/self/fd")) {
    std::error_code ec;
    const std::string target = fs::read_symlink(entry.path(), ec).string();
    if (!ec && (target == base || target == base + "-wal" ||
                target == base + "-shm")) {
      ++count;
    }
  }
  return count;
}

// Absolute path of `name` on $PATH, or empty.
std::string FindOnPath(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::string dirs = path != nullptr ? path : "/usr/bin:/bin";
  std::size_t start = 0;
  while (start <= dirs.size()) {
    std::size_t end = dirs.find(':', start);
    if (end == std::string::npos) end = dirs.size();
    const fs::path candidate = fs::path(dirs.substr(start, end - start)) / name;
    if (access(candidate.c_str(), X_OK) == 0) return candidate.string();
    start = end + 1;
  }
  return {};
}

class DatabaseTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl =
        (fs::temp_directory_path() / "pulse_database_test_XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    path_ = dir_ / "replica.db";
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  Result<Database> OpenWith(const std::array<std::uint8_t, 32>& key,
                            const DatabaseOptions& options = {}) {
    return Database::Open(path_, DatabaseKey(key), options);
  }

  // A CLI test helper: the tool, or skip (fail under CI=true) when absent.
  std::string RequireTool(const std::string& name) {
    std::string tool = FindOnPath(name);
    if (tool.empty() && testing::RunningInCi()) {
      ADD_FAILURE() << "`" << name << "` CLI missing under CI (tools/setup "
                    << "installs it)";
    }
    return tool;
  }

  const std::array<std::uint8_t, 32> key_ = MakeKey(7);
  fs::path dir_;
  fs::path path_;
};

TEST_F(DatabaseTest, RoundTripsEveryType) {
  Result<Database> db = OpenWith(key_);
  ASSERT_OK(db);
  EXPECT_TRUE(db->encrypted());
  ASSERT_OK(db->Execute("CREATE TABLE t(i INTEGER, d REAL, s TEXT, b BLOB)"));
  std::vector<std::uint8_t> all_bytes(256);
  for (int i = 0; i < 256; ++i) all_bytes[i] = static_cast<std::uint8_t>(i);
  const char kText[] = "Ngozi \xc3\x89milie\0tail";  // UTF-8, inner NUL
  const std::string text(kText, sizeof(kText) - 1);

  Result<Statement> insert = db->Prepare("INSERT INTO t VALUES(?, ?, ?, ?)");
  ASSERT_OK(insert);
  EXPECT_EQ(insert->ParameterCount(), 4);
  ASSERT_OK(insert->BindInt64(1, INT64_MIN));
  ASSERT_OK(insert->BindDouble(2, -1.5e300));
  ASSERT_OK(insert->BindText(3, text));
  ASSERT_OK(insert->BindBlob(4, all_bytes));
  ASSERT_OK(insert->Run());
  EXPECT_EQ(db->ChangedRowCount(), 1);
  EXPECT_EQ(db->LastInsertRowId(), 1);
  insert->Reset();  // every parameter back to NULL
  ASSERT_OK(insert->BindInt64(1, INT64_MAX));
  ASSERT_OK(insert->Run());

  Result<Statement> select =
      db->Prepare("SELECT i, d, s, b FROM t ORDER BY rowid");
  ASSERT_OK(select);
  ASSERT_EQ(select->Step(), true);
  EXPECT_EQ(select->ColumnCount(), 4);
  EXPECT_EQ(select->GetColumnType(0), ColumnType::kInteger);
  EXPECT_EQ(select->GetColumnType(1), ColumnType::kFloat);
  EXPECT_EQ(select->GetColumnType(2), ColumnType::kText);
  EXPECT_EQ(select->GetColumnType(3), ColumnType::kBlob);
  EXPECT_EQ(select->ColumnInt64(0), std::int64_t{INT64_MIN});
  EXPECT_EQ(select->ColumnDouble(1), -1.5e300);
  EXPECT_EQ(select->ColumnText(2), std::string_view(text));
  Result<std::span<const std::uint8_t>> blob = select->ColumnBlob(3);
  ASSERT_OK(blob);
  EXPECT_EQ(std::vector<std::uint8_t>(blob->begin(), blob->end()), all_bytes);

  ASSERT_EQ(select->Step(), true);
  EXPECT_EQ(select->ColumnInt64(0), std::int64_t{INT64_MAX});
  for (int column = 1; column < 4; ++column) {
    EXPECT_TRUE(select->IsNull(column)) << column;
  }
  EXPECT_EQ(select->Step(), false);
}

TEST_F(DatabaseTest, EmptyTextAndBlobAreNotNull) {
  Result<Database> db = OpenWith(key_);
  ASSERT_OK(db);
  ASSERT_OK(db->Execute("CREATE TABLE t(s TEXT, b BLOB)"));
  Result<Statement> insert = db->Prepare("INSERT INTO t VALUES(?, ?)");
  ASSERT_OK(insert);
  ASSERT_OK(insert->BindText(1, std::string_view()));
  ASSERT_OK(insert->BindBlob(2, std::span<const std::uint8_t>()));
  ASSERT_OK(insert->Run());

  Result<Statement> select =
      db->Prepare("SELECT s, b, s IS NULL, b IS NULL FROM t");
  ASSERT_OK(select);
  ASSERT_EQ(select->Step(), true);
  EXPECT_EQ(select->ColumnText(0), std::string_view(""));
  Result<std::span<const std::uint8_t>> blob = select->ColumnBlob(1);
  ASSERT_OK(blob);
  EXPECT_TRUE(blob->empty());
  EXPECT_EQ(select->ColumnInt64(2), std::int64_t{0});
  EXPECT_EQ(select->ColumnInt64(3), std::int64_t{0});
}

TEST_F(DatabaseTest, TypedReadsRefuseOtherStorageClassesAndNull) {
  Result<Database> db = OpenWith(key_);
  ASSERT_OK(db);
  Result<Statement> select =
      db->Prepare("SELECT NULL AS missing, 'abc' AS word, 42 AS n");
  ASSERT_OK(select);
  EXPECT_EQ(select->ColumnInt64(0).error().code(),
            ErrorCode::kInvalidArgument);  // no row yet
  ASSERT_EQ(select->Step(), true);
  EXPECT_TRUE(select->IsNull(0));

  Result<std::int64_t> from_null = select->ColumnInt64(0);
  ASSERT_FALSE(from_null);
  EXPECT_EQ(from_null.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(from_null.error().message().find("(missing) is NULL"),
            std::string::npos)
      << from_null.error().message();

  Result<std::int64_t> from_text = select->ColumnInt64(1);
  ASSERT_FALSE(from_text);
  EXPECT_NE(
      from_text.error().message().find("(word) is TEXT, expected INTEGER"),
      std::string::npos)
      << from_text.error().message();
  EXPECT_FALSE(select->ColumnBlob(1));
  EXPECT_FALSE(select->ColumnText(2));
  EXPECT_EQ(select->ColumnDouble(2), 42.0);  // widening is exact
  EXPECT_EQ(select->ColumnInt64(3).error().code(), ErrorCode::kInvalidArgument);
}

TEST_F(DatabaseTest, OpensInWalWithForeignKeysAndChosenPageSize) {
  Result<Database> db = OpenWith(key_);
  ASSERT_OK(db);
  for (const auto& [pragma, want] :
       std::vector<std::pair<std::string, std::string>>{
           {"PRAGMA journal_mode", "wal"},
           {"PRAGMA foreign_keys", "1"},
           {"PRAGMA synchronous", "2"},  // FULL
           {"PRAGMA cipher_page_size", "4096"},
           {"PRAGMA page_size", "4096"}}) {
    Result<Statement> s = db->Prepare(pragma);
    ASSERT_OK(s);
    ASSERT_EQ(s->Step(), true) << pragma;
    Result<std::string_view> text = s->ColumnText(0);
    const std::string got =
        text ? std::string(*text) : std::to_string(*s->ColumnInt64(0));
    EXPECT_EQ(got, want) << pragma;
  }
}

TEST_F(DatabaseTest, CommittedTransactionPersistsAcrossReopen) {
  {
    Result<Database> db = OpenWith(key_);
    ASSERT_OK(db);
    ASSERT_OK(db->Execute("CREATE TABLE t(x INTEGER)"));
    Result<Transaction> tx = db->Begin(TransactionMode::kImmediate);
    ASSERT_OK(tx);
    EXPECT_TRUE(db->InTransaction());
    ASSERT_OK(db->Execute("INSERT INTO t VALUES(1); INSERT INTO t VALUES(2)"));
    ASSERT_OK(tx->Commit());
    EXPECT_FALSE(db->InTransaction());
  }
  Result<Database> db = OpenWith(key_);
  ASSERT_OK(db);
  Result<Statement> count = db->Prepare("SELECT count(*) FROM t");
  ASSERT_OK(count);
  ASSERT_EQ(count->Step(), true);
  EXPECT_EQ(count->ColumnInt64(0), std::int64_t{2});
}

TEST_F(DatabaseTest, UncommittedTransactionRollsBackWhenDestroyed) {
  Result<Database> db = OpenWith(key_);
  ASSERT_OK(db);
  ASSERT_OK(db->Execute("CREATE TABLE t(x INTEGER)"));
  for (TransactionMode mode :
       {TransactionMode::kDeferred, TransactionMode::kImmediate,
        TransactionMode::kExclusive}) {
    Result<Transaction> tx = db->Begin(mode);
    ASSERT_OK(tx);
    ASSERT_OK(db->Execute("INSERT INTO t VALUES(1)"));
  }  // each `tx` dies uncommitted here
  {
    Result<Transaction> tx = db->Begin(TransactionMode::kDeferred);
    ASSERT_OK(tx);
    ASSERT_OK(db->Execute("INSERT INTO t VALUES(2)"));
    ASSERT_OK(tx->Rollback());
  }
  EXPECT_FALSE(db->InTransaction());
  Result<Statement> count = db->Prepare("SELECT count(*) FROM t");
  ASSERT_OK(count);
  ASSERT_EQ(count->Step(), true);
  EXPECT_EQ(count->ColumnInt64(0), std::int64_t{0});
}

TEST_F(DatabaseTest, TransactionsDoNotNest) {
  Result<Database> db = OpenWith(key_);
  ASSERT_OK(db);
  Result<Transaction> outer = db->Begin(TransactionMode::kDeferred);
  ASSERT_OK(outer);
  Result<Transaction> inner = db->Begin(TransactionMode::kDeferred);
  ASSERT_FALSE(inner);
  EXPECT_EQ(inner.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_TRUE(db->InTransaction());  // the failed Begin left `outer` alone
  ASSERT_OK(outer->Commit());
}

TEST_F(DatabaseTest, SecondWriterGetsRetryableBusyAfterTheTimeout) {
  DatabaseOptions options;
  options.busy_timeout = milliseconds(150);
  Result<Database> a = OpenWith(key_, options);
  ASSERT_OK(a);
  ASSERT_OK(a->Execute("CREATE TABLE t(x INTEGER); INSERT INTO t VALUES(1)"));
  Result<Database> b = OpenWith(key_, options);
  ASSERT_OK(b);

  std::optional<Transaction> writer;
  {
    Result<Transaction> tx = a->Begin(TransactionMode::kImmediate);
    ASSERT_OK(tx);
    writer.emplace(std::move(*tx));
  }
  ASSERT_OK(a->Execute("INSERT INTO t VALUES(2)"));

  const auto start = std::chrono::steady_clock::now();
  Result<Transaction> blocked = b->Begin(TransactionMode::kImmediate);
  const auto waited = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(blocked);
  EXPECT_EQ(blocked.error().code(), ErrorCode::kBusy);
  EXPECT_NE(blocked.error().message().find("database is locked"),
            std::string::npos)
      << blocked.error().message();
  EXPECT_NE(blocked.error().message().find("BEGIN IMMEDIATE"),
            std::string::npos);
  EXPECT_GE(waited, milliseconds(100));  // it waited, then gave up
  EXPECT_FALSE(b->InTransaction());

  // WAL: the reader is not blocked and sees only committed rows.
  Result<Statement> count = b->Prepare("SELECT count(*) FROM t");
  ASSERT_OK(count);
  ASSERT_EQ(count->Step(), true);
  EXPECT_EQ(count->ColumnInt64(0), std::int64_t{1});
  count->Reset();

  ASSERT_OK(writer->Commit());
  writer.reset();
  Result<Transaction> retried = b->Begin(TransactionMode::kImmediate);
  ASSERT_OK(retried);
  ASSERT_EQ(count->Step(), true);
  EXPECT_EQ(count->ColumnInt64(0), std::int64_t{2});
}

TEST_F(DatabaseTest, DestroyedTransactionReleasesTheWriteLock) {
  DatabaseOptions options;
  options.busy_timeout = milliseconds(0);
  Result<Database> a = OpenWith(key_, options);
  ASSERT_OK(a);
  Result<Database> b = OpenWith(key_, options);
  ASSERT_OK(b);
  {
    Result<Transaction> tx = a->Begin(TransactionMode::kExclusive);
    ASSERT_OK(tx);
    EXPECT_EQ(b->Begin(TransactionMode::kImmediate).error().code(),
              ErrorCode::kBusy);
  }
  ASSERT_OK(b->Begin(TransactionMode::kImmediate));
}

TEST_F(DatabaseTest, ErrorsCarryTheSqlAndSqliteMessageButNotBoundValues) {
  Result<Database> db = OpenWith(key_);
  ASSERT_OK(db);

  Result<Statement> syntax = db->Prepare("SELEC name FROM patients");
  ASSERT_FALSE(syntax);
  EXPECT_EQ(syntax.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(syntax.error().message().find("syntax error"), std::string::npos);
  EXPECT_NE(syntax.error().message().find("SELEC name FROM patients"),
            std::string::npos)
      << syntax.error().message();

  Result<Statement> no_table = db->Prepare("SELECT name FROM patients");
  ASSERT_FALSE(no_table);
  EXPECT_NE(no_table.error().message().find("no such table: patients"),
            std::string::npos);

  ASSERT_OK(db->Execute("CREATE TABLE patients(mrn TEXT UNIQUE NOT NULL)"));
  Result<Statement> insert = db->Prepare("INSERT INTO patients VALUES(?)");
  ASSERT_OK(insert);
  ASSERT_OK(insert->BindText(1, "MRN-SECRET-4711"));
  ASSERT_OK(insert->Run());
  const Status duplicate = insert->Run();
  ASSERT_FALSE(duplicate);
  EXPECT_EQ(duplicate.error().code(), ErrorCode::kConstraint);
  const std::string& message = duplicate.error().message();
  EXPECT_NE(message.find("UNIQUE constraint failed: patients.mrn"),
            std::string::npos)
      << message;
  EXPECT_NE(message.find("INSERT INTO patients VALUES(?)"), std::string::npos);
  EXPECT_EQ(message.find("MRN-SECRET-4711"), std::string::npos) << message;

  insert->Reset();  // parameter now NULL
  EXPECT_EQ(insert->Run().error().code(), ErrorCode::kConstraint);
  EXPECT_EQ(insert->BindText(2, "x").error().code(),
            ErrorCode::kInvalidArgument);
}

TEST_F(DatabaseTest, LongSqlIsCutInErrors) {
  Result<Database> db = OpenWith(key_);
  ASSERT_OK(db);
  std::string sql = "SELECT 1 FROM missing_table WHERE x IN (";
  for (int i = 0; i < 500; ++i) sql += std::to_string(i) + ",\n ";
  sql += "0)";
  Result<Statement> s = db->Prepare(sql);
  ASSERT_FALSE(s);
  const std::string& message = s.error().message();
  EXPECT_NE(message.find("SELECT 1 FROM missing_table WHERE x IN (0, 1, 2"),
            std::string::npos)
      << message;  // newlines folded
  EXPECT_NE(message.find("...\""), std::string::npos);
  EXPECT_LT(message.size(), kMaxSqlInError + 120);
}

TEST_F(DatabaseTest, PrepareTakesOneStatementAndExecuteAScript) {
  Result<Database> db = OpenWith(key_);
  ASSERT_OK(db);
  EXPECT_EQ(db->Prepare("SELECT 1; SELECT 2").error().code(),
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(db->Prepare("  -- nothing\n").error().code(),
            ErrorCode::kInvalidArgument);
  ASSERT_OK(db->Prepare("SELECT 1; -- trailing comment\n"));

  ASSERT_OK(
      db->Execute("CREATE TABLE a(x); -- comment\n"
                  "INSERT INTO a VALUES(1);\n"
                  "CREATE TABLE b(y);"));
  const Status failed = db->Execute(
      "INSERT INTO a VALUES(2); INSERT INTO nowhere VALUES(3); "
      "INSERT INTO a VALUES(4);");
  ASSERT_FALSE(failed);
  EXPECT_NE(failed.error().message().find("INSERT INTO nowhere VALUES(3)"),
            std::string::npos)
      << failed.error().message();
  // Statements before the failing one stay applied; those after never ran.
  Result<Statement> sum = db->Prepare("SELECT sum(x) FROM a");
  ASSERT_OK(sum);
  ASSERT_EQ(sum->Step(), true);
  EXPECT_EQ(sum->ColumnInt64(0), std::int64_t{3});
}

TEST_F(DatabaseTest, WrongKeyIsCorruptionAndLeavesNothingOpenOrChanged) {
  {
    Result<Database> db = OpenWith(key_);
    ASSERT_OK(db);
    ASSERT_OK(db->Execute("CREATE TABLE t(x); INSERT INTO t VALUES(1)"));
    ASSERT_GT(OpenDescriptorsOn(path_), 0);  // the probe sees a live handle
  }
  const std::string before = ReadBytes(path_);
  ASSERT_FALSE(before.empty());

  const auto wrong = MakeKey(8);
  Result<Database> db = OpenWith(wrong);
  ASSERT_FALSE(db);
  EXPECT_EQ(db.error().code(), ErrorCode::kCorruption);
  const std::string& message = db.error().message();
  EXPECT_NE(message.find("wrong key or not a database"), std::string::npos)
      << message;
  EXPECT_NE(message.find(path_.string()), std::string::npos);
  EXPECT_EQ(message.find(Hex(wrong)), std::string::npos);
  EXPECT_EQ(message.find(Hex(key_)), std::string::npos);

  EXPECT_EQ(OpenDescriptorsOn(path_), 0) << "a half-open connection remains";
  EXPECT_EQ(ReadBytes(path_), before);
  EXPECT_FALSE(fs::exists(path_.string() + "-wal"));

  // The database itself is unharmed.
  ASSERT_OK(OpenWith(key_));
}

TEST_F(DatabaseTest, EncryptionModeMismatchIsCorruption) {
  const fs::path plain = dir_ / "plain.db";
  {
    Result<Database> db = Database::OpenPlaintext(plain, {});
    ASSERT_OK(db);
    EXPECT_FALSE(db->encrypted());
    ASSERT_OK(db->Execute("CREATE TABLE t(x)"));
  }
  {
    Result<Database> db = OpenWith(key_);
    ASSERT_OK(db);
    ASSERT_OK(db->Execute("CREATE TABLE t(x)"));
  }
  Result<Database> keyed_plain = Database::Open(plain, DatabaseKey(key_), {});
  ASSERT_FALSE(keyed_plain);
  EXPECT_EQ(keyed_plain.error().code(), ErrorCode::kCorruption);
  Result<Database> unkeyed = Database::OpenPlaintext(path_, {});
  ASSERT_FALSE(unkeyed);
  EXPECT_EQ(unkeyed.error().code(), ErrorCode::kCorruption);
  EXPECT_EQ(OpenDescriptorsOn(plain) + OpenDescriptorsOn(path_), 0);
}

TEST_F(DatabaseTest, GarbageFileIsCorruption) {
  std::string garbage(3 * 4096, '\0');
  std::uint32_t x = 2463534242u;  // xorshift32: fixed, reproducible bytes
  for (char& c : garbage) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    c = static_cast<char>(x);
  }
  WriteBytes(path_, garbage);
  for (bool keyed : {true, false}) {
    Result<Database> db =
        keyed ? OpenWith(key_) : Database::OpenPlaintext(path_, {});
    ASSERT_FALSE(db) << keyed;
    EXPECT_EQ(db.error().code(), ErrorCode::kCorruption) << keyed;
    EXPECT_NE(db.error().message().find("not a database"), std::string::npos);
    EXPECT_EQ(OpenDescriptorsOn(path_), 0);
  }
  EXPECT_EQ(ReadBytes(path_), garbage);
}

TEST_F(DatabaseTest, TruncatedFileIsCorruption) {
  {
    Result<Database> db = OpenWith(key_);
    ASSERT_OK(db);
    ASSERT_OK(db->Execute("CREATE TABLE t(x TEXT)"));
    Result<Statement> insert = db->Prepare("INSERT INTO t VALUES(?)");
    ASSERT_OK(insert);
    for (int i = 0; i < 200; ++i) {
      ASSERT_OK(insert->BindText(
          1, std::string(500, static_cast<char>('a' + i % 26))));
      ASSERT_OK(insert->Run());
    }
  }
  const std::string whole = ReadBytes(path_);
  ASSERT_GT(whole.size(), 10u * 4096u);

  // Less than one page: page 1 cannot be authenticated.
  WriteBytes(path_, whole.substr(0, 100));
  Result<Database> stub = OpenWith(key_);
  ASSERT_FALSE(stub);
  EXPECT_EQ(stub.error().code(), ErrorCode::kCorruption);
  EXPECT_EQ(OpenDescriptorsOn(path_), 0);

  // Half the pages gone: page 1 still opens, reading the rest must fail
  // with kCorruption, never return rows silently.
  WriteBytes(path_, whole.substr(0, whole.size() / 2 / 4096 * 4096));
  Result<Database> db = OpenWith(key_);
  if (!db) {
    EXPECT_EQ(db.error().code(), ErrorCode::kCorruption);
    return;
  }
  Result<Statement> scan =
      db->Prepare("SELECT count(*), sum(length(x)) FROM t");
  ASSERT_OK(scan);
  Result<bool> row = scan->Step();
  ASSERT_FALSE(row) << "read a truncated table without error";
  EXPECT_EQ(row.error().code(), ErrorCode::kCorruption)
      << row.error().ToString();
}

// SQLCipher authenticates every page (HMAC-SHA1 in 3.x): one flipped bit in
// a data page is reported, not decrypted into wrong values.
TEST_F(DatabaseTest, FlippedBitInADataPageIsCorruption) {
  {
    Result<Database> db = OpenWith(key_);
    ASSERT_OK(db);
    ASSERT_OK(db->Execute("CREATE TABLE t(x TEXT)"));
    Result<Statement> insert = db->Prepare("INSERT INTO t VALUES(?)");
    ASSERT_OK(insert);
    for (int i = 0; i < 100; ++i) {
      ASSERT_OK(insert->BindText(1, std::string(500, 'x')));
      ASSERT_OK(insert->Run());
    }
  }
  std::string bytes = ReadBytes(path_);
  ASSERT_GT(bytes.size(), 6u * 4096u);
  bytes[5 * 4096 + 100] ^= 0x10;  // inside page 6, a leaf of `t`
  WriteBytes(path_, bytes);

  Result<Database> db = OpenWith(key_);
  ASSERT_OK(db);  // page 1 and the schema are intact
  Result<Statement> scan =
      db->Prepare("SELECT count(*), sum(length(x)) FROM t");
  ASSERT_OK(scan);
  Result<bool> row = scan->Step();
  ASSERT_FALSE(row) << "read a tampered page without error";
  EXPECT_EQ(row.error().code(), ErrorCode::kCorruption)
      << row.error().ToString();
}

TEST_F(DatabaseTest, MissingFileWithoutCreateIsNotFound) {
  DatabaseOptions options;
  options.create_if_missing = false;
  Result<Database> db = OpenWith(key_, options);
  ASSERT_FALSE(db);
  EXPECT_EQ(db.error().code(), ErrorCode::kNotFound);
  EXPECT_FALSE(fs::exists(path_));
}

TEST_F(DatabaseTest, BadOptionsAreInvalidArgument) {
  DatabaseOptions odd_page;
  odd_page.page_size_bytes = 3000;
  EXPECT_EQ(OpenWith(key_, odd_page).error().code(),
            ErrorCode::kInvalidArgument);
  DatabaseOptions negative_timeout;
  negative_timeout.busy_timeout = milliseconds(-1);
  EXPECT_EQ(OpenWith(key_, negative_timeout).error().code(),
            ErrorCode::kInvalidArgument);
  EXPECT_FALSE(fs::exists(path_));
}

// The "encryption is real" check, against the real tools rather
// than our own reader: no plaintext in the file; `sqlcipher` reads it only
// with the key; plain `sqlite3` cannot read it at all. A plaintext database
// written the same way is the control that shows the checks can fail.
TEST_F(DatabaseTest, EncryptionIsReal) {
  const std::string name = "Thandiwe Okonkwo-Marchetti";
  const fs::path plain = dir_ / "plain.db";
  for (const bool keyed : {true, false}) {
    Result<Database> db =
        keyed ? OpenWith(key_) : Database::OpenPlaintext(plain, {});
    ASSERT_OK(db);
    ASSERT_OK(db->Execute("CREATE TABLE patients(name TEXT)"));
    Result<Statement> insert = db->Prepare("INSERT INTO patients VALUES(?)");
    ASSERT_OK(insert);
    ASSERT_OK(insert->BindText(1, name));
    ASSERT_OK(insert->Run());
  }  // closing checkpoints and removes the -wal file
  ASSERT_FALSE(fs::exists(path_.string() + "-wal"));
  EXPECT_EQ(ReadBytes(path_).find(name), std::string::npos);
  EXPECT_EQ(ReadBytes(path_).find("patients"), std::string::npos);
  EXPECT_NE(ReadBytes(plain).find(name), std::string::npos);  // control

  const std::string sqlcipher = RequireTool("sqlcipher");
  const std::string sqlite3 = RequireTool("sqlite3");
  if (sqlcipher.empty() || sqlite3.empty()) {
    GTEST_SKIP() << "sqlcipher or sqlite3 CLI not on PATH";
  }
  const std::string query = "SELECT name FROM patients;";
  const std::string key_pragma = "PRAGMA key = \"x'" + Hex(key_) + "'\";";
  const std::string page_pragma = "PRAGMA cipher_page_size = " +
                                  std::to_string(kDefaultCipherPageSizeBytes) +
                                  ";";

  testing::ToolRun no_key =
      testing::RunTool(sqlcipher, {"-batch", path_.string(), query}, dir_);
  EXPECT_TRUE(no_key.exited);
  EXPECT_NE(no_key.exit_code, 0) << no_key.out;
  EXPECT_EQ(no_key.out.find(name), std::string::npos);
  EXPECT_NE(no_key.err.find("not a database"), std::string::npos) << no_key.err;

  const auto wrong = MakeKey(9);
  testing::ToolRun wrong_key = testing::RunTool(
      sqlcipher,
      {"-batch", "-cmd", "PRAGMA key = \"x'" + Hex(wrong) + "'\";", "-cmd",
       page_pragma, path_.string(), query},
      dir_);
  EXPECT_NE(wrong_key.exit_code, 0);
  EXPECT_EQ(wrong_key.out.find(name), std::string::npos);

  testing::ToolRun with_key =
      testing::RunTool(sqlcipher,
                       {"-batch", "-cmd", key_pragma, "-cmd", page_pragma,
                        path_.string(), query},
                       dir_);
  EXPECT_EQ(with_key.exit_code, 0) << with_key.err;
  EXPECT_NE(with_key.out.find(name), std::string::npos)
      << "out: " << with_key.out << " err: " << with_key.err;

  testing::ToolRun plain_tool =
      testing::RunTool(sqlite3, {"-batch", path_.string(), query}, dir_);
  EXPECT_TRUE(plain_tool.exited);
  EXPECT_NE(plain_tool.exit_code, 0);
  EXPECT_EQ(plain_tool.out.find(name), std::string::npos);
  EXPECT_NE(plain_tool.err.find("not a database"), std::string::npos)
      << plain_tool.err;

  testing::ToolRun control =
      testing::RunTool(sqlite3, {"-batch", plain.string(), query}, dir_);
  EXPECT_EQ(control.exit_code, 0) << control.err;
  EXPECT_NE(control.out.find(name), std::string::npos);
}

}  // namespace
}  // namespace pulse::engine
