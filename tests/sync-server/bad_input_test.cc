// The bad-input catalogue of issue 5: every malformed, oversized, replayed
// or forbidden request, sent over a real socket to the real Beast server
// and SQLCipher central store, gets the right 4xx with a problem+json body,
// stores nothing, and leaves the server serving: after each case /healthz
// answers and a normal push is accepted.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

#include "pulse/engine/replica.h"
#include "pulse/engine/sync_protocol.h"
#include "pulse/engine/uuid.h"
#include "pulse/sync_server/http_server.h"
#include "pulse/sync_server/service.h"
#include "pulse/sync_server/sqlcipher_blob_store.h"
#include "pulse/sync_server/sqlcipher_central_store.h"
#include "pulse/engine/blob_store.h"
#include "sync-server/server_fixture.h"

namespace pulse::sync_server {
namespace {

namespace fs = std::filesystem;
namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
namespace sync = engine::sync;
using tcp = net::ip::tcp;
using engine::ChangeEntry;

constexpr std::string_view kPassword = "Bad-Input-Password-2026";

struct Answer {
  int status = 0;
  std::string content_type;
  std::string body;
  std::string content_length;
};

class BadInputTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = testing::FreshTempDir("bad_input");
    const CentralStoreOptions o = testing::TestStoreOptions();
    auto store = SqlcipherCentralStore::Create(root_ / "central", "pass", o);
    ASSERT_TRUE(store) << store.error().ToString();
    store_ = std::move(*store);
    site_ = store_->AddSite({"Kisumu", "Nyanza", "Africa/Nairobi"}, "").value();
    other_site_ =
        store_->AddSite({"Eldoret", "Rift", "Africa/Nairobi"}, "").value();
    user_id_ = store_->AddUser({"amina", "Amina K", engine::Role::kTechnician,
                                site_, kPassword},
                               "")
                   .value();
    auto clinic =
        testing::CreateClinicReplica(root_ / "clinic", site_, "clinic", o);
    ASSERT_TRUE(clinic) << clinic.error().ToString();
    clinic_ = std::move(*clinic);

    blobs_ = std::make_unique<SqlcipherBlobStore>(*store_);
    ServiceOptions so = testing::TestServiceOptions(*store_);
    so.blobs = blobs_.get();
    so.log_sink = [](std::string_view line) {
      if (std::getenv("BAD_INPUT_LOG")) fprintf(stderr, "%s\n", std::string(line).c_str());
    };
    service_ = SyncService::Create(so).value();
    HttpServerOptions ho;
    ho.threads = 2;
    ho.read_timeout = std::chrono::seconds(5);
    server_ = HttpServer::Start(*service_, ho).value();

    Answer login = Send("POST", "/api/v1/auth/login",
                        sync::EncodeLoginRequest({"amina", std::string(kPassword)}));
    ASSERT_EQ(login.status, 200) << login.body;
    token_ = sync::DecodeLoginResponse(login.body).value().token;
  }
  void TearDown() override {
    // Every connection of the test has ended: Stop() has nothing to wait for.
    EXPECT_TRUE(server_->Stop());
    server_.reset();
    service_.reset();
    blobs_.reset();
    store_.reset();
    clinic_.reset();
    fs::remove_all(root_);
  }

  // One request on a fresh connection. JSON content type and the bearer
  // token unless the caller overrides them in `headers`.
  Answer Send(const std::string& method, const std::string& target,
              std::string body = "",
              std::vector<std::pair<std::string, std::string>> headers = {}) {
    tcp::socket socket(ioc_);
    socket.connect({net::ip::make_address("127.0.0.1"), server_->port()});
    http::request<http::string_body> req;
    req.method_string(method);
    req.target(target);
    req.version(11);
    req.set(http::field::host, "127.0.0.1");
    bool has_type = false, has_auth = false;
    for (const auto& [name, value] : headers) {
      req.set(name, value);
      has_type |= name == "Content-Type";
      has_auth |= name == "Authorization";
    }
    if (!has_type && !body.empty()) {
      req.set(http::field::content_type, "application/json");
    }
    if (!has_auth && !token_.empty()) {
      req.set(http::field::authorization, "Bearer " + token_);
    }
    req.body() = std::move(body);
    req.prepare_payload();
    head_request_ = method == "HEAD";
    return Exchange(socket, [&] { http::write(socket, req); });
  }

