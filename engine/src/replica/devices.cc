#include "pulse/engine/devices.h"

#include <utility>

#include "pulse/engine/change.h"
#include "row_reading.h"

namespace pulse::engine {
namespace {

constexpr std::size_t kMaxSerialChars = 64;
constexpr std::size_t kMaxModelBytes = 100;
constexpr std::size_t kMaxFirmwareBytes = 64;

constexpr std::string_view kColumns[] = {"serial", "kind", "model",
                                         "firmware"};

Status Invalid(std::string_view field, std::string_view why) {
  return Fail(ErrorCode::kInvalidArgument,
              "device." + std::string(field) + ": " + std::string(why));
}

std::string Trim(std::string_view s) {
  const auto first = s.find_first_not_of(" \t");
  if (first == std::string_view::npos) return {};
  const auto last = s.find_last_not_of(" \t");
  return std::string(s.substr(first, last - first + 1));
}

Status CheckText(std::string_view field, std::string_view value,
                 std::size_t max_bytes, bool required) {
  if (required && Trim(value).empty()) return Invalid(field, "must not be empty");
  if (value.size() > max_bytes) {
    return Invalid(field, "longer than " + std::to_string(max_bytes) + " bytes");
  }
  if (!IsValidUtf8(value)) return Invalid(field, "not valid UTF-8");
  for (char c : value) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7F) {
      return Invalid(field, "contains a control character");
    }
  }
  return OkStatus();
}

Status CheckSerial(std::string_view serial) {
  if (serial.empty() || serial.size() > kMaxSerialChars) {
    return Invalid("serial", "must be 1 to 64 characters");
  }
  for (char c : serial) {
    const bool ok = (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') ||
                    (c >= 'a' && c <= 'z') || c == '-' || c == '_' || c == '.';
    if (!ok) {
      return Invalid("serial",
                     "may contain only A-Z, a-z, 0-9 and the characters - _ .");
    }
  }
  return OkStatus();
}

std::string* FieldOf(DeviceInput& in, std::string_view column) {
  if (column == "serial") return &in.serial;
  if (column == "kind") return &in.kind;
  if (column == "model") return &in.model;
  return &in.firmware;
}

}  // namespace

Status ValidateDevice(const DeviceInput& in) {
  if (Status s = CheckSerial(in.serial); !s) return s;
  if (in.kind != "ecg" && in.kind != "cpap" && in.kind != "bipap" &&
      in.kind != "oxygen") {
    return Invalid("kind", "must be ecg, cpap, bipap or oxygen");
  }
  if (Status s = CheckText("model", in.model, kMaxModelBytes, true); !s) {
    return s;
  }
  return CheckText("firmware", in.firmware, kMaxFirmwareBytes, false);
}

DeviceRepository::DeviceRepository(Database& db, LocalWriter& writer,
                                   AuditLog& audit, UuidV7Generator& ids,
                                   Uuid site)
    : db_(db), writer_(writer), audit_(audit), ids_(ids), site_(site) {}

Result<std::optional<Device>> DeviceRepository::Load(const std::string& id) {
  auto stmt = db_.Prepare(
      "SELECT site_id, serial, kind, model, firmware FROM devices "
      "WHERE id = ? AND deleted = 0");
  if (!stmt) return Fail(stmt.error());
  if (Status s = stmt->BindText(1, id); !s) return Fail(s.error());
  auto found = stmt->Step();
  if (!found) return Fail(found.error());
  if (!*found) return std::optional<Device>();
  Device device;
  device.id = id;
  // Text columns as stored; NULL (or a damaged non-text value) reads as "".
  device.site_id = internal::TextOrNone(*stmt, 0).value_or("");
  for (int c = 0; c < 4; ++c) {
    *FieldOf(device.fields, kColumns[c]) =
        internal::TextOrNone(*stmt, c + 1).value_or("");
  }
  return std::optional<Device>(std::move(device));
}

Result<Device> DeviceRepository::LoadAuthorized(const Principal& who,
                                                const std::string& id,
                                                Action action) {
  auto current = Load(id);
  if (!current) return Fail(current.error());
  if (!current->has_value()) {
    return Fail(ErrorCode::kNotFound, "device not found");
  }
  auto row_site = Uuid::Parse((*current)->site_id);
  const Decision decision =
      Authorize(who, action, Resource::kDevices,
                row_site ? std::optional<SiteId>(*row_site) : std::nullopt);
  if (!decision) {
    return Fail(
        AuditDenial(writer_, audit_,
                    {.actor = &who, .object_type = "devices", .object_id = id},
                    decision.reason)
            .error());
  }
  return std::move(**current);
}

