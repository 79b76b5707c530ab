// The blob routes (/api/v1/blobs/{sha256}, blob_handlers.cc) under
// SyncService::Handle against the real embedded stores
// (SqlcipherCentralStore + SqlcipherBlobStore): upload whole and in chunks,
// resume after a cut, hash verification, path tricks, who may read, limits,
// Content-Range rules, a store restart mid-upload, and push answering
// missing_blobs.
#include "pulse/sync_server/sqlcipher_blob_store.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "pulse/engine/hash.h"
#include "pulse/engine/replica.h"
#include "pulse/engine/sync_protocol.h"
#include "pulse/engine/uuid.h"
#include "pulse/sync_server/service.h"
#include "pulse/sync_server/sqlcipher_central_store.h"
#include "support/temp_dir.h"

namespace pulse::sync_server {
namespace {

namespace fs = std::filesystem;
namespace sync = engine::sync;

constexpr std::string_view kPassphrase = "central store passphrase";
constexpr std::string_view kPassword = "Clinic-Password-2026";

std::string Bytes(std::size_t n, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::string out(n, '\0');
  for (char& c : out) c = static_cast<char>(rng() & 0xff);
  return out;
}

std::string IdOf(const std::string& bytes) {
  return engine::Sha256Hex(std::span<const std::uint8_t>(
      reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()));
}

std::string HeaderOf(const Response& r, std::string_view name) {
  for (const auto& [key, value] : r.headers) {
    if (key == name) return value;
  }
  return "";
}

class BlobHandlersTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    root_ = pulse::testing::TempRoot() / (std::string("blobs_") + info->name());
    fs::remove_all(root_);
    fs::create_directories(root_);
    options_.kdf = engine::KdfLimits{1, engine::kMinKdfMemLimitBytes};
    options_.password_cost = engine::kTestPasswordHashCost;
    auto store =
        SqlcipherCentralStore::Create(root_ / "central", kPassphrase, options_);
    ASSERT_TRUE(store) << store.error().ToString();
    store_ = std::move(*store);
    auto a = store_->AddSite({"Kisumu clinic", "Nyanza", "Africa/Nairobi"}, "");
    auto b = store_->AddSite({"Eldoret clinic", "Rift", "Africa/Nairobi"}, "");
    ASSERT_TRUE(a && b);
    site_a_ = *a;
    site_b_ = *b;
    auto add = [&](std::string name, engine::Role role,
                   std::optional<std::string> site) {
      auto id = store_->AddUser({name, name, role, site, kPassword}, "");
      EXPECT_TRUE(id) << id.error().ToString();
      return id.value_or("");
    };
    tech_a_id_ = add("tech.a", engine::Role::kTechnician, site_a_);
    add("tech.b", engine::Role::kClinician, site_b_);
    add("admin", engine::Role::kAdmin, std::nullopt);
    add("auditor", engine::Role::kAuditor, std::nullopt);
    StartService();
  }
  void TearDown() override {
    service_.reset();
    blobs_.reset();
    store_.reset();
    clinic_.reset();
    fs::remove_all(root_);
  }

  void StartService() {
    blobs_ = std::make_unique<SqlcipherBlobStore>(*store_);
    ServiceOptions so;
    so.store = store_.get();
    so.blobs = blobs_.get();
    so.dummy_hash_cost = engine::kTestPasswordHashCost;
    so.log_sink = [](std::string_view) {};
    auto service = SyncService::Create(so);
    ASSERT_TRUE(service) << service.error().ToString();
    service_ = std::move(*service);
  }
  // Closes everything and reopens the store from disk: a server restart.
  void Restart() {
    service_.reset();
    blobs_.reset();
    store_.reset();
    auto store =
        SqlcipherCentralStore::Open(root_ / "central", kPassphrase, options_);
    ASSERT_TRUE(store) << store.error().ToString();
    store_ = std::move(*store);
    StartService();
  }

