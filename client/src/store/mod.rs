//! The phone's SQLite store: [`SqliteStore`], the [`DeviceStore`] of the app, over one connection.
//!
//! Layout and migrations live in `schema`, the queries of the phone's screens in `query`. Every
//! [`DeviceStore::commit`] is one `BEGIN IMMEDIATE` transaction, so a batch (a local edit and its
//! outbox entry; received records, the new cursor and the acknowledgement) lands whole or not at
//! all, with `synchronous=FULL` so that what was committed survives a power cut. The semantics
//! are those of [`sotay_sync_core::device::MemoryStore`], checked by the conformance suite
//! (`tests/store_conformance.rs`).
//!
//! Records are kept as their saved Automerge document plus their [`RecordView`] serialised as
//! JSON, with the columns the screens filter and sort on (kind, review state, day, deleted,
//! conflicts) beside them. Outbox sequence numbers come from `AUTOINCREMENT`, so they keep
//! increasing for the life of the database, even once everything has been acknowledged.

mod query;
mod schema;
#[cfg(test)]
mod tests;

pub use query::{HomeCounts, RecordQuery};

use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};
use sotay_sync_core::device::{DeviceStore, OutboxEntry, RejectedChange, StoreBatch, StoredRecord, SyncState};
use sotay_sync_core::{Coded, RecordId, RecordKind, RecordView};
use std::path::Path;

/// The `meta` key holding the sync state (JSON). Reserved: do not write it with [`SqliteStore::set_meta`].
pub const SYNC_STATE_KEY: &str = "sync_state";

/// The code of outbox entries set aside because the device's scope changed.
const SCOPE_CHANGED: &str = "scope_changed";
/// Its reason (the same words as the memory store's).
const SCOPE_CHANGED_MESSAGE: &str = "this phone's village or role changed before the change was sent";

/// The highest `updated_seq` so far, in two index seeks on `records_updated (deleted, updated_seq)`.
const LAST_UPDATED: &str = "SELECT coalesce(max(m), 0) FROM (
    SELECT max(updated_seq) AS m FROM records WHERE deleted = 0
    UNION ALL SELECT max(updated_seq) FROM records WHERE deleted = 1)";

/// Errors of the phone's store. Messages are English; the session layer says them to people.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite failed (disk full, file locked, I/O error…).
    #[error("the phone's database failed: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// A stored row cannot be decoded.
    #[error("the phone's database holds data that cannot be read: {0}")]
    Corrupt(String),
    /// The database was written by a newer version of the app.
    #[error("the phone's database has schema version {found}, newer than this app knows ({known}); update the app")]
    TooNew {
        /// The database's schema version.
        found: u32,
        /// The newest version this code knows.
        known: u32,
    },
}

