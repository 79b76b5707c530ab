// A fault-injecting TCP proxy for tests: listens on 127.0.0.1 (port 0 picks
// a free one) and forwards every accepted connection to a target address,
// after choosing, per connection and from a seeded random generator, what
// goes wrong with it (STYLE.md "Make faults a test input": here the fault
// sits in the byte stream between the sync client and the sync server).
//
// Faults, per connection (Fault below):
//   kPass              forward both ways untouched
//   kDelay             wait before connecting upstream, then before every
//                      forwarded chunk (0..max_delay each)
//   kDrop              accept, then close at once: nothing is forwarded
//   kReset             forward k bytes (counted over both directions), then
//                      abort both sockets with a TCP RST
//   kTruncateRequest   forward k bytes of client->server data, then send
//                      FIN upstream and discard the rest; the response
//                      stream still flows until the server closes
//   kTruncateResponse  forward k bytes of server->client data, then close
//                      both sides (FIN): the client sees a short response
//   kHalfClose         forward the client's first chunk, then send FIN
//                      upstream (the server sees end-of-stream right after a
//                      request) and keep relaying the response
// k is uniform in [0, max_cut_bytes]. A seed fixes the sequence of choices
// in accept order (the test prints it so that a failure reproduces).
//
// Counters tell a test what was injected: per kind, the connections that
// drew it (`assigned`) and those where the fault actually took effect
// (`fired`: the cut point was reached, the delay slept, the drop happened),
// plus the bytes forwarded each way.
//
// Thread-safety: one I/O thread runs all connections. Every public method
// is safe from any thread. Stop() (or the destructor) closes the listener
// and every open connection and joins the thread.
#ifndef PULSE_TESTS_SUPPORT_FAULT_PROXY_H_
#define PULSE_TESTS_SUPPORT_FAULT_PROXY_H_

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "pulse/base/result.h"

namespace pulse::testing {

enum class Fault {
  kPass = 0,
  kDelay = 1,
  kDrop = 2,
  kReset = 3,
  kTruncateRequest = 4,
  kTruncateResponse = 5,
  kHalfClose = 6,
};
inline constexpr std::size_t kFaultKinds = 7;

// "pass", "delay", "drop", "reset", "truncate_request", "truncate_response",
// "half_close".
std::string_view FaultName(Fault fault);

// Relative weights of the faults, indexed by Fault; all zero means kPass.
using FaultWeights = std::array<unsigned, kFaultKinds>;

struct FaultProxyOptions {
  std::string target_host = "127.0.0.1";
  std::uint16_t target_port = 0;
  std::uint64_t seed = 1;
  FaultWeights weights{};  // default: every connection passes
  std::chrono::milliseconds max_delay{100};
  std::size_t max_cut_bytes = 4096;
};

struct FaultCounts {
  std::array<std::uint64_t, kFaultKinds> assigned{};
  std::array<std::uint64_t, kFaultKinds> fired{};
  std::uint64_t connections = 0;
  std::uint64_t bytes_to_target = 0;    // client -> server, forwarded
  std::uint64_t bytes_from_target = 0;  // server -> client, forwarded
};

class FaultProxy {
 public:
  // Binds 127.0.0.1:0 and starts the I/O thread. kIoError if the listener
  // cannot be opened.
  static Result<std::unique_ptr<FaultProxy>> Start(
      const FaultProxyOptions& options);
  ~FaultProxy();
  FaultProxy(const FaultProxy&) = delete;
  FaultProxy& operator=(const FaultProxy&) = delete;

  // The listening port (on 127.0.0.1).
  std::uint16_t port() const;

  // Changes the weights for connections accepted from now on.
  void SetWeights(const FaultWeights& weights);
  // The next accepted connection gets `fault` regardless of the weights
  // (k still drawn at random unless `cut_bytes` is set); later ones draw
  // again.
  void ForceNext(Fault fault, std::optional<std::size_t> cut_bytes = {});
  // Points new connections at another target port (a restarted server).
  void SetTargetPort(std::uint16_t port);

  FaultCounts Counts() const;

  // What each connection drew, in accept order (fault and k).
  std::vector<std::pair<Fault, std::size_t>> History() const;

  // Closes the listener and every open connection; joins the thread.
  // Idempotent.
  void Stop();

 private:
  struct Impl;
  explicit FaultProxy(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace pulse::testing

#endif  // PULSE_TESTS_SUPPORT_FAULT_PROXY_H_
