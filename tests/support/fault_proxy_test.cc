// The fault proxy does what it claims, byte for byte, against a real TCP
// peer: a blocking "upstream" that records what it received and answers
// with a known body. Each fault is forced on one connection and its effect
// on both ends is checked, so the e2e fault tests can trust what the
// proxy's counters say was injected.
#include "support/fault_proxy.h"

#include <atomic>
#include <chrono>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio.hpp>
#include <gtest/gtest.h>

namespace pulse::testing {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using boost::system::error_code;

constexpr std::size_t kRequestBytes = 10'000;
constexpr std::size_t kResponseBytes = 20'000;

std::string Pattern(std::size_t n, char seed) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>(seed + i % 53);
  return s;
}

// Upstream: per connection, reads until end-of-stream (or an error), then
// answers kResponseBytes and closes. Records what each connection received.
class Upstream {
 public:
  Upstream() : acceptor_(io_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)) {
    thread_ = std::thread([this] { Run(); });
  }
  ~Upstream() {
    stop_ = true;
    error_code ignored;
    // Wake the blocking accept with a throwaway connection.
    tcp::socket poke(io_);
    poke.connect(acceptor_.local_endpoint(), ignored);
    thread_.join();
  }
  std::uint16_t port() const { return acceptor_.local_endpoint().port(); }
  std::vector<std::string> Received() {
    std::lock_guard lock(mu_);
    return received_;
  }

 private:
  void Run() {
    while (!stop_) {
      tcp::socket s(io_);
      error_code ec;
      acceptor_.accept(s, ec);
      if (ec || stop_) break;
      std::string got;
      std::array<char, 4096> buf;
      for (;;) {
        const std::size_t n = s.read_some(asio::buffer(buf), ec);
        got.append(buf.data(), n);
        if (ec) break;
      }
      const bool clean_eof = ec == asio::error::eof;
      {
        std::lock_guard lock(mu_);
        received_.push_back(got);
      }
      if (clean_eof) asio::write(s, asio::buffer(Pattern(kResponseBytes, 'a')), ec);
      s.close(ec);
    }
  }

  asio::io_context io_;
  tcp::acceptor acceptor_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::vector<std::string> received_;
};

struct Exchange {
  std::string response;
  error_code read_error;  // how the response stream ended
};

// Sends `request`, optionally half-closes, then reads until the stream ends.
Exchange Talk(std::uint16_t port, const std::string& request, bool shutdown_send) {
  asio::io_context io;
  tcp::socket s(io);
  s.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  error_code ec;
  asio::write(s, asio::buffer(request), ec);
  if (shutdown_send) s.shutdown(tcp::socket::shutdown_send, ec);
  Exchange out;
  std::array<char, 4096> buf;
  for (;;) {
    const std::size_t n = s.read_some(asio::buffer(buf), out.read_error);
    out.response.append(buf.data(), n);
    if (out.read_error) break;
  }
  return out;
}

class FaultProxyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    FaultProxyOptions options;
    options.target_port = upstream_.port();
    options.seed = 42;
    auto proxy = FaultProxy::Start(options);
    ASSERT_TRUE(proxy.has_value()) << proxy.error().ToString();
    proxy_ = std::move(*proxy);
  }
  std::uint64_t Fired(Fault f) {
    return proxy_->Counts().fired[static_cast<std::size_t>(f)];
  }

  Upstream upstream_;
  std::unique_ptr<FaultProxy> proxy_;
  const std::string request_ = Pattern(kRequestBytes, 'A');
};

TEST_F(FaultProxyTest, PassForwardsBothWaysUntouched) {
  const Exchange x = Talk(proxy_->port(), request_, true);
  EXPECT_EQ(x.read_error, asio::error::eof);
  EXPECT_EQ(x.response, Pattern(kResponseBytes, 'a'));
  ASSERT_EQ(upstream_.Received().size(), 1u);
  EXPECT_EQ(upstream_.Received()[0], request_);
  const FaultCounts c = proxy_->Counts();
  EXPECT_EQ(c.connections, 1u);
  EXPECT_EQ(c.assigned[0], 1u);
  EXPECT_EQ(c.bytes_to_target, kRequestBytes);
  EXPECT_EQ(c.bytes_from_target, kResponseBytes);
}

TEST_F(FaultProxyTest, DropClosesWithoutReachingTheTarget) {
  proxy_->ForceNext(Fault::kDrop);
  const Exchange x = Talk(proxy_->port(), request_, true);
  EXPECT_TRUE(x.response.empty());
  EXPECT_TRUE(x.read_error);
  EXPECT_EQ(Fired(Fault::kDrop), 1u);
  // The next connection draws again (weights: pass) and goes through.
  EXPECT_EQ(Talk(proxy_->port(), request_, true).response.size(), kResponseBytes);
  ASSERT_EQ(upstream_.Received().size(), 1u);
}

