// Database, Statement and Transaction: a thin RAII wrapper around one
// SQLCipher connection (SQLite 3.15.2 dialect: no UPSERT, no RETURNING, no
// window functions, no JSON1).
//
// Every clinic replica and the central store sit behind this class. It does
// three things beyond owning handles:
//
//  * Opening is all-or-nothing. Open() applies the 32-byte raw key before any
//    SQL touches the file, proves the key by reading sqlite_master, and only
//    then switches to WAL. A wrong key, a plaintext file or garbage gives
//    kCorruption ("wrong key or not a database"); a right key on damaged or
//    cut pages gives kCorruption ("database file is damaged"), at Open() or
//    at the first read of a damaged page (every page is authenticated).
//    A failed Open() leaves no connection behind: there is never a
//    half-open database.
//  * Every failure is a pulse::Error whose message carries sqlite's own text,
//    the result code name and the SQL that failed (cut to kMaxSqlInError
//    characters). Bound values never appear: they may be patient data, which
//    is why callers must bind values and never splice them into SQL text.
//    The key never appears in an error, a log or a lingering buffer.
//  * Codes map to ErrorCode so callers can act on them: kBusy is retryable
//    (another connection holds the lock past the busy timeout), kConstraint
//    is a UNIQUE / NOT NULL / CHECK / FOREIGN KEY violation, kCorruption is a
//    damaged file or a wrong key, kInvalidArgument is bad SQL or a bad
//    column/parameter index, kIoError is the disk or the OS refusing.
//
// Page size. Encrypted databases use 4096-byte cipher pages
// (kDefaultCipherPageSizeBytes), not SQLCipher 3's 1024. Measured on Debian's
// SQLCipher 3.4.1 (raw key, WAL, batches of 1 000 inserts; issue 4): at 1024
// encryption costs 35 % on small rows and 76 % on 4 KB blobs; at 4096 about
// 2 % on small rows but ~100 % on 4 KB blobs. Small rows (patients, change
// log, field clocks, audit events) are what every write path produces, and
// at either size in-database blobs miss the 25 % overhead bar, so the page
// size cannot rescue blobs: bulk waveform bytes belong outside SQLCipher
// pages, and the pages are sized for rows. 4096 is also the OS page and
// filesystem block size, so one page write is one block write. The size is a
// property of the file: every later Open() must pass the same value, and
// external tools must set `PRAGMA cipher_page_size = 4096` after the key.
// Plaintext databases use the same page_size so that the encryption-overhead
// benchmark compares like with like.
//
// Thread-safety: a Database and everything prepared from it are used by one
// thread at a time (the connection is opened SQLITE_OPEN_NOMUTEX). Separate
// Database objects on the same file may live on separate threads; SQLite's
// file locks (and the busy timeout) arbitrate between them. A pool comes
// later.
//
// Lifetimes: Statements and Transactions borrow the connection. REQUIRES:
// the Database outlives every Statement and Transaction made from it.
// Moving a Database does not invalidate them.
#ifndef PULSE_ENGINE_DATABASE_H_
#define PULSE_ENGINE_DATABASE_H_

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include "pulse/base/result.h"

// sqlite3.h stays out of public headers; these are its opaque handle types.
struct sqlite3;
struct sqlite3_stmt;

