//! The sync loop: round trips until nothing is left to send or receive, surviving a village link.
//!
//! Every round is safe to repeat: the device commits an answer whole or not at all, and the
//! server stores a change once however often it arrives. So a round that fails on the network
//! (no answer, a cut body, an answer lost after the server committed) is simply tried again after
//! a backoff with jitter, by itself, without the person touching anything; what it costs is at
//! most the one batch that was in flight. After a failure the push is halved (a smaller request
//! gets through a fading link), and grows back after successes. The retries stop by themselves:
//! after `RetryPolicy::max_attempts` failures in a row, or when the app cancels.

use crate::error::ClientError;
use crate::http::{Client, WireStats};
use sotay_sync_core::device::{Device, DeviceStore};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Largest push per sync request, in change bytes, on a good day.
pub const MAX_PUSH_BYTES: usize = 256 * 1024;
/// Smallest push the halving goes down to.
pub const MIN_PUSH_BYTES: usize = 8 * 1024;

/// When to try a failed round again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Failures in a row after which the sync gives up (1 = never retry).
    pub max_attempts: u32,
    /// The first wait.
    pub initial_backoff: Duration,
    /// The longest wait.
    pub max_backoff: Duration,
}

impl RetryPolicy {
    /// No retries: the first failure ends the sync (tests that want to see it).
    pub const NONE: RetryPolicy =
        RetryPolicy { max_attempts: 1, initial_backoff: Duration::ZERO, max_backoff: Duration::ZERO };

    /// The wait before attempt `attempt + 1` (attempt counts failures so far, from 1): exponential
    /// with full jitter, at least what the server asked for.
    pub fn backoff(&self, attempt: u32, server_asked: Option<Duration>) -> Duration {
        let exp = self.initial_backoff.saturating_mul(1u32 << attempt.saturating_sub(1).min(16));
        let cap = exp.min(self.max_backoff);
        let jittered = cap.mul_f64(0.5 + rand::random::<f64>() * 0.5);
        jittered.max(server_asked.unwrap_or_default().min(self.max_backoff))
    }
}

impl Default for RetryPolicy {
    /// About two minutes of trying (1, 2, 4, 8, 16, 30, 30 s with jitter) before giving up.
    fn default() -> Self {
        RetryPolicy { max_attempts: 8, initial_backoff: Duration::from_secs(1), max_backoff: Duration::from_secs(30) }
    }
}

/// Cancels a sync from another thread (the app's "stop" button, or the app going away). The sync
/// stops at once, mid-request if need be; what was committed stays, what was not is sent next time.
#[derive(Debug, Clone, Default)]
pub struct CancelToken {
    inner: Arc<CancelInner>,
}

#[derive(Debug, Default)]
struct CancelInner {
    cancelled: AtomicBool,
    notify: tokio::sync::Notify,
}

impl CancelToken {
    /// A fresh token.
    pub fn new() -> CancelToken {
        CancelToken::default()
    }

    /// Cancels every sync using this token.
    pub fn cancel(&self) {
        self.inner.cancelled.store(true, Ordering::SeqCst);
        self.inner.notify.notify_waiters();
    }

    /// Whether it was cancelled.
    pub fn is_cancelled(&self) -> bool {
        self.inner.cancelled.load(Ordering::SeqCst)
    }

    /// Forgets an earlier cancellation (before the next sync).
    pub fn reset(&self) {
        self.inner.cancelled.store(false, Ordering::SeqCst);
    }

    /// Runs `fut` unless cancelled first.
    pub async fn run<T>(&self, fut: impl Future<Output = Result<T, ClientError>>) -> Result<T, ClientError> {
        let notified = self.inner.notify.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        if self.is_cancelled() {
            return Err(ClientError::Cancelled);
        }
        tokio::select! {
            r = fut => r,
            _ = notified => Err(ClientError::Cancelled),
        }
    }
}

