// AdminStore: what the central admin's API (DESIGN.md §1, §5 "/api/v1/
// admin/...") reads and writes — the merged view of every clinic (sites
// with their sync times and open conflicts, patients, recordings, users,
// devices, conflicts) and the admin's own writes (sites, users, devices,
// conflict resolutions). The handlers (admin_handlers.cc) see only this
// interface, so a PostgreSQL backend can follow (DESIGN.md §12).
//
// Authorisation and the audit trail are the caller's: the store neither
// checks roles nor records reads (the handler authorises against the
// permission matrix and audits through SyncService::Audit). Writes take the
// acting admin as an engine::Principal, because the replicated rows they
// produce carry their author, and the engine repositories they go through
// check the same matrix again.
//
// Paging: every list is a keyset page in a stable order (ids ascending;
// conflict ids are 64 hex digits, the others canonical UUIDs). `after` is
// the last id of the previous page ("" for the first); a page's next_after
// is set iff more rows follow. Rows inserted behind a running walk (an
// offline clinic's older UUIDv7 ids) are not seen by it; no row is ever
// returned twice by one walk and none that existed throughout is skipped.
//
// Errors: kInvalidArgument naming the field (nothing written);
// kNotFound for an id that names no live row; kAlreadyExists for a
// username or device serial in use, or a conflict already resolved;
// kPermissionDenied if the engine's matrix refuses; anything else is the
// storage failing (kBusy: retry).
//
// Thread-safety: every method may be called from any thread concurrently;
// implementations serialise writes themselves.
#ifndef PULSE_SYNC_SERVER_ADMIN_STORE_H_
#define PULSE_SYNC_SERVER_ADMIN_STORE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "pulse/base/result.h"
#include "pulse/engine/change.h"
#include "pulse/engine/permissions.h"

namespace pulse::sync_server {

// Page sizes every list accepts.
inline constexpr int kAdminDefaultPageSize = 50;
inline constexpr int kAdminMaxPageSize = 200;
// Longest search text (bytes).
inline constexpr std::size_t kAdminMaxSearchBytes = 64;

// --- Sites ---

struct AdminSite {
  std::string id;
  std::string name;
  std::string region;
  std::string timezone;
  // Unix ms of the site's last push / pull seen by the server; nullopt if
  // it never did.
  std::optional<std::int64_t> last_push_ms;
  std::optional<std::int64_t> last_pull_ms;
  // Conflicts on the site's rows with no resolution yet.
  std::int64_t open_conflicts = 0;
};

struct AdminSitePage {
  std::vector<AdminSite> sites;
  std::optional<std::string> next_after;
};

struct AdminSiteInput {
  std::string name;      // 1..200 bytes, no control characters
  std::string region;    // 0..100 bytes, no control characters
  std::string timezone;  // IANA name ("Africa/Nairobi", "UTC")
};

// --- Patients ---

struct PatientSearchQuery {
  // Prefix of the MRN, the family name or the given name, ASCII
  // case-insensitive (bytes beyond ASCII match exactly). Empty: every
  // patient. REQUIRES: at most kAdminMaxSearchBytes.
  std::string text;
  std::optional<std::string> site;  // only this site's patients
  std::string after;                // canonical UUID or ""
  int limit = kAdminDefaultPageSize;  // 1..kAdminMaxPageSize
};

struct AdminPatient {
  std::string id;
  std::string site_id;
  std::string mrn;
  std::string given_name;
  std::string family_name;
  std::string birth_date;
  std::string sex;
  // Set only by GetPatient (a search result shows the identifying fields).
  std::optional<std::string> phone;
  std::optional<std::string> address;
  std::optional<std::int64_t> recording_count;
};

struct AdminPatientPage {
  std::vector<AdminPatient> patients;
  std::optional<std::string> next_after;
};

// --- Recordings ---

struct RecordingListQuery {
  std::optional<std::string> patient;
  std::optional<std::string> site;
  std::string after;
  int limit = kAdminDefaultPageSize;
};

struct AdminRecording {
  std::string id;
  std::string site_id;
  std::optional<std::string> patient_id;
  std::optional<std::string> device_id;
  std::optional<std::string> operator_id;
  std::optional<std::int64_t> started_at_ms;
  std::optional<std::int64_t> ended_at_ms;
  std::optional<double> sample_rate_hz;
  std::optional<std::string> lead_names;
  std::optional<std::string> status;
  std::optional<std::string> quality;
  std::optional<std::int64_t> segment_count;
};

struct AdminRecordingPage {
  std::vector<AdminRecording> recordings;
  std::optional<std::string> next_after;
};

// --- Conflicts ---

enum class ConflictState { kOpen, kResolved };

struct ConflictListQuery {
  std::optional<std::string> site;  // the site of the conflicting row
  ConflictState state = ConflictState::kOpen;
  std::string after;  // a conflict id (64 hex) or ""
  int limit = kAdminDefaultPageSize;
};

struct AdminConflictResolution {
  std::string decision;  // engine::kKeepCurrent or engine::kTakeLoser
  std::string resolver_id;
  std::optional<std::int64_t> resolved_at_ms;
};

struct AdminConflict {
  std::string id;      // 64 hex digits, equal on every replica
  std::string table;   // "patients", ...
  std::string row;     // the conflicting row
  std::string column;  // the field
  std::string kind;    // "concurrent_update" | "delete_vs_update"
  std::optional<std::string> row_site;
  // The value that lost, its author, its replica and stamp.
  engine::FieldValue loser_value;
  std::string loser_author;
  std::string loser_site;
  std::uint64_t loser_hlc = 0;  // packed HLC (change_log.md §1)
  // The field's value now, and whether the row is deleted.
  engine::FieldValue current_value;
  bool row_deleted = false;
  // users.password_hash: both values withheld (null here).
  bool redacted = false;
  std::optional<std::string> patient_id;
  // Set for resolved conflicts (the earliest decision if two replicas
  // settled it concurrently).
  std::optional<AdminConflictResolution> resolution;
};

struct AdminConflictPage {
  std::vector<AdminConflict> conflicts;
  std::optional<std::string> next_after;
};

// What a resolution touched, for the caller's audit event.
struct ResolvedConflict {
  std::string table;
  std::string row;
  std::optional<std::string> patient_id;
};

// --- Users ---

struct UserListQuery {
  std::optional<std::string> site;
  std::string after;
  int limit = kAdminDefaultPageSize;
};

// Never the password hash.
struct AdminUser {
  std::string id;
  std::string username;
  std::string full_name;
  std::string role;
  std::optional<std::string> site_id;  // nullopt for central staff
  bool active = false;
};

struct AdminUserPage {
  std::vector<AdminUser> users;
  std::optional<std::string> next_after;
};

struct AdminUserInput {
  std::string username;
  std::string full_name;
  engine::Role role = engine::Role::kTechnician;
  std::optional<std::string> site;  // required for clinic staff
  std::string_view password;        // hashed (Argon2id), never kept
};

// Unset fields stay. Username and site are fixed once created (users.h).
struct AdminUserChanges {
  std::optional<std::string> full_name;
  std::optional<engine::Role> role;
  std::optional<bool> active;
  std::optional<std::string_view> password;
};

// --- Devices ---

struct DeviceListQuery {
  std::optional<std::string> site;
  std::string after;
  int limit = kAdminDefaultPageSize;
};

// Field rules as engine/devices.h (serial unique among live devices).
struct AdminDeviceInput {
  std::string serial;
  std::string kind;  // "ecg" | "cpap" | "bipap" | "oxygen"
  std::string model;
  std::string firmware;
};

struct AdminDeviceChanges {
  std::optional<std::string> serial, kind, model, firmware;
};

struct AdminDevice {
  std::string id;
  std::string site_id;
  AdminDeviceInput fields;
};

struct AdminDevicePage {
  std::vector<AdminDevice> devices;
  std::optional<std::string> next_after;
};

class AdminStore {
 public:
  virtual ~AdminStore() = default;

