//! The Sổ Tay device: what a phone does beyond the record core, shared by the mobile bindings,
//! the `sotay` command line, the end-to-end tests and the benchmark.
//!
//! - [`http`]: the HTTP client of one server (rustls, timeouts, the plain-HTTP policy) and the
//!   endpoints a phone calls;
//! - [`sync`]: the sync loop with retries, backoff, cancellation and progress;
//! - [`session`]: enrolment, the credential, tokens, revocation: the phone's session policy;
//! - [`store`]: the phone's SQLite store (`DeviceStore`) with its migrations and screen queries;
//! - [`error`]: one error with stable codes and a sentence for people in Vietnamese or English.
//!
//! This crate never depends on the server (no axum, sqlx or argon2): `.ci/run` checks it.

pub mod error;
pub mod http;
pub mod session;
pub mod store;
pub mod sync;

pub use error::ClientError;
pub use http::{Client, ClientConfig, WireStats};
pub use session::{Credential, Session};
pub use store::SqliteStore;
pub use sync::{CancelToken, RetryPolicy, SyncOptions, SyncReport, SyncStatus};
