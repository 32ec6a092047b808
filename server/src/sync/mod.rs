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

use crate::store::{provision_page, pull, remember_scope};

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
use sotay_sync_core::wire::{self, SyncRequest, SyncResponse};

/// The sync endpoint. Counts every sync by outcome, with the bytes it moved (`metrics.rs`).
#[utoipa::path(post, path = "/api/v1/sync", tag = "devices", summary = "Push and pull changes in one round trip",
    description = "Binary body: the framing and the CBOR messages (SyncRequest, SyncResponse) are in \
        docs/sync-protocol.md. Records the write rules refuse are listed in the answer's `rejected`, \
        not answered with an error status. Admin accounts do not sync (403).",
    security(("bearer" = [])),
    request_body(content = inline(crate::api_doc::Binary), content_type = "application/vnd.sotay.sync",
        description = "a framed SyncRequest (docs/sync-protocol.md)"),
    responses(
        (status = 200, description = "a framed SyncResponse (docs/sync-protocol.md)", body = inline(crate::api_doc::Binary),
            content_type = "application/vnd.sotay.sync"),
        (status = 400, response = crate::api_doc::answer::BadRequest),
        (status = 401, response = crate::api_doc::answer::Unauthorized),
        (status = 403, response = crate::api_doc::answer::Forbidden),
        (status = 413, response = crate::api_doc::answer::TooLarge),
    ))]
pub async fn sync(
    State(state): State<AppState>,
    auth: AuthDevice,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let received = body.as_ref().map_or(0, |b| b.len());
    let answer = exchange(&state, &auth, body).await;
    match &answer {
        Ok(bytes) => state.metrics.sync_done("ok", received, bytes.len()),
        Err(e) => state.metrics.sync_done(e.code(), received, 0),
    }
    answer.map(|bytes| ([(header::CONTENT_TYPE, wire::CONTENT_TYPE)], bytes).into_response())
}

/// One sync: stores the push, reads what the device has not seen, and encodes the answer.
async fn exchange(
    state: &AppState,
    auth: &AuthDevice,
    body: Result<Bytes, BytesRejection>,
) -> Result<Vec<u8>, ApiError> {
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
        (request.outbox_through, ingest(state, auth, &request.push, Channel::Sync).await?)
    };
    let mut response = if auth.scope_changed && !request.fresh && request.snapshot.is_none() {
        // Moved to another village or role: nothing of the old scope is sent; the device resets
        // and comes back fresh.
        SyncResponse { cursor: request.cursor, reset: true, ..SyncResponse::default() }
    } else if provision {
        if request.snapshot.is_none() || auth.scope_unrecorded {
            remember_scope(&state.db, auth).await?;
        }
        provision_page(&state.db, &state.limits, auth, &request).await?
    } else {
        if auth.scope_unrecorded {
            remember_scope(&state.db, auth).await?;
        }
        pull(&state.db, &state.limits, auth, &request).await?
    };
    response.acked_through = acked_through;
    if request.epoch.as_deref() != Some(state.epoch.as_slice()) {
        response.epoch = Some(state.epoch.to_vec());
    }
    let rejected_records = rejected.len();
    let sent_changes: usize = response.changes.iter().map(|c| c.changes.len()).sum();
    let refused: std::collections::HashSet<&[u8]> = rejected.iter().map(|r| r.record.as_slice()).collect();
    let applied: usize =
        request.push.iter().filter(|p| !refused.contains(p.record.as_slice())).map(|p| p.changes.len()).sum();
    for r in &rejected {
        state.metrics.refused(r.reason.as_deref().unwrap_or(&r.code));
    }
    state.metrics.sync_moved(applied, sent_changes, response.snapshots.len());
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
    Ok(wire::encode(&response))
}
