// The Beast front end. Shape: Beast boost-1.74.0
// example/http/server/async/http_server_async.cpp (listener + session,
// tcp_stream with expires_after, one strand per connection) with the
// CRTP session of advanced_server_flex.cpp, so a TLS session can be added
// beside PlainSession without touching the request/response logic.
//
// Connection life: Run -> DoRead -> OnRead -> (Handle) -> Send -> OnWrite
// -> DoRead ... until the peer closes, a read deadline passes, an error
// answer closes it, or the server stops. On stop, a connection that is
// waiting for a new request is closed at once; one that has started to
// receive or is being handled finishes its request, answered with
// "Connection: close".
#include "pulse/sync_server/http_server.h"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>
#include <vector>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <openssl/ssl.h>

namespace pulse::sync_server {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

constexpr std::string_view kTransportRoute = "(transport)";
// After an error answer that closes the connection, unread request bytes
// are drained for at most this long so that the peer reads the answer
// instead of a reset (a "lingering close").
constexpr std::chrono::seconds kLingerTime{2};

class Connection {
 public:
  virtual ~Connection() = default;
  // Called from any thread when the server stops.
  virtual void Shutdown() = 0;
};

std::string LowerAscii(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return out;
}

std::string_view View(beast::string_view s) { return {s.data(), s.size()}; }

bool IsHttpParseError(const beast::error_code& ec) {
  return &ec.category() ==
         &http::make_error_code(http::error::bad_method).category();
}

}  // namespace

struct HttpServer::Impl {
  Impl(SyncService& s, const HttpServerOptions& o)
      : service(s), options(o), ioc(o.threads), acceptor(ioc) {}

  // Registers a new connection; false once the server is stopping.
  bool Register(const std::shared_ptr<Connection>& c) {
    std::lock_guard lock(mu);
    if (stopping) return false;
    live.emplace(c.get(), c);
    return true;
  }
  void Unregister(Connection* c) {
    std::lock_guard lock(mu);
    live.erase(c);
    if (live.empty()) cv.notify_all();
  }
  void DoAccept();

  SyncService& service;
  const HttpServerOptions options;
  std::atomic<bool> stopping_flag{false};

  // Declared before ioc: sessions destroyed with ioc's pending handlers
  // still unregister here.
  mutable std::mutex mu;
  std::condition_variable cv;
  std::unordered_map<Connection*, std::weak_ptr<Connection>> live;  // mu
  bool stopping = false;                                            // mu
  bool stopped = false;                                             // mu
  bool stop_result = true;                                          // mu

  std::optional<net::ssl::context> tls;  // set: every connection is HTTPS
  net::io_context ioc;
  // Keeps the io threads running until Stop() is done with them: without
  // it, run() returns the moment no operation is pending (the acceptor
  // closed and the last connection between two reads), and what Stop()
  // posts afterwards would never run.
  std::optional<net::executor_work_guard<net::io_context::executor_type>>
      work{net::make_work_guard(ioc)};
  tcp::acceptor acceptor;
  std::uint16_t port = 0;
  std::vector<std::thread> threads;
};

namespace {

// The transport-independent half of a connection. Derived supplies
// stream() (a beast::tcp_stream or, later, an ssl_stream over one) and
// DoEof() (how to close that stream).
template <class Derived>
class HttpSession : public Connection {
 public:
  HttpSession(HttpServer::Impl& server, std::string peer)
      : server_(server), peer_(std::move(peer)) {}

  void Shutdown() override {
    net::post(derived().stream().get_executor(),
              [self = derived().shared_from_this()] { self->OnShutdown(); });
  }

 protected:
  Derived& derived() { return static_cast<Derived&>(*this); }

  void DoRead() {
    if (shutdown_ || server_.stopping_flag.load()) {
      if (buffer_.size() == 0) return derived().DoEof();
    }
    parser_.emplace();
    parser_->header_limit(
        static_cast<std::uint32_t>(server_.options.header_limit));
    parser_->body_limit(server_.options.body_limit);
    beast::get_lowest_layer(derived().stream())
        .expires_after(server_.options.read_timeout);
    reading_ = true;
    http::async_read(derived().stream(), buffer_, *parser_,
                     beast::bind_front_handler(&HttpSession::OnRead,
                                               derived().shared_from_this()));
  }

  void OnShutdown() {
    shutdown_ = true;
    // Idle between requests: nothing in flight, close now. A request that
    // has started to arrive is left to finish (bounded by the deadline).
    if (reading_ && parser_ && !parser_->got_some() && buffer_.size() == 0) {
      beast::error_code ec;
      beast::get_lowest_layer(derived().stream()).socket().cancel(ec);
    }
  }

