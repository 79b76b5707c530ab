#include "provision.h"

#include <cstdio>
#include <fstream>
#include <sstream>

namespace pulse::sync_load {

Result<std::vector<RosterEntry>> ProvisionClinics(
    sync_server::SqlcipherCentralStore& store, int clinics,
    std::string_view password, const std::function<void(int)>& progress) {
  if (clinics < 1) {
    return Fail(ErrorCode::kInvalidArgument, "clinics: must be at least 1");
  }
  std::vector<RosterEntry> roster;
  roster.reserve(static_cast<std::size_t>(clinics));
  for (int i = 1; i <= clinics; ++i) {
    char number[16];
    std::snprintf(number, sizeof number, "%05d", i);
    auto site = store.AddSite(
        {std::string("Load clinic ") + number, "Load", "Africa/Nairobi"}, "");
    if (!site) return Fail(site.error().WithContext("AddSite"));
    sync_server::NewUser user;
    user.username = std::string("load-") + number;
    user.full_name = std::string("Load technician ") + number;
    user.role = engine::Role::kTechnician;
    user.site = *site;
    user.password = password;
    auto id = store.AddUser(user, "");
    if (!id) return Fail(id.error().WithContext("AddUser"));
    roster.push_back({user.username, *id, *site});
    if (progress && i % 500 == 0) progress(i);
  }
  return roster;
}

Status WriteRoster(const std::filesystem::path& file,
                   const std::vector<RosterEntry>& roster) {
  std::ofstream out(file, std::ios::trunc);
  if (!out) return Fail(ErrorCode::kIoError, file.string() + ": cannot write");
  for (const RosterEntry& r : roster) {
    out << r.username << ' ' << r.user_id << ' ' << r.site << '\n';
  }
  out.close();
  if (!out) return Fail(ErrorCode::kIoError, file.string() + ": write failed");
  return OkStatus();
}

Result<std::vector<RosterEntry>> ReadRoster(const std::filesystem::path& file) {
  std::ifstream in(file);
  if (!in) return Fail(ErrorCode::kNotFound, file.string() + ": cannot open");
  std::vector<RosterEntry> roster;
  std::string line;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    if (line.empty()) continue;
    std::istringstream fields(line);
    RosterEntry r;
    if (!(fields >> r.username >> r.user_id >> r.site)) {
      return Fail(ErrorCode::kInvalidArgument,
                  file.string() + ":" + std::to_string(number) +
                      ": expected 'username user_id site'");
    }
    roster.push_back(std::move(r));
  }
  return roster;
}

}  // namespace pulse::sync_load
