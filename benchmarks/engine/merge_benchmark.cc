// Merge throughput, the bar of issue 4: "Merge applies >= 100 000 changes/s
// on one core (batches of 1 000, mixed tables)".
//
// Workload: a deterministic stream of change entries as a central server
// would relay them from several clinics (4 sites, clocks skewed by up to two
// minutes): patient registrations (6 fields), patient field edits (mostly
// sequential — base = the current winner —, 10 % concurrent — base = the
// version the winner replaced, so a conflict), recordings (9 fields, later
// completed with 4 more), interpretations (drafts, edits of the statement,
// 20 % concurrent, confirmations), append-only recording segments,
// measurements and findings, and 1 % tombstones of patients and
// interpretations. Entries arrive in generation order, in batches of 1 000,
// each batch one Merger::ApplyBatch (one IMMEDIATE transaction, one commit).
//
// BM_MergeFresh: every iteration applies the whole stream to a fresh,
// migrated database (set-up untimed). BM_MergeDuplicates: the stream is
// applied once untimed, then every iteration re-applies all of it (each
// entry already applied: the idempotence path). Both run keyed (SQLCipher,
// 32-byte raw key, default DatabaseOptions: WAL, synchronous FULL, 4096-byte
// pages) and plaintext, in the same run.
//
// Figure: items_per_second = changes applied per second of wall-clock time
// on one core (the merge is single-threaded; wall time includes the WAL
// fsync of each commit).
//
// Run: build/benchmarks/merge_benchmark
// The databases live in $TMPDIR; fsync cost depends on that filesystem.
#include <benchmark/benchmark.h>
#include <stdlib.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "pulse/engine/clinic_schema.h"
#include "pulse/engine/clock.h"
#include "pulse/engine/database.h"
#include "pulse/engine/merge.h"
#include "pulse/engine/migrations.h"

namespace pulse::engine {
namespace {

namespace fs = std::filesystem;

constexpr std::size_t kBatch = 1000;
constexpr int kSites = 4;

class FixedClock final : public Clock {
 public:
  std::chrono::system_clock::time_point Now() override {
    return std::chrono::system_clock::time_point(
        std::chrono::milliseconds(1'700'000'000'000));
  }
};

// Generates the stream, tracking each mutable field's current winner the
// way a replica that has seen everything so far would.
class Workload {
 public:
  explicit Workload(std::uint64_t seed) : rng_(seed) {
    const std::int64_t skews[kSites] = {0, 3'000, -120'000, 700};
    for (int s = 0; s < kSites; ++s) {
      sites_[s].id = NewId();
      sites_[s].skew_ms = skews[s];
      authors_[s] = NewId();
    }
  }

  std::vector<ChangeEntry> Generate(std::size_t count) {
    std::vector<ChangeEntry> out;
    out.reserve(count);
    while (out.size() < count) {
      wall_ms_ += static_cast<std::int64_t>(rng_() % 40);
      const unsigned dice = static_cast<unsigned>(rng_() % 100);
      const int site = static_cast<int>(rng_() % kSites);
      if (dice < 6 || patients_.empty()) {
        out.push_back(CreatePatient(site));
      } else if (dice < 24) {
        out.push_back(EditPatient(site));
      } else if (dice < 30 || recordings_.empty()) {
        out.push_back(CreateRecording(site));
      } else if (dice < 35) {
        out.push_back(CompleteRecording(site));
      } else if (dice < 39 || interpretations_.empty()) {
        out.push_back(CreateInterpretation(site));
      } else if (dice < 44) {
        out.push_back(EditInterpretation(site));
      } else if (dice < 69) {
        out.push_back(Segment(site));
      } else if (dice < 89) {
        out.push_back(Measurement(site));
      } else if (dice < 99) {
        out.push_back(Finding(site));
      } else {
        out.push_back(Delete(site));
      }
    }
    return out;
  }

 private:
  struct Site {
    std::string id;
    std::int64_t skew_ms = 0;
    std::uint64_t last = 0;  // packed HLC
  };
  struct Field {
    Version winner;
    Version base;  // the winner's base (hlc 0: none)
  };
  struct Row {
    std::string table;
    std::string id;
    std::map<std::string, Field> fields;
    bool completed = false;
  };

  std::string NewId() {
    // UUIDv7 layout: 48-bit ms, version 7, random; time-ordered like the
    // real ids (which matters for B-tree locality).
    const std::uint64_t ms = static_cast<std::uint64_t>(wall_ms_) + ++uuid_seq_;
    const std::uint64_t r1 = rng_(), r2 = rng_();
    char text[37];
    std::snprintf(text, sizeof text,
                  "%08" PRIx64 "-%04" PRIx64 "-7%03" PRIx64 "-%04" PRIx64
                  "-%012" PRIx64,
                  (ms >> 16) & 0xffffffffu, ms & 0xffffu, r1 & 0xfffu,
                  0x8000u | ((r1 >> 12) & 0x3fffu), r2 & 0xffffffffffffu);
    return text;
  }

