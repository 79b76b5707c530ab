// Cryptographic hashes: SHA-256 for content-addressed blobs (DESIGN.md §3)
// and BLAKE2b for the audit hash chain (DESIGN.md §6), plus lowercase hex,
// the one text form of digests on the wire, in file names and in the
// database.
//
// Streaming hashers give the same digest as the one-shot functions for any
// split of the input into Update() calls.
//
// Thread-safety: the free functions are reentrant. A hasher object is not
// thread-safe; use one per thread.
#ifndef PULSE_ENGINE_HASH_H_
#define PULSE_ENGINE_HASH_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "pulse/base/result.h"

namespace pulse::engine {

using Sha256Digest = std::array<std::uint8_t, 32>;
using Blake2b256Digest = std::array<std::uint8_t, 32>;

// Lowercase hex of `bytes`, two characters per byte. Constant-time in the
// byte values (sodium_bin2hex), so it may format key material.
std::string HexEncode(std::span<const std::uint8_t> bytes);

// Decodes hex text (either case). Returns kInvalidArgument for an odd length
// or a character outside [0-9a-fA-F], naming the offending position.
Result<std::vector<std::uint8_t>> HexDecode(std::string_view hex);

// --- SHA-256 (FIPS 180-4, OpenSSL libcrypto: it uses the CPU's SHA
// extensions, ~9x libsodium's portable code here) ---

Sha256Digest Sha256(std::span<const std::uint8_t> data);
Sha256Digest Sha256(std::string_view data);
// Lowercase hex of Sha256(data): the blob id of `data`.
std::string Sha256Hex(std::span<const std::uint8_t> data);

// Parses a blob id: exactly 64 hex characters. Returns kInvalidArgument
// otherwise. Upper case is accepted; HexEncode() gives the canonical form.
Result<Sha256Digest> ParseSha256Hex(std::string_view hex);

class Sha256Hasher {
 public:
  Sha256Hasher();
  Sha256Hasher(const Sha256Hasher&) = delete;
  Sha256Hasher& operator=(const Sha256Hasher&) = delete;
  ~Sha256Hasher();

  void Update(std::span<const std::uint8_t> data);
  void Update(std::string_view data);
  // Returns the digest of everything passed to Update().
  // REQUIRES: Final() not called before on this object.
  Sha256Digest Final();

 private:
  // libcrypto's digest context, defined in the .cc so that this header
  // does not include OpenSSL's.
  struct State;
  std::unique_ptr<State> state_;
  bool finalised_ = false;
};

// --- BLAKE2b (RFC 7693, libsodium crypto_generichash) ---

// Unkeyed BLAKE2b with a 32-byte output.
Blake2b256Digest Blake2b256(std::span<const std::uint8_t> data);
Blake2b256Digest Blake2b256(std::string_view data);

class Blake2bHasher {
 public:
  static constexpr std::size_t kMinOutputBytes = 16;
  static constexpr std::size_t kMaxOutputBytes = 64;
  static constexpr std::size_t kMaxKeyBytes = 64;

  // A hasher giving `output_bytes` of digest, keyed (a MAC) when `key` is
  // not empty.
  // REQUIRES: kMinOutputBytes <= output_bytes <= kMaxOutputBytes and
  //           key.size() <= kMaxKeyBytes (programmer errors: asserted).
  explicit Blake2bHasher(std::size_t output_bytes = 32,
                         std::span<const std::uint8_t> key = {});
  Blake2bHasher(const Blake2bHasher&) = delete;
  Blake2bHasher& operator=(const Blake2bHasher&) = delete;
  ~Blake2bHasher();  // wipes the state, which may derive from a key

  void Update(std::span<const std::uint8_t> data);
  void Update(std::string_view data);
  // Returns output_bytes of digest.
  // REQUIRES: Final() not called before on this object.
  std::vector<std::uint8_t> Final();

 private:
  struct State;
  std::unique_ptr<State> state_;
  std::size_t output_bytes_;
  bool finalised_ = false;
};

}  // namespace pulse::engine

#endif  // PULSE_ENGINE_HASH_H_
