#include "pulse/engine/crypto.h"

#include <sodium.h>

#include <cstdio>
#include <cstdlib>

#include "crypto_internal.h"

namespace pulse::engine {

Status InitCrypto() {
  // sodium_init() is itself thread-safe and idempotent; the static caches
  // its outcome so that later calls cost one atomic load.
  static const bool ok = sodium_init() >= 0;
  if (!ok) {
    return Fail(ErrorCode::kIoError,
                "libsodium failed to initialise (no usable randomness?)");
  }
  return OkStatus();
}

namespace internal {

void EnsureCrypto() {
  // Without an initialised libsodium there is no safe randomness; carrying
  // on would mint predictable ids or keys, so stop loudly instead.
  if (!InitCrypto()) {
    std::fputs("pulse: libsodium failed to initialise; aborting\n", stderr);
    std::abort();
  }
}

}  // namespace internal

void RandomBytes(std::span<std::uint8_t> out) {
  internal::EnsureCrypto();
  randombytes_buf(out.data(), out.size());
}

bool ConstantTimeEquals(std::span<const std::uint8_t> a,
                        std::span<const std::uint8_t> b) {
  if (a.size() != b.size()) return false;
  if (a.empty()) return true;
  internal::EnsureCrypto();
  return sodium_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace pulse::engine
