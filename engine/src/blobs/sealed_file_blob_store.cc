// The sealed blob file (docs/formats/blob_file.md, version 1). The offsets
// below are that document's table; change neither without the other.
#include "pulse/engine/sealed_file_blob_store.h"

#include <sodium.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <optional>
#include <system_error>
#include <utility>

#include "pulse/engine/crypto.h"
#include "pulse/engine/hash.h"

namespace pulse::engine {
namespace {

namespace fs = std::filesystem;
using Bytes = std::vector<std::uint8_t>;

constexpr std::array<std::uint8_t, 8> kMagic = {0x89, 'P', 'L', 'B',
                                                'L',  'O', 'B', '\n'};
constexpr std::uint8_t kVersion = 1;
constexpr std::uint8_t kCipherSecretstream = 1;

constexpr std::size_t kVersionOffset = 8;
constexpr std::size_t kCipherOffset = 9;
constexpr std::size_t kReservedOffset = 10;
constexpr std::size_t kChunkSizeOffset = 12;
constexpr std::size_t kPlainSizeOffset = 16;
constexpr std::size_t kHashOffset = 24;
constexpr std::size_t kStreamHeaderOffset = 56;
constexpr std::size_t kAdBytes = kStreamHeaderOffset;  // bytes [0, 56)

static_assert(kStreamHeaderOffset +
                  crypto_secretstream_xchacha20poly1305_HEADERBYTES ==
              SealedFileBlobStore::kHeaderBytes);
static_assert(crypto_secretstream_xchacha20poly1305_ABYTES ==
              SealedFileBlobStore::kChunkOverheadBytes);
static_assert(crypto_secretstream_xchacha20poly1305_KEYBYTES == DataKey::kSize);

constexpr std::size_t kChunk = SealedFileBlobStore::kChunkBytes;
constexpr std::size_t kSealedChunk =
    kChunk + SealedFileBlobStore::kChunkOverheadBytes;

void PutLe(std::uint8_t* out, std::uint64_t v, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i)
    out[i] = static_cast<std::uint8_t>(v >> 8 * i);
}
std::uint64_t GetLe(const std::uint8_t* in, std::size_t n) {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < n; ++i) v |= std::uint64_t{in[i]} << 8 * i;
  return v;
}

std::uint64_t ChunkCount(std::uint64_t plaintext_bytes) {
  return std::max<std::uint64_t>(1, (plaintext_bytes + kChunk - 1) / kChunk);
}

// Inverse of SealedSize(): the plaintext size of a file of `sealed` bytes,
// or nothing if no plaintext size gives that length.
std::optional<std::uint64_t> PlainSizeOf(std::uint64_t sealed) {
  if (sealed < SealedFileBlobStore::kHeaderBytes +
                   SealedFileBlobStore::kChunkOverheadBytes) {
    return std::nullopt;
  }
  const std::uint64_t body = sealed - SealedFileBlobStore::kHeaderBytes;
  const std::uint64_t n = (body + kSealedChunk - 1) / kSealedChunk;
  const std::uint64_t plain =
      body - n * SealedFileBlobStore::kChunkOverheadBytes;
  if (ChunkCount(plain) != n) return std::nullopt;
  return plain;
}

Error Corrupt(std::string_view id, std::string_view what) {
  return Error(ErrorCode::kCorruption,
               "blob " + std::string(id) + ": " + std::string(what));
}

// Wipes the secretstream state (it holds a subkey) on every way out.
struct StreamState {
  crypto_secretstream_xchacha20poly1305_state s;
  ~StreamState() { sodium_memzero(&s, sizeof s); }
};

}  // namespace

std::uint64_t SealedFileBlobStore::SealedSize(std::uint64_t plaintext_bytes) {
  return kHeaderBytes + plaintext_bytes +
         kChunkOverheadBytes * ChunkCount(plaintext_bytes);
}

