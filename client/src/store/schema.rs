//! The phone database's layout: the connection settings applied on every open and the numbered,
//! forward-only schema migrations, tracked with `PRAGMA user_version`.
//!
//! Migration `i` (0-based) takes a database from version `i` to `i + 1`, in its own transaction.
//! A shipped migration is never edited: a change of layout is a new entry at the end. A database
//! whose version is newer than [`MIGRATIONS`] knows was written by a newer app and is refused
//! ([`StoreError::TooNew`]) rather than misread.

use super::StoreError;
use rusqlite::{Connection, TransactionBehavior};
use std::time::Duration;

/// How long a write waits for another connection's lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_millis(5000);

/// Enough for every statement the store prepares, including each shape of screen query.
const STATEMENT_CACHE: usize = 96;

/// The schema migrations, in order. Append only.
pub(super) const MIGRATIONS: &[&str] = &[
    // 1: records with their indexed projection, the outbox, refused changes, settings.
    "
    CREATE TABLE records (
        id           BLOB PRIMARY KEY NOT NULL CHECK (length(id) = 16),
        kind         TEXT NOT NULL,
        review_state TEXT NOT NULL,
        day          TEXT,
        deleted      INTEGER NOT NULL DEFAULT 0,
        conflicts    INTEGER NOT NULL DEFAULT 0,
        updated_seq  INTEGER NOT NULL,
        doc          BLOB NOT NULL,
        view         BLOB NOT NULL
    );
    -- Every list is ordered by day, newest first, then id; each index serves that order after
    -- its equality prefix, so a first page reads about one page of rows and never sorts.
    CREATE INDEX records_kind_day ON records (kind, day DESC, id DESC);
    CREATE INDEX records_day ON records (day DESC, id DESC);
    CREATE INDEX records_review_state ON records (review_state, day DESC, id DESC);
    CREATE INDEX records_conflicted ON records (day DESC, id DESC) WHERE conflicts > 0;
    -- Lists without deleted records, and the home counts (covering: no row is read).
    CREATE INDEX records_deleted ON records (deleted, day DESC, id DESC, kind, review_state, conflicts);
    -- Recently changed first (deleted records left out).
    CREATE INDEX records_updated ON records (deleted, updated_seq);

    CREATE TABLE outbox (
        seq    INTEGER PRIMARY KEY AUTOINCREMENT,
        record BLOB NOT NULL,
        change BLOB NOT NULL
    );
    CREATE INDEX outbox_record ON outbox (record, seq);

    CREATE TABLE rejected (
        id      INTEGER PRIMARY KEY AUTOINCREMENT,
        seq     INTEGER NOT NULL,
        record  BLOB NOT NULL,
        change  BLOB NOT NULL,
        code    TEXT NOT NULL,
        message TEXT NOT NULL
    );
    CREATE INDEX rejected_record ON rejected (record);

    CREATE TABLE meta (
        key   TEXT PRIMARY KEY NOT NULL,
        value BLOB NOT NULL
    );
    ",
    // 2: GBV referrals sealed at rest. `sealed` rows hold their document, projection or change
    // encrypted under the data key (`seal.rs`); rows written before stay plain until the store
    // is next opened with the phone key, which seals them.
    "
    ALTER TABLE records ADD COLUMN sealed INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE outbox ADD COLUMN sealed INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE rejected ADD COLUMN sealed INTEGER NOT NULL DEFAULT 0;
    ",
];

/// The schema version this code writes: the number of migrations.
pub(super) fn known_version() -> u32 {
    MIGRATIONS.len() as u32
}

/// Applies the per-connection settings: write-ahead log, full durability, foreign keys, deleted
/// content overwritten (GBV referrals must not linger in free pages after a wipe), a busy timeout.
pub(super) fn configure(conn: &Connection) -> Result<(), StoreError> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    // An in-memory database answers "memory": there is no log to keep there.
    let mode: String = conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") && !mode.eq_ignore_ascii_case("memory") {
        return Err(StoreError::Corrupt(format!("the database refused write-ahead logging (journal mode {mode})")));
    }
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.pragma_update(None, "secure_delete", "ON")?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(())
}

fn user_version(conn: &Connection) -> Result<u32, StoreError> {
    let v: i64 = conn.pragma_query_value(None, "user_version", |row| row.get(0))?;
    u32::try_from(v).map_err(|_| StoreError::Corrupt(format!("the database has a negative schema version ({v})")))
}

/// Brings the schema up to [`known_version`], one migration per transaction. Returns the version.
pub(super) fn migrate(conn: &mut Connection) -> Result<u32, StoreError> {
    let known = known_version();
    let found = user_version(conn)?;
    if found > known {
        return Err(StoreError::TooNew { found, known });
    }
    if found == known {
        return Ok(found);
    }
    loop {
        // Re-read under the write lock: another connection may have migrated meanwhile.
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let found = user_version(&tx)?;
        if found > known {
            return Err(StoreError::TooNew { found, known });
        }
        if found == known {
            return Ok(found);
        }
        tx.execute_batch(MIGRATIONS[found as usize])?;
        tx.pragma_update(None, "user_version", found + 1)?;
        tx.commit()?;
    }
}
