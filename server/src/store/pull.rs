//! The read side of sync, in the database: the log after a device's cursor in its scope (the
//! pull), the compacted documents a new device is provisioned from, page by page, and the scope a
//! device was provisioned for. The sync endpoint (`crate::sync`) decides which to answer; what a
//! device may receive is the access policy's filter for the sync channel (`crate::policy`).

use crate::auth::AuthDevice;
use crate::config::Limits;
use crate::db::Db;
use crate::error::ApiError;
use crate::policy::{self, ReadFilter, Table};
use sotay_sync_core::rules::Channel;
use sotay_sync_core::wire::{ChangeBytes, RecordChanges, RecordSnapshot, SnapshotCursor, SyncRequest, SyncResponse};
use sqlx::Row;

/// Records the scope a device is being provisioned for.
pub(crate) async fn remember_scope(db: &Db, auth: &AuthDevice) -> Result<(), ApiError> {
    sqlx::query("UPDATE devices SET scope = $1 WHERE id = $2")
        .bind(auth.scope_key())
        .bind(auth.device.as_bytes().as_slice())
        .execute(&db.write)
        .await?;
    Ok(())
}

/// The scope of sync for this device on `table`, from the access policy; refused for a role
/// that syncs nothing.
fn scope(auth: &AuthDevice, table: Table, first: usize) -> Result<ReadFilter, ApiError> {
    let filter = policy::read_filter(auth, Channel::Sync, table, first);
    if filter.nothing {
        return Err(ApiError::Forbidden("this account does not sync records".into()));
    }
    Ok(filter)
}

/// What the device has not seen: the log in its scope after its cursor, minus its own changes.
pub(crate) async fn pull(
    db: &Db,
    limits: &Limits,
    auth: &AuthDevice,
    req: &SyncRequest,
) -> Result<SyncResponse, ApiError> {
    let limit = limits.page_changes as i64;
    let me = auth.device.as_bytes().as_slice();
    let cursor = req.cursor as i64;
    let filter = scope(auth, Table::Changes, 2)?;
    let n = 2 + filter.binds.len();
    let sql = format!(
        "SELECT seq, record_id, CASE WHEN device_id = $1 THEN NULL ELSE bytes END,
                CASE WHEN replaces THEN CAST(1 AS BIGINT) ELSE CAST(0 AS BIGINT) END FROM changes c
         WHERE {} AND c.seq > ${n} ORDER BY c.seq LIMIT ${}",
        filter.sql,
        n + 1
    );
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(me);
    for b in filter.binds {
        query = query.bind(b);
    }
    let rows = query.bind(cursor).bind(limit + 1).fetch_all(&db.read).await?;
    let mut more = rows.len() as i64 > limit;
    let mut response = SyncResponse { cursor: req.cursor, ..SyncResponse::default() };
    let mut index: std::collections::HashMap<Vec<u8>, usize> = std::collections::HashMap::new();
    let mut page_bytes = 0;
    for row in rows.into_iter().take(limit as usize) {
        let bytes = row.get::<Option<Vec<u8>>, _>(2);
        let size = bytes.as_ref().map_or(0, Vec::len);
        if page_bytes > 0 && page_bytes + size > limits.page_snapshot_bytes {
            more = true;
            break;
        }
        page_bytes += size;
        response.cursor = row.get::<i64, _>(0) as u64;
        // Its own changes are not sent back to a device; purged rows are empty.
        let Some(bytes) = bytes.filter(|b| !b.is_empty()) else { continue };
        let record: Vec<u8> = row.get(1);
        if row.get::<i64, _>(3) != 0 {
            // A purge: the whole new history, which replaces the device's copy.
            if let Some(i) = index.remove(&record) {
                response.changes[i].changes.clear();
            }
            response.replaced.push(RecordSnapshot { record, doc: bytes });
            continue;
        }
        let i = *index.entry(record.clone()).or_insert_with(|| {
            response.changes.push(RecordChanges { record, changes: Vec::new() });
            response.changes.len() - 1
        });
        response.changes[i].changes.push(ChangeBytes(bytes));
    }
    // A purge met in this page empties the groups its record had collected before it.
    response.changes.retain(|group| !group.changes.is_empty());
    response.more = more;
    Ok(response)
}

/// Provisioning: compacted documents of every record in scope, in id order, paged by bytes.
/// The snapshot is taken at log position `upto`; changes after it arrive by the log afterwards
/// (a record newer than `upto` in its snapshot receives some changes twice, which is harmless).
pub(crate) async fn provision_page(
    db: &Db,
    limits: &Limits,
    auth: &AuthDevice,
    req: &SyncRequest,
) -> Result<SyncResponse, ApiError> {
    let snap = match &req.snapshot {
        Some(s) => s.clone(),
        None => {
            let upto: Option<i64> = sqlx::query("SELECT MAX(seq) FROM changes WHERE commune_id = $1")
                .bind(auth.commune.as_bytes().as_slice())
                .fetch_one(&db.read)
                .await?
                .get(0);
            SnapshotCursor { upto: upto.unwrap_or(0) as u64, after: None }
        }
    };
    let after = snap.after.clone().unwrap_or_default();
    const ROWS: i64 = 2000;
    let filter = scope(auth, Table::Records, 1)?;
    let n = 1 + filter.binds.len();
    let sql = format!(
        "SELECT r.id, r.doc FROM records r WHERE {} AND r.id > ${n} ORDER BY r.id LIMIT ${}",
        filter.sql,
        n + 1
    );
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
    for b in filter.binds {
        query = query.bind(b);
    }
    let rows = query.bind(after).bind(ROWS).fetch_all(&db.read).await?;
    let full_page = rows.len() as i64 == ROWS;
    let mut response = SyncResponse { cursor: req.cursor, ..SyncResponse::default() };
    let mut bytes = 0;
    let mut cut = false;
    for row in rows {
        let record: Vec<u8> = row.get(0);
        let doc: Vec<u8> = row.get(1);
        if bytes > 0 && bytes + doc.len() > limits.page_snapshot_bytes {
            cut = true;
            break;
        }
        bytes += doc.len();
        response.snapshots.push(RecordSnapshot { record, doc });
    }
    if cut || full_page {
        let last = response.snapshots.last().map(|s| s.record.clone());
        response.snapshot = Some(SnapshotCursor { upto: snap.upto, after: last.or(snap.after) });
        response.more = true;
    } else {
        // Done: continue from the log position the snapshot was taken at.
        response.cursor = snap.upto.max(req.cursor);
        response.snapshot = None;
        response.more = snap.upto > req.cursor;
    }
    Ok(response)
}
