#include "pulse/engine/data_key.h"

#include <sodium.h>

#include <cassert>
#include <cstring>
#include <ostream>
#include <utility>

#include "crypto_internal.h"
#include "secure_buffer.h"

namespace pulse::engine {
namespace {

// sodium_malloc'd key storage, filled by `fill` and then made read-only so
// that a stray write through a bad pointer faults instead of silently
// changing the key.
template <typename Fill>
Result<std::uint8_t*> AllocateKey(Fill fill) {
  internal::EnsureCrypto();
  auto* bytes = static_cast<std::uint8_t*>(sodium_malloc(DataKey::kSize));
  if (bytes == nullptr) {
    return Fail(ErrorCode::kIoError,
                "cannot allocate secure memory for a data key");
  }
  fill(bytes);
  sodium_mprotect_readonly(bytes);
  return bytes;
}

}  // namespace

Result<DataKey> DataKey::Generate() {
  auto bytes = AllocateKey(
      [](std::uint8_t* out) { randombytes_buf(out, DataKey::kSize); });
  if (!bytes) return Fail(bytes.error());
  return DataKey(*bytes);
}

Result<DataKey> DataKey::FromBytes(std::span<const std::uint8_t, kSize> in) {
  auto bytes = AllocateKey(
      [&](std::uint8_t* out) { std::memcpy(out, in.data(), kSize); });
  if (!bytes) return Fail(bytes.error());
  return DataKey(*bytes);
}

DataKey::DataKey(DataKey&& other) noexcept
    : bytes_(std::exchange(other.bytes_, nullptr)) {}

DataKey& DataKey::operator=(DataKey&& other) noexcept {
  if (this != &other) {
    Release();
    bytes_ = std::exchange(other.bytes_, nullptr);
  }
  return *this;
}

DataKey::~DataKey() { Release(); }

void DataKey::Release() {
  // sodium_free wipes the bytes before unmapping them.
  if (bytes_ != nullptr) sodium_free(bytes_);
  bytes_ = nullptr;
}

std::span<const std::uint8_t, DataKey::kSize> DataKey::bytes() const {
  assert(valid());
  return std::span<const std::uint8_t, kSize>(bytes_, kSize);
}

void DataKey::WithSqlCipherKeyLiteral(
    const std::function<void(std::string_view literal)>& use) const {
  assert(valid());
  // "x'" + 64 hex digits + "'"; one spare byte for the NUL that
  // sodium_bin2hex writes (then overwritten by the closing quote).
  constexpr std::size_t kLiteralSize = 2 + 2 * kSize + 1;
  const auto format = [this](char* text) {
    text[0] = 'x';
    text[1] = '\'';
    sodium_bin2hex(text + 2, 2 * kSize + 1, bytes_, kSize);
    text[kLiteralSize - 1] = '\'';
  };
  internal::SecureBuffer buffer(kLiteralSize + 1);
  if (buffer.ok()) {
    char* text = reinterpret_cast<char*>(buffer.data());
    format(text);
    use(std::string_view(text, kLiteralSize));
    return;  // sodium_free wipes it
  }
  // Out of locked memory: a wiped stack buffer rather than failing to open
  // the database.
  char text[kLiteralSize + 1];
  format(text);
  use(std::string_view(text, kLiteralSize));
  sodium_memzero(text, sizeof text);
}

bool operator==(const DataKey& a, const DataKey& b) {
  if (!a.valid() || !b.valid()) return a.valid() == b.valid();
  return sodium_memcmp(a.bytes_, b.bytes_, DataKey::kSize) == 0;
}

void PrintTo(const DataKey& key, std::ostream* out) {
  *out << (key.valid() ? "DataKey(redacted)" : "DataKey(moved-from)");
}

}  // namespace pulse::engine
