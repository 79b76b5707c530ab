-- Clinic replica, schema version 1. Append-only: never edit this file once
-- it has landed; change the schema with 0002_*.sql. Design and rationale:
-- docs/data_model.md. Dialect: SQLite 3.15.2 (SQLCipher 3.4.1).
--
-- Replicated tables carry no FOREIGN KEY, UNIQUE (beyond the primary key) or
-- enum CHECK constraints: the merge must accept every well-formed change in
-- any order (a recording may arrive before its patient; two sites may
-- register one MRN offline). Repositories validate local writes instead.
--
-- Every replicated row: id (UUID text), site_id (owning site; NULL for
-- central rows), created_hlc / updated_hlc (least and greatest HLC of the
-- writes applied to the row, packed int64), deleted (tombstone, sticky).

-- Mutable tables: per-field last-writer-wins (field_versions below).

CREATE TABLE sites (
  id TEXT PRIMARY KEY NOT NULL,
  site_id TEXT,
  created_hlc INTEGER NOT NULL,
  updated_hlc INTEGER NOT NULL,
  deleted INTEGER NOT NULL DEFAULT 0,
  name TEXT,
  region TEXT,
  timezone TEXT
);

CREATE TABLE users (
  id TEXT PRIMARY KEY NOT NULL,
  site_id TEXT,
  created_hlc INTEGER NOT NULL,
  updated_hlc INTEGER NOT NULL,
  deleted INTEGER NOT NULL DEFAULT 0,
  username TEXT,
  full_name TEXT,
  role TEXT,
  password_hash TEXT,
  active INTEGER
);
CREATE INDEX users_by_username ON users (username);

CREATE TABLE devices (
  id TEXT PRIMARY KEY NOT NULL,
  site_id TEXT,
  created_hlc INTEGER NOT NULL,
  updated_hlc INTEGER NOT NULL,
  deleted INTEGER NOT NULL DEFAULT 0,
  serial TEXT,
  kind TEXT,
  model TEXT,
  firmware TEXT
);

CREATE TABLE patients (
  id TEXT PRIMARY KEY NOT NULL,
  site_id TEXT,
  created_hlc INTEGER NOT NULL,
  updated_hlc INTEGER NOT NULL,
  deleted INTEGER NOT NULL DEFAULT 0,
  mrn TEXT,
  given_name TEXT,
  family_name TEXT,
  birth_date TEXT,  -- YYYY-MM-DD
  sex TEXT,
  phone TEXT,
  address TEXT
);
CREATE INDEX patients_by_mrn ON patients (mrn);
CREATE INDEX patients_by_family_name ON patients (family_name);
CREATE INDEX patients_by_birth_date ON patients (birth_date);

CREATE TABLE recordings (
  id TEXT PRIMARY KEY NOT NULL,
  site_id TEXT,
  created_hlc INTEGER NOT NULL,
  updated_hlc INTEGER NOT NULL,
  deleted INTEGER NOT NULL DEFAULT 0,
  patient_id TEXT,
  device_id TEXT,
  operator_id TEXT,
  started_at_ms INTEGER,
  ended_at_ms INTEGER,
  sample_rate_hz REAL,
  lead_names TEXT,      -- comma-separated, e.g. "I,II,V1,V2,V3,V4,V5,V6"
  lsb_nv INTEGER,       -- nanovolts per ADC unit
  status TEXT,          -- recording | complete | failed
  quality TEXT,
  segment_count INTEGER
);
CREATE INDEX recordings_by_patient ON recordings (patient_id, started_at_ms);
CREATE INDEX recordings_by_start ON recordings (started_at_ms);

CREATE TABLE interpretations (
  id TEXT PRIMARY KEY NOT NULL,
  site_id TEXT,
  created_hlc INTEGER NOT NULL,
  updated_hlc INTEGER NOT NULL,
  deleted INTEGER NOT NULL DEFAULT 0,
  recording_id TEXT,
  author_id TEXT,
  statement TEXT,
  status TEXT,          -- draft | confirmed | amended
  confirmed_by TEXT,
  confirmed_at_ms INTEGER
);
CREATE INDEX interpretations_by_recording ON interpretations (recording_id);

