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
use sotay_sync_core::CommuneId;
use sotay_sync_core::wire::Rejection;
use std::collections::BTreeSet;
use tokio::sync::{mpsc, oneshot};

/// Most pushes written in one transaction.
const MAX_BATCH: usize = 128;

type Queued = (WriteJob, oneshot::Sender<Result<Vec<Rejection>, ApiError>>);

/// Handle to the writer task. Cloning it is cheap; the task ends when every handle is dropped.
#[derive(Debug, Clone)]
pub struct Writer {
    queue: mpsc::Sender<Queued>,
}

impl Writer {
    /// Starts the writer task on `db`'s write pool.
    pub fn start(db: Db) -> Writer {
        let (queue, jobs) = mpsc::channel(1024);
        tokio::spawn(run(db, jobs));
        Writer { queue }
    }

    /// Writes a push; returns once it is committed, with the records refused on the way.
    pub(crate) async fn submit(&self, job: WriteJob) -> Result<Vec<Rejection>, ApiError> {
        let (reply, answer) = oneshot::channel();
        self.queue.send((job, reply)).await.map_err(|_| ApiError::Unavailable)?;
        answer.await.map_err(|_| ApiError::Unavailable)?
    }
}

async fn run(db: Db, mut jobs: mpsc::Receiver<Queued>) {
    while let Some(first) = jobs.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        write_batch(&db, batch).await;
    }
}

async fn write_batch(db: &Db, batch: Vec<Queued>) {
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
    for (job, reply) in batch {
        let outcome = match sqlx::Connection::begin(&mut *tx).await {
            Ok(mut savepoint) => match write_job(&mut savepoint, job).await {
                Ok(rejected) => savepoint.commit().await.map(|()| rejected).map_err(ApiError::from),
                Err(e) => {
                    let _ = savepoint.rollback().await;
                    Err(e)
                }
            },
            Err(e) => Err(ApiError::from(e)),
        };
        outcomes.push((outcome, reply));
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
