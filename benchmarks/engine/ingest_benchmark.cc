// Clinic ingest: the two store bars of issue 4.
//
//  (a) "Encryption overhead <= 25 %: the ingest benchmark (patients +
//      recordings + waveform segments) with the key vs the same build and
//      workload without a key, in one run."
//  (b) "Local writes stay fast as the store grows: recording ingest at 1 M
//      stored changes is within 20 % of ingest at 1 k."
//
// One ingest unit is what a clinic does per patient visit, each logical
// step one LocalWriter::Commit (the one local write path), as the recording
// pipeline will:
//   1. register the patient                      (1 write: patients)
//   2. start the recording                       (1 write: recordings)
//   3. encode 10 s x 12 leads x 500 Hz with EncodeSegment, Put the segment
//      blob, then commit its row                 (1 write: recording_segments)
//   4. complete the recording (status, end, segment count, quality)
//                                                (1 write: recordings update)
//   5. the analysis and its measurements         (1 + 20 writes)
// = 5 commits, 25 change entries, 1 blob of ~20 KB per unit. The waveform is
// real LUDB data (records 1..N of $PULSE_DATA_DIR/ludb); one sample is
// offset per pass over the records so that every blob is new (no dedup).
// If LUDB is missing a synthetic 12-lead signal is used, and the output
// says so.
//
// Not in the unit: the local-only `blobs` index row (no API writes it yet,
// and LocalWriter::Commit cannot include it in its transaction), audit
// events (the repositories that append them are not built yet).
//
// (a) Keyed = Database::Open (SQLCipher, 32-byte raw key, 4096-byte pages)
// + SealedFileBlobStore. Plaintext = Database::OpenPlaintext (same options,
// 4096-byte pages) + PlainFileBlobStore below: the sealed store's write
// protocol through the same FileOps (existence check, durable directory,
// write + fsync, read back, no-replace rename, directory fsync) without
// sealing. So the two arms differ only by encryption. Both replicas live in
// one process; windows of --window units alternate K P P K K P ... for
// --rounds rounds, so machine noise lands on both arms. Two settings:
//   durable : DatabaseOptions defaults (WAL, synchronous FULL) + real fsyncs
//             — what a clinic runs;
//   nosync  : synchronous NORMAL + fsyncs skipped in FileOps — the CPU cost
//             of encryption without the disk's fsync latency.
//
// (b) The production configuration (keyed, durable). A small replica holds
// ~1 k stored changes (change_log rows); a large one is grown to --grow_to
// (default 1 000 000) with the same units minus the blob bytes, written
// through LocalWriter::Commit in batches of ~1 000 writes. Ingest windows
// then alternate between the two, as in (a).
//
//   build-ingest/benchmarks/ingest_benchmark                  # full run
//   build-ingest/benchmarks/ingest_benchmark --grow_to=100000 # quick
//   flags: --part=all|overhead|growth --rounds=N --window=N --grow_to=N
//   env:   PULSE_INGEST_GROW_TO (the --grow_to default), TMPDIR (where the
//          replicas live; fsync cost depends on that filesystem)
#include <stdlib.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "pulse/dsp/wfdb_file.h"
#include "pulse/engine/blob_store.h"
#include "pulse/engine/sealed_file_blob_store.h"
#include "pulse/engine/clinic_schema.h"
#include "pulse/engine/clock.h"
#include "pulse/engine/data_key.h"
#include "pulse/engine/database.h"
#include "pulse/engine/file_ops.h"
#include "pulse/engine/hlc.h"
#include "pulse/engine/local_writer.h"
#include "pulse/engine/migrations.h"
#include "pulse/engine/uuid.h"
#include "pulse/engine/waveform_codec.h"

