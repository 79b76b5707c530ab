// HTTPS on the real Beast server (http_server.h with TlsFiles) and the real
// SQLCipher central store, spoken to by the engine's CurlTransport, which
// always verifies the peer. The test's certificate authority is a
// self-signed certificate made with the openssl command (tools/setup
// installs it) for 127.0.0.1 and localhost.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "pulse/engine/curl_transport.h"
#include "pulse/engine/sync_protocol.h"
#include "pulse/sync_server/http_server.h"
#include "pulse/sync_server/service.h"
#include "pulse/sync_server/sqlcipher_central_store.h"
#include "support/temp_dir.h"

namespace pulse::sync_server {
namespace {

namespace fs = std::filesystem;
namespace sync = engine::sync;

constexpr std::string_view kPassword = "Tls-Test-Password-2026";

// A self-signed P-256 certificate for 127.0.0.1 and localhost, 2 days.
void MakeCertificate(const fs::path& dir, const std::string& name) {
  const std::string cmd =
      "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 "
      "-nodes -days 2 -subj /CN=localhost "
      "-addext subjectAltName=IP:127.0.0.1,DNS:localhost "
      "-keyout '" + (dir / (name + ".key")).string() + "' -out '" +
      (dir / (name + ".crt")).string() + "' 2>/dev/null";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
}

class TlsServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    root_ = pulse::testing::TempRoot() / (std::string("tls_") + info->name());
    fs::remove_all(root_);
    fs::create_directories(root_);
    MakeCertificate(root_, "server");
    if (HasFatalFailure()) return;
    CentralStoreOptions o;
    o.kdf = engine::KdfLimits{1, engine::kMinKdfMemLimitBytes};
    o.password_cost = engine::kTestPasswordHashCost;
    auto store = SqlcipherCentralStore::Create(root_ / "central", "pass", o);
    ASSERT_TRUE(store) << store.error().ToString();
    store_ = std::move(*store);
    auto site = store_->AddSite({"Kisumu", "Nyanza", "Africa/Nairobi"}, "");
    ASSERT_TRUE(site);
    ASSERT_TRUE(store_->AddUser(
        {"amina", "Amina K", engine::Role::kClinician, *site, kPassword}, ""));
    ServiceOptions so;
    so.store = store_.get();
    so.dummy_hash_cost = engine::kTestPasswordHashCost;
    so.log_sink = [](std::string_view) {};
    auto service = SyncService::Create(so);
    ASSERT_TRUE(service) << service.error().ToString();
    service_ = std::move(*service);
  }
  void TearDown() override {
    server_.reset();
    service_.reset();
    store_.reset();
    fs::remove_all(root_);
  }

  TlsFiles Files(const std::string& name) const {
    return {(root_ / (name + ".crt")).string(),
            (root_ / (name + ".key")).string()};
  }
  void StartTls(std::string address = "127.0.0.1") {
    HttpServerOptions o;
    o.address = std::move(address);
    o.tls = Files("server");
    auto server = HttpServer::Start(*service_, o);
    ASSERT_TRUE(server) << server.error().ToString();
    server_ = std::move(*server);
  }
  std::unique_ptr<engine::CurlTransport> Client(std::string scheme,
                                                std::string ca_file) {
    engine::CurlTransportOptions o;
    o.base_url = scheme + "://127.0.0.1:" + std::to_string(server_->port());
    o.ca_file = std::move(ca_file);
    o.connect_timeout = std::chrono::seconds(5);
    o.total_timeout = std::chrono::seconds(10);
    auto t = engine::CurlTransport::Create(o);
    EXPECT_TRUE(t) << t.error().ToString();
    return t ? std::move(*t) : nullptr;
  }

  fs::path root_;
  std::unique_ptr<SqlcipherCentralStore> store_;
  std::unique_ptr<SyncService> service_;
  std::unique_ptr<HttpServer> server_;
};

