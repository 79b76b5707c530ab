// Cost of SQLCipher encryption on inserts, to check the page-size choice in
// pulse/engine/database.h against issue 4's figures: one transaction of
// 1 000 inserts per iteration, with and without a key, at 1024- and
// 4096-byte pages, for small rows (64 B) and 4 KB blobs. Compare each
// encrypted run with the plaintext run of the same page size and payload.
//
// Run: build/benchmarks/database_benchmark (items_per_second = rows/s).
// The database lives in $TMPDIR; fsync cost depends on that filesystem.
#include <benchmark/benchmark.h>
#include <stdlib.h>

#include <array>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "pulse/engine/database.h"

namespace pulse::engine {
namespace {

constexpr int kRowsPerTransaction = 1000;

void BM_InsertBatch(benchmark::State& state) {
  const bool encrypted = state.range(0) != 0;
  DatabaseOptions options;
  options.page_size_bytes = static_cast<int>(state.range(1));
  const std::size_t payload_bytes = static_cast<std::size_t>(state.range(2));

  std::string dir =
      (std::filesystem::temp_directory_path() / "pulse_db_bench_XXXXXX")
          .string();
  if (mkdtemp(dir.data()) == nullptr) {
    state.SkipWithError("mkdtemp failed");
    return;
  }
  const std::filesystem::path path = std::filesystem::path(dir) / "bench.db";
  std::array<std::uint8_t, kDatabaseKeyBytes> key{};
  key.fill(0x5a);
  {
    Result<Database> db = encrypted
                              ? Database::Open(path, DatabaseKey(key), options)
                              : Database::OpenPlaintext(path, options);
    if (!db) {
      state.SkipWithError(db.error().ToString().c_str());
      return;
    }
    Status schema = db->Execute(
        "CREATE TABLE rows(id INTEGER PRIMARY KEY, site INTEGER, data BLOB)");
    Result<Statement> insert =
        db->Prepare("INSERT INTO rows VALUES(NULL, ?, ?)");
    if (!schema || !insert) {
      state.SkipWithError("set-up failed");
      return;
    }
    std::vector<std::uint8_t> payload(payload_bytes);
    std::uint32_t x = 12345;  // incompressible-ish, like packed waveforms
    for (std::uint8_t& b : payload) {
      x = x * 1664525u + 1013904223u;
      b = static_cast<std::uint8_t>(x >> 24);
    }
    for (auto _ : state) {
      Result<Transaction> tx = db->Begin(TransactionMode::kImmediate);
      bool ok = tx.has_value();
      for (int i = 0; ok && i < kRowsPerTransaction; ++i) {
        ok = insert->BindInt64(1, i) && insert->BindBlob(2, payload) &&
             insert->Run();
      }
      if (!ok || !tx->Commit()) {
        state.SkipWithError("insert failed");
        break;
      }
    }
  }
  std::filesystem::remove_all(dir);
  state.SetItemsProcessed(state.iterations() * kRowsPerTransaction);
  state.SetBytesProcessed(state.iterations() * kRowsPerTransaction *
                          static_cast<std::int64_t>(payload_bytes));
  state.SetLabel(std::string(encrypted ? "key" : "plain") + " page " +
                 std::to_string(options.page_size_bytes));
}
// Args: encrypted (0/1), page size, payload bytes.
BENCHMARK(BM_InsertBatch)
    ->ArgsProduct({{0, 1}, {1024, 4096}, {64, 4096}})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace
}  // namespace pulse::engine