namespace pulse::engine {
namespace {

namespace fs = std::filesystem;
using Bytes = std::vector<std::uint8_t>;
using SteadyClock = std::chrono::steady_clock;

constexpr int kMeasurementsPerAnalysis = 20;
constexpr int kWritesPerUnit = 5 + kMeasurementsPerAnalysis;
constexpr std::size_t kGrowBatchWrites = 1000;

[[noreturn]] void Die(const std::string& what, const Error& error) {
  std::fprintf(stderr, "ingest_benchmark: %s: %s\n", what.c_str(),
               error.ToString().c_str());
  std::exit(1);
}

template <typename T>
T Check(Result<T> result, const char* what) {
  if (!result) Die(what, result.error());
  return std::move(*result);
}

void Check(Status status, const char* what) {
  if (!status) Die(what, status.error());
}

double Seconds(SteadyClock::duration d) {
  return std::chrono::duration<double>(d).count();
}

// ---------------------------------------------------------------------------
// File operations with every fsync skipped (the "nosync" setting).
class NoSyncFileOps final : public FileOps {
 public:
  Result<Bytes> ReadFile(const fs::path& p, std::size_t max) override {
    return RealFileOps().ReadFile(p, max);
  }
  Status WriteFileDurably(const fs::path& p,
                          std::span<const std::uint8_t> bytes) override {
    FILE* f = std::fopen(p.c_str(), "wb");
    if (f == nullptr) return Fail(ErrorCode::kIoError, p.string());
    const bool ok =
        std::fwrite(bytes.data(), 1, bytes.size(), f) == bytes.size();
    if (std::fclose(f) != 0 || !ok) {
      return Fail(ErrorCode::kIoError, p.string());
    }
    return OkStatus();
  }
  Status Rename(const fs::path& a, const fs::path& b, RenameMode m) override {
    return RealFileOps().Rename(a, b, m);
  }
  Status SyncDirectory(const fs::path&) override { return OkStatus(); }
  Status Remove(const fs::path& p) override { return RealFileOps().Remove(p); }
};

// The plaintext baseline of SealedFileBlobStore: the same layout
// (<root>/ab/<id>) and write protocol through the same FileOps, no sealing.
// Get() verifies the SHA-256 as every store must.
class PlainFileBlobStore final : public BlobStore {
 public:
  PlainFileBlobStore(fs::path root, FileOps& ops)
      : root_(std::move(root)), ops_(ops) {
    Check(ops_.CreateDirectory(root_), "plain blob store root");
  }

  Result<BlobRef> Put(std::span<const std::uint8_t> bytes) override {
    BlobRef ref{BlobIdOf(bytes), bytes.size()};
    const fs::path dir = root_ / ref.sha256.substr(0, 2);
    const fs::path path = dir / ref.sha256;
    // As the sealed store: a present, intact blob is a duplicate.
    auto existing = ops_.ReadFile(path, kMaxStoredBlobBytes);
    if (existing && BlobIdOf(*existing) == ref.sha256) {
      if (auto s = ops_.SyncDirectory(dir); !s) return Fail(s.error());
      return ref;
    }
    if (!durable_dirs_.contains(dir.native())) {
      if (auto s = ops_.CreateDirectory(dir); !s) return Fail(s.error());
      if (auto s = ops_.SyncDirectory(root_); !s) return Fail(s.error());
      durable_dirs_.insert(dir.native());
    }
    if (auto s = ReplaceFileAtomically(ops_, path, bytes,
                                       FileOps::RenameMode::kNoReplace);
        !s) {
      return Fail(s.error());
    }
    return ref;
  }
  Result<Bytes> Get(std::string_view id) override {
    auto bytes = ops_.ReadFile(PathOf(id), kMaxStoredBlobBytes);
    if (!bytes) return bytes;
    if (BlobIdOf(*bytes) != id) {
      return Fail(ErrorCode::kCorruption, "blob " + std::string(id));
    }
    return bytes;
  }
  Result<bool> Contains(std::string_view id) override {
    auto size = ops_.FileSize(PathOf(id));
    if (size) return true;
    if (size.error().code() == ErrorCode::kNotFound) return false;
    return Fail(size.error());
  }
  Result<std::uint64_t> Size(std::string_view id) override {
    return ops_.FileSize(PathOf(id));
  }
  Status Remove(std::string_view id) override {
    return ops_.Remove(PathOf(id));
  }

