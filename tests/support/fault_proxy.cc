// Implementation notes: one io_context on one thread. A Session owns the
// client socket and the upstream socket and pumps each direction with
// async_read_some / async_write, so each direction has at most one
// operation in flight and the fault logic runs between a read and the
// write that forwards it. Every handler holds a shared_ptr to its Session,
// so a Session lives exactly as long as an operation is pending on it.
#include "support/fault_proxy.h"

#include <algorithm>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

#include <boost/asio.hpp>

namespace pulse::testing {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using boost::system::error_code;

constexpr std::size_t kChunkBytes = 16 * 1024;

}  // namespace

std::string_view FaultName(Fault fault) {
  switch (fault) {
    case Fault::kPass:
      return "pass";
    case Fault::kDelay:
      return "delay";
    case Fault::kDrop:
      return "drop";
    case Fault::kReset:
      return "reset";
    case Fault::kTruncateRequest:
      return "truncate_request";
    case Fault::kTruncateResponse:
      return "truncate_response";
    case Fault::kHalfClose:
      return "half_close";
  }
  return "?";
}

struct FaultProxy::Impl {
  explicit Impl(const FaultProxyOptions& o)
      : options(o), acceptor(io), rng(o.seed), target_port(o.target_port) {
    weights = o.weights;
  }

  struct Session;

  FaultProxyOptions options;
  asio::io_context io;
  tcp::acceptor acceptor;
  std::thread thread;
  std::vector<std::weak_ptr<Session>> sessions;  // I/O thread only

  mutable std::mutex mu;  // guards rng, weights, forced, target_port
  std::mt19937_64 rng;
  FaultWeights weights;
  std::optional<std::pair<Fault, std::optional<std::size_t>>> forced;
  std::uint16_t target_port;
  std::vector<std::pair<Fault, std::size_t>> history;

  std::array<std::atomic<std::uint64_t>, kFaultKinds> assigned{};
  std::array<std::atomic<std::uint64_t>, kFaultKinds> fired{};
  std::atomic<std::uint64_t> connections{0};
  std::atomic<std::uint64_t> bytes_to_target{0};
  std::atomic<std::uint64_t> bytes_from_target{0};
  bool stopped = false;  // guarded by mu

  struct Plan {
    Fault fault = Fault::kPass;
    std::size_t cut = 0;
    std::chrono::milliseconds delay{0};
    std::uint64_t delay_seed = 0;
    std::uint16_t port = 0;
  };

  Plan Draw() {
    std::lock_guard lock(mu);
    Plan plan;
    unsigned total = 0;
    for (unsigned w : weights) total += w;
    if (total > 0) {
      unsigned pick = static_cast<unsigned>(rng() % total);
      for (std::size_t i = 0; i < kFaultKinds; ++i) {
        if (pick < weights[i]) {
          plan.fault = static_cast<Fault>(i);
          break;
        }
        pick -= weights[i];
      }
    }
    plan.cut = static_cast<std::size_t>(rng() % (options.max_cut_bytes + 1));
    const auto max_delay = std::max<std::int64_t>(1, options.max_delay.count());
    plan.delay = std::chrono::milliseconds(
        static_cast<std::int64_t>(rng() % static_cast<std::uint64_t>(max_delay)));
    plan.delay_seed = rng();
    if (forced) {
      plan.fault = forced->first;
      if (forced->second) plan.cut = *forced->second;
      forced.reset();
    }
    plan.port = target_port;
    history.emplace_back(plan.fault, plan.cut);
    return plan;
  }

  void Fired(Fault f) { fired[static_cast<std::size_t>(f)]++; }

  void Accept();
};

