// CurlTransport: the product's SyncTransport, libcurl over HTTPS
// (DESIGN.md §6 "In transit").
//
//  * One libcurl easy handle for the object's lifetime, so consecutive
//    calls reuse the connection (HTTP/1.1 keep-alive) and its TLS session.
//  * TLS peer and host verification are always on; `ca_file` replaces the
//    system CA bundle (a clinic deployment pins the central CA). There is
//    no switch to turn verification off.
//  * Plain http:// is accepted only when the host is a loopback address
//    (localhost, 127.0.0.0/8, ::1) — for tests and a server on the same
//    machine. Any other http:// URL is refused by Create().
//  * Only http and https; redirects are not followed (a redirect would
//    carry the bearer token elsewhere), so a 3xx is returned as it is.
//  * Nothing is logged: no verbose output, and errors name the host and
//    the failure, never a header, a token or a body.
//  * Response bodies are capped at `max_response_bytes` (kIoError above it),
//    so a broken or hostile server cannot exhaust memory.
//
// curl_global_init runs once per process (std::call_once) on the first
// Create(); it is never cleaned up (the process's exit does that).
//
// Thread-safety: Create() is safe from any thread. A CurlTransport is used
// by one thread at a time (SyncTransport).
#ifndef PULSE_ENGINE_CURL_TRANSPORT_H_
#define PULSE_ENGINE_CURL_TRANSPORT_H_

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "pulse/base/result.h"
#include "pulse/engine/sync_transport.h"

namespace pulse::engine {

struct CurlTransportOptions {
  // Scheme, host, optional port, optional path prefix; no query, no
  // credentials: "https://sync.example.org", "http://127.0.0.1:8443".
  // Request targets are appended to it.
  std::string base_url;
  // PEM file of trusted CAs; empty: the system bundle.
  std::string ca_file;
  // Limit on establishing the TCP + TLS connection. REQUIRES: > 0.
  std::chrono::milliseconds connect_timeout{std::chrono::seconds(10)};
  // Limit on a whole request, connection included. REQUIRES: >=
  // connect_timeout.
  std::chrono::milliseconds total_timeout{std::chrono::seconds(120)};
  // Largest response body accepted. REQUIRES: > 0.
  std::size_t max_response_bytes = std::size_t{64} << 20;
};

// True for "localhost", any 127.x.y.z and "::1" / "[::1]".
bool IsLoopbackHost(std::string_view host);

class CurlTransport final : public SyncTransport {
 public:
  // kInvalidArgument naming the option for a malformed base_url ("base_url:
  // ..."), a scheme other than http/https, http:// to a non-loopback host
  // ("base_url: plain http is allowed only to a loopback host; use
  // https://"), credentials or a query in the URL, a missing ca_file, or
  // timeouts out of range. kIoError if libcurl cannot initialise.
  static Result<std::unique_ptr<CurlTransport>> Create(
      const CurlTransportOptions& options);

  ~CurlTransport() override;
  CurlTransport(const CurlTransport&) = delete;
  CurlTransport& operator=(const CurlTransport&) = delete;

  Result<HttpResponse> Send(const HttpRequest& request) override;

 private:
  struct Impl;
  explicit CurlTransport(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace pulse::engine

#endif  // PULSE_ENGINE_CURL_TRANSPORT_H_
