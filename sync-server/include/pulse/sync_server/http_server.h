// HttpServer: the Boost.Beast HTTP/1.1 front end of the sync server, in the
// shape of Beast's boost-1.74.0 example/http/server/async (listener +
// session per connection; advanced_server.cpp for the full shape). It only
// moves bytes: each complete request becomes a Request, SyncService::Handle
// answers it, and the Response is written back.
//
// Limits: request header 8 KiB (431), body sync::kMaxRequestBodyBytes (413;
// the connection is then closed since the rest of the body is unread), a
// read deadline per request (the connection is closed when it passes),
// keep-alive otherwise. An unparsable request gets 400 and a closed
// connection; the server keeps serving others.
//
// Transport: HTTPS when `tls` is set (OpenSSL, TLS 1.2 or newer, the
// handshake bounded by read_timeout), on any address; plain HTTP only on a
// loopback address (DESIGN.md §6), for tests and a local reverse proxy.
// Both share one session template (Beast's advanced_server_flex pattern).
//
// Threads: `threads` threads run one io_context; each connection is
// serialised on its own strand. Handlers run on these threads
// (synchronous store calls).
//
// Thread-safety: Start() returns a running server; port() may be called
// from any thread; Stop() from any thread except the server's own.
#ifndef PULSE_SYNC_SERVER_HTTP_SERVER_H_
#define PULSE_SYNC_SERVER_HTTP_SERVER_H_

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "pulse/base/result.h"
#include "pulse/engine/sync_protocol.h"
#include "pulse/sync_server/service.h"

namespace pulse::sync_server {

// PEM files of the server's TLS identity. The key must not be
// passphrase-protected (the server starts unattended); protect it with
// file permissions.
struct TlsFiles {
  std::string certificate_chain;  // server certificate first, then CAs
  std::string private_key;
};

struct HttpServerOptions {
  std::string address = "127.0.0.1";  // any address with tls; else loopback
  std::optional<TlsFiles> tls;
  std::uint16_t port = 0;              // 0: the OS picks; see port()
  int threads = 2;                     // 1..256
  std::chrono::seconds read_timeout{30};  // per request, header to body end
  std::size_t header_limit = 8 * 1024;
  std::uint64_t body_limit = engine::sync::kMaxRequestBodyBytes;
  // Stop(): how long in-flight requests may take to finish.
  std::chrono::milliseconds shutdown_grace{std::chrono::seconds(10)};
};

class HttpServer {
 public:
  // Binds, listens and starts the io threads. `service` must outlive the
  // server. kInvalidArgument for a bad option, a non-loopback address
  // without tls, or a certificate/key that cannot be loaded or do not match
  // (naming the file); kIoError when the address cannot be bound (in use,
  // permission) with the system's reason.
  static Result<std::unique_ptr<HttpServer>> Start(
      SyncService& service, const HttpServerOptions& options);

  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;
  ~HttpServer();  // Stop()

  // The bound port (the OS's choice when options.port was 0).
  std::uint16_t port() const;

  // Graceful stop: closes the listener, closes idle connections, lets
  // requests being read or handled finish and answers them with
  // "Connection: close", waits for connections to end for at most
  // shutdown_grace, then stops the io threads and joins them. Returns true
  // when every connection ended within the grace period. Idempotent.
  bool Stop();

  // Connections open right now (for tests and metrics).
  std::size_t open_connections() const;

  // Implementation detail (public only so that the .cc's session classes
  // can name it).
  struct Impl;

 private:
  explicit HttpServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace pulse::sync_server

#endif  // PULSE_SYNC_SERVER_HTTP_SERVER_H_
