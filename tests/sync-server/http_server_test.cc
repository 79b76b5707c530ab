// HttpServer (sync-server/include/pulse/sync_server/http_server.h): the
// real Beast server on 127.0.0.1, an OS-chosen port, in-process, with a
// small synchronous Beast client. The store is a minimal in-memory
// CentralStore whose Pull can be held open to test a graceful stop.
#include "pulse/sync_server/http_server.h"

#include <atomic>
#include <condition_variable>
#include <future>
#include <mutex>
#include <thread>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <gtest/gtest.h>

#include "pulse/engine/hash.h"
#include "pulse/engine/sync_protocol.h"
#include "pulse/engine/uuid.h"

namespace pulse::sync_server {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

const std::string kToken(64, 'a');

// One signed-in clinician; Pull waits while the gate is closed.
class GatedStore final : public CentralStore {
 public:
  GatedStore() {
    user_.id = engine::NewUuidV7().ToString();
    user_.username = "nurse";
    user_.role = engine::Role::kClinician;
    user_.site = engine::NewUuidV7().ToString();
    user_.active = true;
    const auto bytes = *engine::HexDecode(kToken);
    token_hash_ = engine::HexEncode(engine::Blake2b256(bytes));
  }
  void CloseGate() {
    std::lock_guard lock(mu_);
    open_ = false;
  }
  void OpenGate() {
    {
      std::lock_guard lock(mu_);
      open_ = true;
    }
    cv_.notify_all();
  }
  // Waits until a Pull is blocked on the gate.
  void WaitForWaiter() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [this] { return waiting_ > 0; });
  }

  Result<std::optional<StoredUser>> FindUserByName(std::string_view) override {
    return std::optional<StoredUser>();
  }
  Result<std::optional<StoredUser>> FindUserById(std::string_view) override {
    return std::optional<StoredUser>(user_);
  }
  Status CreateSession(const Session&) override { return OkStatus(); }
  Result<std::optional<Session>> FindSession(std::string_view hash) override {
    if (hash != token_hash_) return std::optional<Session>();
    Session s;
    s.token_hash = token_hash_;
    s.user_id = user_.id;
    s.role = user_.role;
    s.site = user_.site;
    s.last_seen_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
    s.created_ms = s.last_seen_ms;
    s.expires_ms = s.last_seen_ms + 3'600'000;
    return std::optional<Session>(s);
  }
  Status TouchSession(std::string_view, std::int64_t) override {
    return OkStatus();
  }
  Status RevokeSession(std::string_view) override { return OkStatus(); }
  Result<IngestResult> IngestBatch(const IngestRequest&,
                                   const EntryAuthorizer&) override {
    return IngestResult{};
  }
  Result<PullPage> Pull(std::string_view, std::int64_t cursor, int) override {
    std::unique_lock lock(mu_);
    ++waiting_;
    cv_.notify_all();
    cv_.wait(lock, [this] { return open_; });
    --waiting_;
    PullPage page;
    page.next_cursor = cursor;
    return page;
  }
  Status NoteSiteSync(std::string_view, bool, std::int64_t) override {
    return OkStatus();
  }

 private:
  StoredUser user_;
  std::string token_hash_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = true;
  int waiting_ = 0;
};

class HttpServerTest : public ::testing::Test {
 protected:
  void SetUp() override { StartServer({}); }

  void StartServer(HttpServerOptions options) {
    ServiceOptions so;
    so.store = &store_;
    so.dummy_hash_cost = engine::kTestPasswordHashCost;
    so.log_sink = [](std::string_view) {};
    service_ = *SyncService::Create(so);
    options.address = "127.0.0.1";
    options.port = 0;
    options.threads = 2;
    auto server = HttpServer::Start(*service_, options);
    ASSERT_TRUE(server) << server.error().ToString();
    server_ = std::move(*server);
    ASSERT_NE(server_->port(), 0);
  }

