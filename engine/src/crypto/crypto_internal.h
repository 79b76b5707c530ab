// Helpers shared by the pulse_crypto sources. Private.
#ifndef PULSE_ENGINE_SRC_CRYPTO_CRYPTO_INTERNAL_H_
#define PULSE_ENGINE_SRC_CRYPTO_CRYPTO_INTERNAL_H_

namespace pulse::engine::internal {

// InitCrypto(), aborting the process if libsodium cannot initialise. For
// entry points that return plain values (ids, digests).
void EnsureCrypto();

}  // namespace pulse::engine::internal

#endif  // PULSE_ENGINE_SRC_CRYPTO_CRYPTO_INTERNAL_H_
