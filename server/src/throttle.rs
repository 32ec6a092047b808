//! Throttling of password logins and enrolment codes, and the audit of refused attempts.
//!
//! An attempt holds a lock on each of its keys (an account, a client address) from the moment it
//! reads the key's count until its failure, if it fails, is counted in the same transaction that
//! audits it. So forty simultaneous guesses are decided one after another: five are checked, the
//! other thirty-five are refused, instead of forty reading the same count of zero. The locks are
//! per server instance; with several instances on one database, a burst split across them gets
//! at most the free attempts once per instance before the shared count stops it.
//!
//! Past [`FREE_ATTEMPTS`] failures in a window, each further attempt must wait a delay that
//! doubles up to [`MAX_DELAY_SECS`] (never a permanent lock-out, which an attacker could use to
//! keep a user out). A refused attempt is answered 429 with Retry-After and counted, not written:
//! the audit log gets one `<action>.throttled` row per key per [`AUDIT_WINDOW_MS`] carrying the
//! number of attempts refused since the previous row, so a flood cannot fill the log. Keys idle
//! for a window are deleted, their unreported refusals audited first.

use crate::admin::audit;
use crate::db::Db;
use crate::error::ApiError;
use sotay_sync_core::UserId;
use sqlx::{Any, Row, Transaction};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::OwnedMutexGuard;

/// Attempts counted within this window.
pub const WINDOW_MS: i64 = 15 * 60 * 1000;
/// Attempts allowed in the window before delays start.
pub const FREE_ATTEMPTS: i64 = 5;
/// The longest delay, in seconds.
pub const MAX_DELAY_SECS: i64 = 15 * 60;
/// At most one audit row of refused attempts per key in this window.
pub const AUDIT_WINDOW_MS: i64 = 60 * 1000;

/// What is throttled: `login` or `enrol` (the audit actions are `<action>.throttled`).
#[derive(Debug, Clone, Copy)]
pub enum Action {
    /// A password login.
    Login,
    /// An enrolment code.
    Enrol,
}

impl Action {
    fn code(self) -> &'static str {
        match self {
            Action::Login => "login",
            Action::Enrol => "enrol",
        }
    }
}

/// One throttled key: an account or a client address.
#[derive(Debug, Clone)]
pub struct Key {
    /// `user:<name>`, `addr:<ip>` or `enrol:<ip>`.
    pub key: String,
    /// The account it is about, if known (its commune's admins see the audit rows).
    pub user: Option<UserId>,
    /// Whether a success clears the key's failures (an account; not an address, which other
    /// people share).
    pub clear_on_success: bool,
}

/// The delay still owed after `attempts` counted attempts, the last at `last_at`.
fn wait_secs(attempts: i64, last_at: i64, now: i64) -> Option<u64> {
    if attempts < FREE_ATTEMPTS {
        return None;
    }
    let delay = 1i64.checked_shl((attempts - FREE_ATTEMPTS) as u32).unwrap_or(i64::MAX).min(MAX_DELAY_SECS);
    let until = last_at.saturating_add(delay * 1000);
    (until > now).then(|| ((until - now) as u64).div_ceil(1000))
}