  std::string Login(std::string_view username) {
    Request r;
    r.method = "POST";
    r.SetTarget("/api/v1/auth/login");
    r.headers["content-type"] = "application/json";
    r.body = sync::EncodeLoginRequest(
        sync::LoginRequest{std::string(username), std::string(kPassword)});
    r.peer = "127.0.0.1";
    Response out = service_->Handle(r);
    EXPECT_EQ(out.status, 200) << out.body;
    auto login = sync::DecodeLoginResponse(out.body);
    return login ? login->token : "";
  }

  Response Call(std::string method, std::string target,
                const std::string& token, std::string body = {},
                std::optional<std::string> range = std::nullopt,
                std::string content_type = "application/octet-stream") {
    Request r;
    r.method = std::move(method);
    r.SetTarget(target);
    if (!token.empty()) r.headers["authorization"] = "Bearer " + token;
    if (r.method == "PUT" && !content_type.empty()) {
      r.headers["content-type"] = content_type;
    }
    if (range) r.headers["content-range"] = *range;
    r.body = std::move(body);
    r.peer = "127.0.0.1";
    return service_->Handle(r);
  }
  Response Put(const std::string& token, const std::string& id,
               std::string body, std::optional<std::string> range = {}) {
    return Call("PUT", "/api/v1/blobs/" + id, token, std::move(body), range);
  }
  Response PutChunk(const std::string& token, const std::string& id,
                    const std::string& content, std::size_t first,
                    std::size_t length) {
    return Put(token, id, content.substr(first, length),
               "bytes " + std::to_string(first) + "-" +
                   std::to_string(first + length - 1) + "/" +
                   std::to_string(content.size()));
  }
  Response Get(const std::string& token, const std::string& id) {
    return Call("GET", "/api/v1/blobs/" + id, token);
  }
  Response Head(const std::string& token, const std::string& id) {
    return Call("HEAD", "/api/v1/blobs/" + id, token);
  }

  // Uploads `content` in `chunk`-byte pieces from `offset`; returns the
  // last answer.
  Response Upload(const std::string& token, const std::string& content,
                  std::size_t chunk, std::size_t offset = 0) {
    const std::string id = IdOf(content);
    Response last;
    while (offset < content.size()) {
      const std::size_t n = std::min(chunk, content.size() - offset);
      last = PutChunk(token, id, content, offset, n);
      if (last.status != 204) return last;
      offset += n;
      EXPECT_EQ(HeaderOf(last, "Upload-Offset"), std::to_string(offset));
    }
    return last;
  }

  fs::path root_;
  CentralStoreOptions options_;
  std::unique_ptr<SqlcipherCentralStore> store_;
  std::unique_ptr<SqlcipherBlobStore> blobs_;
  std::unique_ptr<SyncService> service_;
  std::unique_ptr<engine::ClinicReplica> clinic_;
  std::string site_a_, site_b_, tech_a_id_;
};

TEST_F(BlobHandlersTest, WholeAndChunkedUploadsRoundTrip) {
  const std::string token = Login("tech.a");
  const std::string small = Bytes(1000, 1);
  Response put = Put(token, IdOf(small), small);
  ASSERT_EQ(put.status, 201) << put.body;
  EXPECT_EQ(HeaderOf(put, "Upload-Offset"), "1000");
  // Again: already held for this site, nothing re-stored.
  EXPECT_EQ(Put(token, IdOf(small), small).status, 200);
  Response got = Get(token, IdOf(small));
  ASSERT_EQ(got.status, 200) << got.body;
  EXPECT_EQ(got.content_type, "application/octet-stream");
  EXPECT_EQ(got.body, small);

  const std::string big = Bytes(3 * 65536 + 123, 2);
  Response done = Upload(token, big, 65536);
  ASSERT_EQ(done.status, 201) << done.body;
  got = Get(token, IdOf(big));
  ASSERT_EQ(got.status, 200);
  EXPECT_EQ(got.body, big);
  Response head = Head(token, IdOf(big));
  EXPECT_EQ(head.status, 200);
  EXPECT_EQ(HeaderOf(head, "Upload-Length"), std::to_string(big.size()));
  // Staged chunks are gone once complete.
  auto progress = blobs_->Progress(IdOf(big), site_a_);
  ASSERT_TRUE(progress);
  EXPECT_EQ(progress->received, 0u);
  EXPECT_FALSE(progress->total);
  // The empty blob is a blob too.
  EXPECT_EQ(Put(token, IdOf(""), "").status, 201);
  EXPECT_EQ(Get(token, IdOf("")).body, "");
}