struct FaultProxy::Impl::Session
    : std::enable_shared_from_this<FaultProxy::Impl::Session> {
  Session(Impl& owner, tcp::socket socket, const Plan& p)
      : proxy(owner),
        plan(p),
        client(std::move(socket)),
        server(owner.io),
        up_timer(owner.io),
        down_timer(owner.io),
        delay_rng(p.delay_seed) {}

  Impl& proxy;
  Plan plan;
  tcp::socket client;
  tcp::socket server;
  asio::steady_timer up_timer, down_timer;
  std::mt19937_64 delay_rng;
  std::array<char, kChunkBytes> up_buf{}, down_buf{};
  std::uint64_t up_sent = 0, down_sent = 0;
  bool up_done = false, down_done = false, closed = false, fired = false;

  void Fire() {
    if (!fired) {
      fired = true;
      proxy.Fired(plan.fault);
    }
  }

  void Begin() {
    auto self = shared_from_this();
    if (plan.fault == Fault::kDrop) {
      Fire();
      Close();
      return;
    }
    if (plan.fault == Fault::kDelay && plan.delay.count() > 0) {
      Fire();
      up_timer.expires_after(plan.delay);
      up_timer.async_wait([self](const error_code& ec) {
        if (ec || self->closed) return;
        self->Connect();
      });
      return;
    }
    Connect();
  }

  void Connect() {
    auto self = shared_from_this();
    error_code ec;
    const auto address = asio::ip::make_address(proxy.options.target_host, ec);
    if (ec) {
      Close();
      return;
    }
    server.async_connect(tcp::endpoint(address, plan.port),
                         [self](const error_code& e) {
                           if (e || self->closed) {
                             self->Close();
                             return;
                           }
                           self->ReadUp();
                           self->ReadDown();
                         });
  }

  // --- client -> server ---
  void ReadUp() {
    if (closed || up_done) return;
    auto self = shared_from_this();
    client.async_read_some(
        asio::buffer(up_buf), [self](const error_code& ec, std::size_t n) {
          if (self->closed) return;
          if (ec) {
            if (ec == asio::error::eof) {
              self->EndUp();
            } else {
              self->Close();
            }
            return;
          }
          self->ForwardUp(n);
        });
  }

  void ForwardUp(std::size_t n) {
    std::size_t allowed = n;
    bool cut_after = false;
    if (plan.fault == Fault::kTruncateRequest) {
      const std::uint64_t left = plan.cut > up_sent ? plan.cut - up_sent : 0;
      if (left <= n) {
        allowed = static_cast<std::size_t>(left);
        cut_after = true;
      }
    } else if (plan.fault == Fault::kReset) {
      const std::uint64_t sent = up_sent + down_sent;
      const std::uint64_t left = plan.cut > sent ? plan.cut - sent : 0;
      if (left <= n) {
        allowed = static_cast<std::size_t>(left);
        cut_after = true;
      }
    } else if (plan.fault == Fault::kHalfClose) {
      cut_after = true;
    }
    auto after = [self = shared_from_this(), cut_after] {
      if (!cut_after) {
        self->ReadUp();
        return;
      }
      self->Fire();
      if (self->plan.fault == Fault::kReset) {
        self->Reset();
      } else {
        // Truncated request / half-close: end-of-stream upstream, keep
        // relaying the response, discard what the client sends later.
        self->EndUp();
      }
    };
    Write(server, up_timer, up_buf.data(), allowed, &up_sent,
          proxy.bytes_to_target, std::move(after));
  }

  void EndUp() {
    up_done = true;
    error_code ignored;
    server.shutdown(tcp::socket::shutdown_send, ignored);
    if (down_done) Close();
  }

  // --- server -> client ---
  void ReadDown() {
    if (closed || down_done) return;
    auto self = shared_from_this();
    server.async_read_some(
        asio::buffer(down_buf), [self](const error_code& ec, std::size_t n) {
          if (self->closed) return;
          if (ec) {
            // The server closed (or failed): so does the client's side.
            self->Close();
            return;
          }
          self->ForwardDown(n);
        });
  }

  void ForwardDown(std::size_t n) {
    std::size_t allowed = n;
    bool cut_after = false;
    if (plan.fault == Fault::kTruncateResponse) {
      const std::uint64_t left =
          plan.cut > down_sent ? plan.cut - down_sent : 0;
      if (left <= n) {
        allowed = static_cast<std::size_t>(left);
        cut_after = true;
      }
    } else if (plan.fault == Fault::kReset) {
      const std::uint64_t sent = up_sent + down_sent;
      const std::uint64_t left = plan.cut > sent ? plan.cut - sent : 0;
      if (left <= n) {
        allowed = static_cast<std::size_t>(left);
        cut_after = true;
      }
    }
    auto after = [self = shared_from_this(), cut_after] {
      if (!cut_after) {
        self->ReadDown();
        return;
      }
      self->Fire();
      if (self->plan.fault == Fault::kReset) {
        self->Reset();
      } else {
        self->Close();
      }
    };
    Write(client, down_timer, down_buf.data(), allowed, &down_sent,
          proxy.bytes_from_target, std::move(after));
  }

  // Writes `n` bytes of `data` to `to` (after a random pause for kDelay),
  // counts them, then runs `then`.
  template <typename Then>
  void Write(tcp::socket& to, asio::steady_timer& timer, const char* data,
             std::size_t n, std::uint64_t* sent,
             std::atomic<std::uint64_t>& total, Then then) {
    auto self = shared_from_this();
    auto write = [self, &to, data, n, sent, &total, then]() mutable {
      if (self->closed) return;
      if (n == 0) {
        then();
        return;
      }
      asio::async_write(to, asio::buffer(data, n),
                        [self, sent, &total, then](const error_code& ec,
                                                   std::size_t written) mutable {
                          if (self->closed) return;
                          if (ec) {
                            self->Close();
                            return;
                          }
                          *sent += written;
                          total += written;
                          then();
                        });
    };
    if (plan.fault == Fault::kDelay && plan.delay.count() > 0) {
      const auto pause = std::chrono::milliseconds(static_cast<std::int64_t>(
          delay_rng() % static_cast<std::uint64_t>(plan.delay.count() / 4 + 1)));
      timer.expires_after(pause);
      timer.async_wait([self, write](const error_code& ec) mutable {
        if (ec || self->closed) return;
        write();
      });
      return;
    }
    write();
  }

  void Close() {
    if (closed) return;
    closed = true;
    error_code ignored;
    up_timer.cancel();
    down_timer.cancel();
    client.shutdown(tcp::socket::shutdown_both, ignored);
    client.close(ignored);
    server.shutdown(tcp::socket::shutdown_both, ignored);
    server.close(ignored);
  }

  // Abortive close: SO_LINGER 0 makes close() send RST.
  void Reset() {
    if (closed) return;
    error_code ignored;
    client.set_option(asio::socket_base::linger(true, 0), ignored);
    server.set_option(asio::socket_base::linger(true, 0), ignored);
    closed = true;
    up_timer.cancel();
    down_timer.cancel();
    client.close(ignored);
    server.close(ignored);
  }
};