/// Where a sync stands, reported after every round and before every retry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncStatus {
    /// Round trips completed.
    pub round_trips: usize,
    /// Local changes the server acknowledged so far.
    pub changes_sent: usize,
    /// Local changes still to send.
    pub changes_pending: usize,
    /// Records received or updated so far.
    pub records_received: usize,
    /// Request bytes sent (bodies, compressed).
    pub bytes_sent: usize,
    /// Response bytes received.
    pub bytes_received: usize,
    /// Failed attempts so far (retried).
    pub retries: u32,
    /// Set while waiting before a retry: how long.
    pub retrying_in: Option<Duration>,
}

/// Told the progress after every round and before every retry.
pub type ProgressFn = Arc<dyn Fn(&SyncStatus) + Send + Sync>;

/// How to sync.
#[derive(Clone, Default)]
pub struct SyncOptions {
    /// Retries of failed rounds.
    pub retry: RetryPolicy,
    /// Largest push per request (0: [`MAX_PUSH_BYTES`]).
    pub max_push_bytes: usize,
    /// Cancellation.
    pub cancel: CancelToken,
    /// Called with the progress after every round and before every retry.
    pub progress: Option<ProgressFn>,
}

impl std::fmt::Debug for SyncOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyncOptions").field("retry", &self.retry).field("max_push_bytes", &self.max_push_bytes).finish()
    }
}

impl SyncOptions {
    /// One attempt per round, no retries (tests that want to see a failure).
    pub fn once() -> SyncOptions {
        SyncOptions { retry: RetryPolicy::NONE, ..SyncOptions::default() }
    }
}

/// What a whole sync did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncReport {
    /// Round trips made (successful ones).
    pub round_trips: usize,
    /// Bytes sent and received (bodies of successful round trips).
    pub wire: WireStats,
    /// Local changes acknowledged.
    pub acked: usize,
    /// Records received or updated.
    pub records_received: usize,
    /// Local changes the server refused (kept aside on the device).
    pub rejected: usize,
    /// The device was reset because its user's village or role changed.
    pub reset: bool,
    /// Failed attempts that were retried.
    pub retries: u32,
}

/// Runs a request, retrying it on network faults and busy answers as `options.retry` says
/// (for requests that are safe to repeat: a token, an enrolment with a phone-chosen secret).
pub async fn with_retries<T, F, Fut>(options: &SyncOptions, mut f: F) -> Result<T, ClientError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, ClientError>>,
{
    let mut failures = 0u32;
    loop {
        match options.cancel.run(f()).await {
            Err(e) if e.is_transient() && failures + 1 < options.retry.max_attempts => {
                failures += 1;
                let wait = options.retry.backoff(failures, retry_after(&e));
                tracing::info!(error = %e, attempt = failures, wait_ms = wait.as_millis() as u64, "request failed; retrying");
                sleep(options, wait).await?;
            }
            other => return other,
        }
    }
}

fn retry_after(e: &ClientError) -> Option<Duration> {
    match e {
        ClientError::Server { retry_after, .. } => *retry_after,
        _ => None,
    }
}

async fn sleep(options: &SyncOptions, wait: Duration) -> Result<(), ClientError> {
    options
        .cancel
        .run(async {
            tokio::time::sleep(wait).await;
            Ok(())
        })
        .await
}

impl Client {
    /// Syncs a device until nothing is left to send or receive, one attempt per round.
    pub async fn sync<S: DeviceStore>(&self, device: &mut Device<S>, token: &str) -> Result<SyncReport, ClientError> {
        self.sync_with(device, token, &SyncOptions::once()).await
    }

