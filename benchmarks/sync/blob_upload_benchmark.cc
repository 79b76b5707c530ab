// Blob upload benchmark (docs/performance.md "Blobs"): the real sync server
// (SyncService behind HttpServer on loopback, SqlcipherCentralStore +
// SqlcipherBlobStore) and the engine's client over CurlTransport.
//
// Four runs, each on fresh random (incompressible) blobs:
//   sync client   a clinic replica holds the blobs and one `reports` row per
//                 blob; SyncOnce pushes the rows, the server answers
//                 missing_blobs, the client reads each blob from its sealed
//                 store and uploads it in chunks. Bar: >= 200 MB/s.
//   raw protocol  the same PUTs from memory over CurlTransport (no clinic
//                 store read): HTTP + server only.
//   in-process    the same chunks handed to SqlcipherBlobStore::PutChunk
//                 directly: the store's own floor, the baseline of the
//                 ratio.
//   sealed Put    whole blobs into the engine's SealedFileBlobStore, where
//                 complete blobs end up: the floor under the floor.
//   cut + resume  one blob uploaded by SyncOnce through a TCP proxy that
//                 resets the connection at a random byte; a second SyncOnce
//                 resumes. Counts the PUT bytes sent by both: the resend
//                 must not exceed one chunk.
//
//   blob_upload_benchmark [--mib M] [--blobs K] [--chunk-mib C] [--seed S]
//                         [--dir DIR]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <memory>
#include <random>
#include <span>
#include <string>
#include <vector>

#include <sys/resource.h>

#include "pulse/engine/blob_store.h"
#include "pulse/engine/curl_transport.h"
#include "pulse/engine/hash.h"
#include "pulse/engine/key_file.h"
#include "pulse/engine/local_writer.h"
#include "pulse/engine/password.h"
#include "pulse/engine/replica.h"
#include "pulse/engine/sync_client.h"
#include "pulse/engine/sync_protocol.h"
#include "pulse/sync_server/http_server.h"
#include "pulse/sync_server/service.h"
#include "pulse/sync_server/sqlcipher_blob_store.h"
#include "pulse/sync_server/sqlcipher_central_store.h"
#include "support/fault_proxy.h"