/// The phone's store: one SQLite database (a file, or memory for tests).
#[derive(Debug)]
pub struct SqliteStore {
    conn: Connection,
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path`, configures the connection and brings
    /// the schema up to date. Refuses a database written by a newer app ([`StoreError::TooNew`]).
    pub fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        SqliteStore::with_connection(Connection::open(path)?)
    }

    /// A fresh store in memory (tests, previews).
    pub fn open_in_memory() -> Result<SqliteStore, StoreError> {
        SqliteStore::with_connection(Connection::open_in_memory()?)
    }

    fn with_connection(mut conn: Connection) -> Result<SqliteStore, StoreError> {
        schema::configure(&conn)?;
        schema::migrate(&mut conn)?;
        Ok(SqliteStore { conn })
    }

    /// The schema version of the database (the number of migrations applied).
    pub fn schema_version(&self) -> Result<u32, StoreError> {
        let v: i64 = self.conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        u32::try_from(v).map_err(|_| StoreError::Corrupt(format!("negative schema version {v}")))
    }

    /// Moves whatever the write-ahead log holds into the database file and empties the log, so
    /// that wiped rows leave no copy behind. Best effort: a reader holding the log open only delays it.
    fn checkpoint(&self) {
        let _ = self.conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
    }
}

/// A sequence number or limit as SQLite's integer (saturating: SQLite has no unsigned integers).
fn sql_int(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn record_id(bytes: &[u8]) -> Result<RecordId, StoreError> {
    RecordId::from_slice(bytes).ok_or_else(|| StoreError::Corrupt(format!("a record id of {} bytes", bytes.len())))
}

fn seq_of(seq: i64) -> Result<u64, StoreError> {
    u64::try_from(seq).map_err(|_| StoreError::Corrupt(format!("outbox sequence number {seq}")))
}

/// A blob column, borrowed from the row.
fn blob<'r>(row: &'r rusqlite::Row<'_>, i: usize) -> Result<&'r [u8], StoreError> {
    match row.get_ref(i)? {
        rusqlite::types::ValueRef::Blob(b) => Ok(b),
        other => Err(StoreError::Corrupt(format!("a {:?} where a blob belongs", other.data_type()))),
    }
}

/// Decodes a stored [`RecordView`].
fn decode_view(bytes: &[u8]) -> Result<RecordView, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt(format!("a record's projection: {e}")))
}

/// Reads `(seq, record, change)` columns starting at `first`.
fn outbox_entry(row: &rusqlite::Row<'_>, first: usize) -> Result<OutboxEntry, StoreError> {
    let seq: i64 = row.get(first)?;
    let record: Vec<u8> = row.get(first + 1)?;
    Ok(OutboxEntry { seq: seq_of(seq)?, record: record_id(&record)?, change: row.get(first + 2)? })
}

/// Reads `(seq, record, change, code, message)` columns starting at `first`.
fn rejected_change(row: &rusqlite::Row<'_>, first: usize) -> Result<RejectedChange, StoreError> {
    Ok(RejectedChange { entry: outbox_entry(row, first)?, code: row.get(first + 3)?, message: row.get(first + 4)? })
}

fn put_record(tx: &Transaction<'_>, r: &StoredRecord, updated_seq: i64) -> Result<(), StoreError> {
    let view = serde_json::to_vec(&r.view)
        .map_err(|e| StoreError::Corrupt(format!("the projection of record {} cannot be stored: {e}", r.id)))?;
    let day = r.view.held_on.or(r.view.reported_on).map(|d| d.to_string());
    let mut st = tx.prepare_cached(
        "INSERT INTO records (id, kind, review_state, day, deleted, conflicts, updated_seq, doc, view)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
         ON CONFLICT (id) DO UPDATE SET kind = excluded.kind, review_state = excluded.review_state,
           day = excluded.day, deleted = excluded.deleted, conflicts = excluded.conflicts,
           updated_seq = excluded.updated_seq, doc = excluded.doc, view = excluded.view",
    )?;
    st.execute(params![
        r.id.as_bytes().as_slice(),
        r.view.kind.code(),
        r.view.review_state.code(),
        day,
        r.view.deleted,
        r.view.conflicts.len() as i64,
        updated_seq,
        r.doc,
        view,
    ])?;
    Ok(())
}

fn put_meta(conn: &Connection, key: &str, value: &[u8]) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    )?
    .execute(params![key, value])?;
    Ok(())
}

fn read_meta(conn: &Connection, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
    Ok(conn.prepare_cached("SELECT value FROM meta WHERE key = ?1")?.query_row([key], |r| r.get(0)).optional()?)
}

impl DeviceStore for SqliteStore {
    type Error = StoreError;

    fn load_record(&self, id: RecordId) -> Result<Option<Vec<u8>>, StoreError> {
        let mut st = self.conn.prepare_cached("SELECT doc FROM records WHERE id = ?1")?;
        Ok(st.query_row([id.as_bytes().as_slice()], |r| r.get(0)).optional()?)
    }

    fn list_records(&self) -> Result<Vec<RecordView>, StoreError> {
        let mut st = self.conn.prepare_cached("SELECT view FROM records ORDER BY id")?;
        let mut rows = st.query([])?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            out.push(decode_view(blob(row, 0)?)?);
        }
        Ok(out)
    }

    fn outbox(&self, max_bytes: usize) -> Result<Vec<OutboxEntry>, StoreError> {
        let mut st = self.conn.prepare_cached("SELECT seq, record, change FROM outbox ORDER BY seq")?;
        let mut rows = st.query([])?;
        let mut out = Vec::new();
        let mut bytes = 0usize;
        while let Some(row) = rows.next()? {
            let entry = outbox_entry(row, 0)?;
            if !out.is_empty() && bytes.saturating_add(entry.change.len()) > max_bytes {
                break;
            }
            bytes = bytes.saturating_add(entry.change.len());
            out.push(entry);
        }
        Ok(out)
    }

    fn outbox_len(&self) -> Result<usize, StoreError> {
        let n: i64 = self.conn.prepare_cached("SELECT count(*) FROM outbox")?.query_row([], |r| r.get(0))?;
        Ok(n as usize)
    }

    fn rejected(&self) -> Result<Vec<RejectedChange>, StoreError> {
        let mut st = self.conn.prepare_cached("SELECT seq, record, change, code, message FROM rejected ORDER BY id")?;
        let mut rows = st.query([])?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            out.push(rejected_change(row, 0)?);
        }
        Ok(out)
    }

    fn sync_state(&self) -> Result<SyncState, StoreError> {
        match read_meta(&self.conn, SYNC_STATE_KEY)? {
            None => Ok(SyncState::default()),
            Some(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| StoreError::Corrupt(format!("the sync position cannot be read: {e}"))),
        }
    }

    fn commit(&mut self, batch: StoreBatch) -> Result<(), StoreError> {
        let sync_state = match &batch.sync_state {
            Some(state) => Some(
                serde_json::to_vec(state)
                    .map_err(|e| StoreError::Corrupt(format!("the sync position cannot be stored: {e}")))?,
            ),
            None => None,
        };
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        // Read under the write lock: another connection to the same file may have written since.
        let mut updated: i64 =
            if batch.records.is_empty() { 0 } else { tx.prepare_cached(LAST_UPDATED)?.query_row([], |r| r.get(0))? };
        for r in &batch.records {
            updated += 1;
            put_record(&tx, r, updated)?;
        }
        if !batch.records_remove.is_empty() {
            let mut st = tx.prepare_cached("DELETE FROM records WHERE id = ?1")?;
            for id in &batch.records_remove {
                st.execute([id.as_bytes().as_slice()])?;
            }
        }
        if !batch.rejected_remove.is_empty() {
            let mut st = tx.prepare_cached("DELETE FROM rejected WHERE seq = ?1")?;
            for seq in &batch.rejected_remove {
                st.execute([sql_int(*seq)])?;
            }
        }
        if !batch.outbox_append.is_empty() {
            let mut st = tx.prepare_cached("INSERT INTO outbox (record, change) VALUES (?1, ?2)")?;
            for (record, change) in &batch.outbox_append {
                st.execute(params![record.as_bytes().as_slice(), change])?;
            }
        }
        if let Some(through) = batch.outbox_ack_through {
            let through = sql_int(through);
            // Refusals first: what the server refused is set aside, not silently acknowledged.
            for (record, code, message) in &batch.outbox_reject {
                let record = record.as_bytes().as_slice();
                tx.prepare_cached(
                    "INSERT INTO rejected (seq, record, change, code, message)
                     SELECT seq, record, change, ?2, ?3 FROM outbox WHERE record = ?1 ORDER BY seq",
                )?
                .execute(params![record, code, message])?;
                tx.prepare_cached("DELETE FROM outbox WHERE record = ?1")?.execute([record])?;
            }
            tx.prepare_cached("DELETE FROM outbox WHERE seq <= ?1")?.execute([through])?;
        }
        if batch.reset {
            tx.prepare_cached("DELETE FROM records")?.execute([])?;
            tx.prepare_cached(
                "INSERT INTO rejected (seq, record, change, code, message)
                 SELECT seq, record, change, ?1, ?2 FROM outbox ORDER BY seq",
            )?
            .execute(params![SCOPE_CHANGED, SCOPE_CHANGED_MESSAGE])?;
            tx.prepare_cached("DELETE FROM outbox")?.execute([])?;
        }
        if let Some(state) = sync_state {
            put_meta(&tx, SYNC_STATE_KEY, &state)?;
        }
        tx.commit()?;
        Ok(())
    }

    fn wipe_sensitive(&mut self) -> Result<(), StoreError> {
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let gbv = RecordKind::GbvReferral.code();
        tx.execute("DELETE FROM outbox WHERE record IN (SELECT id FROM records WHERE kind = ?1)", [gbv])?;
        tx.execute("DELETE FROM rejected WHERE record IN (SELECT id FROM records WHERE kind = ?1)", [gbv])?;
        tx.execute("DELETE FROM records WHERE kind = ?1", [gbv])?;
        tx.commit()?;
        self.checkpoint();
        Ok(())
    }
}
