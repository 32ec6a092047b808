//! Configuration of `sotay-server`: flags over environment variables over an optional TOML file
//! (`--config`) over defaults. Every option is declared once, on [`Config`] (its flag, its
//! variable and its default, shown by `sotay-server --help`); the file's keys are the same names
//! in snake_case, checked by the same parser, so a file cannot say what a flag could not. A bad
//! file is answered with its line and key. No option is printed back: the database URL may hold
//! a password.

use clap::parser::ValueSource;
use clap::{CommandFactory, Parser};
use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// Sổ Tay sync server.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "sotay-server",
    version,
    about = "Sổ Tay sync server",
    after_help = "Every option can also be set by its environment variable, or in the TOML file named by \
                  --config with the option's name in snake_case (max_body_bytes = 1048576). Flags win over \
                  variables, variables over the file."
)]
pub struct Config {
    /// A TOML file of settings (keys: the options' names in snake_case).
    #[arg(long, env = "SOTAY_CONFIG")]
    pub config: Option<PathBuf>,
    /// Database URL: `sqlite://path` (created, private to the server's user, and migrated on
    /// start) or `postgres://user@host/db`.
    #[arg(long, env = "SOTAY_DATABASE_URL", default_value = "sqlite://sotay.db", hide_env_values = true)]
    pub database_url: String,
    /// Address to listen on.
    #[arg(long, env = "SOTAY_BIND", default_value = "127.0.0.1:8080")]
    pub bind: SocketAddr,
    /// Address of the Prometheus metrics endpoint (`GET /metrics`), apart from the public one;
    /// keep it on loopback or a private network.
    #[arg(long, env = "SOTAY_METRICS_BIND", default_value = "127.0.0.1:9464")]
    pub metrics_bind: SocketAddr,
    /// Seed an empty database with a demo commune (villages, users, a year of records).
    #[arg(long, env = "SOTAY_DEMO")]
    pub demo: bool,
    /// Log as JSON lines instead of text.
    #[arg(long, env = "SOTAY_LOG_JSON")]
    pub log_json: bool,
    /// Print the settings in force (a TOML file `--config` accepts; no passwords) and exit.
    #[arg(long)]
    pub print_config: bool,
    /// Limits.
    #[command(flatten)]
    pub limits: Limits,
}

/// Why the configuration could not be read.
#[derive(Debug)]
pub enum ConfigError {
    /// A flag or variable is wrong, or `--help`/`--version` was asked: clap prints and exits.
    Cli(clap::Error),
    /// The configuration file is unreadable or wrong: one line naming the file, line and key.
    File(String),
}

impl From<clap::Error> for ConfigError {
    fn from(e: clap::Error) -> Self {
        ConfigError::Cli(e)
    }
}

impl Config {
    /// Reads the configuration from the command line `args` (program name first), the
    /// environment and the file `--config` names.
    pub fn load(args: Vec<OsString>) -> Result<Config, ConfigError> {
        Ok(Config::try_parse_from(merged_args(args)?)?)
    }

    /// The settings in force, as a TOML file `--config` accepts, one `key = value` per option
    /// (`sotay-server --print-config`). A password in the database URL is left out.
    pub fn effective_toml(args: Vec<OsString>) -> Result<String, ConfigError> {
        let matches = Config::command().try_get_matches_from(merged_args(args)?)?;
        let mut out = String::new();
        for arg in Config::command().get_arguments() {
            let id = arg.get_id().as_str();
            if arg.get_long().is_none() || matches!(id, "config" | "print_config") {
                continue;
            }
            let values: Vec<String> =
                matches.get_raw(id).map(|v| v.map(|s| s.to_string_lossy().into_owned()).collect()).unwrap_or_default();
            let value = match (arg.get_action(), values.as_slice()) {
                (clap::ArgAction::SetTrue, [v]) => v.clone(),
                (clap::ArgAction::SetTrue, _) => "false".into(),
                (_, []) => {
                    out.push_str(&format!("# {id} = (not set)\n"));
                    continue;
                }
                (_, [v]) if id == "database_url" => toml_string(&without_password(v)),
                (_, [v]) if v.parse::<i64>().is_ok() || v == "true" || v == "false" => v.clone(),
                (_, [v]) => toml_string(v),
                (_, many) => format!("[{}]", many.iter().map(|v| toml_string(v)).collect::<Vec<_>>().join(", ")),
            };
            out.push_str(&format!("{id} = {value}\n"));
        }
        Ok(out)
    }
}

/// The command line with the file's settings put before it, for the options neither a flag nor
/// a variable set.
fn merged_args(args: Vec<OsString>) -> Result<Vec<OsString>, ConfigError> {
    let given = Config::try_parse_from(&args)?;
    let Some(path) = given.config else { return Ok(args) };
    let matches = Config::command().try_get_matches_from(&args)?;
    let program = args.first().cloned().unwrap_or_else(|| "sotay-server".into());
    let mut merged = vec![program];
    for (id, file_args) in file_settings(&path)? {
        if matches!(matches.value_source(&id), None | Some(ValueSource::DefaultValue)) {
            merged.extend(file_args.into_iter().map(OsString::from));
        }
    }
    merged.extend(args.into_iter().skip(1));
    Ok(merged)
}

