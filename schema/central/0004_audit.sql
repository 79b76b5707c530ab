-- Central schema: the server's audit bookkeeping (DESIGN.md §6;
-- docs/security.md "Audit"). Append-only: never edit once landed.
-- Dialect: SQLite 3.15.2 (SQLCipher 3.4.1).

-- Continuity of each site's audit chain as the server has checked it.
-- head_seq/head_hash: the last record verified to extend the chain from
-- genesis (0 and the genesis hash before any). broken_*: the first break
-- found (NULL while intact); a break is sticky: later pushes still land,
-- and the verified head stays where the chain was last intact.
CREATE TABLE audit_chain_status (
  site TEXT PRIMARY KEY NOT NULL,
  head_seq INTEGER NOT NULL,
  head_hash TEXT NOT NULL,         -- 64 hex
  checked_ms INTEGER NOT NULL,     -- server time of the last check
  events_checked INTEGER NOT NULL, -- records verified so far
  broken_seq INTEGER,              -- first seq that does not extend the chain
  broken_reason TEXT,              -- audit_chain.md §4.1 reason name
  broken_found_seq INTEGER,        -- the seq the offending record claims
  broken_detail TEXT,              -- one line for people (no patient data)
  broken_ms INTEGER                -- server time the break was found
) WITHOUT ROWID;

-- How far the continuity check has read audit_events: the largest rowid
-- it has verified (rows are never deleted, so new rows have larger rowids).
CREATE TABLE audit_scan (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  last_rowid INTEGER NOT NULL
);

-- Signed checkpoints of the central log: an Ed25519 signature over a
-- canonical JSON statement (global_log position and running hash, every
-- site's verified chain head, the previous checkpoint's hash).
CREATE TABLE audit_checkpoints (
  seq INTEGER PRIMARY KEY NOT NULL,  -- 1, 2, ... gapless
  time_ms INTEGER NOT NULL,
  global_seq INTEGER NOT NULL,
  global_hash TEXT NOT NULL,         -- 64 hex
  statement TEXT NOT NULL,           -- the signed bytes
  signature TEXT NOT NULL,           -- 128 hex (Ed25519, detached)
  key_id TEXT NOT NULL
);

-- The server's checkpoint signing keys. The secret key never leaves the
-- encrypted database; only public_key is ever exported.
CREATE TABLE audit_signing_keys (
  key_id TEXT PRIMARY KEY NOT NULL,  -- first 16 hex of BLAKE2b-256(pk)
  public_key TEXT NOT NULL,          -- 64 hex
  secret_key BLOB NOT NULL,          -- 64 bytes (libsodium Ed25519 form)
  created_ms INTEGER NOT NULL
) WITHOUT ROWID;

-- The auditor's event list: newest first by (time_ms, id).
CREATE INDEX audit_events_by_time ON audit_events (time_ms, id);
