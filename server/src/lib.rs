//! The Sổ Tay server: the axum application, its SQLite store, enrolment and tokens, the sync
//! endpoint, administration, and the device client that the `sotay` command line, the tests and
//! the benchmark use to play a phone.
//!
//! Shape: [`serve`] takes a bound listener, the state and a shutdown future (the caller owns
//! I/O and signals, as in mini-redis), so tests start it on port 0 with a fresh database.

#![recursion_limit = "256"]

pub mod admin;
pub mod api;
pub mod auth;
pub mod config;
pub mod credentials;
pub mod db;
pub mod demo;
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

use std::future::Future;
use std::sync::Arc;

/// Milliseconds since the Unix epoch, from the system clock.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// Opens the database and loads the keys: everything a server needs before it listens.
pub async fn build_state(database_url: &str, limits: config::Limits) -> anyhow::Result<state::AppState> {
    let db = db::Db::open_with(database_url, limits.db_busy_timeout_ms).await?;
    let keys = auth::Keys::load_or_create(&db).await?;
    let projected = reports::projection::backfill(&db).await?;
    if projected > 0 {
        tracing::info!(records = projected, "report projection filled in for records stored before it");
    }
    let writer = store::Writer::start(db.clone());
    let metrics = Arc::new(metrics::Metrics::default());
    let pressure = Arc::new(pressure::Pressure::new(&limits));
    Ok(state::AppState {
        db,
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
    listener::serve(listener, routes::router(state), &limits, shutdown).await?;
    db.close().await;
    Ok(())
}
