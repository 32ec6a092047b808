//! A record's way into the database: read what is stored, merge and check a push's changes
//! (scope, attribution, the write rules), project, and write the log, the record and its report
//! projection inside the group-commit writer's transaction. A record that may not be stored is
//! refused on its own (listed in the answer, nothing of it stored).

use crate::auth::AuthDevice;
use crate::error::ApiError;
pub(crate) use sotay_sync_core::rules::Channel;
use sotay_sync_core::rules::{Reason, Refusal, Writer};
use sotay_sync_core::wire::Rejection;
use sotay_sync_core::{Coded, CommuneId, DeviceId, Record, RecordId, RecordKind, VillageId};
use sqlx::{Any, Row};
use std::collections::BTreeMap;

#[derive(Clone)]
pub(crate) struct Incoming {
    pub(crate) hash: [u8; 32],
    pub(crate) bytes: Vec<u8>,
}

/// What the database holds for a record before this push.
pub(crate) struct Stored {
    scope: Scope,
    doc: Vec<u8>,
    /// Which version of the row this is (`updated_seq`) and how many changes wait for it.
    version: (i64, i64),
    /// Its history was purged (`store::purge`): changes built on the old history never apply.
    purged: bool,
}

/// A record merged and projected, ready to be written.
pub(crate) struct Prepared {
    pub(crate) id: RecordId,
    incoming: Vec<Incoming>,
    /// The row version it was computed from; `None` for a new record.
    based_on: Option<(i64, i64)>,
    pub(crate) scope: Scope,
    new_changes: Vec<([u8; 32], Option<DeviceId>, Vec<u8>)>,
    applied_pending: Vec<[u8; 32]>,
    still_pending: Vec<Incoming>,
    doc: Vec<u8>,
    view_json: String,
    review_state: String,
    conflicted: bool,
    deleted: bool,
    event_date: Option<String>,
    created_by: Vec<u8>,
    facts: crate::reports::projection::Facts,
}

/// One push to write.
pub(crate) struct WriteJob {
    pub(crate) auth: AuthDevice,
    pub(crate) channel: Channel,
    pub(crate) ids: Vec<sotay_sync_core::RecordId>,
    pub(crate) prepared: Vec<Prepared>,
    pub(crate) pending: PendingBounds,
    /// An audit action to write with each stored record, in the same transaction.
    pub(crate) audit: Option<&'static str>,
}

/// Bounds on the changes one device may leave waiting for their dependencies.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PendingBounds {
    pub(crate) max_changes: i64,
    pub(crate) max_bytes: i64,
    pub(crate) max_age_ms: i64,
}

/// Why one record of a push is refused: a rule of [`sotay_sync_core::rules`], or an error of the
/// request itself.
pub(crate) enum Refused {
    /// A write rule (schema, identity, role, transition).
    Rule(Refusal),
    /// Anything else; only 403 and 422 are per-record, other errors fail the push.
    Api(ApiError),
}

impl From<ApiError> for Refused {
    fn from(e: ApiError) -> Self {
        Refused::Api(e)
    }
}

impl From<Refusal> for Refused {
    fn from(r: Refusal) -> Self {
        Refused::Rule(r)
    }
}

impl Refused {
    /// The per-record refusal for the answer, or the error itself if it is not one (storage
    /// failures fail the push).
    pub(crate) fn into_rejection(self, id: RecordId) -> Result<Rejection, ApiError> {
        match self {
            Refused::Rule(r) => {
                let code = match r.reason {
                    Reason::NotAllowed | Reason::IdentityRewritten => "forbidden",
                    _ => "unprocessable",
                };
                Ok(Rejection {
                    record: id.as_bytes().to_vec(),
                    code: code.into(),
                    message: format!("record {id}: {}", r.message(sotay_sync_core::Lang::En)),
                    reason: Some(r.reason.code().into()),
                    field: r.field.map(str::to_string),
                })
            }
            Refused::Api(e) => {
                let code = match &e {
                    ApiError::Forbidden(_) => "forbidden",
                    ApiError::Unprocessable(_) => "unprocessable",
                    _ => return Err(e),
                };
                Ok(Rejection {
                    record: id.as_bytes().to_vec(),
                    code: code.into(),
                    message: e.to_string(),
                    reason: None,
                    field: None,
                })
            }
        }
    }
}