-- Append-only tables: a row is written once; the same id again is a no-op.

CREATE TABLE recording_segments (
  id TEXT PRIMARY KEY NOT NULL,
  site_id TEXT,
  created_hlc INTEGER NOT NULL,
  updated_hlc INTEGER NOT NULL,
  deleted INTEGER NOT NULL DEFAULT 0,
  recording_id TEXT,
  seq INTEGER,
  first_frame INTEGER,
  frame_count INTEGER,
  blob_sha256 TEXT
);
CREATE INDEX recording_segments_by_recording
  ON recording_segments (recording_id, seq);

CREATE TABLE analyses (
  id TEXT PRIMARY KEY NOT NULL,
  site_id TEXT,
  created_hlc INTEGER NOT NULL,
  updated_hlc INTEGER NOT NULL,
  deleted INTEGER NOT NULL DEFAULT 0,
  recording_id TEXT,
  algorithm_version TEXT,
  analysed_at_ms INTEGER
);
CREATE INDEX analyses_by_recording ON analyses (recording_id);

CREATE TABLE measurements (
  id TEXT PRIMARY KEY NOT NULL,
  site_id TEXT,
  created_hlc INTEGER NOT NULL,
  updated_hlc INTEGER NOT NULL,
  deleted INTEGER NOT NULL DEFAULT 0,
  analysis_id TEXT,
  recording_id TEXT,
  name TEXT,
  lead TEXT,
  value REAL,
  unit TEXT
);
CREATE INDEX measurements_by_analysis ON measurements (analysis_id);

CREATE TABLE findings (
  id TEXT PRIMARY KEY NOT NULL,
  site_id TEXT,
  created_hlc INTEGER NOT NULL,
  updated_hlc INTEGER NOT NULL,
  deleted INTEGER NOT NULL DEFAULT 0,
  analysis_id TEXT,
  recording_id TEXT,
  code TEXT,
  label TEXT,
  onset_ms INTEGER,
  offset_ms INTEGER,
  count INTEGER,
  confidence REAL
);
CREATE INDEX findings_by_analysis ON findings (analysis_id);

CREATE TABLE reports (
  id TEXT PRIMARY KEY NOT NULL,
  site_id TEXT,
  created_hlc INTEGER NOT NULL,
  updated_hlc INTEGER NOT NULL,
  deleted INTEGER NOT NULL DEFAULT 0,
  recording_id TEXT,
  pdf_sha256 TEXT,
  generated_by TEXT,
  generated_at_ms INTEGER
);
CREATE INDEX reports_by_recording ON reports (recording_id);

-- The site's audit hash chain (docs/formats/audit_chain.md): the canonical
-- event bytes for verification, the fields as columns for auditors' filters.
CREATE TABLE audit_events (
  id TEXT PRIMARY KEY NOT NULL,
  site_id TEXT,
  created_hlc INTEGER NOT NULL,
  updated_hlc INTEGER NOT NULL,
  deleted INTEGER NOT NULL DEFAULT 0,
  seq INTEGER,
  time_ms INTEGER,
  hlc INTEGER,
  actor TEXT,
  role TEXT,
  action TEXT,
  object_type TEXT,
  object_id TEXT,
  patient TEXT,
  outcome TEXT,
  source TEXT,
  event TEXT,       -- canonical JSON of the event
  prev_hash TEXT,   -- 64 hex
  hash TEXT         -- 64 hex
);
CREATE INDEX audit_events_by_site_seq ON audit_events (site_id, seq);
CREATE INDEX audit_events_by_patient ON audit_events (patient, time_ms);
CREATE INDEX audit_events_by_actor ON audit_events (actor, time_ms);

CREATE TABLE client_errors (
  id TEXT PRIMARY KEY NOT NULL,
  site_id TEXT,
  created_hlc INTEGER NOT NULL,
  updated_hlc INTEGER NOT NULL,
  deleted INTEGER NOT NULL DEFAULT 0,
  at_ms INTEGER,
  component TEXT,
  message TEXT,
  detail TEXT,
  app_version TEXT
);