void FaultProxy::Impl::Accept() {
  acceptor.async_accept([this](const error_code& ec, tcp::socket socket) {
    if (ec) {
      if (ec == asio::error::operation_aborted || !acceptor.is_open()) return;
      Accept();
      return;
    }
    const Plan plan = Draw();
    connections++;
    assigned[static_cast<std::size_t>(plan.fault)]++;
    auto session = std::make_shared<Session>(*this, std::move(socket), plan);
    std::erase_if(sessions, [](const std::weak_ptr<Session>& s) {
      return s.expired();
    });
    sessions.push_back(session);
    session->Begin();
    Accept();
  });
}

FaultProxy::FaultProxy(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Result<std::unique_ptr<FaultProxy>> FaultProxy::Start(
    const FaultProxyOptions& options) {
  auto impl = std::make_unique<Impl>(options);
  error_code ec;
  const tcp::endpoint endpoint(asio::ip::make_address("127.0.0.1"), 0);
  impl->acceptor.open(endpoint.protocol(), ec);
  if (!ec) impl->acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) impl->acceptor.bind(endpoint, ec);
  if (!ec) impl->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return Fail(ErrorCode::kIoError, "fault proxy: listen: " + ec.message());
  }
  impl->Accept();
  Impl* raw = impl.get();
  impl->thread = std::thread([raw] { raw->io.run(); });
  return std::unique_ptr<FaultProxy>(new FaultProxy(std::move(impl)));
}

FaultProxy::~FaultProxy() { Stop(); }

std::uint16_t FaultProxy::port() const {
  error_code ec;
  return impl_->acceptor.local_endpoint(ec).port();
}

void FaultProxy::SetWeights(const FaultWeights& weights) {
  std::lock_guard lock(impl_->mu);
  impl_->weights = weights;
}

void FaultProxy::ForceNext(Fault fault, std::optional<std::size_t> cut_bytes) {
  std::lock_guard lock(impl_->mu);
  impl_->forced.emplace(fault, cut_bytes);
}

void FaultProxy::SetTargetPort(std::uint16_t port) {
  std::lock_guard lock(impl_->mu);
  impl_->target_port = port;
}

FaultCounts FaultProxy::Counts() const {
  FaultCounts c;
  for (std::size_t i = 0; i < kFaultKinds; ++i) {
    c.assigned[i] = impl_->assigned[i].load();
    c.fired[i] = impl_->fired[i].load();
  }
  c.connections = impl_->connections.load();
  c.bytes_to_target = impl_->bytes_to_target.load();
  c.bytes_from_target = impl_->bytes_from_target.load();
  return c;
}

std::vector<std::pair<Fault, std::size_t>> FaultProxy::History() const {
  std::lock_guard lock(impl_->mu);
  return impl_->history;
}

void FaultProxy::Stop() {
  {
    std::lock_guard lock(impl_->mu);
    if (impl_->stopped) return;
    impl_->stopped = true;
  }
  Impl* impl = impl_.get();
  asio::post(impl->io, [impl] {
    error_code ignored;
    impl->acceptor.close(ignored);
    for (auto& weak : impl->sessions) {
      if (auto s = weak.lock()) s->Close();
    }
  });
  if (impl->thread.joinable()) impl->thread.join();
}

}  // namespace pulse::testing