Result<std::unique_ptr<SealedFileBlobStore>> SealedFileBlobStore::Open(
    const fs::path& root, DataKey blob_key, FileOps& file_ops) {
  if (!blob_key.valid()) {
    return Fail(ErrorCode::kInvalidArgument, "blob store: no blob key");
  }
  if (auto s = InitCrypto(); !s) return Fail(s.error());
  if (auto s = file_ops.CreateDirectory(root); !s) {
    return Fail(s.error().WithContext("blob store"));
  }
  fs::path parent = root.parent_path();
  if (parent.empty()) parent = ".";
  if (auto s = file_ops.SyncDirectory(parent); !s) {
    return Fail(s.error().WithContext("blob store"));
  }
  return std::unique_ptr<SealedFileBlobStore>(
      new SealedFileBlobStore(root, std::move(blob_key), file_ops));
}

fs::path SealedFileBlobStore::PathOf(std::string_view id) const {
  return root_ / std::string(id.substr(0, 2)) / std::string(id);
}

Bytes SealedFileBlobStore::Seal(std::span<const std::uint8_t> bytes,
                                std::span<const std::uint8_t, 32> hash) const {
  Bytes out(SealedSize(bytes.size()));
  std::copy(kMagic.begin(), kMagic.end(), out.begin());
  out[kVersionOffset] = kVersion;
  out[kCipherOffset] = kCipherSecretstream;
  PutLe(&out[kChunkSizeOffset], kChunk, 4);
  PutLe(&out[kPlainSizeOffset], bytes.size(), 8);
  std::copy(hash.begin(), hash.end(), out.begin() + kHashOffset);

  StreamState st;
  crypto_secretstream_xchacha20poly1305_init_push(
      &st.s, &out[kStreamHeaderOffset], key_.bytes().data());
  const std::uint64_t n = ChunkCount(bytes.size());
  std::size_t in_at = 0;
  std::size_t out_at = kHeaderBytes;
  for (std::uint64_t i = 0; i < n; ++i) {
    const std::size_t len = std::min(kChunk, bytes.size() - in_at);
    const bool last = i + 1 == n;
    crypto_secretstream_xchacha20poly1305_push(
        &st.s, &out[out_at], nullptr, bytes.data() + in_at, len, out.data(),
        kAdBytes,
        last ? crypto_secretstream_xchacha20poly1305_TAG_FINAL
             : crypto_secretstream_xchacha20poly1305_TAG_MESSAGE);
    in_at += len;
    out_at += len + kChunkOverheadBytes;
  }
  return out;
}

Result<Bytes> SealedFileBlobStore::ReadVerified(std::string_view id,
                                                const fs::path& path) {
  Result<std::uint64_t> length = ops_.FileSize(path);
  if (!length) {
    if (length.error().code() == ErrorCode::kNotFound) {
      return Fail(ErrorCode::kNotFound, "blob " + std::string(id));
    }
    return Fail(length.error());
  }
  if (*length > SealedSize(kMaxStoredBlobBytes)) {
    return Fail(Corrupt(id, "file of " + std::to_string(*length) +
                                " bytes is larger than any blob"));
  }
  Result<Bytes> file = ops_.ReadFile(path, static_cast<std::size_t>(*length));
  if (!file) {
    if (file.error().code() == ErrorCode::kNotFound) {
      return Fail(ErrorCode::kNotFound, "blob " + std::string(id));
    }
    if (file.error().code() == ErrorCode::kCorruption) {
      return Fail(Corrupt(id, "file grew while being read"));
    }
    return Fail(file.error());
  }
  const Bytes& f = *file;

  // The order of checks is the format document's "Reading, in order".
  if (f.size() < kHeaderBytes ||
      !std::equal(kMagic.begin(), kMagic.end(), f.begin())) {
    return Fail(Corrupt(id, "not a sealed blob file (bad magic or too short)"));
  }
  if (f[kVersionOffset] != kVersion ||
      f[kCipherOffset] != kCipherSecretstream || f[kReservedOffset] != 0 ||
      f[kReservedOffset + 1] != 0) {
    return Fail(Corrupt(
        id, "unknown format version " + std::to_string(f[kVersionOffset]) +
                " / cipher " + std::to_string(f[kCipherOffset]) +
                " (this build reads 1 / 1): damaged, or from a newer build"));
  }
  const std::string stored_id =
      HexEncode(std::span<const std::uint8_t>(f).subspan(kHashOffset, 32));
  if (stored_id != id) {
    return Fail(Corrupt(id, "file holds blob " + stored_id +
                                " (moved or copied under another name)"));
  }
  const std::uint64_t chunk = GetLe(&f[kChunkSizeOffset], 4);
  const std::uint64_t plain_size = GetLe(&f[kPlainSizeOffset], 8);
  if (chunk != kChunk || plain_size > kMaxStoredBlobBytes ||
      f.size() != SealedSize(plain_size)) {
    return Fail(Corrupt(id, "file is truncated or extended (" +
                                std::to_string(f.size()) + " bytes)"));
  }

  StreamState st;
  if (crypto_secretstream_xchacha20poly1305_init_pull(
          &st.s, &f[kStreamHeaderOffset], key_.bytes().data()) != 0) {
    return Fail(Corrupt(id, "bad stream header"));
  }
  Bytes plain(plain_size);
  const std::uint64_t n = ChunkCount(plain_size);
  std::size_t in_at = kHeaderBytes;
  std::size_t out_at = 0;
  for (std::uint64_t i = 0; i < n; ++i) {
    const std::size_t len = std::min(kChunk, plain.size() - out_at);
    unsigned char tag = 0;
    const bool last = i + 1 == n;
    if (crypto_secretstream_xchacha20poly1305_pull(
            &st.s, plain.data() + out_at, nullptr, &tag, &f[in_at],
            len + kChunkOverheadBytes, f.data(), kAdBytes) != 0 ||
        tag != (last ? crypto_secretstream_xchacha20poly1305_TAG_FINAL
                     : crypto_secretstream_xchacha20poly1305_TAG_MESSAGE)) {
      sodium_memzero(plain.data(), plain.size());
      return Fail(Corrupt(id, "authentication failed at chunk " +
                                  std::to_string(i) +
                                  " (damaged, or sealed under another blob "
                                  "key)"));
    }
    in_at += len + kChunkOverheadBytes;
    out_at += len;
  }
  if (BlobIdOf(plain) != id) {
    sodium_memzero(plain.data(), plain.size());
    return Fail(Corrupt(id, "content hash mismatch"));
  }
  return plain;
}

