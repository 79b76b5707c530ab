// The SQLCipher wrapper. Contracts and rationale: pulse/engine/database.h.
#include "pulse/engine/database.h"

#include <sodium.h>
#include <sqlite3.h>

#include <algorithm>
#include <array>
#include <climits>
#include <memory>
#include <string>
#include <system_error>
#include <utility>

namespace pulse::engine {
namespace {

// Symbolic name of a primary result code, so that logs are greppable.
std::string_view PrimaryCodeName(int rc) {
  switch (rc & 0xff) {
    case SQLITE_ERROR:
      return "SQLITE_ERROR";
    case SQLITE_INTERNAL:
      return "SQLITE_INTERNAL";
    case SQLITE_PERM:
      return "SQLITE_PERM";
    case SQLITE_ABORT:
      return "SQLITE_ABORT";
    case SQLITE_BUSY:
      return "SQLITE_BUSY";
    case SQLITE_LOCKED:
      return "SQLITE_LOCKED";
    case SQLITE_NOMEM:
      return "SQLITE_NOMEM";
    case SQLITE_READONLY:
      return "SQLITE_READONLY";
    case SQLITE_INTERRUPT:
      return "SQLITE_INTERRUPT";
    case SQLITE_IOERR:
      return "SQLITE_IOERR";
    case SQLITE_CORRUPT:
      return "SQLITE_CORRUPT";
    case SQLITE_NOTFOUND:
      return "SQLITE_NOTFOUND";
    case SQLITE_FULL:
      return "SQLITE_FULL";
    case SQLITE_CANTOPEN:
      return "SQLITE_CANTOPEN";
    case SQLITE_PROTOCOL:
      return "SQLITE_PROTOCOL";
    case SQLITE_SCHEMA:
      return "SQLITE_SCHEMA";
    case SQLITE_TOOBIG:
      return "SQLITE_TOOBIG";
    case SQLITE_CONSTRAINT:
      return "SQLITE_CONSTRAINT";
    case SQLITE_MISMATCH:
      return "SQLITE_MISMATCH";
    case SQLITE_MISUSE:
      return "SQLITE_MISUSE";
    case SQLITE_AUTH:
      return "SQLITE_AUTH";
    case SQLITE_RANGE:
      return "SQLITE_RANGE";
    case SQLITE_NOTADB:
      return "SQLITE_NOTADB";
  }
  return "SQLITE_UNKNOWN";
}

ErrorCode MapCode(int rc) {
  switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return ErrorCode::kBusy;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return ErrorCode::kCorruption;
    case SQLITE_CONSTRAINT:
      return ErrorCode::kConstraint;
    case SQLITE_ERROR:  // syntax, unknown table or column
    case SQLITE_RANGE:
    case SQLITE_MISMATCH:
    case SQLITE_TOOBIG:
    case SQLITE_MISUSE:
      return ErrorCode::kInvalidArgument;
    default:  // IOERR, FULL, CANTOPEN, READONLY, NOMEM, ...
      return ErrorCode::kIoError;
  }
}

// `sql` with runs of whitespace folded to one space (migrations span lines)
// and cut to kMaxSqlInError bytes on a UTF-8 boundary. Only the statement
// text is ever shown: bound values (patient data) never reach it.
std::string SqlForError(std::string_view sql) {
  std::string out;
  out.reserve(std::min(sql.size(), kMaxSqlInError + 3));
  bool pending_space = false;
  for (const char c : sql) {
    if (c == ' ' || c == '\n' || c == '\t' || c == '\r') {
      pending_space = !out.empty();
      continue;
    }
    if (pending_space) out.push_back(' ');
    pending_space = false;
    out.push_back(c);
    if (out.size() > kMaxSqlInError) break;
  }
  if (out.size() > kMaxSqlInError) {
    std::size_t cut = kMaxSqlInError;
    while (cut > 0 && (static_cast<unsigned char>(out[cut]) & 0xC0) == 0x80) {
      --cut;
    }
    out.resize(cut);
    out += "...";
  }
  return out;
}

// "<sqlite message> [SQLITE_X/<extended>] in SQL \"<sql>\"". `db` may be null
// (open failed before a handle existed); then sqlite3_errstr() speaks.
Error SqliteError(sqlite3* db, int rc, std::string_view sql) {
  std::string message = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  message += " [";
  message += PrimaryCodeName(rc);
  if (rc > 0xff) message += "/" + std::to_string(rc);
  message += "]";
  if (!sql.empty()) message += " in SQL \"" + SqlForError(sql) + "\"";
  return Error(MapCode(rc), std::move(message));
}

// Runs every row of one already-prepared statement, then finalizes it.
Status StepToEnd(sqlite3* db, sqlite3_stmt* stmt) {
  int rc;
  do {
    rc = sqlite3_step(stmt);
  } while (rc == SQLITE_ROW);
  Status status = OkStatus();
  if (rc != SQLITE_DONE) status = Fail(SqliteError(db, rc, sqlite3_sql(stmt)));
  sqlite3_finalize(stmt);
  return status;
}

// Runs a script of statements without parameters; the shared body of
// Database::Execute and of the set-up pragmas in Open().
Status RunScript(sqlite3* db, std::string_view sql) {
  if (sql.size() > static_cast<std::size_t>(INT_MAX)) {
    return Fail(ErrorCode::kInvalidArgument, "SQL text longer than 2 GiB");
  }
  const char* next = sql.data();
  const char* const end = sql.data() + sql.size();
  while (next < end) {
    sqlite3_stmt* stmt = nullptr;
    const char* tail = nullptr;
    const int rc = sqlite3_prepare_v2(db, next, static_cast<int>(end - next),
                                      &stmt, &tail);
    if (rc != SQLITE_OK) {
      return Fail(SqliteError(db, rc, std::string_view(next, end - next)));
    }
    next = tail;
    if (stmt == nullptr) continue;  // whitespace or a comment
    if (Status s = StepToEnd(db, stmt); !s) return s;
  }
  return OkStatus();
}

// The first column of the first row of `sql`, as text ("" when none).
Result<std::string> QueryText(sqlite3* db, std::string_view sql) {
  sqlite3_stmt* stmt = nullptr;
  int rc = sqlite3_prepare_v2(db, sql.data(), static_cast<int>(sql.size()),
                              &stmt, nullptr);
  if (rc != SQLITE_OK) return Fail(SqliteError(db, rc, sql));
  std::string value;
  rc = sqlite3_step(stmt);
  if (rc == SQLITE_ROW) {
    const unsigned char* text = sqlite3_column_text(stmt, 0);
    if (text != nullptr) value = reinterpret_cast<const char*>(text);
  }
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
    Error error = SqliteError(db, rc, sql);
    sqlite3_finalize(stmt);
    return Fail(std::move(error));
  }
  sqlite3_finalize(stmt);
  return value;
}

