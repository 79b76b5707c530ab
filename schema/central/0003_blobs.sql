-- Central store, central schema version 3: content-addressed blobs
-- (DESIGN.md §3, §5; docs/sync_protocol.md "Blobs"). Append-only: never
-- edit this file once it has landed. Dialect: SQLite 3.15.2 (SQLCipher
-- 3.4.1).
--
-- The bytes of complete blobs live in the central replica's sealed blob
-- store (engine/sealed_file_blob_store.h), not here. These tables hold who
-- may read them and the uploads still in progress.

-- Sites that proved they hold a blob by uploading bytes that hash to its
-- id (once per site; the bytes are stored once). Clinic staff read a blob
-- only if their site is listed here; admins read every blob.
CREATE TABLE blob_owners (
  sha256 TEXT NOT NULL,      -- 64 lowercase hex
  site TEXT NOT NULL,        -- canonical UUID of the site
  size INTEGER NOT NULL,     -- bytes of content
  uploaded_by TEXT NOT NULL, -- user id of the session that completed it
  created_ms INTEGER NOT NULL,
  PRIMARY KEY (sha256, site)
) WITHOUT ROWID;

-- One resumable upload per (blob, site): `received` bytes, held in
-- blob_upload_chunks, out of `total`. The database is SQLCipher, so staged
-- chunks are encrypted at rest like every row, and survive a restart.
CREATE TABLE blob_uploads (
  sha256 TEXT NOT NULL,
  site TEXT NOT NULL,
  total INTEGER NOT NULL,
  received INTEGER NOT NULL,
  started_ms INTEGER NOT NULL,
  updated_ms INTEGER NOT NULL,
  PRIMARY KEY (sha256, site)
) WITHOUT ROWID;

-- The received bytes of an upload, one row per accepted chunk, starting at
-- byte `start`; contiguous from 0 to blob_uploads.received.
CREATE TABLE blob_upload_chunks (
  sha256 TEXT NOT NULL,
  site TEXT NOT NULL,
  start INTEGER NOT NULL,
  data BLOB NOT NULL,
  PRIMARY KEY (sha256, site, start)
);