 private:
  fs::path PathOf(std::string_view id) const {
    return root_ / std::string(id.substr(0, 2)) / std::string(id);
  }

  fs::path root_;
  FileOps& ops_;
  std::set<std::string, std::less<>> durable_dirs_;
};

class TempDir {
 public:
  TempDir() {
    std::string d =
        (fs::temp_directory_path() / "pulse_ingest_bench_XXXXXX").string();
    if (mkdtemp(d.data()) == nullptr) {
      std::fprintf(stderr, "ingest_benchmark: mkdtemp %s failed\n", d.c_str());
      std::exit(1);
    }
    path_ = d;
  }
  ~TempDir() { fs::remove_all(path_); }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

// ---------------------------------------------------------------------------
// Waveforms: 10 s of 12 leads at 500 Hz, interleaved int16.
struct Waveforms {
  std::vector<std::vector<std::int16_t>> records;
  int channels = 12;
  SegmentParams params;
  std::string lead_names = "I,II,III,aVR,aVL,aVF,V1,V2,V3,V4,V5,V6";
  std::string source;
  std::int64_t frames = 5000;
};

Waveforms LoadWaveforms(int max_records) {
  Waveforms w;
  fs::path dir = PULSE_DATA_DIR;
  if (const char* env = std::getenv("PULSE_DATA_DIR"); env && *env) dir = env;
  dir /= "ludb";
  for (int r = 1; r <= max_records; ++r) {
    auto rec = dsp::wfdb::ReadRecord(dir / std::to_string(r));
    if (!rec || rec->num_signals() != 12 ||
        rec->header.sampling_frequency_hz != 500 || rec->num_frames() < 5000) {
      continue;
    }
    if (w.records.empty()) {
      w.params.sample_rate_millihertz = 500'000;
      w.params.lsb_nanovolts = static_cast<std::uint32_t>(
          std::lround(1e6 / rec->header.signals[0].gain_adu_per_unit));
    }
    rec->samples.resize(5000 * 12);
    w.records.push_back(std::move(rec->samples));
  }
  if (!w.records.empty()) {
    w.source = "LUDB " + dir.string() + " (" +
               std::to_string(w.records.size()) + " records, 10 s x 12 "
               "leads x 500 Hz each)";
    return w;
  }
  // Synthetic fallback: a 72 bpm train of Gaussian P/QRS/T waves with lead
  // gains, baseline wander and noise, at 1 uV per ADC unit.
  w.params.sample_rate_millihertz = 500'000;
  w.params.lsb_nanovolts = 1000;
  std::mt19937 rng(7);
  std::normal_distribution<double> noise(0, 8);
  for (int r = 0; r < 16; ++r) {
    std::vector<std::int16_t> s(5000 * 12);
    const double rr = 0.7 + 0.02 * r;
    for (int f = 0; f < 5000; ++f) {
      const double t = f / 500.0;
      const double ph = std::fmod(t, rr);
      auto g = [&](double mu, double sd, double a) {
        return a * std::exp(-0.5 * (ph - mu) * (ph - mu) / (sd * sd));
      };
      const double beat = g(0.10, 0.02, 150) + g(0.25, 0.01, 1200) +
                          g(0.50, 0.04, 300);
      for (int c = 0; c < 12; ++c) {
        const double v = beat * (0.4 + 0.1 * c) +
                         80 * std::sin(2 * 3.14159 * 0.3 * t + c) +
                         noise(rng);
        s[static_cast<std::size_t>(f * 12 + c)] = static_cast<std::int16_t>(
            std::clamp(v, -32768.0, 32767.0));
      }
    }
    w.records.push_back(std::move(s));
  }
  w.source = "SYNTHETIC (LUDB not found at " + dir.string() + ")";
  return w;
}

// ---------------------------------------------------------------------------
// A clinic replica: database, clocks, writer, blob store.
struct ReplicaConfig {
  bool keyed = true;
  bool durable = true;
};

class Replica {
 public:
  Replica(const ReplicaConfig& config, FileOps& file_ops)
      : config_(config), ids_(SystemClock()) {
    DatabaseOptions options;
    options.synchronous =
        config.durable ? Synchronous::kFull : Synchronous::kNormal;
    const fs::path db_path = dir_.path() / "replica.db";
    if (config.keyed) {
      db_key_ = std::make_unique<DataKey>(
          Check(DataKey::Generate(), "database key"));
      db_ = std::make_unique<Database>(
          Check(Database::Open(db_path, db_key_->bytes(), options), "open"));
      blobs_ = Check(SealedFileBlobStore::Open(
                         dir_.path() / "blobs",
                         Check(DataKey::Generate(), "blob key"), file_ops),
                     "open blob store");
    } else {
      db_ = std::make_unique<Database>(
          Check(Database::OpenPlaintext(db_path, options), "open plaintext"));
      blobs_ = std::make_unique<PlainFileBlobStore>(dir_.path() / "blobs",
                                                    file_ops);
    }
    Check(Migrate(*db_, schema::ClinicMigrations(), SystemClock()),
          "migrate");
    site_ = ids_.Next().ToString();
    author_ = ids_.Next().ToString();
    device_ = ids_.Next().ToString();
    writer_ = Check(LocalWriter::Create(*db_, hlc_, ids_, site_),
                    "LocalWriter::Create");
  }