  void OnRead(beast::error_code ec, std::size_t) {
    reading_ = false;
    const auto start = std::chrono::steady_clock::now();
    if (ec == http::error::end_of_stream || ec == net::error::operation_aborted ||
        ec == beast::error::timeout) {
      // Peer done, stop requested, or the deadline passed mid-request.
      return derived().DoEof();
    }
    if (ec == http::error::partial_message) {
      // The peer closed its side in the middle of a request: the link cut
      // it, not the client's code. No answer: a 400 would tell the client
      // its request was malformed (a bug to fix, not to retry), and the
      // half-closed peer has nothing left to say.
      return derived().DoEof();
    }
    if (ec == http::error::body_limit) {
      return SendTransportError(413, "payload-too-large",
                                "request body exceeds " +
                                    std::to_string(server_.options.body_limit) +
                                    " bytes",
                                start);
    }
    if (ec == http::error::header_limit) {
      return SendTransportError(431, "header-too-large",
                                "request header exceeds " +
                                    std::to_string(
                                        server_.options.header_limit) +
                                    " bytes",
                                start);
    }
    if (IsHttpParseError(ec)) {
      return SendTransportError(400, "bad-request",
                                "malformed HTTP request: " + ec.message(),
                                start);
    }
    if (ec) return derived().DoEof();  // socket errors: nothing to answer

    http::request<http::string_body> msg = parser_->release();
    Request request;
    request.method = std::string(msg.method_string());
    request.SetTarget(View(msg.target()));
    for (const auto& field : msg) {
      std::string name = LowerAscii(View(field.name_string()));
      auto [it, fresh] = request.headers.emplace(name, std::string(field.value()));
      if (!fresh) it->second += ", " + std::string(field.value());
    }
    request.body = std::move(msg.body());
    request.peer = peer_;
    Response response;
    try {
      response = server_.service.Handle(request);
    } catch (...) {  // Handle() promises not to throw; belt and braces.
      response = ProblemResponse(500, "internal-error", "internal error");
    }
    Send(response, msg.keep_alive(), request.method == "HEAD",
         /*linger=*/false);
  }

  void SendTransportError(int status, std::string_view slug,
                          std::string detail,
                          std::chrono::steady_clock::time_point start) {
    Response response = ProblemResponse(status, slug, std::move(detail));
    response.route = std::string(kTransportRoute);
    server_.service.RecordTransportResponse(
        parser_ && parser_->is_header_done()
            ? std::string(parser_->get().method_string())
            : std::string("OTHER"),
        peer_, response, std::chrono::steady_clock::now() - start);
    Send(response, /*keep_alive=*/false, /*head=*/false, /*linger=*/true);
  }

  void Send(const Response& r, bool keep_alive, bool head, bool linger) {
    res_ = {};
    res_.version(11);
    res_.result(static_cast<unsigned>(r.status));
    res_.set(http::field::server, "pulse-sync-server");
    if (!r.content_type.empty()) {
      res_.set(http::field::content_type, r.content_type);
    }
    for (const auto& [name, value] : r.headers) res_.insert(name, value);
    res_.body() = r.body;
    res_.keep_alive(keep_alive && !shutdown_ &&
                    !server_.stopping_flag.load());
    res_.prepare_payload();
    if (head) {
      res_.body().clear();  // Content-Length stays as for GET
      if (r.head_content_length) res_.content_length(*r.head_content_length);
    }
    const bool close = !res_.keep_alive();
    http::async_write(
        derived().stream(), res_,
        [self = derived().shared_from_this(), close, linger](
            beast::error_code ec, std::size_t) {
          self->OnWrite(close, linger, ec);
        });
  }

  void OnWrite(bool close, bool linger, beast::error_code ec) {
    if (ec) return derived().DoEof();
    if (linger) return DoLinger();
    if (close || shutdown_) return derived().DoEof();
    DoRead();
  }

  // Half-close, then read and discard what the peer still sends until it
  // closes or kLingerTime passes, so that it sees our error answer.
  void DoLinger() {
    beast::error_code ec;
    auto& lowest = beast::get_lowest_layer(derived().stream());
    lowest.socket().shutdown(tcp::socket::shutdown_send, ec);
    lowest.expires_after(kLingerTime);
    DrainSome();
  }
  void DrainSome() {
    beast::get_lowest_layer(derived().stream())
        .async_read_some(
            net::buffer(drain_),
            [self = derived().shared_from_this()](beast::error_code ec,
                                                  std::size_t) {
              if (ec) {
                beast::error_code ignored;
                beast::get_lowest_layer(self->stream())
                    .socket()
                    .close(ignored);
                return;
              }
              self->DrainSome();
            });
  }

