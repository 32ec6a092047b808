-- Web app sessions (server/src/web/session.rs). The cookie holds a random token; only its SHA-256
-- is stored, so a copy of the database opens no session. Each session belongs to the person's
-- web device (devices.kind = 'web'), whose revocation ends it; it ends by itself after
-- --web-idle-minutes without a request, and on logout. csrf is the form token of the session.
CREATE TABLE web_sessions (
    token_hash    BLOB PRIMARY KEY,
    device_id     BLOB NOT NULL REFERENCES devices(id),
    user_id       BLOB NOT NULL,
    csrf          TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    last_seen_at  INTEGER NOT NULL
);
CREATE INDEX web_sessions_user ON web_sessions (user_id);
