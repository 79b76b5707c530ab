#include "pulse/engine/hash.h"

#include <openssl/evp.h>
#include <sodium.h>

#include <cassert>
#include <cstring>
#include <new>

#include "crypto_internal.h"

namespace pulse::engine {
namespace {

std::span<const std::uint8_t> AsBytes(std::string_view text) {
  return {reinterpret_cast<const std::uint8_t*>(text.data()), text.size()};
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::string HexEncode(std::span<const std::uint8_t> bytes) {
  std::string hex(bytes.size() * 2 + 1, '\0');  // +1: sodium writes a NUL
  sodium_bin2hex(hex.data(), hex.size(), bytes.data(), bytes.size());
  hex.pop_back();
  return hex;
}

Result<std::vector<std::uint8_t>> HexDecode(std::string_view hex) {
  if (hex.size() % 2 != 0) {
    return Fail(ErrorCode::kInvalidArgument,
                "hex text has odd length " + std::to_string(hex.size()));
  }
  std::vector<std::uint8_t> out(hex.size() / 2);
  for (std::size_t i = 0; i < hex.size(); i += 2) {
    const int hi = HexValue(hex[i]);
    const int lo = HexValue(hex[i + 1]);
    if (hi < 0 || lo < 0) {
      return Fail(ErrorCode::kInvalidArgument,
                  "hex text has a non-hex character at offset " +
                      std::to_string(hi < 0 ? i : i + 1));
    }
    out[i / 2] = static_cast<std::uint8_t>(hi << 4 | lo);
  }
  return out;
}

// --- SHA-256 ---

// SHA-256 runs on OpenSSL's libcrypto, not libsodium: libsodium's portable
// C code hashes ~190 MB/s here, libcrypto uses the CPU's SHA extensions
// (~1.6 GB/s), and every blob byte is hashed on both sides of an upload
// (docs/performance.md "Blobs"). libcrypto only fails these calls when it
// cannot allocate, which is reported as std::bad_alloc.
namespace {

void Check(int ok) {
  if (ok != 1) throw std::bad_alloc();
}

}  // namespace

struct Sha256Hasher::State {
  State() : ctx(EVP_MD_CTX_new()) {
    if (ctx == nullptr) throw std::bad_alloc();
  }
  ~State() { EVP_MD_CTX_free(ctx); }
  State(const State&) = delete;
  State& operator=(const State&) = delete;
  EVP_MD_CTX* ctx;
};

Sha256Digest Sha256(std::span<const std::uint8_t> data) {
  Sha256Digest digest;
  unsigned int size = 0;
  Check(EVP_Digest(data.data(), data.size(), digest.data(), &size,
                   EVP_sha256(), nullptr));
  assert(size == digest.size());
  return digest;
}

Sha256Digest Sha256(std::string_view data) { return Sha256(AsBytes(data)); }

std::string Sha256Hex(std::span<const std::uint8_t> data) {
  return HexEncode(Sha256(data));
}

Result<Sha256Digest> ParseSha256Hex(std::string_view hex) {
  if (hex.size() != 64) {
    return Fail(ErrorCode::kInvalidArgument,
                "a SHA-256 digest is 64 hex characters, got " +
                    std::to_string(hex.size()));
  }
  auto bytes = HexDecode(hex);
  if (!bytes) return Fail(bytes.error());
  Sha256Digest digest;
  std::memcpy(digest.data(), bytes->data(), digest.size());
  return digest;
}

Sha256Hasher::Sha256Hasher() : state_(std::make_unique<State>()) {
  Check(EVP_DigestInit_ex(state_->ctx, EVP_sha256(), nullptr));
}

Sha256Hasher::~Sha256Hasher() = default;

void Sha256Hasher::Update(std::span<const std::uint8_t> data) {
  assert(!finalised_);
  Check(EVP_DigestUpdate(state_->ctx, data.data(), data.size()));
}

void Sha256Hasher::Update(std::string_view data) { Update(AsBytes(data)); }

Sha256Digest Sha256Hasher::Final() {
  assert(!finalised_);
  finalised_ = true;
  Sha256Digest digest;
  unsigned int size = 0;
  Check(EVP_DigestFinal_ex(state_->ctx, digest.data(), &size));
  assert(size == digest.size());
  return digest;
}

// --- BLAKE2b ---

static_assert(Blake2bHasher::kMinOutputBytes == crypto_generichash_BYTES_MIN);
static_assert(Blake2bHasher::kMaxOutputBytes == crypto_generichash_BYTES_MAX);
static_assert(Blake2bHasher::kMaxKeyBytes == crypto_generichash_KEYBYTES_MAX);

struct Blake2bHasher::State {
  crypto_generichash_state s;
};

Blake2b256Digest Blake2b256(std::span<const std::uint8_t> data) {
  internal::EnsureCrypto();
  Blake2b256Digest digest;
  crypto_generichash(digest.data(), digest.size(), data.data(), data.size(),
                     nullptr, 0);
  return digest;
}

Blake2b256Digest Blake2b256(std::string_view data) {
  return Blake2b256(AsBytes(data));
}

Blake2bHasher::Blake2bHasher(std::size_t output_bytes,
                             std::span<const std::uint8_t> key)
    : state_(std::make_unique<State>()), output_bytes_(output_bytes) {
  assert(output_bytes >= kMinOutputBytes && output_bytes <= kMaxOutputBytes);
  assert(key.size() <= kMaxKeyBytes);
  internal::EnsureCrypto();
  crypto_generichash_init(&state_->s, key.empty() ? nullptr : key.data(),
                          key.size(), output_bytes);
}

Blake2bHasher::~Blake2bHasher() {
  sodium_memzero(&state_->s, sizeof state_->s);
}

void Blake2bHasher::Update(std::span<const std::uint8_t> data) {
  assert(!finalised_);
  crypto_generichash_update(&state_->s, data.data(), data.size());
}

void Blake2bHasher::Update(std::string_view data) { Update(AsBytes(data)); }

std::vector<std::uint8_t> Blake2bHasher::Final() {
  assert(!finalised_);
  finalised_ = true;
  std::vector<std::uint8_t> digest(output_bytes_);
  crypto_generichash_final(&state_->s, digest.data(), digest.size());
  return digest;
}

}  // namespace pulse::engine
