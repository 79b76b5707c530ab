#include "pulse/engine/curl_transport.h"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <mutex>
#include <string_view>
#include <utility>

namespace pulse::engine {
namespace {

// curl_global_init is not thread-safe and must run once before any handle.
Status GlobalInit() {
  static std::once_flag once;
  static CURLcode rc = CURLE_OK;
  std::call_once(once, [] { rc = curl_global_init(CURL_GLOBAL_DEFAULT); });
  if (rc != CURLE_OK) {
    return Fail(ErrorCode::kIoError,
                std::string("libcurl initialisation failed: ") +
                    curl_easy_strerror(rc));
  }
  return OkStatus();
}

bool StartsWithDigits(std::string_view s) {
  return !s.empty() && std::isdigit(static_cast<unsigned char>(s[0]));
}

std::string Lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) {
    return static_cast<char>(std::tolower(c));
  });
  return out;
}

// Frees a curl_url handle and the strings it hands out.
struct UrlDeleter {
  void operator()(CURLU* u) const { curl_url_cleanup(u); }
};
struct CurlStringDeleter {
  void operator()(char* s) const { curl_free(s); }
};
using CurlString = std::unique_ptr<char, CurlStringDeleter>;

CurlString GetPart(CURLU* url, CURLUPart part) {
  char* value = nullptr;
  if (curl_url_get(url, part, &value, 0) != CURLUE_OK) return CurlString();
  return CurlString(value);
}

}  // namespace

bool IsLoopbackHost(std::string_view host) {
  const std::string h = Lower(host);
  if (h == "localhost" || h == "::1" || h == "[::1]") return true;
  // 127.0.0.0/8, dotted quad only.
  if (h.rfind("127.", 0) != 0) return false;
  int dots = 0;
  std::string_view rest(h);
  while (!rest.empty()) {
    const std::size_t dot = rest.find('.');
    std::string_view part = rest.substr(0, dot);
    if (part.empty() || part.size() > 3 || !StartsWithDigits(part)) return false;
    for (char c : part) {
      if (!std::isdigit(static_cast<unsigned char>(c))) return false;
    }
    if (std::stoi(std::string(part)) > 255) return false;
    if (dot == std::string_view::npos) break;
    ++dots;
    rest.remove_prefix(dot + 1);
    if (rest.empty()) return false;
  }
  return dots == 3;
}

struct CurlTransport::Impl {
  CURL* easy = nullptr;
  CurlTransportOptions options;
  std::string base;  // base_url without a trailing '/'
  std::string host;  // for error messages

  ~Impl() {
    if (easy != nullptr) curl_easy_cleanup(easy);
  }
};

CurlTransport::CurlTransport(std::unique_ptr<Impl> impl)
    : impl_(std::move(impl)) {}

CurlTransport::~CurlTransport() = default;

