-- The version graph tables of schema v1, converted into field clocks by
-- 0002 and no longer read or written.
DROP INDEX field_versions_by_base;
DROP TABLE field_versions;
DROP INDEX tombstone_bases_by_field;
DROP TABLE tombstone_bases;
