-- Test fixture for migrations_test: a second version that keeps old rows.
ALTER TABLE notes ADD COLUMN author TEXT NOT NULL DEFAULT 'unknown';
CREATE INDEX notes_by_author ON notes (author);