  tcp::socket Connect() {
    tcp::socket socket(ioc_);
    socket.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"),
                                 server_->port()));
    return socket;
  }

  static http::response<http::string_body> RoundTrip(
      tcp::socket& socket, http::verb verb, const std::string& target,
      bool keep_alive = true) {
    http::request<http::string_body> req{verb, target, 11};
    req.set(http::field::host, "127.0.0.1");
    if (target.starts_with("/api/")) {
      req.set(http::field::authorization, "Bearer " + kToken);
    }
    req.keep_alive(keep_alive);
    http::write(socket, req);
    beast::flat_buffer buffer;
    http::response<http::string_body> res;
    http::read(socket, buffer, res);
    return res;
  }

  // Sends raw bytes and reads one response.
  http::response<http::string_body> RawExchange(tcp::socket& socket,
                                                const std::string& bytes) {
    net::write(socket, net::buffer(bytes));
    beast::flat_buffer buffer;
    http::response<http::string_body> res;
    http::read(socket, buffer, res);
    return res;
  }

  bool HealthzOk() {
    tcp::socket s = Connect();
    return RoundTrip(s, http::verb::get, "/healthz").result_int() == 200;
  }

  net::io_context ioc_;
  GatedStore store_;
  std::unique_ptr<SyncService> service_;
  std::unique_ptr<HttpServer> server_;
};

TEST_F(HttpServerTest, HealthzAnswers200) {
  tcp::socket s = Connect();
  auto res = RoundTrip(s, http::verb::get, "/healthz");
  EXPECT_EQ(res.result_int(), 200);
  EXPECT_EQ(res.body(), "ok\n");
  EXPECT_EQ(res["X-Request-Id"].size(), 16u);  // minted by the server
}

TEST_F(HttpServerTest, KeepAliveServesSeveralRequestsOnOneConnection) {
  tcp::socket s = Connect();
  for (int i = 0; i < 5; ++i) {
    auto res = RoundTrip(s, http::verb::get,
                         i % 2 ? "/api/v1/sync/pull?limit=3" : "/healthz");
    ASSERT_EQ(res.result_int(), 200) << i << " " << res.body();
    EXPECT_TRUE(res.keep_alive());
  }
  auto unknown = RoundTrip(s, http::verb::get, "/nowhere");
  EXPECT_EQ(unknown.result_int(), 404);
  EXPECT_EQ(unknown[http::field::content_type], "application/problem+json");
  EXPECT_EQ(RoundTrip(s, http::verb::get, "/healthz").result_int(), 200);
  EXPECT_EQ(server_->open_connections(), 1u);
}

TEST_F(HttpServerTest, BodyOverLimitIs413AndServerKeepsServing) {
  tcp::socket s = Connect();
  const std::string head =
      "POST /api/v1/sync/push HTTP/1.1\r\nHost: x\r\n"
      "Content-Type: application/json\r\nContent-Length: " +
      std::to_string(engine::sync::kMaxRequestBodyBytes + 1) + "\r\n\r\n";
  auto res = RawExchange(s, head + std::string(4096, '{'));
  EXPECT_EQ(res.result_int(), 413);
  EXPECT_EQ(res[http::field::content_type], "application/problem+json");
  auto problem = engine::sync::DecodeProblem(res.body());
  ASSERT_TRUE(problem);
  EXPECT_EQ(problem->status, 413);
  EXPECT_FALSE(res.keep_alive());
  EXPECT_TRUE(HealthzOk());
}

TEST_F(HttpServerTest, StreamedBodyOverSmallLimitIs413) {
  server_.reset();
  HttpServerOptions options;
  options.body_limit = 1024;
  StartServer(options);
  tcp::socket s = Connect();
  // Chunked: the size is only known while reading.
  std::string bytes =
      "POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\n"
      "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (int i = 0; i < 4; ++i) bytes += "200\r\n" + std::string(512, 'x') + "\r\n";
  bytes += "0\r\n\r\n";
  EXPECT_EQ(RawExchange(s, bytes).result_int(), 413);
  EXPECT_TRUE(HealthzOk());
}

