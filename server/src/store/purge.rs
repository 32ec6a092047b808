//! Purging the history of GBV referrals: an Automerge document keeps every value it ever held,
//! so a corrected or cleared note would stay readable for ever. A purge keeps only the present.
//!
//! In one write transaction (ordered with the log like any write): the record's document is
//! replaced by [`Record::compacted`] (one change with the current values, under the creating
//! device, user and time, so the projection, reports and attribution are unchanged); the bytes of
//! every earlier log row of the record are emptied (rows stay, so sequence numbers stay dense;
//! the pull skips them); one log row marked `replaces` carries the new change, which the pull
//! hands to the creating phone as a replacement (`SyncResponse::replaced`), so its copy is
//! replaced too, on its next sync or whenever it catches up; changes waiting for dependencies
//! are dropped; an audit row `gbv.purge` is written. Changes a phone made on the old history
//! and pushes afterwards are refused (`records::prepare`) and kept aside on the phone.
//!
//! Purges happen two ways: a focal point purges one case at once (the web API), and
//! [`purge_expired`] purges every case closed longer ago than the retention
//! period (`Limits::gbv_history_retention_days`), run by the server at start and daily.

use crate::db::{Backend, Db};
use crate::error::ApiError;
use sotay_sync_core::{Coded, CommuneId, Record, RecordId, RecordKind, UserId};
use sqlx::Row;

/// What a purge did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purged {
    /// The history was replaced by the current values.
    Done,
    /// The document already held only its current values.
    AlreadyCompact,
}

/// Purges the history of GBV referral `id` of `commune` (see the module docs); `by` is the focal
/// point who asked, `None` for the retention job.
pub async fn purge_history(
    db: &Db,
    commune: CommuneId,
    id: RecordId,
    by: Option<UserId>,
    now_ms: i64,
) -> Result<Purged, ApiError> {
    let mut tx = db.begin_write().await?;
    if db.backend == Backend::Postgres {
        // The commune's log lock of `writer.rs`: its log rows commit in sequence order.
        super::writer::lock_logs(&mut tx, &[commune]).await?;
    }
    let cid = commune.as_bytes().as_slice();
    let row = sqlx::query("SELECT kind, doc FROM records WHERE commune_id = $1 AND id = $2")
        .bind(cid)
        .bind(id.as_bytes().as_slice())
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(ApiError::NotFound)?;
    if row.get::<String, _>(0) != RecordKind::GbvReferral.code() {
        return Err(ApiError::Unprocessable(format!(
            "record {id} is not a GBV referral: only their history is purged"
        )));
    }
    let mut record = Record::load(&row.get::<Vec<u8>, _>(1), None).map_err(|e| ApiError::Internal(e.into()))?;
    let (mut compacted, change) = record.compacted().map_err(|e| ApiError::Internal(e.into()))?;
    if record.changes() == vec![change.clone()] {
        return Ok(Purged::AlreadyCompact);
    }
    let hash =
        sotay_sync_core::inspect::inspect_change(&change).map_err(|e| ApiError::Internal(anyhow::anyhow!(e)))?.hash;
    let seq = super::records::next_seq(&mut tx, commune).await?;
    let rid = id.as_bytes().as_slice();
    sqlx::query("UPDATE changes SET bytes = $1 WHERE commune_id = $2 AND record_id = $3")
        .bind(Vec::<u8>::new())
        .bind(cid)
        .bind(rid)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO changes (seq, commune_id, village_id, record_id, sensitive, owner_device, device_id, hash, bytes,
                              received_at, replaces)
         SELECT $1, commune_id, village_id, id, TRUE, owner_device, $2, $3, $4, $5, TRUE FROM records
         WHERE commune_id = $6 AND id = $7",
    )
    .bind(seq)
    // The server's own row: the creating phone is sent it (its own changes are not).
    .bind(uuid::Uuid::nil().as_bytes().as_slice())
    .bind(hash.as_slice())
    .bind(change.as_slice())
    .bind(now_ms)
    .bind(cid)
    .bind(rid)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "UPDATE records SET doc = $1, updated_seq = $2, history_purged_at = $3 WHERE commune_id = $4 AND id = $5",
    )
    .bind(compacted.save())
    .bind(seq)
    .bind(now_ms)
    .bind(cid)
    .bind(rid)
    .execute(&mut *tx)
    .await?;
    sqlx::query("DELETE FROM pending_changes WHERE commune_id = $1 AND record_id = $2")
        .bind(cid)
        .bind(rid)
        .execute(&mut *tx)
        .await?;
    let detail = if by.is_some() { "on request" } else { "retention period over" };
    crate::admin::audit(&mut tx, by, None, "gbv.purge", Some(rid), detail).await?;
    tx.commit().await?;
    Ok(Purged::Done)
}

/// The retention job's query: closed GBV cases closed before `$1` whose history has changed
/// since it was last purged. It reads the partial index `record_facts_closed` (migration 0013),
/// which holds closed cases only, so a province's daily run does not read its millions of records.
/// Public so a test can check that plan.
pub const EXPIRED_CASES: &str = "SELECT f.commune_id, f.record_id FROM record_facts f
     JOIN records r ON r.commune_id = f.commune_id AND r.id = f.record_id
     WHERE f.closed_at < $1 AND f.case_status = 'closed' AND f.kind = 'gbv_referral'
       AND (r.history_purged_at IS NULL OR r.history_purged_at <
            (SELECT MAX(c.received_at) FROM changes c
             WHERE c.commune_id = r.commune_id AND c.record_id = r.id AND c.replaces = FALSE))";

/// Purges every GBV referral closed more than `retention_days` before `now_ms` (and still
/// closed) whose history has not been purged since its last change. Returns how many were purged.
pub async fn purge_expired(db: &Db, retention_days: u32, now_ms: i64) -> Result<usize, ApiError> {
    let before = now_ms - i64::from(retention_days) * 86_400_000;
    let rows = sqlx::query(EXPIRED_CASES).bind(before).fetch_all(&db.read).await?;
    let mut purged = 0;
    for row in rows {
        let commune = CommuneId::from_slice(&row.get::<Vec<u8>, _>(0));
        let Some((commune, id)) = commune.zip(RecordId::from_slice(&row.get::<Vec<u8>, _>(1))) else { continue };
        if purge_history(db, commune, id, None, now_ms).await? == Purged::Done {
            purged += 1;
        }
    }
    Ok(purged)
}