namespace {

namespace fs = std::filesystem;
namespace ss = pulse::sync_server;
namespace engine = pulse::engine;
using Clock = std::chrono::steady_clock;

constexpr std::string_view kPassphrase = "blob upload benchmark";
constexpr std::string_view kPassword = "Bench-Password-2026!";

[[noreturn]] void Die(const std::string& what) {
  std::cerr << "blob_upload_benchmark: " << what << "\n";
  std::exit(1);
}

template <typename T>
T Check(pulse::Result<T> r, const std::string& what) {
  if (!r) Die(what + ": " + r.error().ToString());
  return std::move(*r);
}
void Check(const pulse::Status& s, const std::string& what) {
  if (!s) Die(what + ": " + s.error().ToString());
}

double Seconds(Clock::duration d) {
  return std::chrono::duration<double>(d).count();
}
// CPU seconds (user + system) of the whole process so far: server and
// client threads alike. On a loaded machine wall time overstates the cost.
double CpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

double Mbps(std::uint64_t bytes, double seconds) {
  return static_cast<double>(bytes) / 1e6 / seconds;
}

std::vector<std::uint8_t> RandomBytes(std::size_t n, std::mt19937_64& rng) {
  std::vector<std::uint8_t> out(n);
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const std::uint64_t v = rng();
    std::memcpy(out.data() + i, &v, 8);
  }
  for (; i < n; ++i) out[i] = static_cast<std::uint8_t>(rng());
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  std::uint64_t mib = 64;
  std::uint64_t blobs = 4;
  std::uint64_t chunk_mib = 8;
  std::uint64_t seed = std::random_device{}();
  fs::path dir = fs::temp_directory_path() / "pulse_blob_upload_benchmark";
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--help") {
      std::cout << "usage: blob_upload_benchmark [--mib M] [--blobs K] "
                   "[--chunk-mib C] [--seed S] [--dir DIR]\n";
      return 0;
    }
    if (i + 1 >= argc) Die("missing value for " + arg);
    const std::string value = argv[++i];
    if (arg == "--dir") {
      dir = value;
      continue;
    }
    char* end = nullptr;
    const unsigned long long v = std::strtoull(value.c_str(), &end, 10);
    if (end == value.c_str() || *end != '\0' || v < 1) {
      Die("bad value for " + arg);
    }
    if (arg == "--mib") mib = v;
    else if (arg == "--blobs") blobs = v;
    else if (arg == "--chunk-mib") chunk_mib = v;
    else if (arg == "--seed") seed = v;
    else Die("unknown option " + arg);
  }
  const std::size_t blob_bytes = static_cast<std::size_t>(mib) << 20;
  const std::size_t chunk_bytes = static_cast<std::size_t>(chunk_mib) << 20;
  if (blob_bytes > ss::kMaxBlobBytes) Die("--mib: over the blob limit");
  if (chunk_bytes > ss::kMaxBlobChunkBytes) Die("--chunk-mib: over 8");
  std::mt19937_64 rng(seed);
  std::cout << "blob_upload_benchmark: " << blobs << " blobs x " << mib
            << " MiB, chunks of " << chunk_mib << " MiB, seed " << seed
            << "\n";

  fs::remove_all(dir);
  fs::create_directories(dir);
  ss::CentralStoreOptions store_options;
  store_options.kdf = engine::KdfLimits{1, engine::kMinKdfMemLimitBytes};
  store_options.password_cost = engine::kTestPasswordHashCost;
  auto store = Check(
      ss::SqlcipherCentralStore::Create(dir / "central", kPassphrase,
                                        store_options),
      "creating the central store");
  const std::string site =
      Check(store->AddSite({"Bench clinic", "Bench", "Africa/Nairobi"}, ""),
            "AddSite");
  const std::string user = Check(
      store->AddUser({"bench.tech", "Bench Tech", engine::Role::kTechnician,
                      site, kPassword},
                     ""),
      "AddUser");
  ss::SqlcipherBlobStore blob_store(*store);
  ss::ServiceOptions so;
  so.store = store.get();
  so.blobs = &blob_store;
  so.dummy_hash_cost = engine::kTestPasswordHashCost;
  so.log_sink = [](std::string_view) {};
  auto service = Check(ss::SyncService::Create(so), "SyncService");
  ss::HttpServerOptions ho;
  ho.threads = 2;
  ho.read_timeout = std::chrono::seconds(120);
  auto server = Check(ss::HttpServer::Start(*service, ho), "HttpServer");
  const std::string base_url =
      "http://127.0.0.1:" + std::to_string(server->port());

  engine::ReplicaOptions ro;
  ro.kdf = store_options.kdf;
  ro.users.hash_cost = engine::kTestPasswordHashCost;
  auto clinic = Check(
      engine::ClinicReplica::Create(
          dir / "clinic",
          engine::ReplicaSetup{*engine::Uuid::Parse(site), "clinic pw"}, ro),
      "creating the clinic replica");

  // Stores `count` fresh blobs in the clinic and one reports row for each.
  auto add_clinic_blobs = [&](std::uint64_t count) {
    std::vector<std::string> ids;
    for (std::uint64_t i = 0; i < count; ++i) {
      auto bytes = RandomBytes(blob_bytes, rng);
      auto ref = Check(clinic->blob_store().Put(bytes), "clinic blob Put");
      engine::RowWrite w;
      w.table = "reports";
      w.row = clinic->ids().Next().ToString();
      w.fields["site_id"] = site;
      w.fields["pdf_sha256"] = ref.sha256;
      w.fields["generated_by"] = user;
      Check(clinic->writer().Commit(std::span(&w, 1), user), "reports row");
      ids.push_back(ref.sha256);
    }
    return ids;
  };
  auto make_client = [&](engine::SyncTransport& transport) {
    engine::SyncClientOptions co;
    co.username = "bench.tech";
    co.password = [] {
      return pulse::Result<std::string>(std::string(kPassword));
    };
    co.interval = std::chrono::milliseconds(0);
    co.max_steps = 10000;
    co.blob_chunk_bytes = chunk_bytes;
    return Check(engine::SyncClient::Create(*clinic, transport, co),
                 "SyncClient");
  };
  engine::CurlTransportOptions to;
  to.base_url = base_url;
  to.total_timeout = std::chrono::minutes(10);
  auto transport = Check(engine::CurlTransport::Create(to), "CurlTransport");

  // --- 1. The sync client, end to end ---
  {
    auto ids = add_clinic_blobs(blobs);
    auto client = make_client(*transport);
    // Local read floor: what the client pays to read its own sealed blobs.
    const auto r0 = Clock::now();
    for (const std::string& id : ids) {
      Check(clinic->blob_store().Get(id), "clinic blob Get");
    }
    const double read_s = Seconds(Clock::now() - r0);
    const auto t0 = Clock::now();
    const double c0 = CpuSeconds();
    Check(client->SyncOnce(), "SyncOnce");
    const double s = Seconds(Clock::now() - t0);
    const double cpu = CpuSeconds() - c0;
    const auto counts = client->GetState().last_counts;
    const std::uint64_t total = blobs * blob_bytes;
    if (counts.uploaded_blobs != static_cast<std::int64_t>(blobs)) {
      Die("sync client uploaded " + std::to_string(counts.uploaded_blobs));
    }
    std::printf("sync client  : %8.1f MB in %7.3f s = %7.1f MB/s, %.3f CPU s "
                "(SyncOnce: push + pull + %lld HEAD/PUT; of which clinic "
                "blob reads alone take %.3f s = %.1f MB/s)\n",
                static_cast<double>(total) / 1e6, s, Mbps(total, s), cpu,
                static_cast<long long>(counts.blob_requests), read_s,
                Mbps(total, read_s));
  }

  // --- 2. Raw protocol over CurlTransport, bytes from memory ---
  std::vector<std::vector<std::uint8_t>> raw;
  for (std::uint64_t i = 0; i < blobs; ++i) {
    raw.push_back(RandomBytes(blob_bytes, rng));
  }
  double raw_s = 0;
  double raw_cpu = 0;
  {
    engine::HttpRequest login{
        "POST", "/api/v1/auth/login", {{"Content-Type", "application/json"}},
        engine::sync::EncodeLoginRequest(
            {"bench.tech", std::string(kPassword)})};
    auto answer = Check(transport->Send(login), "login");
    auto session = Check(engine::sync::DecodeLoginResponse(answer.body),
                         "login answer");
    const auto t0 = Clock::now();
    const double c0 = CpuSeconds();
    for (const auto& bytes : raw) {
      const std::string id = engine::Sha256Hex(bytes);
      for (std::size_t off = 0; off < bytes.size(); off += chunk_bytes) {
        const std::size_t n = std::min(chunk_bytes, bytes.size() - off);
        engine::HttpRequest put{
            "PUT",
            "/api/v1/blobs/" + id,
            {{"Authorization", "Bearer " + session.token},
             {"Content-Type", "application/octet-stream"},
             {"Content-Range", "bytes " + std::to_string(off) + "-" +
                                   std::to_string(off + n - 1) + "/" +
                                   std::to_string(bytes.size())}},
            std::string(reinterpret_cast<const char*>(bytes.data() + off), n)};
        auto r = Check(transport->Send(put), "PUT");
        const bool last = off + n == bytes.size();
        if (r.status != (last ? 201 : 204)) {
          Die("PUT answered " + std::to_string(r.status));
        }
      }
    }
    raw_s = Seconds(Clock::now() - t0);
    raw_cpu = CpuSeconds() - c0;
    const std::uint64_t total = blobs * blob_bytes;
    std::printf("raw protocol : %8.1f MB in %7.3f s = %7.1f MB/s, %.3f CPU s "
                "(CurlTransport PUTs from memory)\n",
                static_cast<double>(total) / 1e6, raw_s, Mbps(total, raw_s),
                raw_cpu);
  }

  // --- 3. In-process baseline: the same chunking straight into the store ---
  {
    std::vector<std::vector<std::uint8_t>> local;
    for (std::uint64_t i = 0; i < blobs; ++i) {
      local.push_back(RandomBytes(blob_bytes, rng));
    }
    const auto t0 = Clock::now();
    const double c0 = CpuSeconds();
    for (const auto& bytes : local) {
      const std::string id = engine::Sha256Hex(bytes);
      for (std::size_t off = 0; off < bytes.size(); off += chunk_bytes) {
        const std::size_t n = std::min(chunk_bytes, bytes.size() - off);
        ss::BlobChunk chunk;
        chunk.sha256 = id;
        chunk.site = site;
        chunk.user_id = user;
        chunk.start = off;
        chunk.total = bytes.size();
        chunk.bytes = std::span<const std::uint8_t>(bytes.data() + off, n);
        Check(blob_store.PutChunk(chunk), "PutChunk");
      }
    }
    const double s = Seconds(Clock::now() - t0);
    const std::uint64_t total = blobs * blob_bytes;
    const double cpu = CpuSeconds() - c0;
    std::printf("in-process   : %8.1f MB in %7.3f s = %7.1f MB/s, %.3f CPU s "
                "(SqlcipherBlobStore::PutChunk); raw protocol / in-process: "
                "throughput %.2f, CPU %.2f\n",
                static_cast<double>(total) / 1e6, s, Mbps(total, s), cpu,
                Mbps(total, raw_s) / Mbps(total, s), raw_cpu / cpu);
  }

  // --- 3b. The sealed blob store alone (where complete blobs end up) ---
  {
    std::vector<std::vector<std::uint8_t>> local;
    for (std::uint64_t i = 0; i < blobs; ++i) {
      local.push_back(RandomBytes(blob_bytes, rng));
    }
    const auto t0 = Clock::now();
    const double c0 = CpuSeconds();
    for (const auto& bytes : local) {
      Check(clinic->blob_store().Put(bytes), "sealed Put");
    }
    const double s = Seconds(Clock::now() - t0);
    const double cpu = CpuSeconds() - c0;
    const std::uint64_t total = blobs * blob_bytes;
    std::printf("sealed Put   : %8.1f MB in %7.3f s = %7.1f MB/s, %.3f CPU s "
                "(engine SealedFileBlobStore::Put alone: SHA-256, seal, "
                "fsync'd write, read-back)\n",
                static_cast<double>(total) / 1e6, s, Mbps(total, s), cpu);
  }

  // --- 4. A cut at a random byte, then resume ---
  {
    pulse::testing::FaultProxyOptions po;
    po.target_port = server->port();
    po.seed = seed;
    auto proxy = Check(pulse::testing::FaultProxy::Start(po), "FaultProxy");
    // Past login + push + pull (a few KB), inside the blob's bytes.
    const std::size_t cut = 65536 + static_cast<std::size_t>(
                                        rng() % (blob_bytes - 65536));
    proxy->ForceNext(pulse::testing::Fault::kReset, cut);
    // libcurl silently retries a request whose reused connection died
    // before any answer; the retry's connection is dropped, so the cut
    // reaches the client and the second SyncOnce must resume from HEAD.
    pulse::testing::FaultWeights drop{};
    drop[static_cast<std::size_t>(pulse::testing::Fault::kDrop)] = 1;
    proxy->SetWeights(drop);
    engine::CurlTransportOptions pto = to;
    pto.base_url = "http://127.0.0.1:" + std::to_string(proxy->port());
    auto cut_transport = Check(engine::CurlTransport::Create(pto),
                               "CurlTransport via proxy");
    auto ids = add_clinic_blobs(1);
    auto client = make_client(*cut_transport);
    pulse::Status first = client->SyncOnce();
    const auto first_counts = client->GetState().last_counts;
    const auto proxy_counts = proxy->Counts();
    std::printf("cut + resume : proxy saw %llu connection(s), %llu reset(s) "
                "fired, %llu bytes forwarded to the server\n",
                static_cast<unsigned long long>(proxy_counts.connections),
                static_cast<unsigned long long>(proxy_counts.fired[static_cast<
                    std::size_t>(pulse::testing::Fault::kReset)]),
                static_cast<unsigned long long>(proxy_counts.bytes_to_target));
    proxy->SetWeights(pulse::testing::FaultWeights{});
    const auto t0 = Clock::now();
    Check(client->SyncOnce(), "SyncOnce after the cut");
    const double s = Seconds(Clock::now() - t0);
    const auto second_counts = client->GetState().last_counts;
    const std::int64_t sent =
        first_counts.blob_bytes_sent + second_counts.blob_bytes_sent;
    const std::int64_t resent = sent - static_cast<std::int64_t>(blob_bytes);
    auto stored = Check(blob_store.Find(ids.front()), "Find");
    const std::uint64_t wire = proxy->Counts().bytes_to_target;
    const bool ok = first.has_value() == false && stored.has_value() &&
                    resent <= static_cast<std::int64_t>(chunk_bytes);
    std::printf("cut + resume : %llu bytes reached the server in all "
                "(requests, headers and metadata included)\n",
                static_cast<unsigned long long>(wire));
    std::printf("cut + resume : cut at connection byte %zu; first SyncOnce: "
                "%s; PUT bytes sent %lld for a %zu-byte blob: resent %lld "
                "(limit one chunk = %zu); resume took %.3f s; %s\n",
                cut,
                first ? "ok (no cut?)" : first.error().ToString().c_str(),
                static_cast<long long>(sent), blob_bytes,
                static_cast<long long>(resent), chunk_bytes, s,
                ok ? "PASS" : "FAIL");
    if (!ok) return 1;
  }
  server->Stop();
  fs::remove_all(dir);
  return 0;
}