  HttpServer::Impl& server_;
  const std::string peer_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  http::response<http::string_body> res_;
  std::array<char, 8192> drain_{};
  bool reading_ = false;   // only touched on the strand
  bool shutdown_ = false;  // only touched on the strand
};

class PlainSession final : public HttpSession<PlainSession>,
                           public std::enable_shared_from_this<PlainSession> {
 public:
  PlainSession(tcp::socket&& socket, HttpServer::Impl& server,
               std::string peer)
      : HttpSession(server, std::move(peer)), stream_(std::move(socket)) {}
  ~PlainSession() override { server_.Unregister(this); }

  void Run() {
    // On the strand, as Beast's example does: the socket's executor.
    net::dispatch(stream_.get_executor(),
                  beast::bind_front_handler(&PlainSession::DoRead,
                                            shared_from_this()));
  }

  beast::tcp_stream& stream() { return stream_; }

  void DoEof() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    stream_.socket().close(ec);
  }

 private:
  friend class HttpSession<PlainSession>;
  beast::tcp_stream stream_;
};

class SslSession final : public HttpSession<SslSession>,
                         public std::enable_shared_from_this<SslSession> {
 public:
  SslSession(tcp::socket&& socket, net::ssl::context& tls,
             HttpServer::Impl& server, std::string peer)
      : HttpSession(server, std::move(peer)), stream_(std::move(socket), tls) {}
  ~SslSession() override { server_.Unregister(this); }

  void Run() {
    net::dispatch(stream_.get_executor(),
                  beast::bind_front_handler(&SslSession::DoHandshake,
                                            shared_from_this()));
  }

  beast::ssl_stream<beast::tcp_stream>& stream() { return stream_; }

  void DoEof() {
    if (closing_) return;
    closing_ = true;
    // A TLS close_notify, bounded, then the socket goes either way.
    beast::get_lowest_layer(stream_).expires_after(std::chrono::seconds(5));
    stream_.async_shutdown([self = shared_from_this()](beast::error_code) {
      beast::error_code ignored;
      beast::get_lowest_layer(self->stream_).socket().close(ignored);
    });
  }

 private:
  void DoHandshake() {
    // A client that connects and never speaks TLS is dropped at the same
    // deadline as a slow request.
    beast::get_lowest_layer(stream_).expires_after(
        server_.options.read_timeout);
    stream_.async_handshake(
        net::ssl::stream_base::server,
        beast::bind_front_handler(&SslSession::OnHandshake,
                                  shared_from_this()));
  }
  void OnHandshake(beast::error_code ec) {
    if (ec) {
      // Not TLS, an old protocol version, or a client refusing our
      // certificate: nothing can be answered over this connection.
      beast::error_code ignored;
      beast::get_lowest_layer(stream_).socket().close(ignored);
      return;
    }
    DoRead();
  }

  friend class HttpSession<SslSession>;
  beast::ssl_stream<beast::tcp_stream> stream_;
  bool closing_ = false;  // only touched on the strand
};

// The server's TLS context: TLS 1.2 or newer, the chain and key from PEM
// files, the key checked against the certificate.
Result<net::ssl::context> MakeTlsContext(const TlsFiles& files) {
  net::ssl::context tls(net::ssl::context::tls_server);
  tls.set_options(net::ssl::context::default_workarounds |
                  net::ssl::context::no_sslv2 | net::ssl::context::no_sslv3 |
                  net::ssl::context::no_tlsv1 |
                  net::ssl::context::no_tlsv1_1 |
                  net::ssl::context::single_dh_use);
  beast::error_code ec;
  tls.use_certificate_chain_file(files.certificate_chain, ec);
  if (ec) {
    return Fail(ErrorCode::kInvalidArgument,
                "tls certificate chain '" + files.certificate_chain +
                    "': " + ec.message());
  }
  tls.use_private_key_file(files.private_key, net::ssl::context::pem, ec);
  if (ec) {
    return Fail(ErrorCode::kInvalidArgument,
                "tls private key '" + files.private_key + "': " + ec.message());
  }
  if (SSL_CTX_check_private_key(tls.native_handle()) != 1) {
    return Fail(ErrorCode::kInvalidArgument,
                "tls private key '" + files.private_key +
                    "' does not match the certificate");
  }
  return tls;
}

}  // namespace