/// Writes one push inside the writer's transaction (under its own savepoint): checks each record
/// is still the version it was merged from (optimistic concurrency; a record changed meanwhile is
/// merged again here), then writes pending changes, the log and the records.
pub(crate) async fn write_job(tx: &mut sqlx::Transaction<'_, Any>, job: WriteJob) -> Result<Vec<Rejection>, ApiError> {
    let WriteJob { auth, channel, ids, prepared, pending, audit } = job;
    let mut rejected = Vec::new();
    let now = crate::now_ms();
    // Waiting changes expire: what they wait for is a phone's own earlier change, and a phone
    // that has not sent it within the bound has lost it (docs/sync-protocol.md, §8.1).
    // The commune's own only: the query stays in its partition, and a commune's waiting changes
    // matter only to its own writes.
    sqlx::query("DELETE FROM pending_changes WHERE commune_id = $1 AND received_at < $2")
        .bind(auth.commune.as_bytes().as_slice())
        .bind(now - pending.max_age_ms)
        .execute(&mut **tx)
        .await?;
    let mut waiting: Option<(i64, i64)> = None;
    let versions = read_versions(tx, auth.commune, &ids).await?;
    let mut villages_checked = std::collections::HashSet::new();
    let mut ready = Vec::with_capacity(prepared.len());
    for p in prepared {
        let p = if versions.get(&p.id).copied() == p.based_on {
            p
        } else {
            let one = [p.id];
            let s = read_stored(&mut **tx, auth.commune, &one).await?.remove(&p.id);
            let q = read_pending(&mut **tx, auth.commune, &one, auth.device).await?.remove(&p.id).unwrap_or_default();
            let id = p.id;
            match prepare(&auth, channel, id, p.incoming, s, q) {
                Ok(p) => p,
                Err(e) => {
                    rejected.push(e.into_rejection(id)?);
                    continue;
                }
            }
        };
        if let Err(e) = check_village(tx, &auth, &p, &mut villages_checked).await {
            rejected.push(Refused::Api(e).into_rejection(p.id)?);
            continue;
        }
        if !p.still_pending.is_empty() {
            let (count, bytes) = match waiting {
                Some(w) => w,
                None => pending_of(tx, auth.commune, auth.device).await?,
            };
            let (count, bytes) = (
                count + p.still_pending.len() as i64,
                bytes + p.still_pending.iter().map(|c| c.bytes.len() as i64).sum::<i64>(),
            );
            if count > pending.max_changes || bytes > pending.max_bytes {
                let e = ApiError::Unprocessable(format!(
                    "record {}: too many changes from this device are waiting for earlier changes it has not sent \
                     ({count} changes, {bytes} bytes; the bound is {} changes, {} bytes)",
                    p.id, pending.max_changes, pending.max_bytes
                ));
                rejected.push(Refused::Api(e).into_rejection(p.id)?);
                continue;
            }
            waiting = Some((count, bytes));
        }
        write_pending(tx, &auth, &p, now).await?;
        ready.push(p);
    }
    write_log_and_records(tx, &auth, &ready, now).await?;
    if let Some(action) = audit {
        for p in &ready {
            crate::admin::audit(tx, Some(auth.user), Some(auth.device), action, Some(p.id.as_bytes()), "").await?;
        }
    }
    Ok(rejected)
}

/// How many changes of `device`, and how many bytes, wait for their dependencies.
async fn pending_of(
    tx: &mut sqlx::Transaction<'_, Any>,
    commune: CommuneId,
    device: DeviceId,
) -> Result<(i64, i64), ApiError> {
    let row = sqlx::query(
        "SELECT COUNT(*), CAST(COALESCE(SUM(LENGTH(bytes)), 0) AS BIGINT) FROM pending_changes
         WHERE commune_id = $1 AND device_id = $2",
    )
    .bind(commune.as_bytes().as_slice())
    .bind(device.as_bytes().as_slice())
    .fetch_one(&mut **tx)
    .await?;
    Ok((row.get(0), row.get(1)))
}