  // Raw bytes on a fresh connection.
  Answer SendRaw(const std::string& bytes) {
    tcp::socket socket(ioc_);
    socket.connect({net::ip::make_address("127.0.0.1"), server_->port()});
    head_request_ = false;
    return Exchange(socket, [&] { net::write(socket, net::buffer(bytes)); });
  }

  Answer Exchange(tcp::socket& socket, const std::function<void()>& write) {
    beast::error_code ec;
    try {
      write();
    } catch (const std::exception&) {
      // The server may answer (413) and close before the whole body is
      // written; the answer is still there to read.
    }
    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.skip(head_request_);  // a HEAD answer has no body to read
    http::read(socket, buffer, parser, ec);
    if (ec) return Answer{0, "", ec.message(), ""};
    auto res = parser.release();
    return Answer{static_cast<int>(res.result_int()),
                  std::string(res[http::field::content_type]),
                  std::move(res.body()),
                  std::string(res[http::field::content_length])};
  }

  // `n` new patients written at the clinic: what a normal push carries.
  std::vector<ChangeEntry> Writes(int n, std::string site_id = "") {
    std::vector<ChangeEntry> out;
    for (int i = 0; i < n; ++i) {
      engine::RowWrite w;
      w.table = "patients";
      w.row = clinic_->ids().Next().ToString();
      w.fields["site_id"] = site_id.empty() ? site_ : site_id;
      w.fields["mrn"] = "MRN-" + std::to_string(++mrn_);
      auto entries = clinic_->writer().Commit(std::span(&w, 1), user_id_);
      EXPECT_TRUE(entries) << entries.error().ToString();
      out.insert(out.end(), entries->begin(), entries->end());
    }
    return out;
  }

  sync::PushRequest PushOf(std::vector<ChangeEntry> changes) {
    sync::PushRequest p;
    p.batch_id = engine::NewUuidV7().ToString();
    p.site = site_;
    p.schema_version = kSupportedClinicSchemaVersion;
    p.client_time_ms = NowMs();
    p.changes = std::move(changes);
    return p;
  }
  Answer Push(const sync::PushRequest& p) {
    return Send("POST", "/api/v1/sync/push", sync::EncodePushRequest(p).value());
  }
  static std::int64_t NowMs() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
  std::string Hash() { return store_->StateHash().value(); }

  // The answer is `status` with a problem+json body of that status, the
  // store is as it was, and the server still serves a health check and a
  // normal push.
  void ExpectRefused(const Answer& a, int status, const std::string& before,
                     const std::string& what) {
    SCOPED_TRACE(what);
    EXPECT_EQ(a.status, status) << a.body;
    EXPECT_EQ(a.content_type, "application/problem+json") << a.body;
    auto problem = sync::DecodeProblem(a.body);
    ASSERT_TRUE(problem) << a.body;
    EXPECT_EQ(problem->status, status);
    EXPECT_FALSE(problem->detail.empty());
    EXPECT_EQ(Hash(), before);
    ExpectStillServing();
  }
  void ExpectStillServing() {
    EXPECT_EQ(Send("GET", "/healthz").status, 200);
    Answer ok = Push(PushOf(Writes(1)));
    ASSERT_EQ(ok.status, 200) << ok.body;
    EXPECT_EQ(sync::DecodePushResponse(ok.body).value().accepted, 1);
  }

  fs::path root_;
  net::io_context ioc_;
  std::unique_ptr<SqlcipherCentralStore> store_;
  std::unique_ptr<SqlcipherBlobStore> blobs_;
  std::unique_ptr<engine::ClinicReplica> clinic_;
  std::unique_ptr<SyncService> service_;
  std::unique_ptr<HttpServer> server_;
  std::string site_, other_site_, user_id_, token_;
  int mrn_ = 0;
  bool head_request_ = false;
};

