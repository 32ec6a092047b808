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
//!
//! GBV referrals are sealed (`seal`): their document, projection, outbox entries and refused
//! changes are stored encrypted under the data key, itself stored wrapped by the app's
//! [`PhoneKey`]; the columns the list screens filter on (kind, review state, day, deleted,
//! conflict count) stay readable. Without the right key ([`GbvLock`]) the store still opens,
//! lists and edits activities, and syncs what does not touch a GBV referral: reads skip sealed
//! rows, the outbox stops before the first sealed entry (so nothing is acknowledged unsent), and
//! writing or loading a GBV referral fails with [`StoreError::Locked`].

mod query;
mod schema;
mod seal;
#[cfg(test)]
mod tests;

pub use query::{HomeCounts, RecordQuery};
pub use seal::PhoneKey;
use seal::{Purpose, Sealer};

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

/// The `meta` key holding the data key, wrapped by the phone key.
const DATA_KEY: &str = "data_key";

/// The `meta` key set once the GBV rows of an older app have been sealed (so opening does not
/// look for them again).
const SEALED_ALL: &str = "gbv_rows_sealed";

/// Why the GBV referrals on this phone cannot be read now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GbvLock {
    /// The store was opened without a phone key.
    NoKey,
    /// The phone key given is not the one the data was sealed with.
    WrongKey,
    /// The phone has not synced for too long; a person must sign in again.
    Stale,
}

impl std::fmt::Display for GbvLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            GbvLock::NoKey => "no key was given to open them",
            GbvLock::WrongKey => "the key given is not the one they were locked with",
            GbvLock::Stale => "the phone has not synced for too long; sign in again",
        })
    }
}

