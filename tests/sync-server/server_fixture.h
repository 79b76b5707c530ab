// Setup shared by the central-store and sync-server tests: a scratch
// directory per test, a real SQLCipher central store that is cheap to
// create, the clinic most of them sync, a clinic replica of a site, and
// requests driven through SyncService::Handle() without a socket.
//
// Only plumbing lives here: what a test checks stays in the test. The
// helpers report failure by Result (or a failed EXPECT for LoginAs), never
// by ASSERT, so that a fixture's SetUp decides when to stop.
#ifndef PULSE_TESTS_SYNC_SERVER_SERVER_FIXTURE_H_
#define PULSE_TESTS_SYNC_SERVER_SERVER_FIXTURE_H_

#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "pulse/base/result.h"
#include "pulse/engine/key_file.h"
#include "pulse/engine/password.h"
#include "pulse/engine/replica.h"
#include "pulse/engine/sync_protocol.h"
#include "pulse/engine/uuid.h"
#include "pulse/sync_server/central_store.h"
#include "pulse/sync_server/service.h"
#include "pulse/sync_server/sqlcipher_central_store.h"
#include "support/temp_dir.h"

namespace pulse::sync_server::testing {

inline constexpr std::string_view kStorePassphrase = "central store passphrase";
inline constexpr std::string_view kStaffPassword = "Clinic-Password-2026";

// `name` under the process's temp root, emptied of anything an earlier run
// left there.
inline std::filesystem::path FreshTempDir(const std::string& name) {
  const std::filesystem::path dir = pulse::testing::TempRoot() / name;
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

// The cheapest key derivation and password hashing the store accepts:
// creating a store (and hashing each user's password) stays fast.
inline CentralStoreOptions TestStoreOptions() {
  CentralStoreOptions options;
  options.kdf = engine::KdfLimits{1, engine::kMinKdfMemLimitBytes};
  options.password_cost = engine::kTestPasswordHashCost;
  return options;
}

// The clinic site the store and audit tests push for, and its technician.
inline NewSite KisumuClinic() {
  return {"Kisumu clinic", "Nyanza", "Africa/Nairobi"};
}
inline NewUser KisumuTechnician(const std::string& site) {
  return {"amina.k", "Amina K", engine::Role::kTechnician, site,
          kStaffPassword};
}

// A new clinic replica of `site` (a canonical UUID) in `dir`, sealed under
// `passphrase`, with the key derivation and password costs of `costs`, so
// that it is as cheap to create as the test's store.
inline Result<std::unique_ptr<engine::ClinicReplica>> CreateClinicReplica(
    const std::filesystem::path& dir, std::string_view site,
    std::string_view passphrase, const CentralStoreOptions& costs) {
  engine::ReplicaOptions options;
  options.kdf = costs.kdf;
  options.users.hash_cost = costs.password_cost;
  return engine::ClinicReplica::Create(
      dir,
      engine::ReplicaSetup{engine::Uuid::Parse(site).value(), passphrase},
      options);
}

// Options for a service in front of `store` alone: unknown usernames cost
// the test hash, and the log is dropped. Callers add the other stores and
// their own log sink.
inline ServiceOptions TestServiceOptions(CentralStore& store) {
  ServiceOptions options;
  options.store = &store;
  options.dummy_hash_cost = engine::kTestPasswordHashCost;
  options.log_sink = [](std::string_view) {};
  return options;
}

// One request handed to `service` as the HTTP layer would hand it over:
// `content_type` only with a body, the bearer `token` only when not empty.
inline Response CallService(SyncService& service, std::string method,
                            std::string_view target, std::string body,
                            const std::string& token,
                            const std::string& content_type = "application/json",
                            std::string peer = "127.0.0.1") {
  Request r;
  r.method = std::move(method);
  r.SetTarget(target);
  r.body = std::move(body);
  r.peer = std::move(peer);
  if (!r.body.empty()) r.headers["content-type"] = content_type;
  if (!token.empty()) r.headers["authorization"] = "Bearer " + token;
  return service.Handle(r);
}

// The session token of `username` logged in through `service`; "" (and a
// failed expectation) when the login is refused.
inline std::string LoginAs(SyncService& service, std::string_view username,
                           std::string_view password) {
  Response r = CallService(service, "POST", "/api/v1/auth/login",
                           engine::sync::EncodeLoginRequest(
                               {std::string(username), std::string(password)}),
                           "");
  EXPECT_EQ(r.status, 200) << username << ": " << r.body;
  auto decoded = engine::sync::DecodeLoginResponse(r.body);
  return decoded ? decoded->token : "";
}

// An IngestBatch authorizer that lets every row through.
inline Status AllowAll(std::size_t, const engine::ChangeEntry&,
                       const RowContext&) {
  return OkStatus();
}

}  // namespace pulse::sync_server::testing

#endif  // PULSE_TESTS_SYNC_SERVER_SERVER_FIXTURE_H_