TEST_F(BlobHandlersTest, CutAtARandomOffsetResumesResendingAtMostOneChunk) {
  const std::string token = Login("tech.a");
  std::mt19937 rng(static_cast<std::uint32_t>(::testing::GTEST_FLAG(random_seed)));
  constexpr std::size_t kChunk = 40000;
  for (int round = 0; round < 5; ++round) {
    const std::string content =
        Bytes(5 * kChunk + rng() % kChunk, static_cast<std::uint32_t>(round));
    const std::string id = IdOf(content);
    const std::size_t cut = rng() % content.size();
    SCOPED_TRACE("round " + std::to_string(round) + " cut at " +
                 std::to_string(cut));
    // Chunks wholly before the cut arrive; the one the cut falls in never
    // reaches the handler (the HTTP body is incomplete).
    std::size_t sent = 0;
    std::size_t offset = 0;
    while (offset + kChunk <= cut) {
      ASSERT_EQ(PutChunk(token, id, content, offset, kChunk).status, 204);
      sent += kChunk;
      offset += kChunk;
    }
    sent += std::min(kChunk, content.size() - offset);  // lost in flight
    // Resume: HEAD says where.
    Response head = Head(token, id);
    ASSERT_EQ(head.status, 404);
    const std::size_t held = std::stoull(HeaderOf(head, "Upload-Offset"));
    EXPECT_EQ(held, offset);
    EXPECT_EQ(HeaderOf(head, "Upload-Length"),
              offset > 0 ? std::to_string(content.size()) : "");
    // A resent chunk the server holds already is refused with the offset.
    if (held >= kChunk) {
      Response again = PutChunk(token, id, content, held - kChunk, kChunk);
      EXPECT_EQ(again.status, 409);
      EXPECT_EQ(HeaderOf(again, "Upload-Offset"), std::to_string(held));
    }
    sent += content.size() - held;
    Response done = Upload(token, content, kChunk, held);
    ASSERT_EQ(done.status, 201) << done.body;
    EXPECT_LE(sent, content.size() + kChunk);
    EXPECT_EQ(Get(token, id).body, content);
  }
}

TEST_F(BlobHandlersTest, WrongHashIs422AndStoresNothing) {
  const std::string token = Login("tech.a");
  const std::string content = Bytes(5000, 3);
  const std::string claimed = IdOf(Bytes(5000, 4));
  Response put = Put(token, claimed, content);
  EXPECT_EQ(put.status, 422);
  EXPECT_EQ(put.content_type, "application/problem+json");
  EXPECT_EQ(Get(token, claimed).status, 404);
  EXPECT_EQ(Get(token, IdOf(content)).status, 404);
  auto found = blobs_->Find(claimed);
  ASSERT_TRUE(found);
  EXPECT_FALSE(*found);
  auto real = blobs_->Find(IdOf(content));
  ASSERT_TRUE(real);
  EXPECT_FALSE(*real);

  // Chunked: the completing chunk is refused and the upload discarded.
  ASSERT_EQ(PutChunk(token, claimed, content, 0, 2500).status, 204);
  Response last = PutChunk(token, claimed, content, 2500, 2500);
  EXPECT_EQ(last.status, 422);
  Response head = Head(token, claimed);
  EXPECT_EQ(head.status, 404);
  EXPECT_EQ(HeaderOf(head, "Upload-Offset"), "0");
  found = blobs_->Find(claimed);
  ASSERT_TRUE(found);
  EXPECT_FALSE(*found);
}