  std::string Hex64() {
    static const char kDigits[] = "0123456789abcdef";
    std::string s(64, '0');
    for (char& c : s) c = kDigits[rng_() % 16];
    return s;
  }

  // The site's next HLC; `after` (packed) is a version it has observed.
  Hlc Tick(int site, std::uint64_t after = 0) {
    Site& s = sites_[site];
    const std::uint64_t physical =
        static_cast<std::uint64_t>(wall_ms_ + s.skew_ms) << Hlc::kCounterBits;
    s.last = std::max({s.last + 1, physical, after + 1});
    return Hlc::FromPacked(s.last).value();
  }

  ChangeEntry Entry(int site, const std::string& table, const std::string& row,
                    std::uint64_t after = 0) {
    ChangeEntry e;
    e.id = NewId();
    e.hlc = Tick(site, after);
    e.site = sites_[site].id;
    e.table = table;
    e.row = row;
    e.author = authors_[site];
    return e;
  }

  // A new row of a mutable table: every field's first version.
  ChangeEntry Create(int site, const std::string& table,
                     std::map<std::string, FieldValue> fields,
                     std::vector<Row>& rows) {
    Row row{table, NewId(), {}, false};
    ChangeEntry e = Entry(site, table, row.id);
    e.fields = std::move(fields);
    for (const auto& [column, value] : e.fields) {
      row.fields[column] = Field{e.version(), Version{}};
    }
    rows.push_back(std::move(row));
    return e;
  }

  // An edit of `columns` of `row`: sequential (base = the current winner,
  // the writer has seen it) unless `concurrent` (base = the version the
  // winner replaced; the writer has not seen the winner).
  ChangeEntry Edit(int site, Row& row, std::map<std::string, FieldValue> fields,
                   bool concurrent) {
    std::uint64_t seen = 0;
    for (const auto& [column, value] : fields) {
      const Field& f = row.fields[column];
      const Version& base = concurrent ? f.base : f.winner;
      seen = std::max(seen, base.hlc.packed());
    }
    ChangeEntry e = Entry(site, row.table, row.id, seen);
    e.fields = std::move(fields);
    for (const auto& [column, value] : e.fields) {
      Field& f = row.fields[column];
      const Version base = concurrent ? f.base : f.winner;
      if (base.hlc.packed() != 0) e.base[column] = base;
      if (concurrent) {
        if (f.winner < e.version()) f.winner = e.version();
      } else {
        f = Field{e.version(), base};
      }
    }
    return e;
  }

  ChangeEntry CreatePatient(int site) {
    static const char* kNames[] = {"Achieng", "Baraka", "Chebet",  "Dalia",
                                   "Eshe",    "Faraji", "Gathoni", "Hamisi"};
    return Create(
        site, "patients",
        {{"site_id", sites_[site].id},
         {"mrn", "MRN-" + std::to_string(rng_() % 1'000'000)},
         {"given_name", std::string(kNames[rng_() % 8])},
         {"family_name", std::string(kNames[rng_() % 8])},
         {"birth_date", std::string("1979-04-1") + std::to_string(rng_() % 10)},
         {"sex", std::string(rng_() % 2 ? "F" : "M")}},
        patients_);
  }

