//! The Sổ Tay server: the axum application, its SQLite store, enrolment and tokens, the sync
//! endpoint, administration, and the device client that the `sotay` command line, the tests and
//! the benchmark use to play a phone.
//!
//! Shape: [`serve`] takes a bound listener, the state and a shutdown future (the caller owns
//! I/O and signals, as in mini-redis), so tests start it on port 0 with a fresh database.

#![recursion_limit = "256"]

pub mod admin;
pub mod api;
pub mod api_doc;
pub mod auth;
pub mod config;
pub mod credentials;
pub mod db;
pub mod demo;
pub mod directory;
pub mod duplicates;
pub mod error;
pub mod listener;
pub mod login;
pub mod metrics;
pub mod openapi;
pub mod password;
pub mod policy;
pub mod pressure;
pub mod records;
pub mod reports;
pub mod routes;
pub mod state;
pub mod store;
pub mod sync;
pub mod telemetry;
pub mod throttle;
pub mod web;

use std::future::Future;
use std::sync::Arc;

/// Milliseconds since the Unix epoch, from the system clock.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// Opens the database and loads the keys: everything a server needs before it listens.
pub async fn build_state(database_url: &str, limits: config::Limits) -> anyhow::Result<state::AppState> {
    let db = db::Db::open_with(database_url, limits.db_busy_timeout_ms).await?;
    let keys = match &limits.signing_key_file {
        Some(path) => auth::Keys::load_or_create_file(path)?,
        None => auth::Keys::load_or_create(&db).await?,
    };
    let projected = reports::projection::backfill(&db).await?;
    if projected > 0 {
        tracing::info!(records = projected, "report projection filled in for records stored before it");
    }
    let epoch = store::epoch::load_or_create(&db).await?;
    let writer = store::Writer::start(db.clone(), store::WriterOptions { detect_duplicates: limits.detect_duplicates });
    let metrics = Arc::new(metrics::Metrics::new(db.write_wait.clone()));
    let pressure = Arc::new(pressure::Pressure::new(&limits));
    Ok(state::AppState {
        db,
        epoch,
        keys: Arc::new(keys),
        limits: Arc::new(limits),
        writer,
        metrics,
        pressure,
        throttle: Arc::default(),
    })
}

/// Serves until `shutdown` resolves, then stops accepting and lets in-flight requests finish.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: state::AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let db = state.db.clone();
    let limits = state.limits.clone();
    let retention = tokio::spawn(purge_expired_daily(db.clone(), limits.gbv_history_retention_days));
    // While it runs, the server says so beside an SQLite file, so a restore does not replace the
    // file under it (`admin::restore`).
    let pid_file = db.sqlite_path.as_ref().map(|p| admin::pid_file(p));
    if let Some(pid) = &pid_file {
        std::fs::write(pid, std::process::id().to_string())?;
    }
    let served = listener::serve(listener, routes::router(state), &limits, shutdown).await;
    if let Some(pid) = &pid_file {
        let _ = std::fs::remove_file(pid);
    }
    served?;
    retention.abort();
    db.close().await;
    Ok(())
}

/// Serves the Prometheus metrics of this instance on their own listener (`--metrics-bind`) until
/// the task is dropped.
pub async fn serve_metrics(listener: tokio::net::TcpListener, state: state::AppState) -> std::io::Result<()> {
    metrics::serve(
        listener,
        state.metrics.clone(),
        (state.db.write.clone(), state.db.read.clone()),
        std::future::pending(),
    )
    .await
}

/// The retention job: purges the history of closed GBV cases past the retention period, at start
/// and then once a day (`store::purge_expired`). A failure is logged and tried again next time.
async fn purge_expired_daily(db: db::Db, retention_days: u32) {
    if retention_days == 0 {
        return;
    }
    let mut daily = tokio::time::interval(std::time::Duration::from_secs(24 * 3600));
    loop {
        daily.tick().await;
        match store::purge_expired(&db, retention_days, now_ms()).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(cases = n, "history of closed GBV cases purged after the retention period"),
            Err(e) => {
                tracing::warn!(error = %e, "purging the history of closed GBV cases failed; tried again tomorrow")
            }
        }
    }
}
