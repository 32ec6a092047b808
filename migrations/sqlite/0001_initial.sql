-- Sổ Tay schema, version 1 (SQLite). Ids are 16-byte UUIDs stored as BLOBs; times are Unix milliseconds.
-- The commune id leads every hot key, so the schema partitions by commune.

CREATE TABLE communes (
    id          BLOB PRIMARY KEY,
    name        TEXT NOT NULL,
    created_at  INTEGER NOT NULL
);

CREATE TABLE villages (
    id          BLOB PRIMARY KEY,
    commune_id  BLOB NOT NULL REFERENCES communes(id),
    name        TEXT NOT NULL,
    UNIQUE (commune_id, name)
);

CREATE TABLE units (
    commune_id  BLOB NOT NULL REFERENCES communes(id),
    code        TEXT NOT NULL,
    name        TEXT NOT NULL,
    PRIMARY KEY (commune_id, code)
);

CREATE TABLE users (
    id            BLOB PRIMARY KEY,
    commune_id    BLOB NOT NULL REFERENCES communes(id),
    village_id    BLOB REFERENCES villages(id),
    username      TEXT NOT NULL UNIQUE,
    display_name  TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('collaborator', 'reviewer', 'gbv_focal_point', 'admin')),
    password_hash TEXT,
    created_at    INTEGER NOT NULL,
    disabled_at   INTEGER,
    CHECK (role <> 'collaborator' OR village_id IS NOT NULL)
);

-- One-time enrolment codes; only a hash of the code is kept.
CREATE TABLE enrolment_codes (
    code_hash   BLOB PRIMARY KEY,
    user_id     BLOB NOT NULL REFERENCES users(id),
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    used_at     INTEGER,
    device_id   BLOB
);

-- A phone (or a `sotay` directory). Only a hash of its secret is kept.
CREATE TABLE devices (
    id           BLOB PRIMARY KEY,
    user_id      BLOB NOT NULL REFERENCES users(id),
    name         TEXT NOT NULL,
    secret_hash  BLOB NOT NULL,
    enrolled_at  INTEGER NOT NULL,
    revoked_at   INTEGER,
    last_seen_at INTEGER
);
CREATE INDEX devices_user ON devices (user_id);

-- The merged document of every record, with the columns indexes and reports need.
CREATE TABLE records (
    commune_id    BLOB NOT NULL REFERENCES communes(id),
    village_id    BLOB NOT NULL REFERENCES villages(id),
    id            BLOB NOT NULL PRIMARY KEY,
    kind          TEXT NOT NULL CHECK (kind IN ('activity', 'gbv_referral')),
    owner_device  BLOB NOT NULL,
    created_by    BLOB NOT NULL,
    doc           BLOB NOT NULL,
    view          TEXT NOT NULL,
    review_state  TEXT NOT NULL,
    conflicted    INTEGER NOT NULL,
    deleted       INTEGER NOT NULL,
    event_date    TEXT,
    updated_seq   INTEGER NOT NULL
);
CREATE INDEX records_scope ON records (commune_id, village_id, id);
CREATE INDEX records_commune ON records (commune_id, id);

-- Every accepted Automerge change, in the order it was applied: the sync log.
-- seq is assigned in commit order (SQLite has one writer), so a cursor never skips a change.
CREATE TABLE changes (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    commune_id    BLOB NOT NULL,
    village_id    BLOB NOT NULL,
    record_id     BLOB NOT NULL,
    sensitive     INTEGER NOT NULL,
    owner_device  BLOB NOT NULL,
    device_id     BLOB NOT NULL,
    hash          BLOB NOT NULL,
    bytes         BLOB NOT NULL,
    received_at   INTEGER NOT NULL,
    UNIQUE (record_id, hash)
);
CREATE INDEX changes_village ON changes (commune_id, village_id, seq);
CREATE INDEX changes_commune ON changes (commune_id, seq);

-- Changes received before the changes they depend on: acknowledged (durable) but applied only
-- once their dependencies arrive.
CREATE TABLE pending_changes (
    record_id    BLOB NOT NULL,
    hash         BLOB NOT NULL,
    device_id    BLOB NOT NULL,
    bytes        BLOB NOT NULL,
    received_at  INTEGER NOT NULL,
    PRIMARY KEY (record_id, hash)
);

-- Signing keys shared by every server instance on this database.
CREATE TABLE server_keys (
    name        TEXT PRIMARY KEY,
    secret      BLOB NOT NULL,
    created_at  INTEGER NOT NULL
);

-- Append-only audit log.
CREATE TABLE audit_log (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    at          INTEGER NOT NULL,
    actor_user  BLOB,
    device_id   BLOB,
    action      TEXT NOT NULL,
    record_id   BLOB,
    detail      TEXT NOT NULL DEFAULT ''
);
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;
