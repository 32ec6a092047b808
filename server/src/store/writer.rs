//! Group commit: one task owns every sync write. It takes the pushes waiting for it, writes each
//! under its own savepoint in one transaction, commits once, then acknowledges each push.
//!
//! Why: with `synchronous=FULL` every commit waits for the disk, and SQLite has one writer, so
//! one transaction per push caps throughput at one push per disk flush. Batching keeps the
//! durability contract (a push is acknowledged only after the commit that stored it) while the
//! flush is shared by every push waiting at that moment. A push that fails is rolled back to its
//! savepoint and answered with its own error; the others commit.

use super::records::{WriteJob, write_job};
use crate::db::Db;
use crate::error::ApiError;
use sotay_sync_core::wire::Rejection;
use sotay_sync_core::{CommuneId, RecordId, RecordKind};
use std::collections::{BTreeMap, BTreeSet};
use tokio::sync::{mpsc, oneshot};

/// Most pushes written in one transaction.
const MAX_BATCH: usize = 128;

type Queued = (WriteJob, oneshot::Sender<Result<Vec<Rejection>, ApiError>>);

/// Handle to the writer task. Cloning it is cheap; the task ends when every handle is dropped.
#[derive(Debug, Clone)]
pub struct Writer {
    queue: mpsc::Sender<Queued>,
}

/// What the writer does beside writing records.
#[derive(Debug, Clone, Copy)]
pub struct WriterOptions {
    /// Look for suspected duplicates among the activities of each batch (`crate::duplicates`).
    pub detect_duplicates: bool,
}

impl Writer {
    /// Starts the writer task on `db`'s write pool.
    pub fn start(db: Db, options: WriterOptions) -> Writer {
        let (queue, jobs) = mpsc::channel(1024);
        tokio::spawn(run(db, jobs, options));
        Writer { queue }
    }

    /// Writes a push; returns once it is committed, with the records refused on the way.
    pub(crate) async fn submit(&self, job: WriteJob) -> Result<Vec<Rejection>, ApiError> {
        let (reply, answer) = oneshot::channel();
        self.queue.send((job, reply)).await.map_err(|_| ApiError::Unavailable)?;
        answer.await.map_err(|_| ApiError::Unavailable)?
    }
}

async fn run(db: Db, mut jobs: mpsc::Receiver<Queued>, options: WriterOptions) {
    while let Some(first) = jobs.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        write_batch(&db, batch, options).await;
    }
}

async fn write_batch(db: &Db, batch: Vec<Queued>, options: WriterOptions) {
    let mut tx = match db.begin_write().await {
        Ok(tx) => tx,
        Err(e) => {
            fail_all(batch.into_iter().map(|(_, reply)| reply), &e, "beginning a transaction");
            return;
        }
    };
    // With several server instances on one PostgreSQL, a commune's log appends must commit in
    // sequence order (or a device could move its cursor past a change that commits later): one
    // lock per commune written, held until this transaction commits, orders them, and writers of
    // other communes do not wait. Taken in one order, so two batches cannot deadlock. SQLite has
    // a single writer already.
    if db.backend == crate::db::Backend::Postgres {
        let communes: Vec<CommuneId> =
            batch.iter().flat_map(|(job, _)| job.prepared.iter().map(|p| p.scope.commune)).collect();
        if let Err(e) = lock_logs(&mut tx, &communes).await {
            fail_all(batch.into_iter().map(|(_, reply)| reply), &e, "taking the log lock");
            return;
        }
    }
    let mut outcomes = Vec::with_capacity(batch.len());
    // The activities written, by commune, for duplicate detection once the batch is written.
    let mut activities: BTreeMap<CommuneId, Vec<RecordId>> = BTreeMap::new();
    let mut spoiled = None;
    for (job, reply) in batch {
        if spoiled.is_some() {
            outcomes.push((Err(ApiError::Unavailable), reply));
            continue;
        }
        let written: Vec<(CommuneId, RecordId)> = job
            .prepared
            .iter()
            .filter(|p| options.detect_duplicates && p.scope.kind == RecordKind::Activity)
            .map(|p| (p.scope.commune, p.id))
            .collect();
        let outcome = match crate::db::in_savepoint(&mut tx, |sp| Box::pin(write_job(sp, job))).await {
            Ok(outcome) => outcome,
            Err(e) => {
                spoiled = Some(e);
                Err(ApiError::Unavailable)
            }
        };
        if outcome.is_ok() {
            for (commune, id) in written {
                activities.entry(commune).or_default().push(id);
            }
        }
        outcomes.push((outcome, reply));
    }
    if spoiled.is_none() {
        spoiled = detect_duplicates(&mut tx, &activities).await.err();
    }
    if let Some(e) = spoiled {
        let _ = tx.rollback().await;
        fail_all(outcomes.into_iter().map(|(_, reply)| reply), &e, "writing a batch");
        return;
    }
    match tx.commit().await {
        Ok(()) => {
            for (outcome, reply) in outcomes {
                let _ = reply.send(outcome);
            }
        }
        Err(e) => fail_all(outcomes.into_iter().map(|(_, reply)| reply), &e, "committing"),
    }
}

/// Suspected duplicates among the activities a batch wrote, recorded in its transaction under a
/// savepoint of their own: if detection fails, the records are written anyway (the next edit of
/// either record looks again). An error means the transaction is spoiled ([`crate::db::in_savepoint`]).
async fn detect_duplicates(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    activities: &BTreeMap<CommuneId, Vec<RecordId>>,
) -> Result<(), sqlx::Error> {
    for (commune, ids) in activities {
        let (commune, ids) = (*commune, ids.clone());
        let found = crate::db::in_savepoint(tx, move |sp| {
            Box::pin(async move { crate::duplicates::detect(sp, commune, &ids).await })
        })
        .await?;
        if let Err(e) = found {
            tracing::warn!(error = %e, "looking for suspected duplicates failed");
        }
    }
    Ok(())
}

/// Takes the PostgreSQL log lock of each commune (a transaction-scoped advisory lock, released by
/// the commit), in the order of their keys. The one place that names the lock: `purge.rs` takes it
/// through here too.
pub(crate) async fn lock_logs(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    communes: &[CommuneId],
) -> sqlx::Result<()> {
    let keys: BTreeSet<i32> = communes.iter().copied().map(log_lock_key).collect();
    for key in keys {
        sqlx::query("SELECT pg_advisory_xact_lock(7243, $1)").bind(key).execute(&mut **tx).await?;
    }
    Ok(())
}

/// A commune's PostgreSQL log lock is the advisory lock `(7243, log_lock_key(commune))`: its id
/// folded to 32 bits (ids are random, so two communes rarely share a key, and when they do they
/// only wait for each other).
pub fn log_lock_key(commune: CommuneId) -> i32 {
    commune.as_bytes().chunks(4).fold(0u32, |k, c| k ^ u32::from_be_bytes([c[0], c[1], c[2], c[3]])) as i32
}

/// Answers every push of a batch that could not be written: 503 when the database is busy or
/// unreachable (the phone retries; nothing was acknowledged), else an internal error.
fn fail_all(
    replies: impl Iterator<Item = oneshot::Sender<Result<Vec<Rejection>, ApiError>>>,
    e: &sqlx::Error,
    doing: &str,
) {
    let transient = crate::db::is_transient(e);
    let msg = e.to_string();
    for reply in replies {
        let err = if transient { ApiError::Unavailable } else { ApiError::Internal(anyhow::anyhow!("{doing}: {msg}")) };
        let _ = reply.send(Err(err));
    }
}
