-- Test fixture for migrations_test: a first schema version.
CREATE TABLE notes (
  id INTEGER PRIMARY KEY,
  body TEXT NOT NULL
);