TEST_F(BadInputTest, MalformedBodiesAre400AndStoreNothing) {
  const std::string valid =
      sync::EncodePushRequest(PushOf(Writes(2))).value();
  auto with = [&](const std::function<void(nlohmann::json&)>& edit) {
    auto j = nlohmann::json::parse(valid);
    edit(j);
    return j.dump();
  };
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"malformed JSON", valid.substr(0, valid.size() / 2)},
      {"not an object", "[1,2,3]"},
      {"empty body", " "},
      {"wrong type: batch_id", with([](auto& j) { j["batch_id"] = 5; })},
      {"wrong type: changes", with([](auto& j) { j["changes"] = "none"; })},
      {"wrong type: schema_version",
       with([](auto& j) { j["schema_version"] = "3"; })},
      {"missing field: site", with([](auto& j) { j.erase("site"); })},
      {"missing field: batch_id", with([](auto& j) { j.erase("batch_id"); })},
      {"unknown field", with([](auto& j) { j["priority"] = "high"; })},
      {"batch_id not a UUID", with([](auto& j) { j["batch_id"] = "../x"; })},
      {"change without hlc",
       with([](auto& j) { j["changes"][0].erase("hlc"); })},
      {"change with a text hlc",
       with([](auto& j) { j["changes"][0]["hlc"] = "yesterday"; })},
      {"change of an unknown table",
       with([](auto& j) { j["changes"][0]["table"] = "sqlite_master"; })},
  };
  for (const auto& [what, body] : cases) {
    const std::string before = Hash();
    const auto start = std::chrono::steady_clock::now();
    ExpectRefused(Send("POST", "/api/v1/sync/push", body), 400, before, what);
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(3))
        << what;
  }
  // An op this build does not know comes from a newer protocol
  // (change_log.md §4): the clinic is told to match the server, 426.
  const std::string before = Hash();
  ExpectRefused(Send("POST", "/api/v1/sync/push",
                     with([](auto& j) { j["changes"][0]["op"] = "drop"; })),
                426, before, "change with an unknown op");
}

TEST_F(BadInputTest, HugeBodiesAndBatchesAre413) {
  std::string before = Hash();
  ExpectRefused(Send("POST", "/api/v1/sync/push",
                     std::string(sync::kMaxRequestBodyBytes + 1024, ' ')),
                413, before, "body over 16 MiB");

  // 5 001 copies of one valid entry: refused by count before any merge.
  auto one = Writes(1);
  sync::PushRequest huge = PushOf({});
  huge.changes.assign(sync::kMaxPushChanges + 1, one[0]);
  before = Hash();
  ExpectRefused(Push(huge), 413, before, "batch over 5 000 changes");
}

TEST_F(BadInputTest, ForbiddenAndDriftingPushesAreRefused) {
  std::string before = Hash();
  ExpectRefused(Push(PushOf(Writes(2, other_site_))), 403, before,
                "rows of another site");

  sync::PushRequest wrong_site = PushOf(Writes(1));
  wrong_site.site = other_site_;
  before = Hash();
  ExpectRefused(Push(wrong_site), 403, before, "push naming another site");

  auto future = Writes(1);
  future[0].hlc =
      engine::Hlc::FromParts(NowMs() + 24LL * 3600 * 1000, 0).value();
  before = Hash();
  ExpectRefused(Push(PushOf(future)), 422, before, "stamp a day ahead");

  before = Hash();
  ExpectRefused(Send("POST", "/api/v1/sync/push",
                     sync::EncodePushRequest(PushOf(Writes(1))).value(),
                     {{"Content-Type", "text/plain"}}),
                415, before, "wrong content type");
  before = Hash();
  ExpectRefused(Send("POST", "/api/v1/sync/push",
                     sync::EncodePushRequest(PushOf(Writes(1))).value(),
                     {{"Authorization", "Bearer " + std::string(64, 'f')}}),
                401, before, "forged token");
}