TEST_F(BlobHandlersTest, PathTricksNeverReachStorage) {
  const std::string token = Login("tech.a");
  const std::string content = Bytes(100, 5);
  const std::string id = IdOf(content);
  std::string upper = id;
  std::transform(upper.begin(), upper.end(), upper.begin(), ::toupper);
  ASSERT_NE(upper, id);
  const std::vector<std::pair<std::string, int>> cases = {
      {"/api/v1/blobs/" + upper, 400},
      {"/api/v1/blobs/", 404},
      {"/api/v1/blobs/" + id.substr(1), 404},
      {"/api/v1/blobs/" + id + "0", 404},
      {"/api/v1/blobs/" + id + "/", 404},
      {"/api/v1/blobs/" + id + "/x", 404},
      {"/api/v1/blobs/" + id.substr(0, 2) + "/" + id, 404},
      {"/api/v1/blobs/../../central/key", 404},
      {"/api/v1/blobs/%2e%2e%2f" + id.substr(9), 404},
      {"/api/v1/blobs/" + id.substr(4) + ".tmp", 404},
      {"/api/v1/blobs/" + id.substr(0, 63) + "g", 404},
  };
  for (const auto& [target, status] : cases) {
    SCOPED_TRACE(target);
    for (const char* method : {"PUT", "GET", "HEAD"}) {
      Response r = Call(method, target, token, content);
      EXPECT_EQ(r.status, status) << method;
      EXPECT_EQ(r.content_type, "application/problem+json");
    }
  }
  // Nothing was stored by any of them.
  auto found = blobs_->Find(id);
  ASSERT_TRUE(found);
  EXPECT_FALSE(*found);
  // A query string is refused, not ignored.
  EXPECT_EQ(Call("GET", "/api/v1/blobs/" + id + "?path=/etc", token).status,
            400);
  EXPECT_EQ(Call("DELETE", "/api/v1/blobs/" + id, token).status, 405);
  EXPECT_EQ(Call("GET", "/api/v1/blobs/" + id, "").status, 401);
}

TEST_F(BlobHandlersTest, OnlyStaffOfAnOwningSiteAndAdminsRead) {
  const std::string a = Login("tech.a");
  const std::string b = Login("tech.b");
  const std::string admin = Login("admin");
  const std::string auditor = Login("auditor");
  const std::string content = Bytes(3000, 6);
  const std::string id = IdOf(content);
  ASSERT_EQ(Put(a, id, content).status, 201);

  Response other = Get(b, id);
  EXPECT_EQ(other.status, 403);
  EXPECT_EQ(other.content_type, "application/problem+json");
  EXPECT_EQ(other.body.find(content.substr(0, 16)), std::string::npos);
  // HEAD tells another site only about its own upload.
  Response head = Head(b, id);
  EXPECT_EQ(head.status, 404);
  EXPECT_EQ(HeaderOf(head, "Upload-Offset"), "0");
  EXPECT_EQ(Get(auditor, id).status, 403);
  EXPECT_EQ(Head(auditor, id).status, 403);
  EXPECT_EQ(Put(auditor, id, content).status, 403);
  EXPECT_EQ(Put(admin, id, content).status, 403);  // blobs belong to sites
  Response by_admin = Get(admin, id);
  ASSERT_EQ(by_admin.status, 200);
  EXPECT_EQ(by_admin.body, content);
  EXPECT_EQ(Head(admin, id).status, 200);

  // Site B proves possession by uploading the bytes: stored once, and B
  // may read it from then on.
  EXPECT_EQ(Put(b, id, content).status, 201);
  EXPECT_EQ(Get(b, id).body, content);
  auto found = blobs_->Find(id);
  ASSERT_TRUE(found && *found);
  EXPECT_EQ((*found)->owners.size(), 2u);
}