/// A query over a commune's records named by id: the commune bound as `$1` (every lookup names
/// the commune, so PostgreSQL reads one partition), the ids as `$2` onwards.
fn with_ids<'q>(
    sql: String,
    commune: CommuneId,
    ids: &'q [RecordId],
) -> sqlx::query::Query<'q, Any, sqlx::any::AnyArguments> {
    let q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(commune.as_bytes().to_vec());
    ids.iter().fold(q, |q, id| q.bind(id.as_bytes().as_slice()))
}

/// `$2, $3, …`: the placeholders of the ids bound by [`with_ids`].
fn id_placeholders(n: usize) -> String {
    (2..n + 2).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ")
}

/// What the commune's database holds of these records.
pub(crate) async fn read_stored<'e, E: sqlx::Executor<'e, Database = Any>>(
    db: E,
    commune: CommuneId,
    ids: &[RecordId],
) -> Result<std::collections::HashMap<RecordId, Stored>, ApiError> {
    let sql = format!(
        "SELECT r.id, r.commune_id, r.village_id, r.kind, r.owner_device, r.doc, r.updated_seq,
                (SELECT COUNT(*) FROM pending_changes p WHERE p.commune_id = r.commune_id AND p.record_id = r.id),
                COALESCE(r.history_purged_at, 0)
         FROM records r WHERE r.commune_id = $1 AND r.id IN ({})",
        id_placeholders(ids.len())
    );
    let rows = with_ids(sql, commune, ids).fetch_all(db).await?;
    let mut out = std::collections::HashMap::with_capacity(rows.len());
    for row in rows {
        let id = RecordId::from_slice(&row.get::<Vec<u8>, _>(0)).ok_or_else(corrupt)?;
        let scope = Scope {
            commune: CommuneId::from_slice(&row.get::<Vec<u8>, _>(1)).ok_or_else(corrupt)?,
            village: VillageId::from_slice(&row.get::<Vec<u8>, _>(2)).ok_or_else(corrupt)?,
            kind: RecordKind::from_code(&row.get::<String, _>(3)).ok_or_else(corrupt)?,
            owner_device: DeviceId::from_slice(&row.get::<Vec<u8>, _>(4)).ok_or_else(corrupt)?,
        };
        out.insert(
            id,
            Stored { scope, doc: row.get(5), version: (row.get(6), row.get(7)), purged: row.get::<i64, _>(8) != 0 },
        );
    }
    Ok(out)
}

/// The changes of `device` that wait for their dependencies. Only the device's own: what they
/// wait for can only be its own earlier changes (anything else it saw came from the log), so
/// they are applied when that device pushes again, and checked as its writes.
pub(crate) async fn read_pending<'e, E: sqlx::Executor<'e, Database = Any>>(
    db: E,
    commune: CommuneId,
    ids: &[RecordId],
    device: DeviceId,
) -> Result<std::collections::HashMap<RecordId, Vec<Incoming>>, ApiError> {
    let sql = format!(
        "SELECT record_id, hash, bytes FROM pending_changes
         WHERE commune_id = $1 AND record_id IN ({}) AND device_id = ${}",
        id_placeholders(ids.len()),
        ids.len() + 2
    );
    let rows = with_ids(sql, commune, ids).bind(device.as_bytes().as_slice()).fetch_all(db).await?;
    let mut out: std::collections::HashMap<RecordId, Vec<Incoming>> = std::collections::HashMap::new();
    for row in rows {
        let id = RecordId::from_slice(&row.get::<Vec<u8>, _>(0)).ok_or_else(corrupt)?;
        let hash: [u8; 32] = row.get::<Vec<u8>, _>(1).try_into().map_err(|_| corrupt())?;
        out.entry(id).or_default().push(Incoming { hash, bytes: row.get(2) });
    }
    Ok(out)
}