struct CloseConnection {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
using ConnectionGuard = std::unique_ptr<sqlite3, CloseConnection>;

// Applies the raw key as the blob literal x'<64 hex>' (SQLCipher's raw-key
// syntax: no PBKDF2 runs, the bytes are the AES key). sqlite3_key takes the
// same string PRAGMA key would, without the key ever becoming SQL text that
// a trace hook or an error message could echo. The hex copy is wiped.
Status ApplyKey(sqlite3* db, const std::uint8_t* key) {
  // x ' 64 hex ' and sodium_bin2hex's terminating NUL.
  std::array<char, 2 + 2 * kDatabaseKeyBytes + 2> literal;
  literal[0] = 'x';
  literal[1] = '\'';
  sodium_bin2hex(literal.data() + 2, 2 * kDatabaseKeyBytes + 1, key,
                 kDatabaseKeyBytes);  // constant time, unlike a lookup table
  literal[2 + 2 * kDatabaseKeyBytes] = '\'';
  const int rc = sqlite3_key(db, literal.data(),
                             static_cast<int>(2 + 2 * kDatabaseKeyBytes + 1));
  sodium_memzero(literal.data(), literal.size());
  if (rc != SQLITE_OK) {
    // Say what failed, never with what: no SQL, no key material.
    return Fail(SqliteError(db, rc, {}).WithContext("applying the key"));
  }
  return OkStatus();
}

bool IsValidPageSize(int bytes) {
  return bytes >= 512 && bytes <= 65536 && (bytes & (bytes - 1)) == 0;
}

}  // namespace