/// The in-process locks on throttle keys.
#[derive(Debug, Default)]
pub struct KeyLocks {
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

/// Held locks on an attempt's keys; released when dropped.
#[derive(Debug)]
pub struct Held {
    _guards: Vec<OwnedMutexGuard<()>>,
}

impl KeyLocks {
    /// Locks every key of an attempt (in a fixed order, so two attempts never wait for each
    /// other crosswise), waiting up to `wait` (503 past it).
    pub async fn lock(&self, keys: &[Key], wait: Duration) -> Result<Held, ApiError> {
        let mut names: Vec<&str> = keys.iter().map(|k| k.key.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        let mutexes: Vec<_> = {
            let mut locks = self.locks.lock().unwrap_or_else(|e| e.into_inner());
            // Locks nobody holds or waits for are dropped, so the map stays as small as the
            // attempts in progress.
            locks.retain(|_, m| Arc::strong_count(m) > 1);
            names.into_iter().map(|n| locks.entry(n.to_string()).or_default().clone()).collect()
        };
        let all = async {
            let mut guards = Vec::with_capacity(mutexes.len());
            for m in mutexes {
                guards.push(m.lock_owned().await);
            }
            guards
        };
        let guards = tokio::time::timeout(wait, all).await.map_err(|_| ApiError::Unavailable)?;
        Ok(Held { _guards: guards })
    }
}

/// Whether an attempt may go ahead: 429 with the wait if any key must still wait, its refusal
/// counted for the audit log. Call with the keys locked.
pub async fn check(
    db: &Db,
    metrics: &crate::metrics::Metrics,
    action: Action,
    keys: &[Key],
    addr: &str,
    now: i64,
) -> Result<(), ApiError> {
    let mut waits = Vec::new();
    for k in keys {
        let row = sqlx::query("SELECT attempts, window_start, last_at FROM throttle WHERE key = $1")
            .bind(&k.key)
            .fetch_optional(&db.read)
            .await?;
        if let Some(r) = row
            && r.get::<i64, _>(1) > now - WINDOW_MS
            && let Some(wait) = wait_secs(r.get(0), r.get(2), now)
        {
            waits.push((k, wait));
        }
    }
    let Some(wait) = waits.iter().map(|&(_, w)| w).max() else { return Ok(()) };
    let mut tx = db.begin_write().await?;
    for (k, _) in waits {
        let row = sqlx::query("SELECT refused, audited_at FROM throttle WHERE key = $1")
            .bind(&k.key)
            .fetch_one(&mut *tx)
            .await?;
        let (refused, audited_at) = (row.get::<i64, _>(0) + 1, row.get::<i64, _>(1));
        let (refused, audited_at) = if now - audited_at >= AUDIT_WINDOW_MS {
            let detail = format!("{refused} attempts refused; key {} from {addr}", k.key);
            audit(&mut tx, k.user, None, &format!("{}.throttled", action.code()), None, &detail).await?;
            (0, now)
        } else {
            (refused, audited_at)
        };
        sqlx::query("UPDATE throttle SET refused = $1, audited_at = $2 WHERE key = $3")
            .bind(refused)
            .bind(audited_at)
            .bind(&k.key)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    metrics.throttled(action.code());
    Err(ApiError::TooManyRequests(wait))
}

/// Counts a failed attempt on every key, in the failure's own transaction (which audits it).
pub async fn failed(tx: &mut Transaction<'_, Any>, action: Action, keys: &[Key], now: i64) -> Result<(), sqlx::Error> {
    prune(tx, now).await?;
    for k in keys {
        let row = sqlx::query("SELECT attempts, window_start FROM throttle WHERE key = $1")
            .bind(&k.key)
            .fetch_optional(&mut **tx)
            .await?
            .map(|r| (r.get::<i64, _>(0), r.get::<i64, _>(1)))
            .filter(|&(_, window_start)| window_start > now - WINDOW_MS);
        let (attempts, window_start) = row.map_or((1, now), |(attempts, window_start)| (attempts + 1, window_start));
        sqlx::query(
            "INSERT INTO throttle (key, action, actor_user, attempts, window_start, last_at) VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (key) DO UPDATE SET attempts = $4, window_start = $5, last_at = $6",
        )
        .bind(&k.key)
        .bind(action.code())
        .bind(k.user.map(|u| u.as_bytes().to_vec()))
        .bind(attempts)
        .bind(window_start)
        .bind(now)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// Clears an account's failures after it succeeded (an address's stay: other people share it).
pub async fn succeeded(tx: &mut Transaction<'_, Any>, keys: &[Key]) -> Result<(), sqlx::Error> {
    for k in keys.iter().filter(|k| k.clear_on_success) {
        sqlx::query("DELETE FROM throttle WHERE key = $1").bind(&k.key).execute(&mut **tx).await?;
    }
    Ok(())
}

/// Deletes keys idle for a whole window, auditing refusals they had not reported yet.
async fn prune(tx: &mut Transaction<'_, Any>, now: i64) -> Result<(), sqlx::Error> {
    let cut = now - WINDOW_MS;
    let unreported =
        sqlx::query("SELECT key, action, actor_user, refused FROM throttle WHERE last_at <= $1 AND refused > 0")
            .bind(cut)
            .fetch_all(&mut **tx)
            .await?;
    for r in unreported {
        let (key, action, refused): (String, String, i64) = (r.get(0), r.get(1), r.get(3));
        let user = r.get::<Option<Vec<u8>>, _>(2).and_then(|b| UserId::from_slice(&b));
        audit(tx, user, None, &format!("{action}.throttled"), None, &format!("{refused} attempts refused; key {key}"))
            .await?;
    }
    sqlx::query("DELETE FROM throttle WHERE last_at <= $1").bind(cut).execute(&mut **tx).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_start_after_the_free_attempts_and_double_up_to_the_cap() {
        let now = 1_000_000_000;
        assert_eq!(wait_secs(FREE_ATTEMPTS - 1, now, now), None);
        assert_eq!(wait_secs(FREE_ATTEMPTS, now, now), Some(1));
        assert_eq!(wait_secs(FREE_ATTEMPTS + 3, now, now), Some(8));
        assert_eq!(wait_secs(FREE_ATTEMPTS + 60, now, now), Some(MAX_DELAY_SECS as u64));
        assert_eq!(wait_secs(FREE_ATTEMPTS, now - 1000, now), None, "the delay has passed");
    }
}