  LocalWriter& writer() { return *writer_; }
  BlobStore& blobs() { return *blobs_; }
  Database& db() { return *db_; }
  UuidV7Generator& ids() { return ids_; }
  const std::string& site() const { return site_; }
  const std::string& author() const { return author_; }
  const std::string& device() const { return device_; }
  std::int64_t changes = 0;  // change_log rows written so far

  std::int64_t CountChanges() {
    auto stmt = Check(db_->Prepare("SELECT count(*) FROM change_log"),
                      "prepare count");
    Check(stmt.Step(), "count");
    return Check(stmt.ColumnInt64(0), "count");
  }

 private:
  ReplicaConfig config_;
  TempDir dir_;
  HybridClock hlc_;
  UuidV7Generator ids_;
  std::unique_ptr<DataKey> db_key_;
  std::unique_ptr<Database> db_;
  std::unique_ptr<BlobStore> blobs_;
  std::unique_ptr<LocalWriter> writer_;
  std::string site_, author_, device_;
};

// ---------------------------------------------------------------------------
// The writes of one unit.
class UnitWriter {
 public:
  explicit UnitWriter(const Waveforms& waves) : waves_(waves), rng_(42) {}

  struct Timing {
    SteadyClock::duration db{}, blob{}, encode{};
    SteadyClock::duration total() const { return db + blob + encode; }
    Timing& operator+=(const Timing& o) {
      db += o.db;
      blob += o.blob;
      encode += o.encode;
      return *this;
    }
  };

  // One timed ingest unit on `replica`: 5 commits and a blob Put.
  Timing Ingest(Replica& replica) {
    Timing t;
    const std::int64_t now_ms = NowMs();
    const std::string patient = replica.ids().Next().ToString();
    const std::string recording = replica.ids().Next().ToString();
    Commit(replica, {Patient(replica, patient)}, &t);
    Commit(replica, {StartRecording(replica, recording, patient, now_ms)}, &t);

    auto t0 = SteadyClock::now();
    const Bytes segment = Encode(unit_++);
    auto t1 = SteadyClock::now();
    const BlobRef ref = Check(replica.blobs().Put(segment), "blob Put");
    auto t2 = SteadyClock::now();
    t.encode += t1 - t0;
    t.blob += t2 - t1;

    Commit(replica, {SegmentRow(replica, recording, ref.sha256)}, &t);
    Commit(replica, {CompleteRecording(recording, now_ms)}, &t);
    Commit(replica, Analysis(replica, recording, now_ms), &t);
    return t;
  }

