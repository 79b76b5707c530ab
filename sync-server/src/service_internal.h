// Internal to pulse_sync_server_core: what SyncService's handler files
// (service.cc and the route families in blob_handlers.cc, admin_handlers.cc,
// audit_handlers.cc) share. Not part of the library's contract.
#ifndef PULSE_SYNC_SERVER_SRC_SERVICE_INTERNAL_H_
#define PULSE_SYNC_SERVER_SRC_SERVICE_INTERNAL_H_

#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "pulse/engine/audit.h"
#include "pulse/engine/permissions.h"
#include "pulse/sync_server/central_store.h"
#include "pulse/sync_server/http_message.h"
#include "pulse/sync_server/service.h"

namespace pulse::sync_server {

inline constexpr std::string_view kUnmatchedRoute = "(unmatched)";

// The authenticated caller of one request.
struct SyncService::Auth {
  std::string token_hash;
  Session session;
  StoredUser user;  // as the store knows it now (role changes apply at once)
};

struct SyncService::Context {
  std::string request_id;
  std::string route{kUnmatchedRoute};
  std::string user_id;
  // The authenticated caller's role and site (set with user_id by
  // Authenticate and by a successful login), for the audit trail.
  std::optional<engine::Role> role;
  std::optional<std::string> site;
};

// What a handler tells the audit trail about one request.
struct SyncService::AuditNote {
  // Every member has a default, so a designated initializer names only
  // what it sets.
  engine::AuditAction action = engine::AuditAction::kView;
  std::string object_type{};               // table or resource, "patients"
  std::optional<std::string> object_id{};  // canonical UUID (or blob hash)
  std::optional<std::string> patient{};    // canonical UUID of the patient
  engine::AuditOutcome outcome = engine::AuditOutcome::kOk;
  // The actor when it is not the authenticated caller: a failed login for
  // a known username names that user. Both or neither.
  std::optional<std::string> actor{};
  std::optional<engine::Role> actor_role{};
};

inline Response JsonResponse(int status, std::string body) {
  Response r;
  r.status = status;
  r.content_type = std::string(kJsonContentType);
  r.body = std::move(body);
  return r;
}

inline Response Unauthorized(std::string detail) {
  Response r = ProblemResponse(401, "unauthorized", std::move(detail));
  r.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"pulse\"");
  return r;
}

inline bool IsClinicStaff(engine::Role role) {
  return role == engine::Role::kClinician || role == engine::Role::kTechnician;
}

}  // namespace pulse::sync_server

#endif  // PULSE_SYNC_SERVER_SRC_SERVICE_INTERNAL_H_
