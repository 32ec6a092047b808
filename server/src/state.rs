//! The state shared by every handler: the database, the signing keys and the configuration.

use crate::auth::Keys;
use crate::config::Limits;
use crate::db::Db;
use std::sync::Arc;

/// Handler state. Cheap to clone; the server keeps nothing else between requests, so several
/// instances on one database behave as one.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The database.
    pub db: Db,
    /// The change log's epoch (`store::epoch`).
    pub epoch: [u8; 16],
    /// Token signing keys.
    pub keys: Arc<Keys>,
    /// Limits and lifetimes.
    pub limits: Arc<Limits>,
    /// The group-commit writer of sync pushes.
    pub writer: crate::store::Writer,
    /// Counters for `GET /metrics`.
    pub metrics: Arc<crate::metrics::Metrics>,
    /// Bounds on requests in flight, memory and password hashing.
    pub pressure: Arc<crate::pressure::Pressure>,
    /// Locks on login and enrolment throttle keys.
    pub throttle: Arc<crate::throttle::KeyLocks>,
}

impl axum::extract::FromRef<AppState> for Db {
    fn from_ref(state: &AppState) -> Db {
        state.db.clone()
    }
}

impl axum::extract::FromRef<AppState> for Arc<Keys> {
    fn from_ref(state: &AppState) -> Arc<Keys> {
        state.keys.clone()
    }
}