/// A TOML basic string.
fn toml_string(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

/// A database URL with its password, if any, replaced by `***`.
fn without_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_string() };
    let Some((credentials, host)) = rest.split_once('@') else { return url.to_string() };
    match credentials.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_string(),
    }
}

/// The settings of a TOML file, each as the option's id and the flags that say the same, every
/// one checked by the command-line parser on its own.
fn file_settings(path: &Path) -> Result<Vec<(String, Vec<String>)>, ConfigError> {
    use toml::{Spanned, Value};
    let shown = path.display();
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError::File(format!("cannot read the configuration file {shown}: {e}")))?;
    let table: std::collections::BTreeMap<Spanned<String>, Spanned<Value>> = toml::from_str(&text).map_err(|e| {
        let line = e.span().map_or(String::new(), |s| format!(", line {}", line_of(&text, s.start)));
        ConfigError::File(format!("{shown}{line}: {}", e.message()))
    })?;
    let command = Config::command();
    let mut out = Vec::new();
    // In the file's order, so the first problem reported is the first in the file.
    let mut table: Vec<_> = table.into_iter().collect();
    table.sort_by_key(|(key, _)| key.span().start);
    for (key, value) in table {
        let line = line_of(&text, key.span().start);
        let name = key.get_ref();
        let at = |problem: String| ConfigError::File(format!("{shown}, line {line}, key `{name}`: {problem}"));
        let arg = command
            .get_arguments()
            .find(|a| a.get_id().as_str() == name && a.get_long().is_some() && name != "config")
            .ok_or_else(|| at("not a setting of sotay-server (sotay-server --help lists them)".into()))?;
        let flag = format!("--{}", arg.get_long().unwrap_or_default());
        let takes_no_value = matches!(arg.get_action(), clap::ArgAction::SetTrue);
        let flags = match (value.into_inner(), takes_no_value) {
            (Value::Boolean(true), true) => vec![flag],
            (Value::Boolean(false), true) => vec![],
            (_, true) => return Err(at("must be true or false".into())),
            (Value::String(s), _) => vec![format!("{flag}={s}")],
            (Value::Integer(i), _) => vec![format!("{flag}={i}")],
            (Value::Boolean(b), _) => vec![format!("{flag}={b}")],
            (Value::Array(items), _) => {
                let items: Option<Vec<String>> = items.into_iter().map(|v| v.as_str().map(str::to_string)).collect();
                let items = items.ok_or_else(|| at("must be a list of strings".into()))?;
                vec![format!("{flag}={}", items.join(","))]
            }
            _ => return Err(at("must be a string, a whole number, true or false, or a list of strings".into())),
        };
        let alone = std::iter::once("sotay-server".to_string()).chain(flags.iter().cloned());
        if let Err(e) = Config::try_parse_from(alone) {
            return Err(at(clap_problem(&e)));
        }
        out.push((name.clone(), flags));
    }
    Ok(out)
}

/// The 1-based line of a byte offset.
fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// The first line of a clap error, without its `error: ` prefix.
fn clap_problem(e: &clap::Error) -> String {
    let rendered = e.render().to_string();
    let first = rendered.lines().next().unwrap_or_default();
    first.strip_prefix("error: ").unwrap_or(first).to_string()
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
    /// Most requests being handled at once; past it, a request waits up to `--budget-wait-ms`
    /// for a slot, then gets 503 with Retry-After.
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
    /// How long a request waits for the database, milliseconds: for a pooled connection (both
    /// engines) and for another writer of the SQLite file; past it, 503 with `Retry-After`.
    #[arg(long, env = "SOTAY_DB_BUSY_TIMEOUT_MS", default_value_t = crate::db::DEFAULT_BUSY_TIMEOUT_MS)]
    pub db_busy_timeout_ms: u64,
    /// Days after a GBV case was closed (and while it stays closed) before its history is purged
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
    /// A file holding the token signing key. Created with a new random key, readable by the
    /// server's user only (mode 0600), if missing; refused if others may read it. Without it the
    /// key is generated on first start and kept in the database, shared by every instance.
    #[arg(long, env = "SOTAY_SIGNING_KEY_FILE")]
    pub signing_key_file: Option<PathBuf>,
    /// Minutes a web app session may stay unused before it ends (the person signs in again).
    #[arg(long, env = "SOTAY_WEB_IDLE_MINUTES", default_value_t = 30)]
    pub web_idle_minutes: u32,
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
            signing_key_file: None,
            web_idle_minutes: 30,
        }
    }
}