  // The same unit's writes without the blob bytes (a made-up blob id),
  // appended to `out`: for growing a store quickly.
  void AppendUntimed(Replica& replica, std::vector<RowWrite>* out) {
    const std::int64_t now_ms = NowMs();
    const std::string patient = replica.ids().Next().ToString();
    const std::string recording = replica.ids().Next().ToString();
    const std::uint64_t n = grown_++;
    const std::string blob =
        BlobIdOf(std::span(reinterpret_cast<const std::uint8_t*>(&n),
                           sizeof n));
    out->push_back(Patient(replica, patient));
    out->push_back(StartRecording(replica, recording, patient, now_ms));
    out->push_back(SegmentRow(replica, recording, blob));
    out->push_back(CompleteRecording(recording, now_ms));
    for (RowWrite& w : Analysis(replica, recording, now_ms)) {
      out->push_back(std::move(w));
    }
  }

 private:
  static std::int64_t NowMs() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }

  void Commit(Replica& replica, std::vector<RowWrite> writes, Timing* t) {
    const auto start = SteadyClock::now();
    Check(replica.writer().Commit(writes, replica.author()), "Commit");
    t->db += SteadyClock::now() - start;
    replica.changes += static_cast<std::int64_t>(writes.size());
  }

  Bytes Encode(std::uint64_t unit) {
    const std::size_t n = waves_.records.size();
    std::vector<std::int16_t> samples = waves_.records[unit % n];
    // A new blob every unit: offset one sample by the pass number.
    samples[0] = static_cast<std::int16_t>(samples[0] + (unit / n) % 1000);
    return Check(EncodeSegment(samples, waves_.channels, waves_.params),
                 "EncodeSegment");
  }

  std::string Digits(int n) {
    std::string s;
    for (int i = 0; i < n; ++i) s += static_cast<char>('0' + rng_() % 10);
    return s;
  }

  RowWrite Patient(Replica& r, const std::string& id) {
    static const char* const kGiven[] = {"Amina", "Kwame", "Fatima", "Joseph",
                                         "Grace", "Tendai", "Musa", "Aisha"};
    static const char* const kFamily[] = {"Okafor", "Mensah", "Banda",
                                          "Mwangi", "Diallo", "Nkosi",
                                          "Haile", "Kamau"};
    RowWrite w{"patients", id, Op::kUpsert, {}};
    w.fields["site_id"] = r.site();
    w.fields["mrn"] = "MRN-" + Digits(8);
    w.fields["given_name"] = std::string(kGiven[rng_() % 8]);
    w.fields["family_name"] = std::string(kFamily[rng_() % 8]);
    w.fields["birth_date"] = "19" + Digits(2) + "-0" +
                             std::to_string(1 + rng_() % 9) + "-1" +
                             std::to_string(rng_() % 10);
    w.fields["sex"] = std::string(rng_() % 2 ? "F" : "M");
    w.fields["phone"] = "+2547" + Digits(8);
    w.fields["address"] = "Plot " + Digits(3) + ", Market Road";
    return w;
  }

  RowWrite StartRecording(Replica& r, const std::string& id,
                          const std::string& patient, std::int64_t now_ms) {
    RowWrite w{"recordings", id, Op::kUpsert, {}};
    w.fields["site_id"] = r.site();
    w.fields["patient_id"] = patient;
    w.fields["device_id"] = r.device();
    w.fields["operator_id"] = r.author();
    w.fields["started_at_ms"] = now_ms;
    w.fields["sample_rate_hz"] = 500.0;
    w.fields["lead_names"] = waves_.lead_names;
    w.fields["lsb_nv"] = std::int64_t{waves_.params.lsb_nanovolts};
    w.fields["status"] = std::string("recording");
    return w;
  }

  RowWrite SegmentRow(Replica& r, const std::string& recording,
                      const std::string& blob) {
    RowWrite w{"recording_segments", r.ids().Next().ToString(), Op::kUpsert,
               {}};
    w.fields["site_id"] = r.site();
    w.fields["recording_id"] = recording;
    w.fields["seq"] = std::int64_t{0};
    w.fields["first_frame"] = std::int64_t{0};
    w.fields["frame_count"] = waves_.frames;
    w.fields["blob_sha256"] = blob;
    return w;
  }

