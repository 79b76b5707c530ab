// Where bulk blob bytes should live, and what encryption costs there: Put
// and Get of 4 KB, 64 KB and 1 MB blobs through SealedFileBlobStore
// (secretstream-sealed files), the same protocol writing plaintext files,
// and the same bytes as BLOBs in a SQLCipher database (raw key, 4096-byte
// pages) and in a plaintext one. Each Put is durable on its own (one file
// write + fsyncs, or one committed transaction), as the recording pipeline
// stores a segment at a time.
//
// Two durability settings separate the crypto cost from the disk:
//   sync=1  real fsyncs; database synchronous=FULL.
//   sync=0  fsync skipped (files) / synchronous=NORMAL (WAL, no commit
//           fsync): CPU + page-cache cost only, where encryption shows.
//
// Run: build/benchmarks/blob_store_benchmark (bytes_per_second = MB/s).
// Files and databases live in $TMPDIR.
#include <benchmark/benchmark.h>
#include <stdlib.h>

#include <array>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "pulse/engine/blob_store.h"
#include "pulse/engine/data_key.h"
#include "pulse/engine/database.h"
#include "pulse/engine/file_ops.h"
#include "pulse/engine/sealed_file_blob_store.h"

namespace pulse::engine {
namespace {

namespace fs = std::filesystem;
using Bytes = std::vector<std::uint8_t>;

// The real filesystem with every fsync skipped: isolates CPU cost.
class NoSyncFileOps final : public FileOps {
 public:
  Result<Bytes> ReadFile(const fs::path& p, std::size_t max) override {
    return RealFileOps().ReadFile(p, max);
  }
  Status WriteFileDurably(const fs::path& p,
                          std::span<const std::uint8_t> bytes) override {
    FILE* f = std::fopen(p.c_str(), "wb");
    if (f == nullptr) return Fail(ErrorCode::kIoError, p.string());
    const bool ok =
        std::fwrite(bytes.data(), 1, bytes.size(), f) == bytes.size();
    if (std::fclose(f) != 0 || !ok) {
      return Fail(ErrorCode::kIoError, p.string());
    }
    return OkStatus();
  }
  Status Rename(const fs::path& a, const fs::path& b, RenameMode m) override {
    return RealFileOps().Rename(a, b, m);
  }
  Status SyncDirectory(const fs::path&) override { return OkStatus(); }
  Status Remove(const fs::path& p) override { return RealFileOps().Remove(p); }
};

NoSyncFileOps& NoSync() {
  static NoSyncFileOps ops;
  return ops;
}

// Distinct, incompressible payloads: every Put is a new blob.
class Payloads {
 public:
  explicit Payloads(std::size_t size) : bytes_(size) {
    std::uint32_t x = 12345;
    for (auto& b : bytes_) {
      x = x * 1664525u + 1013904223u;
      b = static_cast<std::uint8_t>(x >> 24);
    }
  }
  std::span<const std::uint8_t> Next() {
    ++counter_;
    for (int i = 0; i < 8; ++i) {
      bytes_[static_cast<std::size_t>(i)] =
          static_cast<std::uint8_t>(counter_ >> (8 * i));
    }
    return bytes_;
  }

