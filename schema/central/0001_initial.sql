-- Central store, central schema version 1 (ledger: central_migrations).
-- Append-only: never edit this file once it has landed. The central
-- database also carries the clinic schema (schema/clinic/, ledger
-- schema_migrations): the replicated tables, merged with the same Merger
-- as every clinic. These are the tables only the server has (DESIGN.md §3,
-- §12: everything a second server process would need lives here).
-- Dialect: SQLite 3.15.2 (SQLCipher 3.4.1).

-- Bearer-token sessions. Only BLAKE2b-256 (hex) of the token is stored.
CREATE TABLE sessions (
  token_hash TEXT PRIMARY KEY NOT NULL,
  user_id TEXT NOT NULL,
  role TEXT NOT NULL,
  site TEXT,
  created_ms INTEGER NOT NULL,
  last_seen_ms INTEGER NOT NULL,
  expires_ms INTEGER NOT NULL,
  revoked INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;

-- The global sequence pull cursors walk: every change entry new to the
-- central store, in the order it was applied here. row_site is the site of
-- the row the entry wrote (NULL for central rows): a clinic pulls the
-- entries of its own site's rows.
CREATE TABLE global_log (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  entry_id TEXT NOT NULL,
  row_site TEXT,
  tbl TEXT NOT NULL,
  entry TEXT NOT NULL  -- canonical JSON (docs/formats/change_log.md)
);
CREATE INDEX global_log_by_site ON global_log (row_site, seq);

-- Push idempotency: a batch id answered once is answered the same again.
CREATE TABLE push_batches (
  batch_id TEXT PRIMARY KEY NOT NULL,
  site TEXT NOT NULL,
  pushed_by TEXT NOT NULL,
  received_ms INTEGER NOT NULL,
  accepted INTEGER NOT NULL,
  conflicts INTEGER NOT NULL
) WITHOUT ROWID;

-- When each site last pushed and pulled (the admin's site list).
CREATE TABLE site_sync (
  site TEXT PRIMARY KEY NOT NULL,
  last_push_ms INTEGER,
  last_pull_ms INTEGER
) WITHOUT ROWID;