  RowWrite CompleteRecording(const std::string& recording,
                             std::int64_t now_ms) {
    RowWrite w{"recordings", recording, Op::kUpsert, {}};
    w.fields["ended_at_ms"] = now_ms + 10'000;
    w.fields["status"] = std::string("complete");
    w.fields["quality"] = std::string("good");
    w.fields["segment_count"] = std::int64_t{1};
    return w;
  }

  std::vector<RowWrite> Analysis(Replica& r, const std::string& recording,
                                 std::int64_t now_ms) {
    static const char* const kNames[] = {
        "heart_rate", "rr",     "pr",      "qrs",       "qt",
        "qtc",        "p_axis", "qrs_axis", "t_axis",   "p_duration",
        "r_amp_v5",   "s_amp_v1", "sokolow_lyon", "st_ii", "st_v2",
        "st_v5",      "t_amp_ii", "hrv_sdnn", "hrv_rmssd", "beat_count"};
    static const char* const kUnits[] = {"bpm", "ms", "ms", "ms", "ms",
                                         "ms", "deg", "deg", "deg", "ms",
                                         "mV", "mV", "mV", "mV", "mV",
                                         "mV", "mV", "ms", "ms", "count"};
    std::vector<RowWrite> out;
    const std::string analysis = r.ids().Next().ToString();
    RowWrite a{"analyses", analysis, Op::kUpsert, {}};
    a.fields["site_id"] = r.site();
    a.fields["recording_id"] = recording;
    a.fields["algorithm_version"] = std::string("pulse-dsp 0.1.0");
    a.fields["analysed_at_ms"] = now_ms + 10'500;
    out.push_back(std::move(a));
    std::uniform_real_distribution<double> value(0.1, 500.0);
    for (int i = 0; i < kMeasurementsPerAnalysis; ++i) {
      RowWrite m{"measurements", r.ids().Next().ToString(), Op::kUpsert, {}};
      m.fields["site_id"] = r.site();
      m.fields["analysis_id"] = analysis;
      m.fields["recording_id"] = recording;
      m.fields["name"] = std::string(kNames[i]);
      m.fields["lead"] = std::string(i >= 10 && i < 17 ? "V5" : "global");
      m.fields["value"] = value(rng_);
      m.fields["unit"] = std::string(kUnits[i]);
      out.push_back(std::move(m));
    }
    return out;
  }

