// FileOps: the few filesystem operations a durable small-file write needs,
// behind an interface so that tests can fail any one of them (the Nth call,
// once or from then on) and check what a crash at that point would leave
// behind (STYLE.md "Make faults a test input"; leveldb's Env).
//
// RealFileOps() is the POSIX implementation. ReplaceFileAtomically() is the
// write protocol built on top: temp file + fsync + read-back + rename +
// directory fsync.
//
// Thread-safety: RealFileOps() is safe from any thread. Two writers of the
// same path must be serialised by the caller (they share "<path>.tmp").
#ifndef PULSE_ENGINE_FILE_OPS_H_
#define PULSE_ENGINE_FILE_OPS_H_

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <vector>

#include "pulse/base/result.h"

namespace pulse::engine {

class FileOps {
 public:
  enum class RenameMode { kReplace, kNoReplace };

  virtual ~FileOps() = default;

  // The whole file. kNotFound if it does not exist; kCorruption if it is
  // larger than `max_bytes` (what the caller expects is small); kIoError
  // otherwise.
  virtual Result<std::vector<std::uint8_t>> ReadFile(
      const std::filesystem::path& path, std::size_t max_bytes) = 0;

  // Creates `path` with mode 0600 (or truncates it), writes `bytes`, fsyncs
  // and closes it. On error the file may hold any prefix of `bytes`.
  virtual Status WriteFileDurably(const std::filesystem::path& path,
                                  std::span<const std::uint8_t> bytes) = 0;

  // Atomically renames `from` to `to`. With kNoReplace, an existing `to` is
  // kept and the call returns kAlreadyExists.
  virtual Status Rename(const std::filesystem::path& from,
                        const std::filesystem::path& to, RenameMode mode) = 0;

  // fsyncs the directory `dir`, making earlier renames in it durable.
  virtual Status SyncDirectory(const std::filesystem::path& dir) = 0;

  // Removes `path`; a missing file is not an error.
  virtual Status Remove(const std::filesystem::path& path) = 0;

  // Creates the directory `dir` (mode 0700); an existing directory is not an
  // error. kNotFound if its parent is missing, kIoError otherwise. Not
  // durable until the parent is synced. The default is the POSIX call, so
  // fakes that do not fault it need not override it.
  virtual Status CreateDirectory(const std::filesystem::path& dir);

  // Length in bytes of the file at `path`; kNotFound if it does not exist.
  // The default is the POSIX stat().
  virtual Result<std::uint64_t> FileSize(const std::filesystem::path& path);
};

// The real filesystem (POSIX open/write/fsync/renameat2). Lives for the
// whole process.
FileOps& RealFileOps();

// Replaces (or, with kNoReplace, creates) `path` with `bytes` so that a
// crash at any point leaves either the previous file or the complete new
// one at `path`, never a partial file:
//   1. write "<path>.tmp" and fsync it;
//   2. read it back and compare (a short or silently failed write is caught
//      before it can replace a good file);
//   3. rename it over `path`;
//   4. fsync the directory.
// A failure in steps 1–3 removes the temp file (best effort) and leaves
// `path` untouched. A failure in step 4 means `path` already holds the new
// bytes but may not survive a power cut; the error says so (kIoError).
Status ReplaceFileAtomically(FileOps& ops, const std::filesystem::path& path,
                             std::span<const std::uint8_t> bytes,
                             FileOps::RenameMode mode);

}  // namespace pulse::engine

#endif  // PULSE_ENGINE_FILE_OPS_H_
