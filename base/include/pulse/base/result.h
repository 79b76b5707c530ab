// Result<T> and Status: how every Pulse Ledger API reports an expected failure.
//
// A Result<T> holds either a T or an Error (code + human-readable message that
// names what was wrong). Status is Result<void>. Expected failures (bad input,
// a missing file, corrupt bytes) travel as values; exceptions never cross a
// component API, and programmer errors are asserts.
//
// C++20 on g++ 12 has no std::expected, so this is the one place that picks
// tl::expected (Debian libexpected-dev); switching to std::expected under
// C++23 is a change to this header only.
//
// Thread-safety: plain values; no shared state.
#ifndef PULSE_BASE_RESULT_H_
#define PULSE_BASE_RESULT_H_

#include <string>
#include <string_view>
#include <utility>

#include <tl/expected.hpp>

namespace pulse {

// Numeric values are stable: they may be logged and compared across versions.
enum class ErrorCode {
  kInvalidArgument = 1,  // caller passed a value outside the documented range
  kNotFound = 2,         // a named file, record or row does not exist
  kCorruption = 3,       // bytes on disk or on the wire are malformed
  kIoError = 4,          // the operating system refused a read or write
  kUnsupported = 5,      // well-formed input this build cannot handle
  kOutOfRange = 6,       // a read past the end of the available data
  kPermissionDenied = 7,  // a credential (passphrase, password) was refused
  kAlreadyExists = 8,     // refusing to replace something that exists
  kBusy = 9,              // another connection holds a lock; retry later
  kConstraint = 10,       // a write broke a UNIQUE/NOT NULL/CHECK/FK rule
};

// Short lower-case name of `code`, e.g. "corruption".
constexpr std::string_view ErrorCodeName(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidArgument: return "invalid argument";
    case ErrorCode::kNotFound: return "not found";
    case ErrorCode::kCorruption: return "corruption";
    case ErrorCode::kIoError: return "I/O error";
    case ErrorCode::kUnsupported: return "unsupported";
    case ErrorCode::kOutOfRange: return "out of range";
    case ErrorCode::kBusy: return "busy";
    case ErrorCode::kConstraint: return "constraint violation";
    case ErrorCode::kPermissionDenied: return "permission denied";
    case ErrorCode::kAlreadyExists: return "already exists";
  }
  return "unknown error";
}

class Error {
 public:
  Error(ErrorCode code, std::string message)
      : code_(code), message_(std::move(message)) {}

  ErrorCode code() const { return code_; }
  // What went wrong, naming the input (file, field, value) at fault.
  const std::string& message() const { return message_; }
  // "corruption: 101.dat: ..." — for logs and command-line tools.
  std::string ToString() const {
    return std::string(ErrorCodeName(code_)) + ": " + message_;
  }

  // Returns a copy whose message is "<context>: <message>", so that each
  // layer can name what it was doing without losing the original detail.
  Error WithContext(std::string_view context) const {
    return Error(code_, std::string(context) + ": " + message_);
  }

 private:
  ErrorCode code_;
  std::string message_;
};

template <typename T>
using Result = tl::expected<T, Error>;

using Status = Result<void>;

// `return Fail(ErrorCode::kCorruption, "...");` from any Result-returning
// function.
inline tl::unexpected<Error> Fail(ErrorCode code, std::string message) {
  return tl::unexpected<Error>(Error(code, std::move(message)));
}

inline tl::unexpected<Error> Fail(Error error) {
  return tl::unexpected<Error>(std::move(error));
}

inline Status OkStatus() { return {}; }

}  // namespace pulse

#endif  // PULSE_BASE_RESULT_H_
