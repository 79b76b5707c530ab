#include "pulse/sync_server/sqlcipher_blob_store.h"

#include "sqlcipher_central_state.h"

#include <algorithm>
#include <initializer_list>
#include <mutex>
#include <set>
#include <utility>

#include "pulse/engine/blob_store.h"
#include "pulse/engine/database.h"
#include "pulse/engine/hash.h"

namespace pulse::sync_server {
namespace {

using engine::Database;
using engine::Statement;

Result<std::uint64_t> NonNegative(Statement& stmt, int column,
                                  std::string_view what) {
  auto value = stmt.ColumnInt64(column);
  if (!value) return Fail(value.error());
  if (*value < 0) {
    return Fail(ErrorCode::kCorruption,
                std::string(what) + " is negative");
  }
  return static_cast<std::uint64_t>(*value);
}

struct HeldUpload {
  std::uint64_t total = 0;
  std::uint64_t received = 0;
};

Result<std::optional<HeldUpload>> LoadUpload(Database& db,
                                             std::string_view sha256,
                                             std::string_view site) {
  auto stmt = db.Prepare(
      "SELECT total, received FROM blob_uploads WHERE sha256 = ? AND "
      "site = ?");
  if (!stmt) return Fail(stmt.error());
  Status s = stmt->BindText(1, sha256);
  if (s) s = stmt->BindText(2, site);
  if (!s) return Fail(s.error());
  auto row = stmt->Step();
  if (!row) return Fail(row.error());
  if (!*row) return std::optional<HeldUpload>();
  auto total = NonNegative(*stmt, 0, "blob_uploads.total");
  if (!total) return Fail(total.error());
  auto received = NonNegative(*stmt, 1, "blob_uploads.received");
  if (!received) return Fail(received.error());
  if (*received > *total) {
    return Fail(ErrorCode::kCorruption,
                "blob_uploads.received exceeds total");
  }
  return std::optional<HeldUpload>(HeldUpload{*total, *received});
}

// Runs `sql` with `text` bound to ?1, ?2, ... and then `ints` after them.
Status RunWith(Database& db, std::string_view sql,
               std::initializer_list<std::string_view> text,
               std::initializer_list<std::int64_t> ints = {}) {
  auto stmt = db.Prepare(sql);
  if (!stmt) return Fail(stmt.error());
  int index = 1;
  for (std::string_view t : text) {
    if (Status s = stmt->BindText(index++, t); !s) return s;
  }
  for (std::int64_t i : ints) {
    if (Status s = stmt->BindInt64(index++, i); !s) return s;
  }
  return stmt->Run();
}

Status DeleteUploadRows(Database& db, std::string_view sha256,
                        std::string_view site) {
  if (Status s = RunWith(db,
                         "DELETE FROM blob_upload_chunks WHERE sha256 = ? "
                         "AND site = ?",
                         {sha256, site});
      !s) {
    return s;
  }
  return RunWith(db, "DELETE FROM blob_uploads WHERE sha256 = ? AND site = ?",
                 {sha256, site});
}

// Records a new upload of `chunk`'s blob for its site, nothing received
// yet. REQUIRES: no blob_uploads row for (sha256, site), inside the
// caller's write transaction.
Status BeginUpload(Database& db, const BlobChunk& chunk) {
  return RunWith(db,
                 "INSERT INTO blob_uploads (sha256, site, total, received, "
                 "started_ms, updated_ms) VALUES (?, ?, ?, 0, ?, ?)",
                 {chunk.sha256, chunk.site},
                 {static_cast<std::int64_t>(chunk.total), chunk.now_ms,
                  chunk.now_ms});
}

}  // namespace

SqlcipherBlobStore::SqlcipherBlobStore(SqlcipherCentralStore& store)
    : state_(store.state()) {}

Result<std::optional<StoredBlobInfo>> SqlcipherBlobStore::Find(
    std::string_view sha256) {
  if (Status s = engine::ValidateBlobId(sha256); !s) return Fail(s.error());
  SqlcipherCentralStore::State::ReaderLease lease(state_);
  auto stmt = lease.db().Prepare(
      "SELECT site, size FROM blob_owners WHERE sha256 = ? ORDER BY site");
  if (!stmt) return Fail(stmt.error());
  if (Status s = stmt->BindText(1, sha256); !s) return Fail(s.error());
  StoredBlobInfo info;
  bool any = false;
  for (;;) {
    auto row = stmt->Step();
    if (!row) return Fail(row.error());
    if (!*row) break;
    auto site = stmt->ColumnText(0);
    if (!site) return Fail(site.error());
    auto size = NonNegative(*stmt, 1, "blob_owners.size");
    if (!size) return Fail(size.error());
    info.owners.emplace_back(*site);
    info.size = *size;
    any = true;
  }
  if (!any) return std::optional<StoredBlobInfo>();
  return std::optional<StoredBlobInfo>(std::move(info));
}

Result<UploadProgress> SqlcipherBlobStore::Progress(std::string_view sha256,
                                                    std::string_view site) {
  if (Status s = engine::ValidateBlobId(sha256); !s) return Fail(s.error());
  SqlcipherCentralStore::State::ReaderLease lease(state_);
  auto held = LoadUpload(lease.db(), sha256, site);
  if (!held) return Fail(held.error());
  UploadProgress progress;
  if (*held) {
    progress.received = (*held)->received;
    progress.total = (*held)->total;
  }
  return progress;
}

Result<bool> SqlcipherBlobStore::Owns(std::string_view sha256,
                                      std::string_view site) {
  SqlcipherCentralStore::State::ReaderLease lease(state_);
  auto stmt = lease.db().Prepare(
      "SELECT 1 FROM blob_owners WHERE sha256 = ? AND site = ?");
  if (!stmt) return Fail(stmt.error());
  Status s = stmt->BindText(1, sha256);
  if (s) s = stmt->BindText(2, site);
  if (!s) return Fail(s.error());
  auto row = stmt->Step();
  if (!row) return Fail(row.error());
  return *row;
}

Status SqlcipherBlobStore::DropUpload(std::string_view sha256,
                                      std::string_view site) {
  Database& db = state_.replica->database();
  auto txn = db.Begin(engine::TransactionMode::kImmediate);
  if (!txn) return Fail(txn.error());
  if (Status s = DeleteUploadRows(db, sha256, site); !s) return s;
  return txn->Commit();
}

Result<std::int64_t> SqlcipherBlobStore::DropStaleUploads(
    std::int64_t idle_since_ms) {
  std::lock_guard lock(state_.writer_mutex);
  Database& db = state_.replica->database();
  auto txn = db.Begin(engine::TransactionMode::kImmediate);
  if (!txn) return Fail(txn.error());
  // Chunks first, while their upload rows still say which are stale.
  if (Status s = RunWith(db,
                         "DELETE FROM blob_upload_chunks WHERE EXISTS ("
                         "SELECT 1 FROM blob_uploads u WHERE u.sha256 = "
                         "blob_upload_chunks.sha256 AND u.site = "
                         "blob_upload_chunks.site AND u.updated_ms < ?)",
                         {}, {idle_since_ms});
      !s) {
    return Fail(s.error());
  }
  if (Status s = RunWith(db, "DELETE FROM blob_uploads WHERE updated_ms < ?",
                         {}, {idle_since_ms});
      !s) {
    return Fail(s.error());
  }
  const std::int64_t dropped = db.ChangedRowCount();
  if (Status s = txn->Commit(); !s) return Fail(s.error());
  return dropped;
}

Result<ChunkResult> SqlcipherBlobStore::PutChunk(const BlobChunk& chunk) {
  if (Status s = engine::ValidateBlobId(chunk.sha256); !s) {
    return Fail(s.error());
  }
  if (chunk.site.empty()) {
    return Fail(ErrorCode::kInvalidArgument, "site: empty");
  }
  if (chunk.total > kMaxBlobBytes) {
    return Fail(ErrorCode::kOutOfRange,
                "blob of " + std::to_string(chunk.total) +
                    " bytes exceeds the limit of " +
                    std::to_string(kMaxBlobBytes));
  }
  const std::uint64_t length = chunk.bytes.size();
  const bool whole = chunk.start == 0 && length == chunk.total;
  if (chunk.start > chunk.total || length > chunk.total - chunk.start) {
    return Fail(ErrorCode::kInvalidArgument,
                "chunk [" + std::to_string(chunk.start) + ", +" +
                    std::to_string(length) + ") exceeds the blob's " +
                    std::to_string(chunk.total) + " bytes");
  }
  if (!whole && (length == 0 || length > kMaxBlobChunkBytes)) {
    return Fail(ErrorCode::kInvalidArgument,
                "a partial chunk must hold 1.." +
                    std::to_string(kMaxBlobChunkBytes) + " bytes");
  }
  auto owned = Owns(chunk.sha256, chunk.site);
  if (!owned) return Fail(owned.error());
  if (*owned) return ChunkResult{ChunkOutcome::kAlreadyOwned, chunk.total};
  if (whole) return Complete(chunk, chunk.bytes);

  const bool completes = chunk.start + length == chunk.total;
  {
    std::lock_guard lock(state_.writer_mutex);
    Database& db = state_.replica->database();
    auto txn = db.Begin(engine::TransactionMode::kImmediate);
    if (!txn) return Fail(txn.error());
    auto held = LoadUpload(db, chunk.sha256, chunk.site);
    if (!held) return Fail(held.error());
    HeldUpload upload;
    if (!*held) {
      if (chunk.start != 0) {
        return ChunkResult{ChunkOutcome::kOffsetMismatch, 0};
      }
      if (Status s = BeginUpload(db, chunk); !s) return Fail(s.error());
      upload.total = chunk.total;
    } else {
      upload = **held;
      if (upload.total != chunk.total) {
        if (chunk.start != 0) {
          return ChunkResult{ChunkOutcome::kTotalMismatch, upload.received};
        }
        // A fresh start with another size: the old upload can never
        // complete against this id, so it is replaced.
        if (Status s = DeleteUploadRows(db, chunk.sha256, chunk.site); !s) {
          return Fail(s.error());
        }
        if (Status s = BeginUpload(db, chunk); !s) return Fail(s.error());
        upload = HeldUpload{chunk.total, 0};
      }
    }
    if (chunk.start != upload.received) {
      if (Status s = txn->Commit(); !s) return Fail(s.error());
      return ChunkResult{ChunkOutcome::kOffsetMismatch, upload.received};
    }
    if (!completes) {
      auto insert = db.Prepare(
          "INSERT INTO blob_upload_chunks (sha256, site, start, data) VALUES "
          "(?, ?, ?, ?)");
      if (!insert) return Fail(insert.error());
      Status s = insert->BindText(1, chunk.sha256);
      if (s) s = insert->BindText(2, chunk.site);
      if (s) s = insert->BindInt64(3, static_cast<std::int64_t>(chunk.start));
      if (s) s = insert->BindBlob(4, chunk.bytes);
      if (s) s = insert->Run();
      if (s) {
        s = RunWith(db,
                    "UPDATE blob_uploads SET received = ?3, updated_ms = ?4 "
                    "WHERE sha256 = ?1 AND site = ?2",
                    {chunk.sha256, chunk.site},
                    {static_cast<std::int64_t>(chunk.start + length),
                     chunk.now_ms});
      }
      if (!s) return Fail(s.error());
      if (Status c = txn->Commit(); !c) return Fail(c.error());
      return ChunkResult{ChunkOutcome::kAppended, chunk.start + length};
    }
    if (Status s = txn->Commit(); !s) return Fail(s.error());
  }

  // The last chunk: assemble [0, start) from the staged chunks (a reader
  // sees the commits above), append this one, verify the whole.
  std::vector<std::uint8_t> content;
  content.reserve(chunk.total);
  {
    SqlcipherCentralStore::State::ReaderLease lease(state_);
    auto stmt = lease.db().Prepare(
        "SELECT start, data FROM blob_upload_chunks WHERE sha256 = ? AND "
        "site = ? ORDER BY start");
    if (!stmt) return Fail(stmt.error());
    Status s = stmt->BindText(1, chunk.sha256);
    if (s) s = stmt->BindText(2, chunk.site);
    if (!s) return Fail(s.error());
    for (;;) {
      auto row = stmt->Step();
      if (!row) return Fail(row.error());
      if (!*row) break;
      auto start = NonNegative(*stmt, 0, "blob_upload_chunks.start");
      if (!start) return Fail(start.error());
      auto data = stmt->ColumnBlob(1);
      if (!data) return Fail(data.error());
      if (*start != content.size() ||
          data->size() > chunk.start - content.size()) {
        break;  // not the prefix this chunk continues (see below)
      }
      content.insert(content.end(), data->begin(), data->end());
    }
  }
  if (content.size() != chunk.start) {
    // Another request restarted or completed this upload meanwhile.
    auto progress = Progress(chunk.sha256, chunk.site);
    if (!progress) return Fail(progress.error());
    return ChunkResult{ChunkOutcome::kOffsetMismatch, progress->received};
  }
  content.insert(content.end(), chunk.bytes.begin(), chunk.bytes.end());
  return Complete(chunk, content);
}

Result<ChunkResult> SqlcipherBlobStore::Complete(
    const BlobChunk& chunk, std::span<const std::uint8_t> content) {
  if (engine::Sha256Hex(content) != chunk.sha256) {
    std::lock_guard lock(state_.writer_mutex);
    if (Status s = DropUpload(chunk.sha256, chunk.site); !s) {
      return Fail(s.error());
    }
    return ChunkResult{ChunkOutcome::kHashMismatch, 0};
  }
  engine::BlobStore& blobs = state_.replica->blob_store();
  auto present = blobs.Contains(chunk.sha256);
  if (!present) return Fail(present.error());
  if (!*present) {
    auto ref = blobs.Put(content);
    if (!ref) return Fail(ref.error());
    if (ref->sha256 != chunk.sha256) {  // verified above; belt and braces
      return Fail(ErrorCode::kCorruption,
                  "blob store named the content " + ref->sha256);
    }
  }
  std::lock_guard lock(state_.writer_mutex);
  Database& db = state_.replica->database();
  auto txn = db.Begin(engine::TransactionMode::kImmediate);
  if (!txn) return Fail(txn.error());
  if (Status s = DeleteUploadRows(db, chunk.sha256, chunk.site); !s) {
    return Fail(s.error());
  }
  if (Status s = RunWith(db,
                         "INSERT OR IGNORE INTO blob_owners (sha256, site, "
                         "uploaded_by, size, created_ms) VALUES (?, ?, ?, ?, "
                         "?)",
                         {chunk.sha256, chunk.site, chunk.user_id},
                         {static_cast<std::int64_t>(content.size()),
                          chunk.now_ms});
      !s) {
    return Fail(s.error());
  }
  if (Status s = txn->Commit(); !s) return Fail(s.error());
  return ChunkResult{ChunkOutcome::kCompleted, content.size()};
}

Result<std::vector<std::uint8_t>> SqlcipherBlobStore::Read(
    std::string_view sha256) {
  if (Status s = engine::ValidateBlobId(sha256); !s) return Fail(s.error());
  return state_.replica->blob_store().Get(sha256);
}

Result<std::vector<std::string>> SqlcipherBlobStore::MissingFor(
    std::string_view site, std::span<const std::string> hashes) {
  for (const std::string& hash : hashes) {
    if (Status s = engine::ValidateBlobId(hash); !s) return Fail(s.error());
  }
  std::vector<std::string> missing;
  if (hashes.empty()) return missing;
  std::set<std::string_view> seen;
  SqlcipherCentralStore::State::ReaderLease lease(state_);
  auto stmt = lease.db().Prepare(
      "SELECT 1 FROM blob_owners WHERE sha256 = ? AND site = ?");
  if (!stmt) return Fail(stmt.error());
  for (const std::string& hash : hashes) {
    if (!seen.insert(hash).second) continue;
    stmt->Reset();
    Status s = stmt->BindText(1, hash);
    if (s) s = stmt->BindText(2, site);
    if (!s) return Fail(s.error());
    auto row = stmt->Step();
    if (!row) return Fail(row.error());
    if (!*row) missing.push_back(hash);
  }
  return missing;
}

}  // namespace pulse::sync_server
