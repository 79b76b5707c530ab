// SecureBuffer: a fixed-size byte buffer in sodium_malloc'd memory (locked
// where the system allows, between guard pages, wiped by sodium_free) for
// intermediate secrets: KDF output, wrapping keys, hex literals of keys.
// Private to pulse_crypto.
//
// Thread-safety: none; one owner.
#ifndef PULSE_ENGINE_SRC_CRYPTO_SECURE_BUFFER_H_
#define PULSE_ENGINE_SRC_CRYPTO_SECURE_BUFFER_H_

#include <sodium.h>

#include <cstddef>
#include <cstdint>
#include <utility>

namespace pulse::engine::internal {

class SecureBuffer {
 public:
  // A buffer of `size` bytes; check ok() (allocation can fail).
  explicit SecureBuffer(std::size_t size)
      : data_(static_cast<std::uint8_t*>(sodium_malloc(size))), size_(size) {}
  SecureBuffer(SecureBuffer&& other) noexcept
      : data_(std::exchange(other.data_, nullptr)),
        size_(std::exchange(other.size_, 0)) {}
  SecureBuffer& operator=(SecureBuffer&&) = delete;
  SecureBuffer(const SecureBuffer&) = delete;
  SecureBuffer& operator=(const SecureBuffer&) = delete;
  ~SecureBuffer() {
    if (data_ != nullptr) sodium_free(data_);
  }

  bool ok() const { return data_ != nullptr; }
  std::uint8_t* data() { return data_; }
  const std::uint8_t* data() const { return data_; }
  std::size_t size() const { return size_; }

 private:
  std::uint8_t* data_;
  std::size_t size_;
};

}  // namespace pulse::engine::internal

#endif  // PULSE_ENGINE_SRC_CRYPTO_SECURE_BUFFER_H_
