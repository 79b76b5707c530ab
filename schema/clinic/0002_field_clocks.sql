-- Field clocks in the row (docs/data_model.md §3.3): each mutable row keeps
-- its per-field version state — winner, other leaves, dangling bases,
-- versions its tombstones saw — in one BLOB (engine/include/pulse/engine/
-- row_clock.h), so that merging a new row or a sequential edit writes one
-- B-tree record instead of one field_versions record (and one index entry)
-- per field. The upgrade step (C++, ClinicUpgrade0002) fills the column from
-- field_versions and tombstone_bases; 0003 drops those tables.
ALTER TABLE sites ADD COLUMN field_clock BLOB;
ALTER TABLE users ADD COLUMN field_clock BLOB;
ALTER TABLE devices ADD COLUMN field_clock BLOB;
ALTER TABLE patients ADD COLUMN field_clock BLOB;
ALTER TABLE recordings ADD COLUMN field_clock BLOB;
ALTER TABLE interpretations ADD COLUMN field_clock BLOB;