TEST_F(BlobHandlersTest, LimitsContentTypeAndContentRange) {
  const std::string token = Login("tech.a");
  const std::string content = Bytes(1000, 7);
  const std::string id = IdOf(content);
  // Over the blob cap (413), a chunk over the chunk cap (413).
  EXPECT_EQ(Put(token, id, content.substr(0, 10),
                "bytes 0-9/" + std::to_string(kMaxBlobBytes + 1))
                .status,
            413);
  const std::string big(kMaxBlobChunkBytes + 1, 'x');
  EXPECT_EQ(Put(token, id, big,
                "bytes 0-" + std::to_string(big.size() - 1) + "/" +
                    std::to_string(big.size() + 10))
                .status,
            413);
  // Content-Type.
  EXPECT_EQ(Call("PUT", "/api/v1/blobs/" + id, token, content, std::nullopt,
                 "application/json")
                .status,
            415);
  EXPECT_EQ(Call("PUT", "/api/v1/blobs/" + id, token, content, std::nullopt,
                 "")
                .status,
            415);
  EXPECT_EQ(Call("PUT", "/api/v1/blobs/" + id, token, content, std::nullopt,
                 "Application/Octet-Stream; x=1")
                .status,
            201);
  // Content-Range: malformed 400, unsatisfiable 416, length mismatch 400,
  // not at the held offset 409.
  const std::string other = Bytes(1000, 8);
  const std::string oid = IdOf(other);
  for (const char* bad : {"bytes abc", "bytes 0-9", "bytes=0-9/1000",
                          "bytes -1-9/1000", "bytes 0-9/*", "items 0-9/1000",
                          "bytes 0 - 9/1000", "bytes +0-9/1000"}) {
    EXPECT_EQ(Put(token, oid, other.substr(0, 10), std::string(bad)).status,
              400)
        << bad;
  }
  EXPECT_EQ(Put(token, oid, other.substr(0, 10), "bytes 9-0/1000").status,
            416);
  EXPECT_EQ(Put(token, oid, other.substr(0, 10), "bytes 995-1004/1000").status,
            416);
  EXPECT_EQ(Put(token, oid, other.substr(0, 10), "bytes 0-19/1000").status,
            400);
  Response gap = PutChunk(token, oid, other, 100, 100);
  EXPECT_EQ(gap.status, 409);
  EXPECT_EQ(HeaderOf(gap, "Upload-Offset"), "0");
  ASSERT_EQ(PutChunk(token, oid, other, 0, 100).status, 204);
  // A different total without restarting at 0 is refused; at 0 it restarts.
  EXPECT_EQ(Put(token, oid, other.substr(100, 100), "bytes 100-199/2000")
                .status,
            409);
  EXPECT_EQ(Put(token, oid, other.substr(0, 100), "bytes 0-99/2000").status,
            204);
  EXPECT_EQ(Upload(token, other, 300).status, 201);
}

TEST_F(BlobHandlersTest, UploadSurvivesAStoreRestartMidway) {
  std::string token = Login("tech.a");
  const std::string content = Bytes(7 * 10000 + 17, 9);
  const std::string id = IdOf(content);
  ASSERT_EQ(PutChunk(token, id, content, 0, 10000).status, 204);
  ASSERT_EQ(PutChunk(token, id, content, 10000, 10000).status, 204);
  Restart();
  token = Login("tech.a");
  Response head = Head(token, id);
  ASSERT_EQ(head.status, 404);
  ASSERT_EQ(HeaderOf(head, "Upload-Offset"), "20000");
  Response done = Upload(token, content, 10000, 20000);
  ASSERT_EQ(done.status, 201) << done.body;
  Restart();
  token = Login("tech.a");
  EXPECT_EQ(Get(token, id).body, content);
}

