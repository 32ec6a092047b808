-- Sổ Tay schema, version 1 (PostgreSQL). The same tables as migrations/sqlite/0001_initial.sql:
-- ids are 16-byte UUIDs as BYTEA, times are Unix milliseconds as BIGINT. The commune id leads
-- every hot key, so tables can be partitioned by commune when one database serves many.

CREATE TABLE communes (
    id          BYTEA PRIMARY KEY,
    name        TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);

CREATE TABLE villages (
    id          BYTEA PRIMARY KEY,
    commune_id  BYTEA NOT NULL REFERENCES communes(id),
    name        TEXT NOT NULL,
    UNIQUE (commune_id, name)
);

CREATE TABLE units (
    commune_id  BYTEA NOT NULL REFERENCES communes(id),
    code        TEXT NOT NULL,
    name        TEXT NOT NULL,
    PRIMARY KEY (commune_id, code)
);

CREATE TABLE users (
    id            BYTEA PRIMARY KEY,
    commune_id    BYTEA NOT NULL REFERENCES communes(id),
    village_id    BYTEA REFERENCES villages(id),
    username      TEXT NOT NULL UNIQUE,
    display_name  TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('collaborator', 'reviewer', 'gbv_focal_point', 'admin')),
    password_hash TEXT,
    created_at    BIGINT NOT NULL,
    disabled_at   BIGINT,
    CHECK (role <> 'collaborator' OR village_id IS NOT NULL)
);

CREATE TABLE enrolment_codes (
    code_hash   BYTEA PRIMARY KEY,
    user_id     BYTEA NOT NULL REFERENCES users(id),
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    used_at     BIGINT,
    device_id   BYTEA
);

CREATE TABLE devices (
    id           BYTEA PRIMARY KEY,
    user_id      BYTEA NOT NULL REFERENCES users(id),
    name         TEXT NOT NULL,
    secret_hash  BYTEA NOT NULL,
    enrolled_at  BIGINT NOT NULL,
    revoked_at   BIGINT,
    last_seen_at BIGINT
);
CREATE INDEX devices_user ON devices (user_id);

CREATE TABLE records (
    commune_id    BYTEA NOT NULL REFERENCES communes(id),
    village_id    BYTEA NOT NULL REFERENCES villages(id),
    id            BYTEA NOT NULL PRIMARY KEY,
    kind          TEXT NOT NULL CHECK (kind IN ('activity', 'gbv_referral')),
    owner_device  BYTEA NOT NULL,
    created_by    BYTEA NOT NULL,
    doc           BYTEA NOT NULL,
    view          TEXT NOT NULL,
    review_state  TEXT NOT NULL,
    conflicted    BOOLEAN NOT NULL,
    deleted       BOOLEAN NOT NULL,
    event_date    TEXT,
    updated_seq   BIGINT NOT NULL
);
CREATE INDEX records_scope ON records (commune_id, village_id, id);
CREATE INDEX records_commune ON records (commune_id, id);

-- The sync log. seq is assigned by the writer under a transaction-scoped advisory lock, so
-- sequence order is commit order even with several server instances.
CREATE TABLE changes (
    seq           BIGINT PRIMARY KEY,
    commune_id    BYTEA NOT NULL,
    village_id    BYTEA NOT NULL,
    record_id     BYTEA NOT NULL,
    sensitive     BOOLEAN NOT NULL,
    owner_device  BYTEA NOT NULL,
    device_id     BYTEA NOT NULL,
    hash          BYTEA NOT NULL,
    bytes         BYTEA NOT NULL,
    received_at   BIGINT NOT NULL,
    UNIQUE (record_id, hash)
);
CREATE INDEX changes_village ON changes (commune_id, village_id, seq);
CREATE INDEX changes_commune ON changes (commune_id, seq);

CREATE TABLE pending_changes (
    record_id    BYTEA NOT NULL,
    hash         BYTEA NOT NULL,
    device_id    BYTEA NOT NULL,
    bytes        BYTEA NOT NULL,
    received_at  BIGINT NOT NULL,
    PRIMARY KEY (record_id, hash)
);

CREATE TABLE server_keys (
    name        TEXT PRIMARY KEY,
    secret      BYTEA NOT NULL,
    created_at  BIGINT NOT NULL
);

CREATE TABLE audit_log (
    id          BIGSERIAL PRIMARY KEY,
    at          BIGINT NOT NULL,
    actor_user  BYTEA,
    device_id   BYTEA,
    action      TEXT NOT NULL,
    record_id   BYTEA,
    detail      TEXT NOT NULL DEFAULT ''
);
CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only';
END;
$$;
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
