// The embedded AdminStore: the admin's merged view and writes on the
// SqlcipherCentralStore's database (one file, one writer connection).
//
// Reads run on the central store's reader pool (State::ReaderLease), each
// list in one read transaction so that a page is one snapshot; they never
// wait for an ingest. Writes take the central store's writer mutex and go
// through the central replica's engine repositories (users(), a
// DeviceRepository or ConflictRepository bound to the row's site) or its
// LocalWriter, so they are validated, authorised and audited in the
// central chain exactly as on a clinic, and are then drained into the
// global sequence (State::DrainOutbox) so the clinics of the row's site
// pull them.
//
// Patient search uses the indexes of schema/central/0002: a query first
// counts its matches in the NOCASE indexes (up to a limit, options); few
// matches are collected from those indexes and sorted by id, many are
// found by walking a covering index in id order and testing each entry, so
// a page costs a few thousand index entries either way, and only the
// page's own rows are read.
//
// Thread-safety: as AdminStore. The central store must outlive this one.
#ifndef PULSE_SYNC_SERVER_SQLCIPHER_ADMIN_STORE_H_
#define PULSE_SYNC_SERVER_SQLCIPHER_ADMIN_STORE_H_

#include <string>
#include <string_view>

#include "pulse/sync_server/admin_store.h"
#include "pulse/sync_server/sqlcipher_central_store.h"

namespace pulse::sync_server {

struct AdminStoreOptions {
  // Matches a patient search counts before it picks its plan (see the file
  // comment): at most this many index entries are collected and sorted;
  // above it, a page walks the id order. Tests lower it to reach both
  // plans with few rows. REQUIRES: >= 1.
  int dense_probe_limit = 2000;
};

class SqlcipherAdminStore final : public AdminStore {
 public:
  // REQUIRES: `central` outlives this store.
  explicit SqlcipherAdminStore(SqlcipherCentralStore& central,
                               AdminStoreOptions options = {});

  Result<AdminSitePage> ListSites(std::string_view after, int limit) override;
  Result<AdminSite> GetSite(std::string_view id) override;
  Result<std::string> CreateSite(const engine::Principal& who,
                                 const AdminSiteInput& site) override;
  Result<AdminPatientPage> SearchPatients(
      const PatientSearchQuery& query) override;
  Result<AdminPatient> GetPatient(std::string_view id) override;
  Result<AdminRecordingPage> ListRecordings(
      const RecordingListQuery& query) override;
  Result<AdminConflictPage> ListConflicts(
      const ConflictListQuery& query) override;
  Result<ResolvedConflict> ResolveConflict(const engine::Principal& who,
                                           std::string_view id,
                                           std::string_view decision) override;
  Result<AdminUserPage> ListUsers(const UserListQuery& query) override;
  Result<AdminUser> GetUser(std::string_view id) override;
  Result<std::string> CreateUser(const engine::Principal& who,
                                 const AdminUserInput& user) override;
  Status UpdateUser(const engine::Principal& who, std::string_view id,
                    const AdminUserChanges& changes) override;
  Result<AdminDevicePage> ListDevices(const DeviceListQuery& query) override;
  Result<std::string> RegisterDevice(const engine::Principal& who,
                                     std::string_view site,
                                     const AdminDeviceInput& in) override;
  Status UpdateDevice(const engine::Principal& who, std::string_view id,
                      const AdminDeviceChanges& changes) override;

 private:
  SqlcipherCentralStore& central_;
  const AdminStoreOptions options_;
};

}  // namespace pulse::sync_server

#endif  // PULSE_SYNC_SERVER_SQLCIPHER_ADMIN_STORE_H_
