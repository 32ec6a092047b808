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
    #[arg(long, env = "SOTAY_MAX_SYNC_PAYLOAD_BYTES", default_value_t = 8 * 1024 * 1024)]
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
    /// Seconds a connection may take to send a request's headers; also how long an idle
    /// keep-alive connection is kept.
    #[arg(long, env = "SOTAY_HEADER_TIMEOUT_SECS", default_value_t = 10)]
    pub header_timeout_secs: u64,
    /// Seconds of grace for a request body; past it the body must keep arriving at
    /// `--body-min-rate` bytes per second on average, or the request is answered 408.
    #[arg(long, env = "SOTAY_BODY_TIMEOUT_SECS", default_value_t = 20)]
    pub body_timeout_secs: u64,
    /// Slowest average body rate accepted after the grace period, bytes per second (a 2G link
    /// gives several KB/s).
    #[arg(long, env = "SOTAY_BODY_MIN_RATE", default_value_t = 1024)]
    pub body_min_rate: u64,
    /// Most open connections. Past it, connections are answered 503 (and `/healthz`) by a small
    /// overflow lane, then closed. Keep the process's open-file limit above twice this.
    #[arg(long, env = "SOTAY_MAX_CONNECTIONS", default_value_t = 1024)]
    pub max_connections: usize,
    /// Most open connections from one client address.
    #[arg(long, env = "SOTAY_MAX_CONNECTIONS_PER_ADDR", default_value_t = 256)]
    pub max_connections_per_addr: usize,
    /// Connections served by the overflow lane at once (each answers one request within 2 s).
    #[arg(long, env = "SOTAY_OVERFLOW_CONNECTIONS", default_value_t = 64)]
    pub overflow_connections: usize,
    /// Most requests being handled at once; past it, 503 with Retry-After.
    #[arg(long, env = "SOTAY_MAX_IN_FLIGHT", default_value_t = 512)]
    pub max_in_flight: usize,
    /// Bytes of request bodies and inflated sync payloads held at once, over all requests;
    /// a request waits up to `--budget-wait-ms` for its share, then gets 503.
    #[arg(long, env = "SOTAY_MEMORY_BUDGET_BYTES", default_value_t = 256 * 1024 * 1024)]
    pub memory_budget_bytes: usize,
    /// How long a request waits for memory budget, milliseconds.
    #[arg(long, env = "SOTAY_BUDGET_WAIT_MS", default_value_t = 5000)]
    pub budget_wait_ms: u64,
    /// Password hashes computed at once (each Argon2id takes 19 MiB and one core).
    #[arg(long, env = "SOTAY_ARGON2_CONCURRENCY", default_value_t = 2)]
    pub argon2_concurrency: usize,
    /// How long a login waits for a password-hashing slot, milliseconds; past it, 503.
    #[arg(long, env = "SOTAY_ARGON2_QUEUE_MS", default_value_t = 3000)]
    pub argon2_queue_ms: u64,
    /// How long a write waits for another writer of the SQLite file, milliseconds; past it, 503.
    #[arg(long, env = "SOTAY_DB_BUSY_TIMEOUT_MS", default_value_t = crate::db::DEFAULT_BUSY_TIMEOUT_MS)]
    pub db_busy_timeout_ms: u64,
    /// Days after a GBV case's last change, once it is closed, before its history is purged
    /// (`store/purge.rs`; `docs/operations.md` gives the basis); 0 = never purge by itself.
    #[arg(long, env = "SOTAY_GBV_HISTORY_RETENTION_DAYS", default_value_t = 365)]
    pub gbv_history_retention_days: u32,
    /// Reverse proxies in front of the server (comma-separated addresses): a request from one of
    /// them counts as coming from the address it put last in `X-Forwarded-For` (throttling, the
    /// audit log). Empty: the header is ignored, as anyone can send it.
    #[arg(long, env = "SOTAY_TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// Look for suspected duplicates among the activities of every push (`duplicates.rs`).
    #[arg(long, env = "SOTAY_DETECT_DUPLICATES", default_value_t = true, action = clap::ArgAction::Set)]
    pub detect_duplicates: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_bytes: 8 * 1024 * 1024,
            max_sync_payload_bytes: 8 * 1024 * 1024,
            max_push_records: 5000,
            page_changes: 5000,
            page_snapshot_bytes: 4 * 1024 * 1024,
            token_ttl_secs: 900,
            max_change_bytes: 256 * 1024,
            max_pending_changes: 1000,
            max_pending_bytes: 4 * 1024 * 1024,
            pending_max_age_secs: 7 * 24 * 3600,
            header_timeout_secs: 10,
            body_timeout_secs: 20,
            body_min_rate: 1024,
            max_connections: 1024,
            max_connections_per_addr: 256,
            overflow_connections: 64,
            max_in_flight: 512,
            memory_budget_bytes: 256 * 1024 * 1024,
            budget_wait_ms: 5000,
            argon2_concurrency: 2,
            argon2_queue_ms: 3000,
            db_busy_timeout_ms: crate::db::DEFAULT_BUSY_TIMEOUT_MS,
            gbv_history_retention_days: 365,
            trusted_proxies: Vec::new(),
            detect_duplicates: true,
        }
    }
}
