//! What the phone's screens ask the store beyond [`DeviceStore`](sotay_sync_core::device::DeviceStore):
//! filtered, paged record lists ([`RecordQuery`]), the home screen's counts ([`HomeCounts`]), the
//! session's settings (`meta`), and the wipe on unenrolment.

use super::seal::Purpose;
use super::{SqliteStore, StoreError, put_meta, read_meta};
use rusqlite::types::Value;
use rusqlite::{TransactionBehavior, params_from_iter};
use serde::{Deserialize, Serialize};
use sotay_sync_core::{Coded, Date, RecordKind, RecordView, ReviewState};

/// A page of records for a list screen, newest day first (then newest id). Records without a
/// day (an undated draft) come after every dated one. Every filter left empty matches everything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordQuery {
    /// Only records of this kind.
    pub kind: Option<RecordKind>,
    /// Only records in this review state.
    pub review_state: Option<ReviewState>,
    /// Only records whose day (held on, or reported on) is on or after this date.
    pub from: Option<Date>,
    /// Only records whose day is on or before this date.
    pub to: Option<Date>,
    /// Only records with open conflicts.
    pub conflicted_only: bool,
    /// Include soft-deleted records (excluded by default).
    pub include_deleted: bool,
    /// Records to skip (paging).
    pub offset: u32,
    /// Records to return at most (50 by default).
    pub limit: u32,
}

impl Default for RecordQuery {
    fn default() -> Self {
        RecordQuery {
            kind: None,
            review_state: None,
            from: None,
            to: None,
            conflicted_only: false,
            include_deleted: false,
            offset: 0,
            limit: 50,
        }
    }
}

/// The home screen's numbers. Record counts are of records not deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HomeCounts {
    /// Records on this phone.
    pub records: usize,
    /// Activities.
    pub activities: usize,
    /// GBV referrals.
    pub gbv_referrals: usize,
    /// Drafts.
    pub drafts: usize,
    /// Submitted, waiting for review.
    pub submitted: usize,
    /// Returned to their author.
    pub returned: usize,
    /// Approved.
    pub approved: usize,
    /// Records with open conflicts.
    pub conflicted: usize,
    /// Local changes not yet acknowledged by the server.
    pub unsent_changes: usize,
    /// Local changes the server refused, kept aside for a person to look at.
    pub refused_changes: usize,
}

impl SqliteStore {
    /// One page of records matching `q`, newest day first.
    pub fn query(&self, q: &RecordQuery) -> Result<Vec<RecordView>, StoreError> {
        let mut clauses: Vec<String> = Vec::new();
        let mut args: Vec<Value> = Vec::new();
        let mut arg = |clause: &str, v: Value, clauses: &mut Vec<String>| {
            args.push(v);
            clauses.push(format!("{clause} ?{}", args.len()));
        };
        if let Some(kind) = q.kind {
            arg("kind =", Value::Text(kind.code().into()), &mut clauses);
        }
        if let Some(state) = q.review_state {
            arg("review_state =", Value::Text(state.code().into()), &mut clauses);
        }
        if let Some(from) = q.from {
            arg("day >=", Value::Text(from.to_string()), &mut clauses);
        }
        if let Some(to) = q.to {
            arg("day <=", Value::Text(to.to_string()), &mut clauses);
        }
        if q.conflicted_only {
            clauses.push("conflicts > 0".into());
        }
        if !q.include_deleted {
            clauses.push("deleted = 0".into());
        }
        if self.gbv_lock().is_some() {
            // Locked GBV referrals are left out in the query, so pages stay full.
            clauses.push("NOT sealed".into());
        }
        args.push(Value::Integer(q.limit.into()));
        args.push(Value::Integer(q.offset.into()));
        let filter = if clauses.is_empty() { String::new() } else { format!(" WHERE {}", clauses.join(" AND ")) };
        let sql = format!(
            "SELECT id, view, sealed FROM records{filter} ORDER BY day DESC, id DESC LIMIT ?{} OFFSET ?{}",
            args.len() - 1,
            args.len()
        );
        let mut st = self.conn.prepare_cached(&sql)?;
        self.views(&mut st.query(params_from_iter(args))?)
    }

    /// The `limit` records written most recently on this phone (edited here or received), newest
    /// first, deleted ones left out.
    pub fn recently_changed(&self, limit: u32) -> Result<Vec<RecordView>, StoreError> {
        let sql = if self.gbv_lock().is_some() {
            "SELECT id, view, sealed FROM records WHERE deleted = 0 AND NOT sealed ORDER BY updated_seq DESC LIMIT ?1"
        } else {
            "SELECT id, view, sealed FROM records WHERE deleted = 0 ORDER BY updated_seq DESC LIMIT ?1"
        };
        self.views(&mut self.conn.prepare_cached(sql)?.query([limit])?)
    }