TEST_F(FaultProxyTest, TruncatedRequestEndsUpstreamAfterKBytes) {
  proxy_->ForceNext(Fault::kTruncateRequest, 1234);
  const Exchange x = Talk(proxy_->port(), request_, true);
  ASSERT_EQ(upstream_.Received().size(), 1u);
  EXPECT_EQ(upstream_.Received()[0], request_.substr(0, 1234));
  // The upstream saw end-of-stream and answered: the answer still flows.
  EXPECT_EQ(x.response, Pattern(kResponseBytes, 'a'));
  EXPECT_EQ(Fired(Fault::kTruncateRequest), 1u);
}

TEST_F(FaultProxyTest, TruncatedResponseEndsTheClientStreamAfterKBytes) {
  proxy_->ForceNext(Fault::kTruncateResponse, 777);
  const Exchange x = Talk(proxy_->port(), request_, true);
  EXPECT_EQ(x.response, Pattern(kResponseBytes, 'a').substr(0, 777));
  EXPECT_EQ(x.read_error, asio::error::eof);
  EXPECT_EQ(upstream_.Received().at(0), request_);
  EXPECT_EQ(Fired(Fault::kTruncateResponse), 1u);
}

TEST_F(FaultProxyTest, ResetAbortsBothSidesMidStream) {
  proxy_->ForceNext(Fault::kReset, 3000);
  const Exchange x = Talk(proxy_->port(), request_, false);
  EXPECT_EQ(x.read_error, asio::error::connection_reset) << x.read_error.message();
  EXPECT_TRUE(x.response.empty());
  // The upstream got at most k bytes before the reset.
  for (int i = 0; i < 100 && upstream_.Received().empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_EQ(upstream_.Received().size(), 1u);
  EXPECT_LE(upstream_.Received()[0].size(), 3000u);
  EXPECT_EQ(upstream_.Received()[0], request_.substr(0, upstream_.Received()[0].size()));
  EXPECT_EQ(Fired(Fault::kReset), 1u);
}

TEST_F(FaultProxyTest, HalfCloseEndsTheRequestStreamButRelaysTheAnswer) {
  proxy_->ForceNext(Fault::kHalfClose);
  // The client never half-closes itself: only the proxy's FIN lets the
  // upstream answer.
  const Exchange x = Talk(proxy_->port(), request_, false);
  EXPECT_EQ(x.response, Pattern(kResponseBytes, 'a'));
  ASSERT_EQ(upstream_.Received().size(), 1u);
  EXPECT_FALSE(upstream_.Received()[0].empty());
  EXPECT_EQ(upstream_.Received()[0], request_.substr(0, upstream_.Received()[0].size()));
  EXPECT_EQ(Fired(Fault::kHalfClose), 1u);
}

TEST_F(FaultProxyTest, DelayDelaysButDeliversEverything) {
  proxy_->ForceNext(Fault::kDelay);
  const Exchange x = Talk(proxy_->port(), request_, true);
  EXPECT_EQ(x.response, Pattern(kResponseBytes, 'a'));
  EXPECT_EQ(upstream_.Received().at(0), request_);
  EXPECT_EQ(proxy_->Counts().assigned[static_cast<std::size_t>(Fault::kDelay)], 1u);
}

TEST_F(FaultProxyTest, TheSeedFixesTheSequenceOfFaults) {
  FaultProxyOptions options;
  options.target_port = upstream_.port();
  options.seed = 7;
  options.weights = {1, 1, 1, 1, 1, 1, 1};
  options.max_delay = std::chrono::milliseconds(5);
  std::vector<std::vector<std::pair<Fault, std::size_t>>> runs;
  for (int run = 0; run < 2; ++run) {
    auto proxy = FaultProxy::Start(options).value();
    for (int i = 0; i < 20; ++i) Talk(proxy->port(), request_, true);
    runs.push_back(proxy->History());
  }
  ASSERT_EQ(runs[0].size(), 20u);
  EXPECT_EQ(runs[0], runs[1]);
  std::set<Fault> kinds;
  for (const auto& [fault, cut] : runs[0]) kinds.insert(fault);
  EXPECT_GE(kinds.size(), 4u);  // the weights are really used
}

TEST_F(FaultProxyTest, StopClosesOpenConnections) {
  asio::io_context io;
  tcp::socket s(io);
  s.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), proxy_->port()));
  asio::write(s, asio::buffer(std::string("partial")));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  proxy_->Stop();
  std::array<char, 16> buf;
  error_code ec;
  s.read_some(asio::buffer(buf), ec);
  EXPECT_TRUE(ec);  // closed, not hanging
}

}  // namespace
}  // namespace pulse::testing