TEST_F(BlobHandlersTest, StaleUploadsAreDroppedAndTheRestKept) {
  constexpr std::int64_t kDay = 24 * 3600 * 1000;
  constexpr std::int64_t kT0 = 1'800'000'000'000;
  const std::string old_bytes = Bytes(30000, 21);
  const std::string fresh_bytes = Bytes(30000, 22);
  const std::string done_bytes = Bytes(5000, 23);
  auto put = [&](const std::string& bytes, std::uint64_t start, std::size_t n,
                 std::int64_t now_ms) {
    const std::string id = IdOf(bytes);
    BlobChunk c;
    c.sha256 = id;
    c.site = site_a_;
    c.user_id = tech_a_id_;
    c.start = start;
    c.total = bytes.size();
    c.bytes = std::span(reinterpret_cast<const std::uint8_t*>(bytes.data()) +
                            start,
                        n);
    c.now_ms = now_ms;
    return blobs_->PutChunk(c);
  };
  // Abandoned 10 days ago; touched yesterday (started long ago); complete.
  ASSERT_TRUE(put(old_bytes, 0, 10000, kT0 - 10 * kDay));
  ASSERT_TRUE(put(fresh_bytes, 0, 10000, kT0 - 20 * kDay));
  ASSERT_TRUE(put(fresh_bytes, 10000, 10000, kT0 - kDay));
  auto done = put(done_bytes, 0, done_bytes.size(), kT0 - 30 * kDay);
  ASSERT_TRUE(done);
  ASSERT_EQ(done->outcome, ChunkOutcome::kCompleted);

  auto dropped = blobs_->DropStaleUploads(kT0 - 7 * kDay);
  ASSERT_TRUE(dropped) << dropped.error().ToString();
  EXPECT_EQ(*dropped, 1);
  auto old_progress = blobs_->Progress(IdOf(old_bytes), site_a_);
  ASSERT_TRUE(old_progress);
  EXPECT_EQ(old_progress->received, 0u);
  EXPECT_FALSE(old_progress->total.has_value());
  auto fresh_progress = blobs_->Progress(IdOf(fresh_bytes), site_a_);
  ASSERT_TRUE(fresh_progress);
  EXPECT_EQ(fresh_progress->received, 20000u);
  // The kept upload's chunks are intact: it completes and verifies.
  auto finished = put(fresh_bytes, 20000, 10000, kT0);
  ASSERT_TRUE(finished);
  EXPECT_EQ(finished->outcome, ChunkOutcome::kCompleted);
  // The dropped one starts again from 0 (no stale chunk left behind).
  EXPECT_EQ(put(old_bytes, 10000, 10000, kT0)->outcome,
            ChunkOutcome::kOffsetMismatch);
  ASSERT_TRUE(put(old_bytes, 0, 30000, kT0));
  auto whole = blobs_->Read(IdOf(old_bytes));
  ASSERT_TRUE(whole);
  EXPECT_EQ(std::string(whole->begin(), whole->end()), old_bytes);
  // Complete blobs are never touched.
  auto kept = blobs_->Read(IdOf(done_bytes));
  ASSERT_TRUE(kept);
  EXPECT_EQ(kept->size(), done_bytes.size());
  EXPECT_EQ(*blobs_->DropStaleUploads(kT0 + 365 * kDay), 0);
}

TEST_F(BlobHandlersTest, StagedChunksAreEncryptedAtRest) {
  const std::string token = Login("tech.a");
  // A recognisable, compressible-looking plaintext.
  std::string content;
  while (content.size() < 50000) content += "PULSE-LEDGER-PLAINTEXT-MARKER-";
  const std::string id = IdOf(content);
  ASSERT_EQ(PutChunk(token, id, content, 0, 30000).status, 204);
  service_.reset();
  blobs_.reset();
  store_.reset();  // checkpoints the WAL into the database file
  for (const auto& file : fs::recursive_directory_iterator(root_ / "central")) {
    if (!file.is_regular_file()) continue;
    std::ifstream in(file.path(), std::ios::binary);
    const std::string data((std::istreambuf_iterator<char>(in)),
                           std::istreambuf_iterator<char>());
    EXPECT_EQ(data.find("PULSE-LEDGER-PLAINTEXT-MARKER"), std::string::npos)
        << file.path();
  }
}