 private:
  Bytes bytes_;
  std::uint64_t counter_ = 0;
};

class TempDir {
 public:
  TempDir() {
    std::string d =
        (fs::temp_directory_path() / "pulse_blob_bench_XXXXXX").string();
    if (mkdtemp(d.data()) != nullptr) path_ = d;
  }
  ~TempDir() {
    if (!path_.empty()) fs::remove_all(path_);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

enum Backend { kSealedFile = 0, kPlainFile = 1, kSqlCipher = 2, kSqlite = 3 };
const char* const kBackendNames[] = {"sealed-file", "plain-file",
                                     "sqlcipher-4096", "plain-db-4096"};

// The plaintext-file baseline: the same write protocol as the sealed store
// (unique temp, write + fsync, read back, rename, dir fsync), no sealing,
// no verification on read beyond SHA-256.
class PlainFileStore {
 public:
  PlainFileStore(fs::path root, FileOps& ops) : root_(root), ops_(ops) {
    (void)ops_.CreateDirectory(root_);
  }
  bool Put(std::span<const std::uint8_t> bytes, std::string* id) {
    *id = BlobIdOf(bytes);
    const fs::path dir = root_ / id->substr(0, 2);
    (void)ops_.CreateDirectory(dir);
    return ReplaceFileAtomically(ops_, dir / *id, bytes,
                                 FileOps::RenameMode::kNoReplace)
        .has_value();
  }
  bool Get(const std::string& id) {
    auto bytes = ops_.ReadFile(root_ / id.substr(0, 2) / id, 1u << 30);
    return bytes && BlobIdOf(*bytes) == id;
  }

 private:
  fs::path root_;
  FileOps& ops_;
};

void BM_Blob(benchmark::State& state, bool read) {
  const auto backend = static_cast<Backend>(state.range(0));
  const std::size_t size = static_cast<std::size_t>(state.range(1));
  const bool sync = state.range(2) != 0;
  FileOps& ops = sync ? RealFileOps() : NoSync();
  TempDir dir;
  if (dir.path().empty()) {
    state.SkipWithError("mkdtemp failed");
    return;
  }
  Payloads payloads(size);

  std::unique_ptr<SealedFileBlobStore> sealed;
  std::unique_ptr<PlainFileStore> plain;
  std::optional<Database> db;
  std::optional<Statement> insert, select;
  if (backend == kSealedFile) {
    auto key = DataKey::Generate();
    auto s =
        SealedFileBlobStore::Open(dir.path() / "blobs", std::move(*key), ops);
    if (!s) {
      state.SkipWithError(s.error().ToString().c_str());
      return;
    }
    sealed = std::move(*s);
  } else if (backend == kPlainFile) {
    plain = std::make_unique<PlainFileStore>(dir.path() / "blobs", ops);
  } else {
    DatabaseOptions options;
    options.synchronous = sync ? Synchronous::kFull : Synchronous::kNormal;
    std::array<std::uint8_t, kDatabaseKeyBytes> key{};
    key.fill(0x5a);
    auto opened =
        backend == kSqlCipher
            ? Database::Open(dir.path() / "b.db", DatabaseKey(key), options)
            : Database::OpenPlaintext(dir.path() / "b.db", options);
    if (!opened) {
      state.SkipWithError(opened.error().ToString().c_str());
      return;
    }
    db.emplace(std::move(*opened));
    if (!db->Execute("CREATE TABLE blobs(sha256 TEXT PRIMARY KEY, "
                     "data BLOB NOT NULL)")) {
      state.SkipWithError("schema");
      return;
    }
    auto ins = db->Prepare("INSERT OR IGNORE INTO blobs VALUES(?, ?)");
    auto sel = db->Prepare("SELECT data FROM blobs WHERE sha256 = ?");
    if (!ins || !sel) {
      state.SkipWithError("prepare");
      return;
    }
    insert.emplace(std::move(*ins));
    select.emplace(std::move(*sel));
  }

  auto put = [&](std::span<const std::uint8_t> bytes, std::string* id) {
    if (sealed) {
      auto ref = sealed->Put(bytes);
      if (ref) *id = ref->sha256;
      return ref.has_value();
    }
    if (plain) return plain->Put(bytes, id);
    *id = BlobIdOf(bytes);
    auto tx = db->Begin(TransactionMode::kImmediate);
    return tx && insert->BindText(1, *id) && insert->BindBlob(2, bytes) &&
           insert->Run() && tx->Commit();
  };
  auto get = [&](const std::string& id) {
    if (sealed) return sealed->Get(id).has_value();
    if (plain) return plain->Get(id);
    select->Reset();
    if (!select->BindText(1, id)) return false;
    auto row = select->Step();
    if (!row || !*row) return false;
    auto data = select->ColumnBlob(0);
    const bool ok = data && BlobIdOf(*data) == id;
    select->Reset();
    return ok;
  };

  std::vector<std::string> ids;
  if (read) {  // a working set to read back, ~4 MB or 16 blobs
    const std::size_t n = std::max<std::size_t>(16, (4u << 20) / size);
    for (std::size_t i = 0; i < n; ++i) {
      std::string id;
      if (!put(payloads.Next(), &id)) {
        state.SkipWithError("put failed");
        return;
      }
      ids.push_back(id);
    }
  }
  std::size_t i = 0;
  for (auto _ : state) {
    bool ok;
    if (read) {
      ok = get(ids[i++ % ids.size()]);
    } else {
      std::string id;
      ok = put(payloads.Next(), &id);
    }
    if (!ok) {
      state.SkipWithError(read ? "get failed" : "put failed");
      break;
    }
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(size));
  state.SetLabel(std::string(kBackendNames[backend]) +
                 (sync ? " sync" : " nosync"));
}

void BM_Put(benchmark::State& state) { BM_Blob(state, false); }
void BM_Get(benchmark::State& state) { BM_Blob(state, true); }

void Args(benchmark::internal::Benchmark* b, std::initializer_list<int> syncs) {
  b->ArgNames({"backend", "bytes", "sync"});
  for (int sync : syncs) {
    for (std::int64_t size : {4096, 65536, 1 << 20}) {
      for (int backend : {kSealedFile, kPlainFile, kSqlCipher, kSqlite}) {
        b->Args({backend, size, sync});
      }
    }
  }
}

void PutArgs(benchmark::internal::Benchmark* b) { Args(b, {0, 1}); }
// Reads never fsync; the working set is written without fsync too.
void GetArgs(benchmark::internal::Benchmark* b) { Args(b, {0}); }

BENCHMARK(BM_Put)->Apply(PutArgs)->MinTime(0.5)->UseRealTime();
BENCHMARK(BM_Get)->Apply(GetArgs)->MinTime(0.5)->UseRealTime();

}  // namespace
}  // namespace pulse::engine
