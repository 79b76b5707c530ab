#include "pulse/engine/password.h"

#include <sodium.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "pulse/engine/crypto.h"

namespace pulse::engine {
namespace {

static_assert(kMaxPasswordHashChars + 1 == crypto_pwhash_STRBYTES);
static_assert(kMinPasswordMemLimitBytes >= crypto_pwhash_MEMLIMIT_MIN);
static_assert(crypto_pwhash_OPSLIMIT_MIN <= 1);

constexpr std::string_view kArgon2idPrefix = "$argon2id$";

// Consumes `literal` from the front of `text`.
bool Consume(std::string_view& text, std::string_view literal) {
  if (text.substr(0, literal.size()) != literal) return false;
  text.remove_prefix(literal.size());
  return true;
}

// Consumes a decimal number without sign or leading zero, at most 10
// digits (so no overflow), from the front of `text`.
std::optional<std::uint64_t> ConsumeNumber(std::string_view& text) {
  std::size_t digits = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') {
    ++digits;
  }
  if (digits == 0 || digits > 10 || (digits > 1 && text[0] == '0')) {
    return std::nullopt;
  }
  std::uint64_t value = 0;
  for (std::size_t i = 0; i < digits; ++i) {
    value = value * 10 + static_cast<std::uint64_t>(text[i] - '0');
  }
  text.remove_prefix(digits);
  return value;
}

// The password hash cost encoded in `stored`, or nullopt if the text up to
// the salt is not of the form "$argon2id$v=19$m=<n>,t=<n>,p=1$".
std::optional<PasswordHashCost> ParseCost(std::string_view text) {
  std::optional<std::uint64_t> memory_kib, passes, lanes;
  if (!Consume(text, kArgon2idPrefix) || !Consume(text, "v=19$m=") ||
      !(memory_kib = ConsumeNumber(text)) || !Consume(text, ",t=") ||
      !(passes = ConsumeNumber(text)) || !Consume(text, ",p=") ||
      !(lanes = ConsumeNumber(text)) || !Consume(text, "$")) {
    return std::nullopt;
  }
  // libsodium only writes (and only computes with) one lane.
  if (*lanes != 1) return std::nullopt;
  return PasswordHashCost{*passes, *memory_kib * 1024};
}

// Decodes one UTF-8 sequence from the front of `text` into `code_point`.
// Rejects overlong forms, surrogates and values past U+10FFFF.
bool NextCodePoint(std::string_view& text, std::uint32_t& code_point) {
  const auto byte = [&](std::size_t i) {
    return static_cast<std::uint8_t>(text[i]);
  };
  const std::uint8_t lead = byte(0);
  std::size_t length = 0;
  std::uint32_t min = 0;
  if (lead < 0x80) {
    code_point = lead;
    text.remove_prefix(1);
    return true;
  } else if ((lead & 0xE0) == 0xC0) {
    length = 2, min = 0x80, code_point = lead & 0x1Fu;
  } else if ((lead & 0xF0) == 0xE0) {
    length = 3, min = 0x800, code_point = lead & 0x0Fu;
  } else if ((lead & 0xF8) == 0xF0) {
    length = 4, min = 0x10000, code_point = lead & 0x07u;
  } else {
    return false;
  }
  if (text.size() < length) return false;
  for (std::size_t i = 1; i < length; ++i) {
    if ((byte(i) & 0xC0) != 0x80) return false;
    code_point = (code_point << 6) | (byte(i) & 0x3Fu);
  }
  if (code_point < min || code_point > 0x10FFFF ||
      (code_point >= 0xD800 && code_point <= 0xDFFF)) {
    return false;
  }
  text.remove_prefix(length);
  return true;
}

bool IsControl(std::uint32_t code_point) {
  return code_point < 0x20 || (code_point >= 0x7F && code_point <= 0x9F);
}

char AsciiLower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

bool EqualsIgnoringAsciiCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (AsciiLower(a[i]) != AsciiLower(b[i])) return false;
  }
  return true;
}

}  // namespace

Status ValidatePasswordHashCost(const PasswordHashCost& cost) {
  if (cost.ops_limit < 1 || cost.ops_limit > kMaxPasswordOpsLimit) {
    return Fail(ErrorCode::kInvalidArgument,
                "password hash ops_limit " + std::to_string(cost.ops_limit) +
                    " outside [1, " + std::to_string(kMaxPasswordOpsLimit) +
                    "]");
  }
  if (cost.mem_limit_bytes < kMinPasswordMemLimitBytes ||
      cost.mem_limit_bytes > kMaxPasswordMemLimitBytes) {
    return Fail(ErrorCode::kInvalidArgument,
                "password hash mem_limit_bytes " +
                    std::to_string(cost.mem_limit_bytes) + " outside [" +
                    std::to_string(kMinPasswordMemLimitBytes) + ", " +
                    std::to_string(kMaxPasswordMemLimitBytes) + "]");
  }
  return OkStatus();
}