Result<bool> DeviceRepository::SerialTaken(const std::string& serial,
                                           const std::string& except_id) {
  auto stmt = db_.Prepare(
      "SELECT 1 FROM devices WHERE serial = ? AND deleted = 0 AND id <> ? "
      "LIMIT 1");
  if (!stmt) return Fail(stmt.error());
  Status s = stmt->BindText(1, serial);
  if (s) s = stmt->BindText(2, except_id);
  if (!s) return Fail(s.error());
  return stmt->Step();
}

Result<std::string> DeviceRepository::Register(const Principal& who,
                                               const DeviceInput& in) {
  const Decision decision =
      Authorize(who, Action::kCreate, Resource::kDevices, site_);
  if (!decision) {
    return Fail(AuditDenial(writer_, audit_,
                            {.actor = &who, .object_type = "devices"},
                            decision.reason)
                    .error());
  }
  if (Status s = ValidateDevice(in); !s) return Fail(s.error());
  auto taken = SerialTaken(in.serial, "");
  if (!taken) return Fail(taken.error());
  if (*taken) {
    return Fail(ErrorCode::kAlreadyExists, "device.serial: already registered");
  }
  RowWrite write;
  write.table = "devices";
  write.row = ids_.Next().ToString();
  write.fields["site_id"] = site_.ToString();
  DeviceInput copy = in;
  for (std::string_view column : kColumns) {
    write.fields[std::string(column)] = *FieldOf(copy, column);
  }
  const std::string id = write.row;
  std::vector<RowWrite> writes;
  writes.push_back(std::move(write));
  if (Status s = CommitAudited(writer_, audit_,
                               {&who, AuditAction::kCreate, "devices", id},
                               std::move(writes));
      !s) {
    return Fail(s.error());
  }
  return id;
}

Status DeviceRepository::Update(const Principal& who, const std::string& id,
                                const DeviceChanges& changes) {
  auto current = LoadAuthorized(who, id, Action::kUpdate);
  if (!current) return Fail(current.error());
  DeviceInput merged = current->fields;
  const std::optional<std::string>* requested[] = {
      &changes.serial, &changes.kind, &changes.model, &changes.firmware};
  RowWrite write;
  write.table = "devices";
  write.row = id;
  for (std::size_t c = 0; c < 4; ++c) {
    if (!requested[c]->has_value()) continue;
    *FieldOf(merged, kColumns[c]) = **requested[c];
    write.fields[std::string(kColumns[c])] = **requested[c];
  }
  if (write.fields.empty()) return OkStatus();
  if (Status s = ValidateDevice(merged); !s) return s;
  if (changes.serial) {
    auto taken = SerialTaken(merged.serial, id);
    if (!taken) return Fail(taken.error());
    if (*taken) {
      return Fail(ErrorCode::kAlreadyExists,
                  "device.serial: already registered");
    }
  }
  std::vector<RowWrite> writes;
  writes.push_back(std::move(write));
  return CommitAudited(writer_, audit_,
                       {&who, AuditAction::kUpdate, "devices", id},
                       std::move(writes));
}

Result<Device> DeviceRepository::Get(const Principal& who,
                                     const std::string& id) {
  return LoadAuthorized(who, id, Action::kRead);
}

Result<std::vector<Device>> DeviceRepository::List(const Principal& who,
                                                   const SiteId& site) {
  const Decision decision =
      Authorize(who, Action::kRead, Resource::kDevices, site);
  if (!decision) {
    return Fail(AuditDenial(writer_, audit_,
                            {.actor = &who, .object_type = "devices"},
                            decision.reason)
                    .error());
  }
  auto stmt = db_.Prepare(
      "SELECT id FROM devices WHERE deleted = 0 AND site_id = ? "
      "ORDER BY kind, serial, id");
  if (!stmt) return Fail(stmt.error());
  if (Status s = stmt->BindText(1, site.ToString()); !s) return Fail(s.error());
  std::vector<std::string> ids;
  for (;;) {
    auto more = stmt->Step();
    if (!more) return Fail(more.error());
    if (!*more) break;
    auto id = stmt->ColumnText(0);
    if (!id) return Fail(id.error());
    ids.emplace_back(*id);
  }
  std::vector<Device> devices;
  devices.reserve(ids.size());
  for (const std::string& id : ids) {
    auto device = Load(id);
    if (!device) return Fail(device.error());
    if (device->has_value()) devices.push_back(std::move(**device));
  }
  return devices;
}

}  // namespace pulse::engine
