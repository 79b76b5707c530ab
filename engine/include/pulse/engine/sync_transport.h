// SyncTransport: the one door through which the sync client (sync_client.h)
// talks HTTP to the sync server (DESIGN.md §5). The client builds requests
// and reads responses; how the bytes travel — libcurl over TLS in the
// product (curl_transport.h), an in-memory fake server in tests — is the
// transport's business (STYLE.md "Keep I/O at the edges").
//
// Two kinds of failure, kept apart on purpose:
//  * The server answered, with any status (200, 401, 426, 500, ...): Send()
//    returns the HttpResponse. Interpreting the status is the caller's job.
//  * No answer: connection refused or reset, DNS failure, TLS failure,
//    timeout, a body over the transport's size limit. Send() returns an
//    error, kIoError, whose message names the host and what failed — never
//    a header value or a body. The request may or may not have reached
//    the server (a reset after the server applied a push looks the same as
//    one before), which is why pushes are idempotent by batch id.
//
// Thread-safety: an implementation is used by one thread at a time (the
// sync client's); it need not be internally synchronised.
#ifndef PULSE_ENGINE_SYNC_TRANSPORT_H_
#define PULSE_ENGINE_SYNC_TRANSPORT_H_

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "pulse/base/result.h"

namespace pulse::engine {

// Header names are compared case-insensitively (RFC 9110 §5.1).
using HttpHeaders = std::vector<std::pair<std::string, std::string>>;

struct HttpRequest {
  std::string method;  // "GET", "POST", ...
  // Path and query relative to the transport's base URL, starting with '/':
  // "/api/v1/sync/pull?cursor=0&limit=1000". Query values are already
  // percent-encoded by the caller.
  std::string target;
  // Extra headers ("Authorization", "Content-Type"). May hold secrets:
  // transports never log or echo them.
  HttpHeaders headers;
  std::string body;  // may hold secrets (login) or patient data (push)
};

struct HttpResponse {
  int status = 0;  // 100..599
  HttpHeaders headers;
  std::string body;
};

// The first value of header `name` (case-insensitive), or "" if absent.
std::string_view FindHeader(const HttpHeaders& headers, std::string_view name);

class SyncTransport {
 public:
  virtual ~SyncTransport() = default;

  // Sends `request` and waits for the whole response (bounded by the
  // transport's timeouts). Returns the response for any HTTP status;
  // kIoError when no complete response arrived (see the file comment);
  // kInvalidArgument for a request the transport cannot send (a target not
  // starting with '/', an unknown method).
  virtual Result<HttpResponse> Send(const HttpRequest& request) = 0;
};

}  // namespace pulse::engine

#endif  // PULSE_ENGINE_SYNC_TRANSPORT_H_
