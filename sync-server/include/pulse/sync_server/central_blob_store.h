// CentralBlobStore: the sync server's content-addressed blobs (DESIGN.md §3,
// §5): waveform segments and report PDFs, named by the SHA-256 of their
// bytes (64 lowercase hex, engine/blob_store.h), uploaded separately from
// the change log and resumably (docs/sync_protocol.md "Blobs"). The blob
// handlers (src/blob_handlers.cc) reach blob storage only through this
// interface, so that a filesystem or S3-compatible backend can follow
// (DESIGN.md §12); the embedded one is sqlcipher_blob_store.h.
//
// Model:
//  * A complete blob is stored once, whoever uploaded it.
//  * A site OWNS a blob once one of its staff has uploaded bytes that hash
//    to the blob's id. Ownership is what lets clinic staff read a blob
//    back, and it is never granted by merely naming a hash (a pushed row
//    that references a blob the site has not uploaded): the hash of another
//    site's waveform is not a read capability. A site that references a
//    blob it does not own is asked for it in the push answer
//    (MissingFor), uploads it, the bytes are verified and the stored copy
//    is kept — proof of possession, not a second copy.
//  * An upload in progress belongs to one (blob, site): bytes [0, received)
//    of `total`, appended in order, kept encrypted at rest and across
//    restarts. The chunk that completes it makes the store hash the whole
//    content; a mismatch discards the upload and stores nothing.
//
// Every call validates the id first: anything but 64 lowercase hex is
// kInvalidArgument and touches nothing.
//
// Thread-safety: every method may be called from any thread concurrently
// (the server's io threads); implementations serialise what they must.
#ifndef PULSE_SYNC_SERVER_CENTRAL_BLOB_STORE_H_
#define PULSE_SYNC_SERVER_CENTRAL_BLOB_STORE_H_

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "pulse/base/result.h"
#include "pulse/engine/blob_store.h"

namespace pulse::sync_server {

// Largest blob accepted, in bytes. Blobs are served whole from memory
// (engine::BlobStore::Get), so this is the engine's own cap (256 MiB); a
// 10-minute 12-lead recording is ~40 segments of tens of KB.
inline constexpr std::uint64_t kMaxBlobBytes = engine::kMaxStoredBlobBytes;
// Largest chunk one PUT may carry, in bytes: half the HTTP body limit
// (sync::kMaxRequestBodyBytes, 16 MiB), so that a dropped link resends at
// most 8 MiB.
inline constexpr std::uint64_t kMaxBlobChunkBytes = std::uint64_t{8} << 20;

// A complete blob as the store holds it.
struct StoredBlobInfo {
  std::uint64_t size = 0;           // bytes of content
  std::vector<std::string> owners;  // sites (canonical UUIDs), sorted
};

// An upload in progress for one (blob, site). received == 0 and no total
// when there is none.
struct UploadProgress {
  std::uint64_t received = 0;          // bytes held, from offset 0
  std::optional<std::uint64_t> total;  // announced size, if an upload exists
};

// One PUT's bytes: content bytes [start, start + bytes.size()) of a blob of
// `total` bytes.
struct BlobChunk {
  std::string_view sha256;   // the blob id (validated by the store)
  std::string_view site;     // the uploading user's site
  std::string_view user_id;  // the uploading user (recorded with ownership)
  std::uint64_t start = 0;
  std::uint64_t total = 0;
  std::span<const std::uint8_t> bytes;
  std::int64_t now_ms = 0;  // wall clock, Unix ms
};

enum class ChunkOutcome {
  // The bytes were appended; `received` is the new offset; more to come.
  kAppended = 0,
  // This chunk completed the upload: the content hashed to the id, is
  // stored (or was already), and the site owns the blob now.
  kCompleted = 1,
  // The site owned the blob already; nothing was read or changed.
  kAlreadyOwned = 2,
  // `start` is not the offset held (`received`): nothing changed. The
  // client resumes from `received`.
  kOffsetMismatch = 3,
  // `total` differs from the size announced when the upload began and the
  // chunk does not restart it at 0: nothing changed.
  kTotalMismatch = 4,
  // The completed content does not hash to the id: the whole upload was
  // discarded (received is 0 again) and nothing was stored.
  kHashMismatch = 5,
};

struct ChunkResult {
  ChunkOutcome outcome = ChunkOutcome::kAppended;
  std::uint64_t received = 0;  // bytes held after the call (total when done)
};

class CentralBlobStore {
 public:
  virtual ~CentralBlobStore() = default;

  // The complete blob `sha256` and its owners, or nullopt when it is not
  // stored. Does not read the content.
  virtual Result<std::optional<StoredBlobInfo>> Find(
      std::string_view sha256) = 0;

  // The upload of `sha256` in progress for `site`.
  virtual Result<UploadProgress> Progress(std::string_view sha256,
                                          std::string_view site) = 0;

  // Accepts one chunk (see ChunkOutcome). Rules, in order:
  //  * the site owns the blob                         -> kAlreadyOwned
  //  * start == 0 and the chunk is the whole content  -> verified and
  //    completed at once, superseding any partial upload of the site
  //  * start == 0 and total differs from the upload's -> the upload
  //    restarts with this chunk
  //  * total differs                                  -> kTotalMismatch
  //  * start != received                              -> kOffsetMismatch
  //  * otherwise appended; if it reaches total, completed or
  //    kHashMismatch.
  // REQUIRES (else kInvalidArgument): 0 < bytes.size() <=
  // kMaxBlobChunkBytes, or bytes empty only for a whole blob of total 0;
  // start + bytes.size() <= total. kOutOfRange if total > kMaxBlobBytes.
  // Store failures: kIoError, kBusy, kCorruption (a damaged staged chunk).
  virtual Result<ChunkResult> PutChunk(const BlobChunk& chunk) = 0;

  // The content of the complete blob, verified against its id. kNotFound if
  // not stored; kCorruption if the stored bytes are damaged.
  virtual Result<std::vector<std::uint8_t>> Read(std::string_view sha256) = 0;

  // Of `hashes` (pushed rows' blob references), those `site` does not own,
  // deduplicated, in first-seen order. kInvalidArgument if one is not a
  // valid id.
  virtual Result<std::vector<std::string>> MissingFor(
      std::string_view site, std::span<const std::string> hashes) = 0;

  // Discards every upload in progress that no chunk has touched since
  // `idle_since_ms` (Unix ms): a clinic that gave up on a blob (replaced,
  // erased, replica rebuilt) must not hold its staged bytes on the server
  // for ever. The client that does come back later finds received = 0 and
  // starts again. Returns how many uploads were dropped. Complete blobs
  // and ownership are never touched.
  virtual Result<std::int64_t> DropStaleUploads(std::int64_t idle_since_ms) = 0;
};

}  // namespace pulse::sync_server

#endif  // PULSE_SYNC_SERVER_CENTRAL_BLOB_STORE_H_