void HttpServer::Impl::DoAccept() {
  acceptor.async_accept(
      net::make_strand(ioc), [this](beast::error_code ec, tcp::socket socket) {
        if (ec == net::error::operation_aborted || stopping_flag.load()) {
          return;
        }
        if (!ec) {
          beast::error_code ep_ec;
          const auto endpoint = socket.remote_endpoint(ep_ec);
          std::string peer =
              ep_ec ? std::string("unknown") : endpoint.address().to_string();
          // Either way, a session refused by Register (stopping) closes
          // its socket in its destructor.
          if (tls) {
            auto session = std::make_shared<SslSession>(std::move(socket),
                                                        *tls, *this, peer);
            if (Register(session)) session->Run();
          } else {
            auto session =
                std::make_shared<PlainSession>(std::move(socket), *this, peer);
            if (Register(session)) session->Run();
          }
        }
        DoAccept();
      });
}

HttpServer::HttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

HttpServer::~HttpServer() { Stop(); }

std::uint16_t HttpServer::port() const { return impl_->port; }

std::size_t HttpServer::open_connections() const {
  std::lock_guard lock(impl_->mu);
  return impl_->live.size();
}

Result<std::unique_ptr<HttpServer>> HttpServer::Start(
    SyncService& service, const HttpServerOptions& options) {
  if (options.threads < 1 || options.threads > 256) {
    return Fail(ErrorCode::kInvalidArgument, "threads: must be 1..256");
  }
  if (options.read_timeout.count() <= 0) {
    return Fail(ErrorCode::kInvalidArgument, "read_timeout: must be > 0 s");
  }
  if (options.header_limit < 1024 || options.body_limit < 1) {
    return Fail(ErrorCode::kInvalidArgument,
                "header_limit must be >= 1024 and body_limit >= 1");
  }
  beast::error_code ec;
  const net::ip::address address = net::ip::make_address(options.address, ec);
  if (ec) {
    return Fail(ErrorCode::kInvalidArgument,
                "listen address '" + options.address +
                    "': not an IP address");
  }
  if (!address.is_loopback() && !options.tls) {
    return Fail(ErrorCode::kInvalidArgument,
                "refusing to serve plain HTTP on " + options.address +
                    ": without TLS only loopback addresses (127.0.0.0/8, "
                    "::1) are allowed");
  }
  auto impl = std::make_unique<Impl>(service, options);
  if (options.tls) {
    auto tls = MakeTlsContext(*options.tls);
    if (!tls) return Fail(tls.error());
    impl->tls.emplace(std::move(*tls));
  }
  const tcp::endpoint endpoint(address, options.port);
  const std::string where =
      options.address + ":" + std::to_string(options.port);
  auto fail = [&](std::string_view step) {
    return Fail(ErrorCode::kIoError,
                std::string(step) + " " + where + ": " + ec.message());
  };
  impl->acceptor.open(endpoint.protocol(), ec);
  if (ec) return fail("open");
  impl->acceptor.set_option(net::socket_base::reuse_address(true), ec);
  if (ec) return fail("set_option");
  impl->acceptor.bind(endpoint, ec);
  if (ec) return fail("bind");
  impl->acceptor.listen(net::socket_base::max_listen_connections, ec);
  if (ec) return fail("listen");
  impl->port = impl->acceptor.local_endpoint(ec).port();
  if (ec) return fail("local_endpoint");
  impl->DoAccept();
  for (int i = 0; i < options.threads; ++i) {
    impl->threads.emplace_back([ioc = &impl->ioc] {
      // Exceptions from handlers are caught in the session; this is the
      // last line so that one never ends the process silently.
      for (;;) {
        try {
          ioc->run();
          return;
        } catch (...) {
        }
      }
    });
  }
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl)));
}

bool HttpServer::Stop() {
  Impl& s = *impl_;
  std::vector<std::shared_ptr<Connection>> connections;
  {
    std::lock_guard lock(s.mu);
    if (s.stopping) {
      // Second call (or the destructor after Stop): already done or in
      // progress on another thread.
      return s.stop_result;
    }
    s.stopping = true;
    s.stopping_flag.store(true);
    for (auto& [ptr, weak] : s.live) {
      if (auto c = weak.lock()) connections.push_back(std::move(c));
    }
  }
  net::post(s.ioc, [&s] {
    beast::error_code ec;
    s.acceptor.close(ec);
  });
  for (auto& c : connections) c->Shutdown();
  connections.clear();  // let sessions die when their work ends
  bool all_done;
  {
    std::unique_lock lock(s.mu);
    all_done = s.cv.wait_for(lock, s.options.shutdown_grace,
                             [&s] { return s.live.empty(); });
    s.stop_result = all_done;
  }
  s.work.reset();
  s.ioc.stop();
  for (auto& t : s.threads) {
    if (t.joinable()) t.join();
  }
  std::lock_guard lock(s.mu);
  s.stopped = true;
  return all_done;
}

}  // namespace pulse::sync_server
