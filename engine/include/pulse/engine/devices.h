// Devices of a clinic (DESIGN.md §3): the ECG recorders and the respiratory
// equipment (CPAP, BiPAP, oxygen) registered at a site. Registration is
// open to the site's staff, so a clinic that receives a new ECG device
// while offline can record with it; editing a device is the admin's
// (docs/security.md §2, Resource::kDevices).
//
// Each call is checked against the permission matrix, validated (bad
// values are kInvalidArgument naming the field, and nothing is written),
// written through LocalWriter with its audit event in the same Commit; a
// refused attempt is audited (permission_denied) and returns
// kPermissionDenied. Reads are not audited: a device row holds no patient
// data.
//
// Thread-safety: one repository per writer connection, one thread at a
// time.
#ifndef PULSE_ENGINE_DEVICES_H_
#define PULSE_ENGINE_DEVICES_H_

#include <optional>
#include <string>
#include <vector>

#include "pulse/base/result.h"
#include "pulse/engine/audit_log.h"
#include "pulse/engine/database.h"
#include "pulse/engine/local_writer.h"
#include "pulse/engine/permissions.h"
#include "pulse/engine/uuid.h"

namespace pulse::engine {

// Field rules (checked on every write):
//  serial    1–64 characters of [A-Za-z0-9-_.]; unique among the live
//            devices of this replica (kAlreadyExists), since acquisition
//            finds the device by the serial it reports (ECGLINK/1 INFO)
//  kind      "ecg", "cpap", "bipap" or "oxygen"
//  model     1–100 bytes of UTF-8 after trimming, no control characters
//  firmware  optional; up to 64 bytes of UTF-8, no control characters
struct DeviceInput {
  std::string serial;
  std::string kind;
  std::string model;
  std::string firmware;
};

// Fields to change; unset ones stay as they are.
struct DeviceChanges {
  std::optional<std::string> serial, kind, model, firmware;
};

struct Device {
  std::string id;
  std::string site_id;
  DeviceInput fields;
};

class DeviceRepository {
 public:
  // `site` is this replica's site: new devices belong to it. All
  // references must outlive the repository.
  DeviceRepository(Database& db, LocalWriter& writer, AuditLog& audit,
                   UuidV7Generator& ids, Uuid site);

  // Registers a device at this replica's site; returns its id.
  // kPermissionDenied (audited); kInvalidArgument naming the field
  // ("device.serial", ...); kAlreadyExists for a serial already registered.
  Result<std::string> Register(const Principal& who, const DeviceInput& in);

  // kNotFound for an unknown or deleted device; otherwise as Register.
  Status Update(const Principal& who, const std::string& id,
                const DeviceChanges& changes);

  // kNotFound for an unknown or deleted device; kPermissionDenied (audited).
  Result<Device> Get(const Principal& who, const std::string& id);

  // Live devices of `site`, ordered by kind, serial, id. kPermissionDenied
  // (audited) when `who` may not read that site's devices.
  Result<std::vector<Device>> List(const Principal& who, const SiteId& site);

 private:
  Result<std::optional<Device>> Load(const std::string& id);
  Result<Device> LoadAuthorized(const Principal& who, const std::string& id,
                                Action action);
  // True if a live device other than `except_id` has `serial`.
  Result<bool> SerialTaken(const std::string& serial,
                           const std::string& except_id);

  Database& db_;
  LocalWriter& writer_;
  AuditLog& audit_;
  UuidV7Generator& ids_;
  Uuid site_;
};

// The rules above (not uniqueness), for callers that validate before
// asking. kInvalidArgument naming the field.
Status ValidateDevice(const DeviceInput& in);

}  // namespace pulse::engine

#endif  // PULSE_ENGINE_DEVICES_H_
