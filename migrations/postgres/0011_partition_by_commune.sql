-- A record is named by its commune and its id, and the tables that grow with the records (the
-- change log, the records, the report projection, the waiting changes, the duplicate pairs) are
-- partitioned by commune: PostgreSQL's declarative hash partitioning, 16 partitions each. Every
-- hot query names the commune, so the planner prunes it to one partition, and every primary key,
-- unique constraint and foreign key leads with `commune_id`: the same schema distributes on a
-- distributed PostgreSQL (Citus) with `commune_id` as the distribution column, each commune's
-- rows and their joins on one node (docs/deploy.md). A partitioned table cannot change its key in
-- place: each is created anew, filled from the old one, and takes its name.
--
-- Record ids were unique in the whole database; they are unique within a commune now (a phone
-- names only records of its own commune, and every lookup carries the commune), the same on
-- SQLite (the migration of the same number there).

CREATE TABLE records_p (
    commune_id         BYTEA NOT NULL REFERENCES communes (id),
    village_id         BYTEA NOT NULL REFERENCES villages (id),
    id                 BYTEA NOT NULL,
    kind               TEXT NOT NULL CHECK (kind IN ('activity', 'gbv_referral')),
    owner_device       BYTEA NOT NULL,
    created_by         BYTEA NOT NULL,
    doc                BYTEA NOT NULL,
    view               TEXT NOT NULL,
    review_state       TEXT NOT NULL,
    conflicted         BOOLEAN NOT NULL,
    deleted            BOOLEAN NOT NULL,
    event_date         TEXT,
    updated_seq        BIGINT NOT NULL,
    history_purged_at  BIGINT,
    CONSTRAINT records_key PRIMARY KEY (commune_id, id)
) PARTITION BY HASH (commune_id);

CREATE TABLE record_facts_p (
    commune_id       BYTEA NOT NULL,
    record_id        BYTEA NOT NULL,
    village_id       BYTEA NOT NULL,
    kind             TEXT NOT NULL,
    unit             TEXT,
    plan_item        TEXT,
    activity_type    TEXT,
    format           TEXT,
    event_date       TEXT,
    female           BIGINT,
    male             BIGINT,
    ethnic_minority  BIGINT,
    survivor_sex     TEXT,
    age_group        TEXT,
    setting          TEXT,
    case_status      TEXT,
    topics           BIGINT NOT NULL,
    violence_types   BIGINT NOT NULL,
    referred_to      BIGINT NOT NULL,
    review_state     TEXT NOT NULL,
    deleted          BOOLEAN NOT NULL,
    conflicted       BOOLEAN NOT NULL,
    first_stored_at  BIGINT NOT NULL,
    CONSTRAINT record_facts_key PRIMARY KEY (commune_id, record_id),
    CONSTRAINT record_facts_record FOREIGN KEY (commune_id, record_id) REFERENCES records_p (commune_id, id)
) PARTITION BY HASH (commune_id);

CREATE TABLE changes_p (
    commune_id    BYTEA NOT NULL,
    seq           BIGINT NOT NULL,
    village_id    BYTEA NOT NULL,
    record_id     BYTEA NOT NULL,
    sensitive     BOOLEAN NOT NULL,
    owner_device  BYTEA NOT NULL,
    device_id     BYTEA NOT NULL,
    hash          BYTEA NOT NULL,
    bytes         BYTEA NOT NULL,
    received_at   BIGINT NOT NULL,
    replaces      BOOLEAN NOT NULL DEFAULT FALSE,
    CONSTRAINT changes_key PRIMARY KEY (commune_id, seq),
    CONSTRAINT changes_once UNIQUE (commune_id, record_id, hash)
) PARTITION BY HASH (commune_id);

CREATE TABLE pending_changes_p (
    commune_id   BYTEA NOT NULL,
    record_id    BYTEA NOT NULL,
    hash         BYTEA NOT NULL,
    device_id    BYTEA NOT NULL,
    bytes        BYTEA NOT NULL,
    received_at  BIGINT NOT NULL,
    CONSTRAINT pending_changes_key PRIMARY KEY (commune_id, record_id, hash)
) PARTITION BY HASH (commune_id);