    /// Syncs a device until nothing is left to send or receive, retrying failed rounds.
    pub async fn sync_with<S: DeviceStore>(
        &self,
        device: &mut Device<S>,
        token: &str,
        options: &SyncOptions,
    ) -> Result<SyncReport, ClientError> {
        let ceiling = if options.max_push_bytes == 0 { MAX_PUSH_BYTES } else { options.max_push_bytes };
        let mut push_bytes = ceiling;
        let mut report = SyncReport::default();
        let mut failures = 0u32;
        let status = |report: &SyncReport, pending: usize, retrying_in: Option<Duration>| SyncStatus {
            round_trips: report.round_trips,
            changes_sent: report.acked,
            changes_pending: pending,
            records_received: report.records_received,
            bytes_sent: report.wire.request_bytes,
            bytes_received: report.wire.response_bytes,
            retries: report.retries,
            retrying_in,
        };
        loop {
            let round = options.cancel.run(self.round(device, token, push_bytes)).await;
            let (progress, stats, pending_before) = match round {
                Ok(r) => r,
                Err(e) if e.is_transient() && failures + 1 < options.retry.max_attempts => {
                    failures += 1;
                    report.retries += 1;
                    push_bytes = (push_bytes / 2).max(MIN_PUSH_BYTES);
                    let wait = options.retry.backoff(failures, retry_after(&e));
                    tracing::info!(error = %e, attempt = failures, wait_ms = wait.as_millis() as u64, "sync round failed; retrying");
                    if let Some(p) = &options.progress {
                        p(&status(&report, device.pending()?, Some(wait)));
                    }
                    sleep(options, wait).await?;
                    continue;
                }
                Err(e) => return Err(e),
            };
            failures = 0;
            push_bytes = (push_bytes * 2).min(ceiling);
            report.round_trips += 1;
            report.wire.request_bytes += stats.request_bytes;
            report.wire.response_bytes += stats.response_bytes;
            report.acked += progress.acked;
            report.records_received += progress.records_received;
            report.rejected += progress.rejected;
            let pending = device.pending()?;
            if let Some(p) = &options.progress {
                p(&status(&report, pending, None));
            }
            if progress.reset {
                // Moved to another village or role: the next round takes the new scope and provisions.
                report.reset = true;
                continue;
            }
            let pushing_more = pending > 0 && pending < pending_before;
            if !progress.more && !pushing_more {
                return Ok(report);
            }
        }
    }

    /// One round: the scope refreshed if provisioning starts, the request prepared from the
    /// store, sent, and its answer applied atomically.
    async fn round<S: DeviceStore>(
        &self,
        device: &mut Device<S>,
        token: &str,
        push_bytes: usize,
    ) -> Result<(sotay_sync_core::device::SyncProgress, WireStats, usize), ClientError> {
        if device.needs_provisioning()? {
            // About to be provisioned (new, or reset): take the scope the server has now, so a
            // move that happened before, or an interrupted reset, cannot leave a stale village.
            let me = self.me(token).await?;
            let mut identity = device.identity();
            identity.commune = me.commune_id;
            identity.village = me.village_id.unwrap_or(sotay_sync_core::VillageId(uuid::Uuid::nil()));
            device.set_identity(identity);
        }
        let req = device.prepare_sync(push_bytes)?;
        let pending_before = device.pending()?;
        let (resp, stats) = self.sync_once(token, &req).await?;
        let progress = device.apply_sync(&req, resp)?;
        Ok((progress, stats, pending_before))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_is_capped_and_respects_the_server() {
        let p = RetryPolicy::default();
        for attempt in 1..20 {
            let d = p.backoff(attempt, None);
            let cap = p.initial_backoff.saturating_mul(1 << (attempt - 1).min(16)).min(p.max_backoff);
            assert!(d <= cap && d >= cap / 2, "{attempt}: {d:?}");
        }
        assert!(p.backoff(1, Some(Duration::from_secs(5))) >= Duration::from_secs(5));
        assert!(p.backoff(1, Some(Duration::from_secs(3600))) <= p.max_backoff);
    }

    #[tokio::test]
    async fn a_cancelled_token_stops_a_wait_at_once() {
        let token = CancelToken::new();
        let t = token.clone();
        let waiting = tokio::spawn(async move {
            t.run(async {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                Ok(())
            })
            .await
        });
        tokio::task::yield_now().await;
        token.cancel();
        assert_eq!(waiting.await.unwrap(), Err(ClientError::Cancelled));
        assert_eq!(token.run(async { Ok(1) }).await, Err(ClientError::Cancelled));
        token.reset();
        assert_eq!(token.run(async { Ok(1) }).await, Ok(1));
    }
}
