//! Storing a push: check attribution, read what is stored, merge and check each record off the
//! async threads (`crate::store`), then write through the group-commit writer (which also looks
//! for suspected duplicates among what it wrote, in the same transaction). A record that may not be stored is refused on its
//! own (listed in the answer, nothing of it stored); a malformed body refuses the whole push.

use crate::auth::AuthDevice;
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::{Channel, Incoming, PendingBounds, Prepared, Refused, WriteJob, prepare, read_pending, read_stored};
use sotay_sync_core::RecordId;
use sotay_sync_core::inspect::inspect_change;
use sotay_sync_core::wire::{ChangeBytes, RecordChanges, Rejection};

/// Stores a push. Three phases, so the expensive part runs on every core while SQLite's single
/// writer only writes: read the current rows (reader pool), merge and project in the blocking
/// pool, then write through the group-commit writer.
///
/// A record the device may not write, or whose changes are not valid, is refused on its own: it
/// is listed in the answer, nothing of it is stored, and the rest of the push goes ahead (so one
/// bad entry cannot stop a phone from ever syncing again). A malformed body refuses the whole push.
pub(crate) async fn ingest(
    state: &AppState,
    auth: &AuthDevice,
    push: &[RecordChanges],
    channel: Channel,
) -> Result<Vec<Rejection>, ApiError> {
    ingest_audited(state, auth, push, channel, None).await
}

/// [`ingest`], writing an audit row with this action for every record stored, in the same
/// transaction as the record (a GBV case update and its audit row stand or fall together).
pub(crate) async fn ingest_audited(
    state: &AppState,
    auth: &AuthDevice,
    push: &[RecordChanges],
    channel: Channel,
    audit: Option<&'static str>,
) -> Result<Vec<Rejection>, ApiError> {
    // Decode and check attribution before touching the database.
    let mut batches = Vec::with_capacity(push.len());
    let mut rejected = Vec::new();
    let mut seen = std::collections::HashSet::new();
    'records: for rc in push {
        let id = rc.record_id().map_err(|e| ApiError::BadRequest(e.to_string()))?;
        if !seen.insert(id) {
            return Err(ApiError::BadRequest(format!("record {id} appears twice in one push")));
        }
        let mut incoming = Vec::with_capacity(rc.changes.len());
        for ChangeBytes(bytes) in &rc.changes {
            let refusal = match inspect_change(bytes) {
                _ if bytes.len() > state.limits.max_change_bytes => ApiError::Unprocessable(format!(
                    "record {id}: a change of {} bytes is over the limit of {} bytes",
                    bytes.len(),
                    state.limits.max_change_bytes
                )),
                Err(e) => ApiError::Unprocessable(format!("record {id}: not an Automerge change: {e}")),
                Ok(info) if info.device != Some(auth.device) || info.user.is_some_and(|u| u != auth.user) => {
                    ApiError::Forbidden(format!("record {id}: a device may only send changes it made itself"))
                }
                Ok(info) => {
                    incoming.push(Incoming { hash: info.hash, bytes: bytes.clone() });
                    continue;
                }
            };
            rejected.push(Refused::Api(refusal).into_rejection(id)?);
            continue 'records;
        }
        batches.push((id, incoming));
    }
    if batches.is_empty() {
        return Ok(rejected);
    }
    let ids: Vec<RecordId> = batches.iter().map(|(id, _)| *id).collect();

    // 1. Read.
    let mut stored = read_stored(&state.db.read, auth.commune, &ids).await?;
    let mut pending = read_pending(&state.db.read, auth.commune, &ids, auth.device).await?;

    // 2. Merge and project, off the async threads.
    let auth_copy = *auth;
    let prepared = tokio::task::spawn_blocking(move || {
        batches
            .into_iter()
            .map(|(id, incoming)| {
                prepare(&auth_copy, channel, id, incoming, stored.remove(&id), pending.remove(&id).unwrap_or_default())
                    .map_err(|e| e.into_rejection(id))
            })
            .collect::<Vec<Result<Prepared, Result<Rejection, ApiError>>>>()
    })
    .await
    .map_err(|e| ApiError::Internal(e.into()))?;
    let mut ready = Vec::new();
    for p in prepared {
        match p {
            Ok(p) => ready.push(p),
            Err(r) => rejected.push(r?),
        }
    }
    if ready.is_empty() {
        return Ok(rejected);
    }

    // 3. Write, through the group-commit writer; acknowledged only once committed.
    let l = &state.limits;
    let pending = PendingBounds {
        max_changes: l.max_pending_changes,
        max_bytes: l.max_pending_bytes,
        max_age_ms: l.pending_max_age_secs.saturating_mul(1000),
    };
    // Suspected duplicates are looked for in the same transaction (`crate::duplicates`).
    rejected
        .extend(state.writer.submit(WriteJob { auth: *auth, channel, ids, prepared: ready, pending, audit }).await?);
    Ok(rejected)
}
