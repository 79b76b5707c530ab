// BlobStore: content-addressed, immutable, deduplicated byte strings
// (DESIGN.md §3): waveform segments and PDF reports. A blob's id is the
// SHA-256 of its content as 64 lowercase hex characters; storing the same
// bytes twice gives the same id and keeps one copy, and every read proves
// that what it returns hashes to the id asked for.
//
// The interface belongs to its users (recording pipeline, sync client, sync
// server); implementations: SealedFileBlobStore (clinic: one sealed file per
// blob, docs/formats/blob_file.md), MemoryBlobStore (tests of higher
// layers), and later a table or S3-compatible store on the server.
//
// Every call validates the id text first (IsValidBlobId): anything other
// than 64 lowercase hex characters is kInvalidArgument and touches nothing.
//
// Thread-safety: implementations are safe to call from several threads at
// once, including concurrent Put()s of the same bytes.
#ifndef PULSE_ENGINE_BLOB_STORE_H_
#define PULSE_ENGINE_BLOB_STORE_H_

#include <compare>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "pulse/base/result.h"

namespace pulse::engine {

// Largest blob any store accepts: Get() returns a blob whole, in memory. A
// 10-minute 12-lead recording is ~40 segments of tens of KB; a report PDF a
// few hundred KB.
inline constexpr std::uint64_t kMaxStoredBlobBytes = std::uint64_t{256} << 20;

// What Put() returns and what rows store: the id and the content length.
struct BlobRef {
  std::string sha256;      // 64 lowercase hex characters
  std::uint64_t size = 0;  // bytes of content

  friend bool operator==(const BlobRef&, const BlobRef&) = default;
};

// True iff `id` is exactly 64 characters of [0-9a-f]. The only accepted
// form, so one blob has one name (and no name holds '/' or "..").
bool IsValidBlobId(std::string_view id);

// Returns OkStatus() for a valid id, else kInvalidArgument naming it (cut to
// a printable prefix).
Status ValidateBlobId(std::string_view id);

// The id of `bytes`: lowercase hex SHA-256.
std::string BlobIdOf(std::span<const std::uint8_t> bytes);

class BlobStore {
 public:
  virtual ~BlobStore() = default;

  // Stores `bytes` (if not already stored) and returns its ref. Idempotent:
  // the same bytes always give the same ref and are stored once. On success
  // the blob is durable (for stores that persist). On failure the store
  // holds either nothing under the id or the complete blob, never a part.
  // kInvalidArgument if bytes.size() > kMaxStoredBlobBytes; kIoError when the
  // medium refuses.
  virtual Result<BlobRef> Put(std::span<const std::uint8_t> bytes) = 0;

  // The content of blob `id`, verified against the id. kInvalidArgument for
  // a malformed id; kNotFound if absent; kCorruption (naming the id) if the
  // stored bytes are damaged, cut, sealed under another key or belong to
  // another id — never wrong bytes; kIoError when the medium refuses.
  virtual Result<std::vector<std::uint8_t>> Get(std::string_view id) = 0;

  // Whether blob `id` is present. Cheap: the content is NOT verified (Get
  // does that). kInvalidArgument for a malformed id.
  virtual Result<bool> Contains(std::string_view id) = 0;

  // Content length in bytes of blob `id`, for HEAD-style answers, without
  // reading the content: like Contains(), unverified. kNotFound if absent;
  // kCorruption if the stored length cannot belong to a valid blob.
  virtual Result<std::uint64_t> Size(std::string_view id) = 0;

  // Erases blob `id`; an absent blob is not an error. ONLY for explicit
  // erasure (an admin removing data by policy, DESIGN.md §3): rows of other
  // replicas may still reference the id, and sync never calls this.
  virtual Status Remove(std::string_view id) = 0;
};

// Plain in-memory blobs: for tests of higher layers. Put() keeps a copy;
// Get() re-hashes what it returns, like every store.
class MemoryBlobStore final : public BlobStore {
 public:
  Result<BlobRef> Put(std::span<const std::uint8_t> bytes) override;
  Result<std::vector<std::uint8_t>> Get(std::string_view id) override;
  Result<bool> Contains(std::string_view id) override;
  Result<std::uint64_t> Size(std::string_view id) override;
  Status Remove(std::string_view id) override;

  // Number of distinct blobs held.
  std::size_t count() const;
  // Test hook: replaces the stored bytes of `id` (which must be present) so
  // that tests can check how callers react to kCorruption.
  void CorruptForTest(std::string_view id, std::vector<std::uint8_t> bytes);

 private:
  mutable std::mutex mu_;
  std::map<std::string, std::vector<std::uint8_t>, std::less<>> blobs_;
};

}  // namespace pulse::engine

#endif  // PULSE_ENGINE_BLOB_STORE_H_
