#include "pulse/engine/permissions.h"

#include <array>
#include <cstddef>
#include <string>
#include <utility>

namespace pulse::engine {
namespace {

constexpr Scope N = Scope::kNone;
constexpr Scope O = Scope::kOwnSite;
constexpr Scope A = Scope::kAnySite;

struct MatrixRow {
  Resource resource;
  Action action;
  // Indexed in kAllRoles order: admin, clinician, technician, auditor.
  std::array<Scope, 4> scope;
};

// THE permission matrix (DESIGN.md §6). Every applicable (resource, action)
// pair has exactly one row; a pair without a row is not applicable. The
// reasons for each decision are written in docs/security.md §2; change
// both together (tests/engine/permissions_test.cc fails otherwise).
//
// clang-format off
//                                                 {admin, clinician,
//                                                  technician, auditor}
constexpr MatrixRow kMatrix[] = {
    {Resource::kSites,           Action::kRead,     {A, O, O, A}},
    {Resource::kSites,           Action::kCreate,   {A, N, N, N}},
    {Resource::kSites,           Action::kUpdate,   {A, N, N, N}},
    {Resource::kSites,           Action::kDelete,   {A, N, N, N}},

    {Resource::kUsers,           Action::kRead,     {A, O, O, A}},
    {Resource::kUsers,           Action::kCreate,   {A, N, N, N}},
    {Resource::kUsers,           Action::kUpdate,   {A, N, N, N}},
    {Resource::kUsers,           Action::kDelete,   {A, N, N, N}},

    {Resource::kDevices,         Action::kRead,     {A, O, O, N}},
    {Resource::kDevices,         Action::kCreate,   {A, O, O, N}},
    {Resource::kDevices,         Action::kUpdate,   {A, N, N, N}},
    {Resource::kDevices,         Action::kDelete,   {A, N, N, N}},

    {Resource::kPatients,        Action::kRead,     {A, O, O, N}},
    {Resource::kPatients,        Action::kCreate,   {N, O, O, N}},
    {Resource::kPatients,        Action::kUpdate,   {N, O, O, N}},
    {Resource::kPatients,        Action::kDelete,   {N, O, N, N}},

    {Resource::kRecordings,      Action::kRead,     {A, O, O, N}},
    {Resource::kRecordings,      Action::kCreate,   {N, O, O, N}},
    {Resource::kRecordings,      Action::kUpdate,   {N, O, O, N}},
    {Resource::kRecordings,      Action::kDelete,   {N, O, N, N}},

    {Resource::kMeasurements,    Action::kRead,     {A, O, O, N}},
    {Resource::kMeasurements,    Action::kCreate,   {N, O, O, N}},
    {Resource::kMeasurements,    Action::kUpdate,   {N, N, N, N}},
    {Resource::kMeasurements,    Action::kDelete,   {N, N, N, N}},

    {Resource::kFindings,        Action::kRead,     {A, O, O, N}},
    {Resource::kFindings,        Action::kCreate,   {N, O, O, N}},
    {Resource::kFindings,        Action::kUpdate,   {N, N, N, N}},
    {Resource::kFindings,        Action::kDelete,   {N, N, N, N}},

    {Resource::kInterpretations, Action::kRead,     {A, O, O, N}},
    {Resource::kInterpretations, Action::kCreate,   {N, O, N, N}},
    {Resource::kInterpretations, Action::kUpdate,   {N, O, N, N}},
    {Resource::kInterpretations, Action::kDelete,   {N, O, N, N}},
    {Resource::kInterpretations, Action::kConfirm,  {N, O, N, N}},

    {Resource::kReports,         Action::kRead,     {A, O, O, N}},
    {Resource::kReports,         Action::kCreate,   {N, O, O, N}},
    {Resource::kReports,         Action::kUpdate,   {N, N, N, N}},
    {Resource::kReports,         Action::kDelete,   {N, N, N, N}},
    {Resource::kReports,         Action::kPrint,    {A, O, O, N}},
    {Resource::kReports,         Action::kExport,   {A, O, N, N}},

    {Resource::kAuditEvents,     Action::kRead,     {N, N, N, A}},
    {Resource::kAuditEvents,     Action::kCreate,   {N, O, O, N}},
    {Resource::kAuditEvents,     Action::kUpdate,   {N, N, N, N}},
    {Resource::kAuditEvents,     Action::kDelete,   {N, N, N, N}},
    {Resource::kAuditEvents,     Action::kExport,   {N, N, N, A}},

    {Resource::kClientErrors,    Action::kRead,     {A, N, N, N}},
    {Resource::kClientErrors,    Action::kCreate,   {N, O, O, N}},
    {Resource::kClientErrors,    Action::kUpdate,   {N, N, N, N}},
    {Resource::kClientErrors,    Action::kDelete,   {N, N, N, N}},

    {Resource::kConflicts,       Action::kRead,     {A, O, O, N}},
    {Resource::kConflicts,       Action::kCreate,   {N, N, N, N}},
    {Resource::kConflicts,       Action::kUpdate,   {N, N, N, N}},
    {Resource::kConflicts,       Action::kDelete,   {N, N, N, N}},
    {Resource::kConflicts,       Action::kResolve,  {A, O, N, N}},
};
// clang-format on

const MatrixRow* FindRow(Resource resource, Action action) {
  for (const MatrixRow& row : kMatrix) {
    if (row.resource == resource && row.action == action) return &row;
  }
  return nullptr;
}

// Index of `role` in MatrixRow::scope, or -1 for an out-of-range value.
int RoleIndex(Role role) {
  for (std::size_t i = 0; i < std::size(kAllRoles); ++i) {
    if (kAllRoles[i] == role) return static_cast<int>(i);
  }
  return -1;
}

template <typename Enum, std::size_t kCount>
Result<Enum> ParseName(std::string_view text, const Enum (&all)[kCount],
                       std::string_view (*name)(Enum), std::string_view what) {
  for (Enum value : all) {
    if (name(value) == text) return value;
  }
  return Fail(
      ErrorCode::kInvalidArgument,
      "unknown " + std::string(what) + " \"" + std::string(text) + "\"");
}

Decision Make(DecisionCode code, std::string reason) {
  return Decision{code, std::move(reason)};
}

}  // namespace

std::string_view RoleName(Role role) {
  switch (role) {
    case Role::kAdmin:
      return "admin";
    case Role::kClinician:
      return "clinician";
    case Role::kTechnician:
      return "technician";
    case Role::kAuditor:
      return "auditor";
  }
  return "unknown";
}

std::string_view ResourceName(Resource resource) {
  switch (resource) {
    case Resource::kSites:
      return "sites";
    case Resource::kUsers:
      return "users";
    case Resource::kDevices:
      return "devices";
    case Resource::kPatients:
      return "patients";
    case Resource::kRecordings:
      return "recordings";
    case Resource::kMeasurements:
      return "measurements";
    case Resource::kFindings:
      return "findings";
    case Resource::kInterpretations:
      return "interpretations";
    case Resource::kReports:
      return "reports";
    case Resource::kAuditEvents:
      return "audit_events";
    case Resource::kClientErrors:
      return "client_errors";
    case Resource::kConflicts:
      return "conflicts";
  }
  return "unknown";
}

std::string_view ActionName(Action action) {
  switch (action) {
    case Action::kRead:
      return "read";
    case Action::kCreate:
      return "create";
    case Action::kUpdate:
      return "update";
    case Action::kDelete:
      return "delete";
    case Action::kConfirm:
      return "confirm";
    case Action::kResolve:
      return "resolve";
    case Action::kPrint:
      return "print";
    case Action::kExport:
      return "export";
  }
  return "unknown";
}

std::string_view ScopeName(Scope scope) {
  switch (scope) {
    case Scope::kNone:
      return "none";
    case Scope::kOwnSite:
      return "own site";
    case Scope::kAnySite:
      return "any site";
  }
  return "unknown";
}

std::string_view DecisionCodeName(DecisionCode code) {
  switch (code) {
    case DecisionCode::kAllowed:
      return "allowed";
    case DecisionCode::kNotApplicable:
      return "not_applicable";
    case DecisionCode::kRoleNotPermitted:
      return "role_not_permitted";
    case DecisionCode::kNoPrincipalSite:
      return "no_principal_site";
    case DecisionCode::kNoRowSite:
      return "no_row_site";
    case DecisionCode::kOtherSite:
      return "other_site";
  }
  return "unknown";
}

Result<Role> ParseRole(std::string_view text) {
  return ParseName(text, kAllRoles, &RoleName, "role");
}
Result<Resource> ParseResource(std::string_view text) {
  return ParseName(text, kAllResources, &ResourceName, "resource");
}
Result<Action> ParseAction(std::string_view text) {
  return ParseName(text, kAllActions, &ActionName, "action");
}

bool IsApplicable(Resource resource, Action action) {
  return FindRow(resource, action) != nullptr;
}

Scope PermissionScope(Role role, Resource resource, Action action) {
  const MatrixRow* row = FindRow(resource, action);
  const int index = RoleIndex(role);
  if (row == nullptr || index < 0) return Scope::kNone;
  return row->scope[static_cast<std::size_t>(index)];
}

Decision Authorize(const Principal& who, Action action, Resource resource,
                   const std::optional<SiteId>& row_site) {
  const std::string role(RoleName(who.role));
  const std::string act(ActionName(action));
  const std::string table(ResourceName(resource));
  if (!IsApplicable(resource, action)) {
    return Make(DecisionCode::kNotApplicable,
                "denied: " + act + " does not apply to " + table);
  }
  const std::string grant = role + " may " + act + " " + table;
  switch (PermissionScope(who.role, resource, action)) {
    case Scope::kNone:
      return Make(DecisionCode::kRoleNotPermitted,
                  "denied: " + role + " may not " + act + " " + table);
    case Scope::kAnySite:
      return Make(DecisionCode::kAllowed, "allowed: " + grant + " of any site");
    case Scope::kOwnSite:
      if (!who.site.has_value()) {
        return Make(
            DecisionCode::kNoPrincipalSite,
            "denied: " + grant + " of own site only, and the user has no site");
      }
      if (!row_site.has_value()) {
        return Make(
            DecisionCode::kNoRowSite,
            "denied: " + grant + " of own site only, and the row has no site");
      }
      if (*row_site != *who.site) {
        return Make(DecisionCode::kOtherSite,
                    "denied: " + grant +
                        " of own site only, and the row is another site's");
      }
      return Make(DecisionCode::kAllowed, "allowed: " + grant + " of own site");
  }
  return Make(DecisionCode::kRoleNotPermitted,
              "denied: " + role + " may not " + act + " " + table);
}

std::string RenderPermissionMatrixMarkdown() {
  auto cell = [](Scope scope) -> std::string {
    return scope == Scope::kNone ? "—" : std::string(ScopeName(scope));
  };
  std::string out = "| table | action |";
  for (Role role : kAllRoles) out += " " + std::string(RoleName(role)) + " |";
  out += "\n|---|---|";
  for (std::size_t i = 0; i < std::size(kAllRoles); ++i) out += "---|";
  out += "\n";
  // Resource-major, in enum order, so the table reads like DESIGN §3.
  for (Resource resource : kAllResources) {
    for (Action action : kAllActions) {
      if (!IsApplicable(resource, action)) continue;
      out += "| " + std::string(ResourceName(resource)) + " | " +
             std::string(ActionName(action)) + " |";
      for (Role role : kAllRoles) {
        out += " " + cell(PermissionScope(role, resource, action)) + " |";
      }
      out += "\n";
    }
  }
  return out;
}

}  // namespace pulse::engine