  const Waveforms& waves_;
  std::mt19937_64 rng_;
  std::uint64_t unit_ = 0;
  std::uint64_t grown_ = 0;
};

// ---------------------------------------------------------------------------
struct Flags {
  std::string part = "all";
  int rounds = 10;
  int window = 20;
  std::int64_t grow_to = 1'000'000;
};

Flags ParseFlags(int argc, char** argv) {
  Flags f;
  if (const char* env = std::getenv("PULSE_INGEST_GROW_TO"); env && *env) {
    f.grow_to = std::atoll(env);
  }
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    auto value = [&](std::string_view name) -> const char* {
      if (a.starts_with(name) && a.size() > name.size() &&
          a[name.size()] == '=') {
        return argv[i] + name.size() + 1;
      }
      return nullptr;
    };
    if (const char* v = value("--part")) {
      f.part = v;
    } else if (const char* v2 = value("--rounds")) {
      f.rounds = std::max(1, std::atoi(v2));
    } else if (const char* v3 = value("--window")) {
      f.window = std::max(1, std::atoi(v3));
    } else if (const char* v4 = value("--grow_to")) {
      f.grow_to = std::atoll(v4);
    } else {
      std::fprintf(stderr,
                   "usage: %s [--part=all|overhead|growth] [--rounds=N] "
                   "[--window=N] [--grow_to=N]\n",
                   argv[0]);
      std::exit(2);
    }
  }
  return f;
}

// Alternating windows on two replicas: A B B A A B ... Returns the summed
// timings of each and the per-round ratios B/A of time per unit.
struct PairResult {
  UnitWriter::Timing a, b;
  std::int64_t units = 0;  // per replica
  std::vector<double> ratios;
};

PairResult Alternate(Replica& ra, Replica& rb, UnitWriter& units,
                     const Flags& flags) {
  PairResult result;
  for (int i = 0; i < 3; ++i) {  // warm-up: caches, prepared directories
    units.Ingest(ra);
    units.Ingest(rb);
  }
  for (int round = 0; round < flags.rounds; ++round) {
    UnitWriter::Timing ta, tb;
    auto run = [&](Replica& r, UnitWriter::Timing* t) {
      for (int u = 0; u < flags.window; ++u) *t += units.Ingest(r);
    };
    if (round % 2 == 0) {
      run(ra, &ta);
      run(rb, &tb);
    } else {
      run(rb, &tb);
      run(ra, &ta);
    }
    result.a += ta;
    result.b += tb;
    result.ratios.push_back(Seconds(tb.total()) / Seconds(ta.total()));
  }
  result.units = std::int64_t{flags.rounds} * flags.window;
  return result;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

void PrintArm(const char* name, const UnitWriter::Timing& t,
              std::int64_t units) {
  const double n = static_cast<double>(units);
  std::printf("  %-22s %8.1f rec/s  %7.2f ms/unit  (db %6.2f  blob %6.2f  "
              "encode %5.2f ms)\n",
              name, n / Seconds(t.total()), 1e3 * Seconds(t.total()) / n,
              1e3 * Seconds(t.db) / n, 1e3 * Seconds(t.blob) / n,
              1e3 * Seconds(t.encode) / n);
}

double Pct(SteadyClock::duration keyed, SteadyClock::duration plain) {
  return 100 * (Seconds(keyed) / Seconds(plain) - 1);
}

void RunOverhead(const Waveforms& waves, const Flags& flags) {
  NoSyncFileOps nosync;
  for (bool durable : {true, false}) {
    FileOps& ops = durable ? RealFileOps() : static_cast<FileOps&>(nosync);
    Replica plain({.keyed = false, .durable = durable}, ops);
    Replica keyed({.keyed = true, .durable = durable}, ops);
    UnitWriter units(waves);
    PairResult r = Alternate(plain, keyed, units, flags);
    std::printf("\n(a) encryption overhead, %s (%s), %d rounds x %d units "
                "per arm, alternating\n",
                durable ? "durable" : "nosync",
                durable ? "synchronous FULL + fsyncs"
                        : "synchronous NORMAL, no fsyncs",
                flags.rounds, flags.window);
    PrintArm("plaintext+plain files", r.a, r.units);
    PrintArm("SQLCipher+sealed files", r.b, r.units);
    std::printf("  overhead: total %+.1f %% (median of rounds %+.1f %%, "
                "range %+.1f..%+.1f %%)\n",
                Pct(r.b.total(), r.a.total()), 100 * (Median(r.ratios) - 1),
                100 * (*std::min_element(r.ratios.begin(), r.ratios.end()) - 1),
                100 * (*std::max_element(r.ratios.begin(), r.ratios.end()) - 1));
    std::printf("  by part: database %+.1f %%, blobs %+.1f %%, encode %+.1f %%"
                "; share of keyed-minus-plain time: db %.0f %%, blobs %.0f %%\n",
                Pct(r.b.db, r.a.db), Pct(r.b.blob, r.a.blob),
                Pct(r.b.encode, r.a.encode),
                100 * Seconds(r.b.db - r.a.db) /
                    Seconds(r.b.total() - r.a.total()),
                100 * Seconds(r.b.blob - r.a.blob) /
                    Seconds(r.b.total() - r.a.total()));
    std::fflush(stdout);
  }
}

void Grow(Replica& replica, UnitWriter& units, std::int64_t target) {
  const auto start = SteadyClock::now();
  auto last_report = start;
  std::vector<RowWrite> batch;
  while (replica.changes < target) {
    batch.clear();
    while (batch.size() + kWritesPerUnit <= kGrowBatchWrites &&
           replica.changes + static_cast<std::int64_t>(batch.size()) <
               target) {
      units.AppendUntimed(replica, &batch);
    }
    Check(replica.writer().Commit(batch, replica.author()), "grow Commit");
    replica.changes += static_cast<std::int64_t>(batch.size());
    const auto now = SteadyClock::now();
    if (now - last_report > std::chrono::seconds(30)) {
      last_report = now;
      std::printf("  ... %lld changes, %.0f s, %.0f changes/s\n",
                  static_cast<long long>(replica.changes),
                  Seconds(now - start),
                  static_cast<double>(replica.changes) /
                      Seconds(now - start));
      std::fflush(stdout);
    }
  }
  const double s = Seconds(SteadyClock::now() - start);
  std::printf("  grown to %lld changes in %.0f s (%.0f changes/s through "
              "LocalWriter, batches of ~%zu)\n",
              static_cast<long long>(replica.changes), s,
              static_cast<double>(replica.changes) / s, kGrowBatchWrites);
}

void RunGrowth(const Waveforms& waves, const Flags& flags) {
  const ReplicaConfig config{.keyed = true, .durable = true};
  Replica small(config, RealFileOps());
  Replica large(config, RealFileOps());
  UnitWriter units(waves);
  std::printf("\n(b) ingest vs store size (keyed, durable)\n");
  Grow(small, units, 1000);
  Grow(large, units, flags.grow_to);
  const std::int64_t small_before = small.CountChanges();
  const std::int64_t large_before = large.CountChanges();
  const auto db_size = [](Replica& r) {
    std::error_code ec;
    auto main = fs::file_size(r.db().path(), ec);
    return static_cast<double>(ec ? 0 : main) / 1e6;
  };
  std::printf("  large replica: %lld change_log rows, database file %.0f MB\n",
              static_cast<long long>(large_before), db_size(large));
  std::fflush(stdout);
  PairResult r = Alternate(small, large, units, flags);
  std::printf("  %d rounds x %d units per replica, alternating\n",
              flags.rounds, flags.window);
  char name[64];
  std::snprintf(name, sizeof name, "%lld..%lld changes",
                static_cast<long long>(small_before),
                static_cast<long long>(small.CountChanges()));
  PrintArm(name, r.a, r.units);
  std::snprintf(name, sizeof name, "%lld..%lld changes",
                static_cast<long long>(large_before),
                static_cast<long long>(large.CountChanges()));
  PrintArm(name, r.b, r.units);
  std::printf("  large vs small: time per unit %+.1f %% (median of rounds "
              "%+.1f %%), database part %+.1f %%, blob part %+.1f %%; "
              "rate ratio large/small = %.3f\n",
              Pct(r.b.total(), r.a.total()), 100 * (Median(r.ratios) - 1),
              Pct(r.b.db, r.a.db), Pct(r.b.blob, r.a.blob),
              Seconds(r.a.total()) / Seconds(r.b.total()));
  std::fflush(stdout);
}

}  // namespace
}  // namespace pulse::engine

int main(int argc, char** argv) {
  using namespace pulse::engine;
  const Flags flags = ParseFlags(argc, argv);
  const Waveforms waves = LoadWaveforms(50);
  // One segment's size, for the record.
  const auto sample = EncodeSegment(waves.records[0], waves.channels,
                                    waves.params);
  std::printf("ingest_benchmark: waveforms from %s; segment %zu bytes "
              "(raw %zu); %d writes / 5 commits / 1 blob per unit; "
              "TMPDIR %s\n",
              waves.source.c_str(), sample ? sample->size() : 0,
              waves.records[0].size() * 2, kWritesPerUnit,
              std::filesystem::temp_directory_path().c_str());
  std::fflush(stdout);
  if (flags.part == "all" || flags.part == "overhead") {
    RunOverhead(waves, flags);
  }
  if (flags.part == "all" || flags.part == "growth") {
    RunGrowth(waves, flags);
  }
  return 0;
}