CREATE TABLE duplicate_pairs_p (
    commune_id   BYTEA NOT NULL,
    first_id     BYTEA NOT NULL,
    second_id    BYTEA NOT NULL,
    detected_at  BIGINT NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('open', 'dismissed', 'merged')),
    decided_by   BYTEA,
    decided_at   BIGINT,
    kept_id      BYTEA,
    CONSTRAINT duplicate_pairs_key PRIMARY KEY (commune_id, first_id, second_id),
    CONSTRAINT duplicate_pairs_first FOREIGN KEY (commune_id, first_id) REFERENCES records_p (commune_id, id),
    CONSTRAINT duplicate_pairs_second FOREIGN KEY (commune_id, second_id) REFERENCES records_p (commune_id, id)
) PARTITION BY HASH (commune_id);

-- 16 partitions of each: records_p0 … records_p15 and so on.
DO $$
DECLARE
    t TEXT;
    i INT;
BEGIN
    FOREACH t IN ARRAY ARRAY['records', 'record_facts', 'changes', 'pending_changes', 'duplicate_pairs'] LOOP
        FOR i IN 0..15 LOOP
            EXECUTE format('CREATE TABLE %I PARTITION OF %I FOR VALUES WITH (MODULUS 16, REMAINDER %s)',
                           t || '_' || i, t || '_p', i);
        END LOOP;
    END LOOP;
END;
$$;

INSERT INTO records_p (commune_id, village_id, id, kind, owner_device, created_by, doc, view, review_state,
                       conflicted, deleted, event_date, updated_seq, history_purged_at)
    SELECT commune_id, village_id, id, kind, owner_device, created_by, doc, view, review_state,
           conflicted, deleted, event_date, updated_seq, history_purged_at
    FROM records;
INSERT INTO record_facts_p (commune_id, record_id, village_id, kind, unit, plan_item, activity_type, format,
                            event_date, female, male, ethnic_minority, survivor_sex, age_group, setting, case_status,
                            topics, violence_types, referred_to, review_state, deleted, conflicted, first_stored_at)
    SELECT commune_id, record_id, village_id, kind, unit, plan_item, activity_type, format,
           event_date, female, male, ethnic_minority, survivor_sex, age_group, setting, case_status,
           topics, violence_types, referred_to, review_state, deleted, conflicted, first_stored_at
    FROM record_facts;
INSERT INTO changes_p (commune_id, seq, village_id, record_id, sensitive, owner_device, device_id, hash, bytes,
                       received_at, replaces)
    SELECT commune_id, seq, village_id, record_id, sensitive, owner_device, device_id, hash, bytes,
           received_at, replaces
    FROM changes;
-- A waiting change's commune is its device's (a device writes only in its own commune); the
-- changes of a device no longer known are dropped: nothing could ever apply them.
INSERT INTO pending_changes_p (commune_id, record_id, hash, device_id, bytes, received_at)
    SELECT u.commune_id, p.record_id, p.hash, p.device_id, p.bytes, p.received_at
    FROM pending_changes p JOIN devices d ON d.id = p.device_id JOIN users u ON u.id = d.user_id;
INSERT INTO duplicate_pairs_p (commune_id, first_id, second_id, detected_at, status, decided_by, decided_at, kept_id)
    SELECT commune_id, first_id, second_id, detected_at, status, decided_by, decided_at, kept_id
    FROM duplicate_pairs;

DROP TABLE duplicate_pairs;
DROP TABLE record_facts;
DROP TABLE pending_changes;
DROP TABLE changes;
DROP TABLE records;

DO $$
DECLARE
    t TEXT;
    i INT;
BEGIN
    FOREACH t IN ARRAY ARRAY['records', 'record_facts', 'changes', 'pending_changes', 'duplicate_pairs'] LOOP
        EXECUTE format('ALTER TABLE %I RENAME TO %I', t || '_p', t);
    END LOOP;
END;
$$;

CREATE INDEX records_scope ON records (commune_id, village_id, id);
CREATE INDEX record_facts_period ON record_facts (commune_id, kind, event_date, deleted, review_state, village_id, unit,
    activity_type, format, plan_item, female, male, ethnic_minority, topics);
CREATE INDEX record_facts_twins ON record_facts (commune_id, village_id, event_date, activity_type);
CREATE INDEX changes_village ON changes (commune_id, village_id, seq);
CREATE INDEX pending_changes_device ON pending_changes (commune_id, device_id);
CREATE INDEX pending_changes_received ON pending_changes (commune_id, received_at);
CREATE INDEX duplicate_pairs_status ON duplicate_pairs (commune_id, status);