// ---------------------------------------------------------------- Statement

Statement::Statement(Statement&& other) noexcept
    : db_(std::exchange(other.db_, nullptr)),
      stmt_(std::exchange(other.stmt_, nullptr)) {}

Statement& Statement::operator=(Statement&& other) noexcept {
  if (this != &other) {
    sqlite3_finalize(stmt_);
    db_ = std::exchange(other.db_, nullptr);
    stmt_ = std::exchange(other.stmt_, nullptr);
  }
  return *this;
}

Statement::~Statement() { sqlite3_finalize(stmt_); }

Status Statement::CheckBind(int rc, int index) const {
  if (rc == SQLITE_OK) return OkStatus();
  if (rc == SQLITE_RANGE) {
    return Fail(ErrorCode::kInvalidArgument,
                "parameter index " + std::to_string(index) +
                    " out of range 1.." + std::to_string(ParameterCount()) +
                    " in SQL \"" + SqlForError(sql()) + "\"");
  }
  return Fail(SqliteError(db_, rc, sql()));
}

Status Statement::BindInt64(int index, std::int64_t value) {
  return CheckBind(sqlite3_bind_int64(stmt_, index, value), index);
}

Status Statement::BindDouble(int index, double value) {
  return CheckBind(sqlite3_bind_double(stmt_, index, value), index);
}

Status Statement::BindText(int index, std::string_view value) {
  if (value.size() > static_cast<std::size_t>(INT_MAX)) {
    return CheckBind(SQLITE_TOOBIG, index);
  }
  // A null pointer would bind NULL, not an empty string.
  const char* data = value.empty() ? "" : value.data();
  return CheckBind(
      sqlite3_bind_text(stmt_, index, data, static_cast<int>(value.size()),
                        SQLITE_TRANSIENT),
      index);
}

Status Statement::BindBlob(int index, std::span<const std::uint8_t> value) {
  if (value.size() > static_cast<std::size_t>(INT_MAX)) {
    return CheckBind(SQLITE_TOOBIG, index);
  }
  // sqlite3_bind_blob with no bytes binds NULL; an empty blob is not NULL.
  if (value.empty())
    return CheckBind(sqlite3_bind_zeroblob(stmt_, index, 0), index);
  return CheckBind(
      sqlite3_bind_blob(stmt_, index, value.data(),
                        static_cast<int>(value.size()), SQLITE_TRANSIENT),
      index);
}

Status Statement::BindNull(int index) {
  return CheckBind(sqlite3_bind_null(stmt_, index), index);
}

int Statement::ParameterCount() const {
  return sqlite3_bind_parameter_count(stmt_);
}

Result<bool> Statement::Step() {
  const int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  // Read the message before the reset; the reset releases any lock this
  // statement still holds, so a failed reader never blocks a writer.
  Error error = SqliteError(db_, rc, sql());
  sqlite3_reset(stmt_);
  return Fail(std::move(error));
}

Status Statement::Run() {
  while (true) {
    Result<bool> row = Step();
    if (!row) return Fail(row.error());
    if (!*row) break;
  }
  sqlite3_reset(stmt_);
  return OkStatus();
}

void Statement::Reset() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

int Statement::ColumnCount() const { return sqlite3_column_count(stmt_); }

ColumnType Statement::GetColumnType(int column) const {
  switch (sqlite3_column_type(stmt_, column)) {
    case SQLITE_INTEGER:
      return ColumnType::kInteger;
    case SQLITE_FLOAT:
      return ColumnType::kFloat;
    case SQLITE_TEXT:
      return ColumnType::kText;
    case SQLITE_BLOB:
      return ColumnType::kBlob;
    default:
      return ColumnType::kNull;
  }
}

bool Statement::IsNull(int column) const {
  return GetColumnType(column) == ColumnType::kNull;
}

