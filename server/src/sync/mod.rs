//! `POST /api/v1/sync`: one round trip that stores a device's changes and answers with what it
//! has not seen. See `docs/sync-protocol.md` for the contract; this is how it is kept:
//!
//! - **No loss.** The push is applied in one write transaction, committed with
//!   `synchronous=FULL` before the answer acknowledges it.
//! - **Idempotence.** A change already in a record's document is skipped; the log has
//!   `UNIQUE (record_id, hash)`.
//! - **Causality.** Automerge applies a change only after its dependencies; a change whose
//!   dependencies have not arrived is kept in `pending_changes` (acknowledged, durable) and enters
//!   the log when they do. Log order is therefore a causal order, and so is every page of it.
//! - **Scope.** What a device may read and write comes from its user's row, never the request.
//! - **Cost proportional to change.** The pull reads the log by `(commune, village, seq)` from the
//!   cursor: a sync with nothing new reads nothing.
//! - **Attribution.** A device may only push changes it made: every change's actor must be the
//!   device. Automerge writes the author (the user) only on an actor's first change in a
//!   document, so a change that names an author must name the device's user, and after applying,
//!   the document must map the device's actor to the device's user.

mod ingest;

pub(crate) use crate::store::Channel;
pub(crate) use ingest::{ingest, ingest_audited};

use crate::auth::{AuthDevice, Role};
use crate::error::{ApiError, body_rejection};
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use sotay_sync_core::wire::{
    self, ChangeBytes, RecordChanges, RecordSnapshot, SnapshotCursor, SyncRequest, SyncResponse,
};

use sqlx::Row;

/// The sync endpoint.
pub async fn sync(
    State(state): State<AppState>,
    auth: AuthDevice,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = body.map_err(|r| body_rejection(r.status(), r.body_text()))?;
    let wire_error = |e: wire::WireError| match e {
        wire::WireError::TooLarge(_) => ApiError::TooLarge(e.to_string()),
        e => ApiError::BadRequest(e.to_string()),
    };
    // The inflated payload, what is decoded from it and the documents it is merged into are
    // charged to the memory budget before anything is inflated: twice the inflated size.
    let inflated = wire::payload_len(&body, state.limits.max_sync_payload_bytes).map_err(wire_error)?;
    let _charge = state.pressure.charge(inflated.saturating_mul(2)).await?;
    let request: SyncRequest = wire::decode(&body, state.limits.max_sync_payload_bytes).map_err(wire_error)?;
    if request.cursor > i64::MAX as u64 || request.snapshot.as_ref().is_some_and(|s| s.upto > i64::MAX as u64) {
        return Err(ApiError::BadRequest("cursor out of range".into()));
    }
    if auth.role == Role::Admin {
        return Err(ApiError::Forbidden("admin accounts do not sync records".into()));
    }
    if request.push.len() > state.limits.max_push_records {
        return Err(ApiError::TooLarge(format!(
            "a sync may push at most {} records; send the rest in the next sync",
            state.limits.max_push_records
        )));
    }
    let pushed_records = request.push.len();
    let pushed_changes: usize = request.push.iter().map(|p| p.changes.len()).sum();
    // A device that has never been provisioned gets compacted snapshots, not the log.
    let provision = request.fresh || request.snapshot.is_some();
    let (acked_through, rejected) = if request.push.is_empty() {
        (0, Vec::new())
    } else {
        (request.outbox_through, ingest(&state, &auth, &request.push, Channel::Sync).await?)
    };
    let mut response = if auth.scope_changed && !request.fresh && request.snapshot.is_none() {
        // Moved to another village or role: nothing of the old scope is sent; the device resets
        // and comes back fresh.
        SyncResponse { cursor: request.cursor, reset: true, ..SyncResponse::default() }
    } else if provision {
        if request.snapshot.is_none() || auth.scope_unrecorded {
            remember_scope(&state, &auth).await?;
        }
        provision_page(&state, &auth, &request).await?
    } else {
        if auth.scope_unrecorded {
            remember_scope(&state, &auth).await?;
        }
        pull(&state, &auth, &request).await?
    };
    response.acked_through = acked_through;
    let rejected_records = rejected.len();
    let sent_changes: usize = response.changes.iter().map(|c| c.changes.len()).sum();
    let m = &state.metrics;
    crate::metrics::Metrics::add(&m.changes_received, pushed_changes);
    crate::metrics::Metrics::add(&m.changes_sent, sent_changes);
    crate::metrics::Metrics::add(&m.snapshots_sent, response.snapshots.len());
    crate::metrics::Metrics::add(&m.records_refused, rejected_records);
    response.rejected = rejected;
    tracing::info!(
        device = %auth.device,
        pushed_records,
        pushed_changes,
        rejected_records,
        sent_changes,
        sent_snapshots = response.snapshots.len(),
        cursor = response.cursor,
        more = response.more,
        reset = response.reset,
        "sync"
    );
    Ok(([(header::CONTENT_TYPE, wire::CONTENT_TYPE)], wire::encode(&response)).into_response())
}

/// Records the scope a device is being provisioned for.
async fn remember_scope(state: &AppState, auth: &AuthDevice) -> Result<(), ApiError> {
    sqlx::query("UPDATE devices SET scope = $1 WHERE id = $2")
        .bind(auth.scope_key())
        .bind(auth.device.as_bytes().as_slice())
        .execute(&state.db.write)
        .await?;
    Ok(())
}

