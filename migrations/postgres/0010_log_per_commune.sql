-- Sequence numbers per commune: the change log is ordered within each commune, not across the
-- database, so writers of different communes never wait for each other (the writer takes one
-- transaction-scoped advisory lock per commune it writes, server/src/store/writer.rs). A device's
-- cursor lives inside its commune, so the numbers a phone already holds stay valid: rows written
-- before this migration keep theirs (increasing within each commune, with gaps where other
-- communes' changes were), and new rows continue from each commune's highest.
ALTER TABLE changes DROP CONSTRAINT changes_pkey;
ALTER TABLE changes ADD PRIMARY KEY (commune_id, seq);
-- The primary key is that index now.
DROP INDEX changes_commune;
