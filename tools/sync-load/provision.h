// Provisioning a bench store for the load generator and the sync
// benchmarks: N clinic sites, one technician per site, all with the same
// password, added through the store's own admin API (AddSite/AddUser, so the
// rows land in the global sequence like any central write) — and the roster
// file that lists them for a later run.
//
// Thread-safety: call from one thread; the store itself is thread-safe.
#ifndef PULSE_TOOLS_SYNC_LOAD_PROVISION_H_
#define PULSE_TOOLS_SYNC_LOAD_PROVISION_H_

#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "pulse/base/result.h"
#include "pulse/sync_server/sqlcipher_central_store.h"

namespace pulse::sync_load {

struct RosterEntry {
  std::string username;  // "load-00001", ...
  std::string user_id;   // canonical UUID
  std::string site;      // canonical UUID
};

// Adds `clinics` sites named "Load clinic NNNNN" and a technician
// "load-NNNNN" of each, password `password`. `progress(done)` is called
// every 500 clinics (may be empty). REQUIRES: clinics >= 1.
Result<std::vector<RosterEntry>> ProvisionClinics(
    sync_server::SqlcipherCentralStore& store, int clinics,
    std::string_view password, const std::function<void(int)>& progress);

// Writes / reads the roster: one "username user_id site" line per clinic.
// No secrets in it (the password comes from the environment).
Status WriteRoster(const std::filesystem::path& file,
                   const std::vector<RosterEntry>& roster);
Result<std::vector<RosterEntry>> ReadRoster(const std::filesystem::path& file);

}  // namespace pulse::sync_load

#endif  // PULSE_TOOLS_SYNC_LOAD_PROVISION_H_
