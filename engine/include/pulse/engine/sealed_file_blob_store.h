// SealedFileBlobStore: the clinic's BlobStore. One file per blob under
// <root>/ab/<id>, sealed with libsodium's secretstream (XChaCha20-
// Poly1305) in 64 KiB chunks under a 32-byte blob key, the blob's id bound
// into every chunk's tag. The format, the write protocol and the order of
// read checks are in docs/formats/blob_file.md.
//
// Why files and not BLOB columns: SQLCipher's page encryption costs 38–100 %
// on 4 KB blobs (docs/architecture.md "Store"); this store's cost is in the
// "Measured" section of the format document.
//
// A stolen disk shows only blob sizes. A damaged, cut, reordered or renamed
// file, or one sealed under another key, is kCorruption on Get(), never
// wrong bytes. A crash during Put() leaves no partial file under a final
// name; the temp files it may leave are ignored and removed by
// RemoveStaleTempFiles().
//
// Thread-safety: all BlobStore calls may run concurrently (temp names are
// unique per write). RemoveStaleTempFiles() must not run while a Put() is
// in progress in any process using the same root.
#ifndef PULSE_ENGINE_SEALED_FILE_BLOB_STORE_H_
#define PULSE_ENGINE_SEALED_FILE_BLOB_STORE_H_

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "pulse/base/result.h"
#include "pulse/engine/blob_store.h"
#include "pulse/engine/data_key.h"
#include "pulse/engine/file_ops.h"

namespace pulse::engine {

class SealedFileBlobStore final : public BlobStore {
 public:
  // Plaintext bytes per sealed chunk (format version 1).
  static constexpr std::size_t kChunkBytes = 64 * 1024;
  // Bytes before the first chunk, and sealing overhead per chunk.
  static constexpr std::size_t kHeaderBytes = 80;
  static constexpr std::size_t kChunkOverheadBytes = 17;

  // Opens the store at `root`, creating that directory (not its parents) if
  // missing. `blob_key` is the replica's blob key (kept in its encrypted
  // database); the store owns it from here. `file_ops` must outlive the
  // store (RealFileOps() in production, a fault injector in tests).
  // kInvalidArgument for an invalid (moved-from) key; kNotFound if root's
  // parent is missing; kIoError otherwise.
  static Result<std::unique_ptr<SealedFileBlobStore>> Open(
      const std::filesystem::path& root, DataKey blob_key, FileOps& file_ops);

  Result<BlobRef> Put(std::span<const std::uint8_t> bytes) override;
  Result<std::vector<std::uint8_t>> Get(std::string_view id) override;
  Result<bool> Contains(std::string_view id) override;
  Result<std::uint64_t> Size(std::string_view id) override;
  Status Remove(std::string_view id) override;

  // Removes "<id>.tmp-*" files left by interrupted writes and returns how
  // many it removed. Lists directories directly (std::filesystem) and
  // removes through FileOps. REQUIRES: no Put() in progress on this root.
  Result<std::size_t> RemoveStaleTempFiles();

  // The path blob `id` is (or would be) stored at. REQUIRES: a valid id.
  std::filesystem::path PathOf(std::string_view id) const;

  // Size of the sealed file of a blob of `plaintext_bytes` bytes.
  static std::uint64_t SealedSize(std::uint64_t plaintext_bytes);

 private:
  SealedFileBlobStore(std::filesystem::path root, DataKey key, FileOps& ops)
      : root_(std::move(root)), key_(std::move(key)), ops_(ops) {}

  // Reads and opens the file of `id`: the verified plaintext or an error.
  Result<std::vector<std::uint8_t>> ReadVerified(
      std::string_view id, const std::filesystem::path& path);
  std::vector<std::uint8_t> Seal(std::span<const std::uint8_t> bytes,
                                 std::span<const std::uint8_t, 32> hash) const;
  // Creates <root>/ab and makes it durable, once per directory per
  // process.
  Status EnsureDirectories(std::string_view id);
  Status WriteNew(const std::filesystem::path& path,
                  std::span<const std::uint8_t> sealed, bool replace);

  const std::filesystem::path root_;
  const DataKey key_;
  FileOps& ops_;

  std::mutex mu_;  // guards durable_dirs_
  std::set<std::string, std::less<>> durable_dirs_;
};

}  // namespace pulse::engine

#endif  // PULSE_ENGINE_SEALED_FILE_BLOB_STORE_H_