Result<std::unique_ptr<CurlTransport>> CurlTransport::Create(
    const CurlTransportOptions& options) {
  if (Status s = GlobalInit(); !s) return Fail(s.error());
  if (options.connect_timeout.count() <= 0) {
    return Fail(ErrorCode::kInvalidArgument,
                "connect_timeout: must be greater than zero");
  }
  if (options.total_timeout < options.connect_timeout) {
    return Fail(ErrorCode::kInvalidArgument,
                "total_timeout: must be at least connect_timeout");
  }
  if (options.max_response_bytes == 0) {
    return Fail(ErrorCode::kInvalidArgument,
                "max_response_bytes: must be greater than zero");
  }
  if (!options.ca_file.empty()) {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(options.ca_file, ec)) {
      return Fail(ErrorCode::kInvalidArgument,
                  "ca_file: " + options.ca_file + ": no such file");
    }
  }

  std::unique_ptr<CURLU, UrlDeleter> url(curl_url());
  if (!url) return Fail(ErrorCode::kIoError, "libcurl: out of memory");
  if (curl_url_set(url.get(), CURLUPART_URL, options.base_url.c_str(), 0) !=
      CURLUE_OK) {
    return Fail(ErrorCode::kInvalidArgument,
                "base_url: not a URL (expected https://host[:port])");
  }
  CurlString scheme = GetPart(url.get(), CURLUPART_SCHEME);
  CurlString host = GetPart(url.get(), CURLUPART_HOST);
  if (!scheme || !host || std::string_view(host.get()).empty()) {
    return Fail(ErrorCode::kInvalidArgument, "base_url: no host");
  }
  const std::string scheme_text = Lower(scheme.get());
  if (scheme_text != "https" && scheme_text != "http") {
    return Fail(ErrorCode::kInvalidArgument,
                "base_url: scheme must be https (or http to a loopback host)");
  }
  if (GetPart(url.get(), CURLUPART_USER) ||
      GetPart(url.get(), CURLUPART_PASSWORD)) {
    return Fail(ErrorCode::kInvalidArgument,
                "base_url: must not contain credentials");
  }
  if (GetPart(url.get(), CURLUPART_QUERY) ||
      GetPart(url.get(), CURLUPART_FRAGMENT)) {
    return Fail(ErrorCode::kInvalidArgument,
                "base_url: must not contain a query or fragment");
  }
  if (scheme_text == "http" && !IsLoopbackHost(host.get())) {
    return Fail(ErrorCode::kInvalidArgument,
                std::string("base_url: plain http is allowed only to a "
                            "loopback host, not '") +
                    host.get() + "'; use https://");
  }

  auto impl = std::make_unique<Impl>();
  impl->options = options;
  impl->host = host.get();
  impl->base = options.base_url;
  while (!impl->base.empty() && impl->base.back() == '/') impl->base.pop_back();
  impl->easy = curl_easy_init();
  if (impl->easy == nullptr) {
    return Fail(ErrorCode::kIoError, "libcurl: cannot create a handle");
  }
  return std::unique_ptr<CurlTransport>(new CurlTransport(std::move(impl)));
}

namespace {

struct Sink {
  HttpResponse* response;
  std::size_t limit;
  bool overflow = false;
  // The blank line that ends the (last) header block arrived. libcurl
  // reports a connection closed after the status line but inside the
  // headers as a complete response with an empty body (curl 7.88), which
  // a decoder would then call malformed: a cut link, not a bad server.
  bool headers_complete = false;
};

extern "C" std::size_t WriteBody(char* data, std::size_t size,
                                 std::size_t count, void* user) {
  auto* sink = static_cast<Sink*>(user);
  const std::size_t n = size * count;
  if (sink->response->body.size() + n > sink->limit) {
    sink->overflow = true;
    return 0;  // makes libcurl fail with CURLE_WRITE_ERROR
  }
  sink->response->body.append(data, n);
  return n;
}

extern "C" std::size_t WriteHeader(char* data, std::size_t size,
                                   std::size_t count, void* user) {
  auto* sink = static_cast<Sink*>(user);
  const std::size_t n = size * count;
  std::string_view line(data, n);
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) {
    line.remove_suffix(1);
  }
  if (line.rfind("HTTP/", 0) == 0) {
    // A new status line (after 100 Continue): forget earlier headers.
    sink->response->headers.clear();
    sink->headers_complete = false;
    return n;
  }
  if (line.empty()) {
    sink->headers_complete = true;
    return n;
  }
  const std::size_t colon = line.find(':');
  if (colon == std::string_view::npos) return n;
  std::string_view value = line.substr(colon + 1);
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) {
    value.remove_prefix(1);
  }
  sink->response->headers.emplace_back(std::string(line.substr(0, colon)),
                                       std::string(value));
  return n;
}

struct SlistDeleter {
  void operator()(curl_slist* list) const { curl_slist_free_all(list); }
};

}  // namespace

