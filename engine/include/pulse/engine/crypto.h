// Small cryptographic building blocks over libsodium that the rest of the
// engine shares: the one-time library initialisation, secure randomness and
// a constant-time comparison.
//
// Every pulse_crypto entry point initialises libsodium itself, so callers
// never have to; InitCrypto() exists for a `main` that wants to fail early
// with a message rather than later.
//
// Thread-safety: every function here is safe to call from any thread.
#ifndef PULSE_ENGINE_CRYPTO_H_
#define PULSE_ENGINE_CRYPTO_H_

#include <cstdint>
#include <span>

#include "pulse/base/result.h"

namespace pulse::engine {

// Initialises libsodium once per process (later calls return the first
// call's outcome). Returns kIoError if libsodium cannot initialise, which
// in practice means the system has no usable randomness.
Status InitCrypto();

// Fills `out` with cryptographically secure random bytes (randombytes_buf).
void RandomBytes(std::span<std::uint8_t> out);

// True iff `a` and `b` have the same length and contents. The time taken
// depends on the lengths only, never on where the contents differ, so it is
// safe for MACs, tokens and hashes of secrets (lengths are not secret).
bool ConstantTimeEquals(std::span<const std::uint8_t> a,
                        std::span<const std::uint8_t> b);

}  // namespace pulse::engine

#endif  // PULSE_ENGINE_CRYPTO_H_