Result<int> Statement::CheckColumn(int column, ColumnType want,
                                   bool allow_integer) const {
  // sqlite3_data_count is 0 when no row is ready, which covers both a
  // read before Step() and a read after it returned false.
  if (column < 0 || column >= sqlite3_data_count(stmt_)) {
    return Fail(ErrorCode::kInvalidArgument,
                "column " + std::to_string(column) +
                    " read with no row ready or out of range in SQL \"" +
                    SqlForError(sql()) + "\"");
  }
  const ColumnType have = GetColumnType(column);
  if (have == want || (allow_integer && have == ColumnType::kInteger)) {
    return column;
  }
  static constexpr std::array<std::string_view, 5> kNames = {
      "INTEGER", "REAL", "TEXT", "BLOB", "NULL"};
  const char* name = sqlite3_column_name(stmt_, column);
  return Fail(ErrorCode::kInvalidArgument,
              "column " + std::to_string(column) + " (" +
                  (name != nullptr ? name : "?") + ") is " +
                  std::string(kNames[static_cast<int>(have)]) + ", expected " +
                  std::string(kNames[static_cast<int>(want)]) + " in SQL \"" +
                  SqlForError(sql()) + "\"");
}

Result<std::int64_t> Statement::ColumnInt64(int column) const {
  if (auto ok = CheckColumn(column, ColumnType::kInteger, false); !ok) {
    return Fail(ok.error());
  }
  return sqlite3_column_int64(stmt_, column);
}

Result<double> Statement::ColumnDouble(int column) const {
  if (auto ok = CheckColumn(column, ColumnType::kFloat, true); !ok) {
    return Fail(ok.error());
  }
  return sqlite3_column_double(stmt_, column);
}

Result<std::string_view> Statement::ColumnText(int column) const {
  if (auto ok = CheckColumn(column, ColumnType::kText, false); !ok) {
    return Fail(ok.error());
  }
  // Text first, then bytes: the documented order that keeps the pointer
  // valid (no conversion happens after the length is taken).
  const unsigned char* text = sqlite3_column_text(stmt_, column);
  const int size = sqlite3_column_bytes(stmt_, column);
  if (text == nullptr) return std::string_view();
  return std::string_view(reinterpret_cast<const char*>(text),
                          static_cast<std::size_t>(size));
}

Result<std::span<const std::uint8_t>> Statement::ColumnBlob(int column) const {
  if (auto ok = CheckColumn(column, ColumnType::kBlob, false); !ok) {
    return Fail(ok.error());
  }
  const void* data = sqlite3_column_blob(stmt_, column);
  const int size = sqlite3_column_bytes(stmt_, column);
  if (data == nullptr) return std::span<const std::uint8_t>();
  return std::span<const std::uint8_t>(static_cast<const std::uint8_t*>(data),
                                       static_cast<std::size_t>(size));
}

std::string_view Statement::sql() const {
  const char* text = stmt_ != nullptr ? sqlite3_sql(stmt_) : nullptr;
  return text != nullptr ? std::string_view(text) : std::string_view();
}

// -------------------------------------------------------------- Transaction

Transaction::Transaction(Transaction&& other) noexcept
    : db_(std::exchange(other.db_, nullptr)) {}

Transaction& Transaction::operator=(Transaction&& other) noexcept {
  if (this != &other) {
    if (db_ != nullptr) (void)Rollback();
    db_ = std::exchange(other.db_, nullptr);
  }
  return *this;
}

Transaction::~Transaction() {
  // A destructor cannot report; a failed ROLLBACK leaves SQLite to roll
  // back when the connection closes, which is still all-or-nothing.
  if (db_ != nullptr) (void)Rollback();
}

Status Transaction::Commit() {
  Status status = RunScript(db_, "COMMIT");
  // After a failed COMMIT the transaction is either still open (BUSY: the
  // caller may retry) or already rolled back by SQLite (I/O error, full
  // disk); only in the first case do we keep our handle.
  if (status || sqlite3_get_autocommit(db_) != 0) db_ = nullptr;
  return status;
}

Status Transaction::Rollback() {
  sqlite3* db = std::exchange(db_, nullptr);
  // Some errors (I/O, full disk, out of memory) make SQLite roll back on
  // its own; ROLLBACK would then fail with "no transaction is active".
  if (sqlite3_get_autocommit(db) != 0) return OkStatus();
  return RunScript(db, "ROLLBACK");
}

