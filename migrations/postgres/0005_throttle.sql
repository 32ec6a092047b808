-- Throttling of logins and enrolments (server/src/throttle.rs): one row per key ('user:<name>',
-- 'addr:<ip>', 'enrol:<ip>') instead of one row per failure: a failure is counted in the
-- transaction that audits it, and refused attempts are audited as one row per key per minute
-- with their count.
DROP TABLE login_failures;
CREATE TABLE throttle (
    key          TEXT PRIMARY KEY,
    -- 'login' or 'enrol': names the audit rows.
    action       TEXT NOT NULL,
    -- The account the key is about, if known: its commune's admins see the audit rows.
    actor_user   BYTEA,
    -- Failed attempts since window_start.
    attempts     BIGINT NOT NULL,
    window_start BIGINT NOT NULL,
    last_at      BIGINT NOT NULL,
    -- Refused attempts not yet in the audit log, and when the last audit row was written.
    refused      BIGINT NOT NULL DEFAULT 0,
    audited_at   BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX throttle_last_at ON throttle (last_at);
