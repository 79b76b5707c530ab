// SqlcipherBlobStore: the embedded CentralBlobStore (central_blob_store.h),
// a sibling of SqlcipherCentralStore on the same SQLCipher database.
//
//  * Complete blobs go to the central replica's sealed blob store
//    (engine/sealed_file_blob_store.h: one XChaCha20-Poly1305 sealed file
//    per blob under <store>/blobs/, key in the encrypted database).
//  * Ownership (blob_owners) and uploads in progress (blob_uploads, with
//    their bytes in blob_upload_chunks) are tables of schema/central/
//    0003_blobs.sql: staged chunks are encrypted at rest by SQLCipher and
//    survive a restart; each append is one transaction, so `received` and
//    the chunks held always agree, whatever moment the process dies.
//  * The chunk that completes an upload is verified (SHA-256 of the whole
//    content, assembled from the staged chunks) before anything is stored;
//    then the blob is put into the sealed store (skipped if already there)
//    and, in one transaction, the site becomes an owner and the staged
//    chunks are deleted. A crash between the two leaves the sealed blob
//    and the staged upload: the client resends the last chunk (its offset
//    is still held) and completion runs again, idempotently.
//
// Thread-safety: all methods are safe from any thread. Writes take the
// central store's writer_mutex for one short transaction each (never
// across hashing or the sealed-file write); reads use its reader pool.
#ifndef PULSE_SYNC_SERVER_SQLCIPHER_BLOB_STORE_H_
#define PULSE_SYNC_SERVER_SQLCIPHER_BLOB_STORE_H_

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "pulse/base/result.h"
#include "pulse/sync_server/central_blob_store.h"
#include "pulse/sync_server/sqlcipher_central_store.h"

namespace pulse::sync_server {

class SqlcipherBlobStore final : public CentralBlobStore {
 public:
  // `store` must outlive this object. Its central schema must include
  // 0003_blobs.sql (Create/Open migrate it).
  explicit SqlcipherBlobStore(SqlcipherCentralStore& store);

  Result<std::optional<StoredBlobInfo>> Find(std::string_view sha256) override;
  Result<UploadProgress> Progress(std::string_view sha256,
                                  std::string_view site) override;
  Result<ChunkResult> PutChunk(const BlobChunk& chunk) override;
  Result<std::vector<std::uint8_t>> Read(std::string_view sha256) override;
  Result<std::vector<std::string>> MissingFor(
      std::string_view site, std::span<const std::string> hashes) override;
  Result<std::int64_t> DropStaleUploads(std::int64_t idle_since_ms) override;

 private:
  // Verifies `content` against the id; stores it and records ownership, or
  // discards the site's upload on a mismatch.
  Result<ChunkResult> Complete(const BlobChunk& chunk,
                               std::span<const std::uint8_t> content);
  Result<bool> Owns(std::string_view sha256, std::string_view site);
  // Deletes the site's upload of the blob (row and chunks), in its own
  // transaction. REQUIRES: writer_mutex held.
  Status DropUpload(std::string_view sha256, std::string_view site);

  SqlcipherCentralStore::State& state_;
};

}  // namespace pulse::sync_server

#endif  // PULSE_SYNC_SERVER_SQLCIPHER_BLOB_STORE_H_