// ----------------------------------------------------------------- Database

Result<Database> Database::Open(const std::filesystem::path& path,
                                DatabaseKey key,
                                const DatabaseOptions& options) {
  return OpenImpl(path, key.data(), options);
}

Result<Database> Database::OpenPlaintext(const std::filesystem::path& path,
                                         const DatabaseOptions& options) {
  return OpenImpl(path, nullptr, options);
}

Result<Database> Database::OpenImpl(const std::filesystem::path& path,
                                    const std::uint8_t* key,
                                    const DatabaseOptions& options) {
  const std::string where = path.string();
  if (!IsValidPageSize(options.page_size_bytes)) {
    return Fail(ErrorCode::kInvalidArgument,
                where + ": page size " +
                    std::to_string(options.page_size_bytes) +
                    " is not a power of two in [512, 65536]");
  }
  if (options.busy_timeout.count() < 0 ||
      options.busy_timeout.count() > INT_MAX) {
    return Fail(ErrorCode::kInvalidArgument,
                where + ": busy timeout out of range");
  }
  if (options.wal_autocheckpoint_pages < 0) {
    return Fail(ErrorCode::kInvalidArgument,
                where + ": wal_autocheckpoint_pages is negative");
  }
  if (!options.create_if_missing) {
    std::error_code ec;
    if (!std::filesystem::exists(path, ec)) {
      return Fail(ErrorCode::kNotFound, where + ": no such database file");
    }
  }

  // NOMUTEX: one thread per connection is the contract, so SQLite's own
  // per-call mutex would only cost time.
  const int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX |
                    (options.create_if_missing ? SQLITE_OPEN_CREATE : 0);
  sqlite3* raw = nullptr;
  const int open_rc = sqlite3_open_v2(where.c_str(), &raw, flags, nullptr);
  // sqlite3_open_v2 may hand back a handle even when it fails; the guard
  // closes it on every early return, so a failed Open never leaves a
  // connection (or its file descriptor) behind.
  ConnectionGuard guard(raw);
  if (open_rc != SQLITE_OK) {
    return Fail(SqliteError(raw, open_rc, {}).WithContext(where));
  }
  sqlite3_extended_result_codes(raw, 1);
  sqlite3_busy_timeout(raw, static_cast<int>(options.busy_timeout.count()));

  // The key must come before any statement that reads the file: the first
  // read decides how every page is decoded.
  const std::string page_size = std::to_string(options.page_size_bytes);
  if (key != nullptr) {
    if (Status s = ApplyKey(raw, key); !s) {
      return Fail(s.error().WithContext(where));
    }
    if (Status s = RunScript(raw, "PRAGMA cipher_page_size = " + page_size);
        !s) {
      return Fail(s.error().WithContext(where));
    }
  } else if (Status s = RunScript(raw, "PRAGMA page_size = " + page_size); !s) {
    return Fail(s.error().WithContext(where));
  }

  // Prove the key: reading the schema decrypts and authenticates page 1
  // and walks the schema b-tree. With a wrong key, on a plaintext file or
  // on garbage, SQLCipher's HMAC check fails here (SQLITE_NOTADB); a file
  // whose key is right but whose pages are damaged or cut gives
  // SQLITE_CORRUPT, which is named as such, not blamed on the key.
  if (Status s = RunScript(raw, "SELECT count(*) FROM sqlite_master"); !s) {
    const int rc = sqlite3_extended_errcode(raw) & 0xff;
    if (rc == SQLITE_NOTADB) {
      return Fail(ErrorCode::kCorruption,
                  where + ": wrong key or not a database (" +
                      s.error().message() + ")");
    }
    if (rc == SQLITE_CORRUPT) {
      return Fail(
          ErrorCode::kCorruption,
          where + ": database file is damaged (" + s.error().message() + ")");
    }
    return Fail(s.error().WithContext(where));
  }

  // WAL: readers never block the writer, and a commit is one append.
  Result<std::string> mode = QueryText(raw, "PRAGMA journal_mode = WAL");
  if (!mode) return Fail(mode.error().WithContext(where));
  if (*mode != "wal") {
    return Fail(
        ErrorCode::kIoError,
        where + ": could not switch to WAL (journal_mode is " + *mode + ")");
  }
  const char* sync = options.synchronous == Synchronous::kFull
                         ? "PRAGMA synchronous = FULL"
                         : "PRAGMA synchronous = NORMAL";
  if (Status s = RunScript(raw, sync); !s) {
    return Fail(s.error().WithContext(where));
  }
  if (Status s = RunScript(raw, "PRAGMA wal_autocheckpoint = " +
                                     std::to_string(options.wal_autocheckpoint_pages));
      !s) {
    return Fail(s.error().WithContext(where));
  }
  if (Status s = RunScript(raw, "PRAGMA foreign_keys = ON"); !s) {
    return Fail(s.error().WithContext(where));
  }
  return Database(guard.release(), path, key != nullptr);
}

