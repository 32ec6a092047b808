-- A record is named by its commune and its id: every key of the tables that grow with the records
-- leads with `commune_id`, as on PostgreSQL, where the migration of the same number also
-- partitions them by commune. Record ids were unique in the whole database; they are unique within
-- a commune now (a phone names only records of its own commune, and every lookup carries the
-- commune). SQLite cannot change a key in place: the tables are rebuilt, the children first so no
-- foreign key ever points at a dropped table (renaming `records_new` rewrites their references).

CREATE TABLE records_new (
    commune_id         BLOB NOT NULL REFERENCES communes(id),
    village_id         BLOB NOT NULL REFERENCES villages(id),
    id                 BLOB NOT NULL,
    kind               TEXT NOT NULL CHECK (kind IN ('activity', 'gbv_referral')),
    owner_device       BLOB NOT NULL,
    created_by         BLOB NOT NULL,
    doc                BLOB NOT NULL,
    view               TEXT NOT NULL,
    review_state       TEXT NOT NULL,
    conflicted         INTEGER NOT NULL,
    deleted            INTEGER NOT NULL,
    event_date         TEXT,
    updated_seq        INTEGER NOT NULL,
    history_purged_at  INTEGER,
    PRIMARY KEY (commune_id, id)
);

CREATE TABLE record_facts_new (
    commune_id       BLOB NOT NULL,
    record_id        BLOB NOT NULL,
    village_id       BLOB NOT NULL,
    kind             TEXT NOT NULL,
    unit             TEXT,
    plan_item        TEXT,
    activity_type    TEXT,
    format           TEXT,
    -- held_on for an activity, reported_on for a GBV referral: YYYY-MM-DD.
    event_date       TEXT,
    female           INTEGER,
    male             INTEGER,
    ethnic_minority  INTEGER,
    survivor_sex     TEXT,
    age_group        TEXT,
    setting          TEXT,
    case_status      TEXT,
    topics           INTEGER NOT NULL,
    violence_types   INTEGER NOT NULL,
    referred_to      INTEGER NOT NULL,
    review_state     TEXT NOT NULL,
    deleted          INTEGER NOT NULL,
    conflicted       INTEGER NOT NULL,
    -- When the server first stored the record (Unix ms): completeness against the deadline.
    first_stored_at  INTEGER NOT NULL,
    PRIMARY KEY (commune_id, record_id),
    FOREIGN KEY (commune_id, record_id) REFERENCES records_new (commune_id, id)
);

CREATE TABLE changes_new (
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
    UNIQUE (commune_id, record_id, hash)
);

CREATE TABLE pending_changes_new (
    commune_id   BLOB NOT NULL,
    record_id    BLOB NOT NULL,
    hash         BLOB NOT NULL,
    device_id    BLOB NOT NULL,
    bytes        BLOB NOT NULL,
    received_at  INTEGER NOT NULL,
    PRIMARY KEY (commune_id, record_id, hash)
);

CREATE TABLE duplicate_pairs_new (
    commune_id   BLOB NOT NULL,
    first_id     BLOB NOT NULL,
    second_id    BLOB NOT NULL,
    detected_at  INTEGER NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('open', 'dismissed', 'merged')),
    decided_by   BLOB,
    decided_at   INTEGER,
    kept_id      BLOB,
    PRIMARY KEY (commune_id, first_id, second_id),
    FOREIGN KEY (commune_id, first_id) REFERENCES records_new (commune_id, id),
    FOREIGN KEY (commune_id, second_id) REFERENCES records_new (commune_id, id)
);

INSERT INTO records_new (commune_id, village_id, id, kind, owner_device, created_by, doc, view, review_state,
                         conflicted, deleted, event_date, updated_seq, history_purged_at)
    SELECT commune_id, village_id, id, kind, owner_device, created_by, doc, view, review_state,
           conflicted, deleted, event_date, updated_seq, history_purged_at
    FROM records;
INSERT INTO record_facts_new (commune_id, record_id, village_id, kind, unit, plan_item, activity_type, format,
                              event_date, female, male, ethnic_minority, survivor_sex, age_group, setting,
                              case_status, topics, violence_types, referred_to, review_state, deleted, conflicted,
                              first_stored_at)
    SELECT commune_id, record_id, village_id, kind, unit, plan_item, activity_type, format,
           event_date, female, male, ethnic_minority, survivor_sex, age_group, setting,
           case_status, topics, violence_types, referred_to, review_state, deleted, conflicted,
           first_stored_at
    FROM record_facts;
INSERT INTO changes_new (commune_id, seq, village_id, record_id, sensitive, owner_device, device_id, hash, bytes,
                         received_at, replaces)
    SELECT commune_id, seq, village_id, record_id, sensitive, owner_device, device_id, hash, bytes,
           received_at, replaces
    FROM changes;
-- A waiting change's commune is its device's (a device writes only in its own commune); the
-- changes of a device no longer known are dropped: nothing could ever apply them.
INSERT INTO pending_changes_new (commune_id, record_id, hash, device_id, bytes, received_at)
    SELECT u.commune_id, p.record_id, p.hash, p.device_id, p.bytes, p.received_at
    FROM pending_changes p JOIN devices d ON d.id = p.device_id JOIN users u ON u.id = d.user_id;
INSERT INTO duplicate_pairs_new (commune_id, first_id, second_id, detected_at, status, decided_by, decided_at,
                                 kept_id)
    SELECT commune_id, first_id, second_id, detected_at, status, decided_by, decided_at, kept_id
    FROM duplicate_pairs;

DROP TABLE duplicate_pairs;
DROP TABLE record_facts;
DROP TABLE pending_changes;
DROP TABLE changes;
DROP TABLE records;
ALTER TABLE records_new RENAME TO records;
ALTER TABLE record_facts_new RENAME TO record_facts;
ALTER TABLE changes_new RENAME TO changes;
ALTER TABLE pending_changes_new RENAME TO pending_changes;
ALTER TABLE duplicate_pairs_new RENAME TO duplicate_pairs;

CREATE INDEX records_scope ON records (commune_id, village_id, id);
CREATE INDEX record_facts_period ON record_facts (commune_id, kind, event_date, deleted, review_state, village_id, unit,
    activity_type, format, plan_item, female, male, ethnic_minority, topics);
CREATE INDEX record_facts_twins ON record_facts (commune_id, village_id, event_date, activity_type);
CREATE INDEX changes_village ON changes (commune_id, village_id, seq);
CREATE INDEX pending_changes_device ON pending_changes (commune_id, device_id);
CREATE INDEX pending_changes_received ON pending_changes (commune_id, received_at);
CREATE INDEX duplicate_pairs_status ON duplicate_pairs (commune_id, status);
