#include "pulse/engine/blob_store.h"

#include <algorithm>
#include <utility>

#include "pulse/engine/hash.h"

namespace pulse::engine {
namespace {

// The id as it may appear in a message: at most 64 printable characters.
std::string Printable(std::string_view id) {
  std::string out;
  for (char c : id.substr(0, 64)) {
    out += (c >= 0x20 && c < 0x7f) ? c : '?';
  }
  if (id.size() > 64) out += "...";
  return out;
}

}  // namespace

bool IsValidBlobId(std::string_view id) {
  return id.size() == 64 && std::all_of(id.begin(), id.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

Status ValidateBlobId(std::string_view id) {
  if (IsValidBlobId(id)) return OkStatus();
  return Fail(ErrorCode::kInvalidArgument,
              "blob id \"" + Printable(id) +
                  "\": must be 64 lowercase hex characters (SHA-256)");
}

std::string BlobIdOf(std::span<const std::uint8_t> bytes) {
  return Sha256Hex(bytes);
}

// --- MemoryBlobStore ---

Result<BlobRef> MemoryBlobStore::Put(std::span<const std::uint8_t> bytes) {
  if (bytes.size() > kMaxStoredBlobBytes) {
    return Fail(ErrorCode::kInvalidArgument,
                "blob of " + std::to_string(bytes.size()) +
                    " bytes exceeds the limit of " +
                    std::to_string(kMaxStoredBlobBytes));
  }
  BlobRef ref{BlobIdOf(bytes), bytes.size()};
  std::lock_guard lock(mu_);
  auto [it, inserted] = blobs_.try_emplace(ref.sha256);
  if (inserted) it->second.assign(bytes.begin(), bytes.end());
  return ref;
}

Result<std::vector<std::uint8_t>> MemoryBlobStore::Get(std::string_view id) {
  if (auto s = ValidateBlobId(id); !s) return Fail(s.error());
  std::vector<std::uint8_t> bytes;
  {
    std::lock_guard lock(mu_);
    auto it = blobs_.find(id);
    if (it == blobs_.end()) {
      return Fail(ErrorCode::kNotFound, "blob " + std::string(id));
    }
    bytes = it->second;
  }
  if (BlobIdOf(bytes) != id) {
    return Fail(ErrorCode::kCorruption,
                "blob " + std::string(id) + ": content hash mismatch");
  }
  return bytes;
}

Result<bool> MemoryBlobStore::Contains(std::string_view id) {
  if (auto s = ValidateBlobId(id); !s) return Fail(s.error());
  std::lock_guard lock(mu_);
  return blobs_.find(id) != blobs_.end();
}

Result<std::uint64_t> MemoryBlobStore::Size(std::string_view id) {
  if (auto s = ValidateBlobId(id); !s) return Fail(s.error());
  std::lock_guard lock(mu_);
  auto it = blobs_.find(id);
  if (it == blobs_.end()) {
    return Fail(ErrorCode::kNotFound, "blob " + std::string(id));
  }
  return static_cast<std::uint64_t>(it->second.size());
}

Status MemoryBlobStore::Remove(std::string_view id) {
  if (auto s = ValidateBlobId(id); !s) return s;
  std::lock_guard lock(mu_);
  if (auto it = blobs_.find(id); it != blobs_.end()) blobs_.erase(it);
  return OkStatus();
}

std::size_t MemoryBlobStore::count() const {
  std::lock_guard lock(mu_);
  return blobs_.size();
}

void MemoryBlobStore::CorruptForTest(std::string_view id,
                                     std::vector<std::uint8_t> bytes) {
  std::lock_guard lock(mu_);
  auto it = blobs_.find(id);
  if (it != blobs_.end()) it->second = std::move(bytes);
}

}  // namespace pulse::engine