CREATE TABLE conflict_resolutions (
  id TEXT PRIMARY KEY NOT NULL,
  site_id TEXT,
  created_hlc INTEGER NOT NULL,
  updated_hlc INTEGER NOT NULL,
  deleted INTEGER NOT NULL DEFAULT 0,
  conflict_id TEXT,
  resolver_id TEXT,
  decision TEXT,
  resolved_at_ms INTEGER
);
CREATE INDEX conflict_resolutions_by_conflict
  ON conflict_resolutions (conflict_id);

-- Merge bookkeeping (local to each replica, identical on all of them once
-- they have exchanged every change).

-- Ids of every change entry applied here: the idempotence check.
CREATE TABLE applied_changes (
  id TEXT PRIMARY KEY NOT NULL
) WITHOUT ROWID;

-- Every version ever applied of every field of a mutable table: the version
-- graph whose leaves other than the winner are the conflicts. base_hlc 0 /
-- base_site '' = the writer saw no earlier value.
CREATE TABLE field_versions (
  tbl TEXT NOT NULL,
  row_id TEXT NOT NULL,
  col TEXT NOT NULL,
  hlc INTEGER NOT NULL,
  site TEXT NOT NULL,
  base_hlc INTEGER NOT NULL,
  base_site TEXT NOT NULL,
  change_id TEXT NOT NULL,
  author TEXT NOT NULL,
  value,
  PRIMARY KEY (tbl, row_id, col, hlc, site)
) WITHOUT ROWID;
CREATE INDEX field_versions_by_base
  ON field_versions (tbl, row_id, col, base_hlc, base_site);

-- Tombstones and the field versions each one saw.
CREATE TABLE tombstones (
  change_id TEXT PRIMARY KEY NOT NULL,
  tbl TEXT NOT NULL,
  row_id TEXT NOT NULL,
  hlc INTEGER NOT NULL,
  site TEXT NOT NULL,
  author TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX tombstones_by_row ON tombstones (tbl, row_id);
CREATE TABLE tombstone_bases (
  change_id TEXT NOT NULL,
  tbl TEXT NOT NULL,
  row_id TEXT NOT NULL,
  col TEXT NOT NULL,
  base_hlc INTEGER NOT NULL,
  base_site TEXT NOT NULL,
  PRIMARY KEY (change_id, col)
) WITHOUT ROWID;
CREATE INDEX tombstone_bases_by_field
  ON tombstone_bases (tbl, row_id, col, base_hlc, base_site);

-- Values overwritten by a writer who never saw them (docs/data_model.md
-- §3.3). id = BLAKE2b(tbl, row, col, loser version), equal on every replica.
CREATE TABLE conflicts (
  id TEXT PRIMARY KEY NOT NULL,
  tbl TEXT NOT NULL,
  row_id TEXT NOT NULL,
  col TEXT NOT NULL,
  kind TEXT NOT NULL,  -- concurrent_update | delete_vs_update
  loser_hlc INTEGER NOT NULL,
  loser_site TEXT NOT NULL,
  loser_change_id TEXT NOT NULL,
  loser_author TEXT NOT NULL,
  loser_value
) WITHOUT ROWID;
CREATE INDEX conflicts_by_field ON conflicts (tbl, row_id, col);

-- Local only.

-- The outbox: local change entries in the order written.
CREATE TABLE change_log (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,
  hlc INTEGER NOT NULL,
  entry TEXT NOT NULL,  -- canonical JSON (docs/formats/change_log.md)
  batch_id TEXT,        -- set once when assigned to a push batch
  pushed_at_ms INTEGER
);
CREATE INDEX change_log_unbatched ON change_log (batch_id, seq);

CREATE TABLE sync_state (
  key TEXT PRIMARY KEY NOT NULL,
  value
) WITHOUT ROWID;

CREATE TABLE settings (
  key TEXT PRIMARY KEY NOT NULL,
  value
) WITHOUT ROWID;

-- Blob index; the bytes live in the sealed blob store.
CREATE TABLE blobs (
  sha256 TEXT PRIMARY KEY NOT NULL,
  size_bytes INTEGER NOT NULL,
  stored_at_ms INTEGER NOT NULL,
  uploaded INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