Result<HttpResponse> CurlTransport::Send(const HttpRequest& request) {
  if (request.target.empty() || request.target.front() != '/') {
    return Fail(ErrorCode::kInvalidArgument,
                "request target must start with '/'");
  }
  const std::string& method = request.method;
  if (method != "GET" && method != "POST" && method != "PUT" &&
      method != "HEAD" && method != "DELETE") {
    return Fail(ErrorCode::kInvalidArgument,
                "request method '" + method + "' is not supported");
  }
  CURL* easy = impl_->easy;
  // Reset clears the options of the last request but keeps the connection
  // cache, so keep-alive still works.
  curl_easy_reset(easy);

  HttpResponse response;
  Sink sink{&response, impl_->options.max_response_bytes};
  char error_text[CURL_ERROR_SIZE] = {0};
  const std::string url = impl_->base + request.target;

  std::unique_ptr<curl_slist, SlistDeleter> headers;
  for (const auto& [name, value] : request.headers) {
    const std::string line = name + ": " + value;
    curl_slist* grown = curl_slist_append(headers.get(), line.c_str());
    if (grown == nullptr) return Fail(ErrorCode::kIoError, "libcurl: out of memory");
    (void)headers.release();
    headers.reset(grown);
  }
  // libcurl adds "Expect: 100-continue" to larger POSTs; the server answers
  // directly, so the header only costs a round trip.
  curl_slist* grown = curl_slist_append(headers.get(), "Expect:");
  if (grown == nullptr) return Fail(ErrorCode::kIoError, "libcurl: out of memory");
  (void)headers.release();
  headers.reset(grown);

  const long connect_ms = static_cast<long>(impl_->options.connect_timeout.count());
  const long total_ms = static_cast<long>(impl_->options.total_timeout.count());
  CURLcode rc = CURLE_OK;
  auto set = [&](CURLcode code) {
    if (rc == CURLE_OK) rc = code;
  };
  set(curl_easy_setopt(easy, CURLOPT_URL, url.c_str()));
  set(curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https"));
  set(curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 0L));
  set(curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L));
  set(curl_easy_setopt(easy, CURLOPT_VERBOSE, 0L));
  set(curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, error_text));
  set(curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, connect_ms));
  set(curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, total_ms));
  set(curl_easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, 1L));
  set(curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, 2L));
  if (!impl_->options.ca_file.empty()) {
    set(curl_easy_setopt(easy, CURLOPT_CAINFO, impl_->options.ca_file.c_str()));
  }
  set(curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers.get()));
  set(curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, &WriteBody));
  set(curl_easy_setopt(easy, CURLOPT_WRITEDATA, &sink));
  set(curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, &WriteHeader));
  set(curl_easy_setopt(easy, CURLOPT_HEADERDATA, &sink));
  if (method == "GET") {
    set(curl_easy_setopt(easy, CURLOPT_HTTPGET, 1L));
  } else if (method == "HEAD") {
    set(curl_easy_setopt(easy, CURLOPT_NOBODY, 1L));
  } else {
    // POSTFIELDS with an explicit size also covers binary bodies and PUT.
    set(curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE,
                         static_cast<curl_off_t>(request.body.size())));
    set(curl_easy_setopt(easy, CURLOPT_POSTFIELDS, request.body.data()));
    if (method != "POST") {
      set(curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, method.c_str()));
    }
  }
  if (rc != CURLE_OK) {
    return Fail(ErrorCode::kIoError, std::string("libcurl: cannot set up the "
                                                 "request: ") +
                                         curl_easy_strerror(rc));
  }

  rc = curl_easy_perform(easy);
  // Clear pointers into this stack frame before returning.
  curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, nullptr);
  curl_easy_setopt(easy, CURLOPT_HTTPHEADER, nullptr);
  if (sink.overflow) {
    return Fail(ErrorCode::kIoError,
                impl_->host + ": response body larger than " +
                    std::to_string(impl_->options.max_response_bytes) +
                    " bytes");
  }
  if (rc != CURLE_OK) {
    // error_text is libcurl's own description (host, errno, TLS reason); it
    // never holds request headers or bodies.
    std::string what = error_text[0] != '\0' ? std::string(error_text)
                                             : curl_easy_strerror(rc);
    return Fail(ErrorCode::kIoError,
                impl_->host + ": " + method + " " +
                    request.target.substr(0, request.target.find('?')) +
                    " failed: " + what);
  }
  if (!sink.headers_complete) {
    return Fail(ErrorCode::kIoError,
                impl_->host + ": " + method + " " +
                    request.target.substr(0, request.target.find('?')) +
                    " failed: the connection closed inside the response "
                    "headers");
  }
  long status = 0;
  curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
  response.status = static_cast<int>(status);
  return response;
}

}  // namespace pulse::engine
