-- Sequence numbers per commune: the change log is ordered within each commune, not across the
-- database (see the PostgreSQL migration of the same number). A device's cursor lives inside its
-- commune, so the numbers a phone already holds stay valid: rows written before this migration
-- keep theirs, and new rows continue from each commune's highest. SQLite cannot change a primary
-- key in place: the table is rebuilt.
CREATE TABLE changes_by_commune (
    commune_id    BLOB NOT NULL,
    seq           INTEGER NOT NULL,
    village_id    BLOB NOT NULL,
    record_id     BLOB NOT NULL,
    sensitive     INTEGER NOT NULL,
    owner_device  BLOB NOT NULL,
    device_id     BLOB NOT NULL,
    hash          BLOB NOT NULL,
    bytes         BLOB NOT NULL,
    received_at   INTEGER NOT NULL,
    replaces      INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (commune_id, seq),
    UNIQUE (record_id, hash)
);
INSERT INTO changes_by_commune
    (commune_id, seq, village_id, record_id, sensitive, owner_device, device_id, hash, bytes, received_at, replaces)
    SELECT commune_id, seq, village_id, record_id, sensitive, owner_device, device_id, hash, bytes, received_at, replaces
    FROM changes;
DROP TABLE changes;
ALTER TABLE changes_by_commune RENAME TO changes;
CREATE INDEX changes_village ON changes (commune_id, village_id, seq);