  // Live sites, with sync times and open-conflict counts.
  virtual Result<AdminSitePage> ListSites(std::string_view after,
                                          int limit) = 0;
  virtual Result<AdminSite> GetSite(std::string_view id) = 0;
  // A new site (its clinics pull its row); returns its id.
  virtual Result<std::string> CreateSite(const engine::Principal& who,
                                         const AdminSiteInput& site) = 0;

  // Live patients of every site (or query.site) matching the query.
  virtual Result<AdminPatientPage> SearchPatients(
      const PatientSearchQuery& query) = 0;
  // One live patient with contact fields and its recording count.
  virtual Result<AdminPatient> GetPatient(std::string_view id) = 0;

  // Live recordings, optionally of one patient and/or one site.
  virtual Result<AdminRecordingPage> ListRecordings(
      const RecordingListQuery& query) = 0;

  virtual Result<AdminConflictPage> ListConflicts(
      const ConflictListQuery& query) = 0;
  // Settles conflict `id` with `decision` (engine::kKeepCurrent or
  // engine::kTakeLoser) through the engine's ConflictRepository; the
  // resolution (and a take_loser write) replicate to the clinics of the
  // conflicting row's site. kInvalidArgument for an unknown decision or
  // take_loser on a deleted row; kNotFound; kAlreadyExists if resolved.
  virtual Result<ResolvedConflict> ResolveConflict(
      const engine::Principal& who, std::string_view id,
      std::string_view decision) = 0;

  virtual Result<AdminUserPage> ListUsers(const UserListQuery& query) = 0;
  virtual Result<AdminUser> GetUser(std::string_view id) = 0;
  // Returns the new user's id. kInvalidArgument "user.site: no such site"
  // for a site that is not a live site.
  virtual Result<std::string> CreateUser(const engine::Principal& who,
                                         const AdminUserInput& user) = 0;
  virtual Status UpdateUser(const engine::Principal& who, std::string_view id,
                            const AdminUserChanges& changes) = 0;

  virtual Result<AdminDevicePage> ListDevices(const DeviceListQuery& query) = 0;
  // Registers a device at `site` (a live site); returns its id.
  virtual Result<std::string> RegisterDevice(const engine::Principal& who,
                                             std::string_view site,
                                             const AdminDeviceInput& in) = 0;
  virtual Status UpdateDevice(const engine::Principal& who,
                              std::string_view id,
                              const AdminDeviceChanges& changes) = 0;
};

}  // namespace pulse::sync_server

#endif  // PULSE_SYNC_SERVER_ADMIN_STORE_H_
