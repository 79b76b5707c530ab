// SyncService::Audit and friends: the handlers' door to the audit trail
// (audit_trail.h; DESIGN.md §6, docs/security.md "Audit").
//
// The event's actor is the authenticated caller (ctx.user_id and
// ctx.role), or the note's explicit actor (a failed login for a known
// username), or nobody. Ids that are not canonical UUIDs (a blob's SHA-256)
// cannot be an event's object_id or patient (audit_chain.md §1.1: no free
// text) and are left out. The source is the peer address.
#include <cctype>

#include "pulse/engine/change.h"
#include "service_internal.h"

namespace pulse::sync_server {
namespace {

std::optional<std::string> UuidOrNull(const std::optional<std::string>& id) {
  if (id && engine::IsCanonicalUuid(*id)) return id;
  return std::nullopt;
}

std::string LowerPeer(std::string_view peer) {
  std::string out(peer);
  for (char& c : out) {
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return out;
}

}  // namespace

Status SyncService::Audit(const Request& request, const Context& ctx,
                          const AuditNote& note) {
  return AuditAll(request, ctx, std::span<const AuditNote>(&note, 1));
}

Status SyncService::AuditAll(const Request& request, const Context& ctx,
                             std::span<const AuditNote> notes) {
  // No trail configured (tests of unrelated handlers): nothing to record.
  // The server binary always configures one (main.cc).
  if (options_.audit == nullptr || notes.empty()) return OkStatus();
  std::vector<AuditRecord> records;
  records.reserve(notes.size());
  for (const AuditNote& note : notes) {
    AuditRecord& record = records.emplace_back();
    if (note.actor && note.actor_role) {
      record.actor = note.actor;
      record.role = note.actor_role;
    } else if (!ctx.user_id.empty() && ctx.role) {
      record.actor = ctx.user_id;
      record.role = ctx.role;
    }
    if (record.actor && !engine::IsCanonicalUuid(*record.actor)) {
      record.actor.reset();
      record.role.reset();
    }
    record.action = note.action;
    record.object_type = note.object_type;
    record.object_id = UuidOrNull(note.object_id);
    record.patient = UuidOrNull(note.patient);
    record.outcome = note.outcome;
    record.peer = LowerPeer(request.peer);
  }
  Status s = options_.audit->AppendAll(records);
  if (!s) {
    // The store's message names SQL or a field, never bound values.
    LogEvent("error", "audit append failed", ctx,
             {{"action", std::string(engine::AuditActionName(notes[0].action))},
              {"events", std::to_string(notes.size())},
              {"error", s.error().ToString()}});
  }
  return s;
}

void SyncService::AuditDenial(const Request& request, const Context& ctx,
                              std::string_view object_type,
                              std::optional<std::string> object_id) {
  AuditNote note;
  note.action = engine::AuditAction::kPermissionDenied;
  note.object_type = std::string(object_type);
  note.object_id = std::move(object_id);
  note.outcome = engine::AuditOutcome::kDenied;
  (void)Audit(request, ctx, note);  // failure already logged by Audit
}

std::string SyncService::AuditMetricsText() const {
  if (options_.audit == nullptr) return {};
  const AuditTrailStats s = options_.audit->Stats();
  std::string out;
  auto metric = [&out](std::string_view name, std::string_view type,
                       std::string_view help, std::string value) {
    out += "# HELP ";
    out += name;
    out += ' ';
    out += help;
    out += "\n# TYPE ";
    out += name;
    out += ' ';
    out += type;
    out += '\n';
    out += name;
    out += ' ';
    out += value;
    out += '\n';
  };
  metric("pulse_audit_events_appended_total", "counter",
         "Server audit events committed to the central chain.",
         std::to_string(s.events_appended));
  metric("pulse_audit_append_failures_total", "counter",
         "Server audit events that could not be committed.",
         std::to_string(s.append_failures));
  metric("pulse_audit_commits_total", "counter",
         "Group-commit transactions of server audit events.",
         std::to_string(s.commits));
  metric("pulse_audit_chain_breaks_total", "counter",
         "Breaks found in sites' pushed audit chains by the continuity check.",
         std::to_string(s.chain_breaks_found));
  metric("pulse_audit_sites_broken", "gauge",
         "Sites whose audit chain is recorded as broken.",
         std::to_string(s.sites_broken));
  metric("pulse_audit_checkpoints_total", "counter",
         "Signed audit checkpoints made by this process.",
         std::to_string(s.checkpoints_made));
  return out;
}

}  // namespace pulse::sync_server