/// What the device has not seen: the log in its scope after its cursor, minus its own changes.
async fn pull(state: &AppState, auth: &AuthDevice, req: &SyncRequest) -> Result<SyncResponse, ApiError> {
    let limit = state.limits.page_changes as i64;
    let me = auth.device.as_bytes().as_slice();
    let commune = auth.commune.as_bytes().as_slice();
    let cursor = req.cursor as i64;
    let rows = match (auth.role, auth.village) {
        (Role::Collaborator, Some(village)) => {
            sqlx::query(
                "SELECT seq, record_id, CASE WHEN device_id = $1 THEN NULL ELSE bytes END FROM changes
                 WHERE commune_id = $2 AND village_id = $3 AND seq > $4 AND (sensitive = FALSE OR owner_device = $1)
                 ORDER BY seq LIMIT $5",
            )
            .bind(me)
            .bind(commune)
            .bind(village.as_bytes().as_slice())
            .bind(cursor)
            .bind(limit + 1)
            .fetch_all(&state.db.read)
            .await?
        }
        (Role::Reviewer | Role::GbvFocalPoint, _) => {
            sqlx::query(
                "SELECT seq, record_id, CASE WHEN device_id = $1 THEN NULL ELSE bytes END FROM changes
                 WHERE commune_id = $2 AND seq > $3 AND sensitive = FALSE ORDER BY seq LIMIT $4",
            )
            .bind(me)
            .bind(commune)
            .bind(cursor)
            .bind(limit + 1)
            .fetch_all(&state.db.read)
            .await?
        }
        _ => return Err(ApiError::Forbidden("this account does not sync records".into())),
    };
    let mut more = rows.len() as i64 > limit;
    let mut response = SyncResponse { cursor: req.cursor, ..SyncResponse::default() };
    let mut index: std::collections::HashMap<Vec<u8>, usize> = std::collections::HashMap::new();
    let mut page_bytes = 0;
    for row in rows.into_iter().take(limit as usize) {
        let bytes = row.get::<Option<Vec<u8>>, _>(2);
        let size = bytes.as_ref().map_or(0, Vec::len);
        if page_bytes > 0 && page_bytes + size > state.limits.page_snapshot_bytes {
            more = true;
            break;
        }
        page_bytes += size;
        response.cursor = row.get::<i64, _>(0) as u64;
        let Some(bytes) = bytes else { continue };
        let record: Vec<u8> = row.get(1);
        let i = *index.entry(record.clone()).or_insert_with(|| {
            response.changes.push(RecordChanges { record, changes: Vec::new() });
            response.changes.len() - 1
        });
        response.changes[i].changes.push(ChangeBytes(bytes));
    }
    response.more = more;
    Ok(response)
}

/// Provisioning: compacted documents of every record in scope, in id order, paged by bytes.
/// The snapshot is taken at log position `upto`; changes after it arrive by the log afterwards
/// (a record newer than `upto` in its snapshot receives some changes twice, which is harmless).
async fn provision_page(state: &AppState, auth: &AuthDevice, req: &SyncRequest) -> Result<SyncResponse, ApiError> {
    let snap = match &req.snapshot {
        Some(s) => s.clone(),
        None => {
            let upto: Option<i64> = sqlx::query("SELECT MAX(seq) FROM changes").fetch_one(&state.db.read).await?.get(0);
            SnapshotCursor { upto: upto.unwrap_or(0) as u64, after: None }
        }
    };
    let after = snap.after.clone().unwrap_or_default();
    let me = auth.device.as_bytes().as_slice();
    let commune = auth.commune.as_bytes().as_slice();
    const ROWS: i64 = 2000;
    let rows = match (auth.role, auth.village) {
        (Role::Collaborator, Some(village)) => {
            sqlx::query(
                "SELECT id, doc FROM records WHERE commune_id = $1 AND village_id = $2 AND id > $3
                 AND (kind = 'activity' OR owner_device = $4) ORDER BY id LIMIT $5",
            )
            .bind(commune)
            .bind(village.as_bytes().as_slice())
            .bind(after.as_slice())
            .bind(me)
            .bind(ROWS)
            .fetch_all(&state.db.read)
            .await?
        }
        (Role::Reviewer | Role::GbvFocalPoint, _) => sqlx::query(
            "SELECT id, doc FROM records WHERE commune_id = $1 AND id > $2 AND kind = 'activity' ORDER BY id LIMIT $3",
        )
        .bind(commune)
        .bind(after.as_slice())
        .bind(ROWS)
        .fetch_all(&state.db.read)
        .await?,
        _ => return Err(ApiError::Forbidden("this account does not sync records".into())),
    };
    let full_page = rows.len() as i64 == ROWS;
    let mut response = SyncResponse { cursor: req.cursor, ..SyncResponse::default() };
    let mut bytes = 0;
    let mut cut = false;
    for row in rows {
        let record: Vec<u8> = row.get(0);
        let doc: Vec<u8> = row.get(1);
        if bytes > 0 && bytes + doc.len() > state.limits.page_snapshot_bytes {
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
