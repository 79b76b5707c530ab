// Request and Response: the server's view of one HTTP exchange, free of any
// transport type. The Beast session (http_server.h) converts to and from
// them; the handlers (service.h) see nothing else, so they are tested by
// building a Request by hand (STYLE.md "Keep I/O at the edges").
//
// Header names are stored lower-cased; values as received. Bodies are bytes.
//
// Thread-safety: plain values.
#ifndef PULSE_SYNC_SERVER_HTTP_MESSAGE_H_
#define PULSE_SYNC_SERVER_HTTP_MESSAGE_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "pulse/engine/sync_protocol.h"

namespace pulse::sync_server {

struct Request {
  std::string method;  // upper case as sent, e.g. "GET"
  std::string path;    // target up to '?', e.g. "/api/v1/sync/pull"
  std::string query;   // target after '?', undecoded ("" if none)
  std::map<std::string, std::string> headers;  // lower-case name -> value
  std::string body;
  std::string peer;  // remote address without port, e.g. "127.0.0.1"

  // Splits an origin-form target ("/a/b?x=1") into path and query.
  void SetTarget(std::string_view target);
  // The header's value, or nullopt. `name` must be lower case.
  std::optional<std::string_view> Header(std::string_view name) const;
};

struct Response {
  int status = 200;
  std::string content_type;  // empty when there is no body
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // extra ones
  // For an answer to HEAD: the Content-Length the GET would have (the
  // body itself is empty). Unset: the length of `body`.
  std::optional<std::uint64_t> head_content_length;

  // For the access log and metrics only, never sent: the route template
  // that matched ("(unmatched)" for a 404), and the authenticated user id
  // ("" if none).
  std::string route;
  std::string user_id;
};

// Base of every problem `type` URI.
inline constexpr std::string_view kProblemTypeBase =
    "https://pulse-ledger.example/problems/";
inline constexpr std::string_view kProblemContentType =
    "application/problem+json";
inline constexpr std::string_view kJsonContentType = "application/json";

// A problem-details response (RFC 9457) whose type is kProblemTypeBase +
// `slug` and whose title is the status's standard reason phrase. `detail`
// must hold no patient data and no secrets.
Response ProblemResponse(int status, std::string_view slug,
                         std::string detail);
// As above with a fully built Problem (426 carries required versions).
Response ProblemResponse(const engine::sync::Problem& problem);

// The standard reason phrase of `status` ("Not Found"), "Unknown" if none.
std::string_view ReasonPhrase(int status);

}  // namespace pulse::sync_server

#endif  // PULSE_SYNC_SERVER_HTTP_MESSAGE_H_