Database::Database(Database&& other) noexcept
    : db_(std::exchange(other.db_, nullptr)),
      path_(std::move(other.path_)),
      encrypted_(other.encrypted_) {}

Database& Database::operator=(Database&& other) noexcept {
  if (this != &other) {
    sqlite3_close_v2(db_);
    db_ = std::exchange(other.db_, nullptr);
    path_ = std::move(other.path_);
    encrypted_ = other.encrypted_;
  }
  return *this;
}

// close_v2 rather than close: should a Statement outlive us in breach of
// the contract, the connection lingers until it is finalized instead of
// leaking or failing.
Database::~Database() { sqlite3_close_v2(db_); }

Result<Statement> Database::Prepare(std::string_view sql) {
  if (sql.size() > static_cast<std::size_t>(INT_MAX)) {
    return Fail(ErrorCode::kInvalidArgument, "SQL text longer than 2 GiB");
  }
  sqlite3_stmt* stmt = nullptr;
  const char* tail = nullptr;
  const int rc = sqlite3_prepare_v2(db_, sql.data(),
                                    static_cast<int>(sql.size()), &stmt, &tail);
  if (rc != SQLITE_OK) return Fail(SqliteError(db_, rc, sql));
  Statement statement(db_, stmt);
  if (stmt == nullptr) {
    return Fail(ErrorCode::kInvalidArgument,
                "no statement in SQL \"" + SqlForError(sql) + "\"");
  }
  // Anything but whitespace or comments after the first statement would be
  // silently ignored by SQLite; refuse it instead.
  const std::string_view rest(tail, sql.data() + sql.size() - tail);
  sqlite3_stmt* extra = nullptr;
  if (!rest.empty() &&
      (sqlite3_prepare_v2(db_, rest.data(), static_cast<int>(rest.size()),
                          &extra, nullptr) != SQLITE_OK ||
       extra != nullptr)) {
    sqlite3_finalize(extra);
    return Fail(ErrorCode::kInvalidArgument,
                "more than one statement in SQL \"" + SqlForError(sql) +
                    "\" (use Execute for scripts)");
  }
  return statement;
}

Status Database::Execute(std::string_view sql) { return RunScript(db_, sql); }

Result<Transaction> Database::Begin(TransactionMode mode) {
  if (InTransaction()) {
    return Fail(ErrorCode::kInvalidArgument,
                path_.string() +
                    ": a transaction is already open on this "
                    "connection (transactions do not nest)");
  }
  const char* sql = "BEGIN DEFERRED";
  if (mode == TransactionMode::kImmediate) sql = "BEGIN IMMEDIATE";
  if (mode == TransactionMode::kExclusive) sql = "BEGIN EXCLUSIVE";
  if (Status s = RunScript(db_, sql); !s) return Fail(s.error());
  return Transaction(db_);
}

std::int64_t Database::LastInsertRowId() const {
  return sqlite3_last_insert_rowid(db_);
}

std::int64_t Database::ChangedRowCount() const { return sqlite3_changes(db_); }

bool Database::InTransaction() const {
  return sqlite3_get_autocommit(db_) == 0;
}

}  // namespace pulse::engine
