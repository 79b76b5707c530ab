#include "pulse/engine/migrations.h"

#include <chrono>
#include <string>

#include "pulse/engine/hash.h"

namespace pulse::engine {
namespace {

std::string CreateLedgerSql(std::string_view ledger) {
  return "CREATE TABLE IF NOT EXISTS " + std::string(ledger) +
         " (version INTEGER PRIMARY KEY NOT NULL, name TEXT NOT NULL,"
         " sql_sha256 TEXT NOT NULL, applied_at_ms INTEGER NOT NULL)";
}

// The ledger's name goes into SQL text: only plain identifiers.
Status CheckLedger(std::string_view ledger) {
  const bool plain =
      !ledger.empty() && ledger.size() <= 63 && ledger[0] >= 'a' &&
      ledger[0] <= 'z' &&
      ledger.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789_") ==
          std::string_view::npos;
  if (!plain) {
    return Fail(ErrorCode::kInvalidArgument,
                "migration ledger: must be [a-z][a-z0-9_]{0,62}");
  }
  return OkStatus();
}

std::string Label(const Migration& m) {
  std::string number = std::to_string(m.version);
  if (number.size() < 4) number.insert(0, 4 - number.size(), '0');
  return number + "_" + std::string(m.name);
}

std::string SqlDigest(std::string_view sql) {
  return Sha256Hex(std::span<const std::uint8_t>(
      reinterpret_cast<const std::uint8_t*>(sql.data()), sql.size()));
}

Result<bool> HasMigrationsTable(Database& db, std::string_view ledger) {
  auto stmt = db.Prepare(
      "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?");
  if (!stmt) return Fail(stmt.error());
  if (Status s = stmt->BindText(1, ledger); !s) return Fail(s.error());
  return stmt->Step();
}

struct Applied {
  int version;
  std::string name;
  std::string sql_sha256;
};

Result<std::vector<Applied>> ReadApplied(Database& db,
                                         std::string_view ledger) {
  std::vector<Applied> applied;
  if (Status s = CheckLedger(ledger); !s) return Fail(s.error());
  auto has_table = HasMigrationsTable(db, ledger);
  if (!has_table) return Fail(has_table.error());
  if (!*has_table) return applied;
  auto stmt = db.Prepare("SELECT version, name, sql_sha256 FROM " +
                         std::string(ledger) + " ORDER BY version");
  if (!stmt) return Fail(stmt.error());
  for (;;) {
    auto row = stmt->Step();
    if (!row) return Fail(row.error());
    if (!*row) break;
    auto version = stmt->ColumnInt64(0);
    auto name = stmt->ColumnText(1);
    auto digest = stmt->ColumnText(2);
    if (!version || !name || !digest) {
      return Fail(ErrorCode::kCorruption,
                  std::string(ledger) +
                      ": a row has a value of the wrong type");
    }
    applied.push_back(Applied{static_cast<int>(*version), std::string(*name),
                              std::string(*digest)});
  }
  return applied;
}

Status ApplyOne(Database& db, const Migration& m, Clock& clock,
                std::string_view ledger) {
  auto txn = db.Begin(TransactionMode::kImmediate);
  if (!txn) return Fail(txn.error());
  if (Status s = db.Execute(CreateLedgerSql(ledger)); !s) return s;
  if (Status s = db.Execute(m.sql); !s) {
    return Fail(s.error().WithContext("migration " + Label(m)));
  }
  if (m.upgrade != nullptr) {
    if (Status s = m.upgrade(db); !s) {
      return Fail(s.error().WithContext("migration " + Label(m) + " (upgrade)"));
    }
  }
  auto insert = db.Prepare("INSERT INTO " + std::string(ledger) +
                           " (version, name, sql_sha256, "
                           "applied_at_ms) VALUES (?, ?, ?, ?)");
  if (!insert) return Fail(insert.error());
  const auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                          clock.Now().time_since_epoch())
                          .count();
  const std::string digest = SqlDigest(m.sql);
  if (Status s = insert->BindInt64(1, m.version); !s) return s;
  if (Status s = insert->BindText(2, m.name); !s) return s;
  if (Status s = insert->BindText(3, digest); !s) return s;
  if (Status s = insert->BindInt64(4, now_ms); !s) return s;
  if (Status s = insert->Run(); !s) return s;
  return txn->Commit();
}

}  // namespace

Status ValidateMigrations(std::span<const Migration> migrations) {
  for (std::size_t i = 0; i < migrations.size(); ++i) {
    const Migration& m = migrations[i];
    if (m.version != static_cast<int>(i) + 1) {
      return Fail(ErrorCode::kInvalidArgument,
                  "migration " + Label(m) + ": expected version " +
                      std::to_string(i + 1) +
                      " (versions run 1, 2, 3, ... without gaps)");
    }
    const bool plain_name =
        !m.name.empty() &&
        m.name.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789_") ==
            std::string_view::npos;
    if (!plain_name) {
      return Fail(ErrorCode::kInvalidArgument,
                  "migration " + std::to_string(m.version) +
                      ": name must be non-empty [a-z0-9_]");
    }
    if (m.sql.find_first_not_of(" \t\r\n") == std::string_view::npos) {
      return Fail(ErrorCode::kInvalidArgument,
                  "migration " + Label(m) + ": empty SQL");
    }
  }
  return OkStatus();
}

Result<int> SchemaVersion(Database& db, std::string_view ledger) {
  auto applied = ReadApplied(db, ledger);
  if (!applied) return Fail(applied.error());
  return applied->empty() ? 0 : applied->back().version;
}

Result<MigrationReport> Migrate(Database& db,
                                std::span<const Migration> migrations,
                                Clock& clock, std::string_view ledger) {
  if (Status s = ValidateMigrations(migrations); !s) return Fail(s.error());
  auto applied = ReadApplied(db, ledger);
  if (!applied) return Fail(applied.error());

  MigrationReport report;
  report.from_version = applied->empty() ? 0 : applied->back().version;
  const int known = static_cast<int>(migrations.size());
  if (report.from_version > known) {
    return Fail(ErrorCode::kUnsupported,
                "database schema version " +
                    std::to_string(report.from_version) +
                    " is newer than this build (which knows versions up to " +
                    std::to_string(known) + "); use a newer Pulse Ledger");
  }
  for (std::size_t i = 0; i < applied->size(); ++i) {
    const Applied& a = (*applied)[i];
    if (a.version != static_cast<int>(i) + 1) {
      return Fail(ErrorCode::kCorruption,
                  std::string(ledger) + ": version " + std::to_string(i + 1) +
                      " is missing");
    }
    const Migration& m = migrations[i];
    if (a.name != m.name || a.sql_sha256 != SqlDigest(m.sql)) {
      return Fail(ErrorCode::kCorruption,
                  "migration " + Label(m) +
                      " differs from the one this database applied (" +
                      a.name + ", sha256 " + a.sql_sha256.substr(0, 12) +
                      "...): migrations must never be edited once released");
    }
  }
  for (int v = report.from_version + 1; v <= known; ++v) {
    const Migration& m = migrations[static_cast<std::size_t>(v - 1)];
    if (Status s = ApplyOne(db, m, clock, ledger); !s) return Fail(s.error());
    report.applied.push_back(v);
  }
  report.to_version = known;
  return report;
}

}  // namespace pulse::engine