    /// The home screen's numbers, in one read.
    pub fn counts(&self) -> Result<HomeCounts, StoreError> {
        let mut st = self.conn.prepare_cached(
            "SELECT count(*),
                    coalesce(sum(kind = ?1), 0), coalesce(sum(kind = ?2), 0),
                    coalesce(sum(review_state = ?3), 0), coalesce(sum(review_state = ?4), 0),
                    coalesce(sum(review_state = ?5), 0), coalesce(sum(review_state = ?6), 0),
                    coalesce(sum(conflicts > 0), 0),
                    (SELECT count(*) FROM outbox), (SELECT count(*) FROM rejected)
             FROM records WHERE deleted = 0",
        )?;
        let params = [
            RecordKind::Activity.code(),
            RecordKind::GbvReferral.code(),
            ReviewState::Draft.code(),
            ReviewState::Submitted.code(),
            ReviewState::Returned.code(),
            ReviewState::Approved.code(),
        ];
        let c = st.query_row(params, |r| {
            let n = |i: usize| r.get::<_, i64>(i).map(|v| v.max(0) as usize);
            Ok(HomeCounts {
                records: n(0)?,
                activities: n(1)?,
                gbv_referrals: n(2)?,
                drafts: n(3)?,
                submitted: n(4)?,
                returned: n(5)?,
                approved: n(6)?,
                conflicted: n(7)?,
                unsent_changes: n(8)?,
                refused_changes: n(9)?,
            })
        })?;
        Ok(c)
    }

    /// A setting of the session (credential, enrolment, last sync…), if set.
    pub fn get_meta(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        read_meta(&self.conn, key)
    }

    /// Sets a setting, durably. [`super::SYNC_STATE_KEY`] is the store's own: do not use it.
    pub fn set_meta(&mut self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        put_meta(&self.conn, key, value)
    }

    /// Removes a setting (nothing happens if it is not set).
    pub fn delete_meta(&mut self, key: &str) -> Result<(), StoreError> {
        self.conn.prepare_cached("DELETE FROM meta WHERE key = ?1")?.execute([key])?;
        Ok(())
    }

    /// Sets a secret setting (the device secret), sealed under the data key: the file never
    /// holds it readable, and a wipe destroys it with the key. Refused while the key is not
    /// available ([`StoreError::Locked`]).
    pub fn set_secret(&mut self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        let sealed = self.sealer()?.seal(Purpose::Secret, key.as_bytes(), value);
        put_meta(&self.conn, &secret_key(key), &sealed)
    }

    /// A secret setting, if set; [`StoreError::Locked`] when it is set but the data key is not
    /// available (opened without the right key, or locked as stale).
    pub fn get_secret(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let Some(sealed) = read_meta(&self.conn, &secret_key(key))? else { return Ok(None) };
        let opened = self.sealer()?.open(Purpose::Secret, key.as_bytes(), &sealed);
        opened.map(Some).ok_or_else(|| StoreError::Corrupt(format!("the secret setting {key:?} does not open")))
    }

    /// Removes a secret setting (nothing happens if it is not set).
    pub fn delete_secret(&mut self, key: &str) -> Result<(), StoreError> {
        self.delete_meta(&secret_key(key))
    }

    /// Every secret setting, opened (none while the data key is not available): kept across the
    /// new data key of [`DeviceStore::wipe_sensitive`](sotay_sync_core::device::DeviceStore).
    pub(super) fn open_secrets(&self) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        let Ok(sealer) = self.sealer() else { return Ok(Vec::new()) };
        let rows: Vec<(String, Vec<u8>)> = self
            .conn
            .prepare_cached("SELECT key, value FROM meta WHERE key LIKE 'secret.%'")?
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?;
        Ok(rows
            .into_iter()
            .filter_map(|(k, v)| {
                let name = k.strip_prefix("secret.")?.to_string();
                let plain = sealer.open(Purpose::Secret, name.as_bytes(), &v)?;
                Some((name, plain))
            })
            .collect())
    }

    /// Removes everything: every record, unsent and refused change, setting and the sync position
    /// (the device is being unenrolled), after destroying the data key. Outbox sequence numbers
    /// still never go back.
    pub fn wipe_all(&mut self) -> Result<(), StoreError> {
        self.destroy_data_key()?;
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute_batch("DELETE FROM records; DELETE FROM outbox; DELETE FROM rejected;")?;
        tx.execute("DELETE FROM meta WHERE key <> ?1", [super::DATA_KEY])?;
        tx.commit()?;
        self.checkpoint();
        Ok(())
    }
}

/// The `meta` key of a secret setting.
fn secret_key(key: &str) -> String {
    format!("secret.{key}")
}