Status SealedFileBlobStore::EnsureDirectories(std::string_view id) {
  const fs::path dir = root_ / std::string(id.substr(0, 2));
  {
    std::lock_guard lock(mu_);
    if (durable_dirs_.count(dir.native()) != 0) return OkStatus();
  }
  // Sync the root even when the directory already existed: a crash may
  // have come between an earlier mkdir and the root's sync.
  if (auto s = ops_.CreateDirectory(dir); !s) return s;
  if (auto s = ops_.SyncDirectory(root_); !s) return s;
  std::lock_guard lock(mu_);
  durable_dirs_.insert(dir.native());
  return OkStatus();
}

Status SealedFileBlobStore::WriteNew(const fs::path& path,
                                     std::span<const std::uint8_t> sealed,
                                     bool replace) {
  std::array<std::uint8_t, 8> nonce;
  RandomBytes(nonce);
  fs::path temp = path;
  temp += ".tmp-" + HexEncode(nonce);
  const auto abandon = [&](const Error& error) {
    (void)ops_.Remove(temp);  // best effort; RemoveStaleTempFiles() catches
    return Fail(error);       // what this misses
  };
  if (auto s = ops_.WriteFileDurably(temp, sealed); !s) {
    return abandon(s.error());
  }
  // Read back: a short or silently failed write is caught before the file
  // takes its final name.
  auto back = ops_.ReadFile(temp, sealed.size());
  if (!back) return abandon(back.error());
  if (!std::equal(back->begin(), back->end(), sealed.begin(), sealed.end())) {
    return abandon(Error(ErrorCode::kIoError,
                         temp.string() + ": read back differs from what was "
                                         "written"));
  }
  auto renamed = ops_.Rename(temp, path,
                             replace ? FileOps::RenameMode::kReplace
                                     : FileOps::RenameMode::kNoReplace);
  if (!renamed) {
    if (renamed.error().code() != ErrorCode::kAlreadyExists) {
      return abandon(renamed.error());
    }
    // A concurrent Put() of the same content got there first.
    (void)ops_.Remove(temp);
  }
  if (auto s = ops_.SyncDirectory(path.parent_path()); !s) {
    return Fail(
        s.error().WithContext(path.string() +
                              ": written, but not yet durable (directory sync "
                              "failed)"));
  }
  return OkStatus();
}

