#include "pulse/engine/key_file.h"

#include <sodium.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <string>

#include "crypto_internal.h"
#include "pulse/engine/crypto.h"
#include "pulse/engine/hash.h"
#include "secure_buffer.h"

namespace pulse::engine {
namespace {

namespace fs = std::filesystem;
using Bytes = std::vector<std::uint8_t>;

// Layout of version 1 (docs/formats/keyfile.md). Enum values are never
// renumbered.
constexpr std::array<std::uint8_t, 8> kMagic = {0x89, 'P', 'L',  'K',
                                                'E',  'Y', '\r', '\n'};
constexpr std::uint8_t kKdfArgon2id13 = 1;
constexpr std::uint8_t kCipherXSalsa20Poly1305 = 1;

constexpr std::size_t kVersionOffset = 8;
constexpr std::size_t kKdfIdOffset = 9;
constexpr std::size_t kCipherIdOffset = 10;
constexpr std::size_t kReservedOffset = 11;
constexpr std::size_t kOpsOffset = 12;
constexpr std::size_t kMemOffset = 20;
constexpr std::size_t kSaltOffset = 28;
constexpr std::size_t kSaltSize = crypto_pwhash_SALTBYTES;
constexpr std::size_t kNonceOffset = kSaltOffset + kSaltSize;
constexpr std::size_t kNonceSize = crypto_secretbox_NONCEBYTES;
constexpr std::size_t kHeaderSize = kNonceOffset + kNonceSize;
constexpr std::size_t kSealedOffset = kHeaderSize;
constexpr std::size_t kSealedSize = crypto_secretbox_MACBYTES + DataKey::kSize;
constexpr std::size_t kChecksumOffset = kSealedOffset + kSealedSize;
constexpr std::size_t kChecksumSize = 32;

static_assert(kNonceOffset == 44 && kHeaderSize == 68);
static_assert(kChecksumOffset == 116);
static_assert(kChecksumOffset + kChecksumSize == kKeyFileSize);
static_assert(crypto_secretbox_KEYBYTES == 32);
static_assert(kMinKdfMemLimitBytes >= crypto_pwhash_argon2id_MEMLIMIT_MIN);
static_assert(crypto_pwhash_argon2id_OPSLIMIT_MIN <= 1);
// The documented defaults are libsodium's MODERATE.
static_assert(KdfLimits{}.ops_limit ==
              crypto_pwhash_argon2id_OPSLIMIT_MODERATE);
static_assert(KdfLimits{}.mem_limit_bytes ==
              crypto_pwhash_argon2id_MEMLIMIT_MODERATE);

void PutU64(Bytes& out, std::size_t offset, std::uint64_t value) {
  for (int i = 0; i < 8; ++i) {
    out[offset + i] = static_cast<std::uint8_t>(value >> (8 * i));
  }
}

std::uint64_t GetU64(std::span<const std::uint8_t> in, std::size_t offset) {
  std::uint64_t value = 0;
  for (int i = 7; i >= 0; --i) value = value << 8 | in[offset + i];
  return value;
}

Status CheckLimits(const KdfLimits& kdf) {
  if (kdf.ops_limit < 1 || kdf.ops_limit > kMaxKdfOpsLimit) {
    return Fail(ErrorCode::kInvalidArgument,
                "Argon2 ops limit " + std::to_string(kdf.ops_limit) +
                    " outside [1, " + std::to_string(kMaxKdfOpsLimit) + "]");
  }
  if (kdf.mem_limit_bytes < kMinKdfMemLimitBytes ||
      kdf.mem_limit_bytes > kMaxKdfMemLimitBytes) {
    return Fail(ErrorCode::kInvalidArgument,
                "Argon2 memory limit " + std::to_string(kdf.mem_limit_bytes) +
                    " bytes outside [" + std::to_string(kMinKdfMemLimitBytes) +
                    ", " + std::to_string(kMaxKdfMemLimitBytes) + "]");
  }
  return OkStatus();
}

Status CheckPassphrase(std::string_view passphrase) {
  if (passphrase.empty()) {
    return Fail(ErrorCode::kInvalidArgument, "the passphrase is empty");
  }
  return OkStatus();
}

// wrapping_key = BLAKE2b-256(key = Argon2id(passphrase, salt, limits),
//                            message = header)
// Mixing in the header binds every header byte to the secretbox tag, which
// has no associated data of its own.
Result<internal::SecureBuffer> DeriveWrappingKey(
    std::string_view passphrase, std::span<const std::uint8_t> header,
    const KdfLimits& kdf) {
  internal::SecureBuffer kdf_out(32);
  internal::SecureBuffer wrapping_key(crypto_secretbox_KEYBYTES);
  if (!kdf_out.ok() || !wrapping_key.ok()) {
    return Fail(ErrorCode::kIoError, "cannot allocate secure memory");
  }
  if (crypto_pwhash(kdf_out.data(), kdf_out.size(), passphrase.data(),
                    passphrase.size(), header.data() + kSaltOffset,
                    kdf.ops_limit,
                    static_cast<std::size_t>(kdf.mem_limit_bytes),
                    crypto_pwhash_ALG_ARGON2ID13) != 0) {
    // libsodium's only runtime failure here is running out of memory.
    return Fail(ErrorCode::kIoError,
                "Argon2id could not allocate its " +
                    std::to_string(kdf.mem_limit_bytes >> 20) + " MiB");
  }
  crypto_generichash(wrapping_key.data(), wrapping_key.size(), header.data(),
                     header.size(), kdf_out.data(), kdf_out.size());
  return wrapping_key;
}

Blake2b256Digest Checksum(std::span<const std::uint8_t> bytes) {
  return Blake2b256(bytes.first(kChecksumOffset));
}

FileOps& OpsOf(const KeyFileOptions& options) {
  return options.file_ops != nullptr ? *options.file_ops : RealFileOps();
}

Result<DataKey> ReadAndDecode(FileOps& ops, const fs::path& path,
                              std::string_view passphrase) {
  // Read a little more than a key file so that trailing bytes are seen as
  // such rather than as "too large".
  auto bytes = ops.ReadFile(path, kKeyFileSize + 1);
  if (!bytes) {
    if (bytes.error().code() == ErrorCode::kNotFound) {
      return Fail(ErrorCode::kNotFound,
                  path.string() + ": no key file (not set up yet?)");
    }
    if (bytes.error().code() == ErrorCode::kCorruption) {
      return Fail(ErrorCode::kCorruption,
                  path.string() + ": not a key file: trailing bytes after " +
                      std::to_string(kKeyFileSize));
    }
    return Fail(bytes.error());
  }
  auto key = DecodeKeyFile(*bytes, passphrase);
  if (!key) return Fail(key.error().WithContext("key file " + path.string()));
  return key;
}

}  // namespace

Result<std::vector<std::uint8_t>> EncodeKeyFile(const DataKey& key,
                                                std::string_view passphrase,
                                                const KdfLimits& kdf) {
  if (auto s = CheckPassphrase(passphrase); !s) return Fail(s.error());
  if (auto s = CheckLimits(kdf); !s) return Fail(s.error());
  internal::EnsureCrypto();

  Bytes out(kKeyFileSize, 0);
  std::memcpy(out.data(), kMagic.data(), kMagic.size());
  out[kVersionOffset] = kKeyFileVersion;
  out[kKdfIdOffset] = kKdfArgon2id13;
  out[kCipherIdOffset] = kCipherXSalsa20Poly1305;
  out[kReservedOffset] = 0;
  PutU64(out, kOpsOffset, kdf.ops_limit);
  PutU64(out, kMemOffset, kdf.mem_limit_bytes);
  randombytes_buf(out.data() + kSaltOffset, kSaltSize);
  randombytes_buf(out.data() + kNonceOffset, kNonceSize);

  auto wrapping_key = DeriveWrappingKey(
      passphrase, std::span<const std::uint8_t>(out).first(kHeaderSize), kdf);
  if (!wrapping_key) return Fail(wrapping_key.error());
  crypto_secretbox_easy(out.data() + kSealedOffset, key.bytes().data(),
                        DataKey::kSize, out.data() + kNonceOffset,
                        wrapping_key->data());
  const Blake2b256Digest checksum = Checksum(out);
  std::memcpy(out.data() + kChecksumOffset, checksum.data(), kChecksumSize);
  return out;
}

Result<KeyFileInfo> InspectKeyFile(std::span<const std::uint8_t> bytes) {
  // The order matters (docs/formats/keyfile.md, "Reading"): identify the
  // file, then its version, then its size, then its integrity, and only
  // then believe any field.
  const std::size_t prefix = std::min(bytes.size(), kMagic.size());
  if (bytes.empty()) {
    return Fail(ErrorCode::kCorruption, "truncated: empty file");
  }
  if (std::memcmp(bytes.data(), kMagic.data(), prefix) != 0) {
    return Fail(ErrorCode::kCorruption,
                "bad magic: not a Pulse Ledger key file");
  }
  if (bytes.size() <= kVersionOffset) {
    return Fail(ErrorCode::kCorruption,
                "truncated: " + std::to_string(bytes.size()) + " of " +
                    std::to_string(kKeyFileSize) + " bytes");
  }
  const std::uint8_t version = bytes[kVersionOffset];
  if (version != kKeyFileVersion) {
    return Fail(ErrorCode::kUnsupported, "key file format version " +
                                             std::to_string(version) +
                                             "; this build reads version " +
                                             std::to_string(kKeyFileVersion));
  }
  if (bytes.size() < kKeyFileSize) {
    return Fail(ErrorCode::kCorruption,
                "truncated: " + std::to_string(bytes.size()) + " of " +
                    std::to_string(kKeyFileSize) + " bytes");
  }
  if (bytes.size() > kKeyFileSize) {
    return Fail(ErrorCode::kCorruption,
                "trailing bytes: " + std::to_string(bytes.size()) +
                    " bytes, a key file has " + std::to_string(kKeyFileSize));
  }
  const Blake2b256Digest checksum = Checksum(bytes);
  if (!ConstantTimeEquals(checksum,
                          bytes.subspan(kChecksumOffset, kChecksumSize))) {
    return Fail(ErrorCode::kCorruption,
                "checksum mismatch: the file is damaged");
  }
  if (bytes[kKdfIdOffset] != kKdfArgon2id13) {
    return Fail(ErrorCode::kUnsupported,
                "unknown KDF id " + std::to_string(bytes[kKdfIdOffset]));
  }
  if (bytes[kCipherIdOffset] != kCipherXSalsa20Poly1305) {
    return Fail(ErrorCode::kUnsupported,
                "unknown cipher id " + std::to_string(bytes[kCipherIdOffset]));
  }
  if (bytes[kReservedOffset] != 0) {
    return Fail(ErrorCode::kCorruption, "reserved byte is not zero");
  }
  KeyFileInfo info;
  info.version = version;
  info.kdf.ops_limit = GetU64(bytes, kOpsOffset);
  info.kdf.mem_limit_bytes = GetU64(bytes, kMemOffset);
  if (auto s = CheckLimits(info.kdf); !s) {
    return Fail(ErrorCode::kCorruption, s.error().message());
  }
  return info;
}

Result<DataKey> DecodeKeyFile(std::span<const std::uint8_t> bytes,
                              std::string_view passphrase) {
  auto info = InspectKeyFile(bytes);
  if (!info) return Fail(info.error());
  if (auto s = CheckPassphrase(passphrase); !s) return Fail(s.error());

  auto wrapping_key =
      DeriveWrappingKey(passphrase, bytes.first(kHeaderSize), info->kdf);
  if (!wrapping_key) return Fail(wrapping_key.error());
  internal::SecureBuffer plain(DataKey::kSize);
  if (!plain.ok()) {
    return Fail(ErrorCode::kIoError, "cannot allocate secure memory");
  }
  if (crypto_secretbox_open_easy(plain.data(), bytes.data() + kSealedOffset,
                                 kSealedSize, bytes.data() + kNonceOffset,
                                 wrapping_key->data()) != 0) {
    // The checksum held, so this is not accidental damage.
    return Fail(ErrorCode::kPermissionDenied,
                "wrong passphrase (or the key file was altered)");
  }
  return DataKey::FromBytes(std::span<const std::uint8_t, DataKey::kSize>(
      plain.data(), DataKey::kSize));
}

Result<DataKey> CreateKeyFile(const fs::path& path, std::string_view passphrase,
                              const KeyFileOptions& options) {
  auto key = DataKey::Generate();
  if (!key) return Fail(key.error());
  auto bytes = EncodeKeyFile(*key, passphrase, options.kdf);
  if (!bytes)
    return Fail(bytes.error().WithContext("key file " + path.string()));
  // kNoReplace: an existing key file is the only way into its database.
  if (auto s = ReplaceFileAtomically(OpsOf(options), path, *bytes,
                                     FileOps::RenameMode::kNoReplace);
      !s) {
    if (s.error().code() == ErrorCode::kAlreadyExists) {
      return Fail(ErrorCode::kAlreadyExists,
                  "key file " + path.string() +
                      " already exists; refusing to replace it");
    }
    return Fail(s.error());
  }
  return key;
}

Result<DataKey> UnlockKeyFile(const fs::path& path, std::string_view passphrase,
                              const KeyFileOptions& options) {
  return ReadAndDecode(OpsOf(options), path, passphrase);
}

Status ChangePassphrase(const fs::path& path, std::string_view old_passphrase,
                        std::string_view new_passphrase,
                        const KeyFileOptions& options) {
  if (auto s = CheckPassphrase(new_passphrase); !s) {
    return Fail(s.error().WithContext("new passphrase"));
  }
  if (auto s = CheckLimits(options.kdf); !s) return Fail(s.error());
  FileOps& ops = OpsOf(options);
  auto key = ReadAndDecode(ops, path, old_passphrase);
  if (!key) return Fail(key.error());
  auto bytes = EncodeKeyFile(*key, new_passphrase, options.kdf);
  if (!bytes)
    return Fail(bytes.error().WithContext("key file " + path.string()));
  return ReplaceFileAtomically(ops, path, *bytes,
                               FileOps::RenameMode::kReplace);
}

}  // namespace pulse::engine