/// Errors of the phone's store. Messages are English; the session layer says them to people.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite failed (disk full, file locked, I/O error…).
    #[error("the phone's database failed: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// A GBV referral was to be read or written, and the data key is not available.
    #[error("the GBV referrals on this phone are locked: {0}")]
    Locked(GbvLock),
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
    /// The app's key, to wrap a new data key after a wipe.
    phone: Option<Sealer>,
    /// The data key, or why it is not available.
    data: Result<Sealer, GbvLock>,
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path`, configures the connection and brings
    /// the schema up to date. Refuses a database written by a newer app ([`StoreError::TooNew`]).
    /// `key` is the app's phone key: with the right one, GBV referrals are readable and writable;
    /// with a wrong one or none, the store opens with them locked ([`SqliteStore::gbv_lock`]).
    pub fn open(path: &Path, key: Option<&PhoneKey>) -> Result<SqliteStore, StoreError> {
        SqliteStore::with_connection(Connection::open(path)?, key)
    }

    /// A fresh store in memory under a random key (tests, previews).
    pub fn open_in_memory() -> Result<SqliteStore, StoreError> {
        SqliteStore::with_connection(Connection::open_in_memory()?, Some(&PhoneKey::generate()))
    }

    fn with_connection(mut conn: Connection, key: Option<&PhoneKey>) -> Result<SqliteStore, StoreError> {
        schema::configure(&conn)?;
        schema::migrate(&mut conn)?;
        let mut store = SqliteStore { conn, phone: key.map(Sealer::for_phone_key), data: Err(GbvLock::NoKey) };
        store.data = store.data_key()?;
        if store.data.is_ok() && read_meta(&store.conn, SEALED_ALL)?.is_none() {
            store.seal_plain_rows()?;
            put_meta(&store.conn, SEALED_ALL, b"1")?;
        }
        Ok(store)
    }

    /// The data key: unwrapped from `meta`, or made (and stored wrapped) when there is none yet.
    /// Two connections opening a new file at once agree: the first stored key wins.
    fn data_key(&self) -> Result<Result<Sealer, GbvLock>, StoreError> {
        let Some(phone) = &self.phone else { return Ok(Err(GbvLock::NoKey)) };
        if read_meta(&self.conn, DATA_KEY)?.is_none() {
            let fresh: [u8; 32] = rand::random();
            self.conn
                .prepare_cached("INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO NOTHING")?
                .execute(params![DATA_KEY, phone.seal(Purpose::DataKey, b"", &fresh)])?;
        }
        let wrapped = read_meta(&self.conn, DATA_KEY)?.unwrap_or_default();
        Ok(match phone.open(Purpose::DataKey, b"", &wrapped).and_then(|k| <[u8; 32]>::try_from(k).ok()) {
            Some(k) => Ok(Sealer::new(&k)),
            None => Err(GbvLock::WrongKey),
        })
    }

    /// Why GBV referrals cannot be read now, or `None` when they can.
    pub fn gbv_lock(&self) -> Option<GbvLock> {
        self.data.as_ref().err().copied()
    }

    /// Locks the GBV referrals (the phone went too long without a sync): the data key leaves
    /// memory until [`SqliteStore::unlock_gbv`].
    pub fn lock_gbv(&mut self) {
        if self.data.is_ok() {
            self.data = Err(GbvLock::Stale);
        }
    }

    /// Unlocks the GBV referrals after [`SqliteStore::lock_gbv`] (a person signed in again).
    /// Returns the lock that remains, if any.
    pub fn unlock_gbv(&mut self) -> Result<Option<GbvLock>, StoreError> {
        self.data = self.data_key()?;
        Ok(self.gbv_lock())
    }

    /// Reads the data key again, after another connection to the same file wiped the store (which
    /// replaces the key). A stale-phone lock stays until [`SqliteStore::unlock_gbv`].
    pub fn refresh_data_key(&mut self) -> Result<(), StoreError> {
        if !matches!(self.data, Err(GbvLock::Stale)) {
            self.data = self.data_key()?;
        }
        Ok(())
    }

    fn sealer(&self) -> Result<&Sealer, StoreError> {
        self.data.as_ref().map_err(|lock| StoreError::Locked(*lock))
    }

    /// Seals GBV rows written in plain by an app from before sealing (schema version 1).
    fn seal_plain_rows(&mut self) -> Result<(), StoreError> {
        let sealer = self.sealer()?.clone();
        let gbv = RecordKind::GbvReferral.code();
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let rows: Vec<(Vec<u8>, Vec<u8>, Vec<u8>)> = tx
            .prepare("SELECT id, doc, view FROM records WHERE kind = ?1 AND sealed = 0")?
            .query_map([gbv], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
            .collect::<Result<_, _>>()?;
        for (id, doc, view) in rows {
            tx.prepare_cached("UPDATE records SET doc = ?2, view = ?3, sealed = 1 WHERE id = ?1")?.execute(params![
                id,
                sealer.seal(Purpose::Doc, &id, &doc),
                sealer.seal(Purpose::View, &id, &view)
            ])?;
        }
        for table in ["outbox", "rejected"] {
            let rows: Vec<(i64, Vec<u8>, Vec<u8>)> = tx
                .prepare(&format!(
                    "SELECT seq, record, change FROM {table}
                     WHERE sealed = 0 AND record IN (SELECT id FROM records WHERE kind = ?1)"
                ))?
                .query_map([gbv], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                .collect::<Result<_, _>>()?;
            for (seq, record, change) in rows {
                tx.prepare_cached(&format!("UPDATE {table} SET change = ?2, sealed = 1 WHERE seq = ?1"))?
                    .execute(params![seq, sealer.seal(Purpose::Change, &record, &change)])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Destroys the data key first, durably and without leaving a copy in the write-ahead log,
    /// so that every sealed row is unreadable even if the deletes that follow never reach the
    /// disk; then makes a fresh one for what comes next (when the phone key is known).
    fn destroy_data_key(&mut self) -> Result<(), StoreError> {
        self.conn.prepare_cached("DELETE FROM meta WHERE key = ?1")?.execute([DATA_KEY])?;
        self.checkpoint();
        self.data = Err(GbvLock::NoKey);
        self.data = self.data_key()?;
        Ok(())
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

/// Opens a sealed column value; a row sealed under a destroyed key (a wipe cut short) reads as corrupt.
fn unseal(sealer: &Sealer, purpose: Purpose, owner: &[u8], sealed: &[u8]) -> Result<Vec<u8>, StoreError> {
    sealer
        .open(purpose, owner, sealed)
        .ok_or_else(|| StoreError::Corrupt("a sealed GBV row does not open with this phone's data key".into()))
}

impl SqliteStore {
    /// Reads `(seq, record, change, sealed)` columns starting at `first`: `None` for a sealed
    /// entry while GBV referrals are locked.
    fn outbox_entry(&self, row: &rusqlite::Row<'_>, first: usize) -> Result<Option<OutboxEntry>, StoreError> {
        let seq: i64 = row.get(first)?;
        let record: Vec<u8> = row.get(first + 1)?;
        let change: Vec<u8> = row.get(first + 2)?;
        let change = if row.get::<_, bool>(first + 3)? {
            match &self.data {
                Ok(sealer) => unseal(sealer, Purpose::Change, &record, &change)?,
                Err(_) => return Ok(None),
            }
        } else {
            change
        };
        Ok(Some(OutboxEntry { seq: seq_of(seq)?, record: record_id(&record)?, change }))
    }

    /// Reads a `(view, sealed)` pair of columns starting at `first`: `None` for a sealed
    /// projection while GBV referrals are locked.
    fn view_of(&self, row: &rusqlite::Row<'_>, first: usize, id: &[u8]) -> Result<Option<RecordView>, StoreError> {
        if !row.get::<_, bool>(first + 1)? {
            return decode_view(blob(row, first)?).map(Some);
        }
        match &self.data {
            Ok(sealer) => decode_view(&unseal(sealer, Purpose::View, id, blob(row, first)?)?).map(Some),
            Err(_) => Ok(None),
        }
    }

    /// Reads the rows of a `SELECT id, view, sealed …` into projections, leaving out sealed ones
    /// while GBV referrals are locked.
    fn views(&self, rows: &mut rusqlite::Rows<'_>) -> Result<Vec<RecordView>, StoreError> {
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            let id: Vec<u8> = row.get(0)?;
            out.extend(self.view_of(row, 1, &id)?);
        }
        Ok(out)
    }
}

fn put_record(
    tx: &Transaction<'_>,
    r: &StoredRecord,
    updated_seq: i64,
    sealer: Result<&Sealer, GbvLock>,
) -> Result<(), StoreError> {
    let mut view = serde_json::to_vec(&r.view)
        .map_err(|e| StoreError::Corrupt(format!("the projection of record {} cannot be stored: {e}", r.id)))?;
    let id = r.id.as_bytes().as_slice();
    let sealed = r.view.kind == RecordKind::GbvReferral;
    let mut doc = std::borrow::Cow::Borrowed(&r.doc);
    if sealed {
        let sealer = sealer.map_err(StoreError::Locked)?;
        doc = std::borrow::Cow::Owned(sealer.seal(Purpose::Doc, id, &r.doc));
        view = sealer.seal(Purpose::View, id, &view);
    }
    let day = r.view.held_on.or(r.view.reported_on).map(|d| d.to_string());
    let mut st = tx.prepare_cached(
        "INSERT INTO records (id, kind, review_state, day, deleted, conflicts, updated_seq, doc, view, sealed)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
         ON CONFLICT (id) DO UPDATE SET kind = excluded.kind, review_state = excluded.review_state,
           day = excluded.day, deleted = excluded.deleted, conflicts = excluded.conflicts,
           updated_seq = excluded.updated_seq, doc = excluded.doc, view = excluded.view,
           sealed = excluded.sealed",
    )?;
    st.execute(params![
        r.id.as_bytes().as_slice(),
        r.view.kind.code(),
        r.view.review_state.code(),
        day,
        r.view.deleted,
        r.view.conflicts.len() as i64,
        updated_seq,
        doc.as_slice(),
        view,
        sealed,
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
        let id = id.as_bytes().as_slice();
        let mut st = self.conn.prepare_cached("SELECT doc, sealed FROM records WHERE id = ?1")?;
        let Some((doc, sealed)) = st.query_row([id], |r| Ok((r.get::<_, Vec<u8>>(0)?, r.get(1)?))).optional()? else {
            return Ok(None);
        };
        if sealed { unseal(self.sealer()?, Purpose::Doc, id, &doc).map(Some) } else { Ok(Some(doc)) }
    }

    /// Every readable record: GBV referrals are left out while they are locked.
    fn list_records(&self) -> Result<Vec<RecordView>, StoreError> {
        let mut st = self.conn.prepare_cached("SELECT id, view, sealed FROM records ORDER BY id")?;
        self.views(&mut st.query([])?)
    }

    /// While GBV referrals are locked, the outbox stops before the first sealed entry: what is
    /// sent is always a prefix, so an acknowledgement never covers an entry that was not sent.
    fn outbox(&self, max_bytes: usize) -> Result<Vec<OutboxEntry>, StoreError> {
        let mut st = self.conn.prepare_cached("SELECT seq, record, change, sealed FROM outbox ORDER BY seq")?;
        let mut rows = st.query([])?;
        let mut out = Vec::new();
        let mut bytes = 0usize;
        while let Some(row) = rows.next()? {
            let Some(entry) = self.outbox_entry(row, 0)? else { break };
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

    /// The refused changes; those of GBV referrals are left out while they are locked.
    fn rejected(&self) -> Result<Vec<RejectedChange>, StoreError> {
        let mut st =
            self.conn.prepare_cached("SELECT seq, record, change, sealed, code, message FROM rejected ORDER BY id")?;
        let mut rows = st.query([])?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            if let Some(entry) = self.outbox_entry(row, 0)? {
                out.push(RejectedChange { entry, code: row.get(4)?, message: row.get(5)? });
            }
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
        let data = self.data.clone();
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        // Read under the write lock: another connection to the same file may have written since.
        let mut updated: i64 =
            if batch.records.is_empty() { 0 } else { tx.prepare_cached(LAST_UPDATED)?.query_row([], |r| r.get(0))? };
        for r in &batch.records {
            updated += 1;
            put_record(&tx, r, updated, data.as_ref().map_err(|l| *l))?;
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
            let mut st = tx.prepare_cached("INSERT INTO outbox (record, change, sealed) VALUES (?1, ?2, ?3)")?;
            for (record, change) in &batch.outbox_append {
                let id = record.as_bytes().as_slice();
                // A GBV referral's change: the record is in this batch (a local write) or stored.
                let gbv = match batch.records.iter().rev().find(|r| r.id == *record) {
                    Some(r) => r.view.kind == RecordKind::GbvReferral,
                    None => tx
                        .prepare_cached("SELECT kind FROM records WHERE id = ?1")?
                        .query_row([id], |r| r.get::<_, String>(0))
                        .optional()?
                        .is_some_and(|k| k == RecordKind::GbvReferral.code()),
                };
                if gbv {
                    let sealer = data.as_ref().map_err(|l| StoreError::Locked(*l))?;
                    let sealed = sealer.seal(Purpose::Change, id, change);
                    st.execute(params![id, sealed, true])?;
                } else {
                    st.execute(params![id, change, false])?;
                }
            }
        }
        if let Some(through) = batch.outbox_ack_through {
            let through = sql_int(through);
            // Refusals first: what the server refused is set aside, not silently acknowledged.
            for (record, code, message) in &batch.outbox_reject {
                let record = record.as_bytes().as_slice();
                tx.prepare_cached(
                    "INSERT INTO rejected (seq, record, change, sealed, code, message)
                     SELECT seq, record, change, sealed, ?2, ?3 FROM outbox WHERE record = ?1 ORDER BY seq",
                )?
                .execute(params![record, code, message])?;
                tx.prepare_cached("DELETE FROM outbox WHERE record = ?1")?.execute([record])?;
            }
            tx.prepare_cached("DELETE FROM outbox WHERE seq <= ?1")?.execute([through])?;
        }
        if batch.reset {
            tx.prepare_cached("DELETE FROM records")?.execute([])?;
            tx.prepare_cached(
                "INSERT INTO rejected (seq, record, change, sealed, code, message)
                 SELECT seq, record, change, sealed, ?1, ?2 FROM outbox ORDER BY seq",
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

    /// Destroys the data key first ([`SqliteStore::destroy_data_key`]), then removes every GBV
    /// referral and every sealed outbox entry and refused change (those of a record already
    /// dropped by a reset included).
    /// The session's secrets (the device secret) survive, sealed again under the new data key:
    /// removing them is the session's decision (revocation erases the device secret).
    fn wipe_sensitive(&mut self) -> Result<(), StoreError> {
        let secrets = self.open_secrets()?;
        self.destroy_data_key()?;
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let gbv = RecordKind::GbvReferral.code();
        tx.execute("DELETE FROM outbox WHERE sealed OR record IN (SELECT id FROM records WHERE kind = ?1)", [gbv])?;
        tx.execute("DELETE FROM rejected WHERE sealed OR record IN (SELECT id FROM records WHERE kind = ?1)", [gbv])?;
        tx.execute("DELETE FROM records WHERE kind = ?1", [gbv])?;
        tx.commit()?;
        for (key, value) in secrets {
            self.set_secret(&key, &value)?;
        }
        self.checkpoint();
        Ok(())
    }
}