TEST_F(BlobHandlersTest, PushAnswersTheBlobsTheSiteHasNotUploaded) {
  const std::string token = Login("tech.a");
  engine::ReplicaOptions o;
  o.kdf = options_.kdf;
  o.users.hash_cost = options_.password_cost;
  auto clinic = engine::ClinicReplica::Create(
      root_ / "clinic",
      engine::ReplicaSetup{engine::Uuid::Parse(site_a_).value(), "clinic pw"},
      o);
  ASSERT_TRUE(clinic) << clinic.error().ToString();
  clinic_ = std::move(*clinic);
  const std::string held = Bytes(800, 10);
  const std::string absent = Bytes(900, 11);
  ASSERT_EQ(Put(token, IdOf(held), held).status, 201);

  std::vector<engine::ChangeEntry> changes;
  for (const std::string* pdf : {&held, &absent, &absent}) {
    engine::RowWrite w;
    w.table = "reports";
    w.row = clinic_->ids().Next().ToString();
    w.fields["site_id"] = site_a_;
    w.fields["pdf_sha256"] = IdOf(*pdf);
    w.fields["generated_by"] = tech_a_id_;
    auto entries = clinic_->writer().Commit(std::span(&w, 1), tech_a_id_);
    ASSERT_TRUE(entries) << entries.error().ToString();
    changes.insert(changes.end(), entries->begin(), entries->end());
  }
  sync::PushRequest push;
  push.batch_id = clinic_->ids().Next().ToString();
  push.site = site_a_;
  push.schema_version = kSupportedClinicSchemaVersion;
  push.client_time_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
  push.changes = changes;
  auto body = sync::EncodePushRequest(push);
  ASSERT_TRUE(body);
  Request r;
  r.method = "POST";
  r.SetTarget("/api/v1/sync/push");
  r.headers["content-type"] = "application/json";
  r.headers["authorization"] = "Bearer " + token;
  r.body = *body;
  Response out = service_->Handle(r);
  ASSERT_EQ(out.status, 200) << out.body;
  auto answer = sync::DecodePushResponse(out.body);
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->missing_blobs, std::vector<std::string>{IdOf(absent)});

  // Uploaded: the resent batch no longer asks for it.
  ASSERT_EQ(Put(token, IdOf(absent), absent).status, 201);
  out = service_->Handle(r);
  ASSERT_EQ(out.status, 200) << out.body;
  answer = sync::DecodePushResponse(out.body);
  ASSERT_TRUE(answer);
  EXPECT_TRUE(answer->duplicate);
  EXPECT_TRUE(answer->missing_blobs.empty());

  // Another site naming a hash it never uploaded is asked for the bytes.
  std::vector<std::string> hashes = {IdOf(held), IdOf(held)};
  auto missing = blobs_->MissingFor(site_b_, hashes);
  ASSERT_TRUE(missing);
  EXPECT_EQ(*missing, std::vector<std::string>{IdOf(held)});
  missing = blobs_->MissingFor(site_a_, hashes);
  ASSERT_TRUE(missing);
  EXPECT_TRUE(missing->empty());
}

TEST_F(BlobHandlersTest, NoBlobStoreAnswers503) {
  ServiceOptions so;
  so.store = store_.get();
  so.dummy_hash_cost = engine::kTestPasswordHashCost;
  so.log_sink = [](std::string_view) {};
  auto service = SyncService::Create(so);
  ASSERT_TRUE(service);
  Request r;
  r.method = "GET";
  r.SetTarget("/api/v1/blobs/" + IdOf("x"));
  EXPECT_EQ((*service)->Handle(r).status, 503);
}

}  // namespace
}  // namespace pulse::sync_server