  ChangeEntry EditPatient(int site) {
    Row& row = patients_[rng_() % patients_.size()];
    static const char* kColumns[] = {"given_name", "family_name", "phone",
                                     "address", "birth_date"};
    std::map<std::string, FieldValue> fields;
    const int n = rng_() % 4 == 0 ? 2 : 1;
    for (int i = 0; i < n; ++i) {
      fields[kColumns[rng_() % 5]] =
          "value " + std::to_string(rng_() % 100'000);
    }
    // A concurrent edit needs a field someone has written before.
    bool concurrent = rng_() % 10 == 0;
    for (const auto& [column, value] : fields) {
      if (!row.fields.contains(column)) concurrent = false;
    }
    return Edit(site, row, std::move(fields), concurrent);
  }

  ChangeEntry CreateRecording(int site) {
    const std::string& patient =
        patients_.empty() ? NewId() : patients_[rng_() % patients_.size()].id;
    ChangeEntry e = Create(
        site, "recordings",
        {{"site_id", sites_[site].id},
         {"patient_id", patient},
         {"device_id", authors_[site]},
         {"operator_id", authors_[site]},
         {"started_at_ms", wall_ms_},
         {"sample_rate_hz", 500.0},
         {"lead_names", std::string("I,II,III,aVR,aVL,aVF,V1,V2,V3,V4,V5,V6")},
         {"lsb_nv", std::int64_t{4880}},
         {"status", std::string("recording")}},
        recordings_);
    current_recording_[site] = recordings_.back().id;
    current_analysis_[site] = NewId();
    next_segment_[site] = 0;
    return e;
  }

  ChangeEntry CompleteRecording(int site) {
    Row& row = recordings_[rng_() % recordings_.size()];
    row.completed = true;
    return Edit(site, row,
                {{"ended_at_ms", wall_ms_},
                 {"status", std::string("complete")},
                 {"quality", std::string("good")},
                 {"segment_count", std::int64_t{60}}},
                false);
  }

  ChangeEntry CreateInterpretation(int site) {
    return Create(
        site, "interpretations",
        {{"site_id", sites_[site].id},
         {"recording_id", recordings_[rng_() % recordings_.size()].id},
         {"author_id", authors_[site]},
         {"statement", std::string("Sinus rhythm, normal axis.")},
         {"status", std::string("draft")}},
        interpretations_);
  }

  ChangeEntry EditInterpretation(int site) {
    Row& row = interpretations_[rng_() % interpretations_.size()];
    if (rng_() % 3 == 0) {
      return Edit(site, row,
                  {{"status", std::string("confirmed")},
                   {"confirmed_by", authors_[site]},
                   {"confirmed_at_ms", wall_ms_}},
                  false);
    }
    return Edit(site, row,
                {{"statement",
                  "Sinus rhythm " + std::to_string(rng_() % 1000) + " ms"}},
                rng_() % 5 == 0);
  }

  ChangeEntry Append(int site, const std::string& table,
                     std::map<std::string, FieldValue> fields) {
    ChangeEntry e = Entry(site, table, NewId());
    e.fields = std::move(fields);
    return e;
  }

  // Segments, measurements and findings belong to the site's latest
  // recording (and its analysis): a recording's segments are uploaded as it
  // is recorded, an analysis run emits its outputs together.
  const std::string& CurrentRecording(int site) {
    if (current_recording_[site].empty()) {
      current_recording_[site] = recordings_.back().id;
      current_analysis_[site] = NewId();
    }
    return current_recording_[site];
  }

  ChangeEntry Segment(int site) {
    const std::string recording = CurrentRecording(site);
    const std::int64_t seq = next_segment_[site]++;
    return Append(site, "recording_segments",
                  {{"site_id", sites_[site].id},
                   {"recording_id", recording},
                   {"seq", seq},
                   {"first_frame", seq * 5000},
                   {"frame_count", std::int64_t{5000}},
                   {"blob_sha256", Hex64()}});
  }

  ChangeEntry Measurement(int site) {
    const std::string recording = CurrentRecording(site);
    return Append(site, "measurements",
                  {{"site_id", sites_[site].id},
                   {"analysis_id", current_analysis_[site]},
                   {"recording_id", recording},
                   {"name", std::string("qrs_duration_ms")},
                   {"lead", std::string("II")},
                   {"value", 80.0 + static_cast<double>(rng_() % 40)},
                   {"unit", std::string("ms")}});
  }

  ChangeEntry Finding(int site) {
    const std::string recording = CurrentRecording(site);
    return Append(site, "findings",
                  {{"site_id", sites_[site].id},
                   {"analysis_id", current_analysis_[site]},
                   {"recording_id", recording},
                   {"code", std::string("PVC")},
                   {"label", std::string("Premature ventricular complex")},
                   {"onset_ms", wall_ms_},
                   {"offset_ms", wall_ms_ + 120},
                   {"count", std::int64_t{1}},
                   {"confidence", 0.93}});
  }

  // A tombstone of a patient or an interpretation; its base is every
  // field's current winner (what the deleting site had seen).
  ChangeEntry Delete(int site) {
    std::vector<Row>& rows = rng_() % 2 == 0 || interpretations_.size() < 2
                                 ? patients_
                                 : interpretations_;
    if (rows.size() < 2) return CreatePatient(site);
    const std::size_t index = rng_() % rows.size();
    Row row = std::move(rows[index]);
    rows[index] = std::move(rows.back());
    rows.pop_back();
    std::uint64_t seen = 0;
    for (const auto& [column, field] : row.fields) {
      seen = std::max(seen, field.winner.hlc.packed());
    }
    ChangeEntry e = Entry(site, row.table, row.id, seen);
    e.op = Op::kDelete;
    for (const auto& [column, field] : row.fields)
      e.base[column] = field.winner;
    return e;
  }

  std::mt19937_64 rng_;
  std::int64_t wall_ms_ = 1'700'000'000'000;
  std::uint64_t uuid_seq_ = 0;
  Site sites_[kSites];
  std::string authors_[kSites];
  std::string current_recording_[kSites];
  std::string current_analysis_[kSites];
  std::int64_t next_segment_[kSites] = {};
  std::vector<Row> patients_, recordings_, interpretations_;
};

const std::vector<ChangeEntry>& Stream(std::size_t count) {
  static std::map<std::size_t, std::vector<ChangeEntry>> streams;
  auto it = streams.find(count);
  if (it == streams.end()) {
    it = streams.emplace(count, Workload(20240601).Generate(count)).first;
  }
  return it->second;
}

// A fresh migrated database in its own temporary directory.
class Scratch {
 public:
  Scratch() {
    std::string dir =
        (fs::temp_directory_path() / "pulse_merge_bench_XXXXXX").string();
    if (mkdtemp(dir.data()) != nullptr) dir_ = dir;
  }
  ~Scratch() {
    db_.reset();
    if (!dir_.empty()) fs::remove_all(dir_);
  }