async fn read_versions(
    tx: &mut sqlx::Transaction<'_, Any>,
    commune: CommuneId,
    ids: &[RecordId],
) -> Result<std::collections::HashMap<RecordId, (i64, i64)>, ApiError> {
    let sql = format!(
        "SELECT r.id, r.updated_seq,
                (SELECT COUNT(*) FROM pending_changes p WHERE p.commune_id = r.commune_id AND p.record_id = r.id)
         FROM records r WHERE r.commune_id = $1 AND r.id IN ({})",
        id_placeholders(ids.len())
    );
    let rows = with_ids(sql, commune, ids).fetch_all(&mut **tx).await?;
    rows.into_iter()
        .map(|row| {
            let id = RecordId::from_slice(&row.get::<Vec<u8>, _>(0)).ok_or_else(corrupt)?;
            Ok((id, (row.get(1), row.get(2))))
        })
        .collect()
}

/// Merges a push into a record and projects it. CPU only: no database, no await.
pub(crate) fn prepare(
    auth: &AuthDevice,
    channel: Channel,
    id: RecordId,
    incoming: Vec<Incoming>,
    stored: Option<Stored>,
    pending: Vec<Incoming>,
) -> Result<Prepared, Refused> {
    let all: Vec<Vec<u8>> = incoming.iter().chain(&pending).map(|c| c.bytes.clone()).collect();
    let unprocessable = |e: sotay_sync_core::RecordError| ApiError::Unprocessable(format!("record {id}: {e}"));
    let based_on = stored.as_ref().map(|s| s.version);
    let purged = stored.as_ref().is_some_and(|s| s.purged);
    let (mut record, new_changes, scope) = match stored {
        Some(stored) => {
            if !stored.scope.writable_by(auth, channel) {
                return Err(ApiError::Forbidden(format!("record {id} is outside this device's scope")).into());
            }
            let mut record = Record::load(&stored.doc, None).map_err(|e| ApiError::Internal(e.into()))?;
            let heads = record.heads();
            record.apply_changes(&all).map_err(unprocessable)?;
            let new_changes = record.changes_since(&heads);
            (record, new_changes, stored.scope)
        }
        None => {
            let mut record = Record::from_changes(&all, None).map_err(|e| {
                ApiError::Unprocessable(format!(
                    "record {id}: the first change of a new record is missing or invalid: {e}"
                ))
            })?;
            if record.id() != id {
                return Err(ApiError::Unprocessable(format!("record {id}: the document carries another id")).into());
            }
            let scope = Scope {
                commune: record.commune(),
                village: record.village(),
                kind: record.kind(),
                owner_device: record
                    .creation()
                    .device
                    .ok_or_else(|| ApiError::Unprocessable(format!("record {id}: the creating device is unknown")))?,
            };
            if scope.owner_device != auth.device || !scope.writable_by(auth, channel) {
                return Err(ApiError::Forbidden(format!("record {id} is outside this device's scope")).into());
            }
            // The common case, a record created in one change: that change is the whole log entry.
            let new_changes = match incoming.as_slice() {
                [only] if pending.is_empty() => vec![(only.hash, Some(auth.device), only.bytes.clone())],
                _ => record.changes_since(&[]),
            };
            (record, new_changes, scope)
        }
    };
    if record.author_of(auth.device) != Some(auth.user) {
        return Err(ApiError::Forbidden(format!("record {id}: changes must name the device's user as author")).into());
    }
    if record.commune() != scope.commune || record.village() != scope.village {
        return Err(ApiError::Unprocessable(format!("record {id}: commune and village are fixed at creation")).into());
    }
    // Who may write what (sotay_sync_core::rules), change by change. A day of leeway on "today":
    // a phone east of the server's clock may submit a record held on its own today.
    let checked: Vec<([u8; 32], &[u8])> =
        new_changes.iter().map(|(hash, _, bytes)| (*hash, bytes.as_slice())).collect();
    let today = sotay_sync_core::Date::from_unix_ms(crate::now_ms() + 24 * 3600 * 1000);
    sotay_sync_core::guard::check_changes(&mut record, &checked, Writer { role: auth.role, channel }, today)?;
    let applied_pending = pending.iter().filter(|c| record.has_change(&c.hash)).map(|c| c.hash).collect();
    let still_pending: Vec<Incoming> = incoming.iter().filter(|c| !record.has_change(&c.hash)).cloned().collect();
    if purged && !still_pending.is_empty() {
        // What they wait for was purged: they would wait for ever. The phone keeps them aside.
        return Err(ApiError::Unprocessable(format!(
            "record {id}: its history was purged, so changes made before that cannot be applied; \
             enter them again on the record as it is now"
        ))
        .into());
    }
    let view = record.view();
    Ok(Prepared {
        id,
        based_on,
        scope,
        new_changes,
        applied_pending,
        still_pending,
        doc: record.save(),
        view_json: serde_json::to_string(&view).map_err(|e| ApiError::Internal(e.into()))?,
        review_state: view.review_state.to_string(),
        conflicted: !view.conflicts.is_empty() || view.delete_conflict,
        deleted: view.deleted,
        event_date: view.held_on.or(view.reported_on).map(|d| d.to_string()),
        created_by: view.created.user.map(|u| u.as_bytes().to_vec()).unwrap_or_default(),
        facts: crate::reports::projection::Facts::of(&view),
        incoming,
    })
}