TEST_F(TlsServerTest, LoginAndPullOverVerifiedTls) {
  StartTls();
  auto client = Client("https", (root_ / "server.crt").string());
  ASSERT_NE(client, nullptr);
  engine::HttpRequest login;
  login.method = "POST";
  login.target = "/api/v1/auth/login";
  login.headers = {{"Content-Type", "application/json"}};
  login.body = sync::EncodeLoginRequest({"amina", std::string(kPassword)});
  auto answer = client->Send(login);
  ASSERT_TRUE(answer) << answer.error().ToString();
  ASSERT_EQ(answer->status, 200) << answer->body;
  auto session = sync::DecodeLoginResponse(answer->body);
  ASSERT_TRUE(session);

  engine::HttpRequest pull;
  pull.method = "GET";
  pull.target = "/api/v1/sync/pull?cursor=0&limit=100";
  pull.headers = {{"Authorization", "Bearer " + session->token}};
  auto page = client->Send(pull);
  ASSERT_TRUE(page) << page.error().ToString();
  ASSERT_EQ(page->status, 200) << page->body;
  auto decoded = sync::DecodePullResponse(page->body);
  ASSERT_TRUE(decoded);
  // The site's own row and its user reach the clinic over TLS.
  EXPECT_GE(decoded->changes.size(), 2u);
}

TEST_F(TlsServerTest, AClientThatDoesNotTrustTheCertificateRefusesIt) {
  StartTls();
  MakeCertificate(root_, "stranger");
  // Verification is always on: a different CA, or the system bundle,
  // does not vouch for the server.
  for (const std::string& ca :
       {(root_ / "stranger.crt").string(), std::string()}) {
    auto client = Client("https", ca);
    ASSERT_NE(client, nullptr);
    auto answer = client->Send({"GET", "/healthz", {}, ""});
    ASSERT_FALSE(answer) << "status " << answer->status;
    EXPECT_EQ(answer.error().code(), ErrorCode::kIoError);
  }
}

TEST_F(TlsServerTest, PlainHttpToTheTlsPortGetsNoAnswerAndServerGoesOn) {
  StartTls();
  auto plain = Client("http", "");
  ASSERT_NE(plain, nullptr);
  auto refused = plain->Send({"GET", "/healthz", {}, ""});
  EXPECT_FALSE(refused && refused->status == 200);
  auto client = Client("https", (root_ / "server.crt").string());
  auto ok = client->Send({"GET", "/healthz", {}, ""});
  ASSERT_TRUE(ok) << ok.error().ToString();
  EXPECT_EQ(ok->status, 200);
}

TEST_F(TlsServerTest, TlsAllowsANonLoopbackAddress) {
  StartTls("0.0.0.0");
  ASSERT_NE(server_, nullptr);
  auto client = Client("https", (root_ / "server.crt").string());
  auto ok = client->Send({"GET", "/healthz", {}, ""});
  ASSERT_TRUE(ok) << ok.error().ToString();
  EXPECT_EQ(ok->status, 200);
}

TEST_F(TlsServerTest, BadCertificateFilesAreClearErrors) {
  MakeCertificate(root_, "other");
  HttpServerOptions o;
  o.tls = TlsFiles{(root_ / "server.crt").string(),
                   (root_ / "other.key").string()};
  auto mismatched = HttpServer::Start(*service_, o);
  ASSERT_FALSE(mismatched);
  EXPECT_EQ(mismatched.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(mismatched.error().message().find("mismatch"),
            std::string::npos)
      << mismatched.error().message();

  o.tls = TlsFiles{(root_ / "absent.crt").string(),
                   (root_ / "server.key").string()};
  auto missing = HttpServer::Start(*service_, o);
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message().find("absent.crt"), std::string::npos);

  std::ofstream(root_ / "garbage.key") << "not a key\n";
  o.tls = TlsFiles{(root_ / "server.crt").string(),
                   (root_ / "garbage.key").string()};
  auto garbage = HttpServer::Start(*service_, o);
  ASSERT_FALSE(garbage);
  EXPECT_NE(garbage.error().message().find("garbage.key"), std::string::npos);
}

}  // namespace
}  // namespace pulse::sync_server
