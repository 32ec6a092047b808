-- Access control: web sessions are devices of kind 'web' (so revocation and the per-request
-- device check work the same for them), and failed logins for throttling.

ALTER TABLE devices ADD COLUMN kind TEXT NOT NULL DEFAULT 'phone' CHECK (kind IN ('phone', 'web'));

-- One row per failed login, by account ('user:<name>') and by client address ('addr:<ip>').
-- Rows older than the throttling window are deleted when the key is next checked.
CREATE TABLE login_failures (
    key  TEXT NOT NULL,
    at   BIGINT NOT NULL
);
CREATE INDEX login_failures_key ON login_failures (key, at);
