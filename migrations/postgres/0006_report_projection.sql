-- The report projection (server/src/reports/projection.rs): one narrow row of typed columns per
-- record, written in the same transaction as the record by both engines, so that reports are
-- plain GROUP BYs that never parse JSON or read documents. Sets are bit masks: bit i is the i-th
-- code of the enumeration in sotay_sync_core::schema (codes are only ever appended).
-- Rows for records stored before this migration are filled in by the server on start.
CREATE TABLE record_facts (
    record_id        BYTEA PRIMARY KEY REFERENCES records(id),
    commune_id       BYTEA NOT NULL,
    village_id       BYTEA NOT NULL,
    kind             TEXT NOT NULL,
    unit             TEXT,
    plan_item        TEXT,
    activity_type    TEXT,
    format           TEXT,
    -- held_on for an activity, reported_on for a GBV referral: YYYY-MM-DD.
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
    -- When the server first stored the record (Unix ms): completeness against the deadline.
    first_stored_at  BIGINT NOT NULL
);
-- A report reads only this index (it covers every column an activity table groups or sums).
CREATE INDEX record_facts_period ON record_facts (commune_id, kind, event_date, deleted, review_state, village_id, unit,
    activity_type, format, plan_item, female, male, ethnic_minority, topics);
-- Same-day twins of a record, for duplicate detection.
CREATE INDEX record_facts_twins ON record_facts (commune_id, village_id, event_date, activity_type);

-- The day of the year a commune's villages and units must have reported by (MM-DD; the 2026
-- plan says 25 November).
ALTER TABLE communes ADD COLUMN report_deadline TEXT NOT NULL DEFAULT '11-25';

-- Suspected duplicates (server/src/duplicates.rs): a pair of activities of one village held the
-- same day, of the same type, with attendance totals within max(2, 10 %). Each pair once, the
-- smaller id first; a decided pair (dismissed, or merged into kept_id) is never suggested again.
CREATE TABLE duplicate_pairs (
    commune_id   BYTEA NOT NULL,
    first_id     BYTEA NOT NULL REFERENCES records(id),
    second_id    BYTEA NOT NULL REFERENCES records(id),
    detected_at  BIGINT NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('open', 'dismissed', 'merged')),
    decided_by   BYTEA,
    decided_at   BIGINT,
    kept_id      BYTEA,
    PRIMARY KEY (first_id, second_id)
);
CREATE INDEX duplicate_pairs_status ON duplicate_pairs (commune_id, status);
