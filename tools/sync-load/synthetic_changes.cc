#include "synthetic_changes.h"

#include <array>
#include <charconv>
#include <cstdio>
#include <utility>

#include "pulse/engine/clinic_schema.h"
#include "pulse/engine/clock.h"
#include "pulse/engine/sync_protocol.h"

namespace pulse::sync_load {
namespace {

// Made-up name parts: no real person's data ever enters a bench store.
constexpr std::array<std::string_view, 8> kGiven = {
    "Achieng", "Baraka", "Chebet", "Daudi", "Esther", "Faraji", "Gathoni",
    "Hamisi"};
constexpr std::array<std::string_view, 8> kFamily = {
    "Otieno", "Wanjiru", "Kiptoo", "Mwangi", "Njeri", "Omondi", "Kamau",
    "Akinyi"};

}  // namespace

SyntheticSite::SyntheticSite(std::string site, std::string author,
                             std::uint64_t seed)
    : site_(std::move(site)),
      author_(std::move(author)),
      rng_(seed),
      ids_(engine::SystemClock()) {}

std::vector<engine::ChangeEntry> SyntheticSite::NewPatients(int count) {
  std::vector<engine::ChangeEntry> out;
  out.reserve(static_cast<std::size_t>(count));
  for (int i = 0; i < count; ++i) {
    engine::ChangeEntry e;
    e.id = ids_.Next().ToString();
    e.hlc = clock_.Now();
    e.site = site_;
    e.table = "patients";
    e.row = ids_.Next().ToString();
    e.op = engine::Op::kUpsert;
    e.author = author_;
    const auto pick = [&](std::size_t n) {
      return static_cast<std::size_t>(rng_() % n);
    };
    char date[16];
    std::snprintf(date, sizeof date, "%04d-%02d-%02d",
                  1940 + static_cast<int>(pick(80)),
                  1 + static_cast<int>(pick(12)),
                  1 + static_cast<int>(pick(28)));
    char phone[24];
    std::snprintf(phone, sizeof phone, "+254 7%02d %03d %03d",
                  static_cast<int>(pick(100)), static_cast<int>(pick(1000)),
                  static_cast<int>(pick(1000)));
    e.fields["site_id"] = site_;
    e.fields["mrn"] = "LOAD-" + std::to_string(++mrn_);
    e.fields["given_name"] = std::string(kGiven[pick(kGiven.size())]);
    e.fields["family_name"] = std::string(kFamily[pick(kFamily.size())]);
    e.fields["birth_date"] = std::string(date);
    e.fields["sex"] = std::string(pick(2) == 0 ? "F" : "M");
    e.fields["phone"] = std::string(phone);
    e.fields["address"] =
        "Plot " + std::to_string(1 + pick(900)) + ", Market Road";
    out.push_back(std::move(e));
  }
  return out;
}

Result<std::string> SyntheticSite::PushBody(
    std::vector<engine::ChangeEntry> changes) {
  engine::sync::PushRequest push;
  push.batch_id = ids_.Next().ToString();
  push.site = site_;
  push.schema_version = engine::schema::ClinicMigrations().back().version;
  push.client_time_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(
          engine::SystemClock().Now().time_since_epoch())
          .count();
  push.changes = std::move(changes);
  return engine::sync::EncodePushRequest(push);
}

std::optional<std::chrono::milliseconds> ParseDuration(std::string_view text) {
  std::int64_t scale = 1000;
  if (text.ends_with("ms")) {
    scale = 1;
    text.remove_suffix(2);
  } else if (text.ends_with("s")) {
    text.remove_suffix(1);
  } else if (text.ends_with("m")) {
    scale = 60'000;
    text.remove_suffix(1);
  }
  std::int64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(),
                                   value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() ||
      value < 0 || value > 1'000'000'000) {
    return std::nullopt;
  }
  return std::chrono::milliseconds(value * scale);
}

}  // namespace pulse::sync_load
