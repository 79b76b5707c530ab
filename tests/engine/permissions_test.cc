// The permission matrix (pulse/engine/permissions.h), checked cell by cell
// against a table written out by hand below — not computed by the code
// under test — for every role × resource × action × (own site, other site,
// no site), and checked against the table in docs/security.md.
#include "pulse/engine/permissions.h"

#include <gtest/gtest.h>

#include <array>
#include <fstream>
#include <sstream>
#include <string>

namespace pulse::engine {
namespace {

// Columns, in this order: read create update delete confirm resolve print
// export. Each cell: four characters for admin, clinician, technician,
// auditor — 'A' any site, 'O' own site only, '-' never, 'x' the action does
// not apply to the table. This is the decision record of docs/security.md
// §2, written out independently of engine/src/access/permissions.cc.
struct ExpectedRow {
  Resource resource;
  std::array<const char*, 8> cells;
};

// clang-format off
constexpr ExpectedRow kExpected[] = {
  //                         read    create  update  delete  confirm resolve print   export
  {Resource::kSites,        {"AOOA", "A---", "A---", "A---", "xxxx", "xxxx", "xxxx", "xxxx"}},
  {Resource::kUsers,        {"AOOA", "A---", "A---", "A---", "xxxx", "xxxx", "xxxx", "xxxx"}},
  {Resource::kDevices,      {"AOO-", "AOO-", "A---", "A---", "xxxx", "xxxx", "xxxx", "xxxx"}},
  {Resource::kPatients,     {"AOO-", "-OO-", "-OO-", "-O--", "xxxx", "xxxx", "xxxx", "xxxx"}},
  {Resource::kRecordings,   {"AOO-", "-OO-", "-OO-", "-O--", "xxxx", "xxxx", "xxxx", "xxxx"}},
  {Resource::kMeasurements, {"AOO-", "-OO-", "----", "----", "xxxx", "xxxx", "xxxx", "xxxx"}},
  {Resource::kFindings,     {"AOO-", "-OO-", "----", "----", "xxxx", "xxxx", "xxxx", "xxxx"}},
  {Resource::kInterpretations,
                            {"AOO-", "-O--", "-O--", "-O--", "-O--", "xxxx", "xxxx", "xxxx"}},
  {Resource::kReports,      {"AOO-", "-OO-", "----", "----", "xxxx", "xxxx", "AOO-", "AO--"}},
  {Resource::kAuditEvents,  {"---A", "-OO-", "----", "----", "xxxx", "xxxx", "xxxx", "---A"}},
  {Resource::kClientErrors, {"A---", "-OO-", "----", "----", "xxxx", "xxxx", "xxxx", "xxxx"}},
  {Resource::kConflicts,    {"AOO-", "----", "----", "----", "xxxx", "AO--", "xxxx", "xxxx"}},
};
// clang-format on

constexpr Action kColumnActions[8] = {
    Action::kRead,    Action::kCreate,  Action::kUpdate, Action::kDelete,
    Action::kConfirm, Action::kResolve, Action::kPrint,  Action::kExport};
constexpr Role kColumnRoles[4] = {Role::kAdmin, Role::kClinician,
                                  Role::kTechnician, Role::kAuditor};

Uuid MakeId(std::uint8_t last) {
  Uuid::Bytes bytes{};
  bytes[6] = 0x70;
  bytes[8] = 0x80;
  bytes[15] = last;
  return Uuid(bytes);
}

const SiteId kOwnSite = MakeId(1);
const SiteId kOtherSite = MakeId(2);

bool IsCentral(Role role) {
  return role == Role::kAdmin || role == Role::kAuditor;
}

// Central staff have no site (DESIGN.md §3 users.site_id); clinic staff
// work at kOwnSite.
Principal StandardPrincipal(Role role) {
  Principal who;
  who.user_id = MakeId(100);
  who.role = role;
  if (!IsCentral(role)) who.site = kOwnSite;
  return who;
}

enum class RowSite { kOwn, kOther, kNone };
constexpr RowSite kRowSites[] = {RowSite::kOwn, RowSite::kOther,
                                 RowSite::kNone};

std::optional<SiteId> RowSiteValue(RowSite row) {
  switch (row) {
    case RowSite::kOwn:
      return kOwnSite;
    case RowSite::kOther:
      return kOtherSite;
    case RowSite::kNone:
      return std::nullopt;
  }
  return std::nullopt;
}

const char* RowSiteName(RowSite row) {
  switch (row) {
    case RowSite::kOwn:
      return "own site";
    case RowSite::kOther:
      return "other site";
    case RowSite::kNone:
      return "no site";
  }
  return "?";
}

// The decision code a cell letter implies for a standard principal.
DecisionCode ExpectedCode(char cell, Role role, RowSite row) {
  switch (cell) {
    case 'x':
      return DecisionCode::kNotApplicable;
    case '-':
      return DecisionCode::kRoleNotPermitted;
    case 'A':
      return DecisionCode::kAllowed;
    case 'O':
      if (IsCentral(role)) return DecisionCode::kNoPrincipalSite;
      if (row == RowSite::kOwn) return DecisionCode::kAllowed;
      return row == RowSite::kOther ? DecisionCode::kOtherSite
                                    : DecisionCode::kNoRowSite;
  }
  ADD_FAILURE() << "bad cell letter " << cell;
  return DecisionCode::kRoleNotPermitted;
}

TEST(PermissionsTest, ExpectedTableCoversEveryResourceOnce) {
  ASSERT_EQ(std::size(kExpected), std::size(kAllResources));
  for (std::size_t i = 0; i < std::size(kExpected); ++i) {
    EXPECT_EQ(kExpected[i].resource, kAllResources[i]);
  }
  ASSERT_EQ(std::size(kColumnActions), std::size(kAllActions));
  for (std::size_t i = 0; i < std::size(kColumnActions); ++i) {
    EXPECT_EQ(kColumnActions[i], kAllActions[i]);
  }
}

TEST(PermissionsTest, EveryRoleResourceActionAndSiteMatchesTheTable) {
  int cases = 0;
  for (const ExpectedRow& row : kExpected) {
    for (std::size_t a = 0; a < 8; ++a) {
      const Action action = kColumnActions[a];
      ASSERT_EQ(std::string(row.cells[a]).size(), 4u);
      for (std::size_t r = 0; r < 4; ++r) {
        const Role role = kColumnRoles[r];
        const char cell = row.cells[a][r];
        for (RowSite site : kRowSites) {
          const Decision decision = Authorize(StandardPrincipal(role), action,
                                              row.resource, RowSiteValue(site));
          const DecisionCode expected = ExpectedCode(cell, role, site);
          EXPECT_EQ(decision.code, expected)
              << RoleName(role) << " " << ActionName(action) << " "
              << ResourceName(row.resource) << " on a row of "
              << RowSiteName(site) << ": " << decision.reason;
          EXPECT_EQ(decision.allowed(), expected == DecisionCode::kAllowed);
          EXPECT_EQ(static_cast<bool>(decision), decision.allowed());
          ++cases;
        }
        EXPECT_EQ(IsApplicable(row.resource, action), cell != 'x');
        const Scope scope = PermissionScope(role, row.resource, action);
        EXPECT_EQ(scope, cell == 'A'   ? Scope::kAnySite
                         : cell == 'O' ? Scope::kOwnSite
                                       : Scope::kNone)
            << RoleName(role) << " " << ActionName(action) << " "
            << ResourceName(row.resource);
      }
    }
  }
  EXPECT_EQ(cases, 4 * 12 * 8 * 3);
}

TEST(PermissionsTest, ClinicStaffWithoutSiteGetNoOwnSiteGrant) {
  for (Role role : {Role::kClinician, Role::kTechnician}) {
    Principal who = StandardPrincipal(role);
    who.site.reset();
    for (RowSite site : kRowSites) {
      const Decision d = Authorize(who, Action::kRead, Resource::kPatients,
                                   RowSiteValue(site));
      EXPECT_EQ(d.code, DecisionCode::kNoPrincipalSite) << d.reason;
    }
  }
}

TEST(PermissionsTest, AdminWithASiteStillReachesEverySite) {
  Principal admin = StandardPrincipal(Role::kAdmin);
  admin.site = kOwnSite;
  EXPECT_TRUE(Authorize(admin, Action::kRead, Resource::kPatients, kOtherSite));
  EXPECT_FALSE(
      Authorize(admin, Action::kUpdate, Resource::kPatients, kOwnSite));
}

TEST(PermissionsTest, TechnicianCannotConfirmAnInterpretation) {
  const Decision d =
      Authorize(StandardPrincipal(Role::kTechnician), Action::kConfirm,
                Resource::kInterpretations, kOwnSite);
  EXPECT_FALSE(d);
  EXPECT_EQ(d.reason, "denied: technician may not confirm interpretations");
}

TEST(PermissionsTest, AuditorReadsNoPatientRows) {
  const Principal auditor = StandardPrincipal(Role::kAuditor);
  for (Resource clinical :
       {Resource::kPatients, Resource::kRecordings, Resource::kMeasurements,
        Resource::kFindings, Resource::kInterpretations, Resource::kReports,
        Resource::kConflicts, Resource::kDevices, Resource::kClientErrors}) {
    for (RowSite site : kRowSites) {
      EXPECT_FALSE(
          Authorize(auditor, Action::kRead, clinical, RowSiteValue(site)))
          << ResourceName(clinical);
    }
  }
  // ... and writes nothing at all.
  for (Resource resource : kAllResources) {
    for (Action action : kAllActions) {
      if (action == Action::kRead || action == Action::kExport) continue;
      EXPECT_FALSE(Authorize(auditor, action, resource, std::nullopt));
    }
  }
}

TEST(PermissionsTest, ReasonsNameRoleActionTableAndNoIds) {
  const Principal clinician = StandardPrincipal(Role::kClinician);
  const Decision other =
      Authorize(clinician, Action::kUpdate, Resource::kPatients, kOtherSite);
  EXPECT_EQ(other.reason,
            "denied: clinician may update patients of own site only, and the "
            "row is another site's");
  const Decision own =
      Authorize(clinician, Action::kUpdate, Resource::kPatients, kOwnSite);
  EXPECT_EQ(own.reason, "allowed: clinician may update patients of own site");
  EXPECT_EQ(Authorize(clinician, Action::kPrint, Resource::kPatients, kOwnSite)
                .reason,
            "denied: print does not apply to patients");
  for (const Decision& d : {other, own}) {
    EXPECT_EQ(d.reason.find(kOwnSite.ToString()), std::string::npos);
    EXPECT_EQ(d.reason.find(kOtherSite.ToString()), std::string::npos);
    EXPECT_EQ(d.reason.find(clinician.user_id.ToString()), std::string::npos);
  }
}

TEST(PermissionsTest, OutOfRangeValuesAreDenied) {
  Principal who = StandardPrincipal(Role::kClinician);
  who.role = static_cast<Role>(99);
  EXPECT_FALSE(Authorize(who, Action::kRead, Resource::kPatients, kOwnSite));
  const Principal clinician = StandardPrincipal(Role::kClinician);
  EXPECT_FALSE(Authorize(clinician, static_cast<Action>(0), Resource::kPatients,
                         kOwnSite));
  EXPECT_FALSE(
      Authorize(clinician, Action::kRead, static_cast<Resource>(13), kOwnSite));
  EXPECT_EQ(RoleName(static_cast<Role>(99)), "unknown");
}

// Stored and logged values: never renumbered.
TEST(PermissionsTest, EnumValuesAndNamesAreStable) {
  EXPECT_EQ(static_cast<int>(Role::kAdmin), 1);
  EXPECT_EQ(static_cast<int>(Role::kClinician), 2);
  EXPECT_EQ(static_cast<int>(Role::kTechnician), 3);
  EXPECT_EQ(static_cast<int>(Role::kAuditor), 4);
  const char* resources[] = {"sites",        "users",           "devices",
                             "patients",     "recordings",      "measurements",
                             "findings",     "interpretations", "reports",
                             "audit_events", "client_errors",   "conflicts"};
  for (int i = 0; i < 12; ++i) {
    const auto resource = static_cast<Resource>(i + 1);
    EXPECT_EQ(ResourceName(resource), resources[i]);
    EXPECT_EQ(ParseResource(resources[i]).value(), resource);
  }
  const char* actions[] = {"read",    "create",  "update", "delete",
                           "confirm", "resolve", "print",  "export"};
  for (int i = 0; i < 8; ++i) {
    const auto action = static_cast<Action>(i + 1);
    EXPECT_EQ(ActionName(action), actions[i]);
    EXPECT_EQ(ParseAction(actions[i]).value(), action);
  }
  const char* roles[] = {"admin", "clinician", "technician", "auditor"};
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(ParseRole(roles[i]).value(), static_cast<Role>(i + 1));
  }
  EXPECT_EQ(DecisionCodeName(DecisionCode::kOtherSite), "other_site");
}

TEST(PermissionsTest, ParseRefusesUnknownNames) {
  auto role = ParseRole("Admin");
  ASSERT_FALSE(role);
  EXPECT_EQ(role.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_FALSE(ParseResource("patient"));
  EXPECT_FALSE(ParseAction(""));
}

// docs/security.md embeds the rendered matrix between two marker lines; a
// change to the code without the doc (or the reverse) fails here, printing
// the table to paste.
TEST(PermissionsTest, DocsSecurityMdMatchesTheCode) {
  const std::string path = std::string(PULSE_SOURCE_DIR) + "/docs/security.md";
  std::ifstream in(path);
  ASSERT_TRUE(in) << "cannot open " << path;
  std::stringstream buffer;
  buffer << in.rdbuf();
  const std::string doc = buffer.str();
  const std::string begin = "<!-- permission-matrix:begin -->\n";
  const std::string end = "<!-- permission-matrix:end -->";
  const auto b = doc.find(begin);
  const auto e = doc.find(end);
  ASSERT_NE(b, std::string::npos) << "no begin marker in " << path;
  ASSERT_NE(e, std::string::npos) << "no end marker in " << path;
  ASSERT_LT(b, e);
  const std::string embedded =
      doc.substr(b + begin.size(), e - b - begin.size());
  const std::string rendered = RenderPermissionMatrixMarkdown();
  EXPECT_EQ(embedded, rendered)
      << "docs/security.md is out of date; the matrix in code renders as:\n"
      << begin << rendered << end;
}

}  // namespace
}  // namespace pulse::engine