Result<BlobRef> SealedFileBlobStore::Put(std::span<const std::uint8_t> bytes) {
  if (bytes.size() > kMaxStoredBlobBytes) {
    return Fail(ErrorCode::kInvalidArgument,
                "blob of " + std::to_string(bytes.size()) +
                    " bytes exceeds the limit of " +
                    std::to_string(kMaxStoredBlobBytes));
  }
  const Sha256Digest hash = Sha256(bytes);
  BlobRef ref{HexEncode(hash), bytes.size()};
  const fs::path path = PathOf(ref.sha256);

  bool replace = false;
  Result<Bytes> existing = ReadVerified(ref.sha256, path);
  if (existing) {
    // Stored already. Re-sync the directories in case the write that put
    // it there crashed or failed before its directory sync.
    if (auto s = EnsureDirectories(ref.sha256); !s) return Fail(s.error());
    if (auto s = ops_.SyncDirectory(path.parent_path()); !s) {
      return Fail(s.error());
    }
    return ref;
  }
  switch (existing.error().code()) {
    case ErrorCode::kNotFound:
      break;
    case ErrorCode::kCorruption:
      // The bytes in hand are the content the id names: a fresh seal
      // repairs the damaged file.
      replace = true;
      break;
    default:
      return Fail(existing.error());
  }
  if (auto s = EnsureDirectories(ref.sha256); !s) return Fail(s.error());
  Bytes sealed = Seal(bytes, hash);
  if (auto s = WriteNew(path, sealed, replace); !s) {
    return Fail(s.error().WithContext("put blob " + ref.sha256));
  }
  return ref;
}

Result<Bytes> SealedFileBlobStore::Get(std::string_view id) {
  if (auto s = ValidateBlobId(id); !s) return Fail(s.error());
  return ReadVerified(id, PathOf(id));
}

Result<bool> SealedFileBlobStore::Contains(std::string_view id) {
  if (auto s = ValidateBlobId(id); !s) return Fail(s.error());
  Result<std::uint64_t> length = ops_.FileSize(PathOf(id));
  if (length) return true;
  if (length.error().code() == ErrorCode::kNotFound) return false;
  return Fail(length.error());
}

Result<std::uint64_t> SealedFileBlobStore::Size(std::string_view id) {
  if (auto s = ValidateBlobId(id); !s) return Fail(s.error());
  Result<std::uint64_t> length = ops_.FileSize(PathOf(id));
  if (!length) {
    if (length.error().code() == ErrorCode::kNotFound) {
      return Fail(ErrorCode::kNotFound, "blob " + std::string(id));
    }
    return Fail(length.error());
  }
  std::optional<std::uint64_t> plain = PlainSizeOf(*length);
  if (!plain || *plain > kMaxStoredBlobBytes) {
    return Fail(Corrupt(
        id, "file length " + std::to_string(*length) + " fits no blob"));
  }
  return *plain;
}

Status SealedFileBlobStore::Remove(std::string_view id) {
  if (auto s = ValidateBlobId(id); !s) return s;
  const fs::path path = PathOf(id);
  if (auto s = ops_.Remove(path); !s) return s;
  auto synced = ops_.SyncDirectory(path.parent_path());
  if (!synced && synced.error().code() == ErrorCode::kNotFound) {
    return OkStatus();  // no fan-out directory: the blob never existed
  }
  return synced;
}

Result<std::size_t> SealedFileBlobStore::RemoveStaleTempFiles() {
  std::size_t removed = 0;
  std::error_code ec;
  std::vector<fs::path> stale;
  for (auto it = fs::recursive_directory_iterator(root_, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (it.depth() > 1) {
      it.disable_recursion_pending();
      continue;
    }
    const std::string name = it->path().filename().string();
    if (name.size() > 64 + 5 &&
        IsValidBlobId(std::string_view(name).substr(0, 64)) &&
        std::string_view(name).substr(64, 5) == ".tmp-") {
      stale.push_back(it->path());
    }
  }
  if (ec) {
    return Fail(ErrorCode::kIoError,
                root_.string() + ": cannot list: " + ec.message());
  }
  for (const fs::path& p : stale) {
    if (auto s = ops_.Remove(p); !s) return Fail(s.error());
    ++removed;
  }
  return removed;
}

}  // namespace pulse::engine
