// The key file: a site's data key (pulse/engine/data_key.h) sealed under a
// key derived from the site passphrase with Argon2id (DESIGN.md §6). The
// byte format, how a damaged file is told apart from a wrong passphrase,
// and the atomic write are specified in docs/formats/keyfile.md.
//
// Changing the passphrase rewraps the same data key; the database is never
// re-encrypted. Errors name the file and what is wrong with it and never
// contain key or passphrase material:
//   kPermissionDenied  the passphrase is wrong (or the file was forged)
//   kCorruption        the file is damaged: bad magic, truncated, trailing
//                      bytes, checksum mismatch, a field out of range
//   kUnsupported       a format version, KDF or cipher this build lacks
//   kNotFound          no key file at the path
//   kAlreadyExists     CreateKeyFile would replace an existing file
//   kInvalidArgument   an empty passphrase or KDF limits out of range
//   kIoError           the filesystem or memory allocation failed
//
// The bytes-in/bytes-out core (EncodeKeyFile, DecodeKeyFile,
// InspectKeyFile) does no I/O and can be fuzzed; the path functions wrap it
// with FileOps.
//
// Thread-safety: all functions are reentrant. Two writers of the same key
// file (CreateKeyFile, ChangePassphrase) must be serialised by the caller.
#ifndef PULSE_ENGINE_KEY_FILE_H_
#define PULSE_ENGINE_KEY_FILE_H_

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string_view>
#include <vector>

#include "pulse/base/result.h"
#include "pulse/engine/data_key.h"
#include "pulse/engine/file_ops.h"

namespace pulse::engine {

// Argon2id cost. Allowed ranges (also enforced when reading a file, so a
// hostile file cannot demand unbounded memory or time):
//   1 <= ops_limit <= kMaxKdfOpsLimit
//   kMinKdfMemLimitBytes <= mem_limit_bytes <= kMaxKdfMemLimitBytes
struct KdfLimits {
  std::uint64_t ops_limit = 3;                   // passes (libsodium MODERATE)
  std::uint64_t mem_limit_bytes = 256ull << 20;  // 256 MiB (MODERATE)
};

inline constexpr std::uint64_t kMaxKdfOpsLimit = 16;
inline constexpr std::uint64_t kMinKdfMemLimitBytes = 8192;  // libsodium's min
inline constexpr std::uint64_t kMaxKdfMemLimitBytes = 1ull << 30;  // 1 GiB

// Exact size of a version-1 key file.
inline constexpr std::size_t kKeyFileSize = 148;
inline constexpr std::uint8_t kKeyFileVersion = 1;

struct KeyFileOptions {
  // Cost of deriving the wrapping key for files written with these options.
  // The defaults take about a second on a clinic PC; tests lower them.
  // Reading always uses the limits recorded in the file.
  KdfLimits kdf;
  // Filesystem access; tests pass a fault injector. Null means
  // RealFileOps(). Must outlive the call.
  FileOps* file_ops = nullptr;
};

// What a key file's header says, without the passphrase.
struct KeyFileInfo {
  std::uint8_t version = 0;
  KdfLimits kdf;
};

// --- Bytes in, bytes out ---

// A new key-file image holding `key` sealed under `passphrase`, with fresh
// random salt and nonce. Returns kInvalidArgument for an empty passphrase or
// limits out of range; kIoError if Argon2 cannot get its memory.
// REQUIRES: key.valid().
Result<std::vector<std::uint8_t>> EncodeKeyFile(const DataKey& key,
                                                std::string_view passphrase,
                                                const KdfLimits& kdf);

// Checks everything that can be checked without the passphrase (magic,
// version, size, checksum, ids, reserved byte, limits) and returns the
// header. Cheap: runs no KDF. Errors as in the file comment.
Result<KeyFileInfo> InspectKeyFile(std::span<const std::uint8_t> bytes);

// InspectKeyFile, then derives the wrapping key and unseals the data key.
// kPermissionDenied if the passphrase is wrong.
Result<DataKey> DecodeKeyFile(std::span<const std::uint8_t> bytes,
                              std::string_view passphrase);

// --- Files ---

// Generates a new random data key, writes it sealed under `passphrase` to
// `path` (atomically; mode 0600) and returns it. Never replaces an existing
// file: kAlreadyExists if `path` exists, since that would lose the key of
// the database it opens.
Result<DataKey> CreateKeyFile(const std::filesystem::path& path,
                              std::string_view passphrase,
                              const KeyFileOptions& options = {});

// Reads `path` and returns its data key. Only options.file_ops is used.
Result<DataKey> UnlockKeyFile(const std::filesystem::path& path,
                              std::string_view passphrase,
                              const KeyFileOptions& options = {});

// Unlocks `path` with `old_passphrase` and rewrites it with the same data
// key sealed under `new_passphrase` (fresh salt and nonce, options.kdf
// limits), atomically: a crash leaves the file openable with exactly one of
// the two passphrases, giving the same key. kPermissionDenied (file
// untouched) if `old_passphrase` is wrong; kInvalidArgument if
// `new_passphrase` is empty. Copies of the old file (backups) still open
// with the old passphrase: this does not rotate the data key.
Status ChangePassphrase(const std::filesystem::path& path,
                        std::string_view old_passphrase,
                        std::string_view new_passphrase,
                        const KeyFileOptions& options = {});

}  // namespace pulse::engine

#endif  // PULSE_ENGINE_KEY_FILE_H_