  // Returns an error message, or "" on success.
  std::string Open(bool encrypted) {
    if (dir_.empty()) return "mkdtemp failed";
    std::array<std::uint8_t, kDatabaseKeyBytes> key{};
    key.fill(0x5a);
    const fs::path path = dir_ / "replica.db";
    Result<Database> db = encrypted ? Database::Open(path, DatabaseKey(key), {})
                                    : Database::OpenPlaintext(path, {});
    if (!db) return db.error().ToString();
    FixedClock clock;
    if (auto migrated = Migrate(*db, schema::ClinicMigrations(), clock);
        !migrated) {
      return migrated.error().ToString();
    }
    db_.emplace(std::move(db).value());
    return "";
  }

  Database& db() { return *db_; }

 private:
  fs::path dir_;
  std::optional<Database> db_;
};

// Applies `stream` in batches of kBatch; returns the number of new entries
// or -1 after reporting an error.

std::int64_t ApplyAll(benchmark::State& state, Merger& merger,
                      const std::vector<ChangeEntry>& stream) {
  std::int64_t fresh = 0;
  for (std::size_t i = 0; i < stream.size(); i += kBatch) {
    const std::size_t n = std::min(kBatch, stream.size() - i);
    auto applied =
        merger.ApplyBatch(std::span<const ChangeEntry>(stream.data() + i, n));
    if (!applied) {
      state.SkipWithError(applied.error().ToString().c_str());
      return -1;
    }
    fresh += static_cast<std::int64_t>(*applied);
  }
  return fresh;
}

void SetLabel(benchmark::State& state, bool encrypted) {
  state.SetLabel(std::string(encrypted ? "key" : "plain") +
                 ", changes/s on one core, batches of 1000");
}

void BM_MergeFresh(benchmark::State& state) {
  const bool encrypted = state.range(0) != 0;
  const auto& stream = Stream(static_cast<std::size_t>(state.range(1)));
  for (auto _ : state) {
    state.PauseTiming();
    auto scratch = std::make_unique<Scratch>();
    if (std::string error = scratch->Open(encrypted); !error.empty()) {
      state.SkipWithError(error.c_str());
      break;
    }
    Merger merger(scratch->db());
    state.ResumeTiming();
    const std::int64_t fresh = ApplyAll(state, merger, stream);
    state.PauseTiming();
    if (fresh != static_cast<std::int64_t>(stream.size())) {
      if (fresh >= 0) state.SkipWithError("not every entry was new");
      break;
    }
    scratch.reset();
    state.ResumeTiming();
  }
  state.SetItemsProcessed(state.iterations() *
                          static_cast<std::int64_t>(stream.size()));
  SetLabel(state, encrypted);
}

void BM_MergeDuplicates(benchmark::State& state) {
  const bool encrypted = state.range(0) != 0;
  const auto& stream = Stream(static_cast<std::size_t>(state.range(1)));
  Scratch scratch;
  if (std::string error = scratch.Open(encrypted); !error.empty()) {
    state.SkipWithError(error.c_str());
    return;
  }
  Merger merger(scratch.db());
  if (ApplyAll(state, merger, stream) < 0) return;
  for (auto _ : state) {
    const std::int64_t fresh = ApplyAll(state, merger, stream);
    if (fresh != 0) {
      if (fresh > 0) state.SkipWithError("a duplicate was applied again");
      break;
    }
  }
  state.SetItemsProcessed(state.iterations() *
                          static_cast<std::int64_t>(stream.size()));
  SetLabel(state, encrypted);
}

// Args: {encrypted, changes in the stream}.
BENCHMARK(BM_MergeFresh)
    ->ArgNames({"key", "changes"})
    ->Args({1, 50'000})
    ->Args({0, 50'000})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_MergeDuplicates)
    ->ArgNames({"key", "changes"})
    ->Args({1, 50'000})
    ->Args({0, 50'000})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace pulse::engine
