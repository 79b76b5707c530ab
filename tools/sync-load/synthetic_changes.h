// SyntheticSite: realistic change entries for load tests and benchmarks —
// patient registrations (upserts of a new row of the site's own `patients`,
// all eight columns set) stamped with a real hybrid logical clock, UUIDv7
// ids, and the author and site of a provisioned clinic user. What a clinic's
// LocalWriter would put in its outbox when a technician registers patients;
// the values are made up (no real names), deterministic per seed.
//
// Also the few helpers a load generator needs around them: the push body
// (canonical encoding through sync_protocol.h) and duration parsing for the
// command lines.
//
// Thread-safety: a SyntheticSite is used by one thread at a time; separate
// objects are independent.
#ifndef PULSE_TOOLS_SYNC_LOAD_SYNTHETIC_CHANGES_H_
#define PULSE_TOOLS_SYNC_LOAD_SYNTHETIC_CHANGES_H_

#include <chrono>
#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "pulse/base/result.h"
#include "pulse/engine/change.h"
#include "pulse/engine/hlc.h"
#include "pulse/engine/uuid.h"

namespace pulse::sync_load {

class SyntheticSite {
 public:
  // `site` and `author`: canonical UUIDs of a provisioned site and of a
  // clinic user of it (the central store authorises entries by them).
  SyntheticSite(std::string site, std::string author, std::uint64_t seed);

  // `count` new patient registrations, stamped now (HLC strictly
  // increasing across calls).
  std::vector<engine::ChangeEntry> NewPatients(int count);

  // A push request body (sync_protocol.h) with a fresh UUIDv7 batch id,
  // claiming this build's clinic schema version (as a clinic built from
  // the same tree would).
  Result<std::string> PushBody(std::vector<engine::ChangeEntry> changes);

  const std::string& site() const { return site_; }
  const std::string& author() const { return author_; }

 private:
  std::string site_;
  std::string author_;
  std::mt19937_64 rng_;
  engine::HybridClock clock_;
  engine::UuidV7Generator ids_;
  std::int64_t mrn_ = 0;
};

// Parses "5s", "500ms", "2m" or a bare number of seconds ("5"). nullopt for
// anything else or a negative value.
std::optional<std::chrono::milliseconds> ParseDuration(std::string_view text);

}  // namespace pulse::sync_load

#endif  // PULSE_TOOLS_SYNC_LOAD_SYNTHETIC_CHANGES_H_
