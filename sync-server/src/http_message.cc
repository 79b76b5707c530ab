#include "pulse/sync_server/http_message.h"

namespace pulse::sync_server {

void Request::SetTarget(std::string_view target) {
  const std::size_t q = target.find('?');
  if (q == std::string_view::npos) {
    path = std::string(target);
    query.clear();
  } else {
    path = std::string(target.substr(0, q));
    query = std::string(target.substr(q + 1));
  }
}

std::optional<std::string_view> Request::Header(std::string_view name) const {
  auto it = headers.find(std::string(name));
  if (it == headers.end()) return std::nullopt;
  return std::string_view(it->second);
}

std::string_view ReasonPhrase(int status) {
  switch (status) {
    case 200: return "OK";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 413: return "Content Too Large";
    case 415: return "Unsupported Media Type";
    case 422: return "Unprocessable Content";
    case 426: return "Upgrade Required";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
  }
  return "Unknown";
}

Response ProblemResponse(const engine::sync::Problem& problem) {
  Response r;
  r.status = problem.status;
  r.content_type = std::string(kProblemContentType);
  r.body = engine::sync::EncodeProblem(problem);
  return r;
}

Response ProblemResponse(int status, std::string_view slug,
                         std::string detail) {
  engine::sync::Problem p;
  p.type = std::string(kProblemTypeBase) + std::string(slug);
  p.title = std::string(ReasonPhrase(status));
  p.status = status;
  p.detail = std::move(detail);
  return ProblemResponse(p);
}

}  // namespace pulse::sync_server
