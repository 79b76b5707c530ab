// The permission matrix of DESIGN.md §6, in one place: which role may do
// which action on which kind of row, and at which scope (own site, any site,
// or not at all). The sync server checks it on every endpoint and every
// pushed change; the engine checks the same matrix offline in its
// repositories. docs/security.md holds the same table, rendered from this
// code by RenderPermissionMatrixMarkdown() and compared with it by
// tests/engine/permissions_test.cc, so the two cannot drift.
//
// Authorize() is pure: no I/O, no SQL, no clock. It answers for one row (or
// one query over rows of one site); the caller supplies the row's site.
//
// The numeric values of Role, Resource and Action are stable: they may be
// stored, logged and compared across versions, and are never renumbered.
// Their text names (RoleName etc.) are the names used in the database
// (`users.role`), on the wire and in audit events.
//
// Thread-safety: everything here is a pure function of its arguments.
#ifndef PULSE_ENGINE_PERMISSIONS_H_
#define PULSE_ENGINE_PERMISSIONS_H_

#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "pulse/base/result.h"
#include "pulse/engine/uuid.h"

namespace pulse::engine {

using SiteId = Uuid;
using UserId = Uuid;

enum class Role {
  kAdmin = 1,       // central: manages sites, users, devices; reads all sites
  kClinician = 2,   // own site: record, view, interpret, confirm
  kTechnician = 3,  // own site: register patients, record, view
  kAuditor = 4,     // audit APIs only, read-only, no patient rows
};

// The kinds of row the matrix governs: the tables of DESIGN.md §3 (names are
// the table names).
enum class Resource {
  kSites = 1,
  kUsers = 2,
  kDevices = 3,
  kPatients = 4,
  kRecordings = 5,
  kMeasurements = 6,
  kFindings = 7,
  kInterpretations = 8,
  kReports = 9,
  kAuditEvents = 10,
  kClientErrors = 11,
  kConflicts = 12,
};

enum class Action {
  kRead = 1,     // view, list, search, pull
  kCreate = 2,   // insert a new row (also: push a new row)
  kUpdate = 3,   // change fields of an existing row
  kDelete = 4,   // tombstone a row (never a physical erase)
  kConfirm = 5,  // sign off an interpretation (status confirmed/amended)
  kResolve = 6,  // settle a conflict by choosing one of its recorded values
  kPrint = 7,    // print a report
  kExport = 8,   // take data out of the system as a file (PDF, log export)
};

// How far a (role, resource, action) grant reaches.
enum class Scope {
  kNone = 0,     // never allowed
  kOwnSite = 1,  // only rows whose site is the principal's own site
  kAnySite = 2,  // rows of every site, and rows or queries with no site
};

inline constexpr Role kAllRoles[] = {Role::kAdmin, Role::kClinician,
                                     Role::kTechnician, Role::kAuditor};
inline constexpr Resource kAllResources[] = {
    Resource::kSites,       Resource::kUsers,           Resource::kDevices,
    Resource::kPatients,    Resource::kRecordings,      Resource::kMeasurements,
    Resource::kFindings,    Resource::kInterpretations, Resource::kReports,
    Resource::kAuditEvents, Resource::kClientErrors,    Resource::kConflicts};
inline constexpr Action kAllActions[] = {
    Action::kRead,    Action::kCreate,  Action::kUpdate, Action::kDelete,
    Action::kConfirm, Action::kResolve, Action::kPrint,  Action::kExport};

// Text names: "admin", "patients", "confirm", "own site"... For an
// out-of-range value (a bad cast) they return "unknown".
std::string_view RoleName(Role role);
std::string_view ResourceName(Resource resource);
std::string_view ActionName(Action action);
std::string_view ScopeName(Scope scope);

// Inverse of the names above (exact, lower case). kInvalidArgument naming
// the text otherwise — the text is a role or table name, never secret.
Result<Role> ParseRole(std::string_view text);
Result<Resource> ParseResource(std::string_view text);
Result<Action> ParseAction(std::string_view text);

// Who is acting. Central staff (admin, auditor) have no site; clinic staff
// (clinician, technician) have the site whose replica they work on.
struct Principal {
  UserId user_id;
  Role role = Role::kAuditor;
  std::optional<SiteId> site;
};

// True iff `action` means something for `resource` (confirm only for
// interpretations, resolve only for conflicts, print only for reports,
// export for reports and audit events; read/create/update/delete for all).
bool IsApplicable(Resource resource, Action action);

// The matrix cell. kNone for inapplicable pairs and out-of-range values.
Scope PermissionScope(Role role, Resource resource, Action action);

// Why a decision came out the way it did. Stable values, like the enums
// above; DecisionCodeName() gives the text for audit events.
enum class DecisionCode {
  kAllowed = 0,
  kNotApplicable = 1,     // the action has no meaning for the resource
  kRoleNotPermitted = 2,  // the matrix cell is kNone
  kNoPrincipalSite = 3,   // own-site grant, but the principal has no site
  kNoRowSite = 4,         // own-site grant, but the row/query has no site
  kOtherSite = 5,         // own-site grant, but the row is another site's
};
std::string_view DecisionCodeName(DecisionCode code);

struct Decision {
  DecisionCode code = DecisionCode::kRoleNotPermitted;
  // One sentence fit for an audit event's outcome detail, e.g.
  // "denied: technician may not confirm interpretations". Names roles,
  // actions, tables and scope only: never patient data, never row ids.
  std::string reason;

  bool allowed() const { return code == DecisionCode::kAllowed; }
  explicit operator bool() const { return allowed(); }
};

// May `who` perform `action` on a row of `resource` belonging to
// `row_site`? `row_site` is the row's site_id; std::nullopt means the row
// has none (central users, a cross-site query such as the admin's merged
// search). An own-site grant allows only row_site == who.site, both set; an
// any-site grant allows every row_site including nullopt.
//
// The matrix is the only rule here. State rules (a confirmed interpretation
// cannot be edited, append-only tables are never updated by anyone) are the
// repositories' business on top of it.
Decision Authorize(const Principal& who, Action action, Resource resource,
                   const std::optional<SiteId>& row_site);

// The whole matrix as a Markdown table: one row per applicable
// (resource, action) pair, one column per role, cells "own site",
// "any site" or "—". docs/security.md embeds exactly this text between its
// "permission-matrix" markers.
std::string RenderPermissionMatrixMarkdown();

}  // namespace pulse::engine

#endif  // PULSE_ENGINE_PERMISSIONS_H_
