// DataKey: the random 256-bit key that encrypts a SQLCipher database
// (DESIGN.md §6). It comes from a key file (pulse/engine/key_file.h) and is
// handed to the store, which opens the database with it as a raw key.
//
// The 32 bytes live in sodium_malloc'd memory: locked against swapping
// where the system allows, guarded by inaccessible pages, read-only after
// creation, and wiped when the key is destroyed. A DataKey is move-only (no
// stray copies), has no operator<<, and gtest prints it as
// "DataKey(redacted)". Code that needs the bytes asks for them through
// bytes() or WithSqlCipherKeyLiteral() and keeps no copy.
//
// Thread-safety: a DataKey is immutable after creation; const members may
// be called from several threads at once.
#ifndef PULSE_ENGINE_DATA_KEY_H_
#define PULSE_ENGINE_DATA_KEY_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <iosfwd>
#include <span>
#include <string_view>

#include "pulse/base/result.h"

namespace pulse::engine {

class DataKey {
 public:
  static constexpr std::size_t kSize = 32;

  // A fresh random key (randombytes_buf). Returns kIoError if secure memory
  // cannot be allocated.
  static Result<DataKey> Generate();
  // A key holding a copy of `bytes`. The caller wipes its own copy.
  // Returns kIoError if secure memory cannot be allocated.
  static Result<DataKey> FromBytes(std::span<const std::uint8_t, kSize> bytes);

  DataKey(DataKey&& other) noexcept;
  DataKey& operator=(DataKey&& other) noexcept;
  DataKey(const DataKey&) = delete;
  DataKey& operator=(const DataKey&) = delete;
  ~DataKey();

  // False only for a moved-from key.
  bool valid() const { return bytes_ != nullptr; }

  // The raw key. The span is valid while this DataKey lives.
  // REQUIRES: valid().
  std::span<const std::uint8_t, kSize> bytes() const;

  // Calls `use` with SQLCipher's raw-key literal "x'<64 lowercase hex>'"
  // (for sqlite3_key() or PRAGMA key = "x'…'"), built in secure memory and
  // wiped as soon as `use` returns. `use` must not keep the view.
  // REQUIRES: valid().
  void WithSqlCipherKeyLiteral(
      const std::function<void(std::string_view literal)>& use) const;

  // Constant-time comparison of the key bytes. Two moved-from keys are
  // equal; a moved-from key equals no valid key.
  friend bool operator==(const DataKey& a, const DataKey& b);

 private:
  explicit DataKey(std::uint8_t* bytes) : bytes_(bytes) {}
  void Release();

  std::uint8_t* bytes_;  // sodium_malloc'd, kSize bytes, read-only
};

// gtest's printer hook: never prints key material.
void PrintTo(const DataKey& key, std::ostream* out);

}  // namespace pulse::engine

#endif  // PULSE_ENGINE_DATA_KEY_H_
