//! Configuration of `sotay-server`, from flags or environment variables. Every field is
//! documented here; none of them is a secret (the token signing key lives in the database).

use clap::Parser;
use std::net::SocketAddr;

/// Sổ Tay sync server.
#[derive(Debug, Clone, Parser)]
#[command(name = "sotay-server", version, about = "Sổ Tay sync server")]
pub struct Config {
    /// Database URL: `sqlite://path` (created and migrated on start).
    #[arg(long, env = "SOTAY_DATABASE_URL", default_value = "sqlite://sotay.db")]
    pub database_url: String,
    /// Address to listen on.
    #[arg(long, env = "SOTAY_BIND", default_value = "127.0.0.1:8080")]
    pub bind: SocketAddr,
    /// Seed an empty database with a demo commune (villages, users, a year of records).
    #[arg(long, env = "SOTAY_DEMO")]
    pub demo: bool,
    /// Log as JSON lines instead of text.
    #[arg(long, env = "SOTAY_LOG_JSON")]
    pub log_json: bool,
    /// Limits.
    #[command(flatten)]
    pub limits: Limits,
}

/// Limits on requests and tokens.
#[derive(Debug, Clone, clap::Args)]
pub struct Limits {
    /// Largest request body accepted, in bytes (compressed, as sent).
    #[arg(long, env = "SOTAY_MAX_BODY_BYTES", default_value_t = 8 * 1024 * 1024)]
    pub max_body_bytes: usize,
    /// Largest sync payload once inflated, in bytes.
    #[arg(long, env = "SOTAY_MAX_SYNC_PAYLOAD_BYTES", default_value_t = 32 * 1024 * 1024)]
    pub max_sync_payload_bytes: usize,
    /// Most records in one pushed batch.
    #[arg(long, env = "SOTAY_MAX_PUSH_RECORDS", default_value_t = 5000)]
    pub max_push_records: usize,
    /// Most changes sent back in one sync answer.
    #[arg(long, env = "SOTAY_PAGE_CHANGES", default_value_t = 5000)]
    pub page_changes: usize,
    /// Most change or snapshot bytes sent back in one sync answer.
    #[arg(long, env = "SOTAY_PAGE_SNAPSHOT_BYTES", default_value_t = 4 * 1024 * 1024)]
    pub page_snapshot_bytes: usize,
    /// Lifetime of access tokens, in seconds.
    #[arg(long, env = "SOTAY_TOKEN_TTL_SECS", default_value_t = 900)]
    pub token_ttl_secs: u64,
    /// Largest single Automerge change accepted, in bytes (a whole record with long notes is a
    /// few KiB).
    #[arg(long, env = "SOTAY_MAX_CHANGE_BYTES", default_value_t = 256 * 1024)]
    pub max_change_bytes: usize,
    /// Most changes of one device kept waiting for their dependencies.
    #[arg(long, env = "SOTAY_MAX_PENDING_CHANGES", default_value_t = 1000)]
    pub max_pending_changes: i64,
    /// Most bytes of one device's changes kept waiting for their dependencies.
    #[arg(long, env = "SOTAY_MAX_PENDING_BYTES", default_value_t = 4 * 1024 * 1024)]
    pub max_pending_bytes: i64,
    /// Waiting changes older than this (seconds) are dropped: their dependencies, a phone's own
    /// earlier changes, are not coming.
    #[arg(long, env = "SOTAY_PENDING_MAX_AGE_SECS", default_value_t = 7 * 24 * 3600)]
    pub pending_max_age_secs: i64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_bytes: 8 * 1024 * 1024,
            max_sync_payload_bytes: 32 * 1024 * 1024,
            max_push_records: 5000,
            page_changes: 5000,
            page_snapshot_bytes: 4 * 1024 * 1024,
            token_ttl_secs: 900,
            max_change_bytes: 256 * 1024,
            max_pending_changes: 1000,
            max_pending_bytes: 4 * 1024 * 1024,
            pending_max_age_secs: 7 * 24 * 3600,
        }
    }
}