namespace pulse::engine {

// Size of the raw data key (AES-256) that Open() takes.
inline constexpr std::size_t kDatabaseKeyBytes = 32;
// See "Page size" above.
inline constexpr int kDefaultCipherPageSizeBytes = 4096;
// SQL longer than this is cut (with "...") in error messages.
inline constexpr std::size_t kMaxSqlInError = 200;

// The raw data key; never a passphrase (no KDF runs on open).
using DatabaseKey = std::span<const std::uint8_t, kDatabaseKeyBytes>;

// PRAGMA synchronous in WAL mode. kFull syncs the WAL on every commit, so a
// committed transaction survives a power cut (rural clinics lose power);
// kNormal survives a process crash but may lose the last commits on power
// loss, never corrupting the file.
enum class Synchronous { kFull, kNormal };

struct DatabaseOptions {
  // false: opening a missing file is kNotFound.
  bool create_if_missing = true;
  // How long a statement waits for another connection's lock before failing
  // with kBusy. REQUIRES: >= 0 and <= INT_MAX ms.
  std::chrono::milliseconds busy_timeout{5000};
  // Page size in bytes of a new file (cipher_page_size when encrypted,
  // page_size when not). REQUIRES: a power of two in [512, 65536]; for an
  // encrypted file, the value the file was created with.
  int page_size_bytes = kDefaultCipherPageSizeBytes;
  Synchronous synchronous = Synchronous::kFull;
  // WAL pages after which a commit also checkpoints (PRAGMA
  // wal_autocheckpoint). SQLite's 1 000 makes every merge batch of 1 000
  // changes (~450 dirty pages) checkpoint every second commit, writing
  // pages twice that the next batches dirty again; 10 000 (a WAL of up to
  // ~40 MiB) lets consecutive batches share one checkpoint. Durability is
  // unchanged: every commit still syncs the WAL. 0 disables automatic
  // checkpoints. REQUIRES: >= 0. (docs/data_model.md §3.3.)
  int wal_autocheckpoint_pages = 10'000;
};

// How BEGIN takes its locks. kDeferred takes none until the first read or
// write; kImmediate takes the write lock at once (so a busy database fails
// at BEGIN, not half-way through); kExclusive also keeps readers out in
// non-WAL modes (in WAL it behaves as kImmediate).
enum class TransactionMode { kDeferred, kImmediate, kExclusive };

// Storage class of a column value in the current row.
enum class ColumnType { kInteger, kFloat, kText, kBlob, kNull };

// A prepared statement. Movable, not copyable; finalized on destruction.
// Parameter and column indices follow SQLite: parameters count from 1,
// columns from 0.
class Statement {
 public:
  Statement(Statement&& other) noexcept;
  Statement& operator=(Statement&& other) noexcept;
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  ~Statement();

  // Bind a value to parameter `index` (1-based). Text and blobs are copied,
  // so the argument may die right after the call. Returns kInvalidArgument
  // when `index` is out of range or the statement is mid-step (call Reset()
  // first). REQUIRES for BindText: valid UTF-8.
  Status BindInt64(int index, std::int64_t value);
  Status BindDouble(int index, double value);
  Status BindText(int index, std::string_view value);
  Status BindBlob(int index, std::span<const std::uint8_t> value);
  Status BindNull(int index);

  // Number of parameters (the largest index Bind* accepts).
  int ParameterCount() const;

  // Runs the statement to its next row. Returns true when a row is ready to
  // read, false when the statement has finished, or the error (kBusy after
  // the busy timeout, kConstraint, kCorruption, ...). After false, the next
  // Step() runs the statement again from the start.
  Result<bool> Step();

  // Steps to completion, discarding any rows: the call for INSERT, UPDATE,
  // DELETE and DDL. Then resets, keeping the bindings.
  Status Run();

  // Makes the statement ready to run again and clears every binding to
  // NULL. Never fails: the error of a failed step was already returned.
  void Reset();

  // Reads from the current row. REQUIRES: the last Step() returned true and
  // 0 <= column < ColumnCount().
  int ColumnCount() const;
  ColumnType GetColumnType(int column) const;
  bool IsNull(int column) const;
  // Typed reads are strict, because silently coercing "abc" to 0 would hide
  // a bad row: a value of another storage class (NULL included) is
  // kInvalidArgument naming the column. ColumnDouble also accepts an INTEGER
  // (exact below 2^53).
  Result<std::int64_t> ColumnInt64(int column) const;
  Result<double> ColumnDouble(int column) const;
  // The views stay valid until the next Step(), Reset() or destruction. An
  // empty blob or text reads as an empty view.
  Result<std::string_view> ColumnText(int column) const;
  Result<std::span<const std::uint8_t>> ColumnBlob(int column) const;

  // The SQL text as prepared.
  std::string_view sql() const;

 private:
  friend class Database;
  Statement(sqlite3* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}
  Status CheckBind(int rc, int index) const;
  Result<int> CheckColumn(int column, ColumnType want,
                          bool allow_integer) const;