TEST_F(BadInputTest, ReplayedAndReorderedBatchesApplyOnce) {
  // Two edits of one patient, pushed newest first, then both replayed.
  auto created = Writes(1);
  engine::RowWrite edit;
  edit.table = "patients";
  edit.row = created[0].row;
  edit.fields["phone"] = std::string("+254 700 000001");
  auto first = clinic_->writer().Commit(std::span(&edit, 1), user_id_).value();
  edit.fields["phone"] = std::string("+254 700 000002");
  auto second = clinic_->writer().Commit(std::span(&edit, 1), user_id_).value();
  const auto b0 = PushOf(created);
  const auto b1 = PushOf(first);
  const auto b2 = PushOf(second);
  for (const auto* b : {&b0, &b2, &b1}) {
    Answer a = Push(*b);
    ASSERT_EQ(a.status, 200) << a.body;
  }
  const std::string after_once = Hash();
  for (const auto* b : {&b1, &b0, &b2}) {
    Answer a = Push(*b);
    ASSERT_EQ(a.status, 200) << a.body;
    auto r = sync::DecodePushResponse(a.body).value();
    EXPECT_TRUE(r.duplicate);
  }
  EXPECT_EQ(Hash(), after_once);
  // The newer edit won although it arrived first, and each entry is in the
  // global log once.
  Answer pulled = Send("GET", "/api/v1/sync/pull?cursor=0&limit=10000");
  ASSERT_EQ(pulled.status, 200);
  auto page = sync::DecodePullResponse(pulled.body).value();
  int copies = 0;
  for (const ChangeEntry& e : page.changes) {
    for (const auto* b : {&b0, &b1, &b2}) {
      copies += e.id == b->changes[0].id ? 1 : 0;
    }
  }
  EXPECT_EQ(copies, 3);
  ExpectStillServing();
}

TEST_F(BadInputTest, BrokenHttpGetsTransportErrors) {
  std::string before = Hash();
  ExpectRefused(SendRaw("THIS IS NOT HTTP\r\n\r\n"), 400, before, "garbage");
  before = Hash();
  ExpectRefused(SendRaw("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " +
                        std::string(16 * 1024, 'a') + "\r\n\r\n"),
                431, before, "header over 8 KiB");
  before = Hash();
  ExpectRefused(Send("GET", "/api/v1/sync/nothing"), 404, before,
                "unknown endpoint");
  before = Hash();
  ExpectRefused(Send("DELETE", "/api/v1/sync/push"), 405, before,
                "wrong method");
  before = Hash();
  ExpectRefused(Send("GET", "/api/v1/sync/pull?cursor=-1"), 400, before,
                "negative cursor");
  before = Hash();
  ExpectRefused(Send("GET", "/api/v1/sync/pull?limit=100000"), 400, before,
                "limit over the maximum");
  before = Hash();
  ExpectRefused(Send("GET", "/api/v1/sync/pull?curser=1"), 400, before,
                "misspelt parameter");
}

TEST_F(BadInputTest, BlobsWithWrongBytesOrTrickNamesStoreNothing) {
  const std::string bytes = "segment bytes of a twelve-lead recording";
  const std::string id = engine::BlobIdOf(std::span(
      reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()));
  const std::vector<std::pair<std::string, std::string>> octets = {
      {"Content-Type", "application/octet-stream"}};
  std::string before = Hash();
  // Bytes that do not hash to the name: refused, and nothing held.
  ExpectRefused(Send("PUT", "/api/v1/blobs/" + id, bytes + "!", octets), 422,
                before, "bytes not matching the hash");
  EXPECT_EQ(Send("HEAD", "/api/v1/blobs/" + id).status, 404);
  // Names that are not a lower-case SHA-256: never a path.
  for (const std::string& trick :
       {std::string("../../etc/passwd"), std::string("%2e%2e%2fkey"),
        id.substr(0, 63), id + "0", id + "/..", id + ".tmp",
        std::string(64, 'A')}) {
    before = Hash();
    const Answer a = Send("PUT", "/api/v1/blobs/" + trick, bytes, octets);
    EXPECT_TRUE(a.status == 400 || a.status == 404) << trick << ": " << a.body;
    ExpectRefused(a, a.status, before, "blob name " + trick);
  }
  // The right bytes land; HEAD over HTTP tells the size as GET would.
  Answer put = Send("PUT", "/api/v1/blobs/" + id, bytes, octets);
  ASSERT_EQ(put.status, 201) << put.body;
  Answer head = Send("HEAD", "/api/v1/blobs/" + id);
  EXPECT_EQ(head.status, 200);
  EXPECT_EQ(head.content_length, std::to_string(bytes.size()));
  Answer get = Send("GET", "/api/v1/blobs/" + id);
  EXPECT_EQ(get.status, 200);
  EXPECT_EQ(get.body, bytes);
  EXPECT_EQ(get.content_length, std::to_string(bytes.size()));
}

}  // namespace
}  // namespace pulse::sync_server
