// Patients of a clinic replica: registration, edits, removal, lookup and
// search, each checked against the permission matrix (permissions.h),
// validated (bad values are kInvalidArgument naming the field, and nothing
// is written), written through the one local write path (LocalWriter) and
// audited in the same transaction (AuditLog). A refused attempt is itself
// audited (permission_denied) and returns kPermissionDenied.
//
// Thread-safety: one repository per writer connection, one thread at a
// time (the recording pipeline and the UI reach it through the engine's
// worker, never concurrently).
#ifndef PULSE_ENGINE_PATIENTS_H_
#define PULSE_ENGINE_PATIENTS_H_

#include <optional>
#include <string>
#include <vector>

#include "pulse/base/result.h"
#include "pulse/engine/audit_log.h"
#include "pulse/engine/clock.h"
#include "pulse/engine/local_writer.h"
#include "pulse/engine/permissions.h"

namespace pulse::engine {

// Field rules (checked on every write):
//  mrn          1–32 characters of [A-Za-z0-9-/.]
//  given_name,
//  family_name  1–100 bytes of UTF-8 after trimming, no control characters
//  birth_date   YYYY-MM-DD, a real calendar date from 1900-01-01 to today
//  sex          "F", "M", "X" (other) or "U" (unknown)
//  phone        optional; up to 32 characters of [0-9 +()-]
//  address      optional; up to 500 bytes of UTF-8, no control characters
//               other than newline
struct PatientInput {
  std::string mrn;
  std::string given_name;
  std::string family_name;
  std::string birth_date;
  std::string sex;
  std::string phone;
  std::string address;
};

// Fields to change; unset ones stay as they are.
struct PatientChanges {
  std::optional<std::string> mrn, given_name, family_name, birth_date, sex,
      phone, address;
};

struct Patient {
  std::string id;
  std::string site_id;
  PatientInput fields;
};

struct PatientQuery {
  // Matches an exact MRN, or a prefix of the family or given name
  // (case-insensitive for ASCII). Empty: no name/MRN filter.
  std::string text;
  std::string birth_date;  // exact, optional
  int limit = 50;          // 1..200
};

class PatientRepository {
 public:
  // `site` is this replica's site: new patients belong to it.
  PatientRepository(Database& db, LocalWriter& writer, AuditLog& audit,
                    Clock& wall, UuidV7Generator& ids, Uuid site);

  // Returns the new patient's id.
  Result<std::string> Register(const Principal& who, const PatientInput& in);
  Status Update(const Principal& who, const std::string& id,
                const PatientChanges& changes);
  // Tombstones the patient (never a physical erase).
  Status Remove(const Principal& who, const std::string& id);
  // kNotFound for an unknown or removed patient.
  Result<Patient> Get(const Principal& who, const std::string& id);
  // Live patients of the caller's reach (own site; any site for roles that
  // read all sites), each audited as viewed.
  Result<std::vector<Patient>> Search(const Principal& who,
                                      const PatientQuery& query);

 private:
  Result<std::optional<Patient>> Load(const std::string& id);
  // Load() + Authorize() against the row's site: kNotFound, or the denial
  // (audited), or the live patient.
  Result<Patient> LoadAuthorized(const Principal& who, const std::string& id,
                                 Action action);

  Database& db_;
  LocalWriter& writer_;
  AuditLog& audit_;
  Clock& wall_;
  UuidV7Generator& ids_;
  Uuid site_;
};

// The rules above, exposed for callers that validate before asking (UI
// forms). kInvalidArgument naming the field.
Status ValidatePatient(const PatientInput& in, Clock& wall);

}  // namespace pulse::engine

#endif  // PULSE_ENGINE_PATIENTS_H_