Result<std::string> HashPassword(std::string_view password,
                                 const PasswordHashCost& cost) {
  if (Status valid = ValidatePasswordHashCost(cost); !valid) {
    return Fail(valid.error());
  }
  if (Status init = InitCrypto(); !init) return Fail(init.error());
  char out[crypto_pwhash_STRBYTES] = {};
  if (crypto_pwhash_str_alg(out, password.data(), password.size(),
                            cost.ops_limit,
                            static_cast<std::size_t>(cost.mem_limit_bytes),
                            crypto_pwhash_ALG_ARGON2ID13) != 0) {
    return Fail(ErrorCode::kIoError,
                "password hashing failed: Argon2id could not allocate " +
                    std::to_string(cost.mem_limit_bytes) + " bytes");
  }
  return std::string(out);
}

Result<PasswordHashCost> InspectPasswordHash(std::string_view stored_hash) {
  if (stored_hash.empty() || stored_hash.size() > kMaxPasswordHashChars) {
    return Fail(ErrorCode::kCorruption,
                "stored password hash has length " +
                    std::to_string(stored_hash.size()) + ", expected 1.." +
                    std::to_string(kMaxPasswordHashChars));
  }
  std::optional<PasswordHashCost> cost = ParseCost(stored_hash);
  if (!cost) {
    return Fail(ErrorCode::kCorruption,
                "stored password hash is not an Argon2id (v=19, p=1) "
                "encoded string");
  }
  if (Status valid = ValidatePasswordHashCost(*cost); !valid) {
    return Fail(ErrorCode::kCorruption,
                "stored password hash: " + valid.error().message());
  }
  // Full structural check (salt and hash encodings) without Argon2 work:
  // needs_rehash decodes the whole string and answers -1 if it cannot.
  if (Status init = InitCrypto(); !init) return Fail(init.error());
  const std::string terminated(stored_hash);
  if (crypto_pwhash_str_needs_rehash(
          terminated.c_str(), cost->ops_limit,
          static_cast<std::size_t>(cost->mem_limit_bytes)) != 0) {
    return Fail(ErrorCode::kCorruption,
                "stored password hash has a malformed salt or digest");
  }
  return *cost;
}

Status VerifyPassword(std::string_view stored_hash, std::string_view password) {
  Result<PasswordHashCost> cost = InspectPasswordHash(stored_hash);
  if (!cost) return Fail(cost.error());
  const std::string terminated(stored_hash);
  if (crypto_pwhash_str_verify(terminated.c_str(), password.data(),
                               password.size()) != 0) {
    return Fail(ErrorCode::kPermissionDenied, "wrong password");
  }
  return OkStatus();
}

Result<bool> NeedsRehash(std::string_view stored_hash,
                         const PasswordHashCost& cost) {
  if (Status valid = ValidatePasswordHashCost(cost); !valid) {
    return Fail(valid.error());
  }
  Result<PasswordHashCost> stored = InspectPasswordHash(stored_hash);
  if (!stored) return Fail(stored.error());
  const std::string terminated(stored_hash);
  // 0: same algorithm and cost; 1: different cost; -1 handled above.
  return crypto_pwhash_str_needs_rehash(
             terminated.c_str(), cost.ops_limit,
             static_cast<std::size_t>(cost.mem_limit_bytes)) != 0;
}

Status CheckPasswordPolicy(std::string_view username, std::string_view password,
                           const PasswordPolicy& policy) {
  auto refuse = [](std::string rule) {
    return Fail(ErrorCode::kInvalidArgument, "password " + rule);
  };
  if (password.size() > policy.max_bytes) {
    return refuse("is longer than " + std::to_string(policy.max_bytes) +
                  " bytes");
  }
  std::vector<std::uint32_t> code_points;
  std::string_view rest = password;
  while (!rest.empty()) {
    std::uint32_t code_point = 0;
    if (!NextCodePoint(rest, code_point)) return refuse("is not valid UTF-8");
    if (IsControl(code_point)) return refuse("contains a control character");
    code_points.push_back(code_point);
  }
  if (code_points.size() < policy.min_code_points) {
    return refuse("is shorter than " + std::to_string(policy.min_code_points) +
                  " characters");
  }
  if (EqualsIgnoringAsciiCase(username, password)) {
    return refuse("equals the username");
  }
  bool all_same = true;
  for (std::uint32_t code_point : code_points) {
    all_same = all_same && code_point == code_points.front();
  }
  if (all_same) return refuse("is one character repeated");
  return OkStatus();
}

}  // namespace pulse::engine