  sqlite3* db_ = nullptr;
  sqlite3_stmt* stmt_ = nullptr;
};

// An open transaction. Rolls back on destruction unless Commit() succeeded,
// so an early `return` on error can never leave half a write committed.
// Movable, not copyable.
class Transaction {
 public:
  Transaction(Transaction&& other) noexcept;
  Transaction& operator=(Transaction&& other) noexcept;
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  ~Transaction();

  // COMMIT. On kBusy (a reader in rollback-journal mode still holds its
  // lock past the timeout) the transaction stays open: the caller may retry
  // Commit() or let the destructor roll back. After any other failure
  // SQLite has already rolled back. REQUIRES: not yet committed or rolled
  // back.
  Status Commit();
  // ROLLBACK now rather than at destruction. REQUIRES: as for Commit().
  Status Rollback();

 private:
  friend class Database;
  explicit Transaction(sqlite3* db) : db_(db) {}

  sqlite3* db_ = nullptr;  // null once committed, rolled back or moved from
};

// One connection to one database file. Movable, not copyable; closed on
// destruction.
class Database {
 public:
  // Opens (or, with create_if_missing, creates) the SQLCipher database at
  // `path` with the 32-byte raw key `key`. The key is applied before any
  // other statement, then verified by reading sqlite_master; then WAL, the
  // busy timeout, `synchronous` and foreign-key enforcement are set.
  // Returns kCorruption "wrong key or not a database" for a wrong key, a
  // plaintext or garbage file, kCorruption "database file is damaged" when
  // the key is right but the schema pages are cut or altered (in every case
  // no connection stays open and the file is not written);
  // kNotFound for a missing file without create_if_missing; kIoError when
  // the file cannot be opened; kInvalidArgument for bad options.
  static Result<Database> Open(const std::filesystem::path& path,
                               DatabaseKey key, const DatabaseOptions& options);

  // As Open(), without encryption: for tests and for the encryption-overhead
  // benchmark only. An explicit call rather than an empty key, so that no
  // code path can fall back to plaintext by accident. An encrypted file
  // opened this way is kCorruption.
  static Result<Database> OpenPlaintext(const std::filesystem::path& path,
                                        const DatabaseOptions& options);

  Database(Database&& other) noexcept;
  Database& operator=(Database&& other) noexcept;
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;
  ~Database();

  // Compiles one SQL statement. Returns kInvalidArgument for a syntax
  // error, an unknown table or column, empty SQL, or text after the first
  // statement (use Execute() for scripts).
  Result<Statement> Prepare(std::string_view sql);

  // Runs a script of zero or more statements without parameters (DDL,
  // migrations), discarding rows. Stops at the first failing statement and
  // returns its error, naming that statement's SQL; earlier statements
  // stay applied unless the caller wraps the call in a Transaction.
  Status Execute(std::string_view sql);

  // BEGIN in `mode`. Returns kBusy when `mode` needs a lock another
  // connection holds past the busy timeout, kInvalidArgument when a
  // transaction is already open on this connection (no nesting).
  Result<Transaction> Begin(TransactionMode mode);

  // Rowid of the most recent successful INSERT on this connection.
  std::int64_t LastInsertRowId() const;
  // Rows changed by the most recent INSERT, UPDATE or DELETE.
  std::int64_t ChangedRowCount() const;
  // True between Begin() and the end of that transaction.
  bool InTransaction() const;

  bool encrypted() const { return encrypted_; }
  const std::filesystem::path& path() const { return path_; }

 private:
  Database(sqlite3* db, std::filesystem::path path, bool encrypted)
      : db_(db), path_(std::move(path)), encrypted_(encrypted) {}
  static Result<Database> OpenImpl(const std::filesystem::path& path,
                                   const std::uint8_t* key,
                                   const DatabaseOptions& options);

  sqlite3* db_ = nullptr;
  std::filesystem::path path_;
  bool encrypted_ = false;
};

}  // namespace pulse::engine

#endif  // PULSE_ENGINE_DATABASE_H_