async fn check_village(
    tx: &mut sqlx::Transaction<'_, Any>,
    auth: &AuthDevice,
    p: &Prepared,
    checked: &mut std::collections::HashSet<VillageId>,
) -> Result<(), ApiError> {
    if p.based_on.is_some() || auth.village == Some(p.scope.village) || checked.contains(&p.scope.village) {
        return Ok(());
    }
    let known = sqlx::query("SELECT 1 FROM villages WHERE id = $1 AND commune_id = $2")
        .bind(p.scope.village.as_bytes().as_slice())
        .bind(p.scope.commune.as_bytes().as_slice())
        .fetch_optional(&mut **tx)
        .await?;
    if known.is_none() {
        return Err(ApiError::Unprocessable(format!("record {}: unknown village", p.id)));
    }
    checked.insert(p.scope.village);
    Ok(())
}

/// Changes that waited for their dependencies and are now applied leave `pending_changes`;
/// incoming changes whose dependencies are still missing join it.
async fn write_pending(
    tx: &mut sqlx::Transaction<'_, Any>,
    auth: &AuthDevice,
    p: &Prepared,
    now: i64,
) -> Result<(), ApiError> {
    for hash in &p.applied_pending {
        sqlx::query("DELETE FROM pending_changes WHERE commune_id = $1 AND record_id = $2 AND hash = $3")
            .bind(p.scope.commune.as_bytes().as_slice())
            .bind(p.id.as_bytes().as_slice())
            .bind(hash.as_slice())
            .execute(&mut **tx)
            .await?;
    }
    for c in &p.still_pending {
        sqlx::query(
            "INSERT INTO pending_changes (commune_id, record_id, hash, device_id, bytes, received_at)
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
        )
        .bind(p.scope.commune.as_bytes().as_slice())
        .bind(p.id.as_bytes().as_slice())
        .bind(c.hash.as_slice())
        .bind(auth.device.as_bytes().as_slice())
        .bind(c.bytes.as_slice())
        .bind(now)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// Appends the new changes to the log and writes the merged records, many rows per statement.
/// Sequence numbers are per commune, assigned here, in order, inside the write transaction, which
/// holds the commune's log lock (`writer.rs`; SQLite has one writer), so they are also in commit
/// order within the commune and a cursor never skips a change.
async fn write_log_and_records(
    tx: &mut sqlx::Transaction<'_, Any>,
    auth: &AuthDevice,
    ready: &[Prepared],
    now: i64,
) -> Result<(), ApiError> {
    let mut next: BTreeMap<CommuneId, i64> = BTreeMap::new();
    let mut log = Vec::new();
    let mut records = Vec::new();
    for p in ready {
        if p.new_changes.is_empty() {
            continue;
        }
        let commune = p.scope.commune;
        let mut seq = match next.get(&commune) {
            Some(&seq) => seq,
            None => next_seq(tx, commune).await?,
        };
        for change in &p.new_changes {
            log.push((seq, p, change));
            seq += 1;
        }
        records.push((seq - 1, p));
        next.insert(commune, seq);
    }
    for chunk in log.chunks(crate::db::ROWS_PER_INSERT) {
        let sql = crate::db::multi_row_sql(
            tx,
            "INSERT INTO changes (seq, commune_id, village_id, record_id, sensitive, owner_device, device_id, hash, bytes, received_at)",
            10,
            chunk.len(),
            "",
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (seq, p, (hash, device, bytes)) in chunk {
            q = q
                .bind(*seq)
                .bind(p.scope.commune.as_bytes().as_slice())
                .bind(p.scope.village.as_bytes().as_slice())
                .bind(p.id.as_bytes().as_slice())
                .bind(p.scope.kind == RecordKind::GbvReferral)
                .bind(p.scope.owner_device.as_bytes().as_slice())
                .bind(device.unwrap_or(auth.device).as_bytes().as_slice())
                .bind(hash.as_slice())
                .bind(bytes.as_slice())
                .bind(now);
        }
        q.execute(&mut **tx).await?;
    }
    for chunk in records.chunks(crate::db::ROWS_PER_INSERT) {
        let sql = crate::db::multi_row_sql(
            tx,
            "INSERT INTO records (commune_id, village_id, id, kind, owner_device, created_by, doc, view, review_state, conflicted, deleted, event_date, updated_seq)",
            13,
            chunk.len(),
            " ON CONFLICT (commune_id, id) DO UPDATE SET doc = excluded.doc, view = excluded.view, review_state = excluded.review_state,
               conflicted = excluded.conflicted, deleted = excluded.deleted, event_date = excluded.event_date,
               updated_seq = excluded.updated_seq",
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (seq, p) in chunk {
            q = q
                .bind(p.scope.commune.as_bytes().as_slice())
                .bind(p.scope.village.as_bytes().as_slice())
                .bind(p.id.as_bytes().as_slice())
                .bind(p.scope.kind.code())
                .bind(p.scope.owner_device.as_bytes().as_slice())
                .bind(p.created_by.as_slice())
                .bind(p.doc.as_slice())
                .bind(p.view_json.as_str())
                .bind(p.review_state.as_str())
                .bind(p.conflicted)
                .bind(p.deleted)
                .bind(p.event_date.as_deref())
                .bind(*seq);
        }
        q.execute(&mut **tx).await?;
    }
    crate::reports::projection::write(tx, records.iter().map(|(_, p)| &p.facts), now).await?;
    Ok(())
}

/// The commune's next log sequence number. The caller holds the commune's log lock.
pub(crate) async fn next_seq(tx: &mut sqlx::Transaction<'_, Any>, commune: CommuneId) -> sqlx::Result<i64> {
    let last: Option<i64> = sqlx::query("SELECT MAX(seq) FROM changes WHERE commune_id = $1")
        .bind(commune.as_bytes().as_slice())
        .fetch_one(&mut **tx)
        .await?
        .get(0);
    Ok(last.unwrap_or(0) + 1)
}

fn corrupt() -> ApiError {
    ApiError::Internal(anyhow::anyhow!("a stored record row is corrupt"))
}

/// Where a record lives and who owns it, fixed at creation.
#[derive(Clone, Copy)]
pub(crate) struct Scope {
    pub(crate) commune: CommuneId,
    village: VillageId,
    pub(crate) kind: RecordKind,
    owner_device: DeviceId,
}

impl Scope {
    /// Whether this device may change the record at all (the access policy, `crate::policy`).
    fn writable_by(&self, auth: &AuthDevice, channel: Channel) -> bool {
        let rel = crate::policy::Relation {
            same_commune: self.commune == auth.commune,
            own_village: self.commune == auth.commune && auth.village == Some(self.village),
            own_device: self.commune == auth.commune && self.owner_device == auth.device,
        };
        crate::policy::may_write(auth.role, self.kind, rel, channel)
    }
}
