-- Central store, central schema version 2: indexes for the admin API's
-- merged views (docs/sync_protocol.md "Admin API"). Append-only: never edit
-- this file once it has landed. Dialect: SQLite 3.15.2 (SQLCipher 3.4.1).
--
-- They sit on replicated tables of the clinic schema, but only the central
-- database has them: a clinic searches its own few thousand patients, the
-- admin searches every site's (the bar: 100 000 patients from 50 sites,
-- p99 < 50 ms per page).

-- Prefix search, case-insensitive: a NOCASE range (q <= col < q+1) on each
-- searchable field. deleted, site_id and id ride along so that counting and
-- collecting the matches of a page never reads the table rows.
CREATE INDEX patients_admin_by_mrn
  ON patients (mrn COLLATE NOCASE, deleted, site_id, id);
CREATE INDEX patients_admin_by_family
  ON patients (family_name COLLATE NOCASE, deleted, site_id, id);
CREATE INDEX patients_admin_by_given
  ON patients (given_name COLLATE NOCASE, deleted, site_id, id);

-- Pages in id order, everything or one site's: the search fields ride
-- along, so that a page of a common prefix tests a few thousand index
-- entries (about 80 bytes each) instead of reading as many table rows.
CREATE INDEX patients_admin_walk
  ON patients (id, deleted, mrn, family_name, given_name);
CREATE INDEX patients_admin_walk_by_site
  ON patients (site_id, id, deleted, mrn, family_name, given_name);

-- Keyset pages of one site's rows in id order.
CREATE INDEX recordings_admin_by_site ON recordings (site_id, id);
CREATE INDEX devices_admin_by_site ON devices (site_id, id);
CREATE INDEX users_admin_by_site ON users (site_id, id);
