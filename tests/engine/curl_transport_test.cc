// CurlTransport against a raw TCP peer on loopback that answers with exactly
// the bytes a test gives it, then closes: what a link cut at a chosen byte
// looks like to the client. A cut response must be an I/O error (the sync
// client retries those), never a response with a short body (which it would
// call malformed).
#include "pulse/engine/curl_transport.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <string>
#include <thread>

namespace pulse::engine {
namespace {

// Accepts one connection, reads the request (until the blank line and the
// body it announces, or a pause), writes `answer`, closes.
class OneShotPeer {
 public:
  explicit OneShotPeer(std::string answer) : answer_(std::move(answer)) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    EXPECT_EQ(bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    EXPECT_EQ(listen(fd_, 1), 0);
    socklen_t len = sizeof addr;
    getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { Serve(); });
  }
  ~OneShotPeer() {
    thread_.join();
    close(fd_);
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

 private:
  void Serve() {
    const int c = accept(fd_, nullptr, nullptr);
    if (c < 0) return;
    std::string got;
    char buf[4096];
    while (got.find("\r\n\r\n") == std::string::npos) {
      const ssize_t n = recv(c, buf, sizeof buf, 0);
      if (n <= 0) break;
      got.append(buf, static_cast<std::size_t>(n));
    }
    (void)!write(c, answer_.data(), answer_.size());
    close(c);
  }

  std::string answer_;
  int fd_ = -1;
  int port_ = 0;
  std::thread thread_;
};

Result<HttpResponse> Get(const OneShotPeer& peer) {
  CurlTransportOptions options;
  options.base_url = peer.url();
  options.connect_timeout = std::chrono::seconds(5);
  options.total_timeout = std::chrono::seconds(10);
  auto transport = CurlTransport::Create(options);
  EXPECT_TRUE(transport) << transport.error().ToString();
  return (*transport)->Send(HttpRequest{"GET", "/api/v1/sync/pull?cursor=0", {}, {}});
}

TEST(CurlTransportTest, ACompleteResponseIsReturned) {
  OneShotPeer peer(
      "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
      "Content-Length: 11\r\nConnection: close\r\n\r\n{\"a\":true}\n");
  auto r = Get(peer);
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "{\"a\":true}\n");
}

TEST(CurlTransportTest, AResponseCutInsideItsHeadersIsAnIoError) {
  // libcurl alone calls this a 200 with an empty body.
  for (const std::string cut :
       {"HTTP/1.1 200 OK\r\n", "HTTP/1.1 200 OK\r\nContent-Type: applic",
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"}) {
    OneShotPeer peer(cut);
    auto r = Get(peer);
    ASSERT_FALSE(r) << "cut after " << cut.size() << " bytes: status "
                    << r->status;
    EXPECT_EQ(r.error().code(), ErrorCode::kIoError) << r.error().ToString();
    EXPECT_NE(r.error().message().find("inside the response headers"),
              std::string::npos)
        << r.error().message();
  }
}

TEST(CurlTransportTest, AResponseCutInsideItsBodyIsAnIoError) {
  OneShotPeer peer(
      "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"changes\":[");
  auto r = Get(peer);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), ErrorCode::kIoError) << r.error().ToString();
}

}  // namespace
}  // namespace pulse::engine
