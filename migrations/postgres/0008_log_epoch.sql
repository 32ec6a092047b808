-- The log epoch (server/src/store/epoch.rs): 16 random bytes naming this database's change log,
-- created on first start and replaced by `sotay admin restore`. Phones remember it; when it
-- changes they know the database was restored from a backup and send their own changes again.
CREATE TABLE server_state (
    name   TEXT PRIMARY KEY,
    value  BYTEA NOT NULL
);