TEST_F(HttpServerTest, GarbageRequestIs400AndServerKeepsServing) {
  tcp::socket s = Connect();
  auto res = RawExchange(s, "HELLO \x01\x02 WORLD\r\n\r\n");
  EXPECT_EQ(res.result_int(), 400);
  EXPECT_FALSE(res.keep_alive());
  EXPECT_TRUE(HealthzOk());
  // The transport's answers are counted too.
  tcp::socket m = Connect();
  const std::string metrics = RoundTrip(m, http::verb::get, "/metrics").body();
  EXPECT_NE(metrics.find("route=\"(transport)\",method=\"OTHER\",status=\"400\""),
            std::string::npos)
      << metrics;
}

// A request cut by the link (the peer half-closes mid-body) is not a
// malformed request: no 400, just the end of the connection, so that the
// client sees a transport error and retries.
TEST_F(HttpServerTest, ARequestCutMidBodyGetsNoAnswer) {
  tcp::socket s = Connect();
  net::write(s, net::buffer(std::string(
                    "POST /api/v1/sync/push HTTP/1.1\r\nHost: x\r\n"
                    "Content-Type: application/json\r\n"
                    "Content-Length: 100\r\n\r\n{\"batch_id\":")));
  s.shutdown(tcp::socket::shutdown_send);
  std::string got;
  beast::error_code ec;
  char buf[512];
  for (;;) {
    const std::size_t n = s.read_some(net::buffer(buf), ec);
    got.append(buf, n);
    if (ec) break;
  }
  EXPECT_EQ(ec, net::error::eof) << ec.message();
  EXPECT_EQ(got, "");
  EXPECT_TRUE(HealthzOk());
}

TEST_F(HttpServerTest, OversizedHeaderIs431) {
  tcp::socket s = Connect();
  auto res = RawExchange(s, "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " +
                                std::string(9000, 'a') + "\r\n\r\n");
  EXPECT_EQ(res.result_int(), 431);
  EXPECT_TRUE(HealthzOk());
}

TEST_F(HttpServerTest, RefusesNonLoopbackWithoutTls) {
  HttpServerOptions options;
  options.address = "0.0.0.0";
  auto server = HttpServer::Start(*service_, options);
  ASSERT_FALSE(server);
  EXPECT_EQ(server.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(server.error().message().find("loopback"), std::string::npos);
  options.address = "not-an-address";
  EXPECT_FALSE(HttpServer::Start(*service_, options));
}

TEST_F(HttpServerTest, BindConflictIsClearError) {
  HttpServerOptions options;
  options.port = server_->port();
  auto second = HttpServer::Start(*service_, options);
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().code(), ErrorCode::kIoError);
  EXPECT_NE(second.error().message().find("bind"), std::string::npos);
}

TEST_F(HttpServerTest, GracefulStopFinishesRequestInFlight) {
  tcp::socket idle = Connect();  // an idle keep-alive connection
  ASSERT_EQ(RoundTrip(idle, http::verb::get, "/healthz").result_int(), 200);

  store_.CloseGate();
  auto in_flight = std::async(std::launch::async, [this] {
    tcp::socket s = Connect();
    return RoundTrip(s, http::verb::get, "/api/v1/sync/pull");
  });
  store_.WaitForWaiter();  // the request is inside the handler
  auto stopped = std::async(std::launch::async, [this] { return server_->Stop(); });
  // Stop waits for the request: it has not returned while the gate is shut.
  EXPECT_EQ(stopped.wait_for(std::chrono::milliseconds(300)),
            std::future_status::timeout);
  store_.OpenGate();
  auto res = in_flight.get();
  EXPECT_EQ(res.result_int(), 200) << res.body();
  EXPECT_FALSE(res.keep_alive());  // told the connection ends
  EXPECT_TRUE(stopped.get());      // every connection ended in time
  // The listener is closed.
  tcp::socket s(ioc_);
  beast::error_code ec;
  s.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), server_->port()),
            ec);
  EXPECT_TRUE(ec);
  // And the idle connection was closed, not left hanging.
  beast::flat_buffer buffer;
  http::response<http::string_body> res2;
  http::read(idle, buffer, res2, ec);
  EXPECT_TRUE(ec);
}

}  // namespace
}  // namespace pulse::sync_server
